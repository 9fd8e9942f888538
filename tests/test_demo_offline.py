"""`curate demo` end to end with no network at all: only loopback (`unshare -n`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def can_unshare_network() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not can_unshare_network(), reason="needs `unshare -n` (root)")
def test_demo_runs_offline_and_leaves_services_running(tmp_path: Path):
    home = tmp_path / "home"
    env = {
        **os.environ,
        "CURATION_HOME": str(home),
        "CURATION_RUNS_DIR": str(tmp_path / "runs"),
        # Nothing from the caller's setup may leak in: the demo uses its embedded default.
        "ARGILLA_API_URL": "",
        "ARGILLA_API_KEY": "",
    }
    curate = f"{sys.executable} -m curation"
    script = f"ip link set lo up && {curate} demo --num-instructions 3"
    try:
        result = subprocess.run(
            ["unshare", "-n", "sh", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
            cwd=tmp_path,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert "Traceback" not in output
        assert "curate stop" in result.stdout  # tells the user how to stop the services
        assert (tmp_path / "runs" / "demo" / "manifest.json").exists()
    finally:
        stopped = subprocess.run(
            [sys.executable, "-m", "curation", "stop"], capture_output=True, text=True, env=env
        )
    assert "stopped" in stopped.stdout  # the demo had left services running
