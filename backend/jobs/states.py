"""Job states, the transitions between them, and the errors of the job runner."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class JobState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED: Final = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

# The only moves a job makes. A queued job may end without running (cancelled, or
# failed when it could not be handed to the broker); a finished job never changes.
TRANSITIONS: Final[dict[JobState, frozenset[JobState]]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def sources_of(target: JobState) -> tuple[JobState, ...]:
    """The states from which ``target`` may be entered."""
    return tuple(s for s, targets in TRANSITIONS.items() if target in targets)


class JobError(Exception):
    """A job request that cannot be carried out; the message is for the user."""

    status = 400


class InvalidJobError(JobError):
    """Bad kind or parameters; ``field`` names what is wrong."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class JobNotFoundError(JobError):
    status = 404


class IllegalTransitionError(JobError):
    """The job is in a state that does not allow the change (e.g. it already finished)."""

    status = 409


class QueueFullError(JobError):
    status = 429


class ResultUnavailableError(JobError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class JobCancelled(Exception):
    """Raised inside a job at a progress check once cancellation was asked for."""
