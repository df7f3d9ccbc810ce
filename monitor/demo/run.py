"""``sunlight demo``: a working folder with sample sources and config, one cycle, a summary.

Everything is embedded (SQLite files in the folder, no server), and the
evaluation runs as of a fixed date so the output is the same on every machine.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
import typer

from sunlight.checks.base import Finding
from sunlight.checks.registry import load_all
from sunlight.monitor.calendar import WorkCalendar
from sunlight.monitor.cli_common import load_or_exit, open_state, parse_at, store_failures
from sunlight.monitor.clock import UNIT_ZH
from sunlight.monitor.console import table
from sunlight.monitor.cycle import deliver, issue
from sunlight.monitor.daemon import run as run_daemon
from sunlight.monitor.demo import cases as sample
from sunlight.monitor.demo import complaints, decisions, posts, publications, spending
from sunlight.monitor.demo.schema import create_all
from sunlight.monitor.demo.schema import metadata as canonical
from sunlight.monitor.engine import Engine, scan_and_record
from sunlight.monitor.vocab import Tier

DEMO_CONFIG = """\
# sunlight demo config: written by `sunlight demo`. Paths are relative to this file.
# The full, commented reference is config/reference.yaml in the source tree.
timezone: Asia/Shanghai
state:
  url: sqlite:///state.db
sources:
  approvals:                       # the county approval system (办件库)
    url: sqlite:///approvals.db
    interval: 5m
    data_owner: 县政务服务中心信息科
    display_name: 县政务服务中心行政审批系统
  finance:                         # the county finance and village 三资 agency system (财务库)
    url: sqlite:///finance.db
    interval: 1h
    data_owner: 县财政局信息中心
    display_name: 县财政局财务及村级“三资”代理服务系统
checks:
  case_due_soon: {warn_remaining: 2}
  case_overdue_statutory:          # each item's own statutory basis, quoted in letters
    bases:
      YJ-002: {basis: 非煤矿矿山企业安全生产许可证颁发的法定时限为45个工作日,
               citation: 《非煤矿矿山企业安全生产许可证初审制度》第六部分, cite: "000:1162"}
  extension_invalid: {max_extension: 10}
  case_result_unpublished: {within: 5, since: 2026-08-01}
  large_amount_without_decision: {large_amount: "50000.00"}  # an example figure: the seeds give none
  post_rotation_due: {max_years: {A: 5, B: 8}}               # ours, not the seeds'
  publication_missing:
    obligations:
      - {subject: village_affairs, name: 村务公开, units: {kind: village}, period: quarter,
         due: {day_of_next_period: 15}, since: 2026-Q1, cite: "003:1085",
         basis: 每季度第一个月15日前召开一次村务公开发布会，对上一季度村务情况予以发布,
         citation: 《关于“五权”工作推进村务公开发言人制度实施方案》第三部分第1项}
      - {subject: village_finance, name: 村级财务公开, units: {kind: village}, period: month,
         due: {day_of_next_period: 10}, since: 2026-07, cite: "003:1259",
         basis: 各行政村的财务公开内容由“三资”代理服务中心统一提供，财务要逐笔逐项每月公开,
         citation: 《关于“五权”工作全面实行“3+1”模式深入推进农村基层党风廉政建设实施方案》第二部分第（二）项}
      - {subject: fund_use, name: 部门经费使用情况公开, units: {kind: department}, period: half_year,
         due: {workdays_after_period: 10}, since: 2026-H1, cite: "002:264-272"}
  overrides:
    - match: {item_code: YJ-002}   # mine safety: warn earlier
      case_due_soon: {warn_remaining: 5}
letters:
  number_prefix: 监预
  issuer: 中共示范县纪律检查委员会 示范县监察委员会
  copy_to: [县人民政府办公室]      # 抄送, printed in the 版记
  printer: 中共示范县纪委监委办公室  # 印发机关, in the 版记
routes:
  - to: [letters_folder]           # catch-all: every letter is written to the folder
channels:
  letters_folder: {type: folder, path: letters}
server:
  listen: "{listen}"
