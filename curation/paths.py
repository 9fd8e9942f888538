"""Where curation keeps its state: one home directory for background services.

What lives there holds records, responses and keys, so every folder we make under it is
0700 and every file 0600 (`private_dir`); folders of older installs are tightened when
they are next opened.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700


def home() -> Path:
    """The curation home (`CURATION_HOME`, default `~/.local/share/curation`)."""
    env = os.environ.get("CURATION_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "curation"


def service_home(name: str) -> Path:
    """State directory of one background service (`argilla`, `llm`, `dashboard`)."""
    return home() / name


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter, holding files only the owner can read.

    Made 0700 (with its missing parents under the curation home) if new. An existing
    one, its parents under the home and everything inside are tightened: installs from
    before this rule had 0755 folders and 0644 files.
    """
    path, root = Path(path), home()
    for folder in reversed([path, *path.parents]):
        if folder in (path, root) or root in folder.parents:
            folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            _tighten(folder)
    for folder, subfolders, files in os.walk(path):
        for name in [*subfolders, *files]:
            _tighten(Path(folder) / name)
    return path


def _tighten(path: Path) -> None:
    """Drop group and other permissions; the owner's stay as they are."""
    try:
        if path.is_symlink():
            return
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    except FileNotFoundError:  # a server's temp file, gone since the listing
        pass
