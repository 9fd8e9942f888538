"""The two Argilla dataset templates, `instruction` and `preference` (names are a contract).

A template is what reviewers see: fields, questions, guidelines, metadata to sort and
filter on, a vector for "find similar", and the overlap (`min_submitted`) that gives every
record several reviews, so human-human agreement can be measured. The AI judge's values
go in as suggestions (see `push`), never as answers.

Judge-derived metadata is hidden from annotators (owners and admins see it): showing
reviewers the AI's scores next to its suggestion would pull them further towards it.
`priority` stays visible, so reviewers can sort on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from curation.errors import CurationError

if TYPE_CHECKING:
    import argilla as rg

Template = Literal["instruction", "preference"]
TEMPLATES: tuple[Template, ...] = ("instruction", "preference")
VECTOR = "instruction_embedding"
RATING_VALUES = [1, 2, 3, 4, 5]

FIELDS: dict[Template, tuple[str, ...]] = {
    "instruction": ("instruction", "response"),
    "preference": ("instruction", "response_a", "response_b"),
}
FIELD_TITLES = {
    "instruction": "Instruction",
    "response": "Response",
    "response_a": "Response A",
    "response_b": "Response B",
}
# The question whose majority decides a record (consensus.decide).
DECIDING_QUESTION: dict[Template, str] = {"instruction": "verdict", "preference": "preferred"}
QUESTIONS: dict[Template, dict[str, str]] = {
    "instruction": {
        "quality": "rating",
        "verdict": "label_selection",
        "corrected_response": "text",
    },
    "preference": {
        "preferred": "label_selection",
        "rating_a": "rating",
        "rating_b": "rating",
        "rationale": "text",
    },
}


@dataclass(frozen=True)
class Meta:
    """One metadata property: its Argilla type, the title reviewers see, who sees it."""

    kind: Literal["float", "integer", "terms"]
    title: str
    visible: bool = False


_COMMON_META: dict[str, Meta] = {
    "priority": Meta("float", "Review priority (higher: review first)", visible=True),
    "source": Meta("terms", "How the instruction was made", visible=True),
    "complexity": Meta("float", "Deita complexity (AI)"),
    # not `quality`: a metadata property may not share a question's name
    "deita_quality": Meta("float", "Deita quality of the chosen response (AI)"),
    "deita_score": Meta("float", "Deita score = complexity x quality (AI)"),
    "judge_uncertainty": Meta("float", "Judge uncertainty (AI; higher: less sure)"),
    "selection_rank": Meta("integer", "Rank in the diversity selection"),
    "nn_similarity": Meta("float", "Similarity to the nearest kept instruction"),
    "judge_model": Meta("terms", "Judge model"),
    "score_band": Meta("terms", "Deita score band (set by curate route)"),
    "approved_by": Meta("terms", "Approved without review (set by curate route)"),
    "audit": Meta("terms", "Audit of auto-approval (set by curate route)"),
    # `curate hygiene` flags: reviewers filter on them (export refuses such rows unless told)
    "pii_kinds": Meta("terms", "Personal data or secrets found (curate hygiene)", visible=True),
    "contaminated_by": Meta("terms", "Benchmarks this row overlaps (curate hygiene)", visible=True),
    # review/blind.py and review/gold.py: never shown to annotators
    "blind": Meta("terms", "Blind control slice: pushed without AI suggestions (yes/no)"),
    "gold": Meta("terms", "Gold item with a known answer (yes)"),
    "gold_answer": Meta("terms", "Expected answer of a gold item"),
}
METADATA: dict[Template, dict[str, Meta]] = {
    "instruction": {
        **_COMMON_META,
        "judge_rating": Meta("float", "Judge rating of the response (AI)"),
        "response_length": Meta("integer", "Response length (characters)", visible=True),
        "model": Meta("terms", "Model that wrote the response"),
        "withheld_quality": Meta("integer", "AI quality rating withheld (blind slice)"),
    },
    "preference": {
        **_COMMON_META,
        "judge_rating_a": Meta("float", "Judge rating of response A (AI)"),
        "judge_rating_b": Meta("float", "Judge rating of response B (AI)"),
        "margin": Meta("float", "Judge rating margin, chosen - rejected (AI)"),
        "judge_disagreement": Meta("float", "Quality judge prefers the other response (AI)"),
        "ai_chosen_side": Meta("terms", "Side holding the AI's chosen response (a or b)"),
        "length_a": Meta("integer", "Response A length (characters)", visible=True),
        "length_b": Meta("integer", "Response B length (characters)", visible=True),
        "model_a": Meta("terms", "Model that wrote response A"),
        "model_b": Meta("terms", "Model that wrote response B"),
        "withheld_preferred": Meta("terms", "AI preference withheld (blind slice)"),
        "withheld_rating_a": Meta("integer", "AI rating of A withheld (blind slice)"),
        "withheld_rating_b": Meta("integer", "AI rating of B withheld (blind slice)"),
    },
}

_COMMON_GUIDE = """
## How this dataset works
- Each record is reviewed by at least **{min_submitted}** people; your review counts only once
  you **Submit** it. *Save as draft* keeps your work but does not count; *Discard* means
  "I cannot judge this record" and does not count either.
