"""The drift worker's rules, without I/O: a closed window's verdict, what an alert
leads to, and the retrain a drifted model is proposed for.

* **Verdict.** Every profiled column is scored (:func:`covenant.drift.scoring.score_window`)
  against thresholds calibrated for the window's size; labelled rows add performance
  drift (the accuracy drop) and, with a sensitive attribute, fairness drift (the
  parity gap's increase). The window drifted when any of them did.
* **Remediation.** Fairness drift is a safety finding: the model is quarantined
  (traffic back to the last good version) and may not serve again until signed off.
  Input, output or performance drift proposes a retrain, prepared but not submitted
  until a person approves it. A model gets one retrain proposal and one quarantine;
  later drifted windows are scored and recorded but raise nothing new.
* **Retrain.** The parent's training request again, on the freshest data descending
  from its datasets, as the next minor version; with its lineage, a quota check
  against the pools, and a cost from the parent's measured unit-hours at today's rate.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from covenant.drift.calibration import Calibration
from covenant.drift.outcomes import Rate, fairness_drift, parity_gap, performance_drift
from covenant.drift.profile import OUTPUT_PREFIX, CategoricalProfile, NumericProfile, Profile
from covenant.drift.scoring import ColumnScore, score_window
from covenant.drift.statistics import WeightedSample, binned, proportions
from covenant.drift.windows import ClosedWindow
from covenant.events.datasets import DatasetLineage
from covenant.events.drift import (
    AlertSeverity,
    ColumnDrift,
    CostEstimate,
    QuotaCheck,
    RateDrift,
    Remediation,
    RetrainLineage,
    RetrainRequest,
    StatisticScore,
)
from covenant.events.registry import ModelRegistryEntry
from covenant.events.training import TargetModel, TrainingJob
from covenant.training.pools import Pool, Pools, fit

SAFETY_OUTCOMES = ("parity_gap",)


@dataclass(frozen=True)
class Labelled:
    """One labelled row of a window: was the prediction right, and its groups."""

    correct: bool
    positive: bool
    attributes: Mapping[str, str]


@dataclass(frozen=True)
class Verdict:
    columns: list[ColumnDrift]
    outcomes: list[RateDrift]

    @property
    def drifted(self) -> bool:
        return any(c.drifted for c in self.columns) or any(o.drifted for o in self.outcomes)

    @property
    def drifted_features(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def safety(self) -> bool:
        return any(o.drifted and o.name.startswith(SAFETY_OUTCOMES) for o in self.outcomes)

    def causes(self) -> list[str]:
        """``column/statistic=value>threshold`` for everything past its threshold."""
        out = [
            f"{c.column}/{s.name}={s.value:.4g}>{s.threshold:.4g}"
            for c in self.columns
            for s in c.statistics
            if s.primary and s.drifted
        ]
        out += [f"{o.name}={o.current:.4g} (reference {o.reference:.4g})" for o in self.outcomes]
        return [c for c in out if c] if self.drifted else []


def _bin_labels(edges: np.ndarray) -> list[str]:
    if edges.size == 0:
        return ["all"]
    labels = [f"<={edges[0]:.4g}"]
    labels += [f"({a:.4g}, {b:.4g}]" for a, b in itertools.pairwise(edges)]
    return [*labels, f">{edges[-1]:.4g}"]


def _column(profile: Profile, score: ColumnScore, window: ClosedWindow) -> ColumnDrift:
    column = profile.columns[score.column]
    if isinstance(column, NumericProfile):
        support, weights = column.support()
        values = np.sort(window.numeric[score.column])
        reference = WeightedSample(support, weights, column.moments.count)
        expected, actual = binned(reference, values)
        labels = _bin_labels(reference.quantile_edges())
    else:
        assert isinstance(column, CategoricalProfile)
        counts: dict[str, int] = {}
        for value in window.categorical[score.column]:
            counts[value] = counts.get(value, 0) + 1
        expected, actual = proportions(column.counts, counts)
        labels = sorted(set(column.counts) | set(counts))
    primary = score.primary.name
    return ColumnDrift(
        column=score.column,
        kind=score.kind,
        role="output" if score.column.startswith(OUTPUT_PREFIX) else "input",
        drifted=score.drifted,
        statistics=[
            StatisticScore(
                name=s.name,
                value=_finite(s.value),
                threshold=_finite(s.threshold),
                pvalue=s.pvalue,
                drifted=s.exceeded,
                primary=s.name == primary,
            )
            for s in score.statistics
        ],
        bins=labels,
        reference_share=[float(x) for x in expected],
        current_share=[float(x) for x in actual],
    )


def _finite(value: float) -> float:
    """An infinite threshold (nothing could be calibrated) travels as the largest double."""
    return value if math.isfinite(value) else 1.7976931348623157e308


def verdict(
    profile: Profile,
    calibration: Calibration,
    window: ClosedWindow,
    labelled: Sequence[Labelled],
) -> Verdict:
    """Score one closed window; ``labelled`` are its rows whose truth has arrived."""
    score = score_window(profile, calibration, window.numeric, window.categorical)
    columns = [_column(profile, c, window) for c in score.columns]
    outcomes: list[RateDrift] = []
    alpha = calibration.alpha
    accuracy = profile.rates.get("accuracy")
    if labelled and accuracy is not None:
        reference = Rate(*accuracy)
        current = Rate(sum(r.correct for r in labelled), len(labelled))
        drop = performance_drift(reference, current, alpha=alpha)
        outcomes.append(
            RateDrift(
                name="accuracy",
                reference=reference.value,
                current=current.value,
                trials=current.trials,
                pvalue=drop.pvalue,
                drifted=drop.exceeded,
                detail=f"drop {drop.value:.4g}, threshold {_finite(drop.threshold):.4g}",
            )
        )
    outcomes += _fairness(profile, labelled, alpha)
    return Verdict(columns, outcomes)


def _fairness(profile: Profile, labelled: Sequence[Labelled], alpha: float) -> list[RateDrift]:
    by_attribute: dict[str, dict[str, Rate]] = {}
    for name, (hits, trials) in profile.rates.items():
        if name.startswith("positive:") and "=" in name:
            attribute, group = name.removeprefix("positive:").split("=", 1)
            by_attribute.setdefault(attribute, {})[group] = Rate(hits, trials)
    out = []
    for attribute, reference in sorted(by_attribute.items()):
        counts: dict[str, list[int]] = {}
        for row in labelled:
            member = row.attributes.get(attribute)
            if member is not None:
                tally = counts.setdefault(member, [0, 0])
                tally[0] += row.positive
                tally[1] += 1
        window = {g: Rate(h, t) for g, (h, t) in counts.items()}
        if not window:
            continue
        statistic, excluded = fairness_drift(reference, window, alpha=alpha)
        kept = [g for g in window if g not in excluded]
        out.append(
            RateDrift(
                name=f"parity_gap:{attribute}",
                reference=parity_gap({g: reference[g] for g in kept if g in reference}),
                current=parity_gap({g: window[g] for g in kept}),
                trials=sum(r.trials for r in window.values()),
                pvalue=statistic.pvalue,
                drifted=statistic.exceeded,
                detail=f"groups left out (too few rows): {excluded}" if excluded else "",
            )
        )
    return out


def remediation_for(severity: AlertSeverity) -> Remediation:
    """Safety quarantines; drift proposes a retrain."""
    return Remediation.QUARANTINE if severity is AlertSeverity.SAFETY else Remediation.RETRAIN


def next_version(family: str, versions: Sequence[str]) -> str:
    """The next minor version after the family's highest ``major.minor.patch``."""
    best = (1, -1, 0)
    for version in versions:
        core = version.split("-", 1)[0].split("+", 1)[0].split(".")
        if len(core) == 3 and all(p.isdigit() for p in core):
            best = max(best, (int(core[0]), int(core[1]), int(core[2])))
    return f"{best[0]}.{best[1] + 1}.0"


