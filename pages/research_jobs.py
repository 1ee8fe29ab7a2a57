"""/research/jobs: the research work in the job runner — walk-forward runs, simulations and
sweeps — newest first, with each job's progress, message and log tail.

A queued or running job can be cancelled; a walk-forward job can be made again with changes
(the form, filled from its request) and one that failed or was cancelled resumed from its
finished folds. What a finished job made opens from its row. The list refreshes itself while
any job is queued or running, and stops asking once all are done.
"""

from __future__ import annotations

from typing import Any, Final

import dash
import dash_mantine_components as dmc
from dash import ALL, Input, Output, callback, dcc, html, no_update

from backend.access.current import current_principal
from backend.access.policy import may_run_job
from backend.jobs import JobError, JobNotFoundError, current_owner
from backend.jobs.runtime import current_jobs
from backend.jobs.states import JobState
from backend.jobs.view import COLORS
from backend.research.run_views import job_rows
from components.admin_nav import notice

dash.register_page(__name__, path="/research/jobs", title="Research jobs", name="Research jobs", nav=False)

POLL_MS: Final = 1_000
LIST_MAX: Final = 200
RESUMABLE: Final = ("FAILED", "CANCELLED")


class ids:
    TABLE = "research-jobs-table"
    TICK = "research-jobs-tick"
    NOTICES = "research-jobs-notices"

    @staticmethod
    def cancel(job_id: int) -> dict[str, Any]:
        return {"type": "research-jobs-cancel", "index": job_id}

    @staticmethod
    def resume(job_id: int) -> dict[str, Any]:
        return {"type": "research-jobs-resume", "index": job_id}


def _rows() -> list[dict[str, Any]]:
    return job_rows(current_jobs().list(owner=current_owner(), limit=LIST_MAX))


def _made(row: dict[str, Any]) -> Any:
    if not row["result"]:
        return "—"
    where = "runs" if row["kind"] == "walkforward" else "simulations"
    return dcc.Link(row["result"], href=f"/research/{where}/{row['result']}", className="research-jobs-result")


def _actions(row: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    if row["active"]:
        out.append(dmc.Button("Cancel", id=ids.cancel(row["id"]), size="compact-xs", variant="subtle", color="red"))
    if row["kind"] == "walkforward":
        again = f"/research/new?from={row['result']}" if row["result"] else f"/research/new?job={row['id']}"
        out.append(dcc.Link("Re-run", href=again, className="research-jobs-rerun"))
        if row["state"] in RESUMABLE:
            out.append(dmc.Button("Resume", id=ids.resume(row["id"]), size="compact-xs", variant="subtle"))
    return out


def jobs_table(rows: list[dict[str, Any]]) -> Any:
    if not rows:
        return dmc.Text("No research jobs yet. Start a run from the form, or a large simulation.", c="dimmed",
                        size="sm")
    body = []
    for row in rows:
        colour = COLORS[JobState(row["state"])]
        log = html.Details([html.Summary("log"), html.Pre(row["log"], className="research-jobs-log")]) \
            if row["log"] else None
        body.append(html.Tr([
            html.Td(str(row["id"])), html.Td(row["kind"]), html.Td(row["dataset"] or "—"),
            html.Td(dmc.Badge(row["state"].lower(), color=colour, variant="light", className="research-jobs-state")),
            html.Td(dmc.Progress(value=row["progress"], color=colour, size="md", w=110,
                                 striped=row["state"] == "RUNNING", animated=row["state"] == "RUNNING")),
            html.Td([dmc.Text(row["message"], size="xs"), log], style={"maxWidth": "28rem"}),
            html.Td((row["created_at"] or "")[:16].replace("T", " ")), html.Td(_made(row)),
            html.Td(dmc.Group(_actions(row), gap=6)),
        ], **{"data-job": str(row["id"]), "data-state": row["state"]}))
    head = html.Thead(html.Tr([html.Th(h) for h in ("Job", "Kind", "Dataset", "State", "Progress", "Message",
                                                    "Queued", "Made", "")]))
    return dmc.Table([head, html.Tbody(body)], striped=True, highlightOnHover=True, fz="sm",
                     className="research-jobs-list")


def layout(**_query: Any) -> html.Div:
    rows = _rows()
    return html.Div(className="research-page research-jobs-page", children=[
        dcc.Interval(id=ids.TICK, interval=POLL_MS, disabled=not any(r["active"] for r in rows)),
        dmc.Group([dmc.Title("Research jobs", order=2), dmc.Group([
            dcc.Link("← Runs", href="/research/runs"), dcc.Link("Simulations", href="/research/simulations"),
            dcc.Link(dmc.Button("New run", size="sm"), href="/research/new", className="db-kiosk-hide")])],
                  justify="space-between", mb="sm"),
        html.Div(id=ids.NOTICES, role="status"),
        html.Div(jobs_table(rows), id=ids.TABLE),
    ])


@callback(Output(ids.TABLE, "children"), Output(ids.TICK, "disabled"), Input(ids.TICK, "n_intervals"),
          prevent_initial_call=True)
def refresh(_tick: int | None) -> tuple[Any, bool]:
    rows = _rows()
    return jobs_table(rows), not any(r["active"] for r in rows)


@callback(Output(ids.NOTICES, "children"), Output(ids.TICK, "disabled", allow_duplicate=True),
          Input({"type": "research-jobs-cancel", "index": ALL}, "n_clicks"),
          Input({"type": "research-jobs-resume", "index": ALL}, "n_clicks"), prevent_initial_call=True)
def act(cancels: list[Any], resumes: list[Any]) -> tuple[Any, Any]:
    trigger = dash.ctx.triggered_id
    # a row drawn again brings its buttons back with no clicks: only a real click acts
    if not isinstance(trigger, dict) or not dash.ctx.triggered[0].get("value"):
        return no_update, no_update
    job_id = trigger.get("index")
    if not isinstance(job_id, int):
        return no_update, no_update
    jobs, owner = current_jobs(), current_owner()
    try:
        if trigger["type"] == "research-jobs-cancel":
            jobs.cancel(job_id, owner)
            return notice(f"Job {job_id}: asked to stop.", "blue"), False
        earlier = jobs.get(job_id, owner)
        if earlier.kind != "walkforward" or not may_run_job(current_principal(), "walkforward"):
            return notice("Resuming this job needs permission to run walk-forward jobs."), no_update
        again = jobs.submit("walkforward", {**earlier.parameters, "resume_from": job_id}, owner)
    except (JobError, JobNotFoundError) as exc:
        return notice(str(exc)), no_update
    return notice(f"Job {again.id} resumes job {job_id} from its finished folds.", "blue"), False
