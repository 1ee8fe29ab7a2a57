"""The REST API's one validation and documentation layer: spectree over pydantic models.

Every route declares its query, body and responses as pydantic models with
``@spec.validate(...)``; the same models check each request and make the OpenAPI
document, so the document cannot drift from what the server accepts.

Why spectree: Dash builds its own Flask server, and spectree attaches to an existing
Flask app (``spec.register(server)``) with ``mode="strict"`` keeping Dash's own routes
(``/_dash-*``, page routes) out of the document. flask-openapi3 needs the app to be
built on its ``OpenAPI`` Flask subclass, i.e. Dash constructed around a server of its
making, which would move API concerns into the app's construction; APIFlask loads its
documentation pages from a CDN by default. The docs page's scripts come from the
``offapi`` package (spectree's ``offline`` extra) and are served by this server, so the
page works with no network.

What this module adds to spectree's Flask plugin:

- request bodies are read as JSON whatever the content type, with a size limit per
  model and clear messages for empty, malformed or non-object bodies (spectree would
  read malformed JSON as ``{}``);
- query strings: unknown names, repeated names and oversized values are refused before
  the model sees them; an empty value is the same as leaving the parameter out;
- every refusal is a 4xx with the API's error body ``{"error": "..."}`` naming the
  field (``backend.validation.describe_validation``), never spectree's 422 list;
- response models document the answers only: the view's response goes out as it is
  (streams and files untouched, no 500 for an answer the document describes loosely);
  tests check real answers against the served document instead;
- the document is served at ``/api/v1/openapi.json`` and Swagger UI at ``/api/v1/docs``, its
  files (from ``offapi``) under ``/api/v1/docs/`` with long caching, no inline script.
"""

from __future__ import annotations

import json
import re
import threading
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar

import orjson
from flask import Flask, Response, make_response, request, send_file
from offapi.__version__ import __version__ as offapi_version
from pydantic import BaseModel, ConfigDict, ValidationError
from spectree import SpecTree
from spectree.models import Tag
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin
from spectree.utils import is_list_item
from werkzeug.exceptions import NotFound

from backend.api.errors import ApiError
from backend.validation import describe_validation, safe_name

SPEC_URL = "/api/v1/openapi.json"
DOCS_URL = "/api/v1/docs"
# Endpoints of the document itself, named so spectree's route scan skips them.
DOC_ENDPOINTS = ("openapi_document", "openapi_docs_page", "openapi_docs_asset")
MAX_PARAM_CHARS = 4_000
MAX_QUERY_CHARS = 32_768
DEFAULT_BODY_BYTES = 1_000_000


TAGS = {
    "pivot": Tag(name="pivot", description="Pivot, exposure and P&L over the trades, with ETF/ETC look-through; "
                                           "instruments and fund constituents"),
    "trades": Tag(name="trades", description="The trades behind a pivot view or cell: pages and the CSV export"),
    "jobs": Tag(name="jobs", description="Long work in the background: start, watch, cancel, download"),
    "market": Tag(name="market", description="The live Vietnamese market: board, feed status, summary, "
                                             "history and alerts"),
    "health": Tag(name="health", description="Each store reachable, and the data version"),
}


class ErrorBody(BaseModel):
    """Every refusal and failure: one line naming the problem (and the field), never SQL."""

    error: str


