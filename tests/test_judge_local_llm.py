"""`curate judge eval` and `curate judge calibrate` with the real local LLM (SmolLM2-135M)
and the real embedding model, on the planted pairs of tests/data/judge_qa.jsonl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.judge_pairs import planted_pairs, write_pairs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CURATE = [sys.executable, "-m", "curation"]


def curate(llm_server, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CURATION_GENERATION")}
    env["CURATION_LLM__PORT"] = str(llm_server.port)
    env["COLUMNS"] = "200"  # rich wraps table cells at its default 80 columns without a TTY
    result = subprocess.run(
        [*CURATE, "judge", *args], capture_output=True, text=True, timeout=900, env=env, cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    return result


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_eval_then_calibrate_then_eval_calibrated(llm_server, tmp_path):
    # the LLM judges a third of the planted pairs (10 of each kind, better side alternating);
    # the calibration, on the embedding signals only, sees all 90
    rows = planted_pairs()
    judged = write_pairs(tmp_path / "judged.jsonl", rows[::3])
    pairs = write_pairs(tmp_path / "pairs.jsonl", rows)
    shown = curate(llm_server, tmp_path, "eval", "--pairs", str(judged), "--output", "pred.jsonl")
    predictions = read_jsonl(tmp_path / "pred.jsonl")
    assert [p["id"] for p in predictions] == [r["id"] for r in rows[::3]]
    for prediction in predictions:
        assert prediction["preferred"] in ("a", "b", "tie")
        assert 0 <= prediction["p_a"] <= 1
        assert 0 <= prediction["pairwise_p_ab"] <= 1 and 0 <= prediction["pairwise_p_ba"] <= 1
        assert prediction["position_consistent"] in (True, False)
    kinds = {r["id"]: r for r in rows}
    off_topic = [p for p in predictions if kinds[p["id"]]["kind"] == "off-topic"]
    right = sum(p["preferred"] == kinds[p["id"]]["preferred"] for p in off_topic)
    assert right / len(off_topic) >= 0.9, f"off-topic: {right} of {len(off_topic)} right"

    report = json.loads((tmp_path / "pred.report.json").read_text())
    assert report["n_labelled"] == len(predictions) and report["judge"]["ci95"]
    assert report["length_rule"]["accuracy"] is not None
    assert report["bias"]["position"]["n"] == len(predictions)
    assert "also a generator" in report["bias"]["same_model_warning"]
    assert "length rule (longer wins)" in shown.stdout and "position consistency" in shown.stdout

    # calibrate on the embedding signals only (the LLM part is the same as above, and slow
    # on 2 cores); the calibrated eval then asks only for what the calibration uses
    config = tmp_path / "relevance.yaml"
    config.write_text("generation:\n  judge:\n    signals: [relevance]\n")
    shown = curate(llm_server, tmp_path, "calibrate", "--pairs", str(pairs), "--output",
                   "cal.json", "--config", str(config))  # fmt: skip
    calibration = json.loads((tmp_path / "cal.json").read_text())
    held_out = calibration["report"]
    assert held_out["features_measured"] == ["log_length_ratio", "repetition_gap", "relevance_gap"]
    assert calibration["features"][0] == "log_length_ratio"
    assert held_out["n_decided"] == len(rows)
    assert held_out["after"]["accuracy"] >= held_out["length_rule"]["accuracy"]
    assert held_out["after"]["calibration_error"] < held_out["before"]["calibration_error"]
    assert "Before and after calibration" in shown.stdout

    subset = write_pairs(tmp_path / "subset.jsonl", rows[::6])
    curate(llm_server, tmp_path, "eval", "--pairs", str(subset), "--output", "cal-pred.jsonl",
           "--calibration", "cal.json")  # fmt: skip
    calibrated = read_jsonl(tmp_path / "cal-pred.jsonl")
    assert all(0 <= p["p_a_raw"] <= 1 for p in calibrated)
    assert json.loads((tmp_path / "cal-pred.report.json").read_text())["calibrated"] is True
