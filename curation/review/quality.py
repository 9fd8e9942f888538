"""Reviewer quality: accuracy on gold, competence, time per record, and flags.

Per reviewer of one dataset, over the deciding question (`verdict` / `preferred`):

- **gold accuracy**: the share of their submitted answers on gold records
  (`review.gold`) that match the known answer, with a Wilson 95% interval
  (statsmodels), which stays inside [0, 1] and honest on a handful of items;
- **competence**: estimated from how reviewers agree, without known answers, by
  Dawid-Skene (expected accuracy under its confusion matrix and class priors) or MACE
  (the probability that the reviewer is not spamming), both from crowd-kit;
  `review.aggregation` picks the model (Dawid-Skene when it is `majority`), and
  `aggregate` gives the same model's label per record to `consensus.decide`;
- **seconds per record**: the median gap between consecutive submissions (median: a
  break is one long gap among many, not a slow reviewer);
- **agreement with the others**: how often they match the other reviewers' strict
  majority (`curation.agreement`'s per-annotator figure).

Flags: `too fast` (median below `review.min_seconds_per_record`, over at least
`MIN_GAPS` gaps) and `disagrees with others` (agreement below
`review.min_agreement_with_others`, over at least `MIN_RECORDS` records).
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING

import pandas as pd

from curation.review.templates import DECIDING_QUESTION

if TYPE_CHECKING:
    from curation.config import ReviewConfig
    from curation.review.pulled import Pulled

QUALITY_COLUMNS = (
    "dataset",
    "annotator",
    "reviews",
    "gold_n",
    "gold_correct",
    "gold_accuracy",
    "gold_low",
    "gold_high",
    "competence",
    "competence_method",
    "seconds_per_record",
    "agreement_with_others",
    "n_with_others",
    "flags",
)
MIN_GAPS = 3  # consecutive-submission gaps before a speed flag
MIN_RECORDS = 5  # records with a majority of others before a disagreement flag
TOO_FAST = "too fast"
DISAGREES = "disagrees with others"


def answers(pulled: Pulled) -> pd.DataFrame:
    """Submitted answers to the deciding question: `record_id`, `annotator`, `value`."""
    question = DECIDING_QUESTION[pulled.template or "instruction"]
    rows = pulled.feedback
    rows = rows[(rows["question"] == question) & rows["value"].notna()]
    return rows[["record_id", "annotator", "value"]].reset_index(drop=True)


def aggregate(answered: pd.DataFrame, method: str, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    """Label per record and competence per reviewer under `method` (crowd-kit).

    `method`: `dawid-skene` or `mace`. Empty series when nothing was answered. The answers
    are sorted first: MACE's random start follows the order it meets reviewers and labels,
    and the same answers must give the same result. crowd-kit's MACE restarts from the
    same random start each time, so one restart is all there is.
    """
    from crowdkit.aggregation import MACE, DawidSkene

    if answered.empty:
        return pd.Series(dtype=object), pd.Series(dtype=float)
    data = answered.rename(columns={"record_id": "task", "annotator": "worker", "value": "label"})
    data = data[["task", "worker", "label"]].astype(str).sort_values(["task", "worker"])
    data = data.reset_index(drop=True)
    with warnings.catch_warnings():  # crowd-kit 1.4 calls pandas APIs pandas 3 deprecates
        warnings.simplefilter("ignore")
        if method == "mace":
            model = MACE(n_restarts=1, random_state=seed).fit(data)
            workers = pd.unique(data["worker"])  # the order MACE numbers them in
            competence = pd.Series(model.spamming_[:, 1], index=workers, dtype=float)
        elif method == "dawid-skene":
            model = DawidSkene(n_iter=100).fit(data)
            competence = _expected_accuracy(model.errors_, model.priors_)
        else:
            raise ValueError(f"unknown aggregation {method!r}")
    return model.labels_, competence.sort_index()


def _expected_accuracy(errors: pd.DataFrame, priors: pd.Series) -> pd.Series:
    """P(answer = true label) per reviewer: the confusion matrix diagonal, prior-weighted."""
    out = {}
    for worker, matrix in errors.groupby(level=0):
        matrix = matrix.droplevel(0)
        out[worker] = float(
            sum(
                priors[label] * matrix.at[label, label]
                for label in priors.index
                if label in matrix.index
            )
        )
    return pd.Series(out, dtype=float)


def gold_accuracy(pulled: Pulled, answered: pd.DataFrame) -> pd.DataFrame:
    """Per reviewer: gold answers given, correct, accuracy and its Wilson 95% interval."""
    from statsmodels.stats.proportion import proportion_confint

    expected = {}
    for record_id, metadata in zip(
        pulled.records["record_id"], pulled.records["metadata"], strict=True
    ):
        meta = json.loads(metadata)
        if meta.get("gold") == "yes" and meta.get("gold_answer") is not None:
            expected[record_id] = str(meta["gold_answer"])
    on_gold = answered[answered["record_id"].isin(expected)]
    correct = on_gold["value"].astype(str) == on_gold["record_id"].map(expected)
    grouped = correct.groupby(on_gold["annotator"])
    table = pd.DataFrame({"gold_n": grouped.size(), "gold_correct": grouped.sum()}).astype(int)
    low, high = proportion_confint(table["gold_correct"], table["gold_n"], method="wilson")
    return table.assign(
        gold_accuracy=table["gold_correct"] / table["gold_n"], gold_low=low, gold_high=high
    )


def seconds_per_record(responses: pd.DataFrame) -> pd.DataFrame:
    """Per reviewer: median seconds between consecutive submissions, and how many gaps."""
    submitted = responses[responses["status"] == "submitted"]
    times = submitted.drop_duplicates(["annotator", "record_id"])[["annotator", "updated_at"]]
    times = times.dropna().sort_values(["annotator", "updated_at"])
    gaps = times.groupby("annotator")["updated_at"].diff().dt.total_seconds()
    grouped = gaps.dropna().groupby(times["annotator"])
    return pd.DataFrame({"seconds_per_record": grouped.median(), "n_gaps": grouped.size()})


def agreement_with_others(pulled: Pulled) -> pd.DataFrame:
    """Per reviewer: share of records where they match the others' strict majority."""
    from curation.agreement import compute_agreement

    question = DECIDING_QUESTION[pulled.template or "instruction"]
    if pulled.feedback[pulled.feedback["question"] == question].empty:
        return pd.DataFrame(columns=["agreement_with_others", "n_with_others"])
    result = compute_agreement(
        pulled.feedback, pulled.dataset, question, question_types=pulled.question_types, resamples=0
    )
    rows = {
        who: {
            "agreement_with_others": stats.vs_consensus.exact_agreement,
            "n_with_others": stats.vs_consensus.n_records,
        }
        for who, stats in result.questions[question].annotators.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def reviewer_quality(pulled: Pulled, review: ReviewConfig) -> pd.DataFrame:
    """One row per reviewer of the dataset (columns `QUALITY_COLUMNS`)."""
    answered = answers(pulled)
    if answered.empty:
        return pd.DataFrame(columns=list(QUALITY_COLUMNS))
    method = "dawid-skene" if review.aggregation == "majority" else review.aggregation
    _, competence = aggregate(answered, method)
    reviews = answered.groupby("annotator")["record_id"].nunique().rename("reviews")
    table = pd.concat(
        [
            reviews,
            gold_accuracy(pulled, answered),
            competence.rename("competence"),
            seconds_per_record(pulled.responses),
            agreement_with_others(pulled),
        ],
        axis=1,
    ).loc[reviews.index]
    table["gold_n"] = table["gold_n"].fillna(0).astype(int)
    table["gold_correct"] = table["gold_correct"].fillna(0).astype(int)
    table["n_with_others"] = table["n_with_others"].fillna(0).astype(int)
    table["competence_method"] = method
    table["flags"] = [_flags(row, review) for row in table.itertuples()]
    table = table.rename_axis("annotator").reset_index().assign(dataset=pulled.dataset)
    return table[list(QUALITY_COLUMNS)]


def _flags(row: object, review: ReviewConfig) -> str:
    flags = []
    speed, gaps = row.seconds_per_record, row.n_gaps
    if pd.notna(speed) and gaps >= MIN_GAPS and speed < review.min_seconds_per_record:
        flags.append(TOO_FAST)
    agree, n = row.agreement_with_others, row.n_with_others
    if pd.notna(agree) and n >= MIN_RECORDS and agree < review.min_agreement_with_others:
        flags.append(DISAGREES)
    return ", ".join(flags)
