"""A data scope as an engine-side filter: the one place a ``DataScope`` becomes SQL.

Every query that reads the trades (``trades_1d`` and its rollups) adds
``scope_condition(scope)`` to its WHERE, so pivots, exports, drill-through, the
overview and the API all see the same rows and totals are totals over them. The
allowed values are bound parameters (``{scope_pm:Array(String)}``), never
spliced into the text: a scope may hold any string and any number of them. The
column names come from ``SCOPE_COLUMNS`` only. An unrestricted dimension adds
nothing; an empty set allows no row.
"""

from __future__ import annotations

from typing import Any, Final

from backend.access.principal import SCOPE_COLUMNS, DataScope

# Trade column → the name of the parameter that carries its allowed values.
SCOPE_PARAMS: Final[dict[str, str]] = {
    "portfolio_manager_id": "scope_pm",
    "desk": "scope_desk",
    "book": "scope_book",
}
assert set(SCOPE_PARAMS) == set(SCOPE_COLUMNS.values())


def scope_columns(scope: DataScope) -> tuple[str, ...]:
    """The trade columns ``scope`` filters on: a table answering a scoped query must hold them."""
    return tuple(column for column in SCOPE_PARAMS if column in scope.restrictions())


def scope_conditions(scope: DataScope) -> tuple[list[str], dict[str, Any]]:
    """``(conditions, parameters)``: one ``column IN {param:Array(String)}`` per restricted dimension."""
    conds: list[str] = []
    params: dict[str, Any] = {}
    restrictions = scope.restrictions()
    for column, param in SCOPE_PARAMS.items():
        if column not in restrictions:
            continue
        # The bare column, so the tables' sort keys (which hold these columns) can skip granules.
        conds.append(f"`{column}` IN {{{param}:Array(String)}}")
        params[param] = sorted(restrictions[column])
    return conds, params


def scope_condition(scope: DataScope) -> tuple[str, dict[str, Any]]:
    """``(condition, parameters)`` for a WHERE: ``1`` when the scope allows every row."""
    conds, params = scope_conditions(scope)
    return (" AND ".join(f"({c})" for c in conds) if conds else "1"), params


def and_scope(condition: str, params: dict[str, Any], scope: DataScope) -> tuple[str, dict[str, Any]]:
    """``condition`` narrowed to ``scope`` (``params`` is not changed)."""
    conds, extra = scope_conditions(scope)
    if not conds:
        return condition, dict(params)
    return " AND ".join([f"({condition})", *(f"({c})" for c in conds)]), {**params, **extra}


def scope_key(scope: DataScope) -> dict[str, list[str] | None]:
    """The scope as it goes into a cache key: two scopes share cached answers only when equal."""
    return scope.as_dict()

