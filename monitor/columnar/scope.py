"""What the columnar path covers, without polars: the checks it decides and where its tallies go.

The engine asks :func:`applies` for every source before it reads one, and the
daemon's metrics hand it a :class:`Tally`; neither needs polars or Arrow, so
they live here and :mod:`.scan` (which does) is imported only when a source
is evaluated column by column. ``sunlight config check`` and a scan of
sources with ``columnar: false`` never load polars.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sunlight.checks.base import Check
from sunlight.checks.cases import (
    CaseDueSoon,
    CaseOverdue,
    CaseOverdueStatutory,
    ExtensionInvalid,
    RefusalWithoutReason,
    RepeatedSupplement,
    StepOverdue,
)
from sunlight.checks.publications import CaseResultUnpublished
from sunlight.checks.spending import (
    DuplicateRoleSigner,
    HeadSignsDirectly,
    LargeAmountWithoutDecision,
    SignatureChainIncomplete,
    SignatureOrder,
    SingleSignature,
    SplitPayment,
)

#: the checks :func:`.cases.decide` decides, each with its flag column; a cases check not
#: listed makes the engine use the record path
FLAGS: dict[str, str] = {
    CaseOverdue.id: "f_overdue",
    CaseOverdueStatutory.id: "f_statutory",
    CaseDueSoon.id: "f_due_soon",
    StepOverdue.id: "f_step",
    ExtensionInvalid.id: "f_extension",
    RefusalWithoutReason.id: "f_refusal",
    # 补正 more than once needs two pauses: such cases are handed over whole
    RepeatedSupplement.id: "f_never",
    CaseResultUnpublished.id: "f_published",
}


def applies(checks: Sequence[Check]) -> bool:
    """Whether every enabled cases check is one the columnar decision knows."""
    return all(c.id in FLAGS for c in checks)


#: the F checks :func:`.spending.decide` decides (its ``FLAGS`` names their columns)
SPENDING_CHECKS = frozenset({
    SignatureChainIncomplete.id, SingleSignature.id, DuplicateRoleSigner.id, HeadSignsDirectly.id,
    LargeAmountWithoutDecision.id, SplitPayment.id, SignatureOrder.id,
})


def applies_spending(checks: Sequence[Check]) -> bool:
    """Whether every enabled F check is one the columnar voucher decision knows."""
    return all(c.id in SPENDING_CHECKS for c in checks)


@dataclass(frozen=True)
class Tally:
    """Where the per-unit case figures of the columnar rows go (the daemon's metrics)."""

    days: int  # "completed" means within this many days before the as-of time
    add: Callable[[list[dict[str, Any]]], None]  # rows of unit_id, open, overdue, completed, on_time
