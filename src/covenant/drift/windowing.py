"""The drift worker's windows: serving samples into windows, windows into verdicts.

Exactly once, with windows in memory. A window folds thousands of samples before it
writes anything, so committed offsets run ahead of what is on the log. Where each
window begins is marked (``drift.window_opened``, committed with the offset of the
window's first record), and after a crash or a failed commit the runner replays the
samples topic from the marks up to the committed offsets through
:meth:`Windows.refold`, which rebuilds the open windows exactly and emits nothing. So
a window is scored once, when the sample that closes it commits together with its
``drift.scored``, and windows are numbered consecutively per deployment from the log.

Memory is bounded: per live deployment one open window (``rows`` floats per numeric
column), the predictions of it and of the window before (for labels that arrive up to
a window late; older ones are not matched), and one profile and calibration per
reference.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeVar

from covenant.blobs import BlobStore
from covenant.drift import decisions
from covenant.drift.calibration import DEFAULT_ALPHA, Calibration, calibrate
from covenant.drift.errors import SampleError, UnknownDeploymentError
from covenant.drift.profile import Profile
from covenant.drift.remedies import Remedies
from covenant.drift.state import RECENT, DriftState
from covenant.drift.windows import ClosedWindow, Window, WindowSpec, parse_served
from covenant.events.base import Message
from covenant.events.drift import (
    AlertSeverity,
    DriftScored,
    DriftWindowOpened,
    ObserveOutcome,
    ObserveSample,
    WindowSpan,
)
from covenant.events.serving import DeploymentRecord
from covenant.runtime.worker import Context
from covenant.topics import (
    DRIFT_SAMPLES,
)

__all__ = ["DriftSettings", "Windows"]

log = logging.getLogger(__name__)
M = TypeVar("M", bound=Message)
WORKER = "drift"


@dataclass(frozen=True)
class DriftSettings:
    """How windows are cut and thresholds calibrated."""

    window: WindowSpec = field(default_factory=WindowSpec)
    alpha: float = DEFAULT_ALPHA
    resamples: int = 2000
    #: Consecutive drifted windows before an alert. ``alpha`` is each window's
    #: false-alarm rate; needing k windows in a row brings a stationary stream's to
    #: about ``alpha**k`` per window, at the price of k windows' delay.
    alert_windows: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.alert_windows <= RECENT:
            raise ValueError(f"alert_windows must be 1 to {RECENT}, not {self.alert_windows}")


@dataclass
class _Open:
    """One deployment's work in progress."""

    window: Window
    profile_id: str
    predictions: dict[str, ObserveSample] = field(default_factory=dict)
    previous: dict[str, ObserveSample] = field(default_factory=dict)
    labelled: list[decisions.Labelled] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    last_offset: int = 0


