"""What every local test service shares: a free loopback port, and stopping the
process group it runs in (its children too), by force when it will not stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(
    proc: subprocess.Popen[bytes],
    *,
    sig: signal.Signals = signal.SIGTERM,
    timeout_s: float,
) -> None:
    """Send ``sig`` to the process group and wait; SIGKILL it when it has not
    exited within ``timeout_s``. Nothing happens if it already exited."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):  # it exited just now
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
