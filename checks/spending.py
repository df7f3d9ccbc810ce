"""Family F: spending vouchers and their signatures (财务签字审批). rules.md, section F.

Signature chains are config *profiles*: which roles must sign, in which order,
chosen by unit kind, category and amount band (first matching profile wins).
The two defaults come from the seeds:

- a department (003:567): 经办人 → 审核人 → 分管领导 → 分管财务工作领导;
- a village (003:1253, 003:1299): 经手人签字 → 村务监督委员会审核盖章 →
  村委会主任、村支部书记联签 (the last two are one joint stage, in no order).

No seed gives a figure for "大额": ``large_amount`` (default 50,000 yuan) and
any amount bands are our examples, not the law's; the office sets its own.
Money is Decimal throughout and every threshold comparison is exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sunlight.checks.base import Check, EvalContext, Finding, Params, ParamsT
from sunlight.checks.decisions import decision_faults
from sunlight.checks.registry import register
from sunlight.checks.split_windows import Group, Member, VoucherSpill, amount_of, windows
from sunlight.monitor.readers import loaded
from sunlight.monitor.records.decisions import DecisionRecord
from sunlight.monitor.records.org import PersonInfo
from sunlight.monitor.records.spending import ExpenseRecord

ROLE_ZH = {
    "handler": "经办人", "reviewer": "审核人", "area_leader": "分管领导",
    "finance_leader": "分管财务领导", "head": "主要负责人", "supervisor": "村务监督委员会",
    "director": "村委会主任", "secretary": "村支部书记",
}
CATEGORY_ZH = {"hospitality": "公务接待", "travel": "差旅", "procurement": "物资采购",
               "project": "工程项目", "other": "其他"}


def role_zh(role: str) -> str:
    return ROLE_ZH.get(role, role)


#: roles in the order a voucher is signed (003:567, then the village chain of 003:1253)
SIGNING_ORDER = ("handler", "reviewer", "area_leader", "finance_leader", "head",
                 "supervisor", "director", "secretary")


def signing_order(roles: Iterator[str] | list[str] | set[str], plan: ChainPlan | None = None
                  ) -> list[str]:
    """Roles in the order they sign: the voucher's chain first, then the usual order."""
    chain = list(plan.roles) if plan is not None else []
    rank = {r: i for i, r in enumerate(chain + [r for r in SIGNING_ORDER if r not in chain])}
    return sorted(set(roles), key=lambda r: (rank.get(r, len(rank)), r))


def yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}元"


def money(amount: Decimal) -> str:
    """Exact text of an amount, in fen when it has no finer digits: the same on every engine."""
    return f"{amount:.2f}" if amount == amount.quantize(Decimal("0.01")) else str(amount)


def _what(v: ExpenseRecord) -> str:
    cat = f"，{CATEGORY_ZH.get(v.category, v.category)}" if v.category else ""
    return f"凭证{v.voucher_id}（{yuan(v.amount)}{cat}）"


def _sig_evidence(v: ExpenseRecord) -> list[dict[str, Any]]:
    return [{"role": s.role, "person_id": s.person_id,
             "signed_at": s.signed_at.isoformat() if s.signed_at else None}
            for s in v.signatures or ()]


def _evidence(v: ExpenseRecord, **more: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"voucher_id": v.voucher_id, "amount": money(v.amount),
                          "category": v.category, "payee": v.payee,
                          "paid_at": v.paid_at.isoformat(), "decision_id": v.decision_id,
                          "signatures": _sig_evidence(v)}
    ev.update(more)
    return ev


# --- chain profiles ---------------------------------------------------------------


