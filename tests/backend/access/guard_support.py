"""Helpers for the access-check tests: an app with sign-in on, users of every built-in role,
signing in through the form, and a stop placed after the check.

``STOP_HEADER`` makes a hook registered after the access check answer 204: a request that
comes back 204 passed the check, without running the route or callback behind it (some
start jobs or write records). Anything else is the check's answer.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from flask import Response, request
from flask.testing import FlaskClient

from backend.access.guard import REFUSED_HEADER
from backend.access.install import EXTENSION_KEY, Access
from backend.access.permissions import BUILT_IN_ROLES
from backend.config import load_settings

PASSWORD = "a long enough passphrase 42"
STOP_HEADER = "X-Test-Stop-After-Access"
ROLES = tuple(BUILT_IN_ROLES)
# Sample values for URL rule arguments, by argument name.
SAMPLES = {"filename": "x.css", "package_name": "dash", "fingerprinted_path": "x.js", "path": "nothing-here",
           "alert_id": "a1", "job_id": "1", "token": "x", "key": "k", "link_id": "0" * 32, "name": "x.js",
           "rest": "x", "pid": 1, "oid": 1, "symbol": "FPT", "sid": 1}


def build_app(data_dir: Path, warehouse_url: str, database: str, *, auth: str = "on", **overrides: Any):
    from app import create_app

    settings = load_settings(data_dir=data_dir, warehouse_dsn=warehouse_url, warehouse_database=database,
                             demo_rows=0, auth=auth, **overrides)
    app = create_app(settings, market=False)

    @app.server.before_request
    def stop_after_access_check() -> Response | None:
        if request.headers.get(STOP_HEADER):
            return Response(status=204)
        return None

    return app


def services(app) -> Access:
    return app.server.extensions[EXTENSION_KEY]


def user_of(role: str) -> str:
    return f"{role}-user"


def make_users(app) -> dict[str, str]:
    """One user per built-in role (who chose their own password, so none must change it)."""
    accounts = services(app).accounts
    for role in ROLES:
        accounts.create_user(user_of(role), password=PASSWORD, roles=(role,), actor=user_of(role))
    return {role: user_of(role) for role in ROLES}


def form_csrf(client: FlaskClient, path: str = "/signin") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, f"no CSRF field on {path}: {page.status_code}"
    return match.group(1)


def sign_in(client: FlaskClient, user: str, password: str = PASSWORD, next_: str = "/", **kwargs: Any):
    token = form_csrf(client)
    return client.post("/signin", data={"user": user, "password": password, "csrf_token": token, "next": next_},
                       **kwargs)


def cookie_csrf(client: FlaskClient) -> str:
    cookie = client.get_cookie("_csrf_token")
    return cookie.value if cookie is not None else ""


def is_refused(response) -> bool:
    return response.headers.get(REFUSED_HEADER) == "refused"


def passed(response) -> bool:
    return response.status_code == 204 and not is_refused(response)


def callback_body(entry: dict[str, Any], key: str, pathname: str | None = None) -> dict[str, Any]:
    """A minimal callback request naming ``key`` (plus the page-content callback's pathname)."""
    inputs = []
    if pathname is not None:
        inputs = [{"id": "_pages_location", "property": "pathname", "value": pathname},
                  {"id": "_pages_location", "property": "search", "value": ""}]
    return {"output": key, "outputs": [], "inputs": inputs, "state": [], "changedPropIds": []}


def post_callback(client: FlaskClient, body: dict[str, Any], *, stop: bool = True, csrf: bool = True):
    headers = {}
    if stop:
        headers[STOP_HEADER] = "1"
    if csrf:
        headers["X-CSRFToken"] = cookie_csrf(client)
    return client.post("/_dash-update-component", json=body, headers=headers)


# Rate limits count per client address: each test client comes from an address of its own.
_ADDRESSES = (f"10.20.{i // 250}.{i % 250 + 1}" for i in itertools.count())


def new_address() -> str:
    return next(_ADDRESSES)


def own_client(app) -> FlaskClient:
    """A browser of its own, from an address of its own."""
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = new_address()
    return client
