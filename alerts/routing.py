"""Routing: which channels a letter goes to. First matching route wins (like Alertmanager).

A route matches on the letter's tier, its unit and the checks of its
findings (any of them); a missing key matches everything. ``validate_alerts``
requires routes (or an explicit ``routes: none``), a last route that is a
catch-all and no route to nobody, so a letter is never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sunlight.alerts.config import RouteConfig


def route_matches(route: RouteConfig, tier: str, unit_id: str | None, checks: Iterable[str]) -> bool:
    return route.match.matches(tier=tier, unit_id=unit_id, check=list(checks))


def channels_for(routes: Sequence[RouteConfig] | str, tier: str, unit_id: str | None,
                 checks: Iterable[str]) -> list[str]:
    """The channel names of the first matching route (empty only with an explicit ``routes: none``)."""
    if isinstance(routes, str):
        return []
    checks = list(checks)
    for route in routes:
        if route_matches(route, tier, unit_id, checks):
            return list(dict.fromkeys(route.to))
    return []
