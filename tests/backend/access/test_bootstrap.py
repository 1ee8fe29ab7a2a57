"""The first admin on SQLite and PostgreSQL: created once, signed in by a printed one-time
link, which a later start replaces only while the admin has no password and no live link."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.access.accounts import Accounts, LinkError
from backend.access.audit import Audit
from backend.access.bootstrap import ensure_first_admin
from backend.access.passwords import make_hasher
from backend.access.permissions import ACCOUNT_SELF, ALL
from backend.access.roles import Roles
from backend.config import AccessSettings
from backend.meta.store import MetaStore
from backend.meta.views import SavedViews
from tests.backend.access.flag_link_support import Clock

BASE = "http://127.0.0.1:8050"
PASSWORD = "a strong phrase of my own 1"



def make_accounts(meta: MetaStore, clock: Clock, auth: str = "on") -> Accounts:
    audit = Audit(meta, clock=clock)
    return Accounts(meta, AccessSettings(auth=auth), Roles(meta, audit, clock=clock), audit, clock=clock,
                    hasher=make_hasher(time_cost=1, memory_cost=8))


@pytest.fixture
def accounts(meta: MetaStore, clock: Clock) -> Accounts:
    return make_accounts(meta, clock)


def token_of(url: str | None) -> str:
    assert url is not None and url.startswith(BASE + "/signin/link/")
    return url.removeprefix(BASE + "/signin/link/")


def test_the_first_start_prints_a_link_that_signs_the_admin_in_once(accounts: Accounts) -> None:
    url = ensure_first_admin(accounts, base_url=BASE + "/")
    principal, purpose = accounts.redeem_link(token_of(url))
    assert (principal.id, purpose) == ("admin", "sign_in")
    assert principal.permissions == {ACCOUNT_SELF}  # a password comes first
    with pytest.raises(LinkError):
        accounts.redeem_link(token_of(url))
    version = accounts.change_password("admin", None, PASSWORD)
    assert accounts.principal("admin", version).permissions == ALL  # type: ignore[union-attr]
    assert accounts.authenticate("admin", PASSWORD).permissions == ALL
    assert ensure_first_admin(accounts, base_url=BASE) is None
    assert [(e.actor, e.action) for e in reversed(accounts.audit.list())][:2] == [
        ("system", "user.create"), ("system", "link.sign_in")]


def test_a_later_start_prints_a_new_link_only_when_the_old_one_is_gone(accounts: Accounts, clock: Clock) -> None:
    first = token_of(ensure_first_admin(accounts, base_url=BASE))
    assert ensure_first_admin(accounts, base_url=BASE) is None  # the printed link still works
    clock.now += timedelta(hours=24)
    second = token_of(ensure_first_admin(accounts, base_url=BASE))
    assert second != first
    with pytest.raises(LinkError):
        accounts.redeem_link(first)
    accounts.redeem_link(second)
    # Used but no password set yet (the browser was closed): the next start prints another.
    third = token_of(ensure_first_admin(accounts, base_url=BASE))
    assert accounts.redeem_link(third)[0].id == "admin"
    assert [a.id for a in accounts.list_users()] == ["admin"]


def test_a_store_from_before_sign_in_gets_an_admin_and_keeps_its_records(accounts: Accounts,
                                                                          meta: MetaStore) -> None:
    views = SavedViews(meta)
    saved = views.create("local", "Daily", "/pivot", {"dims": "desk"})
    assert ensure_first_admin(accounts, base_url=BASE) is not None
    assert views.get("local", saved.id) == saved


def test_nothing_is_created_when_it_is_not_needed(meta: MetaStore, clock: Clock) -> None:
    off = make_accounts(meta, clock, auth="off")
    assert ensure_first_admin(off, base_url=BASE) is None
    assert not off.has_credentials()
    accounts = make_accounts(meta, clock)
    accounts.create_user("ops", password=PASSWORD, roles=["admin"], actor="ops")
    assert ensure_first_admin(accounts, base_url=BASE) is None  # another admin runs this server
    with meta.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM sign_in_links")).scalar_one() == 0


def test_a_disabled_admin_without_password_gets_no_link(accounts: Accounts, clock: Clock) -> None:
    ensure_first_admin(accounts, base_url=BASE)
    accounts.create_user("ops", password=PASSWORD, roles=["admin"], actor="ops")
    accounts.set_disabled("admin", True, actor="ops")
    clock.now += timedelta(days=2)
    assert ensure_first_admin(accounts, base_url=BASE) is None


@pytest.mark.parametrize("base_url", [None, "", "127.0.0.1:8050", "javascript:alert(1)", 8050])
def test_a_malformed_base_url_is_refused_before_anything_is_written(accounts: Accounts, base_url: Any) -> None:
    with pytest.raises(ValueError, match="base_url"):
        ensure_first_admin(accounts, base_url=base_url)
    assert not accounts.has_credentials()


def test_processes_starting_together_print_one_working_link(meta: MetaStore, clock: Clock) -> None:
    starts = [make_accounts(meta, clock) for _ in range(4)]
    barrier = threading.Barrier(len(starts))
    urls: list[Any] = [None] * len(starts)

    def start(i: int) -> None:
        barrier.wait()
        try:
            urls[i] = ensure_first_admin(starts[i], base_url=BASE)
        except Exception as exc:  # noqa: BLE001 - a start that fails fails the test below
            urls[i] = exc

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(starts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not [u for u in urls if isinstance(u, Exception)]
    printed = [u for u in urls if u is not None]
    assert len(printed) == 1
    assert starts[0].redeem_link(token_of(printed[0]))[0].id == "admin"
