"""The real app in a subprocess and a Chromium driven by Playwright, for browser benchmarks.

``App`` starts ``python app.py`` the way the README runs it, on 127.0.0.1 with a free
port and a data directory of the caller's choice, waits for ``/health`` and stops the
whole process group on exit (Ctrl-C included). ``launch`` starts Debian's Chromium
(nothing is downloaded) and ``new_context`` gives a browser context with the in-page
probe (``journeys_probe.js``) installed before any page script runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
WORK = Path("/tmp/deskboard-journeys")
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
DEMO_ROWS = 200_000
PROBE = (Path(__file__).with_name("journeys_probe.js")).read_text()
# The data set generated for other sizes: one year, as the README's 20 M example.
GENERATED = {"start": "2024-01-02", "end": "2024-12-31", "seed": 1}


# Runs ``argv[1:]`` (exec, same pid) after asking Linux for SIGTERM when the benchmark
# dies without stopping it (PR_SET_PDEATHSIG survives exec), so no app is left behind.
_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "try:\n    ctypes.CDLL('libc.so.6').prctl(1, signal.SIGTERM)\nexcept OSError:\n    pass\n"
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python() -> str:
    return str(PYTHON if PYTHON.exists() else sys.executable)


def data_dir_for(rows: int) -> Path:
    return WORK / ("demo" if rows == DEMO_ROWS else f"rows-{rows}")


def prepare_data(rows: int, folder: Path) -> None:
    """Generate and load ``rows`` trades into ``folder`` once; reused while READY.json matches.

    The demo size needs nothing: the app creates its demo data on first start.
    Loading runs while no app holds the folder (chDB allows one process per folder).
    """
    if rows == DEMO_ROWS:
        return
    ready = folder / "READY.json"
    wanted = {"rows": rows, **GENERATED}
    if ready.exists() and json.loads(ready.read_text()) == wanted:
        return
    folder.mkdir(parents=True, exist_ok=True)
    print(f"generating and loading {rows:,} trades into {folder} (once; a few minutes) ...", flush=True)
    env = {**os.environ, "DESKBOARD_DATA_DIR": str(folder), "DESKBOARD_DEMO_ROWS": "0"}
    cmd = [python(), "-m", "backend.datagen", "--rows", str(rows), "--start", GENERATED["start"],
           "--end", GENERATED["end"], "--seed", str(GENERATED["seed"]), "--out", str(folder / "parquet"), "--load"]
    with subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True) as proc:
        _STARTED.append(proc)
        try:
            if proc.wait() != 0:
                raise RuntimeError(f"generating {rows:,} rows failed (exit {proc.returncode})")
        finally:
            _stop_group(proc)
    ready.write_text(json.dumps(wanted))


# Process groups started here, stopped by ``stop_everything`` on any way out.
_STARTED: list[subprocess.Popen[Any]] = []


def stop_everything() -> None:
    """Stop the app and the generator (their whole process groups) and Playwright's driver with its browser."""
    for proc in _STARTED:
        _stop_group(proc, grace=5.0)
    for pid in _children("playwright"):
        # The driver closes the browsers it launched when told to stop.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _children(name: str) -> list[int]:
    """Pids of this process's children whose command line mentions ``name`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == os.getpid() and \
                    name in (stat.parent / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(stat.parent.name))
    return found


def exit_on_signals() -> None:
    """Ctrl-C or SIGTERM: stop everything started here and leave at once.

    A KeyboardInterrupt raised inside a Playwright call can leave its event loop waiting
    for ever, so the handler does the cleanup itself instead of unwinding.
    """
    def handler(signum: int, _frame: object) -> None:
        print(f"\n{signal.Signals(signum).name}: stopping the app and the browser ...", file=sys.stderr, flush=True)
        stop_everything()
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _stop_group(proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
    """Stop a process started with start_new_session and everything it started: INT, TERM, KILL."""
    if proc in _STARTED:
        _STARTED.remove(proc)
    if proc.poll() is not None:
        return
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace if sig != signal.SIGKILL else 5)
            return
        except subprocess.TimeoutExpired:
            continue


class App:
    """``python app.py`` on 127.0.0.1:<free port> with the given data directory."""

    def __init__(self, data_dir: Path, *, demo_rows: int, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"app-{data_dir.name}.log"
        # As the single local user: the access check's own cost is measured by benchmarks.access.
        self.env = {**os.environ, "DESKBOARD_HOST": "127.0.0.1", "DESKBOARD_PORT": str(self.port),
                    "DESKBOARD_DATA_DIR": str(data_dir), "DESKBOARD_DEMO_ROWS": str(demo_rows),
                    "DESKBOARD_AUTH": "off", **(extra_env or {})}
        self.proc: subprocess.Popen[Any] | None = None

    def start(self, timeout: float = 900.0) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        self.proc = subprocess.Popen([python(), "-c", _WITH_PARENT, python(), "app.py"], cwd=ROOT, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        _STARTED.append(self.proc)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited at start (code {self.proc.returncode}); see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the app did not answer /health within {timeout:.0f} s; see {self.log_path}")

    def get_json(self, path: str, timeout: float = 10.0) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as reply:
            return json.loads(reply.read())

    def wait_feed_live(self, timeout: float = 60.0) -> str:
        """The market feed's state once live (or whatever it is when the time is up)."""
        state = "unknown"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = self.get_json("/api/v1/market/status").get("state", "unknown")
            except (urllib.error.URLError, OSError, ValueError):
                state = "unreachable"
            if state == "live":
                return state
            time.sleep(0.5)
        return state

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)
            self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)


def new_context(browser: Any, width: int = 1920, height: int = 1080) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_init_script(PROBE)
    return context


def open_tabs(context: Any, base: str, paths: Sequence[str], timeout: float = 60.0) -> list[Any]:
    """Background tabs, each showing its data before the measurement starts."""
    tabs = []
    for path in paths:
        tab = context.new_page()
        tab.goto(base + path, wait_until="commit")
        tabs.append(tab)
    for tab in tabs:
        wait_first_data(tab, timeout)
    return tabs


def wait_first_data(page: Any, timeout: float = 60.0) -> float | None:
    """Milliseconds from navigation start to the first data drawn; None when it never came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate("() => window.__jr ? window.__jr.firstData : null")
        if value is not None:
            return float(value)
        time.sleep(0.02)
    return None


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
