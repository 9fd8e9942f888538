"""`curate dashboard`: Streamlit on 127.0.0.1, idempotent, stopped with the other services."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request

import pytest

from curation import dashboard
from curation.services import free_port, http_ok
from tests.util import listen_addresses

pytestmark = pytest.mark.integration
CURATE = [sys.executable, "-m", "curation"]


def curate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CURATE, *args], capture_output=True, text=True, timeout=180)


def test_start_again_elsewhere_and_stop(full_run, partial_run):
    port = free_port()
    health = f"http://127.0.0.1:{port}/_stcore/health"
    try:
        started = curate("dashboard", "--run", str(full_run), "--port", str(port))
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == (
            f"dashboard started: http://127.0.0.1:{port}/?run={str(full_run).replace('/', '%2F')}"
        )
        assert http_ok(health)
        assert listen_addresses(port) == {"127.0.0.1"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert b"<title>" in page.read()

        again = curate("dashboard", "--run", str(partial_run))
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout and "partial" in again.stdout

        moved = curate("dashboard", "--port", str(free_port()))
        assert moved.returncode == 1
        assert f"already runs on port {port}" in moved.stderr
        assert "Traceback" not in moved.stderr
    finally:
        # `curate stop` would also stop the session's other servers; stop only ours.
        stopped = dashboard.stop()
    assert stopped
    assert not http_ok(health)


def test_missing_run_is_a_one_line_error(tmp_path):
    result = curate("dashboard", "--run", str(tmp_path / "nope"), "--port", str(free_port()))
    assert result.returncode == 1
    assert "run directory not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_port_taken_is_a_clear_error(full_run):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = curate("dashboard", "--run", str(full_run), "--port", str(port))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
