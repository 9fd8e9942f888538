"""`Pulled`: one Argilla dataset as `curate pull` read it.

Its own module so that what reads pulled data (adjudication, quality) need not import the
pull machinery, which itself uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from curation.review.templates import Template


@dataclass
class Pulled:
    """One dataset as pulled: settings, every record, every response."""

    dataset: str
    workspace: str
    dataset_id: str
    api_url: str
    template: Template | None
    min_submitted: int
    question_types: dict[str, str]
    question_values: dict[str, list[Any]]
    records: pd.DataFrame  # RECORD_COLUMNS
    responses: pd.DataFrame  # FEEDBACK_COLUMNS, every status
    fetched: int  # records transferred by this pull
    full: bool  # whether this pull read the whole dataset
    adjudication: Pulled | None = None  # its adjudication dataset, once escalated
    extra_review: Pulled | None = None  # `escalation: extra_review`: the extra reviews

    @property
    def feedback(self) -> pd.DataFrame:
        """The CLI contract's table: submitted responses only."""
        submitted = self.responses[self.responses["status"] == "submitted"]
        return submitted.reset_index(drop=True)

    def summary(self) -> str:
        how = "full read" if self.full else "incremental"
        line = (
            f"{self.dataset}: {len(self.records)} records, {len(self.feedback)} submitted "
            f"answers from {self.feedback['annotator'].nunique()} reviewers "
            f"({how}: fetched {self.fetched} records)"
        )
        for companion, what in ((self.adjudication, "escalated"), (self.extra_review, "extra")):
            if companion is not None:
                done = companion.feedback["record_id"].nunique()
                line += f"; {len(companion.records)} {what}, {done} of them answered"
        return line
