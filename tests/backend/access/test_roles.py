"""Custom roles on SQLite and PostgreSQL: made only of catalogue permissions, never named like
a built-in role, resolved with the built-in ones, and not deleted while a user holds them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, text

from backend.access.accounts import Accounts
from backend.access.passwords import make_hasher
from backend.access.permissions import ALL, BUILT_IN_ROLES, JOBS_RUN, PIVOT_EXPORT, PIVOT_VIEW
from backend.access.roles import (
    InvalidRoleError,
    RoleExistsError,
    RoleInUseError,
    RoleNotFoundError,
    Roles,
)
from backend.config import AccessSettings
from backend.meta.models import CustomRole, utc_now
from backend.meta.store import MetaStore


@pytest.fixture
def roles(meta: MetaStore) -> Roles:
    return Roles(meta)


def stored(meta: MetaStore) -> list[tuple[str, ...]]:
    with meta.read() as conn:
        rows = conn.execute(text("SELECT * FROM custom_roles ORDER BY name")).all()
        audit = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    return [tuple(map(str, r)) for r in rows] + [("audit", str(audit))]


def test_a_custom_role_grants_its_permissions_alongside_built_in_ones(roles: Roles) -> None:
    made = roles.create("exporter", [PIVOT_EXPORT, PIVOT_VIEW, PIVOT_VIEW], "  Exports only ", "root")
    assert (made.name, made.permissions, made.description, made.built_in) == (
        "exporter", {PIVOT_EXPORT, PIVOT_VIEW}, "Exports only", False)
    assert roles.get("exporter") == made
    assert roles.resolve(["exporter"]) == {PIVOT_EXPORT, PIVOT_VIEW}
    assert roles.resolve(["viewer", "exporter"]) == BUILT_IN_ROLES["viewer"] | {PIVOT_EXPORT}
    assert roles.resolve(["admin"]) == ALL
    assert [r.name for r in roles.list()] == [*BUILT_IN_ROLES, "exporter"]
    assert roles.get("viewer").built_in


def test_names_that_are_no_role_grant_nothing(roles: Roles) -> None:
    assert roles.resolve([]) == frozenset()
    assert roles.resolve(["ghost", "ADMIN", "admin ", None, 42, "' or 1=1 --"]) == frozenset()  # type: ignore[list-item]
    for garbled in [None, "admin", 42, {"admin": True}]:
        assert roles.resolve(garbled) == frozenset()  # type: ignore[arg-type]


def test_a_permission_dropped_from_the_catalogue_grants_nothing(roles: Roles, meta: MetaStore) -> None:
    now = utc_now()
    with meta.write() as conn:  # a role written when the catalogue still had "reports.view"
        conn.execute(insert(CustomRole.__table__).values(name="legacy", description="", created_at=now,
                                                         updated_at=now, permissions=["reports.view", JOBS_RUN]))
    assert roles.resolve(["legacy"]) == {JOBS_RUN}


def test_updating_a_role_changes_it_and_is_audited(roles: Roles) -> None:
    roles.create("exporter", [PIVOT_EXPORT], "", "root")
    roles.update("exporter", permissions=[JOBS_RUN], actor="root")
    assert roles.resolve(["exporter"]) == {JOBS_RUN}
    roles.update("exporter", description="jobs now", actor="root")
    assert roles.get("exporter").description == "jobs now"
    assert roles.get("exporter").permissions == {JOBS_RUN}
    entries = roles.audit.list()
    assert [e.action for e in entries] == ["role.update", "role.update", "role.create"]
    assert entries[1].detail["before"]["permissions"] == [PIVOT_EXPORT]


def test_a_role_in_use_is_not_deleted_until_nobody_holds_it(roles: Roles, meta: MetaStore) -> None:
    audit = roles.audit
    accounts = Accounts(meta, AccessSettings(), roles, audit, hasher=make_hasher(time_cost=1, memory_cost=8))
    roles.create("exporter", [PIVOT_EXPORT], "", "root")
    accounts.create_user("ana", roles=["viewer", "exporter"], actor="root")
    before = stored(meta)
    with pytest.raises(RoleInUseError, match="held by 1 user") as in_use:
        roles.delete("exporter", actor="root")
    assert in_use.value.users == ["ana"]
    assert stored(meta) == before
    accounts.set_roles("ana", ["viewer"], actor="root")
    roles.delete("exporter", actor="root")
    with pytest.raises(RoleNotFoundError):
        roles.get("exporter")
    assert audit.list(limit=1)[0].action == "role.delete"


BAD_NAMES: list[Any] = ["viewer", "admin", "a", "x" * 41, "Admin", "1role", "-role", "role name", "röle", "role;drop",
                        "' or 1=1 --", "", None, 42, ["exporter"]]


def test_bad_role_names_are_refused_and_nothing_is_written(roles: Roles, meta: MetaStore) -> None:
    roles.create("taken", [], "", "root")
    before = stored(meta)
    for name in BAD_NAMES:
        with pytest.raises((InvalidRoleError, RoleExistsError)):
            roles.create(name, [PIVOT_VIEW], "", "root")
    with pytest.raises(RoleExistsError, match="already exists"):
        roles.create("taken", [PIVOT_VIEW], "", "root")
    for name in ["viewer", "admin"]:
        with pytest.raises(InvalidRoleError, match="built-in"):
            roles.update(name, permissions=[], actor="root")
        with pytest.raises(InvalidRoleError, match="built-in"):
            roles.delete(name, actor="root")
    with pytest.raises(RoleNotFoundError):
        roles.update("ghost", permissions=[], actor="root")
    with pytest.raises(RoleNotFoundError):
        roles.delete("ghost", actor="root")
    assert stored(meta) == before


BAD_PERMISSIONS: list[Any] = [["pivot.veiw"], [PIVOT_VIEW, "admin.everything"], PIVOT_VIEW, None, 5, [None], [1],
                              ["' or 1=1 --"], ["x" * 10_000]]


def test_permissions_outside_the_catalogue_and_bad_descriptions_are_refused(roles: Roles, meta: MetaStore) -> None:
    roles.create("taken", [], "", "root")
    before = stored(meta)
    for permissions in BAD_PERMISSIONS:
        with pytest.raises(InvalidRoleError, match="permissions"):
            roles.create("newrole", permissions, "", "root")
        if permissions is not None:  # None leaves the permissions as they are
            with pytest.raises(InvalidRoleError, match="permissions"):
                roles.update("taken", permissions=permissions, actor="root")
    for description in ["x" * 201, "bell\x07", 5, ["d"]]:
        with pytest.raises(InvalidRoleError, match="description"):
            roles.create("newrole", [], description, "root")
    assert stored(meta) == before
