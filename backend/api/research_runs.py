"""Walk-forward runs, and the research jobs that make them, over HTTP.

    POST /api/v1/research/runs                       a walk-forward run: checked in full, then 202 and its job
    GET  /api/v1/research/runs                       every run as one flat row: ?dataset=&model=&q=&sort=&order=
                                                     &offset=&limit=
    GET  /api/v1/research/runs/<name>                one record: folds (bands, thresholds, metrics, importances),
                                                     summary, audit, request
    GET  /api/v1/research/runs/<name>/request        the request it was made from (to run it again, changed)
    GET  /api/v1/research/runs/<name>/predictions    its rows: ?format=json|csv|parquet|arrow
    GET  /api/v1/research/jobs                       the caller's research jobs (walk-forward runs, simulations,
                                                     sweeps), newest first
    GET  /api/v1/research/jobs/<id>                  one of them: state, progress, message, result or error
    POST /api/v1/research/jobs/<id>/cancel           stop it (a walk-forward run at its next fold)
    POST /api/v1/research/jobs/<id>/resume           a failed or cancelled walk-forward run, taken up from its
                                                     last finished fold by a new job

Runs are named ``<dataset>_run<n>``. Metrics without a value are ``null`` in JSON, never NaN.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Final, Literal

import orjson
import pyarrow as pa
from flask import Blueprint, Response, url_for
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from spectree import Response as Responses
from spectree.models import Tag

from backend.access.current import current_principal
from backend.access.policy import job_kind_permission, may_run_job
from backend.api.errors import ApiError, install
from backend.api.jobs import ID_DESCRIPTION, JobList, JobModel, NoQuery, _job_id, _shown
from backend.api.research import JSON_ROWS_MAX, table_file
from backend.api.spec import Body, ErrorBody, Query, spec
from backend.api.types import whole_number
from backend.jobs import JobError, current_owner
from backend.jobs.runtime import current_jobs
from backend.jobs.store import Job
from backend.measurements.frames import TIMESTAMP
from backend.research.runtime import current_datasets
from backend.research.walkforward.job import KIND, RESUMABLE
from backend.research.walkforward.requests import RunError, WalkForwardRequest
from backend.research.walkforward.service import Runs
from backend.validation import safe_name

runs_api = Blueprint("runs_api", __name__, url_prefix="/api/v1/research")
install(runs_api)

TAG = Tag(name="walk-forward runs", description="Walk-forward model runs on research datasets, and research jobs")
BODY_MAX_BYTES: Final = 64 * 1024
RESEARCH_KINDS: Final = (KIND, "simulation", "sweep")
NAME_DESCRIPTION = {"name": "the run's name, <dataset>_run<n>"}
NOT_FOUND = (ErrorBody, "no such run")
JOB_NOT_FOUND = (ErrorBody, "no such research job of yours")
FILE_ANSWER: Final = "JSON rows, or every row as an attachment: text/csv, Parquet or an Arrow IPC stream"
QUICK_KEYS: Final = ("name", "dataset", "symbol", "model", "target", "created_by", "audit")
_SORT_KEY = re.compile(r"^[A-Za-z0-9_.]{1,80}$")


class RunBody(WalkForwardRequest, Body):
    """A walk-forward run: the dataset (one symbol of a panel), features, target, model, folds,
    threshold rule, costs and seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_body_bytes: ClassVar[int] = BODY_MAX_BYTES


class RunLinks(BaseModel):
    self: str
    request: str
    predictions: str


class RunRecord(BaseModel):
    """What a run was made of and what it found."""

    model_config = ConfigDict(extra="allow")

    name: str
    dataset: str
    symbol: str | None
    request: dict[str, Any] = Field(description="the request it was made from: the same request runs it again")
    folds: list[dict[str, Any]] = Field(description="per fold: the bands' bar ranges and times, the thresholds "
                                                    "(chosen on validation), test metrics and importances")
    summary: dict[str, Any] = Field(description="the stitched out-of-sample curve's statistics")
    audit: dict[str, Any] = Field(description="the leakage audit: passed, problems, flags")
    code_version: str
    data_hash: str
    created_by: str
    created_at: str
    links: RunLinks


