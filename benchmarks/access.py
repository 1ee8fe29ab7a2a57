"""What access control costs: a pivot scoped by portfolio manager or desk against the same pivot unscoped, and
each kind of request with sign-in on against the same request with it off.

    python -m benchmarks.access [--rows 200000] [--pairs 31] [--requests 200] [--seed 7] [--data-dir /tmp/x]
    python -m benchmarks.access --rows 20000000
    python -m benchmarks.access --no-principal-cache   # every request reads its account, to compare

Generates the trades once per (rows, seed) under /tmp/deskboard-bench (as
``benchmarks.pivot`` does, and reused by it), loads them into a throwaway chDB
folder, then times each pivot unscoped and scoped, alternately, and prints the
median of the per-round ratios scoped / unscoped. A scope by manager or desk is
a bound ``IN`` filter on columns the first rollup holds, so a scoped pivot is
answered from the same rollup as the unscoped one; the budget is at most 1.05x
(5 %) per pivot. Each side is a whole API pivot request before its query as well
(``per_request_checks``): the scoped side with sign-in on — the bearer token of a user with
that scope resolved (read from the records store, or kept from a read less than two seconds
old), the permission tested, the scope read back — and the unscoped side the same request
to the app with sign-in off, so the ratio is what access control adds to a pivot request.

Then each kind of request — the pivot page's callback, an API pivot with a bearer token,
a page's HTML — is sent to the app with sign-in on and to the same app with it off, each
behind a real server (``benchmarks.access_requests``); the budget is at most 1 ms added
to the server's median time per request.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.access.principal import EVERYTHING, DataScope
from backend.pivot import PivotRequest, run_pivot
from backend.warehouse import Warehouse, close_all, open_warehouse
from backend.warehouse.loader import load_folder
from benchmarks.access_requests import (
    BUDGET_MS,
    Side,
    add_user,
    build_app,
    guarded_checks,
    records_reads,
    request_section,
    serving,
    sign_in,
)
from benchmarks.pivot import CACHE_ROOT, REQUESTS, data_folder, paired

BUDGET = 1.05
SCOPES: dict[str, DataScope] = {
    # Three of the twenty managers, two of the six desks: what a PM's or a desk head's login sees.
    "by PM": DataScope(portfolio_managers=frozenset({"PM01", "PM11", "PM17"})),
    "by desk": DataScope(desks=frozenset({"Global Macro", "Commodities"})),
}
# The pivot benchmark's requests (the same work there and here), plus a one-day pivot.
PIVOTS: dict[str, dict[str, Any]] = {
    "PM/asset class/symbol": REQUESTS["3 dims (PM/asset class/symbol)"],
    "desk/PM exposure, one quarter": REQUESTS["exposure by desk/PM, one quarter"],
    "date x PM, one month": REQUESTS["rollup: date x PM, one month"],
    "asset class/sector, one day": {
        "dimensions": ["asset_class", "sector"],
        "metrics": ["pnl", "gross_exposure"],
        "filters": {"trade_date": "2024-06-28"},
    },
    "look-through desk/sector/symbol": REQUESTS["look-through desk/sector/symbol"],
}


def per_request_checks(side: Side, token: str) -> Callable[[], DataScope]:
    """What a request does before its query, as one call: the request's context built and the
    app's access check of an API pivot request with ``token`` run. With sign-in on, the check
    resolves the token's owner and leaves their scope; with it off (the unscoped side), the
    same request gets the local user's unrestricted scope. Both sides pay the context."""
    return guarded_checks(side, token)