- Answers may come **pre-filled by the AI judge** (a suggestion). They are the AI's
  opinion, not the answer: change anything you disagree with. Your answer, not the AI's,
  decides what is kept.
- **Which records first:** sort by the metadata **priority** (descending). High priority
  means the AI was unsure, its judges disagreed, or people often overruled it on similar
  records, so your review matters most there.
- **Find similar** (the instruction embedding) shows records with a similar instruction:
  useful to review near-duplicates consistently.
"""

GUIDELINES: dict[Template, str] = {
    "instruction": """# Review an instruction and its response

You see an **instruction** (what a user asked) and a **response** (what a model answered).

## Questions
- **quality** (1-5): how good is the response for this instruction?
  1 = wrong, harmful or off-topic; 2 = major errors or missing the point; 3 = acceptable
  but flawed; 4 = good, minor issues; 5 = excellent: correct, complete, clear and concise.
- **verdict**: should this pair go into the training data?
  - **keep**: use it as it is.
  - **fix**: worth keeping once corrected. **Write the corrected response** in
    *corrected_response*: a `fix` without a correction cannot be used.
  - **drop**: not worth fixing (a bad or unsafe instruction, or a response beyond repair).
- **corrected_response** (optional): only with `fix`; the full response as it should be.

A record is approved when most reviewers say **keep**, or most say **fix** and wrote a
correction (the correction is exported instead of the original).
"""
    + _COMMON_GUIDE,
    "preference": """# Compare two responses to the same instruction

You see an **instruction** and two responses, **A** and **B**. Their order is random for
every record: the left one is not "the AI's choice".

## How to compare
Read the instruction first and ask what a careful expert would answer. Then judge, in this
order: **correctness** (facts, reasoning, code that runs), **helpfulness** (does it do what
was asked, fully), **clarity** (well organised, no padding), **safety**. Length is not
quality: a short correct answer beats a long one with an error.

## Questions
- **preferred**: which response is better: **a**, **b**, or **tie**. Use **tie** only
  when neither is better (both equally good, or equally bad); if one is even slightly
  better, pick it.
- **rating_a**, **rating_b** (1-5): how good each response is on its own (1 = wrong or
  harmful, 3 = acceptable but flawed, 5 = excellent).
- **rationale** (optional): one sentence on why, especially when you disagree with the AI.

