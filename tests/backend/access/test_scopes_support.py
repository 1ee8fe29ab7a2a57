"""Shared by the data-scope tests (no tests of its own): scopes over the fixture data, an independent
DuckDB reading of the fixture's Parquet files, an app whose requests carry a chosen principal, a log
of every warehouse query, and a way to call the app's Dash callbacks over HTTP as the browser does."""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from backend.access.current import set_current_principal
from backend.access.permissions import ALL
from backend.access.principal import EVERYTHING, DataScope, Principal
from backend.access.scope_sql import scope_conditions

AS_HELD = "exposure_type IN ('Direct', 'ETF', 'ETC')"
ROOT = Path(__file__).resolve().parents[3]

# Scopes over the fixture data (each manager has one desk and two books, CORE and TACTICAL).
SCOPES: dict[str, DataScope] = {
    "pm": DataScope(portfolio_managers=frozenset({"PM11", "PM03"})),
    "desk": DataScope(desks=frozenset({"Commodities", "Asia Equities"})),
    "book": DataScope(books=frozenset({"MACRO-PM12-CORE", "USEQ-PM01-TACTICAL", "ETFARB-PM17-CORE"})),
    # AND across dimensions: USEQ-PM01-CORE is PM01's, but US Equities is not an allowed desk.
    "combined": DataScope(portfolio_managers=frozenset({"PM11", "PM12", "PM01", "PM17"}),
                          desks=frozenset({"Global Macro", "ETF Arbitrage"}),
                          books=frozenset({"MACRO-PM11-CORE", "MACRO-PM12-TACTICAL", "ETFARB-PM17-TACTICAL",
                                           "USEQ-PM01-CORE"})),
    "empty": DataScope(portfolio_managers=frozenset()),
    "unknown": DataScope(desks=frozenset({"No Such Desk", "PM99", ""})),
}
# Values that would change the query were they spliced into it rather than bound.
HOSTILE_VALUES = (
    "PM11' OR '1'='1", "PM11\") OR 1=1 --", "%", "_", "PM1%", "'; DROP TABLE trades_1d; --", "\\", "\\'",
    "{scope_pm:Array(String)}", "PM11\x00", "Ψ-desk ✓", "\u202eevil", "a" * 500,
)


