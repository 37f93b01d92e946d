"""Waiting on what a user would see, not on the clock.

Tests poll a condition they can observe (a row in the index, a line in a
log, a port that answers) until it holds or a deadline passes, and fail with
what they last saw; never ``sleep(1.0)  # long enough``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    probe: Callable[[], T], timeout: float = 10.0, what: str = "", interval: float = 0.05
) -> T:
    """The first truthy value of ``probe()``; AssertionError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"gave up after {timeout:g}s waiting for {what or probe}: {value!r}"
            )
        time.sleep(interval)
