"""Feature flags and signed read-only links.

    GET    /api/v1/flags                 every flag, by key (admin.flags)
    POST   /api/v1/flags                 create a flag → 201 (admin.flags)
    GET    /api/v1/flags/<key>           one flag with its version (admin.flags)
    PATCH  /api/v1/flags/<key>           {"version": n, ...changes}; a stale version is a 409 (admin.flags)
    DELETE /api/v1/flags/<key>[?version=n]  delete a flag (admin.flags)
    GET    /api/v1/flags/<key>/check     whether the flag is on for the caller
    GET    /api/v1/links[?all=1]         the caller's signed links (everyone's with admin.links)
    POST   /api/v1/links                 {"path", "query", "days", "label"} → 201 with the URL, shown once
    DELETE /api/v1/links/<id>            revoke a link: one's own, or any with admin.links

The caller is ``current_principal()``; the access check that wraps every route decides who may
call what, and these handlers hold the lines that depend on the record (whose link it is) and
refuse what a signed link's principal must never do.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, url_for
from spectree import Response as Responses
from spectree.models import Tag

from backend.access.current import current_principal
from backend.access.flags import FLAGS_KEY, FlagError, Flags, clean_key
from backend.access.links import LINKS_KEY, LinkError, Links, clean_link_id
from backend.access.permissions import ADMIN_FLAGS, ADMIN_LINKS, LINKS_CREATE
from backend.access.principal import Principal
from backend.api.access_models import (
    FlagCheck,
    FlagCreate,
    FlagDeleted,
    FlagDeleteQuery,
    FlagList,
    FlagModel,
    FlagPatch,
    LinkCreate,
    LinkCreated,
    LinkList,
    LinkListQuery,
    LinkModel,
)
from backend.api.errors import ApiError, install
from backend.api.spec import ErrorBody, Query, spec

access_api = Blueprint("access_api", __name__, url_prefix="/api/v1")
install(access_api)

FLAGS_TAG = Tag(name="flags", description="Feature flags: on/off, rollout percentage, role and user targeting")
LINKS_TAG = Tag(name="links", description="Signed read-only links of one view, for wall screens and embedding")
KEY_DESCRIPTION = {"key": "the flag's key"}
LINK_ID_DESCRIPTION = {"link_id": "the link's id (32 hexadecimal characters)"}
FORBIDDEN = (ErrorBody, "the caller may not do this")
FLAG_NOT_FOUND = (ErrorBody, "no such flag")
LINK_NOT_FOUND = (ErrorBody, "no such link")


def install_access_services(server: Flask, *, flags: Flags | None = None, links: Links | None = None) -> None:
    """Give the server's API its flag and link services (built by the app with its audit log and accounts)."""
    if flags is not None:
        server.extensions[FLAGS_KEY] = flags
    if links is not None:
        server.extensions[LINKS_KEY] = links


def current_flags() -> Flags:
    flags = current_app.extensions.get(FLAGS_KEY)
    if flags is None:
        raise ApiError("feature flags are not set up on this server", 503)
    return flags


def current_links() -> Links:
    links = current_app.extensions.get(LINKS_KEY)
    if links is None:
        raise ApiError("signed links are not set up on this server", 503)
    return links


@access_api.errorhandler(FlagError)
@access_api.errorhandler(LinkError)
def _service_error(exc: FlagError | LinkError) -> tuple[Response, int]:
    return jsonify({"error": str(exc)}), exc.status


def _caller(permission: str | None = None) -> Principal:
    principal = current_principal()
    if principal.via == "link":
        # A link shows one page; it never manages flags or links, whatever it was given.
        raise ApiError("a signed link cannot use this endpoint", 403)
    if permission is not None and not principal.can(permission):
        raise ApiError(f"this needs the {permission} permission", 403)
    return principal


class NoQuery(Query):
    """No query parameters."""


# -- flags ---------------------------------------------------------------------------------
@access_api.get("/flags")
@spec.validate(resp=Responses(HTTP_200=FlagList, HTTP_400=ErrorBody, HTTP_403=FORBIDDEN,
                              HTTP_503=(ErrorBody, "flags are not set up")), tags=[FLAGS_TAG])
def list_flags(query: NoQuery) -> Response:
    """Every feature flag, by key."""
    _caller(ADMIN_FLAGS)
    return jsonify({"flags": [f.public() for f in current_flags().list()]})


@access_api.post("/flags")
@spec.validate(resp=Responses(HTTP_201=(FlagModel, "created; Location names the flag"), HTTP_400=ErrorBody,
                              HTTP_403=FORBIDDEN, HTTP_409=(ErrorBody, "a flag with this key exists"),
                              HTTP_413=ErrorBody, HTTP_503=ErrorBody), tags=[FLAGS_TAG])
def create_flag(json: FlagCreate) -> tuple[Response, int, dict[str, str]]:
    """Create a flag (off unless `enabled` is true; rollout 100 unless given)."""
    actor = _caller(ADMIN_FLAGS).id
    created = current_flags().create(json.key, description=json.description, enabled=json.enabled,
                                     rollout=json.rollout, roles=json.roles, users=json.users, actor=actor)
    return jsonify(created.public()), 201, {"Location": url_for("access_api.get_flag", key=created.key)}


