"""User-facing errors: the CLI prints these as one line and exits non-zero, no traceback."""


class CurationError(Exception):
    """A problem the user can fix (bad input, missing server, bad config)."""


class StageSkipped(Exception):
    """Raised by a stage's `run` when there is nothing to do; the message says why.

    The run records the stage as `skipped` with that reason; the command exits 0.
    """
