"""The demo timeline's one-liners: every type they name exists, and each reads a real
record (encoded and decoded by the contract's codec, as the timeline reads the log)."""

from __future__ import annotations

from covenant.cli._demo_summaries import FLOW_SUMMARIES, QUIET, summarize_flow
from covenant.events.base import Message
from covenant.events.catalog import MESSAGE_TYPES
from covenant.events.contract import default_codec
from covenant.events.serving import DeploymentStatus
from covenant.testing import builders as b

CODEC = default_codec()


def line(message: Message) -> str | None:
    _, value = CODEC.decode_dict(CODEC.encode(message))
    return summarize_flow(message.meta.type, value)


def test_every_summarised_or_quiet_type_is_in_the_contract() -> None:
    known = {m.TYPE for m in MESSAGE_TYPES}
    assert set(FLOW_SUMMARIES) <= known, set(FLOW_SUMMARIES) - known
    assert set(QUIET) <= known, set(QUIET) - known


def test_drift_windows_say_which_columns_drifted() -> None:
    clean = line(b.drift_scored("prod-2", window=3))
    assert clean is not None
    assert clean.startswith("window 3 of prod-2, ")
    assert clean.endswith(": no drift")
    shifted = line(b.drift_scored("prod-2", window=4, drifted_columns=["f1"]))
    assert shifted is not None
    assert shifted.endswith(": drifted f1")


def test_deployments_and_splits_read_as_people_say_them() -> None:
    record = b.deployment_record("digits:1.1.0", deploy_id="prod-2")
    serving = record.model_copy(update={"status": DeploymentStatus.SERVING, "traffic_percent": 100})
    text = line(b.deployment_recorded(serving))
    assert text is not None
    assert text.startswith("prod-2 digits:1.1.0 serving, 100 %")


def test_a_shape_it_does_not_expect_gives_no_line_instead_of_an_error() -> None:
    assert summarize_flow("drift.scored", {"window": 1}) is None
    assert summarize_flow("no.such.type", {}) is None
