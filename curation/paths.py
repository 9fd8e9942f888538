"""Where curation keeps its state: one home directory for background services."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The curation home (`CURATION_HOME`, default `~/.local/share/curation`)."""
    env = os.environ.get("CURATION_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "curation"


def service_home(name: str) -> Path:
    """State directory of one background service (`argilla`, `llm`, `dashboard`)."""
    return home() / name
