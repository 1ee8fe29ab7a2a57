"""One ``BoardState`` interface for the live board, in-process or shared through Redis.

Embedded (``DESKBOARD_FEED=embedded``, the default) the feed thread runs in the web
server and readers use the in-process board of :mod:`backend.market.board`.

In server mode (``DESKBOARD_FEED=process``) one feed process owns the feed and its
``BoardPublisher`` (:mod:`backend.market.board_publisher`) writes, once per tick, what changed to versioned Redis keys:
the board snapshot, the market view, the core summary, today's alert rows and a
heartbeat carrying the feed status and the version of each part. Every web worker
runs a :class:`RemoteMarketService`: a refresher thread polls the heartbeat, fetches
the parts whose version moved and swaps in rebuilt immutable objects. Requests only
ever read those local objects, so a request never waits on Redis; when the feed
process (or Redis) goes quiet, the status turns *stale* after ``stale_seconds`` and
the last board stays on screen.

Acknowledgements travel the other way: a worker pushes a command to a Redis list and
waits (bounded) for the feed process's reply. Price rules live in the shared user-data
file; a worker that changes them tells the feed process to re-read them.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Protocol, runtime_checkable

import orjson
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from werkzeug.exceptions import ServiceUnavailable

from backend.market.board import BoardChanges, BoardSnapshot, Row
from backend.market.market_view import ChartSeries, MarketView, empty_view
from backend.market.service import MarketService, ServiceSettings
from backend.market.watchlists import StoredRule

log = logging.getLogger(__name__)

PREFIX = "deskboard:market:"
KEYS = {part: f"{PREFIX}{part}" for part in ("heartbeat", "board", "view", "summary", "alerts")}
COMMANDS = f"{PREFIX}commands"
# Redis calls of readers and the publisher give up after this long: a slow Redis makes the
# board stale, never a request slow.
REDIS_TIMEOUT_SECONDS = 1.0
REPLY_TIMEOUT_SECONDS = 3.0
RESEND_SECONDS = 5.0
MAX_COMMAND_BYTES = 10_000


@runtime_checkable
class BoardState(Protocol):
    """What pages and the API read from the live board (``backend.market.board.BoardState``
    is the in-process implementation and the feed side's writer)."""

    @property
    def version(self) -> int: ...

    def snapshot(self) -> BoardSnapshot: ...

    def rows(self) -> list[Row]: ...

    def row(self, symbol: str) -> Row | None: ...

    def changes_since(self, since: object) -> BoardChanges: ...


def redis_client(url: str, *, blocking_seconds: float = 0.0) -> redis.Redis:
    """A client whose every call is bounded in time (connect and read); ``blocking_seconds`` is the
    longest blocking pop it will be asked for, which its read timeout must outlast."""
    # One retry at most: the refresher polls again within a tick anyway, and a command's caller
    # should hear "Redis did not answer" in about a second, not after a backoff series.
    return redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS + blocking_seconds,
                                socket_connect_timeout=REDIS_TIMEOUT_SECONDS, health_check_interval=10,
                                retry=Retry(NoBackoff(), 1))


# -- encoding ------------------------------------------------------------------------------------
def encode_board(snap: BoardSnapshot) -> bytes:
    return orjson.dumps({"version": snap.version, "floor": snap.floor, "rows": snap.rows,
                         "row_versions": snap.row_versions, "tombstones": snap.tombstones})


def decode_board(raw: bytes) -> BoardSnapshot:
    data = orjson.loads(raw)
    return BoardSnapshot(version=int(data["version"]), floor=int(data["floor"]), rows=data["rows"],
                         row_versions=data["row_versions"], tombstones=data["tombstones"])


def encode_view(view: MarketView) -> bytes:
    return orjson.dumps({
        "version": view.version, "run": view.run, "day": view.day,
        "series": {k: {"x": s.x, "cols": s.cols} for k, s in view.series.items()},
        "series_versions": view.series_versions, "parts": view.parts, "part_versions": view.part_versions,
        "summary": view.summary, "session": view.session, "recent_versions": view.recent_versions,
    })


