"""Trading simulations and parameter sweeps over HTTP.

    POST /api/v1/research/simulations                       a simulation (or, with ``grid``, a sweep): 201 and
                                                            its record when small; 202 and the job when large
                                                            or ``"background": true``
    GET  /api/v1/research/simulations                       every simulation and sweep with its statistics:
                                                            ?dataset=&sort=&order=&offset=&limit=
    GET  /api/v1/research/simulations/<name>                one record: request, statistics, trials, cells
    GET  /api/v1/research/simulations/<name>/trades         its trades, a page at a time, or every one as csv/parquet
    GET  /api/v1/research/simulations/<name>/equity         its bars: equity, buy-and-hold, drawdown, position
    POST /api/v1/research/simulations/<name>/cells/<index>  one sweep cell kept as a simulation of its own

Simulations are named ``<dataset>_sim<n>``. Statistics that have no value (a Sharpe ratio without
a trade) are ``null`` in JSON, never NaN.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Final, Literal

import orjson
import pyarrow as pa
from flask import Blueprint, Response, url_for
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from spectree import Response as Responses
from spectree.models import Tag

from backend.access.current import current_principal
from backend.access.policy import job_kind_permission, may_run_job
from backend.api.errors import ApiError, install
from backend.api.jobs import JobModel, _shown
from backend.api.research import JSON_ROWS_MAX, table_file
from backend.api.spec import Body, ErrorBody, Query, spec
from backend.api.types import whole_number
from backend.jobs import JobError, current_owner
from backend.jobs.runtime import current_jobs
from backend.measurements.frames import TIMESTAMP
from backend.measurements.names import MeasurementNameError, parse_name
from backend.research.runtime import current_simulations
from backend.research.simulation_service import TRADE_COLUMNS, TRADES_PAGE_MAX, SimulationError, Simulations
from backend.research.simulator.requests import SimulationRequest, SweepRequest, parse
from backend.research.simulator.stats import STAT_KEYS
from backend.research.simulator.strategies import Grid
from backend.validation import safe_name

simulations_api = Blueprint("simulations_api", __name__, url_prefix="/api/v1/research")
install(simulations_api)

TAG = Tag(name="simulations", description="Trading simulations and parameter sweeps on research datasets")
BODY_MAX_BYTES: Final = 64 * 1024
NAME_DESCRIPTION = {"name": "the simulation's name, <dataset>_sim<n>"}
CELL_DESCRIPTION = {**NAME_DESCRIPTION, "index": "the cell's index in the sweep's grid (from 0)"}
NOT_FOUND = (ErrorBody, "no such simulation")
SUMMARY_KEYS: Final = ("name", "type", "dataset", "symbol", "strategy", "kind", "created_at", "created_by", "trials")
SORT_KEYS: Final = tuple(dict.fromkeys((*SUMMARY_KEYS, *STAT_KEYS)))  # "trials" is in both
TRADE_KEYS: Final = ("entry_time", *TRADE_COLUMNS)
_INDEX = re.compile(r"^[0-9]{1,6}$")
FILE_ANSWER: Final = "JSON, or the whole series as an attachment: text/csv or Parquet"


class SimulationBody(SweepRequest, Body):
    """A simulation request; with ``grid``, a sweep over one or two of the strategy's parameters."""

    max_body_bytes: ClassVar[int] = BODY_MAX_BYTES

    grid: Grid | None = Field(None, description="vary one or two parameters: every cell is simulated (a sweep)")
    background: StrictBool = Field(False, description="run it as a job even when it is small enough to answer at once")

    def request(self) -> SimulationRequest:
        model = SimulationRequest if self.grid is None else SweepRequest
        data = self.model_dump(exclude={"background"} if self.grid is not None else {"background", "grid"})
        try:
            return parse(model, data)
        except ValueError as exc:
            raise ApiError(str(exc)) from None


class SimulationLinks(BaseModel):
    self: str
    trades: str
    equity: str


class SimulationRecord(BaseModel):
    """What a simulation or sweep was made of, and its statistics (a sweep's: its best cell's)."""

    model_config = ConfigDict(extra="allow")

    name: str
    type: Literal["simulation", "sweep"]
    dataset: str
    symbol: str | None
    label: str = Field(description="the strategy, in words")
    request: dict[str, Any] = Field(description="the request it was made from: the same request runs it again")
    stats: dict[str, Any] = Field(description="every statistic; null where it has no value")
    trials: dict[str, Any] = Field(description="variants tried on the dataset so far (for the deflated Sharpe ratio)")
    periods_per_year: float
    code_version: str
    data_hash: str
    created_by: str
    created_at: str
    cells: list[dict[str, Any]] | None = Field(None, description="a sweep's cells: x, y and their statistics")
    best_cell: int | None = Field(None, description="a sweep's cell with the highest Sharpe ratio")
    sweep: str | None = Field(None, description="the sweep an opened cell came from")
    cell: int | None = None
    links: SimulationLinks


class SimulationList(BaseModel):
    simulations: list[dict[str, Any]] = Field(description="name, type, dataset, strategy, trials and every statistic")
    total: int = Field(description="rows matching the filter, before paging")
    offset: int
    limit: int