class RunList(BaseModel):
    runs: list[dict[str, Any]] = Field(description="one flat row per run: name, dataset, symbol, model, target, "
                                                   "folds, seed, audit, param.<name>, metric.<name>, created_at, "
                                                   "created_by")
    total: int = Field(description="runs matching the filters, before paging")
    offset: int
    limit: int


class RequestAnswer(BaseModel):
    name: str
    request: dict[str, Any]


class PredictionRows(BaseModel):
    rows: list[dict[str, Any]] = Field(description="one per fold, band and bar: timestamp, fold, band, prediction, "
                                                   "target, forward_return, equity and position (test rows)")
    count: int


def _sort(value: str) -> str:
    if not _SORT_KEY.match(value):
        raise ValueError("expected a column name (letters, digits, _ and .)")
    return value


class RunListQuery(Query):
    dataset: Annotated[str | None, Field(None, max_length=60,
                                         description="only runs on this dataset (and its indicator versions)")]
    model: Annotated[str | None, Field(None, max_length=60, description="only runs of this model kind")]
    q: Annotated[str | None, Field(None, max_length=100, description="quick search: part of the name, dataset, "
                                                                     "symbol, model, target, author or audit")]
    sort: Annotated[str, AfterValidator(_sort)] = Field(
        "created_at", description="any key of the rows: name, created_at, model, param.<name>, metric.<name>, ...")
    order: Literal["asc", "desc"] = "desc"
    offset: whole_number(0, 10**9, "rows to skip") = 0  # type: ignore[valid-type]
    limit: whole_number(1, 1_000, "rows at most") = 100  # type: ignore[valid-type]


class PredictionsQuery(Query):
    format: Literal["json", "csv", "parquet", "arrow"] = "json"


def _research_kind(value: str | None) -> str | None:
    if value is not None and value not in RESEARCH_KINDS:
        raise ValueError(f"one of {', '.join(RESEARCH_KINDS)}")
    return value


class JobsQuery(Query):
    kind: Annotated[str | None, AfterValidator(_research_kind)] = Field(
        None, json_schema_extra={"enum": list(RESEARCH_KINDS)}, description="only jobs of this kind")
    limit: whole_number(1, 500, "jobs at most") = 100  # type: ignore[valid-type]


@runs_api.errorhandler(JobError)
def _job_error(exc: JobError) -> Response:
    return _json({"error": str(exc)}, exc.status)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # orjson writes NaN and ±inf as null: no answer carries a number JSON does not have.
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY), status=status,
                    mimetype="application/json", headers=headers)


def _runs() -> Runs:
    return Runs(current_datasets())


def _links(name: str) -> dict[str, str]:
    return {"self": url_for("runs_api.get_run", name=name), "request": url_for("runs_api.run_request", name=name),
            "predictions": url_for("runs_api.run_predictions", name=name)}


def _record(runs: Runs, name: str) -> dict[str, Any]:
    try:
        record = runs.get(name)
    except RunError:
        raise ApiError(f"there is no run {safe_name(name[:60])!r}", 404) from None
    return {**record, "links": _links(record["name"])}


def _job_shown(job: Job) -> dict[str, Any]:
    data = _shown(job)
    data["links"]["self"] = url_for("runs_api.research_job", job_id=job.id)
    data["links"]["cancel"] = url_for("runs_api.cancel_research_job", job_id=job.id)
    if job.kind == KIND and job.state in RESUMABLE:
        data["links"]["resume"] = url_for("runs_api.resume_research_job", job_id=job.id)
    return data


def _submit(params: dict[str, Any]) -> Response:
    principal = current_principal()
    if not may_run_job(principal, KIND):
        raise ApiError(f"a run is a job and you may not run {KIND} jobs (it needs {job_kind_permission(KIND)!r})", 403)
    job = current_jobs().submit(KIND, {**params, "created_by": principal.id}, current_owner())
    location = url_for("runs_api.research_job", job_id=job.id)
    return _json(_job_shown(job), 202, {"Location": location})


