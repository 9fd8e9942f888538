"""Run one measurement of a benchmark script in a fresh process, so its peak RSS is its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def run_child(script: str, kind: str, *args: object) -> dict[str, Any]:
    """`python SCRIPT --child KIND ARGS...`; its last stdout line (JSON) plus the load."""
    before = os.getloadavg()[0]
    command = [sys.executable, script, "--child", kind, *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} {args} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = f"{before:.2f} -> {os.getloadavg()[0]:.2f}"
    return result
