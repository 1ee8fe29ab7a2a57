"""From the ROLLUP rows to a sorted, limited tree with "Other" buckets.

Pure: takes the query's Arrow table, returns plain rows. Each level is a frame of
groups keyed by its leading dimensions; children are ranked within their parent
(by the sort metric or dimension, ties by the dimension value), the first
``limit`` are kept and the rest are summed into one Other bucket per parent.
Every metric of every row, subtotal, bucket and total is computed from the base
sums of that row, so ratios are never averages of averages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from backend.pivot.catalog import MAX_COLUMN_COMBINATIONS, METRICS
from backend.pivot.request import PivotRequest


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
    extra: dict[str, Any] = field(default_factory=dict)


def _plain(table: pa.Table) -> pd.DataFrame:
    # Dictionary-encoded (LowCardinality) keys become plain strings for grouping.
    arrays = [
        col.cast(pa.string()) if pa.types.is_dictionary(col.type) else col
        for col in table.columns
    ]
    df = pa.table(arrays, names=table.column_names).to_pandas()
    # Plain Python strings: Arrow-backed string columns fail to join when a side is empty.
    for name in df.columns:
        if name[0] in "cd" and name[1:].isdigit():
            df[name] = df[name].astype(object)
    return df


def _metric_values(frame: pd.DataFrame, metrics: list[str]) -> dict[str, np.ndarray]:
    sums = {c: frame[c].to_numpy(dtype=np.float64) for c in frame.columns if c.startswith("sum_")}
    return {m: METRICS[m].compute(sums) for m in metrics}


class _Levels:
    """Unsplit and split sums of every level, decoded from the grouping mask."""

    def __init__(self, df: pd.DataFrame, k: int, m: int, sums: tuple[str, ...]) -> None:
        present = (m + k) - np.bitwise_count(df["_g"].to_numpy(dtype=np.uint64)).astype(np.int64)
        dims = [f"d{i}" for i in range(k)]
        cols = [f"c{i}" for i in range(m)]
        self.sums = list(sums)
        self.unsplit: list[pd.DataFrame] = []
        self.split: list[pd.DataFrame] = []
        for level in range(k + 1):
            keys = dims[:level]
            if m == 0:
                self.unsplit.append(df.loc[present == level, keys + self.sums].reset_index(drop=True))
                continue
            split = df.loc[present == m + level, cols + keys + self.sums].reset_index(drop=True)
            self.split.append(split)
            if level == 0:
                self.unsplit.append(df.loc[present == 0, self.sums].reset_index(drop=True))
            else:
                self.unsplit.append(split.groupby(keys, sort=False, as_index=False)[self.sums].sum())


def _totals_frame(levels: _Levels) -> pd.DataFrame:
    top = levels.unsplit[0]
    if len(top) == 0:
        # No rows at all: every sum is zero.
        return pd.DataFrame({s: [0.0] for s in levels.sums})
    return top.iloc[:1].reset_index(drop=True)


def shape(table: pa.Table, req: PivotRequest, sums: tuple[str, ...]) -> Shaped:
    k, m = len(req.dimensions), len(req.columns)
    df = _plain(table)
    levels = _Levels(df, k, m, sums)
    combos, columns_truncated = _column_combos(levels, m)
    builder = _Builder(req, levels, combos)
    nodes = builder.build()
    totals_df = _totals_frame(levels)
    if m:
        totals_df = builder.attach_columns(totals_df, levels.split[0], [])
    totals = builder.records(totals_df)[0]
    rows: list[dict[str, Any]] = []
    subtotals: list[dict[str, Any]] = []
    for level, record in zip(nodes["_lvl"].tolist(), builder.records(nodes), strict=True):
        (rows if level == k else subtotals).append(record)
    return Shaped(
        rows=rows,
        subtotals=subtotals,
        totals=totals,
        column_values=[list(c) for c in combos],
        truncated=builder.folded > 0 or columns_truncated,
        columns_truncated=columns_truncated,
        groups=len(df),
        folded=builder.folded,
    )


def _column_combos(levels: _Levels, m: int) -> tuple[list[tuple[str, ...]], bool]:
    if m == 0:
        return [], False
    cols = [f"c{i}" for i in range(m)]
    found = sorted(set(levels.split[0][cols].itertuples(index=False, name=None)))
    return found[:MAX_COLUMN_COMBINATIONS], len(found) > MAX_COLUMN_COMBINATIONS


class _Builder:
    def __init__(self, req: PivotRequest, levels: _Levels, combos: list[tuple[str, ...]]) -> None:
        self.req = req
        self.levels = levels
        self.k = len(req.dimensions)
        self.m = len(req.columns)
        self.combos = combos
        self.metrics = list(req.metrics)
        self.sort = req.sort
        if self.sort is not None and self.sort.field in METRICS and self.sort.field not in self.metrics:
            self.sort_metrics = [*self.metrics, self.sort.field]
        else:
            self.sort_metrics = self.metrics
        self.folded = 0

    # -- tree ---------------------------------------------------------------------
    def build(self) -> pd.DataFrame:
        """Kept groups and Other buckets of every level in depth-first order (``_lvl``)."""
        frames: list[pd.DataFrame] = []
        parents = pd.DataFrame(index=[0])  # the root: no keys, no ranks
        for level in range(1, self.k + 1):
            kept, other = self._rank_level(level, parents)
            frames += [f.assign(_lvl=level) for f in (kept, other) if len(f)]
            parents = kept
        if not frames:
            return pd.DataFrame({"_lvl": pd.Series(dtype=np.int64)})
        merged = pd.concat(frames, ignore_index=True)
        # A group sorts before its children: missing deeper ranks count as -1.
        ranks = [f"_r{i}" for i in range(self.k)]
        for r in ranks:
            merged[r] = merged[r].fillna(-1).astype(np.int64)
        return merged.sort_values(ranks, kind="stable").reset_index(drop=True)

    def _rank_level(self, level: int, parents: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        keys = [f"d{i}" for i in range(level)]
        parent_keys = keys[:-1]
        parent_ranks = [f"_r{i}" for i in range(level - 1)]
        frame = self.levels.unsplit[level]
        if parent_keys:
            frame = frame.merge(parents[parent_keys + parent_ranks], on=parent_keys, how="inner")
        for name, values in _metric_values(frame, self.sort_metrics).items():
            frame[f"_m_{name}"] = values
        by, ascending = self._order(level, parent_ranks)
        frame = frame.sort_values(by, ascending=ascending, na_position="last", kind="stable")
        rank = frame.groupby(parent_ranks, sort=False).cumcount() if parent_ranks else \
            pd.Series(np.arange(len(frame)), index=frame.index)
        frame[f"_r{level - 1}"] = rank.to_numpy()
        keep = frame[f"_r{level - 1}"].to_numpy() < self.req.limit
        kept = frame.loc[keep]
        cut = frame.loc[~keep]
        if self.m:
            kept = self.attach_columns(kept, self.levels.split[level], keys)
        return kept, self._other(level, cut)

    def _order(self, level: int, parent_ranks: list[str]) -> tuple[list[str], list[bool]]:
        own = f"d{level - 1}"
        by, ascending = list(parent_ranks), [True] * len(parent_ranks)
        field, desc = (self.sort.field, self.sort.direction == "desc") if self.sort else (None, False)
        if field in METRICS:
            by.append(f"_m_{field}")
            ascending.append(not desc)
            by.append(own)
            ascending.append(True)
        else:
            by.append(own)
            ascending.append(not (desc and field == self.req.dimensions[level - 1]))
        return by, ascending

    def _other(self, level: int, cut: pd.DataFrame) -> pd.DataFrame:
        if len(cut) == 0:
            return cut.iloc[0:0]
        keys = [f"d{i}" for i in range(level)]
        parent_keys = keys[:-1]
        parent_ranks = [f"_r{i}" for i in range(level - 1)]
        sums = self.levels.sums
        group = parent_keys + parent_ranks
        if group:
            other = cut.groupby(group, sort=False, as_index=False).agg(
                **{s: (s, "sum") for s in sums}, _folded=(sums[0], "size")
            )
        else:
            other = pd.DataFrame({**{s: [cut[s].sum()] for s in sums}, "_folded": [len(cut)]})
        other[keys[-1]] = None
        other[f"_r{level - 1}"] = self.req.limit  # after every kept sibling
        other["_other"] = True
        self.folded += len(cut)
        if self.m:
            split = self.levels.split[level].merge(cut[keys], on=keys, how="inner")
            cols = [f"c{i}" for i in range(self.m)]
            split = split.groupby(parent_keys + cols, sort=False, as_index=False)[sums].sum()
            other = self.attach_columns(other, split, parent_keys)
        return other

    # -- column split ------------------------------------------------------------------
    def attach_columns(self, frame: pd.DataFrame, split: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        """Add ``<metric>__c<i>`` for every kept column combination."""
        cols = [f"c{i}" for i in range(self.m)]
        index = {combo: i for i, combo in enumerate(self.combos)}
        combo_ids = np.fromiter(
            (index.get(t, -1) for t in split[cols].itertuples(index=False, name=None)),
            dtype=np.int64,
            count=len(split),
        )
        split = split.loc[combo_ids >= 0].assign(_ci=combo_ids[combo_ids >= 0])
        values = _metric_values(split, self.metrics)
        wide_src = split[keys + ["_ci"]].copy()
        for name, vals in values.items():
            wide_src[name] = vals
        if keys:
            wide = wide_src.pivot(index=keys, columns="_ci", values=self.metrics)
        else:
            wide = wide_src.set_index(np.zeros(len(wide_src), dtype=np.int64)).pivot(
                columns="_ci", values=self.metrics
            )
        wide.columns = [f"{metric}__c{ci}" for metric, ci in wide.columns]
        names = [f"{metric}__c{ci}" for ci in range(len(self.combos)) for metric in self.metrics]
        wide = wide.reindex(columns=names)
        if keys:
            return frame.merge(wide, left_on=keys, right_index=True, how="left")
        return pd.concat([frame.reset_index(drop=True), wide.reset_index(drop=True)], axis=1)

    # -- output --------------------------------------------------------------------
    def records(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Plain dicts for ``frame`` (rows of any level; a frame without ``_lvl`` is level 0)."""
        n = len(frame)
        if n == 0:
            return []
        lvl = frame["_lvl"].to_numpy(dtype=np.int64) if "_lvl" in frame else np.zeros(n, np.int64)
        values: dict[str, list[Any]] = {}
        for name, vals in _metric_values(frame, self.metrics).items():
            values[name] = _clean(vals, METRICS[name].format == "count")
        for col in (c for c in frame.columns if "__c" in c):
            metric = col.split("__c", 1)[0]
            values[col] = _clean(frame[col].to_numpy(dtype=np.float64), METRICS[metric].format == "count")
        dims = [
            [None if _missing(v) else v for v in frame[f"d{i}"].tolist()] if f"d{i}" in frame else []
            for i in range(self.k)
        ]
        other = frame["_other"].eq(True).to_numpy() if "_other" in frame else np.zeros(n, bool)
        folded = frame["_folded"].fillna(0).to_numpy() if "_folded" in frame else np.zeros(n)
        names = list(values)
        records = []
        for j, metric_vals in enumerate(zip(*values.values(), strict=True)):
            level = int(lvl[j])
            rec: dict[str, Any] = {self.req.dimensions[i]: dims[i][j] for i in range(level)}
            rec.update(zip(names, metric_vals, strict=True))
            if 0 < level < self.k:
                rec["_level"] = level
            if other[j]:
                rec["_other"] = True
                rec["_folded"] = int(folded[j])
            records.append(rec)
        return records


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _clean(values: np.ndarray, as_int: bool) -> list[Any]:
    finite = np.isfinite(values)
    if as_int:
        return [round(v) if ok else None for v, ok in zip(values.tolist(), finite, strict=True)]
    return [v if ok else None for v, ok in zip(values.tolist(), finite, strict=True)]
