"""The admin pages through the real app with sign-in on: each page and each of its callbacks is
refused to users without its permission and open to those with it; the /admin index shows only the
sections a user may open; hostile form values get a clear notice and write nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.access.principal import DataScope
from tests.backend.access.guard_support import (
    PASSWORD,
    ROLES,
    build_app,
    callback_body,
    cookie_csrf,
    is_refused,
    make_users,
    passed,
    post_callback,
    services,
    sign_in,
    user_of,
)
from tests.backend.access.test_scopes_support import dash_call

# page → (its permission, an id that only its callbacks name)
PAGES = {
    "/admin/users": ("admin.users", ("users-", "roles-")),
    "/admin/flags": ("admin.flags", ("flags-",)),
    "/admin/audit": ("admin.audit", ("audit-",)),
    "/admin/links": ("admin.links", ("links-",)),
    "/admin/sources": ("admin.system", ("sources-",)),
}
FLAGS_ONLY = "flag-keeper"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    app = build_app(tmp_path_factory.mktemp("admin-pages") / "data", warehouse_url, loaded_warehouse.database)
    app.server.test_client().get("/health")
    make_users(app)
    access = services(app)
    access.roles.create("flagger", ["admin.flags", "account.self"], "flags only", actor="admin-user")
    access.accounts.create_user(FLAGS_ONLY, password=PASSWORD, roles=("flagger",), actor=FLAGS_ONLY)
    return app


@pytest.fixture(scope="module")
def clients(app) -> dict[str, FlaskClient]:
    out = {}
    for who in (*(user_of(r) for r in ROLES), FLAGS_ONLY):
        client = app.server.test_client()
        assert sign_in(client, who).status_code == 302
        out[who] = client
    return out


class WithCsrf:
    """A test client whose callback posts carry the session's CSRF header, as the renderer's do."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(path, headers={"X-CSRFToken": cookie_csrf(self.client)}, **kwargs)


def page_callbacks(app, prefixes: tuple[str, ...]) -> list[str]:
    def names(entry: dict[str, Any]) -> list[str]:
        specs = entry.get("output") or []
        specs = specs if isinstance(specs, list) else [specs]
        ids = [str(getattr(s, "component_id", s)) for s in specs] + [str(i["id"]) for i in entry["inputs"][:1]]
        return ids

    found = [k for k, e in app.callback_map.items() if any(n.startswith(prefixes) for n in names(e))]
    assert found, prefixes
    return found


@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_admin_page_and_its_callbacks_are_refused_to_non_admins(app, clients, page: str) -> None:
    permission, prefixes = PAGES[page]
    content = next(k for k in app.callback_map if "_pages_content" in k)
    for role in ROLES:
        client = clients[user_of(role)]
        allowed = role == "admin"
        answer = post_callback(client, callback_body(app.callback_map[content], content, pathname=page))
        assert passed(answer) == allowed, (role, page)
        for key in page_callbacks(app, prefixes):
            answer = post_callback(client, callback_body(app.callback_map[key], key))
            assert passed(answer) == allowed, (role, key)
            if not allowed:
                assert answer.status_code == 403 and is_refused(answer)
    # a custom role with admin.flags alone opens the flags page and nothing else of these
    keeper = clients[FLAGS_ONLY]
    answer = post_callback(keeper, callback_body(app.callback_map[content], content, pathname=page))
    assert passed(answer) == (permission == "admin.flags"), page


def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _hrefs(body: str) -> set[str]:
    return {n["href"] for n in _walk(json.loads(body)) if isinstance(n.get("href"), str)}


def _page_json(client: FlaskClient, app, path: str) -> str:
    content = next(k for k in app.callback_map if "_pages_content" in k)
    answer = dash_call(WithCsrf(client), app, content, {"_pages_location.pathname": path,
                                                        "_pages_location.search": ""})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_data(as_text=True)


def test_the_admin_index_lists_only_the_sections_a_user_may_open(app, clients) -> None:
    admin = _hrefs(_page_json(clients[user_of("admin")], app, "/admin"))
    assert set(PAGES) | {"/admin/usage", "/admin/system"} <= admin
    keeper = _hrefs(_page_json(clients[FLAGS_ONLY], app, "/admin"))
    assert keeper == {"/admin", "/admin/flags"}
    viewer = _page_json(clients[user_of("viewer")], app, "/admin")
    assert "holds no administration rights" in viewer and _hrefs(viewer) == {"/admin"}


@pytest.mark.parametrize("path", ["/admin", *sorted(PAGES), "/admin/users?user=no-such&role=nope",
                                  "/admin/flags?flag=NOT%20A%20KEY", "/admin/audit?actor=x&before=abc",
                                  "/admin/links?status=zzz", "/admin/sources?status=zzz"])
