"""Drift's shared defaults and nested records (``covenant.events.drift``).

Every drift record is about one route, so its subject is ``route:<route>``, as
serving's are (``route_record``). The writers are the drift worker's: the model
servers write ``drift.sample``, the gateway the commands from people and outside
systems (``drift.label``, ``drift.report``, ``retrain.approve``,
``quarantine.signoff``), and the drift worker everything else, ``drift.outcome``
included. The commands' builders are in ``drift_commands``, the events' in
``drift_events``.

The defaults line up with serving's: ``deploy-1`` serves ``vit:1.0.0`` on route
``vit``, its reference profile ``profile_id("vit:1.0.0")``. A sample has the four
numeric features ``FEATURES``, request ``REQUEST_ID``, predicted ``cat``, which
``observe_label()`` confirms. Window 0 of ``deploy-1`` is scored with nothing
drifted unless told; ``drift_alerted()`` is ``alert-1``, ``f0``'s KS past its
threshold in window 0 (``ALERT_REASON``), which proposes ``retrain-1`` (the default
job ``job-1`` again, as ``vit:1.1.0``, job ``retrain-1-job``) or, at ``safety``
severity, applies ``quarantine-1``; ``finding-1`` explains it. ``approve_retrain()``
and ``sign_off_quarantine()`` approve the ``request_digest`` that
``retrain_proposed()`` and ``quarantine_applied()`` carry; nothing is really signed
(sign ``covenant.drift.signoff.signoff_message`` for a decision that verifies).

The digests are computed here as ``covenant.drift.signoff`` computes them, since
importing ``covenant.drift`` needs the ``drift`` extra (numpy, scipy, datasketches)
and ``covenant.testing`` does not; a test pins that the two agree.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from covenant.events import drift as dr
from covenant.events import training as tr
from covenant.events.base import SYSTEM_CLOCK
from covenant.testing._builders._meta import M, Meta, build, sha, strings
from covenant.testing._builders.allocation import COST_RATE
from covenant.testing._builders.promotion import APPROVER, APPROVER_KEY_ID, MODEL_ID, SIGNATURE
from covenant.testing._builders.registry import split_model_id
from covenant.testing._builders.runs import (
    CODE_REF,
    DATASETS,
    ENTRYPOINT,
    MODEL_FAMILY,
    POOL,
    TEAM,
    JsonScalar,
    literals,
)
from covenant.testing._builders.serving import DEPLOY_ID
from covenant.testing._ids import SequentialIds

FEATURES: Final = ("f0", "f1", "f2", "f3")
"""The numeric columns of the default reference profile, in the model's input order."""
OUTPUT_LABEL: Final = "output:label"
"""The profile's column of predicted classes (``covenant.drift.reference.OUTPUT_LABEL``)."""
REQUEST_ID: Final = "req-1#0"
"""The default sample's request id: row 0 of request ``req-1``."""
PREDICTION: Final = "cat"
ALERT_ID: Final = "alert-1"
PROPOSAL_ID: Final = "retrain-1"
QUARANTINE_ID: Final = "quarantine-1"
FINDING_ID: Final = "finding-1"
LABEL_EVENT_ID: Final = SequentialIds.id_of(0)
"""``observe_outcome``'s default ``label_event_id`` without a ``caused_by``; pass the
label's ``meta.event_id`` (or the label as ``caused_by``) to link the two."""
ALPHA: Final = 0.05
"""The false-alarm rate per window (``covenant.drift.calibration.DEFAULT_ALPHA``)."""
RETRAIN_TARGET: Final = "vit:1.1.0"
"""The version a retrain of ``vit:1.0.0`` registers: the next minor one."""
WINDOW_ROWS: Final = 5000
"""Rows in a window closed on count (``covenant.drift.windows.WindowSpec``'s default)."""

_WRITERS: Final = {
    "drift.sample": "model-server",
    "drift.label": "gateway",
    "drift.report": "gateway",
    "retrain.approve": "gateway",
    "quarantine.signoff": "gateway",
}

