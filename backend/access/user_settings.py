"""A user's own defaults: theme, number format, time zone, default pivot view and watchlist.

Kept as one JSON record per user (``user_settings``) changed at the version read, so two
tabs saving at once cannot silently undo each other. Every value is checked here before
anything is written; a stored value that stopped being valid (a saved view deleted, a
watchlist removed, a time zone dropped from the database) reads back as the default
instead of breaking the pages that apply it. These are defaults only: what a URL carries
always wins, so a shared link shows the same view to everyone.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from flask import g, has_request_context
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from backend.access.accounts import clean_user_id
from backend.access.current import LOCAL_USER, current_principal
from backend.market.watchlists import WATCHLIST_ID, UserData
from backend.meta.models import SavedView, User, UserSettings, utc_now
from backend.meta.store import MetaStore
from backend.stores import current_stores

log = logging.getLogger(__name__)

THEMES: Final = ("auto", "light", "dark")
# "" is "no thousands separator".
SEPARATORS: Final = (",", ".", " ", "'", "")
DECIMALS_MAX: Final = 6
DEFAULT_TIME_ZONE: Final = "Asia/Ho_Chi_Minh"
PIVOT_PAGE: Final = "/pivot"
TIME_ZONE_MAX: Final = 64
# Area/Location[/Sub] names of the IANA database: no dots, so no path can climb out of it.
_TZ_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")
_TABLE = UserSettings.__table__
_VIEWS = SavedView.__table__
_USERS = User.__table__


class SettingsError(ValueError):
    """A settings change that cannot be made; the message starts with the field and can be shown."""


class InvalidSettingError(SettingsError):
    pass


class StaleSettingsError(SettingsError):
    """The settings changed (another tab, another session) since the caller read them."""


@dataclass(frozen=True)
class UserPrefs:
    theme: str = "auto"
    thousands: str = ","
    decimals: int = 0
    time_zone: str = DEFAULT_TIME_ZONE
    pivot_view: int | None = None
    watchlist: str | None = None
    # 0: nothing saved yet (the first save is made at version 0)
    version: int = 0
    updated_at: datetime | None = None

    @property
    def chosen_theme(self) -> str | None:
        """"light" or "dark" when the user chose one; None: the browser's own choice."""
        return self.theme if self.theme in ("light", "dark") else None

    @property
    def decimal_mark(self) -> str:
        # A "." grouping needs the other mark for decimals, or 1.234 would read both ways.
        return "," if self.thousands == "." else "."

    def format_number(self, value: float | None) -> str:
        """``value`` with the user's grouping and decimals ("" for a missing value)."""
        if value is None or math.isnan(value):
            return ""
        return self.localise(f"{value:,.{self.decimals}f}")

    def localise(self, text: str) -> str:
        """Text formatted the English way ("1,234.5", "$1.23M") in the user's marks."""
        if self.thousands == "," and self.decimal_mark == ".":
            return text
        return text.replace(",", "\0").replace(".", self.decimal_mark).replace("\0", self.thousands)


SETTING_NAMES: Final = ("theme", "thousands", "decimals", "time_zone", "pivot_view", "watchlist")
DEFAULTS: Final = UserPrefs()


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA names this machine's time-zone database knows."""
    return frozenset(zoneinfo.available_timezones())


