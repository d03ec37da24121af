"""A real Kubernetes API server for the tests, started once per session (``kube_cluster``).

etcd (Debian's ``etcd-server``) and a kube-apiserver built from source by
``deploy/kubernetes/apiserver/build.sh`` run as local processes on free ports, with a
self-signed serving certificate the client verifies, RBAC on and anonymous access
off: the tests authenticate with bearer tokens from a token file, one for an
administrator (``system:masters``) and one for the serving runtime's service
identity, which holds only what ``deploy/kubernetes/covenant/`` grants it. Gateway
API's CRDs (``gateway-api.sh``) are installed and established before any test runs.

No kubelet or controller manager runs, so no pod starts: the tests check what the
API server accepts, validates, stores and reports. When a part cannot start, the
tests that need it fail with its output and never skip; deselect them with
``-m "not kube"`` where there is no Go toolchain to build the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
APISERVER_DIR = REPO / "deploy" / "kubernetes" / "apiserver"
RUNTIME_USER = "system:serviceaccount:covenant:covenant-serving"


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def _script(name: str) -> Path:
    out = subprocess.run(
        [str(APISERVER_DIR / name)], capture_output=True, text=True, check=False, timeout=1800
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-4000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class KubeCluster:
    """etcd and kube-apiserver on this machine.

    Attributes:
        host: ``https://127.0.0.1:<port>``.
        ca_file: the server's self-signed certificate, to verify it.
        admin_token: a bearer token in ``system:masters``.
        runtime_token: a bearer token for :data:`RUNTIME_USER` (no groups, no grants
            until a test applies Covenant's Role and RoleBinding).
        crd_dir: where the Gateway API CRDs came from.
    """

    host: str
    ca_file: Path
    admin_token: str
    runtime_token: str
    crd_dir: Path
    work: Path
    start_s: float = 0.0
    _procs: tuple[subprocess.Popen[bytes], ...] = ()

    @classmethod
    def start(cls, timeout_s: float = 120.0) -> KubeCluster:
        binary = _script("build.sh")
        crd_dir = _script("gateway-api.sh")
        etcd = shutil.which("etcd")
        if etcd is None:
            raise RuntimeError("etcd is not installed (apt-get install etcd-server)")
        work = Path(tempfile.mkdtemp(prefix="cvkube-", dir="/tmp"))
        client, peer, secure = _free_ports(3)
        admin, runtime = secrets.token_hex(16), secrets.token_hex(16)
        tokens = work / "tokens.csv"
        tokens.write_text(
            f'{admin},covenant-admin,uid-admin,"system:masters"\n'
            f"{runtime},{RUNTIME_USER},uid-serving\n"
        )
        tokens.chmod(0o600)
        sa_key = work / "sa.key"
        sa_key.write_bytes(_rsa_pem())
        certs = work / "certs"
        began = time.monotonic()
        procs: list[subprocess.Popen[bytes]] = []
        cluster = cls(
            host=f"https://127.0.0.1:{secure}",
            ca_file=certs / "apiserver.crt",
            admin_token=admin,
            runtime_token=runtime,
            crd_dir=crd_dir,
            work=work,
        )
        try:
            procs.append(
                _spawn(
                    work / "etcd.log",
                    etcd,
                    "--name=covenant-test",
                    f"--data-dir={work / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{client}",
                    f"--advertise-client-urls=http://127.0.0.1:{client}",
                    f"--listen-peer-urls=http://127.0.0.1:{peer}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                    f"--initial-cluster=covenant-test=http://127.0.0.1:{peer}",
                )
            )
            procs.append(
                _spawn(
                    work / "apiserver.log",
                    str(binary),
                    f"--etcd-servers=http://127.0.0.1:{client}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={secure}",
                    f"--cert-dir={certs}",
                    f"--token-auth-file={tokens}",
                    "--anonymous-auth=false",
                    "--authorization-mode=RBAC",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={sa_key}",
                    f"--service-account-signing-key-file={sa_key}",
                    "--service-cluster-ip-range=10.96.0.0/16",
                )
            )
            cluster._procs = tuple(procs)
            cluster._wait_ready(began + timeout_s)
            cluster._install_crds(began + timeout_s)
        except BaseException as exc:
            tail = "".join(
                f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}\n"
                for log in (work / "etcd.log", work / "apiserver.log")
                if log.exists()
            )
            cluster._procs = tuple(procs)
            cluster.stop()
            raise RuntimeError(f"a local kube-apiserver did not start ({exc}):\n{tail}") from exc
        cluster.start_s = time.monotonic() - began
        return cluster

    def _get(self, path: str, token: str | None = None) -> int:
        import httpx

        context = ssl.create_default_context(cafile=str(self.ca_file))
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        url = f"{self.host}{path}"
        return httpx.get(url, headers=headers, verify=context, timeout=5).status_code

    def _wait_ready(self, deadline: float) -> None:
        import httpx

        while True:
            if any(p.poll() is not None for p in self._procs):
                raise RuntimeError("etcd or kube-apiserver exited")
            with contextlib.suppress(httpx.HTTPError, OSError, ssl.SSLError):
                if self.ca_file.exists() and self._get("/readyz") == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.host}/readyz never answered 200")
            time.sleep(0.3)

    def _install_crds(self, deadline: float) -> None:
        """Server-side apply the HTTPRoute CRD (and Gateway, which routes name as
        their parent) and wait until the API server serves them."""
        crds = [
            self.crd_dir / "gateway.networking.k8s.io_httproutes.yaml",
            self.crd_dir / "gateway.networking.k8s.io_gateways.yaml",
        ]
        import httpx
        import yaml

        context = ssl.create_default_context(cafile=str(self.ca_file))
        headers = {
            "Authorization": f"Bearer {self.admin_token}",
            "Content-Type": "application/apply-patch+yaml",
        }
        base = f"{self.host}/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        with httpx.Client(verify=context, headers=headers, timeout=30) as http:
            for path in crds:
                crd = yaml.safe_load(path.read_text())
                name = crd["metadata"]["name"]
                url = f"{base}/{name}?fieldManager=covenant-tests&force=true"
                response = http.patch(url, content=yaml.safe_dump(crd))
                if response.status_code >= 300:
                    raise RuntimeError(f"applying {name}: {response.text[:2000]}")
            while self._get("/apis/gateway.networking.k8s.io/v1/httproutes") != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError("the HTTPRoute CRD was never served")
                time.sleep(0.3)

    def apply(
        self, docs: list[dict[str, Any]], *, token: str | None = None, dry_run: bool = False
    ) -> list[tuple[int, dict[str, Any]]]:
        """Server-side apply each object (``fieldValidation=Strict``) with ``token``
        (default the administrator's); the status code and body of each answer."""
        import httpx

        context = ssl.create_default_context(cafile=str(self.ca_file))
        headers = {
            "Authorization": f"Bearer {token or self.admin_token}",
            "Content-Type": "application/apply-patch+yaml",
        }
        query = "fieldManager=covenant-tests&force=true&fieldValidation=Strict"
        query += "&dryRun=All" if dry_run else ""
        answers = []
        with httpx.Client(verify=context, headers=headers, timeout=30) as http:
            for doc in docs:
                url = f"{self.host}{_path_of(doc)}?{query}"
                response = http.patch(url, content=json.dumps(doc))
                answers.append((response.status_code, response.json()))
        return answers

    def stop(self, grace_s: float = 20.0) -> None:
        """Stop kube-apiserver, then etcd, and remove the work folder."""
        for proc in reversed(self._procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self._procs = ()
        shutil.rmtree(self.work, ignore_errors=True)


_CORE = {"Namespace", "ServiceAccount", "Service", "ConfigMap", "Secret", "Pod"}


def _path_of(doc: dict[str, Any]) -> str:
    """The REST path of one object (the kinds Covenant's manifests hold)."""
    kind, meta = doc["kind"], doc["metadata"]
    group_version = doc["apiVersion"]
    base = f"/api/{group_version}" if kind in _CORE else f"/apis/{group_version}"
    plural = kind.lower() + ("es" if kind.endswith("s") else "s")
    plural = {"networkpolicys": "networkpolicies", "ingresss": "ingresses"}.get(plural, plural)
    namespace = meta.get("namespace")
    scope = f"/namespaces/{namespace}" if namespace and kind != "Namespace" else ""
    return f"{base}{scope}/{plural}/{meta['name']}"


def _spawn(log: Path, *command: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _rsa_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    """The session's kube-apiserver (see the module docstring)."""
    cluster = KubeCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


SERVING_RBAC = REPO / "deploy" / "kubernetes" / "covenant" / "serving-rbac.yaml"


@pytest.fixture(scope="session")
def kube_serving(kube_cluster: KubeCluster) -> KubeCluster:
    """The cluster with the ``covenant`` namespace and the serving runtime's Role and
    RoleBinding applied from ``deploy/kubernetes/covenant/serving-rbac.yaml``."""
    import yaml

    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "covenant"}}
    docs = [namespace, *(d for d in yaml.safe_load_all(SERVING_RBAC.read_text()) if d)]
    for code, body in kube_cluster.apply(docs):
        assert code < 300, body
    return kube_cluster
