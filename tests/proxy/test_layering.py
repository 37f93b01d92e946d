"""Connections are handed a ``ConnectionContext``, not the proxy: nothing a
connection runs imports the service, and the proxy's modules import in one
direction (no cycle hidden behind ``TYPE_CHECKING``)."""

from __future__ import annotations

import grimp
import pytest

CONNECTION_MODULES = (
    "connection",
    "inner",
    "outer",
    "one_hop",
    "bridge",
    "forwards",
    "connection_context",
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("auditor")


@pytest.mark.parametrize("name", CONNECTION_MODULES)
def test_what_a_connection_runs_never_imports_the_service(
    graph: grimp.ImportGraph, name: str
) -> None:
    chain = graph.find_shortest_chain(f"auditor.proxy.{name}", "auditor.proxy.service")
    assert chain is None, " -> ".join(chain or ())


def test_the_proxy_modules_import_no_cycle(graph: grimp.ImportGraph) -> None:
    proxy = sorted(m for m in graph.modules if m.startswith("auditor.proxy."))
    cycles = [
        (module, chain)
        for module in proxy
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith("auditor.proxy.")
        and (chain := graph.find_shortest_chain(imported, module)) is not None
    ]
    assert cycles == []
