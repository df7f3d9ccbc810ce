"""Feishu (飞书) custom group robot: the letter as a message card with a markdown element.

Format, from Feishu's 自定义机器人使用指南 (open.feishu.cn/document/client-docs/bot-v3/add-custom-bot,
section 发送消息卡片): POST ``https://open.feishu.cn/open-apis/bot/v2/hook/<token>``
with ``{"msg_type": "interactive", "card": {...}}``; the card has a header
(plain-text title, a colour ``template``) and ``elements`` holding one
``{"tag": "markdown", "content": "…"}``. We pick the card over ``post``
because ``post`` takes no markdown (it wants the text cut into tagged runs).
The body may be at most 20 KB. The reply is ``{"code": 0, "msg": "success"}``
(older deployments answer ``StatusCode``); code 11232 is the rate limit.

Signing (安全设置 → 签名校验): ``timestamp + "\\n" + secret`` (timestamp in
seconds) is the HMAC-SHA256 *key* over an empty message; the Base64 digest
goes into the JSON body as ``"sign"`` beside ``"timestamp"``. Unlike DingTalk
the secret is not the key and nothing goes into the URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path

from sunlight.alerts.channels.base import Message, channel_type
from sunlight.alerts.channels.httpsend import fit, json_body, json_size
from sunlight.alerts.channels.robot import RobotChannel, SignedRobotSettings

MAX_BODY_BYTES = 20 * 1024
# Card header colours from Feishu's template list, most severe red.
HEADER_TEMPLATE = {"level1": "red", "level2": "orange", "level3": "yellow", "reminder": "blue"}


class FeishuSettings(SignedRobotSettings):
    pass


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Base64 of HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def feishu_card(message: Message, markdown: str) -> dict[str, object]:
    return {
        "config": {"wide_screen_mode": True},
        "header": {
            "title": {"tag": "plain_text", "content": message.title},
            "template": HEADER_TEMPLATE.get(message.tier, "blue"),
        },
        "elements": [{"tag": "markdown", "content": markdown}],
    }


def feishu_body(message: Message, signature: dict[str, str] | None = None) -> dict[str, object]:
    """The request body; the markdown is cut so that the whole body stays within 20 KB."""
    envelope: dict[str, object] = dict(signature or {})
    envelope["msg_type"] = "interactive"
    envelope["card"] = feishu_card(message, "")
    room = MAX_BODY_BYTES - len(json_body(envelope))
    envelope["card"] = feishu_card(message, fit(message.markdown, room, json_size))
    return envelope


class FeishuChannel(RobotChannel):
    code_fields = ("code", "StatusCode")
    permanent_codes = {
        19001: "invalid webhook token",
        19021: "signature mismatch or timestamp more than an hour off",
        19022: "IP not in the robot's whitelist",
        19024: "no configured keyword in the message",
        9499: "bad request: malformed body or over 20 KB",
    }

    def request(self, message: Message) -> tuple[str, bytes]:
        signature = None
        if self.secret is not None:
            timestamp_s = int(time.time())
            sign = feishu_sign(self.secret, timestamp_s)
            signature = {"timestamp": str(timestamp_s), "sign": sign}
        return self.webhook, json_body(feishu_body(message, signature))


@channel_type("feishu", FeishuSettings)
def build(name: str, settings: FeishuSettings, config_dir: Path) -> FeishuChannel:
    return FeishuChannel(name, settings)
