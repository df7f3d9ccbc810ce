"""Webhook, WeCom, DingTalk and Feishu channels against a real HTTP server on 127.0.0.1.

Signatures are checked the way the receiving side would: recomputed here
from the secret and what arrived, never by calling the code under test.
"""
# ruff: noqa: F811 (pytest fixtures imported from tests.receivers)

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from sunlight.alerts.channels import ChannelError, build_channel
from sunlight.alerts.channels.httpsend import TRUNCATED_NOTE
from tests.receivers import (
    HttpReceiver,
    free_port,
    http_receiver,  # noqa: F401 (fixture)
    sample_docx,
    sample_message,
)

HMAC_SECRET = "whsec-0123456789abcdef"
WECOM_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "ding-access-token-4f1e2d3c4b5a"
DING_SECRET = "SEC1234567890abcdef1234567890abcdef"
FEISHU_TOKEN = "5e3d587e-d78e-4a07-bd07-265f269f86fd"
FEISHU_SECRET = "feishu-sign-secret-xyz"
SECRETS = [HMAC_SECRET, WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_TOKEN, FEISHU_SECRET]


def webhook(receiver: HttpReceiver, **config: Any):
    return build_channel("oa", {"type": "webhook", "url": f"{receiver.url}/hooks/letters",
                                "secret": HMAC_SECRET, **config})


def wecom(receiver: HttpReceiver):
    url = f"{receiver.url}/cgi-bin/webhook/send?key={WECOM_KEY}"
    return build_channel("im", {"type": "wecom", "webhook": url})


def dingtalk(receiver: HttpReceiver, secret: str | None = DING_SECRET):
    config: dict[str, Any] = {"type": "dingtalk",
                              "webhook": f"{receiver.url}/robot/send?access_token={DING_TOKEN}"}
    if secret:
        config["secret"] = secret
    return build_channel("ding", config)


def feishu(receiver: HttpReceiver, secret: str | None = FEISHU_SECRET):
    url = f"{receiver.url}/open-apis/bot/v2/hook/{FEISHU_TOKEN}"
    config: dict[str, Any] = {"type": "feishu", "webhook": url}
    if secret:
        config["secret"] = secret
    return build_channel("fs", config)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# ---------------------------------------------------------------- generic webhook


