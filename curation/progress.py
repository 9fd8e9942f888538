"""One look for every long step's progress bar (rich), silent when there is no console."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


def progress_bar(
    console: Console | None, *, elapsed: bool = False, quiet: bool = False
) -> Progress:
    """Description, bar, done/total and time left (or elapsed, where no rate is known)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn() if elapsed else TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=console is None or quiet,
    )
