"""A single-node Apache Kafka (KRaft) broker run as a local process.

For tests and benchmarks on machines without a Docker engine: the jars come from
Maven Central (``deploy/kafka/fetch.sh``), the broker runs on the machine's Java
17+, listens on loopback only, and its data lives in a throwaway folder.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from pathlib import Path

from covenant.testing._process import free_port
from covenant.testing._service import LocalService

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


class LocalKafka(LocalService):
    """Start, stop, kill and restart one broker.

    Args:
        libs: folder with the Kafka jars (``deploy/kafka/fetch.sh`` prints it).
        workdir: where config, data and the broker log go.
        heap: JVM heap, small by default: tests need little.
        port: the client port (a free one if None). Give one to start the broker
            where clients are already waiting for it, as the outage tests do.
    """

    name = "Kafka"
    start_timeout_s = 60.0
    stop_timeout_s = 30.0

    def __init__(
        self, libs: Path, workdir: Path, *, heap: str = "768m", port: int | None = None
    ) -> None:
        super().__init__()
        self.libs = libs
        self.workdir = workdir
        self.heap = heap
        self.port = free_port() if port is None else port
        self.controller = free_port()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    @property
    def log_file(self) -> Path:
        """The broker's own log (log4j); its console output is ``output_file``."""
        return self.workdir / "broker.log"

    @property
    def output_file(self) -> Path:
        return self.workdir / "stdout.log"

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

    def prepare(self) -> None:
        if not (self.workdir / "server.properties").exists():
            self.format()

    def command(self) -> list[str]:
        return self._java("kafka.Kafka", str(self.workdir / "server.properties"))

    def is_ready(self) -> bool:
        """Accepting connections on the client port."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False
