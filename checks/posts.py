"""Family R: rotation of key posts (重点岗位轮岗). rules.md, section R.

The seeds say "工作年限较长的人员,及时进行轮岗交流" (003:487, 003:517) without
a number of years: ``max_years`` per risk class is ours (default A: 5 years;
classes not listed are not watched), for the office to set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from pydantic import Field

from sunlight.checks.base import Check, EvalContext, Finding, Params
from sunlight.checks.registry import register
from sunlight.monitor.clock import LimitUnit
from sunlight.monitor.records.posts import PostTenure


def add_years(d: dt.date, years: int) -> dt.date:
    """The same date ``years`` later; 29 Feb becomes 28 Feb in a common year."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


class RotationParams(Params):
    max_years: dict[str, int] = Field(default={"A": 5},
                                      description="risk class → years in one post (ours)")


@register
class PostRotationDue(Check[PostTenure, RotationParams]):
    id = "post_rotation_due"
    tier = "reminder"
    title = "重点岗位到期未轮岗"
    cite = "003:487; 003:517"
    citation = '《关于“五权”工作分岗交流合理配置重点岗位权力实施方案》第二部分第5项'
    basis = "对在同一岗位尤其是重点岗位工作年限较长的人员,及时进行轮岗交流"
    entity = "post_tenures"
    needs = ("people",)
    Params = RotationParams

    def feed(self, t: PostTenure, params: RotationParams, ctx: EvalContext) -> Iterator[Finding]:
        years = params.max_years.get(t.risk_class)
        if years is None or t.ended_at is not None:
            return
        start = t.started_at.astimezone(ctx.tz).date()
        last = add_years(start, years)  # N full years served at the end of this day
        today = ctx.at.date()
        if today <= last:
            return
        over = (today - last).days
        yield self.finding(
            t.key, t.unit_id,
            f"{ctx.unit_name(t.unit_id)}{ctx.person_name(t.person_id)}自{start.year}年{start.month}月{start.day}日起"
            f"任{t.post}（{t.risk_class}类风险岗位），已超过{years}年未轮岗交流",
            deadline=dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=ctx.tz),
            overdue=over, measure=LimitUnit.day,
            evidence={"person_id": t.person_id, "post": t.post, "risk_class": t.risk_class,
                      "started_at": t.started_at.isoformat(), "max_years": years,
                      "rotation_due": last.isoformat(), "as_of": ctx.as_of},
        )
