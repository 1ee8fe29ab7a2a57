"""/admin/flags: feature flags — list, create, edit (at the version read), delete after a confirmation.

The flag being edited lives in the URL (``?flag=KEY``; ``?flag=`` alone is a new flag). An edit
made on a version someone else changed meanwhile is refused by the service; the page says so and
reloads the flag as it is now. Flags work with sign-in off too (the single local user).
"""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, dcc, html, no_update, set_props
from flask import current_app

from backend.access.current import current_principal
from backend.access.flags import FLAGS_KEY, Flag, FlagError, FlagNotFoundError, Flags, StaleFlagError
from backend.access.install import current_access
from backend.access.permissions import BUILT_IN_ROLES
from components.admin_nav import admin_href, error_text, notice, page_header

dash.register_page(__name__, path="/admin/flags", title="Flags", name="Flags", nav=False)

URL = "url"


class ids:
    GRID = "flags-grid"
    NEW = "flags-new"
    NOTICES = "flags-notices"
    KEY = "flags-key"
    DESCRIPTION = "flags-description"
    ENABLED = "flags-enabled"
    ROLLOUT = "flags-rollout"
    ROLES = "flags-roles"
    USERS = "flags-users"
    VERSION = "flags-version"
    SAVE = "flags-save"
    DELETE = "flags-delete"
    MODAL = "flags-modal"
    CONFIRM = "flags-confirm"
    CANCEL = "flags-cancel"
    FORM_TITLE = "flags-form-title"


def service() -> Flags | None:
    return current_app.extensions.get(FLAGS_KEY)


def role_names() -> list[str]:
    roles = current_access().roles
    return [r.name for r in roles.list()] if roles is not None else list(BUILT_IN_ROLES)


def user_names() -> list[str]:
    accounts = current_access().accounts
    return [a.id for a in accounts.list_users()] if accounts is not None else []


def rows(flags: Flags) -> list[dict[str, Any]]:
    return [{"key": f.key, "description": f.description, "enabled": "on" if f.enabled else "off",
             "rollout": f.rollout, "roles": ", ".join(f.roles), "users": ", ".join(f.users), "version": f.version,
             "updated": f"{f.updated_at:%Y-%m-%d %H:%M} by {f.updated_by}"} for f in flags.list()]


COLUMNS = [
    {"field": "key", "headerName": "Key", "width": 180},
    {"field": "enabled", "headerName": "On", "width": 70},
    {"field": "rollout", "headerName": "Rollout %", "width": 100, "type": "rightAligned"},
    {"field": "roles", "headerName": "Roles", "width": 150, "tooltipField": "roles"},
    {"field": "users", "headerName": "Users", "width": 150, "tooltipField": "users"},
    {"field": "description", "headerName": "Description", "flex": 1, "minWidth": 200, "tooltipField": "description"},
    {"field": "version", "headerName": "Version", "width": 90, "type": "rightAligned"},
    {"field": "updated", "headerName": "Changed", "width": 210},
]


def form_values(flag: Flag | None) -> dict[str, Any]:
    if flag is None:
        return {"key": "", "description": "", "enabled": False, "rollout": 100, "roles": [], "users": [],
                "version": None}
    return {"key": flag.key, "description": flag.description, "enabled": flag.enabled, "rollout": flag.rollout,
            "roles": list(flag.roles), "users": list(flag.users), "version": flag.version}


def form(values: dict[str, Any], editing: bool, roles: list[str], users: list[str]) -> dmc.Paper:
    return dmc.Paper([
        dmc.Text(f"Edit {values['key']}" if editing else "New flag", fw=600, id=ids.FORM_TITLE, mb="xs"),
        dmc.TextInput(id=ids.KEY, label="Key", value=values["key"], disabled=editing, size="xs",
                      description="a-z first, then a-z 0-9 _ . - (2-64)"),
        dmc.Textarea(id=ids.DESCRIPTION, label="Description", value=values["description"], size="xs", autosize=True,
                     minRows=2),
        dmc.Switch(id=ids.ENABLED, label="Enabled", checked=values["enabled"], mt="sm"),
        dmc.Text("Rollout (% of users)", size="xs", mt="sm"),
        dmc.Slider(id=ids.ROLLOUT, value=values["rollout"], min=0, max=100, step=1, mb="lg",
                   marks=[{"value": v, "label": f"{v}%"} for v in (0, 25, 50, 75, 100)]),
        dmc.MultiSelect(id=ids.ROLES, label="Only for roles (none: everyone)", data=sorted({*roles, *values["roles"]}),
                        value=values["roles"], size="xs", searchable=True, clearable=True),
        dmc.TagsInput(id=ids.USERS, label="Always on for users", data=users, value=values["users"], size="xs",
                      clearable=True),
        dmc.Group([
            dmc.Button("Save" if editing else "Create", id=ids.SAVE, size="xs"),
            dmc.Button("Delete…", id=ids.DELETE, size="xs", color="red", variant="light", disabled=not editing),
        ], mt="md"),
    ], withBorder=True, p="md", radius="sm", className="db-kiosk-hide")


