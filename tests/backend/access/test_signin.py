"""Sign-in, sign-out, one-time links and password change through the real pages."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from backend.access.signin import safe_next
from tests.backend.access.guard_support import (
    PASSWORD,
    STOP_HEADER,
    build_app,
    cookie_csrf,
    form_csrf,
    is_refused,
    make_users,
    own_client,
    passed,
    services,
    sign_in,
    user_of,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    app = build_app(tmp_path_factory.mktemp("signin") / "data", warehouse_url, loaded_warehouse.database,
                    access_lockout_attempts=3, access_signin_rate="8 per minute")
    app.server.test_client().get("/health")
    make_users(app)
    return app


@pytest.fixture
def client(app) -> FlaskClient:
    return own_client(app)


def can_open_pivot(client: FlaskClient) -> bool:
    return passed(client.get("/pivot", headers={STOP_HEADER: "1"}))


def test_the_right_password_signs_in_and_the_wrong_one_does_not(client) -> None:
    assert not can_open_pivot(client)
    wrong = sign_in(client, user_of("viewer"), "not the password at all", next_="/pivot")
    assert wrong.status_code == 200  # the form again, saying why (other statuses are errors to a browser)
    assert "Wrong user name or password" in wrong.get_data(as_text=True)
    assert not can_open_pivot(client)
    unknown = sign_in(client, "nobody-here", PASSWORD)
    assert unknown.status_code == 200 and "Wrong user name or password" in unknown.get_data(as_text=True)
    good = sign_in(client, user_of("viewer").upper(), PASSWORD, next_="/pivot?rows=desk")
    assert good.status_code == 302 and good.headers["Location"] == "/pivot?rows=desk"
    assert can_open_pivot(client)
    # the sign-in page of a signed-in user goes on to where they were heading
    again = client.get("/signin?next=/board")
    assert again.status_code == 302 and again.headers["Location"] == "/board"


def test_the_sign_in_page_is_plain_local_html(client) -> None:
    page = client.get("/signin?next=/pivot")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert 'name="csrf_token"' in html and 'value="/pivot"' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from another host
    assert page.headers["Cache-Control"] == "no-store"


def test_an_anonymous_page_visit_is_sent_to_sign_in_and_back(client) -> None:
    visit = client.get("/pivot?rows=desk&cols=book")
    assert visit.status_code == 302 and is_refused(visit)
    assert visit.headers["Location"] == "/signin?next=/pivot%3Frows%3Ddesk%26cols%3Dbook"
    page = client.get(visit.headers["Location"])
    assert 'value="/pivot?rows=desk&amp;cols=book"' in page.get_data(as_text=True)


def test_lockout_after_failed_attempts_says_so(client, app) -> None:
    user = "lock-me"
    services(app).accounts.create_user(user, password=PASSWORD, roles=("viewer",), actor=user)
    texts = [sign_in(client, user, "wrong password here").get_data(as_text=True) for _ in range(3)]
    assert ["Wrong user name or password" in t for t in texts] == [True, True, False]
    assert "locked after too many failed sign-ins" in texts[2]
    locked = sign_in(client, user, PASSWORD)  # the right password does not open a locked account
    text = locked.get_data(as_text=True)
    assert locked.status_code == 200
    assert "locked after too many failed sign-ins" in text and "Try again after" in text and "UTC" in text
    assert not can_open_pivot(client)


def test_sign_in_attempts_are_rate_limited_per_address(app) -> None:
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.99.0.1"
    token = form_csrf(client)
    answers = [client.post("/signin", data={"user": "nobody-x", "password": "x" * 12, "csrf_token": token})
               for _ in range(9)]
    assert [a.status_code for a in answers] == [200] * 8 + [429]
    assert "Too many sign-in attempts" in answers[8].get_data(as_text=True)
    assert 'id="signin-form"' in answers[8].get_data(as_text=True)
    # the page itself is not limited, and another address is not held up
    assert client.get("/signin").status_code == 200
    other = app.server.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.99.0.2"
    assert sign_in(other, user_of("viewer")).status_code == 302


@pytest.mark.parametrize("token", [None, "", "wrong", "x" * 5000])
def test_a_form_without_the_right_csrf_token_is_refused(client, token: str | None) -> None:
    form_csrf(client)  # the session has a token; the form does not send it
    data = {"user": user_of("viewer"), "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    answer = client.post("/signin", data=data)
    assert answer.status_code == 400 and "expired" in answer.get_data(as_text=True)
    assert not can_open_pivot(client)


def test_a_csrf_token_of_another_session_is_refused(app, client) -> None:
    other = app.server.test_client()
    theirs = form_csrf(other)
    form_csrf(client)
    answer = client.post("/signin", data={"user": user_of("viewer"), "password": PASSWORD, "csrf_token": theirs})
    assert answer.status_code == 400


@pytest.mark.parametrize("target", [
    "//evil.example", "https://evil.example/", "http:evil.example", "/\\evil.example", "\\\\evil.example",
    "javascript:alert(1)", "JavaScript:alert(1)", " //evil.example", "/\t/evil.example", "/%0d%0aSet-Cookie:x",
    "/signin?next=//evil.example", "evil.example", "",
])
def test_next_never_leaves_the_site(client, target: str) -> None:
    answer = sign_in(client, user_of("viewer"), next_=target)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location == "/" or (location.startswith("/") and not location.startswith("//")
                               and "\\" not in location and "evil.example" not in location.split("?")[0])
    assert safe_next(target) in ("/", target) and not safe_next(target).startswith("//")


@pytest.mark.parametrize(("value", "kept"), [
    ("/pivot", True), ("/pivot?rows=desk&cols=book", True), ("/market#alerts", True), ("/", True),
    ("//evil", False), ("https://evil", False), ("/\\evil", False), ("javascript:alert(1)", False),
    ("/l/abc", False), ("/signin", False), ("/" + "x" * 3000, False), (None, False), (5, False),
])
def test_safe_next(value: object, kept: bool) -> None:
    assert safe_next(value) == (value if kept else "/")


@pytest.mark.parametrize(("user", "password", "status"), [
    ("x" * 10_000, PASSWORD, 400),
    (user_of("viewer"), "p" * 100_000, 400),
    ("<script>alert(1)</script>", PASSWORD, 200),
    ("viewer-user\x00", PASSWORD, 200),
    ("' OR 1=1 --", PASSWORD, 200),
    ("ｖｉｅｗｅｒ-user", PASSWORD, 200),
    ("", "", 200),
])
def test_hostile_and_oversized_form_values_are_refused_plainly(client, user: str, password: str,
                                                               status: int) -> None:
    answer = sign_in(client, user, password)
    text = answer.get_data(as_text=True)
    assert answer.status_code == status
    assert "<script>alert" not in text and "Traceback" not in text
    assert not can_open_pivot(client)


def test_sign_out_ends_the_session_and_needs_the_csrf_token(client) -> None:
    sign_in(client, user_of("analyst"))
    assert can_open_pivot(client)
    refused = client.post("/signout")
    assert refused.status_code == 400 and can_open_pivot(client)
    out = client.post("/signout", data={"csrf_token": cookie_csrf(client)})
    assert out.status_code == 302 and out.headers["Location"] == "/signin"
    assert not can_open_pivot(client)
    layout = client.get("/_dash-layout")
    assert layout.status_code == 401 and is_refused(layout)


def test_a_one_time_sign_in_link_works_once(app, client) -> None:
    raw = services(app).accounts.issue_sign_in_link(user_of("trader"), actor=user_of("admin"), minutes=10)
    first = client.get(f"/signin/link/{raw}")
    assert first.status_code == 302 and first.headers["Location"] == "/"
    assert can_open_pivot(client)
    other = app.server.test_client()
    again = other.get(f"/signin/link/{raw}")
    assert again.status_code == 400 and "not valid" in again.get_data(as_text=True)
    for bad in ("x", "x" * 43, "%3Cscript%3E", "a" * 5000):
        answer = other.get(f"/signin/link/{bad}")
        assert answer.status_code == 400 and "<script>" not in answer.get_data(as_text=True)
    assert not can_open_pivot(other)


def test_a_reset_link_leads_to_the_password_page_and_nothing_else(app, client) -> None:
    user = "reset-me"
    accounts = services(app).accounts
    accounts.create_user(user, password=PASSWORD, roles=("analyst",), actor=user)
    raw = accounts.issue_reset(user, actor=user_of("admin"))
    answer = client.get(f"/signin/link/{raw}")
    assert answer.status_code == 302 and answer.headers["Location"] == "/account/password"
    # until the password changes, every page leads back there, and callbacks and the API are refused
    page = client.get("/pivot")
    assert page.status_code == 302 and page.headers["Location"] == "/account/password"
    api = client.get("/api/v1/pnl", headers={STOP_HEADER: "1"})
    assert api.status_code == 403
    form = client.get("/account/password")
    assert form.status_code == 200 and 'name="current"' not in form.get_data(as_text=True)
    token = form_csrf(client, "/account/password")
    new = "a brand new passphrase 77"
    mismatch = client.post("/account/password", data={"csrf_token": token, "new": new, "confirm": new + "x"})
    assert mismatch.status_code == 200 and "differ" in mismatch.get_data(as_text=True)
    short = client.post("/account/password", data={"csrf_token": token, "new": "short", "confirm": "short"})
    assert short.status_code == 200 and "password" in short.get_data(as_text=True).lower()
    assert not can_open_pivot(client)
    done = client.post("/account/password", data={"csrf_token": token, "new": new, "confirm": new, "next": "/pivot"})
    assert done.status_code == 302 and done.headers["Location"] == "/pivot"
    assert can_open_pivot(client)
    assert passed(client.get("/api/v1/pnl", headers={STOP_HEADER: "1"}))


def test_an_admin_set_password_must_be_changed_at_first_sign_in(app, client) -> None:
    user = "new-hire"
    services(app).accounts.create_user(user, password=PASSWORD, roles=("viewer",), actor=user_of("admin"))
    answer = sign_in(client, user, next_="/board")
    assert answer.status_code == 302 and answer.headers["Location"] == "/account/password?next=%2Fboard"
    assert client.get("/board").headers["Location"] == "/account/password"


def test_changing_the_password_ends_every_other_session(app) -> None:
    user = "two-browsers"
    services(app).accounts.create_user(user, password=PASSWORD, roles=("viewer",), actor=user)
    first, second = own_client(app), own_client(app)
    sign_in(first, user)
    sign_in(second, user)
    assert can_open_pivot(first) and can_open_pivot(second)
    token = form_csrf(first, "/account/password")
    wrong = first.post("/account/password", data={"csrf_token": token, "current": "not it at all",
                                                  "new": "another passphrase 55", "confirm": "another passphrase 55"})
    assert "not your current password" in wrong.get_data(as_text=True) and can_open_pivot(second)
    new = "another passphrase 55"
    done = first.post("/account/password", data={"csrf_token": token, "current": PASSWORD, "new": new, "confirm": new})
    assert done.status_code == 302
    assert can_open_pivot(first)  # the session that changed it carries on
    assert not can_open_pivot(second)  # the other one is signed out at its next request
    assert "Wrong user name or password" in sign_in(second, user, PASSWORD).get_data(as_text=True)
    assert sign_in(second, user, new).status_code == 302


def test_the_first_start_prints_a_link_that_signs_in_the_first_administrator(
        tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse, capsys) -> None:
    data_dir = tmp_path_factory.mktemp("first-admin") / "data"
    app = build_app(data_dir, warehouse_url, loaded_warehouse.database)
    printed = capsys.readouterr().out
    match = re.search(r"Sign in as the first administrator here: http://[^/]+(/signin/link/[A-Za-z0-9_-]+)", printed)
    assert match, printed
    client = app.server.test_client()
    opened = client.get(match.group(1))
    # the first administrator sets their password before anything else
    assert opened.status_code == 302 and opened.headers["Location"] == "/account/password"
    token = form_csrf(client, "/account/password")
    new = "the very first passphrase 1"
    done = client.post("/account/password", data={"csrf_token": token, "new": new, "confirm": new})
    assert done.status_code == 302
    assert passed(client.get("/admin/system", headers={STOP_HEADER: "1"}))
    assert passed(client.get("/metrics", headers={STOP_HEADER: "1"}))
    # the next start over the same records prints nothing: someone can sign in
    build_app(data_dir, warehouse_url, loaded_warehouse.database)
    assert "first administrator" not in capsys.readouterr().out
