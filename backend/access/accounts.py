"""User accounts: sign-in with lockout, sessions that end when an account changes,
one-time sign-in and reset links, and the admin actions on users.

Sign-in answers the same ``SignInError`` for an unknown user, a wrong password, a disabled
account and an account without a password, and spends the same argon2 work on each, so
neither the message nor the time tells which. A user who must change their password (no
password yet, an admin-set one, or a reset) holds only ``account.self`` until they do.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from argon2 import PasswordHasher
from sqlalchemy import Connection, case, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from backend.access.audit import Audit
from backend.access.passwords import (
    DEFAULT_HASHER,
    PasswordPolicyError,
    check_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from backend.access.permissions import ACCOUNT_SELF, ADMIN_USERS
from backend.access.principal import EVERYTHING, SCOPE_COLUMNS, DataScope, Principal
from backend.access.roles import Roles, clean_role_names
from backend.config import AccessSettings
from backend.meta.models import SignInLink, User, UserCredentials, utc_now
from backend.meta.store import MetaStore

USER_ID: Final = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
DISPLAY_NAME_MAX: Final = 120
SCOPE_VALUES_MAX: Final = 500
SCOPE_VALUE_MAX: Final = 64
LINK_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 random bytes, urlsafe base64
LINK_MINUTES_MAX: Final = 366 * 24 * 60
_USERS = User.__table__
_CREDS = UserCredentials.__table__
_LINKS = SignInLink.__table__

__all__ = [
    "Account", "AccountError", "AccountExistsError", "AccountNotFoundError", "Accounts", "InvalidAccountError",
    "LastAdminError", "LinkError", "LockedOutError", "PasswordPolicyError", "SignInError", "WrongPasswordError",
]


class AccountError(ValueError):
    """An account request that cannot be carried out; the message can be shown to the user."""


class InvalidAccountError(AccountError):
    pass


class AccountExistsError(AccountError):
    pass


class AccountNotFoundError(AccountError):
    pass


class LastAdminError(AccountError):
    """The change would leave no enabled user who can manage users."""


class WrongPasswordError(AccountError):
    """The current password given to change it is wrong."""


class SignInError(AccountError):
    """Sign-in refused; the message never says whether the user exists."""


class LockedOutError(SignInError):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed sign-ins: try again after {until:%H:%M} UTC")
        self.until = until


class LinkError(AccountError):
    def __init__(self) -> None:
        super().__init__("this sign-in link is not valid: it has expired or was used already; ask an admin for a new one")


@dataclass(frozen=True)
class Account:
    """What an admin page shows about a user (never the password hash)."""

    id: str
    display_name: str
    roles: tuple[str, ...]
    scope: DataScope
    disabled: bool
    locked_until: datetime | None
    must_change_password: bool
    last_signin_at: datetime | None
    created_at: datetime
    has_password: bool = False


# -- input cleaning ------------------------------------------------------------------
def clean_user_id(user_id: object) -> str:
    """A login name: trimmed and lower-cased, then 1-64 of a-z 0-9 . _ @ - (starting alphanumeric)."""
    if not isinstance(user_id, str) or len(user_id) > 200:
        raise InvalidAccountError("user name: 1 to 64 characters: a-z, 0-9, '.', '_', '@', '-'")
    cleaned = user_id.strip().lower()
    if not USER_ID.match(cleaned):
        raise InvalidAccountError("user name: 1 to 64 characters: a-z, 0-9, '.', '_', '@', '-'")
    return cleaned


def clean_display_name(name: object) -> str:
    if name is None:
        return ""
    if not isinstance(name, str):
        raise InvalidAccountError("display name: expected text")
    cleaned = unicodedata.normalize("NFC", name).strip()
    if len(cleaned) > DISPLAY_NAME_MAX:
        raise InvalidAccountError(f"display name: at most {DISPLAY_NAME_MAX} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in cleaned):
        raise InvalidAccountError("display name: control characters and line breaks are not allowed")
    return cleaned


def clean_scope(scope: object) -> DataScope:
    if not isinstance(scope, DataScope):
        raise InvalidAccountError("scope: expected a DataScope")
    for name in SCOPE_COLUMNS:
        values = getattr(scope, name)
        if values is None:
            continue
        if not isinstance(values, (frozenset, set)) or len(values) > SCOPE_VALUES_MAX:
            raise InvalidAccountError(f"scope {name}: at most {SCOPE_VALUES_MAX} values")
        for value in values:
            if not isinstance(value, str) or not 0 < len(value) <= SCOPE_VALUE_MAX or not value.isprintable():
                raise InvalidAccountError(f"scope {name}: each value 1 to {SCOPE_VALUE_MAX} printable characters")
    return DataScope(**{n: None if getattr(scope, n) is None else frozenset(getattr(scope, n))
                        for n in SCOPE_COLUMNS})


def _clean_actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidAccountError("actor: expected who makes the change")
    return actor[:64]


def _clean_minutes(minutes: object) -> float:
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 1 <= minutes <= LINK_MINUTES_MAX:
        raise InvalidAccountError(f"minutes: from 1 to {LINK_MINUTES_MAX}")
    return float(minutes)


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def link_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def _account(row: Any) -> Account:
    return Account(
        id=row.user_id, display_name=row.display_name or "", roles=tuple(row.roles or ()),
        scope=DataScope.from_dict(row.scope), disabled=bool(row.disabled), locked_until=_as_utc(row.locked_until),
        must_change_password=bool(row.must_change_password), last_signin_at=_as_utc(row.last_signin_at),
        created_at=_as_utc(row.created_at), has_password=row.password_hash is not None,  # type: ignore[arg-type]
    )


class Accounts:
    """Users who sign in, in one records store."""

    def __init__(self, meta: MetaStore, settings: AccessSettings, roles: Roles, audit: Audit, *,
                 clock: Callable[[], datetime] = utc_now, hasher: PasswordHasher | None = None) -> None:
        self.meta = meta
        self.settings = settings
        self.roles = roles
        self.audit = audit
        self.clock = clock
        self.hasher = hasher or DEFAULT_HASHER
        # Verified against when there is no real hash, so every refusal costs the same time.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    # -- reading -------------------------------------------------------------------
    def _row(self, conn: Connection, user_id: str) -> Any:
        return conn.execute(
            select(_CREDS, _USERS.c.display_name).join(_USERS, _USERS.c.id == _CREDS.c.user_id)
            .where(_CREDS.c.user_id == user_id)
        ).first()

    def _existing_row(self, conn: Connection, user_id: str) -> Any:
        row = self._row(conn, user_id)
        if row is None:
            raise AccountNotFoundError(f"there is no user {user_id!r}")
        return row

    def get(self, user_id: str) -> Account:
        user_id = clean_user_id(user_id)
        with self.meta.read() as conn:
            return _account(self._existing_row(conn, user_id))

    def list_users(self) -> list[Account]:
        with self.meta.read() as conn:
            rows = conn.execute(
                select(_CREDS, _USERS.c.display_name).join(_USERS, _USERS.c.id == _CREDS.c.user_id)
                .order_by(_CREDS.c.user_id)
            ).all()
        return [_account(r) for r in rows]

    def has_credentials(self) -> bool:
        """Whether any user can sign in yet (the first start creates the admin)."""
        with self.meta.read() as conn:
            return conn.execute(select(_CREDS.c.user_id).limit(1)).first() is not None

    def session_version(self, user_id: str) -> int:
        user_id = clean_user_id(user_id)
        with self.meta.read() as conn:
            return int(self._existing_row(conn, user_id).session_version)

    def principal(self, user_id: str, session_version: int | None = None) -> Principal | None:
        """The user's principal now; None when unknown, disabled, or the session is outdated."""
        try:
            user_id = clean_user_id(user_id)
        except InvalidAccountError:
            return None
        if session_version is not None and (isinstance(session_version, bool) or not isinstance(session_version, int)):
            return None
        with self.meta.read() as conn:
            row = self._row(conn, user_id)
            if row is None or row.disabled:
                return None
            if session_version is not None and row.session_version != session_version:
                return None
            return self._principal(conn, row)

    def _principal(self, conn: Connection, row: Any) -> Principal:
        roles = frozenset(row.roles or ())
        permissions = self.roles.resolve(roles, conn)
        if row.must_change_password or row.password_hash is None:
            # Until the password is changed only the password page opens, whatever the roles
            # hold: a custom role without account.self must not leave its holder stuck here.
            permissions = frozenset({ACCOUNT_SELF})
        return Principal(id=row.user_id, display_name=row.display_name or row.user_id, roles=roles,
                         permissions=permissions, scope=DataScope.from_dict(row.scope), via="session")

    # -- creating ------------------------------------------------------------------
    def create_user(self, user_id: str, *, display_name: str = "", password: str | None = None,
                    roles: Iterable[str] = ("viewer",), scope: DataScope = EVERYTHING, actor: str) -> Account:
        """A user who can sign in. Without a password they sign in by a link and must set one;
        with one an admin chose, they must change it at their first sign-in."""
        user_id, actor = clean_user_id(user_id), _clean_actor(actor)
        display_name, scope = clean_display_name(display_name), clean_scope(scope)
        role_names = clean_role_names(roles)
        password_hash = None
        if password is not None:
            check_policy(password, user_id)
            password_hash = hash_password(password, self.hasher)
        now = self.clock()
        with self.meta.write() as conn:
            self._refuse_unknown_roles(conn, role_names)
            if conn.execute(select(_CREDS.c.user_id).where(_CREDS.c.user_id == user_id)).first() is not None:
                raise AccountExistsError(f"a user named {user_id!r} already exists")
            dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            # Older stores already hold users (the local user) who own records: keep them.
            conn.execute(dialect_insert(_USERS).values(id=user_id, display_name=display_name, created_at=now)
                         .on_conflict_do_nothing(index_elements=[_USERS.c.id]))
            if display_name:
                conn.execute(update(_USERS).where(_USERS.c.id == user_id).values(display_name=display_name))
            try:
                conn.execute(insert(_CREDS).values(
                    user_id=user_id, password_hash=password_hash, disabled=False, roles=list(role_names),
                    scope=scope.as_dict(), failed_signins=0, locked_until=None,
                    must_change_password=password_hash is None or actor != user_id, session_version=1,
                    password_changed_at=now if password_hash else None, last_signin_at=None, created_at=now,
                ))
            except IntegrityError:  # created by a concurrent request since the check above
                raise AccountExistsError(f"a user named {user_id!r} already exists") from None
            self.audit.write(conn, actor, "user.create", target=user_id, detail={
                "display_name": display_name, "roles": list(role_names), "scope": scope.as_dict(),
                "with_password": password_hash is not None})
            return _account(self._existing_row(conn, user_id))

    def _refuse_unknown_roles(self, conn: Connection, role_names: tuple[str, ...]) -> None:
        missing = set(role_names) - self.roles.existing(role_names, conn)
        if missing:
            raise InvalidAccountError(f"roles: no such role: {', '.join(sorted(missing))}")

    # -- signing in ----------------------------------------------------------------
    def authenticate(self, user_id: str, password: str, *, address: str = "") -> Principal:
        refused = SignInError("wrong user name or password")
        try:
            user_id = clean_user_id(user_id)
        except InvalidAccountError:
            verify_password(self._dummy_hash, "not a password", self.hasher)
            raise refused from None
        with self.meta.read() as conn:
            row = self._row(conn, user_id)
        if row is None or row.password_hash is None:
            verify_password(self._dummy_hash, password if isinstance(password, str) else "", self.hasher)
            raise refused
        now = self.clock()
        locked_until = _as_utc(row.locked_until)
        if locked_until is not None and locked_until > now:
            raise LockedOutError(locked_until)
        matched = verify_password(row.password_hash, password, self.hasher)
        if row.disabled:
            raise refused
        if not matched:
            self._count_failure(user_id, now, address)
            raise refused
        values: dict[str, Any] = {"failed_signins": 0, "locked_until": None, "last_signin_at": now}
        if needs_rehash(row.password_hash, self.hasher):
            values["password_hash"] = hash_password(password, self.hasher)
        with self.meta.write() as conn:
            # Not while a concurrent run of failures has just locked the account.
            changed = conn.execute(update(_CREDS).where(_CREDS.c.user_id == user_id).where(
                (_CREDS.c.locked_until.is_(None)) | (_CREDS.c.locked_until <= now)).values(**values)).rowcount
            row = self._existing_row(conn, user_id)
            if changed == 0:
                raise LockedOutError(_as_utc(row.locked_until) or now)
            if row.disabled:  # disabled while the password was being checked
                raise refused
            return self._principal(conn, row)

    def _count_failure(self, user_id: str, now: datetime, address: str) -> None:
        """One failed sign-in, counted in a single statement so concurrent failures all count;
        the one that reaches the limit locks the account and starts the count again."""
        limit = self.settings.lockout_attempts
        until = now + timedelta(minutes=self.settings.lockout_minutes)
        reaches = _CREDS.c.failed_signins + 1 >= limit
        with self.meta.write() as conn:
            result = conn.execute(
                update(_CREDS)
                .where(_CREDS.c.user_id == user_id)
                .where((_CREDS.c.locked_until.is_(None)) | (_CREDS.c.locked_until <= now))
                .values(failed_signins=case((reaches, 0), else_=_CREDS.c.failed_signins + 1),
                        locked_until=case((reaches, literal(until, _CREDS.c.locked_until.type)), else_=None))
                .returning(_CREDS.c.locked_until)
            ).first()
            if result is None:  # another attempt locked it meanwhile (or the user was just removed)
                locked = _as_utc(conn.execute(select(_CREDS.c.locked_until)
                                              .where(_CREDS.c.user_id == user_id)).scalar())
                raise LockedOutError(locked) if locked else SignInError("wrong user name or password")
            if result.locked_until is not None:
                self.audit.write(conn, "anonymous", "signin.locked", target=user_id, address=address,
                                 detail={"attempts": limit, "minutes": self.settings.lockout_minutes})
        if result.locked_until is not None:
            raise LockedOutError(until)

    # -- passwords -----------------------------------------------------------------
    def change_password(self, user_id: str, old: str | None, new: str) -> int:
        """The user's own change. ``old`` may be None only while they must change their password
        (they proved who they are by a link or an admin-set password). Every other session of
        the user ends: returns the new session version for the session making the change."""
        user_id = clean_user_id(user_id)
        check_policy(new, user_id)
        with self.meta.read() as conn:
            row = self._existing_row(conn, user_id)
        if row.disabled:
            raise AccountNotFoundError(f"there is no user {user_id!r}")
        if old is None:
            if not (row.must_change_password or row.password_hash is None):
                raise WrongPasswordError("current password: enter your current password")
        elif not verify_password(row.password_hash, old, self.hasher):
            raise WrongPasswordError("current password: that is not your current password")
        if row.password_hash is not None and verify_password(row.password_hash, new, self.hasher):
            raise PasswordPolicyError("password: choose a password different from the current one")
        new_hash = hash_password(new, self.hasher)
        with self.meta.write() as conn:
            version = self._set_hash(conn, user_id, new_hash, must_change=False)
            self.audit.write(conn, user_id, "password.change", target=user_id)
            return version

    def set_password(self, user_id: str, new: str, *, actor: str) -> None:
        """An admin sets a password; the user must change it at their next sign-in."""
        user_id, actor = clean_user_id(user_id), _clean_actor(actor)
        check_policy(new, user_id)
        new_hash = hash_password(new, self.hasher)
        with self.meta.write() as conn:
            self._existing_row(conn, user_id)
            self._set_hash(conn, user_id, new_hash, must_change=actor != user_id)
            self.audit.write(conn, actor, "password.set", target=user_id)

    def _set_hash(self, conn: Connection, user_id: str, new_hash: str, *, must_change: bool) -> int:
        return int(conn.execute(
            update(_CREDS).where(_CREDS.c.user_id == user_id)
            .values(password_hash=new_hash, must_change_password=must_change, password_changed_at=self.clock(),
                    failed_signins=0, locked_until=None, session_version=_CREDS.c.session_version + 1)
            .returning(_CREDS.c.session_version)
        ).scalar_one())

    # -- one-time links ------------------------------------------------------------
    def issue_reset(self, user_id: str, *, actor: str, minutes: float = 60) -> str:
        """A one-time reset link token: the user's sessions end and they must set a new password."""
        return self._issue(user_id, "reset", actor=actor, minutes=minutes)  # type: ignore[return-value]

    def issue_sign_in_link(self, user_id: str, *, actor: str, minutes: float) -> str:
        """A one-time link that signs the user in (without ending their sessions)."""
        return self._issue(user_id, "sign_in", actor=actor, minutes=minutes)  # type: ignore[return-value]

    def issue_sign_in_link_unless_live(self, user_id: str, *, actor: str, minutes: float) -> str | None:
        """A sign-in link, unless the user holds a live one already (checked and issued in one
        transaction, so processes starting together issue one link, not one each)."""
        return self._issue(user_id, "sign_in", actor=actor, minutes=minutes, unless_live=True)

    def _issue(self, user_id: str, purpose: str, *, actor: str, minutes: float, unless_live: bool = False) -> str | None:
        user_id, actor, minutes = clean_user_id(user_id), _clean_actor(actor), _clean_minutes(minutes)
        raw = secrets.token_urlsafe(32)
        now = self.clock()
        with self.meta.write() as conn:
            # Row lock on PostgreSQL; SQLite's write transaction holds the whole database already.
            conn.execute(select(_CREDS.c.user_id).where(_CREDS.c.user_id == user_id).with_for_update())
            row = self._existing_row(conn, user_id)
            if row.disabled:
                raise InvalidAccountError(f"{user_id!r} is disabled; enable the account first")
            if unless_live and conn.execute(select(_LINKS.c.token_hash).where(
                    _LINKS.c.user_id == user_id, _LINKS.c.purpose == purpose, _LINKS.c.used_at.is_(None),
                    _LINKS.c.expires_at > now).limit(1)).first() is not None:
                return None
            # A newer link replaces the older unused ones of the same purpose.
            conn.execute(update(_LINKS).where(_LINKS.c.user_id == user_id, _LINKS.c.purpose == purpose,
                                              _LINKS.c.used_at.is_(None)).values(used_at=now))
            conn.execute(insert(_LINKS).values(token_hash=link_hash(raw), user_id=user_id, purpose=purpose,
                                               created_by=actor, created_at=now,
                                               expires_at=now + timedelta(minutes=minutes)))
            if purpose == "reset":
                conn.execute(update(_CREDS).where(_CREDS.c.user_id == user_id).values(
                    must_change_password=True, session_version=_CREDS.c.session_version + 1))
            self.audit.write(conn, actor, f"link.{purpose}", target=user_id, detail={"minutes": minutes})
        return raw

    def live_link(self, user_id: str, purpose: str = "sign_in") -> bool:
        """Whether the user holds an unused, unexpired link of that purpose."""
        user_id = clean_user_id(user_id)
        with self.meta.read() as conn:
            return conn.execute(select(_LINKS.c.token_hash).where(
                _LINKS.c.user_id == user_id, _LINKS.c.purpose == purpose, _LINKS.c.used_at.is_(None),
                _LINKS.c.expires_at > self.clock()).limit(1)).first() is not None

    def redeem_link(self, raw_token: str) -> tuple[Principal, str]:
        """Use a one-time link: (the user's principal, the link's purpose). Marking it used is one
        conditional UPDATE, so of two concurrent redemptions exactly one succeeds."""
        if not isinstance(raw_token, str) or not LINK_TOKEN.match(raw_token):
            raise LinkError
        now = self.clock()
        with self.meta.write() as conn:
            used = conn.execute(
                update(_LINKS).where(_LINKS.c.token_hash == link_hash(raw_token), _LINKS.c.used_at.is_(None),
                                     _LINKS.c.expires_at > now)
                .values(used_at=now).returning(_LINKS.c.user_id, _LINKS.c.purpose)
            ).first()
            if used is None:
                raise LinkError
            row = self._row(conn, used.user_id)
            if row is None or row.disabled:
                raise LinkError
            # The link proves who they are: it also lifts a lockout.
            conn.execute(update(_CREDS).where(_CREDS.c.user_id == used.user_id)
                         .values(failed_signins=0, locked_until=None, last_signin_at=now))
            self.audit.write(conn, used.user_id, "link.redeem", target=used.user_id, detail={"purpose": used.purpose})
            return self._principal(conn, row), used.purpose

    # -- admin changes ---------------------------------------------------------------
    def set_disabled(self, user_id: str, disabled: bool, *, actor: str) -> Account:
        if not isinstance(disabled, bool):
            raise InvalidAccountError("disabled: expected true or false")
        return self._admin_change(user_id, actor, "user.disable" if disabled else "user.enable",
                                  {"disabled": disabled}, end_sessions=disabled)

    def set_roles(self, user_id: str, roles: Iterable[str], *, actor: str) -> Account:
        role_names = clean_role_names(roles)
        return self._admin_change(user_id, actor, "user.roles", {"roles": list(role_names)}, check_roles=role_names)

    def set_scope(self, user_id: str, scope: DataScope, *, actor: str) -> Account:
        return self._admin_change(user_id, actor, "user.scope", {"scope": clean_scope(scope).as_dict()})

    def set_display_name(self, user_id: str, display_name: str, *, actor: str) -> Account:
        name = clean_display_name(display_name)
        user_id, actor = clean_user_id(user_id), _clean_actor(actor)
        with self.meta.write() as conn:
            self._existing_row(conn, user_id)
            conn.execute(update(_USERS).where(_USERS.c.id == user_id).values(display_name=name))
            self.audit.write(conn, actor, "user.display_name", target=user_id, detail={"display_name": name})
            return _account(self._existing_row(conn, user_id))

    def unlock(self, user_id: str, *, actor: str) -> Account:
        return self._admin_change(user_id, actor, "user.unlock", {"failed_signins": 0, "locked_until": None},
                                  end_sessions=False)

    def _refuse_removing_the_last_admin(self, conn: Connection, user_id: str, values: dict[str, Any]) -> None:
        """Nobody could manage users any more (the server would need its records edited by hand)."""
        def admins(change: dict[str, Any] | None) -> set[str]:
            found = set()
            for row in conn.execute(select(_CREDS.c.user_id, _CREDS.c.roles, _CREDS.c.disabled)):
                roles, disabled = row.roles or (), row.disabled
                if change is not None and row.user_id == user_id:
                    roles, disabled = change.get("roles", roles), change.get("disabled", disabled)
                if not disabled and ADMIN_USERS in self.roles.resolve(roles, conn):
                    found.add(row.user_id)
            return found

        if admins(None) and not admins(values):
            raise LastAdminError(f"{user_id!r} is the last enabled user who can manage users; "
                                 "give another user the admin role first")

    def _admin_change(self, user_id: str, actor: str, action: str, values: dict[str, Any], *,
                      end_sessions: bool = True, check_roles: tuple[str, ...] = ()) -> Account:
        user_id, actor = clean_user_id(user_id), _clean_actor(actor)
        with self.meta.write() as conn:
            before = self._existing_row(conn, user_id)
            if check_roles:
                self._refuse_unknown_roles(conn, check_roles)
            if "roles" in values or values.get("disabled"):
                self._refuse_removing_the_last_admin(conn, user_id, values)
            changes = dict(values)
            if end_sessions:
                changes["session_version"] = _CREDS.c.session_version + 1
            conn.execute(update(_CREDS).where(_CREDS.c.user_id == user_id).values(**changes))
            self.audit.write(conn, actor, action, target=user_id, detail={
                "before": {k: _json_value(getattr(before, k)) for k in values}, "after": values})
            return _account(self._existing_row(conn, user_id))


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def principal_via(principal: Principal, via: str) -> Principal:
    return replace(principal, via=via)  # type: ignore[arg-type]