def test_webhook_posts_the_letter_as_signed_json(http_receiver: HttpReceiver) -> None:
    message = sample_message()
    webhook(http_receiver).send(message)

    (request,) = http_receiver.requests
    assert request.method == "POST" and request.path == "/hooks/letters"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.json() == {
        "idempotency_key": "监预〔2026〕17号:test",
        "letter_number": "监预〔2026〕17号",
        "unit_id": "U-MZJ",
        "unit_name": "县民政局",
        "tier": "level3",
        "tier_label": "三级预警函",
        "title": "关于县民政局办件超期问题的三级预警函",
        "text": message.text,
        "markdown": message.markdown,
        "issued_at": "2026-03-02T09:30:00+08:00",
    }
    # Idempotency-Key: ASCII on the wire, the key itself once decoded
    assert request.headers["idempotency-key"].isascii()
    assert request.idempotency_key == "监预〔2026〕17号:test"
    # the signature is HMAC-SHA256 over the exact bytes received
    expected = "sha256=" + hmac.new(HMAC_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-sunlight-signature"] == expected
    assert HMAC_SECRET.encode() not in request.body


def test_webhook_signature_does_not_verify_with_another_secret(http_receiver: HttpReceiver) -> None:
    webhook(http_receiver).send(sample_message())
    (request,) = http_receiver.requests
    forged = "sha256=" + hmac.new(b"another", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-sunlight-signature"] != forged


def test_webhook_without_secret_sends_no_signature(http_receiver: HttpReceiver) -> None:
    build_channel("oa", {"type": "webhook", "url": http_receiver.url}).send(sample_message())
    assert "x-sunlight-signature" not in http_receiver.requests[0].headers


def test_webhook_can_carry_html_docx_and_extra_headers(http_receiver: HttpReceiver) -> None:
    channel = webhook(http_receiver, include_html=True, include_docx=True,
                      headers={"Authorization": "Bearer oa-token-123456"})
    channel.send(sample_message())
    (request,) = http_receiver.requests
    body = request.json()
    assert body["html"].startswith("<!DOCTYPE html>")
    assert base64.b64decode(body["docx_base64"]) == sample_docx()
    assert request.headers["authorization"] == "Bearer oa-token-123456"
    assert "oa-token-123456" not in repr(channel.settings)


@pytest.mark.parametrize(("status", "retryable"), [
    (500, True), (502, True), (503, True), (408, True), (429, True),
    (400, False), (401, False), (403, False), (404, False), (422, False), (301, False),
])
def test_webhook_http_status_classification(http_receiver: HttpReceiver, status: int,
                                            retryable: bool) -> None:
    http_receiver.respond_with(status, {"error": "nope"})
    with pytest.raises(ChannelError) as caught:
        webhook(http_receiver).send(sample_message())
    assert caught.value.retryable is retryable
    assert f"HTTP {status}" in str(caught.value)


def test_webhook_2xx_is_delivered(http_receiver: HttpReceiver) -> None:
    http_receiver.respond_with(202, body=b"")
    webhook(http_receiver).send(sample_message())
    assert len(http_receiver.requests) == 1


def test_connection_refused_is_retryable_and_hides_the_url() -> None:
    port = free_port()
    channels = [
        build_channel("oa", {"type": "webhook", "url": f"http://127.0.0.1:{port}/h?token={HMAC_SECRET}"}),
        build_channel("im", {"type": "wecom", "webhook": f"http://127.0.0.1:{port}/send?key={WECOM_KEY}"}),
        build_channel("ding", {"type": "dingtalk", "secret": DING_SECRET,
                               "webhook": f"http://127.0.0.1:{port}/robot/send?access_token={DING_TOKEN}"}),
        build_channel("fs", {"type": "feishu", "secret": FEISHU_SECRET,
                             "webhook": f"http://127.0.0.1:{port}/open-apis/bot/v2/hook/{FEISHU_TOKEN}"}),
    ]
    for channel in channels:
        with pytest.raises(ChannelError) as caught:
            channel.send(sample_message())
        assert caught.value.retryable is True
        assert "ConnectError" in str(caught.value)
        assert_no_secret(str(caught.value))
        assert_no_secret(repr(caught.value))
        assert_no_secret(repr(channel.settings))
        assert_no_secret(str(channel.settings))


def test_receiver_down_then_up_again_on_the_same_port(http_receiver: HttpReceiver) -> None:
    channel = webhook(http_receiver)
    http_receiver.stop()
    with pytest.raises(ChannelError) as caught:
        channel.send(sample_message())
    assert caught.value.retryable is True
    http_receiver.start()
    channel.send(sample_message())
    assert http_receiver.idempotency_keys() == ["监预〔2026〕17号:test"]


def test_connection_dropped_without_answer_is_retryable(http_receiver: HttpReceiver) -> None:
    http_receiver.respond_next(0)
    with pytest.raises(ChannelError) as caught:
        webhook(http_receiver).send(sample_message())
    assert caught.value.retryable is True
    webhook(http_receiver).send(sample_message())  # the next answer is the default 200 again
    assert len(http_receiver.requests) == 2


def test_error_text_echoing_a_secret_is_redacted(http_receiver: HttpReceiver) -> None:
    http_receiver.respond_with(400, body=f"bad request to /send?key={WECOM_KEY}".encode())
    with pytest.raises(ChannelError) as caught:
        wecom(http_receiver).send(sample_message())
    assert "HTTP 400" in str(caught.value)
    assert_no_secret(str(caught.value))


# ---------------------------------------------------------------- WeCom


def test_wecom_markdown_body(http_receiver: HttpReceiver) -> None:
    message = sample_message()
    wecom(http_receiver).send(message)
    (request,) = http_receiver.requests
    assert request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": [WECOM_KEY]}
    assert request.json() == {"msgtype": "markdown", "markdown": {"content": message.markdown}}


def test_wecom_long_markdown_is_cut_to_4096_bytes(http_receiver: HttpReceiver) -> None:
    long = "### 三级预警函\n" + "".join(f"- 办件 MZ-2026-{i:04d} 超期 3 个工作日\n" for i in range(400))
    wecom(http_receiver).send(sample_message(markdown=long))
    content = http_receiver.requests[0].json()["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert content.endswith(TRUNCATED_NOTE)
    assert content.startswith("### 三级预警函\n- 办件 MZ-2026-0000")


@pytest.mark.parametrize(("errcode", "retryable"),
                         [(45009, True), (-1, True), (93000, False), (40058, False)])
def test_wecom_errcode_classification(http_receiver: HttpReceiver, errcode: int, retryable: bool) -> None:
    http_receiver.respond_with(200, {"errcode": errcode, "errmsg": "some error"})
    with pytest.raises(ChannelError) as caught:
        wecom(http_receiver).send(sample_message())
    assert caught.value.retryable is retryable
    assert f"errcode {errcode}" in str(caught.value)
    assert_no_secret(str(caught.value))


def test_robot_answer_that_is_not_a_robot_reply_is_not_delivered(http_receiver: HttpReceiver) -> None:
    http_receiver.respond_with(200, body=b"<html>login page</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(ChannelError) as caught:
        wecom(http_receiver).send(sample_message())
    assert caught.value.retryable is False
    assert "not a robot reply" in str(caught.value)


# ---------------------------------------------------------------- DingTalk


def test_dingtalk_signed_markdown(http_receiver: HttpReceiver) -> None:
    message = sample_message()
    before_ms = int(time.time() * 1000)
    dingtalk(http_receiver).send(message)
    after_ms = int(time.time() * 1000)

    (request,) = http_receiver.requests
    assert request.path == "/robot/send"
    assert request.json() == {
        "msgtype": "markdown",
        "markdown": {"title": "关于县民政局办件超期问题的三级预警函", "text": message.markdown},
    }
    assert request.query["access_token"] == [DING_TOKEN]
    (timestamp,) = request.query["timestamp"]
    (sign,) = request.query["sign"]
    assert before_ms <= int(timestamp) <= after_ms  # milliseconds
    string_to_sign = f"{timestamp}\n{DING_SECRET}".encode()
    digest = hmac.new(DING_SECRET.encode(), string_to_sign, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    assert sign == expected
    # URL-encoded on the wire: a raw "+" would decode to a space and break the signature
    assert "+" not in request.raw_query and "/" not in request.raw_query.split("sign=")[1]


def test_dingtalk_without_secret_sends_no_signature(http_receiver: HttpReceiver) -> None:
    dingtalk(http_receiver, secret=None).send(sample_message())
    assert http_receiver.requests[0].query == {"access_token": [DING_TOKEN]}


@pytest.mark.parametrize(("errcode", "retryable"),
                         [(130101, True), (-1, True), (310000, False), (300001, False)])
def test_dingtalk_errcode_classification(http_receiver: HttpReceiver, errcode: int, retryable: bool) -> None:
    http_receiver.respond_with(200, {"errcode": errcode, "errmsg": "sign not match"})
    with pytest.raises(ChannelError) as caught:
        dingtalk(http_receiver).send(sample_message())
    assert caught.value.retryable is retryable
    assert_no_secret(str(caught.value))


# ---------------------------------------------------------------- Feishu


def test_feishu_signed_card_with_markdown(http_receiver: HttpReceiver) -> None:
    http_receiver.respond_with(200, {"code": 0, "msg": "success", "data": {}})
    message = sample_message()
    before = int(time.time())
    feishu(http_receiver).send(message)
    after = int(time.time())

    (request,) = http_receiver.requests
    assert request.path == f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}" and request.query == {}
    body = request.json()
    timestamp, sign = body.pop("timestamp"), body.pop("sign")
    assert body == {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": "关于县民政局办件超期问题的三级预警函"},
                       "template": "yellow"},
            "elements": [{"tag": "markdown", "content": message.markdown}],
        },
    }
    assert isinstance(timestamp, str) and before <= int(timestamp) <= after  # seconds
    key = f"{timestamp}\n{FEISHU_SECRET}".encode()
    assert sign == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def test_feishu_header_colour_follows_the_tier(http_receiver: HttpReceiver) -> None:
    http_receiver.respond_with(200, {"code": 0, "msg": "success"})
    feishu(http_receiver, secret=None).send(sample_message(tier="level1", tier_label="一级预警函"))
    body = http_receiver.requests[0].json()
    assert body["card"]["header"]["template"] == "red"
    assert "sign" not in body and "timestamp" not in body


def test_feishu_body_stays_within_20_kb(http_receiver: HttpReceiver) -> None:
    http_receiver.respond_with(200, {"code": 0, "msg": "success"})
    long = "".join(f"- 办件 MZ-2026-{i:04d} 超期 3 个工作日，“承诺时限”已过\n" for i in range(2000))
    feishu(http_receiver).send(sample_message(markdown=long))
    (request,) = http_receiver.requests
    assert len(request.body) <= 20 * 1024
    assert len(request.body) > 19 * 1024  # cut close to the limit, not far below it
    assert request.json()["card"]["elements"][0]["content"].endswith(TRUNCATED_NOTE)


@pytest.mark.parametrize(("reply", "retryable"), [
    ({"code": 11232, "msg": "frequency limited"}, True),
    ({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}, False),
    ({"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}, False),
    ({"StatusCode": 19024, "StatusMessage": "Key Words Not Found"}, False),
])
def test_feishu_code_classification(http_receiver: HttpReceiver, reply: dict, retryable: bool) -> None:
    http_receiver.respond_with(200, reply)
    with pytest.raises(ChannelError) as caught:
        feishu(http_receiver).send(sample_message())
    assert caught.value.retryable is retryable
    assert_no_secret(str(caught.value))


def test_feishu_legacy_statuscode_zero_is_delivered(http_receiver: HttpReceiver) -> None:
    http_receiver.respond_with(200, {"StatusCode": 0, "StatusMessage": "success"})
    feishu(http_receiver).send(sample_message())


@pytest.mark.parametrize("make", [wecom, dingtalk, feishu])
@pytest.mark.parametrize(("status", "retryable"), [(500, True), (400, False)])
def test_robot_http_errors(http_receiver: HttpReceiver, make, status: int, retryable: bool) -> None:
    http_receiver.respond_with(status, {"errcode": 0})
    with pytest.raises(ChannelError) as caught:
        make(http_receiver).send(sample_message())
    assert caught.value.retryable is retryable


def test_every_request_is_valid_utf8_json(http_receiver: HttpReceiver) -> None:
    for make in (wecom, dingtalk, feishu, webhook):
        make(http_receiver).send(sample_message())
    for request in http_receiver.requests:
        assert json.loads(request.body.decode("utf-8"))
        assert "三级" in request.body.decode("utf-8")  # Chinese sent as is, not \\u-escaped
