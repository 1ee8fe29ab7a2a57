"""Helpers of the feature-flag and signed-link tests: a settable clock and a recorded audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class AuditLog:
    """What a service reported to its audit callable, in order."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def __call__(self, actor: str, action: str, *, target: str = "", detail: dict[str, Any] | None = None) -> None:
        self.entries.append({"actor": actor, "action": action, "target": target, "detail": detail or {}})

    def actions(self) -> list[tuple[str, str, str]]:
        return [(e["actor"], e["action"], e["target"]) for e in self.entries]
