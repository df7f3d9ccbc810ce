"""The words every layer shares: warning tiers.

At the bottom of the layers (it imports nothing of ours), so that checks can
name the tier of a finding and the letters can escalate it without the checks
knowing anything about letters. Units of time are :mod:`sunlight.monitor.durations`
and :class:`sunlight.monitor.clock.LimitUnit`; Chinese spelling of dates and
numbers is :mod:`sunlight.monitor.zh`.
"""

from __future__ import annotations

from typing import Literal

Tier = Literal["reminder", "level3", "level2", "level1"]
TIERS: tuple[Tier, ...] = ("reminder", "level3", "level2", "level1")  # least to most severe
