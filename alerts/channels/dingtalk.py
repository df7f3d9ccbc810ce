"""DingTalk (钉钉) custom group robot: the letter as a markdown message, optionally signed.

Format, from DingTalk's 自定义机器人接入 / 自定义机器人发送消息的消息类型
(open.dingtalk.com/document/robots/custom-robot-access): POST
``https://oapi.dingtalk.com/robot/send?access_token=…`` with
``{"msgtype": "markdown", "markdown": {"title": "…", "text": "…"}}``; ``title``
is what the conversation list shows. The reply is
``{"errcode": 0, "errmsg": "ok"}``; a robot accepts 20 messages a minute.

Signing (安全设置 → 加签): with the ``SEC…`` secret, ``string_to_sign =
timestamp + "\\n" + secret`` (timestamp in milliseconds), HMAC-SHA256 keyed by
the secret, Base64, URL-encoded, appended to the webhook URL as
``&timestamp=…&sign=…``. DingTalk rejects a timestamp more than an hour off,
so the signature is made afresh on every attempt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sunlight.alerts.channels.base import Message, channel_type
from sunlight.alerts.channels.httpsend import fit, json_body
from sunlight.alerts.channels.robot import RobotChannel, SignedRobotSettings

if TYPE_CHECKING:
    import httpx

MAX_TEXT_CHARS = 5000


class DingtalkSettings(SignedRobotSettings):
    pass


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """Base64 of HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"); URL-encoding is httpx's job."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()).decode()


def dingtalk_body(message: Message) -> dict[str, object]:
    return {
        "msgtype": "markdown",
        "markdown": {"title": message.title, "text": fit(message.markdown, MAX_TEXT_CHARS, len)},
    }


class DingtalkChannel(RobotChannel):
    code_fields = ("errcode",)
    permanent_codes = {
        310000: "security check failed: signature, keyword or IP whitelist",
        300001: "invalid access_token",
        400013: "the group was dissolved",
        40035: "missing or malformed parameter",
    }

    def request(self, message: Message) -> tuple[httpx.URL, bytes]:
        import httpx  # the first delivery loads it (see channels.httpsend)

        url = httpx.URL(self.webhook)
        if self.secret is not None:
            timestamp_ms = int(time.time() * 1000)
            sign = dingtalk_sign(self.secret, timestamp_ms)
            url = url.copy_merge_params({"timestamp": str(timestamp_ms), "sign": sign})
        return url, json_body(dingtalk_body(message))


@channel_type("dingtalk", DingtalkSettings)
def build(name: str, settings: DingtalkSettings, config_dir: Path) -> DingtalkChannel:
    return DingtalkChannel(name, settings)
