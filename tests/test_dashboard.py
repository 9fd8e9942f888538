"""The dashboard app under Streamlit's AppTest, on fixture runs (full, partial, empty).

Every page must render without an exception, and each chart must carry the run's data:
the Plotly spec is read back from the page and compared with counts computed here
straight from the fixture files.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from curation.agreement import compute_agreement

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
PAGES = {
    "views/overview.py": "Overview",
    "views/scores.py": "Scores",
    "views/diversity.py": "Diversity",
    "views/review.py": "Review",
    "views/agreement.py": "Agreement",
    "views/export.py": "Export readiness",
}


# --- helpers ---------------------------------------------------------------------------------


def open_app(run: Path, page: str = "views/overview.py") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["run"] = str(run)
    at.run()
    if page != "views/overview.py":
        at.switch_page(page).run()
    return at


def decode(value):
    """Plotly's JSON with typed arrays ({"dtype", "bdata"}) back to plain lists."""
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            if "shape" in value:
                array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
            return array.tolist()
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


def charts(at: AppTest) -> dict[str, dict]:
    """Every Plotly chart on the page by its key, as the figure dict the browser gets."""
    return {chart.key: decode(json.loads(chart.proto.spec)) for chart in at.get("plotly_chart")}


def traces(spec: dict) -> dict[str, dict]:
    return {trace.get("name", ""): trace for trace in spec["data"]}


def text(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.info, *at.caption, *at.warning, *at.error)]
    return "\n".join(str(p) for p in parts)


