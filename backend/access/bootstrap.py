"""The first admin: on a store where nobody can sign in yet, user ``admin`` is created without
a password, and a one-time link signs them in (the server prints it at start, the way
Jupyter prints its token URL). They set a password first; until then they hold only
``account.self``. A later start prints a fresh link while the admin still has no password
and no live link, so a lost or expired link never locks everyone out.
"""

from __future__ import annotations

import logging
from typing import Final

from backend.access.accounts import AccountExistsError, AccountNotFoundError, Accounts

FIRST_ADMIN: Final = "admin"
LINK_MINUTES: Final = 24 * 60
SYSTEM_ACTOR: Final = "system"

log = logging.getLogger(__name__)


def sign_in_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/signin/link/{token}"


def ensure_first_admin(accounts: Accounts, *, base_url: str) -> str | None:
    """The URL that signs the first admin in, when one is needed; None otherwise (access control
    off, an admin with a password, a live link already issued, or another process doing it)."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError("base_url: expected the server's address, such as http://127.0.0.1:8050")
    if accounts.settings.auth != "on":
        return None
    if not accounts.has_credentials():
        try:
            accounts.create_user(FIRST_ADMIN, display_name="Administrator", roles=["admin"], actor=SYSTEM_ACTOR)
        except AccountExistsError:
            # Another process started at the same moment created it and issues the link.
            return None
        token = accounts.issue_sign_in_link_unless_live(FIRST_ADMIN, actor=SYSTEM_ACTOR, minutes=LINK_MINUTES)
        return None if token is None else sign_in_url(base_url, token)
    try:
        admin = accounts.get(FIRST_ADMIN)
    except AccountNotFoundError:  # no user "admin": other admins run this server
        return None
    if admin.has_password or admin.disabled:
        return None
    token = accounts.issue_sign_in_link_unless_live(FIRST_ADMIN, actor=SYSTEM_ACTOR, minutes=LINK_MINUTES)
    if token is None:
        log.info("the first admin's sign-in link printed earlier is still valid "
                 "(python -m backend.access signin-link admin prints a new one)")
        return None
    return sign_in_url(base_url, token)
