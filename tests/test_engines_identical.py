"""The same source data gives the same findings on SQLite, PostgreSQL and MariaDB.

One generated fixture (a few hundred cases with pauses, extensions, steps and
bad rows) is loaded into each engine; every finding must match field by field.
"""

from __future__ import annotations

import json

from sunlight.monitor.configure import load_settings
from sunlight.monitor.demo import cases as sample
from sunlight.monitor.engine import Engine
from tests.conftest import SourceDB, at


def load_fixture(db: SourceDB) -> None:
    db.load("units", [{"unit_id": u, "name": n, "kind": k} for u, n, k in sample.UNITS])
    for batch in sample.generate(400, seed=7):
        db.load("cases", batch.cases)
        db.load("case_pauses", batch.pauses)
        db.load("case_extensions", batch.extensions)
        db.load("case_steps", batch.steps)
    db.load("cases", sample.BAD_CASES)


def findings(db: SourceDB, write_config) -> list[str]:
    cfg = write_config(db.url, name=f"{db.kind}.yaml")
    out: list[str] = []
    [outcome] = Engine(load_settings(cfg)).scan(
        at(2026, 11, 16, 9), lambda f: out.append(json.dumps(f.to_json(), sort_keys=True)))
    assert outcome.ok, outcome.error
    return sorted(out)


def test_identical_findings_on_three_engines(sqlite_db: SourceDB, postgres_db: SourceDB,
                                             mariadb_db: SourceDB, write_config) -> None:
    results = {}
    for db in (sqlite_db, postgres_db, mariadb_db):
        load_fixture(db)
        results[db.kind] = findings(db, write_config)
    base = results["sqlite"]
    checks = {json.loads(x)["check"] for x in base}
    assert {"case_overdue", "case_overdue_statutory", "case_due_soon", "step_overdue",
            "extension_invalid", "data_quality"} <= checks
    assert len(base) > 50
    assert results["postgres"] == base
    assert results["mariadb"] == base
