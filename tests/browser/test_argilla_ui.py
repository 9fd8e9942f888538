"""The Argilla web UI on the embedded server, in headless Chromium: an annotator signs in,
labels the record the UI shows them, submits, and the SDK reads the response back.

Screenshots go to `test-artifacts/argilla/` (gitignored) for people to look at.
"""

from __future__ import annotations

import pytest

from tests.browser.chromium import artifacts, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

INSTRUCTIONS = [f"Name a colour of the rainbow, number {i}." for i in range(3)]


@pytest.fixture
def dataset_and_annotator(argilla_server):
    import argilla as rg

    workspace = argilla_server.workspace(argilla_server.unique("ui"))
    settings = rg.Settings(
        fields=[rg.TextField(name="instruction"), rg.TextField(name="response")],
        questions=[
            rg.RatingQuestion(name="quality", values=[1, 2, 3, 4, 5]),
            rg.LabelQuestion(name="verdict", labels=["keep", "fix", "drop"]),
        ],
    )
    dataset = rg.Dataset(
        name=argilla_server.unique("ui"), workspace=workspace, settings=settings,
        client=argilla_server.client,
    ).create()  # fmt: skip
    dataset.records.log(
        [
            rg.Record(id=f"ui{i}", fields={"instruction": text, "response": "Blue."})
            for i, text in enumerate(INSTRUCTIONS)
        ]
    )
    return dataset, argilla_server.new_annotator(workspace)


def test_annotator_submits_in_the_web_ui_and_the_sdk_reads_it(
    argilla_server, dataset_and_annotator, browser
):
    dataset, annotator = dataset_and_annotator
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, argilla_server.url, annotator.username, annotator.password)

    page.goto(f"{argilla_server.url}/dataset/{dataset.id}/annotation-mode")
    page.locator("label[for='quality_4']").wait_for(timeout=60_000)
    shown = [text for text in INSTRUCTIONS if page.get_by_text(text, exact=True).is_visible()]
    assert len(shown) == 1, "the UI shows one record in focus mode"
    page.screenshot(path=str(artifacts("argilla") / "1-record.png"))

    page.locator("label[for='quality_4']").click()
    page.locator("label[for='verdict_keep']").click()
    page.screenshot(path=str(artifacts("argilla") / "2-answered.png"))
    page.locator("button.button--submit").click()
    # The UI moves on to the next pending record once the response is saved.
    page.get_by_text(shown[0], exact=True).wait_for(state="hidden", timeout=60_000)
    page.screenshot(path=str(artifacts("argilla") / "3-submitted.png"))

    record_id = f"ui{INSTRUCTIONS.index(shown[0])}"
    records = {record.id: record for record in dataset.records(with_responses=True)}
    responses = records[record_id].responses
    assert {(r.question_name, r.value, r.status) for r in responses} == {
        ("quality", 4, "submitted"),
        ("verdict", "keep", "submitted"),
    }
    assert {str(r.user_id) for r in responses} == {str(annotator.client.me.id)}
    assert all(not records[other].responses for other in records if other != record_id)
