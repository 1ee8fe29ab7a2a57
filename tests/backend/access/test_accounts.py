"""Accounts on SQLite and on the real PostgreSQL server: creating users, signing in, lockout,
session versions, admin changes and their audit entries.

After every refused request the stored rows are compared with a snapshot taken before it:
a refusal must leave nothing written.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from backend.access.accounts import (
    AccountExistsError,
    AccountNotFoundError,
    Accounts,
    InvalidAccountError,
    LastAdminError,
    LinkError,
    LockedOutError,
    SignInError,
    WrongPasswordError,
)
from backend.access.audit import Audit
from backend.access.passwords import PasswordPolicyError, make_hasher
from backend.access.permissions import ACCOUNT_SELF, ADMIN_USERS, BUILT_IN_ROLES, PIVOT_EXPORT
from backend.access.principal import EVERYTHING, DataScope
from backend.access.roles import RoleError, Roles
from backend.config import AccessSettings
from backend.meta.store import MetaStore
from backend.meta.views import SavedViews
from tests.backend.access.flag_link_support import Clock

PASSWORD = "correct staple 2024"
OTHER = "a different phrase 99"



class CountingHasher(PasswordHasher):
    """A cheap argon2id hasher that counts verifications (to see that refusals cost the same)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


def cheap_hasher(time_cost: int = 1) -> CountingHasher:
    base = make_hasher(time_cost=time_cost, memory_cost=8, parallelism=1)
    return CountingHasher(time_cost=base.time_cost, memory_cost=base.memory_cost, parallelism=1,
                          type=base.type)




def make_accounts(meta: MetaStore, clock: Clock, *, hasher: PasswordHasher | None = None,
                  attempts: int = 3) -> Accounts:
    audit = Audit(meta, clock=clock)
    return Accounts(meta, AccessSettings(lockout_attempts=attempts, lockout_minutes=10), Roles(meta, audit, clock=clock),
                    audit, clock=clock, hasher=hasher or cheap_hasher())


@pytest.fixture
def accounts(meta: MetaStore, clock: Clock) -> Accounts:
    return make_accounts(meta, clock)


def snapshot(meta: MetaStore) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    with meta.read() as conn:
        for table, key in [("users", "id"), ("user_credentials", "user_id"), ("sign_in_links", "token_hash"),
                           ("audit_log", "id"), ("custom_roles", "name")]:
            out += [(table, *map(str, row)) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))]
    return out


def actions(accounts: Accounts) -> list[str]:
    return [entry.action for entry in reversed(accounts.audit.list(limit=1000))]


def signed_in(accounts: Accounts, user: str, password: str = PASSWORD) -> None:
    accounts.authenticate(user, password)


# -- creating users ---------------------------------------------------------------------
def test_a_created_user_signs_in_with_their_name_in_any_case(accounts: Accounts) -> None:
    made = accounts.create_user("  Ana.Nguyen@desk ", display_name="Ana Nguyễn", password=PASSWORD,
                                roles=["analyst"], actor="ana.nguyen@desk")
    assert made.id == "ana.nguyen@desk"
    assert (made.display_name, made.roles, made.scope, made.disabled) == ("Ana Nguyễn", ("analyst",), EVERYTHING, False)
    assert made.has_password and not made.must_change_password  # she chose it herself
    assert not hasattr(made, "password_hash")
    principal = accounts.authenticate("ANA.NGUYEN@DESK", PASSWORD)
    assert principal.id == "ana.nguyen@desk"
    assert principal.display_name == "Ana Nguyễn"
    assert principal.permissions == BUILT_IN_ROLES["analyst"]
    assert principal.via == "session"
    assert accounts.get("ana.nguyen@desk").last_signin_at is not None


def test_an_admin_chosen_password_must_be_changed_before_anything_else(accounts: Accounts) -> None:
    accounts.create_user("bo", password=PASSWORD, roles=["trader"], actor="admin")
    assert accounts.get("bo").must_change_password
    assert accounts.authenticate("bo", PASSWORD).permissions == {ACCOUNT_SELF}
    version = accounts.change_password("bo", None, OTHER)  # the admin-set password was just proven
    assert accounts.principal("bo", version).permissions == BUILT_IN_ROLES["trader"]  # type: ignore[union-attr]
    assert not accounts.get("bo").must_change_password