def test_every_admin_page_draws_for_an_admin_with_good_and_bad_url_values(app, clients, path: str) -> None:
    page, _, query = path.partition("?")
    content = next(k for k in app.callback_map if "_pages_content" in k)
    answer = dash_call(WithCsrf(clients[user_of("admin")]), app, content,
                       {"_pages_location.pathname": page, "_pages_location.search": "?" + query if query else ""})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200, body[:300]
    assert "Traceback" not in body
    if query:
        assert "admin-notice-yellow" in body, body[:300]


def _create_key(app) -> str:
    return next(k for k in app.callback_map if "users-notices.children" in k and "@" not in k)


def _scope_name(part: str) -> str:
    return json.dumps({"part": part, "type": "users-scope"}, sort_keys=True)


def create_user_call(app, client: FlaskClient, *, user_id: Any, name: Any = "", roles: Any = ("viewer",),
                     desks: Any = None, pms: Any = None, books: Any = None) -> str:
    parts = {"portfolio_managers": pms, "desks": desks, "books": books}
    ids = {_scope_name(f"new-{n}"): {"type": "users-scope", "part": f"new-{n}"} for n in parts}
    values = {"users-create.n_clicks": 1, "users-new-id.value": user_id, "users-new-name.value": name,
              "users-new-roles.value": list(roles) if isinstance(roles, tuple) else roles,
              **{f"{_scope_name('new-' + n)}.value": v for n, v in parts.items()}}
    answer = dash_call(WithCsrf(client), app, _create_key(app), values, triggered=["users-create.n_clicks"], ids=ids)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_data(as_text=True)


HOSTILE = [
    ({"user_id": "x" * 10_000}, "User name: 1 to 64"),
    ({"user_id": "ok-user", "name": "n" * 10_000}, "Display name: at most 120"),
    ({"user_id": "robert'); DROP TABLE users;--"}, "User name: 1 to 64"),
    ({"user_id": "ngọc"}, "User name: 1 to 64"),
    ({"user_id": "ok-user", "name": "line\nbreak"}, "control characters"),
    ({"user_id": "ok-user", "desks": ["No Such Desk' OR 1=1 --"]}, "Desks: not in the warehouse"),
    ({"user_id": "ok-user", "desks": "Commodities"}, "Desks: expected a list of names"),
    ({"user_id": "ok-user", "books": [{"a": 1}]}, "Books: expected a list of names"),
    ({"user_id": "ok-user", "roles": ["root"]}, "no such role"),
    ({"user_id": "ok-user", "roles": []}, "choose at least one role"),
    ({"user_id": "ok-user", "roles": ["x" * 5000]}, "Name: 2 to 40"),
    ({"user_id": None}, "User name: 1 to 64"),
    ({"user_id": ["a"]}, "User name: 1 to 64"),
]


@pytest.mark.parametrize(("fields", "message"), HOSTILE)
def test_hostile_create_user_values_get_a_notice_and_write_nothing(app, clients, fields, message) -> None:
    access = services(app)
    users_before = [a.id for a in access.accounts.list_users()]
    audit_before = access.audit.list(limit=1)
    body = create_user_call(app, clients[user_of("admin")], **fields)
    assert message in body, body[:600]
    assert "Traceback" not in body and "admin-notice-red" in body
    assert [a.id for a in access.accounts.list_users()] == users_before
    assert access.audit.list(limit=1) == audit_before


def test_a_user_created_with_a_desk_scope_holds_that_scope_and_the_audit_names_the_admin(app, clients) -> None:
    body = create_user_call(app, clients[user_of("admin")], user_id="desk-user", name="Ngọc Ánh",
                            roles=("analyst",), desks=["Commodities"])
    assert "Created desk-user" in body
    account = services(app).accounts.get("desk-user")
    assert account.scope == DataScope(desks=frozenset({"Commodities"})) and account.display_name == "Ngọc Ánh"
    entry = services(app).audit.list(action="user.create", limit=1)[0]
    assert entry.actor == user_of("admin") and entry.target == "desk-user"


def _key_of(app, output: str) -> str:
    return next(k for k in app.callback_map if output in k)


