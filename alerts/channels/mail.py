"""Email over SMTP (standard library smtplib): the letter as text + HTML, the DOCX attached.

Transport, from the ``smtp`` URL:

- ``smtps://host[:465]``: TLS from the first byte (implicit TLS, RFC 8314);
- ``smtp://host[:587]`` with ``starttls: true``: upgraded with STARTTLS;
- ``smtp://host[:25]``: plain, for a local relay only; a password is never
  sent over it (config error).

Certificates are verified against the system store, or against ``ca_file``
(relative to the config file) for an office mail server under a private CA.

The message: ``multipart/mixed`` holding a ``multipart/alternative`` (plain
text, HTML) and the DOCX named ``<letter number>.docx``. The Chinese file name
is written the standard way (RFC 2231 ``filename*=`` in Content-Disposition)
and also as an RFC 2047 encoded-word in Content-Type's ``name``, which is what
older Outlook, Foxmail and many webmail clients used in government offices
read. ``Message-ID`` is derived from the idempotency key, so a retried letter
has the same Message-ID and mail clients show it once;
``X-Sunlight-Idempotency-Key`` carries the key itself.

Errors: a refused login or a 5xx refusal cannot succeed on a retry; a
connection failure, a dropped connection or a 4xx (temporary) SMTP reply can.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, SecretStr, model_validator

from sunlight.alerts.channels.base import ChannelError, ChannelSettings, Message, channel_type
from sunlight.alerts.channels.httpsend import redact

DOCX_SUBTYPE = "vnd.openxmlformats-officedocument.wordprocessingml.document"
SMTP_COMPAT = compat32.clone(linesep="\r\n")
IDEMPOTENCY_HEADER = "X-Sunlight-Idempotency-Key"


def _check_address(value: str) -> str:
    """``jw@example.gov.cn`` or ``县纪委监委 <jw@example.gov.cn>``."""
    _, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain or " " in addr:
        raise ValueError(f"{value!r} is not an email address")
    if not addr.isascii():  # smtplib speaks ASCII commands; a display name may be Chinese
        raise ValueError(f"{value!r}: write the address part in ASCII (a Chinese domain in its xn-- form)")
    return value


EmailAddress = Annotated[str, AfterValidator(_check_address)]


class SmtpUrl:
    """The parsed ``smtp`` setting."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("must be smtps://host[:port] (TLS) or smtp://host[:port] (plain or STARTTLS)")
        if not parts.hostname:
            raise ValueError("has no host")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials: put them in 'user' and 'password'")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError("must be only scheme, host and port")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        self.scheme: Literal["smtp", "smtps"] = parts.scheme  # type: ignore[assignment]
        self.host = parts.hostname
        self.port = port


def _check_smtp_url(value: str) -> str:
    SmtpUrl(value)
    return value


class EmailSettings(ChannelSettings):
    model_config = ConfigDict(populate_by_name=True)

    smtp: Annotated[str, AfterValidator(_check_smtp_url)]
    starttls: bool = False
    user: str | None = None
    password: SecretStr | None = None  # from the environment: "${SMTP_PASSWORD}"
    from_: EmailAddress = Field(alias="from")
    to: list[EmailAddress] = []  # every letter of this route
    unit_to: dict[str, list[EmailAddress]] = {}  # unit_id -> its liaison's addresses
    #: person_id -> the person's addresses (letters.to_person; the people table holds no contacts)
    person_to: dict[str, list[EmailAddress]] = {}
    ca_file: Path | None = None  # a private CA (PEM), relative to the config file
    timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> EmailSettings:
        url = SmtpUrl(self.smtp)
        if url.scheme == "smtps" and self.starttls:
            raise ValueError("starttls: smtps:// is already TLS; use smtp://host:587 with starttls: true")
        if (self.user is None) != (self.password is None):
            raise ValueError("password: give 'user' and 'password' together, or neither")
        password = self.password.get_secret_value() if self.password else ""
        if not (self.user or "").isascii() or not password.isascii():
            raise ValueError("password: user and password must be ASCII (SMTP AUTH in smtplib sends ASCII)")
        if self.password is not None and url.scheme == "smtp" and not self.starttls:
            raise ValueError("password: would be sent unencrypted; use smtps:// or starttls: true")
        if not self.to and not any(self.unit_to.values()) and not any(self.person_to.values()):
            raise ValueError("to: give at least one address in 'to', 'unit_to' or 'person_to'")
        return self


def message_id(idempotency_key: str, from_address: str) -> str:
    """The same key gives the same Message-ID: ``<hash.sunlight@sender-domain>`` (ASCII, RFC 5322)."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "sunlight.invalid"
    return f"<{digest}.sunlight@{domain}>"


def _once(values: list[str], skip: frozenset[str] = frozenset()) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        addr = parseaddr(value)[1].lower()
        if addr not in skip:
            seen.setdefault(addr, value)
    return list(seen.values())


def recipients(settings: EmailSettings, unit_id: str, person_id: str | None = None) -> list[str]:
    """To: the unit's own addresses first (a person's, for a letter to a person), then the route's; each once.

    A letter to a person with no address of its own goes to the unit's
    addresses instead (the unit hands it over): never to nobody.
    """
    own = settings.person_to.get(person_id, []) if person_id else []
    if not own:
        own = settings.unit_to.get(unit_id, [])
    return _once([*own, *settings.to])


def copy_recipients(settings: EmailSettings, unit_id: str, person_id: str | None,
                    to: list[str]) -> list[str]:
    """Cc: a letter to a person is copied to the person's unit (抄送, seed 004:66), if not in To."""
    if not person_id:
        return []
    return _once(settings.unit_to.get(unit_id, []), frozenset(parseaddr(a)[1].lower() for a in to))


