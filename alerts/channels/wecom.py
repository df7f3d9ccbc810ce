"""WeCom (企业微信) group robot: the letter as a markdown message to a group.

Format, from WeCom's 群机器人配置说明 (developer.work.weixin.qq.com/document/path/91770):
POST the webhook URL ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…``
with ``{"msgtype": "markdown", "markdown": {"content": "…"}}``; the content is
at most 4096 bytes of UTF-8. The reply is ``{"errcode": 0, "errmsg": "ok"}``;
a robot accepts 20 messages a minute (errcode 45009 beyond that). WeCom robots
have no signing scheme: the key in the URL is the credential.
"""

from __future__ import annotations

from pathlib import Path

from sunlight.alerts.channels.base import Message, channel_type
from sunlight.alerts.channels.httpsend import fit, json_body, utf8_size
from sunlight.alerts.channels.robot import RobotChannel, RobotSettings

MAX_CONTENT_BYTES = 4096


class WecomSettings(RobotSettings):
    pass


def wecom_body(message: Message) -> dict[str, object]:
    return {
        "msgtype": "markdown",
        "markdown": {"content": fit(message.markdown, MAX_CONTENT_BYTES, utf8_size)},
    }


class WecomChannel(RobotChannel):
    code_fields = ("errcode",)
    permanent_codes = {
        93000: "invalid webhook URL: wrong key or the robot was removed",
        40008: "invalid message type",
        40058: "invalid parameter (e.g. content too long)",
        44004: "empty content",
    }

    def request(self, message: Message) -> tuple[str, bytes]:
        return self.webhook, json_body(wecom_body(message))


@channel_type("wecom", WecomSettings)
def build(name: str, settings: WecomSettings, config_dir: Path) -> WecomChannel:
    return WecomChannel(name, settings)
