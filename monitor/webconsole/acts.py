"""The buttons on a letter's page: one line per act of the lifecycle.

Each button names a lifecycle action (:data:`sunlight.alerts.lifecycle.ACTIONS`),
who may press it and which inputs its form carries (a note or a required
reason, the report file, the new rectification date of 延期, the finding of
核实不予追究). Pressing it calls :func:`sunlight.alerts.lifecycle.apply_act`,
the same code as ``sunlight letters …``, with the logged-in account as the
actor. Whether a button is enabled is asked of the lifecycle itself
(``next_status``), so the page never offers an act the lifecycle would
refuse. A button whose action the lifecycle does not know is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sunlight.alerts import lifecycle
from sunlight.monitor.webconsole.accounts import User


@dataclass(frozen=True)
class ActButton:
    action: str  # the lifecycle action
    label: str  # the button, in the office's words
    roles: frozenset[str]  # who may press it
    note: str | None = None  # the label of a text input, when the act takes one
    note_required: bool = False  # the lifecycle's NEED_REASON: the office's own decisions say why
    file: bool = False  # takes the rectification report as an upload
    until: bool = False  # takes the new rectification date (延期)
    finding: bool = False  # names one of the letter's findings (核实不予追究)
    confirm: bool = False  # a second look before an act that cannot be undone from the console


def _roles(*names: str) -> frozenset[str]:
    return frozenset(names)


ACT_BUTTONS: tuple[ActButton, ...] = (
    ActButton("ack", "签收", _roles("staff", "liaison"), note="备注"),
    ActButton("report", "上传整改报告", _roles("staff", "liaison"), note="说明", file=True),
    ActButton("admonition", "登记诫勉谈话", _roles("staff"), note="谈话情况"),
    ActButton("close", "办结", _roles("staff"), note="核查意见", confirm=True),
    # a leader's sign-off (签批) of a 一级 letter
    ActButton("sign_off", "签批", _roles("leader"), note="批示意见"),
    # the office's own acts (letters issue): each says why
    ActButton("withdraw", "撤销", _roles("staff"), note="撤销理由", note_required=True, confirm=True),
    ActButton("extend", "延期", _roles("staff"), note="延期理由", note_required=True, until=True),
    ActButton("explain", "核实不予追究", _roles("staff"), note="核实情况", note_required=True, finding=True),
    ActButton("reopen", "重新打开", _roles("staff"), note="重新打开的理由", note_required=True, confirm=True),
)
BY_ACTION = {b.action: b for b in ACT_BUTTONS}
assert all(b.note_required == (b.action in lifecycle.NEED_REASON)
           for b in ACT_BUTTONS if b.action in lifecycle.ACTIONS), "a reason where the lifecycle needs one"
#: a unit's written explanation (情况说明): an audit entry on the letter, no change of status.
#: Not the lifecycle's ``explain`` (the office accepting it for one finding, 核实不予追究).
STATEMENT = "statement"


@dataclass(frozen=True)
class Offer:
    button: ActButton
    enabled: bool
    reason: str | None  # why not, from the lifecycle


def offers(letter: Any, user: User) -> list[Offer]:
    """The buttons ``user`` sees on ``letter``'s page, each enabled or with the lifecycle's reason."""
    out = []
    for b in ACT_BUTTONS:
        if b.action not in lifecycle.ACTIONS or user.role not in b.roles:
            continue
        try:
            lifecycle.next_status(letter, b.action)
        except lifecycle.TransitionError as exc:
            out.append(Offer(b, False, str(exc)))
        else:
            out.append(Offer(b, True, None))
    return out
