"""The ``fnrag`` command line: one subcommand per module in ``fnrag.commands``.

Every deliberate failure (a ``FnragError``) becomes one clean line on stderr and
exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fnrag import __version__
from fnrag.errors import FnragError

# Each module defines ``register(subparsers)`` which adds its parser and sets
# ``func`` (taking the parsed args, returning an exit status).
COMMAND_MODULES = ("build_index", "search", "ask", "eval")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fnrag",
        description="Cited answers about 금융실명제 from a hybrid FAISS + Kiwi-BM25 index.",
    )
    parser.add_argument("--version", action="version", version=f"fnrag {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"fnrag.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FnragError as error:
        print(f"fnrag: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fnrag: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
