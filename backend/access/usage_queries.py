"""Questions asked of ``usage_events``: what is used, by whom, how often, how fast.

Every value is a bound parameter; the only identifiers formatted into SQL are the two
array columns of ``ITEM_COLUMNS``. Counts are ``sum(count)``, because a callback row
stands for every call of that callback by that user within one window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from backend.access.usage import KINDS, MAX_USER_CHARS, RETENTION_DAYS, TABLE, view_query

if TYPE_CHECKING:
    from backend.warehouse import Warehouse

DEFAULT_DAYS: Final = 30
MAX_RANGE_DAYS: Final = RETENTION_DAYS  # nothing older is kept
MIN_DAY: Final = date(2000, 1, 1)
MAX_DAY: Final = date(2100, 12, 31)
MAX_LIMIT: Final = 1_000
ITEM_COLUMNS: Final = ("dimensions", "metrics")
ROUTE_KINDS: Final = ("page_view", "api_call", "callback")
SAVED_LOOKUP_USERS: Final = 20  # viewers of a view whose saved views are looked up for its name
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UsageQueryError(ValueError):
    """A usage question that cannot be asked, in words for the person asking."""


@dataclass(frozen=True)
class UsageFilter:
    start: date
    end: date
    user: str | None = None

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end}
        if self.user:
            out["user"] = self.user
        return out

    def where(self) -> str:
        return "day BETWEEN {start:Date} AND {end:Date}" + (" AND `user` = {user:String}" if self.user else "")


def usage_filter(start: Any, end: Any, user: Any = None) -> UsageFilter:
    """A validated filter; raises :class:`UsageQueryError` naming the bad value."""
    first, last = _day(start, "start"), _day(end, "end")
    if first > last:
        raise UsageQueryError(f"the range starts ({first}) after it ends ({last})")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise UsageQueryError(f"a range is at most {MAX_RANGE_DAYS} days (usage is kept that long)")
    return UsageFilter(first, last, _user(user))


def _day(value: Any, what: str) -> date:
    if isinstance(value, date):
        day = value
    elif isinstance(value, str) and len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise UsageQueryError(f"{what} must be a date as YYYY-MM-DD") from None
    else:
        raise UsageQueryError(f"{what} must be a date as YYYY-MM-DD")
    if not MIN_DAY <= day <= MAX_DAY:
        raise UsageQueryError(f"{what} must be between {MIN_DAY} and {MAX_DAY}")
    return day


def _user(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UsageQueryError("the user filter must be text")
    if len(value) > MAX_USER_CHARS:
        raise UsageQueryError(f"the user filter is at most {MAX_USER_CHARS} characters")
    if _CONTROL.search(value):
        raise UsageQueryError("the user filter cannot contain control characters")
    return value.strip() or None


def filter_from_url(query: Mapping[str, Any], today: date) -> tuple[UsageFilter, list[str]]:
    """The page's filter from its URL (``from``, ``to``, ``user``): bad values give a notice and the default."""
    notices: list[str] = []

    def one(key: str) -> Any:
        value = query.get(key)
        return value[0] if isinstance(value, list) and value else value

    default_start = today - timedelta(days=DEFAULT_DAYS - 1)
    start, end = default_start, today
    raw_start, raw_end = one("from"), one("to")
    try:
        if raw_start not in (None, ""):
            start = _day(raw_start, "from")
    except UsageQueryError as exc:
        notices.append(f"{exc}; showing from {default_start}")
    try:
        if raw_end not in (None, ""):
            end = _day(raw_end, "to")
    except UsageQueryError as exc:
        notices.append(f"{exc}; showing to {today}")
    if start > end:
        notices.append(f"the range started after it ended; showing {default_start} to {today}")
        start, end = default_start, today
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        start = end - timedelta(days=MAX_RANGE_DAYS - 1)
        notices.append(f"a range is at most {MAX_RANGE_DAYS} days; showing from {start}")
    try:
        user = _user(one("user"))
    except UsageQueryError as exc:
        notices.append(f"{exc}; showing every user")
        user = None
    return UsageFilter(start, end, user), notices


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise UsageQueryError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


# -- questions ---------------------------------------------------------------------
def totals(wh: Warehouse, f: UsageFilter) -> dict[str, int]:
    """Active users and events of each kind over the range."""
    sums = ", ".join(f"sumIf(`count`, kind = '{kind}')" for kind in KINDS)  # kinds are constants
    rows = wh.query_rows(f"SELECT uniqExact(`user`), {sums} FROM {{db}}.{TABLE} WHERE {f.where()}", f.params())
    users, *counts = rows[0] if rows else (0, *([0] * len(KINDS)))
    return {"active_users": int(users), **{kind: int(n) for kind, n in zip(KINDS, counts, strict=True)}}


def daily_active_users(wh: Warehouse, f: UsageFilter) -> list[tuple[date, int]]:
    rows = wh.query_rows(
        f"SELECT day, uniqExact(`user`) FROM {{db}}.{TABLE} WHERE {f.where()} GROUP BY day ORDER BY day", f.params())
    return [(day, int(n)) for day, n in rows]


def trend(wh: Warehouse, f: UsageFilter) -> list[tuple[date, str, int]]:
    """Events per day and kind (days without events are absent)."""
    rows = wh.query_rows(
        f"SELECT day, toString(kind) AS k, sum(`count`) FROM {{db}}.{TABLE} WHERE {f.where()} "
        "GROUP BY day, k ORDER BY day, k", f.params())
    return [(day, kind, int(n)) for day, kind, n in rows]


