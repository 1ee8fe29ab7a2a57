"""Saved views: a page's URL query state stored under a name, per owner.

Every check happens here, before anything is written, and every write is one
transaction: a bad name, an oversized state, a duplicate or a stale version is
refused with a plain message and leaves the stored views as they were.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from backend.meta.models import PAGE_PATH_MAX, USER_ID_MAX, VIEW_NAME_MAX, SavedView, User, utc_now
from backend.meta.store import MetaStore

STATE_MAX_BYTES = 64 * 1024
STATE_MAX_KEYS = 200
# Who owns records until sign-in exists.
LOCAL_OWNER = "local"

_PAGE = re.compile(r"^/[A-Za-z0-9_\-/]*$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]*$")
_VIEWS = SavedView.__table__
_USERS = User.__table__

QueryState = dict[str, str | list[str]]


class SavedViewError(ValueError):
    """A saved-view request that cannot be carried out; the message says why."""


class InvalidViewError(SavedViewError):
    pass


class DuplicateViewNameError(SavedViewError):
    pass


class ViewNotFoundError(SavedViewError):
    pass


class StaleViewError(SavedViewError):
    """The view changed since the caller read it (optimistic concurrency)."""


@dataclass(frozen=True)
class View:
    id: int
    owner: str
    name: str
    page: str
    state: QueryState
    created_at: datetime
    updated_at: datetime
    version: int

    @property
    def search(self) -> str:
        return search_from_state(self.state)

    @property
    def href(self) -> str:
        """Where the view opens, relative to the site root."""
        return self.page + self.search


# -- validation ----------------------------------------------------------------
def clean_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidViewError("name: give the view a name")
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned:
        raise InvalidViewError("name: give the view a name")
    if len(cleaned) > VIEW_NAME_MAX:
        raise InvalidViewError(f"name: at most {VIEW_NAME_MAX} characters (got {len(cleaned)})")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in cleaned):
        raise InvalidViewError("name: control characters and line breaks are not allowed")
    return cleaned


def clean_owner(owner: object) -> str:
    if not isinstance(owner, str) or not (0 < len(owner) <= USER_ID_MAX) or not _OWNER.match(owner):
        raise InvalidViewError("owner: not a valid user id")
    return owner


def clean_page(page: object) -> str:
    if not isinstance(page, str) or not page or len(page) > PAGE_PATH_MAX or not _PAGE.match(page):
        raise InvalidViewError("page: expected a page path such as /pivot")
    if "//" in page:
        raise InvalidViewError("page: expected a page path such as /pivot")
    return page


def clean_state(state: object) -> QueryState:
    """A URL query state: parameter name → value or list of values, ≤ 64 KB as JSON."""
    if not isinstance(state, Mapping):
        raise InvalidViewError("state: expected a JSON object of URL parameters")
    if len(state) > STATE_MAX_KEYS:
        raise InvalidViewError(f"state: at most {STATE_MAX_KEYS} parameters")
    cleaned: QueryState = {}
    for key, value in state.items():
        if not isinstance(key, str) or not key or len(key) > 200:
            raise InvalidViewError("state: parameter names must be non-empty text of at most 200 characters")
        if isinstance(value, str):
            cleaned[key] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            cleaned[key] = list(value)
        else:
            raise InvalidViewError(f"state: parameter {key[:40]!r} must be text or a list of text")
    size = len(json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > STATE_MAX_BYTES:
        raise InvalidViewError(f"state: too large ({size:,} bytes; at most {STATE_MAX_BYTES:,})")
    return cleaned


def clean_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not (0 < version < 2**31):
        raise InvalidViewError("version: expected the positive version number read with the view")
    return version


def clean_id(view_id: object) -> int:
    if isinstance(view_id, bool) or not isinstance(view_id, int) or not (0 < view_id < 2**31):
        raise InvalidViewError("id: expected a saved view id")
    return view_id


# -- URL query state -------------------------------------------------------------
def state_from_search(search: str | None) -> QueryState:
    """``?a=1&b=2&b=3`` → ``{"a": "1", "b": ["2", "3"]}`` (repeated parameters become lists)."""
    if search is not None and not isinstance(search, str):
        raise InvalidViewError("state: expected a URL query string")
    text = (search or "").removeprefix("?")
    if len(text.encode("utf-8")) > STATE_MAX_BYTES:
        raise InvalidViewError(f"state: the URL is too long (at most {STATE_MAX_BYTES:,} bytes)")
    state: QueryState = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in state:
            existing = state[key]
            state[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            state[key] = value
    return clean_state(state)


def search_from_state(state: Mapping[str, str | list[str]]) -> str:
    """The inverse of ``state_from_search``: ``""`` or ``"?..."``."""
    pairs: list[tuple[str, str]] = []
    for key, value in state.items():
        pairs.extend((key, v) for v in (value if isinstance(value, list) else [value]))
    return "?" + urlencode(pairs) if pairs else ""


# -- service ---------------------------------------------------------------------
def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _view(row: Any) -> View:
    return View(
        id=row.id, owner=row.owner, name=row.name, page=row.page, state=row.state,
        created_at=_as_utc(row.created_at), updated_at=_as_utc(row.updated_at), version=row.version,
    )


class SavedViews:
    """Create, list, open, rename, overwrite and delete saved views in one records store."""

    def __init__(self, store: MetaStore) -> None:
        self.store = store

    def list(self, owner: str, page: str | None = None) -> list[View]:
        query = select(_VIEWS).where(_VIEWS.c.owner == clean_owner(owner))
        if page is not None:
            query = query.where(_VIEWS.c.page == clean_page(page))
        with self.store.read() as conn:
            rows = conn.execute(query.order_by(_VIEWS.c.name, _VIEWS.c.id)).all()
        return [_view(row) for row in rows]

    def get(self, owner: str, view_id: int) -> View:
        with self.store.read() as conn:
            return self._get(conn, clean_owner(owner), clean_id(view_id))

    def create(self, owner: str, name: str, page: str, state: Mapping[str, Any]) -> View:
        owner, name, page = clean_owner(owner), clean_name(name), clean_page(page)
        state = clean_state(state)
        now = utc_now()
        with self.store.write() as conn:
            self._ensure_user(conn, owner)
            self._refuse_taken_name(conn, owner, name)
            try:
                new_id = conn.execute(
                    insert(_VIEWS).values(owner=owner, name=name, page=page, state=state,
                                          created_at=now, updated_at=now, version=1)
                    .returning(_VIEWS.c.id)
                ).scalar_one()
            except IntegrityError:
                raise DuplicateViewNameError(f"a view named {name!r} already exists") from None
            return self._get(conn, owner, new_id)

    def create_from_search(self, owner: str, name: str, page: str, search: str | None) -> View:
        return self.create(owner, name, page, state_from_search(search))

    def rename(self, owner: str, view_id: int, new_name: str, version: int) -> View:
        owner, view_id, name = clean_owner(owner), clean_id(view_id), clean_name(new_name)
        version = clean_version(version)
        with self.store.write() as conn:
            current = self._get(conn, owner, view_id)
            if name != current.name:
                self._refuse_taken_name(conn, owner, name)
            return self._update(conn, owner, view_id, version, {"name": name})

    def overwrite(self, owner: str, view_id: int, state: Mapping[str, Any], version: int) -> View:
        """Replace the stored state, keeping the name and page."""
        owner, view_id, version = clean_owner(owner), clean_id(view_id), clean_version(version)
        state = clean_state(state)
        with self.store.write() as conn:
            return self._update(conn, owner, view_id, version, {"state": state})

    def delete(self, owner: str, view_id: int, version: int | None = None) -> None:
        owner, view_id = clean_owner(owner), clean_id(view_id)
        query = delete(_VIEWS).where(_VIEWS.c.owner == owner, _VIEWS.c.id == view_id)
        if version is not None:
            query = query.where(_VIEWS.c.version == clean_version(version))
        with self.store.write() as conn:
            if conn.execute(query).rowcount == 0:
                self._get(conn, owner, view_id)  # raises when it does not exist
                raise StaleViewError("the view was changed by someone else since you opened it; reload and try again")

    # -- inside a transaction ------------------------------------------------------
    def _get(self, conn: Connection, owner: str, view_id: int) -> View:
        row = conn.execute(select(_VIEWS).where(_VIEWS.c.owner == owner, _VIEWS.c.id == view_id)).first()
        if row is None:
            raise ViewNotFoundError(f"there is no saved view with id {view_id}")
        return _view(row)

    def _update(self, conn: Connection, owner: str, view_id: int, version: int, values: dict[str, Any]) -> View:
        try:
            changed = conn.execute(
                update(_VIEWS)
                .where(_VIEWS.c.owner == owner, _VIEWS.c.id == view_id, _VIEWS.c.version == version)
                .values(**values, updated_at=utc_now(), version=_VIEWS.c.version + 1)
            ).rowcount
        except IntegrityError:
            raise DuplicateViewNameError(f"a view named {values.get('name')!r} already exists") from None
        if changed == 0:
            self._get(conn, owner, view_id)
            raise StaleViewError("the view was changed by someone else since you opened it; reload and try again")
        return self._get(conn, owner, view_id)

    def _refuse_taken_name(self, conn: Connection, owner: str, name: str) -> None:
        taken = conn.execute(
            select(_VIEWS.c.id).where(_VIEWS.c.owner == owner, _VIEWS.c.name == name)
        ).first()
        if taken is not None:
            raise DuplicateViewNameError(f"a view named {name!r} already exists; choose another name")

    def _ensure_user(self, conn: Connection, owner: str) -> None:
        # Two first saves by a new owner may race; the loser's insert is a no-op.
        dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            dialect_insert(_USERS).values(id=owner, display_name=owner, created_at=utc_now())
            .on_conflict_do_nothing(index_elements=[_USERS.c.id])
        )
