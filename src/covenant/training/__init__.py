"""Training orchestration: jobs, run records, reproduction, executors, allocation
and accounting. The SDK an entrypoint imports is ``TrainingContext``."""

__all__: list[str] = []
