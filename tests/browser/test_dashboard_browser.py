"""The served dashboard in headless Chromium: every page renders, screenshots kept.

The server is the real `curate dashboard` launcher on a fixture run; the screenshots go
to `test-artifacts/dashboard/` (gitignored) for people to look at.
"""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote

import pytest
from PIL import Image

from curation import dashboard
from curation.services import free_port
from tests.browser.chromium import artifacts, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAGES = {  # URL path -> page title
    "": "Overview",
    "scores": "Scores",
    "diversity": "Diversity",
    "review": "Review",
    "agreement": "Agreement",
    "export": "Export readiness",
}


@pytest.fixture(scope="module")
def served(full_run):
    """`curate dashboard` on the full fixture run; yields the base URL."""
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "curation",
            "dashboard",
            "--run",
            str(full_run),
            "--port",
            str(port),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        dashboard.stop()


def wait_until_drawn(page, title: str) -> None:
    """Streamlit renders in steps: the title, then skeletons, then charts drawn by Plotly."""
    page.locator("h1", has_text=title).first.wait_for(timeout=60_000)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stSkeleton"]')
              && !document.querySelector('[data-testid="stStatusWidget"]')
              && Array.from(document.querySelectorAll('.js-plotly-plot'))
                   .every(plot => plot.querySelector('.main-svg'))""",
        timeout=60_000,
    )
    page.wait_for_timeout(1_000)  # let the last chart finish its transition


@pytest.mark.parametrize("path", PAGES)
def test_page_screenshot(served, browser, full_run, path):
    title = PAGES[path]
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    try:
        page.goto(f"{served}{path}?run={quote(str(full_run), safe='')}")
        wait_until_drawn(page, title)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text(title, exact=True).first.is_visible()
        assert page.locator(".js-plotly-plot").count() >= 1
        shot = artifacts("dashboard") / f"{path or 'overview'}.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    image = Image.open(shot).convert("RGB")
    low, high = zip(*image.getextrema(), strict=True)
    assert low != high, f"{shot} is a single colour"
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20, f"{shot} looks blank"


def test_queue_link_opens_the_record_in_argilla(argilla_server, browser, tmp_path):
    """A pending-queue link, followed by a signed-in curator, shows that record in Argilla."""
    import argilla as rg
    import pandas as pd

    from curation.embedded import launcher
    from tests.test_dashboard import open_app

    workspace = argilla_server.workspace("dashboard-links")
    settings = rg.Settings(
        fields=[rg.TextField(name="instruction")],
        questions=[rg.LabelQuestion(name="verdict", labels=["keep", "drop"])],
        distribution=rg.TaskDistribution(min_submitted=2),
    )
    dataset = rg.Dataset(
        name=argilla_server.unique("links"),
        workspace=workspace,
        settings=settings,
        client=argilla_server.client,
    ).create()
    texts = {
        "r-poem": "Write a short poem about the sea at night",
        "r-recursion": "Explain recursion to a new Python programmer",
        "r-garden": "Plan a garden on a small budget",
    }
    dataset.records.log([{"id": rid, "instruction": text} for rid, text in texts.items()])
    run = tmp_path / "links-run"
    run.mkdir()
    pd.DataFrame({"id": list(texts), "instruction": list(texts.values())}).to_parquet(
        run / "instructions.parquet"
    )
    pd.DataFrame(
        {
            "dataset": dataset.name,
            "record_id": list(texts),
            "template": "instruction",
            "dataset_id": str(dataset.id),
            "record_status": "pending",
            "priority": [0.2, 0.9, 0.5],
            "n_submitted": 0,
        }
    ).to_parquet(run / "review_records.parquet")

    at = open_app(run, "views/review.py")
    queue = next(t.value for t in at.dataframe if "open in Argilla" in t.value.columns)
    assert queue["record_id"].iloc[0] == "r-recursion"  # highest priority first
    link = queue["open in Argilla"].iloc[0]
    assert link.startswith(f"{argilla_server.url}/dataset/{dataset.id}/annotation-mode")

    owner = launcher.read_credentials(argilla_server.home)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, argilla_server.url, owner.username, owner.password)
        page.goto(link)
        page.get_by_text(texts["r-recursion"]).first.wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts("dashboard") / "argilla-record-link.png"))
        body = page.inner_text("body")
    finally:
        context.close()
    assert texts["r-recursion"] in body
    assert texts["r-poem"] not in body and texts["r-garden"] not in body
