"""A job control for any page: start a job, watch its progress and place in the queue, cancel it, fetch its result.

A page embeds it with one call in its layout::

    from components.job_progress import job_progress

    job_progress("pivot-trades", kind="trades_csv", label="Export all trades (job)")

The button submits a job of ``kind`` to the job runner with the page's current
query string as the ``view`` parameter (read at the moment of the click: pages
rewrite their address with history.pushState as the view changes). The control
then watches the job by polling its record — the record is the truth, so the
same job looks the same here, in the API and in another tab, and a reload finds
it again (the job id is kept in the tab's session storage). Cancel asks the
runner to stop the job; a queued job never starts.

Why polling rather than a Dash background callback: a background callback would
be a second process (or, under Celery, a task holding a worker slot the job itself
needs) that only relays what the record already says, and Dash's own cancel stops
that relay, not the job. Polling is one indexed read per tick on the web server.

The callbacks are Dash hooks (as in ``components.saved_views``), so every app built
after this module is imported has them; an app whose pages import it first (after
that app read its hooks) is given them directly, so the control never sits dead.
"""

from __future__ import annotations

from typing import Any, Final

import dash
import dash_mantine_components as dmc
from dash import MATCH, Input, Output, State, dcc, hooks, html, no_update
from dash.exceptions import AppNotFoundError

from backend.access.current import current_principal
from backend.access.permissions import JOBS_RUN
from backend.access.policy import may_run_job
from backend.jobs import JobError, JobNotFoundError, current_owner
from backend.jobs.runtime import current_jobs
from backend.jobs.view import IDLE, JobView, job_view

POLL_MS: Final = 500


class ids:
    @staticmethod
    def _id(part: str, aio_id: str | Any) -> dict[str, Any]:
        return {"component": "job-progress", "part": part, "aio_id": aio_id}

    start = staticmethod(lambda aio_id: ids._id("start", aio_id))
    cancel = staticmethod(lambda aio_id: ids._id("cancel", aio_id))
    bar = staticmethod(lambda aio_id: ids._id("bar", aio_id))
    text = staticmethod(lambda aio_id: ids._id("text", aio_id))
    link = staticmethod(lambda aio_id: ids._id("link", aio_id))
    log = staticmethod(lambda aio_id: ids._id("log", aio_id))
    log_text = staticmethod(lambda aio_id: ids._id("log-text", aio_id))
    error = staticmethod(lambda aio_id: ids._id("error", aio_id))
    config = staticmethod(lambda aio_id: ids._id("config", aio_id))
    request = staticmethod(lambda aio_id: ids._id("request", aio_id))
    job = staticmethod(lambda aio_id: ids._id("job", aio_id))
    tick = staticmethod(lambda aio_id: ids._id("tick", aio_id))


def job_progress(aio_id: str, *, kind: str, label: str, parameters: dict[str, Any] | None = None) -> html.Div:
    """The control; ``aio_id`` must be unique on the page, ``kind`` is a job kind of ``backend.jobs``.

    ``parameters``: the job's fixed parameters; without them the job is given the page's
    query string (``{"view": ...}``) at the moment of the click.

    Nothing for a principal who may not run jobs (``jobs.run``, checked per request): no control,
    so none of its callbacks is asked.
    """
    if not current_principal().can(JOBS_RUN):
        return html.Div(className="job-progress-none")
    return html.Div(
        className="job-progress db-kiosk-hide",
        children=[
            dmc.Group(
                gap="xs",
                align="center",
                children=[
                    dmc.Button(label, id=ids.start(aio_id), variant="light", size="compact-sm"),
                    dmc.Button("Cancel", id=ids.cancel(aio_id), variant="subtle", color="red", size="compact-sm",
                               disabled=True),
                    dmc.Progress(id=ids.bar(aio_id), value=0, size="lg", w=160, color="gray",
                                 attributes={"aria-label": f"{label}: progress"}),
                    dmc.Text(id=ids.text(aio_id), size="xs", **{"aria-live": "polite"}),
                    html.A(id=ids.link(aio_id), href=None, children="", style={"display": "none"},
                           className="job-progress-result"),
                ],
            ),
            dmc.Text(id=ids.error(aio_id), size="xs", c="red", attributes={"role": "alert"}),
            html.Details([html.Summary("Log of the failed job"), html.Pre(id=ids.log_text(aio_id))],
                         id=ids.log(aio_id), style={"display": "none"}),
            dcc.Store(id=ids.config(aio_id), data={"kind": kind, "parameters": parameters}),
            dcc.Store(id=ids.request(aio_id)),
            dcc.Store(id=ids.job(aio_id), storage_type="session"),
            dcc.Interval(id=ids.tick(aio_id), interval=POLL_MS, disabled=True),
        ],
    )


