"""What the user-admin page's form values mean: scopes chosen from the warehouse's own portfolio
managers, desks and books, and role lists — checked here so a forged or stale value is refused
with a sentence that names it, before any service is asked to write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from backend.access.principal import SCOPE_COLUMNS, DataScope
from backend.pivot.engine import distinct_values
from backend.warehouse import Warehouse

CHOICES_MAX: Final = 5000
SCOPE_LABELS: Final = {"portfolio_managers": "portfolio managers", "desks": "desks", "books": "books"}


class FormError(ValueError):
    """A form value that cannot be used; the message names the field and the value."""


def scope_choices(wh: Warehouse) -> dict[str, list[str]]:
    """Scope field → the values the warehouse holds (every row: the admin chooses for others)."""
    return {name: distinct_values(wh, column, limit=CHOICES_MAX) for name, column in SCOPE_COLUMNS.items()}


def _names(field: str, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise FormError(f"{field}: expected a list of names")
    if len(value) > CHOICES_MAX:
        raise FormError(f"{field}: at most {CHOICES_MAX} values")
    return list(value)


def scope_from_form(choices: Mapping[str, list[str]], values: Mapping[str, Any]) -> DataScope:
    """A scope from the three multi-selects: nothing chosen on a dimension leaves it open; a value
    the warehouse does not hold is refused (it would silently show nothing)."""
    scope: dict[str, frozenset[str] | None] = {}
    for name in SCOPE_COLUMNS:
        label = SCOPE_LABELS[name]
        chosen = _names(label, values.get(name))
        unknown = sorted(set(chosen) - set(choices.get(name, ())))
        if unknown:
            shown = ", ".join(repr(v[:40]) for v in unknown[:3])
            raise FormError(f"{label}: not in the warehouse: {shown}{' …' if len(unknown) > 3 else ''}")
        scope[name] = frozenset(chosen) if chosen else None
    return DataScope(**scope)


def roles_from_form(value: object) -> list[str]:
    names = _names("roles", value)
    if not names:
        raise FormError("roles: choose at least one role")
    return names


def scope_text(scope: DataScope) -> str:
    if scope.unrestricted:
        return "all rows"
    parts = []
    for name in SCOPE_COLUMNS:
        values = getattr(scope, name)
        if values is not None:
            parts.append(f"{SCOPE_LABELS[name]}: {', '.join(sorted(values)) or 'none'}")
    return "; ".join(parts)
