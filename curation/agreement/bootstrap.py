"""Percentile bootstrap 95% intervals: resample records with replacement, recompute.

Every figure of one question uses the same resamples drawn from a fixed seed, so
intervals are reproducible run to run. The resamples are vectorised: a resample is a row
of record multiplicities, and the figures are weighted sums over per-record statistics
(confusion tables through statsmodels, which takes the table form).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse
from statsmodels.stats.inter_rater import cohens_kappa

from curation.agreement.coding import TIE, Coded
from curation.agreement.metrics import alpha, fleiss, pair_agreement, spearman
from curation.agreement.results import AIHuman, HumanHuman, Interval

# 500 resamples: on 300 records the interval ends then move by ~0.005 (one standard
# deviation) from seed to seed, against ~0.0025 at 1,000, for half the time. Measured
# (benchmarks/agreement_bench.py, two cores at load ~3.7): 2,000 records x 3 reviewers x 3
# questions in 1.8 s, 0.1 s of it without intervals. Library calls per resample set the pace.
DEFAULT_RESAMPLES = 500
# A percentile interval from resamples where the figure is often undefined (e.g. every
# resampled rating equal) would describe a different population: below this share, null.
MIN_DEFINED_SHARE = 0.95
CHUNK = 100  # resamples per vectorised block (bounds memory: CHUNK x records floats)

HUMAN_FIGURES = ("krippendorff_alpha", "fleiss_kappa", "percent_agreement")
AI_FIGURES = ("exact_agreement", "cohen_kappa")
RATING_FIGURES = ("cohen_kappa_linear", "cohen_kappa_quadratic", "spearman", "within_one")
PREFERENCE_FIGURES = ("agreement_with_ties", "agreement_without_ties")


def interval(point: float | None, replicates: np.ndarray) -> Interval | None:
    """Percentile 95% interval, or None when the figure or too many replicates are undefined."""
    defined = replicates[np.isfinite(replicates)]
    if point is None or len(replicates) == 0 or len(defined) < MIN_DEFINED_SHARE * len(replicates):
        return None
    low, high = np.percentile(defined, [2.5, 97.5])
    return [round(float(low), 12) + 0.0, round(float(high), 12) + 0.0]  # no -2e-16, no -0.0


def with_intervals(
    qtype: str,
    hh: HumanHuman,
    ah: AIHuman,
    coded: Coded | None,
    level: str | None,
    resamples: int,
    seed: int,
) -> tuple[HumanHuman, AIHuman]:
    """`hh` and `ah` with their `ci95`. Figures undefined on the full data get no interval."""
    ah_figures = AI_FIGURES + (RATING_FIGURES if qtype == "rating" else ())
    pref = ah.preference
    pref_figures = PREFERENCE_FIGURES if pref else ()
    points = {f: getattr(hh, f) for f in HUMAN_FIGURES} | {f: getattr(ah, f) for f in ah_figures}
    points |= {f: getattr(pref, f) for f in pref_figures}
    wanted = {f for f, point in points.items() if point is not None}
    reps: dict[str, list[float]] = {f: [] for f in wanted}
    if coded is not None and level is not None and coded.n_records >= 2:
        reps |= _replicates(coded, level, wanted, resamples, seed)
    cis = {f: interval(points[f], np.asarray(reps.get(f, []), float)) for f in points}
    if pref is not None:
        pref = pref.model_copy(update={"ci95": {f: cis[f] for f in pref_figures}})
    return (
        hh.model_copy(update={"ci95": {f: cis[f] for f in HUMAN_FIGURES}}),
        ah.model_copy(update={"ci95": {f: cis[f] for f in ah_figures}, "preference": pref}),
    )


def _replicates(
    coded: Coded, level: str, wanted: set[str], resamples: int, seed: int
) -> dict[str, list[float]]:
    """The wanted figures on `resamples` bootstrap samples of the question's records."""
    rng = np.random.default_rng(seed)
    pairs = PairStats(coded)
    counts = coded.counts()
    reps: dict[str, list[float]] = {f: [] for f in wanted}
    for start in range(0, resamples, CHUNK):
        picks = rng.integers(
            0, coded.n_records, size=(min(CHUNK, resamples - start), coded.n_records)
        )
        for figure, values in resample_figures(coded, counts, level, wanted, picks, pairs).items():
            reps[figure] += list(values)
    return reps


