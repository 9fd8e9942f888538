"""The `curate judge` command group (added to `curate` in curation/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from curation.cli_shared import ConfigOption, console, err_console

judge_app = typer.Typer(
    help="Measure the AI judge against people, and calibrate it to your reviewers.",
    no_args_is_help=True,
)


@judge_app.command("eval")
def judge_eval(
    pairs: Annotated[
        Path,
        typer.Option(
            "--pairs",
            help="JSONL: id, instruction, response_a, response_b, optional preferred (a|b|tie).",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", help="JSONL of verdicts to write.")],
    calibration: Annotated[
        Optional[Path], typer.Option("--calibration", help="CAL.json from `judge calibrate`.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Judge pairs; where people labelled them, report agreement, bias and the length rule."""
    from curation.config import load_config
    from curation.judge.commands import evaluate, report_path

    report = evaluate(load_config(config), pairs, output, calibration, err_console)
    print_eval(report)
    console.print(f"wrote {output} and {report_path(output)}", highlight=False)


@judge_app.command("calibrate")
def judge_calibrate(
    output: Annotated[Path, typer.Option("--output", help="CAL.json to write.")],
    pairs: Annotated[
        Optional[Path], typer.Option("--pairs", help="JSONL of pairs labelled by people.")
    ] = None,
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", help="Reviewed Argilla preference dataset.")
    ] = None,
    workspace: Annotated[
        Optional[str], typer.Option("--workspace", help="Argilla workspace.", show_default=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Learn how the judge's signals map to your reviewers' choices (cross-validated)."""
    from curation.config import load_config
    from curation.judge.commands import calibrate

    cal = calibrate(
        load_config(config), output, pairs_path=pairs, dataset=dataset, workspace=workspace,
        console=err_console,
    )  # fmt: skip
    print_calibration(cal.report)
    console.print(f"wrote {output}; use it with generation.judge.calibration", highlight=False)


def _pct(block: dict[str, Any] | None, key: str = "accuracy") -> str:
    if not block or block.get(key) is None:
        return "n/a"
    text = f"{block[key]:.1%}"
    if key == "accuracy" and block.get("ci95"):
        low, high = block["ci95"]
        text += f" ({low:.1%}-{high:.1%})"
    return text


def _agreement_table(title: str, rows: list[tuple[str, dict[str, Any] | None]]) -> Table:
    table = Table(title=title)
    for column in ("judge", "right (ties = misses), 95% CI", "on decided pairs", "ties", "pairs"):
        table.add_column(column)
    for name, block in rows:
        table.add_row(
            name, _pct(block), _pct(block, "decided_accuracy"), _pct(block, "tie_rate"),
            str((block or {}).get("n", 0)),
        )  # fmt: skip
    return table


def print_eval(report: dict[str, Any]) -> None:
    kind = "calibrated" if report["calibrated"] else "fixed rule, uncalibrated"
    console.print(f"{report['n_pairs']} pairs judged by {report['judge_model']} ({kind}); "
                  f"ties {report['tie_rate']:.1%}", highlight=False)  # fmt: skip
    if report["n_labelled"]:
        rows = [("AI judge", report["judge"]), ("length rule (longer wins)", report["length_rule"])]
        rows += [(f"  signal: {name}", block) for name, block in report["signals"].items()]
        console.print(_agreement_table(f"Against people ({report['n_labelled']} pairs)", rows))
    bias = report["bias"]
    length, position = bias["length"], bias["position"]
    console.print(
        "length bias: the judge prefers the longer answer in "
        f"{_pct(length, 'judge_prefers_longer')} of its decided pairs, people in "
        f"{_pct(length, 'people_prefer_longer')}",
        highlight=False,
    )
    console.print(
        f"position consistency (both orders agree): {_pct(position, 'position_consistency')}"
        f" of {position['n']} pairs",
        highlight=False,
    )
    if bias["same_model_warning"]:
        console.print(f"[yellow]warning:[/] {bias['same_model_warning']}", highlight=False)


def print_calibration(report: dict[str, Any]) -> None:
    console.print(
        f"held-out ({report['folds']}-fold cross-validation) on {report['n_decided']} pairs "
        f"people decided (of {report['n_labels']} labelled):", highlight=False,
    )  # fmt: skip
    console.print(_agreement_table("Before and after calibration", [
        ("fixed rule (before)", report["before"]),
        ("calibrated (after)", report["after"]),
        ("length rule (longer wins)", report["length_rule"]),
    ]))  # fmt: skip
    console.print(
        f"calibration error (ECE): before {_pct(report['before'], 'calibration_error')}, "
        f"after {_pct(report['after'], 'calibration_error')}",
        highlight=False,
    )
    weights = ", ".join(f"{name} {value:+.3f}" for name, value in report["coefficients"].items())
    console.print(f"weights: {weights}", highlight=False)