def decode_view(raw: bytes) -> MarketView:
    data = orjson.loads(raw)
    series = {k: ChartSeries(tuple(s["x"]), {c: tuple(v) for c, v in s["cols"].items()})
              for k, s in data["series"].items()}
    session = data["session"]
    return MarketView(version=int(data["version"]), run=data["run"], day=int(data["day"]), series=series,
                      series_versions=data["series_versions"], parts=data["parts"],
                      part_versions=data["part_versions"], summary=data["summary"],
                      session=tuple(session) if session else None,
                      recent_versions=tuple(data["recent_versions"]))


# -- web worker side -----------------------------------------------------------------------------
class RedisBoard:
    """The board as the feed process last published it; every read is local."""

    def __init__(self) -> None:
        start = time.time_ns() // 1_000_000
        self._snap = BoardSnapshot(version=start, floor=start, rows={}, row_versions={}, tombstones={})

    @property
    def version(self) -> int:
        return self._snap.version

    def snapshot(self) -> BoardSnapshot:
        return self._snap

    def rows(self) -> list[Row]:
        return self._snap.ordered_rows()

    def row(self, symbol: str) -> Row | None:
        return self._snap.rows.get(symbol)

    def changes_since(self, since: object) -> BoardChanges:
        return self._snap.changes_since(since)

    def replace(self, snap: BoardSnapshot) -> None:
        self._snap = snap


class FeedUnavailableError(ServiceUnavailable):
    """The feed process did not answer a command in time (the API answers 503 with the reason)."""

    @property
    def user_message(self) -> str:
        """What a page tells the user (the feed process is not answering), never internals."""
        return str(self.description)


