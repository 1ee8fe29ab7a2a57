"""From the ROLLUP rows to a sorted, limited tree with "Other" buckets.

Pure: takes the query's Arrow table, returns plain rows. Keys are decoded once into
integer codes whose order is the values' order, and every level is a set of
arrays (parent, own code, base sums), so ranking, cutting and folding are a few
NumPy operations per level rather than frame merges: a column split costs little
more than the pivot without it. Children are ranked within their parent (by the
sort metric — over all columns or in one split column — or by a dimension; ties by
the dimension value), the first ``limit`` are kept and the rest are summed into one
Other bucket per parent. Every metric of every row, subtotal, bucket and total is
computed from the base sums of that row, so ratios are never averages of averages.

Stocks (see ``catalog`` and ``sql``): the query returns each group's stock sums
over its own last trade date and that date; the grand total's is the answer's
as-of date, and a group whose last date is earlier holds 0 on it (or the query
returns range sums, averaged over ``stock_days``). Zeroed per row before anything
is added up, stocks then add up like flows. A group that fixes a trade date —
``trade_date`` is one of its keys — shows that day's value instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from backend.pivot.catalog import MAX_COLUMN_COMBINATIONS, METRICS, base_of, is_stock_read
from backend.pivot.request import PivotRequest
from backend.pivot.shape_values import SumReader, records
from backend.pivot.sql import StockPlan


@dataclass
class Shaped:
    rows: list[dict[str, Any]]
    subtotals: list[dict[str, Any]]
    totals: dict[str, Any]
    column_values: list[list[str]]
    truncated: bool
    columns_truncated: bool
    groups: int
    folded: int = 0
    as_of: str | None = None
    stock_days: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ordered like the values, and the sorted distinct values."""
    text = pc.cast(column, pa.string()) if not pa.types.is_string(column.type) else column
    encoded = pc.dictionary_encode(text.combine_chunks())
    values = np.array(encoded.dictionary.to_pylist(), dtype=object)
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values), dtype=np.int64)
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return rank[indices] if len(values) else indices, values[order]


def _dense(keys: np.ndarray) -> tuple[np.ndarray, int]:
    uniq, inverse = np.unique(keys, return_inverse=True)
    return inverse.astype(np.int64), len(uniq)


