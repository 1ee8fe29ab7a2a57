"""Start server mode for real: gunicorn web workers and the feed process, on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[3]
WORKER_HEADER = "X-Deskboard-Worker"


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    """``check()``'s first truthy answer; fails naming ``what`` and the last answer after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (requests.RequestException, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")
        time.sleep(every)


class Proc:
    """One child process with its output in a log file, stopped by its own pid."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM) without waiting; ``stop`` waits."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def server_env(*, data_dir: Path, port: int, redis_url: str, warehouse_dsn: str, meta_url: str | None,
               extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every process of one stack: only our settings, none inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOARD_")}
    env.update({
        "DESKBOARD_DATA_DIR": str(data_dir), "DESKBOARD_HOST": "127.0.0.1", "DESKBOARD_PORT": str(port),
        "DESKBOARD_REDIS_URL": redis_url, "DESKBOARD_WAREHOUSE_DSN": warehouse_dsn, "DESKBOARD_FEED": "process",
        "DESKBOARD_DEMO_ROWS": "0", "PYTHONUNBUFFERED": "1",
        # The feed, stores and workers are under test here, as the single local user; sign-in across
        # workers has its own test (extra={"DESKBOARD_AUTH": "on"}).
        "DESKBOARD_AUTH": "off",
    })
    if meta_url:
        env["DESKBOARD_META_URL"] = meta_url
    env.update(extra or {})
    return env


def start_feed(env: dict[str, str], log_dir: Path) -> Proc:
    return Proc("feed", [sys.executable, "-m", "backend.market.feed_process"], env, log_dir)


def start_gunicorn(env: dict[str, str], log_dir: Path, workers: int) -> Proc:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return Proc(f"gunicorn-{workers}", [gunicorn, "-c", "deploy/gunicorn.conf.py", "--workers", str(workers)],
                env | {"DESKBOARD_WORKERS": str(workers)}, log_dir)
