"""Signed read-only links on SQLite and on the real PostgreSQL server.

The maker's account is a dict the test changes (active, scope), read through the
``maker_state`` callable the service is given; the clock is moved by hand.
"""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import text

from backend.access.links import (
    QUERY_MAX,
    SALT,
    USE_STAMP_EVERY,
    InvalidLinkError,
    LinkDeniedError,
    LinkNotFoundError,
    Links,
)
from backend.access.permissions import BUILT_IN_ROLES, LINKS_CREATE, MARKET_VIEW, OVERVIEW_VIEW, PIVOT_VIEW
from backend.access.principal import DataScope, Principal
from backend.meta import open_meta
from tests.backend.access.flag_link_support import AuditLog, Clock

SECRET = "test-secret-key-for-links"
MAX_DAYS = 30
DESKS_AB = DataScope(desks=frozenset({"Alpha", "Beta"}))
ANALYST = Principal(id="ana", display_name="Ana", roles=frozenset({"analyst"}), permissions=BUILT_IN_ROLES["analyst"],
                    scope=DESKS_AB)


@pytest.fixture
def meta_db_prefix() -> str:
    return "links"


class Accounts:
    """Makers' current state as the accounts service would report it."""

    def __init__(self) -> None:
        self.users: dict[str, tuple] = {"ana": (True, DESKS_AB)}
        self.calls = 0

    def __call__(self, user_id: str) -> tuple | None:
        self.calls += 1
        return self.users.get(user_id)


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def audit() -> AuditLog:
    return AuditLog()


@pytest.fixture
def links(meta_url: str, accounts: Accounts, clock: Clock, audit: AuditLog) -> Links:
    return Links(open_meta(meta_url), SECRET, maker_state=accounts, max_days=MAX_DAYS, audit=audit, clock=clock)


def _token(url: str) -> str:
    assert url.startswith("/l/")
    return url.removeprefix("/l/")


def _rows(service: Links) -> list[tuple[Any, ...]]:
    with service.meta.read() as conn:
        return [tuple(str(v) for v in r) for r in conn.execute(text("SELECT * FROM signed_links ORDER BY id")).all()]


def _denied(service: Links, token: Any) -> str:
    with pytest.raises(LinkDeniedError) as caught:
        service.resolve(token)
    assert str(caught.value)  # a sentence for the page that says why
    return caught.value.reason


# -- a link that works ----------------------------------------------------------------------
def test_a_link_opens_one_page_with_the_makers_scope_and_nothing_else(links: Links, audit: AuditLog,
                                                                     clock: Clock) -> None:
    url, info = links.create(ANALYST, "/pivot", "?rows=desk&m=pnl", days=7, label="  Wall screen  ")
    principal = links.resolve(_token(url))
    assert principal.id == f"link:{info.id}" and principal.via == "link"
    assert principal.permissions == frozenset({PIVOT_VIEW})
    assert principal.roles == frozenset()
    assert principal.scope == DESKS_AB
    assert principal.link_path == "/pivot" and principal.link_query == "rows=desk&m=pnl"
    assert not principal.can(LINKS_CREATE)
    assert info.href == "/pivot?rows=desk&m=pnl" and info.label == "Wall screen"
    assert info.status == "active" and info.maker == "ana"
    assert info.created_at == clock.now and info.expires_at == clock.now + timedelta(days=7)
    assert len(info.id) == 32 and int(info.id, 16) >= 0
    assert audit.actions() == [("ana", "link.create", info.id)]
    assert audit.entries[0]["detail"]["scope"] == DESKS_AB.as_dict()


@pytest.mark.parametrize(("path", "permission"), [("/", OVERVIEW_VIEW), ("/pivot", PIVOT_VIEW),
                                                  ("/board", MARKET_VIEW), ("/market", MARKET_VIEW)])
def test_each_page_gives_only_its_own_view_permission(links: Links, path: str, permission: str) -> None:
    url, _ = links.create(ANALYST, path, "", days=1)
    principal, info = links.open(_token(url))
    assert principal.permissions == frozenset({permission}) and principal.link_path == path
    assert info.href == path


def test_the_token_is_the_signed_link_id_and_each_link_is_new(links: Links) -> None:
    first, info = links.create(ANALYST, "/board", "", days=1)
    second, other = links.create(ANALYST, "/board", "", days=1)
    assert first != second and info.id != other.id
    assert URLSafeSerializer(SECRET, salt=SALT).loads(_token(first)) == info.id
    assert set(_token(first)) <= set(string.ascii_letters + string.digits + "-_.")


