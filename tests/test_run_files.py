"""The one list of run files is what the README and the dashboard show."""

from __future__ import annotations

from pathlib import Path

from curation.run_files import RUN_FILES, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_shows_the_list_of_run_files():
    assert markdown_table() in (ROOT / "README.md").read_text()


def test_each_run_file_names_the_command_with_run_that_writes_it():
    for file in RUN_FILES.values():
        assert "--run {run}" in file.command, file.name


def test_the_readme_names_every_module():
    text = (ROOT / "README.md").read_text()
    where = text[text.index("## What is where") : text.index("## One run, stage by stage")]
    missing = []
    for package in ("curation", "dashboards"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "__init__.py" and path.parent.name != "agreement":
                continue
            folder = f"{path.parent.name}/"  # a package may be described as a whole
            if path.name not in where and folder not in where:
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"not in README's 'What is where': {missing}"