def duck_connection(trades_folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW trades AS SELECT * FROM read_parquet('{trades_folder}/trades_1d/*.parquet')")
    return con


def duck_scope(scope: DataScope) -> tuple[str, dict[str, Any]]:
    """The scope as a DuckDB condition of its own (list_contains over bound lists), for the expected side."""
    conds, params = ["TRUE"], {}
    for column, values in scope.restrictions().items():
        conds.append(f"list_contains($allowed_{column}::VARCHAR[], {column})")
        params[f"allowed_{column}"] = sorted(values)
    return " AND ".join(conds), params


def duck_rows(con: duckdb.DuckDBPyConnection, sql: str, scope: DataScope,
              params: Mapping[str, Any] | None = None) -> list[tuple]:
    """``sql`` with ``{scope}`` replaced by the scope's condition; other parameters by name (``$day``)."""
    cond, scope_params = duck_scope(scope)
    return con.execute(sql.replace("{scope}", cond), {**scope_params, **(params or {})}).fetchall()


def close(a: float, b: float, scale: float = 1.0) -> bool:
    return abs((a or 0.0) - (b or 0.0)) <= 1e-9 * max(abs(a or 0.0), abs(b or 0.0), scale)


# -- an app whose requests carry a chosen principal -------------------------------------
@dataclass
class PrincipalSwitch:
    """Sets the principal of every request of an app (after the app's own access check)."""

    scope: DataScope = EVERYTHING

    def install(self, server: Any) -> None:
        server.before_request(self._set)

    def _set(self) -> None:
        set_current_principal(principal_of(self.scope))

    @contextmanager
    def use(self, scope: DataScope) -> Iterator[None]:
        before, self.scope = self.scope, scope
        try:
            yield
        finally:
            self.scope = before


def principal_of(scope: DataScope) -> Principal:
    return Principal(id="scoped-user", display_name="Scoped user", permissions=ALL, scope=scope, via="session")


# -- every warehouse query, with where it came from ---------------------------------------
_TRADES = re.compile(r"\{db\}\.(trades_1d\w*)")
_METHODS = ("query_arrow", "query_rows", "query_df", "raw_query", "command")


@dataclass
class Query:
    sql: str
    params: dict[str, Any]
    callers: tuple[str, ...]  # module:function of the project's frames on the stack

    @property
    def trades_reads(self) -> list[str]:
        return _TRADES.findall(self.sql)

    def scoped_by(self, scope: DataScope) -> bool:
        """Each read of a trades table carries every condition of ``scope``, with its values bound."""
        conds, expected = scope_conditions(scope)
        reads = len(self.trades_reads)
        bound = all(self.params.get(name) == values for name, values in expected.items())
        return bound and all(self.sql.count(cond) >= reads for cond in conds)


@dataclass
class QueryLog:
    queries: list[Query] = field(default_factory=list)

    def trades_reads(self) -> list[Query]:
        return [q for q in self.queries if q.trades_reads]

    def unscoped(self, scope: DataScope) -> list[Query]:
        return [q for q in self.trades_reads() if not q.scoped_by(scope)]


def _callers() -> tuple[str, ...]:
    out = []
    for frame in traceback.extract_stack()[:-2]:
        path = Path(frame.filename).resolve()
        if ROOT in path.parents and path.parts[len(ROOT.parts)] in ("backend", "pages", "components"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out.append(f"{module}:{frame.name}")
    return tuple(out)


def spy_on_warehouse(monkeypatch: Any) -> QueryLog:
    """Record every statement any ``Warehouse`` runs while the test lasts."""
    from backend.warehouse.client import Warehouse

    log = QueryLog()
    for name in _METHODS:
        original = getattr(Warehouse, name)

        def spy(self: Any, sql: str, parameters: Mapping[str, Any] | None = None, *args: Any,
                _original: Any = original, **kwargs: Any) -> Any:
            log.queries.append(Query(sql, dict(parameters or {}), _callers()))
            return _original(self, sql, parameters, *args, **kwargs)

        monkeypatch.setattr(Warehouse, name, spy)
    return log


# -- the app's Dash callbacks over HTTP -----------------------------------------------------
def _spec_id(spec: Mapping[str, Any]) -> Any:
    raw = spec["id"]
    return json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else raw


def dash_call(client: Any, app: Any, key: str, values: Mapping[str, Any], *, triggered: Sequence[str] = (),
              ids: Mapping[str, Any] | None = None) -> Any:
    """POST one callback of ``app`` (its ``callback_map`` key) as the renderer does.

    ``values`` maps ``"id.property"`` to a value (absent ones are None); a pattern-matching
    input ``ALL`` gets no components; ``ids`` gives the concrete id for a pattern id's key.
    """
    entry = app.callback_map[key]

    def item(spec: Mapping[str, Any]) -> Any:
        spec_id = _spec_id(spec)
        name = spec_id if isinstance(spec_id, str) else json.dumps(spec_id, sort_keys=True)
        if isinstance(spec_id, dict):
            if ids and name in ids:
                concrete = ids[name]
                return {"id": concrete, "property": spec["property"],
                        "value": values.get(f"{name}.{spec['property']}")}
            return []
        return {"id": spec_id, "property": spec["property"], "value": values.get(f"{spec_id}.{spec['property']}")}

    outputs = []
    for part in key.strip(".").split("..."):
        ident, _, prop = part.rpartition(".")
        parsed = json.loads(ident) if ident.startswith("{") else ident
        if isinstance(parsed, dict) and ids:
            parsed = ids.get(json.dumps(parsed, sort_keys=True), parsed)
        outputs.append({"id": parsed, "property": prop.split("@")[0]})
    body = {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": [item(s) for s in entry["inputs"]],
        "state": [item(s) for s in entry.get("state", [])],
        "changedPropIds": list(triggered),
    }
    return client.post("/_dash-update-component", json=body)
