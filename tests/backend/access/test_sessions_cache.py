"""Resolved principals are kept for at most two seconds per process: a change made in this process
(disable, password, roles, token revoked) ends sessions and tokens at the next request; one made by
another process (another worker, a tool) within the TTL. A burst of requests reads the account once."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event

from backend.access.accounts import Accounts
from backend.access.audit import Audit
from backend.access.links import Links
from backend.access.principal import Principal
from backend.access.roles import Roles
from backend.access.sessions import PRINCIPAL_TTL_SECONDS, PrincipalCache
from backend.access.tokens import Tokens
from backend.meta.store import MetaStore, create_meta_engine
from tests.backend.access.guard_support import (
    PASSWORD,
    STOP_HEADER,
    build_app,
    is_refused,
    own_client,
    passed,
    services,
    sign_in,
)

NEW_PASSWORD = "another long enough passphrase 43"
STOP = {STOP_HEADER: "1"}
_names = (f"cached-{i}" for i in itertools.count())


class Ticks:
    """The cache's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    app = build_app(tmp_path_factory.mktemp("sessions-cache") / "data", warehouse_url, loaded_warehouse.database)
    app.server.test_client().get("/health")
    return app


@pytest.fixture
def ticks(app) -> Iterator[Ticks]:
    cache = services(app).sessions.principals
    original, cache.clock = cache.clock, Ticks()
    cache.clear()
    try:
        yield cache.clock
    finally:
        cache.clock = original


@pytest.fixture(scope="module")
def elsewhere(app) -> Iterator[tuple[Accounts, Tokens]]:
    """The accounts and tokens services of another process: the same records store through an
    engine of their own, whose writes this app's cache does not see."""
    access = services(app)
    url = access.accounts.meta.engine.url.render_as_string(hide_password=False)
    other = MetaStore(create_meta_engine(url))
    audit = Audit(other)
    accounts = Accounts(other, access.settings.access, Roles(other, audit), audit)
    yield accounts, Tokens(other, accounts=accounts, audit=audit)
    other.dispose()


def new_user(app) -> str:
    name = next(_names)
    services(app).accounts.create_user(name, password=PASSWORD, roles=("analyst",), actor=name)
    return name


def signed_in(app, user: str) -> FlaskClient:
    client = own_client(app)
    sign_in(client, user)
    return client


def page(client: FlaskClient):
    return client.get("/pivot", headers=STOP)


def test_the_ttl_is_at_most_two_seconds() -> None:
    assert 0 < PRINCIPAL_TTL_SECONDS <= 2.0


@pytest.mark.parametrize("change", ["disable", "password", "roles"])
def test_a_change_made_by_another_process_ends_the_session_within_the_ttl(app, ticks, elsewhere, change) -> None:
    accounts, _tokens = elsewhere
    user = new_user(app)
    client = signed_in(app, user)
    assert passed(page(client))
    if change == "disable":
        accounts.set_disabled(user, True, actor="an-admin")
    elif change == "password":
        accounts.change_password(user, PASSWORD, NEW_PASSWORD)
    else:
        accounts.set_roles(user, ["viewer"], actor="an-admin")
    # This process has not heard of the change: the kept principal answers until the TTL ends ...
    ticks.now += PRINCIPAL_TTL_SECONDS - 0.1
    assert passed(page(client))
    ticks.now += 0.2
    # ... and not one request later (each change moves the account's session version on).
    answer = page(client)
    assert not passed(answer) and is_refused(answer) and answer.status_code == 302
    assert "/signin" in answer.headers["Location"]


@pytest.mark.parametrize("change", ["disable", "password", "roles"])
def test_a_change_made_in_this_process_ends_the_session_at_the_next_request(app, ticks, change) -> None:
    accounts = services(app).accounts
    user = new_user(app)
    client = signed_in(app, user)
    assert passed(client.get("/api/v1/trades.csv", headers=STOP))
    if change == "disable":
        accounts.set_disabled(user, True, actor="an-admin")
    elif change == "password":
        accounts.change_password(user, PASSWORD, NEW_PASSWORD)
    else:
        accounts.set_roles(user, ["viewer"], actor="an-admin")
    answer = client.get("/api/v1/trades.csv", headers=STOP)  # the clock has not moved
    assert answer.status_code == 401 and is_refused(answer)