class ChainProfile(BaseModel):
    """Who must sign a voucher: stages in order; a list inside ``chain`` is a joint stage (联签)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    unit_kinds: list[str] | None = None  # None: any unit
    categories: list[str] | None = None  # None: any category
    min_amount: Decimal = Field(default=Decimal(0), ge=0)  # band: min_amount <= amount
    below: Decimal | None = Field(default=None, gt=0)  # ... and amount < below (None: no top)
    chain: list[str | list[str]] = Field(min_length=1)
    #: the rule this chain comes from, as letters quote it (None: the department rule, 003:567)
    basis: str | None = None
    citation: str | None = None

    @model_validator(mode="after")
    def _band(self) -> ChainProfile:
        if self.below is not None and self.below <= self.min_amount:
            raise ValueError(f"below ({self.below}) must be more than min_amount ({self.min_amount})")
        return self

    @property
    def stages(self) -> tuple[tuple[str, ...], ...]:
        return tuple((s,) if isinstance(s, str) else tuple(s) for s in self.chain)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(r for stage in self.stages for r in stage)

    def applies(self, v: ExpenseRecord, unit_kind: str | None) -> bool:
        return ((self.unit_kinds is None or unit_kind in self.unit_kinds)
                and (self.categories is None or v.category in self.categories)
                and self.min_amount <= v.amount
                and (self.below is None or v.amount < self.below))


DEFAULT_PROFILES = [
    ChainProfile(name="village", unit_kinds=["village"],
                 chain=["handler", "supervisor", ["director", "secretary"]],
                 basis=("村组各项支出必须由经手人签字和村务监督委员审核盖章或签字，"
                        "经村委会主任、村支部书记联签会审后方可入账"),  # 003:1253
                 citation=("《关于“五权”工作全面实行“3+1”模式深入推进农村基层党风廉政建设实施方案》"
                           "第二部分第（二）项")),
    ChainProfile(name="department", chain=["handler", "reviewer", "area_leader", "finance_leader"]),
]


class ChainParams(Params):
    profiles: list[ChainProfile] = Field(default=DEFAULT_PROFILES, min_length=1,
                                         description="first matching profile wins")


class ChainPlan:
    """A profile compiled for the hot path: role → stage number, and the roles in order."""

    __slots__ = ("profile", "roles", "stage_of")

    def __init__(self, profile: ChainProfile) -> None:
        self.profile = profile
        self.roles = profile.roles
        self.stage_of = {r: i for i, stage in enumerate(profile.stages) for r in stage}


def chain_plan(v: ExpenseRecord, ctx: EvalContext, cache: dict[Any, Any]) -> ChainPlan | None:
    """The voucher's signature profile (first match), cached per unit and category.

    When a profile has an amount band the choice depends on the amount too:
    then the profiles are matched per voucher (the cache must not grow with
    every distinct amount), and only the compiled plans are cached.
    """
    banded = cache.get(_BANDED)
    if banded is None:
        table = ctx.params.get(SignatureChainIncomplete.id)
        raws = [table.base, *(d for _, d in table.overrides)] if table is not None else []
        # a band narrows a profile only by a value other than the default (min 0, no top):
        # a config that spells the defaults out keeps the per-unit cache
        banded = cache[_BANDED] = any(
            p.get("below") is not None or Decimal(str(p.get("min_amount") or 0)) != 0
            for raw in raws for p in raw.get("profiles") or () if isinstance(p, dict))
    key = (v.unit_id, v.category)
    if not banded:
        try:
            return cache[key]
        except KeyError:
            pass
    info = ctx.units.get(v.unit_id)
    kind = info.kind if info else None
    table = ctx.params.get(SignatureChainIncomplete.id)
    params: ChainParams = table.for_(v.unit_id, kind) if table is not None else ChainParams()
    profile = next((p for p in params.profiles if p.applies(v, kind)), None)
    if profile is None:
        plan = None
    else:
        plan = cache.get(id(profile))
        if plan is None:
            plan = cache[id(profile)] = ChainPlan(profile)
    if not banded:
        cache[key] = plan
    return plan


_BANDED = object()


class _VoucherCheck(Check[ExpenseRecord, ParamsT]):
    """F checks read vouchers; ``feed`` returns a tuple (no generator per voucher: hot path)."""

    entity = "expenses"

    def __init__(self) -> None:
        self.plans: dict[Any, ChainPlan | None] = {}


@register
class SignatureChainIncomplete(_VoucherCheck[ChainParams]):
    id = "signature_chain_incomplete"
    tier = "level3"
    title = "报销签字审批程序不全"
    cite = "003:567; 003:1253; 003:1299"
    citation = '《关于“五权”工作从分解制衡入手合理配置一把手权力实施方案》第三部分第二项'
    basis = "财务报账按经办人、审核人、分管领导、分管财务工作领导的程序履行签字审批后方能报销"
    Params = ChainParams

    def rule_for(self, profile: ChainProfile) -> dict[str, str | bool | None]:
        """The chain's own rule: a village voucher is held to the village rule, not the department's."""
        if profile.basis:
            return {"cite": "003:1253" if profile.name == "village" else "config",
                    "citation": profile.citation, "text": profile.basis}
        return self.rule()

    def feed(self, v: ExpenseRecord, params: ChainParams, ctx: EvalContext) -> tuple[Finding, ...]:
        if v.signatures is None:
            return ()
        plan = chain_plan(v, ctx, self.plans)
        if plan is None:
            return ()
        signed = v.by_role
        missing = [r for r in plan.roles if r not in signed]  # in the chain's (signing) order
        if not missing:
            return ()
        names = "、".join(role_zh(r) for r in missing)
        return (self.finding(
            v.voucher_id, v.unit_id, f"{_what(v)}缺少{names}签字",
            evidence=_evidence(v, profile=plan.profile.name, chain=plan.profile.chain,
                               missing_roles=missing),
            rule=self.rule_for(plan.profile),
        ),)


class SingleParams(Params):
    min_signers: int = Field(default=2, ge=2, description="distinct people who must sign")


@register
class SingleSignature(_VoucherCheck[SingleParams]):
    id = "single_signature"
    tier = "level2"
    title = "一支笔审批"
    cite = "000:2252; 003:567"
    citation = '《关于“五权”工作从分解制衡入手合理配置一把手权力实施方案》第三部分第二项'
    basis = '财务报账按经办人、审核人、分管领导、分管财务工作领导的程序履行签字审批后方能报销'
    needs = ("people",)
    Params = SingleParams

    def feed(self, v: ExpenseRecord, params: SingleParams, ctx: EvalContext) -> tuple[Finding, ...]:
        if v.signatures is None:
            return ()
        people = v.signers
        if len(people) >= params.min_signers:
            return ()
        who = f"仅由{ctx.person_name(next(iter(people)))}一人签字" if people else "无人签字"
        # the only signer is the person the finding is about (letters.to_person, seed 004:66)
        only = {"person_id": next(iter(people))} if len(people) == 1 else {}
        return (self.finding(v.voucher_id, v.unit_id, f"{_what(v)}{who}即报销",
                             evidence=_evidence(v, signers=sorted(people), **only)),)


@register
class DuplicateRoleSigner(_VoucherCheck[Params]):
    id = "duplicate_role_signer"
    tier = "level3"
    title = "一人兼签多个审批环节"
    cite = "003:467; 003:477"
    citation = '《关于“五权”工作分岗交流合理配置重点岗位权力实施方案》第一部分'
    basis = "实行审查与批准相分离、定事与办事相分离、承办与监督相分离"
    needs = ("people",)

    def feed(self, v: ExpenseRecord, params: Params, ctx: EvalContext) -> tuple[Finding, ...]:
        if not v.signatures or len(v.signatures) < 2 or len(v.signers) == len(v.signatures):
            return ()  # every signature by a different person
        plan = chain_plan(v, ctx, self.plans)
        chain = set(plan.roles) if plan else None
        roles_of: dict[str, set[str]] = {}
        for s in v.signatures:
            if chain is None or s.role in chain:
                roles_of.setdefault(s.person_id, set()).add(s.role)
        doubled = {p: signing_order(r, plan) for p, r in sorted(roles_of.items()) if len(r) > 1}
        if not doubled:
            return ()
        text = "；".join(f"{ctx.person_name(p)}同时作为{'、'.join(role_zh(r) for r in rs)}签字"
                        for p, rs in doubled.items())
        return (self.finding(v.voucher_id, v.unit_id, f"{_what(v)}{text}",
                             evidence=_evidence(v, doubled=doubled)),)


class HeadParams(Params):
    roles: list[str] = Field(default=["handler", "reviewer", "area_leader", "finance_leader"],
                             description="roles the unit head may not sign in")
    categories: list[str] | None = Field(default=None,
                                         description="categories the rule covers (None: all)")


@register
class HeadSignsDirectly(_VoucherCheck[HeadParams]):
    id = "head_signs_directly"
    tier = "level3"
    title = "一把手直接分管财务签字"
    cite = "003:561; 000:900"
    citation = '《关于“五权”工作从分解制衡入手合理配置一把手权力实施方案》第二部分'
    basis = "“一把手”不直接分管行政审批、财务、干部人事、建筑工程、物资采购等具体工作"
    needs = ("people",)
    Params = HeadParams

    def __init__(self) -> None:
        super().__init__()
        self._heads: dict[str, PersonInfo] | None = None

    def _head_index(self, ctx: EvalContext) -> dict[str, PersonInfo] | None:
        if self._heads is None:
            people = loaded(ctx.tables, "people")
            if people is None:
                return None
            self._heads = {p.person_id: p for p in people if p.is_head}
        return self._heads

    def feed(self, v: ExpenseRecord, params: HeadParams, ctx: EvalContext) -> tuple[Finding, ...]:
        if not v.signatures:
            return ()
        if params.categories is not None and v.category not in params.categories:
            return ()
        heads = self._heads if self._heads is not None else self._head_index(ctx)
        if not heads:
            return ()
        hits = []
        for s in v.signatures:
            head = heads.get(s.person_id)
            if head is not None and s.role in params.roles and head.unit_id in (None, v.unit_id):
                hits.append((head, s.role))
        if not hits:
            return ()
        order = signing_order([r for _, r in hits], chain_plan(v, ctx, self.plans))
        hits.sort(key=lambda hit: order.index(hit[1]))
        text = "、".join(f"主要负责人{h.name}以{role_zh(r)}身份签字" for h, r in hits)
        return (self.finding(v.voucher_id, v.unit_id, f"{_what(v)}{text}",
                             evidence=_evidence(v, head_signed=[{"person_id": h.person_id,
                                                                 "name": h.name, "role": r}
                                                                for h, r in hits])),)


class LargeParams(Params):
    large_amount: Decimal = Field(default=Decimal("50000"), gt=0,
                                  description="yuan; ours, not the seeds' (they give no figure)")


def large_amount(v: ExpenseRecord, ctx: EvalContext) -> Decimal:
    return unit_large_amount(v.unit_id, ctx)


def unit_large_amount(unit_id: str, ctx: EvalContext) -> Decimal:
    """``large_amount_without_decision``'s threshold for a unit (it depends on nothing else)."""
    table = ctx.params.get(LargeAmountWithoutDecision.id)
    if table is None:
        return LargeParams().large_amount
    info = ctx.units.get(unit_id)
    return table.for_(unit_id, info.kind if info else None).large_amount


