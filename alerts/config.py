"""Config models for the alerting half: tiers, letters, routes and channels.

They live here, beside the code that uses them, and ``monitor.settings``
composes them into the one config file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from monitor.settings import Settings

Tier = Literal["reminder", "level3", "level2", "level1"]
TIERS: tuple[Tier, ...] = ("reminder", "level3", "level2", "level1")  # least to most severe


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierMatch(_Model):
    check: str | list[str] | None = None
    unit_id: str | list[str] | None = None
    item_code: str | list[str] | None = None


class TierOverride(_Model):
    match: TierMatch
    tier: Tier


class RepeatRule(_Model):
    count: int = Field(default=2, ge=1)
    window_months: int = Field(default=12, ge=1)


class TiersConfig(_Model):
    labels: dict[Tier, str] = {
        "reminder": "提醒",
        "level3": "三级预警函",
        "level2": "二级预警函",
        "level1": "一级预警函",
    }
    colours: dict[Tier, str] = {
        "reminder": "#1f77b4",
        "level3": "#f2c200",
        "level2": "#ff7f0e",
        "level1": "#d62728",
    }
    rectify_workdays: dict[Tier, int] = {"level3": 10, "level2": 10, "level1": 5}
    repeat: RepeatRule = RepeatRule()
    overrides: list[TierOverride] = []


class LettersConfig(_Model):
    number_prefix: str = "监预"
    issuer: str = "中共XX县纪律检查委员会 XX县监察委员会"
    templates: str | None = None  # a folder whose templates override the built-in ones


class RouteMatch(_Model):
    tier: Tier | list[Tier] | None = None
    unit_id: str | list[str] | None = None
    check: str | list[str] | None = None


class RouteConfig(_Model):
    match: RouteMatch = RouteMatch()
    to: list[str]


class ChannelEntry(dict[str, Any]):
    """One ``channels.<name>`` entry as written, after ``${VAR}`` substitution.

    It holds tokens and passwords in clear text (the channel's own settings
    model turns them into secrets when the channel is built), so its repr shows
    only the type: ``repr(settings)`` must never leak a secret into a log.
    """

    def __repr__(self) -> str:
        return f"ChannelEntry(type={self.get('type')!r}, ...)"

    __str__ = __repr__


ChannelsConfig = dict[str, Annotated[dict[str, Any], AfterValidator(ChannelEntry)]]


def validate_alerts(settings: Settings) -> Iterator[tuple[str, str]]:
    """Cross-checks between routes and channels: (key path, problem) pairs."""
    from alerts.channels import validate_channels

    yield from validate_channels(settings.channels)
    for i, route in enumerate(settings.routes):
        for j, name in enumerate(route.to):
            if name not in settings.channels:
                yield f"routes[{i}].to[{j}]", f"no channel named {name!r} in 'channels'"
    if settings.routes and settings.routes[-1].match != RouteMatch():
        yield (
            f"routes[{len(settings.routes) - 1}]",
            "the last route must be a catch-all (no 'match') so that no letter is dropped",
        )
