"""The pivot engine against an independent DuckDB computation over the same Parquet.

The reference builds each exposure view itself (look-through from the
constituents file), aggregates every level with plain GROUP BYs, orders siblings
in Python and sums Other buckets with their own queries. Sums are compared to
1e-9 of their gross magnitude (Σ|x|), so totals that cancel to near zero are
still checked tightly.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from backend.pivot import DIMENSIONS, METRICS, PivotRequest, run_pivot
from backend.warehouse import Warehouse
from backend.warehouse.schema import ROLLUP_TABLES

REL = 1e-9

# What each metric adds up, and whether it is a flow (summed over the range) or a stock
# (as of the answer's last date with data, or averaged over the dates with data).
FLOW, STOCK = "flow", "stock"
_TERMS: dict[str, tuple[str, str]] = {
    "notional": (FLOW, "notional"),
    "pnl": (FLOW, "pnl"),
    "quantity": (FLOW, "quantity"),
    "market_value": (STOCK, "market_value"),
    "realized_pnl": (FLOW, "realized_pnl"),
    "unrealized_pnl": (STOCK, "unrealized_pnl"),
    "fees": (FLOW, "fees"),
    "gross_exposure": (STOCK, "abs(notional)"),
    "net_exposure": (STOCK, "notional"),
    "long_exposure": (STOCK, "CASE WHEN notional > 0 THEN notional ELSE 0 END"),
    "short_exposure": (STOCK, "CASE WHEN notional < 0 THEN notional ELSE 0 END"),
    "delta": (STOCK, "delta"),
}
STOCK_METRICS = {m for m, (kind, _) in _TERMS.items() if kind == STOCK}


class Span:
    """How stocks are read for one answer: as of ``as_of``, or averaged over ``days`` dates."""

    def __init__(self, mode: str, as_of: str | None, days: int) -> None:
        self.mode, self.as_of, self.days = mode, as_of, days

    def agg(self, kind: str, term: str, fixed: bool) -> str:
        """SQL for one sum; ``fixed``: the group has one trade date, so a stock is that day's."""
        if kind == FLOW or fixed:
            return f"coalesce(sum({term}), 0)"
        if self.mode == "average":
            return f"coalesce(sum({term}) / {max(self.days, 1)}, 0)"
        if self.as_of is None:
            return "CAST(0 AS DOUBLE)"
        return f"coalesce(sum({term}) FILTER (WHERE trade_date = '{self.as_of}'), 0)"

    def metric(self, name: str, fixed: bool) -> tuple[str, str]:
        """(value SQL, gross-magnitude SQL) of metric ``name``."""
        if name in _TERMS:
            kind, term = _TERMS[name]
            return self.agg(kind, term, fixed), self.agg(kind, f"abs({term})", fixed)
        if name == "trade_count":
            return "count(*)", "count(*)"
        if name == "avg_price":
            ratio = "sum(price * abs(quantity)) / nullif(sum(abs(quantity)), 0)"
            return ratio, ratio
        assert name == "pnl_pct_gross"
        gross = self.agg(STOCK, "abs(notional)", fixed)
        return (f"100 * sum(pnl) / nullif({gross}, 0)", f"100 * sum(abs(pnl)) / nullif({gross}, 0)")


assert set(_TERMS) | {"trade_count", "avg_price", "pnl_pct_gross"} == set(METRICS)
for _name, _spec in METRICS.items():  # the catalogue and this reference agree on each kind
    assert (_name in STOCK_METRICS) == (_spec.kind == "stock"), _name


def reads_only_stocks(req: PivotRequest) -> bool:
    """Whether the answer has stocks and no flow (then only the as-of date's groups appear)."""
    names = [*req.metrics, *([req.sort.field] if req.sort and req.sort.field in METRICS else [])]
    by_date = "trade_date" in req.dimensions or "trade_date" in req.columns
    return req.stocks == "last" and not by_date and all(m in STOCK_METRICS for m in names)

DIMS = list(DIMENSIONS)
ROLLUP_DIMS = [d for d, spec in DIMENSIONS.items() if spec.in_rollup]
SMALL_DIMS = ["side", "exposure_type", "desk", "region", "currency", "asset_class", "order_type"]


