"""One typed settings object for the whole application, in sections.

``load_settings()`` reads the environment once and returns a frozen ``Settings``:
``settings.server``, ``.warehouse``, ``.records``, ``.cache``, ``.demo``,
``.market``, ``.jobs`` and ``.observability``, each a small validated model.
The environment variables keep their flat documented names (``DESKBOARD_PORT``,
``DESKBOARD_MARKET_SPEED``, ``DESKBOARD_JOBS_CONCURRENCY``, ...): every field of
every section names its variable, and ``variables()`` lists them all.

Defaults run everything embedded under one data directory. Any invalid value, in
any section, stops the start with ``SettingsError`` naming the variable, the value
(never a secret's) and what is allowed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from backend.config_env import describe_errors, parse_env_value

log = logging.getLogger(__name__)

ENV_PREFIX = "DESKBOARD_"
_PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "password", "dev", "deskboard-dev-only"}
_URL_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class SettingsError(RuntimeError):
    """Raised at start when the environment holds an invalid setting."""


class Section(BaseModel):
    """One group of settings. Constructed directly (tools, tests) it validates the same way."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Variable of field ``f``: ``env_prefix + F`` unless ``env_names`` says otherwise.
    env_prefix: ClassVar[str] = ENV_PREFIX
    env_names: ClassVar[dict[str, str]] = {}
    # What a value must look like, for fields whose type and bounds do not say it.
    allowed: ClassVar[dict[str, str]] = {}
    # Values never repeated in an error message (credentials, URLs that may carry a password).
    sensitive: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def variable(cls, field: str) -> str:
        return cls.env_names.get(field, cls.env_prefix + field.upper())


class ServerSettings(Section):
    """Where and how the web server runs."""

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(8050, ge=1, le=65535)
    debug: bool = False
    secret_key: SecretStr = SecretStr("deskboard-dev-only")
    # Which process runs the live feed: this one ("embedded"), a feed process that publishes
    # the board to Redis ("process"), or none ("off").
    feed: Literal["embedded", "process", "off"] = "embedded"
    # gunicorn: worker processes, and threads in each.
    workers: int = Field(2, ge=1, le=64)
    threads: int = Field(8, ge=1, le=256)
    # Event-stream connections: each open one holds a thread of its worker while it lasts, so a
    # worker keeps at most ``streams`` (the next is told to retry) and closes each one after
    # ``stream_seconds`` (the client resumes from its position at once, missing nothing).
    streams: int = Field(4, ge=1, le=256)
    stream_seconds: int = Field(300, ge=5, le=3600)
    # gunicorn's access log: a file path, or "-" for standard output; unset: none.
    access_log: str | None = None

    sensitive: ClassVar[frozenset[str]] = frozenset({"secret_key"})
    allowed: ClassVar[dict[str, str]] = {"secret_key": "a real secret (required when DESKBOARD_ENV=production)"}

    @model_validator(mode="after")
    def _no_placeholder_secret_in_production(self) -> ServerSettings:
        if self.env == "production" and self.secret_key.get_secret_value() in _PLACEHOLDER_SECRETS:
            raise ValueError("DESKBOARD_SECRET_KEY must be set to a real secret in production")
        return self


class WarehouseSettings(Section):
    """The analytical warehouse: embedded chDB folder, or a ClickHouse server."""

    env_prefix: ClassVar[str] = ENV_PREFIX + "WAREHOUSE_"
    sensitive: ClassVar[frozenset[str]] = frozenset({"dsn"})
    allowed: ClassVar[dict[str, str]] = {
        "dsn": "chdb:///abs/path or http(s)://user:pass@host:8123/db",
        "database": "a name of letters, digits and _ (at most 63), not starting with a digit",
    }

    # chdb:///abs/path (embedded) or http(s)://user:pass@host:8123/db; unset: chDB in the data dir.
    dsn: str | None = None
    database: str = Field("deskboard", pattern=_URL_NAME)

    @field_validator("dsn")
    @classmethod
    def _check_dsn(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"chdb", "http", "https"}:
            raise ValueError("must start with chdb://, http:// or https://")
        if parts.scheme == "chdb" and (parts.netloc or not parts.path.startswith("/")):
            raise ValueError("a chdb DSN needs an absolute path: chdb:///abs/path")
        return value


