"""Which Argilla every review command talks to, and the SDK client for it.

`ARGILLA_API_URL` / `ARGILLA_API_KEY` (copied into `config.argilla` by `load_config`) win:
any Argilla 2.x, e.g. the docker/ deployment. Otherwise the embedded server whose
`credentials.json` is in `config.argilla.home` (`curate server start`). The API key is
never printed or logged; errors name the URL only.
"""

from __future__ import annotations

import contextlib
import http.client
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from curation.config import ArgillaConfig, Config
from curation.errors import CurationError

if TYPE_CHECKING:
    import argilla

API_KEY_HEADER = "X-Argilla-Api-Key"
_HOW_TO = "run `curate server start` or set ARGILLA_API_URL/ARGILLA_API_KEY"


def resolve(config: ArgillaConfig | Config) -> tuple[str, str]:
    """(URL, API key) of the Argilla to use; a CurationError if none answers or the key fails."""
    from curation.embedded import launcher

    config = config.argilla if isinstance(config, Config) else config
    if config.api_url:
        if config.api_key is None:
            raise CurationError("ARGILLA_API_URL is set but ARGILLA_API_KEY is not: set both")
        url, key = config.api_url.rstrip("/"), config.api_key.get_secret_value()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CurationError(f"the Argilla URL {url!r} is not an http:// or https:// address")
    else:
        found = launcher.read_credentials(config.home)
        if found is None:
            raise CurationError(f"no Argilla server at http://127.0.0.1:{config.port}: {_HOW_TO}")
        url, key = found.url, found.api_key
    status = _status(f"{url}/api/v1/me", key)
    if status is None:
        raise CurationError(f"no Argilla server at {url}: {_HOW_TO}")
    if status in (401, 403):
        raise CurationError(f"the Argilla server at {url} rejected the API key")
    if not 200 <= status < 300:
        raise CurationError(f"the Argilla server at {url} answered HTTP {status}")
    return url, key


def connect(config: ArgillaConfig | Config) -> argilla.Argilla:
    """An Argilla SDK client for `resolve(config)`."""
    import argilla

    url, key = resolve(config)
    return argilla.Argilla(api_url=url, api_key=key)


@contextlib.contextmanager
def argilla_errors(action: str, client: argilla.Argilla) -> Iterator[None]:
    """Turn an HTTP or SDK failure during `action` into one line naming the server."""
    import httpx
    from argilla._exceptions import ArgillaError

    try:
        yield
    except (httpx.HTTPError, ArgillaError) as error:
        raise CurationError(f"{action} at {client.api_url} failed: {error}") from None


def _status(url: str, key: str) -> int | None:
    """HTTP status of an authenticated GET, None when nothing answers."""
    try:
        request = urllib.request.Request(url, headers={API_KEY_HEADER: key})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        return None  # nothing answers, not a URL, or what answers does not speak HTTP
