"""``covenant train``: submit, follow, cancel and rerun training jobs.

Like the catalog commands these are clients of the gateway (``COVENANT_GATEWAY``),
so the training worker's rules answer a terminal exactly as they answer any
integration. On a terminal a submitted job is followed until it ends (status
changes, checkpoints); ``--json`` prints the gateway's documents for scripts, and
the exit status says how the job ended (0 completed, 1 otherwise).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
import time
from typing import Annotated, Any

import typer

from covenant.cli._support import JsonOption as Json
from covenant.cli._support import err, fail, out, run, settings
from covenant.cli._training_show import ENDED, Follower, differences_table, job_table
from covenant.client import GatewayClient

train_app = typer.Typer(
    help="Training jobs: submit code at a commit on registered datasets, follow the "
    "run, cancel it, or rerun a completed job to check it makes the same bytes.",
    no_args_is_help=True,
)

POLL_S = 0.5
WAIT_S = 30.0

JobId = Annotated[str, typer.Argument(metavar="JOB", help="the job id (jobId)")]
Follow = Annotated[
    bool | None,
    typer.Option(
        "--follow/--no-follow",
        help="follow the job until it ends; default: on a terminal, without --json",
        show_default=False,
    ),
]
Timeout = Annotated[float, typer.Option(help="stop following after this many seconds")]


def _client(ctx: typer.Context) -> GatewayClient:
    return GatewayClient(settings(ctx).gateway_url, actor=getpass.getuser())


def _print_json(document: dict[str, Any]) -> None:
    print(json.dumps({k: v for k, v in document.items() if k != "status_code"}, indent=2))


def hyperparam(item: str) -> tuple[str, str]:
    """``name=value`` as (name, JSON literal): a JSON value as written, a bare word
    as a string (``lr=0.01`` → ``0.01``, ``opt=adam`` → ``"adam"``)."""
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise fail(f"--hp {item!r} must look like NAME=VALUE (e.g. --hp lr=0.01)", 2)
    try:
        json.loads(value)
    except ValueError:
        return name, json.dumps(value)
    return name, value


def _compute(**given: Any) -> dict[str, Any]:
    names = {"memory_gb": "memoryGb"}
    return {names.get(k, k): v for k, v in given.items() if v is not None}


async def _follow(
    client: GatewayClient, job_id: str, *, show: bool, timeout_s: float, poll_s: float = POLL_S
) -> dict[str, Any]:
    """Read the job until it ended (or ``timeout_s`` passed); on a terminal, print
    what changed and keep a spinner with the current status."""
    follower = Follower()
    deadline = time.monotonic() + timeout_s
    status = err.status(f"{job_id}: waiting", spinner="dots") if show else None
    if status is not None:
        status.start()
    try:
        while True:
            doc = await client.training_job(job_id)
            if show:
                for line in follower.news(doc):
                    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}")
                assert status is not None
                status.update(f"{job_id}: {doc['status']}")
            if doc["status"] in ENDED or time.monotonic() >= deadline:
                return doc
            await asyncio.sleep(poll_s)
    finally:
        if status is not None:
            status.stop()


def _following(follow: bool | None, json_out: bool) -> bool:
    return follow if follow is not None else (out.is_terminal and not json_out)


def _end(doc: dict[str, Any], json_out: bool) -> None:
    """Print the final document and exit 1 unless the job completed."""
    if json_out:
        _print_json(doc)
    else:
        out.print(job_table(doc))
    if doc.get("status") in ENDED and doc["status"] != "completed":
        raise typer.Exit(1)


@train_app.command("submit")
def train_submit(
    ctx: typer.Context,
    dataset: Annotated[
        list[str], typer.Option("--dataset", help="registered dataset id; repeat for several")
    ],
    code_ref: Annotated[
        str, typer.Option(help="REPO#COMMIT, the full commit id (git rev-parse HEAD)")
    ],
    entrypoint: Annotated[str, typer.Option(help="module:function, e.g. digits.train:train")],
    family: Annotated[str, typer.Option(help="model family, e.g. digits")],
    team: Annotated[str, typer.Option(help="the team charged for the compute")],
    seed: Annotated[int, typer.Option(help="the run's seed (0..2^32-1)")] = 0,
    hp: Annotated[
        list[str] | None,
        typer.Option("--hp", help="hyperparameter NAME=VALUE, VALUE a JSON literal; repeat"),
    ] = None,
    pool: Annotated[str | None, typer.Option(help="compute pool; default any that fits")] = None,
    accelerator: Annotated[str | None, typer.Option(help="e.g. A100; default CPU")] = None,
    accelerators: Annotated[int | None, typer.Option(help="accelerators per job")] = None,
    cpus: Annotated[float | None, typer.Option(help="CPUs per job")] = None,
    memory_gb: Annotated[float | None, typer.Option(help="memory per job, GB")] = None,
    workers: Annotated[int | None, typer.Option(help="data-parallel workers")] = None,
    executor: Annotated[str | None, typer.Option(help="local or ray")] = None,
    max_attempts: Annotated[
        int | None, typer.Option(help="runs in all when preempted, the first included")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="FAMILY:VERSION to register (draft) when it completes")
    ] = None,
    retrain_reason: Annotated[str | None, typer.Option(help="why this model is retrained")] = None,
    job_id: Annotated[str | None, typer.Option(help="default: the gateway makes one")] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="wait for the submit to be decided")
    ] = True,
    follow: Follow = None,
    timeout: Timeout = 86400.0,
    key: Annotated[str | None, typer.Option(help="idempotency key for a safe retry")] = None,
    json_out: Json = False,
) -> None:
    """Submit a training job, then (on a terminal) follow it until it ends.

    Example: covenant train submit --dataset digits:v1 --family digits --team vision
    --code-ref https://git.example/digits.git#$(git rev-parse HEAD)
    --entrypoint digits.train:train --hp C=0.5 --hp solver=lbfgs --target digits:1.0.0
    """
    if "#" not in code_ref:
        raise fail(f"--code-ref {code_ref!r} needs REPO#COMMIT (git rev-parse HEAD)", 2)
    if target is not None and ":" not in target:
        raise fail(f"--target {target!r} must look like FAMILY:VERSION (e.g. digits:1.0.0)", 2)
    hyperparams = dict(hyperparam(item) for item in hp or [])
    compute = _compute(
        pool=pool,
        accelerator=accelerator,
        accelerators=accelerators,
        cpus=cpus,
        memory_gb=memory_gb,
        workers=workers,
        executor=executor,
    )
    following = wait and _following(follow, json_out)

    async def go() -> dict[str, Any]:
        async with _client(ctx) as client:
            answer = await client.submit_training(
                model_family=family,
                team=team,
                dataset_refs=dataset,
                code_ref=code_ref,
                entrypoint=entrypoint,
                hyperparams=hyperparams,
                seed=seed,
                compute=compute,
                max_attempts=max_attempts,
                target=target,
                retrain_reason=retrain_reason,
                job_id=job_id,
                wait_s=WAIT_S if wait else 0,
                key=key,
            )
            if not following or answer.get("status_code") != 201:
                return answer
            err.print(f"submitted [bold]{answer['jobId']}[/bold]; following (Ctrl-C stops)")
            return await _follow(client, answer["jobId"], show=not json_out, timeout_s=timeout)

    try:
        answer = run(go())
    except KeyboardInterrupt:
        raise fail("stopped following; the job goes on (covenant train status JOB)", 130) from None
    if answer.get("status_code") == 202:
        if json_out:
            _print_json(answer)
        else:
            out.print(f"accepted {answer['jobId']}; see: covenant train status {answer['jobId']}")
        return
    _end(answer, json_out)


@train_app.command("status")
def train_status(ctx: typer.Context, job: JobId, json_out: Json = False) -> None:
    """A job's status, allocation, attempts and checkpoints, and what it made."""

    async def go() -> dict[str, Any]:
        async with _client(ctx) as client:
            return await client.training_job(job)

    doc = run(go())
    if json_out:
        _print_json(doc)
    else:
        out.print(job_table(doc))