def test_a_token_revoked_elsewhere_stops_within_the_ttl_and_here_at_once(app, ticks, elsewhere) -> None:
    _accounts, other_tokens = elsewhere
    tokens = services(app).tokens
    user = new_user(app)
    client = own_client(app)
    for revoke_here in (False, True):
        raw, info = tokens.create(user, f"script {revoke_here}")
        auth = {"Authorization": f"Bearer {raw}", **STOP}
        assert passed(client.get("/api/v1/pnl", headers=auth))
        assert passed(client.get("/api/v1/pnl", headers=auth))  # the first use stamps the token; now it is kept
        (tokens if revoke_here else other_tokens).revoke(user, info.id, actor=user)
        if not revoke_here:
            ticks.now += PRINCIPAL_TTL_SECONDS - 0.1
            assert passed(client.get("/api/v1/pnl", headers=auth))
            ticks.now += 0.2
        refused = client.get("/api/v1/pnl", headers=auth)
        assert refused.status_code == 401 and is_refused(refused), revoke_here


def test_a_signed_link_revoked_elsewhere_stops_within_the_ttl_and_here_at_once(app, ticks, elsewhere) -> None:
    access = services(app)
    other_links = Links(elsewhere[0].meta, access.settings.secret_key, maker_state=lambda _user: None,
                        max_days=access.settings.access.link_max_days)
    maker = access.accounts.principal(new_user(app))
    assert maker is not None
    engine = access.accounts.meta.engine
    me = threading.get_ident()
    reads: list[str] = []

    def note(_conn, _cursor, statement: str, *_args) -> None:
        if threading.get_ident() == me and "FROM signed_links" in statement:
            reads.append(statement)

    for revoke_here in (False, True):
        url, info = access.links.create(maker, "/pivot", "rows=desk", days=1)
        screen = own_client(app)
        assert screen.get(url).status_code in (302, 303)
        assert passed(page(screen))  # the first use stamps the link; now it is kept
        event.listen(engine, "before_cursor_execute", note)
        try:
            reads.clear()
            for _ in range(5):  # a wall screen polling: the records store is read once per TTL
                assert passed(page(screen))
            assert reads == []
        finally:
            event.remove(engine, "before_cursor_execute", note)
        (access.links if revoke_here else other_links).revoke(info.id, actor=maker.id)
        if not revoke_here:
            ticks.now += PRINCIPAL_TTL_SECONDS - 0.1
            assert passed(page(screen))
            ticks.now += 0.2
        assert not passed(page(screen)), revoke_here


def test_a_burst_of_requests_reads_the_account_once_per_ttl(app, ticks) -> None:
    user = new_user(app)
    client = signed_in(app, user)
    engine = services(app).accounts.meta.engine
    me = threading.get_ident()
    reads: list[str] = []

    def note(_conn, _cursor, statement: str, *_args) -> None:
        if threading.get_ident() == me and "FROM user_credentials" in statement:
            reads.append(statement)

    services(app).sessions.principals.clear()
    event.listen(engine, "before_cursor_execute", note)
    try:
        for _ in range(5):
            assert passed(page(client))
        assert len(reads) == 1
        ticks.now += PRINCIPAL_TTL_SECONDS
        assert passed(page(client))
        assert len(reads) == 2
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_read_overtaken_by_a_write_is_not_kept() -> None:
    cache = PrincipalCache(ttl=2.0, clock=Ticks())
    principal = Principal(id="someone")
    loads = []

    def load_during_a_write() -> Principal:
        loads.append(1)
        cache.clear()  # a write commits while the account is being read
        return principal

    assert cache.get(("session", "someone", 1), load_during_a_write) is principal
    assert cache.get(("session", "someone", 1), load_during_a_write) is principal
    assert len(loads) == 2  # the first answer was not kept: it may predate the write


def test_refusals_are_not_kept_and_entries_are_bounded() -> None:
    ticks = Ticks()
    cache = PrincipalCache(ttl=2.0, clock=ticks, max_entries=3)
    answers: list[Principal | None] = [None, Principal(id="back")]
    assert cache.get("k", lambda: answers.pop(0)) is None
    assert cache.get("k", lambda: answers.pop(0)).id == "back"  # asked again after a refusal
    for i in range(10):
        cache.get(i, lambda i=i: Principal(id=str(i)))
    assert len(cache._entries) <= 3
