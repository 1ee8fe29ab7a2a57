"""Every route, page and callback of the real app declares what it needs; one that does not is
refused by the check and reported by the coverage functions."""

from __future__ import annotations

import pytest
from dash import Input, Output

from backend.access import policy
from backend.access.permissions import ALL
from tests.backend.access.guard_support import (
    STOP_HEADER,
    build_app,
    callback_body,
    is_refused,
    make_users,
    post_callback,
    sign_in,
    user_of,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    app = build_app(tmp_path_factory.mktemp("policy") / "data", warehouse_url, loaded_warehouse.database)
    app.server.test_client().get("/health")  # Dash adds the pages' callbacks at the first request
    make_users(app)
    return app


def test_every_route_declares_what_it_needs(app) -> None:
    endpoints = {rule.endpoint for rule in app.server.url_map.iter_rules()}
    assert len(endpoints) > 30  # the walk saw the real app, not an empty one
    assert policy.undeclared_routes(endpoints) == []


def test_every_callback_declares_what_it_needs(app) -> None:
    assert len(app.callback_map) > 40
    assert policy.undeclared_callbacks(app.callback_map) == {}
    # the page-content callback is among them and is decided by the page asked for
    content = [k for k in app.callback_map if "_pages_content" in k]
    assert len(content) == 1
    assert policy.callback_rule(app.callback_map[content[0]]).needs == {policy.PAGE_CONTENT}


def test_every_page_declares_what_it_needs() -> None:
    import dash

    paths = [page["path"] for page in dash.page_registry.values()]
    assert {"/", "/pivot", "/board", "/market"} <= set(paths)
    assert policy.undeclared_pages(paths) == []
    # a path template serves a page at paths the table cannot list one by one: its template is
    # declared, and a prefix declaration decides every path below it
    for page in dash.page_registry.values():
        template = page.get("path_template")
        if template:
            assert template in policy.PAGES, template
            prefix = next(p for p in policy.PAGE_PREFIXES if template.startswith(p))
            assert policy.PAGE_PREFIXES[prefix] == policy.PAGES[template]
            assert policy.page_rule(template.replace("<name>", "anything")) == policy.PAGES[template]
    assert policy.undeclared_pages(["/research/datasets/x", "/nowhere"]) == ["/nowhere"]


def test_declarations_name_only_catalogue_permissions() -> None:
    named = set(policy.ROUTES.values()) | set(policy.PAGES.values()) | set(policy.OUTPUTS.values())
    assert named - ALL <= policy.MARKERS | {policy.PAGE_CONTENT}


@pytest.mark.parametrize(("pathname", "needs"), [
    ("/", "overview.view"), ("/pivot", "pivot.view"), ("/pivot/", "pivot.view"), ("//pivot//", "pivot.view"),
    ("/board", "market.view"), ("/market", "market.view"), ("/admin/system", "admin.system"),
    ("/admin/anything", "admin.system"), ("/admin", policy.SIGNED_IN), ("/admin/flags", "admin.flags"), ("/no-such-page", policy.SIGNED_IN),
    (None, policy.SIGNED_IN), (123, policy.SIGNED_IN), ("/" + "x" * 5000, policy.SIGNED_IN),
])
def test_page_rule(pathname: object, needs: str) -> None:
    assert policy.page_rule(pathname) == needs


def test_action_callbacks_need_the_action_permission(app) -> None:
    by_output = {}
    for key, entry in app.callback_map.items():
        by_output[key] = policy.callback_rule(entry).needs
    ack = [needs for key, needs in by_output.items() if "market-ack-done" in key]
    export = [needs for key, needs in by_output.items() if "pivot-download" in key]
    save = [needs for key, needs in by_output.items() if '"part":"here"' in key and "saved-views" in key]
    rules = [needs for key, needs in by_output.items() if "market-rules" in key]
    backups = [needs for key, needs in by_output.items() if "system-backups" in key]
    jobs = [needs for key, needs in by_output.items() if '"part":"request"' in key and "job-progress" in key]
    assert ack == [{"market.alerts.ack"}]
    assert export == [{"pivot.export", "pivot.view"}]
    assert save == [{"views.save"}]
    assert rules == [{"market.rules.edit"}]
    assert backups == [{"admin.system"}]
    assert jobs == [{"jobs.run"}]


def test_a_route_and_a_callback_added_without_declaration_are_refused_and_reported(
        tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse) -> None:
    app = build_app(tmp_path_factory.mktemp("undeclared") / "data", warehouse_url, loaded_warehouse.database)
    app.server.add_url_rule("/extra-report", "extra_report", lambda: "secret numbers")
    client = app.server.test_client()
    client.get("/health")
    make_users(app)

    @app.callback(Output("extra-secret", "children"), Input("extra-button", "n_clicks"))
    def extra(_n):  # pragma: no cover - never reached: the check refuses it
        return "secret numbers"

    assert policy.undeclared_routes(r.endpoint for r in app.server.url_map.iter_rules()) == ["extra_report"]
    assert list(policy.undeclared_callbacks(app.callback_map).values()) == [("extra-secret",)]

    assert sign_in(client, user_of("admin")).status_code == 302
    # even the administrator, who holds every permission, is refused: nobody decided what it needs
    route = client.get("/extra-report")
    assert route.status_code == 403 and is_refused(route)
    assert b"secret" not in route.data
    key = "extra-secret.children"
    assert key in app.callback_map
    answer = post_callback(client, callback_body(app.callback_map[key], key), stop=False)
    assert answer.status_code == 403 and is_refused(answer)
    assert b"secret" not in answer.data
    # a declared route still passes for the same user
    assert client.get("/api/v1/instruments", headers={STOP_HEADER: "1"}).status_code == 204


def test_a_callback_the_app_does_not_have_is_refused(app) -> None:
    client = app.server.test_client()
    sign_in(client, user_of("admin"))
    answer = post_callback(client, {"output": "nope.children", "inputs": []}, stop=False)
    assert answer.status_code == 403 and is_refused(answer)
    for body in ([1, 2], {"output": 5}, {"output": ["x"]}, "x" * 10_000):
        answer = post_callback(client, body, stop=False)  # type: ignore[arg-type]
        assert answer.status_code == 400 and is_refused(answer)
