"""Replay tests that record real sessions through the proxy use its fixtures."""

from tests.proxy.conftest import setup, start_proxy  # noqa: F401
