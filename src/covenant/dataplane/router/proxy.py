"""The router: Open Inference Protocol in front, model servers behind, by route.

Clients call ``POST /v2/models/{route}/infer`` exactly as they would call a KServe
or Triton server; the route's table picks an arm (by weight, or by the sticky
header), one of the arm's replicas answers, and the answer goes back with the
server's provenance headers plus ``x-covenant-route`` and ``x-covenant-arm``.

* **Tables are values.** A request reads its route's table once, when it starts, so
  a swap never strands it; the runtime stops a replica only after the table that
  named it is gone and its requests have drained.
* **Retries.** Inference is idempotent, so a connection failure or a 5xx from one
  replica is retried on another of the same arm (``retries`` times): the caller
  sees the retry's answer, and a replica killed mid-load costs no request.
* **Shadow.** A sampled copy goes to the shadow in the background, after the
  caller's answer is sent; its latency, errors and differing answers are recorded,
  and nothing it does reaches the caller.
* **Samples.** Latency, errors and (for requests labelled with ``covenant.label``
  in their ``parameters``, which the router strips) correctness, per arm, for the
  canary analysis.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from covenant.dataplane.router.samples import ArmSamples, ShadowSamples, correct, outputs_differ
from covenant.dataplane.router.table import RouterArm, RouterTable, choose_arm, should_shadow
from covenant.errors import CovenantError

__all__ = ["LABEL_PARAMETER", "Router"]

LABEL_PARAMETER = "covenant.label"
_LABEL_BYTES = LABEL_PARAMETER.encode()
_PASSED = ("content-type", "traceparent")
_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 100, 250, 1000)


class UpstreamFailedError(CovenantError):
    """Every replica tried failed; the last reason."""


class Router:
    """An OIP reverse proxy with weighted, sticky and shadow routing."""

    def __init__(
        self,
        *,
        client_timeout_s: float = 5.0,
        retries: int = 1,
        shadow_timeout_s: float = 2.0,
        seed: int | None = None,
    ) -> None:
        self._tables: dict[str, RouterTable] = {}
        self._samples: dict[str, dict[str, ArmSamples]] = {}
        self._shadow: dict[str, ShadowSamples] = {}
        self._rr: dict[tuple[str, str], itertools.count[int]] = {}
        self._rng = random.Random(seed)
        self._timeout = aiohttp.ClientTimeout(total=client_timeout_s)
        self._shadow_timeout = aiohttp.ClientTimeout(total=shadow_timeout_s)
        self._retries = retries
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.registry = CollectorRegistry()
        labels = ("route", "arm", "version")
        reg = self.registry
        self._requests = Counter("covenant_router_requests", "requests", labels, registry=reg)
        self._errors = Counter("covenant_router_errors", "failed requests", labels, registry=reg)
        self._latency = Histogram(
            "covenant_router_latency_ms", "latency (ms)", labels, buckets=_BUCKETS, registry=reg
        )
        self.app = web.Application()
        self.app.router.add_post("/v2/models/{route}/infer", self._infer)
        self.app.router.add_get("/v2/models/{route}", self._model)
        self.app.router.add_get("/v2/models/{route}/ready", self._model_ready)
        self.app.router.add_get("/v2/health/live", self._live)
        self.app.router.add_get("/v2/health/ready", self._live)
        self.app.router.add_get("/metrics", self._metrics)

    # -- tables and samples --------------------------------------------------------
    def set_table(self, table: RouterTable) -> None:
        """Swap ``table.route``'s split in one step."""
        self._tables[table.route] = table

    def remove_table(self, route: str) -> None:
        self._tables.pop(route, None)

    def table(self, route: str) -> RouterTable | None:
        return self._tables.get(route)

    def take_samples(self, route: str) -> dict[str, ArmSamples]:
        """Every arm's samples since the last call, drained."""
        return self._samples.pop(route, {})

    def take_shadow(self, route: str) -> ShadowSamples:
        return self._shadow.pop(route, ShadowSamples())

    # -- lifecycle -----------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) and return the base URL."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30), auto_decompress=False
        )
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", ())
        bound = sockets[0].getsockname()[1] if sockets else port
        return f"http://{host}:{bound}"

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- handlers ------------------------------------------------------------------
    async def _live(self, _request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), content_type="text/plain")

    async def _model(self, request: web.Request) -> web.Response:
        route = request.match_info["route"]
        table = self._tables.get(route)
        if table is None:
            return _error(404, f"no route {route!r}")
        versions = [a.version for a in table.arms if a.weight > 0]
        return web.json_response({"name": route, "versions": versions, "platform": "covenant"})

    async def _model_ready(self, request: web.Request) -> web.Response:
        table = self._tables.get(request.match_info["route"])
        return web.json_response({"ready": table is not None}, status=200 if table else 404)

    async def _infer(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        route = request.match_info["route"]
        table = self._tables.get(route)
        if table is None:
            return _error(404, f"no route {route!r}; deploy a model on it first")
        body = await request.read()
        labels: list[float] = []
        if _LABEL_BYTES in body:
            try:
                body, labels = _strip_label(body)
            except ValueError as exc:
                return _error(400, str(exc))
        sticky = request.headers.get(table.sticky_key) if table.sticky_key else None
        arm = choose_arm(table, sticky_value=sticky, draw=self._rng.random())
        headers = {"content-type": "application/json"}
        if (trace := request.headers.get("traceparent")) is not None:
            headers["traceparent"] = trace
        try:
            status, answer, upstream = await self._send(route, arm, body, headers)
        except UpstreamFailedError as exc:
            self._record(route, arm, started, failed=True, right=[])
            return _error(502, f"route {route}, arm {arm.name}: {exc}")
        right: list[bool] = []
        if labels and status == 200:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                right = correct(json.loads(answer).get("outputs", []), labels)
        self._record(route, arm, started, failed=status >= 500, right=right)
        out = {k: v for k, v in upstream.items() if k.lower().startswith("x-covenant-")}
        for name in _PASSED:
            if name in upstream:
                out[name] = upstream[name]
        out["x-covenant-route"], out["x-covenant-arm"] = route, arm.name
        if status == 200 and should_shadow(table, draw=self._rng.random()):
            task = asyncio.get_running_loop().create_task(self._mirror(table, body, answer))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return web.Response(status=status, body=answer, headers=out)

    async def _send(
        self, route: str, arm: RouterArm, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """The status, body and headers (names lower-cased) of the first replica that
        answers. Lower-cased because servers spell ``Content-Type`` as they like and
        the pass-through looks names up exactly: a missed one left the caller with
        ``application/octet-stream``."""
        assert self._session is not None
        endpoints = arm.endpoints
        turn = next(self._rr.setdefault((route, arm.name), itertools.count()))
        reason = "no replica"
        for attempt in range(min(self._retries + 1, len(endpoints))):
            base = endpoints[(turn + attempt) % len(endpoints)]
            url = f"{base}/v2/models/{arm.model_name}/infer"
            try:
                async with self._session.post(
                    url, data=body, headers=headers, timeout=self._timeout
                ) as response:
                    answer = await response.read()
                    if response.status >= 500 and attempt < self._retries:
                        reason = f"{base} answered {response.status}"
                        continue
                    names = {k.lower(): v for k, v in response.headers.items()}
                    return response.status, answer, names
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{base}: {type(exc).__name__} {exc}".strip()
        raise UpstreamFailedError(reason)

    def _record(
        self, route: str, arm: RouterArm, started: float, *, failed: bool, right: list[bool]
    ) -> None:
        ms = (time.perf_counter() - started) * 1000.0
        arms = self._samples.setdefault(route, {})
        arms.setdefault(arm.name, ArmSamples()).add(ms, failed=failed, right=right)
        labels = (route, arm.name, arm.version)
        self._requests.labels(*labels).inc()
        self._latency.labels(*labels).observe(ms)
        if failed:
            self._errors.labels(*labels).inc()

    async def _mirror(self, table: RouterTable, body: bytes, primary: bytes) -> None:
        shadow = table.shadow
        assert shadow is not None
        assert self._session is not None
        base = shadow.endpoints[self._rng.randrange(len(shadow.endpoints))]
        started = time.perf_counter()
        samples = self._shadow.setdefault(table.route, ShadowSamples())
        try:
            async with self._session.post(
                f"{base}/v2/models/{shadow.model_name}/infer",
                data=body,
                headers={"content-type": "application/json"},
                timeout=self._shadow_timeout,
            ) as response:
                answer = await response.read()
                failed = response.status != 200
        except (aiohttp.ClientError, TimeoutError):
            samples.add((time.perf_counter() - started) * 1000.0, failed=True, differed=False)
            return
        ms = (time.perf_counter() - started) * 1000.0
        differed = False
        if not failed:
            try:
                differed = outputs_differ(
                    json.loads(primary).get("outputs", []), json.loads(answer).get("outputs", [])
                )
            except (ValueError, AttributeError):
                differed = True
        samples.add(ms, failed=failed, differed=differed)


def _strip_label(body: bytes) -> tuple[bytes, list[float]]:
    """The request without its ``covenant.label`` parameter, and the label(s)."""
    try:
        request: Any = json.loads(body)
        parameters = request.get("parameters") or {}
        label = parameters.pop(LABEL_PARAMETER, None)
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"the request body is not an inference request: {exc}") from None
    if label is None:
        return body, []
    values = label if isinstance(label, list) else [label]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{LABEL_PARAMETER} must be a number or a list of numbers, not {label!r}")
    if not parameters:
        request.pop("parameters", None)
    return json.dumps(request).encode(), [float(v) for v in values]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
