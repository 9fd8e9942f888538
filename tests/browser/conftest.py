"""Headless Debian Chromium driven by Playwright (no browser download), for every UI test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.chromium import ARGS, CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium for the module's tests."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()
