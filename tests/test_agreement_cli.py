"""`curate agreement` without a server: bad options and a missing server are one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.util import one_line_error

CURATE = [sys.executable, "-m", "curation"]


def curate(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGILLA_")}
    env["CURATION_HOME"] = str(home)  # no embedded server credentials here
    return subprocess.run(
        [*CURATE, "agreement", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_unknown_format_is_refused(tmp_path):
    line = one_line_error(curate(tmp_path, "--dataset", "d", "--format", "xml"))
    assert "--format must be json or table" in line


def test_unknown_alpha_level_is_refused_before_any_server_is_needed(tmp_path):
    result = curate(tmp_path, "--dataset", "d", "--alpha-level", "cardinal", "--format", "json")
    assert "unknown alpha level 'cardinal'" in one_line_error(result)


def test_no_server_says_how_to_get_one(tmp_path):
    line = one_line_error(curate(tmp_path, "--dataset", "d", "--format", "json"))
    assert "ARGILLA_API_URL" in line
    assert "curate server start" in line
