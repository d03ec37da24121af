"""Executors: where a training run happens (``local`` subprocess, ``ray``)."""

from covenant.training.executors.protocol import (
    DatasetInput,
    Executor,
    RunObservation,
    RunSpec,
    RunState,
    run_id_for,
)

__all__ = ["DatasetInput", "Executor", "RunObservation", "RunSpec", "RunState", "run_id_for"]
