"""Research datasets over HTTP.

    GET  /api/v1/research/datasets                      every dataset: name, rows, range, frequency, symbols, columns
    GET  /api/v1/research/datasets/<name>               one dataset, described (gaps, missing values, time zone)
    GET  /api/v1/research/datasets/<name>/data          its bars: ?columns=a,b&start=&end=&format=json|csv|arrow
    POST /api/v1/research/datasets                      multipart upload: file (CSV or Parquet), name, tz → 201
    POST /api/v1/research/datasets/<name>/indicators    {"indicators": [{function, params}]} → the version
                                                        <name>_<n> (201 made; 200 the same request made before)
    GET  /api/v1/research/indicators                    TA-Lib's catalogue and the return targets

Windows are ``start <= timestamp < end`` (ISO times; naive ones are UTC). JSON carries columns
of values with NaN and missing values as ``null`` and times as ISO-8601 UTC; large reads should
ask for ``format=arrow`` (an Arrow IPC stream) or ``csv``.
"""

from __future__ import annotations

import io
import math
from typing import Annotated, Any, Final, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, Field
from spectree import Response as Responses
from spectree.models import Tag

from backend.access.current import current_principal
from backend.api.errors import ApiError, install
from backend.api.spec import Body, ErrorBody, Query, spec
from backend.measurements.frames import TIMESTAMP, FrameError, MeasurementNotFound
from backend.measurements.names import MeasurementNameError, clean_base
from backend.research.dataset_service import DatasetError
from backend.research.datasets import DEFAULT_MAX_BYTES, MB, DatasetFileError, read_bars
from backend.research.indicator_service import IndicatorVersions
from backend.research.indicators import REQUEST_MAX, IndicatorError, catalogue, clean_request
from backend.research.runtime import UPLOAD_LIMIT_KEY, current_datasets

research_api = Blueprint("research_api", __name__, url_prefix="/api/v1/research")
install(research_api)

TAG = Tag(name="research", description="Research datasets: OHLCV bars for one instrument or a panel")
NAME_DESCRIPTION = {"name": "the dataset's name"}
NOT_FOUND = (ErrorBody, "no such dataset")
JSON_ROWS_MAX: Final = 500_000
ARROW_MIME: Final = "application/vnd.apache.arrow.stream"
PARQUET_MIME: Final = "application/vnd.apache.parquet"
DATA_ANSWER: Final = ('the bars: JSON {"columns": {name: [values]}, "rows": n}, text/csv, or an Arrow IPC stream')


class DatasetSummary(BaseModel):
    name: str
    rows: int
    start: str | None = Field(description="first bar, ISO-8601 UTC")
    end: str | None = Field(description="last bar, ISO-8601 UTC")
    frequency: str = Field(description='bar spacing: "1D", "1min", ...; "irregular"')
    symbols: list[str] = Field(description="the instruments of a panel; empty for one instrument")
    columns: list[str]


class DatasetList(BaseModel):
    datasets: list[DatasetSummary]


class DatasetModel(DatasetSummary):
    time_zone: str = Field(description="the zone the bars are shown in (naive times were read in it)")
    gaps: int = Field(description="steps longer than the bars' own (nights and weekends aside)")
    missing: dict[str, int] = Field(description="missing or NaN values, by column (columns without any left out)")
    source: str


def _columns(value: Any) -> Any:
    if value is None:
        return None
    names = [c.strip() for c in str(value).split(",") if c.strip()]
    if not names or len(names) > 500:
        raise ValueError("expected column names, comma-separated")
    return names


class DataQuery(Query):
    columns: Annotated[str | None, Field(None, description="columns to read, comma-separated (default: all)")]
    start: Annotated[str | None, Field(None, description="first time included, ISO-8601 (naive: UTC)")]
    end: Annotated[str | None, Field(None, description="first time not included, ISO-8601 (naive: UTC)")]
    format: Literal["json", "csv", "arrow"] = Field("json", description="json (columns of values), csv, or arrow "
                                                                        "(an Arrow IPC stream, for large reads)")


class NoQuery(Query):
    """No query parameters."""


def _name(name: str) -> str:
    try:
        return clean_base(name)
    except MeasurementNameError as exc:
        raise ApiError(str(exc), 404) from None


