"""Agreement speed on a dashboard-sized dataset: prints seconds per `compute_agreement` call.

Simulated reviews (the figures' values do not matter here, only the time): an instruction
dataset with a 1-5 `quality` rating and a keep/fix/drop `verdict`, and a preference
`preferred` a/b/tie question; three reviewers per record, AI suggestions on every record.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from curation.agreement import DEFAULT_RESAMPLES, compute_agreement

QUESTIONS = {
    "quality": ("rating", [1, 2, 3, 4, 5]),
    "verdict": ("label_selection", ["keep", "fix", "drop"]),
    "preferred": ("label_selection", ["a", "b", "tie"]),
}


def simulated_reviews(n_records: int, reviewers: int = 3, seed: int = 0) -> pd.DataFrame:
    """Reviewers who agree with a hidden truth 70% of the time; the AI 60% of the time."""
    rng = np.random.default_rng(seed)
    frames = []
    for question, (qtype, values) in QUESTIONS.items():
        truth = rng.integers(0, len(values), n_records)
        ai = np.where(rng.random(n_records) < 0.6, truth, rng.integers(0, len(values), n_records))
        for r in range(reviewers):
            given = np.where(
                rng.random(n_records) < 0.7, truth, rng.integers(0, len(values), n_records)
            )
            frames.append(
                pd.DataFrame(
                    {
                        "record_id": [f"r{i}" for i in range(n_records)],
                        "annotator": f"reviewer{r}",
                        "question": question,
                        "question_type": qtype,
                        "value": [values[v] for v in given],
                        "status": "submitted",
                        "suggestion": [values[v] for v in ai],
                        "suggestion_score": None,
                        "suggestion_agent": "judge",
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    values = {q: v for q, (_, v) in QUESTIONS.items()}
    for n_records in (500, 2000, 5000):
        table = simulated_reviews(n_records)
        for resamples in (0, 200, DEFAULT_RESAMPLES):
            started = time.perf_counter()
            compute_agreement(table, "bench", question_values=values, resamples=resamples)
            seconds = time.perf_counter() - started
            print(
                f"agreement: {n_records} records x 3 reviewers x {len(QUESTIONS)} questions, "
                f"{resamples} resamples: {seconds:.2f} s "
                f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)"
            )


if __name__ == "__main__":
    main()