def resample_figures(
    coded: Coded,
    counts: np.ndarray,
    level: str,
    wanted: set[str],
    picks: np.ndarray,
    pairs: PairStats,
) -> dict[str, np.ndarray]:
    """The wanted figures for each row of `picks` (record codes drawn for one resample)."""
    weight = multiplicities(picks, coded.n_records)
    share, multi = pair_agreement(counts)
    out = pairs.replicates(weight, picks, wanted)
    if "percent_agreement" in wanted:
        with np.errstate(all="ignore"):
            out["percent_agreement"] = weight @ (share * multi) / (weight @ multi)
    # records with one response add nothing to alpha or kappa: leave them out
    samples = [counts[pick[multi[pick]]] for pick in picks]
    if "krippendorff_alpha" in wanted:
        out["krippendorff_alpha"] = np.array([_nan(alpha(c, coded, level)) for c in samples])
    if "fleiss_kappa" in wanted:
        out["fleiss_kappa"] = np.array([_nan(fleiss(c)) for c in samples])
    return out


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def multiplicities(picks: np.ndarray, n: int) -> np.ndarray:
    """resamples x records: how often each record was drawn in each resample."""
    rows = len(picks)
    offsets = picks + (np.arange(rows) * n)[:, None]
    return np.bincount(offsets.ravel(), minlength=rows * n).reshape(rows, n).astype(float)


def _table_kappa(table: np.ndarray, weights: str | None) -> float:
    """Cohen's kappa from a confusion table (statsmodels); NaN when undefined.

    scikit-learn's `cohen_kappa_score` (used for the point figures) only takes label
    sequences and costs milliseconds per call; resampled tables need the table form.
    """
    if table.sum() == 0:  # a resample of records without AI suggestions
        return np.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return float(cohens_kappa(table, wt=weights, return_results=False))


KAPPA_WEIGHTS = {
    "cohen_kappa": None,
    "cohen_kappa_linear": "linear",
    "cohen_kappa_quadratic": "quadratic",
}


class PairStats:
    """AI-human pairs summed per record, so a resample's figures are weighted record sums."""

    def __init__(self, coded: Coded) -> None:
        paired = coded.ai >= 0
        self.size = size = len(coded.domain)
        self.numeric = coded.numeric
        self.ai, self.human = coded.ai[paired], coded.value[paired]
        record = coded.record[paired]
        n = coded.n_records
        self.order = np.argsort(record, kind="stable")
        self.per_record = np.bincount(record, minlength=n)
        self.starts = np.concatenate([[0], np.cumsum(self.per_record)[:-1]])
        ones = np.ones(len(record))
        self.tables = sparse.csr_matrix(
            (ones, (record, self.ai * size + self.human)), shape=(n, size * size)
        )
        self.sums = {"pairs": self.per_record.astype(float)}
        equal = (self.ai == self.human).astype(float)
        self.sums["equal"] = np.bincount(record, weights=equal, minlength=n)
        if coded.numeric is not None:
            near = np.abs(coded.numeric[self.ai] - coded.numeric[self.human]) <= 1
            self.sums["near"] = np.bincount(record, weights=near.astype(float), minlength=n)
        if coded.is_preference:
            labels = np.asarray(coded.domain, dtype=object)
            decisive = ((labels[self.ai] != TIE) & (labels[self.human] != TIE)).astype(float)
            self.sums["decisive"] = np.bincount(record, weights=decisive, minlength=n)
            self.sums["decisive_equal"] = np.bincount(record, weights=decisive * equal, minlength=n)

    def replicates(
        self, weight: np.ndarray, picks: np.ndarray, wanted: set[str]
    ) -> dict[str, np.ndarray]:
        totals = {key: weight @ values for key, values in self.sums.items()}
        out: dict[str, np.ndarray] = {}
        with np.errstate(all="ignore"):
            out["exact_agreement"] = totals["equal"] / totals["pairs"]
            out["agreement_with_ties"] = out["exact_agreement"]
            if "near" in totals:
                out["within_one"] = totals["near"] / totals["pairs"]
            if "decisive" in totals:
                out["agreement_without_ties"] = totals["decisive_equal"] / totals["decisive"]
        if wanted & KAPPA_WEIGHTS.keys():
            tables = np.asarray((self.tables.T @ weight.T).T).reshape(-1, self.size, self.size)
            for figure, weights in KAPPA_WEIGHTS.items():
                if figure in wanted:
                    out[figure] = np.array([_table_kappa(t, weights) for t in tables])
        if "spearman" in wanted:
            out["spearman"] = np.array([self._spearman(pick) for pick in picks])
        return {f: v for f, v in out.items() if f in wanted}

    def _spearman(self, pick: np.ndarray) -> float:
        """Spearman over the pairs of the resampled records (each pair as often as drawn)."""
        lengths = self.per_record[pick]
        starts = np.repeat(self.starts[pick], lengths)
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        index = self.order[starts + within]
        assert self.numeric is not None
        return _nan(spearman(self.numeric[self.ai[index]], self.numeric[self.human[index]]))
