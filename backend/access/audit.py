"""The audit log: who changed what about users, roles, tokens and sign-in, and from where.

Recording never fails the action it describes: odd values are turned into text and cut to
the column sizes, a large detail is truncated, and anything named like a secret (password,
token, hash, secret) is replaced before it is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, insert, select

from backend.meta.models import AUDIT_ACTION_MAX, USER_ID_MAX, AuditEntry, utc_now
from backend.meta.store import MetaStore

DETAIL_MAX_BYTES: Final = 4096
LIST_MAX: Final = 1000
REDACTED: Final = "[redacted]"
_SECRET_KEY = re.compile(r"pass|token|secret|hash|credential", re.IGNORECASE)
_AUDIT = AuditEntry.__table__


class AuditQueryError(ValueError):
    """An audit listing request with a bad filter; the message says which."""


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    address: str
    request_id: str


def _text(value: object, limit: int) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text[:limit]


def _scrub(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy with secret-looking keys redacted (nesting kept to a few levels)."""
    if depth > 6:
        return "…"
    if isinstance(value, Mapping):
        return {str(k)[:100]: (REDACTED if _SECRET_KEY.search(str(k)) else _scrub(v, depth + 1))
                for k, v in list(value.items())[:200]}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_scrub(v, depth + 1) for v in list(items)[:500]]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)[:2000]


def clean_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    if detail is None:
        return {}
    if not isinstance(detail, Mapping):
        detail = {"value": detail}
    scrubbed = _scrub(detail)
    encoded = json.dumps(scrubbed, ensure_ascii=False, default=str, separators=(",", ":"))
    if len(encoded.encode("utf-8")) <= DETAIL_MAX_BYTES:
        return scrubbed
    # Keep a readable start of it rather than refuse: the action already happened. Quotes are
    # escaped again inside the preview, so cut until the stored entry fits.
    keep = DETAIL_MAX_BYTES - 100
    while True:
        preview = encoded.encode("utf-8")[:keep].decode("utf-8", errors="ignore")
        cut = {"truncated": True, "preview": preview}
        if keep <= 0 or len(json.dumps(cut, ensure_ascii=False).encode("utf-8")) <= DETAIL_MAX_BYTES:
            return cut
        keep = keep * 3 // 4


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Audit:
    """Append to and read the audit log of one records store."""

    def __init__(self, meta: MetaStore, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.meta = meta
        self.clock = clock

    def record(self, actor: str, action: str, *, target: str = "", detail: Mapping[str, Any] | None = None,
               address: str = "", request_id: str = "") -> None:
        with self.meta.write() as conn:
            self.write(conn, actor, action, target=target, detail=detail, address=address, request_id=request_id)

    def write(self, conn: Connection, actor: str, action: str, *, target: str = "",
              detail: Mapping[str, Any] | None = None, address: str = "", request_id: str = "") -> None:
        """Record inside the caller's transaction, so a change and its entry commit together."""
        conn.execute(insert(_AUDIT).values(
            at=self.clock(), actor=_text(actor, USER_ID_MAX), action=_text(action, AUDIT_ACTION_MAX),
            target=_text(target, 200), detail=clean_detail(detail), address=_text(address, 64),
            request_id=_text(request_id, 64),
        ))

    def list(self, *, actor: str | None = None, action: str | None = None, since: datetime | None = None,
             before_id: int | None = None, limit: int = 100) -> list[AuditRecord]:
        """Entries newest first; pass the last id seen as ``before_id`` for the next page."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIST_MAX:
            raise AuditQueryError(f"limit: a whole number from 1 to {LIST_MAX}")
        query = select(_AUDIT)
        if actor is not None:
            if not isinstance(actor, str) or len(actor) > USER_ID_MAX:
                raise AuditQueryError("actor: expected a user name")
            query = query.where(_AUDIT.c.actor == actor)
        if action is not None:
            if not isinstance(action, str) or len(action) > AUDIT_ACTION_MAX:
                raise AuditQueryError("action: expected an action name")
            query = query.where(_AUDIT.c.action == action)
        if since is not None:
            if not isinstance(since, datetime) or since.tzinfo is None:
                raise AuditQueryError("since: expected a time with a time zone")
            query = query.where(_AUDIT.c.at >= since.astimezone(UTC))
        if before_id is not None:
            if isinstance(before_id, bool) or not isinstance(before_id, int) or not 0 < before_id < 2**63:
                raise AuditQueryError("before_id: expected an entry id")
            query = query.where(_AUDIT.c.id < before_id)
        with self.meta.read() as conn:
            rows = conn.execute(query.order_by(_AUDIT.c.id.desc()).limit(limit)).all()
        return [AuditRecord(id=r.id, at=_as_utc(r.at), actor=r.actor, action=r.action,  # type: ignore[arg-type]
                            target=r.target, detail=r.detail or {}, address=r.address, request_id=r.request_id)
                for r in rows]
