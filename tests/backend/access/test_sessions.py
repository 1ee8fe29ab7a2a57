"""Sessions: idle timeout that live refreshes do not extend, API tokens, signed-link sessions,
/metrics, the frame-ancestors header, and actions recorded under the signed-in user."""

from __future__ import annotations

import time
from datetime import date

import pytest
from flask.testing import FlaskClient

from backend.access.current import current_principal
from tests.backend.access.guard_support import (
    STOP_HEADER,
    build_app,
    cookie_csrf,
    is_refused,
    make_users,
    new_address,
    own_client,
    passed,
    post_callback,
    services,
    sign_in,
    user_of,
)

METRICS_TOKEN = "metrics-token-for-tests-0123456789"
FRAME_ANCESTORS = "'self' https://intranet.example"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    app = build_app(tmp_path_factory.mktemp("sessions") / "data", warehouse_url, loaded_warehouse.database,
                    access_idle_minutes=10, metrics_token=METRICS_TOKEN, access_metrics_allow="10.77.0.0/16, ::1",
                    access_frame_ancestors=FRAME_ANCESTORS)
    app.server.test_client().get("/health")
    make_users(app)
    return app


@pytest.fixture
def client(app) -> FlaskClient:
    return own_client(app)


@pytest.fixture
def clock(app):
    sessions = services(app).sessions
    original = sessions.clock
    sessions.clock = Clock()
    yield sessions.clock
    sessions.clock = original


def key_of(app, output: str) -> str:
    return next(k for k in app.callback_map
                if k.startswith((f"{output}.", f"..{output}.")) or f"...{output}." in k)


def tick(client: FlaskClient, app, output: str, changed: list[str]):
    body = {"output": key_of(app, output), "outputs": [], "inputs": [], "state": [], "changedPropIds": changed}
    return post_callback(client, body)


# -- idle timeout -------------------------------------------------------------------------------
def test_a_session_unused_for_the_idle_time_signs_out(app, client, clock) -> None:
    sign_in(client, user_of("viewer"))
    clock.now += 9 * 60
    assert passed(client.get("/pivot", headers={STOP_HEADER: "1"}))  # use: the idle clock starts again
    clock.now += 9 * 60
    assert passed(client.get("/board", headers={STOP_HEADER: "1"}))
    clock.now += 10 * 60 + 1
    answer = client.get("/pivot")
    assert answer.status_code == 302 and answer.headers["Location"] == "/signin?next=/pivot&reason=idle"
    assert "without use" in client.get(answer.headers["Location"]).get_data(as_text=True)
    # signed out for good, not only for that request
    clock.now += 1
    assert not passed(client.get("/pivot", headers={STOP_HEADER: "1"}))


def test_live_page_refreshes_do_not_keep_a_session_alive(app, client, clock) -> None:
    sign_in(client, user_of("viewer"))
    # a board left open: its interval ticks, and the callbacks its stores feed, every few minutes
    for _ in range(3):
        clock.now += 3 * 60
        assert passed(tick(client, app, "board-poll", ["board-tick.n_intervals"]))
        assert passed(tick(client, app, "board-grid", ["board-poll.data"]))
        assert passed(tick(client, app, "board-grid", []))  # a page's initial call
    clock.now += 2 * 60  # 11 minutes after the last use
    answer = tick(client, app, "board-poll", ["board-tick.n_intervals"])
    assert answer.status_code == 401 and is_refused(answer)
    assert "without use" in answer.get_json()["error"]


def test_a_click_on_a_live_page_is_use(app, client, clock) -> None:
    sign_in(client, user_of("viewer"))
    for _ in range(3):
        clock.now += 6 * 60
        assert passed(tick(client, app, "board-pins", ["board-pin.n_clicks"]))
    clock.now += 6 * 60
    assert passed(tick(client, app, "board-poll", ["board-tick.n_intervals"]))


# -- API tokens ----------------------------------------------------------------------------------
def test_a_bearer_token_calls_the_api_as_its_user(app, client) -> None:
    tokens = services(app).tokens
    raw, info = tokens.create(user_of("viewer"), "script")
    auth = {"Authorization": f"Bearer {raw}", STOP_HEADER: "1"}
    assert passed(client.get("/api/v1/pnl", headers=auth))
    assert passed(client.post("/api/v1/pivot", json={}, headers=auth))  # no CSRF for token calls
    denied = client.get("/api/v1/trades.csv", headers=auth)  # a viewer may not export
    assert denied.status_code == 403 and is_refused(denied)
    # a token opens the API only: not pages, layouts or callbacks
    assert not passed(client.get("/_dash-layout", headers=auth))
    # the real answer, as the token's user
    real = client.get("/api/v1/instruments", headers={"Authorization": f"Bearer {raw}"})
    assert real.status_code == 200
    tokens.revoke(user_of("viewer"), info.id, actor=user_of("viewer"))
    revoked = client.get("/api/v1/pnl", headers=auth)
    assert revoked.status_code == 401 and "token" in revoked.get_json()["error"]


