"""The paper worker of server mode: resting orders and strategies worked against the board the
feed process publishes to Redis.

    python -m backend.paper.worker        (DESKBOARD_REDIS_URL and DESKBOARD_META_URL from the environment)

Embedded, the web process does this itself (``install_matcher``); in server mode the web workers
only serve, and one of these runs beside them. It stops on SIGTERM or SIGINT after the round in
hand. Two of them at once fill nothing twice (each order is worked under its portfolio's lock).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from backend.config import SettingsError, load_settings
from backend.market.board_state import RemoteMarketService, redis_client
from backend.meta import open_meta
from backend.meta.store import MetaStore
from backend.paper.engine import StrategyEngine
from backend.paper.ledger import Ledger
from backend.paper.matcher import ROUND_SECONDS, Matcher
from backend.paper.runtime import auto_allowed
from backend.stream.redis_bus import RedisBus

log = logging.getLogger("deskboard.paper.worker")


def build(meta: MetaStore, redis_url: str) -> tuple[RemoteMarketService, Matcher]:
    """The board read from Redis and the matcher (with the strategies) working against it; fills and
    signals go out on the event bus in Redis, where every web worker's streams read them."""
    market = RemoteMarketService(redis_client(redis_url))
    events = RedisBus(redis_client(redis_url))
    ledger = Ledger(meta, events=events)
    matcher = Matcher(ledger, market.board, engine=StrategyEngine(meta, ledger, auto_allowed=auto_allowed(meta),
                                                                  events=events))
    return market, matcher


def serve(meta: MetaStore, redis_url: str, stop: threading.Event, seconds: float = ROUND_SECONDS) -> Matcher:
    """Refresh the board and work it each round until ``stop`` is set."""
    market, matcher = build(meta, redis_url)
    while not stop.is_set():
        try:
            if market.refresh():
                matcher.round()
                matcher.snapshot()
        except Exception:  # one bad round must not stop the day's fills
            log.exception("paper worker round failed; going on")
        stop.wait(seconds)
    return matcher


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"deskboard paper worker: {exc}", file=sys.stderr)
        return 2
    if not settings.redis_url:
        print("deskboard paper worker: DESKBOARD_REDIS_URL is not set: the board it works against is "
              "published there by the feed process", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("paper worker: working resting orders and strategies against the board in Redis")
    matcher = serve(open_meta(settings.meta_database_url), settings.redis_url, stop)
    log.info("paper worker stopped after %d fills", matcher.fills)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
