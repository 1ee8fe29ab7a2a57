"""The check's own behaviour: sign-in off is the single local user, refusals are logged,
the API's rate limit, and the principal services see."""

from __future__ import annotations

import logging

import pytest
from flask import jsonify

from backend.access.current import current_principal
from backend.access.install import EXTENSION_KEY
from backend.config import load_settings
from tests.backend.access.guard_support import (
    STOP_HEADER,
    build_app,
    cookie_csrf,
    is_refused,
    make_users,
    passed,
    sign_in,
    user_of,
)


def _whoami():
    principal = current_principal()
    return jsonify({"id": principal.id, "via": principal.via, "permissions": sorted(principal.permissions),
                    "restricted": not principal.scope.unrestricted})


@pytest.fixture(scope="module")
def off_app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    from app import create_app

    settings = load_settings(data_dir=tmp_path_factory.mktemp("auth-off") / "data", warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, auth="off")
    app = create_app(settings, market=False)
    app.server.add_url_rule("/whoami-test", "whoami_test", _whoami)
    return app


@pytest.fixture(scope="module")
def on_app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    app = build_app(tmp_path_factory.mktemp("auth-on") / "data", warehouse_url, loaded_warehouse.database,
                    access_api_rate="5 per minute")
    app.server.add_url_rule("/whoami-test", "whoami_test", _whoami)
    app.server.test_client().get("/health")
    make_users(app)
    return app


def test_with_sign_in_off_everything_is_the_local_user(off_app) -> None:
    client = off_app.server.test_client()
    me = client.get("/whoami-test")  # even a route nobody declared: a desktop tool checks nothing
    assert me.status_code == 200
    assert me.get_json() == {"id": "local", "via": "local", "permissions": sorted(me.get_json()["permissions"]),
                             "restricted": False}
    assert "admin.system" in me.get_json()["permissions"]
    assert client.get("/pivot").status_code == 200  # no sign-in page in the way
    assert client.get("/_dash-layout").status_code == 200
    assert client.get("/api/v1/instruments").status_code == 200
    # no sign-in pages, no CSRF on callbacks, no rate limit
    assert client.get("/signin").mimetype == "text/html" and b"signin-form" not in client.get("/signin").data
    assert all(client.get("/api/v1/instruments").status_code == 200 for _ in range(12))
    services = off_app.server.extensions[EXTENSION_KEY]
    assert services.accounts is None and services.limiter is None


def test_with_sign_in_on_services_see_the_signed_in_user(on_app) -> None:
    client = on_app.server.test_client()
    sign_in(client, user_of("viewer"))
    me = client.get("/whoami-test")
    # an undeclared route is refused even to a signed-in user ...
    assert me.status_code == 403 and is_refused(me)
    # ... so look through a declared one: the principal is set before any view runs
    views = on_app.server.view_functions
    original = views["health.health"]
    views["health.health"] = _whoami
    try:
        me = client.get("/health").get_json()
        nobody = on_app.server.test_client().get("/health").get_json()
    finally:
        views["health.health"] = original
    assert me["id"] == user_of("viewer") and me["via"] == "session"
    # a public route's caller is nobody: no permission, no rows (never the local user)
    assert nobody == {"id": "anonymous", "via": "session", "permissions": [], "restricted": True}


def test_refusals_of_undeclared_routes_are_logged(on_app, caplog: pytest.LogCaptureFixture) -> None:
    client = on_app.server.test_client()
    sign_in(client, user_of("admin"))
    with caplog.at_level(logging.WARNING, logger="backend.access.guard"):
        assert client.get("/whoami-test").status_code == 403
    assert any("whoami_test" in r.getMessage() and "declares no permission" in r.getMessage() for r in caplog.records)


def test_the_api_is_rate_limited_per_address_and_pages_are_not(on_app) -> None:
    client = on_app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.40.0.1"
    sign_in(client, user_of("viewer"))
    answers = [client.get("/api/v1/instruments", headers={STOP_HEADER: "1"}).status_code for _ in range(7)]
    assert answers[:5] == [204] * 5 and answers[5:] == [429, 429]
    assert passed(client.get("/pivot", headers={STOP_HEADER: "1"}))
    assert client.get("/health").status_code in (200, 503)
    other = on_app.server.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.40.0.2"
    sign_in(other, user_of("viewer"))
    assert passed(other.get("/api/v1/instruments", headers={STOP_HEADER: "1"}))


def test_rate_limits_live_in_redis_when_it_is_configured(tmp_path, warehouse_url: str, loaded_warehouse,
                                                         redis_url: str) -> None:
    apps = [build_app(tmp_path / f"data{i}", warehouse_url, loaded_warehouse.database, redis_url=redis_url,
                      access_api_rate="3 per minute") for i in range(2)]
    for app in apps:
        app.server.test_client().get("/health")
    statuses = []
    for app in (apps[0], apps[1], apps[0], apps[1]):  # two workers, one count
        client = app.server.test_client()
        client.environ_base["REMOTE_ADDR"] = "10.41.0.7"
        statuses.append(client.get("/api/v1/instruments", headers={STOP_HEADER: "1"}).status_code)
    assert statuses[3] == 429


def test_state_changing_api_calls_with_a_session_need_the_csrf_header(on_app) -> None:
    client = on_app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.40.1.1"
    sign_in(client, user_of("analyst"))
    without = client.post("/api/v1/pivot", json={}, headers={STOP_HEADER: "1"})
    assert without.status_code == 400 and is_refused(without)
    assert passed(client.post("/api/v1/pivot", json={}, headers={STOP_HEADER: "1",
                                                                  "X-CSRFToken": cookie_csrf(client)}))
