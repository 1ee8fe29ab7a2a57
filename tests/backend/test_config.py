"""One settings object: sections in code, the documented flat variables, a clear refusal of bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Literal, get_origin

import pytest

from backend.config import SECTIONS, Settings, SettingsError, load_settings, variables
from backend.config_env import _base_type
from backend.jobs.settings import JobSettings
from backend.market.settings import MarketSettings, ServiceSettings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]

# Every variable the README and the code document; none may change its name.
DOCUMENTED = {
    "DESKBOARD_RESEARCH_MEASUREMENTS", "DESKBOARD_RESEARCH_UPLOAD_MAX_MB", "DESKBOARD_RESEARCH_DEMO_DATASETS",
    "DESKBOARD_RESEARCH_QUESTDB_ILP", "DESKBOARD_RESEARCH_QUESTDB_SQL",
    "DESKBOARD_DATA_DIR", "DESKBOARD_HOST", "DESKBOARD_PORT", "DESKBOARD_WAREHOUSE_DSN",
    "DESKBOARD_WAREHOUSE_DATABASE", "DESKBOARD_META_URL", "DESKBOARD_REDIS_URL", "DESKBOARD_CACHE_TTL_SECONDS",
    "DESKBOARD_DEMO_ROWS", "DESKBOARD_DEMO_SEED", "DESKBOARD_ENV", "DESKBOARD_SECRET_KEY", "DESKBOARD_DEBUG",
    "DESKBOARD_MARKET_ENABLED", "DESKBOARD_MARKET_SOURCE", "DESKBOARD_MARKET_RATE", "DESKBOARD_MARKET_SPEED",
    "DESKBOARD_MARKET_SEED", "DESKBOARD_MARKET_UNIVERSE", "DESKBOARD_MARKET_START_TIME",
    "DESKBOARD_MARKET_SKIP_BREAKS", "DESKBOARD_MARKET_ALERT_FOLD_SECONDS", "DESKBOARD_MARKET_REPLAY_FILE",
    "DESKBOARD_MARKET_RECORD_FILE", "DESKBOARD_SSI_CONSUMER_ID", "DESKBOARD_SSI_CONSUMER_SECRET",
    "DESKBOARD_MARKET_SSI_API_URL", "DESKBOARD_MARKET_SSI_HUB_URL", "DESKBOARD_MARKET_SSI_CHANNELS",
    "DESKBOARD_MARKET_STALE_SECONDS", "DESKBOARD_MARKET_TICK_SECONDS", "DESKBOARD_MARKET_FLUSH_SECONDS",
    "DESKBOARD_MARKET_RETENTION_DAYS", "DESKBOARD_MARKET_RECENT_ALERTS", "DESKBOARD_JOBS_RUNNER",
    "DESKBOARD_JOBS_CONCURRENCY", "DESKBOARD_JOBS_HEARTBEAT_SECONDS", "DESKBOARD_JOBS_RESULT_RETENTION_HOURS",
    "DESKBOARD_JOBS_MAX_QUEUED_PER_OWNER", "DESKBOARD_JOBS_WAREHOUSE_JOBS", "DESKBOARD_JOBS_CELERY_QUEUE",
    "DESKBOARD_FEED", "DESKBOARD_WORKERS", "DESKBOARD_THREADS", "DESKBOARD_STREAMS", "DESKBOARD_STREAM_SECONDS", "DESKBOARD_ACCESS_LOG", "DESKBOARD_LOG_LEVEL",
    "DESKBOARD_LOG_FORMAT", "DESKBOARD_METRICS_TOKEN", "DESKBOARD_MARKET_HISTORY_BUFFER_ROWS",
    "DESKBOARD_AUTH", "DESKBOARD_AUTH_OFF_IN_PRODUCTION", "DESKBOARD_ACCESS_IDLE_MINUTES",
    "DESKBOARD_ACCESS_LOCKOUT_ATTEMPTS", "DESKBOARD_ACCESS_LOCKOUT_MINUTES", "DESKBOARD_ACCESS_FRAME_ANCESTORS",
    "DESKBOARD_ACCESS_METRICS_ALLOW", "DESKBOARD_ACCESS_SIGNIN_RATE", "DESKBOARD_ACCESS_API_RATE",
    "DESKBOARD_ACCESS_LINK_MAX_DAYS",
}

# One bad value per section, with what the message must say is allowed.
BAD_PER_SECTION = {
    "root": ("DESKBOARD_DATA_DIR", "{a file}", "a folder"),
    "server": ("DESKBOARD_PORT", "eighty", "a whole number at least 1, at most 65535"),
    "warehouse": ("DESKBOARD_WAREHOUSE_DSN", "mysql://x", "chdb://, http:// or https://"),
    "records": ("DESKBOARD_META_URL", "mysql://u:p@h/x", "SQLite or PostgreSQL"),
    "cache": ("DESKBOARD_CACHE_TTL_SECONDS", "-1", "a whole number at least 0, at most 86400"),
    "demo": ("DESKBOARD_DEMO_ROWS", "lots", "a whole number at least 0"),
    "market": ("DESKBOARD_MARKET_SPEED", "0", "a number greater than 0, at most 10000"),
    "jobs": ("DESKBOARD_JOBS_CONCURRENCY", "0", "a whole number at least 1, at most 32"),
    "observability": ("DESKBOARD_LOG_FORMAT", "xml", "one of json, console"),
    "access": ("DESKBOARD_AUTH", "maybe", "one of on, off"),
    "research": ("DESKBOARD_RESEARCH_MEASUREMENTS", "s3", "one of parquet, clickhouse, questdb"),
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DESKBOARD_") and not name.startswith("DESKBOARD_TEST_"):
            monkeypatch.delenv(name)


def test_defaults_run_embedded_under_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESKBOARD_DATA_DIR", str(tmp_path / "d"))
    s = load_settings()
    assert (s.host, s.port) == ("127.0.0.1", 8050)
    assert s.warehouse_url == f"chdb://{tmp_path / 'd' / 'warehouse'}"
    assert s.meta_database_url == f"sqlite:///{tmp_path / 'd' / 'meta.sqlite3'}"
    assert s.redis_url is None and s.embedded_warehouse


def test_relative_data_dir_becomes_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOARD_DATA_DIR", "rel/dir")
    assert load_settings().data_dir.is_absolute()


def test_server_dsn_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOARD_WAREHOUSE_DSN", "https://u:p@ch.example:8443/desk")
    s = load_settings()
    assert s.warehouse_url == "https://u:p@ch.example:8443/desk" and not s.embedded_warehouse


def test_every_documented_variable_keeps_its_name_and_names_one_setting() -> None:
    table = variables()
    assert set(table) == DOCUMENTED
    assert len(set(table.values())) == len(table)
    assert {section for section, _ in table.values() if section} == set(SECTIONS)


def test_each_variable_reaches_its_section(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "DESKBOARD_PORT": "9000", "DESKBOARD_META_URL": "postgresql+psycopg://u@h/db", "DESKBOARD_REDIS_URL":
        "redis://h:6379/0", "DESKBOARD_CACHE_TTL_SECONDS": "10", "DESKBOARD_DEMO_ROWS": "0",
        "DESKBOARD_MARKET_SPEED": "60", "DESKBOARD_MARKET_STALE_SECONDS": "3", "DESKBOARD_MARKET_UNIVERSE": "hose",
        "DESKBOARD_MARKET_SSI_CHANNELS": "X:ALL, MI:VN30", "DESKBOARD_JOBS_CONCURRENCY": "4",
        "DESKBOARD_JOBS_RUNNER": "celery", "DESKBOARD_LOG_LEVEL": "debug", "DESKBOARD_FEED": "process",
        "DESKBOARD_MARKET_ENABLED": "false", "DESKBOARD_WAREHOUSE_DSN": "", "DESKBOARD_DATA_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert s.server.port == s.port == 9000 and s.records.url == "postgresql+psycopg://u@h/db"
    assert s.cache.redis_url == s.redis_url == "redis://h:6379/0" and s.cache.ttl_seconds == 10
    assert s.demo.rows == 0 and s.market.speed == 60 and s.market.stale_seconds == 3
    assert s.market.universe == "hose" and s.market.ssi_channels == ("X:ALL", "MI:VN30")
    assert s.market.enabled is False and s.jobs.concurrency == 4 and s.jobs.runner == "celery"
    assert s.observability.level == "DEBUG" and s.feed == "process"
    assert s.warehouse.dsn is None and s.embedded_warehouse  # empty means unset
    monkeypatch.setenv("DESKBOARD_MARKET_SSI_CHANNELS", '["X-TRADE:VN30F2401", "B:ALL"]')
    assert load_settings().market.ssi_channels == ("X-TRADE:VN30F2401", "B:ALL")


@pytest.mark.parametrize("section", sorted(BAD_PER_SECTION))
def test_one_bad_variable_in_any_section_is_named_with_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, section: str
) -> None:
    variable, value, allowed = BAD_PER_SECTION[section]
    if value == "{a file}":
        value = str(tmp_path / "a-file")
        Path(value).write_text("not a folder")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert variable in message and allowed in message
    assert "\n" not in message


def test_the_bad_value_cases_cover_every_section() -> None:
    assert set(BAD_PER_SECTION) == {*SECTIONS, "root"}


def _typed_variables() -> list[str]:
    table = variables()
    out = []
    for name, (section, field) in table.items():
        if section is None:
            continue
        base = _base_type(SECTIONS[section].model_fields[field].annotation)
        if base in (int, float, bool) or base is Literal or get_origin(base) is Literal:
            out.append(name)
    return sorted(out)


@pytest.mark.parametrize("variable", _typed_variables())
def test_every_number_switch_and_choice_refuses_nonsense_by_name(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "nonsense-value")
    with pytest.raises(SettingsError, match=f"{variable}='nonsense-value' is not allowed"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DESKBOARD_PORT", "70000"),
        ("DESKBOARD_WAREHOUSE_DSN", "chdb://relative/path"),
        ("DESKBOARD_REDIS_URL", "http://not-redis"),
        ("DESKBOARD_WAREHOUSE_DATABASE", "x; DROP DATABASE y"),
        ("DESKBOARD_ENV", "staging"),
        ("DESKBOARD_META_URL", "not a url"),
        ("DESKBOARD_MARKET_START_TIME", "25:00"),
        ("DESKBOARD_MARKET_SSI_CHANNELS", "Q:ALL"),
        ("DESKBOARD_MARKET_SSI_API_URL", "ftp://x"),
        ("DESKBOARD_MARKET_RATE", "nan"),
        ("DESKBOARD_JOBS_CELERY_QUEUE", "bad queue!"),
        ("DESKBOARD_JOBS_HEARTBEAT_SECONDS", "1e9"),
        ("DESKBOARD_DEMO_ROWS", "9" * 400),
    ],
)
def test_invalid_setting_fails_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable) as info:
        load_settings()
    assert len(str(info.value)) < 600  # an oversized value is cut, not echoed whole


def test_several_bad_variables_are_all_named_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("DESKBOARD_DATA_DIR", str(tmp_path / "file"))
    monkeypatch.setenv("DESKBOARD_PORT", "0")
    monkeypatch.setenv("DESKBOARD_MARKET_SPEED", "-1")
    monkeypatch.setenv("DESKBOARD_JOBS_RUNNER", "cron")
    message = str(pytest.raises(SettingsError, load_settings).value)
    assert all(v in message for v in ("DESKBOARD_PORT", "DESKBOARD_MARKET_SPEED", "DESKBOARD_JOBS_RUNNER",
                                      "DESKBOARD_DATA_DIR"))


def test_secrets_and_passwords_are_never_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOARD_META_URL", "mysql://desk:hunter2@db/x")
    monkeypatch.setenv("DESKBOARD_REDIS_URL", "http://:hunter3@cache")
    monkeypatch.setenv("DESKBOARD_MARKET_SOURCE", "ssi")
    monkeypatch.setenv("DESKBOARD_SSI_CONSUMER_SECRET", "hunter4")
    message = str(pytest.raises(SettingsError, load_settings).value)
    assert "DESKBOARD_META_URL" in message and "DESKBOARD_SSI_CONSUMER_ID" in message
    assert not any(s in message for s in ("hunter2", "hunter3", "hunter4"))
    monkeypatch.setenv("DESKBOARD_SSI_CONSUMER_ID", "me")
    monkeypatch.delenv("DESKBOARD_META_URL")
    monkeypatch.delenv("DESKBOARD_REDIS_URL")
    s = load_settings()
    assert "hunter4" not in repr(s) and s.market.ssi_consumer_secret.get_secret_value() == "hunter4"


def test_choices_that_need_a_server_say_which(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOARD_FEED", "process")
    with pytest.raises(SettingsError, match="DESKBOARD_FEED=process needs DESKBOARD_REDIS_URL"):
        load_settings()
    monkeypatch.setenv("DESKBOARD_FEED", "embedded")
    monkeypatch.setenv("DESKBOARD_MARKET_SOURCE", "replay")
    with pytest.raises(SettingsError, match="DESKBOARD_MARKET_SOURCE=replay needs DESKBOARD_MARKET_REPLAY_FILE"):
        load_settings()


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOARD_ENV", "production")
    with pytest.raises(SettingsError, match="DESKBOARD_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("DESKBOARD_SECRET_KEY", "a-long-real-secret-from-the-vault")
    s = load_settings()
    assert s.env == "production" and s.secret_key == "a-long-real-secret-from-the-vault"
    assert "a-long-real-secret" not in repr(s)


def test_overrides_use_the_variable_names_and_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESKBOARD_MARKET_SPEED", "5")
    s = load_settings(data_dir=tmp_path, meta_url="sqlite:////tmp/x.sqlite3", market_speed=60,
                      jobs=JobSettings(concurrency=3))
    assert s.data_dir == tmp_path and s.meta_database_url == "sqlite:////tmp/x.sqlite3"
    assert s.market.speed == 60 and s.jobs.concurrency == 3
    with pytest.raises(SettingsError, match="DESKBOARD_PORT=.*0"):
        load_settings(port=0)
    with pytest.raises(TypeError, match="unknown setting 'prot'"):
        load_settings(prot=80)


def test_sections_built_directly_hold_defaults_never_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOARD_MARKET_SPEED", "60")
    monkeypatch.setenv("DESKBOARD_JOBS_CONCURRENCY", "9")
    assert MarketSettings().speed == 1.0 and JobSettings().concurrency == 2
    assert ServiceSettings is MarketSettings and ServiceSettings(stale_seconds=5).stale_seconds == 5
    assert load_settings().market.speed == 60 and load_settings().jobs.concurrency == 9
    with pytest.raises(ValueError, match="stale_sconds"):
        ServiceSettings(stale_sconds=5)  # a misspelt setting in code is refused, not ignored


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValueError):
        s.server = s.server  # type: ignore[misc]
    with pytest.raises(ValueError):
        s.market.speed = 2  # type: ignore[misc]
    assert isinstance(s, Settings)


def test_a_misspelt_variable_is_reported_in_the_log(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setenv("DESKBOARD_MARKET_SPED", "60")
    with caplog.at_level("WARNING", logger="backend.config"):
        load_settings()
    assert "DESKBOARD_MARKET_SPED is not a Deskboard setting" in caplog.text


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DESKBOARD_MARKET_SPEED", "0"), ("DESKBOARD_JOBS_CONCURRENCY", "many"), ("DESKBOARD_META_URL", "mysql://x")],
)
def test_the_app_refuses_to_start_with_one_clear_line(tmp_path: Path, variable: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOARD_") or k.startswith("DESKBOARD_TEST_")}
    env.update({"DESKBOARD_DATA_DIR": str(tmp_path / "data"), "DESKBOARD_PORT": str(free_port()), variable: value})
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert len(lines) == 1 and lines[0].startswith("Deskboard cannot start:") and variable in lines[0], done.stderr


def test_no_module_builds_settings_of_its_own_from_the_environment() -> None:
    # Every section is read in one place, so every bad value is refused at start by name.
    offenders = [
        str(path.relative_to(ROOT)) for folder in ("backend", "pages", "components")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "BaseSettings" in path.read_text(encoding="utf-8") or "pydantic_settings" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_the_default_data_dir_is_made_absolute_so_the_embedded_stores_open_where_the_app_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DESKBOARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.warehouse_url == f"chdb://{tmp_path / 'data' / 'warehouse'}"  # chdb:///abs/path, not a host
    assert settings.meta_database_url == f"sqlite:///{tmp_path / 'data' / 'meta.sqlite3'}"


def test_production_refuses_access_control_off_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOARD_ENV", "production")
    monkeypatch.setenv("DESKBOARD_SECRET_KEY", "a-real-secret-" + "x" * 32)
    monkeypatch.setenv("DESKBOARD_AUTH", "off")
    with pytest.raises(SettingsError, match="DESKBOARD_AUTH=off is refused when DESKBOARD_ENV=production"):
        load_settings()
    monkeypatch.setenv("DESKBOARD_AUTH_OFF_IN_PRODUCTION", "true")
    assert load_settings().access.auth == "off"
    monkeypatch.setenv("DESKBOARD_ENV", "development")
    monkeypatch.delenv("DESKBOARD_AUTH_OFF_IN_PRODUCTION")
    assert load_settings().access.auth == "off"


def test_questdb_measurements_need_both_addresses_and_a_client_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOARD_RESEARCH_MEASUREMENTS", "questdb")
    with pytest.raises(SettingsError, match="DESKBOARD_RESEARCH_QUESTDB_ILP and DESKBOARD_RESEARCH_QUESTDB_SQL"):
        load_settings()
    monkeypatch.setenv("DESKBOARD_RESEARCH_QUESTDB_ILP", "file:///etc/passwd")
    monkeypatch.setenv("DESKBOARD_RESEARCH_QUESTDB_SQL", "postgresql://admin:s3cret@127.0.0.1:8812/qdb")
    with pytest.raises(SettingsError, match="DESKBOARD_RESEARCH_QUESTDB_ILP") as caught:
        load_settings()
    assert "s3cret" not in str(caught.value)
    monkeypatch.setenv("DESKBOARD_RESEARCH_QUESTDB_ILP", "http::addr=127.0.0.1:9000;")
    settings = load_settings()
    assert settings.research.measurements == "questdb" and "s3cret" not in repr(settings)
