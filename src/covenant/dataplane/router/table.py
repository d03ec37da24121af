"""Route tables and the choice of an arm: pure, so the split is tested on numbers.

A request is drawn by weight, unless the route is sticky: then the arm is a function
of the request key alone (``sha256(route, key)`` as a point in [0, 1) against the
cumulative weights), so one user always sees one arm for as long as the weights
stand, and the split over many keys matches the weights (the hash is uniform).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = [
    "RouterArm",
    "RouterShadow",
    "RouterTable",
    "choose_arm",
    "should_shadow",
    "sticky_point",
]


@dataclass(frozen=True, slots=True)
class RouterArm:
    """One weighted destination: replicas of one version, by base URL."""

    name: str
    weight: int
    endpoints: tuple[str, ...]
    model_name: str  # the name the upstream servers load the model under
    version: str


@dataclass(frozen=True, slots=True)
class RouterShadow:
    """Where a sampled copy of the traffic goes; its answers never reach the caller."""

    endpoints: tuple[str, ...]
    model_name: str
    version: str
    sample_rate: float


@dataclass(frozen=True, slots=True)
class RouterTable:
    """A route's whole split; swapped as one value, never edited in place."""

    route: str
    arms: tuple[RouterArm, ...]
    shadow: RouterShadow | None = None
    sticky_key: str | None = None

    def __post_init__(self) -> None:
        if not self.arms:
            raise ValueError(f"route {self.route}: a table needs at least one arm")
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"route {self.route}: arm names {names} repeat")
        for arm in self.arms:
            if not 0 <= arm.weight <= 100:
                raise ValueError(f"route {self.route}: arm {arm.name} weight {arm.weight} ∉ 0..100")
            if arm.weight > 0 and not arm.endpoints:
                raise ValueError(f"route {self.route}: arm {arm.name} has weight but no endpoint")
        total = sum(a.weight for a in self.arms)
        if total != 100:
            raise ValueError(f"route {self.route}: weights sum to {total}, not 100")
        if self.shadow is not None:
            if not 0 < self.shadow.sample_rate <= 1:
                raise ValueError(
                    f"route {self.route}: shadow sample_rate {self.shadow.sample_rate} ∉ (0, 1]"
                )
            if not self.shadow.endpoints:
                raise ValueError(f"route {self.route}: the shadow has no endpoint")


def sticky_point(route: str, key: str) -> float:
    """Where ``key`` falls in [0, 1) for ``route``: the first 8 bytes of a SHA-256."""
    digest = hashlib.sha256(f"{route}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_arm(table: RouterTable, *, sticky_value: str | None, draw: float) -> RouterArm:
    """The arm for one request: by the sticky key's point when the route is sticky
    and the request has one, else by ``draw`` (uniform in [0, 1), the caller's RNG)."""
    point = draw
    if table.sticky_key is not None and sticky_value is not None:
        point = sticky_point(table.route, sticky_value)
    edge = 0.0
    for arm in table.arms:
        edge += arm.weight / 100.0
        if point < edge and arm.weight > 0:
            return arm
    return next(a for a in reversed(table.arms) if a.weight > 0)


def should_shadow(table: RouterTable, *, draw: float) -> bool:
    """Whether a request is copied to the shadow (``draw`` uniform in [0, 1))."""
    return table.shadow is not None and draw < table.shadow.sample_rate
