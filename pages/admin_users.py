"""/admin/users: users (roles, data scope, state, last sign-in) and custom roles.

Create a user (id, display name, roles, scope chosen from the warehouse's portfolio managers,
desks and books), disable or enable them, lift a lockout, issue a one-time reset link (shown
once), change their roles or scope; create, edit and delete custom roles from the permission
catalogue. The selected user and role live in the URL (``?user=ID&role=NAME``). Every change
goes through ``Accounts`` / ``Roles``, which check it and write the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, dcc, html, no_update, set_props
from flask import request

from backend.access.accounts import Account, AccountError, Accounts
from backend.access.current import current_principal
from backend.access.install import current_access
from backend.access.permissions import DESCRIPTIONS
from backend.access.roles import RoleError, Roles
from backend.admin_forms import FormError, roles_from_form, scope_choices, scope_from_form, scope_text
from backend.stores import current_stores
from components.admin_nav import AUTH_OFF, admin_href, auth_off, error_text, notice, page_header

dash.register_page(__name__, path="/admin/users", title="Users and roles", name="Users and roles", nav=False)

URL = "url"
SCOPE_FIELDS = (("portfolio_managers", "Portfolio managers"), ("desks", "Desks"), ("books", "Books"))
RESET_MINUTES = 60


class ids:
    NOTICES = "users-notices"
    GRID = "users-grid"
    NEW_ID = "users-new-id"
    NEW_NAME = "users-new-name"
    NEW_ROLES = "users-new-roles"
    CREATE = "users-create"
    ROLES = "users-roles"
    SAVE_ROLES = "users-save-roles"
    SAVE_SCOPE = "users-save-scope"
    DISABLE = "users-disable"
    UNLOCK = "users-unlock"
    RESET = "users-reset"
    RESET_LINK = "users-reset-link"
    SELECTED = "users-selected"
    ROLE_GRID = "roles-grid"
    ROLE_NAME = "roles-name"
    ROLE_DESCRIPTION = "roles-description"
    ROLE_PERMISSIONS = "roles-permissions"
    ROLE_SAVE = "roles-save"
    ROLE_DELETE = "roles-delete"
    ROLE_MODAL = "roles-modal"
    ROLE_CONFIRM = "roles-confirm"
    ROLE_CANCEL = "roles-cancel"
    ROLE_NOTICES = "roles-notices"


def accounts() -> Accounts:
    """The accounts service; with sign-in off there is none, and a forged request is told so."""
    service = current_access().accounts
    if service is None:
        raise AccountError(AUTH_OFF)
    return service


def roles_service() -> Roles:
    service = current_access().roles
    if service is None:
        raise RoleError(AUTH_OFF)
    return service


def scope_id(prefix: str, name: str) -> dict[str, str]:
    return {"type": "users-scope", "part": f"{prefix}-{name}"}


def _when(value: datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M")


def state(a: Account) -> str:
    parts = ["disabled" if a.disabled else "active"]
    if a.locked_until is not None and a.locked_until > datetime.now(UTC):
        parts.append(f"locked until {a.locked_until:%H:%M} UTC")
    if a.must_change_password:
        parts.append("must change password")
    return ", ".join(parts)


def user_rows() -> list[dict[str, Any]]:
    accounts = current_access().accounts
    assert accounts is not None
    return [{"id": a.id, "name": a.display_name, "roles": ", ".join(a.roles), "scope": scope_text(a.scope),
             "state": state(a), "last_signin": _when(a.last_signin_at)} for a in accounts.list_users()]


def role_rows() -> list[dict[str, Any]]:
    roles = current_access().roles
    assert roles is not None
    return [{"name": r.name, "kind": "built-in" if r.built_in else "custom", "permissions": len(r.permissions),
             "description": r.description} for r in roles.list()]


USER_COLUMNS = [
    {"field": "id", "headerName": "User", "width": 150},
    {"field": "name", "headerName": "Name", "width": 160, "tooltipField": "name"},
    {"field": "roles", "headerName": "Roles", "width": 150},
    {"field": "scope", "headerName": "Data scope", "flex": 1, "minWidth": 200, "tooltipField": "scope"},
    {"field": "state", "headerName": "State", "width": 220, "tooltipField": "state"},
    {"field": "last_signin", "headerName": "Last sign-in (UTC)", "width": 160},
]
ROLE_COLUMNS = [
    {"field": "name", "headerName": "Role", "width": 150},
    {"field": "kind", "headerName": "Kind", "width": 100},
    {"field": "permissions", "headerName": "Permissions", "width": 120, "type": "rightAligned"},
    {"field": "description", "headerName": "Description", "flex": 1, "tooltipField": "description"},
]


def _grid(grid_id: str, rows: list[dict[str, Any]], columns: list[dict[str, Any]], key: str) -> dag.AgGrid:
    return dag.AgGrid(id=grid_id, rowData=rows, columnDefs=columns, getRowId=f"params.data.{key}",
                      defaultColDef={"resizable": True, "sortable": True, "suppressHeaderMenuButton": True},
                      dashGridOptions={"domLayout": "autoHeight", "rowHeight": 30,
                                       "rowSelection": {"mode": "singleRow", "checkboxes": False,
                                                        "enableClickSelection": True}},
                      className="admin-grid")


def scope_inputs(prefix: str, choices: dict[str, list[str]], chosen: dict[str, list[str] | None]) -> dmc.Group:
    return dmc.Group([
        dmc.MultiSelect(id=scope_id(prefix, name), label=label, data=choices.get(name, []),
                        value=chosen.get(name) or [], placeholder="all", searchable=True, clearable=True, size="xs",
                        w=220, limit=200)
        for name, label in SCOPE_FIELDS
    ], gap="sm", align="flex-start")


def create_card(role_names: list[str], choices: dict[str, list[str]]) -> dmc.Paper:
    return dmc.Paper([
        dmc.Text("New user", fw=600, mb="xs"),
        dmc.Group([
            dmc.TextInput(id=ids.NEW_ID, label="User name", size="xs", w=200,
                          description="a-z 0-9 . _ @ - (1-64)"),
            dmc.TextInput(id=ids.NEW_NAME, label="Display name", size="xs", w=220),
            dmc.MultiSelect(id=ids.NEW_ROLES, label="Roles", data=role_names, value=["viewer"], size="xs", w=220,
                            searchable=True),
        ], gap="sm", align="flex-start"),
        dmc.Text("Data scope: leave a list empty to allow every value of it.", size="xs", c="dimmed", mt="xs"),
        scope_inputs("new", choices, {}),
        dmc.Button("Create user", id=ids.CREATE, size="xs", mt="sm"),
    ], withBorder=True, p="md", radius="sm")


def user_card(account: Account, role_names: list[str], choices: dict[str, list[str]]) -> dmc.Paper:
    return dmc.Paper([
        dmc.Text(f"{account.id} — {account.display_name or 'no display name'} ({state(account)})", fw=600, mb="xs",
                 id="users-selected-title"),
        dmc.Group([
            dmc.MultiSelect(id=ids.ROLES, label="Roles", data=sorted({*role_names, *account.roles}),
                            value=list(account.roles), size="xs", w=260, searchable=True),
            dmc.Button("Save roles", id=ids.SAVE_ROLES, size="xs"),
        ], align="flex-end", gap="sm"),
        scope_inputs("user", {n: sorted({*choices.get(n, []), *(getattr(account.scope, n) or ())})
                              for n, _ in SCOPE_FIELDS},
                     {n: sorted(getattr(account.scope, n) or ()) for n, _ in SCOPE_FIELDS}),
        dmc.Group([
            dmc.Button("Save scope", id=ids.SAVE_SCOPE, size="xs"),
            dmc.Button("Enable" if account.disabled else "Disable", id=ids.DISABLE, size="xs", color="orange",
                       variant="light"),
            dmc.Button("Unlock", id=ids.UNLOCK, size="xs", variant="light"),
            dmc.Button("Issue reset link", id=ids.RESET, size="xs", variant="light"),
        ], gap="sm", mt="sm"),
        html.Div(id=ids.RESET_LINK, className="users-reset-link"),
    ], withBorder=True, p="md", radius="sm", mt="sm")


def roles_section(role: str | None) -> html.Div:
    roles = current_access().roles
    assert roles is not None
    current = None
    if role:
        try:
            current = roles.get(role)
        except RoleError:
            current = None
    editing = current is not None and not current.built_in
    return html.Div([
        dmc.Title("Roles", order=4, mt="lg", mb="xs"),
        html.Div(id=ids.ROLE_NOTICES, role="status"),
        dmc.Grid([
            dmc.GridCol(_grid(ids.ROLE_GRID, role_rows(), ROLE_COLUMNS, "name"), span={"base": 12, "md": 5}),
            dmc.GridCol(dmc.Paper([
                dmc.Text(f"Edit role {current.name}" if editing else
                         (f"{current.name} is built in (read only)" if current else "New custom role"), fw=600),
                dmc.TextInput(id=ids.ROLE_NAME, label="Name", value=current.name if current else "",
                              disabled=current is not None, size="xs", w=240),
                dmc.TextInput(id=ids.ROLE_DESCRIPTION, label="Description", size="xs",
                              value=current.description if editing and current else ""),
                dmc.CheckboxGroup(dmc.Stack([
                    dmc.Checkbox(value=name, label=name, description=text, size="xs")
                    for name, text in DESCRIPTIONS.items()
                ], gap=6, mt="xs"), id=ids.ROLE_PERMISSIONS, label="Permissions",
                    value=sorted(current.permissions) if current else []),
                dmc.Group([
                    dmc.Button("Save role" if editing else "Create role", id=ids.ROLE_SAVE, size="xs",
                               disabled=current is not None and current.built_in),
                    dmc.Button("Delete role…", id=ids.ROLE_DELETE, size="xs", color="red", variant="light",
                               disabled=not editing),
                    dmc.Anchor("New role", href="?" + urlencode({"role": ""}), size="sm"),
                ], mt="sm"),
            ], withBorder=True, p="md", radius="sm"), span={"base": 12, "md": 7}),
        ]),
        dmc.Modal(id=ids.ROLE_MODAL, title="Delete this role?", opened=False, children=[
            dmc.Text("Only a role nobody holds can be deleted.", size="sm", mb="md"),
            dmc.Group([dmc.Button("Cancel", id=ids.ROLE_CANCEL, variant="default"),
                       dmc.Button("Delete", id=ids.ROLE_CONFIRM, color="red")], justify="flex-end"),
        ]),
    ])


def layout(user: str | None = None, role: str | None = None, **_query: Any) -> html.Div:
    header = page_header("Users and roles", "/admin/users")
    access = current_access()
    if access.accounts is None or access.roles is None:
        return html.Div([header, auth_off()], className="admin-page")
    problems: list[Any] = []
    try:
        choices = scope_choices(current_stores().warehouse)
    except Exception as exc:  # noqa: BLE001 - the page works without the lists; it says why
        choices = {n: [] for n, _ in SCOPE_FIELDS}
        problems.append(notice(f"The warehouse cannot list desks and books now ({type(exc).__name__}); "
                               "scopes cannot be chosen until it answers.", "yellow"))
    role_names = [r.name for r in access.roles.list()]
    selected = None
    if user:
        try:
            selected = access.accounts.get(user)
        except AccountError as exc:
            problems.append(notice(error_text(exc), "yellow"))
    return html.Div([
        header,
        html.Div(problems, id=ids.NOTICES, role="status"),
        dcc.Store(id=ids.SELECTED, data=selected.id if selected else None),
        _grid(ids.GRID, user_rows(), USER_COLUMNS, "id"),
        user_card(selected, role_names, choices) if selected else
        dmc.Text("Select a user in the table to change them.", size="sm", c="dimmed", mt="xs"),
        html.Div(create_card(role_names, choices), className="db-kiosk-hide", style={"marginTop": "12px"}),
        roles_section(role),
    ], className="admin-page")


# -- callbacks ------------------------------------------------------------------------------
def _scope_values(values: list[Any]) -> dict[str, Any]:
    return {name: value for (name, _), value in zip(SCOPE_FIELDS, values, strict=False)}


@callback(Input(ids.GRID, "selectedRows"), State(URL, "search"), prevent_initial_call=True)
def pick_user(selected: Any, search: str | None) -> None:
    if isinstance(selected, list) and len(selected) == 1 and isinstance(selected[0], dict):
        set_props(URL, {"href": admin_href("/admin/users", search, user=str(selected[0].get("id", "")))})


@callback(Input(ids.ROLE_GRID, "selectedRows"), State(ids.SELECTED, "data"), State(URL, "search"),
          prevent_initial_call=True)
def pick_role(selected: Any, user: Any, search: str | None) -> None:
    if isinstance(selected, list) and len(selected) == 1 and isinstance(selected[0], dict):
        set_props(URL, {"href": admin_href("/admin/users", search, user=user if isinstance(user, str) else None,
                                           role=str(selected[0].get("name", "")))})


def _done(text: str) -> tuple[Any, Any]:
    return [notice(text, "green")], user_rows()


def _failed(exc: BaseException) -> tuple[Any, Any]:
    return [notice(error_text(exc))], no_update


SCOPE_NEW = [State(scope_id("new", n), "value") for n, _ in SCOPE_FIELDS]
SCOPE_USER = [State(scope_id("user", n), "value") for n, _ in SCOPE_FIELDS]


@callback(Output(ids.NOTICES, "children"), Output(ids.GRID, "rowData"),
          Input(ids.CREATE, "n_clicks"), State(ids.NEW_ID, "value"), State(ids.NEW_NAME, "value"),
          State(ids.NEW_ROLES, "value"), *SCOPE_NEW, prevent_initial_call=True)
def create(_n: int | None, user_id: Any, name: Any, roles: Any, *scope: Any) -> tuple[Any, Any]:
    try:
        chosen = scope_from_form(scope_choices(current_stores().warehouse), _scope_values(list(scope)))
        account = accounts().create_user(
            user_id if isinstance(user_id, str) else "", display_name=name if isinstance(name, str) else "",
            roles=roles_from_form(roles), scope=chosen, actor=current_principal().id)
    except (FormError, AccountError, RoleError) as exc:
        return _failed(exc)
    return _done(f"Created {account.id}. They sign in with a reset link: select them and issue one.")


@callback(Output(ids.NOTICES, "children", allow_duplicate=True), Output(ids.GRID, "rowData", allow_duplicate=True),
          Input(ids.SAVE_ROLES, "n_clicks"), State(ids.SELECTED, "data"), State(ids.ROLES, "value"),
          prevent_initial_call=True)
def save_roles(_n: int | None, user_id: Any, roles: Any) -> tuple[Any, Any]:
    try:
        account = accounts().set_roles(
            user_id, roles_from_form(roles), actor=current_principal().id)
    except (FormError, AccountError, RoleError) as exc:
        return _failed(exc)
    return _done(f"{account.id} now holds {', '.join(account.roles)}.")


@callback(Output(ids.NOTICES, "children", allow_duplicate=True), Output(ids.GRID, "rowData", allow_duplicate=True),
          Input(ids.SAVE_SCOPE, "n_clicks"), State(ids.SELECTED, "data"), *SCOPE_USER, prevent_initial_call=True)
def save_scope(_n: int | None, user_id: Any, *scope: Any) -> tuple[Any, Any]:
    try:
        chosen = scope_from_form(scope_choices(current_stores().warehouse), _scope_values(list(scope)))
        account = accounts().set_scope(
            user_id, chosen, actor=current_principal().id)
    except (FormError, AccountError) as exc:
        return _failed(exc)
    return _done(f"{account.id} now sees {scope_text(account.scope)}.")


@callback(Output(ids.NOTICES, "children", allow_duplicate=True), Output(ids.GRID, "rowData", allow_duplicate=True),
          Output(ids.DISABLE, "children"),
          Input(ids.DISABLE, "n_clicks"), State(ids.SELECTED, "data"), State(ids.DISABLE, "children"),
          prevent_initial_call=True)
def toggle_disabled(_n: int | None, user_id: Any, label: Any) -> tuple[Any, Any, Any]:
    try:
        account = accounts().set_disabled(
            user_id, label == "Disable", actor=current_principal().id)
    except AccountError as exc:
        return (*_failed(exc), no_update)
    word = "disabled: their sessions ended" if account.disabled else "enabled"
    return (*_done(f"{account.id} is {word}."), "Enable" if account.disabled else "Disable")


@callback(Output(ids.NOTICES, "children", allow_duplicate=True), Output(ids.GRID, "rowData", allow_duplicate=True),
          Input(ids.UNLOCK, "n_clicks"), State(ids.SELECTED, "data"), prevent_initial_call=True)
def unlock(_n: int | None, user_id: Any) -> tuple[Any, Any]:
    try:
        account = accounts().unlock(user_id, actor=current_principal().id)
    except AccountError as exc:
        return _failed(exc)
    return _done(f"{account.id} may sign in again now.")


@callback(Output(ids.RESET_LINK, "children"), Output(ids.NOTICES, "children", allow_duplicate=True),
          Input(ids.RESET, "n_clicks"), State(ids.SELECTED, "data"), prevent_initial_call=True)
def reset(_n: int | None, user_id: Any) -> tuple[Any, Any]:
    try:
        token = accounts().issue_reset(
            user_id, actor=current_principal().id, minutes=RESET_MINUTES)
    except AccountError as exc:
        return no_update, [notice(error_text(exc))]
    url = request.host_url.rstrip("/") + "/signin/link/" + token
    return dmc.Paper([
        dmc.Text(f"Reset link for {user_id}: shown once, valid {RESET_MINUTES} minutes and for one use. Their "
                 "sessions ended; they choose a new password with it.", size="xs", mb=4),
        dmc.Group([dmc.Code(url, id="users-reset-url"), dcc.Clipboard(content=url, title="Copy")], gap="xs"),
    ], withBorder=True, p="xs", mt="sm"), []


@callback(Output(ids.ROLE_NOTICES, "children"), Output(ids.ROLE_GRID, "rowData"),
          Input(ids.ROLE_SAVE, "n_clicks"), State(ids.ROLE_NAME, "value"), State(ids.ROLE_NAME, "disabled"),
          State(ids.ROLE_DESCRIPTION, "value"), State(ids.ROLE_PERMISSIONS, "value"), prevent_initial_call=True)
def save_role(_n: int | None, name: Any, editing: Any, description: Any, permissions: Any) -> tuple[Any, Any]:
    actor = current_principal().id
    try:
        if editing:
            role = roles_service().update(name, permissions=permissions or [], description=description, actor=actor)
        else:
            role = roles_service().create(name, permissions or [], description, actor)
    except RoleError as exc:
        return [notice(error_text(exc))], no_update
    return [notice(f"Saved role {role.name} ({len(role.permissions)} permissions).", "green")], role_rows()


@callback(Output(ids.ROLE_MODAL, "opened"), Input(ids.ROLE_DELETE, "n_clicks"), Input(ids.ROLE_CANCEL, "n_clicks"),
          prevent_initial_call=True)
def ask_delete_role(_d: int | None, _c: int | None) -> bool:
    return dash.ctx.triggered_id == ids.ROLE_DELETE


@callback(Output(ids.ROLE_NOTICES, "children", allow_duplicate=True),
          Output(ids.ROLE_GRID, "rowData", allow_duplicate=True), Output(ids.ROLE_MODAL, "opened", allow_duplicate=True),
          Input(ids.ROLE_CONFIRM, "n_clicks"), State(ids.ROLE_NAME, "value"), prevent_initial_call=True)
def delete_role(_n: int | None, name: Any) -> tuple[Any, Any, bool]:
    try:
        roles_service().delete(name, actor=current_principal().id)
    except RoleError as exc:
        return [notice(error_text(exc))], no_update, False
    return [notice(f"Deleted role {name}.", "green")], role_rows(), False
