"""Errors a user can cause, as opposed to programming errors.

The CLI turns an ``AuditorError`` into one line on stderr and a non-zero exit;
anything else is a bug and keeps its traceback.
"""


class AuditorError(Exception):
    """A problem the user can fix: bad input, missing setup, refused access."""

    exit_code = 1


class UsageError(AuditorError):
    """A bad flag or argument."""

    exit_code = 2
