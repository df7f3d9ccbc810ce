"""What every HTTP channel shares: secret URLs, one POST, and error classification.

Group-robot webhook URLs carry their access token in the URL itself
(``...?key=``, ``...?access_token=``, ``.../hook/<token>``), so every URL a
channel posts to is a :class:`~pydantic.SecretStr` and never reaches a repr,
a log line or a :class:`ChannelError` message. Error texts built here pass
through :func:`redact` with every secret the channel holds.

httpx is imported by the first POST: validating a config builds every
channel type's settings model, and a command that only reads a config
(``scan``, ``config check``) must not pay for the HTTP client.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

from pydantic import AfterValidator, SecretStr

from sunlight.alerts.channels.base import ChannelError

if TYPE_CHECKING:
    import httpx

USER_AGENT = "sunlight-alerts/1"


def _check_http_url(value: SecretStr) -> SecretStr:
    # The message must not echo the value: it may be a robot URL with its token.
    try:
        parts = urlsplit(value.get_secret_value())
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


SecretUrl = Annotated[SecretStr, AfterValidator(_check_http_url)]
"""An http(s) URL kept secret: validated, but shown as ``**********``."""


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may hold a token: the URL, its query values and its path segments."""
    parts = urlsplit(url)
    found = [url, parts.query]
    found += [v for _, v in parse_qsl(parts.query)]
    found += [seg for seg in parts.path.split("/") if len(seg) >= 8]
    return [s for s in found if s]


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (raw, %-encoded or form-encoded) in ``text`` with ``***``."""
    variants: set[str] = set()
    for secret in secrets:
        if len(secret) >= 4:
            variants.update({secret, quote(secret, safe=""), quote_plus(secret)})
    for variant in sorted(variants, key=len, reverse=True):  # longest first: a URL before its parts
        text = text.replace(variant, "***")
    return text


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi), built once: loading the CA bundle costs ~0.2 s a time."""
    import httpx

    return httpx.create_ssl_context()


def post(
    url: str | httpx.URL,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    secrets: Iterable[str],
) -> httpx.Response:
    """One POST; a transport failure (refused, reset, timeout, DNS) is a retryable ChannelError."""
    import httpx

    try:
        return httpx.post(
            url,
            content=body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=timeout,
            follow_redirects=False,
            verify=_tls_context(),
        )
    except httpx.HTTPError as exc:
        raise ChannelError(redact(f"{type(exc).__name__}: {exc}", secrets), retryable=True) from None


def check_status(response: httpx.Response, secrets: Iterable[str]) -> None:
    """2xx is delivered; 408, 425, 429 and 5xx are worth retrying; anything else is not.

    A 3xx is not followed (a webhook that redirects is a wrong URL in config)
    and so counts with the other non-retryable answers.
    """
    code = response.status_code
    if 200 <= code < 300:
        return
    retryable = code in (408, 425, 429) or code >= 500
    snippet = redact(response.text[:200], secrets)
    raise ChannelError(f"HTTP {code}: {snippet}", retryable=retryable)


def json_body(payload: Any) -> bytes:
    """The exact bytes sent (and signed): UTF-8 JSON, Chinese kept as is."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def check_robot_reply(
    response: httpx.Response,
    code_fields: tuple[str, ...],
    permanent_codes: Mapping[int, str],
    secrets: Iterable[str],
) -> None:
    """Group robots answer HTTP 200 with an error code in the JSON body.

    The first of ``code_fields`` present in the body is the code; 0 is
    delivered. A code in ``permanent_codes`` (bad token, bad signature,
    keyword or IP rules, malformed message) cannot succeed on a retry; any
    other non-zero code (rate limits, "system busy", codes we do not know)
    is retried by the outbox until its max age, so nothing is dropped on a
    guess. An answer that is not such JSON means the URL is not the robot.
    """
    check_status(response, secrets)
    try:
        reply = response.json()
    except ValueError:
        reply = None
    field = next((f for f in code_fields if isinstance(reply, dict) and f in reply), None)
    if field is None or not isinstance(reply[field], int):
        snippet = redact(response.text[:200], secrets)
        raise ChannelError(
            f"not a robot reply (no {' / '.join(code_fields)} in the body): {snippet}", retryable=False
        )
    code = reply[field]
    if code == 0:
        return
    text = next((str(reply[k]) for k in ("errmsg", "msg", "StatusMessage") if k in reply), "")
    meaning = permanent_codes.get(code)
    detail = f"{field} {code}: {redact(text[:200], secrets)}"
    if meaning:
        detail += f" ({meaning})"
    raise ChannelError(detail, retryable=meaning is None)


TRUNCATED_NOTE = "\n\n……（内容过长，已截断，全文以正式函件为准）"


def fit(text: str, limit: int, size: Callable[[str], int]) -> str:
    """``text`` cut so that ``size(result) <= limit``, with a Chinese note when it had to be cut.

    Robots reject over-long messages outright (the letter would be lost to
    that group); a cut message that points to the formal letter is better.
    """
    if size(text) <= limit:
        return text
    low, high = 0, len(text)  # the longest prefix that fits, by bisection on characters
    while low < high:
        mid = (low + high + 1) // 2
        if size(text[:mid] + TRUNCATED_NOTE) <= limit:
            low = mid
        else:
            high = mid - 1
    return text[:low] + TRUNCATED_NOTE


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def json_size(text: str) -> int:
    """Bytes ``text`` takes inside a :func:`json_body` (escapes included, quotes not)."""
    return len(json_body(text)) - 2
