"""Validation messages shared by the pages and the REST API.

A pydantic ``ValidationError`` becomes one line per problem, each naming the field, with the
caller's own text echoed only when it looks like a name (never raw input, never a URL).
"""

from __future__ import annotations

import re

from pydantic import ValidationError

_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")


def _safe_part(part: object) -> str:
    # Unknown keys are the caller's text: echo them only when they look like a name.
    if isinstance(part, int) or _SAFE_NAME.match(str(part)):
        return str(part)
    return "<unnamed>"


def safe_name(name: object) -> str:
    """A caller-supplied key as it may appear in an error: itself if name-like, else ``<unnamed>``."""
    return _safe_part(name) if not isinstance(name, int) else "<unnamed>"


def describe_validation(exc: ValidationError) -> str:
    """One line per problem, each naming the field: ``filters.trade_date: ...``."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(_safe_part(p) for p in err["loc"] if p not in ("function-after", "function-before"))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts[:10])
