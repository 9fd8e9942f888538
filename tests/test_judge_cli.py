"""`curate judge` bad inputs: one-line errors before any judging, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.util import one_line_error

CURATE = [sys.executable, "-m", "curation"]
GOOD = {"id": "p1", "instruction": "Say hi.", "response_a": "Hi!", "response_b": "Bye."}


def curate(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGILLA_", "CURATION_"))}
    env["CURATION_HOME"] = str(home)
    env["CURATION_LLM__PORT"] = "9"  # nothing listens there: no test reaches a judge
    return subprocess.run(
        [*CURATE, "judge", *args], capture_output=True, text=True, timeout=600, env=env, cwd=home
    )


def write(path: Path, *rows: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [{k: v for k, v in GOOD.items() if k != "response_b"}],
            "line 1: missing column response_b",
        ),
        ([GOOD, {**GOOD, "id": "p2", "preferred": "A"}], "line 2: column preferred is 'A'"),
        ([GOOD, "{not json"], "line 2: not valid JSON"),
        ([[1, 2]], "line 1: expected a JSON object, got list"),
        ([GOOD, GOOD], "line 2: duplicate id 'p1'"),
        ([{**GOOD, "response_a": None}], "line 1: column response_a must be text"),
        ([], "no pairs in the file"),
    ],
    ids=["missing-column", "bad-label", "bad-json", "not-object", "duplicate", "null", "empty"],
)
def test_bad_pairs_files_are_one_line_errors(tmp_path, rows, expected):
    pairs = write(tmp_path / "pairs.jsonl", *rows)
    output = tmp_path / "pred.jsonl"
    line = one_line_error(curate(tmp_path, "eval", "--pairs", str(pairs), "--output", str(output)))
    assert expected in line and str(pairs) in line
    assert not output.exists()


def test_unreadable_pairs_files(tmp_path):
    missing = one_line_error(curate(tmp_path, "eval", "--pairs", "nope.jsonl", "--output", "o"))
    assert "pairs file not found: nope.jsonl" in missing
    folder = one_line_error(curate(tmp_path, "eval", "--pairs", str(tmp_path), "--output", "o"))
    assert "is a directory" in folder
    binary = tmp_path / "pairs.jsonl"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert "not UTF-8 text" in one_line_error(
        curate(tmp_path, "eval", "--pairs", str(binary), "--output", "o")
    )


def test_calibrate_needs_labels_and_one_source(tmp_path):
    unlabelled = write(tmp_path / "pairs.jsonl", GOOD)
    line = one_line_error(
        curate(tmp_path, "calibrate", "--pairs", str(unlabelled), "--output", "cal.json")
    )
    assert "no pair has a `preferred` label" in line
    both = one_line_error(
        curate(tmp_path, "calibrate", "--pairs", "x", "--dataset", "d", "--output", "cal.json")
    )
    assert "exactly one of --pairs" in both
    assert not (tmp_path / "cal.json").exists()


def test_bad_calibration_file_and_unreachable_judge(tmp_path):
    pairs = write(tmp_path / "pairs.jsonl", GOOD)
    bad = tmp_path / "cal.json"
    bad.write_text('{"hello": 1}')
    line = one_line_error(
        curate(tmp_path, "eval", "--pairs", str(pairs), "--output", "o", "--calibration", str(bad))
    )
    assert "not a calibration from `curate judge calibrate`" in line
    line = one_line_error(curate(tmp_path, "eval", "--pairs", str(pairs), "--output", "o"))
    assert "127.0.0.1:9" in line
    assert not (tmp_path / "o").exists()


def test_calibrate_refuses_too_few_labels_before_judging(tmp_path):
    rows = [{**GOOD, "id": f"p{i}", "preferred": "a" if i % 2 else "b"} for i in range(12)]
    rows += [{**GOOD, "id": f"t{i}", "preferred": "tie"} for i in range(40)]
    pairs = write(tmp_path / "pairs.jsonl", *rows)
    line = one_line_error(curate(tmp_path, "calibrate", "--pairs", str(pairs), "--output", "c"))
    assert "too few labelled pairs to calibrate: 12 decided by people" in line
    assert "at least 30 needed" in line
