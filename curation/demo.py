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

from rich.console import Console
from rich.table import Table

from curation.config import Config, load_config
from curation.runs import RunDir

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


def generate_data(ctx: DemoContext) -> str:
    """Instructions and judged preference pairs from the local LLM (distilabel)."""
    from curation.generate.stage import generate

    return generate(ctx.config, ctx.run, num_instructions=ctx.num_instructions).line()


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


def select_diverse(ctx: DemoContext) -> str:
    from curation.selection.stage import run_stage

    return run_stage(ctx.run, ctx.config.selection)


def review_push(ctx: DemoContext) -> str:
    from curation.review.demo_steps import push_step

    return push_step(ctx)


def review_simulated(ctx: DemoContext) -> str:
    from curation.review.demo_steps import simulate_step

    return simulate_step(ctx)


def review_pull(ctx: DemoContext) -> str:
    from curation.review.demo_steps import pull_step

    return pull_step(ctx)


def export_local(ctx: DemoContext) -> str:
    from curation.export.command import demo_step

    return demo_step(ctx)


# The steps run in this order; each returns a one-line result for the summary. The
# dashboard stays last: it shows what the steps before it wrote.
STEPS: list[tuple[str, Callable[[DemoContext], str]]] = [
    ("local LLM", start_llm),
    ("generate (distilabel)", generate_data),
    ("Argilla", start_argilla),
    ("select: Deita diversity filter", select_diverse),
    ("review: push to Argilla", review_push),
    ("review: SIMULATED reviewers (demo only)", review_simulated),
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
