"""What annotators may read on the embedded server: their own responses and the metadata
shown to annotators, as argilla-server's own annotator search gives (web server process).

argilla-server 2.8 filters its annotator search (`POST /me/datasets/{id}/records/search`,
the whole annotator UI): only the user's own responses come back, and only the metadata
properties `visible_for_annotators`. Two paths did not hold to that:

1. `GET /api/v1/records/{id}` gave any workspace member every reviewer's responses and
   every metadata value (the AI judge's side, scores, margins). A reviewer who sees a
   co-reviewer's answer first biases every agreement figure. Annotators now get what the
   annotator search gives; owners and admins still get everything.
2. The annotator search accepted filters and sorts on hidden metadata, so narrowing a range
   revealed a hidden value. An annotator's filter or sort on a hidden property is answered
   422 with the very message of a property that does not exist (the dataset's annotator
   metadata list, `/me/datasets/{id}/metadata-properties`, does not show it either).

The other record endpoints already hold: annotators get 403 from the dataset-wide record
list and search, record updates and deletes, and others' responses; the response endpoints
answer with the user's own response; suggestions are for everybody (tests/
test_embedded_access.py walks them all). Each patch wraps one route's endpoint function,
checked against the argilla-server version it was written for (`fixes.written_for`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from curation.embedded.fixes import written_for

Endpoint = Callable[..., Awaitable[Any]]


def install() -> None:
    written_for("2.8.0", __name__)
    _wrap("GET", "/records/{record_id}", _own_view_of_record)
    _wrap("POST", "/me/datasets/{dataset_id}/records/search", _no_hidden_metadata_scopes)


def _wrap(method: str, path: str, wrapper: Callable[[Endpoint], Endpoint]) -> None:
    """Replace the function a route of the `/api/v1` app calls (FastAPI 0.115 calls
    `route.dependant.call` with the solved parameters as keywords)."""
    from argilla_server.api.routes import api_v1
    from fastapi.routing import APIRoute

    for route in api_v1.routes:
        if isinstance(route, APIRoute) and route.path == path and method in route.methods:
            route.dependant.call = functools.wraps(route.dependant.call)(
                wrapper(route.dependant.call)
            )
            return
    raise RuntimeError(f"argilla-server has no route {method} {path} to restrict")


def _sees_everything(user: Any) -> bool:
    return user.is_owner or user.is_admin


def _own_view_of_record(endpoint: Endpoint) -> Endpoint:
    async def get_record(**values: Any) -> Any:
        record = await endpoint(**values)  # raises 404 / 403 as before
        user = values["current_user"]
        if not _sees_everything(user):
            await annotator_view(record, user)
        return record

    return get_record


async def annotator_view(record: Any, user: Any) -> None:
    """Leave in `record` (loaded with its responses) what the annotator search shows `user`:
    their own responses, the metadata their role may see. Nothing is written: the values
    are set as if loaded, so the session has no change to flush."""
    from argilla_server.api.handlers.v1.datasets.records import _filter_record_metadata_for_user
    from sqlalchemy.orm.attributes import set_committed_value

    await record.dataset.awaitable_attrs.metadata_properties
    own = [response for response in record.responses if response.user_id == user.id]
    set_committed_value(record, "responses", own)
    set_committed_value(record, "metadata_", await _filter_record_metadata_for_user(record, user))


def _no_hidden_metadata_scopes(endpoint: Endpoint) -> Endpoint:
    async def search(**values: Any) -> Any:
        user = values["current_user"]
        if not _sees_everything(user):
            await _refuse_hidden_metadata(values["db"], values["dataset_id"], values["body"], user)
        return await endpoint(**values)

    return search


async def _refuse_hidden_metadata(db: Any, dataset_id: Any, body: Any, user: Any) -> None:
    """422 for a filter or sort on a metadata property hidden from annotators, once the
    endpoint's own checks (the dataset exists, `user` may search it) would pass."""
    from argilla_server.api.policies.v1 import DatasetPolicy, is_authorized
    from argilla_server.api.schemas.v1.records import MetadataFilterScope
    from argilla_server.errors.future import UnprocessableEntityError
    from argilla_server.models import Dataset, MetadataProperty

    scopes = [item.scope for item in (body.filters.and_ if body.filters else [])]
    scopes += [order.scope for order in body.sort or []]
    names = {scope.metadata_property for scope in scopes if isinstance(scope, MetadataFilterScope)}
    if not names:
        return
    dataset = await Dataset.get(db, dataset_id)
    if dataset is None or not await is_authorized(user, DatasetPolicy.search_records(dataset)):
        return  # the endpoint answers 404 / 403
    for name in sorted(names):
        found = await MetadataProperty.get_by(db, name=name, dataset_id=dataset_id)
        if found is not None and not found.visible_for_annotators:
            # the words of argilla-server's answer for a property that does not exist
            raise UnprocessableEntityError(
                f"MetadataProperty not found filtering by name={name}, dataset_id={dataset_id}"
            )