class Query(BaseModel):
    """Query parameters: every name declared, each given at most once (list fields may repeat)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # Market routes name an unknown parameter back (its plain characters, cut to 40); the
    # rest name it only when it looks like a parameter name.
    echo_unknown: ClassVar[bool] = False


class ViewQuery(BaseModel):
    """A pivot page's query string, read leniently by the page's own parser (what it ignores is
    counted in a response header), so the page's export link is its own URL pointed here."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Body(BaseModel):
    """A JSON object body: no unknown fields, at most ``max_body_bytes``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: ClassVar[int] = DEFAULT_BODY_BYTES
    # True: an empty body is the same as ``{}``.
    body_optional: ClassVar[bool] = False


def body_limit(model: type[BaseModel]) -> int:
    """The largest body a route with this body model reads (models from elsewhere: 1,000,000)."""
    return getattr(model, "max_body_bytes", DEFAULT_BODY_BYTES)


def read_json_object(max_bytes: int, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object, or an ApiError saying what is wrong with it."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(f"request body is larger than {max_bytes:,} bytes", 413)
    raw = _read_at_most(max_bytes + 1) if request.content_length is None else request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise ApiError(f"request body is larger than {max_bytes:,} bytes", 413)
    if not raw.strip():
        if optional:
            return {}
        raise ApiError("request body is empty: send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"request body is not valid JSON ({exc.args[0].split(':')[0]})") from None
    if not isinstance(body, dict):
        raise ApiError("request body must be a JSON object")
    return body


def _read_at_most(limit: int) -> bytes:
    # A body without Content-Length (chunked) is read only up to one byte past the limit,
    # so it cannot make the server hold more; a read may return less than asked: loop.
    chunks, size = [], 0
    while size < limit:
        chunk = request.stream.read(min(65_536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _query_items(model: type[BaseModel]) -> dict[str, Any]:
    args = request.args
    if len(request.query_string) > MAX_QUERY_CHARS:
        raise ApiError(f"the query string is longer than {MAX_QUERY_CHARS:,} characters", 414)
    if issubclass(model, ViewQuery):
        return {}  # documented; read by the page's parser in the view
    fields = {(f.alias or name): name for name, f in model.model_fields.items()}
    unknown = [k for k in args if k not in fields]
    if unknown:
        allowed = f"use {', '.join(sorted(fields))}" if fields else "this endpoint takes no query parameters"
        if getattr(model, "echo_unknown", False):
            # Only the name's letters, digits and . _ - are named back: never markup or quotes.
            shown = re.sub(r"[^A-Za-z0-9_.-]", "", unknown[0])[:40] or "<unnamed>"
            raise ApiError(f"unknown query parameter '{shown}'; {allowed}")
        raise ApiError(f"{safe_name(unknown[0])}: unknown query parameter ({allowed})")
    items: dict[str, Any] = {}
    for key in args:
        values = args.getlist(key)
        too_long = next((v for v in values if len(v) > MAX_PARAM_CHARS), None)
        if too_long is not None:
            raise ApiError(f"{key}: longer than {MAX_PARAM_CHARS:,} characters")
        if is_list_item(fields[key], model):
            items[key] = [v for v in values if v != ""]
            continue
        if len(values) > 1:
            raise ApiError(f"{key}: give the parameter once")
        if values[0] != "":
            items[key] = values[0]
    return items


def _validated(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(describe_validation(exc)) from None


class DeskboardFlaskPlugin(FlaskPlugin):
    """spectree's Flask plugin with the API's reading of requests and its error body."""

    def request_validation(self, request, query, json, form, headers, cookies) -> None:
        has_body = request.method not in ("GET", "HEAD", "DELETE")
        if query is None and request.args:
            # A route without a query model takes no query parameters.
            name = next(iter(request.args))
            raise ApiError(f"{safe_name(name)}: unknown query parameter (this endpoint takes none)")
        q = _validated(query, _query_items(query)) if query is not None else None
        if q is not None and isinstance(q, ViewQuery):
            q = None
        j = None
        if json is not None and has_body:
            data = read_json_object(body_limit(json), optional=getattr(json, "body_optional", False))
            j = _validated(json, data)
        request.context = Context(q, j, None, None, None)

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        # Response models document the answers; the answer goes out as the view made it.
        return make_response(resp), None

    def register_route(self, app: Flask) -> None:
        app.add_url_rule(SPEC_URL, DOC_ENDPOINTS[0], _document)
        app.add_url_rule(DOCS_URL, DOC_ENDPOINTS[1], _docs_page)
        app.add_url_rule(f"{DOCS_URL}/<name>", DOC_ENDPOINTS[2], _docs_asset)


spec = SpecTree(
    backend=DeskboardFlaskPlugin,
    mode="strict",
    title="Deskboard API",
    version="1",
    description=(
        "Pivot, exposure and P&L over the desk's daily trades with ETF/ETC look-through; drill-through "
        "trades and CSV export; background jobs; the live Vietnamese market board, summary, history and "
        "alerts. Every refusal is a 4xx with the body {\"error\": \"...\"} naming the field."
    ),
    # Spectree skips routes under its own path when it scans the app: keep it the docs page only.
    path="api/v1/docs",
    filename="openapi.json",
    validation_error_status=400,
    validation_error_model=ErrorBody,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)


def _finished(doc: dict[str, Any]) -> dict[str, Any]:
    """The generated document with what every route shares spelled out."""
    for operations in doc["paths"].values():
        for operation in operations.values():
            # Any route can fail on the server; the body is still the error body (details only in the log).
            operation["responses"].setdefault("500", {
                "description": "the request failed on the server; the error has been logged",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            })
            operation["description"] = operation.get("description", "").replace("``", "`")
            operation["summary"] = operation.get("summary", "").replace("``", "`")
            for param in operation.get("parameters", []):
                _not_null(param)
    return doc


def _not_null(param: dict[str, Any]) -> None:
    # An optional query parameter is left out, never null: show the type it takes when given.
    schema = param["schema"]
    options = schema.get("anyOf")
    if param["in"] != "query" or not options:
        return
    given = [o for o in options if o != {"type": "null"}]
    if len(given) == 1 and len(given) < len(options):
        del schema["anyOf"]
        if schema.get("default", 0) is None:
            del schema["default"]
        param["schema"] = {**given[0], **schema}
    param["description"] = param.get("description") or param["schema"].get("description", "")


_document_lock = threading.Lock()


@lru_cache(maxsize=1)
def _document_bytes() -> bytes:
    # spectree builds the document once per process, from the app serving the first request
    # (every app registers the same routes, through register_api). Building it moves nested
    # schemas out of the models: two first requests at once must not both build it.
    with _document_lock:
        return orjson.dumps(_finished(spec.spec))


def _document() -> Response:
    return Response(_document_bytes(), mimetype="application/json")


# Swagger UI's files, from the offapi package (spectree's ``offline`` extra), served from here.
DOCS_ASSETS = {"swagger-ui.js": ("swagger_bundle.js", "text/javascript"),
               "swagger-ui.css": ("swagger_style.css", "text/css")}
# validatorUrl null: no badge fetched from validator.swagger.io. The base layout has no top
# bar for loading other documents.
_DOCS_INIT = (
    "window.addEventListener('load', function () {\n"
    "  window.ui = SwaggerUIBundle({url: " + json.dumps(SPEC_URL) + ", dom_id: '#swagger-ui', validatorUrl: null,\n"
    "    deepLinking: true, tryItOutEnabled: true, presets: [SwaggerUIBundle.presets.apis]});\n"
    "});\n"
)


def _asset_url(name: str) -> str:
    # The package version in the URL: a new Swagger UI is a new address, so assets can be cached long.
    return f"{DOCS_URL}/{name}?v={offapi_version}"


@lru_cache(maxsize=1)
def _docs_html() -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>Deskboard API</title><link rel=\"icon\" href=\"data:,\">"
        f"<link rel=\"stylesheet\" href=\"{_asset_url('swagger-ui.css')}\"></head>"
        "<body><div id=\"swagger-ui\"></div>"
        f"<script src=\"{_asset_url('swagger-ui.js')}\"></script>"
        f"<script src=\"{_asset_url('init.js')}\"></script>"
        "</body></html>"
    )


def _docs_page() -> Response:
    resp = Response(_docs_html(), mimetype="text/html")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def _docs_asset(name: str) -> Response:
    if name == "init.js":
        resp = Response(_DOCS_INIT, mimetype="text/javascript")
        resp.cache_control.public, resp.cache_control.max_age = True, 365 * 86_400
    elif name in DOCS_ASSETS:
        file, mimetype = DOCS_ASSETS[name]
        path = resources.files("offapi") / file
        resp = send_file(str(path), mimetype=mimetype, max_age=365 * 86_400, conditional=True, etag=True)
    else:
        raise NotFound(f"no such file of the API page: {safe_name(name)}")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def register_spec(server: Flask) -> None:
    """Serve the document and the docs page on ``server``."""
    spec.register(server)
