"""The agreement JSON's shape, pinned: keys, their order, nesting and value types.

`curate agreement --format json` and `agreement/<dataset>.json` are a contract (the
architecture's "Agreement" section, extended by the blind control slice): what reads them
(the dashboard, the dataset card, a user's scripts) must find every key where it was.
Both are written by `Agreement.to_json()`; this test reads that output after a trip
through JSON text, as a reader would.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from curation.agreement import Agreement, compute_agreement
from curation.errors import CurationError
from tests.test_agreement import response

# Value kinds.
COUNT, TEXT = "count", "text"
FIGURE = "figure"  # a float, or null where the data leave it undefined
INTERVAL = "interval"  # [low, high], or null
LEVEL = "level"  # an alpha level, or null


def intervals(*figures: str) -> tuple[str, tuple[str, ...]]:
    return ("intervals", figures)


def optional(spec: Any) -> tuple[str, Any]:
    return ("optional", spec)


def each(spec: Any) -> tuple[str, Any]:
    return ("each", spec)


HUMAN_HUMAN = {
    "krippendorff_alpha": FIGURE,
    "alpha_level": LEVEL,
    "fleiss_kappa": FIGURE,
    "percent_agreement": FIGURE,
    "n_records_multi": COUNT,
    "ci95": intervals("krippendorff_alpha", "fleiss_kappa", "percent_agreement"),
}
PREFERENCE = {
    "n_pairs_with_ties": COUNT,
    "agreement_with_ties": FIGURE,
    "n_pairs_without_ties": COUNT,
    "agreement_without_ties": FIGURE,
    "ci95": intervals("agreement_with_ties", "agreement_without_ties"),
}
CONFUSION = {"rows": TEXT, "columns": TEXT, "labels": "labels", "counts": "matrix"}
RATING_INTERVALS = ("cohen_kappa_linear", "cohen_kappa_quadratic", "spearman", "within_one")


def ai_human(rating: bool, preference: bool) -> dict[str, Any]:
    return {
        "n_pairs": COUNT,
        "exact_agreement": FIGURE,
        "cohen_kappa": FIGURE,
        "cohen_kappa_quadratic": FIGURE,
        "spearman": FIGURE,
        "cohen_kappa_linear": FIGURE,
        "within_one": FIGURE,
        "preference": PREFERENCE if preference else None,
        "confusion_matrix": CONFUSION,
        "ci95": intervals("exact_agreement", "cohen_kappa", *(RATING_INTERVALS * rating)),
    }


def question(qtype: str, *, blind: bool, categorical: bool = True) -> dict[str, Any]:
    rating, preference = qtype == "rating", qtype == "preference"
    near = {"within_one": FIGURE} if rating else {}
    ai = ai_human(rating, preference)
    if not categorical:
        ai["confusion_matrix"] = None
    spec = {
        "type": TEXT,
        "n_records": COUNT,
        "n_annotators": COUNT,
        "n_responses": COUNT,
        "human_human": HUMAN_HUMAN,
        "ai_human": ai,
        "annotators": {}
        if not categorical
        else each(
            {
                "n_responses": COUNT,
                "vs_consensus": {"n_records": COUNT, "exact_agreement": FIGURE, **near},
                "vs_ai": {
                    "n_pairs": COUNT,
                    "exact_agreement": FIGURE,
                    "cohen_kappa": FIGURE,
                    **near,
                },
            }
        ),
    }
    if blind:
        spec |= {
            "ai_human_blind": ai,
            "ai_human_suggested": ai,
            "anchoring": {
                "effect": FIGURE,
                "ci95": INTERVAL,
                "exact_agreement_suggested": FIGURE,
                "exact_agreement_blind": FIGURE,
                "n_pairs_suggested": COUNT,
                "n_pairs_blind": COUNT,
            },
        }
    return spec


def agreement_spec(blind: bool) -> dict[str, Any]:
    return {
        "dataset": TEXT,
        "questions": {
            "quality": question("rating", blind=blind),
            "preferred": question("preference", blind=blind),
            "tags": question("multi_label_selection", blind=blind),
            "note": question("text", blind=blind, categorical=False),
        },
        "bootstrap": {"resamples": COUNT, "seed": COUNT, "confidence": "number"},
    }


def check(value: Any, spec: Any, where: str) -> None:
    """`value` has the shape `spec` says; the first difference names its place."""
    if isinstance(spec, dict):
        assert isinstance(value, dict), where
        assert list(value) == list(spec), f"{where}: keys {list(value)} != {list(spec)}"
        for key, inner in spec.items():
            check(value[key], inner, f"{where}.{key}")
    elif spec is None:
        assert value is None, where
    elif isinstance(spec, tuple):
        kind, inner = spec
        if kind == "optional" and value is None:
            return
        if kind == "intervals":
            assert isinstance(value, dict) and list(value) == list(inner), where
            for key in inner:
                check(value[key], INTERVAL, f"{where}.{key}")
        elif kind == "each":
            assert isinstance(value, dict) and value, where
            for key, item in value.items():
                check(item, inner, f"{where}.{key}")
        else:
            check(value, inner, where)
    else:
        assert _is(value, spec), f"{where}: {value!r} is not a {spec}"


def _is(value: Any, kind: str) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return {
        COUNT: isinstance(value, int) and not isinstance(value, bool),
        TEXT: isinstance(value, str),
        FIGURE: value is None or isinstance(value, float),
        LEVEL: value is None or value in ("nominal", "ordinal", "interval", "ratio"),
        INTERVAL: value is None
        or (isinstance(value, list) and len(value) == 2 and all(type(v) is float for v in value)),
        "number": number,
        "labels": isinstance(value, list) and bool(value),
        "matrix": isinstance(value, list) and all(isinstance(r, list) for r in value),
    }[kind]


def reviews(blind: bool) -> pd.DataFrame:
    """Two reviewers on 8 records: a rating, an a/b/tie choice, tags and free text."""
    rows = []
    for i in range(8):
        for who, shift in (("ann", 0), ("bob", i % 2)):
            rows += [
                response(
                    f"r{i}", who, 1 + (i + shift) % 5, question="quality", suggestion=1 + i % 5
                ),
                response(
                    f"r{i}", who, "ab"[(i + shift) % 2] if i % 3 else "tie", question="preferred",
                    qtype="label_selection", suggestion="ab"[i % 2],
                ),
                response(
                    f"r{i}", who, ["x", "y"][: 1 + (i + shift) % 2], question="tags",
                    qtype="multi_label_selection", suggestion=["x"],
                ),
                response(f"r{i}", who, "fine", question="note", qtype="text"),
            ]  # fmt: skip
    table = pd.DataFrame(rows)
    return table.assign(blind=table["record_id"].isin(["r0", "r1", "r2", "r3"])) if blind else table


@pytest.mark.parametrize("blind", [False, True], ids=["plain", "with-blind-slice"])
def test_the_json_keeps_the_contract_shape(blind):
    written = json.dumps(compute_agreement(reviews(blind), "ds", resamples=20).to_json())
    check(json.loads(written), agreement_spec(blind), "agreement")


def test_the_architecture_example_keys_are_where_it_shows_them():
    """The example object in the architecture's Agreement section, key for key."""
    out = compute_agreement(reviews(False), "ds", resamples=0).to_json()
    q = out["questions"]["quality"]
    assert {"dataset", "questions"} <= set(out)
    assert {"type", "n_records", "n_annotators", "n_responses", "human_human", "ai_human"} <= set(q)
    human = {"krippendorff_alpha", "alpha_level", "fleiss_kappa", "percent_agreement"}
    assert human <= set(q["human_human"])
    ai = {"n_pairs", "exact_agreement", "cohen_kappa", "cohen_kappa_quadratic", "spearman"}
    assert ai <= set(q["ai_human"])
    assert q["human_human"]["alpha_level"] == "interval"  # the default level for ratings


def test_a_saved_file_reads_back_to_the_same_json():
    """The dashboard and the card read saved files; an older one without intervals, the
    bootstrap block or the blind slice still reads, and writes back as it was."""
    saved = json.loads(json.dumps(compute_agreement(reviews(True), "ds", resamples=20).to_json()))
    assert Agreement.from_json(saved).to_json() == saved
    older = json.loads(json.dumps(compute_agreement(reviews(False), "ds", resamples=0).to_json()))
    del older["bootstrap"]
    for q in older["questions"].values():
        del q["human_human"]["ci95"], q["ai_human"]["ci95"]
    typed = Agreement.from_json(older)
    assert typed.to_json() == older
    assert typed.questions["quality"].ai_human.figure("cohen_kappa")[1] is None


def test_a_malformed_file_is_one_error_naming_the_place():
    saved = compute_agreement(reviews(False), "ds", resamples=0).to_json()
    saved["questions"]["quality"]["ai_human"]["n_pairs"] = "many"
    with pytest.raises(CurationError) as error:
        Agreement.from_json(saved, where="agreement/ds.json")
    message = str(error.value)
    assert message.startswith("agreement/ds.json: questions.quality.ai_human.n_pairs:")
    assert "\n" not in message
