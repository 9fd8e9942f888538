"""The loop driven by hand with `curate ... --run R` makes the run the demo makes: the same
files with the same schemas, and the same stages in the manifest.

Both runs get the same input (the deterministic in-test LLM, the real embedding model and
the session's real Argilla server) and the same scripted reviewers and adjudicator where
people would act; each run has its own datasets, so the two never see each other's
records. Generation is reproducible, so both runs hold the same rows and the same answers:
a file that only some reviews make (an export of approved rows) is in both or in neither.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from curation.config import load_config
from curation.runs import RunDir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NUM_INSTRUCTIONS = 6


def write_config(tmp_path: Path, argilla_server, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    review = {
        "preference_dataset": argilla_server.unique(f"{name}-prefs"),
        "instruction_dataset": argilla_server.unique(f"{name}-inst"),
    }
    settings = {"argilla": {"workspace": argilla_server.unique("stages")}, "review": review}
    path.write_text(yaml.safe_dump(settings))
    return path


def demo_run(config_file: Path, run: RunDir) -> None:
    """The demo's steps, without starting or stopping services."""
    from rich.console import Console

    from curation import demo

    services = {demo.start_llm, demo.start_argilla, demo.start_dashboard}
    ctx = demo.DemoContext(load_config(config_file), run, NUM_INSTRUCTIONS, Console(quiet=True))
    for _, step in demo.STEPS:
        if step not in services:
            step(ctx)


def cli_run(config_file: Path, run: RunDir) -> None:
    """Each stage's command by hand, as a team drives the loop; scripted people between."""
    from curation.cli import app
    from curation.review.simulate import simulated_adjudication, simulated_review

    def curate(*args: str) -> None:
        result = CliRunner().invoke(
            app, [*args, "--run", str(run.path), "--config", str(config_file)]
        )
        assert result.exit_code == 0, (args, result.output, result.exception)

    curate("generate", "--num-instructions", str(NUM_INSTRUCTIONS))
    curate("hygiene")
    curate("select")
    curate("push")
    simulated_review(load_config(config_file), run)  # the reviewers
    curate("adjudicate")
    simulated_adjudication(load_config(config_file), run)  # the adjudicators
    curate("pull")
    curate("agreement")
    curate("export")


def shape(value: Any) -> Any:
    """The keys of nested JSON (values dropped): what a reader of the file relies on."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__ if value is not None else None


def files(run: RunDir, names: dict[str, str]) -> dict[str, Any]:
    """Every file of the run (dataset names as placeholders) -> its schema or JSON shape."""
    found = {}
    for path in sorted(run.path.rglob("*")):
        relative = str(path.relative_to(run.path))
        if path.is_dir() or any(part.startswith(".") for part in Path(relative).parts):
            continue
        for name, placeholder in names.items():
            relative = relative.replace(name, placeholder)
        if path.suffix == ".parquet":
            found[relative] = pq.read_schema(path).remove_metadata()
        elif relative.startswith("agreement/"):
            found[relative] = shape(json.loads(path.read_text()))
        else:
            found[relative] = None
    return found


def stages(run: RunDir, names: dict[str, str]) -> dict[str, Any]:
    """Each manifest stage: its status, the keys it records and the keys of its counts."""
    recorded = {}
    for name, record in run.manifest()["stages"].items():
        counts = json.loads(_replace(json.dumps(record.get("counts", {})), names))
        recorded[name] = (record["status"], sorted(record), sorted(counts))
    return recorded


def _replace(text: str, names: dict[str, str]) -> str:
    for name, placeholder in names.items():
        text = text.replace(name, placeholder)
    return text


def test_the_commands_by_hand_make_the_demos_run(
    argilla_server, argilla_env, tmp_path, monkeypatch, deterministic_llm_factory
):
    from curation.generate import stage

    monkeypatch.setattr(stage, "default_llm_factory", lambda config: deterministic_llm_factory)
    runs = {}
    for name, drive in (("demo", demo_run), ("cli", cli_run)):
        config_file = write_config(tmp_path, argilla_server, name)
        review = load_config(config_file).review
        run = RunDir.open(tmp_path / name, tmp_path)
        drive(config_file, run)
        names = {review.preference_dataset: "PREFS", review.instruction_dataset: "INST"}
        exported = {names[d]: c["rows"] for d, c in run.stage("export")["counts"].items()}
        runs[name] = (files(run, names), stages(run, names), exported)

    demo_files, demo_stages, demo_exported = runs["demo"]
    cli_files, cli_stages, cli_exported = runs["cli"]
    assert cli_exported == demo_exported  # the same rows, the same answers
    assert sorted(cli_files) == sorted(demo_files)
    for name, schema in demo_files.items():
        assert cli_files[name] == schema, name
    assert {"agreement/PREFS.json", "agreement/INST.json", "feedback.parquet"} <= set(cli_files)
    assert cli_stages == demo_stages
    assert set(cli_stages) == {
        "instructions", "preferences", "hygiene", "select", "push", "adjudicate", "pull",
        "agreement", "export",
    }  # fmt: skip
    assert {status for status, _, _ in cli_stages.values()} == {"done"}
