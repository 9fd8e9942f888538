"""The hygiene flags in review and export, against the real embedded Argilla server.

`curate push` shows `pii_kinds` and `contaminated_by` as metadata reviewers can filter on;
`curate export` refuses approved rows with unredacted PII or benchmark overlap unless
`--allow-pii` / `--allow-contaminated`, and the card says what went out flagged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from curation.config import load_config
from curation.review.commands import push_rows
from curation.review.pull import pull
from tests.util import one_line_error

pytestmark = pytest.mark.integration
EMAIL = "Write to ana.lopez@example.org for the full recipe."


def rows() -> pd.DataFrame:
    """Four instruction rows: h-1 holds an email, h-2 overlaps HumanEval, h-0/h-3 are clean."""
    frame = pd.DataFrame(
        {
            "id": [f"h-{i}" for i in range(4)],
            "instruction": [f"Explain step {i} of baking bread." for i in range(4)],
            "response": [f"Step {i}: knead the dough well." for i in range(4)],
            "rating": 4.0,
            "deita_score": [1.0, 2.0, 3.0, 4.0],
            "pii_kinds": [[], ["email"], [], []],
            "contaminated_by": [[], [], ["HumanEval"], []],
        }
    )
    frame.loc[1, "response"] = EMAIL
    return frame


def curate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curation", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ,
    )


@pytest.fixture(scope="module")
def approved(argilla_server):
    """The four rows pushed and approved by two reviewers each."""
    import argilla as rg

    workspace = argilla_server.unique("hygiene")
    alice, bob = (argilla_server.new_annotator(workspace) for _ in range(2))
    name = argilla_server.unique("flags")
    owner = argilla_server.client
    push_rows(owner, load_config(), rows(), "instruction", name, workspace)
    pulled = pull(owner, name, workspace)
    for argilla_id in pulled.records["argilla_id"]:
        for annotator in (alice, bob):
            body = {"status": "submitted", "values": {"verdict": {"value": "keep"}}}
            response = annotator.client.api.http_client.post(
                f"/api/v1/records/{argilla_id}/responses", json=body
            )
            assert response.status_code == 201, response.text
    dataset = owner.datasets(name, workspace=workspace)
    return dataset, name, workspace, rg


def test_reviewers_see_and_filter_on_the_flags(approved) -> None:
    dataset, _, _, rg = approved
    props = {prop.name: prop for prop in dataset.settings.metadata}
    assert props["pii_kinds"].visible_for_annotators
    assert props["contaminated_by"].visible_for_annotators

    def ids(field: str, value: str) -> set[str]:
        query = rg.Query(filter=rg.Filter([(f"metadata.{field}", "==", value)]))
        return {record.id for record in dataset.records(query=query)}

    assert ids("pii_kinds", "email") == {"h-1"}
    assert ids("contaminated_by", "HumanEval") == {"h-2"}


def test_export_refuses_flagged_rows_and_the_flags_let_them_through(approved, tmp_path) -> None:
    _, name, workspace, _ = approved
    folder = tmp_path / "out"
    base = ("export", "--dataset", name, "--workspace", workspace, "--format", "sft")
    line = one_line_error(curate(*base, "--local-dir", str(folder)))
    assert "1 approved rows hold unredacted PII (email 1)" in line and "--allow-pii" in line
    line = one_line_error(curate(*base, "--local-dir", str(folder), "--allow-pii"))
    assert "1 approved rows overlap a benchmark (HumanEval 1)" in line
    assert not folder.exists()
    done = curate(*base, "--local-dir", str(folder), "--allow-pii", "--allow-contaminated")
    assert done.returncode == 0, done.stderr
    assert "exported 4 approved records" in done.stdout
    card = Path(folder / "README.md").read_text()
    assert "1 rows hold PII (email 1; exported with --allow-pii)" in card
    assert "1 rows overlap a benchmark (HumanEval 1; exported with --allow-contaminated)" in card
