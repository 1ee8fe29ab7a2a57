"""One typed settings object for the whole application.

Defaults run everything embedded under one data directory; environment
variables prefixed ``DESKBOARD_`` point the stores at real servers.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "password", "dev"}


class SettingsError(RuntimeError):
    """Raised at start when the environment holds an invalid setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DESKBOARD_", extra="ignore", frozen=True)

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = Field(8050, ge=1, le=65535)
    debug: bool = False

    # Analytical warehouse: chdb:///abs/path (embedded) or http(s)://user:pass@host:8123/db.
    warehouse_dsn: str | None = None
    warehouse_database: str = Field("deskboard", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    # Records store (SQLAlchemy URL); SQLite in the data dir by default.
    meta_url: str | None = None
    # Cache and background-callback broker; embedded file cache when unset.
    redis_url: str | None = None
    cache_ttl_seconds: int = Field(300, ge=0, le=86_400)
    # The live market feed: "embedded" (a thread of this process), "process" (a separate
    # ``python -m backend.market.feed_process`` publishes the board to Redis; web workers read it), "off".
    feed: Literal["embedded", "process", "off"] = "embedded"

    # Demo data created on first start when the warehouse is empty.
    demo_rows: int = Field(200_000, ge=0, le=50_000_000)
    demo_seed: int = 7

    secret_key: str = "deskboard-dev-only"

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("warehouse_dsn")
    @classmethod
    def _check_dsn(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = urlsplit(value).scheme
        if scheme not in {"chdb", "http", "https"}:
            raise ValueError("must start with chdb://, http:// or https://")
        if scheme == "chdb" and (urlsplit(value).netloc or not urlsplit(value).path.startswith("/")):
            raise ValueError("a chdb DSN needs an absolute path: chdb:///abs/path")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _no_placeholder_secret_in_production(self) -> Settings:
        if self.env == "production" and (
            self.secret_key in _PLACEHOLDER_SECRETS or self.secret_key == "deskboard-dev-only"
        ):
            raise ValueError("DESKBOARD_SECRET_KEY must be set to a real secret in production")
        return self

    @cached_property
    def warehouse_url(self) -> str:
        return self.warehouse_dsn or f"chdb://{self.data_dir / 'warehouse'}"

    @cached_property
    def meta_database_url(self) -> str:
        return self.meta_url or f"sqlite:///{self.data_dir / 'meta.sqlite3'}"

    @property
    def embedded_warehouse(self) -> bool:
        return self.warehouse_url.startswith("chdb://")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; fail with the variable's name when invalid."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            name = f"DESKBOARD_{field.upper()}" if err["loc"] else "settings"
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid configuration — " + "; ".join(problems)) from None
