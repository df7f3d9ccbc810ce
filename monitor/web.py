"""The daemon's HTTP port: ``/metrics``, ``/healthz``, ``/readyz`` and ``POST /-/reload``.

A WSGI router in front of prometheus-client's own WSGI app, served by the
standard library's ``wsgiref`` in a thread (one thread per request, as
prometheus-client's ``start_wsgi_server`` does). No framework: four routes.
Bound to 127.0.0.1 unless ``server.listen`` says otherwise.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import CollectorRegistry, make_wsgi_app

log = structlog.get_logger("sunlight.web")

StartResponse = Callable[..., Any]


@dataclass
class ProbeResult:
    """The answer of a health or readiness probe."""

    ok: bool
    detail: dict[str, Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scrape never holds up shutdown


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: Prometheus scrapes every few seconds."""


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> Iterable[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start_response(status, [("Content-Type", "application/json; charset=utf-8"),
                            ("Content-Length", str(len(data)))])
    return [data]


def make_app(registry: CollectorRegistry, ready: Callable[[], ProbeResult],
             reload: Callable[[], ProbeResult | None]) -> Callable[[dict[str, Any], StartResponse],
                                                            Iterable[bytes]]:
    """The WSGI app. ``reload`` returns None when it is switched off (``server.reload_endpoint``)."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/healthz":
            return _json(start_response, "200 OK", {"status": "alive"})
        if path == "/readyz":
            check = ready()
            return _json(start_response, "200 OK" if check.ok else "503 Service Unavailable",
                         {"status": "ready" if check.ok else "not ready", **check.detail})
        if path == "/-/reload":
            if method != "POST":
                start_response("405 Method Not Allowed", [("Allow", "POST")])
                return [b""]
            reloaded = reload()
            if reloaded is None:
                return _json(start_response, "403 Forbidden",
                             {"status": "disabled", "error": "server.reload_endpoint is false"})
            return _json(start_response, "200 OK" if reloaded.ok else "400 Bad Request",
                         {"status": "reloaded" if reloaded.ok else "rejected", **reloaded.detail})
        return _json(start_response, "404 Not Found",
                     {"error": "not found", "endpoints": ["/metrics", "/healthz", "/readyz",
                                                          "POST /-/reload"]})

    return app


def parse_listen(listen: str) -> tuple[str, int]:
    """``127.0.0.1:9464`` or ``[::1]:9464`` → (host, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class WebServer:
    """The WSGI app served in a background thread; :meth:`stop` closes the port."""

    def __init__(self, listen: str, app: Callable[..., Iterable[bytes]]) -> None:
        host, port = parse_listen(listen)
        server_cls = _ThreadingServer
        if ":" in host:  # IPv6 literal

            class _V6(_ThreadingServer):
                address_family = socket.AF_INET6

            server_cls = _V6
        self.server = make_server(host, port, app, server_class=server_cls,
                                  handler_class=_QuietHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="sunlight-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = str(self.server.server_address[0]), self.server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def start(self) -> None:
        self.thread.start()
        log.info("http listening", url=self.url)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
