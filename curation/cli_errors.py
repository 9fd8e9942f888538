"""How a failed `curate` command ends: one line on stderr, never a traceback by default."""

from __future__ import annotations

import sys

import typer
from rich.text import Text
from typer._click import exceptions as click  # typer 0.29 vendors click; not re-exported

from curation.cli_shared import err_console
from curation.errors import CurationError


def run_app(app: typer.Typer) -> None:
    """Run the CLI: every failure becomes one line on stderr, exit 1 (2 for usage errors).

    The one place exceptions end: user errors (`CurationError`) as they are, anything
    else through `curation.redact` (secrets masked, a traceback only with --debug, never
    frame locals).
    """
    from curation.redact import redact, report_unexpected

    try:
        # Not standalone: click's usage errors reach us instead of Typer's boxed usage text.
        code = app(standalone_mode=False)
    except click.UsageError as error:
        _fail(redact(_usage_line(error)), code=error.exit_code)  # values echo back
    except click.ClickException as error:
        _fail(redact(" ".join(error.format_message().split())))
    except typer.Abort:  # end of input at a prompt
        _fail("aborted")
    except CurationError as error:
        _fail(redact(" ".join(str(error).split())))
    except SystemExit as exit_:
        if _caused_by_ctrl_c(exit_):
            _say_interrupted()
        raise
    except Exception as error:
        _fail(report_unexpected(error))
    code = code if isinstance(code, int) else 0  # a command's typer.Exit(code); 130 is Ctrl-C
    if code == 130:
        _say_interrupted()
    sys.exit(code)  # always exit, as click's standalone mode does


def _usage_line(error: click.UsageError) -> str:
    """`--port abc` and the like in one line, with where to read the usage."""
    message = " ".join(error.format_message().split())
    if error.ctx is None:
        return message
    return f"{message} (see: {error.ctx.command_path} --help)"


def _say_interrupted() -> None:
    err_console.print("interrupted; rerun the same command to resume")


def _fail(message: str, code: int = 1) -> None:
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    sys.exit(code)


def _caused_by_ctrl_c(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__cause__ or error.__context__
    return False
