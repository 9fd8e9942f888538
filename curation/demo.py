"""`curate demo`: the whole loop on the embedded default, and `curate stop`.

The demo works in the run directory `runs/demo` (so a second `make demo` skips every
stage whose output is current), starts the background services it needs and leaves
them running, and ends with where to look and a summary table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from curation.config import Config, load_config
from curation.runs import RunDir

if TYPE_CHECKING:
    from curation.stages import Stage

DEMO_RUN = "demo"


@dataclass
class DemoContext:
    """What the demo steps share: config, run directory, and the lines of the summary."""

    config: Config
    run: RunDir
    num_instructions: int
    console: Console
    links: dict[str, str] = field(default_factory=dict)
    summary: list[tuple[str, str, str]] = field(default_factory=list)

    def report(self, step: str, result: str, seconds: float) -> None:
        self.summary.append((step, result, f"{seconds:.1f}"))


def start_llm(ctx: DemoContext) -> str:
    from curation.llm import server

    started = server.start(ctx.config.llm)
    ctx.links["Local LLM (OpenAI-compatible)"] = server.base_url(ctx.config.llm)
    return "started" if started else "already running"


def start_argilla(ctx: DemoContext) -> str:
    """The embedded Argilla server, unless ARGILLA_API_URL points at another one."""
    from curation.embedded import launcher
    from curation.review.connection import resolve

    argilla = ctx.config.argilla
    if argilla.api_url:
        url, _ = resolve(argilla)
        ctx.links["Argilla (ARGILLA_API_URL)"] = url
        return f"using {url}"
    found, started = launcher.start(argilla.home, default_port=argilla.port)
    ctx.links[
        f"Argilla (sign in as {found.username!r}, password in "
        f"{launcher.credentials_path(argilla.home)}; API key: `curate server env`)"
    ] = found.url
    return "started" if started else "already running"


def start_dashboard(ctx: DemoContext) -> str:
    from curation import dashboard

    started, address = dashboard.start(ctx.config, run=str(ctx.run.path))
    ctx.links["Dashboard"] = address
    return "started" if started else "already running"


def generate_data(ctx: DemoContext) -> str:
    """`curate generate --run`: the instructions and preferences stages."""
    from curation.generate.stage import generate

    return generate(ctx.config, ctx.run, num_instructions=ctx.num_instructions).line()


def hygiene_check(ctx: DemoContext) -> str:
    """`curate hygiene --run`: near-duplicates, benchmark overlap and PII, before selection."""
    from curation.hygiene.stage import HygieneStage

    return run_steps(ctx, [HygieneStage(ctx.config.hygiene)])


def select_diverse(ctx: DemoContext) -> str:
    """`curate select --run`: the select stage."""
    from curation.selection.stage import SelectStage

    return run_steps(ctx, [SelectStage(ctx.config.selection)])


def review_push(ctx: DemoContext) -> str:
    """`curate push --run`: the push stage; the review queues go into the links."""
    from curation.review.stages import PushStage

    stage = PushStage(ctx.config)
    line = run_steps(ctx, [stage])
    for name, result in stage.results.items():
        ctx.links[f"Review {name}, highest priority first"] = result.queue_url
    return line


def review_simulated(ctx: DemoContext) -> str:
    from curation.review.simulate import simulated_review

    return simulated_review(ctx.config, ctx.run)


def review_adjudicate(ctx: DemoContext) -> str:
    """`curate adjudicate --run`: the adjudicate stage; its datasets go into the links."""
    from curation.review.adjudicate import AdjudicateStage

    stage = AdjudicateStage(ctx.config)
    line = run_steps(ctx, [stage])
    for name, result in stage.results.items():
        if result.url:
            ctx.links[f"Adjudicate {name} (adjudicators only)"] = result.url
    return line


def adjudication_simulated(ctx: DemoContext) -> str:
    from curation.review.simulate import simulated_adjudication

    return simulated_adjudication(ctx.config, ctx.run)


def review_pull(ctx: DemoContext) -> str:
    """`curate pull --run`: the pull and agreement stages."""
    from curation.review.stages import pull_stages

    return run_steps(ctx, pull_stages(ctx.config))


def export_local(ctx: DemoContext) -> str:
    """`curate export --run`: the export stage, into `exports/` in the run."""
    from curation.export.stage import ExportStage

    stage = ExportStage(ctx.config)
    line = run_steps(ctx, [stage])
    for result in stage.results:
        ctx.links[f"Export of {result.dataset} ({result.format}, datasets/Parquet + card)"] = (
            result.target
        )
    return line


def run_steps(ctx: DemoContext, stages: list[Stage]) -> str:
    """Run stages as their `curate ... --run` command does; a missing input skips them."""
    from curation.stages import MissingInput, run_stage

    lines = []
    for stage in stages:
        try:
            lines.append(run_stage(ctx.run, stage).line)
        except MissingInput as missing:
            return f"skipped: {missing}"
    return "; ".join(lines)


# The steps run in this order; each returns a one-line result for the summary. Each stage
# step is what its `curate ... --run` command runs; the services and the SIMULATED review
# are the demo's own. The dashboard stays last: it shows what the steps before it wrote.
STEPS: list[tuple[str, Callable[[DemoContext], str]]] = [
    ("local LLM", start_llm),
    ("generate (distilabel)", generate_data),
    ("Argilla", start_argilla),
    ("hygiene: near-duplicates, benchmark overlap, PII", hygiene_check),
    ("select: Deita diversity filter", select_diverse),
    ("review: push to Argilla", review_push),
    ("review: SIMULATED reviewers (demo only)", review_simulated),
    ("review: escalate to adjudication", review_adjudicate),
    ("review: SIMULATED adjudicator (demo only)", adjudication_simulated),
    ("review: pull + agreement", review_pull),
    ("export: approved rows to exports/ (sft, dpo)", export_local),
    ("dashboard", start_dashboard),
]


def run_demo(
    *, num_instructions: int, run: str | None, config_file: Path | None, console: Console
) -> DemoContext:
    config = load_config(config_file)
    ctx = DemoContext(
        config=config,
        run=RunDir.open(run or DEMO_RUN, config.runs_dir),
        num_instructions=num_instructions,
        console=console,
    )
    for name, step in STEPS:
        started = time.monotonic()
        with console.status(f"[bold]{name}[/] …"):
            result = step(ctx)
        ctx.report(name, result, time.monotonic() - started)
        console.print(f"[green]✓[/] {name}: {result}")
    ctx.run.update(demo={"num_instructions": num_instructions, "steps": ctx.summary})
    _print_summary(ctx)
    return ctx


def _print_summary(ctx: DemoContext) -> None:
    table = Table(title=f"curate demo: run {ctx.run.path}")
    table.add_column("step")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    for row in ctx.summary:
        table.add_row(*row)
    ctx.console.print(table)
    for label, url in ctx.links.items():
        ctx.console.print(f"{label}: {url}")
    ctx.console.print(f"Run directory: {ctx.run.path}")
    ctx.console.print("Stop the background services with: curate stop")


def stop_all() -> list[tuple[str, bool]]:
    """Stop every background service under the current home; (name, was running)."""
    from curation import dashboard
    from curation.embedded import launcher
    from curation.llm import server as llm_server

    return [
        ("dashboard", dashboard.stop()),
        ("Argilla", launcher.stop(load_config().argilla.home)),
        ("local LLM", llm_server.stop()),
    ]