def test_the_audit_page_pages_newest_first_with_the_filters_in_the_links(app, clients) -> None:
    audit = services(app).audit
    for n in range(57):
        audit.record("pager", "test.step", target=f"step-{n}")
    content = next(k for k in app.callback_map if "_pages_content" in k)

    def page(search: str) -> tuple[list[str], set[str]]:
        body = dash_call(WithCsrf(clients[user_of("admin")]), app, content,
                         {"_pages_location.pathname": "/admin/audit", "_pages_location.search": search})
        data = json.loads(body.get_data(as_text=True))
        grid = next(n for n in _walk(data) if n.get("id") == "audit-grid")
        return [r["target"] for r in grid["rowData"]], _hrefs(body.get_data(as_text=True))

    first, links = page("?actor=pager&action=test.step")
    assert first == [f"step-{n}" for n in range(56, 6, -1)]  # 50, newest first
    older = next(h for h in links if "before=" in h)
    assert "actor=pager" in older and "action=test.step" in older
    second, links = page("?" + older.split("?", 1)[1])
    assert second == [f"step-{n}" for n in range(6, -1, -1)]
    assert not any("before=" in h for h in links)  # the last page has no older link


FLAG_HOSTILE = [
    ({"key": "Robert'); DROP TABLE flags;--"}, "Key: 2 to 64"),
    ({"key": "k" * 10_000}, "Key: 2 to 64"),
    ({"key": "cờ-mới"}, "Key: 2 to 64"),
    ({"key": "ok-flag", "description": "d" * 10_000}, "Description: at most 500"),
    ({"key": "ok-flag", "rollout": 101}, "Rollout: expected a whole percentage"),
    ({"key": "ok-flag", "rollout": "50"}, "Rollout: expected a whole percentage"),
    ({"key": "ok-flag", "users": ["bad name with spaces"]}, "Users: each entry"),
    ({"key": "ok-flag", "roles": "admin"}, "Roles: expected a list"),
    ({"key": "ok-flag", "users": ["u" * 65]}, "Users: each entry"),
]


@pytest.mark.parametrize(("fields", "message"), FLAG_HOSTILE)
def test_hostile_flag_values_get_a_notice_and_write_nothing(app, clients, fields, message) -> None:
    flags = app.server.extensions["deskboard.flags"]
    before, audit_before = flags.list(), services(app).audit.list(limit=1)
    values = {"flags-save.n_clicks": 1, "flags-key.value": fields["key"], "flags-key.disabled": False,
              "flags-description.value": fields.get("description", ""), "flags-enabled.checked": True,
              "flags-rollout.value": fields.get("rollout", 100), "flags-roles.value": fields.get("roles", []),
              "flags-users.value": fields.get("users", []), "flags-version.data": None}
    answer = dash_call(WithCsrf(clients[user_of("admin")]), app, _key_of(app, "flags-notices.children"), values,
                       triggered=["flags-save.n_clicks"])
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and message in body, body[:500]
    assert flags.list() == before and services(app).audit.list(limit=1) == audit_before


ROLE_HOSTILE = [
    ({"name": "x" * 10_000}, "Name: 2 to 40"),
    ({"name": "admin"}, "built-in role"),
    ({"name": "ok-role", "permissions": ["everything"]}, "not in the catalogue"),
    ({"name": "ok-role", "description": "d" * 10_000}, "Description: at most 200"),
    ({"name": "ok-role", "permissions": "admin.users"}, "Permissions: expected a list"),
    ({"name": "'; DELETE FROM custom_roles; --"}, "Name: 2 to 40"),
]


@pytest.mark.parametrize(("fields", "message"), ROLE_HOSTILE)
def test_hostile_role_values_get_a_notice_and_write_nothing(app, clients, fields, message) -> None:
    roles = services(app).roles
    before, audit_before = roles.list(), services(app).audit.list(limit=1)
    values = {"roles-save.n_clicks": 1, "roles-name.value": fields["name"], "roles-name.disabled": False,
              "roles-description.value": fields.get("description", ""),
              "roles-permissions.value": fields.get("permissions", ["pivot.view"])}
    answer = dash_call(WithCsrf(clients[user_of("admin")]), app, _key_of(app, "roles-notices.children"), values,
                       triggered=["roles-save.n_clicks"])
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and message in body, body[:500]
    assert roles.list() == before and services(app).audit.list(limit=1) == audit_before


@pytest.mark.parametrize(("desks", "message"), [
    (["Commodities", "Nowhere"], "Desks: not in the warehouse: 'Nowhere'"),
    (["x" * 10_000], "Desks: not in the warehouse"),
    ([None], "Desks: expected a list of names"),
])
def test_a_forged_scope_for_an_existing_user_is_refused_and_changes_nothing(app, clients, desks, message) -> None:
    target = user_of("viewer")
    account_before, audit_before = services(app).accounts.get(target), services(app).audit.list(limit=1)
    parts = ("portfolio_managers", "desks", "books")
    ids = {_scope_name(f"user-{n}"): {"type": "users-scope", "part": f"user-{n}"} for n in parts}
    values = {"users-save-scope.n_clicks": 1, "users-selected.data": target,
              f"{_scope_name('user-desks')}.value": desks}
    key = next(k for k in app.callback_map if "users-notices.children@" in k
               and any(i["id"] == "users-save-scope" for i in app.callback_map[k]["inputs"]))
    answer = dash_call(WithCsrf(clients[user_of("admin")]), app, key, values, triggered=["users-save-scope.n_clicks"],
                       ids=ids)
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and message in body, body[:500]
    assert services(app).accounts.get(target) == account_before
    assert services(app).audit.list(limit=1) == audit_before


