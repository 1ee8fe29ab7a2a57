"""The feed side of server mode: publish the board to Redis, run the workers' commands.

:class:`BoardPublisher` writes, once per tick, the parts of a market service that changed
(board, market view, core summary, alert rows) and a heartbeat with the feed status and
the history writer's counts; :class:`CommandHandler` runs the acknowledgements and rule
changes the web workers push (see :mod:`backend.market.board_state` for the reading side).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

import orjson
import redis

from backend.market.board_state import (
    COMMANDS,
    KEYS,
    MAX_COMMAND_BYTES,
    PREFIX,
    RESEND_SECONDS,
    encode_board,
    encode_view,
)
from backend.market.service import MarketService
from backend.warehouse import WarehouseError

log = logging.getLogger(__name__)

# One feed process publishes at a time: it holds this key, renewed every tick, expiring after the
# stale timeout. A second one waits (a standby) until the first has been silent that long.
LEASE = f"{PREFIX}lease"
_RENEW_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class BoardPublisher:
    """Publishes a market service's board, view, summary, alerts and status to Redis every tick."""

    def __init__(self, service: MarketService, client: redis.Redis, *, interval: float | None = None) -> None:
        self.service = service
        self.client = client
        self.interval = interval or service.settings.tick_seconds
        self.run = secrets.token_hex(6)  # a restarted feed process is a new run
        self.seq = 0
        self.published: dict[str, object] = {}
        self.failures = 0
        self.last_error: str | None = None
        self._summary_seq = 0
        self._summary_obj: object = None
        self._lock = threading.Lock()
        self.lease_ms = max(100, int(service.settings.stale_seconds * 1000))
        self._renew = client.register_script(_RENEW_LEASE)
        self._release = client.register_script(_RELEASE_LEASE)
        self.lost = False  # another feed process took the lease: this one must stop publishing
        self.holder: str | None = None  # who holds the lease when this one does not

    def hold_lease(self) -> bool:
        """Take the right to publish when it is free, renew it when it is ours; False while another run holds it."""
        if self._renew(keys=[LEASE], args=[self.run, self.lease_ms]):
            self.holder = self.run
            return True
        raw = self.client.get(LEASE)
        self.holder = raw.decode(errors="replace")[:40] if raw else None
        return False

    def release_lease(self) -> None:
        """Give up the right to publish (a clean stop), so a standby need not wait out the stale timeout."""
        try:
            self._release(keys=[LEASE], args=[self.run])
        except redis.RedisError:
            pass  # it expires by itself

    def publish(self) -> bool:
        """Write the parts that changed since the last publish, then the heartbeat; False if Redis failed
        or another feed process holds the lease (then ``lost`` is set and nothing is written)."""
        with self._lock:
            try:
                if not self.hold_lease():
                    self.lost = True
                    return False
            except redis.RedisError as exc:
                self.failures += 1
                self.last_error = type(exc).__name__
                self.published = {}
                return False
            service = self.service
            snap, view, summary = service.board.snapshot(), service.view, service.summary
            if summary is not self._summary_obj:
                self._summary_obj, self._summary_seq = summary, self._summary_seq + 1
            versions = {"board": snap.version, "view": view.version, "summary": self._summary_seq,
                        "alerts": service.alerts_revision}
            if self.seq % max(1, round(RESEND_SECONDS / self.interval)) == 0:
                # Everything again now and then: a Redis restarted in between has lost the keys.
                self.published = {}
            blobs: dict[str, bytes] = {}
            if self.published.get("board") != versions["board"]:
                blobs["board"] = encode_board(snap)
            if self.published.get("view") != versions["view"]:
                blobs["view"] = encode_view(view)
            if self.published.get("summary") != versions["summary"]:
                blobs["summary"] = orjson.dumps(summary, option=orjson.OPT_NON_STR_KEYS)
            if self.published.get("alerts") != versions["alerts"]:
                items = service.alerts(limit=service.settings.recent_alerts)
                blobs["alerts"] = orjson.dumps({"revision": versions["alerts"], "items": items})
            self.seq += 1
            heartbeat = {"run": self.run, "seq": self.seq, "published": time.time(), "versions": versions,
                         "status": service.status(), "history": service.history_status()}
            try:
                pipe = self.client.pipeline(transaction=True)
                for part, blob in blobs.items():
                    pipe.set(KEYS[part], blob)
                pipe.set(KEYS["heartbeat"], orjson.dumps(heartbeat))
                pipe.execute()
            except redis.RedisError as exc:
                self.failures += 1
                self.last_error = type(exc).__name__
                # Everything is re-sent once Redis answers again (it may have lost its keys).
                self.published = {}
                return False
            self.published = dict(versions)
            self.last_error = None
            return True

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set() and not self.lost:
            try:
                if not self.publish() and not self.lost and self.failures % 40 == 1:
                    log.warning("cannot publish the board to Redis (%s); retrying", self.last_error)
            except Exception:  # a bad tick must not end publishing; the next one retries
                log.exception("board publish failed")
            stop.wait(self.interval)
        if self.lost:
            log.error("another feed process (run %s) now publishes the board; this one stops", self.holder)
            stop.set()

    def wait_for_lease(self, stop: threading.Event, *, report_every: float = 10.0) -> bool:
        """Block until this run may publish (True) or ``stop`` is set (False); says why it waits."""
        said = -report_every
        started = time.monotonic()
        while not stop.is_set():
            try:
                if self.hold_lease():
                    return True
                why = f"another feed process (run {self.holder}) publishes the board"
            except redis.RedisError as exc:
                why = f"Redis does not answer ({type(exc).__name__})"
            waited = time.monotonic() - started
            if waited - said >= report_every:
                log.warning("%s; waiting (a standby takes over %.0f s after it goes silent)", why,
                            self.lease_ms / 1000)
                said = waited
            stop.wait(min(1.0, self.lease_ms / 4000))
        return False


