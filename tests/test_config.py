"""The config: YAML file, environment overrides, one-line errors, masked secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from curation.config import load_config
from curation.errors import CurationError

CURATE = [sys.executable, "-m", "curation"]


def test_defaults_are_the_embedded_offline_setup(monkeypatch):
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no curation.yaml here
    config = load_config()
    assert config.generation.judge.backend == "local"
    assert config.argilla.api_url is None
    assert config.argilla.workspace == "curation"


def test_yaml_file_then_environment_override(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("selection:\n  threshold: 0.8\n  budget: 100\nreview:\n  min_submitted: 3\n")
    monkeypatch.setenv("CURATION_SELECTION__THRESHOLD", "0.7")
    config = load_config(path)
    assert config.selection.threshold == 0.7  # environment wins
    assert config.selection.budget == 100  # file kept where env says nothing
    assert config.review.min_submitted == 3


def test_runs_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CURATION_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert load_config().runs_dir == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("selection:\n  threshold: [1\n", "line 3, column 1"),
        ("selection:\n  treshold: 0.5\n", "selection.treshold"),
        ("selection:\n  threshold: high\n", "selection.threshold"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CurationError, match=message.replace(".", r"\.")) as error:
        load_config(path)
    assert str(path) in str(error.value)


def test_missing_config_file_names_it(tmp_path):
    with pytest.raises(CurationError, match=r"config file not found: .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_config_show_masks_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("ARGILLA_API_KEY", "argilla-secret-key-123")
    monkeypatch.setenv("ARGILLA_API_URL", "http://127.0.0.1:9")
    result = subprocess.run(
        [*CURATE, "config", "show"], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert "argilla-secret-key-123" not in result.stdout + result.stderr
    assert "api_key: '**********'" in result.stdout
    assert "api_url: http://127.0.0.1:9" in result.stdout


def test_cli_prints_config_errors_as_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("nonsense_section: 1\n")
    result = subprocess.run(
        [*CURATE, "config", "show", "--config", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nonsense_section" in lines[0]


def test_the_team_example_config_is_valid(monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret")
    config = load_config(Path(__file__).parents[1] / "examples" / "team.yaml")
    assert config.generation.engine == "ray"
    assert config.generation.judge.model != config.generation.generators[0].model
    assert config.generation.generators[0].api_key().get_secret_value() == "vllm-secret"
    assert "vllm-secret" not in str(config.masked())


def test_environment_overrides_one_field_of_a_section_given_as_a_model(monkeypatch):
    """`Config(llm=LocalLLMServerConfig(port=X))` with CURATION_LLM__N_THREADS set keeps the
    port (the environment used to replace the whole section, sending work to port 8765)."""
    from curation.config import Config, GenerationConfig, JudgeConfig, LocalLLMServerConfig

    monkeypatch.setenv("CURATION_LLM__N_THREADS", "3")
    monkeypatch.setenv("CURATION_GENERATION__JUDGE__MAX_NEW_TOKENS", "4")
    config = Config(
        llm=LocalLLMServerConfig(port=1234),
        generation=GenerationConfig(num_instructions=3, judge=JudgeConfig(temperature=0.5)),
    )
    assert (config.llm.port, config.llm.n_threads) == (1234, 3)
    assert config.generation.num_instructions == 3
    assert (config.generation.judge.temperature, config.generation.judge.max_new_tokens) == (0.5, 4)
