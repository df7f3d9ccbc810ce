"""Generic JSON webhook: for SMS gateways, OA systems and anything that takes a POST.

Body: the letter as JSON. Headers: ``Idempotency-Key`` (letter number +
channel, the same on every retry) and ``X-Sunlight-Signature: sha256=<hex>``,
an HMAC-SHA256 over the exact body bytes with the shared secret, so the
receiver can prove the letter came from the office's sunlight and was not
altered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx
from pydantic import HttpUrl, SecretStr

from alerts.channels.base import ChannelError, ChannelSettings, Message, channel_type

SIGNATURE_HEADER = "X-Sunlight-Signature"


class WebhookSettings(ChannelSettings):
    url: HttpUrl
    secret: SecretStr | None = None  # HMAC key; from the environment via ${VAR}
    timeout: float = 10.0
    headers: dict[str, str] = {}


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def payload(message: Message) -> dict[str, object]:
    return {
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


def classify(response: httpx.Response) -> None:
    """2xx is delivered; 408, 429 and 5xx are worth retrying; other 4xx are not."""
    code = response.status_code
    if 200 <= code < 300:
        return
    retryable = code in (408, 425, 429) or code >= 500
    raise ChannelError(f"HTTP {code}: {response.text[:200]}", retryable=retryable)


class WebhookChannel:
    def __init__(self, name: str, settings: WebhookSettings) -> None:
        self.name = name
        self.settings = settings

    def send(self, message: Message) -> None:
        body = json.dumps(payload(message), ensure_ascii=False).encode("utf-8")
        headers = {
            **self.settings.headers,
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.idempotency_key,
        }
        if self.settings.secret is not None:
            headers[SIGNATURE_HEADER] = sign(
                self.settings.secret.get_secret_value().encode(), body
            )
        try:
            response = httpx.post(str(self.settings.url), content=body, headers=headers,
                                  timeout=self.settings.timeout)
        except httpx.HTTPError as exc:
            raise ChannelError(f"{type(exc).__name__}: {exc}") from exc
        classify(response)


@channel_type("webhook", WebhookSettings)
def build(name: str, settings: WebhookSettings, config_dir: Path) -> WebhookChannel:
    return WebhookChannel(name, settings)