class CommandHandler:
    """Runs the workers' commands (acknowledge, re-read rules) in the feed process."""

    def __init__(self, service: MarketService, client: redis.Redis, publisher: BoardPublisher) -> None:
        self.service = service
        self.client = client
        self.publisher = publisher
        self._rules = {r.id for r in service.rules()}

    def handle(self, raw: bytes) -> None:
        try:
            command = orjson.loads(raw) if len(raw) <= MAX_COMMAND_BYTES else None
        except orjson.JSONDecodeError:
            command = None
        if not isinstance(command, dict):
            log.warning("ignored a malformed market command (%d bytes)", len(raw))
            return
        op, reply = command.get("op"), command.get("reply")
        result: object = None
        error: str | None = None
        try:
            if op == "ack" and isinstance(command.get("id"), str) and isinstance(command.get("by"), str):
                result = self._acknowledge(command)
            elif op == "rules":
                self.sync_rules()
                result = True
            else:
                error = "unknown command"
                log.warning("ignored an unknown market command %r", str(op)[:40])
        except Exception as exc:  # the worker gets an answer, not a timeout; the log has the trace
            log.exception("market command %r failed", str(op)[:40])
            error = f"the feed process could not do it ({type(exc).__name__})"
        self.publisher.publish()  # the acknowledging worker reads the new alert list at once
        if isinstance(reply, str) and reply.startswith(f"{PREFIX}reply:") and len(reply) < 100:
            pipe = self.client.pipeline(transaction=True)
            pipe.rpush(reply, orjson.dumps({"result": result, "error": error}))
            pipe.expire(reply, 30)
            pipe.execute()

    def _acknowledge(self, command: dict[str, Any]) -> bool:
        upto = command.get("upto")
        try:
            return self.service.acknowledge(command["id"][:100], by=command["by"][:64],
                                            upto=upto[:100] if isinstance(upto, str) else None)
        except WarehouseError as exc:
            # The live list is acknowledged before history is written: the user's action stands.
            log.warning("alert %s acknowledged; its history row is not updated: %s", command["id"][:100], exc)
            return True

    def sync_rules(self) -> None:
        """Make the alert engine watch exactly the stored rules."""
        from backend.market.service import _engine_rule

        core = self.service.core
        stored = {r.id: r for r in self.service.rules()}
        if core is not None:
            for rule_id in self._rules - set(stored):
                core.remove_price_rule(rule_id)
            for rule_id in set(stored) - self._rules:
                core.add_price_rule(_engine_rule(stored[rule_id]))
        self._rules = set(stored)

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                item = self.client.blpop([COMMANDS], timeout=0.5)
            except redis.RedisError:
                stop.wait(1.0)
                continue
            if item is not None:
                try:
                    self.handle(item[1])
                except Exception:  # one bad command must not stop the others
                    log.exception("market command failed")