def _group_sum(ids: np.ndarray, sums: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((size, sums.shape[1]), dtype=np.float64)
    for j in range(sums.shape[1]):
        out[:, j] = np.bincount(ids, weights=sums[:, j], minlength=size)
    return out


@dataclass
class _Level:
    """Unsplit groups of one level (ids 0..n-1) and the split rows that belong to them."""

    parent: np.ndarray  # id of the parent group one level up
    code: np.ndarray  # own key's code
    sums: np.ndarray  # (groups x sums)
    split_gid: np.ndarray  # group id of each split row
    split_combo: np.ndarray  # column combination of each split row (-1: beyond the cap)
    split_sums: np.ndarray


class _Decoded:
    """The query result as arrays: codes per key, levels by grouping mask, sums."""

    def __init__(self, table: pa.Table, k: int, m: int, names: tuple[str, ...], plan: StockPlan) -> None:
        self.k, self.m, self.n = k, m, table.num_rows
        grouping = table.column("_g").to_numpy().astype(np.uint64) if self.n else np.zeros(0, np.uint64)
        present = (m + k) - np.bitwise_count(grouping).astype(np.int64)
        self.present = present
        self.names = list(names)
        columns = [table.column(f"out_{s}").to_numpy().astype(np.float64) for s in names]
        self.as_of: date | None = None
        self.days = 0
        if self.n:
            total = int(np.flatnonzero(present == 0)[0])
            self.as_of = table.column("_as_of")[total].as_py()
            self.days = int(table.column("_stock_days")[total].as_py())
            if plan == "at_last":
                columns = self._at_as_of(columns, table.column("_as_of").to_numpy(), total)
        self.sums = np.column_stack(columns) if columns and self.n else np.zeros((self.n, len(self.names)))
        self.dlevel = np.where(present >= m, present - m, -1) if m else present
        self.ccodes, self.cvalues = zip(*[_codes(table.column(f"c{i}")) for i in range(m)]) if m else ((), ())
        self.dcodes, self.dvalues = zip(*[_codes(table.column(f"d{i}")) for i in range(k)]) if k else ((), ())
        # One number per column combination (mixed radix over the column codes).
        self.ckey = np.zeros(self.n, dtype=np.int64)
        for codes, values in zip(self.ccodes, self.cvalues, strict=True):
            self.ckey = self.ckey * max(len(values), 1) + codes
        # Group id of each row at every depth of its row key: ids are shared by all rows
        # (unsplit or split) that have the same leading keys.
        self.ids: list[np.ndarray] = []
        self.sizes: list[int] = []
        previous = np.zeros(self.n, dtype=np.int64)
        for j in range(k):
            chosen = self.dlevel > j
            ids = np.full(self.n, -1, dtype=np.int64)
            size = 0
            if chosen.any():
                card = max(len(self.dvalues[j]), 1)
                ids[chosen], size = _dense(previous[chosen] * card + self.dcodes[j][chosen])
            self.ids.append(ids)
            self.sizes.append(size)
            previous = ids

    def _at_as_of(self, columns: list[np.ndarray], last: np.ndarray, total: int) -> list[np.ndarray]:
        """Each stock at the answer's as-of date: a group whose last date is earlier holds 0.

        A group that fixes a trade date shows its own day, so the sum over its last date
        is kept as well, under the base sum's name (a flow of that name is the same sum).
        """
        on_as_of = last == last[total]
        out = list(columns)
        for i, name in enumerate(list(self.names)):
            if not is_stock_read(name):
                continue
            if base_of(name) not in self.names:
                self.names.append(base_of(name))
                out.append(columns[i])
            out[i] = np.where(on_as_of, columns[i], 0.0)
        return out

    def combos(self) -> tuple[list[tuple[str, ...]], np.ndarray, bool]:
        """Column combinations (sorted, capped), the combination of every row, and if capped."""
        if not self.m:
            return [], np.full(self.n, -1, dtype=np.int64), False
        found = np.unique(self.ckey[self.present == self.m])
        kept = found[:MAX_COLUMN_COMBINATIONS]
        index = np.searchsorted(kept, self.ckey)
        inside = index < len(kept)
        match = np.zeros(self.n, dtype=bool)
        match[inside] = kept[index[inside]] == self.ckey[inside]
        combo = np.where(match, index, -1).astype(np.int64)
        tuples = []
        for key in kept.tolist():
            parts = []
            for values in reversed(self.cvalues):
                card = max(len(values), 1)
                parts.append(str(values[key % card]))
                key //= card
            tuples.append(tuple(reversed(parts)))
        return tuples, combo, len(found) > MAX_COLUMN_COMBINATIONS

    def combo_of(self, wanted: list[str]) -> int | None:
        """The combination key of the column values ``wanted``, or None when no row has them."""
        key = 0
        for value, values in zip(wanted, self.cvalues, strict=True):
            pos = int(np.searchsorted(values, value)) if len(values) else 0
            if pos >= len(values) or values[pos] != value:
                return None
            key = key * max(len(values), 1) + pos
        return key

    def level(self, depth: int, combo: np.ndarray) -> _Level:
        """Groups fixing the first ``depth`` row keys (depth >= 1)."""
        ids = self.ids[depth - 1]
        size = self.sizes[depth - 1]
        split_rows = np.flatnonzero((self.present == self.m + depth) & (ids >= 0)) if self.m else np.zeros(0, np.int64)
        own_rows = np.flatnonzero(self.dlevel == depth)  # unsplit rows, or split rows when m > 0
        parent = np.zeros(size, dtype=np.int64)
        code = np.zeros(size, dtype=np.int64)
        gid = ids[own_rows]
        parent[gid] = self.ids[depth - 2][own_rows] if depth > 1 else 0
        code[gid] = self.dcodes[depth - 1][own_rows]
        if self.m:
            sums = _group_sum(gid, self.sums[own_rows], size)
        else:
            sums = np.zeros((size, len(self.names)), dtype=np.float64)
            sums[gid] = self.sums[own_rows]
        return _Level(parent, code, sums, ids[split_rows], combo[split_rows], self.sums[split_rows])

    def top(self, combo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grand-total sums, and the split rows of the top level (combination, sums)."""
        total_rows = np.flatnonzero(self.present == 0)
        total = self.sums[total_rows[0]] if len(total_rows) else np.zeros(len(self.names), np.float64)
        split_rows = np.flatnonzero(self.present == self.m) if self.m else np.zeros(0, np.int64)
        return total, combo[split_rows], self.sums[split_rows]


@dataclass
class _Nodes:
    """Output rows of one level: kept groups then Other buckets."""

    level: int
    ranks: np.ndarray  # (nodes x level): rank under each ancestor, then own
    codes: np.ndarray  # (nodes x level): key codes of the path (-1: the Other's own key)
    sums: np.ndarray
    other: np.ndarray  # bool
    folded: np.ndarray  # int
    split: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (node index, combo, sums) rows


def _order_within(parent: np.ndarray, code: np.ndarray, metric: np.ndarray | None,
                  desc_metric: bool, desc_code: bool) -> np.ndarray:
    """Sort order grouping siblings together: metric (missing last), then code."""
    code_key = -code if desc_code else code
    if metric is None:
        return np.lexsort((code_key, parent))
    missing = ~np.isfinite(metric)
    value = np.where(missing, 0.0, -metric if desc_metric else metric)
    return np.lexsort((code_key, value, missing, parent))


def _rank(sorted_parent: np.ndarray) -> np.ndarray:
    if len(sorted_parent) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_parent[1:] != sorted_parent[:-1]])
    lengths = np.diff(np.r_[starts, len(sorted_parent)])
    return np.arange(len(sorted_parent)) - np.repeat(starts, lengths)


class _Tree:
    def __init__(self, req: PivotRequest, data: _Decoded, reader: SumReader) -> None:
        self.req, self.data, self.reader = req, data, reader
        self.k, self.m = len(req.dimensions), len(req.columns)
        self.folded = 0
        self.combos, self.combo, self.columns_truncated = data.combos()
        self.date_at = req.dimensions.index("trade_date") if "trade_date" in req.dimensions else None
        self.sort_combo: int | None = None
        self.sort_column = bool(req.sort is not None and req.sort.column is not None)
        if self.sort_column and req.sort is not None and req.sort.column is not None:
            self.sort_combo = data.combo_of(list(req.sort.column))

    def fixes_date(self, depth: int) -> bool:
        """Whether a group fixing ``depth`` leading row keys fixes one trade date."""
        return self.date_at is not None and self.date_at < depth

    def _sort_values(self, depth: int, level: _Level, chosen: np.ndarray) -> np.ndarray | None:
        sort = self.req.sort
        if sort is None or sort.field not in METRICS:
            return None
        if not self.sort_column:
            values = self.reader.metric(sort.field, level.sums[chosen], self.fixes_date(depth))
            return values
        out = np.full(len(level.parent), np.nan)
        if self.sort_combo is not None:
            rows = np.flatnonzero((self.data.present == self.m + depth) & (self.data.ckey == self.sort_combo))
            fixed = True if "trade_date" in self.req.columns else self.fixes_date(depth)
            out[self.data.ids[depth - 1][rows]] = self.reader.metric(sort.field, self.data.sums[rows], fixed)
        return out[chosen]

    def build(self) -> list[_Nodes]:
        levels: list[_Nodes] = []
        kept_parent = np.ones(1, dtype=bool)  # the root
        parent_node = np.zeros(1, dtype=np.int64)  # root id -> row in the previous level's nodes
        parent_ranks = np.zeros((1, 0), dtype=np.int64)
        parent_codes = np.zeros((1, 0), dtype=np.int64)
        for depth in range(1, self.k + 1):
            level = self.data.level(depth, self.combo)
            chosen = np.flatnonzero(kept_parent[level.parent]) if len(level.parent) else np.zeros(0, np.int64)
            sort = self.req.sort
            field_name = sort.field if sort else None
            desc = bool(sort and sort.direction == "desc")
            metric = self._sort_values(depth, level, chosen)
            desc_code = desc and field_name == self.req.dimensions[depth - 1]
            order = chosen[_order_within(level.parent[chosen], level.code[chosen], metric, desc, desc_code)]
            rank = _rank(level.parent[order])
            keep = rank < self.req.limit
            kept, cut = order[keep], order[~keep]
            nodes = self._nodes(depth, level, kept, rank[keep], cut, parent_node, parent_ranks, parent_codes)
            levels.append(nodes)
            kept_parent = np.zeros(len(level.parent), dtype=bool)
            kept_parent[kept] = True
            parent_node = np.full(len(level.parent), -1, dtype=np.int64)
            parent_node[kept] = np.arange(len(kept))
            parent_ranks, parent_codes = nodes.ranks[: len(kept)], nodes.codes[: len(kept)]
        return levels

    def _nodes(self, depth: int, level: _Level, kept: np.ndarray, kept_rank: np.ndarray, cut: np.ndarray,
               parent_node: np.ndarray, parent_ranks: np.ndarray, parent_codes: np.ndarray) -> _Nodes:
        up = parent_node[level.parent[kept]]
        ranks = np.column_stack([parent_ranks[up], kept_rank]) if len(kept) else np.zeros((0, depth), np.int64)
        codes = np.column_stack([parent_codes[up], level.code[kept]]) if len(kept) else np.zeros((0, depth), np.int64)
        node_of = np.full(len(level.parent), -1, dtype=np.int64)
        node_of[kept] = np.arange(len(kept))
        split: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if self.m:
            on = node_of[level.split_gid]
            ok = (on >= 0) & (level.split_combo >= 0)
            split.append((on[ok], level.split_combo[ok], level.split_sums[ok]))
        sums = level.sums[kept]
        other = np.zeros(len(kept), dtype=bool)
        folded = np.zeros(len(kept), dtype=np.int64)
        if len(cut):
            # One Other bucket per parent that lost children, after its kept children.
            owners, slot = np.unique(parent_node[level.parent[cut]], return_inverse=True)
            count = len(owners)
            other_sums = _group_sum(slot, level.sums[cut], count)
            other_ranks = np.column_stack([parent_ranks[owners], np.full(count, self.req.limit)])
            other_codes = np.column_stack([parent_codes[owners], np.full(count, -1)])
            self.folded += len(cut)
            if self.m:
                slot_of = np.full(len(level.parent), -1, dtype=np.int64)
                slot_of[cut] = slot
                on = slot_of[level.split_gid]
                ok = (on >= 0) & (level.split_combo >= 0)
                width = max(len(self.combos), 1)
                pair, inverse = np.unique(on[ok] * width + level.split_combo[ok], return_inverse=True)
                split.append((len(kept) + pair // width, pair % width,
                              _group_sum(inverse, level.split_sums[ok], len(pair))))
            ranks = np.vstack([ranks, other_ranks])
            codes = np.vstack([codes, other_codes])
            sums = np.vstack([sums, other_sums])
            other = np.r_[other, np.ones(count, dtype=bool)]
            folded = np.r_[folded, np.bincount(slot, minlength=count)]
        return _Nodes(depth, ranks, codes, sums, other, folded, split)


def shape(table: pa.Table, req: PivotRequest, sums: tuple[str, ...], plan: StockPlan) -> Shaped:
    """The tree of ``req`` from its query's rows (sum columns ``out_<name>`` for ``sums``)."""
    k, m = len(req.dimensions), len(req.columns)
    data = _Decoded(table, k, m, sums, plan)
    days, as_of = data.days, data.as_of if data.days else None
    reader = SumReader(tuple(data.names), req.stocks, days)
    tree = _Tree(req, data, reader)
    levels = tree.build()
    total, top_combo, top_sums = data.top(tree.combo)
    out = records(req, tree, levels, data, total, top_combo, top_sums)
    return Shaped(
        rows=out.rows,
        subtotals=out.subtotals,
        totals=out.totals,
        column_values=[list(c) for c in tree.combos],
        truncated=tree.folded > 0 or tree.columns_truncated,
        columns_truncated=tree.columns_truncated,
        groups=data.n,
        folded=tree.folded,
        as_of=as_of.isoformat() if as_of is not None else None,
        stock_days=days,
    )

