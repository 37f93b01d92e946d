"""The ``auditor`` command line (DESIGN §2).

``auditor connect`` is the ProxyCommand ssh starts for every connection, so
it is dispatched before anything else is imported (not even argparse); every
other command goes through ``auditor.cli.dispatch``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself is not imported: `auditor connect` starts fast
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["connect"]:
        from auditor.cli.connect import run

        return run(args[1:])
    from auditor.cli.dispatch import run_command

    return run_command(args)


def build_parser() -> Any:
    from auditor.cli.dispatch import build_parser as build

    return build()
