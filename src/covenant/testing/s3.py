"""An S3-compatible server run as a local process, for tests and benchmarks.

It is moto's standalone server (``pip install "moto[server]"``), which speaks the
S3 REST API over HTTP on loopback: real requests, real multipart uploads and
server-side copies, no Docker engine needed. Its data lives in memory and goes
away with the process.

The server accepts any credentials; clients still need some to sign requests.
Pass ``LocalS3.credentials`` to the store, or set ``LocalS3.env()`` with pytest's
``monkeypatch.setenv`` for code that reads the AWS default chain. Nothing here
edits ``os.environ``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from covenant.blobs.s3 import S3Credentials
from covenant.testing._process import free_port
from covenant.testing._service import LocalService, in_workdir

_ACCESS_KEY = "covenant-test"
_SECRET_KEY = "covenant-test-secret"
_REGION = "us-east-1"


class LocalS3(LocalService):
    """Start and stop one moto S3 server, with one bucket created.

    Args:
        bucket: created once the server answers.
        workdir: where the server's log goes (a temporary folder, removed by
            ``stop``, if None).
    """

    name = "the S3 server"
    start_timeout_s = 30.0
    stop_timeout_s = 10.0

    def __init__(self, bucket: str = "covenant", *, workdir: Path | None = None) -> None:
        super().__init__()
        self.bucket = bucket
        self.port = free_port()
        self._workdir = workdir
        self._made_workdir = False

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def region(self) -> str:
        return _REGION

    @property
    def credentials(self) -> S3Credentials:
        """Keys the server accepts (it accepts any)."""
        return S3Credentials(_ACCESS_KEY, _SECRET_KEY)

    def env(self) -> dict[str, str]:
        """AWS variables for code that reads the default credential chain."""
        return {
            "AWS_ACCESS_KEY_ID": _ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": _SECRET_KEY,
            "AWS_DEFAULT_REGION": _REGION,
        }

    def url_for(self, bucket: str | None = None, prefix: str = "") -> str:
        """The ``open_blobs`` URL of ``prefix`` in ``bucket`` on this server."""
        path = f"{bucket or self.bucket}/{prefix.strip('/')}".rstrip("/")
        return f"s3://{path}?endpoint={quote(self.endpoint_url, safe='')}"

    @property
    def log_file(self) -> Path | None:
        return None if self._workdir is None else self.output_file

    @property
    def output_file(self) -> Path:
        return in_workdir(self._workdir, "moto.log", owner=self.name)

    def prepare(self) -> None:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="covenant-s3-"))
            self._made_workdir = True
        self._workdir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint_url, timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means it is serving
        except OSError:
            return False

    def on_ready(self) -> None:
        self.create_bucket(self.bucket)

    def create_bucket(self, bucket: str) -> None:
        """Create another bucket (idempotent on this server)."""
        import boto3  # type: ignore[import-untyped, unused-ignore]

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=_REGION,
            aws_access_key_id=_ACCESS_KEY,
            aws_secret_access_key=_SECRET_KEY,
        )
        try:
            client.create_bucket(Bucket=bucket)
        finally:
            client.close()

    def cleanup(self) -> None:
        """Remove the folder if it was a temporary one made at start."""
        if self._made_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir, self._made_workdir = None, False
