"""A page that ships behind a feature flag: its content and its header link appear only for the
principals the flag is on for — a user it targets, a role, the rollout — with sign-in on and off;
a flag that does not exist or is disabled keeps the page away; pages without a flag are untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.access import policy
from backend.access.flags import FLAGS_KEY
from backend.warehouse import Warehouse
from tests.backend.access.guard_support import (
    build_app,
    callback_body,
    is_refused,
    own_client,
    passed,
    post_callback,
    sign_in,
)
from tests.backend.access.test_admin_pages_guard import _hrefs

PAGE, FLAG = "/market", "market.page"


@pytest.fixture
def flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(policy.PAGE_FLAGS, PAGE, FLAG)


def _app(tmp_path: Path, warehouse_url: str, wh: Warehouse, auth: str):
    app = build_app(tmp_path / "data", warehouse_url, wh.database, auth=auth)
    if auth == "on":
        accounts = app.server.extensions["deskboard.access"].accounts
        for user, role in (("tina", "trader"), ("ted", "trader"), ("vic", "viewer")):
            accounts.create_user(user, password="a long enough passphrase 42", roles=(role,), actor=user)
    return app


def _content(app, client, path: str) -> Any:
    key = next(k for k in app.callback_map if "_pages_content" in k)
    return post_callback(client, callback_body(app.callback_map[key], key, pathname=path))


def _nav(client) -> set[str]:
    answer = client.get("/_dash-layout")
    assert answer.status_code == 200
    return {h for h in _hrefs(answer.get_data(as_text=True)) if h in ("/", "/pivot", "/board", "/market")}


def _not_available(answer) -> bool:
    return answer.status_code == 200 and is_refused(answer) and "Not available yet" in answer.get_data(as_text=True)


def test_with_sign_in_on_the_page_shows_only_where_its_flag_is_on(flagged, tmp_path: Path, warehouse_url: str,
                                                                     loaded_warehouse: Warehouse) -> None:
    app = _app(tmp_path, warehouse_url, loaded_warehouse, "on")
    flags = app.server.extensions[FLAGS_KEY]
    clients = {}
    for user in ("tina", "ted", "vic"):
        clients[user] = own_client(app)
        sign_in(clients[user], user)
    # no such flag yet: off for everyone, page and header link alike; other pages unchanged
    for user in ("tina", "ted"):
        assert _not_available(_content(app, clients[user], PAGE)), user
        assert passed(_content(app, clients[user], "/board")), user
        assert PAGE not in _nav(clients[user]) and "/board" in _nav(clients[user])
    flag = flags.create(FLAG, enabled=True, rollout=0, users=("tina",), actor="admin")
    assert passed(_content(app, clients["tina"], PAGE)) and PAGE in _nav(clients["tina"])
    assert _not_available(_content(app, clients["ted"], PAGE)) and PAGE not in _nav(clients["ted"])
    # the whole trader role at 100%: ted too; a viewer (who may see the market) is not targeted
    flag = flags.update(FLAG, flag.version, actor="admin", roles=("trader",), rollout=100)
    assert passed(_content(app, clients["ted"], PAGE)) and PAGE in _nav(clients["ted"])
    assert _not_available(_content(app, clients["vic"], PAGE)) and PAGE not in _nav(clients["vic"])
    # switched off: gone again for everyone, the user it names included
    flags.update(FLAG, flag.version, actor="admin", enabled=False)
    for user in ("tina", "ted"):
        assert _not_available(_content(app, clients[user], PAGE)), user
        assert PAGE not in _nav(clients[user])


def test_with_sign_in_off_the_local_user_gets_the_page_once_its_flag_is_on(
        flagged, tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse) -> None:
    app = _app(tmp_path, warehouse_url, loaded_warehouse, "off")
    client = own_client(app)
    assert PAGE not in _nav(client) and "/board" in _nav(client)
    assert _not_available(_content(app, client, PAGE))
    assert passed(_content(app, client, "/board"))
    app.server.extensions[FLAGS_KEY].create(FLAG, enabled=True, rollout=100, actor="local")
    assert passed(_content(app, client, PAGE))
    assert PAGE in _nav(client)

