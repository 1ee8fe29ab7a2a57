"""The feature-flag and signed-link REST endpoints: status codes, bodies, refusals, and the OpenAPI document.

The app here is a bare Flask app with the blueprint and the two services; the caller is set per
request from a test header, standing in for the access check that puts the principal on ``g``.
Answers are checked against the OpenAPI document that an app with every API blueprint serves
(made in a fresh process: spectree builds its document once per process).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask, request

from backend.access.current import set_current_principal
from backend.access.flags import Flags
from backend.access.links import Links
from backend.access.permissions import ALL, BUILT_IN_ROLES
from backend.access.principal import DataScope, Principal
from backend.api.flags import access_api, install_access_services
from backend.meta import open_meta
from tests.backend.access.flag_link_support import AuditLog

ROOT = Path(__file__).resolve().parents[3]
SECRET = "api-test-secret"
MAX_DAYS = 30
SCOPE_ANA = DataScope(desks=frozenset({"Alpha"}))
PRINCIPALS = {
    "admin": Principal(id="root", roles=frozenset({"admin"}), permissions=ALL),
    "ana": Principal(id="ana", roles=frozenset({"analyst"}), permissions=BUILT_IN_ROLES["analyst"], scope=SCOPE_ANA),
    "bob": Principal(id="bob", roles=frozenset({"trader"}), permissions=BUILT_IN_ROLES["trader"]),
    "viewer": Principal(id="vic", roles=frozenset({"viewer"}), permissions=BUILT_IN_ROLES["viewer"]),
    "link": Principal(id="link:" + "a" * 32, permissions=frozenset({"pivot.view"}), via="link", link_path="/pivot"),
}
HOSTILE_SEGMENTS = ["%3Cscript%3E", "x" * 5000, "%27%3B%20DROP", "%00", "-1", "0", "1e5", "%E2%80%AE", "A", "%2E%2E"]

_DOCUMENT_SCRIPT = """
import json
import re
from flask import Flask
from backend.api import register_api
app = Flask("doc")
register_api(app)
print(json.dumps(app.test_client().get("/api/v1/openapi.json").get_json()))
"""


@pytest.fixture(scope="module")
def doc() -> dict:
    out = subprocess.run([sys.executable, "-c", _DOCUMENT_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return json.loads(out)


@pytest.fixture
def audit() -> AuditLog:
    return AuditLog()


@pytest.fixture
def accounts() -> dict[str, tuple[bool, DataScope]]:
    return {p.id: (True, p.scope) for p in PRINCIPALS.values() if p.via != "link"}


@pytest.fixture
def app(tmp_path: Path, audit: AuditLog, accounts: dict) -> Flask:
    server = Flask(__name__)
    server.register_blueprint(access_api)
    meta = open_meta(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    install_access_services(server, flags=Flags(meta, audit=audit),
                            links=Links(meta, SECRET, maker_state=accounts.get, max_days=MAX_DAYS, audit=audit))

    @server.before_request
    def _caller() -> None:
        who = request.headers.get("X-Test-As")
        if who:
            set_current_principal(PRINCIPALS[who])

    return server


@pytest.fixture
def client(app: Flask):
    return app.test_client()


def call(client, method: str, url: str, who: str = "admin", **kwargs: Any):
    return client.open(url, method=method, headers={"X-Test-As": who}, **kwargs)


def error(resp, status: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.is_json
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"].strip()
    for word in ("SELECT", "Traceback", "INSERT", "sqlalchemy"):
        assert word not in body["error"]
    return body["error"]


def fits(doc: dict, path: str, method: str, resp) -> None:
    """The status is documented for the operation and the JSON body fits its schema."""
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(resp.status_code) in responses, (path, method, resp.status_code)
    content = responses[str(resp.status_code)].get("content")
    if content is not None:
        schema = {**content["application/json"]["schema"], "components": doc["components"]}
        jsonschema.Draft202012Validator(schema).validate(resp.get_json())


# -- flags --------------------------------------------------------------------------------------
def test_a_flag_through_its_routes(client, doc: dict, audit: AuditLog) -> None:
    body = {"key": "new.grid", "description": "The new grid", "enabled": True, "rollout": 0, "roles": ["trader"],
            "users": ["ana"]}
    created = call(client, "POST", "/api/v1/flags", json=body)
    assert created.status_code == 201 and created.headers["Location"] == "/api/v1/flags/new.grid"
    fits(doc, "/api/v1/flags", "post", created)
    assert created.get_json()["version"] == 1 and created.get_json()["updated_by"] == "root"
    listed = call(client, "GET", "/api/v1/flags")
    fits(doc, "/api/v1/flags", "get", listed)
    assert [f["key"] for f in listed.get_json()["flags"]] == ["new.grid"]
    one = call(client, "GET", "/api/v1/flags/new.grid")
    fits(doc, "/api/v1/flags/{key}", "get", one)
    assert one.get_json() == created.get_json()

    check = call(client, "GET", "/api/v1/flags/new.grid/check", "ana")
    fits(doc, "/api/v1/flags/{key}/check", "get", check)
    assert check.get_json() == {"key": "new.grid", "on": True}  # listed by name
    assert call(client, "GET", "/api/v1/flags/new.grid/check", "bob").get_json()["on"] is False  # rollout 0
    assert call(client, "GET", "/api/v1/flags/no.such/check", "viewer").get_json() == {"key": "no.such", "on": False}

    patched = call(client, "PATCH", "/api/v1/flags/new.grid", json={"version": 1, "rollout": 100})
    fits(doc, "/api/v1/flags/{key}", "patch", patched)
    assert patched.get_json()["rollout"] == 100 and patched.get_json()["version"] == 2
    assert patched.get_json()["roles"] == ["trader"]  # fields not sent stay as they were
    assert call(client, "GET", "/api/v1/flags/new.grid/check", "bob").get_json()["on"] is True
    assert call(client, "GET", "/api/v1/flags/new.grid/check", "viewer").get_json()["on"] is False

    stale = call(client, "PATCH", "/api/v1/flags/new.grid", json={"version": 1, "enabled": False})
    fits(doc, "/api/v1/flags/{key}", "patch", stale)
    assert "now version 2" in error(stale, 409)
    assert "now version 2" in error(call(client, "DELETE", "/api/v1/flags/new.grid?version=1"), 409)
    deleted = call(client, "DELETE", "/api/v1/flags/new.grid?version=2")
    fits(doc, "/api/v1/flags/{key}", "delete", deleted)
    assert deleted.get_json()["deleted"]["key"] == "new.grid"
    missing = call(client, "GET", "/api/v1/flags/new.grid")
    fits(doc, "/api/v1/flags/{key}", "get", missing)
    assert "no flag 'new.grid'" in error(missing, 404)
    error(call(client, "PATCH", "/api/v1/flags/new.grid", json={"version": 2, "enabled": True}), 404)
    error(call(client, "DELETE", "/api/v1/flags/new.grid"), 404)
    assert audit.actions() == [("root", "flag.create", "new.grid"), ("root", "flag.update", "new.grid"),
                               ("root", "flag.delete", "new.grid")]


def test_a_duplicate_flag_is_a_conflict(client) -> None:
    assert call(client, "POST", "/api/v1/flags", json={"key": "dup"}).status_code == 201
    assert "already exists" in error(call(client, "POST", "/api/v1/flags", json={"key": "dup", "enabled": True}), 409)


@pytest.mark.parametrize(("body", "field"), [
    ({}, "key"), ({"key": "Bad Key"}, "key"), ({"key": "a"}, "key"), ({"key": "x" * 65}, "key"),
    ({"key": "<script>"}, "key"), ({"key": 5}, "key"), ({"key": None}, "key"), ({"key": ["ab"]}, "key"),
    ({"key": "ok", "rollout": 101}, "rollout"), ({"key": "ok", "rollout": -1}, "rollout"),
    ({"key": "ok", "rollout": 50.5}, "rollout"), ({"key": "ok", "rollout": "50"}, "rollout"),
    ({"key": "ok", "rollout": True}, "rollout"), ({"key": "ok", "enabled": "true"}, "enabled"),
    ({"key": "ok", "enabled": 1}, "enabled"), ({"key": "ok", "roles": "trader"}, "roles"),
    ({"key": "ok", "roles": [f"r{i}" for i in range(201)]}, "roles"), ({"key": "ok", "roles": ["x" * 65]}, "roles"),
    ({"key": "ok", "roles": ["<b>"]}, "roles"), ({"key": "ok", "users": [{"$ne": 1}]}, "users"),
    ({"key": "ok", "users": ["a\nb"]}, "users"), ({"key": "ok", "description": "d" * 501}, "description"),
    ({"key": "ok", "description": "a\u0000b"}, "description"), ({"key": "ok", "zz_unknown": 1}, "zz_unknown"),
    ({"key": "ok", "version": 3}, "version"),
])
def test_bad_flag_bodies_are_refused_naming_the_field(client, audit: AuditLog, body: dict, field: str) -> None:
    message = error(call(client, "POST", "/api/v1/flags", json=body), 400)
    assert re.search(rf"(^|; ){field}(\.\d+)?: ", message), message
    assert "<script>" not in message and "DROP" not in message
    assert call(client, "GET", "/api/v1/flags").get_json() == {"flags": []} and audit.entries == []


@pytest.mark.parametrize(("body", "message"), [
    ({}, "version: "), ({"enabled": True}, "version: "), ({"version": 1}, "give at least one"),
    ({"version": "1", "enabled": True}, "version: "), ({"version": 0, "enabled": True}, "version: "),
    ({"version": 1, "description": None}, "description: give a value or leave the field out"),
    ({"version": 1, "roles": None}, "roles: give a value"), ({"version": 1, "key": "other"}, "key: unknown field"),
    ({"version": 1, "rollout": 1000}, "rollout: "), ({"version": 1, "updated_by": "me"}, "updated_by: unknown"),
])
def test_bad_changes_are_refused_and_the_flag_is_unchanged(client, body: dict, message: str) -> None:
    before = call(client, "POST", "/api/v1/flags", json={"key": "kept", "enabled": True}).get_json()
    assert message in error(call(client, "PATCH", "/api/v1/flags/kept", json=body), 400)
    assert call(client, "GET", "/api/v1/flags/kept").get_json() == before


def test_oversized_malformed_and_chunked_bodies_are_refused(client) -> None:
    big = {"key": "big", "description": "d" * 70_000}
    assert "larger than 65,536 bytes" in error(call(client, "POST", "/api/v1/flags", json=big), 413)
    assert "larger than" in error(call(client, "PATCH", "/api/v1/flags/big", json={"version": 1, **big}), 413)
    huge_list = {"key": "big", "users": ["u" * 60] * 2_000}
    error(call(client, "POST", "/api/v1/flags", json=huge_list), 413)
    error(call(client, "POST", "/api/v1/flags", data=b"{not json", content_type="application/json"), 400)
    error(call(client, "POST", "/api/v1/flags", data=b"[1, 2]", content_type="application/json"), 400)
    error(call(client, "POST", "/api/v1/flags", data=b"", content_type="application/json"), 400)
    error(call(client, "POST", "/api/v1/links", json={"path": "/pivot", "days": 1, "query": "q" * 20_000}), 413)


@pytest.mark.parametrize("segment", HOSTILE_SEGMENTS)
def test_hostile_keys_and_ids_in_the_path_are_refused(client, segment: str) -> None:
    for method, url in [("GET", f"/api/v1/flags/{segment}"), ("DELETE", f"/api/v1/flags/{segment}"),
                        ("GET", f"/api/v1/flags/{segment}/check"), ("DELETE", f"/api/v1/links/{segment}")]:
        message = error(call(client, method, url), 400)
        assert message.startswith(("key: ", "id: ")) and "script" not in message and "xxxxx" not in message
    assert error(call(client, "PATCH", f"/api/v1/flags/{segment}", json={"version": 1, "enabled": True}), 400)


def test_query_parameters_are_checked(client) -> None:
    assert "unknown query parameter" in error(call(client, "GET", "/api/v1/flags?zz=1"), 400)
    call(client, "POST", "/api/v1/flags", json={"key": "q1"})
    for bad in ("abc", "-1", "0", "1e3", "9" * 30, "1&version=1"):
        assert error(call(client, "DELETE", f"/api/v1/flags/q1?version={bad}"), 400).startswith("version: ")
    assert error(call(client, "GET", "/api/v1/links?all=yes"), 400).startswith("all: ")


def test_managing_flags_needs_admin_flags_and_a_link_can_do_none_of_it(client) -> None:
    call(client, "POST", "/api/v1/flags", json={"key": "admin.only", "enabled": True})
    for who in ("ana", "viewer", "link"):
        for method, url, body in [("GET", "/api/v1/flags", None), ("POST", "/api/v1/flags", {"key": "mine"}),
                                  ("GET", "/api/v1/flags/admin.only", None),
                                  ("PATCH", "/api/v1/flags/admin.only", {"version": 1, "enabled": False}),
                                  ("DELETE", "/api/v1/flags/admin.only", None)]:
            error(call(client, method, url, who, json=body), 403)
    assert call(client, "GET", "/api/v1/flags/admin.only", "admin").get_json()["version"] == 1
    assert call(client, "GET", "/api/v1/flags/admin.only/check", "viewer").get_json()["on"] is True


# -- links --------------------------------------------------------------------------------------
def test_a_link_through_its_routes(app: Flask, client, doc: dict, audit: AuditLog) -> None:
    body = {"path": "/pivot", "query": "?rows=desk&m=pnl", "days": 7, "label": "Wall"}
    created = call(client, "POST", "/api/v1/links", "ana", json=body)
    fits(doc, "/api/v1/links", "post", created)
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    made = created.get_json()
    link = made["link"]
    assert made["url"].startswith("/l/") and link["maker"] == "ana" and link["status"] == "active"
    assert link["href"] == "/pivot?rows=desk&m=pnl" and link["scope"] == SCOPE_ANA.as_dict()
    principal = app.extensions["deskboard.links"].resolve(made["url"].removeprefix("/l/"))
    assert principal.scope == SCOPE_ANA and principal.permissions == frozenset({"pivot.view"})

    listed = call(client, "GET", "/api/v1/links", "ana")
    fits(doc, "/api/v1/links", "get", listed)
    assert [item["id"] for item in listed.get_json()["links"]] == [link["id"]]
    assert "url" not in json.dumps(listed.get_json()) and made["url"][3:] not in json.dumps(listed.get_json())

    revoked = call(client, "DELETE", f"/api/v1/links/{link['id']}", "ana")
    fits(doc, "/api/v1/links/{link_id}", "delete", revoked)
    assert revoked.get_json()["status"] == "revoked"
    missing = call(client, "DELETE", "/api/v1/links/" + "f" * 32, "ana")
    fits(doc, "/api/v1/links/{link_id}", "delete", missing)
    error(missing, 404)
    assert audit.actions() == [("ana", "link.create", link["id"]), ("ana", "link.revoke", link["id"])]


def test_only_the_maker_or_an_admin_revokes_a_link_and_only_admins_list_everyones(client) -> None:
    bobs = call(client, "POST", "/api/v1/links", "bob", json={"path": "/board", "days": 3}).get_json()["link"]
    anas = call(client, "POST", "/api/v1/links", "ana", json={"path": "/", "days": 3}).get_json()["link"]
    assert "someone else's" in error(call(client, "DELETE", f"/api/v1/links/{bobs['id']}", "ana"), 403)
    assert [i["status"] for i in call(client, "GET", "/api/v1/links", "bob").get_json()["links"]] == ["active"]
    assert [i["id"] for i in call(client, "GET", "/api/v1/links", "ana").get_json()["links"]] == [anas["id"]]
    assert "admin.links" in error(call(client, "GET", "/api/v1/links?all=1", "ana"), 403)
    everyone = call(client, "GET", "/api/v1/links?all=1", "admin").get_json()["links"]
    assert {i["id"] for i in everyone} == {anas["id"], bobs["id"]}
    assert call(client, "DELETE", f"/api/v1/links/{bobs['id']}", "admin").get_json()["status"] == "revoked"
    assert call(client, "GET", "/api/v1/links", "bob").get_json()["links"][0]["status"] == "revoked"


def test_a_dead_makers_links_are_listed_as_dead(client, accounts: dict) -> None:
    call(client, "POST", "/api/v1/links", "ana", json={"path": "/pivot", "days": 3})
    accounts["ana"] = (True, DataScope(desks=frozenset()))
    assert call(client, "GET", "/api/v1/links", "ana").get_json()["links"][0]["status"] == "dead"


@pytest.mark.parametrize(("body", "field"), [
    ({"path": "/api/v1/pivot", "days": 1}, "path"), ({"path": "/admin", "days": 1}, "path"),
    ({"path": "//evil.example", "days": 1}, "path"), ({"path": "/pivot/", "days": 1}, "path"),
    ({"days": 1}, "path"), ({"path": "/pivot"}, "days"), ({"path": "/pivot", "days": 0}, "days"),
    ({"path": "/pivot", "days": MAX_DAYS + 1}, "days"), ({"path": "/pivot", "days": 367}, "days"),
    ({"path": "/pivot", "days": 1.5}, "days"), ({"path": "/pivot", "days": "7"}, "days"),
    ({"path": "/pivot", "days": 1, "query": "q" * 2_001}, "query"),
    ({"path": "/pivot", "days": 1, "query": "a=1\r\nSet-Cookie: x=1"}, "query"),
    ({"path": "/pivot", "days": 1, "query": ["a=1"]}, "query"), ({"path": "/pivot", "days": 1, "label": "x" * 121}, "label"),
    ({"path": "/pivot", "days": 1, "label": "a\u0000"}, "label"), ({"path": "/pivot", "days": 1, "scope": {}}, "scope"),
    ({"path": "/pivot", "days": 1, "maker": "root"}, "maker"),
])
def test_bad_link_bodies_are_refused_naming_the_field(client, body: dict, field: str) -> None:
    message = error(call(client, "POST", "/api/v1/links", "ana", json=body), 400)
    assert re.search(rf"(^|; ){field}(\.\d+)?: ", message), message
    assert call(client, "GET", "/api/v1/links", "ana").get_json() == {"links": []}


def test_making_links_needs_links_create_and_a_link_cannot_manage_links(client) -> None:
    assert "links.create" in error(call(client, "POST", "/api/v1/links", "viewer", json={"path": "/", "days": 1}), 403)
    for method, url, body in [("GET", "/api/v1/links", None), ("POST", "/api/v1/links", {"path": "/pivot", "days": 1}),
                              ("DELETE", "/api/v1/links/" + "a" * 32, None)]:
        assert "signed link" in error(call(client, method, url, "link", json=body), 403)


def test_the_maker_may_link_only_pages_they_see(client) -> None:
    PRINCIPALS["nomarket"] = replace(PRINCIPALS["ana"], id="nm", permissions=PRINCIPALS["ana"].permissions
                                     - {"market.view"})
    try:
        message = error(call(client, "POST", "/api/v1/links", "nomarket", json={"path": "/board", "days": 1}), 400)
        assert message.startswith("path: you may not see /board")
    finally:
        del PRINCIPALS["nomarket"]


def test_without_the_services_the_routes_say_so(doc: dict) -> None:
    bare = Flask(__name__)
    bare.register_blueprint(access_api)
    client = bare.test_client()
    resp = client.get("/api/v1/flags/x1/check")
    fits(doc, "/api/v1/flags/{key}/check", "get", resp)
    assert "not set up" in error(resp, 503)
    assert "not set up" in error(client.get("/api/v1/links"), 503)


# -- the document -------------------------------------------------------------------------------
def test_every_route_is_in_the_document_with_its_errors(doc: dict) -> None:
    expected = {("/api/v1/flags", "get"), ("/api/v1/flags", "post"), ("/api/v1/flags/{key}", "get"),
                ("/api/v1/flags/{key}", "patch"), ("/api/v1/flags/{key}", "delete"),
                ("/api/v1/flags/{key}/check", "get"), ("/api/v1/links", "get"), ("/api/v1/links", "post"),
                ("/api/v1/links/{link_id}", "delete")}
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops if "/flags" in p or "/links" in p}
    assert documented == expected
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, method in expected:
        op = doc["paths"][path][method]
        assert op["summary"] and op["tags"] in (["flags"], ["links"])
        for status in ("400", "500", "503"):
            assert op["responses"][status]["content"]["application/json"]["schema"] == error_ref
        if method in ("post", "patch"):
            assert "413" in op["responses"] and "application/json" in op["requestBody"]["content"]
        in_path = {p["name"] for p in op["parameters"] if p["in"] == "path"}
        assert in_path == set(re.findall(r"\{(\w+)\}", path))
    assert {t["name"] for t in doc["tags"]} >= {"flags", "links"}
    assert doc["paths"]["/api/v1/links/{link_id}"]["delete"]["responses"]["403"]
    assert doc["paths"]["/api/v1/flags/{key}"]["patch"]["responses"]["409"]