class TradePage(BaseModel):
    trades: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


class EquityRows(BaseModel):
    rows: list[dict[str, Any]] = Field(description="one per bar: timestamp, equity, benchmark, close, drawdown_pct, "
                                                   "position (simulations, not sweeps)")
    count: int


class OpenedCell(BaseModel):
    name: str = Field(description="the simulation the cell is kept as")
    sweep: str
    cell: int
    links: SimulationLinks


class ListQuery(Query):
    dataset: Annotated[str | None, Field(None, max_length=60,
                                         description="only simulations on this dataset (and its indicator versions)")]
    sort: Literal[SORT_KEYS] = Field("created_at", description="a column or any statistic")  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = "desc"
    offset: whole_number(0, 10**9, "rows to skip") = 0  # type: ignore[valid-type]
    limit: whole_number(1, 1_000, "rows at most") = 100  # type: ignore[valid-type]


class TradesQuery(Query):
    sort: Literal[TRADE_KEYS] | None = Field(None, description="default: time order")  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = "asc"
    offset: whole_number(0, 10**9, "trades to skip") = 0  # type: ignore[valid-type]
    limit: whole_number(1, TRADES_PAGE_MAX, "trades at most") = 100  # type: ignore[valid-type]
    format: Literal["json", "csv", "parquet"] = Field("json", description="json (a page), or every trade as csv "
                                                                          "or parquet")


class EquityQuery(Query):
    format: Literal["json", "csv", "parquet"] = "json"


class NoQuery(Query):
    """No query parameters."""


@simulations_api.errorhandler(JobError)
def _job_error(exc: JobError) -> tuple[Response, int]:
    return _json({"error": str(exc)}, exc.status), exc.status


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # orjson writes NaN and ±inf as null: no answer carries a number JSON does not have.
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY), status=status,
                    mimetype="application/json", headers=headers)


def _links(name: str) -> dict[str, str]:
    return {"self": url_for("simulations_api.get_simulation", name=name),
            "trades": url_for("simulations_api.simulation_trades", name=name),
            "equity": url_for("simulations_api.simulation_equity", name=name)}


def _record(simulations: Simulations, name: str) -> dict[str, Any]:
    try:
        record = simulations.get(name)
    except SimulationError:
        raise ApiError(f"there is no simulation {safe_name(name[:60])!r}", 404) from None
    return {**record, "links": _links(record["name"])}


@simulations_api.post("/simulations")
@spec.validate(resp=Responses(HTTP_201=(SimulationRecord, "simulated and recorded; Location names it"),
                              HTTP_202=(JobModel, "too large to answer at once: queued as a job; Location names it"),
                              HTTP_400=ErrorBody, HTTP_403=(ErrorBody, "the caller may not run simulation jobs"),
                              HTTP_413=ErrorBody, HTTP_429=(ErrorBody, "too many jobs queued"),
                              HTTP_503=(ErrorBody, "the job queue cannot be reached")), tags=[TAG])
def create_simulation(json: SimulationBody) -> Response:
    """Simulate a strategy on a dataset (one symbol of a panel), or sweep a grid of its parameters.

    A small request is simulated at once and answered with its record (201); one over the direct
    limits — bars, or bars × cells for a sweep — or asked with ``"background": true`` becomes a
    job (202): watch it at its Location; its result names the simulation.
    """
    request = json.request()
    simulations = current_simulations()
    try:
        large = simulations.workload(request).large
    except SimulationError as exc:
        raise ApiError(str(exc)) from None
    sweep = isinstance(request, SweepRequest)
    principal = current_principal()
    if json.background or large:
        kind = "sweep" if sweep else "simulation"
        if not may_run_job(principal, kind):
            raise ApiError(f"this is run as a job and you may not run {kind} jobs "
                           f"(it needs {job_kind_permission(kind)!r})", 403)
        params = {"request": request.model_dump(mode="json"), "created_by": principal.id}
        job = current_jobs().submit(kind, params, current_owner())
        return _json(_shown(job), 202, {"Location": url_for("jobs_api.job", job_id=job.id)})
    try:
        if isinstance(request, SweepRequest):
            name = simulations.sweep(request, created_by=principal.id)["name"]
        else:
            name = simulations.run(request, created_by=principal.id).name
    except SimulationError as exc:
        raise ApiError(str(exc)) from None
    body = _record(simulations, str(name))
    return _json(body, 201, {"Location": body["links"]["self"]})


def _sort_key(value: Any) -> Any:
    return value if not isinstance(value, bool) else int(value)


