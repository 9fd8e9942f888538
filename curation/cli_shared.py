"""What every `curate` sub-command shares: the consoles and the common options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from curation.errors import CurationError

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="YAML config file.", show_default=False)
]
RunOption = Annotated[
    Optional[str], typer.Option("--run", help="Run directory (path or run id).", show_default=False)
]
HomeOption = Annotated[
    Optional[Path], typer.Option("--home", help="Server home directory.", show_default=False)
]


def _check_port(port: int | None) -> int | None:
    if port is not None and not 1 <= port <= 65535:
        raise CurationError(f"--port must be from 1 to 65535, not {port}")
    return port


PortOption = Annotated[
    Optional[int],
    typer.Option("--port", help="Port on 127.0.0.1.", show_default=False, callback=_check_port),
]
WorkspaceOption = Annotated[
    Optional[str], typer.Option("--workspace", help="Argilla workspace.", show_default=False)
]
