"""The agreement result as typed, frozen models: the agreement JSON of the architecture
contract (`curate agreement --format json`, `agreement/<dataset>.json`).

Field names and their order are the JSON's keys; `to_json` writes the contract and
`Agreement.from_json` reads it back (the dashboard and the dataset card read saved files).
A few keys appear only in some results (`within_one` for ratings, the blind-slice keys when
the responses carry a `blind` column, `ci95` once intervals were drawn): a field listed in
`_omit_unset` is written only when it was given, so a result reads back to the same JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer

from curation.errors import CurationError

Interval = list[float]  # [low, high] of a percentile 95% bootstrap interval
Intervals = dict[str, Interval | None]  # figure name -> its interval (None: undefined)


class Result(BaseModel):
    """Frozen, tolerant of keys a later version adds, and silent about unset optional keys."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    _omit_unset: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        for name in self._omit_unset:
            if name not in self.model_fields_set:
                data.pop(name, None)
        return data


class Figures(Result):
    """A block of figures with their 95% intervals: each subclass declares `ci95` (by
    figure name) as its last field, where the JSON has it."""

    if TYPE_CHECKING:
        ci95: Intervals

    def figure(self, name: str) -> tuple[float | None, Interval | None]:
        """A figure of this block by name, and its interval (None where there is none)."""
        return getattr(self, name), self.ci95.get(name)


class HumanHuman(Figures):
    """Reviewers among themselves; all null for questions without a categorical value."""

    krippendorff_alpha: float | None = None
    alpha_level: str | None = None
    fleiss_kappa: float | None = None
    percent_agreement: float | None = None
    n_records_multi: int = 0  # records with >= 2 responses
    ci95: Intervals = {}
    _omit_unset = ("ci95",)


class Preference(Figures):
    """a/b/tie questions: agreement with and without ties (as in MT-Bench)."""

    n_pairs_with_ties: int
    agreement_with_ties: float | None
    n_pairs_without_ties: int
    agreement_without_ties: float | None
    ci95: Intervals = {}
    _omit_unset = ("ci95",)


class ConfusionMatrix(Result):
    rows: str = "ai"
    columns: str = "human"
    labels: list[Any]  # the question's values; multi-label sets and rankings as lists
    counts: list[list[int]]  # counts[ai][human]


class AIHuman(Figures):
    """Every submitted response paired with the AI suggestion for its record."""

    n_pairs: int = 0
    exact_agreement: float | None = None
    cohen_kappa: float | None = None
    cohen_kappa_quadratic: float | None = None
    spearman: float | None = None
    cohen_kappa_linear: float | None = None
    within_one: float | None = None
    preference: Preference | None = None
    confusion_matrix: ConfusionMatrix | None = None
    ci95: Intervals = {}
    _omit_unset = ("ci95",)


class VsConsensus(Result):
    """One reviewer against the others' strict-majority value."""

    n_records: int
    exact_agreement: float | None
    within_one: float | None = None  # ratings only
    _omit_unset = ("within_one",)


class VsAI(Result):
    """One reviewer against the AI suggestion."""

    n_pairs: int
    exact_agreement: float | None
    cohen_kappa: float | None
    within_one: float | None = None  # ratings only
    _omit_unset = ("within_one",)


class AnnotatorAgreement(Result):
    n_responses: int
    vs_consensus: VsConsensus
    vs_ai: VsAI


class Anchoring(Result):
    """Suggested minus blind exact agreement: how far showing the AI's answer pulls people."""

    effect: float | None
    ci95: Interval | None
    exact_agreement_suggested: float | None
    exact_agreement_blind: float | None
    n_pairs_suggested: int
    n_pairs_blind: int


class QuestionAgreement(Result):
    type: str
    n_records: int
    n_annotators: int
    n_responses: int
    human_human: HumanHuman
    ai_human: AIHuman
    annotators: dict[str, AnnotatorAgreement] = {}
    # with the blind control slice (`review.blind`) only
    ai_human_blind: AIHuman | None = None
    ai_human_suggested: AIHuman | None = None
    anchoring: Anchoring | None = None
    _omit_unset = ("ai_human_blind", "ai_human_suggested", "anchoring")


class Bootstrap(Result):
    resamples: int
    seed: int
    confidence: float = 0.95


class Agreement(Result):
    """One dataset's agreement, per question."""

    dataset: str
    questions: dict[str, QuestionAgreement]
    bootstrap: Bootstrap | None = None
    _omit_unset = ("bootstrap",)

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON object (plain dicts, lists, numbers, strings, null)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Any, where: str = "agreement") -> Agreement:
        """A saved agreement JSON object; a malformed one is a one-line error naming `where`."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            place = ".".join(map(str, first["loc"])) or "top level"
            raise CurationError(f"{where}: {place}: {first['msg']}") from None