def test_a_role_without_account_self_still_lets_its_holder_set_a_password(accounts: Accounts,
                                                                          meta: MetaStore) -> None:
    Roles(meta).create("wallscreen", [PIVOT_EXPORT], "", "admin")
    accounts.create_user("wall", password=PASSWORD, roles=["wallscreen"], actor="admin")
    assert accounts.authenticate("wall", PASSWORD).permissions == {ACCOUNT_SELF}
    version = accounts.change_password("wall", None, OTHER)
    assert accounts.principal("wall", version).permissions == {PIVOT_EXPORT}  # type: ignore[union-attr]


def test_a_user_without_password_cannot_sign_in_by_password(accounts: Accounts) -> None:
    made = accounts.create_user("carol", actor="admin")
    assert (made.has_password, made.must_change_password, made.roles) == (False, True, ("viewer",))
    with pytest.raises(SignInError, match="^wrong user name or password$"):
        accounts.authenticate("carol", "")
    assert accounts.principal("carol").permissions == {ACCOUNT_SELF}


def test_creating_the_local_user_keeps_the_records_it_owns(accounts: Accounts, meta: MetaStore) -> None:
    views = SavedViews(meta)
    saved = views.create("local", "Daily", "/pivot", {"dims": "desk"})
    accounts.create_user("local", display_name="Desk PC", password=PASSWORD, roles=["admin"], actor="local")
    assert views.get("local", saved.id) == saved
    assert accounts.get("local").display_name == "Desk PC"


def test_a_duplicate_user_is_refused_and_nothing_changes(accounts: Accounts, meta: MetaStore) -> None:
    accounts.create_user("dan", password=PASSWORD, actor="admin")
    before = snapshot(meta)
    with pytest.raises(AccountExistsError, match="'dan' already exists"):
        accounts.create_user(" DAN ", password=OTHER, roles=["admin"], actor="admin")
    assert snapshot(meta) == before


HOSTILE_USER_IDS = [
    "", " ", "a" * 65, "x" * 100_000, "ana;drop table users", "' or 1=1 --", "ana\x00", "ana\nbob", "ánh",
    "日本", "-ana", ".ana", "ana bob", "ana/../bob", None, 42, b"ana", ["ana"], "\ud800",
]


# Hostile values are tried in a loop on one store: a fresh PostgreSQL database per value would
# make the suite slow, and the snapshot after the loop shows that none of them wrote anything.
def test_hostile_user_names_are_refused_everywhere_and_nothing_is_written(accounts: Accounts, meta: MetaStore) -> None:
    accounts.create_user("eve", password=PASSWORD, actor="admin")
    before = snapshot(meta)
    for user_id in HOSTILE_USER_IDS:
        with pytest.raises(InvalidAccountError, match="user name"):
            accounts.create_user(user_id, password=PASSWORD, actor="admin")
        for call in (accounts.get, accounts.session_version,
                     lambda u: accounts.set_disabled(u, True, actor="admin"),
                     lambda u: accounts.set_password(u, PASSWORD, actor="admin"),
                     lambda u: accounts.issue_reset(u, actor="admin"),
                     lambda u: accounts.change_password(u, PASSWORD, OTHER)):
            with pytest.raises(InvalidAccountError):
                call(user_id)
        with pytest.raises(SignInError, match="^wrong user name or password$"):
            accounts.authenticate(user_id, PASSWORD)
        assert accounts.principal(user_id) is None, user_id
    assert snapshot(meta) == before


WEAK_PASSWORDS: list[tuple[Any, str]] = [
    ("short", "at least 12"), ("x" * 257 + "yz", "at most 256"), ("ana-the-analyst-99", "user name"),
    ("password1234", "most common"), ("PASSWORD1234", "most common"), ("tab\tinside password", "control"),
    ("\ud800" * 12, "control"), (123456789012345, "expected text"), (b"bytes password!!", "expected text"),
]


