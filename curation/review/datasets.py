"""Finding a dataset by name, and the web-UI addresses of a dataset.

CLI contract: a dataset is looked up in `--workspace`, or by name in any workspace when
no workspace is given (an ambiguous name is an error).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from curation.errors import CurationError

if TYPE_CHECKING:
    import argilla as rg

# The annotation UI reads its sort from the `sort` query parameter as
# `<entity>.<name>.<order>`; this one puts the highest review priority first.
PRIORITY_SORT = "metadata.priority.desc"


@contextlib.contextmanager
def quietly() -> Iterator[None]:
    """Without the SDK's "... not found" warnings: here a miss is an answer, not a problem."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def lookup(client: rg.Argilla, name: str, workspace: str) -> rg.Dataset | None:
    """The dataset `name` in `workspace`, or None."""
    with quietly():
        if client.workspaces(workspace) is None:
            return None
        return client.datasets(name=name, workspace=workspace)


def find_dataset(client: rg.Argilla, name: str, workspace: str | None) -> rg.Dataset:
    """The dataset in `workspace`, or the only one of that name in any workspace."""
    if workspace is not None:
        found = lookup(client, name, workspace)
        if found is None:
            raise CurationError(f"no dataset {name!r} in workspace {workspace!r}")
        return found
    matches = [d for d in client.datasets if d.name == name]
    if not matches:
        raise CurationError(f"no dataset {name!r} in any workspace")
    if len(matches) > 1:
        spaces = ", ".join(sorted(d.workspace.name for d in matches))
        raise CurationError(
            f"dataset name {name!r} is in several workspaces ({spaces}): use --workspace"
        )
    return matches[0]


def dataset_url(api_url: str, dataset_id: object) -> str:
    """Where reviewers annotate the dataset in Argilla's web UI."""
    return f"{api_url.rstrip('/')}/dataset/{dataset_id}/annotation-mode"


def queue_url(api_url: str, dataset_id: object) -> str:
    """The same page with the most informative records first (sorted by `priority`)."""
    return f"{dataset_url(api_url, dataset_id)}?sort={PRIORITY_SORT}"


def record_count(client: rg.Argilla, dataset_id: object) -> int:
    """How many records the dataset holds (the server's progress figure)."""
    from curation.review.rest import ArgillaREST

    return int(ArgillaREST(client).get(f"/api/v1/datasets/{dataset_id}/progress")["total"])
