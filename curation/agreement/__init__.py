"""Agreement: how far the AI judge agrees with people, and people with each other.

`compute_agreement` turns the feedback table (`curation.feedback`) into an `Agreement`,
per question:

- human vs human: Krippendorff's alpha (`krippendorff`), Fleiss' kappa (`statsmodels`),
  pairwise percent agreement;
- AI vs human: every submitted response paired with the AI suggestion for its record:
  exact agreement, Cohen's kappa unweighted / linear / quadratic (`scikit-learn`),
  Spearman (`scipy`), within-one agreement, and for a/b/tie preference questions the
  agreement with and without ties (as in MT-Bench, Zheng et al. 2023);
- per annotator: against the others' strict-majority consensus and against the AI;
- the AI x human confusion matrix;
- percentile bootstrap 95% intervals, resampling records with a fixed seed;
- with the blind control slice: the same AI-human figures blind and suggested, and the
  anchoring effect between them.

`Agreement.to_json()` is the agreement JSON of the architecture contract
(`curate agreement --format json`, `agreement/<dataset>.json`); `Agreement.from_json`
reads a saved one. Where things are: `coding` (answers to codes), `metrics` (the
figures), `bootstrap` (intervals), `anchoring` (blind vs suggested), `render` (rich
tables), `results` (the typed result), `compute` (the whole, and from Argilla).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from curation.agreement.coding import check_level
from curation.agreement.render import render_agreement
from curation.agreement.results import (
    Agreement,
    AIHuman,
    Anchoring,
    AnnotatorAgreement,
    ConfusionMatrix,
    HumanHuman,
    Preference,
    QuestionAgreement,
)

if TYPE_CHECKING:
    from curation.agreement.bootstrap import DEFAULT_RESAMPLES
    from curation.agreement.compute import agreement_from_argilla, compute_agreement

# The computing modules load on first use: they pull in scipy, scikit-learn and
# statsmodels (seconds), which what only reads saved results (the dataset card, the
# dashboard's pages) need not pay for.
_LAZY = {
    "DEFAULT_RESAMPLES": "bootstrap",
    "agreement_from_argilla": "compute",
    "compute_agreement": "compute",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


__all__ = [
    "DEFAULT_RESAMPLES",
    "AIHuman",
    "Agreement",
    "Anchoring",
    "AnnotatorAgreement",
    "ConfusionMatrix",
    "HumanHuman",
    "Preference",
    "QuestionAgreement",
    "agreement_from_argilla",
    "check_level",
    "compute_agreement",
    "render_agreement",
]
