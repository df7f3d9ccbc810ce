"""Sources: read-only on every engine, mapping, streaming, failures stay local."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from sunlight.monitor.configure import load_settings
from sunlight.monitor.engine import Engine
from sunlight.monitor.sources import Source, SourceError, create_readonly_engine
from tests.conftest import SourceDB, at

CASE = {
    "case_id": "C1", "unit_id": "U1", "item_code": "I1", "item_name": "食品经营许可",
    "accepted_at": dt.datetime(2026, 9, 24, 10, 0), "promised_limit": 5, "limit_unit": "workday",
}


def test_writes_through_a_source_connection_fail(source_db: SourceDB) -> None:
    """Invariant 1: the read-only engine refuses INSERT, UPDATE and DDL on each database."""
    source_db.load("cases", [CASE])
    ro = create_readonly_engine(source_db.url)
    for sql in (
        "INSERT INTO cases (case_id, unit_id) VALUES ('X', 'U1')",
        "UPDATE cases SET unit_id = 'U2'",
        "CREATE TABLE sneaky (x INTEGER)",
    ):
        with pytest.raises(sa.exc.DBAPIError) as err, ro.connect() as conn:
            conn.exec_driver_sql(sql)
            conn.commit()
        assert "read" in str(err.value).lower() and "only" in str(err.value).lower()
    with ro.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar() == 1
    with source_db.engine.connect() as conn:  # nothing changed
        assert conn.exec_driver_sql("SELECT unit_id FROM cases").scalar() == "U1"
    ro.dispose()


def test_mapping_table_and_column_renames(source_db: SourceDB, write_config) -> None:
    """A site's own table (XK_SLXX-like) is read through column renames."""
    with source_db.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE xk_slxx (sblsh VARCHAR(40), slbm VARCHAR(40), sxmc VARCHAR(100), "
            "slsj TIMESTAMP NULL, cnsx INTEGER, bjsj TIMESTAMP NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO xk_slxx VALUES ('S-1', 'U1', '食品经营许可', '2026-09-24 10:00:00', 5, NULL)"
        )
    cfg = write_config(source_db.url, """\
    entities:
      cases:
        table: xk_slxx
        columns: {case_id: sblsh, unit_id: slbm, item_name: sxmc, accepted_at: slsj,
                  promised_limit: cnsx, completed_at: bjsj}
""")
    engine = Engine(load_settings(cfg), only=["case_overdue"])
    found = []
    [outcome] = engine.scan(at(2026, 10, 10, 9), found.append)
    assert outcome.ok, outcome.error
    assert [(f.check, f.subject, f.overdue) for f in found] == [("case_overdue", "S-1", 1)]


def test_mapping_query(source_db: SourceDB, write_config) -> None:
    source_db.load("cases", [CASE])
    with source_db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE bjslxx (lsh VARCHAR(40), ks TIMESTAMP NULL, js TIMESTAMP NULL)")
        conn.exec_driver_sql("INSERT INTO bjslxx VALUES ('C1', '2026-09-28 10:00:00', '2026-10-09 10:00:00')")
    cfg = write_config(source_db.url, """\
    entities:
      case_pauses:
        query: |
          SELECT lsh AS case_id, 'supplement' AS kind, ks AS started_at, js AS ended_at FROM bjslxx
""")
    engine = Engine(load_settings(cfg), only=["case_overdue"])
    found = []
    [outcome] = engine.scan(at(2026, 10, 10, 9), found.append)
    assert outcome.ok, outcome.error
    # paused 28 Sep -> 9 Oct removes 29, 30 Sep, 8, 9 Oct: due end of 13 Oct, not late on 10 Oct
    assert found == []


def test_a_source_that_is_down_does_not_stop_the_others(tmp_path, sqlite_db: SourceDB) -> None:
    sqlite_db.load("cases", [CASE])
    cfg = tmp_path / "two.yaml"
    cfg.write_text(
        "routes: none\n"
        "sources:\n"
        "  broken: {url: 'postgresql+psycopg://nobody@127.0.0.1:1/none'}\n"
        f"  good: {{url: '{sqlite_db.url}'}}\n",
        encoding="utf-8",
    )
    found = []
    outcomes = Engine(load_settings(cfg), only=["case_overdue"]).scan(at(2026, 10, 10, 9), found.append)
    assert [(o.source, o.ok) for o in outcomes] == [("broken", False), ("good", True)]
    assert "broken" in outcomes[0].error
    assert [f.subject for f in found] == ["C1"]


def test_missing_sqlite_file_is_an_error_not_a_new_database(tmp_path) -> None:
    from sunlight.monitor.settings import SourceConfig

    src = Source("x", SourceConfig(url=f"sqlite:///{tmp_path / 'nope.db'}"))
    with pytest.raises(SourceError, match="'x'"):
        src.ping()
    assert not (tmp_path / "nope.db").exists()


def test_password_never_in_error_messages(tmp_path) -> None:
    from sunlight.monitor.settings import SourceConfig

    src = Source("fin", SourceConfig(url="postgresql+psycopg://reader:s3cret-pw@127.0.0.1:1/caiwu"))
    with pytest.raises(SourceError) as err:
        src.ping()
    assert "s3cret-pw" not in str(err.value)
    assert "s3cret-pw" not in repr(src.config)


def test_rows_for_keys_across_chunks_in_key_order(source_db: SourceDB) -> None:
    """Keyed reads (incremental cycles): every row of the keys asked for, none other, in byte
    order across chunks, keys asked twice or absent included (a padded key is the caller's: MariaDB
    matches it); on SQLite a chunk larger than
    the connection's limit of bound variables is cut to it."""
    from sunlight.monitor.settings import SourceConfig
    from sunlight.monitor.sources import sqlite_variables

    ids = [f"C{i:03d}" for i in range(40)] + ["c1", "C_9", "Z"]
    source_db.load("cases", [{**CASE, "case_id": k} for k in ids])
    source_db.load("case_steps", [{"case_id": k, "seq": s, "name": f"s{s}"}
                                  for k in ids[::3] for s in (1, 2)])
    src = Source("x", SourceConfig(url=source_db.url))
    wanted = ids[5:] + ids[5:9] + ["nope"]  # twice, absent
    expect = sorted(set(ids[5:]))
    for chunk in (1, 7, 4000):
        got = [r["case_id"] for r in src.rows_for_keys("cases", ["case_id"], "case_id", wanted, chunk)]
        assert got == expect
        steps = [(r["case_id"], r["seq"]) for r in
                 src.rows_for_keys("case_steps", ["case_id", "seq"], "case_id", wanted, chunk)]
        assert [k for k, _ in steps] == sorted(k for k in set(ids[5:]) & set(ids[::3])
                                                for _ in (1, 2))
    assert list(src.rows_for_keys("cases", ["case_id"], "case_id", [])) == []
    if src.dialect == "sqlite":
        @sa.event.listens_for(src.engine, "connect")
        def _small(dbapi_conn, _record) -> None:  # a library built with a low limit
            import sqlite3
            dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 5)

        src.engine.dispose()
        with src.engine.connect() as conn:
            assert sqlite_variables(conn.connection.driver_connection) == 5
        got = [r["case_id"] for r in src.rows_for_keys("cases", ["case_id"], "case_id", wanted)]
        assert got == expect
    src.close()
