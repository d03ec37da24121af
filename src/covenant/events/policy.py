"""Policy requests and decisions: SentinelNet's topics.

The request carries everything the rules look at, the request itself and the
registry's facts, as canonical JSON: a policy engine outside Covenant (an external
SentinelNet) answers on the same topics without reading Covenant's stores, and the
log shows exactly what each decision was made on.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from covenant.events.base import Command, Event, Record
from covenant.events.refusals import Refusal
from covenant.topics import POLICY_COMMANDS, POLICY_EVENTS


class PolicyStage(StrEnum):
    """Where in the flow a policy is checked."""

    PRE_TRAIN = "pre_train"
    PRE_PROMOTION = "pre_promotion"
    RUNTIME = "runtime"


class RequestPolicy(Command, type="policy.requested", topic=POLICY_COMMANDS):
    """Ask for a decision on one request at one stage (subject: what it is about)."""

    stage: PolicyStage
    subject_id: str = Field(description="the job, model or deployment decided on")
    input_json: str = Field(description="canonical JSON: {request: ..., facts: ...}")


class MatchedRule(Record):
    """One rule whose expression held."""

    rule_id: str
    effect: str = Field(description="deny or allow")
    reason: str


class PolicyDecided(Event, type="policy.decided", topic=POLICY_EVENTS):
    """The decision, with every rule that matched and why."""

    stage: PolicyStage
    subject_id: str
    allowed: bool
    policy_version: str = Field(description="the policy file's version, e.g. 2026.12.1")
    matched: list[MatchedRule] = Field(default_factory=list)
    refusals: list[Refusal] = Field(default_factory=list)
    decided_by: str = Field(description="covenant-policy or the external engine's name")