class RecordsSettings(Section):
    """The records store (saved views, watchlists, rules, jobs, ...)."""

    env_names: ClassVar[dict[str, str]] = {"url": ENV_PREFIX + "META_URL"}
    sensitive: ClassVar[frozenset[str]] = frozenset({"url"})
    allowed: ClassVar[dict[str, str]] = {
        "url": "a SQLAlchemy URL of SQLite or PostgreSQL, e.g. postgresql+psycopg://user:pass@host/db"}

    # SQLAlchemy URL; unset: a SQLite file in the data dir.
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise ValueError("not a database URL") from None
        if backend not in {"sqlite", "postgresql"}:
            raise ValueError(f"the records store runs on SQLite or PostgreSQL, not {backend}")
        return value


class CacheSettings(Section):
    """Query cache and background-callback broker."""

    env_prefix: ClassVar[str] = ENV_PREFIX + "CACHE_"
    env_names: ClassVar[dict[str, str]] = {"redis_url": ENV_PREFIX + "REDIS_URL"}
    sensitive: ClassVar[frozenset[str]] = frozenset({"redis_url"})
    allowed: ClassVar[dict[str, str]] = {"redis_url": "a redis://, rediss:// or unix:// URL"}

    # Unset: a file cache in the data dir.
    redis_url: str | None = None
    ttl_seconds: int = Field(300, ge=0, le=86_400)

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


class DemoSettings(Section):
    """Demo data created on first start when the warehouse is empty."""

    env_prefix: ClassVar[str] = ENV_PREFIX + "DEMO_"

    rows: int = Field(200_000, ge=0, le=50_000_000)
    seed: int = 7


