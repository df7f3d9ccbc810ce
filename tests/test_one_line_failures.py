"""One clear line for every failure (issue 10, items 6 and 7).

Each failure the fault tests found ends in one line naming what failed, with
the documented exit code (1: the work could not be done; 2: the config, or
the command line, is refused) and no traceback: a state store in a read-only
folder, a read-only store file, a store locked for longer than its lock
timeout, PostgreSQL down, a config saved as GBK, a key given twice, and
``sunlight demo`` pointed at a folder that is not its own.

Read-only files: root ignores permission bits, so as root the tests make a
file or folder immutable (``chattr +i``) instead of ``chmod a-w``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import small_source

CYCLE_AT = "2026-10-20T09:00"


def sunlight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sunlight.monitor.cli", *args], capture_output=True,
                          text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=180)


def one_line(r: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The command failed with ``code`` and said so in one line holding every needle."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    said = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("{")]
    assert len(said) == 1, r.stderr
    for needle in needles:
        assert needle in said[0], (needle, said[0])
    return said[0]


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files or folders unwritable for this process, whoever it runs as."""
    as_root = os.geteuid() == 0
    if as_root and not shutil.which("chattr"):
        pytest.skip("running as root without chattr: cannot make a file read-only for root")
    modes = {p: p.stat().st_mode for p in paths}
    try:
        for p in paths:
            if as_root:
                subprocess.run(["chattr", "+i", str(p)], check=True)
            else:
                p.chmod(0o555 if p.is_dir() else 0o444)
        yield
    finally:
        for p in paths:
            if as_root:
                subprocess.run(["chattr", "-i", str(p)], check=True)
            p.chmod(modes[p])


def _source(path: Path) -> None:
    small_source(path)


def config(tmp_path: Path, state_url: str, extra: str = "") -> Path:
    _source(tmp_path / "source.db")
    path = tmp_path / "sunlight.yaml"
    path.write_text(
        "timezone: Asia/Shanghai\n"
        f"state:\n  url: \"{state_url}\"\n{extra}"
        "routes: none\n"
        f"sources:\n  main:\n    url: sqlite:///{tmp_path / 'source.db'}\n",
        encoding="utf-8")
    return path


WRITERS = (("cycle", "--at", CYCLE_AT), ("scan", "--record", "--at", CYCLE_AT))


def test_state_store_in_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    cfg = config(tmp_path, f"sqlite:///{folder / 'state.db'}")
    with read_only(folder):
        for args in WRITERS:
            one_line(sunlight(args[0], "-c", str(cfg), *args[1:]), 1,
                     "状态库错误", str(folder / "state.db"), "无法打开或创建数据库文件")
        one_line(sunlight("letters", "list", "-c", str(cfg)), 1, "状态库错误", "不存在")
    assert list(folder.iterdir()) == []


def test_read_only_store_file_refuses_writes_in_one_line_and_letters_list_still_reads_it(
        tmp_path: Path) -> None:
    store = tmp_path / "state.db"
    cfg = config(tmp_path, f"sqlite:///{store}")
    first = sunlight("cycle", "-c", str(cfg), "--at", CYCLE_AT)
    assert first.returncode == 0, first.stderr
    before = store.read_bytes()
    with read_only(store):
        for args in WRITERS:
            one_line(sunlight(args[0], "-c", str(cfg), *args[1:]), 1,
                     "状态库错误", str(store), "只读")
        listed = sunlight("letters", "list", "-c", str(cfg))
        assert listed.returncode == 0, listed.stderr
        assert "县民政局" in listed.stdout and "共 1 件" in listed.stdout
        with read_only(tmp_path):  # the folder too: read as a snapshot
            listed = sunlight("letters", "list", "-c", str(cfg))
            assert listed.returncode == 0, listed.stderr
            assert "共 1 件" in listed.stdout
    assert store.read_bytes() == before


def test_store_locked_longer_than_its_lock_timeout(tmp_path: Path) -> None:
    store = tmp_path / "state.db"
    cfg = config(tmp_path, f"sqlite:///{store}", "  lock_timeout: 1s\n")
    assert sunlight("db", "upgrade", "-c", str(cfg)).returncode == 0
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process's long write
    try:
        for args in WRITERS:
            one_line(sunlight(args[0], "-c", str(cfg), *args[1:]), 1,
                     "状态库错误", str(store), "锁定超过1秒")
        listed = sunlight("letters", "list", "-c", str(cfg))  # WAL: readers are not blocked
        assert listed.returncode == 0, listed.stderr
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert sunlight("cycle", "-c", str(cfg), "--at", CYCLE_AT).returncode == 0  # and then it works


