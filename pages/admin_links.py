"""/admin/links: every signed read-only link — maker, view, label, expiry, status, last use —
and revoking one (after a confirmation). Links are made on the pages they show, not here.

The status filter lives in the URL (``?status=active``).
"""

from __future__ import annotations

from typing import Any, Final

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, dcc, html, no_update, set_props

from backend.access.current import current_principal
from backend.access.install import current_access
from backend.access.links import LinkError
from components.admin_nav import admin_href, auth_off, error_text, notice, page_header

dash.register_page(__name__, path="/admin/links", title="Signed links", name="Signed links", nav=False)

URL = "url"
STATUSES: Final = ("active", "expired", "revoked", "dead")


class ids:
    STATUS = "links-status"
    GRID = "links-grid"
    REVOKE = "links-revoke"
    MODAL = "links-modal"
    MODAL_TEXT = "links-modal-text"
    CONFIRM = "links-confirm"
    CANCEL = "links-cancel"
    TARGET = "links-target"
    NOTICES = "links-notices"


def _when(value: Any) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def rows(status: str | None) -> list[dict[str, Any]]:
    links = current_access().links
    assert links is not None
    return [{"id": i.id, "maker": i.maker, "label": i.label, "href": i.href, "created": _when(i.created_at),
             "expires": _when(i.expires_at), "status": i.status, "last_used": _when(i.last_used_at) or "never"}
            for i in links.list() if status is None or i.status == status]


COLUMNS = [
    {"field": "status", "headerName": "Status", "width": 110,
     "cellClassRules": {"admin-status-bad": "params.value !== 'active'"}},
    {"field": "maker", "headerName": "Made by", "width": 140},
    {"field": "label", "headerName": "Label", "width": 180, "tooltipField": "label"},
    {"field": "href", "headerName": "View", "flex": 1, "minWidth": 220, "tooltipField": "href"},
    {"field": "created", "headerName": "Made (UTC)", "width": 150},
    {"field": "expires", "headerName": "Expires (UTC)", "width": 150},
    {"field": "last_used", "headerName": "Last used", "width": 150},
]


def layout(status: str | None = None, **_query: Any) -> html.Div:
    header = page_header("Signed links", "/admin/links")
    if current_access().links is None:
        return html.Div([header, auth_off()], className="admin-page")
    problems = []
    if status not in (None, "") and status not in STATUSES:
        problems.append(notice(f"status: one of {', '.join(STATUSES)}; showing every link", "yellow"))
        status = None
    status = status or None
    return html.Div([
        header,
        html.Div(problems, id=ids.NOTICES, role="status"),
        dcc.Store(id=ids.TARGET),
        dmc.Group([
            dmc.SegmentedControl(id=ids.STATUS, value=status or "all", size="xs",
                                 data=[{"value": "all", "label": "All"}] +
                                      [{"value": s, "label": s.capitalize()} for s in STATUSES]),
            dmc.Button("Revoke selected…", id=ids.REVOKE, color="red", variant="light", size="xs"),
        ], justify="space-between", mb="sm", className="db-kiosk-hide"),
        dag.AgGrid(id=ids.GRID, rowData=rows(status), columnDefs=COLUMNS, getRowId="params.data.id",
                   defaultColDef={"resizable": True, "sortable": True, "suppressHeaderMenuButton": True},
                   dashGridOptions={"domLayout": "autoHeight", "rowHeight": 30,
                                    "rowSelection": {"mode": "singleRow", "checkboxes": False,
                                                     "enableClickSelection": True},
                                    "localeText": {"noRowsToShow": "No signed links."}},
                   className="admin-grid"),
        dmc.Modal(id=ids.MODAL, title="Revoke this link?", opened=False, children=[
            dmc.Text(id=ids.MODAL_TEXT, size="sm", mb="md"),
            dmc.Group([dmc.Button("Cancel", id=ids.CANCEL, variant="default"),
                       dmc.Button("Revoke", id=ids.CONFIRM, color="red")], justify="flex-end"),
        ]),
    ], className="admin-page")


@callback(Input(ids.STATUS, "value"), State(URL, "search"), prevent_initial_call=True)
def choose_status(value: Any, search: str | None) -> None:
    set_props(URL, {"href": admin_href("/admin/links", search, status=value if value in STATUSES else None)})


@callback(Output(ids.MODAL, "opened"), Output(ids.MODAL_TEXT, "children"), Output(ids.TARGET, "data"),
          Output(ids.NOTICES, "children"),
          Input(ids.REVOKE, "n_clicks"), Input(ids.CANCEL, "n_clicks"), State(ids.GRID, "selectedRows"),
          prevent_initial_call=True)
def ask(_revoke: int | None, _cancel: int | None, selected: Any) -> tuple[Any, ...]:
    if dash.ctx.triggered_id == ids.CANCEL:
        return False, no_update, None, no_update
    if not isinstance(selected, list) or len(selected) != 1 or not isinstance(selected[0], dict):
        return False, no_update, None, [notice("Select a link in the table first.", "yellow")]
    row = selected[0]
    text = f"{row.get('label') or 'The link'} by {row.get('maker')} to {row.get('href')} stops working at once."
    return True, text, row.get("id"), []


@callback(Output(ids.GRID, "rowData"), Output(ids.NOTICES, "children", allow_duplicate=True),
          Output(ids.MODAL, "opened", allow_duplicate=True),
          Input(ids.CONFIRM, "n_clicks"), State(ids.TARGET, "data"), State(ids.STATUS, "value"),
          prevent_initial_call=True)
def revoke(_n: int | None, link_id: Any, status: Any) -> tuple[Any, ...]:
    links = current_access().links
    if links is None:
        return no_update, [notice("Signed links are not available: sign-in is off.")], False
    try:
        info = links.revoke(link_id if isinstance(link_id, str) else "", actor=current_principal().id)
    except LinkError as exc:
        return no_update, [notice(error_text(exc))], False
    return rows(status if status in STATUSES else None), [notice(f"Revoked the link to {info.href}.", "green")], False