def scoped_pivot(wh: Warehouse, req: PivotRequest, scope: DataScope, checks: Callable[[], DataScope]) -> Callable[[], Any]:
    assert checks() == scope  # the check leaves the token owner's scope for the query

    def run() -> Any:
        return run_pivot(wh, req, scope=checks())

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.access")
    parser.add_argument("--rows", type=int, default=200_000, help="trades to generate (the demo size by default)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=31, help="alternating rounds behind each ratio")
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind to each app")
    parser.add_argument("--no-principal-cache", action="store_true",
                        help="resolve every request's principal from the records store (no 2 s cache), to compare")
    parser.add_argument("--data-dir", type=Path, default=CACHE_ROOT,
                        help="where the generated Parquet is kept and the throwaway warehouse is made")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    folder = data_folder(args.rows, args.seed, args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="deskboard-bench-access-", dir=args.data_dir))
    try:
        url = f"chdb://{work / 'wh'}"
        wh = open_warehouse(url, "bench")
        started = time.perf_counter()
        report = load_folder(wh, folder)
        print(f"loaded {report.trades:,} trades in {time.perf_counter() - started:.1f} s")
        apps = {auth: build_app(work / f"auth-{auth}", url, "bench", auth) for auth in ("off", "on")}
        with serving(apps) as sides:
            on = sides["on"]
            if args.no_principal_cache:
                on.access.sessions.principals.ttl = 0  # type: ignore[union-attr]
            print(f"principal cache: {'off' if args.no_principal_cache else 'on'} "
                  f"(principals kept for {on.access.sessions.principals.ttl:g} s)")  # type: ignore[union-attr]
            tokens = {label: add_user(on, f"bench-{i}", scope) for i, (label, scope) in enumerate(SCOPES.items())}
            print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
                  "(the machine is shared: read the ratios, each pair timed alternately)")
            off = sides["off"]
            verdicts = scope_section(wh, {label: per_request_checks(on, tokens[label]) for label in SCOPES},
                                     {label: per_request_checks(off, tokens[label]) for label in SCOPES},
                                     args.pairs)
            check_ms = statistics.median(_timed(per_request_checks(on, tokens["by PM"]), 200))
            print(f"\nthe access check of a scoped API request on its own (per_request_checks): "
                  f"{check_ms * 1000:.0f} µs median")
            print(f"budget scoped <= {BUDGET}x unscoped: {sum(verdicts)} of {len(verdicts)} met\n")

            everything = add_user(on, "bench-all")
            sign_in(on, "bench-all", everything)
            # The same headers to the app with sign-in off (which ignores them): only the cookie differs.
            sides["off"].headers, sides["off"].api_headers = dict(on.headers), dict(on.api_headers)
            print("records-store statements per request with sign-in on: "
                  + ", ".join(f"{name.split(' (')[0]} {count}" for name, count in records_reads(on).items()))
            print(f"the app's whole time per request (ms), {args.requests} of each kind to each app alternately; "
                  "the signed-in user sees every row, as with sign-in off")
            request_verdicts = request_section(sides, args.requests)
            print(f"budget <= {BUDGET_MS:g} ms added per request: {sum(request_verdicts)} of "
                  f"{len(request_verdicts)} met")
    finally:
        close_all()
        shutil.rmtree(work, ignore_errors=True)


def scope_section(wh: Warehouse, checks: dict[str, Callable[[], DataScope]],
                  unscoped_checks: dict[str, Callable[[], DataScope]], pairs: int) -> list[bool]:
    header = (f"{'pivot':<32} {'scope':<8} {'source (scoped / unscoped)':<42} {'rows':>5} | "
              f"{'scoped ms':>9} {'unscoped ms':>11} | {'ratio':>7}  budget <= {BUDGET}x")
    print(header)
    print("-" * len(header))
    verdicts: list[bool] = []
    for name, body in PIVOTS.items():
        req = PivotRequest.model_validate(body)
        plain = run_pivot(wh, req, scope=EVERYTHING)
        for label, scope in SCOPES.items():
            scoped = run_pivot(wh, req, scope=scope)
            scoped_ms, plain_ms, ratio = paired(scoped_pivot(wh, req, scope, checks[label]),
                                                scoped_pivot(wh, req, EVERYTHING, unscoped_checks[label]), pairs)
            met = ratio <= BUDGET
            verdicts.append(met)
            source = f"{scoped.meta['source']} / {plain.meta['source']}"
            print(f"{name:<32} {label:<8} {source:<42} {len(scoped.rows):>5} | {scoped_ms:>9.2f} "
                  f"{plain_ms:>11.2f} | {ratio:>5.3f}x  {'met' if met else 'missed'}", flush=True)
    return verdicts


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


if __name__ == "__main__":
    main()
