"""Agreement: how far the AI judge agrees with people, and people with each other.

`compute_agreement` turns the tidy responses table (one row per record, annotator and
question; the shape `curate pull` writes) into the agreement JSON of the architecture
contract, per question:

- human vs human: Krippendorff's alpha (`krippendorff`), Fleiss' kappa (`statsmodels`),
  pairwise percent agreement;
- AI vs human: every submitted response paired with the AI suggestion for its record:
  exact agreement, Cohen's kappa unweighted / linear / quadratic (`scikit-learn`),
  Spearman (`scipy`), within-one agreement, and for a/b/tie preference questions the
  agreement with and without ties (as in MT-Bench, Zheng et al. 2023);
- per annotator: against the others' strict-majority consensus and against the AI;
- the AI x human confusion matrix;
- percentile bootstrap 95% intervals, resampling records with a fixed seed.

Only submitted responses count. A figure the data does not define is `None` (JSON
`null`), never NaN. Multi-label answers count as one nominal value (the set of labels),
rankings as one nominal value (the ordering); free text and spans get counts only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import krippendorff
import numpy as np
import pandas as pd
from rich.console import Group
from rich.table import Table
from scipy import sparse
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.inter_rater import cohens_kappa, fleiss_kappa

from curation.errors import CurationError

if TYPE_CHECKING:
    from curation.config import Config

COLUMNS = (
    "record_id",
    "annotator",
    "question",
    "question_type",
    "value",
    "status",
    "suggestion",
)
STATUSES = {"submitted", "draft", "discarded"}
CATEGORICAL_TYPES = {"rating", "label_selection", "multi_label_selection", "ranking"}
QUESTION_TYPES = CATEGORICAL_TYPES | {"text", "span"}
LEVELS = ("nominal", "ordinal", "interval", "ratio")
TIE = "tie"
PREFERENCE_LABELS = {"a", "b", TIE}

# 500 resamples: on 300 records the interval ends then move by ~0.005 (one standard
# deviation) from seed to seed, against ~0.0025 at 1,000, for half the time. Measured
# (benchmarks/agreement_bench.py, two cores at load ~3.7): 2,000 records x 3 reviewers x 3
# questions in 1.8 s, 0.1 s of it without intervals. Library calls per resample set the pace.
DEFAULT_RESAMPLES = 500
# A percentile interval from resamples where the figure is often undefined (e.g. every
# resampled rating equal) would describe a different population: below this share, null.
MIN_DEFINED_SHARE = 0.95
CHUNK = 100  # resamples per vectorised block (bounds memory: CHUNK x records floats)


@dataclass
class Coded:
    """One question's submitted responses as integer codes (the vectorised form)."""

    qtype: str
    domain: list[Any]  # the possible values, in order; codes index into it
    numeric: np.ndarray | None  # domain as numbers (ratings), else None
    ordered: bool  # whether the domain order means something (ordinal alpha)
    record: np.ndarray  # record code (0..n_records-1) per response
    annotator: np.ndarray  # annotator code per response
    annotators: list[str]
    value: np.ndarray  # value code per response
    ai: np.ndarray  # AI suggestion code per response, -1 where there is none

    @property
    def n_records(self) -> int:
        return int(self.record.max()) + 1 if len(self.record) else 0

    def counts(self) -> np.ndarray:
        """records x values: how many annotators gave each value to each record."""
        size = len(self.domain)
        flat = np.bincount(self.record * size + self.value, minlength=self.n_records * size)
        return flat.reshape(self.n_records, size)


# --- public API -----------------------------------------------------------------------


