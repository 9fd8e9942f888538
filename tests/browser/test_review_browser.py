"""A reviewer compares a pushed preference pair in Argilla's web UI (headless Chromium);
`pull` shows the answer, and with a second reviewer agreeing the pair is approved with the
side the people chose, against the AI's choice.

The reviewer opens the queue link `push` prints (highest priority first) and must land on
the record routing ranked first. Screenshots go to `test-artifacts/review/` (gitignored).
"""

from __future__ import annotations

import pandas as pd
import pytest

from curation.config import load_config
from curation.review.commands import push_rows
from curation.review.pull import pull
from curation.review.push import chosen_side
from curation.review.records import reviewed_rows
from tests.browser.chromium import artifacts, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


LEVELS = (
    ("calm", 0.05, 3.0),
    ("steady", 0.1, 2.5),
    ("urgent", 0.9, 0.2),
    ("mild", 0.3, 1.5),
    ("quiet", 0.15, 2.0),
    ("plain", 0.2, 1.8),
)


def pairs() -> pd.DataFrame:
    """Six pairs; the judge is least sure about `urgent` (routing puts it first)."""
    rows = []
    for key, uncertainty, margin in LEVELS:
        rows.append(
            {
                "id": f"browser-{key}",
                "instruction": f"Which is the better way to store {key} tea leaves?",
                "chosen": f"In an airtight tin, away from light ({key}).",
                "rejected": f"In the fridge next to the onions ({key}).",
                "chosen_rating": 4.0,
                "rejected_rating": 4.0 - margin,
                "judge_model": "judge-1",
                "margin": margin,
                "judge_uncertainty": uncertainty,
                "source": "magpie",
            }
        )
    return pd.DataFrame(rows)


def test_a_reviewer_overrules_the_ai_in_the_web_ui_and_pull_shows_it(argilla_server, browser):
    workspace = argilla_server.unique("browser-review")
    name = argilla_server.unique("pairs")
    rows = pairs()
    pushed = push_rows(argilla_server.client, load_config(), rows, "preference", name, workspace)
    reviewer = argilla_server.new_annotator(workspace)
    ai_side = chosen_side("browser-urgent")
    human_side = "b" if ai_side == "a" else "a"
    urgent = rows.set_index("id").loc["browser-urgent"]

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    sign_in(page, argilla_server.url, reviewer.username, reviewer.password)

    page.goto(pushed.queue_url)
    page.locator(f"label[for='preferred_{human_side}']").wait_for(timeout=60_000)
    # The highest-priority record comes first, with the AI's answer pre-filled.
    page.get_by_text(urgent["instruction"], exact=True).wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts("review") / "1-queue-first-record.png"))

    page.locator(f"label[for='preferred_{human_side}']").click()
    page.locator(f"label[for='rating_{human_side}_5']").click()
    page.screenshot(path=str(artifacts("review") / "2-answered.png"))
    page.locator("button.button--submit").click()
    page.get_by_text(urgent["instruction"], exact=True).wait_for(state="hidden", timeout=60_000)
    page.screenshot(path=str(artifacts("review") / "3-submitted.png"))

    pulled = pull(argilla_server.client, name, workspace)
    mine = pulled.feedback[pulled.feedback["annotator"] == reviewer.username]
    answers = dict(zip(mine["question"], mine["value"], strict=True))
    assert answers["preferred"] == human_side
    assert answers[f"rating_{human_side}"] == "5"
    assert set(mine["record_id"]) == {"browser-urgent"}
    assert set(mine["status"]) == {"submitted"}
    row = mine[mine["question"] == "preferred"].iloc[0]
    assert (row["suggestion"], row["suggestion_agent"]) == (ai_side, "judge-1")

    # A second reviewer agrees: approved, and `chosen` is the side the people preferred.
    second = argilla_server.new_annotator(workspace)
    argilla_id = pulled.records.set_index("record_id").loc["browser-urgent", "argilla_id"]
    response = second.client.api.http_client.post(
        f"/api/v1/records/{argilla_id}/responses",
        json={"status": "submitted", "values": {"preferred": {"value": human_side}}},
    )
    assert response.status_code == 201, response.text
    _, decided = reviewed_rows(argilla_server.client, name, workspace)
    decided = decided.set_index("record_id")
    assert decided.loc["browser-urgent", "decision"] == "approved"
    assert decided.loc["browser-urgent", "chosen"] == urgent["rejected"]
    assert decided.loc["browser-urgent", "ai_agrees"] is False
