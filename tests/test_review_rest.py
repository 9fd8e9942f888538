"""The REST calls the SDK cannot make: an HTTP status becomes one of our one-line errors."""

from __future__ import annotations

import uuid

import pytest

from curation.errors import CurationError
from curation.review.rest import ArgillaREST, Forbidden, NotFound, ServerError, error_for


def test_each_status_has_its_error_naming_the_call_and_the_server():
    error = error_for(404, "GET /api/v1/datasets/x", "http://127.0.0.1:1", "Dataset not found")
    assert isinstance(error, NotFound) and isinstance(error, CurationError)
    assert str(error) == (
        "Argilla at http://127.0.0.1:1: GET /api/v1/datasets/x answered HTTP 404 (not found): "
        "Dataset not found"
    )
    assert isinstance(error_for(503, "GET /", "u"), ServerError)


@pytest.mark.integration
def test_a_real_server_s_refusals_become_our_errors(argilla_server):
    rest = ArgillaREST(argilla_server.client)
    missing = uuid.uuid4()
    with pytest.raises(NotFound, match=f"GET /api/v1/datasets/{missing} answered HTTP 404"):
        rest.get(f"/api/v1/datasets/{missing}")
    annotator = argilla_server.new_annotator(argilla_server.unique("rest"))
    with pytest.raises(Forbidden) as refused:
        ArgillaREST(annotator.client).get("/api/v1/users")
    assert annotator.api_key not in str(refused.value)
    assert rest.get("/api/v1/me")["username"]