@pytest.mark.parametrize("header", [
    "Bearer dsk_not-a-real-token", "Bearer ", "Bearer " + "x" * 10_000, "bearer dsk_" + "a" * 43,
    "Bearer dsk_\x00", "Bearer other_prefix_token",
])
def test_bad_bearer_tokens_are_refused(client, header: str) -> None:
    answer = client.get("/api/v1/pnl", headers={"Authorization": header, STOP_HEADER: "1"})
    assert answer.status_code == 401 and is_refused(answer)


def test_a_bad_token_does_not_fall_back_to_the_session(client) -> None:
    sign_in(client, user_of("admin"))
    answer = client.get("/api/v1/pnl", headers={"Authorization": "Bearer dsk_wrong", STOP_HEADER: "1"})
    assert answer.status_code == 401


# -- /metrics -----------------------------------------------------------------------------------
def test_metrics_need_the_token_an_allowed_address_or_the_permission(app, client) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    with_token = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert with_token.status_code == 200 and b"# HELP" in with_token.data
    for address, allowed in (("10.77.3.4", True), ("10.78.0.1", False), ("::1", True), ("127.0.0.1", False)):
        other = app.server.test_client()
        other.environ_base["REMOTE_ADDR"] = address
        assert (other.get("/metrics").status_code == 200) == allowed, address
    sign_in(client, user_of("trader"))
    assert client.get("/metrics").status_code == 401  # signed in, without metrics.read
    admin = own_client(app)
    sign_in(admin, user_of("admin"))
    assert admin.get("/metrics").status_code == 200


# -- embedding ---------------------------------------------------------------------------------
def test_html_answers_say_who_may_frame_them(client) -> None:
    expected = f"frame-ancestors {FRAME_ANCESTORS}"
    assert client.get("/signin").headers["Content-Security-Policy"] == expected
    sign_in(client, user_of("viewer"))
    page = client.get("/pivot")
    assert page.mimetype == "text/html" and page.headers["Content-Security-Policy"] == expected
    assert "Content-Security-Policy" not in client.get("/_dash-layout").headers  # JSON: not framed


# -- signed read-only links ----------------------------------------------------------------------
def _link(app, path: str, query: str = "") -> tuple[str, str]:
    access = services(app)
    maker = access.accounts.principal(user_of("analyst"))
    url, info = access.links.create(maker, path, query, days=1)
    return url, info.id


def test_a_signed_link_opens_its_one_view(app, client) -> None:
    url, _ = _link(app, "/pivot", "rows=desk")
    opened = client.get(url)
    assert opened.status_code == 302 and opened.headers["Location"] == "/pivot?rows=desk"
    assert passed(client.get("/pivot?rows=desk", headers={STOP_HEADER: "1"}))
    content = key_of(app, "_pages_content")
    csrf = {"X-CSRFToken": cookie_csrf(client), STOP_HEADER: "1"}

    def page(path: str):
        inputs = [{"id": "_pages_location", "property": "pathname", "value": path},
                  {"id": "_pages_location", "property": "search", "value": ""}]
        return client.post("/_dash-update-component", headers=csrf,
                           json={"output": content, "inputs": inputs, "changedPropIds": []})

    assert passed(page("/pivot"))
    for other in ("/", "/board", "/market", "/admin/system", "/404"):
        refused = page(other)
        assert refused.status_code == 200 and is_refused(refused) and "one page only" in refused.get_data(as_text=True)
    # that page's callbacks answer; other pages' and actions do not
    assert passed(tick(client, app, "pivot-grid", []))
    assert tick(client, app, "board-poll", []).status_code == 403
    assert tick(client, app, "pivot-download", ["pivot-export.n_clicks"]).status_code == 403
    assert tick(client, app, "market-ack-done", []).status_code == 403
    # no API, even for the data the page shows
    assert client.get("/api/v1/pnl", headers={STOP_HEADER: "1"}).status_code == 403


def test_a_revoked_link_stops_its_session_at_once(app, client) -> None:
    url, link_id = _link(app, "/board")
    client.get(url)
    assert passed(tick(client, app, "board-poll", ["board-tick.n_intervals"]))
    services(app).links.revoke(link_id, actor=user_of("analyst"))
    answer = tick(client, app, "board-poll", ["board-tick.n_intervals"])
    assert answer.status_code == 401
    page = client.get("/board")
    assert page.status_code == 302 and page.headers["Location"].startswith("/signin?next=/board")


def test_bad_link_tokens_open_nothing(client) -> None:
    for token in ("x", "a" * 199, "a" * 5000, "%3Cscript%3E"):
        answer = client.get(f"/l/{token}")
        assert answer.status_code in (403, 404) and "<script>" not in answer.get_data(as_text=True)
        assert not passed(client.get("/pivot", headers={STOP_HEADER: "1"}))


def test_a_signed_in_user_opening_a_link_keeps_their_own_session(app, client) -> None:
    sign_in(client, user_of("trader"))
    url, _ = _link(app, "/pivot")
    assert client.get(url).headers["Location"] == "/pivot"
    assert passed(client.get("/api/v1/pnl", headers={STOP_HEADER: "1"}))  # still the trader


