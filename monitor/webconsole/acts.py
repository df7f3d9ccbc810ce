"""The buttons on a letter's page: one line per act of the lifecycle.

Each button names a lifecycle action (:data:`sunlight.alerts.lifecycle.ACTIONS`),
who may press it and which inputs its form carries. Pressing it calls
:func:`sunlight.alerts.lifecycle.apply_act`, the same code as
``sunlight letters …``, with the logged-in account as the actor. Whether a
button is enabled is asked of the lifecycle itself (``next_status``), so the
page never offers an act the lifecycle would refuse. A button whose action
the lifecycle does not know yet is not shown: the office's acts of the
letters issue (撤销, 延期, 核实不予追究, 重新打开) appear once
``alerts/lifecycle.py`` has them.
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
    note_required: bool = False
    file: bool = False  # takes the rectification report as an upload
    confirm: bool = False  # a second look before an act that cannot be undone from the console


def _roles(*names: str) -> frozenset[str]:
    return frozenset(names)


ACT_BUTTONS: tuple[ActButton, ...] = (
    ActButton("ack", "签收", _roles("staff", "liaison"), note="备注"),
    ActButton("report", "上传整改报告", _roles("staff", "liaison"), note="说明", file=True),
    ActButton("admonition", "登记诫勉谈话", _roles("staff"), note="谈话情况"),
    ActButton("close", "办结", _roles("staff"), note="核查意见", confirm=True),
    # a leader's sign-off of a 一级 letter, once the lifecycle has the act
    ActButton("sign_off", "签批", _roles("leader"), note="批示意见"),
    # the letters issue (#9) adds these to the lifecycle; they show once it has them
    ActButton("withdraw", "撤销", _roles("staff"), note="撤销理由", note_required=True, confirm=True),
    ActButton("extend", "延期", _roles("staff"), note="延期理由", note_required=True),
    ActButton("accept_explanation", "核实不予追究", _roles("staff"), note="核实情况", note_required=True),
    ActButton("reopen", "重新打开", _roles("staff"), note="理由", note_required=True, confirm=True),
)
BY_ACTION = {b.action: b for b in ACT_BUTTONS}
#: a unit's written explanation: an audit entry on the letter, no change of status
EXPLAIN = "explain"


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
