"""``textsafe.safe_json``: its fast paths give what the plain recursion gives, value for value."""

from __future__ import annotations

import enum
import random
from collections import OrderedDict
from typing import Any

from sunlight.monitor.textsafe import CONTROL, EVIDENCE_TEXT_MAX, cap, safe_json


def plain(value: Any, limit: int = EVIDENCE_TEXT_MAX) -> Any:
    """The recursion safe_json was before its fast paths (the reference)."""
    if isinstance(value, str):
        if not value.isprintable():
            value = CONTROL.sub("", value)
        return cap(value, limit)
    if isinstance(value, dict):
        return {plain(str(k), 200): plain(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, limit) for v in value]
    return value


class Kind(enum.StrEnum):
    A = "甲\x07"


class Count(enum.IntEnum):
    ONE = 1


def text(rng: random.Random) -> str:
    pieces = ["办件", "abc", "\x00", "\x07", "\t", "\n", "\u200b", "\x9f", " ", "超期", "\u2028"]
    s = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
    return s * (rng.choice((1, 1, 1, 700)))  # now and then longer than the limit


def value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(12 if depth < 4 else 7)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice((True, False, 0, -3, 2**70, 1.5, float("inf"), Count.ONE))
    if pick in (2, 3, 4):
        return text(rng)
    if pick == 5:
        return Kind.A
    if pick == 6:
        return rng.random()
    if pick in (7, 8):
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    if pick == 9:
        return tuple(value(rng, depth + 1) for _ in range(rng.randint(0, 3)))
    keys: list[Any] = [text(rng) or "k", "as_of", 7, Kind.A, "x" * 300, ("t", 1), "键\x00"]
    d = {rng.choice(keys): value(rng, depth + 1) for _ in range(rng.randint(0, 6))}
    return OrderedDict(d) if pick == 10 else d


def test_safe_json_is_the_plain_recursion_on_random_values() -> None:
    rng = random.Random(2026)
    for _ in range(5000):
        v = value(rng)
        for limit in (EVIDENCE_TEXT_MAX, 120):
            got, want = safe_json(v, limit), plain(v, limit)
            assert got == want and repr(got) == repr(want), v
            assert type(got) is type(want)


def test_safe_json_cleans_and_caps() -> None:
    out = safe_json({"a\x00b": ["x\x07y", "z" * 5000], 3: {"n": None}})
    assert list(out) == ["ab", "3"]
    assert out["ab"][0] == "xy" and len(out["ab"][1]) == EVIDENCE_TEXT_MAX
    assert "SHA-256" in out["ab"][1] and out["3"] == {"n": None}
