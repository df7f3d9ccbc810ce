"""Real local receivers for delivery tests: an HTTP server and an SMTP server on 127.0.0.1.

No mocks: the channels under test open real sockets to these. Both record
what they receive and can be stopped and started again on the same port, so
outbox tests can take a receiver away for a few cycles and bring it back
(or a daemon in a subprocess can deliver to them).

Use the fixtures by importing them into a test module (with ``# ruff: noqa:
F811`` at its top, as pytest fixtures shadow their import), or for the whole
suite with ``pytest_plugins = ["tests.receivers"]`` in the root conftest.

- ``http_receiver``: an :class:`HttpReceiver`, started (``.url``,
  ``.requests``, ``.respond_with(status, json)``, ``.respond_next(...)``,
  ``.stop()`` / ``.start()``, ``.idempotency_keys()``, ``.wait_for(n)``).
- ``smtp_receiver``: a plain :class:`SmtpReceiver`, started (``.host``,
  ``.port``, ``.messages``, ``.refuse``).
- ``smtp_receivers``: a factory for SMTP receivers with TLS (``"smtps"`` or
  ``"starttls"``) and/or AUTH users; all stopped at teardown.
- ``tls_ca``: a throw-away certificate authority (trustme) and its PEM file.

:func:`sample_message` builds a Chinese letter :class:`Message` with a real DOCX.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sunlight.alerts.message import Formats, Message

LOOPBACK = "127.0.0.1"
ROBOT_OK = {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}
"""The default answer: success for the generic webhook and every robot (WeCom, DingTalk, Feishu)."""


def free_port() -> int:
    """A port free on 127.0.0.1 right now (for servers that cannot bind port 0 themselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str  # without the query
    raw_query: str
    query: dict[str, list[str]]  # decoded, as urllib.parse.parse_qs gives it
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def idempotency_key(self) -> str | None:
        """The ``Idempotency-Key`` header, percent-decoded (letter numbers are Chinese)."""
        value = self.headers.get("idempotency-key")
        return unquote(value) if value is not None else None


@dataclass
class _Answer:
    status: int  # 0: close the connection without answering
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _answer(status: int, json_body: Any = None, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> _Answer:
    if body is None:
        body = json.dumps(ROBOT_OK if json_body is None else json_body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return _Answer(status, body, headers or {})


class HttpReceiver:
    """A real HTTP server on 127.0.0.1 that records every request and answers as told."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._default = _answer(200)
        self._queue: list[_Answer] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def respond_with(self, status: int = 200, json: Any = None, *, body: bytes | None = None,
                     headers: dict[str, str] | None = None) -> None:
        """The answer from now on (default: 200 with :data:`ROBOT_OK`). ``status=0`` drops the connection."""
        with self._lock:
            self._default = _answer(status, json, body, headers)

    def respond_next(self, status: int, json: Any = None, *, body: bytes | None = None,
                     headers: dict[str, str] | None = None) -> None:
        """Queue a one-off answer for the next request (queued answers go first, in order)."""
        with self._lock:
            self._queue.append(_answer(status, json, body, headers))

    def idempotency_keys(self) -> list[str]:
        """Every request's decoded Idempotency-Key, in arrival order (duplicates kept)."""
        with self._lock:
            return [r.idempotency_key for r in self.requests if r.idempotency_key is not None]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Block until at least ``count`` requests arrived (for senders in other threads or processes)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.requests)} of {count} requests arrived")
                self._arrived.wait(left)
            return list(self.requests)

    def _take_answer(self) -> _Answer:
        with self._lock:
            return self._queue.pop(0) if self._queue else self._default

    def _record(self, request: ReceivedRequest) -> None:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()

    def start(self) -> HttpReceiver:
        """Listen (again) on the same port; the first start picks a free one."""
        if self._server is not None:
            return self
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                receiver._record(ReceivedRequest(
                    method=self.command,
                    path=parts.path,
                    raw_query=parts.query,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                ))
                answer = receiver._take_answer()
                if answer.status == 0:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,),  # quick stop()
                                        name=f"http-receiver-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until :meth:`start`. Recorded requests stay."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()
        self._server = self._thread = None


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # the message as it came over the wire
    tls: bool  # the session was encrypted (SMTPS or after STARTTLS)
    login: str | None  # the AUTH user, if the client logged in

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        refusal = self.receiver.refuse.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.receiver.data_reply:
            return self.receiver.data_reply
        login = session.auth_data if isinstance(session.auth_data, str) else None
        with self.receiver._lock:
            self.receiver.messages.append(ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=envelope.original_content or envelope.content,
                tls=session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
                login=login,
            ))
        return "250 Message accepted for delivery"


