"""The dashboard's blind-slice lead (Agreement page) and reviewer quality (Review page), on
the full fixture run (tests/fixtures/runs.py), checked against the run's files."""

from __future__ import annotations

import json

import pandas as pd

from tests.fixtures.runs import TOO_FAST
from tests.test_dashboard import frame, open_app, read, text

MIN_BLIND_PAIRS = 30  # the page's stated minimum (importing a page would render it)


def test_the_agreement_page_leads_with_the_blind_slice_and_counts_its_pairs(full_run):
    """In the fixture the instruction dataset's slice has enough pairs to lead, the
    preference dataset's not yet."""
    led = set()
    for dataset in ("prefs", "instructions"):
        at = open_app(full_run, "views/agreement.py")
        at.selectbox(key=f"dataset:{full_run}").set_value(dataset).run()
        saved = json.loads((full_run / "agreement" / f"{dataset}.json").read_text())
        questions = {n: q for n, q in saved["questions"].items() if q["ai_human"]["n_pairs"]}
        table = frame(at, "blind pairs", "anchoring (suggested − blind)").set_index("question")
        assert set(table.index) == set(questions)
        for question, q in questions.items():
            assert table.loc[question, "blind pairs"] == q["ai_human_blind"]["n_pairs"]
            assert table.loc[question, "suggested pairs"] == q["ai_human_suggested"]["n_pairs"]
            effect = f"{q['anchoring']['effect']:.2f}"
            assert table.loc[question, "anchoring (suggested − blind)"].startswith(effect)
        assert f"once it has {MIN_BLIND_PAIRS} AI–human pairs" in text(at)
        leading = {m.label: m.value for m in at.metric}
        for question, q in questions.items():
            blind, label = q["ai_human_blind"], f"{question}: AI–human agreement, blind slice"
            if blind["n_pairs"] >= MIN_BLIND_PAIRS:
                assert leading.pop(label) == f"{blind['exact_agreement']:.0%}"
                led.add(dataset)
            else:
                shown = f"{question}: the blind slice has {blind['n_pairs']} AI–human pairs"
                assert shown in text(at)
        assert not leading
    assert led == {"instructions"}


def test_the_review_page_shows_reviewer_quality_and_flags(full_run):
    at = open_app(full_run, "views/review.py")
    reviewers = read(full_run, "reviewers.parquet")
    table = frame(at, "reviewer", "competence", "gold 95% CI (Wilson)")
    assert len(table) == len(reviewers)
    assert table.iloc[0]["flags"] == "too fast"  # flagged reviewers first
    by_key = table.set_index(["dataset", "reviewer"])
    for row in reviewers.itertuples():
        shown = by_key.loc[(row.dataset, row.annotator)]
        assert shown["competence"] == row.competence
        assert shown["gold 95% CI (Wilson)"] == f"{row.gold_low:.2f} – {row.gold_high:.2f}"
    warnings = [w.value for w in at.warning]
    flagged = reviewers[reviewers["annotator"] == TOO_FAST]
    assert len(flagged) and all(
        any(f"{TOO_FAST} ({d}): too fast" in w for w in warnings) for d in flagged["dataset"]
    )
    assert pd.notna(table["median s / record"]).all()
