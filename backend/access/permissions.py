"""The permission catalogue: what can be allowed, and what the built-in roles allow.

A permission names one page, API family or action. Pages, routes and callbacks
declare the one they need (``backend.access.policy``); roles are sets of these
names. Custom roles may only hold names from this catalogue, so a typo in a role
can never grant something no check asks for.
"""

from __future__ import annotations

from typing import Final

# page views and the data behind them
OVERVIEW_VIEW: Final = "overview.view"
PIVOT_VIEW: Final = "pivot.view"
PIVOT_EXPORT: Final = "pivot.export"
MARKET_VIEW: Final = "market.view"
# actions
VIEWS_SAVE: Final = "views.save"
LINKS_CREATE: Final = "links.create"
JOBS_RUN: Final = "jobs.run"
MARKET_RULES_EDIT: Final = "market.rules.edit"
MARKET_ALERTS_ACK: Final = "market.alerts.ack"
PAPER_TRADE: Final = "paper.trade"
RESEARCH_VIEW: Final = "research.view"
RESEARCH_RUN: Final = "research.run"
ACCOUNT_SELF: Final = "account.self"  # own settings, password, API tokens
# administration
ADMIN_USERS: Final = "admin.users"
ADMIN_FLAGS: Final = "admin.flags"
ADMIN_LINKS: Final = "admin.links"
ADMIN_USAGE: Final = "admin.usage"
ADMIN_AUDIT: Final = "admin.audit"
ADMIN_SYSTEM: Final = "admin.system"
METRICS_READ: Final = "metrics.read"

DESCRIPTIONS: Final[dict[str, str]] = {
    OVERVIEW_VIEW: "see the overview page",
    PIVOT_VIEW: "see the pivot, its charts and drill-through, and ask the pivot API",
    PIVOT_EXPORT: "export trades and pivots (CSV)",
    MARKET_VIEW: "see the live board and market pages and the market API",
    VIEWS_SAVE: "save, rename and delete own saved views",
    LINKS_CREATE: "create signed read-only links of a view",
    JOBS_RUN: "submit and cancel jobs",
    MARKET_RULES_EDIT: "edit own watchlists and price rules",
    MARKET_ALERTS_ACK: "acknowledge market alerts",
    PAPER_TRADE: "place and cancel paper orders",
    RESEARCH_VIEW: "see research datasets, runs and simulations",
    RESEARCH_RUN: "start research runs and simulations",
    ACCOUNT_SELF: "change own password, settings and API tokens",
    ADMIN_USERS: "create, disable and reset users; assign roles and scopes",
    ADMIN_FLAGS: "create, edit and delete feature flags",
    ADMIN_LINKS: "list and revoke everyone's signed links",
    ADMIN_USAGE: "see usage",
    ADMIN_AUDIT: "see the audit log",
    ADMIN_SYSTEM: "see the system page and take backups",
    METRICS_READ: "read /metrics",
}
ALL: Final[frozenset[str]] = frozenset(DESCRIPTIONS)

_VIEWER = frozenset({OVERVIEW_VIEW, PIVOT_VIEW, MARKET_VIEW, ACCOUNT_SELF})
_ANALYST = _VIEWER | {PIVOT_EXPORT, VIEWS_SAVE, LINKS_CREATE, JOBS_RUN, MARKET_RULES_EDIT, RESEARCH_VIEW,
                      RESEARCH_RUN}
_TRADER = _ANALYST | {MARKET_ALERTS_ACK, PAPER_TRADE}

BUILT_IN_ROLES: Final[dict[str, frozenset[str]]] = {
    "viewer": _VIEWER,
    "analyst": frozenset(_ANALYST),
    "trader": frozenset(_TRADER),
    "admin": ALL,
}


def unknown(permissions: set[str] | frozenset[str]) -> set[str]:
    """The names that are not in the catalogue (a custom role holding one is refused)."""
    return set(permissions) - ALL
