"""The check answers every route and every callback of the real app as the policy says, for
anonymous visitors and a user of each built-in role. Walks the app's own registries, so a
new route or callback is covered without editing this file."""

from __future__ import annotations

import dash
import pytest
from flask.testing import FlaskClient

from backend.access import policy
from backend.access.permissions import BUILT_IN_ROLES, METRICS_READ
from tests.backend.access.guard_support import (
    ROLES,
    SAMPLES,
    STOP_HEADER,
    build_app,
    callback_body,
    cookie_csrf,
    is_refused,
    make_users,
    passed,
    post_callback,
    sign_in,
    user_of,
)

WHO = (None, *ROLES)  # None: not signed in


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    # /metrics from the test client's address is not on the allow-list: only metrics.read opens it
    app = build_app(tmp_path_factory.mktemp("guard-walk") / "data", warehouse_url, loaded_warehouse.database,
                    access_metrics_allow="192.0.2.1")
    app.server.test_client().get("/health")
    make_users(app)
    # Pages behind a flag are walked with their flag on for everyone: the walk is of permissions
    # (tests/backend/access/test_page_flags.py has the flags' own).
    from backend.access.flags import FLAGS_KEY

    for key in set(policy.PAGE_FLAGS.values()):
        app.server.extensions[FLAGS_KEY].create(key, enabled=True, rollout=100, actor="test")
    return app


@pytest.fixture(scope="module")
def clients(app) -> dict[str | None, FlaskClient]:
    out: dict[str | None, FlaskClient] = {None: app.server.test_client()}
    for role in ROLES:
        client = app.server.test_client()
        answer = sign_in(client, user_of(role))
        assert answer.status_code == 302 and answer.headers["Location"] == "/", answer.get_data(as_text=True)
        out[role] = client
    return out


def permissions(role: str | None) -> frozenset[str]:
    return frozenset() if role is None else BUILT_IN_ROLES[role]


def expected_to_pass(rule: str, role: str | None) -> bool:
    if rule == policy.PUBLIC:
        return True
    if rule == policy.METRICS:
        return METRICS_READ in permissions(role)
    if role is None:
        return False
    if rule in (policy.PAGE, policy.SIGNED_IN):
        return True
    return rule in permissions(role)


def routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, a URL of it) for every rule of the app but Dash's callback route."""
    adapter = app.server.url_map.bind("localhost")
    out = []
    for rule in app.server.url_map.iter_rules():
        if rule.endpoint == "/_dash-update-component":
            continue  # walked callback by callback below
        values = {name: SAMPLES.get(name, "x") for name in rule.arguments}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, adapter.build(rule.endpoint, values, method=method)))
    return out


@pytest.mark.parametrize("role", WHO, ids=lambda r: r or "anonymous")
def test_every_route_is_answered_as_declared(app, clients, role: str | None) -> None:
    client = clients[role]
    walked = routes(app)
    assert len(walked) > 30
    wrong = []
    for endpoint, method, url in walked:
        rule = policy.route_rule(endpoint)
        headers = {STOP_HEADER: "1"}
        if method != "GET":
            headers["X-CSRFToken"] = cookie_csrf(client)
        answer = client.open(url, method=method, headers=headers)
        should = expected_to_pass(rule, role)
        if passed(answer) != should:
            wrong.append((endpoint, method, url, rule, answer.status_code))
        elif not should:
            assert is_refused(answer)
            if role is None and rule == policy.PAGE:
                assert answer.status_code == 302 and answer.headers["Location"].startswith("/signin?next=")
            elif role is None or rule == policy.METRICS:
                assert answer.status_code == 401, (endpoint, answer.status_code)
            else:
                assert answer.status_code == 403, (endpoint, answer.status_code)
    assert wrong == []


@pytest.mark.parametrize("role", WHO, ids=lambda r: r or "anonymous")
def test_every_callback_is_answered_as_declared(app, clients, role: str | None) -> None:
    client = clients[role]
    wrong = []
    checked = 0
    for key, entry in app.callback_map.items():
        needs = policy.callback_rule(entry).needs
        if policy.PAGE_CONTENT in needs:
            continue  # below, page by page
        answer = post_callback(client, callback_body(entry, key))
        should = role is not None and all(n == policy.SIGNED_IN or n in permissions(role) for n in needs)
        checked += 1
        if passed(answer) != should:
            wrong.append((key[:120], sorted(needs), answer.status_code))
        elif not should:
            assert is_refused(answer) and answer.status_code == (401 if role is None else 403)
    assert checked > 40
    assert wrong == []