# -- links that do not open -----------------------------------------------------------------
def test_a_link_expires_at_its_time(links: Links, clock: Clock) -> None:
    url, info = links.create(ANALYST, "/pivot", "", days=2)
    clock.advance(days=2, seconds=-1)
    assert links.resolve(_token(url)).id == f"link:{info.id}"
    clock.advance(seconds=1)
    assert _denied(links, _token(url)) == "expired"
    assert links.get(info.id).status == "expired"


def test_changing_any_character_of_the_token_breaks_it(links: Links) -> None:
    url, _ = links.create(ANALYST, "/pivot", "", days=1)
    token = _token(url)
    alphabet = string.ascii_letters + string.digits + "-_"
    for i, char in enumerate(token):
        for other in (alphabet[(alphabet.find(char) + 1) % len(alphabet)], alphabet[(alphabet.find(char) + 7) % 64]):
            if other == char:
                continue
            tampered = token[:i] + other + token[i + 1:]
            assert _denied(links, tampered) in ("bad_signature",), (i, char, other)
    assert links.resolve(token)  # the real one still works


def test_a_token_signed_with_another_key_or_salt_or_for_another_id_does_not_open(links: Links) -> None:
    _, info = links.create(ANALYST, "/pivot", "", days=1)
    assert _denied(links, URLSafeSerializer("another-key", salt=SALT).dumps(info.id)) == "bad_signature"
    assert _denied(links, URLSafeSerializer(SECRET, salt="other-salt").dumps(info.id)) == "bad_signature"
    # Signed with the right key, but not a link id this store made.
    assert _denied(links, URLSafeSerializer(SECRET, salt=SALT).dumps("0" * 32)) == "unknown"
    assert _denied(links, URLSafeSerializer(SECRET, salt=SALT).dumps({"id": info.id})) == "bad_signature"
    assert _denied(links, URLSafeSerializer(SECRET, salt=SALT).dumps(info.id + "x")) == "bad_signature"


@pytest.mark.parametrize("token", ["", "x", ".", "a.b", "../../etc/passwd", "<script>", "\u0000", "é" * 50,
                                   "A" * 10_000, None, 12, b"bytes", ["list"]])
def test_garbage_tokens_are_refused_as_bad_signatures(links: Links, token: Any) -> None:
    assert _denied(links, token) == "bad_signature"


def test_a_revoked_link_stops_and_revoking_again_changes_nothing(links: Links, audit: AuditLog, clock: Clock) -> None:
    url, info = links.create(ANALYST, "/pivot", "", days=1)
    clock.advance(minutes=1)
    revoked = links.revoke(info.id, actor="admin")
    assert revoked.status == "revoked" and revoked.revoked_at == clock.now
    assert _denied(links, _token(url)) == "revoked"
    clock.advance(minutes=1)
    assert links.revoke(info.id, actor="ana").revoked_at == revoked.revoked_at
    assert audit.actions() == [("ana", "link.create", info.id), ("admin", "link.revoke", info.id)]
    with pytest.raises(LinkNotFoundError):
        links.revoke("f" * 32, actor="admin")
    with pytest.raises(InvalidLinkError, match="^id: "):
        links.revoke("' OR 1=1 --", actor="admin")


def test_a_disabled_or_removed_maker_stops_their_links(links: Links, accounts: Accounts) -> None:
    url, info = links.create(ANALYST, "/pivot", "", days=1)
    accounts.users["ana"] = (False, DESKS_AB)
    assert _denied(links, _token(url)) == "maker_disabled"
    assert links.get(info.id).status == "dead"
    del accounts.users["ana"]
    assert _denied(links, _token(url)) == "maker_unknown"
    accounts.users["ana"] = (True, DESKS_AB)  # enabled again: the link works again
    assert links.resolve(_token(url)).scope == DESKS_AB


@pytest.mark.parametrize("now", [DataScope(desks=frozenset({"Alpha"})), DataScope(desks=frozenset()),
                                 DataScope(desks=frozenset({"Alpha", "Beta"}), books=frozenset({"B1"}))])
