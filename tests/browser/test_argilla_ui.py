"""The Argilla web UI on the embedded server, in headless Chromium: an annotator signs in,
labels the record the UI shows them, submits, and the SDK reads the response back.

Screenshots go to `test-artifacts/argilla/` (gitignored) for people to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration]
playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "argilla"
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
    argilla_server, dataset_and_annotator
):
    dataset, annotator = dataset_and_annotator
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{argilla_server.url}/sign-in")
        page.get_by_label("Username").fill(annotator.username)
        page.get_by_label("Password").fill(annotator.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{argilla_server.url}/", timeout=60_000)

        page.goto(f"{argilla_server.url}/dataset/{dataset.id}/annotation-mode")
        page.locator("label[for='quality_4']").wait_for(timeout=60_000)
        shown = [text for text in INSTRUCTIONS if page.get_by_text(text, exact=True).is_visible()]
        assert len(shown) == 1, "the UI shows one record in focus mode"
        page.screenshot(path=str(ARTIFACTS / "1-record.png"))

        page.locator("label[for='quality_4']").click()
        page.locator("label[for='verdict_keep']").click()
        page.screenshot(path=str(ARTIFACTS / "2-answered.png"))
        page.locator("button.button--submit").click()
        # The UI moves on to the next pending record once the response is saved.
        page.get_by_text(shown[0], exact=True).wait_for(state="hidden", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "3-submitted.png"))
        browser.close()

    record_id = f"ui{INSTRUCTIONS.index(shown[0])}"
    records = {record.id: record for record in dataset.records(with_responses=True)}
    responses = records[record_id].responses
    assert {(r.question_name, r.value, r.status) for r in responses} == {
        ("quality", 4, "submitted"),
        ("verdict", "keep", "submitted"),
    }
    assert {str(r.user_id) for r in responses} == {str(annotator.client.me.id)}
    assert all(not records[other].responses for other in records if other != record_id)
