"""Field types the API's query models share: each says in its error what it expects.

Query strings arrive as text; these types read them strictly (no ``1e5`` for a whole
number, no ``20240101`` for a date) and carry the schema the OpenAPI document shows.
The error messages never repeat the caller's value.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, Field


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) != 10:
            raise ValueError("expected a date as YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("expected a date as YYYY-MM-DD") from None
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date), Field(description="a date as YYYY-MM-DD")]


def whole_number(low: int, high: int, description: str) -> Any:
    """A whole number from ``low`` to ``high`` written in plain digits."""
    message = f"expected a whole number from {low:,} to {high:,}"

    def check(value: Any) -> Any:
        if isinstance(value, str):
            if not (1 <= len(value) <= 20 and value.isascii() and value.isdigit()):
                raise ValueError(message)
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(message)
        return value

    # The bounds are checked above; the schema states them for the document.
    bounds = {"minimum": low, "maximum": high}
    return Annotated[int, BeforeValidator(check), Field(description=description, json_schema_extra=bounds)]


def flag(description: str) -> Any:
    """``1``/``true`` or ``0``/``false``."""

    def check(value: Any) -> Any:
        if value in ("1", "true", True):
            return True
        if value in ("0", "false", False):
            return False
        raise ValueError("expected 1 or 0")

    return Annotated[bool, BeforeValidator(check), Field(description=description)]
