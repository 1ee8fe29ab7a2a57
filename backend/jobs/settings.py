"""Settings of the job runner (environment prefix ``DESKBOARD_JOBS_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DESKBOARD_JOBS_", extra="ignore", frozen=True)

    # "auto": Celery when DESKBOARD_REDIS_URL is set, else the embedded worker processes.
    runner: Literal["auto", "embedded", "celery"] = "auto"
    # Jobs running at once per runner (embedded: worker processes and web threads together;
    # Celery: each worker's pool size). The rest wait QUEUED, first come first served.
    concurrency: int = Field(2, ge=1, le=32)
    # A running job writes a heartbeat this often; one silent for three periods has lost
    # its worker and is failed by the reaper.
    heartbeat_seconds: float = Field(5.0, ge=0.1, le=300)
    # Finished jobs' result files are deleted after this many hours (the record stays).
    result_retention_hours: float = Field(72.0, ge=0.01, le=24 * 365)
    # Jobs one owner may have waiting at once; more is refused (HTTP 429).
    max_queued_per_owner: int = Field(20, ge=1, le=10_000)
    # Where warehouse-bound kinds (exports) run. "auto": on web-process threads when the
    # warehouse is embedded (chDB belongs to the web process), else on the runner's workers.
    # "worker" needs workers that reach a warehouse of their own (a ClickHouse server).
    warehouse_jobs: Literal["auto", "web", "worker"] = "auto"
    # Celery queue the job tasks go to (workers must consume it: ``-Q``).
    celery_queue: str = Field("deskboard-jobs", pattern=r"^[A-Za-z0-9_.\-]{1,100}$")

    @property
    def stale_after_seconds(self) -> float:
        return max(3 * self.heartbeat_seconds, 1.0)
