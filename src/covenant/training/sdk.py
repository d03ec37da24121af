"""The SDK a training entrypoint sees: ``def train(ctx: TrainingContext) -> None``.

The launcher builds the context and hands it the two things that reach outside the
process, a function that stores bytes and one that prints a progress line, so this
module imports nothing but the progress-line format: entrypoints (and their tests)
can import it without pulling in the platform, and a test can build a context over
a dict.

A checkpoint is stored as a small envelope, ``COVENANT-CHECKPOINT 1\\n``, one line
of JSON with the step, then the entrypoint's bytes unchanged: a resumed run is given
only the checkpoint's artifact id, and the step has to travel with the bytes.

``record_profile`` writes the drift reference profile of the training data and the
model's outputs on it (``covenant.drift.reference.training_profile``) to
``drift-profile.json`` in the output folder, so it is uploaded, content-addressed,
with the run's other outputs; the training worker links it to the model version the
job registers. It imports the drift code (numpy, DataSketches) only when called.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from covenant.training.progress import MARKER, Progress, format_line

__all__ = [
    "PROFILE_MEDIA_TYPE",
    "PROFILE_OUTPUT",
    "TrainingContext",
    "decode_checkpoint",
    "encode_checkpoint",
]

#: The output path of a run's drift reference profile, and the media type it is
#: stored under (the evaluation worker's, ``covenant.evaluation.worker``).
PROFILE_OUTPUT = "drift-profile.json"
PROFILE_MEDIA_TYPE = "application/vnd.covenant.drift-profile+json"

_MAGIC = b"COVENANT-CHECKPOINT 1\n"


def encode_checkpoint(step: int, state: bytes) -> bytes:
    """The bytes stored for a checkpoint of ``state`` taken at ``step``."""
    header = json.dumps({"step": step}, sort_keys=True, separators=(",", ":")).encode()
    return _MAGIC + header + b"\n" + bytes(state)


def decode_checkpoint(blob: bytes) -> tuple[int, bytes]:
    """``(step, state)`` from ``encode_checkpoint``'s bytes.

    Raises:
        ValueError: for bytes that are not a checkpoint envelope.
    """
    if not blob.startswith(_MAGIC):
        raise ValueError("not a Covenant checkpoint (no COVENANT-CHECKPOINT header)")
    header, newline, state = blob[len(_MAGIC) :].partition(b"\n")
    try:
        step = json.loads(header)["step"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a Covenant checkpoint: {exc}") from exc
    if not newline or not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError("not a Covenant checkpoint: bad step header")
    return step, state


def _print_line(progress: Progress) -> None:
    sys.stdout.write(format_line(progress) + "\n")
    sys.stdout.flush()


class TrainingContext:
    """What one attempt of a training run gives its entrypoint.

    Attributes:
        datasets: dataset name → the local file holding its verified bytes.
        hyperparams: the run spec's hyperparameters, as given.
        seed: the seed every source of randomness must derive from.
        output_dir: an empty folder; every file in it when the entrypoint returns
            is uploaded as a content-addressed artifact.
        executor: ``local`` or ``ray``.
        workers: data-parallel workers (1 on the local executor).
        attempt: 1 for the first run, +1 for each resume.
    """

    def __init__(
        self,
        *,
        datasets: Mapping[str, Path],
        hyperparams: Mapping[str, Any],
        seed: int,
        output_dir: Path,
        store: Callable[[bytes], str],
        executor: str = "local",
        workers: int = 1,
        attempt: int = 1,
        resume: tuple[int, bytes] | None = None,
        emit: Callable[[Progress], None] = _print_line,
    ) -> None:
        """
        Args:
            store: puts bytes in the artifact store and returns their artifact id.
            resume: the checkpoint this attempt resumes from, ``(step, state)``.
            emit: prints one progress line (the launcher's standard output).
        """
        self.datasets: Mapping[str, Path] = MappingProxyType(dict(datasets))
        self.hyperparams: Mapping[str, Any] = MappingProxyType(dict(hyperparams))
        self.seed = seed
        self.output_dir = output_dir
        self.executor = executor
        self.workers = workers
        self.attempt = attempt
        self._store = store
        self._resume = resume
        self._emit = emit
        self._metrics: dict[str, float] = {}
        self._lock = threading.Lock()  # entrypoints may report from several threads

    def checkpoint(self, state: bytes, step: int) -> str:
        """Store ``state`` as the checkpoint at ``step`` and return its artifact id.

        A later attempt that resumes from it gets exactly these bytes back from
        ``restore``, so ``state`` should hold everything training needs to go on
        (weights, optimizer state, the epoch) in a deterministic encoding.
        """
        if not isinstance(state, bytes | bytearray | memoryview):
            raise TypeError(f"checkpoint state must be bytes, not {type(state).__name__}")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"checkpoint step must be a non-negative int, got {step!r}")
        artifact_id = self._store(encode_checkpoint(step, bytes(state)))
        with self._lock:
            self._emit(Progress("checkpoint", {"step": step, "artifact_id": artifact_id}))
        return artifact_id

    def restore(self) -> tuple[int, bytes] | None:
        """``(step, state)`` of the checkpoint this attempt resumes from; None when
        it starts fresh."""
        return self._resume

    def report(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Report metrics; the last value reported under each name becomes the run's.

        Raises:
            ValueError: for a value that is not a finite number (JSON has no NaN).
        """
        values: dict[str, float] = {}
        for name, value in metrics.items():
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"metric {name!r} is {number}: report finite numbers only")
            values[str(name)] = number
        with self._lock:
            self._metrics.update(values)
            self._emit(Progress("metrics", {"step": step, "metrics": values}))

    def log(self, msg: str) -> None:
        """Print a line to the run's log (a line that would read as a progress
        line is indented, so an entrypoint cannot forge one by accident)."""
        lines = [f" {line}" if line.startswith(MARKER) else line for line in msg.split("\n")]
        with self._lock:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()

    def record_profile(
        self,
        *,
        features: Any,
        feature_names: Sequence[str],
        predicted: Sequence[object],
        truth: Sequence[object] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Path:
        """Write the drift reference profile of the training rows and the model's
        outputs on them; the path written (``output_dir / PROFILE_OUTPUT``).

        Profile the rows the model was fitted on, as the model sees them (the same
        scaling as at serving), with the labels the finished model predicts for them;
        with ``truth`` the profile keeps the training accuracy too. Call it once the
        model is final: a second call replaces the first profile. The profile holds
        nothing of the attempt, so a resumed run writes what an uninterrupted one does
        (while every column has fewer rows than the sketches' k, 2,000: past that
        DataSketches compacts at random and two builds differ within the rank error).

        Args:
            features: a (rows, len(feature_names)) array of numbers.
            feature_names: the columns, named as the model's inputs are at serving.
            predicted: one predicted label per row.
            truth: one true label per row, for the ``accuracy`` rate.
            metadata: text to keep in the profile beside ``source: training``.

        Raises:
            ValueError: for features, names, predictions or truth that do not agree.
            ModuleNotFoundError: where the drift extra (numpy, datasketches) is missing.
        """
        try:
            from covenant.drift.reference import training_profile
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                f"record_profile needs {exc.name}: pip install 'covenant[drift]'", name=exc.name
            ) from exc
        profile = training_profile(
            features=features,
            feature_names=feature_names,
            predicted=predicted,
            truth=truth,
            metadata={**(metadata or {}), "source": "training"},
        )
        path = self.output_dir / PROFILE_OUTPUT
        with self._lock:
            path.write_bytes(profile.to_bytes())
        return path

    @property
    def metrics(self) -> dict[str, float]:
        """The last reported value of every metric."""
        with self._lock:
            return dict(self._metrics)