@runs_api.post("/runs")
@spec.validate(resp=Responses(HTTP_202=(JobModel, "checked and queued; Location names the job"), HTTP_400=ErrorBody,
                              HTTP_403=(ErrorBody, "the caller may not run walk-forward jobs"), HTTP_413=ErrorBody,
                              HTTP_429=(ErrorBody, "too many jobs queued"),
                              HTTP_503=(ErrorBody, "the job queue cannot be reached")), tags=[TAG])
def create_run(json: RunBody) -> Response:
    """Start a walk-forward run as a job. Everything is checked first — the dataset, symbol and
    features exist, the folds fit the bars, the model suits the target — and a refusal names the
    field, with nothing queued. Watch the job at its Location; its result names the run."""
    request = WalkForwardRequest.model_validate(json.model_dump())
    try:
        _runs().prepare(request)
    except RunError as exc:
        raise ApiError(str(exc)) from None
    return _submit({"request": request.model_dump(mode="json")})


def _matches(row: dict[str, Any], query: RunListQuery) -> bool:
    if query.dataset is not None and query.dataset not in (row.get("dataset"), row.get("base")):
        return False
    if query.model is not None and row.get("model") != query.model:
        return False
    if query.q:
        needle = query.q.casefold()
        return any(needle in str(row.get(key) or "").casefold() for key in QUICK_KEYS)
    return True