class Reference:
    """Independent pivot answers from DuckDB over the generator's Parquet files."""

    def __init__(self, folder: Path) -> None:
        self.con = duckdb.connect()
        trades = str(folder / "trades_1d" / "*.parquet")
        cons = str(folder / "constituents.parquet")
        dims = ", ".join(
            f"CAST({d} AS VARCHAR) AS {d}" for d in DIMS if d not in ("exposure_type", "parent_symbol")
        )
        money = ["notional", "pnl", "quantity", "market_value", "realized_pnl", "unrealized_pnl", "delta"]
        self.con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{trades}')")
        self.con.execute(
            f"CREATE TABLE as_held AS SELECT {dims}, exposure_type, parent_symbol, price, "
            f"{', '.join(money)}, fees + commission AS fees FROM t "
            "WHERE exposure_type IN ('Direct', 'ETF', 'ETC')"
        )
        self.con.execute(
            "CREATE TABLE coverage AS SELECT parent_symbol AS fund, 1 - sum(weight) AS f "
            f"FROM read_parquet('{cons}') c WHERE as_of = (SELECT max(as_of) FROM "
            f"read_parquet('{cons}') c2 WHERE c2.parent_symbol = c.parent_symbol) GROUP BY fund"
        )
        scaled = ", ".join(f"{m} * f AS {m}" for m in money)
        self.con.execute(
            f"CREATE TABLE look_through AS "
            f"SELECT {dims}, exposure_type, parent_symbol, price, {', '.join(money)}, "
            "fees + commission AS fees FROM t WHERE exposure_type IN ('Direct', 'Constituent') "
            f"UNION ALL SELECT {dims}, 'Residual', symbol, price, {scaled}, (fees + commission) * f "
            "FROM (SELECT t.*, coalesce(c.f, 1.0) AS f FROM t LEFT JOIN coverage c ON c.fund = t.symbol "
            "WHERE t.exposure_type IN ('ETF', 'ETC')) WHERE abs(f) > 1e-9"
        )

    def where(self, req: PivotRequest) -> tuple[str, list[Any]]:
        conds, params = ["TRUE"], []
        for name in sorted(req.active_filters()):
            value = getattr(req.filters, name)
            if name == "trade_date":
                if isinstance(value, date):
                    conds.append("trade_date = ?")
                    params.append(value.isoformat())
                else:
                    if value.start:
                        conds.append("trade_date >= ?")
                        params.append(value.start.isoformat())
                    if value.end:
                        conds.append("trade_date <= ?")
                        params.append(value.end.isoformat())
            else:
                conds.append(f"list_contains(?, {name})")
                params.append([value] if isinstance(value, str) else list(value))
        return " AND ".join(conds), params

    def span(self, req: PivotRequest) -> Span:
        where, params = self.where(req)
        as_of, days = self.con.execute(
            f"SELECT max(trade_date), count(DISTINCT trade_date) FROM {req.exposure} WHERE {where}", params
        ).fetchone()
        return Span(req.stocks, as_of, int(days))

    def groups(
        self, req: PivotRequest, keys: list[str], extra: str = "", extra_params: list[Any] | None = None,
        fixed: bool = False,
    ) -> dict[tuple, dict[str, float | None]]:
        """Metric values and gross magnitudes of every group of ``keys``.

        ``fixed``: ``extra`` pins one trade date (the groups are under a date group).
        """
        metrics = list(dict.fromkeys([*req.metrics, *([req.sort.field] if req.sort and req.sort.field in METRICS else [])]))
        where, params = self.where(req)
        span = self.span(req)
        fixed = fixed or "trade_date" in keys
        if reads_only_stocks(req):
            where += f" AND trade_date = '{span.as_of}'" if span.as_of else " AND FALSE"
        sqls = [span.metric(m, fixed) for m in metrics]
        select = [*keys] + [f"{v} AS v_{m}" for m, (v, _) in zip(metrics, sqls, strict=True)]
        select += [f"{g} AS g_{m}" for m, (_, g) in zip(metrics, sqls, strict=True)]
        sql = f"SELECT {', '.join(select)} FROM {req.exposure} WHERE {where} {extra}"
        if keys:
            sql += f" GROUP BY {', '.join(keys)}"
        out: dict[tuple, dict[str, float | None]] = {}
        for row in self.con.execute(sql, params + (extra_params or [])).fetchall():
            key = tuple(row[: len(keys)])
            vals = row[len(keys):]
            n = len(metrics)
            out[key] = {m: vals[i] for i, m in enumerate(metrics)} | {
                f"g_{m}": vals[n + i] for i, m in enumerate(metrics)
            }
        return out

    def other(self, req: PivotRequest, parent: tuple, kept: list[Any], columns: list[str]) -> dict:
        level = len(parent)
        conds = [f"{req.dimensions[i]} = ?" for i in range(level)]
        conds.append(f"NOT list_contains(?, {req.dimensions[level]})")
        extra = "AND " + " AND ".join(conds)
        params = [*parent, list(kept)]
        return self.groups(req, columns, extra, params, fixed="trade_date" in req.dimensions[:level])


@pytest.fixture(scope="module")
def reference(trades_folder: Path) -> Reference:
    return Reference(trades_folder)


