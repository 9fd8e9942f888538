"""A calibration: how the judge's signals map to what your reviewers choose.

A logistic regression (scikit-learn) on features that flip sign when a and b swap
(log length ratio, repetition gap, relevance gap, pairwise log-odds, rating gap, panel
log-odds). Each
labelled pair is also fed swapped, without an intercept, so the fitted judge has no
position bias by construction. Features enter by forward selection from the length
feature, each only if it lowers the held-out log-loss (so signals that are noise for your
reviewers stay out), with the regularisation chosen the same way. The report gives held-out
(cross-validated) accuracy and calibration error of the fixed rule (before) and of the
calibration (after), next to the length rule; the selection saw the same folds, so the
"after" figure is slightly optimistic (`curate judge eval --calibration` on other labelled
pairs is the unbiased check).

Saved as plain JSON (features, coefficients, report): readable, and loading it never runs
code.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curation.errors import CurationError
from curation.judge import verdict as rule
from curation.runs import write_json

if TYPE_CHECKING:
    from curation.config import JudgeConfig

# Pairs people decided (a or b) needed before a calibration is fitted: fewer give
# coefficients that mostly fit noise, and a held-out report too wide to read.
MIN_LABELS = 30
FOLDS = 5
C_GRID = (0.03, 0.3, 3.0)
FORMAT = 1
# The feature each costly signal feeds: a calibration asks only for the signals it uses.
SIGNAL_FEATURES = {
    "relevance": "relevance_gap",
    "pairwise": "pairwise_logit",
    "rating": "rating_gap",
}


@dataclass
class Calibration:
    """Fitted coefficients per feature (in the features' own units) and the fit's report."""

    features: list[str]
    coefficients: list[float]
    signals: list[str]
    embedding_model: str
    judge_model: str
    report: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    def p(self, row: dict[str, Any]) -> float:
        """Calibrated p(a better) for one pair's signals."""
        x = feature_vector(row, self.features)
        return rule.sigmoid(float(np.dot(x, self.coefficients)))

    def save(self, path: Path) -> None:
        write_json(asdict(self), path, mode=0o600)

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise CurationError(f"calibration file not found: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CurationError(f"cannot read calibration {path}: {error}") from None
        try:
            calibration = cls(**data)
        except TypeError:
            raise CurationError(
                f"{path}: not a calibration from `curate judge calibrate`"
            ) from None
        if calibration.format != FORMAT or len(calibration.features) != len(
            calibration.coefficients
        ):
            raise CurationError(f"{path}: unsupported or damaged calibration file")
        return calibration


def feature_names(rows: list[dict[str, Any]], cfg: JudgeConfig) -> list[str]:
    """The features a calibration may use: every signal the judge measured, length and
    repetition (the first is where forward selection starts)."""
    names = ["log_length_ratio", "repetition_gap"]
    if "relevance" in cfg.signals:
        names.append("relevance_gap")
    if "pairwise" in cfg.signals:
        names.append("pairwise_logit")
    if "rating" in cfg.signals:
        names.append("rating_gap")
    panel = sorted({key for row in rows for key in row if key.startswith("panel_")})
    return names + [f"{key}:logit" for key in panel]


def feature_vector(row: dict[str, Any], names: list[str]) -> np.ndarray:
    """One pair's features; a missing signal is 0 (no preference either way)."""
    values = []
    for name in names:
        if name == "pairwise_logit":
            values.append(rule.logit(row.get("pairwise_p_a")))
        elif name.endswith(":logit"):
            values.append(rule.logit(row.get(name.removesuffix(":logit"))))
        else:
            values.append(rule._value(row, name))
    return np.array(values, dtype=float)


def enough_labels(labels: list[str | None]) -> list[int]:
    """Indexes of the pairs people decided; a one-line refusal when they are too few."""
    decided = [i for i, label in enumerate(labels) if label in ("a", "b")]
    if len(decided) < MIN_LABELS:
        raise CurationError(
            f"too few labelled pairs to calibrate: {len(decided)} decided by people "
            f"(a or b), at least {MIN_LABELS} needed"
        )
    return decided


def fit(
    rows: list[dict[str, Any]], labels: list[str | None], cfg: JudgeConfig, judge_model: str
) -> Calibration:
    """Fit on the pairs people decided; refuse (one line) with too few of them."""
    from curation.judge.report import calibration_report

    decided = enough_labels(labels)
    measured = feature_names(rows, cfg)
    x_all = np.array([feature_vector(rows[i], measured) for i in decided])
    y = np.array([1 if labels[i] == "a" else 0 for i in decided])
    keep, best_c = _select(x_all, y)
    names = [measured[k] for k in keep]
    x = x_all[:, keep]
    held_out = _held_out(x, y, best_c)
    coefficients = _fit(x, y, best_c)
    raw = [rule.rule_p(rows[i], cfg) for i in decided]
    report = calibration_report(
        human=[labels[i] for i in decided],
        raw=raw,
        calibrated=list(held_out),
        log_length_ratio=[rule._value(rows[i], "log_length_ratio") for i in decided],
        tie_band=cfg.tie_band,
    )
    report.update(C=best_c, folds=FOLDS, n_labels=len(labels), n_decided=len(decided))
    report["features_measured"] = measured
    report["coefficients"] = dict(zip(names, (round(c, 4) for c in coefficients), strict=True))
    return Calibration(
        features=names,
        coefficients=[float(c) for c in coefficients],
        signals=[s for s in cfg.signals if SIGNAL_FEATURES[s] in names],  # only what it uses
        embedding_model=cfg.embedding_model,
        judge_model=judge_model,
        report=report,
    )


def _symmetric(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pair as given and swapped (features negated, label flipped)."""
    return np.vstack([x, -x]), np.concatenate([y, 1 - y])


def _model(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, fit_intercept=False, max_iter=1000)


def _scale(x: np.ndarray) -> np.ndarray:
    """Per-feature root mean square, so one C suits features of any unit."""
    rms = np.sqrt((x**2).mean(axis=0))
    return np.where(rms > 0, rms, 1.0)


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    scale = _scale(x)
    model = _model(c).fit(*_symmetric(x / scale, y))
    return model.coef_[0] / scale


def _folds(n: int) -> list[np.ndarray]:
    """Test indices of each fold: pairs dealt in turn, so folds do not depend on chance."""
    return [np.arange(n)[k::FOLDS] for k in range(FOLDS)]


def _held_out(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    """Cross-validated p(a better) of every pair, from a model that never saw it."""
    p = np.zeros(len(y))
    for test in _folds(len(y)):
        train = np.setdiff1d(np.arange(len(y)), test)
        coefficients = _fit(x[train], y[train], c)
        p[test] = 1 / (1 + np.exp(-(x[test] @ coefficients)))
    return p


def _choose_c(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The regularisation with the best held-out log-loss, and that loss."""
    best, best_loss = C_GRID[0], math.inf
    for c in C_GRID:
        p = np.clip(_held_out(x, y, c), 1e-6, 1 - 1e-6)
        loss = -float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        if loss < best_loss - 1e-9:
            best, best_loss = c, loss
    return best, best_loss


def _accuracy(x: np.ndarray, y: np.ndarray, c: float) -> float:
    return float(np.mean((_held_out(x, y, c) > 0.5) == (y == 1)))


def _select(x: np.ndarray, y: np.ndarray) -> tuple[list[int], float]:
    """Features kept (indexes) and C: forward selection by held-out log-loss from length.

    Starting from the length rule's feature, a signal is added only while it lowers the
    held-out log-loss; a signal that is noise for these reviewers stays out, so the result
    is at least as good as the length rule on held-out pairs, or is the length rule.
    """
    keep = [0]  # log_length_ratio
    c, loss = _choose_c(x[:, keep], y)
    while len(keep) < x.shape[1]:
        trials = {k: _choose_c(x[:, [*keep, k]], y) for k in range(x.shape[1]) if k not in keep}
        k, (trial_c, trial_loss) = min(trials.items(), key=lambda item: item[1][1])
        if trial_loss >= loss - 1e-4:
            break
        keep, c, loss = [*keep, k], trial_c, trial_loss
    baseline_c, _ = _choose_c(x[:, [0]], y)
    if _accuracy(x[:, keep], y, c) < _accuracy(x[:, [0]], y, baseline_c):
        return [0], baseline_c
    return keep, c