def _order(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Sorted by ``key``, rows without a value last whichever the order; numbers before text when a
    key holds both."""
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]

    def rank(row: dict[str, Any]) -> tuple[int, Any]:
        value = row[key]
        if isinstance(value, bool):
            return (0, int(value))
        return (0, value) if isinstance(value, int | float) else (1, str(value))

    present.sort(key=rank, reverse=descending)
    return present + missing


@runs_api.get("/runs")
@spec.validate(resp=Responses(HTTP_200=RunList, HTTP_400=ErrorBody), tags=[TAG])
def list_runs(query: RunListQuery) -> Response:
    """Every run as one flat row — its model, target, hyperparameters, fold-averaged metrics and
    audit — filtered by dataset, model and a quick search, sorted by any key (rows without a value
    last), a page at a time."""
    rows = [r for r in _runs().summaries() if _matches(r, query)]
    rows = _order(rows, query.sort, query.order == "desc")
    return _json({"runs": rows[query.offset:query.offset + query.limit], "total": len(rows),
                  "offset": query.offset, "limit": query.limit})


@runs_api.get("/runs/<name>")
@spec.validate(resp=Responses(HTTP_200=RunRecord, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND), tags=[TAG],
               path_parameter_descriptions=NAME_DESCRIPTION)
def get_run(name: str, query: NoQuery) -> Response:
    """One run: the request, the code and data it ran on, every fold's bands, thresholds, metrics and
    importances, the stitched curve's statistics and the leakage audit."""
    return _json(_record(_runs(), name))


@runs_api.get("/runs/<name>/request")
@spec.validate(resp=Responses(HTTP_200=RequestAnswer, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND), tags=[TAG],
               path_parameter_descriptions=NAME_DESCRIPTION)
def run_request(name: str, query: NoQuery) -> Response:
    """The request a run was made from: sent back to ``POST /runs`` (changed or not) it runs again."""
    record = _record(_runs(), name)
    return _json({"name": record["name"], "request": record["request"]})


@runs_api.get("/runs/<name>/predictions")
@spec.validate(resp=Responses(HTTP_200=(PredictionRows, FILE_ANSWER), HTTP_400=ErrorBody, HTTP_404=NOT_FOUND,
                              HTTP_413=(ErrorBody, "too many rows for JSON: ask for csv, parquet or arrow")),
               tags=[TAG], path_parameter_descriptions=NAME_DESCRIPTION)
def run_predictions(name: str, query: PredictionsQuery) -> Response:
    """A run's rows, one per fold, band and bar, in the order kept (fold, band, time)."""
    runs = _runs()
    record = _record(runs, name)
    frame = runs.predictions(record["name"])
    if query.format != "json":
        return table_file(pa.Table.from_pandas(frame, preserve_index=False), f"{record['name']}_predictions",
                          query.format)
    if len(frame) > JSON_ROWS_MAX:
        raise ApiError(f"{len(frame):,} rows is more than JSON answers carry ({JSON_ROWS_MAX:,}): "
                       "ask for format=csv, parquet or arrow", 413)
    frame[TIMESTAMP] = [t.isoformat() for t in frame[TIMESTAMP]]
    return _json({"rows": frame.to_dict("records"), "count": len(frame)})


def _research_job(job_id: str) -> Job:
    job = current_jobs().get(_job_id(job_id), current_owner())
    if job.kind not in RESEARCH_KINDS:
        raise ApiError(f"there is no research job {job.id} of yours", 404)
    return job


@runs_api.get("/jobs")
@spec.validate(resp=Responses(HTTP_200=JobList, HTTP_400=ErrorBody), tags=[TAG])
def research_jobs(query: JobsQuery) -> Response:
    """The caller's research jobs — walk-forward runs, simulations and sweeps — newest first, with
    state, progress and message."""
    jobs: list[Job] = []
    for kind in [query.kind] if query.kind else RESEARCH_KINDS:
        jobs.extend(current_jobs().list(owner=current_owner(), kind=kind, limit=query.limit))
    jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
    return _json({"jobs": [_job_shown(j) for j in jobs[:query.limit]]})


@runs_api.get("/jobs/<job_id>")
@spec.validate(resp=Responses(HTTP_200=JobModel, HTTP_400=ErrorBody, HTTP_404=JOB_NOT_FOUND), tags=[TAG],
               path_parameter_descriptions=ID_DESCRIPTION)
def research_job(job_id: str, query: NoQuery) -> Response:
    """One research job: state, progress ("fold k of K"), message, result (the run's name) or error."""
    return _json(_job_shown(_research_job(job_id)))


@runs_api.post("/jobs/<job_id>/cancel")
@spec.validate(resp=Responses(HTTP_200=JobModel, HTTP_400=ErrorBody, HTTP_404=JOB_NOT_FOUND,
                              HTTP_409=(ErrorBody, "the job already finished")), tags=[TAG],
               path_parameter_descriptions=ID_DESCRIPTION)
def cancel_research_job(job_id: str, query: NoQuery) -> Response:
    """Cancel a research job: a queued one never starts; a walk-forward run stops after its current
    fold, recording nothing (its finished folds are kept, to resume)."""
    job = _research_job(job_id)
    return _json(_job_shown(current_jobs().cancel(job.id, current_owner())))


@runs_api.post("/jobs/<job_id>/resume")
@spec.validate(resp=Responses(HTTP_202=(JobModel, "the new job; Location names it"), HTTP_400=ErrorBody,
                              HTTP_403=(ErrorBody, "the caller may not run walk-forward jobs"),
                              HTTP_404=JOB_NOT_FOUND,
                              HTTP_409=(ErrorBody, "not a failed or cancelled walk-forward run"),
                              HTTP_429=(ErrorBody, "too many jobs queued"),
                              HTTP_503=(ErrorBody, "the job queue cannot be reached")), tags=[TAG],
               path_parameter_descriptions=ID_DESCRIPTION)
def resume_research_job(job_id: str, query: NoQuery) -> Response:
    """Take up a failed or cancelled walk-forward run: a new job with the same request fits only the
    folds that had not finished, and ends with the predictions an uninterrupted run makes."""
    job = _research_job(job_id)
    if job.kind != KIND or job.state not in RESUMABLE:
        raise ApiError(f"job {job.id} is a {job.kind} job that is {job.state.value}: only a failed or cancelled "
                       "walk-forward run is resumed", 409)
    return _submit({"request": job.parameters["request"], "resume_from": job.id})


__all__ = ["RESEARCH_KINDS", "runs_api"]
