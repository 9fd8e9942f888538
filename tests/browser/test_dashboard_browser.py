"""The served dashboard in headless Chromium: every page renders, screenshots kept.

The server is the real `curate dashboard` launcher on a fixture run; the screenshots go
to `test-artifacts/dashboard/` (gitignored) for people to look at.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

from curation import dashboard
from curation.services import free_port

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
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
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


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


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
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{path or 'overview'}.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    image = Image.open(shot).convert("RGB")
    low, high = zip(*image.getextrema(), strict=True)
    assert low != high, f"{shot} is a single colour"
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20, f"{shot} looks blank"