@pytest.mark.parametrize("role", WHO, ids=lambda r: r or "anonymous")
def test_page_content_is_decided_by_the_page_asked_for(app, clients, role: str | None) -> None:
    client = clients[role]
    key = next(k for k in app.callback_map if "_pages_content" in k)
    paths = [page["path"] for page in dash.page_registry.values()] + ["/pivot/", "/no-such-page", "/admin/nope"]
    for path in paths:
        answer = post_callback(client, callback_body(app.callback_map[key], key, pathname=path))
        need = policy.page_rule(path)
        should = role is not None and (need == policy.SIGNED_IN or need in permissions(role))
        assert passed(answer) == should, (path, need, answer.status_code)
        if not should and role is not None:
            # the page is replaced by a "no access" layout: an answer Dash draws, with no data in it
            assert answer.status_code == 200 and is_refused(answer)
            body = answer.get_json()
            assert set(body["response"]) == {"_pages_content", "_pages_store"}
            assert "No access to this page" in answer.get_data(as_text=True)


def test_the_pathname_never_opens_a_page_to_someone_not_signed_in(app, clients) -> None:
    """Dash's caveat: a pathname input whose value is a public path must not open anything."""
    key = next(k for k in app.callback_map if "_pages_content" in k)
    for path in ("/signin", "/health", "/_dash-component-suites/x", "/404"):
        answer = post_callback(clients[None], callback_body(app.callback_map[key], key, pathname=path))
        assert answer.status_code == 401 and is_refused(answer)


def test_a_callback_request_without_the_csrf_header_is_refused(app, clients) -> None:
    client = clients["admin"]
    key = next(k for k in app.callback_map if k.startswith("..overview."))
    answer = post_callback(client, callback_body(app.callback_map[key], key), csrf=False)
    assert answer.status_code == 400 and is_refused(answer)
    answer = client.post("/_dash-update-component", json=callback_body(app.callback_map[key], key),
                         headers={STOP_HEADER: "1", "X-CSRFToken": "not-the-token"})
    assert answer.status_code == 400 and is_refused(answer)
    assert passed(post_callback(client, callback_body(app.callback_map[key], key)))


# Written by hand from the permission catalogue's descriptions, not from the policy table: the
# walk above proves the check follows the table; these prove the table says what we mean.
SPOT_CHECKS = [
    ("GET", "/api/v1/pnl", {"viewer", "analyst", "trader", "admin"}),
    ("POST", "/api/v1/pivot", {"viewer", "analyst", "trader", "admin"}),
    ("GET", "/api/v1/market/board", {"viewer", "analyst", "trader", "admin"}),
    ("GET", "/api/v1/trades.csv", {"analyst", "trader", "admin"}),
    ("POST", "/api/v1/jobs", {"analyst", "trader", "admin"}),
    ("POST", "/api/v1/jobs/1/cancel", {"analyst", "trader", "admin"}),
    ("POST", "/api/v1/market/alerts/a1/ack", {"trader", "admin"}),
    ("GET", "/metrics", {"admin"}),
    ("GET", "/account/password", {"viewer", "analyst", "trader", "admin"}),
    ("GET", "/pivot", {"viewer", "analyst", "trader", "admin"}),
    ("GET", "/health", {None, "viewer", "analyst", "trader", "admin"}),
    ("GET", "/signin", {None, "viewer", "analyst", "trader", "admin"}),
]


@pytest.mark.parametrize(("method", "url", "allowed"), SPOT_CHECKS, ids=[f"{m} {u}" for m, u, _ in SPOT_CHECKS])
def test_spot_checks_of_what_each_role_may_do(app, clients, method: str, url: str, allowed: set) -> None:
    for role in WHO:
        client = clients[role]
        answer = client.open(url, method=method, headers={STOP_HEADER: "1", "X-CSRFToken": cookie_csrf(client)})
        assert passed(answer) == (role in allowed), (role, answer.status_code)


@pytest.mark.parametrize(("page", "allowed"), [
    ("/", {"viewer", "analyst", "trader", "admin"}), ("/pivot", {"viewer", "analyst", "trader", "admin"}),
    ("/board", {"viewer", "analyst", "trader", "admin"}), ("/admin/system", {"admin"}), ("/admin/usage", {"admin"}),
])
def test_spot_checks_of_page_content(app, clients, page: str, allowed: set) -> None:
    key = next(k for k in app.callback_map if "_pages_content" in k)
    for role in ROLES:
        answer = post_callback(clients[role], callback_body(app.callback_map[key], key, pathname=page))
        assert passed(answer) == (role in allowed), role
