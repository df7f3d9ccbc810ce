"""Routing: which channels a letter goes to. First matching route wins (like Alertmanager).

A route matches on the letter's tier, its unit and the checks of its
findings (any of them); a missing key matches everything. ``validate_alerts``
requires the last route to be a catch-all, so a letter is never silently
dropped by routing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sunlight.alerts.config import RouteConfig


def route_matches(route: RouteConfig, tier: str, unit_id: str | None, checks: Iterable[str]) -> bool:
    return route.match.matches(tier=tier, unit_id=unit_id, check=list(checks))


def channels_for(routes: Sequence[RouteConfig], tier: str, unit_id: str | None,
                 checks: Iterable[str]) -> list[str]:
    """The channel names of the first matching route (empty only if no routes are configured)."""
    checks = list(checks)
    for route in routes:
        if route_matches(route, tier, unit_id, checks):
            return list(dict.fromkeys(route.to))
    return []