def _owner() -> str:
    # The jobs service says who is asking (one place for when sign-in arrives).
    return current_owner()


def _job_id(data: Any) -> int | None:
    # The store is the browser's: anything but a positive whole number is no job.
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**53 else None


_CALLBACKS: list[tuple[tuple[Any, ...], dict[str, Any], Any]] = []


def _callback(*args: Any, **kwargs: Any) -> Any:
    def keep(func: Any) -> Any:
        _CALLBACKS.append((args, kwargs, func))
        return func

    return keep


# The query string is read in the browser at the moment of the click (see the module docstring).
_START = (
    """function (n, config) {
        if (!n || !config) { return window.dash_clientside.no_update; }
        return {kind: config.kind, parameters: config.parameters || {view: window.location.search}, n: n};
    }""",
    Output(ids.request(MATCH), "data"),
    Input(ids.start(MATCH), "n_clicks"),
    State(ids.config(MATCH), "data"),
)


@_callback(
    Output(ids.job(MATCH), "data"),
    Output(ids.error(MATCH), "children"),
    Input(ids.request(MATCH), "data"),
    prevent_initial_call=True,
)
def _submit(asked: Any):
    if not isinstance(asked, dict):
        return no_update, ""
    # The kind comes from the page: the server decides whether this user may run it.
    if not may_run_job(current_principal(), asked.get("kind")):
        return no_update, "You may not run this kind of job."
    try:
        job = current_jobs().submit(asked.get("kind"), asked.get("parameters"), _owner())
    except JobError as exc:
        return no_update, str(exc)
    return {"id": job.id}, ""


@_callback(
    Output(ids.job(MATCH), "data", allow_duplicate=True),
    Output(ids.error(MATCH), "children", allow_duplicate=True),
    Input(ids.cancel(MATCH), "n_clicks"),
    State(ids.job(MATCH), "data"),
    prevent_initial_call=True,
)
def _cancel(clicks: Any, watched: Any):
    job_id = _job_id(watched)
    if job_id is None:
        return no_update, ""
    try:
        current_jobs().cancel(job_id, _owner())
    except JobError as exc:
        return no_update, str(exc)
    return {"id": job_id, "asked": clicks}, ""  # a new value: the record is drawn again at once


# Named outputs: the callback returns a dict by these names (in the order of the old positional
# outputs, so the callback keeps its id).
SHOW_OUT = {
    "percent": Output(ids.bar(MATCH), "value"), "bar_color": Output(ids.bar(MATCH), "color"),
    "animated": Output(ids.bar(MATCH), "animated"), "striped": Output(ids.bar(MATCH), "striped"),
    "text": Output(ids.text(MATCH), "children"), "text_color": Output(ids.text(MATCH), "c"),
    "start_disabled": Output(ids.start(MATCH), "disabled"), "cancel_disabled": Output(ids.cancel(MATCH), "disabled"),
    "href": Output(ids.link(MATCH), "href"), "link_text": Output(ids.link(MATCH), "children"),
    "link_style": Output(ids.link(MATCH), "style"), "log_style": Output(ids.log(MATCH), "style"),
    "log": Output(ids.log_text(MATCH), "children"), "tick_disabled": Output(ids.tick(MATCH), "disabled"),
}


@_callback(output=SHOW_OUT, inputs=[Input(ids.job(MATCH), "data"), Input(ids.tick(MATCH), "n_intervals")])
def _show(watched: Any, _tick: Any) -> dict[str, Any]:
    job_id = _job_id(watched)
    view: JobView = IDLE
    if job_id is not None:
        try:
            view = job_view(current_jobs().get(job_id, _owner()))
        except JobNotFoundError:
            view = IDLE  # a job of another session or a cleared records store: nothing to watch
    running = view.state == "RUNNING"
    shown = {"display": "inline"} if view.result_href else {"display": "none"}
    return {
        "percent": view.percent, "bar_color": view.color, "animated": running, "striped": running,
        "text": view.text, "text_color": "red" if view.state == "FAILED" else "dimmed",
        "start_disabled": view.active, "cancel_disabled": not view.active, "href": view.result_href,
        "link_text": f"Download {view.result_name}" if view.result_name else "",
        "link_style": shown, "log_style": {"display": "block"} if view.log else {"display": "none"},
        "log": view.log or "", "tick_disabled": not view.active,
    }


def _register(target: Any) -> None:
    target.clientside_callback(*_START, prevent_initial_call=True)
    for args, kwargs, func in _CALLBACKS:
        target.callback(*args, **kwargs)(func)


_register(hooks)
try:
    _register(dash.get_app())  # an app already built, whose pages import this module now
except AppNotFoundError:
    pass  # no app yet: each app takes the hooks when it is built
