"""Sign-in pages, served by Flask (plain HTML: they must work before any Dash asset may load).

    GET/POST /signin               user name + password; ``next`` is followed only to a local path
    POST     /signout              ends the session
    GET      /signin/link/<token>  a one-time sign-in link; a reset link goes on to the password page
    GET/POST /account/password     change one's own password (every other session of the user ends)
    GET      /l/<token>            a signed read-only link: a session limited to that one view

Every form carries the session's CSRF token; a POST without it (or with another) is a 400, as
is a field longer than anyone types. A person's own mistake (a wrong password, a locked
account, two new passwords that differ) shows the form again with the reason, as a 200: the
browser reports other statuses as errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, redirect, render_template_string, request

from backend.access.accounts import AccountError, LinkError, LockedOutError, SignInError
from backend.access.current import current_principal
from backend.access.links import LinkDeniedError
from backend.access.passwords import PasswordPolicyError
from backend.access.sessions import Sessions

log = logging.getLogger(__name__)

NEXT_MAX: Final = 2000
USER_FIELD_MAX: Final = 200
PASSWORD_FIELD_MAX: Final = 1024
# Where a sign-in never sends anyone back to (loops, or a link's own session).
_NOT_NEXT: Final = ("/signin", "/signout", "/l/", "/account/password")

_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Deskboard</title><link rel="icon" href="/_favicon.ico">
<style>
:root { color-scheme: light dark; --accent: #4c6ef5; --text: #212529; --muted: #495057; --bg: #f8f9fa;
  --card: #ffffff; --border: #dee2e6; --error: #c92a2a; --ok: #2b8a3e; }
@media (prefers-color-scheme: dark) { :root { --text: #c9c9c9; --muted: #a6a7ab; --bg: #1a1b1e; --card: #25262b;
  --border: #373a40; --error: #ff8787; --ok: #69db7c; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Arial, "Liberation Sans", sans-serif;
  background: var(--bg); color: var(--text); }
main { width: min(380px, 92vw); background: var(--card); border: 1px solid var(--border); border-radius: 8px;
  padding: 28px 28px 20px; }
.brand { font-weight: 700; font-size: 20px; color: var(--accent); margin: 0 0 4px; }
h1 { font-size: 16px; font-weight: 600; margin: 0 0 18px; color: var(--muted); }
label { display: block; font-size: 14px; font-weight: 500; margin: 12px 0 4px; }
input[type=text], input[type=password] { width: 100%; padding: 8px 10px; font-size: 14px; border-radius: 4px;
  border: 1px solid var(--border); background: var(--card); color: var(--text); }
input:focus { outline: 2px solid var(--accent); outline-offset: 0; }
button { margin-top: 18px; width: 100%; padding: 9px; font-size: 14px; font-weight: 600; border: 0;
  border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; }
.message { font-size: 14px; margin: 0 0 8px; padding: 8px 10px; border-radius: 4px; border: 1px solid; }
.message.error { color: var(--error); } .message.info { color: var(--muted); }
.hint { font-size: 12px; color: var(--muted); margin-top: 14px; }
a { color: var(--accent); }
</style></head>
<body><main>
<p class="brand">Deskboard</p>
<h1>{{ title }}</h1>
{% if message %}<p class="message {{ kind }}" role="alert" id="signin-message">{{ message }}</p>{% endif %}
{% if form == "signin" %}
<form method="post" action="/signin" id="signin-form">
  <input type="hidden" name="csrf_token" value="{{ csrf }}">
  <input type="hidden" name="next" value="{{ next }}">
  <label for="user">User name</label>
  <input type="text" id="user" name="user" value="{{ user }}" autocomplete="username" maxlength="64" required autofocus>
  <label for="password">Password</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required>
  <button type="submit" id="signin-submit">Sign in</button>
</form>
{% elif form == "password" %}
<form method="post" action="/account/password" id="password-form">
  <input type="hidden" name="csrf_token" value="{{ csrf }}">
  <input type="hidden" name="next" value="{{ next }}">
  {% if not must_change %}<label for="current">Current password</label>
  <input type="password" id="current" name="current" autocomplete="current-password" required>{% endif %}
  <label for="new">New password</label>
  <input type="password" id="new" name="new" autocomplete="new-password" required>
  <label for="confirm">New password again</label>
  <input type="password" id="confirm" name="confirm" autocomplete="new-password" required>
  <button type="submit" id="password-submit">Change password</button>
</form>
<p class="hint">Changing your password signs you out everywhere else.</p>
{% endif %}
{% if back %}<p class="hint"><a href="{{ back }}">{{ back_text }}</a></p>{% endif %}
</main></body></html>
"""


def safe_next(value: object) -> str:
    """``value`` if it is a path on this site, else ``/``: never another host (no open redirect)."""
    if not isinstance(value, str) or not value or len(value) > NEXT_MAX:
        return "/"
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith(_NOT_NEXT):
        return "/"
    return value


def _page(title: str, *, status: int = 200, message: str = "", kind: str = "error", form: str = "",
          **values: Any) -> Response:
    html = render_template_string(_PAGE, title=title, message=message, kind=kind, form=form, **values)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _field(name: str, limit: int) -> str | None:
    """A form field, or None when it is longer than anyone types (refused, not cut)."""
    value = request.form.get(name, "")
    return None if len(value) > limit else value