def frame(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first table on the page that has all `columns`."""
    for table in at.dataframe:
        if set(columns) <= set(table.value.columns):
            return table.value
    raise AssertionError(f"no table with columns {columns}")


def assert_clean(at: AppTest, title: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title and at.title[0].value == title


def read(run: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(run / name)


# --- every page, every kind of run -----------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("kind", ["full_run", "partial_run", "empty_run"])
def test_every_page_renders(kind, page, request):
    run = request.getfixturevalue(kind)
    at = open_app(run, page)
    assert_clean(at, PAGES[page])
    if kind == "full_run":
        assert at.get("plotly_chart"), f"{page} shows no chart on a full run"
        assert not at.info, [i.value for i in at.info]
    if kind == "empty_run":
        assert not at.get("plotly_chart")
        assert "curate " in "\n".join(i.value for i in at.info), "no command to fill the gap"


def test_empty_run_names_the_missing_files_and_commands(empty_run):
    at = open_app(empty_run)
    notice = "\n".join(i.value for i in at.info)
    assert "instructions.parquet" in notice and f"curate generate --run {empty_run}" in notice
    assert "review_records.parquet" in notice and "curate pull" in notice
    at.switch_page("views/diversity.py").run()
    notice = "\n".join(i.value for i in at.info)
    assert "embeddings.parquet" in notice and "curate select" in notice


def test_no_runs_at_all_says_how_to_start(tmp_path, monkeypatch):
    st.cache_resource.clear()
    monkeypatch.setenv("CURATION_RUNS_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("CURATION_DASHBOARD__RUN", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    st.cache_resource.clear()
    assert not at.exception
    assert "curate demo" in at.info[0].value


# --- Overview --------------------------------------------------------------------------------


def test_overview_funnel_and_drop_reasons(full_run):
    at = open_app(full_run)
    spec = charts(at)
    funnel = spec["funnel"]["data"][0]
    instructions, pairs = (
        read(full_run, "instructions.parquet"),
        read(full_run, "preferences.parquet"),
    )
    selected, records = read(full_run, "selected.parquet"), read(full_run, "review_records.parquet")
    exported = pd.read_parquet(full_run / "exports" / "prefs-dpo" / "data")
    assert funnel["y"] == [
        "generated",
        "judged",
        "selected",
        "pushed",
        "reviewed",
        "approved",
        "exported",
    ]
    assert funnel["x"] == [
        len(instructions),
        int(pairs["chosen_rating"].notna().sum()),
        len(selected),
        len(records),
        int((records["n_submitted"] > 0).sum()),
        int((records["decision"] == "approved").sum()),
        len(exported),
    ]
    reasons = dict(
        zip(spec["drop_reasons"]["data"][0]["y"], spec["drop_reasons"]["data"][0]["x"], strict=True)
    )
    rejected = read(full_run, "selection_rejected.parquet")["reason"].value_counts()
    assert reasons["selection: too_similar"] == rejected["too_similar"]
    assert reasons["selection: null_score"] == rejected["null_score"]
    assert reasons["review: tie"] == int((records["decision"] == "tie").sum())
    assert reasons["instructions: self-instruct dropped duplicate"] == 11  # manifest counts
    assert reasons["preferences: judge parse failures"] == pairs["chosen_rating"].isna().sum()
    assert "review: pending" not in reasons  # pending is not a loss
    assert "preferences: candidates truncated" not in reasons  # flagged, still there
    stages = frame(at, "stage", "status")
    assert stages["stage"].tolist() == [
        "instructions",
        "preferences",
        "select",
        "pull instructions",
        "pull prefs",
    ]
    assert "approved: " in stages.set_index("stage").loc["pull prefs", "counts"]


def test_overview_partial_run_lists_what_is_missing(partial_run):
    at = open_app(partial_run)
    funnel = charts(at)["funnel"]["data"][0]
    assert funnel["y"] == ["generated", "judged", "selected"]
    notice = "\n".join(i.value for i in at.info)
    assert "review_records.parquet" in notice and "exports" in notice
    assert frame(at, "stage", "status")["status"].tolist() == ["done", "failed"]


def test_source_filter_narrows_the_funnel(full_run):
    at = open_app(full_run)
    at.multiselect(key=f"sources:{full_run}").select("magpie").run()
    funnel = charts(at)["funnel"]["data"][0]
    instructions = read(full_run, "instructions.parquet")
    selected = read(full_run, "selected.parquet")
    assert funnel["x"][0] == int((instructions["source"] == "magpie").sum())
    assert funnel["x"][2] == int((selected["source"] == "magpie").sum())
    assert "magpie" in text(at)


# --- Scores ----------------------------------------------------------------------------------


def bar_counts(trace: dict) -> dict[float, int]:
    return dict(zip(trace["x"], trace["y"], strict=True))


def test_scores_rating_histograms_count_every_rating_by_source(full_run):
    at = open_app(full_run, "views/scores.py")
    spec = charts(at)
    pairs = read(full_run, "preferences.parquet")
    for column, key in (
        ("ratings", "ratings:ratings"),
        ("ratings_honesty", "ratings:ratings_honesty"),
    ):
        long = pairs[["source", column]].explode(column).dropna()
        for source, trace in traces(spec[key]).items():
            expected = long[long["source"] == source][column].astype(float).value_counts()
            got = {x: y for x, y in bar_counts(trace).items() if y}
            assert got == {float(k): int(v) for k, v in expected.items()}, (column, source)
        assert set(traces(spec[key])) == set(long["source"])
    assert spec["ratings:ratings"]["layout"]["title"]["text"].startswith(
        "helpfulness"
    )  # judge_params
    assert spec["ratings:ratings_honesty"]["layout"]["title"]["text"].startswith("honesty")
    sides = traces(spec["ratings:sides"])
    assert sum(sides["chosen"]["y"]) == pairs["chosen_rating"].notna().sum()
    assert bar_counts(sides["rejected"])[1.0] == int((pairs["rejected_rating"] == 1).sum())


def test_scores_deita_histograms_match_numpy(full_run):
    at = open_app(full_run, "views/scores.py")
    spec = charts(at)
    pairs = read(full_run, "preferences.parquet")
    for column in ("complexity", "quality", "deita_score", "margin"):
        key = f"deita:{column}" if column != "margin" else "margin"
        for source, trace in traces(spec[key]).items():
            bounds = trace["customdata"]  # [low, high] of each bin, for the hover
            edges = [low for low, _ in bounds] + [bounds[-1][1]]
            values = pairs.loc[pairs["source"] == source, column].dropna()
            expected, _ = np.histogram(values, bins=edges)
            assert trace["y"] == expected.tolist(), (column, source)
            assert sum(trace["y"]) == len(values)
    summary = frame(at, "source", "rows").set_index("source")
    assert summary.loc["magpie", "rows"] == int((pairs["source"] == "magpie").sum())


def test_scores_kept_rows_and_score_filter(full_run):
    at = open_app(full_run, "views/scores.py")
    at.radio(key="scores:rows").set_value("kept by selection").run()
    selected = read(full_run, "selected.parquet")
    assert at.metric[0].value == f"{len(selected):,}"
    low, high = 10.0, 20.0
    at.slider(key=f"score:{full_run}").set_value((low, high)).run()
    inside = selected[selected["deita_score"].between(low, high)]
    assert at.metric[0].value == f"{len(inside):,}"
    deita = traces(charts(at)["deita:deita_score"])
    assert sum(sum(t["y"]) for t in deita.values()) == len(inside)


def test_scores_partial_run_without_deita_columns(partial_run):
    at = open_app(partial_run, "views/scores.py")
    assert_clean(at, "Scores")
    spec = charts(at)
    assert "ratings:ratings" in spec and not any(k.startswith("deita:") for k in spec)
    assert "no Deita score columns" in text(at)


# --- Diversity -------------------------------------------------------------------------------


def test_diversity_similarity_kept_vs_rejected(full_run):
    at = open_app(full_run, "views/diversity.py")
    spec = charts(at)
    selected = read(full_run, "selected.parquet")
    rejected = read(full_run, "selection_rejected.parquet")
    similarity = traces(spec["similarity"])
    assert sum(similarity["kept"]["y"]) == selected["nn_similarity"].notna().sum()
    assert sum(similarity["rejected"]["y"]) == rejected["similarity"].notna().sum()
    reasons = dict(
        zip(spec["reasons"]["data"][0]["y"], spec["reasons"]["data"][0]["x"], strict=True)
    )
    assert reasons == rejected["reason"].value_counts().to_dict()
    assert at.metric[0].value == f"{len(selected):,}"


def test_diversity_map_points_per_colour(full_run):
    at = open_app(full_run, "views/diversity.py")
    embeddings = read(full_run, "embeddings.parquet")
    selected = read(full_run, "selected.parquet")
    points = {name: len(t["x"]) for name, t in traces(charts(at)["map"]).items()}
    kept = int(embeddings["id"].isin(selected["id"]).sum())
    assert points == {"kept": kept, "rejected": len(embeddings) - kept}
    at.radio(key="diversity:colour").set_value("source").run()
    points = {name: len(t["x"]) for name, t in traces(charts(at)["map"]).items()}
    pairs = read(full_run, "preferences.parquet")
    assert points == pairs["source"].value_counts().to_dict()


def test_diversity_map_samples_large_runs_and_says_so(full_run, monkeypatch):
    monkeypatch.setenv("CURATION_DASHBOARD__MAX_SCATTER_POINTS", "100")
    st.cache_resource.clear()
    try:
        at = open_app(full_run, "views/diversity.py")
        points = sum(len(t["x"]) for t in charts(at)["map"]["data"])
    finally:
        st.cache_resource.clear()
    assert points == 100
    assert "a random sample of 100 of 240 embeddings" in text(at)


def test_diversity_partial_run(partial_run):
    at = open_app(partial_run, "views/diversity.py")
    assert set(traces(charts(at)["similarity"])) == {"kept"}
    assert "curate select" in "\n".join(i.value for i in at.info)


# --- Review ----------------------------------------------------------------------------------


def test_review_progress_per_dataset_and_annotator(full_run):
    at = open_app(full_run, "views/review.py")
    spec = charts(at)
    records = read(full_run, "review_records.parquet")
    progress = traces(spec["progress"])
    expected = pd.crosstab(records["dataset"], records["record_status"])
    for status in ("completed", "pending"):
        got = dict(zip(progress[status]["x"], progress[status]["y"], strict=True))
        assert got == expected[status].to_dict()
    feedback = read(full_run, "feedback.parquet")
    submitted = feedback[feedback["status"] == "submitted"]
    per_annotator = submitted.drop_duplicates(["dataset", "record_id", "annotator"])[
        "annotator"
    ].value_counts()
    lines = traces(spec["annotators"])
    assert {name: t["y"][-1] for name, t in lines.items()} == per_annotator.to_dict()


def test_review_queue_is_pending_by_priority_with_links(full_run):
    at = open_app(full_run, "views/review.py")
    queue = frame(at, "priority", "open in Argilla")
    records = read(full_run, "review_records.parquet")
    pending = records[records["record_status"] == "pending"]
    assert len(queue) == min(len(pending), 200)
    assert queue["priority"].tolist() == sorted(pending["priority"], reverse=True)[: len(queue)]
    first = pending.sort_values("priority", ascending=False).iloc[0]
    link = queue["open in Argilla"].iloc[0]
    assert f"/dataset/{first['dataset_id']}/annotation-mode" in link and "search=" in link


def test_review_dataset_filter(full_run):
    at = open_app(full_run, "views/review.py")
    at.selectbox(key=f"dataset:{full_run}").set_value("prefs").run()
    progress = traces(charts(at)["progress"])
    assert progress["completed"]["x"] == ["prefs"]
    assert set(frame(at, "priority", "open in Argilla")["dataset"]) == {"prefs"}


# --- Agreement -------------------------------------------------------------------------------


def test_agreement_figures_and_intervals_from_the_json(full_run):
    at = open_app(full_run, "views/agreement.py")
    spec = charts(at)
    saved = json.loads((full_run / "agreement" / "prefs.json").read_text())
    figures = traces(spec["figures:prefs"])
    kappa = figures["AI–human Cohen κ"]
    for question, value, plus, minus in zip(
        kappa["x"],
        kappa["y"],
        kappa["error_y"]["array"],
        kappa["error_y"]["arrayminus"],
        strict=True,
    ):
        ai = saved["questions"][question]["ai_human"]
        assert value == pytest.approx(ai["cohen_kappa"])
        low, high = ai["ci95"]["cohen_kappa"]
        assert value + plus == pytest.approx(high) and value - minus == pytest.approx(low)
    alpha = figures["human–human Krippendorff α"]
    expected = {
        q: v["human_human"]["krippendorff_alpha"]
        for q, v in saved["questions"].items()
        if v["human_human"]["krippendorff_alpha"] is not None
    }
    assert dict(zip(alpha["x"], alpha["y"], strict=True)) == pytest.approx(expected)
    assert "rationale" not in kappa["x"]  # free text has no agreement figure


def test_agreement_confusion_matrices_and_annotators(full_run):
    at = open_app(full_run, "views/agreement.py")
    at.selectbox(key=f"dataset:{full_run}").set_value("instructions").run()
    spec = charts(at)
    saved = json.loads((full_run / "agreement" / "instructions.json").read_text())
    for question in ("quality", "verdict"):
        matrix = saved["questions"][question]["ai_human"]["confusion_matrix"]
        heat = spec[f"confusion:instructions:{question}"]["data"][0]
        assert heat["z"] == matrix["counts"]
        assert heat["x"] == [str(v) for v in matrix["labels"]]
    table = frame(at, "annotator", "agrees with AI").set_index("annotator")
    for who, stats in saved["questions"]["quality"]["annotators"].items():
        assert table.loc[who, "responses"] == stats["n_responses"]
        assert table.loc[who, "agrees with AI"] == pytest.approx(stats["vs_ai"]["exact_agreement"])


def test_agreement_strongest_disagreements_link_to_argilla(full_run):
    at = open_app(full_run, "views/agreement.py")
    at.selectbox(key=f"dataset:{full_run}").set_value("prefs").run()
    assert [h.value for h in at.header] == ["prefs"]
    table = frame(at, "disagreement", "open in Argilla")
    feedback = read(full_run, "feedback.parquet")
    top = table.iloc[0]
    responses = feedback[
        (feedback["record_id"] == top["record_id"])
        & (feedback["question"] == top["question"])
        & (feedback["status"] == "submitted")
        & (feedback["dataset"] == "prefs")
    ]
    assert top["disagreement"] == table["disagreement"].max()
    if top["question"] == "preferred":
        assert top["disagreement"] == pytest.approx(
            (responses["value"] != responses["suggestion"]).mean()
        )
    assert table["disagreement"].is_monotonic_decreasing
    records = read(full_run, "review_records.parquet").set_index(["dataset", "record_id"])
    dataset_id = records.loc[("prefs", top["record_id"]), "dataset_id"]
    assert f"/dataset/{dataset_id}/annotation-mode" in top["open in Argilla"]


def test_agreement_recomputed_for_a_source(full_run):
    at = open_app(full_run, "views/agreement.py")
    at.multiselect(key=f"sources:{full_run}").select("self-instruct").run()
    assert "Computed here from the filtered reviews" in text(at)
    records = read(full_run, "review_records.parquet")
    feedback = read(full_run, "feedback.parquet")
    ids = records.loc[records["source"] == "self-instruct", "record_id"]
    mine = feedback[(feedback["dataset"] == "prefs") & feedback["record_id"].isin(ids)]
    expected = compute_agreement(mine, "prefs", resamples=0)
    kappa = traces(charts(at)["figures:prefs"])["AI–human Cohen κ"]
    for question, value in zip(kappa["x"], kappa["y"], strict=True):
        assert value == pytest.approx(expected.questions[question].ai_human.cohen_kappa)


# --- Export readiness ------------------------------------------------------------------------


def test_export_readiness(full_run):
    at = open_app(full_run, "views/export.py")
    records = read(full_run, "review_records.parquet")
    decisions = traces(charts(at)["decisions"])
    expected = pd.crosstab(records["dataset"], records["decision"])
    for decision, trace in decisions.items():
        assert dict(zip(trace["x"], trace["y"], strict=True)) == expected[decision].to_dict()
    table = frame(at, "dataset", "approved share").set_index("dataset")
    assert table.loc["prefs", "format"] == "dpo" and table.loc["instructions", "format"] == "sft"
    existing = frame(at, "dataset card")
    exported = pd.read_parquet(full_run / "exports" / "prefs-dpo" / "data")
    assert existing[["dataset", "format", "rows"]].values.tolist() == [
        ["prefs", "dpo", len(exported)]
    ]
    assert "curate export --dataset prefs --format dpo" in text(at)


# --- files that change or break ---------------------------------------------------------------


def test_a_rewritten_file_shows_on_the_next_rerun(full_run, tmp_path):
    run = tmp_path / "changing"
    shutil.copytree(full_run, run)
    at = open_app(run, "views/diversity.py")
    selected = read(run, "selected.parquet")
    assert at.metric[0].value == f"{len(selected):,}"
    selected.head(10).to_parquet(run / "selected.parquet")
    at.run()
    assert at.metric[0].value == "10"


def test_a_corrupt_file_is_one_clear_error(full_run, tmp_path):
    run = tmp_path / "corrupt"
    shutil.copytree(full_run, run)
    (run / "preferences.parquet").write_bytes(b"not parquet at all")
    at = open_app(run, "views/scores.py")
    assert not at.exception
    assert "preferences.parquet: cannot read it as Parquet" in at.error[0].value


def test_agreement_judge_against_reviewers_next_to_the_length_rule(full_run):
    at = open_app(full_run, "views/agreement.py")
    assert not at.exception, at.exception
    judges = traces(charts(at)["judge:prefs"])
    # the fixture's records do not carry their texts: the length rule line needs them
    # (tests/test_judge_units.py checks it); the judge's own line is always there
    assert any(name.startswith("AI judge as suggested") for name in judges)
    for trace in judges.values():
        (value,) = trace["y"]
        assert 0 <= value <= 1
        assert trace["error_y"]["array"][0] >= 0 and trace["error_y"]["arrayminus"][0] >= 0
    assert any("AI judge vs your reviewers" in h.value for h in at.subheader)
