"""``covenant demo``: the main job, rendered for people (or as JSON)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from covenant.cli._support import JsonOption, out, run

if TYPE_CHECKING:
    from covenant.cli._demo_canary import CanaryResult
    from covenant.cli._demo_drift import DriftResult
    from covenant.cli._demo_promotion import PromotionResult
    from covenant.cli._demo_serving import ServingResult
    from covenant.cli._demo_training import TrainingResult


def demo(
    json_out: JsonOption = False,
    home: Annotated[
        Path | None,
        typer.Option(
            help="keep the demo's log here, an empty or new folder (default: a fresh "
            "temporary folder)"
        ),
    ] = None,
) -> None:
    """Run the main job on embedded defaults: store data and a model, register them
    with lineage (bad requests and garbage included), train a model for real
    (checkpointed, preempted, resumed, registered, re-run identically, charged),
    evaluate, sign and promote it, serve it, canary a new version to 100 % and roll
    back one with a planted regression under client load, shift the clients' data
    until drift is alerted and a retrain proposed, approve it with a signature and
    canary the retrained version, show the timeline and the lineage, replay the log,
    and verify it against signed audit checkpoints."""
    from covenant.cli._demo_flow import DemoResult, run_demo
    from covenant.cli._demo_summaries import QUIET

    folder = home or Path(tempfile.mkdtemp(prefix="covenant-demo-"))

    with out.status("running the demo flow…") as status:

        async def go() -> DemoResult:
            return await run_demo(folder, lambda text: status.update(escape(text)))

        result = run(go())
    if json_out:
        print(json.dumps(result.as_dict(), indent=2, default=str))
        return
    shown = [entry for entry in result.timeline if entry.type not in QUIET]
    table = Table(title=f"Covenant demo — the log at {result.log}", show_lines=False)
    for column in ("#", "type", "subject", "what happened", "caused by"):
        table.add_column(column, overflow="fold")
    number = {entry.event_id: i for i, entry in enumerate(shown, 1) if entry.event_id}
    for i, entry in enumerate(shown, 1):
        cause = f"#{number[entry.caused_by]}" if entry.caused_by in number else ""
        table.add_row(str(i), entry.type, entry.subject, entry.summary, cause)
    out.print(table)
    quiet = len(result.timeline) - len(shown)
    out.print(f"[dim]{quiet} audit and runner-report records not shown (--json has them)[/dim]")
    _lineage("vision-transformer:1.0.0", result.lineage)
    if result.training is not None:
        _training(result.training)
        _lineage(result.training.model_id, result.training.lineage)
    if result.promotion is not None:
        _promotion(result.promotion, folder)
    if result.serving is not None:
        _serving(result.serving)
    audit = (
        f"{result.audit_records} records verified under {result.audit_checkpoints} signed "
        f"checkpoints (root {result.audit_root[:16]}…, key {result.audit_key})"
        if result.audit_ok
        else "[red]FAILED[/red]"
    )
    out.print(f"\nAudit trail: {audit}")
    verdict = "identical" if result.replay_identical else "[red]DIFFERENT[/red]"
    out.print(
        f"\nReplayed the log into a fresh store: {result.rows_rebuilt} rows, {verdict}."
        f"\nSee it all again: COVENANT_HOME={folder} covenant events tail --from-beginning"
    )
    trained = result.training is not None and result.training.identical
    promoted = result.promotion is not None and result.promotion.bundle_verified
    served = result.serving is not None and len(result.serving.predictions) > 0
    canary = result.serving.canary if result.serving is not None else None
    drift = result.serving.drift if result.serving is not None else None
    drifted = drift is not None and drift.untrained_before_approval and drift.canary_percent == 100
    canaried = (
        drifted
        and canary is not None
        and canary.passed_percent == 100
        and canary.rollback_status == "rolled_back"
        and canary.client_failed == 0
    )
    if not (
        result.replay_identical and result.audit_ok and trained and promoted and served and canaried
    ):
        raise typer.Exit(1)


def _lineage(model_id: str, lineage: dict[str, Any]) -> None:
    out.print(f"\n[bold]Lineage of {model_id}[/bold] (from the read models)")
    for dataset in lineage.get("datasets", []):
        steps = ", ".join(t["name"] for t in dataset.get("transformations", []))
        out.print(
            f"  dataset {dataset['dataset_id']} ← {', '.join(dataset['source_refs'])}"
            f" via ({steps}) checksum {dataset['checksum'][:19]}…"
        )
    for code in lineage.get("code_refs", []):
        out.print(f"  code    {code}")
    for artifact in lineage.get("artifacts", []):
        out.print(f"  bytes   {artifact['artifact_id'][:23]}… {artifact.get('name', '')}")


def _training(t: TrainingResult) -> None:
    """Steps 2-4 of the spec's example flow, one line per fact."""
    ran = t.ran_on_hardware_class
    where = (
        f"{ran}: this machine has no GPU, so the run ran on its CPU; the allocation, "
        f"and the bill, are the pool's {t.requested}"
        if ran.startswith("cpu-")
        else ran
    )
    same = "[green]identical[/green]" if t.identical else f"[red]DIFFERENT[/red] {t.differences}"
    bills = "; ".join(
        f"{job} {t.gpu_hours.get(job, '?')} GPU-hours, {t.cost.get(job, '?')} {t.currency}"
        for job in (t.job_id, t.rerun_job_id)
    )
    repo, _, commit = t.code_ref.rpartition("#")
    accuracy = f"{t.accuracy:.3f}" if t.accuracy is not None else "not reported"
    prov = ", ".join(f"{k}={t.provenance[k]}" for k in ("trainingJob", "runId", "hardwareClass"))
    rows = [
        ("code", f"{repo}#{commit[:12]}… (examples/digits, committed there)"),
        ("job", f"{t.job_id} asks {t.requested} in {t.pool} for team vision, on digits:v1"),
        ("policy", f"cleared by pre-train policy {t.policy_version}"),
        ("allocation", f"{t.requested} in {t.pool}, hardware class {t.allocated_hardware_class}"),
        ("ran on", where),
        (
            "preempted",
            f"attempt {t.preempted_attempt} SIGKILLed (pid {t.killed_pid}) after its first "
            f"checkpoint; attempt {t.attempts} resumed from epoch {t.resumed_from_step}",
        ),
        ("checkpoints", f"{t.checkpoints}, one per epoch; held-out accuracy {accuracy}"),
        (
            "model",
            f"{t.model_id} status={t.model_status}, bytes {t.model_artifact_id[:23]}…; "
            f"provenance {prov}",
        ),
        ("rerun", f"{t.rerun_job_id} reproduces {t.job_id}: {same}"),
        ("finance", f"{bills} (requested accelerators x wall time)"),
    ]
    out.print("\n[bold]Training[/bold] (steps 2-4 of the spec's example flow, real code)")
    for label, text in rows:
        out.print(f"  {label:<11} {text}")


