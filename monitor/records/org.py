"""Units (单位) and people (人员): small lookup tables every family uses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sunlight.monitor.records.base import boolean, text

UNIT_FIELDS = ("unit_id", "name", "parent_id", "kind")
PERSON_FIELDS = ("person_id", "name", "unit_id", "is_head", "is_finance_leader")


@dataclass(frozen=True, slots=True)
class UnitInfo:
    unit_id: str
    name: str
    kind: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class PersonInfo:
    person_id: str
    name: str
    unit_id: str | None
    is_head: bool = False
    is_finance_leader: bool = False


def parse_unit(row: dict[str, Any], tz: dt.tzinfo) -> UnitInfo:
    unit_id = text(row, "unit_id")
    assert unit_id is not None
    return UnitInfo(
        unit_id=unit_id,
        name=text(row, "name", required=False) or unit_id,
        kind=text(row, "kind", required=False),
        parent_id=text(row, "parent_id", required=False),
    )


def parse_person(row: dict[str, Any], tz: dt.tzinfo) -> PersonInfo:
    person_id = text(row, "person_id")
    assert person_id is not None
    return PersonInfo(
        person_id=person_id,
        name=text(row, "name", required=False) or person_id,
        unit_id=text(row, "unit_id", required=False),
        is_head=bool(boolean(row, "is_head", default=False)),
        is_finance_leader=bool(boolean(row, "is_finance_leader", default=False)),
    )
