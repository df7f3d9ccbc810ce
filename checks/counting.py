"""Where a count rule's number falls: 以上 and 超过 are not the same rule.

Chinese legal usage (Civil Code art. 1259: "民法所称的'以上'、'以下'、'以内'、
'届满'，包括本数；所称的'不满'、'超过'、'以外'，不包括本数"; the party's rules
define them the same way) decides whether exactly the number itself passes:

- ``inclusive`` (以上 / 以下 / 以内 / 不少于): the number itself passes.
  Seed 000:898 "到会率要求半数以上": 5 of 10 present is a quorum.
- ``exclusive`` (超过 / 不满): the number itself fails.
  Seed 003:825 "赞成票超过应到会人数的半数为通过": 5 votes of 10 do not pass.

Each check that counts states its boundary as a parameter whose default is
the seed's word, so an office whose own rules say otherwise changes one value.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

Boundary = Literal["inclusive", "exclusive"]

BOUNDARY_ZH: dict[str, str] = {"inclusive": "以上", "exclusive": "超过"}


def share(text: str) -> Fraction:
    """"1/2" → 1/2, "2/3" → 2/3 (config writes shares as fractions, never as floats)."""
    num, den = (int(x) for x in text.split("/"))
    return Fraction(num, den)


def reaches(count: int, total: int, part: Fraction, boundary: Boundary) -> bool:
    """Whether ``count`` is ``part`` of ``total`` 以上 (inclusive) or 超过 (exclusive), exactly."""
    needed = part * total
    return count >= needed if boundary == "inclusive" else count > needed


def share_zh(part: Fraction) -> str:
    """1/2 → 半数, 2/3 → 三分之二 (the words of the seed)."""
    if part == Fraction(1, 2):
        return "半数"
    digits = "零一二三四五六七八九十"
    if part.denominator <= 10 and part.numerator <= 10:
        return f"{digits[part.denominator]}分之{digits[part.numerator]}"
    return f"{part.numerator}/{part.denominator}"


__all__ = ["BOUNDARY_ZH", "Boundary", "reaches", "share", "share_zh"]
