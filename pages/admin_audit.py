"""/admin/audit: the audit log, newest first, a page at a time, filtered by actor and action.

The view lives in the URL (``?actor=NAME&action=NAME&before=ID``); a bad value gets a notice
and is left out. Entries come from ``Audit.list``, which every admin action writes to.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, State, callback, html, set_props

from backend.access.audit import AuditQueryError
from backend.access.install import current_access
from components.admin_nav import auth_off, notice, page_header

dash.register_page(__name__, path="/admin/audit", title="Audit log", name="Audit log", nav=False)

PAGE_SIZE: Final = 50
URL = "url"  # the shell's dcc.Location
KNOWN_ACTIONS: Final = (
    "user.create", "user.disable", "user.enable", "user.roles", "user.scope", "user.display_name", "user.unlock",
    "password.set", "password.change", "link.reset", "link.sign_in", "link.redeem", "link.create", "link.revoke",
    "role.create", "role.update", "role.delete", "flag.create", "flag.update", "flag.delete", "signin.locked",
)
TEXT_MAX: Final = 64


class ids:
    ACTOR = "audit-actor"
    ACTION = "audit-action"
    APPLY = "audit-apply"
    GRID = "audit-grid"
    NOTICES = "audit-notices"


COLUMNS = [
    {"field": "at", "headerName": "When (UTC)", "width": 190},
    {"field": "actor", "headerName": "Actor", "width": 150},
    {"field": "action", "headerName": "Action", "width": 160},
    {"field": "target", "headerName": "Target", "width": 200, "tooltipField": "target"},
    {"field": "detail", "headerName": "Detail", "flex": 1, "minWidth": 260, "tooltipField": "detail"},
    {"field": "address", "headerName": "Address", "width": 130},
]


def read_filters(query: dict[str, Any]) -> tuple[str | None, str | None, int | None, list[str]]:
    """actor, action and before from the URL; what was wrong with them."""
    problems: list[str] = []

    def text(name: str) -> str | None:
        value = query.get(name)
        if value in (None, ""):
            return None
        if not isinstance(value, str) or len(value) > TEXT_MAX or not value.isprintable():
            problems.append(f"{name}: at most {TEXT_MAX} printable characters; ignored")
            return None
        return value

    before_raw, before = query.get("before"), None
    if before_raw not in (None, ""):
        if isinstance(before_raw, str) and before_raw.isascii() and before_raw.isdigit() and 0 < len(before_raw) < 19:
            before = int(before_raw)
        else:
            problems.append("before: expected an entry number; showing the newest entries")
    return text("actor"), text("action"), before, problems


def audit_href(actor: Any, action: Any, search: str | None) -> str:
    kept = [(k, v) for k, v in parse_qsl((search or "").lstrip("?")) if k in ("embed", "kiosk")]
    params = [(k, v.strip()) for k, v in (("actor", actor), ("action", action)) if isinstance(v, str) and v.strip()]
    query = urlencode(params + kept)
    return "/admin/audit" + ("?" + query if query else "")


def rows(entries: list[Any]) -> list[dict[str, Any]]:
    return [{"id": e.id, "at": e.at.strftime("%Y-%m-%d %H:%M:%S"), "actor": e.actor, "action": e.action,
             "target": e.target, "detail": json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail else "",
             "address": e.address} for e in entries]


def layout(actor: str | None = None, action: str | None = None, before: str | None = None,
           **query: Any) -> html.Div:
    header = page_header("Audit log", "/admin/audit")
    audit = current_access().audit
    if audit is None:
        return html.Div([header, auth_off()], className="admin-page")
    actor_v, action_v, before_v, problems = read_filters({"actor": actor, "action": action, "before": before})
    try:
        entries = audit.list(actor=actor_v, action=action_v, before_id=before_v, limit=PAGE_SIZE)
    except AuditQueryError as exc:
        entries, problems = [], [*problems, str(exc)]
    base = [(k, v) for k, v in (("actor", actor_v), ("action", action_v)) if v] + \
        [(k, v) for k, v in query.items() if k in ("embed", "kiosk") and isinstance(v, str)]
    paging = [dmc.Anchor("Newest", href="/admin/audit?" + urlencode(base), id="audit-newest", size="sm")]
    if len(entries) == PAGE_SIZE:
        paging.append(dmc.Anchor("Older entries", href="/admin/audit?" + urlencode(base + [("before", entries[-1].id)]),
                                 id="audit-older", size="sm"))
    return html.Div([
        header,
        html.Div([notice(t, "yellow") for t in problems], id=ids.NOTICES, role="status"),
        dmc.Group([
            dmc.TextInput(id=ids.ACTOR, label="Actor", value=actor_v or "", placeholder="any user", size="xs", w=200),
            dmc.Autocomplete(id=ids.ACTION, label="Action", data=list(KNOWN_ACTIONS), value=action_v or "",
                             placeholder="any action", size="xs", w=200),
            dmc.Button("Show", id=ids.APPLY, size="xs"),
        ], align="flex-end", gap="sm", mb="sm", className="db-kiosk-hide"),
        dag.AgGrid(id=ids.GRID, rowData=rows(entries), columnDefs=COLUMNS, getRowId="params.data.id",
                   defaultColDef={"resizable": True, "suppressHeaderMenuButton": True},
                   dashGridOptions={"domLayout": "autoHeight", "rowHeight": 30, "tooltipShowDelay": 300,
                                    "localeText": {"noRowsToShow": "No entries match."}},
                   className="admin-grid"),
        dmc.Group(paging, gap="md", mt="sm"),
    ], className="admin-page")


@callback(Input(ids.APPLY, "n_clicks"), State(ids.ACTOR, "value"), State(ids.ACTION, "value"),
          State(URL, "search"), prevent_initial_call=True)
def apply_filters(_n: int | None, actor: Any, action: Any, search: str | None) -> None:
    set_props(URL, {"href": audit_href(actor, action, search)})
