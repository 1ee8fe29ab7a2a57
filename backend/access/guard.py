"""The one access check: a ``before_request`` hook in front of every route and callback.

It finds the request's principal (``backend.access.sessions``), puts it where services
read it (``set_current_principal``), and looks up what the route — or, for Dash's
``/_dash-update-component``, the callback named in the request body — needs
(``backend.access.policy``). Nothing declared means refused (403) and a log line.

Dash's page-content callback is checked against the page the request asks for: its
``pathname`` is only ever used to find *which* permission applies, never to grant one.
A principal who may not see that page gets a "no access" layout instead of the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote

from flask import Flask, Response, jsonify, redirect, request

from backend.access import policy
from backend.access.current import LOCAL_PRINCIPAL, set_current_principal
from backend.access.principal import Principal
from backend.access.sessions import ANONYMOUS, Resolution, Sessions
from backend.config import AccessSettings

log = logging.getLogger(__name__)

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
SIGNIN_PATH: Final = "/signin"
PASSWORD_PATH: Final = "/account/password"
CALLBACK_PATH: Final = "/_dash-update-component"
# Endpoints a session whose password must change may still use.
MUST_CHANGE_ALLOWED: Final = frozenset({"access_signin.password", "access_signin.signout"})
PAGES_LOCATION: Final = "_pages_location"
PAGE_CONTENT_OUTPUT: Final = "_pages_content.children"  # Dash's page-content callback names this output first

# Every answer the check gives instead of the route's own carries this header, so logs,
# proxies and tests can tell a refusal by the check from the route's own 4xx.
REFUSED_HEADER: Final = "X-Deskboard-Access"

Allowed = Callable[[Principal | None], bool]
FlagOn = Callable[[str, Principal], bool]


def refused(response: Response) -> Response:
    response.headers[REFUSED_HEADER] = "refused"
    return response


def json_error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return refused(response)


def no_access_layout(title: str, message: str) -> dict[str, Any]:
    """A Dash component tree as JSON (the guard answers for the page-content callback
    without importing Dash): a heading and a sentence, no data."""
    def comp(kind: str, children: Any, **props: Any) -> dict[str, Any]:
        return {"type": kind, "namespace": "dash_html_components", "props": {"children": children, **props}}

    return comp("Div", [comp("H2", title), comp("P", message)], className="access-denied", id="access-denied")


class Guard:
    def __init__(self, settings: AccessSettings, sessions: Sessions | None,
                 callback_map: Callable[[], Mapping[str, Mapping[str, Any]]],
                 metrics_allowed: Allowed, *, flag_on: FlagOn | None = None) -> None:
        self.settings = settings
        # Whether a feature flag is on for a principal (a page behind a flag); none: every flag off.
        self.flag_on = flag_on or (lambda _key, _principal: False)
        self.sessions = sessions
        self.callback_map = callback_map
        self.metrics_allowed = metrics_allowed
        self._rules: dict[str, policy.CallbackRule] = {}
        self._rules_from = -1  # the number of callbacks the table was read from

    def install(self, server: Flask) -> None:
        server.before_request(self.check)

    # -- the check ------------------------------------------------------------------------
    def check(self) -> Response | None:
        if self.settings.auth == "off":
            set_current_principal(LOCAL_PRINCIPAL)
            # The one user may open every page, except those behind a flag that is off for them.
            if policy.PAGE_FLAGS and request.path == CALLBACK_PATH:
                body = request.get_json(silent=True)
                output = body.get("output") if isinstance(body, dict) else None
                if isinstance(output, str) and output.lstrip(".").startswith(PAGE_CONTENT_OUTPUT):
                    return self._page_flag(LOCAL_PRINCIPAL, _input_value(body, PAGES_LOCATION, "pathname"))
            return None
        assert self.sessions is not None  # only access control that is off has no sessions
        resolution = self.sessions.resolve()
        principal = resolution.principal
        set_current_principal(principal or ANONYMOUS)
        endpoint = request.endpoint
        if endpoint is None:  # no route matched: Flask answers 404/405, with no data
            return None
        rule = policy.route_rule(endpoint)
        if rule is None:
            log.warning("refused %s %s: route %r declares no permission", request.method, request.path, endpoint)
            return json_error(403, "this route is not open to anyone (no access declaration)")
        if rule == policy.PUBLIC:
            return None
        if rule == policy.METRICS:
            if self.metrics_allowed(principal):
                return None
            return refused(Response("metrics need a bearer token or an allowed address\n", status=401,
                                    mimetype="text/plain", headers={"WWW-Authenticate": "Bearer"}))
        if principal is None:
            return self._anonymous(rule, resolution)
        if request.method not in SAFE_METHODS and principal.via in ("session", "link") \
                and not Sessions.csrf_ok():
            return json_error(400, "the request's CSRF token is missing or wrong; reload the page")
        if resolution.must_change_password and endpoint not in MUST_CHANGE_ALLOWED:
            if rule == policy.PAGE:
                return refused(redirect(PASSWORD_PATH))
            return json_error(403, "change your password first")
        if principal.via == "link" and request.path.startswith("/api/"):
            return json_error(403, "a signed link shows one page; it does not open the API")
        if rule in (policy.PAGE, policy.SIGNED_IN):
            return None
        if rule == policy.CALLBACK:
            return self._callback(principal)
        if principal.can(rule):
            return None
        return json_error(403, f"you do not have the permission {rule!r}")

    def _anonymous(self, rule: str, resolution: Resolution) -> Response:
        if rule == policy.PAGE or (rule != policy.CALLBACK and request.method == "GET"
                                   and request.accept_mimetypes.accept_html
                                   and not request.path.startswith("/api/")):
            target = request.full_path if request.query_string else request.path
            reason = f"&reason={resolution.reason}" if resolution.reason else ""
            return refused(redirect(f"{SIGNIN_PATH}?next={quote(target, safe='/')}{reason}"))
        if resolution.reason == "token":
            return json_error(401, "the API token is not valid (unknown, revoked or expired)")
        if resolution.reason == "idle":
            return json_error(401, "your session ended after a while without use; sign in again")
        return json_error(401, "sign in first")

    # -- callbacks ------------------------------------------------------------------------
    def rule_for(self, key: str) -> policy.CallbackRule | None:
        rule = self._rules.get(key)
        callbacks = self.callback_map()
        # Callbacks are added at the first request, and may be added later (never removed): read
        # the table again only when it grew, so unknown names sent at will cost a lookup only.
        if rule is None and len(callbacks) != self._rules_from:
            self._rules = policy.callback_rules(callbacks)
            self._rules_from = len(callbacks)
            rule = self._rules.get(key)
        return rule

    def _callback(self, principal: Principal) -> Response | None:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("output"), str):
            return json_error(400, "not a callback request")
        key = body["output"]
        rule = self.rule_for(key)
        if rule is None:
            log.warning("refused callback %.200r for %s: no such callback", key, principal.id)
            return json_error(403, "no such callback")
        if not rule.declared:
            log.warning("refused callback %.200r: outputs %s declare no permission", key, ", ".join(rule.undeclared))
            return json_error(403, "this callback is not open to anyone (no access declaration)")
        if principal.via == "link" and not rule.on_page(principal.link_path):
            return json_error(403, "a signed link runs only its own page")
        for need in sorted(rule.needs):
            if need == policy.SIGNED_IN:
                continue
            if need == policy.PAGE_CONTENT:
                denied = self._page_content(principal, body)
                if denied is not None:
                    return denied
                continue
            if not principal.can(need):
                return json_error(403, f"you do not have the permission {need!r}")
        return None

    def _page_content(self, principal: Principal, body: dict[str, Any]) -> Response | None:
        pathname = _input_value(body, PAGES_LOCATION, "pathname")
        need = policy.page_rule(pathname)
        allowed = need == policy.SIGNED_IN or principal.can(need)
        if principal.via == "link" and policy.normalise_path(pathname) != principal.link_path:
            allowed = False
        if allowed:
            return self._page_flag(principal, pathname)
        log.info("%s may not see page %.200r (needs %s)", principal.id, pathname, need)
        message = ("This link shows one page only." if principal.via == "link"
                   else "Your account does not have access to this page. Ask an administrator if you need it.")
        return refused(jsonify({"multi": True, "response": {
            "_pages_content": {"children": no_access_layout("No access to this page", message)},
            "_pages_store": {"data": {"title": "No access"}},
        }}))


    def _page_flag(self, principal: Principal, pathname: object) -> Response | None:
        """A page that ships behind a feature flag shows only where the flag is on."""
        key = policy.page_flag(pathname)
        if key is None or self.flag_on(key, principal):
            return None
        return refused(jsonify({"multi": True, "response": {
            "_pages_content": {"children": no_access_layout(
                "Not available yet", "This page is not switched on for you yet. Ask an administrator if you need it.")},
            "_pages_store": {"data": {"title": "Not available"}},
        }}))


def _input_value(body: dict[str, Any], component: str, prop: str) -> Any:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        return None
    for item in inputs:
        if isinstance(item, dict) and item.get("id") == component and item.get("property") == prop:
            return item.get("value")
    return None