A pair is approved when most reviewers prefer the same side; that side becomes `chosen`
in the exported data, even where the AI judge preferred the other one.
"""
    + _COMMON_GUIDE,
}


def check_template(name: str) -> Template:
    """The template named `name`; a one-line error for anything else."""
    if name not in TEMPLATES:
        raise CurationError(f"unknown template {name!r}: use instruction or preference")
    return name  # type: ignore[return-value]


def settings(
    client: rg.Argilla, template: Template, min_submitted: int, vector_dims: int | None
) -> rg.Settings:
    """The Argilla settings of a template (`vector_dims` None: no vector field)."""
    import argilla as rg

    c = {"client": client}  # the SDK would otherwise use its last-created client
    fields = text_fields(client, FIELDS[template], FIELD_TITLES)
    if template == "instruction":
        questions = [
            _rating(client, "quality", "How good is the response (1 = wrong, 5 = excellent)?"),
            rg.LabelQuestion(
                **c,
                name="verdict",
                title="Keep, fix or drop this pair?",
                labels={"keep": "keep", "fix": "fix", "drop": "drop"},
                required=True,
            ),
            corrected_response_question(client),
        ]
    else:
        questions = [
            rg.LabelQuestion(
                **c,
                name="preferred",
                title="Which response is better?",
                labels={"a": "a", "b": "b", "tie": "tie"},
                required=True,
            ),
            _rating(client, "rating_a", "How good is response A (1-5)?"),
            _rating(client, "rating_b", "How good is response B (1-5)?"),
            rg.TextQuestion(**c, name="rationale", title="Why (optional)", required=False),
        ]
    vectors = (
        [
            rg.VectorField(
                name=VECTOR, title="Similar instructions", dimensions=vector_dims, _client=client
            )
        ]
        if vector_dims
        else []
    )
    return rg.Settings(
        guidelines=GUIDELINES[template].format(min_submitted=min_submitted),
        fields=fields,
        questions=questions,
        metadata=[
            metadata_property(client, name, meta) for name, meta in METADATA[template].items()
        ],
        vectors=vectors,
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
        allow_extra_metadata=False,
    )


def text_fields(
    client: rg.Argilla, names: tuple[str, ...], titles: dict[str, str]
) -> list[rg.TextField]:
    """Markdown text fields, in order, with their titles."""
    import argilla as rg

    return [
        rg.TextField(client=client, name=name, title=titles[name], use_markdown=True)
        for name in names
    ]


def corrected_response_question(client: rg.Argilla) -> rg.TextQuestion:
    """Where a reviewer (or an adjudicator) writes the corrected response of a `fix`."""
    import argilla as rg

    return rg.TextQuestion(
        client=client,
        name="corrected_response",
        title="With fix: the corrected response",
        required=False,
        use_markdown=True,
    )


def _rating(client: rg.Argilla, name: str, title: str) -> rg.RatingQuestion:
    import argilla as rg

    return rg.RatingQuestion(
        client=client, name=name, title=title, values=RATING_VALUES, required=False
    )


def metadata_property(client: rg.Argilla, name: str, meta: Meta) -> rg.MetadataType:
    import argilla as rg

    kinds = {
        "float": rg.FloatMetadataProperty,
        "integer": rg.IntegerMetadataProperty,
        "terms": rg.TermsMetadataProperty,
    }
    return kinds[meta.kind](
        name=name, title=meta.title, visible_for_annotators=meta.visible, client=client
    )


def metadata_kind(prop: rg.MetadataType) -> str:
    """`float`, `integer` or `terms` (the SDK's property classes do not expose their type)."""
    import argilla as rg

    kinds = {
        rg.FloatMetadataProperty: "float",
        rg.IntegerMetadataProperty: "integer",
        rg.TermsMetadataProperty: "terms",
    }
    return kinds.get(type(prop), type(prop).__name__)


def template_of(dataset: rg.Dataset) -> Template | None:
    """Which template an existing dataset was made with (None: neither)."""
    fields = tuple(field.name for field in dataset.settings.fields)
    questions = {q.name: q.type for q in dataset.settings.questions}
    for template in TEMPLATES:
        if fields == FIELDS[template] and questions == QUESTIONS[template]:
            return template
    return None


def check_existing(dataset: rg.Dataset, template: Template, vector_dims: int | None) -> None:
    """Refuse to write `template` records into a dataset made for something else."""
    found = template_of(dataset)
    where = f"dataset {dataset.name!r} in workspace {dataset.workspace.name!r}"
    if found != template:
        fields = ", ".join(field.name for field in dataset.settings.fields)
        made = f"the {found} template" if found else f"other fields ({fields})"
        raise CurationError(
            f"{where} was made with {made}, not the {template} template: "
            "push to another --dataset name"
        )
    types = {prop.name: metadata_kind(prop) for prop in dataset.settings.metadata}
    for name, meta in METADATA[template].items():
        if name in types and types[name] != meta.kind:
            raise CurationError(
                f"{where}: metadata {name!r} is {types[name]}, the {template} template "
                f"needs {meta.kind}"
            )
    dims = {vector.name: vector.dimensions for vector in dataset.settings.vectors}
    if vector_dims and VECTOR in dims and dims[VECTOR] != vector_dims:
        raise CurationError(
            f"{where}: vector {VECTOR!r} has {dims[VECTOR]} dimensions, the embedding model "
            f"gives {vector_dims}: push with the model the dataset was made with"
        )
