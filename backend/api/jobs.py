"""Jobs: start long work, watch it, cancel it, download its result.

    POST /api/v1/jobs                    {"kind": "trades_csv", "parameters": {...}} → 202 and the job
    GET  /api/v1/jobs?state=QUEUED&limit=50   the caller's jobs, newest first, with queue positions
    GET  /api/v1/jobs/<id>               one job: state, progress, message, result or error
    POST /api/v1/jobs/<id>/cancel        a queued job never starts; a running one stops at its next check
    GET  /api/v1/jobs/<id>/result        the finished job's file

Kinds: ``trades_csv`` (every trade of a pivot view as CSV; parameters ``view``, the
pivot page's query string, or ``request`` with optional ``path``) and ``probe``
(a check of the job runner itself).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from flask import Blueprint, Response, jsonify, send_file, url_for
from pydantic import AfterValidator, BaseModel, Field, StrictStr
from spectree import Response as Responses

from backend.access.current import current_principal
from backend.access.policy import job_kind_permission, may_run_job
from backend.api.errors import ApiError, install
from backend.api.spec import TAGS, Body, ErrorBody, Query, spec
from backend.api.types import whole_number
from backend.jobs import JobError, JobState, current_owner
from backend.jobs.kinds import KINDS, get_kind
from backend.jobs.runtime import current_jobs
from backend.jobs.store import Job

jobs_api = Blueprint("jobs_api", __name__, url_prefix="/api/v1")
install(jobs_api)

TAG = TAGS["jobs"]
BODY_MAX_BYTES = 64 * 1024
_ID = re.compile(r"^[1-9][0-9]{0,11}$")
_STATES = tuple(s.value for s in JobState)
KIND_SCHEMA = {"enum": sorted(KINDS)}
ID_DESCRIPTION = {"job_id": "the job's id (a positive whole number)"}
NOT_FOUND = (ErrorBody, "no such job of yours")


class JobRequest(Body):
    max_body_bytes: ClassVar[int] = BODY_MAX_BYTES

    kind: StrictStr = Field(max_length=40, json_schema_extra=KIND_SCHEMA, description="what to run")
    parameters: dict[str, Any] = Field(default_factory=dict, description="the kind's parameters")


class JobLinks(BaseModel):
    self: str
    cancel: str
    result: str | None = Field(None, description="the file, once the job completed")


class JobModel(BaseModel):
    """A job as the API shows it (no traceback: it may hold internals)."""

    id: int
    kind: str
    parameters: dict[str, Any]
    owner: str
    state: JobState
    runner: str
    placement: str
    progress: float
    message: str
    cancel_requested: bool
    result: dict[str, Any] | None
    error: str | None
    log_tail: str | None
    worker: str | None
    pid: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None
    queue_position: int | None = Field(description="1 for the next job to start in its runner's queue")
    links: JobLinks


class JobList(BaseModel):
    jobs: list[JobModel] = Field(description="newest first")


@jobs_api.errorhandler(JobError)
def _job_error(exc: JobError):
    return jsonify({"error": str(exc)}), exc.status


def _job_id(raw: str) -> int:
    if not _ID.match(raw):
        raise ApiError("id: expected a job id (a positive whole number)")
    return int(raw)


def _shown(job: Job) -> dict[str, Any]:
    data = job.public()
    data["links"] = {"self": url_for("jobs_api.job", job_id=job.id),
                     "cancel": url_for("jobs_api.cancel", job_id=job.id)}
    if job.state == JobState.COMPLETED and (job.result or {}).get("file"):
        data["links"]["result"] = url_for("jobs_api.result", job_id=job.id)
    return data


@jobs_api.post("/jobs")
@spec.validate(resp=Responses(HTTP_202=(JobModel, "queued; Location names the job"), HTTP_400=ErrorBody,
                              HTTP_403=(ErrorBody, "the caller may not run jobs of this kind"),
                              HTTP_413=ErrorBody, HTTP_429=(ErrorBody, "too many jobs queued"),
                              HTTP_503=(ErrorBody, "the job queue (Redis) cannot be reached")), tags=[TAG])
def submit(json: JobRequest) -> tuple[Response, int, dict[str, str]]:
    """Start a job: 202 with the job, its Location and links."""
    get_kind(json.kind)  # an unknown kind is named as such, with the choices
    if not may_run_job(current_principal(), json.kind):
        raise ApiError(f"you may not run {json.kind} jobs (it needs {job_kind_permission(json.kind)!r})", 403)
    job = current_jobs().submit(json.kind, json.parameters, current_owner())
    return jsonify(_shown(job)), 202, {"Location": url_for("jobs_api.job", job_id=job.id)}


def _states(values: list[str]) -> list[str]:
    if len(values) > len(_STATES) or any(s not in _STATES for s in values):
        raise ValueError(f"expected one of {', '.join(_STATES)}")
    return values


def _kind(value: str | None) -> str | None:
    if value is not None and value not in KINDS:
        raise ValueError(f"unknown job kind (choose one of {', '.join(sorted(KINDS))})")
    return value


class JobListQuery(Query):
    state: Annotated[list[str], AfterValidator(_states)] = Field(
        default_factory=list, json_schema_extra={"items": {"enum": list(_STATES)}},
        description="only jobs in these states (repeat the parameter for several)")
    limit: whole_number(1, 500, "jobs at most") = 100  # type: ignore[valid-type]
    kind: Annotated[str | None, AfterValidator(_kind)] = Field(None, json_schema_extra=KIND_SCHEMA)


@jobs_api.get("/jobs")
@spec.validate(resp=Responses(HTTP_200=JobList, HTTP_400=ErrorBody), tags=[TAG])
def listing(query: JobListQuery) -> Response:
    """The caller's jobs, newest first, with queue positions."""
    jobs = current_jobs().list(owner=current_owner(), states=[JobState(s) for s in query.state] or None, kind=query.kind,
                               limit=query.limit)
    return jsonify({"jobs": [_shown(j) for j in jobs]})