@access_api.get("/flags/<key>")
@spec.validate(resp=Responses(HTTP_200=FlagModel, HTTP_400=ErrorBody, HTTP_403=FORBIDDEN, HTTP_404=FLAG_NOT_FOUND,
                              HTTP_503=ErrorBody), tags=[FLAGS_TAG], path_parameter_descriptions=KEY_DESCRIPTION)
def get_flag(key: str, query: NoQuery) -> Response:
    """One flag with its version."""
    key = clean_key(key)
    _caller(ADMIN_FLAGS)
    return jsonify(current_flags().get(key).public())


@access_api.patch("/flags/<key>")
@spec.validate(resp=Responses(HTTP_200=FlagModel, HTTP_400=ErrorBody, HTTP_403=FORBIDDEN, HTTP_404=FLAG_NOT_FOUND,
                              HTTP_409=(ErrorBody, "the flag changed since that version was read"),
                              HTTP_413=ErrorBody, HTTP_503=ErrorBody),
               tags=[FLAGS_TAG], path_parameter_descriptions=KEY_DESCRIPTION)
def update_flag(key: str, json: FlagPatch) -> Response:
    """Change some fields of a flag; the body carries the version read with it."""
    key = clean_key(key)
    actor = _caller(ADMIN_FLAGS).id
    changes: dict[str, Any] = json.changes()
    return jsonify(current_flags().update(key, json.version, actor=actor, **changes).public())


@access_api.delete("/flags/<key>")
@spec.validate(resp=Responses(HTTP_200=FlagDeleted, HTTP_400=ErrorBody, HTTP_403=FORBIDDEN,
                              HTTP_404=FLAG_NOT_FOUND, HTTP_409=(ErrorBody, "the flag changed since that version"),
                              HTTP_503=ErrorBody), tags=[FLAGS_TAG], path_parameter_descriptions=KEY_DESCRIPTION)
def delete_flag(key: str, query: FlagDeleteQuery) -> Response:
    """Delete a flag (checks that do not find it answer off)."""
    key = clean_key(key)
    actor = _caller(ADMIN_FLAGS).id
    deleted = current_flags().delete(key, actor=actor, version=query.version)
    return jsonify({"deleted": deleted.public()})


@access_api.get("/flags/<key>/check")
@spec.validate(resp=Responses(HTTP_200=FlagCheck, HTTP_400=ErrorBody, HTTP_503=ErrorBody), tags=[FLAGS_TAG],
               path_parameter_descriptions=KEY_DESCRIPTION)
def check_flag(key: str, query: NoQuery) -> Response:
    """Whether the flag is on for the caller."""
    key = clean_key(key)
    return jsonify({"key": key, "on": current_flags().is_on(key, current_principal())})


# -- links ---------------------------------------------------------------------------------
@access_api.get("/links")
@spec.validate(resp=Responses(HTTP_200=LinkList, HTTP_400=ErrorBody, HTTP_403=FORBIDDEN, HTTP_503=ErrorBody),
               tags=[LINKS_TAG])
def list_links(query: LinkListQuery) -> Response:
    """The caller's signed links, newest first, each with its status (everyone's with `all=1`)."""
    caller = _caller(ADMIN_LINKS if query.all else None)
    found = current_links().list(None if query.all else caller.id)
    return jsonify({"links": [link.public() for link in found]})


@access_api.post("/links")
@spec.validate(resp=Responses(HTTP_201=(LinkCreated, "created; the URL is shown only in this answer"),
                              HTTP_400=ErrorBody, HTTP_403=FORBIDDEN, HTTP_413=ErrorBody, HTTP_503=ErrorBody),
               tags=[LINKS_TAG])
def create_link(json: LinkCreate) -> tuple[Response, int, dict[str, str]]:
    """Make a read-only link of one view with the caller's current data scope."""
    maker = _caller(LINKS_CREATE)
    url, info = current_links().create(maker, json.path, json.query, days=json.days, label=json.label)
    # The answer holds the link itself: no cache keeps a copy.
    return jsonify({"url": url, "link": info.public()}), 201, {"Cache-Control": "no-store"}


@access_api.delete("/links/<link_id>")
@spec.validate(resp=Responses(HTTP_200=LinkModel, HTTP_400=ErrorBody, HTTP_403=FORBIDDEN, HTTP_404=LINK_NOT_FOUND,
                              HTTP_503=ErrorBody), tags=[LINKS_TAG], path_parameter_descriptions=LINK_ID_DESCRIPTION)
def revoke_link(link_id: str, query: NoQuery) -> Response:
    """Revoke a link for good: one's own, or anyone's with admin.links."""
    link_id = clean_link_id(link_id)
    caller = _caller()
    links = current_links()
    link = links.get(link_id)
    if link.maker != caller.id and not caller.can(ADMIN_LINKS):
        raise ApiError("this link is someone else's: only its maker or an admin can revoke it", 403)
    return jsonify(links.revoke(link.id, actor=caller.id).public())


__all__ = ["access_api", "current_flags", "current_links", "install_access_services"]
