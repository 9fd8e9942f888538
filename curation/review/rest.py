"""The Argilla REST calls the SDK cannot make, in one place, with one error mapping.

The Argilla 2.8 SDK has no call for these, so they go to the server's REST API on the SDK
client's own connection: a dataset's records with their responses page by page and record
search by response status (pull), a dataset's progress, the users list and one user's API
key, bulk metadata updates (route), bulk responses (the SIMULATED reviewers) and deleting
suggestions (push). Nothing else touches `client.api.http_client`.

Like the SDK's own `api_error_handler`, each HTTP status becomes one error class; here they
are `CurationError`s, so a command prints one line naming the call and the server (never
the API key) and exits 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curation.errors import CurationError

if TYPE_CHECKING:
    import argilla as rg


class ArgillaAPIError(CurationError):
    """The Argilla server refused or failed a REST call."""


class BadRequest(ArgillaAPIError):
    pass


class Unauthorized(ArgillaAPIError):
    pass


class Forbidden(ArgillaAPIError):
    pass


class NotFound(ArgillaAPIError):
    pass


class Conflict(ArgillaAPIError):
    pass


class Unprocessable(ArgillaAPIError):
    pass


class ServerError(ArgillaAPIError):
    pass


class Unreachable(ArgillaAPIError):
    pass


# status -> (error, what it means), as the SDK's api_error_handler maps them.
STATUS_ERRORS: dict[int, tuple[type[ArgillaAPIError], str]] = {
    400: (BadRequest, "bad request"),
    401: (Unauthorized, "the API key was rejected"),
    403: (Forbidden, "the API key's user may not do this"),
    404: (NotFound, "not found"),
    409: (Conflict, "conflict"),
    422: (Unprocessable, "the request was refused"),
}


def error_for(status: int, call: str, url: str, detail: Any = None) -> ArgillaAPIError:
    """The error for an HTTP status of `call` (like `GET /api/v1/users`) at server `url`."""
    kind, meaning = STATUS_ERRORS.get(
        status, (ServerError, "server error") if status >= 500 else (ArgillaAPIError, "failed")
    )
    said = f": {detail}" if detail else ""
    return kind(f"Argilla at {url}: {call} answered HTTP {status} ({meaning}){said}")


class ArgillaREST:
    """REST calls on an SDK client's connection; each returns the decoded JSON body."""

    def __init__(self, client: rg.Argilla) -> None:
        self._http = client.api.http_client
        self.url = client.api_url

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise Unreachable(
                f"Argilla at {self.url}: {method} {path} got no answer ({error})"
            ) from None
        if response.is_success:
            return response.json() if response.content else None
        raise error_for(response.status_code, f"{method} {path}", self.url, _detail(response))


def _detail(response: Any) -> Any:
    try:
        return response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:200] or None
