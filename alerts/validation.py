"""Cross-checks of the alerting sections (tiers, letters, routes), registered with the loader.

The channel entries themselves are checked by :mod:`sunlight.alerts.channels`,
which registers its own validator: each layer checks its own section.
"""

from __future__ import annotations

from collections.abc import Iterator

from sunlight.alerts.config import RouteMatch
from sunlight.checks.registry import load_all
from sunlight.monitor.settings import Settings, register_validator


@register_validator("alerts")
def validate_alerts(settings: Settings) -> Iterator[tuple[str, str]]:
    """Cross-checks between routes, channels, letters and tiers: (key path, problem) pairs."""
    routes = settings.routes
    if routes == "none":
        routes = []  # explicit: letters kept in the store, delivered nowhere (config check warns)
    elif not routes:
        yield ("routes", "no route: every letter would be issued to nobody while its rectification "
                         "clock runs; add routes (the last one without 'match'), or write "
                         "'routes: none' to keep letters undelivered on purpose")
    for i, route in enumerate(routes):
        if not route.to:
            yield f"routes[{i}].to", "a route must name at least one channel (its letters would go nowhere)"
        for j, name in enumerate(route.to):
            if name not in settings.channels:
                yield f"routes[{i}].to[{j}]", f"no channel named {name!r} in 'channels'"
    if settings.letters.number_prefix == settings.letters.reminder_prefix:
        yield ("letters.reminder_prefix",
               "must differ from letters.number_prefix (reminders have their own numbers)")
    for tier in ("level3", "level2", "level1"):
        days = settings.tiers.rectify_workdays.get(tier)
        if days is None or days < 1:
            yield f"tiers.rectify_workdays.{tier}", "a whole number of working days (1 or more) is required"
    if settings.letters.templates is not None and not settings.resolve(settings.letters.templates).is_dir():
        yield "letters.templates", f"no such folder: {settings.resolve(settings.letters.templates)}"
    known = load_all()
    for i, check in enumerate(settings.letters.to_person):
        if check not in known:
            yield f"letters.to_person[{i}]", f"no check named {check!r}"
        elif check == "data_quality":
            yield f"letters.to_person[{i}]", "data-quality notices go to the source's data owner"
    if routes and routes[-1].match != RouteMatch():
        yield (
            f"routes[{len(routes) - 1}]",
            "the last route must be a catch-all (no 'match') so that no letter is dropped",
        )
