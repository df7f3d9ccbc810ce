"""The channel contract: a :class:`Message` in, delivered or a :class:`ChannelError` out.

A channel does one attempt. Retries, backoff and giving up belong to the
outbox, which also supplies the idempotency key (letter number + channel name)
so receivers can discard duplicates (architecture invariant 4).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from sunlight.alerts.message import Message
from sunlight.monitor.config_error import first_problem
from sunlight.monitor.settings import Settings, register_validator


class ChannelError(Exception):
    """One failed attempt. ``retryable`` False means retrying cannot help (e.g. 4xx, bad address)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ChannelConfigError(ValueError):
    """A channel config entry that cannot work: ``key`` is the path below the channel."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None:
        """Deliver once or raise ChannelError."""


class ChannelSettings(BaseModel):
    """Base of every channel's config model; ``type`` selects the channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str


Factory = Callable[[str, Any, Path], Channel]  # (channel name, validated settings, config folder)
_TYPES: dict[str, tuple[type[ChannelSettings], Factory]] = {}


def channel_type(name: str, settings: type[ChannelSettings]) -> Callable[[Factory], Factory]:
    """Register a factory ``(channel_name, validated_settings, config_dir) -> Channel``.

    ``config_dir`` is the folder of the config file: relative paths in a
    channel's settings are relative to it.
    """

    def register(factory: Factory) -> Factory:
        _TYPES[name] = (settings, factory)
        return factory

    return register


@lru_cache(maxsize=1)
def channel_types() -> tuple[str, ...]:
    # the channel modules of this package, found by folder (importing the package
    # itself here would make base and the package import each other)
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name != "base":
            importlib.import_module(f"{__package__}.{mod.name}")
    return tuple(sorted(_TYPES))


def settings_models() -> dict[str, type[ChannelSettings]]:
    """Each channel type's settings model (what a ``channels.<name>`` entry of that type may hold)."""
    channel_types()
    return {kind: model for kind, (model, _factory) in sorted(_TYPES.items())}


def _validated(name: str, config: Mapping[str, Any]) -> tuple[Any, Factory]:
    kind = config.get("type")
    known = ", ".join(channel_types())
    if kind is None:
        raise ChannelConfigError("type", f"missing; one of: {known}")
    if not isinstance(kind, str) or kind not in _TYPES:
        raise ChannelConfigError("type", f"unknown channel type {kind!r}; known: {known}")
    model, factory = _TYPES[kind]
    try:
        return model.model_validate(dict(config)), factory
    except ValidationError as exc:
        loc, problem = first_problem(exc)
        if not loc:  # a check across keys names its key itself: "starttls: ..."
            key, sep, rest = problem.partition(": ")
            if sep and key.isidentifier():
                loc, problem = key, rest
        raise ChannelConfigError(loc or "(entry)", problem) from None


def build_channel(name: str, config: Mapping[str, Any], config_dir: Path = Path(".")) -> Channel:
    settings, factory = _validated(name, config)
    return factory(name, settings, config_dir)


@register_validator("channels")
def _validate_channels_section(settings: Settings) -> Iterator[tuple[str, str]]:
    return validate_channels(settings.channels)


def validate_channels(channels: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
    """(key path, problem) for every channel entry that cannot be built."""
    for name, config in channels.items():
        if not isinstance(config, Mapping):
            yield f"channels.{name}", "must be a mapping with a 'type'"
            continue
        try:
            _validated(name, config)
        except ChannelConfigError as exc:
            yield f"channels.{name}.{exc.key}", exc.problem