class _DecisionIndex:
    """The decisions of this source by id, loaded once per scan."""

    def __init__(self) -> None:
        self._by_id: dict[str, DecisionRecord] | None = None
        self.absent = False

    def get(self, ctx: EvalContext, decision_id: str) -> DecisionRecord | None:
        if self._by_id is None:
            rows = loaded(ctx.tables, "decisions")
            self.absent = rows is None
            self._by_id = {d.decision_id: d for d in rows or ()}
        return self._by_id.get(decision_id)


def decision_problem(v: ExpenseRecord, index: _DecisionIndex, ctx: EvalContext) -> str | None:
    """Why the voucher's decision does not authorise it (Chinese), or None when it does."""
    if v.decision_id is None:
        return "无集体决策依据"
    d = index.get(ctx, v.decision_id)
    if d is None:
        return f"所引决策{v.decision_id}不存在"
    if d.unit_id != v.unit_id:
        return f"所引决策{v.decision_id}属于其他单位"
    if d.meeting_at is not None and d.meeting_at > v.paid_at:
        return f"所引决策{v.decision_id}晚于付款（事后补决策）"
    if d.amount is not None and d.amount < v.amount:
        return f"所引决策{v.decision_id}批准金额{yuan(d.amount)}小于支付金额"
    faults = decision_faults(d, ctx)
    if faults:
        return f"所引决策{v.decision_id}不合规：{'；'.join(why for _, why in faults)}"
    return None


