"""What ``covenant train`` prints, from the gateway's job documents alone: the lines
a followed job prints as its events add up, the status table, the differences of a
rerun, and how ``--hp`` values become JSON literals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from rich.console import Console

from covenant.cli import training
from covenant.cli._training_show import Follower, differences_table, job_table
from covenant.cli.training import hyperparam
from covenant.client import GatewayClient


def doc(status: str, **more: Any) -> dict[str, Any]:
    return {
        "jobId": "j1",
        "status": status,
        "job": {
            "modelFamily": "digits",
            "team": "vision",
            "codeRepo": "git.example/d.git",
            "codeCommit": "a" * 40,
            "entrypoint": "digits.train:train",
            "datasetRefs": ["d1"],
            "seed": 7,
            "hyperparams": {"C": "0.5"},
        },
        "attempt": 1,
        "attempts": [],
        "refusals": [],
        "artifactRefs": [],
        "metrics": {},
        **more,
    }


def rendered(renderable: Any) -> str:
    console = Console(width=160, record=True)
    console.print(renderable)
    return console.export_text()


def attempt(n: int, *steps: int) -> dict[str, Any]:
    points = [{"step": s, "artifactId": f"sha256:{s}"} for s in steps]
    return {"attempt": n, "started": True, "ended": False, "checkpoints": points}


ALLOCATION = {
    "pool": "gpu-us-east",
    "hardwareClass": "gpu-A100",
    "accelerator": "A100",
    "accelerators": 2,
}


def test_a_follower_prints_each_status_change_and_checkpoint_once() -> None:
    follower = Follower()
    assert follower.news(doc("queued")) == ["[bold]queued[/bold]"]
    assert follower.news(doc("queued")) == []
    allocated = follower.news(doc("allocated", allocation=ALLOCATION))
    assert allocated == ["[bold]allocated[/bold] on gpu-us-east (gpu-A100, 2xA100)"]
    running = doc("checkpointed", attempts=[attempt(1, 100, 200)])
    assert follower.news(running) == [
        "[bold]checkpointed[/bold]",
        "checkpoint step 100 (attempt 1)",
        "checkpoint step 200 (attempt 1)",
    ]
    resumed = doc("resumed", attempt=2, attempts=[attempt(1, 100, 200), attempt(2, 300)])
    assert follower.news(resumed) == [
        "[bold]resumed[/bold] attempt 2",
        "checkpoint step 300 (attempt 2)",
    ]
    done = follower.news(doc("completed", metrics={"accuracy": 0.97}))
    assert done == ["[bold green]completed[/bold green] accuracy=0.97"]


def test_a_failed_job_says_why() -> None:
    news = Follower().news(doc("failed", reason="preempted 3 times"))
    assert news == ["[bold red]failed[/bold red]: preempted 3 times"]


def test_the_status_table_shows_what_was_asked_and_what_happened() -> None:
    text = rendered(
        job_table(
            doc(
                "checkpointed",
                allocation=ALLOCATION,
                attempts=[attempt(1, 100)],
                startTs="2026-12-02T10:00:00Z",
            )
        )
    )
    for expected in ("checkpointed", "digits", "vision", f"#{'a' * 40}", "gpu-us-east"):
        assert expected in text
    assert "step 100" in text
    assert "ended" not in text  # nothing to say yet: no row


def test_a_refused_job_lists_every_refusal() -> None:
    refusals = [{"code": "invalid", "field": "codeRef", "message": "not a full commit id"}]
    text = rendered(job_table(doc("rejected", job=None, refusals=refusals)))
    assert "codeRef: not a full commit id" in text


def test_the_differences_of_a_rerun_name_inputs_and_outputs() -> None:
    reproduction = {
        "originalJobId": "j1",
        "identical": False,
        "differences": [{"field": "hardware", "original": "cpu-x86_64", "rerun": "gpu-A100"}],
        "differingOutputs": ["model.onnx"],
    }
    text = rendered(differences_table(reproduction))
    assert "hardware" in text
    assert "gpu-A100" in text
    assert "output model.onnx" in text
    assert "identical" in rendered(job_table(doc("completed", reproduction=reproduction)))


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("lr=0.01", ("lr", "0.01")),
        ("epochs=10", ("epochs", "10")),
        ("opt=adam", ("opt", '"adam"')),
        ('opt="adam"', ("opt", '"adam"')),
        ("flag=true", ("flag", "true")),
        ("note=a=b", ("note", '"a=b"')),
    ],
)
def test_hyperparameters_are_json_literals_and_bare_words_strings(
    item: str, expected: tuple[str, str]
) -> None:
    assert hyperparam(item) == expected


async def test_following_reads_the_job_until_it_ends(capsys: pytest.CaptureFixture[str]) -> None:
    answers = iter(
        [
            doc("queued"),
            doc("allocated", allocation=ALLOCATION),
            doc("checkpointed", attempts=[attempt(1, 100)]),
            doc("completed", metrics={"accuracy": 0.9}),
        ]
    )
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=next(answers))

    transport = httpx.MockTransport(answer)
    async with GatewayClient("http://gw.test", actor="alice", transport=transport) as client:
        final = await training._follow(client, "j1", show=True, timeout_s=30, poll_s=0)
    assert final["status"] == "completed"
    assert seen == ["/train/jobs/j1"] * 4
    printed = capsys.readouterr().err
    for line in ("queued", "allocated on gpu-us-east", "checkpoint step 100", "accuracy=0.9"):
        assert line in printed
