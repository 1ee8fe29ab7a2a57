"""An embedded worker process: ``python -m backend.jobs.worker '<json config>'``.

Started by the web server's embedded runner (a fresh interpreter, never a fork of
the process that holds chDB). It opens only the records store and files under the
data dir — never the warehouse. The runner writes ``{"run": <job id>}`` lines to
its standard input; it answers ``{"ready": pid}`` once and ``{"done": <job id>}``
after each job, and exits when its standard input closes (the server stopped).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any, TextIO


def _protocol_channel() -> TextIO:
    # Job code may print; only this process's own messages go to the runner, on a
    # copy of the original stdout, while fd 1 is pointed at the log (stderr).
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def main(argv: list[str]) -> int:
    # The server decides when workers stop (it closes stdin); Ctrl-C in its terminal is not for us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = _protocol_channel()
    config = json.loads(argv[1])

    from backend.config import load_settings
    from backend.jobs.context import execute_job
    from backend.jobs.store import JobStore, records

    settings = load_settings(data_dir=config["data_dir"], meta_url=config["meta_url"])
    store = JobStore(records(settings.meta_database_url))
    _send(channel, {"ready": os.getpid()})
    for line in sys.stdin:
        try:
            job_id = int(json.loads(line)["run"])
        except (ValueError, KeyError, TypeError):
            print(f"ignored a malformed instruction: {line[:80]!r}", file=sys.stderr)
            continue
        execute_job(store, job_id, settings, heartbeat_seconds=float(config["heartbeat_seconds"]), warehouse=None)
        _send(channel, {"done": job_id})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
