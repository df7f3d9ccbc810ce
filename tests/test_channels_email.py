"""The email channel against a real aiosmtpd server on 127.0.0.1 (plain, SMTPS, STARTTLS)."""
# ruff: noqa: F811 (pytest fixtures imported from tests.receivers)

from __future__ import annotations

import io
from typing import Any

import docx
import pytest

from sunlight.alerts.channels import ChannelError, build_channel
from sunlight.alerts.channels.mail import message_id
from tests.receivers import (
    SmtpReceiver,
    TlsAuthority,
    free_port,
    sample_docx,
    sample_message,
    smtp_receiver,  # noqa: F401 (fixture)
    smtp_receivers,  # noqa: F401 (fixture)
    tls_ca,  # noqa: F401 (fixture)
)

PASSWORD = "s3cret-Smtp-password"


def email_channel(receiver: SmtpReceiver | None = None, **config: Any):
    settings: dict[str, Any] = {
        "type": "email",
        "smtp": f"smtp://{receiver.host}:{receiver.port}" if receiver else "smtp://127.0.0.1:25",
        "from": "县纪委监委 <jw@example.gov.cn>",
        "to": ["office@example.gov.cn"],
    }
    settings.update(config)
    return build_channel("office_email", settings)


def test_letter_arrives_with_headers_both_bodies_and_the_docx(smtp_receiver: SmtpReceiver) -> None:
    channel = email_channel(smtp_receiver, unit_to={"U-MZJ": ["刘联络 <liu@mzj.example.gov.cn>"]})
    message = sample_message()
    channel.send(message)

    assert len(smtp_receiver.messages) == 1
    mail = smtp_receiver.messages[0]
    assert mail.mail_from == "jw@example.gov.cn"
    assert mail.rcpt_tos == ["liu@mzj.example.gov.cn", "office@example.gov.cn"]
    parsed = mail.message
    assert str(parsed["Subject"]) == "关于县民政局办件超期问题的三级预警函"
    assert str(parsed["From"]) == "县纪委监委 <jw@example.gov.cn>"
    assert str(parsed["To"]) == "刘联络 <liu@mzj.example.gov.cn>, office@example.gov.cn"
    assert str(parsed["X-Sunlight-Idempotency-Key"]) == "监预〔2026〕17号:test"
    assert parsed["Message-ID"] == message_id("监预〔2026〕17号:test", "jw@example.gov.cn")
    assert parsed["Message-ID"].endswith("@example.gov.cn>") and parsed["Message-ID"].isascii()
    assert parsed.get_content_type() == "multipart/mixed"

    alternative, attachment = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, html = alternative.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content() == message.text
    assert html.get_content_type() == "text/html"
    assert "<h1>三级预警函</h1>" in html.get_content()

    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "监预〔2026〕17号.docx"
    assert attachment.get_content_type() == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert attachment.get_content() == sample_docx()
    document = docx.Document(io.BytesIO(attachment.get_content()))
    assert "监预〔2026〕17号" in [p.text for p in document.paragraphs]


def test_chinese_file_name_is_encoded_both_ways_on_the_wire(smtp_receiver: SmtpReceiver) -> None:
    email_channel(smtp_receiver).send(sample_message())
    raw = smtp_receiver.messages[0].data
    assert raw.isascii()  # every Chinese header and body is encoded; no 8BITMIME needed
    # RFC 2231 in Content-Disposition, RFC 2047 in Content-Type's name (older clients)
    assert b"filename*=utf-8''%E7%9B%91%E9%A2%84%E3%80%942026%E3%80%9517%E5%8F%B7.docx" in raw
    assert b'name="=?utf-8?b?55uR6aKE44CUMjAyNuOAlTE35Y+3LmRvY3g=?="' in raw


def test_same_key_same_message_id_on_a_retry(smtp_receiver: SmtpReceiver) -> None:
    channel = email_channel(smtp_receiver)
    channel.send(sample_message())
    channel.send(sample_message())
    other = sample_message(letter_number="监预〔2026〕18号")
    channel.send(other)
    ids = [m.message["Message-ID"] for m in smtp_receiver.messages]
    assert ids[0] == ids[1] != ids[2]


def test_letter_without_docx_has_no_attachment(smtp_receiver: SmtpReceiver) -> None:
    email_channel(smtp_receiver).send(sample_message(docx=None))
    parsed = smtp_receiver.messages[0].message
    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html",
    ]


def test_refused_recipient_is_not_retryable(smtp_receiver: SmtpReceiver) -> None:
    smtp_receiver.refuse["office@example.gov.cn"] = "550 5.1.1 mailbox unavailable"
    with pytest.raises(ChannelError) as caught:
        email_channel(smtp_receiver).send(sample_message())
    assert caught.value.retryable is False
    assert "office@example.gov.cn: 550" in str(caught.value)
    assert smtp_receiver.messages == []


def test_temporarily_refused_recipient_is_retryable(smtp_receiver: SmtpReceiver) -> None:
    smtp_receiver.refuse["office@example.gov.cn"] = "450 4.2.1 mailbox busy, try later"
    with pytest.raises(ChannelError) as caught:
        email_channel(smtp_receiver).send(sample_message())
    assert caught.value.retryable is True


def test_one_refused_of_two_reports_it_after_delivering_to_the_other(smtp_receiver: SmtpReceiver) -> None:
    smtp_receiver.refuse["liu@mzj.example.gov.cn"] = "550 5.1.1 no such user"
    channel = email_channel(smtp_receiver, unit_to={"U-MZJ": ["liu@mzj.example.gov.cn"]})
    with pytest.raises(ChannelError) as caught:
        channel.send(sample_message())
    assert caught.value.retryable is False
    assert "delivered to the others" in str(caught.value)
    assert [m.rcpt_tos for m in smtp_receiver.messages] == [["office@example.gov.cn"]]


