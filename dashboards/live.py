"""Argilla as the dashboard shows it: links into its UI and review progress read live.

The run files change only on `curate pull`; these read the server itself (cached for
`dashboard.cache_ttl_s`), and say why when it cannot be reached.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import streamlit as st

from curation.config import Config
from curation.errors import CurationError
from dashboards.data import TTL_S, settings


def argilla_url(config: Config) -> str:
    """The Argilla UI for record links: config, ARGILLA_API_URL, or the embedded server."""
    from curation.embedded import launcher

    if config.dashboard.argilla_url:
        return config.dashboard.argilla_url.rstrip("/")
    if config.argilla.api_url:
        return config.argilla.api_url.rstrip("/")
    try:
        found = launcher.read_credentials(Path(config.argilla.home))
    except CurationError:
        found = None
    return found.url.rstrip("/") if found else f"http://127.0.0.1:{config.argilla.port}"


@dataclass(frozen=True)
class LiveProgress:
    """Review progress as Argilla reported it at `read_at` (or why it could not)."""

    datasets: pd.DataFrame  # dataset, total, completed, pending
    annotators: pd.DataFrame  # dataset, annotator, submitted, draft, discarded
    problem: str | None
    read_at: str


@st.cache_data(ttl=TTL_S, show_spinner=False)
def live_progress(dataset_ids: tuple[str, ...]) -> LiveProgress:
    """Review progress read from Argilla now (the run files only change on `curate pull`)."""
    import httpx
    from argilla._exceptions import ArgillaError

    from curation.review.connection import connect

    read_at = time.strftime("%H:%M:%S")
    datasets, annotators = [], []
    try:
        client = connect(settings())
        for dataset_id in dataset_ids:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the SDK warns about unknown ids
                dataset = client.datasets(id=dataset_id)
            if dataset is None:
                continue
            progress = dataset.progress(with_users_distribution=True)
            counts = {key: progress.get(key) for key in ("total", "completed", "pending")}
            datasets.append({"dataset": dataset.name, **counts})
            for user, states in (progress.get("users") or {}).items():
                row = {"dataset": dataset.name, "annotator": user}
                for status in ("submitted", "draft", "discarded"):
                    row[status] = sum((part or {}).get(status, 0) for part in states.values())
                annotators.append(row)
    except (CurationError, ArgillaError, httpx.HTTPError) as error:
        return LiveProgress(pd.DataFrame(), pd.DataFrame(), str(error), read_at)
    return LiveProgress(pd.DataFrame(datasets), pd.DataFrame(annotators), None, read_at)


def record_link(
    base: str, dataset_id: Any, text: Any, record_status: Any = "pending"
) -> str | None:
    """A link to the record in Argilla's annotation view, found by its instruction's words.

    Argilla's UI has no address for one record; its search (`search=TEXT~FIELD`, spaces
    as `_`) on the instruction's first words finds it in a queue: `pending` (a record
    still being reviewed, seen by anyone who has not answered it) or, for a completed
    record, `submitted` (Argilla shows it only to the reviewers who answered it).
    """
    if not dataset_id or not isinstance(dataset_id, str):
        return None
    address = f"{base}/dataset/{dataset_id}/annotation-mode"
    words = " ".join(str(text).split()[:12]) if isinstance(text, str) else ""
    if not words:
        return address
    status = "submitted" if record_status == "completed" else "pending"
    search = quote(words.replace(" ", "_") + "~instruction", safe="")
    return f"{address}?page=1&status={status}&search={search}"
