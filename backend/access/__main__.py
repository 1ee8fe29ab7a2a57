"""Access administration from the server's shell, for when nobody can sign in through the page.

    python -m backend.access signin-link admin             # a one-time sign-in link for user "admin"
    python -m backend.access signin-link ana --minutes 30

Uses the same settings (``DESKBOARD_*``) and records store as the server. The link is printed
once; a new one voids the user's older unused sign-in links.
"""

from __future__ import annotations

import argparse
import sys

from backend.access.accounts import AccountError, Accounts
from backend.access.audit import Audit
from backend.access.bootstrap import sign_in_url
from backend.access.roles import Roles
from backend.config import SettingsError, load_settings
from backend.meta import MetaError, open_meta

CLI_ACTOR = "cli"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.access", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    link = sub.add_parser("signin-link", help="print a one-time sign-in link for a user")
    link.add_argument("user", help="the user's id (e.g. admin)")
    link.add_argument("--minutes", type=float, default=60.0, help="how long the link stays valid (default 60)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if settings.access.auth != "on":
            print("sign-in is off (DESKBOARD_AUTH=off): nobody needs a link", file=sys.stderr)
            return 2
        meta = open_meta(settings.meta_database_url)
        audit = Audit(meta)
        accounts = Accounts(meta, settings.access, Roles(meta, audit), audit)
        token = accounts.issue_sign_in_link(args.user, actor=CLI_ACTOR, minutes=args.minutes)
    except (SettingsError, MetaError, AccountError) as exc:
        print(f"no link: {exc}", file=sys.stderr)
        return 2
    print(sign_in_url(f"http://{settings.host}:{settings.port}", token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