def _promotion(p: PromotionResult, folder: Path) -> None:
    """Step 4's evaluation and step 5 of the spec's example flow, one line per fact."""
    fairness = ", ".join(f"{k} {v:.3f}" for k, v in p.fairness.items())
    gates = "; ".join(f"{k} {v}" for k, v in p.gates.items())
    rows = [
        ("evaluation", f"{p.eval_id}: accuracy {p.accuracy:.3f}, passed={p.eval_passed}"),
        ("gates", gates),
        ("fairness", f"{fairness} (group: a synthetic even/odd row attribute)"),
        ("signed", f"in-toto manifest in DSSE by {p.signer_id} ({p.custody}: SoftHSM2 token)"),
        ("blocked", f"prod straight from the sandbox: {'; '.join(p.skipped_staging_blocked)}"),
        ("staging", f"{p.staging}: SentinelNet cleared, HSM signature verified"),
        (
            "approvals",
            f"{p.required_approvals} of 3 needed; forged one refused: {p.forged_refused}",
        ),
        ("prod", f"{p.prod}, approved by {', '.join(p.approved_by)}"),
        ("provenance", f"{p.bundle}: {p.bundle_events} events with inclusion proofs, verified"),
        ("watermark", f"{p.watermarked}: manifest digest and signer in its metadata, checked"),
    ]
    out.print("\n[bold]Promotion[/bold] (steps 4-5 of the spec's example flow)")
    for label, text in rows:
        out.print(f"  {label:<11} {text}")
    out.print(
        f"  [dim]check it yourself: covenant verify bundle {p.bundle} "
        f"--public-key {folder / 'manifest-signer.pem'}[/dim]"
    )


def _serving(s: ServingResult) -> None:
    """Step 5's deployment: where the model serves, what each answer says about itself."""
    out.print(
        "\n[bold]Serving[/bold] (step 5: deployed; OIP behind the router at " + s.router + ")"
    )
    out.print(f"  staging     {s.staging}")
    out.print(f"  prod        {s.prod}: the server verified the HSM signature and watermark")
    out.print(f"  refused     an unpromoted version in prod: {s.refused}")
    if s.canary is not None:
        _canary(s.canary)
    for p in s.predictions:
        out.print(
            f"  predicted   {p['prediction']} (label {p['label']}) by {p['modelId']}, "
            f"signed {p['signerId']}, {str(p['artifactDigest'])[:19]}…, "
            f"trace {str(p['traceparent']).split('-')[1][:8]}…"
        )
    if s.drift is not None:
        _drift(s.drift)


def _drift(d: DriftResult) -> None:
    """Step 6: the shift seen, alerted, a retrain proposed, approved, trained, canaried."""
    out.print(f"\n[bold]Drift[/bold] (step 6: the clients' images shift, {d.shift})")
    for line in d.windows:
        out.print(f"  scored      {escape(line)}")
    out.print(f"  alert       {escape(d.alert)}")
    out.print(f"  proposed    {escape(d.proposal)}")
    out.print(f"  lineage     {escape(d.lineage)}")
    out.print(f"  cost        {escape(d.cost)}; quota {escape(d.quota)}")
    untouched = "nothing trained" if d.untrained_before_approval else "[red]TRAINED EARLY[/red]"
    out.print(f"  approved    by {d.approved_by}; before that, {untouched}")
    out.print(f"  retrained   {d.retrained}")
    out.print(f"  canaried    {d.canary} at {d.canary_percent} %")
    out.print(f"  report      {d.report} (covenant drift report MODEL -o report.html|png)")


def _canary(c: CanaryResult) -> None:
    """The canaries: what passed, what was rolled back and why, what the clients saw."""
    out.print(f"  canary      plan: {c.plan}")
    out.print(f"  passed      {c.passed} at {c.passed_percent} %; the steps that decided:")
    for line in c.passed_steps:
        out.print(f"    {escape(line)}")
    out.print(
        f"  rolled back {c.rolled_back} by itself ({c.rollback_status}): "
        + escape(c.rollback_reason)
    )
    out.print("  explain     covenant serve explain prod-3 (the looks that decided):")
    for line in c.explanation:
        out.print(f"    {escape(line)}")
    failed = (
        f"[green]{c.client_failed}[/green]"
        if c.client_failed == 0
        else f"[red]{c.client_failed}[/red] ({escape('; '.join(c.client_failures))})"
    )
    out.print(
        f"  clients     {c.client_ok} requests answered, {failed} failed, through both "
        f"canaries and the rollback ({c.seconds:.1f} s)"
    )
