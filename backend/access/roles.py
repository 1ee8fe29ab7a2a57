"""Roles: the built-in ones in code, custom ones an admin makes in the records store.

A custom role holds only names from the permission catalogue and never takes a built-in
role's name. A role that a user still holds cannot be deleted (``RoleInUseError`` names
the users): taking it away from them first is an explicit admin step with its own audit
entry, rather than a silent loss of access.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, delete, insert, select, update

from backend.access.audit import Audit
from backend.access.permissions import BUILT_IN_ROLES, unknown
from backend.meta.models import CustomRole, UserCredentials, utc_now
from backend.meta.store import MetaStore

ROLE_NAME: Final = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
DESCRIPTION_MAX: Final = 200
ROLES_PER_USER_MAX: Final = 20
_ROLES = CustomRole.__table__
_CREDS = UserCredentials.__table__


class RoleError(ValueError):
    """A role request that cannot be carried out; the message says why."""


class InvalidRoleError(RoleError):
    pass


class RoleExistsError(RoleError):
    pass


class RoleNotFoundError(RoleError):
    pass


class RoleInUseError(RoleError):
    def __init__(self, name: str, users: list[str]) -> None:
        shown = ", ".join(users[:10]) + (" …" if len(users) > 10 else "")
        super().__init__(f"role {name!r} is held by {len(users)} user(s) ({shown}); take it away from them first")
        self.users = users


@dataclass(frozen=True)
class Role:
    name: str
    permissions: frozenset[str]
    description: str
    built_in: bool
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def clean_role_name(name: object) -> str:
    if not isinstance(name, str) or not ROLE_NAME.match(name):
        raise InvalidRoleError("name: 2 to 40 characters, lower-case letters, digits, '_' or '-', starting with a letter")
    return name


def clean_permissions(permissions: object) -> frozenset[str]:
    if isinstance(permissions, str) or not isinstance(permissions, Iterable):
        raise InvalidRoleError("permissions: expected a list of permission names")
    values = list(permissions)
    if not all(isinstance(p, str) for p in values):
        raise InvalidRoleError("permissions: expected a list of permission names")
    wrong = unknown(set(values))
    if wrong:
        shown = ", ".join(repr(w[:40]) for w in sorted(wrong)[:5])
        raise InvalidRoleError(f"permissions: not in the catalogue: {shown}")
    return frozenset(values)


def clean_description(description: object) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise InvalidRoleError("description: expected text")
    cleaned = unicodedata.normalize("NFC", description).strip()
    if len(cleaned) > DESCRIPTION_MAX:
        raise InvalidRoleError(f"description: at most {DESCRIPTION_MAX} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in cleaned):
        raise InvalidRoleError("description: control characters are not allowed")
    return cleaned


def clean_role_names(roles: object) -> tuple[str, ...]:
    """A user's role list: role names (not checked for existence here), de-duplicated, sorted."""
    if isinstance(roles, str) or not isinstance(roles, Iterable):
        raise InvalidRoleError("roles: expected a list of role names")
    names = list(roles)
    if len(names) > ROLES_PER_USER_MAX:
        raise InvalidRoleError(f"roles: at most {ROLES_PER_USER_MAX}")
    return tuple(sorted({clean_role_name(n) for n in names}))


def _role(row: Any) -> Role:
    return Role(name=row.name, permissions=frozenset(row.permissions or ()), description=row.description,
                built_in=False, created_at=_as_utc(row.created_at), updated_at=_as_utc(row.updated_at))


