"""Dashboard render times on a 100,000-record run (goal: first render < 3 s, rerun < 0.5 s).

Builds a run with the test fixture builder (100,000 instructions and preference pairs,
384-dim embeddings, ~58,000 kept rows, a review subset with responses and agreement
JSON) once under $TMPDIR, then renders every page with Streamlit's AppTest, which runs
the app script in this process as the server would (no browser drawing time):

- first render: every cache cleared, then the page runs (sidebar and page data read);
- rerun: the same page again with warm caches (what a click or filter change costs).

Usage: .venv/bin/python benchmarks/dashboard_bench.py [--records N] [--rebuild]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.fixtures.runs import build_run  # noqa: E402

APP = ROOT / "dashboards" / "app.py"
PAGES = (
    "views/overview.py",
    "views/scores.py",
    "views/diversity.py",
    "views/review.py",
    "views/agreement.py",
    "views/export.py",
)
FIRST_GOAL_S, RERUN_GOAL_S = 3.0, 0.5
TRIALS = 3


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def run_for(records: int, rebuild: bool) -> Path:
    path = Path(tempfile.gettempdir()) / "curation-bench" / f"dashboard-{records}"
    marker = path / ".complete"
    if rebuild:
        shutil.rmtree(path, ignore_errors=True)
    if not marker.exists():
        shutil.rmtree(path, ignore_errors=True)
        started = time.perf_counter()
        build_run(path, n=records, dim=384, review_share=0.1, agreement_resamples=100)
        marker.touch()
        print(f"built the run in {time.perf_counter() - started:.1f} s: {path}")
    return path


def timed(at: AppTest) -> float:
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    if at.exception:
        raise SystemExit(f"the page raised: {at.exception[0].value}")
    return elapsed


def open_page(run: Path, page: str) -> tuple[AppTest, float]:
    """A fresh session on `page` with every cache cleared; returns it and its render time."""
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.query_params["run"] = str(run)
    at.run()  # registers the pages so switch_page resolves them
    st.cache_data.clear()
    st.cache_resource.clear()
    at.switch_page(page)
    return at, timed(at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rebuild", action="store_true")
    logging.disable(logging.WARNING)  # AppTest runs outside a server; Streamlit says so each run
    args = parser.parse_args()
    print(f"load average before: {load()} ({os.cpu_count()} CPUs, shared)")
    run = run_for(args.records, args.rebuild)
    sizes = {p.name: p.stat().st_size for p in run.glob("*.parquet")}
    print("run files (MB): " + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in sorted(sizes.items())))

    started = time.perf_counter()
    warmup = AppTest.from_file(str(APP), default_timeout=300)
    warmup.query_params["run"] = str(run / "does-not-exist")
    warmup.run()
    imports = time.perf_counter() - started
    print(f"first app run in this process (imports, no data): {imports:.2f} s")

    print(
        f"{TRIALS} trials per page, median (and slowest); caches cleared before each first render"
    )
    print(f"{'page':<12} {'first render s':>20} {'rerun s':>16}")
    worst_first = worst_rerun = 0.0
    for page in PAGES:
        firsts, reruns = [], []
        for _ in range(TRIALS):
            at, first = open_page(run, page)
            firsts.append(first)
            reruns.append(timed(at))
        first, rerun = statistics.median(firsts), statistics.median(reruns)
        worst_first, worst_rerun = max(worst_first, first), max(worst_rerun, rerun)
        name = Path(page).stem
        print(f"{name:<12} {first:>12.2f} ({max(firsts):.2f}) {rerun:>9.3f} ({max(reruns):.3f})")

    at, _ = open_page(run, "views/agreement.py")
    at.multiselect(key=f"sources:{run}").select("self-instruct")
    filtered = timed(at)
    again = timed(at)
    print(f"agreement recomputed for one source: first {filtered:.2f} s, rerun {again:.3f} s")

    print(
        f"slowest page, median: first render {worst_first:.2f} s (goal < {FIRST_GOAL_S} s), "
        f"rerun {worst_rerun:.3f} s (goal < {RERUN_GOAL_S} s)"
    )
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
