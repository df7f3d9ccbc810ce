"""Tenures in key posts (重点岗位任职): who has held which post since when."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from sunlight.monitor.records.base import BadField, text, timestamp

TENURE_FIELDS = ("person_id", "unit_id", "post", "risk_class", "started_at", "ended_at")


@dataclass(frozen=True, slots=True)
class PostTenure:
    person_id: str
    unit_id: str
    post: str
    risk_class: str
    started_at: dt.datetime
    ended_at: dt.datetime | None

    @property
    def key(self) -> str:
        """Stable subject: the person in this post of this unit."""
        return f"{self.person_id}@{self.unit_id}:{self.post}"

    def as_of(self, at: dt.datetime) -> PostTenure | None:
        """Started after ``at`` → None; ended after ``at`` → still in the post."""
        if self.started_at > at:
            return None
        if self.ended_at is not None and self.ended_at > at:
            return replace(self, ended_at=None)
        return self


def parse_tenure(row: dict[str, Any], tz: dt.tzinfo) -> PostTenure:
    started = timestamp(row, "started_at", tz)
    ended = timestamp(row, "ended_at", tz, required=False)
    assert started is not None
    if ended is not None and ended < started:
        raise BadField("ended_at", f"离岗时间{ended:%Y-%m-%d}早于任职时间{started:%Y-%m-%d}")
    risk = text(row, "risk_class")
    return PostTenure(
        person_id=text(row, "person_id"),
        unit_id=text(row, "unit_id"),
        post=text(row, "post"),
        risk_class=risk.upper(),
        started_at=started,
        ended_at=ended,
    )


__all__ = ["TENURE_FIELDS", "PostTenure", "parse_tenure"]