"""

#: what the demo writes into its folder, and so would replace
DEMO_FILES = ("sunlight.yaml", "state.db", "state.db-wal", "state.db-shm", "approvals.db",
              "finance.db", "letters")


def build_sources(folder: Path, n_cases: int = 360) -> Path:
    """Create ``approvals.db`` with sample cases (and a few unreadable rows)."""
    db = folder / "approvals.db"
    db.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{db}")
    create_all(engine, ["units", "people", "cases", "case_pauses", "case_extensions", "case_steps"])
    t = canonical.tables
    completed = []
    with engine.begin() as conn:
        conn.execute(sa.insert(t["units"]), [
            {"unit_id": u, "name": name, "kind": kind, "parent_id": None}
            for u, name, kind in sample.UNITS + VILLAGES
        ])
        for batch in sample.generate(n_cases):
            completed += [(c["case_id"], c["unit_id"], c["completed_at"], c["outcome"])
                          for c in batch.cases if c["completed_at"] is not None]
            conn.execute(sa.insert(t["cases"]), batch.cases)
            if batch.pauses:
                conn.execute(sa.insert(t["case_pauses"]), batch.pauses)
            if batch.extensions:
                conn.execute(sa.insert(t["case_extensions"]), batch.extensions)
            if batch.steps:
                conn.execute(sa.insert(t["case_steps"]), batch.steps)
        conn.execute(sa.insert(t["cases"]), [
            {c.name: row.get(c.name) for c in t["cases"].columns} for row in sample.BAD_CASES
        ])
        # a time no one can read, as a careless import leaves it: bypass the column type
        conn.exec_driver_sql(
            "INSERT INTO cases (case_id, unit_id, item_code, item_name, accepted_at, "
            "promised_limit, limit_unit) VALUES ('SJJ202610200095', 'SJJ', 'SJ-001', "
            "'食品经营许可', '2026年10月20日上午', 10, 'workday')"
        )
    add_disclosure(engine, completed)
    engine.dispose()
    return db


# --- families P, F, D, K, R (issue #5) -------------------------------------------------

VILLAGES: list[tuple[str, str, str]] = [
    ("CGDC", "城关镇东村村委会", "village"),
    ("CGXC", "城关镇西村村委会", "village"),
    ("HKNC", "河口镇南村村委会", "village"),
]


def add_disclosure(engine: sa.Engine, completed: list[tuple]) -> None:
    """Publications, complaints and information requests in the approvals database."""

    cal = WorkCalendar()
    villages = [u for u, _, _ in VILLAGES]
    departments = [u for u, _, kind in sample.UNITS if kind == "department"]
    rows = (
        publications.periodic(villages, "village_affairs", "2026-Q1", "2026-Q3", 15,
                              skip={("CGXC", "2026-Q3")}, late={("HKNC", "2026-Q2")})
        + publications.periodic(villages, "village_finance", "2026-07", "2026-10", 10,
                                skip={("CGDC", "2026-10")}, late={("CGXC", "2026-08")})
        + publications.periodic(departments, "fund_use", "2026-H1", "2026-H1", 14,
                                skip={("JYJ", "2026-H1")})
        + publications.case_results(completed, cal)
        + publications.BAD_PUBLICATIONS
    )
    create_all(engine, ["publications", "complaints", "info_requests"])
    t = canonical.tables
    units = [u for u, _, _ in sample.UNITS]
    with engine.begin() as conn:
        conn.execute(sa.insert(t["publications"]), rows)
        conn.execute(sa.insert(t["complaints"]), [
            {c.name: row.get(c.name) for c in t["complaints"].columns}
            for row in complaints.complaints(units, cal)])
        conn.execute(sa.insert(t["info_requests"]), complaints.info_requests(units, cal))


def build_finance(folder: Path, n_vouchers: int = 300) -> Path:
    """Create ``finance.db``: vouchers with signatures, people, decisions, key-post tenures."""

    db = folder / "finance.db"
    db.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{db}")
    create_all(engine, ["units", "people", "expenses", "expense_signatures", "decisions",
                        "post_tenures"])
    t = canonical.tables
    units = sample.UNITS + VILLAGES
    with engine.begin() as conn:
        conn.execute(sa.insert(t["units"]), [
            {"unit_id": u, "name": name, "kind": kind, "parent_id": None} for u, name, kind in units])
        signers = spending.people(units)
        conn.execute(sa.insert(t["people"]), signers + posts.people([u for u, _, _ in units],
                                                                     len(signers)))
        conn.execute(sa.insert(t["decisions"]), decisions.generate(units) + decisions.BAD_DECISIONS)
        for batch in [*spending.generate(n_vouchers, units, payees_per_unit=6, seed=567,
                                         large_share=0.06), spending.split_example()]:
            conn.execute(sa.insert(t["expenses"]),
                         spending.as_dicts(batch.expenses, spending.EXPENSE_COLUMNS))
            conn.execute(sa.insert(t["expense_signatures"]),
                         spending.as_dicts(batch.signatures, spending.SIGNATURE_COLUMNS))
        conn.execute(sa.insert(t["expenses"]), [
            {c.name: row.get(c.name) for c in t["expenses"].columns} for row in spending.BAD_EXPENSES])
        conn.execute(sa.insert(t["post_tenures"]), posts.tenures([u for u, _, _ in units]))
    engine.dispose()
    return db


def write_config(folder: Path, listen: str = "127.0.0.1:9464") -> Path:
    path = folder / "sunlight.yaml"
    path.write_text(DEMO_CONFIG.replace("{listen}", listen), encoding="utf-8")
    return path


def office_files(folder: Path) -> list[str]:
    """What in ``folder`` looks like an office's own config or state: the demo must not touch it.

    Any YAML file (a config), any SQLite file (a state store or a source) and
    a ``letters`` folder count, whatever their names: a live folder is refused
    even when its store is not called state.db.
    """
    if not folder.is_dir():
        return []
    found = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in (".yaml", ".yml", ".db", ".sqlite", ".sqlite3") or p.name == "letters":
            found.append(p.name)
    return found


def run_demo(folder: Path, at: str, serve: bool = False, replace: bool = False,
             listen: str = "127.0.0.1:9464") -> int:
    """Build, scan, record and summarise. Returns the exit code.

    A folder that already holds a config or a state store is refused (exit
    2, nothing touched) unless ``replace``: the demo deletes its state store
    and rewrites its config, and pointed at an office's live folder that
    would destroy the letters and the audit trail (issue 10, item 6).
    """

    folder = folder.resolve()
    existing = office_files(folder)
    if existing and not replace:
        typer.echo(f"演示目录中已有配置或状态库，未做任何改动 (refusing: {folder} already holds "
                   f"{', '.join(existing)}; choose an empty folder, or pass --replace to overwrite "
                   "the demo's files)", err=True)
        return 2
    replaced = [name for name in DEMO_FILES if (folder / name).exists()]
    if replaced:
        typer.echo(f"将替换 {folder} 中的演示文件 (replacing): {', '.join(replaced)}", err=True)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (folder / name).unlink(missing_ok=True)
    build_sources(folder)
    build_finance(folder)
    config = write_config(folder, listen)
    settings = load_or_exit(config)
    when = parse_at(at, settings.tz)
    findings: list[Finding] = []
    engine = Engine(settings)
    try:
        store = open_state(settings, migrate=True)  # the demo's own, new store
        with store_failures(settings):
            outcomes = scan_and_record(engine, store, when, findings.append)
            issued = issue(engine, store, settings, when, outcomes)
    finally:
        engine.close()

    units = {u: name for u, name, _ in sample.UNITS + VILLAGES}
    by_check = Counter(f.check for f in findings)
    typer.echo(f"sunlight 演示 demo — 工作目录 {folder}")
    typer.echo(f"评估时点 as of {when:%Y-%m-%d %H:%M} ({settings.timezone})；"
               f"读取 {sum(sum(o.rows_read.values()) for o in outcomes)} 行，"
               f"发现 {len(findings)} 项\n")
    registry = load_all()
    typer.echo(table(["检查项 check", "名称", "数量"],
                     [[c, registry[c].title, n] for c, n in sorted(by_check.items())]))
    by_unit = Counter((f.unit_id, f.tier) for f in findings if f.check != "data_quality")
    tiers: list[Tier] = ["level1", "level2", "level3", "reminder"]
    typer.echo("\n按单位 by unit:")
    typer.echo(table(
        ["单位", *[settings.tiers.label(t) for t in tiers]],
        [[units.get(u, u), *[by_unit.get((u, t), 0) for t in tiers]]
         for u in sorted({u for u, _ in by_unit})],
    ))
    late = sorted((f for f in findings if f.check in ("case_overdue", "case_overdue_statutory")
                   and f.evidence.get("state") == "open"),
                  key=lambda f: (-(f.overdue or 0), f.subject))
    seen: set[str] = set()
    worst = []
    for f in late:
        if f.subject not in seen:
            seen.add(f.subject)
            worst.append(f)
    typer.echo("\n超期最严重的十件在办件 ten most overdue open cases:")
    typer.echo(table(["办件", "单位", "事项", "期限", "超期"],
                     [[f.subject, units.get(f.unit_id, f.unit_id), f.evidence.get("item_name"),
                       f"{f.deadline:%Y-%m-%d}", f"{f.overdue}{UNIT_ZH[f.measure] if f.measure else ''}"]
                      for f in worst[:10]]))
    dq = [f for f in findings if f.check == "data_quality"]
    if dq:
        typer.echo(f"\n数据质量问题 data quality ({len(dq)}，转各数据源的数据责任单位):")
        for f in dq:
            typer.echo(f"  [{settings.sources[f.source].data_owner or f.source}] {f.summary}")
    typer.echo(f"\n预警函 letters: 发出 {len(issued.issued)} 件（含提醒），投递 "
               f"{deliver(store, settings, dt.datetime.now(dt.UTC))} 件，见 {folder / 'letters'}")
    typer.echo(f"\n配置 config: {config}\n状态库 state: {folder / 'state.db'}")
    typer.echo(f"再试 try: sunlight scan -c {config} --at {at} --check case_overdue")
    failed = [o for o in outcomes if not o.ok]
    if serve:
        # the daemon evaluates at the demo's own time (moving on from it), not today: the sample
        # data are dated around it, and today would put every case months overdue
        started = time.monotonic()

        def demo_clock() -> dt.datetime:
            return when + dt.timedelta(seconds=time.monotonic() - started)

        return run_daemon(config, settings, on_ready=lambda url: typer.echo(
            f"\n守护进程已启动 daemon running — 指标 metrics: {url}/metrics  就绪 ready: {url}/readyz"
            f"\n控制台 console: {url}/  (first account: sunlight users add -c {config} NAME --role admin)"
            f"\n评估时点从 {when:%Y-%m-%d %H:%M} 起 (evaluating from the demo's as-of time)"
            "\n按 Ctrl-C 停止 (stop with Ctrl-C)"), clock=demo_clock)
    return 1 if failed else 0


__all__ = ["build_sources", "run_demo", "write_config"]
