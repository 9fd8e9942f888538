"""`curate pull`: reviewers' responses out of Argilla, incrementally, as one tidy table.

Argilla 2.x cannot select records by when their responses changed (a response does not
touch its record's `updated_at`, and the search API filters responses by status only), so
a pull keeps a local copy of the dataset's records (`$CURATION_HOME/review-cache/`) and
fetches only what can have changed since the last pull:

- records whose `updated_at` moved (added or re-pushed records, records whose status
  changed), found with a server-side filter;
- when the dataset's `last_activity_at` moved (any response created, changed or deleted
  since), the records that have a response at all (server-side filter on response status);
  records nobody has answered are never fetched again;
- nothing else: a pull with no change since the last one fetches no record.

A record count that no longer matches (records deleted on the server) or a missing or
unreadable copy makes it a full read. The result is a `Pulled`: the records (with
fields, metadata, suggestions and every response) and the tidy responses table.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curation.feedback import FEEDBACK_COLUMNS, RESPONSE_STATUSES
from curation.paths import home, private_dir
from curation.review import blind
from curation.review.adjudication import (
    adjudication_name,
    adjudication_workspace,
    extra_review_name,
)
from curation.review.connection import argilla_errors
from curation.review.datasets import find_dataset, lookup, record_count
from curation.review.pulled import Pulled
from curation.review.rest import ArgillaREST, Forbidden
from curation.review.templates import template_of
from curation.runs import write_json, write_parquet

if TYPE_CHECKING:
    import argilla as rg

log = logging.getLogger(__name__)

# The local copy: one row per record; nested values as JSON text.
RECORD_COLUMNS = (
    "record_id",
    "argilla_id",
    "status",
    "updated_at",
    "fields",
    "metadata",
    "suggestions",
    "responses",
)
PAGE = 500  # records per request (argilla-server allows up to 1,000)
CACHE_VERSION = 2  # 2: withheld AI answers of the blind slice among the suggestions


# --- public ----------------------------------------------------------------------------


def pull(
    client: rg.Argilla,
    dataset: str,
    workspace: str | None = None,
    cache_root: Path | None = None,
) -> Pulled:
    """Pull `dataset` (found as the CLI contract says), fetching only what changed.

    Its adjudication and extra-review datasets (`adjudication.py`), where they exist, come
    with it: their answers are part of the record's decision.
    """
    found = find_dataset(client, dataset, workspace)
    cache = cache_root or home() / "review-cache"
    with argilla_errors(f"reading {dataset!r} from Argilla", client):
        pulled = _pull(client, found, cache)
        space = found.workspace.name
        for attribute, name, where in (
            ("adjudication", adjudication_name(found.name), adjudication_workspace(space)),
            ("extra_review", extra_review_name(found.name), space),
        ):
            companion = lookup(client, name, where)
            if companion is not None:
                setattr(pulled, attribute, _pull(client, companion, cache))
        return pulled


def tidy_responses(
    dataset: str, records: pd.DataFrame, question_types: dict[str, str], users: dict[str, str]
) -> pd.DataFrame:
    """One row per (record, annotator, question) answered, every status, AI suggestion beside.

    Values are text (a rating `"4"`, a label `"a"`, the text itself; lists as JSON), as the
    agreement and consensus code read them. `blind`: the record is in the blind control
    slice; its `suggestion` is the AI answer withheld from the reviewers (`review.blind`).
    """
    rows = []
    for record_id, suggestions_json, responses_json, metadata_json in zip(
        records["record_id"],
        records["suggestions"],
        records["responses"],
        records["metadata"],
        strict=True,
    ):
        suggestions = json.loads(suggestions_json)
        in_slice = blind.is_marked(json.loads(metadata_json))
        for response in json.loads(responses_json):
            annotator = users.get(response["user_id"], response["user_id"])
            updated = response["updated_at"]
            for question, answer in (response.get("values") or {}).items():
                suggestion = suggestions.get(question) or {}
                rows.append(
                    (
                        dataset,
                        record_id,
                        annotator,
                        question,
                        question_types.get(question, "unknown"),
                        as_text(answer.get("value") if isinstance(answer, dict) else answer),
                        response["status"],
                        as_text(suggestion.get("value")),
                        suggestion.get("score"),
                        suggestion.get("agent"),
                        updated,
                        in_slice,
                    )
                )
    table = pd.DataFrame(rows, columns=list(FEEDBACK_COLUMNS))
    table["suggestion_score"] = pd.to_numeric(table["suggestion_score"]).astype(float)
    table["updated_at"] = pd.to_datetime(table["updated_at"], utc=True, format="ISO8601")
    table["blind"] = table["blind"].astype(bool)
    return table


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


# --- the pull itself ---------------------------------------------------------------------


def _pull(client: rg.Argilla, found: rg.Dataset, cache_root: Path) -> Pulled:
    http = ArgillaREST(client)
    dataset_id = str(found.id)
    server = hashlib.sha256(client.api_url.encode()).hexdigest()[:12]
    private_dir(cache_root)  # records and responses: 0600 files in 0700 folders
    cache = private_dir(cache_root / server / dataset_id)
    activity = http.get(f"/api/v1/datasets/{dataset_id}").get("last_activity_at")
    state, cached = _load(cache, dataset_id)
    types, values, names = _questions(found)
    records, fetched, full = _fetch(http, client, dataset_id, state, cached, activity, names)
    users = _users(http, state, records)
    _save(cache, dataset_id, records, activity, users)
    return Pulled(
        dataset=found.name,
        workspace=found.workspace.name,
        dataset_id=dataset_id,
        api_url=client.api_url,
        template=template_of(found),
        min_submitted=int(found.settings.distribution.min_submitted),
        question_types=types,
        question_values=values,
        records=records,
        responses=tidy_responses(found.name, records, types, users),
        fetched=fetched,
        full=full,
    )


def _fetch(
    http: ArgillaREST,
    client: rg.Argilla,
    dataset_id: str,
    state: dict[str, Any] | None,
    cached: pd.DataFrame | None,
    activity: str | None,
    names: dict[str, str],
) -> tuple[pd.DataFrame, int, bool]:
    """The dataset's records: what changed since the cached pull merged into it, or all of
    them (no cache, or the record count says the merge missed something). Also how many
    records were fetched, and whether it was a full read."""
    if state is not None and cached is not None:
        total = record_count(client, dataset_id)  # before the searches, as they saw it
        fetched = []
        responded = activity != state["last_activity_at"]
        if responded:
            fetched = list(_search(http, dataset_id, _answered()))
            cached = _without_responses(cached, {r["id"] for r in fetched})
        # Records updated since (new, re-pushed, status changed); when the answered ones
        # were just fetched, only those nobody answered, so none is fetched twice.
        since = _since(state["max_updated_at"], unanswered_only=responded)
        fetched += list(_search(http, dataset_id, since))
        records = _merge(cached, _to_frame(fetched, names))
        if len(records) == total:
            return records, len(fetched), False
        log.info("record count changed on the server (%s != %s): full read", len(records), total)
    fetched = list(_list_all(http, dataset_id))
    return _to_frame(fetched, names), len(fetched), True


def _save(
    cache: Path, dataset_id: str, records: pd.DataFrame, activity: str | None, users: Any
) -> None:
    """The records and where the next pull starts from, private to the user."""
    stamps = pd.to_datetime(records["updated_at"], format="ISO8601")
    max_updated = stamps.max().isoformat() if len(records) else None
    write_parquet(
        pa.Table.from_pandas(records, preserve_index=False), cache / "records.parquet", mode=0o600
    )
    write_json(
        {
            "version": CACHE_VERSION,
            "dataset_id": dataset_id,
            "last_activity_at": activity,
            "max_updated_at": max_updated,
            "users": users,
        },
        cache / "state.json",
        mode=0o600,
    )


def _list_all(http: ArgillaREST, dataset_id: str) -> Iterator[dict[str, Any]]:
    """Every record, from the database (no search index and its paging limits)."""
    offset = 0
    while True:
        page = http.get(
            f"/api/v1/datasets/{dataset_id}/records",
            params={"include": ["responses", "suggestions"], "offset": offset, "limit": PAGE},
        )["items"]
        yield from page
        if len(page) < PAGE:
            return
        offset += len(page)


def _since(moment: str | None, unanswered_only: bool) -> dict[str, Any] | None:
    """Records updated after `moment` (the filter has only `ge`: one microsecond later).

    `unanswered_only`: and nobody has answered (response status `pending`, which without
    a user means no response at all).
    """
    if moment is None:
        return None
    after = (pd.Timestamp(moment) + pd.Timedelta(microseconds=1)).isoformat()
    scope = {"entity": "record", "property": "updated_at"}
    filters = [{"type": "range", "scope": scope, "ge": after}]
    if unanswered_only:
        filters.append(_status_filter(["pending"]))
    return {"and": filters}


def _answered() -> dict[str, Any]:
    return {"and": [_status_filter(list(RESPONSE_STATUSES))]}


def _status_filter(statuses: list[str]) -> dict[str, Any]:
    scope = {"entity": "response", "property": "status"}
    return {"type": "terms", "scope": scope, "values": statuses}


def _search(http: ArgillaREST, dataset_id: str, filters: dict[str, Any] | None) -> Iterator[dict]:
    """Records matching `filters`, in insertion order, page by page."""
    if filters is None:
        return
    body = {
        "filters": filters,
        "sort": [{"scope": {"entity": "record", "property": "inserted_at"}, "order": "asc"}],
    }
    offset = 0
    while True:
        found = http.post(
            f"/api/v1/datasets/{dataset_id}/records/search",
            params={"include": ["responses", "suggestions"], "offset": offset, "limit": PAGE},
            json=body,
        )
        items = [item["record"] for item in found["items"]]
        yield from items
        if len(items) < PAGE:
            return
        offset += len(items)


def _to_frame(items: list[dict[str, Any]], names: dict[str, str]) -> pd.DataFrame:
    """Server records as cache rows; suggestions keyed by question name (`names`: id -> name)."""
    rows = []
    for item in items:
        rows.append(
            {
                "record_id": item.get("external_id") or item["id"],
                "argilla_id": item["id"],
                "status": item.get("status"),
                "updated_at": item.get("updated_at"),
                "fields": json.dumps(item.get("fields") or {}),
                "metadata": json.dumps(item.get("metadata") or {}),
                "suggestions": json.dumps(
                    blind.with_withheld(
                        {
                            names.get(s["question_id"], s["question_id"]): {
                                k: s.get(k) for k in ("value", "score", "agent")
                            }
                            for s in item.get("suggestions") or []
                        },
                        item.get("metadata") or {},
                    )
                ),
                "responses": json.dumps(
                    [
                        {k: r.get(k) for k in ("user_id", "status", "values", "updated_at")}
                        for r in item.get("responses") or []
                    ]
                ),
            }
        )
    return pd.DataFrame(rows, columns=list(RECORD_COLUMNS))


def _merge(cached: pd.DataFrame, fetched: pd.DataFrame) -> pd.DataFrame:
    """The cached records with the fetched ones replacing theirs (last fetch wins)."""
    fetched = fetched.drop_duplicates("argilla_id", keep="last")
    kept = cached[~cached["argilla_id"].isin(fetched["argilla_id"])]
    return pd.concat([kept, fetched], ignore_index=True)


def _without_responses(cached: pd.DataFrame, answered: set[str]) -> pd.DataFrame:
    """Records no longer among the answered ones have had every response deleted."""
    cleared = ~cached["argilla_id"].isin(answered)
    return cached.assign(responses=cached["responses"].where(~cleared, "[]"))


def _users(http: ArgillaREST, state: dict | None, records: pd.DataFrame) -> dict[str, str]:
    """user id -> username for every responder (the server's user list, read when needed)."""
    users = dict(state["users"]) if state else {}
    seen = {r["user_id"] for text in records["responses"] for r in json.loads(text)}
    if seen - set(users):
        with contextlib.suppress(Forbidden):  # a reviewer's key may not list users
            users.update({u["id"]: u["username"] for u in http.get("/api/v1/users")["items"]})
    return users


def _questions(
    found: rg.Dataset,
) -> tuple[dict[str, str], dict[str, list[Any]], dict[str, str]]:
    """Each question's type, its allowed values (rating scale, labels in order), id -> name."""
    types, values, names = {}, {}, {}
    for question in found.settings.questions:
        types[question.name] = question.type
        names[str(question.id)] = question.name
        if question.type == "rating":
            values[question.name] = list(question.values)
        elif question.type in {"label_selection", "multi_label_selection"}:
            values[question.name] = list(question.labels)
    return types, values, names


def _load(cache: Path, dataset_id: str) -> tuple[dict | None, pd.DataFrame | None]:
    """The previous pull's state and records; (None, None) when absent or unreadable."""
    try:
        state = json.loads((cache / "state.json").read_text())
        records = pq.read_table(cache / "records.parquet").to_pandas()
    except (OSError, ValueError, pa.ArrowException):
        return None, None
    if state.get("version") != CACHE_VERSION or state.get("dataset_id") != dataset_id:
        return None, None
    if list(records.columns) != list(RECORD_COLUMNS):
        return None, None
    return state, records
