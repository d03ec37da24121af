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
content address is ``sha(text)``. A training job is ``job-1`` of team ``vision``
on dataset ``d1`` (checksum ``sha("d1")``, ``dataset_registered("d1")``'s), code at
a full commit, in pool ``cpu-local``; its records have the job id as subject, as do
its allocation's events and its policy decision, while allocation commands have
the pool. A test of Covenant checks that every type in
``covenant.events.catalog.MESSAGE_TYPES`` has a builder here, so these keep up
with the contract.

Builders:
    datasets: ``register_dataset``, ``dataset_registered``, ``dataset_rejected``,
        ``approve_dataset``, ``dataset_cleared`` (and ``transformation``).
    artifacts: ``record_artifact``, ``artifact_stored``, ``artifact_rejected``.
    registry: ``register_model``, ``model_registered``, ``model_rejected``.
    training: ``submit_training``, ``cancel_training``, ``report_run``,
        ``expire_training``, ``training_queued`` (and ``training_job``),
        ``training_rejected``, ``training_cleared``, ``training_allocated``,
        ``training_started``, ``training_checkpointed``, ``training_preempted``,
        ``training_resumed``, ``training_completed``, ``training_failed``,
        ``training_cancelled``, ``training_reproduced`` (and ``checkpoint_id``,
        ``model_output_id``).
    runs: ``start_run``, ``stop_run`` (and ``run_record``, ``split_code_ref``).
    policy: ``request_policy``, ``policy_decided`` (and ``matched_rule``).
    allocation: ``allocation_requested``, ``allocation_released``,
        ``allocation_granted``, ``allocation_queued``, ``allocation_denied``,
        ``allocation_freed``.
    evaluation: ``run_evaluation``, ``evaluation_completed``, ``evaluation_failed``.
    finance: ``usage_recorded``, ``chargeback_recorded``.
    promotion: ``request_promotion``, ``approve_promotion``, ``expire_promotion``,
        ``deprecate_model``, ``demote_model``, ``sign_manifest``, ``manifest_signed``
        (and ``manifest_signature``), ``manifest_refused``, ``promotion_pending``,
        ``approval_accepted``, ``approval_refused``, ``model_promoted``,
        ``promotion_blocked`` (and ``promotion_reason``), ``model_demoted``,
        ``model_deprecated``, ``lifecycle_refused``.
    serving: ``deploy_model``, ``scale_deployment``, ``rollback_deployment``,
        ``observe_replicas``, ``observe_canary`` (and ``arm_samples``), ``observe_load``,
        ``deployment_recorded`` (and ``deployment_record``), ``deployment_refused``,
        ``traffic_shifted``, ``canary_analysed``, ``scale_decided``.
    drift: ``observe_sample``, ``observe_label``, ``observe_outcome``, ``report_alert``,
        ``approve_retrain``, ``sign_off_quarantine`` (and ``signed_decision``),
        ``drift_window_opened``, ``drift_scored`` (and ``column_drift``, ``profile_id``),
        ``drift_alerted``, ``drift_finding``, ``retrain_proposed`` (and
        ``retrain_request``), ``retrain_approved``, ``quarantine_applied``,
        ``quarantine_signed_off``, ``quarantine_released``, ``drift_decision_refused``.
    platform: ``dead_lettered``, ``leaves_appended`` (and ``leaf``),
        ``checkpoint_signed``.
"""

from __future__ import annotations

from covenant.testing._builders._meta import ACTOR, Meta, sha
from covenant.testing._builders.allocation import (
    allocation_denied,
    allocation_freed,
    allocation_granted,
    allocation_queued,
    allocation_released,
    allocation_requested,
)
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
from covenant.testing._builders.drift import (
    column_drift,
    profile_id,
    retrain_request,
    signed_decision,
)
from covenant.testing._builders.drift_commands import (
    approve_retrain,
    observe_label,
    observe_outcome,
    observe_sample,
    report_alert,
    sign_off_quarantine,
)
from covenant.testing._builders.drift_events import (
    drift_alerted,
    drift_decision_refused,
    drift_finding,
    drift_scored,
    drift_window_opened,
    quarantine_applied,
    quarantine_released,
    quarantine_signed_off,
    retrain_approved,
    retrain_proposed,
)
from covenant.testing._builders.evaluation import (
    evaluation_completed,
    evaluation_failed,
    run_evaluation,
)
from covenant.testing._builders.finance import chargeback_recorded, usage_recorded
from covenant.testing._builders.policy import matched_rule, policy_decided, request_policy
from covenant.testing._builders.promotion import (
    approve_promotion,
    demote_model,
    deprecate_model,
    expire_promotion,
    manifest_refused,
    manifest_signature,
    manifest_signed,
    promotion_reason,
    request_promotion,
    sign_manifest,
)
from covenant.testing._builders.promotion_events import (
    approval_accepted,
    approval_refused,
    lifecycle_refused,
    model_demoted,
    model_deprecated,
    model_promoted,
    promotion_blocked,
    promotion_pending,
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
from covenant.testing._builders.runs import run_record, split_code_ref, start_run, stop_run
from covenant.testing._builders.serving import (
    arm_samples,
    canary_analysed,
    deploy_model,
    deployment_record,
    deployment_recorded,
    deployment_refused,
    observe_canary,
    observe_load,
    observe_replicas,
    rollback_deployment,
    scale_decided,
    scale_deployment,
    traffic_shifted,
)
from covenant.testing._builders.training import (
    cancel_training,
    checkpoint_id,
    expire_training,
    model_output_id,
    report_run,
    submit_training,
    training_job,
    training_queued,
)
from covenant.testing._builders.training_events import (
    training_allocated,
    training_cancelled,
    training_checkpointed,
    training_cleared,
    training_completed,
    training_failed,
    training_preempted,
    training_rejected,
    training_reproduced,
    training_resumed,
    training_started,
)

__all__ = [
    "ACTOR",
    "Meta",
    "allocation_denied",
    "allocation_freed",
    "allocation_granted",
    "allocation_queued",
    "allocation_released",
    "allocation_requested",
    "approval_accepted",
    "approval_refused",
    "approve_dataset",
    "approve_promotion",
    "approve_retrain",
    "arm_samples",
    "artifact_rejected",
    "artifact_stored",
    "canary_analysed",
    "cancel_training",
    "chargeback_recorded",
    "checkpoint_id",
    "checkpoint_signed",
    "column_drift",
    "dataset_cleared",
    "dataset_registered",
    "dataset_rejected",
    "dead_lettered",
    "demote_model",
    "deploy_model",
    "deployment_record",
    "deployment_recorded",
    "deployment_refused",
    "deprecate_model",
    "drift_alerted",
    "drift_decision_refused",
    "drift_finding",
    "drift_scored",
    "drift_window_opened",
    "evaluation_completed",
    "evaluation_failed",
    "expire_promotion",
    "expire_training",
    "leaf",
    "leaves_appended",
    "lifecycle_refused",
    "manifest_refused",
    "manifest_signature",
    "manifest_signed",
    "matched_rule",
    "model_demoted",
    "model_deprecated",
    "model_output_id",
    "model_promoted",
    "model_registered",
    "model_rejected",
    "observe_canary",
    "observe_label",
    "observe_load",
    "observe_outcome",
    "observe_replicas",
    "observe_sample",
    "policy_decided",
    "profile_id",
    "promotion_blocked",
    "promotion_pending",
    "promotion_reason",
    "quarantine_applied",
    "quarantine_released",
    "quarantine_signed_off",
    "record_artifact",
    "register_dataset",
    "register_model",
    "report_alert",
    "report_run",
    "request_policy",
    "request_promotion",
    "retrain_approved",
    "retrain_proposed",
    "retrain_request",
    "rollback_deployment",
    "run_evaluation",
    "run_record",
    "scale_decided",
    "scale_deployment",
    "sha",
    "sign_manifest",
    "sign_off_quarantine",
    "signed_decision",
    "split_code_ref",
    "split_model_id",
    "start_run",
    "stop_run",
    "submit_training",
    "traffic_shifted",
    "training_allocated",
    "training_cancelled",
    "training_checkpointed",
    "training_cleared",
    "training_completed",
    "training_failed",
    "training_job",
    "training_preempted",
    "training_queued",
    "training_rejected",
    "training_reproduced",
    "training_resumed",
    "training_started",
    "transformation",
    "usage_recorded",
]
