"""`curate judge eval` and `curate judge calibrate`: run the configured judge on pairs.

Both read every input and check the judge's server before any work, and write nothing
until the judging is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curation.errors import CurationError
from curation.judge.calibration import Calibration, enough_labels, fit
from curation.judge.pairs import read_pairs, write_predictions
from curation.judge.report import eval_report
from curation.judge.verdict import rule_p, verdict
from curation.progress import progress_bar
from curation.runs import write_json

if TYPE_CHECKING:
    from rich.console import Console

    from curation.config import Config, JudgeConfig


@dataclass
class Judge:
    """The configured judge, with the signals its calibration (if any) needs."""

    cfg: JudgeConfig
    calibration: Calibration | None
    llm: Any
    panel: list[Any]

    @property
    def model(self) -> str:
        return self.cfg.model

    def signals(self, pairs: list[tuple[str, str, str]], console: Console | None) -> list[dict]:
        from curation.judge import signals as judge_signals  # torch, distilabel: on demand

        with progress_bar(console) as bar:
            task = bar.add_task("judging pairs", total=len(pairs))
            return judge_signals.compute(
                pairs,
                self.cfg,
                self.llm,
                panel=self.panel,
                advance=lambda done: bar.advance(task, done),
            )

    def p(self, row: dict[str, Any]) -> float:
        return self.calibration.p(row) if self.calibration else rule_p(row, self.cfg)


def load_judge(config: Config, calibration: Path | None = None) -> Judge:
    """The judge of the config; a calibration (argument, else config) fixes its signals."""
    from curation.llm.backends import build_llm

    cfg = config.generation.judge
    path = calibration or cfg.calibration
    cal = Calibration.load(path) if path else None
    if cal is not None:
        cfg = cfg.model_copy(
            update={"signals": cal.signals, "embedding_model": cal.embedding_model}
        )
    needs_llm = bool({"pairwise", "rating"} & set(cfg.signals))
    llm = build_llm(cfg, config.llm) if needs_llm else None
    panel = [build_llm(member, config.llm) for member in cfg.panel]
    for model in [llm, *panel]:
        if model is not None:
            model.load()
    return Judge(cfg, cal, llm, panel)


def generator_models(config: Config) -> list[str]:
    gen = config.generation
    return [gen.instruction_llm.model, *(g.model for g in gen.generators)]


def evaluate(
    config: Config,
    pairs_path: Path,
    output: Path,
    calibration: Path | None,
    console: Console | None,
) -> dict[str, Any]:
    """Judge every pair, write PRED.jsonl (+ PRED.report.json), return the report."""
    rows = read_pairs(pairs_path)
    judge = load_judge(config, calibration)
    found = judge.signals(
        [(r["instruction"], r["response_a"], r["response_b"]) for r in rows], console
    )
    predictions, verdicts = [], []
    for row, signals in zip(rows, found, strict=True):
        p = judge.p(signals)
        same = row["response_a"] == row["response_b"]
        verdicts.append(verdict(p, judge.cfg.tie_band, same_text=same))
        extra = {"p_a_raw": rule_p(signals, judge.cfg)} if judge.calibration else {}
        predictions.append(
            {"id": row["id"], "preferred": verdicts[-1], "p_a": p, **extra, **signals}
        )
    report = eval_report(
        found,
        verdicts,
        [row["preferred"] for row in rows],
        judge_model=judge.model,
        generator_models=generator_models(config),
        calibrated=judge.calibration is not None,
    )
    write_predictions(output, predictions)
    write_json(report, report_path(output), mode=0o600)
    return report


def report_path(output: Path) -> Path:
    return output.with_name(output.stem + ".report.json")


def calibrate(
    config: Config,
    output: Path,
    *,
    pairs_path: Path | None,
    dataset: str | None,
    workspace: str | None,
    console: Console | None,
) -> Calibration:
    """Fit a calibration on labelled pairs or on a reviewed preference dataset."""
    if (pairs_path is None) == (dataset is None):
        raise CurationError("give exactly one of --pairs FILE.jsonl or --dataset NAME")
    rows = read_pairs(pairs_path) if pairs_path else reviewed_pairs(config, dataset, workspace)
    labels = [row["preferred"] for row in rows]
    if not any(label is not None for label in labels):
        where = pairs_path or f"dataset {dataset!r}"
        raise CurationError(f"{where}: no pair has a `preferred` label from people")
    enough_labels(labels)
    judge = load_judge(config)
    found = judge.signals(
        [(r["instruction"], r["response_a"], r["response_b"]) for r in rows], console
    )
    calibration = fit(found, labels, judge.cfg, judge.model)
    calibration.save(output)
    return calibration


def reviewed_pairs(config: Config, dataset: str, workspace: str | None) -> list[dict[str, Any]]:
    """The records of a preference dataset with the people's majority where they decided."""
    from curation.review.connection import connect
    from curation.review.pull import pull
    from curation.review.records import decisions

    pulled = pull(connect(config), dataset, workspace)
    if pulled.template != "preference":
        raise CurationError(f"dataset {dataset!r} is not a preference dataset from `curate push`")
    frame = decisions(pulled)
    if frame.empty:
        raise CurationError(f"dataset {dataset!r} has no records")
    return [
        {
            "id": str(row["record_id"]),
            "instruction": row["instruction"],
            "response_a": row["response_a"],
            "response_b": row["response_b"],
            "preferred": row["human_outcome"] if row["human_decided"] else None,
        }
        for _, row in frame.iterrows()
    ]
