"""The job runner check: a job that does nothing but take steps and report them.

It touches no data. Run from the admin pages or the API, it shows on a real
deployment that workers pick jobs up, report progress, stop when cancelled and
report a failure with their log (``fail_at_step``); the benchmark times the
runner with it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from backend.jobs.context import JobContext
from backend.jobs.params import ProbeParams


class ProbeFailure(RuntimeError):
    """The failure a probe was asked to report."""


def run_probe(ctx: JobContext, params: ProbeParams) -> dict[str, Any]:
    lines = []
    ctx.progress(0.0, f"step 0 of {params.steps}", force=True)
    for step in range(1, params.steps + 1):
        if params.step_seconds:
            time.sleep(params.step_seconds)
        if params.fail_at_step == step:
            ctx.log(f"step {step}: failing as asked")
            raise ProbeFailure(f"the probe failed at step {step} as asked")
        lines.append(f"step {step} done in pid {os.getpid()}")
        ctx.log(lines[-1])
        ctx.progress(step / params.steps, f"step {step} of {params.steps}", force=params.step_seconds >= 0.05)
    name = "probe.txt"
    (ctx.result_dir() / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"file": name, "media_type": "text/plain", "steps": params.steps, "pid": os.getpid(),
            "summary": f"{params.steps} steps in pid {os.getpid()}"}
