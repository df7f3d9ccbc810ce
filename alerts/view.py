"""A letter as the templates see it: every fact already in the office's words.

Built only from what the store kept when the letter was issued (the findings'
snapshots), so a letter re-sent after a crash is identical. The sentences
themselves (title, opening, requirements, each finding's line and basis) are
not written here but in ``templates/wording.j2``, which every format shares
(:class:`sunlight.alerts.render.Renderer` fills them in).

What never reaches a view: seed file references (``003:565``, kept in the
finding's evidence for the office), config keys, canonical field names and
person ids (checks name people from the ``people`` table).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sunlight.alerts.tiers import is_letter_tier, requirements
from sunlight.checks.quality import ENTITY_ZH, source_label
from sunlight.monitor.clock import UNIT_ZH, LimitUnit
from sunlight.monitor.settings import Settings
from sunlight.monitor.store.letters_models import LetterFindingRow, LetterRow
from sunlight.monitor.zh import zh_date, zh_due

#: the rule every warning letter is sent under (seed 004:64-66, 第十条)
RULE_BASIS = "《廉政风险预警与防范管理办法》第十条"
NUMERALS = "一二三四五六七八九十"
#: half-width punctuation of the seeds' quotations, as a printed letter writes it
_FULL_WIDTH = str.maketrans({",": "，", ";": "；", ":": "：", "(": "（", ")": "）", "?": "？", "!": "！"})


def zh_ordinal(n: int) -> str:
    """1 → 一, 12 → 十二, 23 → 二十三 (enough for the items of one letter)."""
    if n <= 10:
        return NUMERALS[n - 1]
    if n < 20:
        return "十" + NUMERALS[n - 11]
    if n < 100:
        tens, ones = divmod(n, 10)
        return NUMERALS[tens - 1] + "十" + (NUMERALS[ones - 1] if ones else "")
    return str(n)


def full_width(text: str | None) -> str | None:
    """A quotation as printed: full-width punctuation, inner quotes as ‘’ inside the letter's “”."""
    if text is None:
        return None
    return text.translate(_FULL_WIDTH).replace("“", "‘").replace("”", "’")


@dataclass
class FindingView:
    index: str  # 一, 二, ...
    check: str
    check_title: str
    subject: str  # the case number, voucher, decision; for data quality the row (办件HBJ…)
    item: str | None
    summary: str
    deadline: str | None  # 2026年10月9日, or 2026年11月4日9时 for an hour limit
    overdue: str | None  # 20个工作日
    rule_text: str | None
    rule_citation: str | None  # 《…》第X条: never a seed file reference
    rule_quoted: bool  # the rule's own words (quoted), or a statement of it (an item's limit)
    resolved: bool
    is_data: bool  # a data-quality row (the notice words it without a rule)
    line: str = ""  # from wording.j2
    basis_line: str = ""  # from wording.j2


@dataclass
class LetterView:
    """Everything a template needs; the worded fields are filled by the Renderer."""

    number: str
    tier: str
    tier_label: str
    colour: str
    is_notice: bool  # 提醒 / data-quality notice, not a 预警函
    audience: str  # unit | data_owner | person
    you: str  # 你单位, or 你 for a letter to a person
    recipient: str
    source_name: str | None  # a data-quality notice: the source as the office names it
    header: str  # 版头: 发文机关标志
    header_lines: list[str]  # the same, one issuing body a line (联合行文: space-separated in config)
    issuer: str  # 落款
    printer: str  # 版记: 印发机关
    copy_to: str  # 抄送, "、"-joined; "" for none
    issued_date: str
    printed_date: str
    rectify_by: str | None
    requires_report: bool
    requires_admonition: bool
    reason: str
    cites_number: str | None
    cites_tier_label: str | None
    cites_rectify_by: str | None
    repeat_count: int
    repeat_window_months: int
    basis: str
    consequence: str  # what follows if the letter is not answered (config, per tier)
    check_titles: list[str]
    findings: list[FindingView] = field(default_factory=list)
    has_deadlines: bool = False
    assessment: dict[str, Any] | None = None  # 定期预警: the period's figures
    # worded by the Renderer from wording.j2
    title: str = ""
    opening: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    closing: list[str] = field(default_factory=list)
    worded: bool = False


def _overdue_text(snap: dict[str, Any]) -> str | None:
    raw, measure = snap.get("overdue"), snap.get("measure")
    if raw is None or raw.startswith("-"):
        return None
    try:
        unit = UNIT_ZH[LimitUnit(measure)] if measure else ""
    except ValueError:
        unit = measure or ""
    return f"{raw}{unit}"