@register
class LargeAmountWithoutDecision(_VoucherCheck[LargeParams]):
    id = "large_amount_without_decision"
    tier = "level2"
    title = "大额资金未经集体决策"
    cite = "003:567; 003:811; 004:102; 000:2460"
    citation = '《关于“五权”工作从分解制衡入手合理配置一把手权力实施方案》第三部分第二项'
    basis = '对于大额的需要经过领导班子会议集体审定'
    needs = ("decisions", "people")  # people: a faulty decision names its 分管领导
    Params = LargeParams

    def __init__(self) -> None:
        super().__init__()
        self.decisions = _DecisionIndex()

    def feed(self, v: ExpenseRecord, params: LargeParams, ctx: EvalContext) -> tuple[Finding, ...]:
        if v.amount < params.large_amount:
            return ()
        why = decision_problem(v, self.decisions, ctx)
        if why is None or (self.decisions.absent and v.decision_id is not None):
            return ()  # a cited decision in a source without a decisions table cannot be judged
        return (self.finding(
            v.voucher_id, v.unit_id,
            f"{_what(v)}达到大额标准{yuan(params.large_amount)}，{why}",
            evidence=_evidence(v, large_amount=money(params.large_amount), problem=why),
        ),)


class SplitParams(Params):
    window_days: int = Field(default=30, ge=1, description="calendar days a group may span")
    large_amount: Decimal | None = Field(
        default=None, gt=0, description="threshold; None: large_amount_without_decision's")


