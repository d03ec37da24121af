"""GPU time from NVML: utilisation samples integrate into busy GPU-seconds, and a
host NVML cannot measure says None, never zero. NVML itself is replaced by a
stand-in with its call names: this machine has no GPU (no device was lent), so
the real library is exercised only where one is."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from covenant.training.gpu import GpuMeter, busy_seconds, load_nvml


def test_busy_seconds_integrates_utilisation_over_devices() -> None:
    samples = [(0.0, [0.0, 0.0]), (10.0, [50.0, 100.0]), (20.0, [100.0, 0.0])]
    # 10 s at 50% + 100% (15 GPU-s), then 10 s at 100% + 0% (10 GPU-s)
    assert busy_seconds(samples) == pytest.approx(25.0)
    assert busy_seconds(samples[:1]) == 0.0
    assert busy_seconds([(0.0, [150.0]), (2.0, [-5.0])]) == 0.0  # clamped per sample


class FakeNvml:
    """The calls GpuMeter makes, answering from a script of readings."""

    def __init__(self, readings: list[list[float]], devices: int = 2) -> None:
        self.readings = readings
        self.devices = devices
        self.shut = False

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802 - NVML's names
        return self.devices

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:  # noqa: N802
        return SimpleNamespace(gpu=self.readings[0][handle])

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shut = True


def test_the_meter_samples_every_visible_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    nvml = FakeNvml([[0.0, 40.0]])
    times = iter([0.0, 5.0, 10.0])
    meter = GpuMeter(nvml, interval_s=3600, clock=lambda: next(times))
    meter.start()
    meter.sample()
    measured = meter.stop()
    assert measured == pytest.approx(4.0)  # device 1 only: 10 s at 40%
    assert nvml.shut


def test_a_host_without_nvml_measures_nothing() -> None:
    assert GpuMeter(None).start().stop() is None
    assert GpuMeter(FakeNvml([[]], devices=0)).start().stop() is None
    if load_nvml() is None:  # no pynvml or no GPU here: None, not 0
        assert GpuMeter(load_nvml()).start().stop() is None
