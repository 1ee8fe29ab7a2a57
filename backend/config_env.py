"""How environment text becomes settings, and how a refused value is explained.

Used by ``backend.config``; kept apart so that module stays the list of settings.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo


def parse_env_value(raw: str, info: FieldInfo) -> Any:
    """An environment string as the field wants it (lists: JSON or comma-separated)."""
    if _base_type(info.annotation) is tuple:
        text = raw.strip()
        if text.startswith("["):
            try:
                return tuple(json.loads(text))
            except (ValueError, TypeError):
                return raw
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return raw


def describe_errors(
    exc: ValidationError,
    model: type[BaseModel],
    given: Mapping[str, Any],
    *,
    variable: Callable[[str], str | None],
    allowed: Mapping[str, str] | None = None,
    sensitive: frozenset[str] = frozenset(),
) -> list[str]:
    """One line per problem: the variable, the value given (never a secret's) and what is allowed.

    ``variable(field)`` names a field's environment variable (None: the field is no variable).
    """
    out: list[str] = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else None
        reason = str(err["msg"]).removeprefix("Value error, ")
        name = variable(field) if field in model.model_fields else None
        if field is None or name is None:
            # A check across fields: its message names the variables itself.
            out.append(reason if field is None else f"{field}: {reason}")
            continue
        shown = "" if field in sensitive or field not in given else f"={_short(given[field])}"
        accepted = (allowed or {}).get(field) or allowed_values(model.model_fields[field])
        if err["type"] == "value_error":
            # A check's own reason; the allowed values too unless the reason already says them.
            said = accepted.removeprefix("a ").removeprefix("an ") in reason
            out.append(f"{name}{shown} is not allowed: {reason}" + ("" if said else f" (allowed: {accepted})"))
        else:
            out.append(f"{name}{shown} is not allowed (allowed: {accepted})")
    return out


def _short(value: Any) -> str:
    text = str(value)
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def _base_type(annotation: Any) -> Any:
    """``X`` of ``X | None``; the origin of generics (``tuple`` of ``tuple[str, ...]``)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    return get_origin(annotation) or annotation


def allowed_values(info: FieldInfo) -> str:
    """What the field accepts, from its type and bounds: "a number greater than 0, at most 10000"."""
    annotation = info.annotation
    optional = get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)
    base = _base_type(annotation)
    if base is Literal:
        literal = next(a for a in (annotation, *get_args(annotation)) if get_origin(a) is Literal)
        text = "one of " + ", ".join(str(c) for c in get_args(literal))
    elif base is bool:
        text = "true or false"
    elif base is int or base is float:
        text = "a whole number" if base is int else "a number"
        bounds = []
        for meta in info.metadata:
            if isinstance(meta, annotated_types.Gt):
                bounds.append(f"greater than {meta.gt:g}")
            elif isinstance(meta, annotated_types.Ge):
                bounds.append(f"at least {meta.ge:g}")
            elif isinstance(meta, annotated_types.Lt):
                bounds.append(f"less than {meta.lt:g}")
            elif isinstance(meta, annotated_types.Le):
                bounds.append(f"at most {meta.le:g}")
        if bounds:
            text += " " + ", ".join(bounds)
    elif base is tuple:
        text = "a comma-separated list"
    elif base is Path:
        text = "a file path"
    else:
        text = "text"
    return text + (", or unset" if optional else "")