@register
class SplitPayment(_VoucherCheck[SplitParams]):
    """Payments to one payee in a window that together reach the threshold (rules.md:46).

    ``feed`` only keeps the vouchers that could take part (on disk, see
    :mod:`sunlight.checks.split_windows`); ``finish`` reads them back by unit,
    payee and time and closes each window as soon as a later voucher lies
    beyond it, so memory holds one open window, not every voucher of the scan.
    """

    id = "split_payment"
    tier = "level2"
    title = "拆分支付规避集体决策"
    cite = "ours (evading 003:567, 004:102)"
    citation = '《关于“五权”工作从分解制衡入手合理配置一把手权力实施方案》第三部分第二项'
    basis = '对于大额的需要经过领导班子会议集体审定'
    needs = ("decisions", "people")  # people: a faulty decision names its 分管领导
    Params = SplitParams

    def __init__(self) -> None:
        super().__init__()
        self.spill = VoucherSpill()
        #: per unit, from its first kept voucher: (threshold, window days); the params of a
        #: voucher depend on its unit only (no item code), so one entry holds for every payee
        self.rules: dict[str, tuple[Decimal, int]] = {}
        self.thresholds: dict[str, Decimal] = {}
        self.decisions = _DecisionIndex()

    def feed(self, v: ExpenseRecord, params: SplitParams, ctx: EvalContext) -> tuple[Finding, ...]:
        if v.payee is None:
            return ()
        threshold = self._threshold(v.unit_id, params, ctx)
        if v.amount >= threshold:
            return ()
        if v.decision_id is not None and decision_problem(v, self.decisions, ctx) is None:
            return ()  # authorised by a sound collective decision: not an evasion
        self._keep(v.unit_id, v.payee, int(v.paid_at.timestamp()), v.voucher_id, v.amount,
                   threshold, params)
        return ()

    def keep(self, unit_id: str, payee: str, t: int, voucher_id: str, amount: Decimal,
             params: SplitParams, ctx: EvalContext) -> None:
        """``feed`` of a voucher that has a payee and cites no decision, from its values alone.

        The columnar path (``monitor/columnar/scan_spending.py``) calls it with the
        values the reader would give (``t``: ``int(paid_at.timestamp())``), in the
        stream's order, instead of building the voucher's record: this check reads
        nothing else of a voucher without a decision.
        """
        threshold = self._threshold(unit_id, params, ctx)
        if amount < threshold:
            self._keep(unit_id, payee, t, voucher_id, amount, threshold, params)

    def _threshold(self, unit_id: str, params: SplitParams, ctx: EvalContext) -> Decimal:
        threshold = params.large_amount or self.thresholds.get(unit_id)
        if threshold is None:
            threshold = self.thresholds[unit_id] = unit_large_amount(unit_id, ctx)
        return threshold

    def _keep(self, unit_id: str, payee: str, t: int, voucher_id: str, amount: Decimal,
              threshold: Decimal, params: SplitParams) -> None:
        if unit_id not in self.rules:
            self.rules[unit_id] = (threshold, params.window_days)
        self.spill.add(unit_id, payee, t, voucher_id, amount)

    def finish(self, ctx: EvalContext) -> Iterator[Finding]:
        try:
            for group, members in self.spill.rows():
                threshold, days = self.rules[group.unit_id]
                for window in windows(group, members, days * 86400, threshold):
                    yield self._found(group, window, threshold, days, ctx)
        finally:
            self.spill.close()

    def _found(self, group: Group, members: list[Member], threshold: Decimal, days: int,
               ctx: EvalContext) -> Finding:
        amounts = [amount_of(m, group.inexact_from) for m in members]
        total = Decimal(0)
        for a in amounts:  # in window order, as the total was always summed
            total += a
        vouchers = [{"voucher_id": m[1], "amount": money(a),
                     "paid_at": dt.datetime.fromtimestamp(m[0], ctx.tz).isoformat()}
                    for m, a in zip(members, amounts, strict=True)]
        unit_id, payee = group.unit_id, group.payee
        return self.finding(
            f"{unit_id}:{payee}:{members[0][1]}", unit_id,
            f"向{payee}在{days}日内分{len(members)}笔支付合计{yuan(total)}，每笔均低于大额标准"
            f"{yuan(threshold)}，合计达到标准，疑似拆分规避集体决策",
            evidence={"payee": payee, "window_days": days, "total": money(total),
                      "large_amount": money(threshold), "vouchers": vouchers},
        )


