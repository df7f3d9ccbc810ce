"""One way for a config to say "these": a value or a list of values, per key.

Tier overrides, routes, check-parameter overrides and disclosure obligations
all select by a few keys (check, unit, unit kind, item, tier), each given as
one value or a list. :data:`OneOrMany` reads either form into a frozenset, and
:class:`Match` answers whether a finding's (or a unit's) facts fall under
every key the config set; an unset key matches everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict

T = TypeVar("T")


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


#: ``key: A`` or ``key: [A, B]`` in the config; None (not given) matches everything
OneOrMany = Annotated[frozenset[T] | None, BeforeValidator(_listify)]


class Match(BaseModel):
    """Selectors whose fields are all :data:`OneOrMany`; subclasses name the keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def matches(self, **facts: str | Iterable[str] | None) -> bool:
        """True when every key the config set holds the fact (or, for a collection, one of them).

        Every key of the model must be given a fact, so that a caller cannot
        forget one and match everything by accident.
        """
        for name in type(self).model_fields:
            fact = facts[name]
            wanted = getattr(self, name)
            if wanted is None:
                continue
            if fact is None or isinstance(fact, str):
                if fact not in wanted:
                    return False
            elif wanted.isdisjoint(fact):
                return False
        return True
