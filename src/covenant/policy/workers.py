"""The built-in policy worker: ``policy.requested`` → ``policy.decided``.

SentinelNet's default implementation on one machine. An external engine replaces
it by answering on the same topics; nothing else changes. Stateless: a decision
depends on the request's own input document and the loaded policies only, so a
redelivered request is decided again, the same way (the training worker acts on
the first decision for a job and ignores repeats).
"""

from __future__ import annotations

from collections.abc import Mapping

from covenant.events.base import Message
from covenant.events.policy import PolicyDecided, PolicyStage, RequestPolicy
from covenant.policy.decisions import decide
from covenant.policy.files import load_policies
from covenant.policy.rules import Policy
from covenant.runtime.worker import Context, Worker
from covenant.topics import POLICY_COMMANDS, POLICY_EVENTS

DECIDED_BY = "covenant-policy"


def make_policy_worker(policies: Mapping[PolicyStage, Policy] | None = None) -> Worker:
    """The policy worker deciding with ``policies`` (the built-in ones when None).

    Policies are loaded, and every rule compiled, here rather than per request, so
    a bad policy file stops the platform at start-up with the file's error
    (``PolicyFileError``) instead of refusing every request later.
    """
    loaded = load_policies() if policies is None else policies

    async def handle(message: Message, ctx: Context) -> None:
        assert isinstance(message, RequestPolicy)  # the runtime checks ``accepts``
        decision = decide(loaded, stage=message.stage, input_json=message.input_json)
        ctx.emit(
            PolicyDecided,
            stage=message.stage,
            subject_id=message.subject_id,
            allowed=decision.allowed,
            policy_version=decision.policy_version,
            matched=decision.matched,
            refusals=decision.refusals,
            decided_by=DECIDED_BY,
        )

    return Worker(
        name="policy",
        inputs=(POLICY_COMMANDS,),
        outputs=(POLICY_EVENTS,),
        accepts=(RequestPolicy,),
        handle=handle,
        description="decides policy requests with the built-in CEL rules; fails closed",
    )