def make_blueprint(sessions: Sessions, accounts: Any, links: Any | None,
                   limit_signin: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Blueprint:
    """The sign-in blueprint over these services; ``limit_signin`` wraps the sign-in view in its rate limit."""

    bp = Blueprint("access_signin", __name__)

    def signin_form(status: int = 200, message: str = "", kind: str = "error", user: str = "",
                    next_: str = "/") -> Response:
        return _page("Sign in", status=status, message=message, kind=kind, form="signin",
                     csrf=sessions.csrf_token(), next=next_, user=user)

    @limit_signin
    def signin() -> Response:
        next_ = safe_next(request.values.get("next"))
        if request.method == "GET":
            if current_principal().via == "session" and current_principal().id != "anonymous":
                return redirect(next_)
            reason = request.args.get("reason")
            message = ""
            if reason == "idle":
                message = "Your session ended after a while without use. Sign in again."
            elif reason == "link":
                message = "That link no longer opens this page."
            return signin_form(message=message, kind="info", next_=next_)
        if not sessions.csrf_ok():
            return signin_form(400, "The form expired. Try again.", next_=next_)
        user, password = _field("user", USER_FIELD_MAX), _field("password", PASSWORD_FIELD_MAX)
        if user is None or password is None:
            return signin_form(400, "The user name or password is too long.", next_=next_)
        user = user.strip().lower()
        try:
            principal = accounts.authenticate(user, password, address=request.remote_addr or "")
        except LockedOutError as exc:
            until = exc.until.astimezone(UTC).strftime("%H:%M UTC") if isinstance(exc.until, datetime) else "later"
            return signin_form(200, f"This account is locked after too many failed sign-ins. Try again after {until},"
                                    " or ask an administrator to unlock it.", user=user[:64], next_=next_)
        except SignInError:
            return signin_form(200, "Wrong user name or password.", user=user[:64], next_=next_)
        must_change = bool(accounts.get(principal.id).must_change_password)
        sessions.sign_in(principal, must_change_password=must_change)
        log.info("%s signed in", principal.id)
        if must_change:
            return redirect("/account/password?" + urlencode({"next": next_}))
        return redirect(next_)

    def signout() -> Response:
        if current_principal().id != "anonymous" and not sessions.csrf_ok():
            return _page("Sign out", status=400, message="The form expired. Reload the page and try again.")
        sessions.sign_out()
        return redirect("/signin")

    def signin_link(token: str) -> Response:
        try:
            principal, purpose = accounts.redeem_link(token)
        except (LinkError, AccountError):
            return _page("Sign-in link", status=400, message="This sign-in link is not valid, was used already "
                         "or has expired. Ask an administrator for a new one.", back="/signin",
                         back_text="Sign in with a password")
        must_change = purpose == "reset" or bool(accounts.get(principal.id).must_change_password)
        sessions.sign_in(principal, must_change_password=must_change)
        return redirect("/account/password" if must_change else "/")

    def password() -> Response:
        principal = current_principal()
        must_change = bool(accounts.get(principal.id).must_change_password)
        next_ = safe_next(request.values.get("next"))

        def form(status: int = 200, message: str = "", kind: str = "error") -> Response:
            title = "Choose a new password" if must_change else "Change password"
            return _page(title, status=status, message=message, kind=kind, form="password", csrf=sessions.csrf_token(),
                         next=next_, must_change=must_change, back=None if must_change else next_,
                         back_text="Back")

        if request.method == "GET":
            return form()
        if not sessions.csrf_ok():
            return form(400, "The form expired. Try again.")
        current, new, confirm = (_field(name, PASSWORD_FIELD_MAX) for name in ("current", "new", "confirm"))
        if new is None or confirm is None or current is None:
            return form(400, "That password is too long.")
        if new != confirm:
            return form(200, "The two new passwords differ.")
        try:
            accounts.change_password(principal.id, None if must_change else current, new)
        except (PasswordPolicyError, AccountError) as exc:
            return form(200, str(exc))
        fresh = accounts.principal(principal.id)
        if fresh is None:
            sessions.sign_out()
            return redirect("/signin")
        sessions.password_changed(fresh)
        log.info("%s changed their password", principal.id)
        return redirect(next_)

    def open_link(token: str) -> Response:
        if links is None:
            return _page("Signed link", status=404, message="Signed links are not available on this server.")
        try:
            _principal, info = links.open(token)
        except LinkDeniedError as exc:
            return _page("Signed link", status=403, message=f"This link does not open: {exc}.",
                         back="/signin", back_text="Sign in")
        here = current_principal()
        # Someone signed in already sees the view as themselves; their session stays theirs.
        if not (here.via == "session" and here.id != "anonymous"):
            sessions.sign_in_link(token)
        return redirect(safe_next(info.href))

    def too_many(_exc: Exception) -> Response:
        # The sign-in rate limit: the form again, saying why, instead of a bare error page.
        return signin_form(429, "Too many sign-in attempts from this address. Wait a minute and try again.",
                           next_=safe_next(request.values.get("next")))

    bp.register_error_handler(429, too_many)
    bp.add_url_rule("/signin", "signin", signin, methods=["GET", "POST"])
    bp.add_url_rule("/signout", "signout", signout, methods=["POST"])
    bp.add_url_rule("/signin/link/<token>", "signin_link", signin_link, methods=["GET"])
    bp.add_url_rule("/account/password", "password", password, methods=["GET", "POST"])
    bp.add_url_rule("/l/<token>", "open_link", open_link, methods=["GET"])
    return bp
