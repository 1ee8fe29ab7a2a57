"""What every route, page and callback needs: the one table the access check reads.

Deny by default: a route endpoint, a page path or a callback output that is not named
here is refused by the check (``backend.access.guard``) and reported by the coverage
test that walks the app's own registry. Declarations are exact names, never prefixes,
so a new route or callback is refused until someone decides what it needs.

A declaration is a permission name from the catalogue, or one of:

- ``PUBLIC``: anyone, signed in or not (health, sign-in pages, static files) — these
  answers contain no data;
- ``SIGNED_IN``: any principal, including a signed link's (Dash's layout and dependency
  lists, the page HTML, the shell) — no data either: a page's content is checked when
  the page-content callback asks for it, against the permission of the requested page;
- ``CALLBACK``: ``/_dash-update-component``, decided by the callback it names;
- ``METRICS``: ``/metrics``, decided by its token, the address allow-list or ``metrics.read``;
- ``PAGE``: the page HTML routes (``SIGNED_IN``, but an anonymous visitor is sent to sign in).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from backend.access import permissions as p

PUBLIC: Final = "@public"
SIGNED_IN: Final = "@signed-in"
CALLBACK: Final = "@callback"
METRICS: Final = "@metrics"
PAGE: Final = "@page"
MARKERS: Final = frozenset({PUBLIC, SIGNED_IN, CALLBACK, METRICS, PAGE})

# -- routes, by Flask endpoint -------------------------------------------------------------
ROUTES: Final[dict[str, str]] = {
    # files and the app's frame: no data
    "static": PUBLIC,
    "_dash_assets.static": PUBLIC,
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": PUBLIC,
    "/_favicon.ico": PUBLIC,
    "health.health": PUBLIC,
    "access_signin.signin": PUBLIC,
    "access_signin.signin_link": PUBLIC,
    "access_signin.open_link": PUBLIC,
    "access_signin.signout": PUBLIC,  # checks the session's CSRF token itself
    # a password that must change does not stop this page (see guard.MUST_CHANGE_ALLOWED)
    "access_signin.password": p.ACCOUNT_SELF,
    "/_dash-layout": SIGNED_IN,
    "/_dash-dependencies": SIGNED_IN,
    "/_reload-hash": SIGNED_IN,
    "/": PAGE,
    "/<path:path>": PAGE,
    "/_dash-update-component": CALLBACK,
    "metrics": METRICS,
    # REST API
    "api_v1.pivot": p.PIVOT_VIEW,
    "api_v1.exposure": p.PIVOT_VIEW,
    "api_v1.pnl": p.PIVOT_VIEW,
    "api_v1.instruments": p.PIVOT_VIEW,
    "api_v1.constituents": p.PIVOT_VIEW,
    "trades_api.trades_csv": p.PIVOT_EXPORT,
    "trades_api.trades_page": p.PIVOT_VIEW,
    "market_api.board": p.MARKET_VIEW,
    "market_api.status": p.MARKET_VIEW,
    "market_api.summary": p.MARKET_VIEW,
    "market_api.history": p.MARKET_VIEW,
    "market_api.alerts": p.MARKET_VIEW,
    "market_api.acknowledge": p.MARKET_ALERTS_ACK,
    "jobs_api.submit": p.JOBS_RUN,
    "jobs_api.listing": p.JOBS_RUN,
    "jobs_api.job": p.JOBS_RUN,
    "jobs_api.cancel": p.JOBS_RUN,
    "jobs_api.result": p.JOBS_RUN,
    # feature flags and signed links (the views refine: own links, or everyone's with admin.links)
    "access_api.list_flags": p.ADMIN_FLAGS,
    "access_api.create_flag": p.ADMIN_FLAGS,
    "access_api.get_flag": p.ADMIN_FLAGS,
    "access_api.update_flag": p.ADMIN_FLAGS,
    "access_api.delete_flag": p.ADMIN_FLAGS,
    "access_api.check_flag": SIGNED_IN,
    "access_api.list_links": SIGNED_IN,
    "access_api.create_link": p.LINKS_CREATE,
    "access_api.revoke_link": SIGNED_IN,
    # research datasets
    "research_api.list_datasets": p.RESEARCH_VIEW,
    "research_api.get_dataset": p.RESEARCH_VIEW,
    "research_api.dataset_data": p.RESEARCH_VIEW,
    "research_api.upload_dataset": p.RESEARCH_RUN,
    "research_api.indicator_catalogue": p.RESEARCH_VIEW,
    "research_api.compute_indicators": p.RESEARCH_RUN,
    "symbols_api.symbol_price": p.MARKET_VIEW,
    "alerts_api.list_rules": p.MARKET_VIEW,
    "alerts_api.create_rule": p.MARKET_RULES_EDIT,
    "alerts_api.delete_rule": p.MARKET_RULES_EDIT,
    # The private channels (signals, fills) need PAPER_TRADE too, checked by the route.
    "stream_api.stream": p.MARKET_VIEW,
    "symbols_api.symbol_history": p.MARKET_VIEW,
    "portfolios_api.create_portfolio": p.PAPER_TRADE,
    "portfolios_api.list_portfolios": p.PAPER_TRADE,
    "portfolios_api.get_portfolio": p.PAPER_TRADE,
    "portfolios_api.move_cash": p.PAPER_TRADE,
    "portfolios_api.reset_portfolio": p.PAPER_TRADE,
    "portfolios_api.place_order": p.PAPER_TRADE,
    "portfolios_api.list_orders": p.PAPER_TRADE,
    "portfolios_api.cancel_order": p.PAPER_TRADE,
    "portfolios_api.amend_order": p.PAPER_TRADE,
    "portfolios_api.order_history": p.PAPER_TRADE,
    "portfolios_api.portfolio_performance": p.PAPER_TRADE,
    "portfolios_api.list_strategies": p.PAPER_TRADE,
    "portfolios_api.create_strategy": p.PAPER_TRADE,
    "portfolios_api.change_strategy": p.PAPER_TRADE,
    "portfolios_api.strategy_signals": p.PAPER_TRADE,
    "simulations_api.create_simulation": p.RESEARCH_RUN,
    "simulations_api.list_simulations": p.RESEARCH_VIEW,
    "simulations_api.get_simulation": p.RESEARCH_VIEW,
    "simulations_api.simulation_trades": p.RESEARCH_VIEW,
    "simulations_api.simulation_equity": p.RESEARCH_VIEW,
    "simulations_api.open_cell": p.RESEARCH_RUN,
    "runs_api.create_run": p.RESEARCH_RUN,
    "runs_api.list_runs": p.RESEARCH_VIEW,
    "runs_api.get_run": p.RESEARCH_VIEW,
    "runs_api.run_request": p.RESEARCH_VIEW,
    "runs_api.run_predictions": p.RESEARCH_VIEW,
    "runs_api.research_jobs": p.RESEARCH_VIEW,
    "runs_api.research_job": p.RESEARCH_VIEW,
    "runs_api.cancel_research_job": p.RESEARCH_RUN,
    "runs_api.resume_research_job": p.RESEARCH_RUN,
    "openapi_document": SIGNED_IN,
    "openapi_docs_page": SIGNED_IN,
    "openapi_docs_asset": PUBLIC,
    "api_unknown": SIGNED_IN,  # a JSON 404
}

# -- pages, by path (Dash's page registry) ---------------------------------------------------
PAGES: Final[dict[str, str]] = {
    "/": p.OVERVIEW_VIEW,
    "/pivot": p.PIVOT_VIEW,
    "/board": p.MARKET_VIEW,
    "/market": p.MARKET_VIEW,
    "/admin/system": p.ADMIN_SYSTEM,
    "/admin/usage": p.ADMIN_USAGE,
    "/admin": SIGNED_IN,  # links to the sections the user may open, no data
    "/admin/audit": p.ADMIN_AUDIT,
    "/admin/flags": p.ADMIN_FLAGS,
    "/admin/links": p.ADMIN_LINKS,
    "/admin/users": p.ADMIN_USERS,
    "/admin/sources": p.ADMIN_SYSTEM,
    "/research": p.RESEARCH_VIEW,
    "/portfolio": p.PAPER_TRADE,
    "/research/datasets/<name>": p.RESEARCH_VIEW,
    "/research/simulations/<name>": p.RESEARCH_VIEW,
    "/research/runs/<name>": p.RESEARCH_VIEW,
    "/404": SIGNED_IN,
}
# Pages under a path (Dash's path templates): every path below the prefix needs this.
PAGE_PREFIXES: Final[dict[str, str]] = {
    "/research/": p.RESEARCH_VIEW,
}
# Pages that ship behind a feature flag (path → flag key): shown, and listed in the header,
# only to the principals the flag is on for (with sign-in off too); a flag that does not
# exist is off. A new page is declared here until it is ready for everyone.
PAGE_FLAGS: Final[dict[str, str]] = {
    "/research": "research",  # and every page below it
}

# A path no page answers shows the not-found page, except under /admin/, where even the
# not-found answer is for administrators.
NOT_FOUND: Final = SIGNED_IN
ADMIN_PREFIX: Final = "/admin/"

# -- callbacks, by output component id -------------------------------------------------------
# String ids by themselves; pattern-matching and all-in-one ids by (component or type, part).
# A callback needs every permission its outputs declare.
PAGE_CONTENT: Final = "@page-content"  # Dash's _pages_content: the requested page's permission
OUTPUTS: Final[dict[str | tuple[str, str | None], str]] = {
    "_pages_content": PAGE_CONTENT,
    "_pages_store": PAGE_CONTENT,
    "_pages_dummy": SIGNED_IN,
    # the shell: colour scheme and embed mode, no data
    "shell": SIGNED_IN,
    "shell-provider": SIGNED_IN,
    "shell-theme": SIGNED_IN,
    "shell-scheme": SIGNED_IN,
    # overview
    "overview": p.OVERVIEW_VIEW,
    "overview-drawn": p.OVERVIEW_VIEW,
    "overview-trend": p.OVERVIEW_VIEW,
    "overview-desk-exposure": p.OVERVIEW_VIEW,
    # pivot
    **{name: p.PIVOT_VIEW for name in (
        "pivot-active-filters", "pivot-chart-by", "pivot-cols", "pivot-colvals", "pivot-dates", "pivot-error",
        "pivot-exposure", "pivot-freshness", "pivot-grid", "pivot-kiosk-tick", "pivot-kiosk-title", "pivot-meta",
        "pivot-metrics", "pivot-notices", "pivot-query", "pivot-raw-export", "pivot-request", "pivot-result",
        "pivot-root", "pivot-row-list", "pivot-rows", "pivot-state", "pivot-stocks", "pivot-truncated",
        "pivot-types", "pivot-types-refused", "pivot-view", "pivot-view-tabs", "pivot-url-shown", "pivot-drawer",
        "pivot-phone", "pivot-chart-kick", "pivot-help-modal", "pivot-aside", "pivot-saved-slot",
        "pivot-filter-values", "pivot-gross-chart", "pivot-pie-chart", "pivot-pnl-chart", "pivot-drill-body",
        "pivot-drill-modal", "pivot-drill-scope")},
    ("pivot-drill-grid", None): p.PIVOT_VIEW,
    "pivot-download": p.PIVOT_EXPORT,
    # live board
    **{name: p.MARKET_VIEW for name in (
        "board-ack", "board-client", "board-grid", "board-strip", "board-summary", "board-banner", "board-clock",
        "board-phase", "board-source", "board-search", "board-symbols", "board-detail-ack", "board-detail-book",
        "board-detail-chart", "board-detail-foreign", "board-detail-head", "board-detail-trades", "board-drawer",
        "board-poll", "board-detail-poll", "board-url-sync", "board-detail", "board-pins", "board-found",
        "board-detail-tick")},
    "board-watchlist": p.MARKET_RULES_EDIT,
    "board-message": p.MARKET_RULES_EDIT,
    # market page
    **{name: p.MARKET_VIEW for name in (
        "market-request", "market-answer", "market-banner", "market-basis-title", "market-clock",
        "market-foreign-title", "market-movers", "market-phase", "market-source", "market-vn30-breadth",
        "market-vn30-title", "market-vnindex-breadth", "market-vnindex-title", "market-basis", "market-cursor",
        "market-foreign-leaders", "market-foreign-speed", "market-vn30", "market-vnindex", "market-alerts",
        "market-alerts-seen")},
    "market-ack-done": p.MARKET_ALERTS_ACK,
    "market-rules": p.MARKET_RULES_EDIT,
    "market-rule-message": p.MARKET_RULES_EDIT,
    # system page
    "system-backups": p.ADMIN_SYSTEM,
    "system-callbacks": p.ADMIN_SYSTEM,
    "system-routes": p.ADMIN_SYSTEM,
    "system-stats": p.ADMIN_SYSTEM,
    "system-updated": p.ADMIN_SYSTEM,
    # usage page
    **{name: p.ADMIN_USAGE for name in (
        "usage-dates", "usage-stats", "usage-trend", "usage-dau", "usage-dimensions", "usage-metrics",
        "usage-routes", "usage-views", "usage-notices", "usage-drawn")},
    # administration pages
    **{name: p.ADMIN_LINKS for name in (
        "links-status", "links-modal", "links-modal-text", "links-target", "links-notices", "links-grid")},
    "audit-apply": p.ADMIN_AUDIT,
    **{name: p.ADMIN_USERS for name in (
        "users-grid", "users-notices", "users-disable", "users-reset-link", "roles-grid", "roles-notices",
        "roles-modal")},
    "sources-grid": p.ADMIN_SYSTEM,
    "sources-sample": p.ADMIN_SYSTEM,
    **{name: p.ADMIN_FLAGS for name in (
        "flags-grid", "flags-notices", "flags-description", "flags-enabled", "flags-rollout", "flags-roles",
        "flags-users", "flags-version", "flags-modal")},
    # research: looking is research.view; uploading and computing indicators are research.run
    **{name: p.RESEARCH_VIEW for name in (
        "research-datasets", "research-name", "research-width", "research-query", "research-chart",
        "research-notices", "research-ic-table", "research-ic-chart", "research-ic-notices", "research-ic-url")},
    "research-upload-notices": p.RESEARCH_RUN,
    "research-add-notices": p.RESEARCH_RUN,
    # research simulations: browsing, the charts and the form's choices are research.view; running is research.run
    **{name: p.RESEARCH_VIEW for name in (
        "research-sims-grid", "research-sims-url", "research-sims-notices", "research-sim-equity",
        "research-sim-price", "research-sim-monthly", "research-sim-rolling", "research-sim-trades",
        "research-sim-heatmap", "research-sim-sweep-url", "research-sim-sweep-notices", "research-sim-go",
        "research-compare-chart",
        "research-new-symbol", "research-new-column", "research-new-url", "research-new-sma", "research-new-rule",
        "research-new-threshold", "research-new-x-param", "research-new-y-param")},
    **{name: p.RESEARCH_RUN for name in ("research-new-errors", "research-new-watch", "research-new-watch-tick")},
    # walk-forward runs: the browser, a run's page, comparing and the queue are research.view; the form and
    # acting on jobs are research.run
    **{name: p.RESEARCH_VIEW for name in (
        "research-runs-grid", "research-runs-url", "research-runs-notices", "research-run-timeline",
        "research-run-metrics", "research-run-importances", "research-run-equity",
        "research-runs-cmp-parcoords", "research-runs-cmp-folds", "research-runs-cmp-equity", "research-runs-cmp-url",
        "research-jobs-table", "research-jobs-tick", ("research-run-new-field", None))},
    **{name: p.RESEARCH_RUN for name in (
        "research-run-new-errors", "research-run-new-watch", "research-run-new-watch-tick", "research-run-new-params",
        ("research-run-new-param", None), "research-jobs-notices", "research-run-notices")},
    # components: saving views and running jobs are actions
    **{("saved-views", part): p.VIEWS_SAVE for part in (
        "here", "views", "select", "message", "confirm", "confirm-text", "name", "link")},
    **{("job-progress", part): p.JOBS_RUN for part in (
        "request", "job", "error", "bar", "cancel", "link", "log", "log-text", "start", "text", "tick")},
}
# Callbacks without outputs, by their first input's component id.
NO_OUTPUT_INPUTS: Final[dict[str | tuple[str, str | None], str]] = {
    "overview-trend": p.OVERVIEW_VIEW,
    "usage-dates": p.ADMIN_USAGE,
    "links-status": p.ADMIN_LINKS,
    "audit-apply": p.ADMIN_AUDIT,
    "flags-grid": p.ADMIN_FLAGS,
    "users-grid": p.ADMIN_USERS,
    "roles-grid": p.ADMIN_USERS,
    "sources-status": p.ADMIN_SYSTEM,
}


# /portfolio: paper trading
OUTPUTS.update({name: p.PAPER_TRADE for name in (
    "paper-summary", "paper-holdings", "paper-orders", "paper-fills", "paper-notices", "paper-band", "paper-review",
    "paper-limit", "paper-confirm", "paper-confirm-text", "paper-url", "paper-equity", "paper-figures",
    "paper-strategies", "paper-signals")})
# /portfolio's alert rules: editing them is the market page's permission; what they raised is market data
OUTPUTS.update({"paper-rules": p.MARKET_RULES_EDIT, "paper-rule-message": p.MARKET_RULES_EDIT,
                "paper-rule-price": p.MARKET_RULES_EDIT, "paper-rule-alerts": p.MARKET_VIEW,
                "paper-rule-alerts-seen": p.MARKET_VIEW})

# /settings: the user's own defaults and API tokens (callbacks also set the shell's theme, SIGNED_IN above)
PAGES["/settings"] = p.ACCOUNT_SELF
OUTPUTS.update({name: p.ACCOUNT_SELF for name in (
    "settings-notices", "settings-version", "settings-theme", "settings-thousands", "settings-decimals",
    "settings-time-zone", "settings-pivot-view", "settings-watchlist", "settings-preview", "settings-token-notices",
    "settings-token-shown", "settings-token-grid", "settings-token-name", "settings-token-modal",
    "settings-token-modal-text")})

# The pages a signed link may show, by the names their components start with: a link's
# session may run only its own page's callbacks (and the shell's), even where another
# page needs the same permission (/board and /market).
LINK_PAGE_COMPONENTS: Final[dict[str, tuple[str, ...]]] = {
    "/": ("overview",),
    "/pivot": ("pivot-",),
    "/board": ("board-",),
    "/market": ("market-",),
}
SHELL_COMPONENTS: Final = frozenset({"_pages_content", "_pages_store", "_pages_dummy", "shell", "shell-provider",
                                     "shell-theme", "shell-scheme"})


# Starting a job needs ``jobs.run`` (the route and the job control say so); what the job does
# needs its own permission as well, checked where a job is submitted: a raw-trades export reads
# trades like any export, and a backup copies every record and every row, unscoped. A kind not
# listed here is for administrators only.
JOB_KINDS: Final[dict[str, str]] = {
    "trades_csv": p.PIVOT_EXPORT,
    "backup": p.ADMIN_SYSTEM,
    "probe": p.ADMIN_SYSTEM,
    "simulation": p.RESEARCH_RUN,
    "sweep": p.RESEARCH_RUN,
    "walkforward": p.RESEARCH_RUN,
}


def job_kind_permission(kind: object) -> str:
    return JOB_KINDS.get(kind, p.ADMIN_SYSTEM) if isinstance(kind, str) else p.ADMIN_SYSTEM


def may_run_job(principal: Any, kind: object) -> bool:
    """Whether ``principal`` may submit a job of ``kind`` (both ``jobs.run`` and the kind's own)."""
    return bool(principal.can(p.JOBS_RUN) and principal.can(job_kind_permission(kind)))


def component_key(component_id: Any) -> str | tuple[str, str | None]:
    """How a declaration names a component: a string id as is, a dict id by its
    ``component`` (all-in-one) or ``type`` key and its ``part``."""
    if isinstance(component_id, str):
        return component_id
    if isinstance(component_id, Mapping):
        kind = component_id.get("component", component_id.get("type"))
        part = component_id.get("part")
        return (str(kind), None if part is None else str(part))
    return repr(component_id)


@dataclass(frozen=True)
class CallbackRule:
    """What one callback needs: permissions (all of them), or a marker (SIGNED_IN, PAGE_CONTENT)."""

    needs: frozenset[str]
    undeclared: tuple[str, ...] = ()
    # the component names it writes (or, without outputs, the one it is named by)
    components: tuple[str, ...] = ()

    @property
    def declared(self) -> bool:
        return not self.undeclared

    def on_page(self, path: str | None) -> bool:
        """Whether every component this callback writes belongs to the page at ``path`` (a signed
        link's session runs only its own page's callbacks) or to the shell around every page."""
        prefixes = LINK_PAGE_COMPONENTS.get(path or "", ())
        return all(name in SHELL_COMPONENTS or name.startswith(prefixes) for name in self.components)


def _ids(specs: Iterable[Any]) -> list[Any]:
    ids = []
    for spec in specs:
        if isinstance(spec, Mapping):
            raw = spec.get("id")
            if isinstance(raw, str) and raw.startswith("{"):
                try:
                    raw = json.loads(raw)
                except ValueError:
                    pass
            ids.append(raw)
        else:  # dash.Output: read by attribute, so this module needs no dash import
            ids.append(getattr(spec, "component_id", None))
    return ids


def callback_rule(entry: Mapping[str, Any]) -> CallbackRule:
    """The rule of one ``app.callback_map`` entry."""
    outputs = entry.get("output")
    if outputs is None:
        outputs = []
    elif not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    ids = _ids(outputs)
    table: Mapping[str | tuple[str, str | None], str] = OUTPUTS
    if not ids:  # a callback without outputs is named by its first input
        ids, table = _ids(entry.get("inputs", [])[:1]), NO_OUTPUT_INPUTS
    needs: set[str] = set()
    missing: list[str] = []
    for cid in ids:
        key = component_key(cid)
        need = table.get(key)
        if need is None:
            missing.append(str(key))
        else:
            needs.add(need)
    if not ids:
        missing.append("(no outputs or inputs)")
    names = tuple(sorted({key if isinstance(key, str) else key[0] for key in map(component_key, ids)}))
    return CallbackRule(needs=frozenset(needs), undeclared=tuple(missing), components=names)


def callback_rules(callback_map: Mapping[str, Mapping[str, Any]]) -> dict[str, CallbackRule]:
    """Callback key (the ``output`` field of a callback request) → its rule."""
    return {key: callback_rule(entry) for key, entry in callback_map.items()}


def route_rule(endpoint: str | None) -> str | None:
    return None if endpoint is None else ROUTES.get(endpoint)


def normalise_path(pathname: object) -> str | None:
    """A page path as Dash matches it (no surrounding slashes), with one leading slash."""
    if not isinstance(pathname, str) or len(pathname) > 2000:
        return None
    return "/" + pathname.strip("/")


def page_flag(pathname: object) -> str | None:
    """The feature flag the page at ``pathname`` ships behind (None: none)."""
    path = normalise_path(pathname)
    if path is None:
        return None
    for prefix, key in PAGE_FLAGS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return key
    return None


def page_rule(pathname: object) -> str:
    """The permission (or SIGNED_IN) the page at ``pathname`` needs."""
    path = normalise_path(pathname)
    if path is None:
        return NOT_FOUND
    if path in PAGES:
        return PAGES[path]
    for prefix, need in PAGE_PREFIXES.items():
        if path.startswith(prefix):
            return need
    if path.startswith(ADMIN_PREFIX) or path == ADMIN_PREFIX.rstrip("/"):
        return p.ADMIN_SYSTEM
    return NOT_FOUND


def undeclared_routes(endpoints: Iterable[str]) -> list[str]:
    return sorted({e for e in endpoints if e not in ROUTES})


def undeclared_callbacks(callback_map: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    return {key: rule.undeclared for key, rule in callback_rules(callback_map).items() if not rule.declared}


def undeclared_pages(paths: Iterable[str]) -> list[str]:
    """Pages (Dash's registry paths, or a path template's) that no declaration names."""
    def declared(path: str) -> bool:
        normal = normalise_path(path)
        return normal in PAGES or any((normal or "").startswith(prefix) for prefix in PAGE_PREFIXES)

    return sorted({path for path in paths if not declared(path)})


def _check_catalogue() -> None:
    # A typo here would make a rule nobody can pass (or, worse, look declared): fail at import.
    named = set(ROUTES.values()) | set(PAGES.values()) | set(OUTPUTS.values()) | set(NO_OUTPUT_INPUTS.values())
    wrong = named - p.ALL - MARKERS - {PAGE_CONTENT}
    if wrong:
        raise RuntimeError(f"access policy names unknown permissions: {sorted(wrong)}")


_check_catalogue()
