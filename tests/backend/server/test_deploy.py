"""The production entry points: gunicorn config, WSGI module, image and compose file; and the
warehouse a web worker keeps when the ClickHouse server does not answer."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from backend.config import load_settings
from backend.server_mode import ReconnectingWarehouse, WarehouseUnreachable, open_server_warehouse
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[3]


def test_a_warehouse_server_that_does_not_answer_is_named_plainly_and_never_waited_on(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, warehouse_dsn=f"http://127.0.0.1:{free_port()}/")
    started = time.monotonic()
    warehouse = open_server_warehouse(settings)
    assert isinstance(warehouse, ReconnectingWarehouse) and not warehouse.reachable
    for _ in range(50):  # between attempts every use answers at once, with the same plain reason
        with pytest.raises(WarehouseUnreachable, match=r"^the warehouse at 127\.0\.0\.1:\d+ is unreachable "
                                                         r"\(connection refused\); retrying every \d+ s$"):
            warehouse.query_rows("SELECT 1")
    assert time.monotonic() - started < 10
    assert warehouse.ping.__self__ is warehouse  # health's probe goes through the same path
    with pytest.raises(WarehouseUnreachable):
        warehouse.data_version()


def test_an_unreachable_warehouse_tries_again_after_its_pause(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    warehouse = ReconnectingWarehouse(url, "deskboard", reason="not tried yet", retry_seconds=0.2)
    with pytest.raises(WarehouseUnreachable, match="not tried yet"):
        warehouse.query_rows("SELECT 1")  # inside the first pause: no attempt
    time.sleep(0.25)
    with pytest.raises(WarehouseUnreachable, match="connection refused"):
        warehouse.query_rows("SELECT 1")  # an attempt was made, and its reason is kept


def test_the_embedded_warehouse_is_never_replaced_by_a_waiting_one(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    settings = load_settings(data_dir=tmp_path, warehouse_dsn=f"chdb://{tmp_path / 'file'}")
    with pytest.raises(Exception) as caught:
        open_server_warehouse(settings)
    assert not isinstance(caught.value, WarehouseUnreachable)


def _gunicorn_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The config sets these for the processes it starts: set-then-delete so they are restored after.
    for key in ("DESKBOARD_FEED", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    return runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))


def test_gunicorn_runs_gthread_workers_that_each_build_their_own_app(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    config = _gunicorn_config(monkeypatch, DESKBOARD_WORKERS="3", DESKBOARD_PORT="18999",
                              DESKBOARD_DATA_DIR=str(tmp_path))
    assert config["worker_class"] == "gthread" and config["workers"] == 3
    assert config["wsgi_app"] == "wsgi:server" and config["preload_app"] is False
    assert config["bind"] == ["127.0.0.1:18999"] and config["control_socket_disable"] is True
    import os

    assert os.environ["DESKBOARD_FEED"] == "process"  # web workers never start their own feed
    assert (ROOT / "wsgi.py").read_text().count("create_app()") == 1


@pytest.mark.parametrize(("env", "message"), [
    ({"DESKBOARD_REDIS_URL": "redis://127.0.0.1:1/0"}, "cannot share the embedded warehouse"),
    ({"DESKBOARD_WAREHOUSE_DSN": "http://127.0.0.1:1/"}, "DESKBOARD_REDIS_URL"),
    ({"DESKBOARD_WAREHOUSE_DSN": "http://127.0.0.1:1/", "DESKBOARD_FEED": "embedded"}, "one live feed per worker"),
])
def test_gunicorn_refuses_a_setup_that_cannot_work(tmp_path: Path, env: dict[str, str], message: str) -> None:
    # In a process of its own: the start hook sets up multi-process metrics, which would stay set here.
    script = ("import runpy, types; c = runpy.run_path('deploy/gunicorn.conf.py'); "
              "c['on_starting'](types.SimpleNamespace(cfg=types.SimpleNamespace(workers=2)))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DESKBOARD_", "PROMETHEUS_"))}
    done = subprocess.run([sys.executable, "-c", script], check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=120,
                          env=clean | {"DESKBOARD_DATA_DIR": str(tmp_path), "DESKBOARD_WORKERS": "2"} | env)
    assert done.returncode != 0 and message in done.stderr, done.stderr[-2000:]


def test_image_and_compose_run_gunicorn_and_exactly_one_feed_process() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py"]' in dockerfile
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["web"]["command"][:3] == ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
    feeds = [name for name, s in services.items() if "backend.market.feed_process" in " ".join(s.get("command", []))]
    assert feeds == ["feed"]
    for name in ("web", "feed"):
        env = services[name]["environment"]
        assert env["DESKBOARD_FEED"] == "process" and env["DESKBOARD_REDIS_URL"].startswith("redis://")
        assert env["DESKBOARD_WAREHOUSE_DSN"].startswith("http://")
        # Secrets only by reference to the environment.
        assert env["DESKBOARD_SECRET_KEY"].startswith("${")
        assert "${" in env["DESKBOARD_META_URL"] and "${" in env["DESKBOARD_WAREHOUSE_DSN"]


def test_the_feed_process_without_redis_says_what_it_needs(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DESKBOARD_", "PROMETHEUS_"))}
    done = subprocess.run([sys.executable, "-m", "backend.market.feed_process"], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=clean | {"DESKBOARD_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and "needs DESKBOARD_REDIS_URL" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