class _QuietController(Controller):
    def factory(self) -> Any:
        with warnings.catch_warnings():  # "AUTH without requiring TLS" for SMTPS: it is TLS from the start
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on 127.0.0.1.

    ``tls``: None (plain), ``"smtps"`` (TLS from the first byte) or
    ``"starttls"`` (STARTTLS required before MAIL). ``users``: AUTH
    logins it accepts (AUTH is then required). ``refuse``: lower-cased
    address → SMTP reply for RCPT TO, e.g. ``"550 5.1.1 no such user"``.
    ``data_reply``: when set, the reply to every message (nothing is recorded).
    """

    def __init__(self, *, tls: Literal["smtps", "starttls"] | None = None,
                 server_tls: ssl.SSLContext | None = None, users: dict[str, str] | None = None) -> None:
        if tls and server_tls is None:
            raise ValueError("tls needs server_tls (see the tls_ca fixture)")
        self.host = LOOPBACK
        self.port = free_port()
        self.tls = tls
        self.users = users
        self.messages: list[ReceivedMail] = []
        self.refuse: dict[str, str] = {}
        self.data_reply: str | None = None  # e.g. "451 4.3.0 try later": refuse every message at DATA
        self._lock = threading.Lock()
        self._server_tls = server_tls
        self._controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.users is not None:
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, handled=False, auth_data=user)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpReceiver:
        if self._controller is not None:
            return self
        kwargs: dict[str, Any] = {}
        if self.tls == "smtps":
            kwargs["ssl_context"] = self._server_tls
        elif self.tls == "starttls":
            kwargs.update(tls_context=self._server_tls, require_starttls=True)
        if self.users is not None:
            # aiosmtpd only counts STARTTLS as TLS for AUTH; SMTPS is encrypted from the first byte anyway.
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self.tls != "smtps")
        self._controller = _QuietController(_Handler(self), hostname=self.host, port=self.port,
                                            server_hostname="receiver.test", **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@dataclass
class TlsAuthority:
    """A throw-away CA: ``ca_file`` for clients to trust, ``server_context()`` for the receiver."""

    ca: Any  # trustme.CA
    ca_file: Path

    def server_context(self, *names: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*(names or (LOOPBACK, "localhost"))).configure_cert(ctx)
        return ctx


@pytest.fixture
def tls_ca(tmp_path: Path) -> TlsAuthority:
    import trustme

    ca = trustme.CA(organization_name="sunlight test CA")
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return TlsAuthority(ca, ca_file)


@pytest.fixture
def smtp_receivers() -> Iterator[Callable[..., SmtpReceiver]]:
    """``start(tls=..., server_tls=..., users=...)`` → a started :class:`SmtpReceiver`."""
    started: list[SmtpReceiver] = []

    def start(**kwargs: Any) -> SmtpReceiver:
        receiver = SmtpReceiver(**kwargs).start()
        started.append(receiver)
        return receiver

    try:
        yield start
    finally:
        for receiver in started:
            receiver.stop()


# --------------------------------------------------------------------------- sample letter


@cache
def sample_docx() -> bytes:
    """A real DOCX (python-docx) with the letter number, the unit and a finding."""
    import docx

    document = docx.Document()
    document.add_heading("关于县民政局办件超期问题的三级预警函", level=1)
    document.add_paragraph("监预〔2026〕17号")
    document.add_paragraph("县民政局：")
    document.add_paragraph("经电子监察系统比对，你单位办件 MZ-2026-0315 超过承诺时限 3 个工作日。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def sample_message(**changes: Any) -> Message:
    """A level-3 letter to 县民政局 for channel ``test``; keyword arguments replace fields or formats."""
    number = changes.get("letter_number", "监预〔2026〕17号")
    bodies: dict[str, Any] = {
        "text": "县民政局：\n经电子监察系统比对，你单位办件 MZ-2026-0315 超过承诺时限 3 个工作日。\n"
                "请于 2026年3月16日前整改。",
        "markdown": "### 三级预警函 监预〔2026〕17号\n**县民政局**：\n- 办件 MZ-2026-0315 超期 3 个工作日\n\n"
                    "请于 2026年3月16日前整改。",
        "html": "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>预警函</title></head>"
                "<body><h1>三级预警函</h1><p>县民政局：办件 MZ-2026-0315 超期 3 个工作日。</p></body></html>",
        "docx": sample_docx(),
    }
    for fmt in list(bodies):
        if fmt in changes:
            bodies[fmt] = changes.pop(fmt)
    message = Message(
        idempotency_key=f"{number}:test",
        letter_number=number,
        unit_id="U-MZJ",
        unit_name="县民政局",
        tier="level3",
        tier_label="三级预警函",
        title="关于县民政局办件超期问题的三级预警函",
        issued_at=dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        formats=Formats(**bodies),
    )
    return replace(message, **changes)