def test_idle_time_does_not_end_a_wall_screen_link(app, client, clock) -> None:
    url, _ = _link(app, "/board")
    client.get(url)
    for _ in range(5):
        clock.now += 60 * 60
        assert passed(tick(client, app, "board-poll", ["board-tick.n_intervals"]))


# -- actions recorded under the signed-in user -----------------------------------------------------
@pytest.fixture
def market(app, fresh_warehouse):
    from backend.market.board import BoardState
    from backend.market.service import EXTENSION_KEY, MarketService, ServiceSettings
    from backend.market.store import MarketStore

    service = MarketService(settings=ServiceSettings(stale_seconds=5), board=BoardState(),
                            store=MarketStore(fresh_warehouse))
    app.server.extensions[EXTENSION_KEY] = service
    yield service
    app.server.extensions.pop(EXTENSION_KEY, None)


def _alert(alert_id: str, symbol: str) -> dict:
    return {"id": alert_id, "ts": time.time(), "day": date.today().toordinal(), "symbol": symbol,
            "kind": "price_rule", "severity": "warning", "message": f"{symbol} crossed 130", "value": 131.0,
            "threshold": 130.0}


def test_acknowledging_records_the_signed_in_user_not_a_name_in_the_body(app, client, market) -> None:
    market.record_alert(_alert("r1:1", "FPT"))
    market.record_alert(_alert("r2:1", "HPG"))
    market.record_alert(_alert("r3:1", "VNM"))
    sign_in(client, user_of("trader"))
    answer = client.post("/api/v1/market/alerts/r1:1/ack", json={"by": "someone-else"},
                         headers={"X-CSRFToken": cookie_csrf(client)})
    assert answer.status_code == 200 and answer.get_json()["by"] == user_of("trader")
    # the market page's acknowledge callback
    body = {"output": "market-ack-done.data", "outputs": {"id": "market-ack-done", "property": "data"},
            "inputs": [{"id": "market-ack-request", "property": "data", "value": {"id": "r2:1", "at": 1}}],
            "state": [], "changedPropIds": ["market-ack-request.data"]}
    page = post_callback(client, body, stop=False)
    assert page.status_code == 200, page.get_data(as_text=True)
    # an API token acknowledges as its user
    raw, _ = services(app).tokens.create(user_of("admin"), "ops")
    by_token = client.post("/api/v1/market/alerts/r3:1/ack", json={"by": "trader-user"},
                           headers={"Authorization": f"Bearer {raw}"})
    assert by_token.get_json()["by"] == user_of("admin")
    rows = client.get(f"/api/v1/market/history?kind=alerts&date={date.today()}").get_json()["rows"]
    assert {(r["id"], r["acked_by"]) for r in rows} == {
        ("r1:1", user_of("trader")), ("r2:1", user_of("trader")), ("r3:1", user_of("admin"))}
    # a viewer may not acknowledge at all
    viewer = client.application.test_client()
    viewer.environ_base["REMOTE_ADDR"] = new_address()
    sign_in(viewer, user_of("viewer"))
    assert viewer.post("/api/v1/market/alerts/r1:1/ack", headers={"X-CSRFToken": cookie_csrf(viewer)}).status_code \
        == 403


def test_outside_a_request_the_caller_is_the_local_user() -> None:
    assert current_principal().id == "local"


def test_a_link_runs_only_its_own_pages_callbacks_even_with_the_same_permission(app, client) -> None:
    url, _ = _link(app, "/board")  # /board and /market both need market.view
    client.get(url)
    assert passed(tick(client, app, "board-poll", ["board-tick.n_intervals"]))
    assert passed(tick(client, app, "shell", []))
    refused = tick(client, app, "market-request", ["market-tick.n_intervals"])
    assert refused.status_code == 403 and "own page" in refused.get_json()["error"]
    # a signed-in user with the same permission runs both
    user = own_client(app)
    sign_in(user, user_of("viewer"))
    assert passed(tick(user, app, "market-request", ["market-tick.n_intervals"]))


def test_disabling_a_user_or_changing_their_roles_ends_their_sessions(app) -> None:
    accounts = services(app).accounts
    for user, change in (("to-disable", lambda u: accounts.set_disabled(u, True, actor=user_of("admin"))),
                         ("to-demote", lambda u: accounts.set_roles(u, ["viewer"], actor=user_of("admin")))):
        accounts.create_user(user, password="a long enough passphrase 42", roles=("analyst",), actor=user)
        client = app.server.test_client()
        client.environ_base["REMOTE_ADDR"] = new_address()
        sign_in(client, user)
        assert passed(client.get("/api/v1/trades.csv", headers={STOP_HEADER: "1"}))
        change(user)
        answer = client.get("/api/v1/trades.csv", headers={STOP_HEADER: "1"})
        assert answer.status_code == 401 and is_refused(answer), user