def _info(name: str) -> Any:
    """A dataset or one of its indicator versions (``spx_3``)."""
    try:
        return current_datasets().info(name)
    except (DatasetError, MeasurementNotFound, MeasurementNameError):
        raise ApiError(f"there is no dataset {name[:40]!r}", 404) from None


@research_api.get("/datasets")
@spec.validate(resp=Responses(HTTP_200=DatasetList, HTTP_400=ErrorBody), tags=[TAG])
def list_datasets(query: NoQuery) -> Response:
    """Every dataset: name, rows, time range, bar frequency, symbols and columns."""
    keep = set(DatasetSummary.model_fields)
    return jsonify({"datasets": [{k: v for k, v in info.public().items() if k in keep}
                                 for info in current_datasets().list()]})


@research_api.get("/datasets/<name>")
@spec.validate(resp=Responses(HTTP_200=DatasetModel, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND), tags=[TAG],
               path_parameter_descriptions=NAME_DESCRIPTION)
def get_dataset(name: str, query: NoQuery) -> Response:
    """One dataset (or an indicator version, ``<name>_<n>``), described from its bars: range, frequency,
    symbols, columns, gaps, missing values."""
    return jsonify(_info(name).public())


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def table_file(table: pa.Table, name: str, file_format: Literal["csv", "arrow", "parquet"]) -> Response:
    """``table`` as a download: CSV, an Arrow IPC stream or Parquet, named ``<name>.<extension>``."""
    sink = io.BytesIO()
    if file_format == "arrow":
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        mimetype, extension = ARROW_MIME, "arrows"
    elif file_format == "parquet":
        pq.write_table(table, sink)
        mimetype, extension = PARQUET_MIME, "parquet"
    else:
        pacsv.write_csv(table, sink)
        mimetype, extension = "text/csv", "csv"
    return Response(sink.getvalue(), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{extension}"',
                             "X-Content-Type-Options": "nosniff"})


@research_api.get("/datasets/<name>/data")
@spec.validate(resp=Responses(HTTP_200=(None, DATA_ANSWER),
                              HTTP_400=ErrorBody, HTTP_404=NOT_FOUND,
                              HTTP_413=(ErrorBody, "too many rows for JSON: ask for csv or arrow")),
               tags=[TAG], path_parameter_descriptions=NAME_DESCRIPTION)
def dataset_data(name: str, query: DataQuery) -> Response:
    """A dataset's bars in a window, ``start <= timestamp < end``, as JSON, CSV or Arrow."""
    dataset = _info(name)
    try:
        columns = _columns(query.columns)
    except ValueError as exc:
        raise ApiError(f"columns: {exc}") from None
    try:
        table = current_datasets().measurements.read(dataset.name, columns=columns, start=query.start, end=query.end)
    except FrameError as exc:
        raise ApiError(str(exc)) from None
    if query.format != "json":
        return table_file(table, dataset.name, query.format)
    if table.num_rows > JSON_ROWS_MAX:
        raise ApiError(f"{table.num_rows:,} rows is more than JSON answers carry ({JSON_ROWS_MAX:,}): "
                       "ask for format=arrow or csv, or a shorter window", 413)
    out: dict[str, list[Any]] = {}
    for column in table.column_names:
        values = table.column(column)
        if column == TIMESTAMP:
            out[column] = [t.isoformat().replace("+00:00", "Z") for t in values.to_pandas()]
        else:
            out[column] = [_json_value(v) for v in values.to_pylist()]
    return jsonify({"columns": out, "rows": table.num_rows})


@research_api.post("/datasets")
@spec.validate(resp=Responses(HTTP_201=DatasetModel, HTTP_400=ErrorBody, HTTP_409=(ErrorBody, "the name is taken"),
                              HTTP_413=(ErrorBody, "the file is larger than allowed")), tags=[TAG])