def _address_header(value: str) -> str:
    """A display name in Chinese as an RFC 2047 encoded-word, the address as is."""
    name, addr = parseaddr(value)
    return formataddr((name, addr), charset="utf-8")


def build_email(message: Message, settings: EmailSettings, to: list[str],
                cc: list[str] | None = None) -> MIMEMultipart:
    """The letter as a MIME message.

    Built with the classic (compat32) email API on purpose: the modern one
    re-renders every parameter and cannot write the RFC 2047 ``name`` that
    older clients need beside the RFC 2231 ``filename*``. Text parts are
    base64, so no 8BITMIME support is needed on the server.
    """
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(message.text, "plain", "utf-8"))
    alternative.attach(MIMEText(message.html, "html", "utf-8"))
    mail = MIMEMultipart("mixed")
    mail.attach(alternative)
    if message.docx is not None:
        filename = f"{message.letter_number}.docx"
        attachment = MIMEApplication(message.docx, DOCX_SUBTYPE)
        attachment.set_param("name", " ".join(Header(filename, "utf-8").encode().split()))
        attachment.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
        mail.attach(attachment)
    mail["Subject"] = Header(message.title, "utf-8")  # type: ignore[assignment]  # compat32 folds a Header
    mail["From"] = _address_header(settings.from_)
    mail["To"] = ", ".join(_address_header(a) for a in to)
    if cc:
        mail["Cc"] = ", ".join(_address_header(a) for a in cc)
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = message_id(message.idempotency_key, settings.from_)
    mail[IDEMPOTENCY_HEADER] = Header(message.idempotency_key, "utf-8")  # type: ignore[assignment]
    return mail


def email_bytes(mail: MIMEMultipart) -> bytes:
    """Serialised with CRLF line ends, as SMTP wants them."""
    return mail.as_bytes(policy=SMTP_COMPAT)


def _smtp_error(exc: smtplib.SMTPResponseException, secrets: list[str]) -> ChannelError:
    error = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    what = {
        smtplib.SMTPAuthenticationError: "login refused",
        smtplib.SMTPSenderRefused: "sender refused",
        smtplib.SMTPDataError: "message refused",
    }.get(type(exc), "SMTP error")
    retryable = 400 <= exc.smtp_code < 500
    return ChannelError(redact(f"{what}: {exc.smtp_code} {text}", secrets), retryable=retryable)


def _refused_error(refused: dict[str, tuple[int, bytes]], delivered: bool) -> ChannelError:
    """Refused recipients: retryable only if some refusal was temporary (4xx).

    A retry sends the letter to every recipient again; those who had it get
    the same Message-ID. Losing a liaison's copy is worse than that duplicate.
    """
    listed = "; ".join(
        f"{addr}: {code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
        for addr, (code, msg) in sorted(refused.items())
    )
    prefix = "delivered to the others, but refused" if delivered else "every recipient refused"
    retryable = any(400 <= code < 500 for code, _ in refused.values())
    return ChannelError(f"{prefix}: {listed}", retryable=retryable)


class EmailChannel:
    def __init__(self, name: str, settings: EmailSettings, config_dir: Path) -> None:
        self.name = name
        self.settings = settings
        self.url = SmtpUrl(settings.smtp)
        self.ca_file = settings.ca_file
        if self.ca_file is not None and not self.ca_file.is_absolute():
            self.ca_file = config_dir / self.ca_file
        self._secrets = [settings.password.get_secret_value()] if settings.password else []

    def _tls(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ChannelError(f"cannot load ca_file {self.ca_file}: {exc}", retryable=False) from None

    def _connect(self) -> smtplib.SMTP:
        port = self.url.port
        if self.url.scheme == "smtps":
            return smtplib.SMTP_SSL(
                self.url.host, port or 465, timeout=self.settings.timeout, context=self._tls()
            )
        smtp = smtplib.SMTP(self.url.host, port or (587 if self.settings.starttls else 25),
                            timeout=self.settings.timeout)
        try:
            if self.settings.starttls:
                smtp.starttls(context=self._tls())
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: Message) -> None:
        to = recipients(self.settings, message.unit_id, message.person_id)
        if not to:
            raise ChannelError(f"no address for unit {message.unit_id} and no 'to'", retryable=False)
        cc = copy_recipients(self.settings, message.unit_id, message.person_id, to)
        data = email_bytes(build_email(message, self.settings, to, cc))
        envelope_from = parseaddr(self.settings.from_)[1]
        envelope_to = [parseaddr(a)[1] for a in [*to, *cc]]
        where = f"{self.url.host}:{self.url.port or ''}".rstrip(":")
        try:
            smtp = self._connect()
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelError(f"{where}: {exc} (STARTTLS not offered)", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc, self._secrets) from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timeout, DNS, TLS
            raise ChannelError(redact(f"cannot connect to {where}: {exc}", self._secrets)) from None
        try:
            if self.settings.user is not None and self.settings.password is not None:
                smtp.login(self.settings.user, self.settings.password.get_secret_value())
            refused = smtp.sendmail(envelope_from, envelope_to, data)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refused_error(exc.recipients, delivered=False) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelError(f"{where}: {exc}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc, self._secrets) from None
        except (OSError, smtplib.SMTPException) as exc:  # dropped mid-way: the server did not take it
            raise ChannelError(redact(f"{where}: {type(exc).__name__}: {exc}", self._secrets)) from None
        finally:
            _quit(smtp)
        if refused:
            raise _refused_error(refused, delivered=True)


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye; once the server has taken the message, a failing QUIT must not turn it into a retry."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


@channel_type("email", EmailSettings)
def build(name: str, settings: EmailSettings, config_dir: Path) -> EmailChannel:
    return EmailChannel(name, settings, config_dir)

