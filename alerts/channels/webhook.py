"""Generic JSON webhook: for SMS gateways, OA systems and anything that takes a POST.

Body: the letter as JSON (UTF-8). Headers: ``Idempotency-Key`` (letter number
+ channel, the same on every retry, so the receiver can drop duplicates;
percent-encoded UTF-8 because HTTP header values must be ASCII and letter
numbers are Chinese: ``unquote(header) == body["idempotency_key"]``) and,
when a secret is configured, ``X-Sunlight-Signature: sha256=<hex>``: an
HMAC-SHA256 over the exact body bytes with the shared secret, so the receiver
can prove the letter came from the office's sunlight and was not altered.

The URL and the extra header values are secrets (an OA system's token often
sits in either): they never appear in a repr or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from pydantic import AfterValidator, Field, SecretStr

from sunlight.alerts.channels.base import ChannelSettings, Message, channel_type
from sunlight.alerts.channels.httpsend import SecretUrl, check_status, json_body, post, url_secrets

SIGNATURE_HEADER = "X-Sunlight-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token (RFC 9110)


def _check_headers(headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        text = value.get_secret_value()
        if not (text.isascii() and text.isprintable()):  # the value may be a token: not echoed
            raise ValueError(f"the value of {name!r} must be printable ASCII")
    return headers


class WebhookSettings(ChannelSettings):
    url: SecretUrl
    secret: SecretStr | None = None  # HMAC key; from the environment via ${VAR}
    timeout: float = Field(default=10.0, gt=0)
    # extra headers, values secret: Authorization: "Bearer ${OA_TOKEN}"
    headers: Annotated[dict[str, SecretStr], AfterValidator(_check_headers)] = {}
    include_html: bool = False  # add the rendered HTML letter as "html"
    include_docx: bool = False  # add the DOCX as base64 in "docx_base64"


def sign(secret: bytes, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the body bytes, the GitHub-style signature header value."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def header_key(idempotency_key: str) -> str:
    """监预〔2026〕17号:oa → %E7%9B%91…%E5%8F%B7:oa (ASCII, reversible with ``urllib.parse.unquote``)."""
    return quote(idempotency_key, safe=":")


def payload(message: Message, include_html: bool = False, include_docx: bool = False) -> dict[str, object]:
    body: dict[str, object] = {
        "idempotency_key": message.idempotency_key,
        "letter_number": message.letter_number,
        "unit_id": message.unit_id,
        "unit_name": message.unit_name,
        "tier": message.tier,
        "tier_label": message.tier_label,
        "title": message.title,
        "text": message.text,
        "markdown": message.markdown,
        "issued_at": message.issued_at.isoformat(),
    }
    if message.person_id:  # a letter to a person (letters.to_person): who it is addressed to
        body["person_id"] = message.person_id
    if include_html:
        body["html"] = message.html
    if include_docx and message.docx is not None:
        body["docx_base64"] = base64.b64encode(message.docx).decode("ascii")
    return body


class WebhookChannel:
    def __init__(self, name: str, settings: WebhookSettings) -> None:
        self.name = name
        self.settings = settings
        self._url = settings.url.get_secret_value()
        self._secrets = url_secrets(self._url) + [v.get_secret_value() for v in settings.headers.values()]
        if settings.secret is not None:
            self._secrets.append(settings.secret.get_secret_value())

    def send(self, message: Message) -> None:
        s = self.settings
        body = json_body(payload(message, s.include_html, s.include_docx))
        headers = {k: v.get_secret_value() for k, v in s.headers.items()}
        headers["Content-Type"] = "application/json; charset=utf-8"
        headers[IDEMPOTENCY_HEADER] = header_key(message.idempotency_key)
        if s.secret is not None:
            headers[SIGNATURE_HEADER] = sign(s.secret.get_secret_value().encode("utf-8"), body)
        response = post(self._url, body, headers, s.timeout, self._secrets)
        check_status(response, self._secrets)


@channel_type("webhook", WebhookSettings)
def build(name: str, settings: WebhookSettings, config_dir: Path) -> WebhookChannel:
    return WebhookChannel(name, settings)
