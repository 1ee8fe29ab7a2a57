"""Who is asking, and which rows they may see.

Services take a ``DataScope`` and add it as a filter inside the engine, so every
pivot, export, drill-through, chart and API answer sees the same rows; the web
layer builds the ``Principal`` of a request (session, API token, signed link, or
the single local user when access control is off).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

# The trade columns a scope can restrict, by the scope field that restricts them.
SCOPE_COLUMNS: Final[dict[str, str]] = {
    "portfolio_managers": "portfolio_manager_id",
    "desks": "desk",
    "books": "book",
}


@dataclass(frozen=True)
class DataScope:
    """Rows a user may see: on each dimension, ``None`` allows every value; a set allows only
    those (an empty set allows none). Dimensions combine with AND."""

    portfolio_managers: frozenset[str] | None = None
    desks: frozenset[str] | None = None
    books: frozenset[str] | None = None

    @property
    def unrestricted(self) -> bool:
        return self.portfolio_managers is None and self.desks is None and self.books is None

    def restrictions(self) -> dict[str, frozenset[str]]:
        """Trade column → the values allowed, for the dimensions this scope restricts."""
        out: dict[str, frozenset[str]] = {}
        for name, column in SCOPE_COLUMNS.items():
            values = getattr(self, name)
            if values is not None:
                out[column] = values
        return out

    def within(self, other: DataScope) -> bool:
        """Whether every row this scope allows is allowed by ``other`` (a signed link's scope
        must stay within its maker's)."""
        for name in SCOPE_COLUMNS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None and (mine is None or not mine <= theirs):
                return False
        return True

    def as_dict(self) -> dict[str, list[str] | None]:
        return {name: None if getattr(self, name) is None else sorted(getattr(self, name))
                for name in SCOPE_COLUMNS}

    @classmethod
    def from_dict(cls, data: dict[str, list[str] | None] | None) -> DataScope:
        data = data or {}
        return cls(**{name: None if data.get(name) is None else frozenset(data[name])  # type: ignore[arg-type]
                      for name in SCOPE_COLUMNS})


EVERYTHING: Final = DataScope()

Via = Literal["session", "token", "link", "local"]


@dataclass(frozen=True)
class Principal:
    """The signed-in user (or the local user with access control off) of one request."""

    id: str
    display_name: str = ""
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    scope: DataScope = field(default=EVERYTHING)
    via: Via = "session"
    # A signed link allows one view only: the page path and the URL query it was made for.
    link_path: str | None = None
    link_query: str | None = None

    def can(self, permission: str) -> bool:
        return permission in self.permissions