def test_a_weak_or_malformed_password_is_refused_and_nothing_is_written(accounts: Accounts, meta: MetaStore) -> None:
    accounts.create_user("eve", password=PASSWORD, actor="admin")
    before = snapshot(meta)
    for password, message in WEAK_PASSWORDS:
        with pytest.raises(PasswordPolicyError, match=message):
            accounts.create_user("ana", password=password, actor="admin")
        if message == "user name":
            password = password.replace("ana", "eve")
        with pytest.raises(PasswordPolicyError, match=message):
            accounts.set_password("eve", password, actor="admin")
        with pytest.raises(PasswordPolicyError, match=message):
            accounts.change_password("eve", PASSWORD, password)
    assert snapshot(meta) == before


BAD_ROLES: list[Any] = [["nosuchrole"], ["viewer", "ghost"], "viewer", [None], [1], ["Admin"], ["x" * 100], None, 5,
                        ["viewer"] * 21 + ["a" + str(i) for i in range(21)]]


def test_unknown_or_malformed_roles_are_refused_and_nothing_is_written(accounts: Accounts, meta: MetaStore) -> None:
    accounts.create_user("eve", password=PASSWORD, actor="admin")
    before = snapshot(meta)
    for roles in BAD_ROLES:
        with pytest.raises((InvalidAccountError, RoleError)):
            accounts.create_user("ana", password=PASSWORD, roles=roles, actor="admin")
        with pytest.raises((InvalidAccountError, RoleError)):
            accounts.set_roles("eve", roles, actor="admin")
    assert snapshot(meta) == before


BAD_SCOPES: list[Any] = [
    DataScope(desks=frozenset(f"d{i}" for i in range(501))), DataScope(books=frozenset({"x" * 65})),
    DataScope(books=frozenset({""})), DataScope(desks=frozenset({"a\x00b"})), DataScope(desks=frozenset({"a\nb"})),
    DataScope(desks=frozenset({1})),  # type: ignore[arg-type]
    DataScope(desks=["a"]),  # type: ignore[arg-type]
    {"desks": ["a"]}, None,
]


def test_an_oversized_or_malformed_scope_is_refused_and_nothing_is_written(accounts: Accounts, meta: MetaStore) -> None:
    accounts.create_user("eve", password=PASSWORD, actor="admin")
    before = snapshot(meta)
    for scope in BAD_SCOPES:
        with pytest.raises(InvalidAccountError, match="scope"):
            accounts.create_user("ana", password=PASSWORD, scope=scope, actor="admin")
        with pytest.raises(InvalidAccountError, match="scope"):
            accounts.set_scope("eve", scope, actor="admin")
    assert snapshot(meta) == before


def test_a_scope_round_trips_and_becomes_the_principals_scope(accounts: Accounts) -> None:
    scope = DataScope(portfolio_managers=frozenset({"PM01", "PM02"}), desks=frozenset(), books=None)
    accounts.create_user("fay", password=PASSWORD, scope=scope, actor="fay")
    assert accounts.get("fay").scope == scope
    assert accounts.authenticate("fay", PASSWORD).scope == scope
    wide = DataScope(desks=frozenset(f"Desk {i}" for i in range(500)))
    accounts.set_scope("fay", wide, actor="admin")
    assert accounts.principal("fay").scope == wide  # type: ignore[union-attr]


BAD_NAMES_AND_ACTORS: list[tuple[str, Any]] = [
    ("display_name", 5), ("display_name", "x" * 121), ("display_name", "two\nlines"), ("display_name", "nul\x00"),
    ("actor", None), ("actor", 5), ("actor", " "), ("actor", ""),
]


def test_malformed_display_names_and_actors_are_refused(accounts: Accounts, meta: MetaStore) -> None:
    accounts.create_user("eve", password=PASSWORD, actor="admin")
    before = snapshot(meta)
    for field, value in BAD_NAMES_AND_ACTORS:
        kwargs: dict[str, Any] = {"display_name": "Gus", "actor": "admin", field: value}
        with pytest.raises(InvalidAccountError):
            accounts.create_user("gus", password=PASSWORD, **kwargs)
        with pytest.raises(InvalidAccountError):
            if field == "actor":
                accounts.set_roles("eve", ["admin"], actor=value)
            else:
                accounts.set_display_name("eve", value, actor="admin")
    assert snapshot(meta) == before