def test_a_maker_who_lost_scope_stops_their_links(links: Links, accounts: Accounts, now: DataScope) -> None:
    url, _ = links.create(ANALYST, "/pivot", "", days=1)
    accounts.users["ana"] = (True, now)
    assert _denied(links, _token(url)) == "out_of_scope"
    assert links.list("ana")[0].status == "dead"


def test_an_unrestricted_makers_link_stops_when_the_maker_becomes_restricted(links: Links, accounts: Accounts) -> None:
    boss = replace(ANALYST, id="boss", scope=DataScope())
    accounts.users["boss"] = (True, DataScope())
    url, _ = links.create(boss, "/board", "", days=1)
    assert links.resolve(_token(url)).scope.unrestricted
    accounts.users["boss"] = (True, DataScope(portfolio_managers=frozenset({"PM1"})))
    assert _denied(links, _token(url)) == "out_of_scope"


def test_a_maker_who_gained_scope_does_not_widen_their_links(links: Links, accounts: Accounts) -> None:
    narrow = replace(ANALYST, scope=DataScope(desks=frozenset({"Alpha"})))
    url, _ = links.create(narrow, "/pivot", "", days=1)
    accounts.users["ana"] = (True, DataScope())  # now sees everything
    assert links.resolve(_token(url)).scope == DataScope(desks=frozenset({"Alpha"}))
    accounts.users["ana"] = (True, DataScope(desks=frozenset({"Alpha", "Gamma"}), books=None))
    assert links.resolve(_token(url)).scope.restrictions() == {"desk": frozenset({"Alpha"})}


# -- links that cannot be made --------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/v1/pivot", "/api/v1/flags", "/admin", "/admin/users", "/system", "/l/abc",
                                  "/pivot/", "/PIVOT", "//evil.example", "https://evil.example/pivot", "pivot", "",
                                  "/pivot?x=1", "/pivot\u0000", "/../pivot", None, 5, ["/pivot"]])
def test_only_the_app_pages_can_be_linked(links: Links, path: Any) -> None:
    before = _rows(links)
    with pytest.raises(InvalidLinkError, match="^path: "):
        links.create(ANALYST, path, "", days=1)
    assert _rows(links) == before


@pytest.mark.parametrize("days", [0, -1, MAX_DAYS + 1, 10**9, 1.5, True, "3", None])
def test_days_outside_one_to_the_maximum_are_refused(links: Links, days: Any) -> None:
    with pytest.raises(InvalidLinkError, match=f"^days: .*from 1 to {MAX_DAYS}"):
        links.create(ANALYST, "/pivot", "", days=days)
    assert _rows(links) == []


def test_the_maximum_days_is_allowed(links: Links) -> None:
    _, info = links.create(ANALYST, "/pivot", "", days=MAX_DAYS)
    assert (info.expires_at - info.created_at).days == MAX_DAYS


@pytest.mark.parametrize(("query", "field"), [
    ("a" * (QUERY_MAX + 1), "query"), ("rows=desk\n&x=1", "query"), ("x=\u0000", "query"), ("x=1#frag", "query"),
    ("x=\u2028", "query"), (["rows=desk"], "query"), ({"rows": "desk"}, "query"),
])
def test_bad_queries_are_refused(links: Links, query: Any, field: str) -> None:
    with pytest.raises(InvalidLinkError, match=f"^{field}: "):
        links.create(ANALYST, "/pivot", query, days=1)
    assert _rows(links) == []


@pytest.mark.parametrize("label", ["x" * 121, "a\nb", "tab\there", 5, None])
def test_bad_labels_are_refused(links: Links, label: Any) -> None:
    with pytest.raises(InvalidLinkError, match="^label: "):
        links.create(ANALYST, "/pivot", "", days=1, label=label)


def test_the_longest_query_and_hostile_text_are_kept_as_given(links: Links) -> None:
    long_query = "q=" + "z" * (QUERY_MAX - 2)
    url, info = links.create(ANALYST, "/pivot", "?" + long_query, days=1)
    assert info.query == long_query
    hostile = "f.desk=%27%3B%20DROP%20TABLE%20signed_links%3B%20--&name=<script>alert(1)</script>"
    url, info = links.create(ANALYST, "/pivot", hostile, days=1, label="'; DROP TABLE signed_links; --")
    assert links.get(info.id).query == hostile and links.get(info.id).label == "'; DROP TABLE signed_links; --"
    assert links.resolve(_token(url)).link_path == "/pivot"


