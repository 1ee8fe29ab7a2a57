"""Names beside ids in the pivot: a portfolio manager's name next to ``PM18``.

The id stays the row's key (links, filters and drill-through use it); the name is
only shown beside it. Names are read once per data version from the trades table
(one small GROUP BY) and added to the tree rows whose own level is a named id.
An id that carries several names over time shows them joined with " / ".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from backend.access.principal import EVERYTHING, DataScope
from backend.access.scope_sql import scope_condition
from backend.warehouse import Warehouse

# Id dimension -> its name column; also the whitelist of identifiers the query may use.
NAMED: Final[dict[str, str]] = {"portfolio_manager_id": "portfolio_manager_name"}
NAME_FIELD: Final = "_name"


def id_names(wh: Warehouse, scope: DataScope = EVERYTHING) -> dict[str, dict[str, str]]:
    """For each named id dimension, the name(s) of every id on the rows ``scope`` allows."""
    out: dict[str, dict[str, str]] = {}
    allowed, params = scope_condition(scope)
    for dim, name in NAMED.items():
        rows = wh.query_rows(
            f"SELECT toString(`{dim}`), arrayStringConcat(arraySort(groupUniqArray(toString(`{name}`))), ' / ') "
            f"FROM {{db}}.trades_1d WHERE `{name}` != '' AND {allowed} GROUP BY 1",
            params,
        )
        out[dim] = {str(i): str(n) for i, n in rows if n}
    return out


def with_names(tree: Sequence[Mapping[str, Any]], dimensions: Sequence[str],
               names: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """``tree`` (rows with ``_path``) with ``_name`` on each row whose own level is a named id that has a name."""
    levels = {i + 1: names[d] for i, d in enumerate(dimensions) if d in names}
    out = []
    for row in tree:
        path = row.get("_path") or []
        known = levels.get(len(path))
        name = known.get(str(path[-1])) if known and row.get("_kind") in ("group", "leaf") else None
        out.append({**row, NAME_FIELD: name} if name else dict(row))
    return out
