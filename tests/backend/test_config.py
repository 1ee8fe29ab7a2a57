from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

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


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DESKBOARD_PORT", "eighty"),
        ("DESKBOARD_PORT", "70000"),
        ("DESKBOARD_WAREHOUSE_DSN", "mysql://x"),
        ("DESKBOARD_WAREHOUSE_DSN", "chdb://relative/path"),
        ("DESKBOARD_REDIS_URL", "http://not-redis"),
        ("DESKBOARD_CACHE_TTL_SECONDS", "-1"),
        ("DESKBOARD_WAREHOUSE_DATABASE", "x; DROP DATABASE y"),
        ("DESKBOARD_ENV", "staging"),
    ],
)
def test_invalid_setting_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOARD_ENV", "production")
    with pytest.raises(SettingsError, match="DESKBOARD_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("DESKBOARD_SECRET_KEY", "a-long-real-secret-from-the-vault")
    assert load_settings().env == "production"
