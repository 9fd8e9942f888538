"""Headless Debian Chromium for UI tests: its flags, sign-in, and where screenshots go."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying hosts this offline
# machine cannot reach.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def artifacts(name: str) -> Path:
    """`test-artifacts/<name>/` (gitignored): screenshots kept for people to look at."""
    folder = ARTIFACTS / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page, url: str, username: str, password: str) -> None:
    """Sign in to the Argilla web UI at `url` and wait for its home page."""
    page.goto(f"{url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/", timeout=60_000)
