"""The public Python client of the gateway (the CLI uses it too).

The CLI's catalog commands (datasets, artifacts, models) go through the gateway
like any other client, so the rules live in one place and a user's terminal sees
exactly what an integration would. Errors come back as RFC 9457 problem documents
and are raised as ``GatewayError`` carrying the status, the problem and its
structured refusals.

The transport is the seam, as in httpx: pass ``transport=httpx.ASGITransport(app)``
to run against an in-process gateway (``covenant.gateway.create_app``) in tests,
or any httpx transport (retries, proxies, mTLS) in production.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from covenant.errors import CovenantError

CHUNK = 1 << 20


class GatewayError(CovenantError):
    """The gateway refused or could not be reached.

    Attributes:
        status: HTTP status, 0 when the gateway was unreachable.
        problem: the problem document (``title``, ``detail``, ``errors``...).
        refusals: the structured refusals of a refused command (``code``,
            ``message``, ``field``), empty for other problems.
    """

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        detail = problem.get("detail") or problem.get("title") or "request failed"
        reasons = problem.get("reasons") or problem.get("errors") or []
        extra = "".join(f"\n  - {reason}" for reason in reasons)
        super().__init__(f"{detail} (HTTP {status}){extra}", retriable=status in (0, 502, 503))
        self.status = status
        self.problem = problem
        self.refusals: list[dict[str, Any]] = list(problem.get("refusals") or [])


def _problem(response: httpx.Response) -> dict[str, Any]:
    """The JSON body, or the start of a non-JSON one as the detail."""
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {"detail": response.text[:200]}
    return body


class GatewayClient:
    """Async client; use with ``async with``."""

    def __init__(
        self,
        base_url: str,
        *,
        actor: str,
        timeout_s: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self._base,
            timeout=timeout_s,
            headers={"X-Covenant-Actor": actor},
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    async def _send(self, request: httpx.Request) -> dict[str, Any]:
        try:
            response = await self._client.send(request)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        body = _problem(response)
        if response.status_code >= 400:
            raise GatewayError(response.status_code, body)
        body.setdefault("status_code", response.status_code)
        return body

    def _unreachable(self, exc: httpx.TransportError) -> GatewayError:
        return GatewayError(
            0,
            {
                "detail": f"cannot reach the gateway at {self._base} ({exc}); "
                "start the platform with 'covenant up' or set COVENANT_GATEWAY"
            },
        )

    async def post(
        self, path: str, document: dict[str, Any], *, wait_s: float, key: str | None = None
    ) -> dict[str, Any]:
        """Publish a command; with ``wait_s`` > 0, wait for its outcome."""
        headers = {"Idempotency-Key": key} if key else {}
        params = {"wait": str(wait_s)} if wait_s > 0 else {}
        request = self._client.build_request(
            "POST", path, json=document, params=params, headers=headers
        )
        return await self._send(request)

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        return await self._send(self._client.build_request("GET", path, params=params))

    async def submit_training(
        self,
        *,
        model_family: str,
        team: str,
        dataset_refs: Sequence[str],
        code_ref: str,
        entrypoint: str,
        hyperparams: Mapping[str, str] | None = None,
        seed: int = 0,
        compute: Mapping[str, Any] | None = None,
        max_attempts: int | None = None,
        target: str | None = None,
        retrain_reason: str | None = None,
        job_id: str | None = None,
        wait_s: float = 30.0,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Submit a training job (``POST /train/jobs``).

        Args:
            hyperparams: name -> JSON literal (``"0.01"``, ``'"adam"'``), passed as is.
            compute: ``ComputeRequirements`` fields in camelCase (``pool``,
                ``accelerator``, ``accelerators``, ``cpus``, ``memoryGb``, ``workers``,
                ``executor``).
            target: ``family:version`` a completed job registers as a draft.
            job_id: default: the gateway makes one (the answer's ``jobId``).

        Returns:
            With ``wait_s`` > 0 and a decision in time: the queued job (201);
            otherwise ``jobId``, ``commandId`` and ``statusUrl`` (202).

        Raises:
            GatewayError: refused (``refusals`` say why) or unreachable.
        """
        document: dict[str, Any] = {
            "modelFamily": model_family,
            "team": team,
            "datasetRefs": list(dataset_refs),
            "codeRef": code_ref,
            "entrypoint": entrypoint,
            "hyperparams": dict(hyperparams or {}),
            "seed": seed,
            "compute": dict(compute or {}),
        }
        if max_attempts is not None:
            document["retryPolicy"] = {"maxAttempts": max_attempts}
        if target is not None:
            family, _, version = target.partition(":")
            document["target"] = {"family": family, "version": version}
        if retrain_reason is not None:
            document["retrainReason"] = retrain_reason
        if job_id is not None:
            document["jobId"] = job_id
        return await self.post("/train/jobs", document, wait_s=wait_s, key=key)

    async def training_job(self, job_id: str) -> dict[str, Any]:
        """A training job's status and what it made (``GET /train/jobs/{id}``)."""
        return await self.get(f"/train/jobs/{quote(job_id, safe='')}")

    async def cancel_training(
        self, job_id: str, reason: str = "", *, wait_s: float = 30.0
    ) -> dict[str, Any]:
        """Cancel a job; 409 (a ``GatewayError``) when it already ended."""
        path = f"/train/jobs/{quote(job_id, safe='')}/cancel"
        return await self.post(path, {"reason": reason}, wait_s=wait_s)

    async def rerun_training(
        self, job_id: str, *, verify: bool = True, wait_s: float = 30.0, key: str | None = None
    ) -> dict[str, Any]:
        """Submit a completed job again with its recorded inputs; with ``verify``
        the new job's ``reproduction`` says, once it ended, whether it made the
        same bytes."""
        headers = {"Idempotency-Key": key} if key else {}
        params = {"verify": "true" if verify else "false"}
        if wait_s > 0:
            params["wait"] = str(wait_s)
        path = f"/train/jobs/{quote(job_id, safe='')}/rerun"
        return await self._send(
            self._client.build_request("POST", path, params=params, headers=headers)
        )

    async def training_logs(self, job_id: str) -> str:
        """The stored log of a job's run, as text; 404 until the run stored one."""
        path = f"/train/jobs/{quote(job_id, safe='')}/logs"
        try:
            response = await self._client.get(path)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise GatewayError(response.status_code, _problem(response))
        return response.text

    async def upload(
        self,
        path: Path,
        *,
        name: str,
        media_type: str,
        wait_s: float,
        headers: dict[str, str],
        progress: Callable[[int], None],
    ) -> dict[str, Any]:
        """Stream a file to ``POST /artifact/upload``; the expected checksum is sent
        so that a corrupted transfer is refused, not stored."""
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(CHUNK):
                digest.update(block)

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            with path.open("rb") as f:
                while block := f.read(CHUNK):
                    sent += len(block)
                    progress(sent)
                    yield block

        request = self._client.build_request(
            "POST",
            "/artifact/upload",
            params={"name": name, "wait": str(wait_s)},
            headers={
                "Content-Type": media_type,
                "X-Checksum-Sha256": digest.hexdigest(),
                **headers,
            },
            content=chunks(),
        )
        return await self._send(request)

    async def download(self, artifact_id: str, out: Path, progress: Callable[[int], None]) -> str:
        """Stream the artifact's bytes to ``out`` (via a temporary file, renamed only
        when the hash matches the id); returns the hex digest."""
        tmp = out.with_name(out.name + ".part")
        digest = hashlib.sha256()
        try:
            async with self._client.stream("GET", f"/artifact/{artifact_id}/content") as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise GatewayError(response.status_code, response.json())
                received = 0
                with tmp.open("wb") as f:
                    async for block in response.aiter_bytes(CHUNK):
                        digest.update(block)
                        f.write(block)
                        received += len(block)
                        progress(received)
            if f"sha256:{digest.hexdigest()}" != artifact_id:
                raise GatewayError(
                    0, {"detail": f"downloaded bytes hash to sha256:{digest.hexdigest()}"}
                )
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
        return digest.hexdigest()