# -- signing in ---------------------------------------------------------------------------
def test_every_refusal_says_the_same_and_costs_one_hash(meta: MetaStore, clock: Clock) -> None:
    hasher = cheap_hasher()
    accounts = make_accounts(meta, clock, hasher=hasher, attempts=10)
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    accounts.create_user("off", password=PASSWORD, actor="off")
    accounts.set_disabled("off", True, actor="admin")
    accounts.create_user("nopass", actor="admin")
    for user, password in [("ghost", PASSWORD), ("ana", OTHER), ("off", PASSWORD), ("nopass", PASSWORD),
                           ("bad id!", PASSWORD), ("ana", None), ("ana", "x" * 10_000)]:
        hasher.verified = 0
        with pytest.raises(SignInError) as refused:
            accounts.authenticate(user, password)  # type: ignore[arg-type]
        assert str(refused.value) == "wrong user name or password"
        assert not isinstance(refused.value, LockedOutError)
        assert hasher.verified <= 1
        if user in ("ghost", "nopass", "bad id!", "off") or password == OTHER:
            assert hasher.verified == 1, (user, "timing must not tell")


def test_failures_lock_the_account_even_against_the_right_password(accounts: Accounts, clock: Clock) -> None:
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    for _ in range(2):
        with pytest.raises(SignInError):
            accounts.authenticate("ana", OTHER)
    with pytest.raises(LockedOutError) as locked:
        accounts.authenticate("ana", OTHER, address="10.0.0.9")
    assert locked.value.until == clock.now + timedelta(minutes=10)
    assert accounts.get("ana").locked_until == locked.value.until
    with pytest.raises(LockedOutError):
        accounts.authenticate("ana", PASSWORD)
    clock.advance(minutes=9, seconds=59)
    with pytest.raises(LockedOutError):
        accounts.authenticate("ana", PASSWORD)
    clock.advance(seconds=1)
    assert accounts.authenticate("ana", PASSWORD).id == "ana"
    assert accounts.get("ana").locked_until is None
    entry = accounts.audit.list(action="signin.locked")[0]
    assert (entry.target, entry.address) == ("ana", "10.0.0.9")


def test_a_success_resets_the_count_of_failures(accounts: Accounts) -> None:
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    for _ in range(3):
        for _ in range(2):
            with pytest.raises(SignInError):
                accounts.authenticate("ana", OTHER)
        accounts.authenticate("ana", PASSWORD)
    assert accounts.get("ana").locked_until is None


def failed_signins(meta: MetaStore, user: str) -> int:
    with meta.read() as conn:
        return conn.execute(text("SELECT failed_signins FROM user_credentials WHERE user_id = :u"), {"u": user}
                            ).scalar_one()


