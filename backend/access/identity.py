"""Where single sign-on plugs in.

Deskboard signs people in with its own passwords (``Accounts.authenticate``). An external
identity provider — OpenID Connect (Keycloak, Entra ID, Okta, Google) — would plug in here:
its routes (a redirect to the provider, and a callback that receives the code) verify the
provider's ID token, name the Deskboard user it stands for, and start the same session a
password does (``Sessions.sign_in``). Roles and data scopes stay in Deskboard's records, so
the one check decides what the person sees however they signed in.

No provider ships today: none can be reached from the machines this is built and tested on,
and an untested sign-in path is worse than none. ``IdentityProvider`` is the contract one
must meet; ``principal_for`` is the one step every provider shares, and is tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from backend.access.accounts import AccountError, Accounts, SignInError, clean_user_id
from backend.access.principal import Principal


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the provider says signed in: its issuer, the subject it vouches for, and the
    Deskboard user id that subject maps to (by a claim the provider is configured with)."""

    issuer: str
    subject: str
    user_id: str


class IdentityProvider(Protocol):
    name: str  # shown on the sign-in page ("Sign in with <name>")

    def begin(self, next_path: str) -> str:
        """The provider's URL to send the browser to (state and nonce kept in the session)."""
        ...

    def complete(self, query: dict[str, str]) -> ExternalIdentity:
        """Check the callback (state, nonce, the ID token's signature, audience, expiry) and
        say who signed in; raise ``SignInError`` for anything that does not check out."""
        ...


def principal_for(accounts: Accounts, identity: ExternalIdentity) -> Principal:
    """The Deskboard principal an external identity signs in as: an existing, enabled user only.

    Users are never created by a provider's say-so — an administrator creates them and gives
    them roles and a scope — so a provider that vouches for a stranger signs nobody in.
    """
    try:
        user_id = clean_user_id(identity.user_id)
    except AccountError:
        raise SignInError("this identity is not a Deskboard user") from None
    principal = accounts.principal(user_id)
    if principal is None:
        raise SignInError("this identity is not a Deskboard user")
    return principal