class Roles:
    """Built-in and custom roles; ``resolve`` turns a user's role names into permissions."""

    def __init__(self, meta: MetaStore, audit: Audit | None = None, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.meta = meta
        self.audit = audit or Audit(meta, clock=clock)
        self.clock = clock

    def list(self) -> list[Role]:
        """Built-in roles first (in catalogue order), then custom roles by name."""
        built_in = [Role(name=n, permissions=p, description="built-in", built_in=True)
                    for n, p in BUILT_IN_ROLES.items()]
        with self.meta.read() as conn:
            rows = conn.execute(select(_ROLES).order_by(_ROLES.c.name)).all()
        return built_in + [_role(r) for r in rows]

    def get(self, name: str) -> Role:
        name = clean_role_name(name)
        if name in BUILT_IN_ROLES:
            return Role(name=name, permissions=BUILT_IN_ROLES[name], description="built-in", built_in=True)
        with self.meta.read() as conn:
            row = conn.execute(select(_ROLES).where(_ROLES.c.name == name)).first()
        if row is None:
            raise RoleNotFoundError(f"there is no role named {name!r}")
        return _role(row)

    def create(self, name: str, permissions: Iterable[str], description: str, actor: str) -> Role:
        name, perms = clean_role_name(name), clean_permissions(permissions)
        description = clean_description(description)
        if name in BUILT_IN_ROLES:
            raise RoleExistsError(f"{name!r} is a built-in role; choose another name")
        now = self.clock()
        with self.meta.write() as conn:
            if conn.execute(select(_ROLES.c.name).where(_ROLES.c.name == name)).first() is not None:
                raise RoleExistsError(f"a role named {name!r} already exists")
            conn.execute(insert(_ROLES).values(name=name, description=description, permissions=sorted(perms),
                                               created_at=now, updated_at=now))
            self.audit.write(conn, actor, "role.create", target=name,
                             detail={"permissions": sorted(perms), "description": description})
            return _role(conn.execute(select(_ROLES).where(_ROLES.c.name == name)).one())

    def update(self, name: str, *, permissions: Iterable[str] | None = None, description: str | None = None,
               actor: str) -> Role:
        """Change a custom role; users holding it get the new permissions at their next request."""
        name = clean_role_name(name)
        if name in BUILT_IN_ROLES:
            raise InvalidRoleError(f"{name!r} is a built-in role and cannot be changed")
        values: dict[str, Any] = {}
        if permissions is not None:
            values["permissions"] = sorted(clean_permissions(permissions))
        if description is not None:
            values["description"] = clean_description(description)
        with self.meta.write() as conn:
            before = conn.execute(select(_ROLES).where(_ROLES.c.name == name)).first()
            if before is None:
                raise RoleNotFoundError(f"there is no role named {name!r}")
            if values:
                conn.execute(update(_ROLES).where(_ROLES.c.name == name).values(**values, updated_at=self.clock()))
                self.audit.write(conn, actor, "role.update", target=name,
                                 detail={"before": {"permissions": before.permissions,
                                                    "description": before.description}, "after": values})
            return _role(conn.execute(select(_ROLES).where(_ROLES.c.name == name)).one())

    def delete(self, name: str, *, actor: str) -> None:
        """Delete a custom role; refused with ``RoleInUseError`` while any user holds it."""
        name = clean_role_name(name)
        if name in BUILT_IN_ROLES:
            raise InvalidRoleError(f"{name!r} is a built-in role and cannot be deleted")
        with self.meta.write() as conn:
            if conn.execute(select(_ROLES.c.name).where(_ROLES.c.name == name)).first() is None:
                raise RoleNotFoundError(f"there is no role named {name!r}")
            holders = sorted(r.user_id for r in conn.execute(select(_CREDS.c.user_id, _CREDS.c.roles))
                             if name in (r.roles or ()))
            if holders:
                raise RoleInUseError(name, holders)
            conn.execute(delete(_ROLES).where(_ROLES.c.name == name))
            self.audit.write(conn, actor, "role.delete", target=name)

    def existing(self, names: Iterable[str], conn: Connection | None = None) -> set[str]:
        """Which of ``names`` are roles (built-in or custom)."""
        wanted = set(names)
        found = wanted & BUILT_IN_ROLES.keys()
        custom = wanted - found
        if custom:
            found |= {r.name for r in self._custom(custom, conn)}
        return found

    def resolve(self, role_names: Iterable[str], conn: Connection | None = None) -> frozenset[str]:
        """The permissions the roles grant together; a name that is no role grants nothing."""
        if not isinstance(role_names, (list, tuple, set, frozenset)):
            return frozenset()  # a garbled roles value in the store grants nothing
        names = {n for n in role_names if isinstance(n, str)}
        granted: set[str] = set()
        for name in names & BUILT_IN_ROLES.keys():
            granted |= BUILT_IN_ROLES[name]
        custom = names - BUILT_IN_ROLES.keys()
        if custom:
            for row in self._custom(custom, conn):
                # A permission later removed from the catalogue no longer grants anything.
                granted |= set(row.permissions or ()) - unknown(set(row.permissions or ()))
        return frozenset(granted)

    def _custom(self, names: set[str], conn: Connection | None) -> list[Any]:
        query = select(_ROLES.c.name, _ROLES.c.permissions).where(_ROLES.c.name.in_(sorted(names)))
        if conn is not None:
            return list(conn.execute(query).all())
        with self.meta.read() as own:
            return list(own.execute(query).all())