def test_a_link_cannot_make_a_link_and_a_maker_shares_only_pages_they_see(links: Links) -> None:
    url, _ = links.create(ANALYST, "/pivot", "", days=1)
    as_link = links.resolve(_token(url))
    with pytest.raises(InvalidLinkError, match="cannot make another link"):
        links.create(as_link, "/pivot", "", days=1)
    no_market = replace(ANALYST, permissions=ANALYST.permissions - {MARKET_VIEW})
    with pytest.raises(InvalidLinkError, match="^path: you may not see /board"):
        links.create(no_market, "/board", "", days=1)
    assert len(_rows(links)) == 1


def test_a_new_maker_gets_a_users_row_and_the_links_point_at_it(links: Links, accounts: Accounts) -> None:
    newcomer = replace(ANALYST, id="new.user@desk")
    accounts.users["new.user@desk"] = (True, DESKS_AB)
    links.create(newcomer, "/", "", days=1)
    links.create(newcomer, "/board", "", days=1)
    with links.meta.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM users WHERE id = 'new.user@desk'")).scalar() == 1


# -- use, listing -----------------------------------------------------------------------------
def test_last_use_is_stamped_at_most_every_few_minutes(links: Links, clock: Clock) -> None:
    url, info = links.create(ANALYST, "/pivot", "", days=1)
    assert info.last_used_at is None
    first = clock.now
    links.resolve(_token(url))
    assert links.get(info.id).last_used_at == first
    clock.advance(seconds=USE_STAMP_EVERY.total_seconds() - 1)
    assert links.open(_token(url))[1].last_used_at == first
    assert links.get(info.id).last_used_at == first
    clock.advance(seconds=1)
    links.resolve(_token(url))
    assert links.get(info.id).last_used_at == clock.now


def test_the_list_shows_each_links_status_newest_first(links: Links, accounts: Accounts, clock: Clock) -> None:
    accounts.users["bob"] = (True, DataScope())
    bob = replace(ANALYST, id="bob", scope=DataScope())
    _, expiring = links.create(ANALYST, "/pivot", "", days=1)
    clock.advance(minutes=1)
    _, revoked = links.create(ANALYST, "/board", "", days=5)
    clock.advance(minutes=1)
    _, active = links.create(ANALYST, "/market", "", days=5)
    clock.advance(minutes=1)
    _, bobs = links.create(bob, "/", "", days=5)
    links.revoke(revoked.id, actor="ana")
    clock.advance(days=1)
    assert [(i.id, i.status) for i in links.list("ana")] == [
        (active.id, "active"), (revoked.id, "revoked"), (expiring.id, "expired")]
    assert [i.id for i in links.list()] == [bobs.id, active.id, revoked.id, expiring.id]
    accounts.users["bob"] = (False, DataScope())
    calls = accounts.calls
    statuses = {i.id: i.status for i in links.list()}
    assert statuses[bobs.id] == "dead" and statuses[active.id] == "active"
    assert accounts.calls - calls == 2  # each maker asked once per list, not once per link
    assert links.list("nobody") == []


def test_the_service_refuses_to_start_without_a_key_or_with_a_bad_maximum(meta_url: str, accounts: Accounts) -> None:
    meta = open_meta(meta_url)
    with pytest.raises(ValueError, match="secret key"):
        Links(meta, "", maker_state=accounts, max_days=1)
    for bad in (0, -3, True, 1.5):
        with pytest.raises(ValueError, match="max_days"):
            Links(meta, SECRET, maker_state=accounts, max_days=bad)  # type: ignore[arg-type]


def test_a_maker_who_may_no_longer_open_the_page_stops_their_links_to_it(links: Links, accounts: Accounts) -> None:
    pivot_url, pivot = links.create(ANALYST, "/pivot", "rows=desk", days=1)
    board_url, board = links.create(ANALYST, "/board", "", days=1)
    # the accounts service also reports what the maker may do: a role without the pivot now
    accounts.users["ana"] = (True, DESKS_AB, frozenset({MARKET_VIEW}))
    assert _denied(links, _token(pivot_url)) == "lost_permission"
    assert links.get(pivot.id).status == "dead"
    assert links.resolve(_token(board_url)).link_path == "/board"
    assert links.get(board.id).status == "active"
    accounts.users["ana"] = (True, DESKS_AB, BUILT_IN_ROLES["analyst"])  # given back: the link opens again
    assert links.resolve(_token(pivot_url)).permissions == {PIVOT_VIEW}
