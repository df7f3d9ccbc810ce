"""Text as sources hold it, made safe to keep: control characters out, lengths bounded.

Source databases hold whatever their clerks typed or their imports left: a
NUL byte (MySQL and SQLite keep them; PostgreSQL refuses them in text), other
control characters, a 5 MB memo pasted into a name field. This module is the
one place that decides what such text becomes before it reaches the state
store, a summary or a letter (issue 10, item 3):

- control characters (C0 except tab, line feed and carriage return; DEL; C1)
  are removed, and the caller is told so that the row can be reported;
- a value longer than a limit is cut, and the cut text says how long the
  whole was and carries the SHA-256 of the whole, so a data owner can match
  it against the source row.

Bottom layer: imports nothing of sunlight.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

__all__ = [
    "CONTROL", "EVIDENCE_TEXT_MAX", "KEY_MAX", "NAME_MAX", "SUMMARY_MAX", "TEXT_MAX",
    "cap", "cut", "digest", "has_controls", "safe_json", "strip_controls",
]

#: longest key (case id, unit id, item code, voucher id, …) a row may have; longer is a bad row
KEY_MAX = 200
#: longest name (unit name, item name, person) kept as it is; longer is cut with a note
NAME_MAX = 200
#: longest other text field kept from a source row; longer is cut with a note
TEXT_MAX = 2000
#: longest string kept in a finding's evidence (the rest is named by its hash)
EVIDENCE_TEXT_MAX = 4000
#: longest summary line of a finding (consoles, messages, letters)
SUMMARY_MAX = 500

#: control characters that are never text: C0 but tab/LF/CR, DEL, C1
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: in a key or a time even tab and line breaks are damage
CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_controls(s: str) -> bool:
    """True if ``s`` holds a control character other than tab, LF, CR (cheap when it does not)."""
    return not s.isprintable() and CONTROL.search(s) is not None


def strip_controls(s: str) -> tuple[str, int]:
    """``s`` without its control characters, and how many were removed."""
    return CONTROL.subn("", s)


def digest(s: str) -> str:
    """The SHA-256 of the UTF-8 text, hex: how a cut value stays identifiable."""
    return hashlib.sha256(s.encode("utf-8", "surrogatepass")).hexdigest()


def cap(s: str, limit: int) -> str:
    """``s`` if it fits, else its start and a note with the full length and its SHA-256.

    The result is at most ``limit`` characters (``limit`` >= 100), so it fits
    the column or the line it was cut for.
    """
    if len(s) <= limit:
        return s
    note = f"……（全文{len(s)}字，SHA-256 {digest(s)[:16]}）"
    return s[: max(0, limit - len(note))] + note


def cut(s: str, limit: int, note: str = "……（过长，已截断）") -> str:
    """``s`` if it fits, else its start and ``note``: for text a person reads (names in letters)."""
    if len(s) <= limit:
        return s
    return s[: max(0, limit - len(note))] + note


def safe_json(value: Any, limit: int = EVIDENCE_TEXT_MAX) -> Any:
    """A JSON-able value with every string (keys too) stripped of controls and capped.

    Every finding's evidence passes here when it is written (a trace of a few
    dozen days is a few hundred values): the plain cases (a ``str``, ``int``,
    ``None``… that needs nothing) are decided by the exact type without a call,
    and only a string that is long or not printable takes :func:`_safe_str`.
    The result is the same as the plain recursion's
    (``tests/test_textsafe.py`` compares them).
    """
    kind = type(value)
    if kind is str:
        return value if len(value) <= limit and value.isprintable() else _safe_str(value, limit)
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str or len(k) > _KEY_LIMIT or not k.isprintable():
                k = safe_json(str(k), _KEY_LIMIT)
            kind = type(v)
            if kind is str:
                if len(v) > limit or not v.isprintable():
                    v = _safe_str(v, limit)
            elif kind not in _PLAIN:
                v = safe_json(v, limit)
            out[k] = v
        return out
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else safe_json(v, limit) for v in value]
    if kind in _PLAIN:
        return value
    # subclasses (a str enum, an OrderedDict): as the plain recursion treats them
    if isinstance(value, str):
        return _safe_str(value, limit)
    if isinstance(value, dict):
        return {safe_json(str(k), _KEY_LIMIT): safe_json(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_json(v, limit) for v in value]
    return value


#: longest key kept in evidence
_KEY_LIMIT = 200
#: values safe_json returns as they are (exact types: a subclass goes the long way)
_PLAIN = frozenset({int, float, bool, type(None)})


def _safe_str(value: str, limit: int) -> str:
    if not value.isprintable():
        value = CONTROL.sub("", value)
    return cap(value, limit)
