"""Why a command was refused, in a form machines can act on.

Every ``*.rejected`` event carries a list of ``Refusal`` records beside the human
text. A client (the gateway choosing 409 or 422, a retry loop, a console) reads the
``code``, never the wording, so a worker may reword its messages freely.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from covenant.events.base import Record


class RefusalCode(StrEnum):
    """The closed set of reasons a command can be refused for.

    Readers built against an older contract map an unknown future code to
    ``invalid`` (the Avro enum default), so new codes can be added compatibly.
    """

    CONFLICT = "conflict"  # the request clashes with what exists (already registered)
    INVALID = "invalid"  # the request cannot be carried out as given
    NOT_FOUND = "not_found"  # the entity the command acts on does not exist
    FORBIDDEN = "forbidden"  # the actor may not do this
    POLICY = "policy"  # a policy rule says no
    QUOTA = "quota"  # a quota or capacity limit says no

    @classmethod
    def avro_default(cls) -> RefusalCode:
        """The symbol an older reader uses for a code it does not know."""
        return cls.INVALID


class Refusal(Record):
    """One reason a command was refused."""

    code: RefusalCode
    message: str = Field(description="for people: what is wrong and what to do")
    field: str | None = Field(
        default=None, description="the command field it concerns (camelCase, dotted)"
    )


def messages(refusals: list[Refusal]) -> list[str]:
    """The human text of each refusal, for the ``reasons`` field older readers use."""
    return [r.message for r in refusals]
