"""User-facing errors: the CLI prints these as one line and exits non-zero, no traceback."""


class CurationError(Exception):
    """A problem the user can fix (bad input, missing server, bad config)."""


class NotAvailableYet(CurationError):
    """A command of the CLI contract that is not built yet."""

    def __init__(self, command: str) -> None:
        super().__init__(f"`curate {command}` is not available yet")