def top_items(wh: Warehouse, f: UsageFilter, column: str, limit: int = 20) -> list[dict[str, Any]]:
    """The pivot dimensions (or metrics) used most: uses and distinct users."""
    if column not in ITEM_COLUMNS:
        raise UsageQueryError(f"column must be one of {', '.join(ITEM_COLUMNS)}")
    rows = wh.query_rows(
        f"SELECT toString(item) AS name, sum(`count`) AS uses, uniqExact(`user`) AS users "
        f"FROM {{db}}.{TABLE} ARRAY JOIN `{column}` AS item WHERE {f.where()} AND kind = 'pivot' "
        "GROUP BY name ORDER BY uses DESC, name LIMIT {limit:UInt32}", {**f.params(), "limit": _limit(limit)})
    return [{"name": n, "uses": int(u), "users": int(k)} for n, u, k in rows]


def busiest_routes(wh: Warehouse, f: UsageFilter, limit: int = 50) -> list[dict[str, Any]]:
    """Pages, API routes and callbacks by calls, with p50/p95 duration (ms) and failures (status ≥ 400).

    A callback row holds the mean of its window's calls, so a callback's percentiles are over windows.
    """
    rows = wh.query_rows(
        f"SELECT toString(kind) AS k, route, sum(`count`) AS calls, quantileExactInclusive(0.5)(duration_ms), "
        f"quantileExactInclusive(0.95)(duration_ms), sumIf(`count`, status >= 400) FROM {{db}}.{TABLE} "
        f"WHERE {f.where()} AND kind IN {{kinds:Array(String)}} GROUP BY k, route "
        "ORDER BY calls DESC, k, route LIMIT {limit:UInt32}",
        {**f.params(), "kinds": list(ROUTE_KINDS), "limit": _limit(limit)})
    return [{"kind": k, "route": r, "calls": int(c), "p50": float(p50), "p95": float(p95), "errors": int(e)}
            for k, r, c, p50, p95, e in rows]


def top_views(wh: Warehouse, f: UsageFilter, limit: int = 50) -> list[dict[str, Any]]:
    """Views most opened: a page and its URL state (which is also how a saved view is opened)."""
    rows = wh.query_rows(
        "SELECT route, JSONExtractString(detail, 'search') AS q, sum(`count`) AS views, uniqExact(`user`), "
        f"arraySort(groupUniqArray({SAVED_LOOKUP_USERS})(toString(`user`))) "
        f"FROM {{db}}.{TABLE} WHERE {f.where()} AND kind = 'page_view' GROUP BY route, q "
        "ORDER BY views DESC, route, q LIMIT {limit:UInt32}", {**f.params(), "limit": _limit(limit)})
    return [{"page": p, "query": q, "views": int(v), "users": int(u), "who": list(who)} for p, q, v, u, who in rows]


class SavedView(Protocol):
    name: str
    page: str

    @property
    def search(self) -> str: ...


def name_saved_views(views: list[dict[str, Any]], saved_of: Callable[[str], Iterable[SavedView]]) -> None:
    """Fill each view's ``saved`` with the names its viewers saved it under (same page, same URL state).

    ``saved_of(user)`` lists a user's saved views; a user it refuses (a name that cannot own views)
    has none. Each user is asked once.
    """
    known: dict[str, dict[tuple[str, str], str]] = {}
    for row in views:
        names = set()
        for user in row.get("who", ()):
            if user not in known:
                try:
                    known[user] = {(v.page, view_query(v.search)): v.name for v in saved_of(user)}
                except ValueError:
                    known[user] = {}
            name = known[user].get((row["page"], row["query"]))
            if name:
                names.add(name)
        row["saved"] = ", ".join(sorted(names))


def users(wh: Warehouse, f: UsageFilter, limit: int = 200) -> list[str]:
    """Users with events in the range (for the page's user picker)."""
    rows = wh.query_rows(
        f"SELECT DISTINCT toString(`user`) AS u FROM {{db}}.{TABLE} "
        "WHERE day BETWEEN {start:Date} AND {end:Date} ORDER BY u LIMIT {limit:UInt32}",
        {"start": f.start, "end": f.end, "limit": _limit(limit)})
    return [u for (u,) in rows]


@dataclass(frozen=True)
class UsageReport:
    """Everything the usage page shows for one filter."""

    filter: UsageFilter
    totals: dict[str, int]
    daily_active_users: list[tuple[date, int]]
    trend: list[tuple[date, str, int]]
    dimensions: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    views: list[dict[str, Any]]
    users: list[str]


def report(wh: Warehouse, f: UsageFilter, *, top: int = 15, rows: int = 100,
           saved_of: Callable[[str], Iterable[SavedView]] | None = None) -> UsageReport:
    views = top_views(wh, f, rows)
    if saved_of is not None:
        name_saved_views(views, saved_of)
    return UsageReport(
        filter=f, totals=totals(wh, f), daily_active_users=daily_active_users(wh, f), trend=trend(wh, f),
        dimensions=top_items(wh, f, "dimensions", top), metrics=top_items(wh, f, "metrics", top),
        routes=busiest_routes(wh, f, rows), views=views, users=users(wh, f),
    )