def compute_agreement(
    table: pd.DataFrame,
    dataset: str,
    question: str | None = None,
    alpha_level: str | None = None,
    *,
    question_values: Mapping[str, Sequence[Any]] | None = None,
    question_types: Mapping[str, str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """The agreement JSON of the architecture contract, extended with more figures.

    `question_values` gives each question's allowed values (rating scale, label order);
    without it the observed values are used. `question_types` declares questions that may
    have no responses yet, so they still appear (with null figures). `alpha_level`
    overrides the default level (interval for ratings, nominal otherwise) where it applies
    (ordinal needs ordered values, interval and ratio numbers); for a `question` asked by
    name, a level that cannot apply is an error. `resamples` bootstrap resamples of the
    records (0: no intervals), drawn from `seed`.
    """
    check_level(alpha_level)
    question_values = dict(question_values or {})
    types = _question_types(table, dict(question_types or {}))
    if question is not None:
        if question not in types:
            known = ", ".join(types) or "none"
            raise CurationError(
                f"dataset {dataset!r} has no question {question!r} (known: {known})"
            )
        types = {question: types[question]}
    submitted = _submitted(table)
    questions = {}
    for name, qtype in types.items():
        rows = submitted[submitted["question"] == name]
        allowed = question_values.get(name)
        strict = question is not None
        questions[name] = _question_agreement(
            name, qtype, rows, allowed, alpha_level, strict, resamples, seed
        )
        if "blind" in rows.columns:  # pulled with the blind control slice (review.blind)
            questions[name] |= _slices(name, qtype, rows, allowed, resamples, seed)
    return {
        "dataset": dataset,
        "questions": questions,
        "bootstrap": {"resamples": resamples, "seed": seed, "confidence": 0.95},
    }


def render_agreement(result: Mapping[str, Any]) -> Group:
    """The agreement result as rich tables, for `curate agreement --format table`."""
    parts: list[Any] = []
    for name, q in result["questions"].items():
        parts.append(_figures_table(name, q))
        if q.get("anchoring"):
            parts.append(_slices_table(name, q))
        if q.get("annotators"):
            parts.append(_annotators_table(name, q))
        matrix = q["ai_human"].get("confusion_matrix")
        if matrix and matrix["labels"]:
            parts.append(_confusion_table(name, matrix))
    if not parts:
        parts.append(f"dataset {result['dataset']!r}: no questions with responses")
    return Group(*parts)


# --- input checks and coding ------------------------------------------------------------


def check_level(alpha_level: str | None) -> None:
    if alpha_level is not None and alpha_level not in LEVELS:
        raise CurationError(f"unknown alpha level {alpha_level!r}; use one of {', '.join(LEVELS)}")


def _question_types(table: pd.DataFrame, declared: dict[str, str]) -> dict[str, str]:
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise CurationError(f"responses table lacks column(s): {', '.join(missing)}")
    bad_status = set(table["status"].dropna().unique()) - STATUSES
    if bad_status or table["status"].isna().any():
        shown = sorted(map(str, bad_status)) or ["null"]
        raise CurationError(f"unknown response status {', '.join(shown)}; expected {STATUSES}")
    types = dict(declared)
    for name, group in table.groupby("question", sort=False):
        seen = set(group["question_type"].unique())
        if len(seen) != 1:
            raise CurationError(f"question {name!r} has several types: {sorted(map(str, seen))}")
        qtype = seen.pop()
        if types.setdefault(str(name), qtype) != qtype:
            raise CurationError(f"question {name!r} is {qtype!r} in the table, not {types[name]!r}")
    for name, qtype in types.items():
        if qtype not in QUESTION_TYPES:
            raise CurationError(f"question {name!r} has unknown type {qtype!r}")
    return types


def _submitted(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[table["status"] == "submitted"]
    duplicated = rows.duplicated(["record_id", "annotator", "question"])
    if duplicated.any():
        row = rows[duplicated].iloc[0]
        raise CurationError(
            f"record {row['record_id']!r}: annotator {row['annotator']!r} has more than one "
            f"submitted response to question {row['question']!r}"
        )
    return rows


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _canonical(value: Any, qtype: str) -> Any:
    """One hashable value per answer: a number, a label, a sorted label set, a ranking."""
    if qtype == "rating":
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        return int(number) if number.is_integer() else number
    if qtype == "label_selection":
        return str(value)
    if isinstance(value, str | bytes | Mapping):
        raise TypeError(value)
    items = list(value)
    if qtype == "multi_label_selection":
        return tuple(sorted({str(v) for v in items}))
    # ranking: [{"value": v, "rank": r}, ...] or the values in rank order
    if items and isinstance(items[0], Mapping):
        pairs = [(int(item["rank"]), str(item["value"])) for item in items]
    else:
        pairs = [(rank, str(v)) for rank, v in enumerate(items, start=1)]
    return tuple((v, rank) for rank, v in sorted(pairs))


def _code(name: str, qtype: str, rows: pd.DataFrame, allowed: Sequence[Any] | None) -> Coded:
    def canonical(value: Any, where: str) -> Any:
        try:
            return _canonical(value, qtype)
        except (TypeError, ValueError, KeyError) as error:
            raise CurationError(
                f"question {name!r}, {where}: {value!r} is not a {qtype} value"
            ) from error

    values, suggestions = [], []
    for rid, who, value, suggestion in zip(
        rows["record_id"], rows["annotator"], rows["value"], rows["suggestion"], strict=True
    ):
        where = f"record {rid!r}, annotator {who!r}"
        if _missing(value):
            raise CurationError(f"question {name!r}, {where}: submitted response has no value")
        values.append(canonical(value, where))
        suggestions.append(
            None if _missing(suggestion) else canonical(suggestion, f"record {rid!r}, AI")
        )

    domain = _domain(name, qtype, allowed, values, suggestions)
    index = {v: i for i, v in enumerate(domain)}
    value_codes = np.empty(len(values), dtype=np.int64)
    ai_codes = np.full(len(values), -1, dtype=np.int64)
    for i, (value, suggestion) in enumerate(zip(values, suggestions, strict=True)):
        for code, item, who in ((value_codes, value, "annotator"), (ai_codes, suggestion, "AI")):
            if item is None:
                continue
            if item not in index:
                rid = rows["record_id"].iloc[i]
                by = rows["annotator"].iloc[i] if who == "annotator" else "the AI suggestion"
                raise CurationError(
                    f"question {name!r}, record {rid!r}: {by} gave {item!r}, "
                    f"not one of the allowed values {domain}"
                )
            code[i] = index[item]

    record_codes, _ = pd.factorize(rows["record_id"].astype(str))
    annotator_codes, annotators = pd.factorize(rows["annotator"].astype(str), sort=True)
    numeric = np.asarray(domain, dtype=float) if qtype == "rating" else None
    return Coded(
        qtype=qtype,
        domain=domain,
        numeric=numeric,
        ordered=qtype == "rating" or (qtype == "label_selection" and allowed is not None),
        record=np.asarray(record_codes, dtype=np.int64),
        annotator=np.asarray(annotator_codes, dtype=np.int64),
        annotators=[str(a) for a in annotators],
        value=value_codes,
        ai=ai_codes,
    )


def _domain(
    name: str, qtype: str, allowed: Sequence[Any] | None, values: list, suggestions: list
) -> list[Any]:
    """The question's possible values: declared ones in their order, else the observed."""
    if allowed is not None and qtype in {"rating", "label_selection"}:
        try:
            domain = [_canonical(v, qtype) for v in allowed]
        except (TypeError, ValueError) as error:
            raise CurationError(
                f"question {name!r}: allowed values {list(allowed)} are not {qtype}"
            ) from error
        return sorted(set(domain)) if qtype == "rating" else list(dict.fromkeys(domain))
    observed = {v for v in values + suggestions if v is not None}
    if allowed is not None:  # multi-label: the labels each selection may hold
        labels = {str(v) for v in allowed}
        for combo in observed:
            if not set(combo) <= labels:
                raise CurationError(
                    f"question {name!r}: {list(combo)} is not within {sorted(labels)}"
                )
    if qtype == "rating" and observed and all(isinstance(v, int) for v in observed):
        return list(range(min(observed), max(observed) + 1))  # unseen steps still count
    return sorted(observed)


# --- one question ----------------------------------------------------------------------


def _question_agreement(
    name: str,
    qtype: str,
    rows: pd.DataFrame,
    allowed: Sequence[Any] | None,
    alpha_level: str | None,
    strict: bool,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": qtype,
        "n_records": int(rows["record_id"].nunique()),
        "n_annotators": int(rows["annotator"].nunique()),
        "n_responses": len(rows),
    }
    if qtype not in CATEGORICAL_TYPES or rows.empty:  # free text, spans, nothing submitted
        result["human_human"] = _human_human(None, None, None)
        result["ai_human"] = _ai_human(None)
        result["annotators"] = {}
        _add_intervals(result, None, None, None, resamples, seed)
        return result
    coded = _code(name, qtype, rows, allowed)
    level = _alpha_level(name, coded, alpha_level, strict)
    counts = coded.counts()
    result["human_human"] = _human_human(counts, coded, level)
    result["ai_human"] = _ai_human(coded)
    result["annotators"] = _per_annotator(coded, counts)
    _add_intervals(result, coded, counts, level, resamples, seed)
    return result


def _alpha_level(name: str, coded: Coded, requested: str | None, strict: bool) -> str:
    """The requested level where it applies to the question, else the default level.

    With `strict` (the question was asked for by name) a level that cannot apply is an
    error; over a whole dataset it applies where it can and the output names the level.
    """
    default = "interval" if coded.qtype == "rating" else "nominal"
    if requested is None:
        return default
    problem = None
    if requested in {"interval", "ratio"} and coded.qtype != "rating":
        problem = f"alpha level {requested!r} needs numbers; question {name!r} is {coded.qtype}"
    elif requested == "ordinal" and not coded.ordered:
        problem = f"alpha level 'ordinal' needs ordered values; question {name!r} declares none"
    if problem and strict:
        raise CurationError(problem)
    return default if problem else requested


def _number(value: Any) -> float | None:
    """A finite float, or None for undefined (NaN, inf) figures."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _quietly(compute: Callable[[], Any]) -> float | None:
    """Run a library figure, turning its undefined cases (NaN, ValueError) into None."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return _number(compute())
        except (ValueError, ZeroDivisionError):
            return None


# --- human vs human --------------------------------------------------------------------


def _alpha(counts: np.ndarray, coded: Coded, level: str) -> float | None:
    domain = coded.numeric if coded.numeric is not None else np.arange(len(coded.domain))
    return _quietly(
        lambda: krippendorff.alpha(
            value_counts=counts, value_domain=domain, level_of_measurement=level
        )
    )


def _fleiss(counts: np.ndarray) -> float | None:
    """Fleiss' kappa, defined only when every record has the same number (>= 2) of raters."""
    raters = counts.sum(axis=1)
    if len(raters) == 0 or raters.min() != raters.max() or raters[0] < 2:
        return None
    return _quietly(lambda: fleiss_kappa(counts, method="fleiss"))


def _pair_agreement(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record: the share of annotator pairs that agree, and whether it has >= 2 responses."""
    raters = counts.sum(axis=1)
    multi = raters >= 2
    agreeing = (counts * (counts - 1)).sum(axis=1)
    share = np.divide(agreeing, raters * (raters - 1), out=np.zeros(len(raters)), where=multi)
    return share, multi


def _human_human(
    counts: np.ndarray | None, coded: Coded | None, level: str | None
) -> dict[str, Any]:
    """Reviewers among themselves; all null for questions without a categorical value."""
    if counts is None or coded is None or level is None:
        figures = dict.fromkeys(("krippendorff_alpha", "fleiss_kappa", "percent_agreement"))
        return {**figures, "alpha_level": None, "n_records_multi": 0}
    share, multi = _pair_agreement(counts)
    return {
        "krippendorff_alpha": _alpha(counts, coded, level),
        "alpha_level": level,
        "fleiss_kappa": _fleiss(counts),
        "percent_agreement": float(share[multi].mean()) if multi.any() else None,
        "n_records_multi": int(multi.sum()),
    }


# --- AI vs human -----------------------------------------------------------------------


def _kappa(ai: np.ndarray, human: np.ndarray, size: int, weights: str | None) -> float | None:
    if len(ai) == 0:
        return None
    return _quietly(
        lambda: cohen_kappa_score(
            ai, human, labels=np.arange(size), weights=weights, replace_undefined_by=np.nan
        )
    )


def _spearman(ai: np.ndarray, human: np.ndarray) -> float | None:
    if len(ai) < 2:
        return None
    return _quietly(lambda: spearmanr(ai, human).statistic)


def _share(hits: np.ndarray) -> float | None:
    return float(hits.mean()) if len(hits) else None


def _is_preference(coded: Coded) -> bool:
    return coded.qtype == "label_selection" and set(coded.domain) <= PREFERENCE_LABELS


def _ai_human(coded: Coded | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "n_pairs": 0,
        "exact_agreement": None,
        "cohen_kappa": None,
        "cohen_kappa_quadratic": None,
        "spearman": None,
        "cohen_kappa_linear": None,
        "within_one": None,
        "preference": None,
        "confusion_matrix": None,
    }
    if coded is None:
        return result
    paired = coded.ai >= 0
    ai, human = coded.ai[paired], coded.value[paired]
    size = len(coded.domain)
    result.update(
        n_pairs=int(paired.sum()),
        exact_agreement=_share(ai == human),
        cohen_kappa=_kappa(ai, human, size, None),
        confusion_matrix={
            "rows": "ai",
            "columns": "human",
            "labels": [_jsonable(v) for v in coded.domain],
            "counts": confusion_matrix(ai, human, labels=np.arange(size)).tolist()
            if len(ai)
            else [[0] * size for _ in range(size)],
        },
    )
    if coded.numeric is not None:
        ai_num, human_num = coded.numeric[ai], coded.numeric[human]
        result.update(
            cohen_kappa_quadratic=_kappa(ai, human, size, "quadratic"),
            cohen_kappa_linear=_kappa(ai, human, size, "linear"),
            spearman=_spearman(ai_num, human_num),
            within_one=_share(np.abs(ai_num - human_num) <= 1),
        )
    if _is_preference(coded):
        labels = np.asarray(coded.domain, dtype=object)
        decisive = (labels[ai] != TIE) & (labels[human] != TIE)
        result["preference"] = {
            "n_pairs_with_ties": int(paired.sum()),
            "agreement_with_ties": _share(ai == human),
            "n_pairs_without_ties": int(decisive.sum()),
            "agreement_without_ties": _share((ai == human)[decisive]),
        }
    return result


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, tuple) else value


# --- per annotator ---------------------------------------------------------------------


def _per_annotator(coded: Coded, counts: np.ndarray) -> dict[str, Any]:
    """Each reviewer against the others' strict-majority value and against the AI."""
    others = counts[coded.record].copy()
    others[np.arange(len(coded.value)), coded.value] -= 1
    n_others = others.sum(axis=1)
    consensus = others.argmax(axis=1)
    has_consensus = 2 * others.max(axis=1) > n_others  # strict majority (and >= 1 other)
    rating = coded.numeric is not None
    result = {}
    for code, name in enumerate(coded.annotators):
        mine = coded.annotator == code
        with_consensus = mine & has_consensus
        agree = coded.value[with_consensus] == consensus[with_consensus]
        paired = mine & (coded.ai >= 0)
        ai, human = coded.ai[paired], coded.value[paired]
        vs_consensus = {"n_records": int(with_consensus.sum()), "exact_agreement": _share(agree)}
        vs_ai = {
            "n_pairs": int(paired.sum()),
            "exact_agreement": _share(ai == human),
            "cohen_kappa": _kappa(ai, human, len(coded.domain), None),
        }
        if rating:
            gap = (
                coded.numeric[coded.value[with_consensus]]
                - coded.numeric[consensus[with_consensus]]
            )
            vs_consensus["within_one"] = _share(np.abs(gap) <= 1)
            vs_ai["within_one"] = _share(np.abs(coded.numeric[ai] - coded.numeric[human]) <= 1)
        result[name] = {
            "n_responses": int(mine.sum()),
            "vs_consensus": vs_consensus,
            "vs_ai": vs_ai,
        }
    return result


# --- bootstrap -------------------------------------------------------------------------


def _interval(point: float | None, replicates: np.ndarray) -> list[float] | None:
    """Percentile 95% interval, or None when the figure or too many replicates are undefined."""
    defined = replicates[np.isfinite(replicates)]
    if point is None or len(replicates) == 0 or len(defined) < MIN_DEFINED_SHARE * len(replicates):
        return None
    low, high = np.percentile(defined, [2.5, 97.5])
    return [round(float(low), 12) + 0.0, round(float(high), 12) + 0.0]  # no -2e-16, no -0.0


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


def _add_intervals(
    result: dict[str, Any],
    coded: Coded | None,
    counts: np.ndarray | None,
    level: str | None,
    resamples: int,
    seed: int,
) -> None:
    """Bootstrap 95% intervals: resample records with replacement, recompute each figure.

    Every figure of one question uses the same resamples (a fixed seed), so intervals are
    reproducible run to run. Figures undefined on the full data get no interval.
    """
    hh, ah = result["human_human"], result["ai_human"]
    pref = ah["preference"]
    hh_figures = ["krippendorff_alpha", "fleiss_kappa", "percent_agreement"]
    ah_figures = ["exact_agreement", "cohen_kappa"]
    if result["type"] == "rating":
        ah_figures += ["cohen_kappa_linear", "cohen_kappa_quadratic", "spearman", "within_one"]
    pref_figures = ["agreement_with_ties", "agreement_without_ties"] if pref else []
    points = {f: hh[f] for f in hh_figures} | {f: ah[f] for f in ah_figures}
    points |= {f: pref[f] for f in pref_figures}
    wanted = {f for f, point in points.items() if point is not None}
    reps: dict[str, list[float]] = {f: [] for f in wanted}
    if coded is not None and counts is not None and level is not None and coded.n_records >= 2:
        reps |= _replicates(coded, counts, level, wanted, resamples, seed)
    intervals = {f: _interval(points[f], np.asarray(reps.get(f, []), float)) for f in points}
    hh["ci95"] = {f: intervals[f] for f in hh_figures}
    ah["ci95"] = {f: intervals[f] for f in ah_figures}
    if pref:
        pref["ci95"] = {f: intervals[f] for f in pref_figures}


def _replicates(
    coded: Coded, counts: np.ndarray, level: str, wanted: set[str], resamples: int, seed: int
) -> dict[str, list[float]]:
    """The wanted figures on `resamples` bootstrap samples of the question's records."""
    rng = np.random.default_rng(seed)
    pairs = _PairStats(coded)
    reps: dict[str, list[float]] = {f: [] for f in wanted}
    for start in range(0, resamples, CHUNK):
        picks = rng.integers(
            0, coded.n_records, size=(min(CHUNK, resamples - start), coded.n_records)
        )
        for figure, values in _resample_figures(coded, counts, level, wanted, picks, pairs).items():
            reps[figure] += list(values)
    return reps


def _resample_figures(
    coded: Coded,
    counts: np.ndarray,
    level: str,
    wanted: set[str],
    picks: np.ndarray,
    pairs: _PairStats,
) -> dict[str, np.ndarray]:
    """The wanted figures for each row of `picks` (record codes drawn for one resample)."""
    weight = _multiplicities(picks, coded.n_records)
    share, multi = _pair_agreement(counts)
    out = pairs.replicates(weight, picks, wanted)
    if "percent_agreement" in wanted:
        with np.errstate(all="ignore"):
            out["percent_agreement"] = weight @ (share * multi) / (weight @ multi)
    # records with one response add nothing to alpha or kappa: leave them out
    samples = [counts[pick[multi[pick]]] for pick in picks]
    if "krippendorff_alpha" in wanted:
        out["krippendorff_alpha"] = np.array([_nan(_alpha(c, coded, level)) for c in samples])
    if "fleiss_kappa" in wanted:
        out["fleiss_kappa"] = np.array([_nan(_fleiss(c)) for c in samples])
    return out


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def _multiplicities(picks: np.ndarray, n: int) -> np.ndarray:
    """resamples x records: how often each record was drawn in each resample."""
    rows = len(picks)
    offsets = picks + (np.arange(rows) * n)[:, None]
    return np.bincount(offsets.ravel(), minlength=rows * n).reshape(rows, n).astype(float)


class _PairStats:
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
        if _is_preference(coded):
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
        kappas = {"cohen_kappa": None, "cohen_kappa_linear": "linear"}
        kappas["cohen_kappa_quadratic"] = "quadratic"
        if wanted & kappas.keys():
            tables = np.asarray((self.tables.T @ weight.T).T).reshape(-1, self.size, self.size)
            for figure, weights in kappas.items():
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
        return _nan(_spearman(self.numeric[self.ai[index]], self.numeric[self.human[index]]))


# --- blind control slice ----------------------------------------------------------------


def _slices(
    name: str,
    qtype: str,
    rows: pd.DataFrame,
    allowed: Sequence[Any] | None,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """AI-human figures on the blind slice (reviewers saw no suggestion) and on the
    suggested rest, and the anchoring effect between them (`anchoring`)."""
    blind = rows["blind"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    out: dict[str, Any] = {}
    coded: dict[str, Coded | None] = {}
    for key, part in (("ai_human_blind", rows[blind]), ("ai_human_suggested", rows[~blind])):
        one = (
            _code(name, qtype, part, allowed) if qtype in CATEGORICAL_TYPES and len(part) else None
        )
        result = {"type": qtype, "human_human": _human_human(None, None, None)}
        result["ai_human"] = _ai_human(one)
        _add_intervals(
            result, one, None if one is None else one.counts(), "nominal", resamples, seed
        )
        out[key], coded[key] = result["ai_human"], one
    out["anchoring"] = _anchoring(
        coded["ai_human_suggested"], coded["ai_human_blind"], resamples, seed
    )
    return out


def _anchoring(
    suggested: Coded | None, blind: Coded | None, resamples: int, seed: int
) -> dict[str, Any]:
    """Suggested minus blind exact agreement, with a 95% percentile bootstrap interval
    that resamples records within each slice (the slices are independent samples)."""
    sums = [_pair_sums(coded) for coded in (suggested, blind)]
    shares = [equal.sum() / pairs.sum() if pairs.sum() else None for pairs, equal in sums]
    result = {
        "effect": None,
        "ci95": None,
        "exact_agreement_suggested": shares[0],
        "exact_agreement_blind": shares[1],
        "n_pairs_suggested": int(sums[0][0].sum()),
        "n_pairs_blind": int(sums[1][0].sum()),
    }
    if None in shares:
        return result
    result["effect"] = float(shares[0] - shares[1])
    rng = np.random.default_rng(seed)
    replicates = np.zeros(resamples)
    for sign, (pairs, equal) in zip((1, -1), sums, strict=True):
        for start in range(0, resamples, CHUNK):
            size = min(CHUNK, resamples - start)
            weight = _multiplicities(rng.integers(0, len(pairs), (size, len(pairs))), len(pairs))
            with np.errstate(all="ignore"):
                replicates[start : start + size] += sign * (weight @ equal) / (weight @ pairs)
    result["ci95"] = _interval(result["effect"], replicates) if resamples else None
    return result


def _pair_sums(coded: Coded | None) -> tuple[np.ndarray, np.ndarray]:
    """Per record: AI-human pairs and how many of them agree exactly."""
    if coded is None:
        return np.zeros(0), np.zeros(0)
    paired = coded.ai >= 0
    record, n = coded.record[paired], coded.n_records
    equal = (coded.ai[paired] == coded.value[paired]).astype(float)
    return np.bincount(record, minlength=n).astype(float), np.bincount(
        record, weights=equal, minlength=n
    )


# --- reading a dataset from Argilla ---------------------------------------------------
# `agreement_from_argilla` is the body of `curate agreement`; the responses come from the
# review loop's pull (incremental: a second run fetches only what changed).


def agreement_from_argilla(
    config: Config,
    dataset: str,
    workspace: str | None = None,
    question: str | None = None,
    alpha_level: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, Any]:
    """`compute_agreement` on a live Argilla dataset, its questions taken from its settings."""
    from curation.review.connection import connect
    from curation.review.pull import pull

    check_level(alpha_level)  # before any network work
    pulled = pull(connect(config), dataset, workspace)
    return compute_agreement(
        pulled.responses,
        dataset,
        question,
        alpha_level,
        question_values=pulled.question_values,
        question_types=pulled.question_types,
        resamples=resamples,
    )


# --- rich tables -----------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _fmt_ci(ci: list[float] | None) -> str:
    return "—" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _figures_table(name: str, q: Mapping[str, Any]) -> Table:
    hh, ah = q["human_human"], q["ai_human"]
    title = (
        f"{name} ({q['type']}): {q['n_records']} records, {q['n_annotators']} annotators, "
        f"{q['n_responses']} responses"
    )
    table = Table(title=title, title_justify="left", caption="— undefined for these data")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    hh_ci, ah_ci = hh.get("ci95") or {}, ah.get("ci95") or {}
    level = hh["alpha_level"] or "-"
    rows = [
        (
            f"human-human Krippendorff's alpha ({level})",
            hh["krippendorff_alpha"],
            hh_ci,
            "krippendorff_alpha",
        ),
        ("human-human Fleiss' kappa", hh["fleiss_kappa"], hh_ci, "fleiss_kappa"),
        ("human-human pairwise agreement", hh["percent_agreement"], hh_ci, "percent_agreement"),
        ("AI-human pairs", ah["n_pairs"], {}, ""),
        ("AI-human exact agreement", ah["exact_agreement"], ah_ci, "exact_agreement"),
        ("AI-human Cohen's kappa", ah["cohen_kappa"], ah_ci, "cohen_kappa"),
    ]
    if q["type"] == "rating":
        rows += [
            (
                "AI-human kappa, linear weights",
                ah["cohen_kappa_linear"],
                ah_ci,
                "cohen_kappa_linear",
            ),
            (
                "AI-human kappa, quadratic weights",
                ah["cohen_kappa_quadratic"],
                ah_ci,
                "cohen_kappa_quadratic",
            ),
            ("AI-human Spearman", ah["spearman"], ah_ci, "spearman"),
            ("AI-human within one", ah["within_one"], ah_ci, "within_one"),
        ]
    pref = ah.get("preference")
    if pref:
        pref_ci = pref.get("ci95") or {}
        rows += [
            (
                "AI-human agreement with ties",
                pref["agreement_with_ties"],
                pref_ci,
                "agreement_with_ties",
            ),
            (
                f"AI-human agreement without ties ({pref['n_pairs_without_ties']} pairs)",
                pref["agreement_without_ties"],
                pref_ci,
                "agreement_without_ties",
            ),
        ]
    for label, value, cis, key in rows:
        table.add_row(label, _fmt(value), _fmt_ci(cis.get(key)) if key else "")
    return table


def _slices_table(name: str, q: Mapping[str, Any]) -> Table:
    """AI-human exact agreement with and without suggestions in view, and the difference."""
    table = Table(
        title=f"{name}: blind control slice (no AI suggestion shown) vs suggested records",
        title_justify="left",
    )
    for column in ("records", "AI-human pairs", "exact agreement", "95% CI"):
        table.add_column(column, justify="right" if column != "records" else "left")
    for label, key in (("blind", "ai_human_blind"), ("suggested", "ai_human_suggested")):
        figures = q[key]
        table.add_row(
            label,
            str(figures["n_pairs"]),
            _fmt(figures["exact_agreement"]),
            _fmt_ci((figures.get("ci95") or {}).get("exact_agreement")),
        )
    effect = q["anchoring"]
    table.add_row(
        "anchoring (suggested - blind)", "", _fmt(effect["effect"]), _fmt_ci(effect["ci95"])
    )
    return table


def _annotators_table(name: str, q: Mapping[str, Any]) -> Table:
    table = Table(
        title=f"{name}: each annotator against the others' majority and against the AI",
        title_justify="left",
    )
    table.add_column("annotator")
    for column in ("responses", "majority n", "agrees", "AI n", "agrees", "kappa"):
        table.add_column(column, justify="right")
    for who, stats in q["annotators"].items():
        cons, ai = stats["vs_consensus"], stats["vs_ai"]
        table.add_row(
            who,
            str(stats["n_responses"]),
            str(cons["n_records"]),
            _fmt(cons["exact_agreement"]),
            str(ai["n_pairs"]),
            _fmt(ai["exact_agreement"]),
            _fmt(ai["cohen_kappa"]),
        )
    return table


def _confusion_table(name: str, matrix: Mapping[str, Any]) -> Table:
    labels = [", ".join(map(str, v)) if isinstance(v, list) else str(v) for v in matrix["labels"]]
    table = Table(title=f"{name}: confusion matrix", title_justify="left")
    table.add_column("AI ↓ human →")
    for label in labels:
        table.add_column(label, justify="right")
    for label, row in zip(labels, matrix["counts"], strict=True):
        table.add_row(label, *map(str, row))
    return table