def _deadline_text(snap: dict[str, Any]) -> str | None:
    deadline = snap.get("deadline")
    if not deadline:
        return None
    return zh_due(dt.datetime.fromisoformat(deadline), snap.get("measure") == LimitUnit.hour.value)


def _finding_view(i: int, snap: dict[str, Any], resolved: bool) -> FindingView:
    rule = snap.get("rule") or {}
    is_data = snap.get("check") == "data_quality"
    subject = snap.get("subject", "")
    if is_data:
        ev = snap.get("evidence") or {}
        subject = f"{ENTITY_ZH.get(ev.get('entity', ''), '记录')}{ev.get('key', '')}"
    return FindingView(
        index=zh_ordinal(i), check=snap.get("check", ""),
        check_title=snap.get("check_title") or snap.get("check", ""),
        subject=subject, item=snap.get("item_name") or snap.get("item_code"),
        summary=snap.get("summary", ""), deadline=_deadline_text(snap),
        overdue=_overdue_text(snap), rule_text=full_width(rule.get("text")),
        rule_citation=rule.get("citation"), rule_quoted=rule.get("quote", True) is not False,
        resolved=resolved, is_data=is_data,
    )


def letter_view(store: Engine, settings: Settings, letter_id: int,
                with_resolutions: bool = False) -> LetterView:
    """The letter as issued; ``with_resolutions`` also marks findings resolved since (for ``show``).

    What is delivered never carries resolutions, so a re-send after a crash is
    byte-for-byte the letter first sent.
    """
    with store.connect() as conn:
        letter = conn.execute(sa.select(LetterRow).where(LetterRow.id == letter_id)).one()
        links = conn.execute(sa.select(LetterFindingRow).where(LetterFindingRow.letter_id == letter_id)
                             .order_by(LetterFindingRow.id)).all()
        cited = None
        if letter.cites_letter_id is not None:
            cited = conn.execute(sa.select(LetterRow).where(LetterRow.id == letter.cites_letter_id)).one()
    return build_view(settings, letter, links, cited, with_resolutions)


def build_view(settings: Settings, letter: Any, links: Sequence[Any], cited: Any | None,
               with_resolutions: bool = False) -> LetterView:
    tz = settings.tz
    labels = settings.tiers.labels
    cfg = settings.letters
    notice = not is_letter_tier(letter.tier)
    req = requirements(letter.tier) if not notice else None
    source = letter.source or ""
    source_cfg = settings.sources.get(source) if source else None
    findings = [_finding_view(i, link.snapshot, with_resolutions and link.resolved_at is not None)
                for i, link in enumerate(links, start=1)]
    issued = zh_date(letter.issued_at.astimezone(tz))
    person = letter.audience == "person"
    return LetterView(
        number=letter.number, tier=letter.tier, tier_label=labels.get(letter.tier, letter.tier),
        colour=settings.tiers.colours.get(letter.tier, "#000000"), is_notice=notice,
        audience=letter.audience, you="你" if person else "你单位",
        # a letter to a person is addressed as official letters address one: 王芳同志
        recipient=f"{letter.recipient}同志" if person else letter.recipient,
        source_name=source_label(source, source_cfg) if letter.audience == "data_owner" else None,
        header=cfg.header or cfg.issuer, header_lines=(cfg.header or cfg.issuer).split(),
        issuer=cfg.issuer, printer=cfg.printer or cfg.issuer,
        # a letter to a person is copied to the person's unit first (抄送), then as configured
        copy_to="、".join(dict.fromkeys([*([letter.copy_to] if person and letter.copy_to else []),
                                        *cfg.copy_to])), issued_date=issued, printed_date=issued,
        rectify_by=zh_date(letter.rectify_by) if letter.rectify_by else None,
        requires_report=bool(req and req.report), requires_admonition=bool(req and req.admonition),
        reason=letter.reason, cites_number=cited.number if cited is not None else None,
        cites_tier_label=labels.get(cited.tier, cited.tier) if cited is not None else None,
        cites_rectify_by=zh_date(cited.rectify_by) if cited is not None and cited.rectify_by else None,
        repeat_count=settings.tiers.repeat.count,
        repeat_window_months=settings.tiers.repeat.window_months, basis=RULE_BASIS,
        consequence=cfg.consequences.get(letter.tier, ""),
        check_titles=list(dict.fromkeys(f.check_title for f in findings if f.check_title)),
        findings=findings, has_deadlines=any(f.deadline for f in findings),
        assessment=getattr(letter, "assessment", None),
    )


__all__ = ["RULE_BASIS", "FindingView", "LetterView", "build_view", "letter_view", "zh_ordinal"]