def test_postgresql_store_down(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = config(tmp_path, f"postgresql+psycopg://sunlight:s3cret@127.0.0.1:{port}/sunlight")
    for args in (*WRITERS, ("letters", "list")):
        r = sunlight(args[0], *args[1:2], "-c", str(cfg), *args[2:]) if args[0] == "letters" \
            else sunlight(args[0], "-c", str(cfg), *args[1:])
        line = one_line(r, 1, "状态库错误", f"sunlight:***@127.0.0.1:{port}/sunlight", "连接被拒绝")
        assert "s3cret" not in r.stderr + r.stdout, line
    daemon = sunlight("run", "-c", str(cfg))  # the daemon refuses to start, in one line too
    one_line(daemon, 1, "状态库不可用", f"sunlight:***@127.0.0.1:{port}/sunlight", "连接被拒绝")
    assert "s3cret" not in daemon.stderr + daemon.stdout


def test_a_config_saved_as_gbk_exits_2_naming_the_file_and_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes("timezone: Asia/Shanghai\nsources:\n  a:\n    url: sqlite:///x.db\n"
                     "    data_owner: 县政务服务中心信息科\n".encode("gbk"))
    for args in (("config", "check", str(path)), ("cycle", "-c", str(path))):
        one_line(sunlight(*args), 2, "配置错误", str(path), "GBK", "UTF-8", "line 5")


def test_a_key_given_twice_exits_2_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("timezone: Asia/Shanghai\nstate:\n  url: sqlite:///a.db\nsources:\n  a:\n"
                    "    url: sqlite:///x.db\nstate:\n  url: sqlite:///b.db\n", encoding="utf-8")
    one_line(sunlight("config", "check", str(path)), 2, str(path), "state", "line 2", "line 7")
    nested = tmp_path / "nested.yaml"
    nested.write_text("timezone: Asia/Shanghai\nsources:\n  a:\n    url: sqlite:///x.db\n"
                      "    interval: 5m\n    interval: 1h\n", encoding="utf-8")
    one_line(sunlight("config", "check", str(nested)), 2, "sources.a.interval", "line 6")


def _tree(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
                                          else "dir", p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("holds", [("sunlight.yaml", "state.db"), ("state.db",),
                                   ("office.yml",), ("letters/监预〔2026〕1号.txt",)])
def test_demo_refuses_a_folder_that_holds_an_office_and_leaves_it_byte_identical(
        tmp_path: Path, holds: tuple[str, ...]) -> None:
    folder = tmp_path / "office"
    for name in holds:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(os.urandom(4096))
    (folder / "notes.txt").write_text("办公室的文件", encoding="utf-8")
    before = _tree(folder)
    line = one_line(sunlight("demo", "--dir", str(folder)), 2, str(folder), "--replace")
    assert holds[0].split("/")[0] in line
    assert _tree(folder) == before


def test_read_only_store_engines_refuse_writes(tmp_path: Path) -> None:
    """What ``letters list``/``show`` open cannot write, on SQLite and on PostgreSQL."""
    import sqlalchemy as sa

    from sunlight.monitor.store.db import StoreError, open_store
    from tests.conftest import POSTGRES_URL, postgres_schema

    urls = [f"sqlite:///{tmp_path / 'state.db'}"]
    with postgres_schema() if POSTGRES_URL else _nothing() as pg:
        if pg:
            urls.append(pg)
        for url in urls:
            with pytest.raises(StoreError, match="db upgrade"):
                open_store(url, read_only=True)  # nothing there yet: refused, not created
            open_store(url).dispose()  # migrated by a writer
            ro = open_store(url, read_only=True)
            try:
                with ro.connect() as conn:
                    assert conn.execute(sa.text("SELECT COUNT(*) FROM letters")).scalar() == 0
                with pytest.raises(sa.exc.DBAPIError, match=r"(?i)read.?only"), ro.begin() as conn:
                    conn.execute(sa.text("DELETE FROM letters"))
            finally:
                ro.dispose()


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def test_writing_commands_create_a_store_but_leave_its_upgrade_to_db_upgrade(tmp_path: Path) -> None:
    """A store at an older revision is upgraded by ``db upgrade`` (after a backup), not by a cycle."""
    import sqlalchemy as sa

    from sunlight.monitor.store.db import create_state_engine, upgrade

    store = tmp_path / "state.db"
    cfg = config(tmp_path, f"sqlite:///{store}")
    engine = create_state_engine(f"sqlite:///{store}")
    upgrade(engine, "0002")  # a store as the letters release left it
    engine.dispose()
    before = store.read_bytes()
    line = one_line(sunlight("cycle", "-c", str(cfg), "--at", CYCLE_AT), 1,
                    "状态库错误", "状态库结构版本为 0002", "sunlight db upgrade")
    assert store.read_bytes() == before, line  # nothing was migrated or written
    assert sunlight("db", "upgrade", "-c", str(cfg)).returncode == 0
    assert sunlight("cycle", "-c", str(cfg), "--at", CYCLE_AT).returncode == 0
    check = sa.create_engine(f"sqlite:///{store}")
    with check.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM findings")).scalar_one() > 0
    check.dispose()
    # a new store is created by the first cycle, as cron users expect
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert sunlight("cycle", "-c", str(config(fresh, f"sqlite:///{fresh / 'state.db'}")),
                    "--at", CYCLE_AT).returncode == 0