def test_the_last_admin_cannot_be_disabled_from_the_page(app, clients) -> None:
    key = next(k for k in app.callback_map if "users-disable.children" in k)
    accounts = services(app).accounts
    # the page's own admin is not the only one here: disable the other admin first, then try on itself
    values = {"users-disable.n_clicks": 1, "users-selected.data": user_of("admin"), "users-disable.children": "Disable"}
    others = [a.id for a in accounts.list_users() if "admin" in a.roles and a.id != user_of("admin") and not a.disabled]
    for other in others:
        accounts.set_disabled(other, True, actor=user_of("admin"))
    try:
        answer = dash_call(WithCsrf(clients[user_of("admin")]), app, key, values, triggered=["users-disable.n_clicks"])
        body = answer.get_data(as_text=True)
        assert answer.status_code == 200 and "last enabled user who can manage users" in body, body[:500]
        assert accounts.get(user_of("admin")).disabled is False
    finally:
        for other in others:
            accounts.set_disabled(other, False, actor=user_of("admin"))


def test_a_choice_made_in_an_embedded_admin_page_keeps_it_embedded() -> None:
    from components.admin_nav import admin_href

    assert admin_href("/admin/flags", "?embed=1&flag=old", flag="new") == "/admin/flags?flag=new&embed=1"
    assert admin_href("/admin/links", "?kiosk=1", status=None) == "/admin/links?kiosk=1"
    assert admin_href("/admin/users", "", user="a b&c") == "/admin/users?user=a+b%26c"
    assert admin_href("/admin/sources", None) == "/admin/sources"


def test_a_flag_targeted_at_a_role_and_a_user_from_the_page_decides_as_set(app, clients) -> None:
    flags = app.server.extensions["deskboard.flags"]
    values = {"flags-save.n_clicks": 1, "flags-key.value": "trader-tools", "flags-key.disabled": False,
              "flags-description.value": "tools for traders", "flags-enabled.checked": True,
              "flags-rollout.value": 0, "flags-roles.value": ["trader"], "flags-users.value": [user_of("viewer")],
              "flags-version.data": None}
    answer = dash_call(WithCsrf(clients[user_of("admin")]), app, _key_of(app, "flags-notices.children"), values,
                       triggered=["flags-save.n_clicks"])
    assert answer.status_code == 200 and "Saved trader-tools (version 1)" in answer.get_data(as_text=True)
    flag = flags.get("trader-tools")
    assert (flag.roles, flag.users, flag.rollout, flag.updated_by) == (("trader",), (user_of("viewer"),), 0,
                                                                      user_of("admin"))
    accounts = services(app).accounts
    # rollout 0: only the named user; holding the role alone is not enough
    assert flags.is_on("trader-tools", accounts.principal(user_of("viewer")))
    assert not flags.is_on("trader-tools", accounts.principal(user_of("trader")))
    entry = services(app).audit.list(action="flag.create", limit=1)[0]
    assert entry.actor == user_of("admin") and entry.target == "trader-tools"
    flags.delete("trader-tools", actor=user_of("admin"))


def test_with_sign_in_off_a_forged_user_change_is_told_sign_in_is_off(tmp_path, warehouse_url, loaded_warehouse) -> None:
    from app import create_app
    from backend.config import load_settings

    off = create_app(load_settings(data_dir=tmp_path / "off", warehouse_dsn=warehouse_url,
                                   warehouse_database=loaded_warehouse.database, demo_rows=0, auth="off"),
                     market=False)
    client = off.server.test_client()
    client.get("/health")  # Dash adds the pages' callbacks at the first request
    answer = dash_call(client, off, _create_key(off), {"users-create.n_clicks": 1, "users-new-id.value": "eve",
                                                       "users-new-roles.value": ["admin"]},
                       triggered=["users-create.n_clicks"])
    assert answer.status_code == 200 and "DESKBOARD_AUTH=off" in answer.get_data(as_text=True)
    key = next(k for k in off.callback_map if "roles-notices.children" in k and "@" not in k)
    answer = dash_call(client, off, key, {"roles-save.n_clicks": 1, "roles-name.value": "eve-role"},
                       triggered=["roles-save.n_clicks"])
    assert answer.status_code == 200 and "DESKBOARD_AUTH=off" in answer.get_data(as_text=True)
