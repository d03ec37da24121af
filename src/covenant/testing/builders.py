"""Valid Covenant records in one call, for tests: one builder per message type.

Each builder is named after its message class in snake case (``RegisterModel`` →
``register_model``), takes the message's fields as keywords with defaults that
Covenant's own workers would accept, and the metadata as keywords too
(``subject``, ``actor``, ``producer``, ``caused_by``, ``clock``, ``ids``, ...; see
``Meta``)::

    from covenant.testing import FrozenClock, SequentialIds, builders as b

    clock, ids = FrozenClock(), SequentialIds()
    data = b.artifact_stored("d1", clock=clock, ids=ids)
    dataset = b.dataset_registered("d1", pii=True, clock=clock, ids=ids)
    model = b.model_registered("vit:1.0.0", datasets=["d1"], clock=clock, ids=ids)
    refused = b.model_rejected("vit:1.0.0", code=RefusalCode.CONFLICT, caused_by=...)

The defaults line up: ``register_dataset("d1")`` points at ``artifact_stored("d1")``
and ``register_model(m)`` at ``artifact_stored(f"weights {m}")``, since a text's
content address is ``sha(text)``. A test of Covenant checks that every type in
``covenant.events.catalog.MESSAGE_TYPES`` has a builder here, so these keep up
with the contract.

Builders:
    datasets: ``register_dataset``, ``dataset_registered``, ``dataset_rejected``,
        ``approve_dataset``, ``dataset_cleared`` (and ``transformation``).
    artifacts: ``record_artifact``, ``artifact_stored``, ``artifact_rejected``.
    registry: ``register_model``, ``model_registered``, ``model_rejected``.
    platform: ``dead_lettered``, ``leaves_appended`` (and ``leaf``),
        ``checkpoint_signed``.
"""

from __future__ import annotations

from covenant.testing._builders._meta import ACTOR, Meta, sha
from covenant.testing._builders.artifacts import (
    artifact_rejected,
    artifact_stored,
    record_artifact,
)
from covenant.testing._builders.datasets import (
    approve_dataset,
    dataset_cleared,
    dataset_registered,
    dataset_rejected,
    register_dataset,
    transformation,
)
from covenant.testing._builders.records import (
    checkpoint_signed,
    dead_lettered,
    leaf,
    leaves_appended,
)
from covenant.testing._builders.registry import (
    model_registered,
    model_rejected,
    register_model,
    split_model_id,
)

__all__ = [
    "ACTOR",
    "Meta",
    "approve_dataset",
    "artifact_rejected",
    "artifact_stored",
    "checkpoint_signed",
    "dataset_cleared",
    "dataset_registered",
    "dataset_rejected",
    "dead_lettered",
    "leaf",
    "leaves_appended",
    "model_registered",
    "model_rejected",
    "record_artifact",
    "register_dataset",
    "register_model",
    "sha",
    "split_model_id",
    "transformation",
]
