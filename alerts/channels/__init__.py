"""Delivery channels: where a rendered letter goes.

Each module registers its channel ``type`` with
:func:`sunlight.alerts.channels.base.channel_type`; :func:`build_channel` turns one
``channels.<name>`` config entry into a ready :class:`Channel`.
"""

from sunlight.alerts.channels.base import (
    Channel,
    ChannelConfigError,
    ChannelError,
    Message,
    build_channel,
    channel_types,
    validate_channels,
)

__all__ = [
    "Channel",
    "ChannelConfigError",
    "ChannelError",
    "Message",
    "build_channel",
    "channel_types",
    "validate_channels",
]
