"""The one "a value or a list" selector that tiers, routes, overrides and obligations share."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sunlight.alerts.config import RouteMatch, TierMatch
from sunlight.checks.registry import OverrideMatch


def test_a_value_and_a_list_read_the_same() -> None:
    assert TierMatch(unit_id="MZJ") == TierMatch(unit_id=["MZJ"])
    assert TierMatch(unit_id="MZJ").unit_id == frozenset({"MZJ"})


def test_every_set_key_must_hold_and_unset_keys_match_everything() -> None:
    m = OverrideMatch.model_validate({"unit_kind": ["town", "village"], "item_code": "MZ-001"})
    assert m.matches(unit_id="X", unit_kind="village", item_code="MZ-001")
    assert not m.matches(unit_id="X", unit_kind="bureau", item_code="MZ-001")
    assert not m.matches(unit_id="X", unit_kind="village", item_code=None)


def test_a_collection_fact_matches_when_any_of_it_is_wanted() -> None:
    route = RouteMatch.model_validate({"tier": "level1", "check": ["case_overdue", "single_signature"]})
    assert route.matches(tier="level1", unit_id="A", check=["publication_late", "single_signature"])
    assert not route.matches(tier="level1", unit_id="A", check=["publication_late"])
    assert not route.matches(tier="level2", unit_id="A", check=["case_overdue"])


def test_a_forgotten_fact_is_an_error_not_a_match() -> None:
    with pytest.raises(KeyError):
        TierMatch(check="case_overdue").matches(check="case_overdue", unit_id="A")


def test_values_are_still_validated() -> None:
    with pytest.raises(ValidationError):
        RouteMatch.model_validate({"tier": ["level4"]})