@register
class SignatureOrder(_VoucherCheck[Params]):
    id = "signature_order"
    tier = "reminder"
    title = "签字审批顺序颠倒"
    cite = "003:567"
    citation = '《关于“五权”工作从分解制衡入手合理配置一把手权力实施方案》第三部分第二项'
    basis = "财务报账按经办人、审核人、分管领导、分管财务工作领导的程序履行签字审批后方能报销"

    def feed(self, v: ExpenseRecord, params: Params, ctx: EvalContext) -> tuple[Finding, ...]:
        sigs = v.signatures
        if not sigs or len(sigs) < 2:
            return ()
        plan = chain_plan(v, ctx, self.plans)
        if plan is None:
            return ()
        # in time order (ties: earlier stage first) the stages must never go back
        stage_of = plan.stage_of
        timed = sorted([(s.signed_at, stage_of[s.role]) for s in sigs
                        if s.signed_at is not None and s.role in stage_of])
        if all(a[1] <= b[1] for a, b in pairwise(timed)):
            return ()
        return tuple(self._explain(v, plan))

    def _explain(self, v: ExpenseRecord, plan: ChainPlan) -> Iterator[Finding]:
        latest: tuple[str, dt.datetime] | None = None  # the latest signature of earlier stages
        for stage in plan.profile.stages:
            times = [(s.signed_at, r) for r in stage for s in v.by_role.get(r, ())
                     if s.signed_at is not None]
            if not times:
                continue
            first_t, first_r = min(times)
            if latest is not None and first_t < latest[1]:
                yield self.finding(
                    v.voucher_id, v.unit_id,
                    f"{_what(v)}{role_zh(first_r)}于{first_t:%Y-%m-%d %H:%M}签字，"
                    f"早于前一环节{role_zh(latest[0])}（{latest[1]:%Y-%m-%d %H:%M}）",
                    evidence=_evidence(v, profile=plan.profile.name, chain=plan.profile.chain,
                                       out_of_order={"role": first_r, "signed_at": first_t.isoformat(),
                                                     "after_role": latest[0],
                                                     "after_signed_at": latest[1].isoformat()}),
                )
                return
            last_t, last_r = max(times)
            if latest is None or last_t > latest[1]:
                latest = (last_r, last_t)
