"""Workers whose capabilities need an optional extra, imported only when built.

A control plane that never evaluates, serves or watches drift need not install
numpy, scipy, onnxruntime or datasketches; the composition root in
:mod:`covenant.platform` names these factories, and a missing extra surfaces as a
:class:`~covenant.errors.ConfigError` that says which ``pip install`` mends it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from covenant.errors import ConfigError
from covenant.promotion import load_approvers

if TYPE_CHECKING:
    from covenant.platform import Resources
    from covenant.runtime.worker import Worker


@contextlib.contextmanager
def _needs(worker: str, extra: str) -> Iterator[None]:
    try:
        yield
    except ImportError as exc:
        raise ConfigError(
            f"the {worker} worker needs the {extra} extra ({exc.name} is missing): "
            f"pip install 'covenant[{extra}]'"
        ) from exc


def evaluation_worker(resources: Resources) -> Worker:
    with _needs("evaluation", "eval"):
        from covenant.evaluation.runners import OnnxRunner
        from covenant.evaluation.worker import make_evaluation_worker
    return make_evaluation_worker(blobs=resources.require_blobs(), runners=(OnnxRunner(),))


def serving_worker(_: Resources) -> Worker:
    """Its canary statistics need scipy."""
    with _needs("serving", "serve"):
        from covenant.serving.worker import make_serving_worker
    return make_serving_worker()


def drift_worker(resources: Resources) -> Worker:
    """Its sketches need datasketches, its statistics numpy and scipy."""
    with _needs("drift", "drift"):
        from covenant.drift.windows import WindowSpec
        from covenant.drift.worker import DriftSettings, make_drift_worker
    options = resources.drift_options
    return make_drift_worker(
        blobs=resources.require_blobs(),
        pools=resources.pools,
        approvers=load_approvers(resources.approvers_path),
        settings=None
        if options is None
        else DriftSettings(
            window=WindowSpec(options[0], options[1]),
            alpha=options[2],
            resamples=options[3],
            alert_windows=options[4],
        ),
    )