class Windows:
    """Every live deployment's open window, fed by samples and outcomes."""

    def __init__(
        self,
        state: DriftState,
        blobs: BlobStore,
        remedies: Remedies,
        settings: DriftSettings,
    ) -> None:
        self.state = state
        self.blobs = blobs
        self.remedies = remedies
        self.settings = settings
        self.open: dict[str, _Open] = {}
        self._profiles: dict[str, tuple[Profile, Calibration]] = {}
        self._silent: set[str] = set()

    def emit(self, ctx: Context, cls: type[M], **body: Any) -> M:
        message = ctx.emit(cls, **body)
        self.state.apply(message)
        return message

    # -- references ---------------------------------------------------------------

    async def reference(self, profile_id: str) -> tuple[Profile, Calibration]:
        """The profile and its calibration for this worker's window size, made once."""
        cached = self._profiles.get(profile_id)
        if cached is None:
            chunks = [chunk async for chunk in await self.blobs.open(profile_id)]
            profile = Profile.from_bytes(b"".join(chunks))
            calibration = await asyncio.to_thread(
                calibrate,
                profile,
                self.settings.window.rows,
                alpha=self.settings.alpha,
                resamples=self.settings.resamples,
            )
            cached = self._profiles[profile_id] = (profile, calibration)
        return cached

    def deployment(self, sample: ObserveSample) -> DeploymentRecord:
        record = self.state.deployments.get(sample.deploy_id)
        if record is None:
            raise UnknownDeploymentError(f"sample for unknown deployment {sample.deploy_id!r}")
        if record.model_id != sample.model_id:
            raise UnknownDeploymentError(
                f"sample says {sample.model_id} but deployment {sample.deploy_id} "
                f"serves {record.model_id}"
            )
        return record

    async def window_for(self, sample: ObserveSample) -> _Open | None:
        """The deployment's open window, made on its first sample; None without a
        reference profile (an unevaluated model is not scored, and said so once)."""
        current = self.open.get(sample.deploy_id)
        if current is not None:
            return current
        profile_id = self.state.profiles.get(sample.model_id)
        if profile_id is None:
            if sample.deploy_id not in self._silent:
                self._silent.add(sample.deploy_id)
                log.warning(
                    "drift: %s has no evaluation profile; its samples are not scored",
                    sample.model_id,
                )
            return None
        profile, _ = await self.reference(profile_id)
        marks = self.state.opened.get(sample.deploy_id) or []
        index = self.state.scored.get(sample.deploy_id, -1) + 1
        if marks and self.state.is_open(sample.deploy_id):
            index = marks[-1].window
        current = _Open(Window(profile, self.settings.window, index=index), profile_id=profile_id)
        self.open[sample.deploy_id] = current
        return current

    # -- samples --------------------------------------------------------------------

    async def on_sample(self, sample: ObserveSample, ctx: Context) -> None:
        self.deployment(sample)
        assert ctx.position is not None
        await self.fold(sample, ctx.position, ctx)

    async def refold(self, message: Message, position: tuple[str, int, int]) -> None:
        """Replay (see the module): redo what handling did to memory, emit nothing."""
        if isinstance(message, ObserveSample):
            if message.deploy_id in self.state.deployments:
                await self.fold(message, position, None)
        elif isinstance(message, ObserveOutcome):
            self.outcome(message, position, None)

    def forget(self) -> None:
        self.open.clear()

    def replay_from(self) -> dict[tuple[str, int], int]:
        starts: dict[tuple[str, int], int] = {}
        for marks in self.state.opened.values():
            for mark in marks:
                key = (DRIFT_SAMPLES.name, mark.partition)
                starts[key] = min(starts.get(key, mark.offset), mark.offset)
        return starts

    def _mark(self, deploy_id: str) -> tuple[int, bool] | None:
        """The latest window's first offset, and whether that window is still open."""
        marks = self.state.opened.get(deploy_id)
        if not marks:
            return None
        return marks[-1].offset, self.state.is_open(deploy_id)

    def _replayed_elsewhere(self, deploy_id: str, offset: int) -> bool:
        """In a replay: whether the record at ``offset`` belonged to a window already
        scored (so only its prediction, for late labels, is wanted again)."""
        mark = self._mark(deploy_id)
        return mark is None or offset < mark[0] or not mark[1]

    def _open_mark(
        self, ctx: Context, route: str, deploy_id: str, current: _Open, offset: int, partition: int
    ) -> None:
        """Mark where a window begins: at the first record of the deployment after
        the last close (a sample, a refused sample or a label), so a replay from the
        mark sees everything the window counted."""
        if self.state.is_open(deploy_id):
            return
        self.emit(
            ctx,
            DriftWindowOpened,
            subject=f"route:{route}",
            route=route,
            deploy_id=deploy_id,
            window=current.window.index,
            partition=partition,
            offset=offset,
        )

    async def fold(
        self, sample: ObserveSample, position: tuple[str, int, int], ctx: Context | None
    ) -> None:
        current = await self.window_for(sample)
        if current is None:
            return
        _, partition, offset = position
        if ctx is None:
            if self._replayed_elsewhere(sample.deploy_id, offset):
                current.previous[sample.request_id] = sample
                return
        else:
            self._open_mark(ctx, sample.route, sample.deploy_id, current, offset, partition)
        try:
            parsed = parse_served(
                current.window.profile, sample.features, sample.categories, sample.prediction
            )
        except SampleError as exc:
            current.rejected[exc.reason] += 1
            return
        closed = current.window.add(parsed, sample.observed_at)
        if not closed:
            current.predictions[sample.request_id] = sample
            current.last_offset = offset
            return
        if ctx is None:
            log.error("drift: a replayed sample closed window %d; it is lost", closed[0].index)
            return
        if current.window.rows == 0:  # closed on count: this sample was its last
            current.predictions[sample.request_id] = sample
            current.last_offset = offset
        for window in closed:
            await self.close(ctx, sample, current, window, partition)
        if current.window.rows:  # closed on time: this sample opens the next window
            self._open_mark(ctx, sample.route, sample.deploy_id, current, offset, partition)
            current.predictions[sample.request_id] = sample
            current.last_offset = offset

    async def close(
        self,
        ctx: Context,
        sample: ObserveSample,
        current: _Open,
        window: ClosedWindow,
        partition: int,
    ) -> None:
        profile, calibration = await self.reference(current.profile_id)
        labelled, rejected = current.labelled, dict(current.rejected)
        current.previous, current.predictions = current.predictions, {}
        current.labelled, current.rejected = [], Counter()
        marks = self.state.opened.get(sample.deploy_id) or []
        first = marks[-1].offset if marks else current.last_offset
        verdict = await asyncio.to_thread(decisions.verdict, profile, calibration, window, labelled)
        scored = self.emit(
            ctx,
            DriftScored,
            subject=f"route:{sample.route}",
            route=sample.route,
            deploy_id=sample.deploy_id,
            model_id=sample.model_id,
            window=window.index,
            opened_at=window.opened_at,
            closed_at=window.closed_at,
            rows=window.rows,
            rejected=rejected,
            span=WindowSpan(
                partition=partition, first_offset=first, last_offset=current.last_offset
            ),
            reference_profile_id=current.profile_id,
            alpha=calibration.alpha,
            columns=verdict.columns,
            outcomes=verdict.outcomes,
            drifted=verdict.drifted,
        )
        run = self.state.drifted_run(sample.deploy_id, self.settings.alert_windows)
        if verdict.drifted and len(run) >= self.settings.alert_windows:
            severity = AlertSeverity.SAFETY if verdict.safety else AlertSeverity.DRIFT
            causes = verdict.causes()
            first = run[0].window
            which = f"windows {first}-{window.index}" if len(run) > 1 else f"window {first}"
            self.remedies.alert(
                ctx,
                alert_id=f"alert-{scored.meta.event_id}",
                route=sample.route,
                deploy_id=sample.deploy_id,
                model_id=sample.model_id,
                severity=severity,
                source="drift-worker",
                reason=f"{which} of {sample.deploy_id} drifted: " + ", ".join(causes[:6]),
                features=verdict.drifted_features,
                scored=run,
                causes=causes,
            )

    async def on_outcome(self, outcome: ObserveOutcome, ctx: Context) -> None:
        assert ctx.position is not None
        self.outcome(outcome, ctx.position, ctx)

    def outcome(
        self, outcome: ObserveOutcome, position: tuple[str, int, int], ctx: Context | None = None
    ) -> None:
        """Judge the prediction a label is for, in the window open now; a label for a
        request older than the window before is not matched (and not counted)."""
        _, partition, offset = position
        for deploy_id, current in self.open.items():
            sample = current.predictions.get(outcome.request_id) or current.previous.get(
                outcome.request_id
            )
            if sample is None or sample.route != outcome.route:
                continue
            if ctx is None:
                if self._replayed_elsewhere(deploy_id, offset):
                    return
            else:
                self._open_mark(ctx, outcome.route, deploy_id, current, offset, partition)
            positive = self._positive(current.window.profile)
            current.labelled.append(
                decisions.Labelled(
                    correct=sample.prediction == outcome.label,
                    positive=sample.prediction == positive,
                    attributes=sample.attributes,
                )
            )
            return

    @staticmethod
    def _positive(profile: Profile) -> str | None:
        return profile.metadata.get("positiveLabel")