def clean_time_zone(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= TIME_ZONE_MAX or not _TZ_NAME.match(value):
        raise InvalidSettingError(f"time_zone: {_shown(value)} is not a time zone name such as Asia/Ho_Chi_Minh")
    known = time_zones()
    if known and value not in known:
        raise InvalidSettingError(f"time_zone: {_shown(value)} is not a known time zone")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidSettingError(f"time_zone: {_shown(value)} is not a known time zone") from None
    return value


def clean_theme(value: object) -> str:
    if not isinstance(value, str) or value not in THEMES:
        raise InvalidSettingError(f"theme: expected one of {', '.join(THEMES)}, got {_shown(value)}")
    return value


def clean_thousands(value: object) -> str:
    value = "" if value is None else value
    if not isinstance(value, str) or value not in SEPARATORS:
        raise InvalidSettingError(f"thousands: expected one of , . space ' or none, got {_shown(value)}")
    return value


def clean_decimals(value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number input may send 2.0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= DECIMALS_MAX:
        raise InvalidSettingError(f"decimals: a whole number from 0 to {DECIMALS_MAX}, got {_shown(value)}")
    return value


def _view_id(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise InvalidSettingError(f"pivot_view: expected one of your saved pivot views, got {_shown(value)}")
    return value


def _watchlist_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not WATCHLIST_ID.match(value):
        raise InvalidSettingError(f"watchlist: expected a watchlist, got {_shown(value)}")
    return value


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class UserSettingsService:
    """Read and change one user's settings in the records store."""

    def __init__(self, meta: MetaStore, *, watchlists: UserData | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.meta = meta
        self.watchlists = watchlists or UserData(meta)
        self.clock = clock

    def get(self, user_id: str) -> UserPrefs:
        user_id = clean_user_id(user_id)
        with self.meta.read() as conn:
            row = conn.execute(select(_TABLE).where(_TABLE.c.user_id == user_id)).first()
            if row is None:
                return DEFAULTS
            return self._read(conn, user_id, row)

    def update(self, user_id: str, version: int, **changes: Any) -> UserPrefs:
        """Apply ``changes`` (setting name → value; None clears the default view or watchlist)
        to the settings read at ``version``; refused whole when any value is wrong or stale."""
        user_id = clean_user_id(user_id)
        if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**31:
            raise InvalidSettingError("version: expected the version number read with the settings")
        unknown = sorted(set(changes) - set(SETTING_NAMES))
        if unknown:
            raise InvalidSettingError(f"{unknown[0][:40]}: not a setting")
        cleaned: dict[str, Any] = {}
        for name, value in changes.items():
            cleaned[name] = {"theme": clean_theme, "thousands": clean_thousands, "decimals": clean_decimals,
                             "time_zone": clean_time_zone, "pivot_view": _view_id,
                             "watchlist": _watchlist_id}[name](value)
        if cleaned.get("watchlist") is not None and self.watchlists.watchlist(cleaned["watchlist"]) is None:
            raise InvalidSettingError(f"watchlist: there is no watchlist {_shown(cleaned['watchlist'])}")
        now = self.clock()
        with self.meta.write() as conn:
            if cleaned.get("pivot_view") is not None and not self._own_pivot_view(conn, user_id, cleaned["pivot_view"]):
                raise InvalidSettingError("pivot_view: not one of your saved pivot views")
            row = conn.execute(select(_TABLE).where(_TABLE.c.user_id == user_id)).first()
            stored = dict(row.settings or {}) if row is not None else {}
            merged = {**{k: v for k, v in stored.items() if k in SETTING_NAMES}, **cleaned}
            if row is None:
                if version != 0:
                    raise StaleSettingsError("version: these settings were changed elsewhere; the form shows them "
                                             "as they are now")
                self._ensure_user(conn, user_id)
                try:
                    conn.execute(insert(_TABLE).values(user_id=user_id, settings=merged, version=1, updated_at=now))
                except IntegrityError:
                    raise StaleSettingsError("version: these settings were saved elsewhere at the same time") from None
            else:
                changed = conn.execute(update(_TABLE).where(_TABLE.c.user_id == user_id, _TABLE.c.version == version)
                                       .values(settings=merged, version=_TABLE.c.version + 1,
                                               updated_at=now)).rowcount
                if changed == 0:
                    raise StaleSettingsError("version: these settings were changed elsewhere since you opened them")
            fresh = conn.execute(select(_TABLE).where(_TABLE.c.user_id == user_id)).one()
            return self._read(conn, user_id, fresh)

    # -- inside a transaction --------------------------------------------------------------
    def _read(self, conn: Connection, user_id: str, row: Any) -> UserPrefs:
        """The stored record as prefs; a value no longer valid reads as its default."""
        stored: Mapping[str, Any] = row.settings if isinstance(row.settings, Mapping) else {}
        values: dict[str, Any] = {}
        checks: dict[str, Callable[[object], Any]] = {
            "theme": clean_theme, "thousands": clean_thousands, "decimals": clean_decimals,
            "time_zone": clean_time_zone, "pivot_view": _view_id, "watchlist": _watchlist_id}
        for name, check in checks.items():
            if name in stored:
                try:
                    values[name] = check(stored[name])
                except SettingsError:
                    pass
        if values.get("pivot_view") is not None and not self._own_pivot_view(conn, user_id, values["pivot_view"]):
            values["pivot_view"] = None
        if values.get("watchlist") is not None and self.watchlists.watchlist(values["watchlist"]) is None:
            values["watchlist"] = None
        return replace(DEFAULTS, **values, version=row.version, updated_at=_as_utc(row.updated_at))

    @staticmethod
    def _own_pivot_view(conn: Connection, user_id: str, view_id: int) -> bool:
        return conn.execute(select(_VIEWS.c.id).where(
            _VIEWS.c.id == view_id, _VIEWS.c.owner == user_id, _VIEWS.c.page == PIVOT_PAGE)).first() is not None

    @staticmethod
    def _ensure_user(conn: Connection, user_id: str) -> None:
        exists = conn.execute(select(_USERS.c.id).where(_USERS.c.id == user_id)).first()
        if exists is not None:
            return
        if user_id != LOCAL_USER:
            raise InvalidSettingError(f"user: there is no user {_shown(user_id)}")
        # With sign-in off the local user owns records without an account; two first saves may race.
        dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(dialect_insert(_USERS).values(id=user_id, display_name="Local user", created_at=utc_now())
                     .on_conflict_do_nothing(index_elements=[_USERS.c.id]))


# -- the defaults of the request's user, for the pages that apply them -------------------------
def current_prefs(meta: MetaStore | None = None) -> UserPrefs:
    """The settings of the user being served. A signed link's screen (and an API token's call)
    gets the defaults: a link shows what it carries, the same to everyone. A records store
    that cannot answer costs the user their defaults, never the page."""
    principal = current_principal()
    if principal.via not in ("session", "local"):
        return DEFAULTS
    # One read per request: a page's layout and its live parts format many numbers.
    cached = getattr(g, "deskboard_prefs", None) if has_request_context() else None
    if cached is not None and cached[0] == principal.id:
        return cached[1]
    try:
        prefs = UserSettingsService(meta or current_stores().meta).get(principal.id)
    except (SettingsError, ValueError, SQLAlchemyError):
        log.warning("user settings could not be read for %s; showing defaults", principal.id, exc_info=True)
        return DEFAULTS
    if has_request_context():
        g.deskboard_prefs = (principal.id, prefs)
    return prefs


def localised(text: str) -> str:
    """``text`` formatted the English way, in the marks of the user being served (as it is
    outside a request: a figure computed for no one in particular)."""
    return current_prefs().localise(text) if has_request_context() else text


def default_theme(meta: MetaStore | None = None) -> str | None:
    """"light" or "dark" when the user chose one; None: the browser's own choice."""
    return current_prefs(meta).chosen_theme


def default_pivot_state(meta: MetaStore) -> dict[str, str | list[str]]:
    """The URL state of the user's default pivot view ({} when none): for /pivot opened
    without a query string only, since a URL always wins."""
    view_id = current_prefs(meta).pivot_view
    if view_id is None:
        return {}
    with meta.read() as conn:
        row = conn.execute(select(_VIEWS.c.state).where(_VIEWS.c.id == view_id)).first()
    return dict(row.state) if row is not None and isinstance(row.state, Mapping) else {}


def default_watchlist(meta: MetaStore) -> str | None:
    """The user's default board watchlist (None: the board's own default)."""
    return current_prefs(meta).watchlist
