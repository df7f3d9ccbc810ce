"""The part WeCom, DingTalk and Feishu group robots share.

Each robot is a webhook URL with its token in it, an optional signing secret,
a JSON body in the vendor's documented markdown format, and a reply that is
HTTP 200 with an error code inside. A subclass says how to build the request
and which codes mean "retrying cannot help".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr

from sunlight.alerts.channels.base import ChannelSettings, Message
from sunlight.alerts.channels.httpsend import SecretUrl, check_robot_reply, post, url_secrets

if TYPE_CHECKING:
    import httpx


class RobotSettings(ChannelSettings):
    webhook: SecretUrl  # the robot's full webhook URL, token included: "${WECOM_HOOK}"
    timeout: float = Field(default=10.0, gt=0)


class SignedRobotSettings(RobotSettings):
    secret: SecretStr | None = None  # the robot's 加签 / 签名校验 secret, when that security option is on


class RobotChannel:
    code_fields: tuple[str, ...] = ()
    permanent_codes: Mapping[int, str] = {}

    def __init__(self, name: str, settings: RobotSettings) -> None:
        self.name = name
        self.settings = settings
        self.webhook = settings.webhook.get_secret_value()
        self.secrets = url_secrets(self.webhook)
        secret = getattr(settings, "secret", None)  # only SignedRobotSettings have one
        self.secret: str | None = secret.get_secret_value() if secret is not None else None
        if self.secret is not None:
            self.secrets.append(self.secret)

    def request(self, message: Message) -> tuple[httpx.URL | str, bytes]:
        """The URL to post to and the exact body bytes."""
        raise NotImplementedError

    def send(self, message: Message) -> None:
        url, body = self.request(message)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        response = post(url, body, headers, self.settings.timeout, self.secrets)
        check_robot_reply(response, self.code_fields, self.permanent_codes, self.secrets)
