"""The pivot result and its tree view for the grid.

``PivotResult`` holds plain JSON-able values only (ISO date strings, floats,
ints, strings, ``None`` for "no value", e.g. an average price over no quantity):

* ``rows``: leaf rows at full dimension depth, in display order. Each is
  ``{dimension: value, ..., metric: value, "<metric>__c<i>": value, ...}``.
* ``subtotals``: one dict per group above the leaves, ``_level`` = how many
  leading dimensions it fixes (1..k-1); deeper dimensions are absent.
* "Other" buckets: when ``limit`` cuts the children of a parent, one row with
  ``_other: True`` and ``_folded`` (how many children it holds) follows the kept
  children. Its own-level dimension is ``None``; its metrics make the parent add up.
  At the leaf level it sits in ``rows``, above it in ``subtotals`` (with ``_level``).
* ``totals``: metric -> grand total (always over all data, never truncated).
* ``column_values[i]``: the tuple of column-dimension values of split ``i``, whose
  metric values are under ``f"{metric}__c{i}"``.
* ``meta``: ``source`` (table), ``exposure``, ``elapsed_ms``, ``data_version``,
  ``groups`` (rows returned by the query), ``leaf_rows``, ``subtotal_rows``,
  ``columns_truncated``, and how stocks were read over the date range:
  ``stocks`` ("last" | "average"), ``as_of`` (ISO date every stock of the answer is
  read at — the last trade date with data under the filters — or ``None`` when no
  row matched), ``stock_days`` (dates with data: the average's denominator),
  ``stock_metrics`` (the requested metrics that read a stock; ``pnl_pct_gross``'s
  denominator is one) and ``stocks_by_date`` (``trade_date`` is a row or column key:
  a group that fixes a date shows that day's value; everything else ``as_of``).

``tree_rows()`` interleaves subtotals and rows depth first (a group before its
children) and adds ``_path``, ``_level``, ``_kind`` ('group' | 'leaf' | 'other')
and ``_id`` (JSON of the path; an Other bucket's path ends in ``None``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PivotResult:
    dimensions: list[str]
    columns: list[str]
    metrics: list[str]
    rows: list[dict[str, Any]]
    subtotals: list[dict[str, Any]]
    totals: dict[str, Any]
    column_values: list[list[str]] = field(default_factory=list)
    truncated: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def tree_rows(self) -> list[dict[str, Any]]:
        return tree_rows(self.to_dict())


def _path(row: dict[str, Any], dims: list[str], level: int) -> list[Any]:
    return [row.get(d) for d in dims[:level]]


def _decorate(row: dict[str, Any], dims: list[str], level: int, kind: str) -> dict[str, Any]:
    path = _path(row, dims, level)
    out = dict(row)
    out.update(_path=path, _level=level, _kind=kind, _id=json.dumps(path, separators=(",", ":")))
    return out


def tree_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Subtotals and rows of a result (or its ``to_dict()``) merged depth first.

    Both lists are already depth first, so a merge suffices: a pending subtotal
    goes before a leaf when it is the leaf's ancestor, or when it is an Other
    bucket whose parent's subtree the leaf has already left.
    """
    dims: list[str] = list(result["dimensions"])
    depth = len(dims)
    groups = [
        _decorate(s, dims, s["_level"], "other" if s.get("_other") else "group")
        for s in result["subtotals"]
    ]
    out: list[dict[str, Any]] = []
    i = 0
    for row in result["rows"]:
        leaf = _decorate(row, dims, depth, "other" if row.get("_other") else "leaf")
        path = leaf["_path"]
        while i < len(groups):
            g = groups[i]
            level = g["_level"]
            if g["_kind"] == "group":
                take = path[:level] == g["_path"]
            else:
                take = path[: level - 1] != g["_path"][: level - 1]
            if not take:
                break
            out.append(g)
            i += 1
        out.append(leaf)
    out.extend(groups[i:])
    return out
