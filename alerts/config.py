"""Config models for the alerting half: tiers, letters, routes and channels.

They live here, beside the code that uses them, and ``sunlight.monitor.settings``
composes them into the one config file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from sunlight.monitor.durations import Duration, parse_duration

if TYPE_CHECKING:
    from sunlight.monitor.settings import Settings

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

    @field_validator("labels", "colours", "rectify_workdays", mode="before")
    @classmethod
    def _keep_defaults(cls, value: Any, info: Any) -> Any:
        """An office that renames one tier keeps the other tiers' defaults."""
        if isinstance(value, dict):
            return {**cls.model_fields[info.field_name].default, **value}
        return value


class DeliveryConfig(_Model):
    """The outbox's patience: exponential backoff with jitter, then dead after ``max_age``."""

    backoff: Duration = parse_duration("30s")  # the wait after the first failure
    max_backoff: Duration = parse_duration("1h")  # the longest wait between two attempts
    max_age: Duration = parse_duration("2d")  # give up (dead) once a delivery is this old
    jitter: float = Field(default=0.5, ge=0, le=1)  # each wait is drawn from [(1-jitter)·w, w]


class LettersConfig(_Model):
    number_prefix: str = Field(default="监预", min_length=1, max_length=16)
    reminder_prefix: str = Field(default="监提", min_length=1, max_length=16)  # numbers of 提醒 notices
    issuer: str = "中共XX县纪律检查委员会 XX县监察委员会"
    templates: str | None = None  # a folder whose templates override the built-in ones
    delivery: DeliveryConfig = DeliveryConfig()


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
    from sunlight.alerts.channels import validate_channels

    yield from validate_channels(settings.channels)
    for i, route in enumerate(settings.routes):
        for j, name in enumerate(route.to):
            if name not in settings.channels:
                yield f"routes[{i}].to[{j}]", f"no channel named {name!r} in 'channels'"
    if settings.letters.number_prefix == settings.letters.reminder_prefix:
        yield ("letters.reminder_prefix",
               "must differ from letters.number_prefix (reminders have their own numbers)")
    for tier in ("level3", "level2", "level1"):
        days = settings.tiers.rectify_workdays.get(tier)  # type: ignore[call-overload]
        if days is None or days < 1:
            yield f"tiers.rectify_workdays.{tier}", "a whole number of working days (1 or more) is required"
    if settings.letters.templates is not None and not settings.resolve(settings.letters.templates).is_dir():
        yield "letters.templates", f"no such folder: {settings.resolve(settings.letters.templates)}"
    if settings.routes and settings.routes[-1].match != RouteMatch():
        yield (
            f"routes[{len(settings.routes) - 1}]",
            "the last route must be a catch-all (no 'match') so that no letter is dropped",
        )
