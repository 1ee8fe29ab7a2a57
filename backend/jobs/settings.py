"""Settings of the job runner: the ``jobs`` section of the one ``Settings`` (``settings.jobs``).

Variables ``DESKBOARD_JOBS_*`` (runner, concurrency, heartbeat, result retention, queue
limits, where warehouse-bound jobs run, the Celery queue). The section is defined in
``backend.config`` with the others, so one check at start covers every variable; code takes
it from the settings it was given (``settings.jobs``). ``JobSettings()`` built directly
holds the defaults, never the environment.
"""

from __future__ import annotations

from backend.config import JobSettings

__all__ = ["JobSettings"]
