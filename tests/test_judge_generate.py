"""`generation.judge.calibration` in `curate generate` and what routing reads from it, with
the deterministic in-test LLM."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from curation.config import Config, GenerationConfig, RoutingWeights
from curation.errors import CurationError
from curation.generate.stage import generate
from curation.judge.calibration import Calibration
from curation.review import routing
from curation.runs import RunDir

pytestmark = pytest.mark.slow


def longer_wins(path):
    """A calibration that learned people prefer the longer answer (and nothing else)."""
    Calibration(
        features=["log_length_ratio"], coefficients=[4.0], signals=[],
        embedding_model="all-MiniLM-L6-v2", judge_model="deterministic-test-llm",
    ).save(path)  # fmt: skip
    return path


def config(**judge) -> Config:
    generation = GenerationConfig(
        num_instructions=4, sources=["seed"], generators=[{"max_new_tokens": 4}, {}],
        judge={"temperature": 0.0, **judge},
    )  # fmt: skip
    return Config(generation=generation)


def test_the_calibration_decides_chosen_uncertainty_and_routing(
    tmp_path, deterministic_llm_factory
):
    cfg = config(calibration=str(longer_wins(tmp_path / "cal.json")))
    run = RunDir(tmp_path / "run")
    generate(cfg, run.path, llm_factory=deterministic_llm_factory)
    rows = pq.read_table(run.file("preferences.parquet")).to_pylist()
    assert rows
    for row in rows:
        assert len(row["chosen"]) >= len(row["rejected"])
        assert row["judge_p_chosen"] >= 0.5
        assert row["judge_uncertainty"] == pytest.approx(1 - row["judge_p_chosen"])
        assert row["tie"] == (len(row["chosen"]) == len(row["rejected"]))
        assert row["chosen"] == row["generations"][row["chosen_index"]]
        assert row["deita_score"] == pytest.approx(
            row["complexity"] * row["qualities"][row["chosen_index"]]
        )
    # routing reads the calibrated uncertainty: surer pairs come later in review
    frame = pd.DataFrame(rows)
    signals = routing.signals(frame, "preference")
    assert signals["judge_uncertainty"].tolist() == pytest.approx(
        frame["judge_uncertainty"].tolist()
    )
    only_uncertainty = RoutingWeights(judge_disagreement=0, small_margin=0, measured_disagreement=0)
    priority = routing.priority(signals, only_uncertainty)
    assert priority.tolist() == pytest.approx(frame["judge_uncertainty"].round(4).tolist())


def test_without_a_calibration_the_rule_decides_with_relevance(tmp_path, deterministic_llm_factory):
    run = RunDir(tmp_path / "run")
    generate(config(), run.path, llm_factory=deterministic_llm_factory)
    for row in pq.read_table(run.file("preferences.parquet")).to_pylist():
        assert 0.5 <= row["judge_p_chosen"] <= 1
        assert row["judge_p_chosen"] == row["judge_p_chosen_raw"]
        assert '"relevance_gap"' in row["judge_signals"]
        assert '"pairwise_p_a"' in row["judge_signals"]


def test_a_missing_calibration_fails_before_the_run(tmp_path, deterministic_llm_factory):
    with pytest.raises(CurationError, match="calibration file not found"):
        generate(config(calibration=str(tmp_path / "no.json")), tmp_path / "run",
                 llm_factory=deterministic_llm_factory)  # fmt: skip
    assert not (tmp_path / "run").exists()
