"""The ``console:`` section of the config: sessions, login throttling, paging, the assessment rule.

Uploaded rectification reports go into the state store through the lifecycle,
bounded by ``letters.report_max_bytes``: the console has no folder of its own.

Only pydantic and durations here: :mod:`sunlight.monitor.settings` imports it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sunlight.monitor.durations import Duration, parse_duration


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssessmentRule(_Model):
    """How 绩效评估 scores a unit for a period: 100 minus the deductions, never below 0.

    The defaults are ours (the seeds name the measures, not their weights) and
    the assessment page says so; an office sets its own here.
    """

    #: points off per finding first seen in the period, by tier
    per_finding: dict[str, float] = {"level1": 6.0, "level2": 3.0, "level3": 1.0, "reminder": 0.0}
    #: points off per letter due in the period that was not closed by its rectification date
    per_unrectified_letter: float = 5.0
    #: points off for a letter on-time rate of 0 (scaled: a rate of 80% costs a fifth of it)
    on_time_weight: float = 20.0
    #: True when an office has set its own rule (the page then stops calling it ours)
    office_rule: bool = False


class ConsoleConfig(_Model):
    """The office's web console, served on ``server.listen``."""

    enabled: bool = True
    #: a session unused this long is logged out
    session_idle: Duration = parse_duration("30m")
    #: a session older than this is logged out however busy
    session_max: Duration = parse_duration("12h")
    #: mark cookies Secure (set when the console is reached through HTTPS)
    secure_cookies: bool = False
    #: wrong passwords in a row that lock an account
    lockout_after: int = Field(5, ge=1)
    #: how long a locked account stays locked
    lockout_for: Duration = parse_duration("15m")
    #: rows per page in the lists
    page_size: int = Field(50, ge=10, le=500)
    assessment: AssessmentRule = AssessmentRule()