@simulations_api.get("/simulations")
@spec.validate(resp=Responses(HTTP_200=SimulationList, HTTP_400=ErrorBody), tags=[TAG])
def list_simulations(query: ListQuery) -> Response:
    """Every simulation and sweep, one row each with every statistic: filtered by dataset, sorted by
    any column (rows without a value last), a page at a time."""
    rows = current_simulations().summaries()
    if query.dataset is not None:
        rows = [r for r in rows if query.dataset in (r.get("dataset"), _base(r["name"]))]
    present = [r for r in rows if r.get(query.sort) is not None]
    missing = [r for r in rows if r.get(query.sort) is None]
    try:
        present.sort(key=lambda r: _sort_key(r[query.sort]), reverse=query.order == "desc")
    except TypeError:  # values of mixed types under one key: compare them as text
        present.sort(key=lambda r: str(r[query.sort]), reverse=query.order == "desc")
    rows = present + missing
    return _json({"simulations": rows[query.offset:query.offset + query.limit], "total": len(rows),
                  "offset": query.offset, "limit": query.limit})


def _base(name: str) -> str:
    try:
        return parse_name(name).base
    except MeasurementNameError:
        return name


@simulations_api.get("/simulations/<name>")
@spec.validate(resp=Responses(HTTP_200=SimulationRecord, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND), tags=[TAG],
               path_parameter_descriptions=NAME_DESCRIPTION)
def get_simulation(name: str, query: NoQuery) -> Response:
    """One simulation or sweep: the request it was made from, the code and data it ran on, the
    trials counted, its statistics (a sweep's: every cell's)."""
    return _json(_record(current_simulations(), name))


@simulations_api.get("/simulations/<name>/trades")
@spec.validate(resp=Responses(HTTP_200=(TradePage, FILE_ANSWER), HTTP_400=ErrorBody, HTTP_404=NOT_FOUND),
               tags=[TAG], path_parameter_descriptions=NAME_DESCRIPTION)
def simulation_trades(name: str, query: TradesQuery) -> Response:
    """A simulation's trades, a page at a time (sorted by any column), or every one as CSV or Parquet.
    A sweep has none of its own: open one of its cells."""
    simulations = current_simulations()
    record = _record(simulations, name)
    try:
        if query.format != "json":
            frame = simulations.trades(record["name"])
            return table_file(pa.Table.from_pandas(frame, preserve_index=False), f"{record['name']}_trades",
                              query.format)
        rows, total = simulations.trades_page(record["name"], offset=query.offset, limit=query.limit,
                                              sort=query.sort, descending=query.order == "desc")
    except SimulationError as exc:
        raise ApiError(str(exc)) from None
    return _json({"trades": rows, "total": total, "offset": query.offset, "limit": query.limit})


@simulations_api.get("/simulations/<name>/equity")
@spec.validate(resp=Responses(HTTP_200=(EquityRows, FILE_ANSWER), HTTP_400=ErrorBody, HTTP_404=NOT_FOUND,
                              HTTP_413=(ErrorBody, "too many bars for JSON: ask for csv or parquet")),
               tags=[TAG], path_parameter_descriptions=NAME_DESCRIPTION)
def simulation_equity(name: str, query: EquityQuery) -> Response:
    """A simulation's bars: equity, buy-and-hold from the same cash, close, drawdown (%) and position
    (a sweep: its best cell's, without position)."""
    simulations = current_simulations()
    record = _record(simulations, name)
    frame = simulations.equity(record["name"])
    if query.format != "json":
        return table_file(pa.Table.from_pandas(frame, preserve_index=False), f"{record['name']}_equity",
                          query.format)
    if len(frame) > JSON_ROWS_MAX:
        raise ApiError(f"{len(frame):,} bars is more than JSON answers carry ({JSON_ROWS_MAX:,}): "
                       "ask for format=csv or parquet", 413)
    frame[TIMESTAMP] = [t.isoformat() for t in frame[TIMESTAMP]]
    return _json({"rows": frame.to_dict("records"), "count": len(frame)})


@simulations_api.post("/simulations/<name>/cells/<index>")
@spec.validate(resp=Responses(HTTP_200=(OpenedCell, "the cell was opened before: its simulation"),
                              HTTP_201=(OpenedCell, "the cell simulated and recorded"), HTTP_400=ErrorBody,
                              HTTP_404=(ErrorBody, "no such sweep, or no such cell in it")),
               tags=[TAG], path_parameter_descriptions=CELL_DESCRIPTION)
def open_cell(name: str, index: str, query: NoQuery) -> Response:
    """Keep one cell of a sweep as a simulation of its own (trades and bars included), made from
    the cell's strategy; a cell opened before answers the same simulation."""
    simulations = current_simulations()
    record = _record(simulations, name)
    cells = record.get("cells")
    if record.get("type") != "sweep" or not isinstance(cells, list):
        raise ApiError(f"{record['name']} is a simulation, not a sweep: it has no cells")
    if not _INDEX.match(index) or int(index) >= len(cells):
        raise ApiError(f"index: {record['name']} has cells 0 to {len(cells) - 1}", 404)
    cell = int(index)
    before = cells[cell].get("simulation")
    try:
        made = simulations.open_cell(record["name"], cell, created_by=current_principal().id)
    except SimulationError as exc:
        raise ApiError(str(exc)) from None
    body = {"name": made, "sweep": record["name"], "cell": cell, "links": _links(made)}
    return _json(body, 200 if before == made else 201)


__all__ = ["simulations_api"]