class ObservabilitySettings(Section):
    """Logs and metrics."""

    env_prefix: ClassVar[str] = ENV_PREFIX + "LOG_"
    env_names: ClassVar[dict[str, str]] = {"metrics_token": ENV_PREFIX + "METRICS_TOKEN"}
    sensitive: ClassVar[frozenset[str]] = frozenset({"metrics_token"})

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["json", "console"] = "json"
    # When set, /metrics wants it as a bearer token.
    metrics_token: SecretStr | None = None

    @field_validator("level", "format", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            return value.strip().upper() if info.field_name == "level" else value.strip().lower()
        return value


# The market's and the job runner's sections live here too, not in their packages: those
# packages import this module, and every variable is checked in one place at start.
# ``backend.market.settings`` and ``backend.jobs.settings`` re-export them.
class MarketSettings(Section):
    """The live market: its feed (source, simulator, replay, SSI) and the service around it."""

    env_prefix: ClassVar[str] = ENV_PREFIX + "MARKET_"
    env_names: ClassVar[dict[str, str]] = {"ssi_consumer_id": ENV_PREFIX + "SSI_CONSUMER_ID",
                                           "ssi_consumer_secret": ENV_PREFIX + "SSI_CONSUMER_SECRET"}
    sensitive: ClassVar[frozenset[str]] = frozenset({"ssi_consumer_id", "ssi_consumer_secret"})
    allowed: ClassVar[dict[str, str]] = {
        "start_time": "auto, now or HH:MM (24-hour VN time)",
        "ssi_api_url": "an http:// or https:// URL",
        "ssi_hub_url": "an http:// or https:// URL",
        "ssi_channels": "a comma-separated list of CHANNEL:SYMBOLS (channels F, X-QUOTE, X-TRADE, X, R, MI, B, OL)",
    }

    # -- the service (feed thread, board ticks, history, alerts) --
    enabled: bool = True
    # The board shows a stale-feed banner after this long without a message.
    stale_seconds: float = Field(10.0, gt=0, le=3600)
    tick_seconds: float = Field(0.25, ge=0.02, le=10)
    flush_seconds: float = Field(1.0, ge=0.05, le=60)
    # History kept (trades, foreign flow, index, basis, alerts); the market store's default.
    retention_days: int = Field(30, ge=1, le=3650)
    recent_alerts: int = Field(500, ge=10, le=100_000)
    # History rows kept per table while the warehouse refuses writes; beyond it the oldest go.
    history_buffer_rows: int = Field(500_000, ge=100, le=50_000_000)
    # Repeats of one alert condition (kind, symbol, rule) this close in market time fold into one row.
    alert_fold_seconds: float = Field(900.0, ge=0, le=86_400)

    # -- the feed --
    source: Literal["simulator", "replay", "ssi"] = "simulator"
    # Messages per wall-clock second the simulator emits (and replay's cap when speed is 0).
    rate: float = Field(500.0, gt=0, le=200_000)
    # Simulated (or replayed) seconds per wall-clock second: 60 shows a trading day in ~5 minutes.
    speed: float = Field(1.0, gt=0, le=10_000)
    seed: int = 7
    # "vn30" simulates the basket; "hose" adds ~370 more HOSE symbols to VNINDEX.
    universe: Literal["vn30", "hose"] = "vn30"
    # Where the simulated day goes live, on the VN clock; the session before it is replayed fast
    # first. "auto": now when the market is trading (09:00–11:30, 13:00–14:45), else 10:00;
    # "now": the wall clock's time of day; "HH:MM": that time.
    start_time: str = Field("auto", pattern=r"^(auto|now|([01]\d|2[0-3]):[0-5]\d)$")
    # Jump over the lunch break and the time before the open instead of waiting through them.
    skip_breaks: bool = True
    replay_file: Path | None = None
    # Write every message the feed produces to this JSON-lines file.
    record_file: Path | None = None
    # SSI FastConnect credentials: no defaults, never printed.
    ssi_consumer_id: SecretStr | None = None
    ssi_consumer_secret: SecretStr | None = None
    ssi_api_url: str = Field("https://fc-data.ssi.com.vn/", pattern=r"^https?://")
    ssi_hub_url: str = Field("https://fc-datahub.ssi.com.vn/", pattern=r"^https?://")
    # Channels to subscribe, e.g. "X:ALL" or "X-TRADE:VN30F2401"; "-" joins several symbols.
    ssi_channels: tuple[str, ...] = ("X:ALL", "R:ALL", "MI:VN30", "MI:VNINDEX", "F:ALL")

    @field_validator("ssi_channels")
    @classmethod
    def _known_channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {"F", "X-QUOTE", "X-TRADE", "X", "R", "MI", "B", "OL"}
        for item in value:
            channel, _, symbols = item.partition(":")
            if channel not in known or not symbols:
                raise ValueError(f"unknown channel subscription {item[:40]!r}")
        if not value:
            raise ValueError("at least one channel")
        return value

    @model_validator(mode="after")
    def _source_needs(self) -> MarketSettings:
        if self.source == "replay" and self.replay_file is None:
            raise ValueError("DESKBOARD_MARKET_SOURCE=replay needs DESKBOARD_MARKET_REPLAY_FILE")
        if self.source == "ssi" and not (self.ssi_consumer_id and self.ssi_consumer_secret):
            raise ValueError("DESKBOARD_MARKET_SOURCE=ssi needs DESKBOARD_SSI_CONSUMER_ID and "
                             "DESKBOARD_SSI_CONSUMER_SECRET")
        return self


class JobSettings(Section):
    """The job runner."""

    env_prefix: ClassVar[str] = ENV_PREFIX + "JOBS_"
    allowed: ClassVar[dict[str, str]] = {"celery_queue": "1 to 100 letters, digits, _ . or -"}

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


class AccessSettings(Section):
    """Sign-in, sessions, lockout, embedding and the limits that protect them."""

    env_prefix: ClassVar[str] = ENV_PREFIX + "ACCESS_"
    env_names: ClassVar[dict[str, str]] = {
        "auth": ENV_PREFIX + "AUTH",
        "auth_off_in_production": ENV_PREFIX + "AUTH_OFF_IN_PRODUCTION",
    }
    allowed: ClassVar[dict[str, str]] = {
        "frame_ancestors": "origins separated by spaces ('self', https://intranet.example)",
        "metrics_allow": "IP addresses or networks separated by spaces or commas",
        "signin_rate": "a flask-limiter rate such as '10 per minute'",
        "api_rate": "a flask-limiter rate such as '600 per minute'",
    }

    # "on": users sign in; "off": one local user with every permission (a desktop tool).
    auth: Literal["on", "off"] = "on"
    # Production refuses DESKBOARD_AUTH=off unless this says it was meant.
    auth_off_in_production: bool = False
    # A session unused this long signs out (live pages' own refreshes do not count as use).
    idle_minutes: float = Field(480.0, ge=1, le=7 * 24 * 60)
    # Failed sign-ins in a row that lock an account, and for how long.
    lockout_attempts: int = Field(5, ge=1, le=100)
    lockout_minutes: float = Field(15.0, ge=0.1, le=24 * 60)
    # Who may embed pages in an iframe (Content-Security-Policy frame-ancestors).
    frame_ancestors: str = Field("'self'", max_length=2000)
    # /metrics answers requests from these addresses, or with DESKBOARD_METRICS_TOKEN.
    metrics_allow: str = Field("127.0.0.1 ::1", max_length=2000)
    # Rate limits (flask-limiter syntax), per client address.
    signin_rate: str = Field("10 per minute", max_length=100)
    api_rate: str = Field("1200 per minute", max_length=100)
    # Longest life of a signed read-only link (wall screens: up to a year).
    link_max_days: int = Field(366, ge=1, le=366)


class ResearchSettings(Section):
    """Research data: where its measurements are kept, how large an upload may be, demo datasets."""

    env_prefix: ClassVar[str] = ENV_PREFIX + "RESEARCH_"
    allowed: ClassVar[dict[str, str]] = {"questdb_ilp": "a QuestDB client configuration such as "
                                                        "'http::addr=127.0.0.1:9000;'"}
    sensitive: ClassVar[frozenset[str]] = frozenset({"questdb_sql"})

    @model_validator(mode="after")
    def _questdb_addresses(self) -> ResearchSettings:
        if self.measurements == "questdb" and not (self.questdb_ilp and self.questdb_sql):
            raise ValueError("DESKBOARD_RESEARCH_MEASUREMENTS=questdb needs DESKBOARD_RESEARCH_QUESTDB_ILP and "
                             "DESKBOARD_RESEARCH_QUESTDB_SQL")
        return self

    # "parquet": files under the data directory (the embedded default; job workers read and
    # write them beside the web process); "clickhouse": tables in the warehouse (server mode).
    # "questdb": a QuestDB server (written over ILP, read over its PostgreSQL wire protocol).
    measurements: Literal["parquet", "clickhouse", "questdb"] = "parquet"
    upload_max_mb: int = Field(100, ge=1, le=4096)
    # QuestDB's client configuration ("http::addr=host:9000;") and its PostgreSQL URL.
    questdb_ilp: str | None = Field(None, pattern=r"^(tcp|tcps|http|https)::addr=[A-Za-z0-9.\-]+:\d{1,5};.{0,400}$")
    questdb_sql: SecretStr | None = None
    # With no dataset yet, the first start adds the S&P 500 and NASDAQ daily histories.
    demo_datasets: bool = True


SECTIONS: dict[str, type[Section]] = {
    "server": ServerSettings,
    "warehouse": WarehouseSettings,
    "records": RecordsSettings,
    "cache": CacheSettings,
    "demo": DemoSettings,
    "market": MarketSettings,
    "jobs": JobSettings,
    "observability": ObservabilitySettings,
    "access": AccessSettings,
    "research": ResearchSettings,
}
DATA_DIR_VARIABLE = ENV_PREFIX + "DATA_DIR"


class Settings(BaseModel):
    """Everything the application is configured with; frozen once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(Path("./data"), validate_default=True)  # made absolute: it is put into DSNs
    server: ServerSettings = ServerSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    records: RecordsSettings = RecordsSettings()
    cache: CacheSettings = CacheSettings()
    demo: DemoSettings = DemoSettings()
    market: MarketSettings = MarketSettings()
    jobs: JobSettings = JobSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    access: AccessSettings = AccessSettings()
    research: ResearchSettings = ResearchSettings()

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        value = value.expanduser().resolve()
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a folder")
        return value

    @model_validator(mode="after")
    def _servers_the_choices_need(self) -> Settings:
        if self.server.feed == "process" and not self.cache.redis_url:
            raise ValueError("DESKBOARD_FEED=process needs DESKBOARD_REDIS_URL (the feed process publishes there)")
        if self.jobs.runner == "celery" and not self.cache.redis_url:
            raise ValueError("DESKBOARD_JOBS_RUNNER=celery needs DESKBOARD_REDIS_URL (the broker)")
        if self.server.env == "production" and self.access.auth == "off" and not self.access.auth_off_in_production:
            raise ValueError("DESKBOARD_AUTH=off is refused when DESKBOARD_ENV=production "
                             "(set DESKBOARD_AUTH_OFF_IN_PRODUCTION=true if it is meant)")
        return self

    # -- resolved values -------------------------------------------------------------
    @property
    def warehouse_url(self) -> str:
        return self.warehouse.dsn or f"chdb://{self.data_dir / 'warehouse'}"

    @property
    def meta_database_url(self) -> str:
        return self.records.url or f"sqlite:///{self.data_dir / 'meta.sqlite3'}"

    @property
    def embedded_warehouse(self) -> bool:
        return self.warehouse_url.startswith("chdb://")

    # -- shorthands the code base reads everywhere -----------------------------------
    @property
    def env(self) -> str:
        return self.server.env

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def debug(self) -> bool:
        return self.server.debug

    @property
    def feed(self) -> str:
        return self.server.feed

    @property
    def secret_key(self) -> str:
        return self.server.secret_key.get_secret_value()

    @property
    def warehouse_database(self) -> str:
        return self.warehouse.database

    @property
    def redis_url(self) -> str | None:
        return self.cache.redis_url

    @property
    def cache_ttl_seconds(self) -> int:
        return self.cache.ttl_seconds

    @property
    def demo_rows(self) -> int:
        return self.demo.rows

    @property
    def demo_seed(self) -> int:
        return self.demo.seed


def variables() -> dict[str, tuple[str | None, str]]:
    """Every environment variable → (section or None for the root, field)."""
    table: dict[str, tuple[str | None, str]] = {DATA_DIR_VARIABLE: (None, "data_dir")}
    for name, section in SECTIONS.items():
        for field in section.model_fields:
            variable = section.variable(field)
            if variable in table:  # a programming error; caught by the tests
                raise RuntimeError(f"{variable} names two settings")
            table[variable] = (name, field)
    return table


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read settings from the environment (keyword overrides win); fail naming every bad variable.

    An override is named like its variable without the prefix, lower case (``data_dir``,
    ``meta_url``, ``market_speed``, ``jobs_concurrency``), or is a whole section
    (``market=MarketSettings(...)``).
    """
    environ = os.environ if environ is None else environ
    table = variables()
    by_key = {variable.removeprefix(ENV_PREFIX).lower(): variable for variable in table}
    values: dict[str | None, dict[str, Any]] = {None: {}, **{name: {} for name in SECTIONS}}
    given: dict[str | None, dict[str, Any]] = {name: {} for name in values}  # field → the value as given
    for variable, (section, field) in table.items():
        raw = environ.get(variable)
        if raw is None or raw.strip() == "":
            continue
        info = Settings.model_fields[field] if section is None else SECTIONS[section].model_fields[field]
        values[section][field] = raw if section is None else parse_env_value(raw, info)
        given[section][field] = raw
    whole: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in SECTIONS:
            whole[key] = value
        elif key in by_key:
            section, field = table[by_key[key]]
            values[section][field] = given[section][field] = value
        else:
            raise TypeError(f"load_settings() got an unknown setting {key!r}")
    problems: list[str] = []
    sections: dict[str, Any] = {}
    for name, section_cls in SECTIONS.items():
        if name in whole:
            sections[name] = whole[name]
            continue
        try:
            sections[name] = section_cls(**values[name])
        except ValidationError as exc:
            problems.extend(describe_errors(exc, section_cls, given[name], variable=section_cls.variable,
                                            allowed=section_cls.allowed, sensitive=section_cls.sensitive))
    try:
        # With a section refused, only the data dir is checked (against default sections), so
        # the checks across sections do not report what a refused section already explains.
        settings = Settings(**values[None], **({} if problems else sections))
    except ValidationError as exc:
        root = {"data_dir": DATA_DIR_VARIABLE}
        problems.extend(describe_errors(exc, Settings, given[None], variable=root.get,
                                        allowed={"data_dir": "a folder (created when missing)"}))
    if problems:
        raise SettingsError("invalid configuration — " + "; ".join(problems))
    _warn_unknown(environ, table)
    return settings


def _warn_unknown(environ: Mapping[str, str], table: Mapping[str, Any]) -> None:
    # A misspelt variable would otherwise be ignored without a word.
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in table and not name.startswith(ENV_PREFIX + "TEST_"):
            log.warning("%s is not a Deskboard setting and is ignored", name)
