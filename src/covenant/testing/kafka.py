"""A single-node Apache Kafka (KRaft) broker run as a local process.

For tests and benchmarks on machines without a Docker engine: the jars come from
Maven Central (``deploy/kafka/fetch.sh``), the broker runs on the machine's Java
17+, listens on loopback only, and its data lives in a throwaway folder.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

from covenant.testing._process import free_port, stop_group

__all__ = ["LocalKafka", "free_port"]

_LOG4J2 = """Configuration:
  Appenders:
    File:
      name: FILE
      fileName: "{log}"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: FILE
"""

_PROPERTIES = """process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""


class LocalKafka:
    """Start, stop, kill and restart one broker.

    Args:
        libs: folder with the Kafka jars (``deploy/kafka/fetch.sh`` prints it).
        workdir: where config, data and the broker log go.
        heap: JVM heap, small by default: tests need little.
    """

    def __init__(self, libs: Path, workdir: Path, *, heap: str = "768m") -> None:
        self.libs = libs
        self.workdir = workdir
        self.heap = heap
        self.port = free_port()
        self.controller = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "broker.log"

    def _java(self, main: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("Java 17+ is needed to run Kafka; apt-get install openjdk-17-jre")
        return [
            java,
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.yaml'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def format(self) -> None:
        """Write the config and format the storage (first start only)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        data = self.workdir / "data"
        props = self.workdir / "server.properties"
        props.write_text(_PROPERTIES.format(port=self.port, controller=self.controller, data=data))
        (self.workdir / "log4j2.yaml").write_text(_LOG4J2.format(log=self.log_file))
        if not (data / "meta.properties").exists():
            cluster = uuid.uuid4().hex[:22]
            subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster,
                    "-c",
                    str(props),
                    "--standalone",
                ),
                check=True,
                capture_output=True,
            )

    def start(self, *, timeout_s: float = 60.0) -> None:
        """Start the broker and wait until it accepts connections."""
        if not (self.workdir / "server.properties").exists():
            self.format()
        out = (self.workdir / "stdout.log").open("ab")
        self._proc = subprocess.Popen(
            self._java("kafka.Kafka", str(self.workdir / "server.properties")),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"Kafka exited at start; see {self.workdir}/stdout.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Kafka did not listen on {self.port} within {timeout_s} s")

    def stop(self, *, kill: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL with ``kill``) and wait for the process."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        stop_group(proc, kill=kill, timeout_s=30)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
