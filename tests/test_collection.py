"""The garbage-collection windows: what they set while open, and that they restore it."""

from __future__ import annotations

import gc

import pytest

from sunlight.monitor.collection import SCAN_THRESHOLD, collection_paused, collection_relaxed
from sunlight.monitor.configure import load_settings
from sunlight.monitor.engine import Engine
from tests.conftest import SourceDB, at
from tests.test_engines_identical import load_fixture


@pytest.fixture(autouse=True)
def default_thresholds():
    old = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*old)


def test_relaxed_raises_the_young_threshold_and_restores_it() -> None:
    with collection_relaxed():
        assert gc.get_threshold() == (SCAN_THRESHOLD, 10, 10)
        assert gc.isenabled()
    assert gc.get_threshold() == (700, 10, 10)


def test_relaxed_restores_after_an_error() -> None:
    with pytest.raises(RuntimeError), collection_relaxed():
        raise RuntimeError("a failing source")
    assert gc.get_threshold() == (700, 10, 10)


def test_nested_windows_keep_the_outer_setting() -> None:
    with collection_relaxed(20_000):
        with collection_relaxed(5_000):  # lower than the outer: the outer stays
            assert gc.get_threshold()[0] == 20_000
        assert gc.get_threshold()[0] == 20_000
    assert gc.get_threshold()[0] == 700


def test_paused_disables_and_re_enables() -> None:
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_a_scan_runs_relaxed_and_restores(sqlite_db: SourceDB, write_config) -> None:
    load_fixture(sqlite_db)
    seen: set[int] = set()
    [outcome] = Engine(load_settings(write_config(sqlite_db.url))).scan(
        at(2026, 11, 16, 9), lambda f: seen.add(gc.get_threshold()[0]))
    assert outcome.ok, outcome.error
    assert seen == {SCAN_THRESHOLD}
    assert gc.get_threshold() == (700, 10, 10)
