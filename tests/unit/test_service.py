"""The launchers' shared base: start, wait until ready, stop the whole process
group, on a tiny Python server (the real launchers run in the other suites)."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from covenant.testing._process import free_port
from covenant.testing._service import LocalService, ServiceStartError

SERVE = """
import socket, subprocess, sys, time
from pathlib import Path
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
Path(sys.argv[2]).write_text(str(child.pid))
print("serving", flush=True)
with socket.socket() as s:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
    while True:
        s.accept()[0].close()
"""


class Toy(LocalService):
    """Listens on ``port`` once started, with a child process in its group."""

    name = "the toy server"
    stop_timeout_s = 10.0

    def __init__(self, workdir: Path, script: str = SERVE) -> None:
        super().__init__()
        self.workdir = workdir
        self.script = script
        self.port = free_port()
        self.calls: list[str] = []

    @property
    def output_file(self) -> Path:
        return self.workdir / "toy.log"

    @property
    def child_pid(self) -> int:
        return int((self.workdir / "child.pid").read_text())

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script, str(self.port), str(self.workdir / "child.pid")]

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def prepare(self) -> None:
        self.calls.append("prepare")

    def on_ready(self) -> None:
        self.calls.append("on_ready")

    def cleanup(self) -> None:
        self.calls.append("cleanup")


def exited(pid: int) -> bool:
    """No such process, or a zombie waiting for init to reap it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def gone(pid: int) -> bool:
    """Whether ``pid`` exits soon: a signalled process dies when next scheduled,
    which may be a moment after its group leader was reaped."""
    deadline = time.monotonic() + 10
    while not exited(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return exited(pid)


def test_context_manager_starts_ready_and_stops_the_whole_group(tmp_path: Path) -> None:
    toy = Toy(tmp_path)
    with toy:
        assert toy.running
        assert toy.is_ready()
        child = toy.child_pid
        assert not exited(child)
        assert toy.calls == ["prepare", "on_ready"]
    assert not toy.running
    assert not toy.is_ready()
    assert gone(child)
    assert toy.calls == ["prepare", "on_ready", "cleanup"]
    assert "serving" in toy.output_file.read_text()


def test_stopping_twice_or_before_start_is_harmless(tmp_path: Path) -> None:
    toy = Toy(tmp_path)
    toy.stop()
    toy.start()
    toy.stop()
    toy.stop(kill=True)
    assert not toy.running


def test_start_while_running_keeps_the_one_process(tmp_path: Path) -> None:
    with Toy(tmp_path) as toy:
        first = toy.child_pid
        toy.start()
        assert toy.child_pid == first
        assert toy.calls == ["prepare", "on_ready"]


def test_a_stopped_service_starts_again(tmp_path: Path) -> None:
    toy = Toy(tmp_path)
    toy.start()
    toy.stop(kill=True)
    with toy:
        assert toy.is_ready()
    assert toy.output_file.read_text().count("serving") == 2


def test_exit_at_start_names_the_log_and_shows_its_tail(tmp_path: Path) -> None:
    toy = Toy(tmp_path, script="import sys; print('no config here'); sys.exit(3)")
    with pytest.raises(ServiceStartError, match="exited at start with status 3") as caught:
        toy.start()
    assert caught.value.log_file == toy.output_file
    assert str(toy.output_file) in str(caught.value)
    assert "no config here" in str(caught.value)
    assert toy.calls == ["prepare", "cleanup"]


def test_not_ready_in_time_names_the_log_and_leaves_nothing_running(tmp_path: Path) -> None:
    never = "import os, time; print(os.getpid(), flush=True); time.sleep(600)"
    toy = Toy(tmp_path, script=never)
    with pytest.raises(ServiceStartError, match="was not ready within 1 s") as caught:
        toy.start(timeout_s=1)
    assert str(toy.output_file) in str(caught.value)
    assert not toy.running
    assert gone(int(toy.output_file.read_text().split()[0]))
    assert toy.calls == ["prepare", "cleanup"]
    assert os.path.exists(toy.output_file)