def fresh_datasets(parents: Sequence[str], datasets: Mapping[str, DatasetLineage]) -> list[str]:
    """For each parent dataset, the newest registered dataset descending from it
    (``source_refs`` naming it, transitively), or the parent itself when none does."""
    out = []
    for parent in parents:
        newest = parent
        newest_at = datasets[parent].created_at if parent in datasets else None
        frontier = {parent}
        seen = set(frontier)
        while frontier:
            children = [
                d
                for d in datasets.values()
                if d.dataset_id not in seen and frontier & set(d.source_refs)
            ]
            frontier = {d.dataset_id for d in children}
            seen |= frontier
            for child in children:
                if newest_at is None or child.created_at > newest_at:
                    newest, newest_at = child.dataset_id, child.created_at
        out.append(newest)
    return out


@dataclass(frozen=True)
class Retrain:
    request: RetrainRequest
    lineage: RetrainLineage
    cost: CostEstimate | None
    quota: QuotaCheck | None


def prepare_retrain(
    *,
    proposal_id: str,
    alert_id: str,
    reason: str,
    windows: Sequence[int],
    entry: ModelRegistryEntry,
    job: TrainingJob | None,
    family_versions: Sequence[str],
    datasets: Mapping[str, DatasetLineage],
    pools: Pools,
    unit_hours: str | None,
) -> Retrain | str:
    """The training request a retrain would submit, or why none can be prepared."""
    if job is None:
        return (
            f"{entry.model_id} was not trained by Covenant (no training job on the log), "
            "so there is no request to repeat; retrain it by hand"
        )
    parents = list(job.dataset_refs)
    fresh = fresh_datasets(parents, datasets)
    version = next_version(entry.family, family_versions)
    request = RetrainRequest(
        job_id=f"{proposal_id}-job",
        model_family=job.model_family,
        team=job.team,
        dataset_refs=fresh,
        code_ref=f"{job.code_repo}#{job.code_commit}",
        entrypoint=job.entrypoint,
        hyperparams=dict(job.hyperparams),
        seed=job.seed,
        compute=job.compute,
        target=TargetModel(family=entry.family, version=version),
        retrain_reason=f"drift alert {alert_id}: {reason}"[:500],
    )
    lineage = RetrainLineage(
        parent_model_id=entry.model_id,
        parent_job_id=job.job_id,
        parent_datasets=parents,
        datasets=fresh,
        alert_id=alert_id,
        windows=list(windows),
    )
    chosen = fit(pools, job.compute, team=job.team)
    if isinstance(chosen, Pool):
        quota = QuotaCheck(
            pool=chosen.name,
            team=job.team,
            fits=True,
            detail=f"within {job.team}'s quota and {chosen.name}'s size",
        )
        cost = _cost(chosen, unit_hours)
    else:
        pool = job.compute.pool or "any"
        detail = "; ".join(r.message for r in chosen)
        quota = QuotaCheck(pool=pool, team=job.team, fits=False, detail=detail)
        cost = None
    return Retrain(request, lineage, cost, quota)


def _cost(pool: Pool, unit_hours: str | None) -> CostEstimate | None:
    if unit_hours is None:
        return None
    hours = Decimal(unit_hours)
    amount = (hours * pool.cost_rate).quantize(Decimal("0.0001"))
    unit = f"{pool.accelerator}-hours" if pool.accelerator else "CPU-hours"
    return CostEstimate(
        pool=pool.name,
        hours=float(hours),
        cost=str(amount),
        currency=pool.currency,
        basis=f"the parent job's measured {hours} {unit} at {pool.name}'s rate {pool.cost_rate}",
    )
