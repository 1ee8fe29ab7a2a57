"""Feature flags: switches checked on the server, with role and user targeting and a rollout.

``Flags.is_on(key, principal)`` answers in this order: a flag that does not exist is off;
a disabled flag is off; a user named in ``users`` is on; when ``roles`` is non-empty only
principals holding one of them go further; then the rollout percentage decides, with the
user's bucket (``bucket(key, user_id)``) stable across processes and restarts and
independent between flags.

Flags are few and read on many requests: each process keeps all of them for a couple of
seconds (``cache_seconds``) and drops its copy on its own writes, so a change made on
another host shows within that time. While the records store cannot be read, checks answer
from the last flags read (every flag off when none were read yet) rather than failing the
page. Every write is one transaction, refused whole when an input is bad or the version is
stale, and reported to ``audit`` once committed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from flask import current_app, has_app_context
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from backend.access.principal import Principal
from backend.meta.models import FLAG_KEY_MAX, USER_ID_MAX, FeatureFlag, utc_now
from backend.meta.store import MetaStore

KEY_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
DESCRIPTION_MAX: Final = 500
TARGETS_MAX: Final = 200  # entries in roles and in users
TARGET_MAX: Final = 64  # characters of one entry
# Role and user names: the characters user ids and role names are made of.
_TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:\-]*$")
CHANGEABLE: Final = ("description", "enabled", "rollout", "roles", "users")
CACHE_SECONDS: Final = 2.0

_FLAGS = FeatureFlag.__table__
log = logging.getLogger(__name__)

AuditFn = Callable[..., None]


# Where the app keeps its flags service (``server.extensions``): the API and the admin page read it.
FLAGS_KEY: Final = "deskboard.flags"

class FlagError(ValueError):
    """A flag request that cannot be carried out; the message says why (and names the field)."""

    status: ClassVar[int] = 400


class InvalidFlagError(FlagError):
    pass


class FlagNotFoundError(FlagError):
    status = 404


class DuplicateFlagError(FlagError):
    status = 409


class StaleFlagError(FlagError):
    """The flag changed since the caller read it (optimistic concurrency)."""

    status = 409


@dataclass(frozen=True)
class Flag:
    key: str
    description: str
    enabled: bool
    rollout: int
    roles: tuple[str, ...]
    users: tuple[str, ...]
    version: int
    updated_at: datetime
    updated_by: str

    def public(self) -> dict[str, Any]:
        return {"key": self.key, "description": self.description, "enabled": self.enabled,
                "rollout": self.rollout, "roles": list(self.roles), "users": list(self.users),
                "version": self.version, "updated_at": self.updated_at.isoformat(), "updated_by": self.updated_by}

    def settings(self) -> dict[str, Any]:
        """What an admin set (for the audit log)."""
        return {name: list(v) if isinstance(v := getattr(self, name), tuple) else v for name in CHANGEABLE}


def bucket(key: str, user_id: str) -> int:
    """The user's bucket (0-99) for one flag: the first 8 bytes of sha256("key:user") as a
    big-endian number, mod 100. The same in every process; another flag buckets independently."""
    digest = hashlib.sha256(f"{key}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def decide(flag: Flag | None, principal: Principal) -> bool:
    """Whether ``flag`` is on for ``principal`` (the rule of the module docstring)."""
    if flag is None or not flag.enabled:
        return False
    if principal.id in flag.users:
        return True
    if flag.roles and not principal.roles & set(flag.roles):
        return False
    return bucket(flag.key, principal.id) < flag.rollout


# -- input cleaning ------------------------------------------------------------------------
def clean_key(key: object) -> str:
    if not isinstance(key, str) or len(key) > FLAG_KEY_MAX or not KEY_PATTERN.match(key):
        raise InvalidFlagError("key: 2 to 64 characters: a lowercase letter first, then lowercase letters, "
                               "digits, '_', '.' or '-'")
    return key


def clean_description(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidFlagError("description: expected text")
    cleaned = unicodedata.normalize("NFC", value).strip()
    if len(cleaned) > DESCRIPTION_MAX:
        raise InvalidFlagError(f"description: at most {DESCRIPTION_MAX} characters (got {len(cleaned):,})")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in cleaned):
        raise InvalidFlagError("description: control characters and line breaks are not allowed")
    return cleaned


def clean_enabled(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidFlagError("enabled: expected true or false")
    return value


def clean_rollout(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InvalidFlagError("rollout: expected a whole percentage from 0 to 100")
    return value


def clean_targets(field: str, values: object) -> tuple[str, ...]:
    """A list of role or user names: each a name of at most 64 characters, at most 200, no repeats."""
    if not isinstance(values, (list, tuple)):
        raise InvalidFlagError(f"{field}: expected a list of names")
    if len(values) > TARGETS_MAX:
        raise InvalidFlagError(f"{field}: at most {TARGETS_MAX} entries (got {len(values):,})")
    cleaned: dict[str, None] = {}
    for value in values:
        if not isinstance(value, str) or not 0 < len(value) <= TARGET_MAX or not _TARGET.match(value):
            raise InvalidFlagError(f"{field}: each entry must be a name of at most {TARGET_MAX} characters "
                                   "(letters, digits, '_', '.', '@', ':' or '-')")
        cleaned[value] = None
    return tuple(cleaned)


def clean_actor(actor: object) -> str:
    if not isinstance(actor, str) or not 0 < len(actor) <= USER_ID_MAX:
        raise InvalidFlagError("actor: expected the id of the user making the change")
    return actor


def clean_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31:
        raise InvalidFlagError("version: expected the positive version number read with the flag")
    return version


_CLEANERS: Final[dict[str, Callable[[object], Any]]] = {
    "description": clean_description,
    "enabled": clean_enabled,
    "rollout": clean_rollout,
    "roles": lambda v: clean_targets("roles", v),
    "users": lambda v: clean_targets("users", v),
}


def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _flag(row: Any) -> Flag:
    return Flag(key=row.key, description=row.description, enabled=bool(row.enabled), rollout=row.rollout,
                roles=tuple(row.roles or ()), users=tuple(row.users or ()), version=row.version,
                updated_at=_as_utc(row.updated_at), updated_by=row.updated_by)


# -- service -------------------------------------------------------------------------------
class Flags:
    """Create, change, delete and check feature flags in one records store."""

    def __init__(self, meta: MetaStore, *, audit: AuditFn | None = None, clock: Callable[[], datetime] = utc_now,
                 cache_seconds: float = CACHE_SECONDS, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.meta = meta
        self._audit = audit
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: dict[str, Flag] | None = None
        self._cached_at = 0.0
        self._last_good: dict[str, Flag] | None = None
        self._generation = 0  # bumped by every local write

    # -- reading -----------------------------------------------------------------------
    def list(self) -> list[Flag]:
        with self.meta.read() as conn:
            rows = conn.execute(select(_FLAGS).order_by(_FLAGS.c.key)).all()
        return [_flag(row) for row in rows]

    def get(self, key: str) -> Flag:
        key = clean_key(key)
        with self.meta.read() as conn:
            row = conn.execute(select(_FLAGS).where(_FLAGS.c.key == key)).first()
        if row is None:
            raise FlagNotFoundError(f"there is no flag {key!r}")
        return _flag(row)

    def is_on(self, key: str, principal: Principal) -> bool:
        """Whether the flag is on for this principal (a flag that does not exist is off)."""
        return decide(self._snapshot().get(key), principal)

    def _snapshot(self) -> dict[str, Flag]:
        with self._lock:
            now, generation = self._monotonic(), self._generation
            if self._cached is not None and now - self._cached_at < self._cache_seconds:
                return self._cached
            previous = self._cached if self._cached is not None else self._last_good
        try:
            flags = {flag.key: flag for flag in self.list()}
        except SQLAlchemyError as exc:
            # A page must not fail because flags cannot be read: keep the last flags read (none:
            # every flag off) and try the store again after the cache period.
            log.warning("feature flags: cannot read the records store (%s); using the last flags read",
                        type(exc).__name__)
            flags = previous or {}
        else:
            self._last_good = flags
        with self._lock:
            # A write of this process that committed while this read ran must not be hidden
            # behind the older copy for a whole cache period.
            if generation == self._generation:
                self._cached, self._cached_at = flags, now
        return flags

    def _forget(self) -> None:
        with self._lock:
            self._cached = None
            self._generation += 1

    # -- writing -----------------------------------------------------------------------
    def create(self, key: str, *, description: str = "", enabled: bool = False, rollout: int = 100,
               roles: Iterable[str] = (), users: Iterable[str] = (), actor: str) -> Flag:
        key, actor = clean_key(key), clean_actor(actor)
        values = {"description": clean_description(description), "enabled": clean_enabled(enabled),
                  "rollout": clean_rollout(rollout), "roles": list(clean_targets("roles", _listed(roles))),
                  "users": list(clean_targets("users", _listed(users)))}
        try:
            with self.meta.write() as conn:
                if conn.execute(select(_FLAGS.c.key).where(_FLAGS.c.key == key)).first() is not None:
                    raise DuplicateFlagError(f"a flag {key!r} already exists")
                conn.execute(insert(_FLAGS).values(key=key, **values, version=1, updated_at=self._clock(),
                                                   updated_by=actor))
                flag = _flag(conn.execute(select(_FLAGS).where(_FLAGS.c.key == key)).one())
        except IntegrityError:  # another process created it between the check and the insert
            raise DuplicateFlagError(f"a flag {key!r} already exists") from None
        self._forget()
        self._record(actor, "flag.create", key, {"flag": flag.settings()})
        return flag

    def update(self, key: str, version: int, *, actor: str, **changes: Any) -> Flag:
        """Change some of description, enabled, rollout, roles, users; ``version`` is the one read."""
        key, version, actor = clean_key(key), clean_version(version), clean_actor(actor)
        unknown = sorted(set(changes) - set(CHANGEABLE))
        if unknown:
            raise InvalidFlagError(f"{unknown[0][:40]}: not a field of a flag (change {', '.join(CHANGEABLE)})")
        if not changes:
            raise InvalidFlagError(f"give at least one of {', '.join(CHANGEABLE)} to change")
        cleaned = {name: _CLEANERS[name](_listed(value) if name in ("roles", "users") else value)
                   for name, value in changes.items()}
        stored = {name: list(v) if isinstance(v, tuple) else v for name, v in cleaned.items()}
        with self.meta.write() as conn:
            before = self._get(conn, key)
            changed = conn.execute(
                update(_FLAGS).where(_FLAGS.c.key == key, _FLAGS.c.version == version)
                .values(**stored, updated_at=self._clock(), updated_by=actor, version=_FLAGS.c.version + 1)
            ).rowcount
            if changed == 0:
                raise StaleFlagError(f"the flag {key!r} was changed by someone else since you read it "
                                     f"(now version {before.version}); reload and try again")
            after = self._get(conn, key)
        self._forget()
        old, new = before.settings(), after.settings()
        diff = {name: {"from": old[name], "to": new[name]} for name in cleaned if old[name] != new[name]}
        self._record(actor, "flag.update", key, {"changes": diff, "version": after.version})
        return after

    def delete(self, key: str, *, actor: str, version: int | None = None) -> Flag:
        """Delete the flag (only at ``version`` when given); answers what was deleted."""
        key, actor = clean_key(key), clean_actor(actor)
        with self.meta.write() as conn:
            before = self._get(conn, key)
            query = delete(_FLAGS).where(_FLAGS.c.key == key)
            if version is not None:
                query = query.where(_FLAGS.c.version == clean_version(version))
            if conn.execute(query).rowcount == 0:
                raise StaleFlagError(f"the flag {key!r} was changed by someone else since you read it "
                                     f"(now version {before.version}); reload and try again")
        self._forget()
        self._record(actor, "flag.delete", key, {"flag": before.settings()})
        return before

    def _get(self, conn: Any, key: str) -> Flag:
        row = conn.execute(select(_FLAGS).where(_FLAGS.c.key == key)).first()
        if row is None:
            raise FlagNotFoundError(f"there is no flag {key!r}")
        return _flag(row)

    def _record(self, actor: str, action: str, target: str, detail: Mapping[str, Any]) -> None:
        # After the commit: the audit log names only what happened, and on SQLite its own write
        # would wait on the lock this transaction holds.
        if self._audit is not None:
            self._audit(actor, action, target=target, detail=dict(detail))


def _listed(values: object) -> object:
    # Accept any iterable of names from Python callers, never a bare string (a string would
    # silently become a list of its letters).
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        return values
    return list(values) if not isinstance(values, (list, tuple)) else values


def flag_on(key: str, principal: Principal) -> bool:
    """Whether flag ``key`` is on for ``principal`` in the app being served (off outside one, or
    where no flag service is installed: a feature behind a flag stays hidden rather than shown)."""
    if not has_app_context():
        return False
    flags = current_app.extensions.get(FLAGS_KEY)
    return bool(flags is not None and flags.is_on(key, principal))