@pytest.mark.parametrize(("reply", "retryable"), [
    ("451 4.3.0 local error, try again later", True),
    ("554 5.7.1 message rejected as spam", False),
])
def test_message_refused_at_data(smtp_receiver: SmtpReceiver, reply: str, retryable: bool) -> None:
    smtp_receiver.data_reply = reply
    with pytest.raises(ChannelError) as caught:
        email_channel(smtp_receiver).send(sample_message())
    assert caught.value.retryable is retryable
    assert f"message refused: {reply[:3]}" in str(caught.value)
    assert smtp_receiver.messages == []


def test_unit_without_liaison_and_no_to_is_not_retryable(smtp_receiver: SmtpReceiver) -> None:
    channel = email_channel(smtp_receiver, to=[], unit_to={"U-OTHER": ["x@example.gov.cn"]})
    with pytest.raises(ChannelError) as caught:
        channel.send(sample_message())
    assert caught.value.retryable is False
    assert "U-MZJ" in str(caught.value)


def test_connection_refused_is_retryable() -> None:
    channel = email_channel(None, smtp=f"smtp://127.0.0.1:{free_port()}")
    with pytest.raises(ChannelError) as caught:
        channel.send(sample_message())
    assert caught.value.retryable is True
    assert "cannot connect to 127.0.0.1" in str(caught.value)


def test_smtps_with_login(smtp_receivers, tls_ca: TlsAuthority) -> None:
    receiver = smtp_receivers(tls="smtps", server_tls=tls_ca.server_context(), users={"jw": PASSWORD})
    channel = email_channel(
        None, smtp=f"smtps://127.0.0.1:{receiver.port}", user="jw", password=PASSWORD,
        ca_file=str(tls_ca.ca_file),
    )
    channel.send(sample_message())
    (mail,) = receiver.messages
    assert mail.tls is True and mail.login == "jw"
    assert mail.message.get_payload()[1].get_filename() == "监预〔2026〕17号.docx"


def test_starttls_with_login(smtp_receivers, tls_ca: TlsAuthority) -> None:
    receiver = smtp_receivers(tls="starttls", server_tls=tls_ca.server_context(), users={"jw": PASSWORD})
    channel = email_channel(
        None, smtp=f"smtp://127.0.0.1:{receiver.port}", starttls=True, user="jw", password=PASSWORD,
        ca_file=str(tls_ca.ca_file),
    )
    channel.send(sample_message())
    (mail,) = receiver.messages
    assert mail.tls is True and mail.login == "jw"


def test_relative_ca_file_is_relative_to_the_config_folder(smtp_receivers, tls_ca: TlsAuthority) -> None:
    receiver = smtp_receivers(tls="smtps", server_tls=tls_ca.server_context())
    settings = {"type": "email", "smtp": f"smtps://127.0.0.1:{receiver.port}", "from": "jw@example.gov.cn",
                "to": ["office@example.gov.cn"], "ca_file": tls_ca.ca_file.name}
    build_channel("e", settings, tls_ca.ca_file.parent).send(sample_message())
    assert len(receiver.messages) == 1


def test_wrong_password_is_not_retryable_and_not_shown(smtp_receivers, tls_ca: TlsAuthority) -> None:
    receiver = smtp_receivers(tls="starttls", server_tls=tls_ca.server_context(), users={"jw": PASSWORD})
    wrong = "wrong-" + PASSWORD
    channel = email_channel(
        None, smtp=f"smtp://127.0.0.1:{receiver.port}", starttls=True, user="jw", password=wrong,
        ca_file=str(tls_ca.ca_file),
    )
    with pytest.raises(ChannelError) as caught:
        channel.send(sample_message())
    assert caught.value.retryable is False
    assert "login refused: 535" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)
    assert receiver.messages == []


def test_untrusted_certificate_fails_the_attempt(smtp_receivers, tls_ca: TlsAuthority) -> None:
    receiver = smtp_receivers(tls="smtps", server_tls=tls_ca.server_context())
    channel = email_channel(None, smtp=f"smtps://127.0.0.1:{receiver.port}")  # system CAs only
    with pytest.raises(ChannelError) as caught:
        channel.send(sample_message())
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert receiver.messages == []


def test_server_without_starttls_is_not_retryable(smtp_receiver: SmtpReceiver, tls_ca: TlsAuthority) -> None:
    channel = email_channel(smtp_receiver, starttls=True, ca_file=str(tls_ca.ca_file))
    with pytest.raises(ChannelError) as caught:
        channel.send(sample_message())
    assert caught.value.retryable is False
    assert smtp_receiver.messages == []


def test_password_never_in_settings_repr() -> None:
    channel = email_channel(None, smtp="smtps://mail.example.gov.cn", user="jw", password=PASSWORD)
    assert PASSWORD not in repr(channel.settings)
    assert PASSWORD not in str(channel.settings.model_dump())


def test_receiver_down_then_up_again_on_the_same_port(smtp_receiver: SmtpReceiver) -> None:
    channel = email_channel(smtp_receiver)
    smtp_receiver.stop()
    with pytest.raises(ChannelError) as caught:
        channel.send(sample_message())
    assert caught.value.retryable is True
    smtp_receiver.start()
    channel.send(sample_message())
    assert [str(m.message["X-Sunlight-Idempotency-Key"]) for m in smtp_receiver.messages] == [
        "监预〔2026〕17号:test"
    ]
