"""All checks by id, and their parameters as the config sets them.

Every module in this package is imported once, and each check registers itself
with :func:`register`; ``grep -rn 'id = "case_overdue"' checks/`` finds any rule.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from sunlight.checks.base import Check, Params
from sunlight.monitor.config_error import ConfigError, first_problem
from sunlight.monitor.matching import Match, OneOrMany
from sunlight.monitor.settings import Settings, register_validator

REGISTRY: dict[str, type[AnyCheck]] = {}
_INFRA = {"base", "registry"}


AnyCheck = Check[Any, Any]
C = TypeVar("C", bound=type[AnyCheck])


def register(cls: C) -> C:
    """Add a check class to the registry by its ``id``; returns the class unchanged (and typed)."""
    if cls.id in REGISTRY and REGISTRY[cls.id] is not cls:
        raise RuntimeError(f"two checks share the id {cls.id!r}")
    REGISTRY[cls.id] = cls
    return cls


class UnknownCheckError(LookupError):
    """A check id that no module registered; the message lists the valid ids."""

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        self.unknown, self.known = unknown, known
        super().__init__(f"unknown check {', '.join(unknown)}; known: {', '.join(known)}")


def require_known(ids: set[str]) -> None:
    """Raise :class:`UnknownCheckError` for the ids among ``ids`` that are not checks."""
    registry = load_all()
    unknown = sorted(ids - set(registry))
    if unknown:
        raise UnknownCheckError(unknown, sorted(registry))


@lru_cache(maxsize=1)
def load_all() -> dict[str, type[AnyCheck]]:
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name not in _INFRA:
            importlib.import_module(f"{__package__}.{mod.name}")
    return REGISTRY


class OverrideMatch(Match):
    """Which records a ``checks.overrides`` entry applies to."""

    unit_id: OneOrMany[str] = None
    unit_kind: OneOrMany[str] = None
    item_code: OneOrMany[str] = None


def _error(key: str, problem: str) -> ConfigError:
    return ConfigError("", key, problem)


def _validate_params(cls: type[AnyCheck], data: Any, key: str) -> Params:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _error(key, "must be a mapping of parameters (or {} for the defaults)")
    try:
        return cls.Params.model_validate(data)
    except ValidationError as exc:
        raise _error(*first_problem(exc, key)) from None


@register_validator("checks")
def _validate_checks_section(settings: Settings) -> Iterator[tuple[str, str]]:
    try:
        validate_checks_config(settings.checks)
    except ConfigError as exc:
        yield exc.key, exc.problem


def validate_checks_config(raw: Mapping[str, Any]) -> None:
    """Raise ConfigError (file filled in by the caller) for the first bad key under ``checks``."""
    registry = load_all()
    for cid, data in raw.items():
        if cid == "overrides":
            continue
        if cid not in registry:
            raise _error(f"checks.{cid}", f"unknown check; known: {', '.join(sorted(registry))}")
        _validate_params(registry[cid], data, f"checks.{cid}")
    overrides = raw.get("overrides", [])
    if not isinstance(overrides, list):
        raise _error("checks.overrides", "must be a list of {match: ..., <check>: {...}}")
    for i, ov in enumerate(overrides):
        key = f"checks.overrides[{i}]"
        if not isinstance(ov, Mapping) or "match" not in ov:
            raise _error(key, "each override needs a 'match' and one or more check parameter sets")
        try:
            OverrideMatch.model_validate(ov["match"])
        except ValidationError as exc:
            raise _error(*first_problem(exc, f"{key}.match")) from None
        for cid, data in ov.items():
            if cid == "match":
                continue
            if cid not in registry:
                raise _error(f"{key}.{cid}", "unknown check")
            base = dict(raw.get(cid) or {})
            _validate_params(registry[cid], {**base, **(data or {})}, f"{key}.{cid}")


class CheckParams:
    """One check's parameters, with per-unit / per-item overrides resolved and cached."""

    def __init__(self, cls: type[AnyCheck], raw: Mapping[str, Any]) -> None:
        self.cls = cls
        self.base: dict[str, Any] = dict(raw.get(cls.id) or {})
        self.overrides = [
            (OverrideMatch.model_validate(ov["match"]), dict(ov[cls.id] or {}))
            for ov in raw.get("overrides", [])
            if cls.id in ov
        ]
        self.default: Params = cls.Params.model_validate(self.base)
        self._cache: dict[tuple[str | None, str | None, str | None], Params] = {}

    def for_(self, unit_id: str | None = None, unit_kind: str | None = None,
             item_code: str | None = None) -> Params:
        if not self.overrides:
            return self.default
        key = (unit_id, unit_kind, item_code)
        hit = self._cache.get(key)
        if hit is None:
            merged = dict(self.base)
            for match, data in self.overrides:
                if match.matches(unit_id=unit_id, unit_kind=unit_kind, item_code=item_code):
                    merged.update(data)
            hit = self._cache[key] = self.cls.Params.model_validate(merged)
        return hit

    @property
    def ever_enabled(self) -> bool:
        return self.default.enabled or any(d.get("enabled") for _, d in self.overrides)
