"""Unexpected failures as one line, and tracebacks without secrets.

The `curate` entry point sends every exception that is not a `CurationError` here. The
user sees one line (the exception type and its message, secrets masked); `--debug` or
`CURATION_DEBUG=1` adds the plain Python traceback, masked the same way. Never the
locals of any frame: distilabel installs rich's traceback handler with `show_locals=True`
when imported, and a frame's locals hold request headers with API keys in them.

Masked: the values of environment variables named `*_KEY`, `*_TOKEN`, `*_PASSWORD`,
`*_SECRET`; the embedded Argilla server's password and API key; and whatever follows
`Authorization`, `api_key`, `password`, `token` or `secret` in `key: value` or `key=value`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import traceback
from pathlib import Path

from curation.paths import service_home

MASK = "**********"
SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_PASSWORD", "_SECRET")
DEBUG_ENV = "CURATION_DEBUG"
_SHORTEST_SECRET = 6  # shorter values would mask ordinary words
_LABELLED = re.compile(
    r"(?i)((?:authorization|x-argilla-api-key|api[_-]?key|password|passwd|token|secret)"
    r"['\"]?\s*[:=]\s*['\"]?(?:bearer\s+|basic\s+|token\s+)?)[^\s'\",;}&]+"
)


def secret_values() -> list[str]:
    """Values to mask wherever they appear: secret-named variables and Argilla credentials."""
    found = [
        value
        for name, value in os.environ.items()
        if name.upper().endswith(SECRET_SUFFIXES) and len(value) >= _SHORTEST_SECRET
    ]
    for home in _argilla_homes():
        try:
            stored = json.loads((home / "credentials.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(stored, dict):
            found += [str(stored[key]) for key in ("api_key", "password") if stored.get(key)]
    return sorted(set(found), key=len, reverse=True)


def _argilla_homes() -> set[Path]:
    """The default embedded-server home and the configured one, if the config loads."""
    homes = {service_home("argilla")}
    from curation.config import load_config

    with contextlib.suppress(Exception):  # a broken config may be what failed
        homes.add(load_config().argilla.home.expanduser())
    return homes


def redact(text: str, secrets: list[str] | None = None) -> str:
    """`text` with every known secret value and every labelled secret masked."""
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, MASK)
    return _LABELLED.sub(lambda match: match.group(1) + MASK, text)


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def report_unexpected(error: BaseException) -> str:
    """What the user sees for a failure we did not foresee: one line, or `--debug` details."""
    secrets = secret_values()
    message = " ".join(str(error).split()) or "no details"
    line = redact(f"unexpected {type(error).__name__}: {message}", secrets)
    if not debug_enabled():
        return f"{line} (rerun with --debug for the traceback)"
    lines = traceback.format_exception(error)  # plain: no frame locals
    return redact("".join(lines).rstrip(), secrets)