class NoQuery(Query):
    """No query parameters."""


@jobs_api.get("/jobs/<job_id>")
@spec.validate(resp=Responses(HTTP_200=JobModel, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND), tags=[TAG],
               path_parameter_descriptions=ID_DESCRIPTION)
def job(job_id: str, query: NoQuery) -> Response:
    """One job: state, progress, message, result or error."""
    return jsonify(_shown(current_jobs().get(_job_id(job_id), current_owner())))


@jobs_api.post("/jobs/<job_id>/cancel")
@spec.validate(resp=Responses(HTTP_200=JobModel, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND,
                              HTTP_409=(ErrorBody, "the job already finished")), tags=[TAG],
               path_parameter_descriptions=ID_DESCRIPTION)
def cancel(job_id: str, query: NoQuery) -> Response:
    """Cancel a job: a queued job never starts; a running one stops at its next progress check."""
    return jsonify(_shown(current_jobs().cancel(_job_id(job_id), current_owner())))


@jobs_api.get("/jobs/<job_id>/result")
@spec.validate(resp=Responses(HTTP_200=(None, "the finished job's file, as an attachment"), HTTP_400=ErrorBody,
                              HTTP_404=(ErrorBody, "no such job, or it failed or was cancelled"),
                              HTTP_409=(ErrorBody, "the job has not finished yet"),
                              HTTP_410=(ErrorBody, "the result was deleted after its retention time")),
               tags=[TAG], path_parameter_descriptions=ID_DESCRIPTION)
def result(job_id: str, query: NoQuery) -> Response:
    """The finished job's file."""
    found = current_jobs().result_file(_job_id(job_id), current_owner())
    response = send_file(found.path, mimetype=found.media_type, as_attachment=True,
                         download_name=found.download_name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


__all__ = ["jobs_api"]
