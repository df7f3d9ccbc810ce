"""Spending vouchers (支出凭证) with their signatures (签字审批).

Money is :class:`~decimal.Decimal` from the driver to the finding: a float
from a driver (SQLite stores NUMERIC as REAL) goes through ``str()``, which is
exact for the two-decimal amounts a voucher carries, and every comparison with
a threshold is exact.

The parsers here run a million times per cycle in the benchmark, so they take
the driver's native types (``datetime``, ``Decimal``, ``str``) on a fast path
and fall back to the shared parsers of :mod:`sunlight.monitor.records.base` for
anything else; the errors are the same either way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal, NamedTuple, overload

from sunlight.monitor.calendar import SPAN_FIRST, SPAN_LAST
from sunlight.monitor.records.base import decimal, text, timestamp

EXPENSE_FIELDS = ("voucher_id", "unit_id", "amount", "category", "payee", "paid_at", "decision_id")
SIGNATURE_FIELDS = ("voucher_id", "role", "person_id", "signed_at")

_FIRST = dt.datetime.combine(SPAN_FIRST, dt.time())
_LAST = dt.datetime.combine(SPAN_LAST + dt.timedelta(days=1), dt.time())


@overload
def _ts(row: dict[str, Any], field: str, tz: dt.tzinfo, required: Literal[True]) -> dt.datetime: ...
@overload
def _ts(row: dict[str, Any], field: str, tz: dt.tzinfo, required: bool) -> dt.datetime | None: ...
def _ts(row: dict[str, Any], field: str, tz: dt.tzinfo, required: bool) -> dt.datetime | None:
    v = row.get(field)
    if type(v) is str and len(v) >= 19:  # SQLite hands timestamps over as ISO text
        try:
            v = dt.datetime.fromisoformat(v)
        except ValueError:
            return timestamp(row, field, tz, required=required)
    if type(v) is dt.datetime and v.tzinfo is None and _FIRST <= v < _LAST:
        return v.replace(tzinfo=tz)
    return timestamp(row, field, tz, required=required)


@overload
def _id(row: dict[str, Any], field: str, required: Literal[True] = ...) -> str: ...
@overload
def _id(row: dict[str, Any], field: str, required: bool) -> str | None: ...
def _id(row: dict[str, Any], field: str, required: bool = True) -> str | None:
    v = row.get(field)
    if type(v) is str and v and not v[0].isspace() and not v[-1].isspace():
        return v
    return text(row, field, required=required)


class Signature(NamedTuple):
    """One signature on a voucher. A NamedTuple, not a dataclass: four million per cycle in
    the benchmark, and a frozen dataclass's ``__init__`` costs three times as much."""

    role: str
    person_id: str
    signed_at: dt.datetime | None


class _once:
    """A computed attribute stored in the instance on first use (no lock, unlike
    functools.cached_property in Python 3.11, which costs microseconds per read)."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.name = fn, fn.__name__

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


@dataclass(frozen=True)
class ExpenseRecord:
    """One voucher with its signatures, as it stood at some time (see :meth:`as_of`)."""

    voucher_id: str
    unit_id: str
    amount: Decimal
    category: str | None
    payee: str | None
    paid_at: dt.datetime
    decision_id: str | None
    #: None when the source has no signatures table: then nothing can be said about them
    signatures: tuple[Signature, ...] | None = ()

    @_once
    def signers(self) -> frozenset[str]:
        """The distinct people who signed."""
        return frozenset(s.person_id for s in self.signatures or ())

    @_once
    def by_role(self) -> dict[str, list[Signature]]:
        out: dict[str, list[Signature]] = {}
        for s in self.signatures or ():
            out.setdefault(s.role, []).append(s)
        return out

    def as_of(self, at: dt.datetime) -> ExpenseRecord | None:
        """Not yet paid at ``at`` → None; signatures made after ``at`` are not there yet.

        A signature with no time is kept: nothing says it came later.
        """
        if self.paid_at > at:
            return None
        for s in self.signatures or ():
            if s.signed_at is not None and s.signed_at > at:
                kept = tuple(s for s in self.signatures or () if s.signed_at is None or s.signed_at <= at)
                return replace(self, signatures=kept)
        return self


def parse_expense(row: dict[str, Any], tz: dt.tzinfo,
                  signatures: tuple[Signature, ...] | None = ()) -> ExpenseRecord:
    """An ``expenses`` row → ExpenseRecord, with the signatures the reader parsed for it."""
    voucher_id = _id(row, "voucher_id")
    unit_id = _id(row, "unit_id")
    paid_at = _ts(row, "paid_at", tz, True)
    amount = _amount(row)
    category = row.get("category")
    if category is not None:
        category = text(row, "category", required=False)
        category = category.lower() if category else None
    return ExpenseRecord(
        voucher_id=voucher_id,
        unit_id=unit_id,
        amount=amount,
        category=category,
        payee=text(row, "payee", required=False) if row.get("payee") is not None else None,
        paid_at=paid_at,
        decision_id=_id(row, "decision_id", False) if row.get("decision_id") is not None else None,
        signatures=signatures,
    )


def _amount(row: dict[str, Any]) -> Decimal:
    amount = row.get("amount")
    if type(amount) is not Decimal or not amount.is_finite() or amount < 0:
        amount = decimal(row, "amount")
    return amount


def amount_and_second(amount: Any, paid_at: Any, tz: dt.tzinfo) -> tuple[Decimal, int]:
    """A voucher's amount and ``int(paid_at.timestamp())``, parsed as :func:`parse_expense` does.

    For the columnar path, which feeds ``split_payment`` these values of a
    voucher without building its record (raises BadField as the reader would).
    """
    row = {"amount": amount, "paid_at": paid_at}
    return _amount(row), int(_ts(row, "paid_at", tz, True).timestamp())


def parse_signature(row: dict[str, Any], tz: dt.tzinfo) -> Signature:
    role = row.get("role")
    if type(role) is not str or not role.islower() or not role.isidentifier():
        role = text(row, "role")
        role = role.lower()
    person = row.get("person_id")
    if type(person) is not str or not person or person[0].isspace() or person[-1].isspace():
        person = text(row, "person_id")
    signed = row.get("signed_at")
    if type(signed) is dt.datetime and signed.tzinfo is None and _FIRST <= signed < _LAST:
        signed = signed.replace(tzinfo=tz)
    elif signed is not None:
        signed = _ts(row, "signed_at", tz, False)
    return Signature(role, person, signed)


__all__ = ["EXPENSE_FIELDS", "SIGNATURE_FIELDS", "ExpenseRecord", "Signature", "parse_expense",
           "parse_signature"]
