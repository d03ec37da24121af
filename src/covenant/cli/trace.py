"""``covenant trace ID``: one flow end to end, read from the log itself.

Every record a flow causes carries the correlation id of the command that started
it (workers copy it from what they handle), so the records of one training job,
from its submit through policy, allocation, runs, checkpoints and artifacts to
the registered model, share one id; so do the records of capabilities that come
later, which this command then shows without knowing them. It reads the log
(``--bus`` or the settings), not the gateway: the trace is the record, not a view.

``ID`` is a correlation id, or a job id, whose flow is the correlation id of its
``train.submit`` (or ``train.queued``). Records are ordered by when they
happened (``meta.occurredAt``, then position on the log).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from covenant.bus import Bus, closing
from covenant.cli._support import BusOption, JsonOption, fail, open_log, out, run
from covenant.errors import ContractError
from covenant.events.base import Message
from covenant.events.codec import Codec
from covenant.events.contract import default_codec
from covenant.topics import ALL_TOPICS, TopicKind


@dataclass(frozen=True)
class Entry:
    """One record of the flow and where it is on the log."""

    message: Message
    position: str

    @property
    def at(self) -> datetime:
        return self.message.meta.occurred_at


def _cost(m: Any) -> str:
    return f"{m.cost_cents / 100:.2f} {m.currency} to {m.team} ({m.unit_hours} unit-h)"


def _refused(m: Any) -> str:
    return "; ".join(getattr(m, "reasons", None) or [r.message for r in m.refusals])


def _decided(m: Any) -> str:
    verdict = "allowed" if m.allowed else "denied"
    return f"{m.stage} {verdict} by policy {m.policy_version}"


def _on(m: Any) -> str:
    gpus = f" {m.accelerators}x{m.accelerator}" if m.accelerator else ""
    return f"pool {m.pool} ({m.hardware_class}{gpus})"


_SUMMARIES: dict[str, Callable[[Any], str]] = {
    "train.submit": lambda m: (
        f"{m.job_id}: {m.model_family} on {', '.join(m.dataset_refs)} at {m.code_ref}"
    ),
    "train.queued": lambda m: f"{m.job.job_id} queued (commit {m.job.code_commit[:12]})",
    "train.rejected": _refused,
    "train.cleared": lambda m: f"cleared by policy {m.policy_version}",
    "train.allocated": _on,
    "train.started": lambda m: f"attempt {m.attempt} on {m.executor} ({m.run_id})",
    "train.checkpointed": lambda m: f"step {m.step} (attempt {m.attempt})",
    "train.preempted": lambda m: f"attempt {m.attempt}: {m.reason}",
    "train.resumed": lambda m: f"attempt {m.attempt} from step {m.from_step}",
    "train.completed": lambda m: (
        f"{len(m.artifacts)} artifact(s), metrics " + json.dumps(m.metrics, sort_keys=True)
    ),
    "train.failed": lambda m: m.reason,
    "train.cancelled": lambda m: f"{m.reason} (by {m.cancelled_by})",
    "train.cancel": lambda m: m.reason or "asked to cancel",
    "train.report": lambda m: (
        f"attempt {m.attempt} {m.kind}" + (f" step {m.step}" if m.step is not None else "")
    ),
    "train.reproduced": lambda m: f"identical: {str(m.identical).lower()} vs {m.original_job_id}",
    "policy.requested": lambda m: f"{m.stage} decision on {m.subject_id}",
    "policy.decided": _decided,
    "allocation.requested": lambda m: f"pool {m.pool}: {m.cpus:g} cpu, {m.accelerators} acc",
    "allocation.granted": _on,
    "allocation.queued": lambda m: f"pool {m.pool}, position {m.position}: {m.reason}",
    "allocation.denied": _refused,
    "run.start": lambda m: f"attempt {m.attempt} on {m.executor}",
    "run.stop": lambda m: f"attempt {m.attempt}: {m.reason}",
    "finance.usage": lambda m: f"{m.unit_hours} unit-h in {m.pool}",
    "finance.chargeback": _cost,
    "artifact.stored": lambda m: f"{m.name} {m.artifact_id[:19]}…",
    "model.register": lambda m: f"{m.family}:{m.version}",
    "model.registered": lambda m: f"model {m.entry.model_id} ({m.entry.status})",
    "model.rejected": _refused,
}


def summary(message: Message) -> str:
    """One line on what the record says; a type this command does not know yet
    shows its first few plain fields."""
    known = _SUMMARIES.get(message.meta.type)
    if known is not None:
        try:
            return known(message)
        except (AttributeError, TypeError):  # a newer or older shape of a known type
            pass
    fields = message.model_dump(exclude={"meta"})
    plain = [f"{k}={v}" for k, v in fields.items() if isinstance(v, str | int | float | bool)]
    return ", ".join(plain[:3])


async def _scan(log: Bus, codec: Codec, keep: Callable[[Message], bool]) -> list[Entry]:
    """The decodable records of the contract's topics that ``keep`` wants, oldest
    first (by time, then log order); only those are held, however long the log."""
    topics = [t for t in ALL_TOPICS if t.kind is not TopicKind.EXPORT]
    await log.ensure_topics(topics)
    found = []
    async with closing(log.read(topics, follow=False)) as records:
        async for record in records:
            try:
                message = codec.decode(record.value)
            except ContractError:
                continue  # not ours to show; `covenant events tail` shows it as undecodable
            if keep(message):
                found.append(Entry(message, f"{record.topic}/{record.partition}@{record.offset}"))
    order = {id(e): i for i, e in enumerate(found)}
    return sorted(found, key=lambda e: (e.at, order[id(e)]))


def _submits(message: Message, job_id: str) -> bool:
    """Whether ``message`` is the submit (or the queued event) of ``job_id``."""
    named: Any = None
    if message.meta.type == "train.submit":
        named = getattr(message, "job_id", None)
    elif message.meta.type == "train.queued":
        named = getattr(getattr(message, "job", None), "job_id", None)
    return bool(named == job_id)


async def flow(log: Bus, codec: Codec, ident: str) -> tuple[str, list[Entry]]:
    """The flow ``ident`` names, as a correlation id or else as a job id, and its
    records: one pass over the log, and a second for a job id."""
    job_flow: list[str] = []

    def named(message: Message) -> bool:
        if message.meta.correlation_id == ident:
            return True
        if not job_flow and _submits(message, ident):
            job_flow.append(message.meta.correlation_id)
        return False

    entries = await _scan(log, codec, named)
    if entries or not job_flow:
        return ident, entries
    correlation = job_flow[0]
    return correlation, await _scan(log, codec, lambda m: m.meta.correlation_id == correlation)


def _document(correlation: str, entries: list[Entry]) -> dict[str, Any]:
    first = entries[0].at
    return {
        "correlationId": correlation,
        "records": [
            {
                "at": e.at.isoformat(),
                "offsetS": round((e.at - first).total_seconds(), 6),
                "type": e.message.meta.type,
                "subject": e.message.meta.subject,
                "summary": summary(e.message),
                "position": e.position,
                "record": e.message.model_dump(mode="json", by_alias=True),
            }
            for e in entries
        ],
    }


def _table(correlation: str, entries: list[Entry]) -> Table:
    table = Table(title=f"trace {correlation}", title_justify="left")
    for name in ("time", "+offset", "type"):  # never wrapped: they are what a reader scans
        table.add_column(name, no_wrap=True, style="cyan" if name == "type" else None)
    table.add_column("subject", overflow="fold")
    table.add_column("summary", overflow="fold", ratio=1)
    first = entries[0].at
    for e in entries:
        offset = (e.at - first).total_seconds()
        table.add_row(
            e.at.strftime("%H:%M:%S.%f")[:-3],
            f"+{offset:.3f}s",
            e.message.meta.type,
            e.message.meta.subject,
            summary(e.message),
        )
    return table


def trace(
    ctx: typer.Context,
    ident: Annotated[
        str, typer.Argument(metavar="ID", help="a correlation id, or a training job id")
    ],
    bus: BusOption = None,
    json_out: JsonOption = False,
) -> None:
    """Every record of one flow, in the order it happened: a job's submit, policy,
    allocation, runs, checkpoints, artifacts and registered model, and whatever
    later capabilities wrote under the same correlation id."""

    async def go() -> tuple[str, list[Entry]]:
        async with open_log(ctx, bus) as log:
            return await flow(log, default_codec(), ident)

    correlation, entries = run(go())
    if not entries:
        raise fail(
            f"no record on the log has correlation id or job id {ident!r}; check the id "
            "(covenant train status JOB) and that --bus / COVENANT_BUS is the platform's log"
        )
    if json_out:
        print(json.dumps(_document(correlation, entries), indent=2))
    else:
        out.print(_table(correlation, entries))
