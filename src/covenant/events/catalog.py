"""The closed list of message types on Covenant's topics.

A new record type is added here and nowhere else; the codec, the schema files and
the CLI all read this tuple. No registration by subclassing: an explicit list is
greppable and cannot change at import time.
"""

from __future__ import annotations

from covenant.events.allocation import (
    AllocationDenied,
    AllocationFreed,
    AllocationGranted,
    AllocationQueued,
    AllocationReleased,
    AllocationRequested,
)
from covenant.events.artifacts import ArtifactRejected, ArtifactStored, RecordArtifact
from covenant.events.audit import CheckpointSigned, LeavesAppended
from covenant.events.base import Message
from covenant.events.datasets import (
    ApproveDataset,
    DatasetCleared,
    DatasetRegistered,
    DatasetRejected,
    RegisterDataset,
)
from covenant.events.deadletter import DeadLettered
from covenant.events.drift import (
    ApproveRetrain,
    DriftAlerted,
    DriftDecisionRefused,
    DriftFinding,
    DriftScored,
    DriftWindowOpened,
    ObserveLabel,
    ObserveOutcome,
    ObserveSample,
    QuarantineApplied,
    QuarantineReleased,
    QuarantineSignedOff,
    ReportAlert,
    RetrainApproved,
    RetrainProposed,
    SignOffQuarantine,
)
from covenant.events.evaluation import EvaluationCompleted, EvaluationFailed, RunEvaluation
from covenant.events.finance import ChargebackRecorded, UsageRecorded
from covenant.events.policy import PolicyDecided, RequestPolicy
from covenant.events.promotion import (
    ApprovalAccepted,
    ApprovalRefused,
    ApprovePromotion,
    DemoteModel,
    DeprecateModel,
    ExpirePromotion,
    LifecycleRefused,
    ManifestRefused,
    ManifestSigned,
    ModelDemoted,
    ModelDeprecated,
    ModelPromoted,
    PromotionBlocked,
    PromotionPending,
    RequestPromotion,
    SignManifest,
)
from covenant.events.registry import ModelRegistered, ModelRejected, RegisterModel
from covenant.events.runs import StartRun, StopRun
from covenant.events.serving import (
    CanaryAnalysed,
    DeploymentRecorded,
    DeploymentRefused,
    DeployModel,
    ObserveCanary,
    ObserveLoad,
    ObserveReplicas,
    RollbackDeployment,
    ScaleDecided,
    ScaleDeployment,
    TrafficShifted,
)
from covenant.events.training import (
    CancelTraining,
    ExpireTraining,
    ReportRun,
    SubmitTraining,
    TrainingAllocated,
    TrainingCancelled,
    TrainingCheckpointed,
    TrainingCleared,
    TrainingCompleted,
    TrainingFailed,
    TrainingPreempted,
    TrainingQueued,
    TrainingRejected,
    TrainingReproduced,
    TrainingResumed,
    TrainingStarted,
)

MESSAGE_TYPES: tuple[type[Message], ...] = (
    RegisterDataset,
    DatasetRegistered,
    DatasetRejected,
    ApproveDataset,
    DatasetCleared,
    RecordArtifact,
    ArtifactStored,
    ArtifactRejected,
    RegisterModel,
    ModelRegistered,
    ModelRejected,
    SubmitTraining,
    CancelTraining,
    ReportRun,
    ExpireTraining,
    TrainingQueued,
    TrainingRejected,
    TrainingCleared,
    TrainingAllocated,
    TrainingStarted,
    TrainingCheckpointed,
    TrainingPreempted,
    TrainingResumed,
    TrainingCompleted,
    TrainingFailed,
    TrainingCancelled,
    TrainingReproduced,
    StartRun,
    StopRun,
    RunEvaluation,
    EvaluationCompleted,
    EvaluationFailed,
    RequestPolicy,
    PolicyDecided,
    AllocationRequested,
    AllocationReleased,
    AllocationGranted,
    AllocationQueued,
    AllocationDenied,
    AllocationFreed,
    UsageRecorded,
    ChargebackRecorded,
    RequestPromotion,
    ApprovePromotion,
    ExpirePromotion,
    DeprecateModel,
    DemoteModel,
    SignManifest,
    ManifestSigned,
    ManifestRefused,
    PromotionPending,
    ApprovalAccepted,
    ApprovalRefused,
    ModelPromoted,
    PromotionBlocked,
    ModelDemoted,
    ModelDeprecated,
    LifecycleRefused,
    DeployModel,
    ScaleDeployment,
    RollbackDeployment,
    ObserveReplicas,
    ObserveCanary,
    ObserveLoad,
    DeploymentRecorded,
    DeploymentRefused,
    TrafficShifted,
    CanaryAnalysed,
    ScaleDecided,
    ObserveSample,
    ObserveLabel,
    ObserveOutcome,
    ReportAlert,
    ApproveRetrain,
    SignOffQuarantine,
    DriftWindowOpened,
    DriftScored,
    DriftAlerted,
    DriftFinding,
    RetrainProposed,
    RetrainApproved,
    QuarantineApplied,
    QuarantineSignedOff,
    QuarantineReleased,
    DriftDecisionRefused,
    DeadLettered,
    LeavesAppended,
    CheckpointSigned,
)


def message_type(type_name: str) -> type[Message]:
    """The class for a dotted type name such as ``model.register``.

    Raises:
        KeyError: naming the known types, when ``type_name`` is not one.
    """
    for cls in MESSAGE_TYPES:
        if type_name == cls.TYPE:
            return cls
    known = ", ".join(sorted(c.TYPE for c in MESSAGE_TYPES))
    raise KeyError(f"unknown message type {type_name!r}; known types: {known}")