def layout(flag: str | None = None, **_query: Any) -> html.Div:
    header = page_header("Feature flags", "/admin/flags",
                         dmc.Anchor("New flag", href="/admin/flags?flag=", id=ids.NEW, size="sm"))
    flags = service()
    if flags is None:
        return html.Div([header, notice("Feature flags are not set up on this server.", "gray")],
                        className="admin-page")
    problems, current = [], None
    if flag:
        try:
            current = flags.get(flag)
        except FlagError as exc:
            problems.append(notice(error_text(exc), "yellow"))
    values = form_values(current)
    grid = dag.AgGrid(id=ids.GRID, rowData=rows(flags), columnDefs=COLUMNS, getRowId="params.data.key",
                      defaultColDef={"resizable": True, "sortable": True, "suppressHeaderMenuButton": True},
                      dashGridOptions={"domLayout": "autoHeight", "rowHeight": 30,
                                       "rowSelection": {"mode": "singleRow", "checkboxes": False,
                                                        "enableClickSelection": True},
                                       "localeText": {"noRowsToShow": "No flags yet."}},
                      className="admin-grid")
    return html.Div([
        header,
        html.Div(problems, id=ids.NOTICES, role="status"),
        dcc.Store(id=ids.VERSION, data=values["version"]),
        dmc.Grid([dmc.GridCol(grid, span={"base": 12, "md": 8}),
                  dmc.GridCol(form(values, current is not None, role_names(), user_names()),
                              span={"base": 12, "md": 4})]),
        dmc.Modal(id=ids.MODAL, title="Delete this flag?", opened=False, children=[
            dmc.Text(f"{values['key']} is deleted for everyone; checks of it answer off.", size="sm", mb="md"),
            dmc.Group([dmc.Button("Cancel", id=ids.CANCEL, variant="default"),
                       dmc.Button("Delete", id=ids.CONFIRM, color="red")], justify="flex-end"),
        ]),
    ], className="admin-page")


@callback(Input(ids.GRID, "selectedRows"), State(URL, "search"), prevent_initial_call=True)
def pick(selected: Any, search: str | None) -> None:
    if isinstance(selected, list) and len(selected) == 1 and isinstance(selected[0], dict):
        key = selected[0].get("key")
        if isinstance(key, str):
            set_props(URL, {"href": admin_href("/admin/flags", search, flag=key)})


SAVE_OUT = {"notices": Output(ids.NOTICES, "children"), "rows": Output(ids.GRID, "rowData"),
            "description": Output(ids.DESCRIPTION, "value"), "enabled": Output(ids.ENABLED, "checked"),
            "rollout": Output(ids.ROLLOUT, "value"), "roles": Output(ids.ROLES, "value"),
            "users": Output(ids.USERS, "value"), "version": Output(ids.VERSION, "data")}
FORM_FIELDS = ("description", "enabled", "rollout", "roles", "users", "version")


def _answer(notices: Any, rows_: Any = no_update, form: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"notices": notices, "rows": rows_, **{name: (form or {}).get(name, no_update) for name in FORM_FIELDS}}


@callback(output=SAVE_OUT,
          inputs=[Input(ids.SAVE, "n_clicks"), State(ids.KEY, "value"), State(ids.KEY, "disabled"),
                  State(ids.DESCRIPTION, "value"), State(ids.ENABLED, "checked"), State(ids.ROLLOUT, "value"),
                  State(ids.ROLES, "value"), State(ids.USERS, "value"), State(ids.VERSION, "data"),
                  State(URL, "search")],
          prevent_initial_call=True)
def save(_n: int | None, key: Any, editing: Any, description: Any, enabled: Any, rollout: Any, roles: Any,
         users: Any, version: Any, search: str | None) -> dict[str, Any]:
    flags = service()
    if flags is None:
        return _answer([notice("Feature flags are not set up on this server.")])
    fields = {"description": description if description is not None else "", "enabled": bool(enabled),
              "rollout": rollout, "roles": roles or [], "users": users or []}
    actor = current_principal().id
    try:
        if editing:
            flag = flags.update(key, version, actor=actor, **fields)
        else:
            flag = flags.create(key, actor=actor, **fields)
            set_props(URL, {"href": admin_href("/admin/flags", search, flag=flag.key)})
    except StaleFlagError as exc:
        fresh = flags.get(key)
        message = f"{error_text(exc)} The form now shows the flag as it is (version {fresh.version})."
        return _answer([notice(message, "orange")], rows(flags), form_values(fresh))
    except FlagNotFoundError as exc:
        return _answer([notice(f"{error_text(exc)} (someone deleted it)")], rows(flags))
    except FlagError as exc:
        return _answer([notice(error_text(exc))])
    return _answer([notice(f"Saved {flag.key} (version {flag.version}).", "green")], rows(flags),
                   {"version": flag.version})


@callback(Output(ids.MODAL, "opened"), Input(ids.DELETE, "n_clicks"), Input(ids.CANCEL, "n_clicks"),
          prevent_initial_call=True)
def ask_delete(_delete: int | None, _cancel: int | None) -> bool:
    return dash.ctx.triggered_id == ids.DELETE


@callback(Output(ids.NOTICES, "children", allow_duplicate=True), Output(ids.MODAL, "opened", allow_duplicate=True),
          Input(ids.CONFIRM, "n_clicks"), State(ids.KEY, "value"), State(ids.VERSION, "data"), State(URL, "search"),
          prevent_initial_call=True)
def delete(_n: int | None, key: Any, version: Any, search: str | None) -> tuple[Any, bool]:
    flags = service()
    if flags is None:
        return [notice("Feature flags are not set up on this server.")], False
    try:
        flags.delete(key, actor=current_principal().id, version=version)
    except FlagError as exc:
        return [notice(error_text(exc))], False
    set_props(URL, {"href": admin_href("/admin/flags", search)})
    return no_update, False
