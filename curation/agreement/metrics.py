"""The figures on one coded question: human vs human, AI vs human, per annotator.

Library figures (`krippendorff`, `statsmodels`, `scikit-learn`, `scipy`) whose data leave
them undefined (NaN, a ValueError) become None, never a made-up number.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import krippendorff
import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.inter_rater import fleiss_kappa

from curation.agreement.coding import TIE, Coded
from curation.agreement.results import (
    AIHuman,
    AnnotatorAgreement,
    ConfusionMatrix,
    HumanHuman,
    Preference,
    VsAI,
    VsConsensus,
)


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


def share(hits: np.ndarray) -> float | None:
    return float(hits.mean()) if len(hits) else None


# --- human vs human --------------------------------------------------------------------


def alpha(counts: np.ndarray, coded: Coded, level: str) -> float | None:
    domain = coded.numeric if coded.numeric is not None else np.arange(len(coded.domain))
    return _quietly(
        lambda: krippendorff.alpha(
            value_counts=counts, value_domain=domain, level_of_measurement=level
        )
    )


def fleiss(counts: np.ndarray) -> float | None:
    """Fleiss' kappa, defined only when every record has the same number (>= 2) of raters."""
    raters = counts.sum(axis=1)
    if len(raters) == 0 or raters.min() != raters.max() or raters[0] < 2:
        return None
    return _quietly(lambda: fleiss_kappa(counts, method="fleiss"))


def pair_agreement(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record: the share of annotator pairs that agree, and whether it has >= 2 responses."""
    raters = counts.sum(axis=1)
    multi = raters >= 2
    agreeing = (counts * (counts - 1)).sum(axis=1)
    share_ = np.divide(agreeing, raters * (raters - 1), out=np.zeros(len(raters)), where=multi)
    return share_, multi


def human_human(counts: np.ndarray, coded: Coded, level: str) -> HumanHuman:
    """Reviewers among themselves (`HumanHuman()`: all null, for other questions)."""
    agree, multi = pair_agreement(counts)
    return HumanHuman(
        krippendorff_alpha=alpha(counts, coded, level),
        alpha_level=level,
        fleiss_kappa=fleiss(counts),
        percent_agreement=float(agree[multi].mean()) if multi.any() else None,
        n_records_multi=int(multi.sum()),
    )


# --- AI vs human -----------------------------------------------------------------------


def kappa(ai: np.ndarray, human: np.ndarray, size: int, weights: str | None) -> float | None:
    if len(ai) == 0:
        return None
    return _quietly(
        lambda: cohen_kappa_score(
            ai, human, labels=np.arange(size), weights=weights, replace_undefined_by=np.nan
        )
    )


def spearman(ai: np.ndarray, human: np.ndarray) -> float | None:
    if len(ai) < 2:
        return None
    return _quietly(lambda: spearmanr(ai, human).statistic)


def ai_human(coded: Coded | None) -> AIHuman:
    """Every response paired with its record's AI suggestion (None: no categorical value)."""
    if coded is None:
        return AIHuman()
    paired = coded.ai >= 0
    ai, human = coded.ai[paired], coded.value[paired]
    size = len(coded.domain)
    figures: dict[str, Any] = {
        "n_pairs": int(paired.sum()),
        "exact_agreement": share(ai == human),
        "cohen_kappa": kappa(ai, human, size, None),
    }
    if coded.numeric is not None:
        ai_num, human_num = coded.numeric[ai], coded.numeric[human]
        figures |= {
            "cohen_kappa_quadratic": kappa(ai, human, size, "quadratic"),
            "spearman": spearman(ai_num, human_num),
            "cohen_kappa_linear": kappa(ai, human, size, "linear"),
            "within_one": share(np.abs(ai_num - human_num) <= 1),
        }
    return AIHuman(
        **figures,
        preference=_preference(coded, ai, human) if coded.is_preference else None,
        confusion_matrix=ConfusionMatrix(
            labels=[_jsonable(v) for v in coded.domain],
            counts=_counts(ai, human, size),
        ),
    )


def _counts(ai: np.ndarray, human: np.ndarray, size: int) -> list[list[int]]:
    """The confusion matrix over the whole domain (rows AI, columns people)."""
    if not len(ai):
        return [[0] * size for _ in range(size)]
    with warnings.catch_warnings():  # a one-value domain: its 1x1 matrix is right
        warnings.filterwarnings("ignore", message="A single label was found")
        return confusion_matrix(ai, human, labels=np.arange(size)).tolist()


def _preference(coded: Coded, ai: np.ndarray, human: np.ndarray) -> Preference:
    labels = np.asarray(coded.domain, dtype=object)
    decisive = (labels[ai] != TIE) & (labels[human] != TIE)
    return Preference(
        n_pairs_with_ties=len(ai),
        agreement_with_ties=share(ai == human),
        n_pairs_without_ties=int(decisive.sum()),
        agreement_without_ties=share((ai == human)[decisive]),
    )


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, tuple) else value


# --- per annotator ---------------------------------------------------------------------


def per_annotator(coded: Coded, counts: np.ndarray) -> dict[str, AnnotatorAgreement]:
    """Each reviewer against the others' strict-majority value and against the AI."""
    others = counts[coded.record].copy()
    others[np.arange(len(coded.value)), coded.value] -= 1
    consensus = others.argmax(axis=1)
    has_consensus = 2 * others.max(axis=1) > others.sum(axis=1)  # strict majority, >= 1 other
    numeric = coded.numeric
    result = {}
    for code, name in enumerate(coded.annotators):
        mine = coded.annotator == code
        with_consensus = mine & has_consensus
        paired = mine & (coded.ai >= 0)
        ai, human = coded.ai[paired], coded.value[paired]
        mine_vs_majority = coded.value[with_consensus], consensus[with_consensus]
        near: dict[str, dict[str, float | None]] = {"consensus": {}, "ai": {}}
        if numeric is not None:  # ratings: also within one step
            gap = numeric[mine_vs_majority[0]] - numeric[mine_vs_majority[1]]
            near["consensus"]["within_one"] = share(np.abs(gap) <= 1)
            near["ai"]["within_one"] = share(np.abs(numeric[ai] - numeric[human]) <= 1)
        result[name] = AnnotatorAgreement(
            n_responses=int(mine.sum()),
            vs_consensus=VsConsensus(
                n_records=int(with_consensus.sum()),
                exact_agreement=share(mine_vs_majority[0] == mine_vs_majority[1]),
                **near["consensus"],
            ),
            vs_ai=VsAI(
                n_pairs=int(paired.sum()),
                exact_agreement=share(ai == human),
                cohen_kappa=kappa(ai, human, len(coded.domain), None),
                **near["ai"],
            ),
        )
    return result
