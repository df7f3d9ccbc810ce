"""The daemon's HTTP port: ``/metrics``, ``/healthz``, ``/readyz``, ``POST /-/reload`` and the console.

One ASGI app (Starlette) served by uvicorn in a background thread. The four
operator endpoints stay unauthenticated (Prometheus scrapes them); every
other path goes to the office's console (:mod:`sunlight.monitor.webconsole`),
which has its own login. Blocking work (the readiness probe, a reload) runs
in the thread pool so a slow store never stalls the port. Bound to
127.0.0.1 unless ``server.listen`` says otherwise; the socket is bound when
:class:`WebServer` is built, so a taken port fails at start-up.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn
from prometheus_client import CollectorRegistry, make_asgi_app
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

log = structlog.get_logger("sunlight.web")


@dataclass
class ProbeResult:
    """The answer of a health or readiness probe."""

    ok: bool
    detail: dict[str, Any]


def _json(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type="application/json; charset=utf-8")


def make_app(registry: CollectorRegistry, ready: Callable[[], ProbeResult],
             reload: Callable[[], ProbeResult | None], console: ASGIApp | None = None) -> Starlette:
    """The ASGI app. ``reload`` returns None when it is switched off (``server.reload_endpoint``)."""

    async def healthz(request: Request) -> Response:
        return _json(200, {"status": "alive"})

    async def readyz(request: Request) -> Response:
        check = await run_in_threadpool(ready)
        return _json(200 if check.ok else 503,
                     {"status": "ready" if check.ok else "not ready", **check.detail})

    async def reload_endpoint(request: Request) -> Response:
        if request.method != "POST":
            return Response(b"", status_code=405, headers={"Allow": "POST"})
        reloaded = await run_in_threadpool(reload)
        if reloaded is None:
            return _json(403, {"status": "disabled", "error": "server.reload_endpoint is false"})
        return _json(200 if reloaded.ok else 400,
                     {"status": "reloaded" if reloaded.ok else "rejected", **reloaded.detail})

    async def not_found(request: Request) -> Response:
        return _json(404, {"error": "not found",
                           "endpoints": ["/metrics", "/healthz", "/readyz", "POST /-/reload"]})

    routes: list[Route | Mount] = [
        Route("/metrics", _AsgiEndpoint(make_asgi_app(registry))),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/-/reload", reload_endpoint, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
    ]
    routes.append(Mount("/", console) if console is not None else Route("/{path:path}", not_found))
    return Starlette(routes=routes)


class _AsgiEndpoint:
    """An ASGI app as a route's endpoint (Starlette treats a bare function as a request handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def parse_listen(listen: str) -> tuple[str, int]:
    """``127.0.0.1:9464`` or ``[::1]:9464`` → (host, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """The daemon's main thread owns the signals."""


class WebServer:
    """The ASGI app served by uvicorn in a background thread; :meth:`stop` closes the port."""

    def __init__(self, listen: str, app: ASGIApp) -> None:
        host, port = parse_listen(listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted connections inherit it: a keep-alive response is not held back 40 ms (Nagle)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock.bind((host, port))
            self.sock.listen(128)
        except OSError:
            self.sock.close()
            raise
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                server_header=False, timeout_graceful_shutdown=2)
        self.server = _Server(config)
        self.thread = threading.Thread(target=self._serve, name="sunlight-http", daemon=True)
        bound_host, bound_port = self.sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        self.url = f"http://{shown}:{bound_port}"

    def _serve(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> None:
        self.thread.start()
        for _ in range(200):  # the socket already queues connections; wait until they are served
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.01)
        log.info("http listening", url=self.url)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.sock.close()
