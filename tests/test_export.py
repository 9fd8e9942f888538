"""`curate export` pieces that need no Argilla server: option errors, splits, the card from
a run directory, and the local folder written whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict
from huggingface_hub import DatasetCard

from curation.config import load_config
from curation.errors import CurationError
from curation.export import card as cards
from curation.export import formats, publish
from curation.runs import RunDir
from tests.util import one_line_error

CURATE = [sys.executable, "-m", "curation"]


def curate(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ARGILLA_", "HF_TOKEN"))}
    clean.update(CURATION_HOME=str(home), HF_HOME=str(home / "hf"), **env)
    return subprocess.run(
        [*CURATE, "export", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
        cwd=home,
    )


# --- options, checked before any server is asked --------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--format", "xml", "--local-dir", "out"], {}, "--format must be sft or dpo, not 'xml'"),
        (["--format", "sft"], {}, "give exactly one of --repo-id ORG/NAME and --local-dir DIR"),
        (
            ["--format", "sft", "--local-dir", "out", "--repo-id", "o/n"],
            {},
            "give exactly one of --repo-id",
        ),
        (
            ["--format", "sft", "--local-dir", "out", "--private"],
            {},
            "--private applies to --repo-id only",
        ),
        (["--format", "sft", "--repo-id", "just-a-name"], {}, "give ORG/NAME"),
        (["--format", "sft", "--repo-id", "o/bad..name"], {}, "is not a valid Hub repo id"),
        (
            ["--format", "sft", "--repo-id", "o/n"],
            {"HF_HUB_OFFLINE": "1"},
            "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, so the Hub cannot be reached",
        ),
        (
            ["--format", "sft", "--repo-id", "o/n"],
            {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"},
            "no Hugging Face token found (set HF_TOKEN or log in",
        ),
        (
            ["--format", "dpo", "--local-dir", "out", "--test-size", "0"],
            {},
            "--test-size must be positive",
        ),
        (["--format", "dpo", "--local-dir", "out", "--run", "nope"], {}, "run directory not found"),
        (
            ["--format", "sft", "--local-dir", "out"],
            {},
            "no Argilla server at http://127.0.0.1:6900: run `curate server start`",
        ),
        (
            ["--format", "sft", "--local-dir", "out"],
            {"ARGILLA_API_URL": "http://127.0.0.1:9", "ARGILLA_API_KEY": "k"},
            "no Argilla server at http://127.0.0.1:9",
        ),
    ],
)
def test_bad_options_and_no_server_are_one_line_errors(tmp_path, args, env, message):
    result = curate(tmp_path, "--dataset", "d", *args, **env)
    assert message in one_line_error(result)
    assert not (tmp_path / "out").exists()


def test_a_folder_with_other_files_is_refused_and_left_alone(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    line = one_line_error(
        curate(tmp_path, "--dataset", "d", "--format", "sft", "--local-dir", str(folder))
    )
    assert f"--local-dir {folder} holds other files" in line
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    line = one_line_error(
        curate(tmp_path, "--dataset", "d", "--format", "sft", "--local-dir", str(tmp_path / "file"))
    )
    assert "is a file; give a folder" in line


# --- splits ----------------------------------------------------------------------------------


def numbers(n: int) -> Dataset:
    return Dataset.from_dict({"id": [f"r{i}" for i in range(n)]})


def test_split_by_share_or_count_keeps_every_row_once():
    parts = formats.split(numbers(10), 0.2, seed=0)
    assert (len(parts["train"]), len(parts["test"])) == (8, 2)
    assert sorted([*parts["train"]["id"], *parts["test"]["id"]]) == sorted(numbers(10)["id"])
    assert list(formats.split(numbers(10), 0.2, seed=0)["test"]["id"]) == list(parts["test"]["id"])
    assert len(formats.split(numbers(10), 3, seed=0)["test"]) == 3
    assert list(formats.split(numbers(3), None, seed=0)) == ["train"]


@pytest.mark.parametrize(
    ("rows", "size", "message"),
    [
        (3, 3, "--test-size 3 of 3 approved rows leaves an empty split"),
        (1, 0.5, "leaves an empty split"),
        (10, 2.5, "give a share below 1 or a row count"),
    ],
)
def test_split_that_would_leave_an_empty_side_is_refused(rows, size, message):
    with pytest.raises(CurationError, match=message):
        formats.split(numbers(rows), size, seed=0)


# --- the card ---------------------------------------------------------------------------------


def dpo_splits() -> DatasetDict:
    def row(i: int, approved_by: str, agrees: bool | None) -> dict:
        return {
            "prompt": [{"role": "user", "content": f"q{i}"}],
            "chosen": [{"role": "assistant", "content": f"good {i}"}],
            "rejected": [{"role": "assistant", "content": f"bad {i}"}],
            "score_chosen": 4.0,
            "score_rejected": 2.0,
            "id": f"p{i}",
            "source": "magpie" if i else "self-instruct",
            "judge_model": "judge-1",
            "approved_by": approved_by,
            "n_reviews": 2,
            "ai_agrees": agrees,
            "chosen_model": "gen-a",
            "rejected_model": "gen-b",
        }

    rows = [row(0, "humans", True), row(1, "humans", False), row(2, "auto", None)]
    full = [{name: r.get(name) for name in formats.DPO_FEATURES} for r in rows]
    return DatasetDict(train=Dataset.from_list(full, features=formats.DPO_FEATURES))


def facts(**overrides) -> cards.ExportFacts:
    fields = {
        "dataset": "prefs",
        "workspace": "curation",
        "template": "preference",
        "format": "dpo",
        "load_path": "org/prefs",
        "license": "apache-2.0",
        "min_submitted": 2,
        "splits": dpo_splits(),
        "decisions": {"approved": 3, "tie": 2, "pending": 5},
        **overrides,
    }
    return cards.export_facts(**fields)


@pytest.fixture
def run_copy(full_run, tmp_path) -> RunDir:
    """The full fixture run, copied: reading a run may cache file hashes in its manifest."""
    return RunDir(Path(shutil.copytree(full_run, tmp_path / "run")))


def test_card_metadata_and_facts_from_the_run(run_copy):
    config = load_config()
    run = cards.run_facts(run_copy, "prefs", config)
    card = cards.build_card(facts(), run, config)
    parsed = DatasetCard(str(card))  # the README as the Hub reads it
    data = parsed.data.to_dict()
    assert data["license"] == "apache-2.0"
    assert data["size_categories"] == ["n<1K"]
    assert data["task_categories"] == ["text-generation"]
    assert data["pretty_name"] == "prefs"
    assert data["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"}]
    text = parsed.text
    manifest = json.loads(run_copy.manifest_path.read_text())
    generated = manifest["stages"]["instructions"]["rows"]["instructions.parquet"]
    kept = manifest["stages"]["select"]["rows"]["selected.parquet"]
    assert f"| instructions generated | {generated:,} |" in text
    assert f"| kept by the diversity filter | {kept:,} |" in text
    assert "| records in the Argilla dataset | 10 |" in text
    assert "approved 3, tie 2, pending 5" in text and "humans 2, auto 1" in text
    agreement = json.loads((run_copy.path / "agreement" / "prefs.json").read_text())
    preferred = agreement["questions"]["preferred"]
    alpha = preferred["human_human"]["krippendorff_alpha"]
    assert f"| `preferred` | {preferred['n_records']} | {preferred['n_annotators']} |" in text
    assert f"{alpha:.3f}" in text
    assert "UltraFeedback aspect `helpfulness`" in text  # from the run's judge_params
    assert "on 1 of 2 human-approved rows (50%)" in text
    assert "**Auto-approval:** 1 rows" in text
    assert "threshold and budget are not recorded" in text  # no fingerprint in this run
    assert "Demo data" not in text and "simulated-review" not in data["tags"]


def test_selection_settings_appear_only_when_the_config_is_the_runs(run_copy):
    config = load_config()
    config.selection.threshold, config.selection.budget = 0.8, 40

    kept = run_copy.file("selected.parquet").read_bytes()

    def select(ctx):  # what the select stage wrote, recorded with this config
        ctx.path("selected.parquet").write_bytes(kept)

    run_copy.run_stage(
        "select",
        select,
        inputs=["preferences.parquet"],
        outputs=["selected.parquet"],
        config=config.selection.model_dump(mode="json"),
        force=True,
    )
    same = str(cards.build_card(facts(), cards.run_facts(run_copy, "prefs", config), config))
    assert "cosine similarity to every kept row is at most 0.8" in same
    assert "budget 40" in same
    assert "select `" in same  # the stage's fingerprint is on the card
    config.selection.threshold = 0.95
    other = str(cards.build_card(facts(), cards.run_facts(run_copy, "prefs", config), config))
    assert "threshold and budget are not recorded" in other


def test_simulated_reviews_are_flagged_on_the_card(run_copy):
    run_copy.update(
        simulated_review={"note": "SIMULATED review (demo only)", "datasets": {"prefs": {}}}
    )
    config = load_config()
    card = cards.build_card(facts(), cards.run_facts(run_copy, "prefs", config), config)
    assert "Demo data, not reviewed by people" in card.text
    assert "simulated-review" in card.data.to_dict()["tags"]


def test_card_without_a_run_says_what_it_lacks():
    card = cards.build_card(facts(), None, load_config())
    assert "Exported without a run directory" in card.text
    assert "Not recorded: no `agreement/prefs.json`" in card.text
    assert "| records in the Argilla dataset | 10 |" in card.text


def test_size_categories():
    assert [cards.size_category(n) for n in (0, 999, 1000, 54_321, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M",
    ]  # fmt: skip


# --- the local folder ---------------------------------------------------------------------


def test_local_write_replaces_an_earlier_export_or_leaves_it_whole(tmp_path, monkeypatch):
    target = tmp_path / "exports" / "prefs-dpo"
    card = cards.build_card(facts(), None, load_config())
    publish.write_local(target, dpo_splits(), card)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "README.md", "data", "data/train-00000-of-00001.parquet",
    ]  # fmt: skip
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def broken_save(self, path):
        Path(path).write_text("half a card")
        raise OSError("disk full")

    monkeypatch.setattr(DatasetCard, "save", broken_save)
    two = DatasetDict(train=dpo_splits()["train"], test=dpo_splits()["train"])
    with pytest.raises(OSError, match="disk full"):
        publish.write_local(target, two, card)
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert [p.name for p in target.parent.iterdir()] == ["prefs-dpo"]  # no leftovers
    monkeypatch.undo()
    publish.write_local(target, two, card)  # a later export replaces the folder
    assert sorted(p.name for p in (target / "data").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet",
    ]  # fmt: skip
