"""Spreadsheet formula injection: CSV text cells that a spreadsheet would run as a formula.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read by Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``
in a symbol or a counterparty name would become a live link or a command). Every
CSV the pivot writes puts a leading ``'`` before such text, which the spreadsheet
shows as plain text. Numbers are written as numbers: a negative P&L is ``-12.5``,
not text, and is left alone. The SQL form does the same inside the engine for the
streamed raw-trades export, on text columns only.
"""

from __future__ import annotations

from typing import Any, Final

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
# The same characters as ClickHouse string literals ('\t' and '\r' are escapes there too).
_SQL_STARTS: Final = "'=', '+', '-', '@', '\\t', '\\r'"


def neutralise(value: Any) -> Any:
    """``value`` as a CSV cell: text that would start a formula gets a leading ``'``; anything else as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_sql(expr: str) -> str:
    """ClickHouse expression of a text column ``expr`` (a whitelisted identifier) with ``neutralise`` applied."""
    return f"if(substring({expr}, 1, 1) IN ({_SQL_STARTS}), concat('\\'', {expr}), {expr})"
