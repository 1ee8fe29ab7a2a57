"""Metric values from base sums, and the plain records of a shaped pivot.

``SumReader`` turns the query's sum columns into the reads a metric asks for
(``catalog``): a flow read is the range sum; a stock read is the sum as of the
answer's date (``st_<sum>`` from the query), or the range sum divided by the
number of dates with data (``"stocks": "average"``). A group that fixes one trade
date reads that day's own sum instead, so a by-date pivot shows each day's level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from backend.pivot.catalog import METRICS, StockMode, base_of, is_stock_read
from backend.pivot.request import PivotRequest

if TYPE_CHECKING:
    from backend.pivot.shape import _Decoded, _Nodes, _Tree

Fixed = bool | np.ndarray


class SumReader:
    def __init__(self, names: tuple[str, ...], mode: StockMode, days: int) -> None:
        self.index = {name: i for i, name in enumerate(names)}
        self.mode = mode
        self.days = max(days, 1)

    def read(self, name: str, sums: np.ndarray, fixed: Fixed) -> np.ndarray:
        if not is_stock_read(name):
            return sums[:, self.index[name]]
        base = base_of(name)
        if self.mode == "average":
            total = sums[:, self.index[base]]
            return np.where(fixed, total, total / self.days)
        as_of = sums[:, self.index[name]]
        if np.any(fixed):
            return np.where(fixed, sums[:, self.index[base]], as_of)
        return as_of

    def metric(self, name: str, sums: np.ndarray, fixed: Fixed) -> np.ndarray:
        spec = METRICS[name]
        return np.asarray(spec.compute({r: self.read(r, sums, fixed) for r in spec.sums}), dtype=np.float64)


def _clean(values: np.ndarray, as_int: bool) -> list[Any]:
    finite = np.isfinite(values).tolist()
    if as_int:
        return [round(v) if ok else None for v, ok in zip(values.tolist(), finite, strict=True)]
    return [v if ok else None for v, ok in zip(values.tolist(), finite, strict=True)]


def _is_count(metric: str) -> bool:
    return METRICS[metric].format == "count"


@dataclass
class Records:
    rows: list[dict[str, Any]]
    subtotals: list[dict[str, Any]]
    totals: dict[str, Any]


def _split_matrix(tree: _Tree, size: int, entries: list[tuple[np.ndarray, np.ndarray, np.ndarray, Fixed]]
                  ) -> dict[str, np.ndarray]:
    """``metric -> (nodes x combinations)`` values; NaN where a node has no value."""
    width = len(tree.combos)
    out = {m: np.full((size, width), np.nan) for m in tree.req.metrics}
    for node, combo, sums, fixed in entries:
        if len(node) == 0:
            continue
        for metric in tree.req.metrics:
            out[metric][node, combo] = tree.reader.metric(metric, sums, fixed)
    return out


def _columns(tree: _Tree, values: dict[str, np.ndarray], split: dict[str, np.ndarray]) -> tuple[list[str], list[list[Any]]]:
    names: list[str] = []
    cols: list[list[Any]] = []
    for metric in tree.req.metrics:
        names.append(metric)
        cols.append(_clean(values[metric], _is_count(metric)))
    for ci in range(len(tree.combos)):
        for metric in tree.req.metrics:
            names.append(f"{metric}__c{ci}")
            cols.append(_clean(split[metric][:, ci], _is_count(metric)))
    return names, cols


def records(req: PivotRequest, tree: _Tree, levels: list[_Nodes], data: _Decoded, total: np.ndarray,
            top_combo: np.ndarray, top_sums: np.ndarray) -> Records:
    """Plain dicts: leaf rows and subtotals in display order (depth first), and the totals."""
    k = len(req.dimensions)
    date_column = "trade_date" in req.columns
    counts = [len(n.other) for n in levels]
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64) if levels else np.zeros(1, np.int64)
    size = int(offsets[-1])
    sums = np.vstack([n.sums for n in levels]) if size else np.zeros((0, len(data.names)))
    # Kept groups fix what their keys fix; an Other bucket only what its parent fixes.
    fixed = np.concatenate([np.where(n.other, tree.fixes_date(n.level - 1), tree.fixes_date(n.level))
                            for n in levels]) if size else np.zeros(0, dtype=bool)
    values = {m: tree.reader.metric(m, sums, fixed) for m in req.metrics}
    entries = []
    for n, offset in zip(levels, offsets[:-1].tolist(), strict=False):
        for node, combo, split_sums in n.split:
            glob = node + offset
            entries.append((glob, combo, split_sums, True if date_column else fixed[glob]))
    split = _split_matrix(tree, size, entries)

    ranks = np.full((size, k), -1, dtype=np.int64)
    codes = np.full((size, k), -1, dtype=np.int64)
    level = np.zeros(size, dtype=np.int64)
    for n, offset in zip(levels, offsets[:-1].tolist(), strict=False):
        end = offset + len(n.other)
        ranks[offset:end, : n.level] = n.ranks
        codes[offset:end, : n.level] = n.codes
        level[offset:end] = n.level
    order = np.lexsort(ranks.T[::-1]) if size and k else np.arange(size)
    other = np.concatenate([n.other for n in levels])[order] if size else np.zeros(0, bool)
    folded = np.concatenate([n.folded for n in levels])[order] if size else np.zeros(0, np.int64)
    level = level[order]
    names, cols = _columns(tree, {m: v[order] for m, v in values.items()}, {m: v[order] for m, v in split.items()})
    dims = []
    for i in range(k):
        column = codes[order, i]
        table = np.append(data.dvalues[i], None) if len(data.dvalues[i]) else np.array([None], dtype=object)
        dims.append(table[np.where(column >= 0, column, len(table) - 1)].tolist())

    rows: list[dict[str, Any]] = []
    subtotals: list[dict[str, Any]] = []
    levels_list, other_list, folded_list = level.tolist(), other.tolist(), folded.tolist()
    for j, metric_values in enumerate(zip(*cols, strict=True)):
        depth = levels_list[j]
        rec: dict[str, Any] = {req.dimensions[i]: dims[i][j] for i in range(depth)}
        rec.update(zip(names, metric_values, strict=True))
        if depth < k:
            rec["_level"] = depth
        if other_list[j]:
            rec["_other"] = True
            rec["_folded"] = int(folded_list[j])
        (rows if depth == k else subtotals).append(rec)

    total_values = {m: tree.reader.metric(m, total[None, :], False) for m in req.metrics}
    ok = top_combo >= 0
    total_split = _split_matrix(tree, 1, [(np.zeros(int(ok.sum()), np.int64), top_combo[ok], top_sums[ok], date_column)])
    names, cols = _columns(tree, total_values, total_split)
    totals = {name: col[0] for name, col in zip(names, cols, strict=True)}
    return Records(rows=rows, subtotals=subtotals, totals=totals)

