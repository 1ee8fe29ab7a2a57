"""The single sign-on seam: an external identity signs in only as an existing, enabled user."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.access.accounts import Accounts, SignInError
from backend.access.audit import Audit
from backend.access.identity import ExternalIdentity, principal_for
from backend.access.principal import DataScope
from backend.access.roles import Roles
from backend.config import load_settings
from backend.meta import open_meta


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    settings = load_settings(data_dir=tmp_path, auth="on")
    meta = open_meta(settings.meta_database_url)
    audit = Audit(meta)
    return Accounts(meta, settings.access, Roles(meta, audit), audit)


def _identity(user_id: object) -> ExternalIdentity:
    return ExternalIdentity(issuer="https://idp.example", subject="0001", user_id=user_id)  # type: ignore[arg-type]


def test_an_identity_signs_in_as_the_user_with_their_roles_and_scope(accounts: Accounts) -> None:
    scope = DataScope(desks=frozenset({"Rates"}))
    accounts.create_user("ana", password="a long enough passphrase 42", roles=("analyst",), scope=scope, actor="adm")
    accounts.change_password("ana", "a long enough passphrase 42", "her own passphrase, 2026")  # set by an admin
    principal = principal_for(accounts, _identity("Ana"))  # ids are compared as Deskboard cleans them
    assert principal.id == "ana" and principal.scope == scope and "pivot.export" in principal.permissions


@pytest.mark.parametrize("user_id", ["stranger", "", "x" * 5000, "ana; DROP TABLE users", None, 7, "ana\x00"])
def test_strangers_disabled_users_and_garbage_sign_in_nobody(accounts: Accounts, user_id: object) -> None:
    with pytest.raises(SignInError):
        principal_for(accounts, _identity(user_id))


def test_a_disabled_user_signs_in_by_no_provider(accounts: Accounts) -> None:
    accounts.create_user("ana", password="a long enough passphrase 42", actor="adm")
    accounts.create_user("root", password="another long passphrase 7", roles=("admin",), actor="adm")
    accounts.set_disabled("ana", True, actor="root")
    with pytest.raises(SignInError):
        principal_for(accounts, _identity("ana"))
