"""Config models for the alerting half: tiers, letters, routes and channels.

Pure data models: ``sunlight.monitor.settings`` composes them into the one
config file. The cross-checks between them (routes name channels that exist,
…) are :mod:`sunlight.alerts.validation`, registered with the loader.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from sunlight.monitor.durations import Duration, parse_duration
from sunlight.monitor.matching import Match, OneOrMany
from sunlight.monitor.vocab import TIERS, Tier

__all__ = ["TIERS", "ChannelsConfig", "LettersConfig", "RouteConfig", "Tier", "TiersConfig"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierMatch(Match):
    check: OneOrMany[str] = None
    unit_id: OneOrMany[str] = None
    item_code: OneOrMany[str] = None


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
    #: the tier a new matter's first letter (随时预警) starts at. ``level3``: every matter starts
    #: at 三级 and climbs one rung at a time (seed 004:66-68, 第十一条: 随时预警 "发出三级廉政风险
    #: 预警函"); ``check``: at its check's default tier (rules.md). A matching override still
    #: sets the start, reminders stay reminders, the repeat rule still lifts to 一级.
    matter_start: Literal["level3", "check"] = "level3"

    def label(self, tier: str) -> str:
        """A tier's name as the office calls it (its configured label); an unknown key as it is."""
        return self.labels.get(tier, tier)  # type: ignore[call-overload]  # keys are Tier

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


class PeriodicThreshold(_Model):
    """What a unit's period must reach for a periodic letter of one tier (any one suffices)."""

    findings: int | None = Field(default=None, ge=1)  # findings first seen in the period (any letter tier)
    serious_findings: int | None = Field(default=None, ge=1)  # of them, level2 or level1
    letters_unrectified: int | None = Field(default=None, ge=1)  # letters due in the period, went overdue
    on_time_below: float | None = Field(default=None, gt=0, le=1)  # on-time rate of completed cases


class PeriodicConfig(_Model):
    """定期预警 (seed 004:68): a letter per unit from the period's assessment, on a schedule.

    The seed names the year-end assessment; monthly, quarterly or half-yearly
    letters are the office's choice. The thresholds are ours (the seed gives
    no figures): the most severe tier whose threshold the unit reaches.
    """

    every: Literal["month", "quarter", "half_year", "year"] | None = None  # None: no periodic letters
    issue_after_workdays: int = Field(default=5, ge=0)  # issued at the first cycle this long after
    thresholds: dict[Literal["level3", "level2", "level1"], PeriodicThreshold] = {
        "level1": PeriodicThreshold(letters_unrectified=2),
        "level2": PeriodicThreshold(letters_unrectified=1, serious_findings=2),
        "level3": PeriodicThreshold(findings=3),
    }
#: what a letter says follows if it is not answered; level1 has no tier above it, so its
#: consequence is the office's own (ours by default: the seeds name none)
DEFAULT_CONSEQUENCES: dict[Tier, str] = {
    "level3": "逾期未整改的，将升级发出二级预警函。",
    "level2": "逾期未整改或未提交书面整改报告的，将升级发出一级预警函。",
    "level1": "逾期仍未落实上述要求的，我委将依规依纪追究有关人员责任。",
}


class LettersConfig(_Model):
    number_prefix: str = Field(default="监预", min_length=1, max_length=16)
    reminder_prefix: str = Field(default="监提", min_length=1, max_length=16)  # numbers of 提醒 notices
    issuer: str = "中共XX县纪律检查委员会 XX县监察委员会"
    header: str | None = None  # 版头 (发文机关标志) of the printed letter; default: the issuer
    printer: str | None = None  # 版记: 印发机关; default: the issuer
    copy_to: list[str] = []  # 抄送机关, printed in the 版记 of every letter
    consequences: dict[Tier, str] = DEFAULT_CONSEQUENCES
    templates: str | None = None  # a folder whose templates override the built-in ones
    delivery: DeliveryConfig = DeliveryConfig()
    #: the largest rectification report file kept in the state store (bytes; default 20 MiB)
    report_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    periodic: PeriodicConfig = PeriodicConfig()
    #: checks whose findings about a person (a voucher's only signer, a case's handler) go in a
    #: letter to that person, copied to the unit (seed 004:66 "对所在单位(部门)或当事人");
    #: empty: every letter goes to the unit
    to_person: list[str] = []

    @field_validator("consequences", mode="before")
    @classmethod
    def _keep_default_consequences(cls, value: Any) -> Any:
        """An office that rewords one tier's consequence keeps the others."""
        return {**DEFAULT_CONSEQUENCES, **value} if isinstance(value, dict) else value


class RouteMatch(Match):
    tier: OneOrMany[Tier] = None
    unit_id: OneOrMany[str] = None
    check: OneOrMany[str] = None


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