class RemoteMarketService(MarketService):
    """A web worker's market service in server mode: reads what the feed process publishes."""

    def __init__(self, client: redis.Redis, *, commands: redis.Redis | None = None,
                 settings: ServiceSettings | None = None, store: Any = None, userdata: Any = None,
                 monotonic: Callable[[], float] = time.monotonic, poll_seconds: float | None = None) -> None:
        """``commands``: a client for acknowledgements, whose read timeout outlasts the reply wait."""
        super().__init__(settings=settings, board=None, store=store, userdata=userdata, monotonic=monotonic)
        self.board: RedisBoard = RedisBoard()  # type: ignore[assignment]
        self.client = client
        self.commands = commands or client
        self.poll_seconds = poll_seconds or self.settings.tick_seconds
        self.view = empty_view()
        self.history: dict[str, Any] | None = None
        self._heartbeat: dict[str, Any] | None = None
        self._heard_at: float | None = None
        self._heard: tuple[str, int] | None = None
        self._versions: dict[str, object] = {}
        self._redis_error: str | None = None
        self._created = monotonic()
        self._refresh_lock = threading.Lock()
        self._remote_alerts: list[dict[str, Any]] = []

    # -- reading what the feed process published -------------------------------------------------
    def refresh(self) -> bool:
        """Fetch the heartbeat and the parts whose version moved; False when Redis did not answer."""
        with self._refresh_lock:
            try:
                raw = self.client.get(KEYS["heartbeat"])
                if raw is None:
                    self._redis_error = None
                    return True
                beat = orjson.loads(raw)
                wanted = [p for p in ("board", "view", "summary", "alerts")
                          if beat["versions"].get(p) != self._versions.get(p) or beat["run"] != self._run()]
                blobs = dict(zip(wanted, self.client.mget([KEYS[p] for p in wanted]), strict=True)) if wanted else {}
            except (redis.RedisError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
                self._redis_error = type(exc).__name__
                return False
            self._redis_error = None
            self._apply(beat, blobs)
            return True

    def _run(self) -> str | None:
        return None if self._heartbeat is None else self._heartbeat.get("run")

    def _apply(self, beat: dict[str, Any], blobs: Mapping[str, bytes | None]) -> None:
        if blobs.get("board"):
            self.board.replace(decode_board(blobs["board"]))
        if blobs.get("view"):
            self.view = decode_view(blobs["view"])
        if blobs.get("summary"):
            self.summary = orjson.loads(blobs["summary"])
        if blobs.get("alerts"):
            alerts = orjson.loads(blobs["alerts"])
            self._remote_alerts = alerts["items"]
            self.alerts_revision = int(alerts["revision"])
        self._versions = {p: beat["versions"].get(p) for p in blobs if blobs[p]} | {
            p: v for p, v in self._versions.items() if not blobs.get(p)}
        self.history = beat.get("history")
        heard = (beat["run"], int(beat["seq"]))
        if heard != self._heard:
            self._heard, self._heard_at = heard, self._monotonic()
        self._heartbeat = beat

    def start(self, runner: Any = None) -> None:  # type: ignore[override]
        """Start the refresher thread (there is no feed in this process)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._started = True
        self._thread = threading.Thread(target=self._refresh_loop, name="market-refresh", daemon=True)
        self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # a malformed publish must not stop refreshing
                log.exception("board refresh failed")
            self._stop.wait(self.poll_seconds)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        self._started = False

    # -- status ------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The feed process's status as last heard; stale once it has been silent ``stale_seconds``."""
        stale_after = self.settings.stale_seconds
        beat, heard_at = self._heartbeat, self._heard_at
        now = self._monotonic()
        if beat is None or heard_at is None:
            waited = now - self._created
            error = (f"Redis did not answer ({self._redis_error})" if self._redis_error
                     else "no feed process has published the board")
            return {"state": "starting" if waited <= stale_after else "disconnected", "age_seconds": None,
                    "stale_after_seconds": stale_after, "messages": 0, "rejected": 0, "market_ts": None,
                    "error": error, "source": None, "simulated": False, "catching_up": False}
        status = dict(beat["status"])
        silent = now - heard_at
        if status.get("age_seconds") is not None:
            status["age_seconds"] = round(status["age_seconds"] + silent, 3)
        if silent > stale_after and status.get("state") in ("live", "starting", "stale"):
            status["state"] = "stale"
            status["age_seconds"] = max(status.get("age_seconds") or 0.0, round(silent, 3))
            status["error"] = (f"Redis did not answer ({self._redis_error})" if self._redis_error
                               else f"the feed process has not published for {silent:.0f} s")
        return status

    def history_status(self) -> dict[str, Any] | None:
        """The feed process's history writer, as its last heartbeat told (see MarketService)."""
        return self.history

    def state(self) -> Any:
        from backend.market.service import FeedState

        return FeedState(self.status()["state"])

    # -- alerts --------------------------------------------------------------------------------------
    def alerts(self, *, day: date | None = None, symbol: str | None = None, unacked: bool = False,
               limit: int = 200) -> list[dict[str, Any]]:
        if day is not None:
            return super().alerts(day=day, symbol=symbol, unacked=unacked, limit=limit)
        items = [dict(a) for a in self._remote_alerts]
        if symbol:
            items = [a for a in items if a.get("symbol") == symbol]
        if unacked:
            items = [a for a in items if not a.get("acked_at")]
        items.sort(key=lambda a: (a["ts"], a["id"]), reverse=True)
        return items[:limit]

    def record_alert(self, alert: dict[str, Any]) -> None:
        raise RuntimeError("alerts are recorded by the feed process")

    def acknowledge(self, alert_id: str, *, by: str, upto: str | None = None) -> bool:
        """Ask the feed process to acknowledge; raises FeedUnavailableError when it does not answer in time."""
        answer = self._command({"op": "ack", "id": alert_id, "by": by, "upto": upto}, wait=True)
        self.refresh()  # show the acknowledgement on this worker's next read already
        return bool(answer)

    # -- price rules -----------------------------------------------------------------------------------
    def add_rule(self, symbol: str, op: str, price: object, note: str = "", *,
                 board_units: bool = False) -> StoredRule:
        rule = super().add_rule(symbol, op, price, note, board_units=board_units)
        self._command({"op": "rules"}, wait=False)
        return rule

    def delete_rule(self, rule_id: str) -> bool:
        removed = super().delete_rule(rule_id)
        if removed:
            self._command({"op": "rules"}, wait=False)
        return removed

    def _command(self, command: dict[str, Any], *, wait: bool) -> object:
        reply = f"{PREFIX}reply:{secrets.token_hex(8)}" if wait else None
        try:
            self.commands.rpush(COMMANDS, orjson.dumps(command | {"reply": reply}))
            if reply is None:
                return None
            item = self.commands.blpop([reply], timeout=REPLY_TIMEOUT_SECONDS)
        except redis.RedisError as exc:
            raise FeedUnavailableError(f"the live market cannot be reached: Redis did not answer "
                                       f"({type(exc).__name__}); try again") from None
        if item is None:
            raise FeedUnavailableError("the live market feed process did not answer in time; try again")
        answer = orjson.loads(item[1])
        if answer.get("error"):
            raise FeedUnavailableError(f"{answer['error']}; try again")
        return answer.get("result")