def upload_dataset(query: NoQuery) -> Response:
    """Upload a CSV or Parquet file of OHLCV bars as a new dataset (multipart form: ``file``, ``name``, ``tz``).

    The file is checked whole — parsable times and numbers, times in order per symbol, high and
    low around open and close, no negative volume, no spreadsheet formulas — and refused with
    every problem named by its lines; nothing is stored unless all is right.
    """
    limit = current_app.config.get(UPLOAD_LIMIT_KEY, DEFAULT_MAX_BYTES)
    if request.content_length is None or request.content_length > limit + 64 * 1024:
        raise ApiError(f"the upload must say its length and be at most {limit / MB:,.0f} MB", 413)
    upload = request.files.get("file")
    name = request.form.get("name", "")
    zone = request.form.get("tz", "UTC") or "UTC"
    if upload is None or not upload.filename:
        raise ApiError("file: attach the CSV or Parquet file as the form field 'file'")
    try:
        dataset_name = clean_base(name)
        data = upload.read(limit + 1)
        bars = read_bars(data, upload.filename[:200], time_zone=zone, max_bytes=limit)
        info = current_datasets().add(dataset_name, bars, created_by=current_principal().id,
                                      source=upload.filename[:200])
    except DatasetFileError as exc:
        raise ApiError("; ".join(exc.problems)[:2_000], 413 if "allowed" in str(exc) else 400) from None
    except MeasurementNameError as exc:
        raise ApiError(f"name: {exc}") from None
    except DatasetError as exc:
        raise ApiError(str(exc), 409) from None
    return jsonify(info.public()), 201


class IndicatorItem(BaseModel):
    function: str = Field(max_length=40, description="a TA-Lib function (SMA, RSI, MACD, ...) or RETURNS, FORWARD_RETURNS")
    params: dict[str, float] = Field(default_factory=dict, max_length=20,
                                     description="parameters by name; those left out take TA-Lib's defaults")


class IndicatorsBody(Body):
    indicators: list[IndicatorItem] = Field(min_length=1, max_length=REQUEST_MAX)


class IndicatorColumn(BaseModel):
    function: str
    parameters: dict[str, float]
    lookback: int
    leading_nans: int
    missing: int = Field(description="values it has not (warm-up, missing bars)")
    output: str
    min: float | None
    max: float | None


class IndicatorVersionModel(BaseModel):
    name: str = Field(description="the version: <dataset>_<n>")
    dataset: str
    reused: bool = Field(description="the same request was made before: that version is answered")
    columns: dict[str, IndicatorColumn]


class IndicatorFunction(BaseModel):
    name: str
    group: str
    display_name: str
    inputs: list[str]
    parameters: dict[str, float]
    outputs: list[str]
    lookback: int
    overlay: bool = Field(description="drawn over prices (its values are prices); otherwise in a panel of its own")


class IndicatorCatalogue(BaseModel):
    functions: list[IndicatorFunction]


@research_api.get("/indicators")
@spec.validate(resp=Responses(HTTP_200=IndicatorCatalogue, HTTP_400=ErrorBody), tags=[TAG])
def indicator_catalogue(query: NoQuery) -> Response:
    """TA-Lib's functions from its own metadata (group, inputs, parameters and defaults, outputs,
    lookback), and the targets RETURNS and FORWARD_RETURNS."""
    return jsonify({"functions": list(catalogue().values())})


@research_api.post("/datasets/<name>/indicators")
@spec.validate(resp=Responses(HTTP_200=IndicatorVersionModel, HTTP_201=IndicatorVersionModel, HTTP_400=ErrorBody,
                              HTTP_404=NOT_FOUND, HTTP_413=ErrorBody), tags=[TAG],
               path_parameter_descriptions=NAME_DESCRIPTION)
def compute_indicators(name: str, json: IndicatorsBody) -> Response:
    """Compute indicators on a dataset (per symbol for a panel) as a new version ``<name>_<n>``; the
    same request again answers the version made before."""
    dataset = _name(name)
    try:
        specs = clean_request([item.model_dump() for item in json.indicators])
        version = IndicatorVersions(current_datasets()).make(dataset, specs, created_by=current_principal().id)
    except IndicatorError as exc:
        raise ApiError(str(exc)) from None
    except DatasetError:
        raise ApiError(f"there is no dataset {name[:40]!r}", 404) from None
    body = {"name": version.name, "dataset": version.dataset, "reused": version.reused, "columns": version.columns}
    return jsonify(body), 200 if version.reused else 201
