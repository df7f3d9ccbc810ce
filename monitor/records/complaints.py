"""Complaints (投诉举报) and requests for information (依申请公开)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from sunlight.monitor.records.base import BadField, boolean, text, timestamp

COMPLAINT_FIELDS = ("complaint_id", "unit_id", "received_at", "real_name", "accepted",
                    "rejection_notified_at", "transferred_at", "result_notified_at", "closed_at")
INFO_REQUEST_FIELDS = ("request_id", "unit_id", "received_at", "extended",
                       "extension_approved_by", "replied_at")


def _not_before(value: dt.datetime | None, start: dt.datetime, field: str, what: str) -> None:
    if value is not None and value < start:
        raise BadField(field, f"{what}{value:%Y-%m-%d %H:%M}早于收到时间{start:%Y-%m-%d %H:%M}")


def _later(record: Any, at: dt.datetime, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: None for f in fields if getattr(record, f) is not None and getattr(record, f) > at}


@dataclass(frozen=True, slots=True)
class ComplaintRecord:
    complaint_id: str
    unit_id: str
    received_at: dt.datetime
    real_name: bool
    accepted: bool | None  # None: not decided (or not recorded)
    rejection_notified_at: dt.datetime | None
    transferred_at: dt.datetime | None
    result_notified_at: dt.datetime | None
    closed_at: dt.datetime | None

    def as_of(self, at: dt.datetime) -> ComplaintRecord | None:
        """Received after ``at`` → None; every later step (notice, transfer, close) undone."""
        if self.received_at > at:
            return None
        changed = _later(self, at, ("rejection_notified_at", "transferred_at",
                                    "result_notified_at", "closed_at"))
        return replace(self, **changed) if changed else self


def parse_complaint(row: dict[str, Any], tz: dt.tzinfo) -> ComplaintRecord:
    received = timestamp(row, "received_at", tz)
    assert received is not None
    times = {f: timestamp(row, f, tz, required=False)
             for f in ("rejection_notified_at", "transferred_at", "result_notified_at", "closed_at")}
    for f, what in (("rejection_notified_at", "不予受理告知时间"), ("transferred_at", "转办时间"),
                    ("result_notified_at", "结果告知时间"), ("closed_at", "办结时间")):
        _not_before(times[f], received, f, what)
    return ComplaintRecord(
        complaint_id=text(row, "complaint_id"),
        unit_id=text(row, "unit_id"),
        received_at=received,
        real_name=bool(boolean(row, "real_name", default=False)),
        accepted=boolean(row, "accepted"),
        **times,
    )


@dataclass(frozen=True, slots=True)
class InfoRequestRecord:
    request_id: str
    unit_id: str
    received_at: dt.datetime
    extended: bool
    extension_approved_by: str | None
    replied_at: dt.datetime | None

    def as_of(self, at: dt.datetime) -> InfoRequestRecord | None:
        """Received after ``at`` → None; a reply sent after ``at`` has not been sent."""
        if self.received_at > at:
            return None
        return replace(self, replied_at=None) if self.replied_at and self.replied_at > at else self


def parse_info_request(row: dict[str, Any], tz: dt.tzinfo) -> InfoRequestRecord:
    received = timestamp(row, "received_at", tz)
    replied = timestamp(row, "replied_at", tz, required=False)
    assert received is not None
    _not_before(replied, received, "replied_at", "答复时间")
    return InfoRequestRecord(
        request_id=text(row, "request_id"),
        unit_id=text(row, "unit_id"),
        received_at=received,
        extended=bool(boolean(row, "extended", default=False)),
        extension_approved_by=text(row, "extension_approved_by", required=False),
        replied_at=replied,
    )


__all__ = ["COMPLAINT_FIELDS", "INFO_REQUEST_FIELDS", "ComplaintRecord", "InfoRequestRecord",
           "parse_complaint", "parse_info_request"]
