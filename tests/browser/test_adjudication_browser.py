"""An adjudicator settles a tie in Argilla's web UI (headless Chromium); `curate pull` and
`curate export` then show the side the adjudicator chose, against the AI's choice.

Two reviewers split 1-1 on a pair, `curate adjudicate` escalates it, and the adjudicator
(an annotator account named in `review.adjudicators`) opens the link it prints, reads
the earlier answers and picks the other side than the AI's. Screenshots go to
`test-artifacts/adjudication/` (gitignored).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from curation.config import load_config
from curation.review.commands import push_rows
from curation.review.pull import pull
from curation.review.push import chosen_side
from curation.runs import RunDir
from tests.browser.chromium import artifacts, sign_in
from tests.util import preference_rows

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def curate(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "curation", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_adjudicator_decides_a_tie_in_the_web_ui(argilla_server, browser, tmp_path):
    workspace = argilla_server.unique("browser-adjudicate")
    name = argilla_server.unique("pairs")
    rows = preference_rows(1, "settle")
    push_rows(argilla_server.client, load_config(), rows, "preference", name, workspace)
    alice, bob = (argilla_server.new_annotator(workspace) for _ in range(2))
    judge = argilla_server.new_annotator(argilla_server.unique("judges"))
    record = pull(argilla_server.client, name, workspace).records.iloc[0]
    for person, side in ((alice, "a"), (bob, "b")):
        response = person.client.api.http_client.post(
            f"/api/v1/records/{record['argilla_id']}/responses",
            json={"status": "submitted", "values": {"preferred": {"value": side}}},
        )
        assert response.status_code == 201, response.text
    env = {"CURATION_REVIEW__ADJUDICATORS": json.dumps([judge.username])}
    said = curate("adjudicate", "--dataset", name, "--workspace", workspace, env=env)
    assert "1 escalated (1 tie)" in said
    link = said.split("adjudicate it: ")[1].strip()

    ai_side = chosen_side("settle-0")
    human_side = "b" if ai_side == "a" else "a"
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    sign_in(page, argilla_server.url, judge.username, judge.password)
    page.goto(link)
    page.locator(f"label[for='preferred_{human_side}']").wait_for(timeout=60_000)
    page.get_by_text("Escalated: tie", exact=False).wait_for(timeout=60_000)
    assert page.get_by_text(alice.username, exact=False).first.is_visible()
    assert page.get_by_text("AI judge (a suggestion, not a person)").is_visible()
    page.screenshot(path=str(artifacts("adjudication") / "1-escalated-tie.png"), full_page=True)
    page.locator(f"label[for='preferred_{human_side}']").click()
    page.locator("button.button--submit").click()
    page.get_by_text("Escalated: tie", exact=False).wait_for(state="hidden", timeout=60_000)
    page.screenshot(path=str(artifacts("adjudication") / "2-decided.png"))

    run = RunDir.open(tmp_path / "run", tmp_path)
    pulled = curate(
        "pull", "--dataset", name, "--workspace", workspace, "--run", str(run.path),
        "--output", str(tmp_path / "feedback.parquet"), env=env,
    )  # fmt: skip
    assert "1 escalated, 1 of them answered" in pulled
    records = pd.read_parquet(run.file("review_records.parquet")).set_index("record_id")
    assert records.loc["settle-0", ["decision", "approved_by", "adjudicated"]].tolist() == [
        "approved",
        "adjudicator",
        human_side,
    ]
    assert records.loc["settle-0", "adjudicator"] == judge.username

    folder = tmp_path / "dpo"
    curate(
        "export", "--dataset", name, "--workspace", workspace, "--format", "dpo",
        "--local-dir", str(folder), env=env,
    )  # fmt: skip
    exported = pd.read_parquet(next(folder.rglob("*.parquet")))
    assert exported["approved_by"].tolist() == ["adjudicator"]
    chosen = exported["chosen"][0][-1]["content"]
    assert chosen == rows.loc[0, "rejected"]  # the adjudicator's side, not the AI's