def close(actual: Any, expected: Any, gross: Any, what: str) -> None:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        assert actual is None, f"{what}: expected no value, got {actual}"
        return
    assert actual is not None, f"{what}: expected {expected}, got None"
    tol = REL * max(abs(expected), abs(gross or 0.0)) + 1e-12
    assert abs(actual - expected) <= tol, f"{what}: {actual} != {expected} (tol {tol:.3g})"


def check_values(row: dict, ref: dict | None, req: PivotRequest, what: str, suffix: str = "") -> None:
    for m in req.metrics:
        if ref is None:
            assert row.get(m + suffix) is None, f"{what}: {m}{suffix} should be empty"
        else:
            close(row.get(m + suffix), ref[m], ref[f"g_{m}"], f"{what} {m}{suffix}")


def check_columns(row: dict, req: PivotRequest, split: dict, prefix: tuple, combos: list, what: str) -> None:
    for i, combo in enumerate(combos):
        check_values(row, split.get((*prefix, *combo)), req, what, f"__c{i}")


def sort_refs(req: PivotRequest, parent: tuple, children: dict[Any, dict], split: dict | None) -> dict | None:
    """Each child's sort value and its gross magnitude: the metric over all columns, or in
    the one split column ``sort.column`` names (no value there: None)."""
    if req.sort is None or req.sort.field not in METRICS:
        return None
    field = req.sort.field
    if req.sort.column is None:
        return {key: (vals[field], vals[f"g_{field}"]) for key, vals in children.items()}
    assert split is not None
    out = {}
    for key in children:
        cell = split.get((*parent, key, *req.sort.column))
        out[key] = (cell[field], cell[f"g_{field}"]) if cell else (None, 0.0)
    return out


def expected_order(req: PivotRequest, children: dict[Any, dict], refs: dict | None, dimension: str) -> list[Any]:
    """Children keys in display order: sort metric (None last), then key ascending.

    Sorting by a dimension orders that dimension's level; other levels stay ascending.
    """
    keys = sorted(children)
    field = req.sort.field if req.sort else None
    desc = bool(req.sort and req.sort.direction == "desc")
    if refs is not None:
        present = [k for k in keys if refs[k][0] is not None]
        missing = [k for k in keys if refs[k][0] is None]
        present.sort(key=lambda k: refs[k][0], reverse=desc)  # stable: ties keep key order
        return present + missing
    return sorted(keys, reverse=desc and field == dimension)


def verify(result: Any, req: PivotRequest, reference: Reference) -> None:
    dims = list(req.dimensions)
    k = len(dims)
    levels = [reference.groups(req, dims[:level]) for level in range(k + 1)]
    split_levels = (
        [reference.groups(req, dims[:level] + list(req.columns)) for level in range(k + 1)]
        if req.columns
        else []
    )
    combos: list[tuple] = []
    if req.columns:
        combos = sorted({key[-len(req.columns):] for key in split_levels[0]})[:200]
        assert [tuple(c) for c in result.column_values] == combos
    total_ref = levels[0].get((), None)
    check_values(result.totals, total_ref, req, "totals")
    if req.columns:
        check_columns(result.totals, req, split_levels[0], (), combos, "totals")

    tree = result.tree_rows()
    children: dict[tuple, list[dict]] = defaultdict(list)
    for row in tree:
        children[tuple(row["_path"][:-1])].append(row)
    any_other = False

    def walk(parent: tuple) -> None:
        nonlocal any_other
        level = len(parent) + 1
        ref_children = {key[-1]: vals for key, vals in levels[level].items() if key[:-1] == parent}
        got = children.get(parent, [])
        kept = [r for r in got if r["_kind"] != "other"]
        others = [r for r in got if r["_kind"] == "other"]
        refs = sort_refs(req, parent, ref_children, split_levels[level] if req.columns else None)
        order = expected_order(req, ref_children, refs, dims[level - 1])
        assert len(kept) == min(req.limit, len(order)), f"children of {parent}"
        for row, exp_key in zip(kept, order, strict=False):
            key = row["_path"][-1]
            assert key in ref_children, f"unexpected group {row['_path']}"
            want = refs[exp_key][0] if refs is not None else exp_key
            have = refs[key][0] if refs is not None else key
            if isinstance(want, float):
                close(have, want, refs[exp_key][1], f"order under {parent}")
            else:
                assert have == want, f"order under {parent}: {have!r} != {want!r}"
            assert row["_kind"] == ("leaf" if level == k else "group")
            check_values(row, ref_children[key], req, str(row["_path"]))
            if req.columns:
                check_columns(row, req, split_levels[level], tuple(row["_path"]), combos, str(row["_path"]))
        if len(order) > req.limit:
            any_other = True
            assert len(others) == 1 and got[-1] is others[0], f"one Other last under {parent}"
            other = others[0]
            assert other["_folded"] == len(order) - req.limit
            kept_keys = [r["_path"][-1] for r in kept]
            ref_other = reference.other(req, parent, kept_keys, [])[()]
            check_values(other, ref_other, req, f"Other under {parent}")
            if req.columns:
                split = reference.other(req, parent, kept_keys, list(req.columns))
                check_columns(other, req, split, (), combos, f"Other under {parent}")
        else:
            assert not others, f"no Other expected under {parent}"
        if level < k:
            for row in kept:
                walk(tuple(row["_path"]))

    walk(())
    span = reference.span(req)
    assert (result.meta["as_of"], result.meta["stock_days"]) == (span.as_of, span.days)
    assert result.meta["stocks"] == req.stocks
    assert result.truncated == any_other or result.meta["columns_truncated"]
    assert len(result.rows) + len(result.subtotals) == len(tree)
    assert all(len(r["_path"]) == k for r in tree if r["_kind"] == "leaf")


