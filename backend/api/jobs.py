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
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file, url_for
from pydantic import BaseModel, ConfigDict, Field

from backend.api.errors import ApiError, install, json_body, safe_name
from backend.jobs import JobError, JobState
from backend.jobs.kinds import KINDS, get_kind
from backend.jobs.runtime import current_jobs
from backend.jobs.store import Job
from backend.meta.views import LOCAL_OWNER

jobs_api = Blueprint("jobs_api", __name__, url_prefix="/api/v1")
install(jobs_api)

BODY_MAX_BYTES = 64 * 1024
_ID = re.compile(r"^[1-9][0-9]{0,11}$")
_LIMIT = re.compile(r"^[0-9]{1,3}$")
_STATES = tuple(s.value for s in JobState)


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=40)
    parameters: dict[str, Any] = Field(default_factory=dict)


@jobs_api.errorhandler(JobError)
def _job_error(exc: JobError):
    return jsonify({"error": str(exc)}), exc.status


def _owner() -> str:
    # Sign-in will supply the user here; until then every job belongs to "local".
    return LOCAL_OWNER


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
def submit() -> tuple[Response, int, dict[str, str]]:
    body = JobRequest.model_validate(json_body(BODY_MAX_BYTES))
    get_kind(body.kind)  # an unknown kind is named as such, with the choices
    job = current_jobs().submit(body.kind, body.parameters, _owner())
    return jsonify(_shown(job)), 202, {"Location": url_for("jobs_api.job", job_id=job.id)}


@jobs_api.get("/jobs")
def listing() -> Response:
    unknown = sorted(set(request.args) - {"state", "limit", "kind"})
    if unknown:
        raise ApiError(f"{safe_name(unknown[0])}: unknown query parameter (use kind, limit, state)")
    states = request.args.getlist("state")
    if len(states) > len(_STATES) or any(s not in _STATES for s in states):
        raise ApiError(f"state: expected one of {', '.join(_STATES)}")
    raw_limit = request.args.get("limit", "100")
    if not _LIMIT.match(raw_limit) or not 1 <= int(raw_limit) <= 500:
        raise ApiError("limit: expected a whole number from 1 to 500")
    kind = request.args.get("kind")
    if kind is not None and kind not in KINDS:
        raise ApiError(f"kind: unknown job kind (choose one of {', '.join(sorted(KINDS))})")
    jobs = current_jobs().list(owner=_owner(), states=[JobState(s) for s in states] or None, kind=kind,
                               limit=int(raw_limit))
    return jsonify({"jobs": [_shown(j) for j in jobs]})


@jobs_api.get("/jobs/<job_id>")
def job(job_id: str) -> Response:
    return jsonify(_shown(current_jobs().get(_job_id(job_id), _owner())))


@jobs_api.post("/jobs/<job_id>/cancel")
def cancel(job_id: str) -> Response:
    return jsonify(_shown(current_jobs().cancel(_job_id(job_id), _owner())))


@jobs_api.get("/jobs/<job_id>/result")
def result(job_id: str) -> Response:
    found = current_jobs().result_file(_job_id(job_id), _owner())
    response = send_file(found.path, mimetype=found.media_type, as_attachment=True,
                         download_name=found.download_name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


__all__ = ["jobs_api"]