def run_together(count: int, work: Any) -> list[Any]:
    """Run ``work()`` in ``count`` threads released at once; their results or exceptions."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def one(i: int) -> None:
        start.wait()
        try:
            results[i] = work()
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_failures_are_all_counted(meta: MetaStore, clock: Clock) -> None:
    accounts = make_accounts(meta, clock, attempts=100)
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    results = run_together(12, lambda: accounts.authenticate("ana", OTHER))
    assert all(type(r) is SignInError for r in results)
    assert failed_signins(meta, "ana") == 12


def test_concurrent_failures_past_the_limit_lock_the_account(meta: MetaStore, clock: Clock) -> None:
    accounts = make_accounts(meta, clock, attempts=4)
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    results = run_together(10, lambda: accounts.authenticate("ana", OTHER))
    assert all(isinstance(r, SignInError) for r in results)
    assert sum(isinstance(r, LockedOutError) for r in results) >= 1
    assert accounts.get("ana").locked_until == clock.now + timedelta(minutes=10)
    with pytest.raises(LockedOutError):
        accounts.authenticate("ana", PASSWORD)
    assert len(accounts.audit.list(action="signin.locked")) == 1


def test_a_hash_made_with_older_parameters_is_replaced_at_sign_in(meta: MetaStore, clock: Clock) -> None:
    make_accounts(meta, clock, hasher=cheap_hasher(time_cost=1)).create_user("ana", password=PASSWORD, actor="ana")
    stronger = make_accounts(meta, clock, hasher=cheap_hasher(time_cost=2))
    with meta.read() as conn:
        before = conn.execute(text("SELECT password_hash FROM user_credentials")).scalar_one()
    stronger.authenticate("ana", PASSWORD)
    with meta.read() as conn:
        after = conn.execute(text("SELECT password_hash FROM user_credentials")).scalar_one()
    assert "t=1," in before and "t=2," in after and after.startswith("$argon2id$")
    assert stronger.authenticate("ana", PASSWORD).id == "ana"


# -- sessions -----------------------------------------------------------------------------
def test_account_changes_end_sessions_and_others_do_not(accounts: Accounts, meta: MetaStore) -> None:
    Roles(meta).create("exporter", [PIVOT_EXPORT], "", "admin")
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    ending = [
        lambda: accounts.change_password("ana", PASSWORD, OTHER),
        lambda: accounts.set_password("ana", PASSWORD, actor="ana"),
        lambda: accounts.set_roles("ana", ["analyst", "exporter"], actor="admin"),
        lambda: accounts.set_scope("ana", DataScope(desks=frozenset({"Rates"})), actor="admin"),
        lambda: accounts.set_disabled("ana", True, actor="admin"),
        lambda: accounts.issue_reset("ana", actor="admin"),
    ]
    for change in ending:
        accounts.set_disabled("ana", False, actor="admin")
        version = accounts.session_version("ana")
        assert accounts.principal("ana", version) is not None
        change()
        assert accounts.principal("ana", version) is None
    keeping = [lambda: accounts.set_display_name("ana", "Ana", actor="admin"),
               lambda: accounts.unlock("ana", actor="admin"),
               lambda: accounts.set_disabled("ana", False, actor="admin")]
    for change in keeping:
        version = accounts.session_version("ana")
        change()
        assert accounts.session_version("ana") == version


def test_the_principal_follows_roles_and_disabling(accounts: Accounts, meta: MetaStore) -> None:
    roles = Roles(meta)
    roles.create("exporter", [PIVOT_EXPORT], "exports", "admin")
    accounts.create_user("ana", password=PASSWORD, roles=["viewer", "exporter"], actor="ana")
    assert accounts.principal("ana").permissions == BUILT_IN_ROLES["viewer"] | {PIVOT_EXPORT}  # type: ignore[union-attr]
    roles.update("exporter", permissions=[], actor="admin")
    assert accounts.principal("ana").permissions == BUILT_IN_ROLES["viewer"]  # type: ignore[union-attr]
    version = accounts.session_version("ana")
    for odd in [str(version), float(version), True, [version]]:
        assert accounts.principal("ana", odd) is None  # type: ignore[arg-type]
    assert accounts.principal("ana", version) is not None
    accounts.set_disabled("ana", True, actor="admin")
    assert accounts.principal("ana") is None
    assert accounts.principal("ghost") is None
    with pytest.raises(AccountNotFoundError):
        accounts.session_version("ghost")


# -- passwords ----------------------------------------------------------------------------
def test_changing_a_password_checks_the_old_one_and_the_policy(accounts: Accounts, meta: MetaStore) -> None:
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    before = snapshot(meta)
    with pytest.raises(WrongPasswordError):
        accounts.change_password("ana", OTHER, "yet another phrase 7")
    with pytest.raises(WrongPasswordError):
        accounts.change_password("ana", None, "yet another phrase 7")  # she need not change it
    with pytest.raises(PasswordPolicyError, match="different from the current"):
        accounts.change_password("ana", PASSWORD, PASSWORD)
    with pytest.raises(PasswordPolicyError, match="at least"):
        accounts.change_password("ana", PASSWORD, "short")
    assert snapshot(meta) == before
    version = accounts.change_password("ana", PASSWORD, OTHER)
    assert version == accounts.session_version("ana")
    with pytest.raises(SignInError):
        accounts.authenticate("ana", PASSWORD)
    assert accounts.authenticate("ana", OTHER).id == "ana"


def test_an_admin_set_password_works_and_must_be_changed(accounts: Accounts) -> None:
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    accounts.set_password("ana", OTHER, actor="admin")
    assert accounts.get("ana").must_change_password
    assert accounts.authenticate("ana", OTHER).permissions == {ACCOUNT_SELF}
    with pytest.raises(AccountNotFoundError):
        accounts.set_password("ghost", OTHER, actor="admin")


# -- audit --------------------------------------------------------------------------------
def test_every_admin_action_leaves_an_audit_entry(accounts: Accounts) -> None:
    accounts.create_user("ana", password=PASSWORD, actor="root")
    accounts.set_password("ana", OTHER, actor="root")
    accounts.set_roles("ana", ["trader"], actor="root")
    accounts.set_scope("ana", DataScope(books=frozenset({"B1"})), actor="root")
    accounts.set_disabled("ana", True, actor="root")
    accounts.set_disabled("ana", False, actor="root")
    accounts.unlock("ana", actor="root")
    accounts.set_display_name("ana", "Ana", actor="root")
    accounts.issue_reset("ana", actor="root")
    accounts.issue_sign_in_link("ana", actor="root", minutes=5)
    assert actions(accounts) == ["user.create", "password.set", "user.roles", "user.scope", "user.disable",
                                 "user.enable", "user.unlock", "user.display_name", "link.reset", "link.sign_in"]
    entries = accounts.audit.list(actor="root", limit=1000)
    assert all(e.target == "ana" for e in entries)
    roles_entry = accounts.audit.list(action="user.roles")[0]
    assert roles_entry.detail == {"before": {"roles": ["viewer"]}, "after": {"roles": ["trader"]}}


def test_no_password_reaches_the_records_store(accounts: Accounts, meta: MetaStore, meta_url: str) -> None:
    accounts.create_user("ana", password=PASSWORD, actor="root")
    accounts.set_password("ana", OTHER, actor="root")
    accounts.change_password("ana", OTHER, "third phrase here 3")
    with pytest.raises(SignInError):
        accounts.authenticate("ana", "wrong phrase entirely")
    dump = "\n".join(map(str, snapshot(meta)))
    for secret in (PASSWORD, OTHER, "third phrase here 3", "wrong phrase entirely"):
        assert secret not in dump
    if meta_url.startswith("sqlite"):
        raw = b"".join(p.read_bytes() for p in _sqlite_files(meta_url))
        assert PASSWORD.encode() not in raw and OTHER.encode() not in raw


def _sqlite_files(meta_url: str) -> list[Any]:
    from pathlib import Path

    base = Path(meta_url.removeprefix("sqlite:///"))
    return [p for p in (base, base.with_name(base.name + "-wal")) if p.exists()]


def test_listing_users_shows_every_account_without_secrets(accounts: Accounts) -> None:
    accounts.create_user("bo", password=PASSWORD, actor="root")
    accounts.create_user("ana", actor="root", roles=["admin", "viewer"])
    listed = accounts.list_users()
    assert [a.id for a in listed] == ["ana", "bo"]
    assert listed[0].roles == ("admin", "viewer")
    assert all(PASSWORD not in repr(a) and "argon2" not in repr(a) for a in listed)
    assert accounts.has_credentials()


# -- one-time links -----------------------------------------------------------------------
def test_a_reset_link_signs_in_once_and_requires_a_new_password(accounts: Accounts, meta: MetaStore,
                                                                 meta_url: str) -> None:
    accounts.create_user("ana", password=PASSWORD, roles=["analyst"], actor="ana")
    for _ in range(3):
        with pytest.raises(SignInError):
            accounts.authenticate("ana", OTHER)
    old_version = accounts.session_version("ana")
    raw = accounts.issue_reset("ana", actor="root")
    assert accounts.principal("ana", old_version) is None
    principal, purpose = accounts.redeem_link(raw)
    assert (principal.id, purpose, principal.permissions) == ("ana", "reset", {ACCOUNT_SELF})
    assert accounts.get("ana").locked_until is None  # the link lifts the lockout
    with pytest.raises(LinkError):
        accounts.redeem_link(raw)
    version = accounts.change_password("ana", None, OTHER)
    assert accounts.principal("ana", version).permissions == BUILT_IN_ROLES["analyst"]  # type: ignore[union-attr]
    dump = "\n".join(map(str, snapshot(meta)))
    assert raw not in dump
    if meta_url.startswith("sqlite"):
        assert raw.encode() not in b"".join(p.read_bytes() for p in _sqlite_files(meta_url))


def test_expired_replaced_and_malformed_links_are_refused(accounts: Accounts, clock: Clock) -> None:
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    expiring = accounts.issue_sign_in_link("ana", actor="root", minutes=5)
    clock.advance(minutes=5)
    with pytest.raises(LinkError):
        accounts.redeem_link(expiring)
    first = accounts.issue_sign_in_link("ana", actor="root", minutes=5)
    second = accounts.issue_sign_in_link("ana", actor="root", minutes=5)
    with pytest.raises(LinkError):
        accounts.redeem_link(first)
    assert accounts.redeem_link(second)[1] == "sign_in"
    for hostile in [None, 42, "", "x" * 43, "é" * 43, "a" * 10_000, "../" * 20, "' or 1=1 --", second[:-1]]:
        with pytest.raises(LinkError, match="not valid"):
            accounts.redeem_link(hostile)  # type: ignore[arg-type]
    for minutes in [0, -1, 10**9, "60", None, True]:
        with pytest.raises(InvalidAccountError, match="minutes"):
            accounts.issue_sign_in_link("ana", actor="root", minutes=minutes)  # type: ignore[arg-type]


def test_a_link_of_a_disabled_user_does_not_sign_in(accounts: Accounts) -> None:
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    raw = accounts.issue_sign_in_link("ana", actor="root", minutes=60)
    accounts.set_disabled("ana", True, actor="root")
    with pytest.raises(LinkError):
        accounts.redeem_link(raw)
    with pytest.raises(InvalidAccountError, match="disabled"):
        accounts.issue_reset("ana", actor="root")


def test_concurrent_redemptions_of_one_link_let_exactly_one_in(accounts: Accounts) -> None:
    accounts.create_user("ana", password=PASSWORD, actor="ana")
    raw = accounts.issue_sign_in_link("ana", actor="root", minutes=60)
    results = run_together(8, lambda: accounts.redeem_link(raw))
    winners = [r for r in results if isinstance(r, tuple)]
    assert len(winners) == 1 and winners[0][0].id == "ana"
    assert all(isinstance(r, LinkError) for r in results if r is not winners[0])
    assert len(accounts.audit.list(action="link.redeem")) == 1


def test_the_last_user_who_can_manage_users_is_neither_disabled_nor_demoted(accounts: Accounts,
                                                                            meta: MetaStore) -> None:
    Roles(meta).create("useradmin", [ADMIN_USERS], "", "root")
    accounts.create_user("root", password=PASSWORD, roles=["admin"], actor="root")
    accounts.create_user("ana", password=PASSWORD, roles=["viewer"], actor="root")
    before = snapshot(meta)
    with pytest.raises(LastAdminError, match="last enabled user"):
        accounts.set_disabled("root", True, actor="root")
    with pytest.raises(LastAdminError):
        accounts.set_roles("root", ["trader"], actor="root")
    assert snapshot(meta) == before
    accounts.set_disabled("ana", True, actor="root")  # others may come and go
    accounts.set_roles("ana", ["useradmin"], actor="root")
    with pytest.raises(LastAdminError):  # ana is disabled: she cannot take over
        accounts.set_roles("root", ["viewer"], actor="root")
    accounts.set_disabled("ana", False, actor="root")
    accounts.set_roles("root", ["viewer"], actor="ana")  # a custom role that manages users is enough
    with pytest.raises(LastAdminError):
        accounts.set_disabled("ana", True, actor="ana")
