"""Background services: start once, report health, stop the whole process group."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from curation.errors import CurationError
from curation.services import Service, _alive


def test_start_is_idempotent_and_stop_ends_the_process(tmp_path):
    service = Service("sleeper", tmp_path)
    marker = tmp_path / "started"
    command = [
        sys.executable,
        "-c",
        f"open({str(marker)!r}, 'a').write('x'); import time; time.sleep(60)",
    ]
    assert service.start(command, healthy=marker.exists, timeout=10) is True
    assert service.start(command, healthy=marker.exists, timeout=10) is False
    assert marker.read_text() == "x"  # started once
    pid = service.pid()
    assert service.stop() is True
    assert not _alive(pid) and service.pid() is None
    assert service.stop() is False


def test_a_process_that_dies_while_starting_is_reported_with_its_log(tmp_path):
    service = Service("crasher", tmp_path)
    command = [sys.executable, "-c", "import sys; print('bad model file'); sys.exit(3)"]
    with pytest.raises(CurationError, match=r"exited with code 3.*bad model file"):
        service.start(command, healthy=lambda: False, timeout=10)
    assert service.pid() is None


def test_a_zombie_that_is_not_our_child_counts_as_dead():
    # A parent that never reaps its finished child leaves a zombie behind.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\n"
            "print(pid, flush=True)\ntime.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
        assert _alive(os.getpid())
    finally:
        parent.kill()
        parent.wait()
