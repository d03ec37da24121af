"""GPU time as the hardware tells it: NVML, sampled while the entrypoint runs.

``GpuMeter`` samples every visible GPU's utilisation (``nvmlDeviceGetUtilizationRates``,
the percentage of the last sample period a kernel was running) and integrates it
into busy GPU-seconds: a job that holds two GPUs for an hour and keeps each half
busy measures 3,600. That is what Finance compares with the accelerator-hours
charged (requested times wall time) to show utilisation. ``pynvml`` (PyPI
``nvidia-ml-py``) is optional and never a dependency: without it, a driver or a
GPU the meter measures nothing and says so (``None``), rather than zero.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["GpuMeter", "busy_seconds", "load_nvml"]


def load_nvml() -> Any | None:
    """The initialised ``pynvml`` module, or None on a host NVML cannot measure."""
    try:
        nvml: Any = importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception:  # not installed, no driver, no GPU
        return None
    return nvml


def busy_seconds(samples: Sequence[tuple[float, Sequence[float]]]) -> float:
    """Integrate ``(monotonic time, utilisation % per device)`` samples: each
    interval counts at the utilisation read at its end (NVML reports the period
    just past), summed over devices."""
    total = 0.0
    for (before, _), (after, percents) in itertools.pairwise(samples):
        total += (after - before) * sum(min(max(p, 0.0), 100.0) for p in percents) / 100.0
    return total


def _visible(nvml: Any) -> list[Any]:
    """Handles of the devices this process may use (``CUDA_VISIBLE_DEVICES`` as
    indices when set, else all)."""
    count = int(nvml.nvmlDeviceGetCount())
    wanted = os.environ.get("CUDA_VISIBLE_DEVICES")
    indices = range(count)
    if wanted is not None:
        indices = range(0)
        with contextlib.suppress(ValueError):
            indices = [int(i) for i in wanted.split(",") if i.strip()]  # type: ignore[assignment]
    return [nvml.nvmlDeviceGetHandleByIndex(i) for i in indices if 0 <= i < count]


class GpuMeter:
    """Samples in a daemon thread between ``start`` and ``stop``."""

    def __init__(
        self,
        nvml: Any | None = None,
        *,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nvml = nvml
        self._interval = interval_s
        self._clock = clock
        self._samples: list[tuple[float, list[float]]] = []
        self._devices: list[Any] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Read every device once (the thread calls this; tests may too)."""
        assert self._nvml is not None
        try:
            percents = [
                float(self._nvml.nvmlDeviceGetUtilizationRates(h).gpu) for h in self._devices
            ]
        except Exception:  # a device that stops answering: keep what was measured
            return
        self._samples.append((self._clock(), percents))

    def start(self) -> GpuMeter:
        if self._nvml is None:
            return self
        try:
            self._devices = _visible(self._nvml)
        except Exception:
            self._nvml = None
            return self
        if not self._devices:
            return self
        self.sample()
        self._thread = threading.Thread(target=self._run, name="covenant-gpu-meter", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def stop(self) -> float | None:
        """Busy GPU-seconds measured, or None when nothing could be measured."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self.sample()
        if self._nvml is None or not self._devices:
            return None
        with contextlib.suppress(Exception):
            self._nvml.nvmlShutdown()
        return round(busy_seconds(self._samples), 3)
