"""Training orchestration: jobs, run records, reproduction, executors, allocation
and accounting. The SDK an entrypoint imports is ``TrainingContext``."""

from covenant.training.sdk import TrainingContext

__all__ = ["TrainingContext"]
