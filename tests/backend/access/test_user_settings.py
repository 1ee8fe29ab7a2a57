"""A user's own settings on SQLite and PostgreSQL: defaults, every field checked against hostile
values (nothing written when one is wrong), changes at the version read, saved views and
watchlists that must exist (and belong to the user), and the local user with sign-in off."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from backend.access.accounts import Accounts, InvalidAccountError
from backend.access.audit import Audit
from backend.access.current import LOCAL_USER
from backend.access.passwords import make_hasher
from backend.access.roles import Roles
from backend.access.user_settings import (
    DEFAULT_TIME_ZONE,
    InvalidSettingError,
    StaleSettingsError,
    UserPrefs,
    UserSettingsService,
)
from backend.config import AccessSettings
from backend.market.watchlists import UserData
from backend.meta.models import UserSettings
from backend.meta.store import MetaStore
from backend.meta.views import SavedViews

PASSWORD = "correct staple 2024"



@pytest.fixture
def service(meta: MetaStore) -> UserSettingsService:
    audit = Audit(meta)
    accounts = Accounts(meta, AccessSettings(), Roles(meta, audit), audit, hasher=make_hasher(time_cost=1,
                                                                                              memory_cost=8))
    accounts.create_user("ana", password=PASSWORD, roles=["analyst"], actor="ana")
    accounts.create_user("bo", password=PASSWORD, roles=["analyst"], actor="bo")
    return UserSettingsService(meta)


def stored(meta: MetaStore, user: str) -> dict | None:
    with meta.read() as conn:
        row = conn.execute(select(UserSettings.__table__).where(UserSettings.__table__.c.user_id == user)).first()
    return None if row is None else dict(row.settings)


def test_defaults_before_anything_is_saved(service: UserSettingsService) -> None:
    prefs = service.get("ana")
    assert prefs == UserPrefs()
    assert (prefs.theme, prefs.thousands, prefs.decimals, prefs.time_zone) == ("auto", ",", 0, DEFAULT_TIME_ZONE)
    assert prefs.pivot_view is None and prefs.watchlist is None and prefs.version == 0


def test_save_and_read_back_every_field(service: UserSettingsService, meta: MetaStore) -> None:
    view = SavedViews(meta).create("ana", "Rates by book", "/pivot", {"rows": "book"})
    wl = UserData(meta).save_watchlist("Banks", ["VCB", "TCB"])
    prefs = service.update("ana", 0, theme="dark", thousands=".", decimals=3, time_zone="Europe/London",
                           pivot_view=view.id, watchlist=wl.id)
    assert (prefs.theme, prefs.thousands, prefs.decimals, prefs.time_zone) == ("dark", ".", 3, "Europe/London")
    assert (prefs.pivot_view, prefs.watchlist, prefs.version) == (view.id, wl.id, 1)
    assert service.get("ana") == prefs
    assert service.get("bo") == UserPrefs()  # one user's settings are their own
    # a later change keeps the fields it does not name
    again = service.update("ana", 1, decimals=0, watchlist=None)
    assert (again.theme, again.decimals, again.watchlist, again.version) == ("dark", 0, None, 2)


def test_number_format(service: UserSettingsService) -> None:
    value = -1234567.891
    # independent: Python's own grouping, then the marks swapped by hand
    assert UserPrefs(thousands=",", decimals=2).format_number(value) == "-1,234,567.89"
    assert UserPrefs(thousands=".", decimals=2).format_number(value) == "-1.234.567,89"
    assert UserPrefs(thousands=" ", decimals=0).format_number(value) == "-1 234 568"
    assert UserPrefs(thousands="'", decimals=1).format_number(value) == "-1'234'567.9"
    assert UserPrefs(thousands="", decimals=6).format_number(value) == "-1234567.891000"
    assert UserPrefs().format_number(None) == "" and UserPrefs().format_number(float("nan")) == ""


def test_english_text_is_shown_in_the_users_marks_and_left_alone_in_the_default_ones() -> None:
    assert UserPrefs(thousands=".").localise("$1,234.50M (+12.3%)") == "$1.234,50M (+12,3%)"
    assert UserPrefs(thousands=" ").localise("-1,234,567.89") == "-1 234 567.89"
    assert UserPrefs(thousands="").localise("1,234.5 bn") == "1234.5 bn"
    text = "1,234.5"
    assert UserPrefs().localise(text) is text  # the default marks cost nothing
    # independent of Python's grouping: digits cut into threes from the right by hand
    def by_hand(value: float) -> str:
        whole, cents = f"{abs(value):.2f}".split(".")
        groups = [whole[max(0, i - 3):i] for i in range(len(whole), 0, -3)][::-1]
        return ("-" if value < 0 else "") + ".".join(groups) + "," + cents

    for value in (0.5, 12.25, 1234.5, 9876543.21, -1000.0, 100000.0):
        assert UserPrefs(thousands=".").localise(f"{value:,.2f}") == by_hand(value)


HOSTILE = [
    ("theme", "purple"), ("theme", "x" * 10_000), ("theme", None), ("theme", 1), ("theme", ["dark"]),
    ("thousands", "_"), ("thousands", ",,"), ("thousands", 0), ("thousands", "x" * 10_000),
    ("decimals", -1), ("decimals", 7), ("decimals", 2.5), ("decimals", "2"), ("decimals", True),
    ("decimals", 10**100), ("decimals", None),
    ("time_zone", "Mars/Olympus"), ("time_zone", "../../etc/passwd"), ("time_zone", "/etc/localtime"),
    ("time_zone", "Asia/../Europe/London"), ("time_zone", "x" * 10_000), ("time_zone", ""), ("time_zone", None),
    ("time_zone", 7), ("time_zone", "Asia/Ho_Chi_Minh\n"), ("time_zone", "Asia\\Saigon"),
    ("pivot_view", 0), ("pivot_view", -5), ("pivot_view", "1"), ("pivot_view", True), ("pivot_view", 2**40),
    ("pivot_view", 999_999), ("watchlist", "no-such-list"), ("watchlist", "../x"), ("watchlist", "x" * 10_000),
    ("watchlist", ""), ("watchlist", 3),
]


@pytest.mark.parametrize(("field", "value"), HOSTILE, ids=lambda v: repr(v)[:30])
def test_hostile_values_are_refused_naming_the_field(service: UserSettingsService, meta: MetaStore,
                                                     field: str, value: object) -> None:
    service.update("ana", 0, theme="light")
    with pytest.raises(InvalidSettingError) as caught:
        beside = {"theme": "dark"} if field == "decimals" else {"decimals": 4}
        service.update("ana", 1, **beside, **{field: value})
    message = str(caught.value)
    assert message.startswith(f"{field}:"), message
    assert len(message) < 200  # a 10 000-character value is not echoed back
    # nothing written, not even the valid change beside it
    assert stored(meta, "ana") == {"theme": "light"}
    assert service.get("ana").version == 1


def test_unknown_settings_and_bad_versions_are_refused(service: UserSettingsService) -> None:
    with pytest.raises(InvalidSettingError, match="^colour: not a setting"):
        service.update("ana", 0, colour="red")
    for version in (-1, "0", None, 1.0, True, 2**40):
        with pytest.raises(InvalidSettingError, match="^version:"):
            service.update("ana", version, theme="dark")  # type: ignore[arg-type]
    with pytest.raises(InvalidAccountError):
        service.update("../../etc", 0, theme="dark")
    with pytest.raises(InvalidAccountError):
        service.get("x" * 10_000)


def test_a_user_without_an_account_cannot_save(service: UserSettingsService, meta: MetaStore) -> None:
    with pytest.raises(InvalidSettingError, match="^user:"):
        service.update("ghost", 0, theme="dark")
    assert stored(meta, "ghost") is None


def test_stale_version_is_refused_and_the_first_change_kept(service: UserSettingsService, meta: MetaStore) -> None:
    first = service.update("ana", 0, theme="dark")
    # a second tab still at version 0 (its first save) and another at the old version 1
    with pytest.raises(StaleSettingsError, match="^version:"):
        service.update("ana", 0, theme="light")
    service.update("ana", first.version, decimals=2)
    with pytest.raises(StaleSettingsError, match="^version:"):
        service.update("ana", first.version, theme="light")
    now = service.get("ana")
    assert (now.theme, now.decimals, now.version) == ("dark", 2, 2)


def test_default_view_must_be_the_users_own_pivot_view(service: UserSettingsService, meta: MetaStore) -> None:
    views = SavedViews(meta)
    theirs = views.create("bo", "Bo's view", "/pivot", {"rows": "desk"})
    board = views.create("ana", "My board", "/board", {"wl": "vn30"})
    with pytest.raises(InvalidSettingError, match="^pivot_view: not one of your saved pivot views"):
        service.update("ana", 0, pivot_view=theirs.id)
    with pytest.raises(InvalidSettingError, match="^pivot_view:"):
        service.update("ana", 0, pivot_view=board.id)
    assert stored(meta, "ana") is None
    assert service.update("bo", 0, pivot_view=theirs.id).pivot_view == theirs.id


def test_values_that_stopped_being_valid_read_as_defaults(service: UserSettingsService, meta: MetaStore) -> None:
    views, lists = SavedViews(meta), UserData(meta)
    view = views.create("ana", "Mine", "/pivot", {"rows": "book"})
    wl = lists.save_watchlist("Banks", ["VCB"])
    service.update("ana", 0, pivot_view=view.id, watchlist=wl.id, theme="dark")
    views.delete("ana", view.id)
    lists.delete_watchlist(wl.id)
    prefs = service.get("ana")
    assert (prefs.pivot_view, prefs.watchlist, prefs.theme) == (None, None, "dark")
    # a record damaged outside the app reads as defaults too, field by field
    table = UserSettings.__table__
    with meta.write() as conn:
        conn.execute(update(table).where(table.c.user_id == "ana").values(
            settings={"theme": "x" * 10_000, "decimals": "9", "time_zone": "../../etc/passwd", "thousands": "."}))
    prefs = service.get("ana")
    assert (prefs.theme, prefs.decimals, prefs.time_zone, prefs.thousands) == ("auto", 0, DEFAULT_TIME_ZONE, ".")
    # and can be saved over at the version read
    assert service.update("ana", prefs.version, theme="light").theme == "light"


def test_the_local_user_saves_with_sign_in_off(meta: MetaStore) -> None:
    service = UserSettingsService(meta)
    prefs = service.update(LOCAL_USER, 0, theme="dark", time_zone="UTC")
    assert (prefs.theme, prefs.time_zone, prefs.version) == ("dark", "UTC", 1)
    assert service.get(LOCAL_USER) == prefs


def test_pages_get_the_defaults_of_the_user_they_serve(service: UserSettingsService, meta: MetaStore) -> None:
    from dataclasses import replace

    from flask import Flask

    from backend.access.current import LOCAL_PRINCIPAL, set_current_principal
    from backend.access.user_settings import current_prefs, default_pivot_state, default_theme, default_watchlist

    view = SavedViews(meta).create("ana", "Mine", "/pivot", {"rows": "book", "m": ["pnl", "notional"]})
    wl = UserData(meta).save_watchlist("Banks", ["VCB"])
    service.update("ana", 0, pivot_view=view.id, theme="dark", watchlist=wl.id)
    app = Flask(__name__)
    for via, expected in (("session", True), ("link", False), ("token", False)):
        with app.test_request_context():
            set_current_principal(replace(LOCAL_PRINCIPAL, id="ana", via=via))
            if expected:
                assert default_theme(meta) == "dark"
                assert default_pivot_state(meta) == {"rows": "book", "m": ["pnl", "notional"]}
                assert default_watchlist(meta) == wl.id
            else:  # a signed link shows what it carries, the same to everyone
                assert current_prefs(meta) == UserPrefs()
                assert (default_theme(meta), default_pivot_state(meta), default_watchlist(meta)) == (None, {}, None)
    with app.test_request_context():  # bo chose nothing; "auto" is the browser's own choice
        set_current_principal(replace(LOCAL_PRINCIPAL, id="bo", via="session"))
        service.update("bo", 0, theme="auto")
        assert (default_theme(meta), default_pivot_state(meta), default_watchlist(meta)) == (None, {}, None)