# -- random requests ------------------------------------------------------------------


def _values(reference: Reference, dim: str, rng: random.Random, n: int) -> list[str]:
    found = [r[0] for r in reference.con.execute(f"SELECT DISTINCT {dim} FROM look_through ORDER BY 1").fetchall()]
    picked = rng.sample(found, min(n, len(found)))
    if rng.random() < 0.2:
        picked.append("no such value")
    return picked


def random_request(seed: int, reference: Reference) -> dict[str, Any]:
    rng = random.Random(seed)
    exposure = rng.choice(["as_held", "look_through"])
    pool = ROLLUP_DIMS if rng.random() < 0.5 else DIMS
    dims = rng.sample(pool, rng.randint(1, 3))
    body: dict[str, Any] = {
        "dimensions": dims,
        "metrics": rng.sample(list(METRICS), rng.randint(1, 4)),
        "exposure": exposure,
        "limit": rng.choice([1, 2, 3, 5, 1000, 1000]),
    }
    if rng.random() < 0.3:
        free = [d for d in SMALL_DIMS if d not in dims]
        body["columns"] = rng.sample(free, rng.randint(1, 2))
    filters: dict[str, Any] = {}
    if rng.random() < 0.5:
        day = date(2024, 1, 2) + timedelta(days=rng.randint(0, 50))
        filters["trade_date"] = (
            day.isoformat()
            if rng.random() < 0.4
            else {"from": day.isoformat(), "to": (day + timedelta(days=rng.randint(0, 20))).isoformat()}
        )
    if rng.random() < 0.4:
        dim = rng.choice([d for d in (ROLLUP_DIMS if pool is ROLLUP_DIMS else DIMS) if d not in ("trade_date", "exposure_type")])
        filters[dim] = _values(reference, dim, rng, rng.randint(1, 3))
    if rng.random() < 0.2:
        view = ["Direct", "ETF", "ETC"] if exposure == "as_held" else ["Direct", "Constituent", "Residual"]
        filters["exposure_type"] = rng.sample(view, rng.randint(1, 2))
    if filters:
        body["filters"] = filters
    if rng.random() < 0.7:
        field = rng.choice(list(METRICS)) if rng.random() < 0.75 else rng.choice(dims)
        body["sort"] = {"field": field, "direction": rng.choice(["asc", "desc"])}
    # Drawn last, so the requests above stay what they were for every seed.
    if rng.random() < 0.25:
        body["stocks"] = "average"
    sort = body.get("sort")
    if body.get("columns") and sort and sort["field"] in METRICS and rng.random() < 0.6:
        cols = ", ".join(body["columns"])
        found = reference.con.execute(f"SELECT DISTINCT {cols} FROM {exposure} ORDER BY ALL").fetchall()
        combo = [str(v) for v in rng.choice(found)]
        sort["column"] = combo if rng.random() < 0.9 else ["no such value"] * len(combo)
    return body


def expected_source(req: PivotRequest) -> str:
    """The smallest rollup holding every column the request reads, from the schema's own list."""
    needed = {*req.dimensions, *req.columns, *req.active_filters(), "exposure_type"}
    if req.exposure == "look_through":
        needed |= {"symbol", "parent_symbol"}
    return next((r.name for r in ROLLUP_TABLES if needed <= set(r.dimensions)), "trades_1d")


@pytest.mark.parametrize("seed", range(200))
def test_random_pivot_matches_independent_duckdb(
    seed: int, loaded_warehouse: Warehouse, reference: Reference
) -> None:
    req = PivotRequest.model_validate(random_request(seed, reference))
    result = run_pivot(loaded_warehouse, req)
    assert result.meta["source"] == expected_source(req)
    verify(result, req, reference)