# Per statistic: its value in a quiet window, in a drifted one, and its threshold.
_NUMERIC: Final = {
    "ks": (0.01, 0.2, 0.03),
    "wasserstein": (0.02, 0.5, 0.08),
    "psi": (0.001, 0.4, 0.02),
    "js": (0.001, 0.1, 0.01),
}
_CATEGORICAL: Final = {
    "chi2": (2.0, 120.0, 15.0),
    "psi": (0.001, 0.4, 0.02),
    "js": (0.001, 0.1, 0.01),
}
_PRIMARY: Final = {"numeric": "ks", "categorical": "chi2"}
_DECILES: Final = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _canonical(document: Mapping[str, object]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def retrain_digest(proposal_id: str, request: dr.RetrainRequest) -> str:
    """``covenant.drift.signoff.retrain_digest``: hex SHA-256 of the proposal and request."""
    body = request.model_dump(mode="json", by_alias=True)
    return hashlib.sha256(_canonical({"proposal_id": proposal_id, "request": body})).hexdigest()


def quarantine_digest(quarantine_id: str, model_id: str, alert_id: str) -> str:
    """``covenant.drift.signoff.quarantine_digest``: hex SHA-256 of what a release frees."""
    document = {"quarantine_id": quarantine_id, "model_id": model_id, "alert_id": alert_id}
    return hashlib.sha256(_canonical(document)).hexdigest()


def profile_id(model_id: str = MODEL_ID) -> str:
    """The artifact id the builders give a model's reference profile."""
    return sha(f"profile {model_id}")


def drift_cause(column: str = "f0", *, kind: str = "numeric") -> str:
    """``column/statistic=value>threshold`` as the worker writes a drifted column's
    primary statistic, with ``column_drift(column, drifted=True)``'s numbers."""
    name = _PRIMARY[kind]
    table = _NUMERIC if kind == "numeric" else _CATEGORICAL
    _, value, threshold = table[name]
    return f"{column}/{name}={value:.4g}>{threshold:.4g}"


ALERT_REASON: Final = f"window 0 of {DEPLOY_ID} drifted: {drift_cause()}"


def route_record(cls: type[M], meta: Meta, route: str, **body: Any) -> M:
    """``build`` with the subject ``route:<route>`` and the drift type's writer."""
    producer = _WRITERS.get(cls.TYPE, "drift")
    return build(cls, meta, subject=f"route:{route}", producer=producer, route=route, **body)


def signed_decision(
    request_digest: str | None = None,
    *,
    approver_id: str = APPROVER,
    key_id: str = APPROVER_KEY_ID,
    expires_at: datetime | None = None,
    nonce: str = "nonce-1",
    signature: bytes = SIGNATURE,
) -> dr.SignedDecision:
    """A signed decision by the approver: for ``retrain_proposed()``'s request unless
    told, expiring an hour after the system clock's now, the signature zeros."""
    return dr.SignedDecision(
        approver_id=approver_id,
        key_id=key_id,
        request_digest=request_digest
        if request_digest is not None
        else retrain_digest(PROPOSAL_ID, retrain_request()),
        expires_at=expires_at
        if expires_at is not None
        else SYSTEM_CLOCK.now() + timedelta(hours=1),
        nonce=nonce,
        signature=signature,
    )


def _decile_bins() -> list[str]:
    labels = [f"<={_DECILES[0]:.4g}"]
    labels += [f"({a:.4g}, {b:.4g}]" for a, b in itertools.pairwise(_DECILES)]
    return [*labels, f">{_DECILES[-1]:.4g}"]


def column_drift(
    column: str = "f0",
    *,
    kind: str | None = None,
    drifted: bool = False,
    statistics: Sequence[dr.StatisticScore] | None = None,
) -> dr.ColumnDrift:
    """One column's verdict as the worker writes it: every statistic it computes for
    the column's kind (numeric unless the column is an ``output:`` one), the primary
    (KS, or chi-squared) past its threshold when ``drifted``; decile bins for a
    numeric column, the classes ``cat`` and ``dog`` for a categorical one."""
    output = column.startswith("output:")
    chosen_kind = kind if kind is not None else ("categorical" if output else "numeric")
    if chosen_kind not in _PRIMARY:
        raise ValueError(f"a column is numeric or categorical, not {chosen_kind!r}")
    table = _NUMERIC if chosen_kind == "numeric" else _CATEGORICAL
    scores = (
        list(statistics)
        if statistics is not None
        else [
            dr.StatisticScore(
                name=name,
                value=loud if drifted else quiet,
                threshold=threshold,
                pvalue=0.0005 if drifted else 0.6,
                drifted=drifted,
                primary=name == _PRIMARY[chosen_kind],
            )
            for name, (quiet, loud, threshold) in table.items()
        ]
    )
    if chosen_kind == "numeric":
        bins = _decile_bins()
        reference = [0.1] * len(bins)
        current = [0.0] * 5 + [0.2] * 5 if drifted else list(reference)
    else:
        bins = ["cat", "dog"]
        reference = [0.5, 0.5]
        current = [0.9, 0.1] if drifted else list(reference)
    return dr.ColumnDrift(
        column=column,
        kind=chosen_kind,
        role="output" if output else "input",
        drifted=any(s.drifted and s.primary for s in scores),
        statistics=scores,
        bins=bins,
        reference_share=reference,
        current_share=current,
    )


def retrain_request(
    proposal_id: str = PROPOSAL_ID,
    *,
    alert_id: str = ALERT_ID,
    reason: str = ALERT_REASON,
    job_id: str | None = None,
    model_family: str = MODEL_FAMILY,
    team: str = TEAM,
    datasets: Sequence[str] = DATASETS,
    code_ref: str = CODE_REF,
    entrypoint: str = ENTRYPOINT,
    hyperparams: Mapping[str, JsonScalar] | None = None,
    seed: int = 0,
    compute: tr.ComputeRequirements | None = None,
    target: str | None = RETRAIN_TARGET,
    retrain_reason: str | None = None,
) -> dr.RetrainRequest:
    """The request a proposal submits, as the worker prepares it from ``job-1``: job
    ``<proposal_id>-job``, the next minor version, the reason naming the alert."""
    family_version = split_model_id(target) if target is not None else None
    return dr.RetrainRequest(
        job_id=job_id if job_id is not None else f"{proposal_id}-job",
        model_family=model_family,
        team=team,
        dataset_refs=strings("datasets", datasets),
        code_ref=code_ref,
        entrypoint=entrypoint,
        hyperparams=literals(hyperparams),
        seed=seed,
        compute=compute if compute is not None else tr.ComputeRequirements(),
        target=None
        if family_version is None
        else tr.TargetModel(family=family_version[0], version=family_version[1]),
        retrain_reason=retrain_reason
        if retrain_reason is not None
        else f"drift alert {alert_id}: {reason}"[:500],
    )


RETRAIN_COST: Final = dr.CostEstimate(
    pool=POOL,
    hours=1.0,
    cost="0.1000",
    currency="USD",
    basis=f"the parent job's measured 1 CPU-hours at {POOL}'s rate {COST_RATE}",
)
RETRAIN_QUOTA: Final = dr.QuotaCheck(
    pool=POOL, team=TEAM, fits=True, detail=f"within {TEAM}'s quota and {POOL}'s size"
)
