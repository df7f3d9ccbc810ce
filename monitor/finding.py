"""A finding: one broken rule on one subject, the value checks produce and the store keeps.

Below both the checks (which make findings) and the store (which records
them), so that the store does not import the rule library.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from sunlight.monitor.clock import LimitUnit
from sunlight.monitor.vocab import Tier

__all__ = ["Finding", "fingerprint", "json_number"]


def fingerprint(check: str, subject: str) -> str:
    """Stable identity of a finding (invariant 3): the same check on the same subject."""
    return hashlib.sha256(f"{check}\x1f{subject}".encode()).hexdigest()[:24]


@dataclass(slots=True)
class Finding:
    """One broken rule on one subject, with everything needed to verify it by hand."""

    check: str
    subject: str
    unit_id: str
    tier: Tier
    summary: str  # one line in Chinese for consoles, messages and letters
    deadline: dt.datetime | None = None  # the last on-time second, in the configured zone
    overdue: Decimal | int | None = None  # in ``measure``; negative: time left
    measure: LimitUnit | None = None
    calendar_uncovered: bool = False
    item_code: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    #: the violation has ended in the source (the late case completed, the late reply sent) but
    #: stays on record: its lateness counts, yet a letter about it is rectified (letters.md)
    ended_at: dt.datetime | None = None
    #: the key of the record whose evaluation produced it (set by the engine, for the cases):
    #: what an incremental run resolves by (monitor/incremental.py)
    record_key: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.check, self.subject)

    def to_json(self, unit_name: str | None = None) -> dict[str, Any]:
        """The documented ``scan --format json`` object; ``unit_name`` as the units table names it."""
        return {
            "check": self.check,
            "fingerprint": self.fingerprint,
            "subject": self.subject,
            "unit": self.unit_id,
            "unit_name": unit_name,
            "tier": self.tier,
            "summary": self.summary,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "overdue": json_number(self.overdue),
            "measure": self.measure.value if self.measure else None,
            "calendar_uncovered": self.calendar_uncovered,
            "item_code": self.item_code,
            "source": self.source,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "evidence": self.evidence,
        }

    def to_json_line(self, unit_name: str | None = None) -> str:
        """:meth:`to_json` as one line of JSON, newline included (``scan --format json``).

        orjson, not the stdlib encoder: findings carry long Chinese evidence,
        and json.dumps took about 25 µs a finding, a tenth of a big scan.
        """
        return self.to_json_bytes(unit_name).decode()

    def to_json_bytes(self, unit_name: str | None = None) -> bytes:
        """:meth:`to_json_line` as UTF-8 bytes: what a pipe or file receives, without a decode
        and an encode of ~1.3 kB of evidence per finding."""
        return orjson.dumps(self.to_json(unit_name), option=orjson.OPT_APPEND_NEWLINE)


def json_number(v: Decimal | int | None) -> int | float | None:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v