@train_app.command("logs")
def train_logs(ctx: typer.Context, job: JobId) -> None:
    """Print the stored log of a job's run (stored when the run ends)."""

    async def go() -> str:
        async with _client(ctx) as client:
            return await client.training_logs(job)

    sys.stdout.write(run(go()))


@train_app.command("cancel")
def train_cancel(
    ctx: typer.Context,
    job: JobId,
    reason: Annotated[str, typer.Option(help="recorded on train.cancelled")] = "",
    json_out: Json = False,
) -> None:
    """Stop a job: its run ends, its compute is released, nothing is registered."""

    async def go() -> dict[str, Any]:
        async with _client(ctx) as client:
            return await client.cancel_training(job, reason, wait_s=WAIT_S)

    answer = run(go())
    if json_out:
        _print_json(answer)
    elif answer.get("status_code") == 201:
        out.print(f"cancelled {job}")
    else:
        out.print(f"cancel of {job} accepted; see: covenant train status {job}")


@train_app.command("rerun")
def train_rerun(
    ctx: typer.Context,
    job: JobId,
    verify: Annotated[
        bool,
        typer.Option("--verify/--no-verify", help="compare the rerun's bytes with the original's"),
    ] = True,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="wait for the rerun to end")
    ] = True,
    timeout: Timeout = 86400.0,
    json_out: Json = False,
) -> None:
    """Run a completed job again with its recorded inputs (commit, data, seed,
    hyperparameters, compute). With --verify, print whether it made the same bytes
    and what differs; the exit status is 1 when it did not."""

    async def go() -> dict[str, Any]:
        async with _client(ctx) as client:
            answer = await client.rerun_training(job, verify=verify, wait_s=WAIT_S)
            if not follow or answer.get("status_code") != 201:
                return answer
            rerun_id = answer["jobId"]
            err.print(f"rerun [bold]{rerun_id}[/bold] of {job}; following (Ctrl-C stops)")
            show = out.is_terminal and not json_out
            doc = await _follow(client, rerun_id, show=show, timeout_s=timeout)
            for _ in range(20):  # the verdict is written right after the completion
                if not verify or doc.get("reproduction") or doc["status"] != "completed":
                    break
                await asyncio.sleep(POLL_S)
                doc = await client.training_job(rerun_id)
            return doc

    answer = run(go())
    if json_out:
        _print_json(answer)
    reproduction = answer.get("reproduction")
    if not follow or answer.get("status_code") in (201, 202):
        if not json_out:
            rerun_id = answer["jobId"]
            out.print(f"rerun {rerun_id} submitted; see: covenant train status {rerun_id}")
        return
    if not json_out:
        out.print(job_table(answer))
    if answer["status"] != "completed":
        raise typer.Exit(1)
    if reproduction is None:
        if verify:
            raise fail(f"{answer['jobId']} completed but no reproduction verdict came yet")
        return
    if not json_out:
        out.print(f"identical: {str(reproduction['identical']).lower()}")
        if not reproduction["identical"]:
            out.print(differences_table(reproduction))
    if not reproduction["identical"]:
        raise typer.Exit(1)
