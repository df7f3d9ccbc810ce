"""Which tier a finding gets: the check's default, unless config overrides it."""

from __future__ import annotations

from alerts.config import Tier, TierMatch, TiersConfig


def _matches(value: str | None, wanted: str | list[str] | None) -> bool:
    if wanted is None:
        return True
    return value in ([wanted] if isinstance(wanted, str) else wanted)


def _override_applies(m: TierMatch, check: str, unit_id: str | None, item_code: str | None) -> bool:
    return (
        _matches(check, m.check) and _matches(unit_id, m.unit_id) and _matches(item_code, m.item_code)
    )


def resolve_tier(
    config: TiersConfig, check: str, default: Tier, unit_id: str | None, item_code: str | None
) -> Tier:
    """First matching override wins; otherwise the check's default tier (rules.md)."""
    for ov in config.overrides:
        if _override_applies(ov.match, check, unit_id, item_code):
            return ov.tier
    return default
