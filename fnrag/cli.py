"""The ``fnrag`` command line: one subcommand per module in ``fnrag.commands``.

Every deliberate failure (a ``FnragError``) becomes one clean line on stderr and
exit status 2; a reader that closes the pipe early (``fnrag … | head``) ends the
command quietly with status 141; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from fnrag import __version__
from fnrag.errors import FnragError

# Each module defines ``register(subparsers)`` which adds its parser and sets
# ``func`` (taking the parsed args, returning an exit status).
COMMAND_MODULES = ("build_index", "search", "ask", "chat", "eval", "diff", "serve", "keys")
# What a shell reports for a writer that SIGPIPE ended (128 + 13).
SIGPIPE_STATUS = 141


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
    # `fnrag search … | head`: the reader may leave before we are done writing. That
    # is the reader's choice, not an error: stop quietly with the shell's SIGPIPE
    # status (128 + 13) instead of a BrokenPipeError traceback.
    try:
        try:
            status = _run(argv)
        except SystemExit:
            sys.stdout.flush()  # --help/--version: their text is still buffered here
            raise
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        if not _stdout_closed_by_reader():
            raise  # a pipe or socket of our own broke: a bug, keep its traceback
        _discard_stdout()
        return SIGPIPE_STATUS


def _stdout_closed_by_reader() -> bool:
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):
        return True  # no poll() here (Windows) or no descriptor: trust the error
    # A pipe whose reader has gone reports POLLERR on the writing end.
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in events)


def _discard_stdout() -> None:
    # Python flushes stdout once more at exit: point the descriptor at /dev/null so
    # that last flush cannot raise (the recipe in the ``signal`` module's docs).
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a file descriptor (an embedding caller's stream)
    finally:
        os.close(devnull)


def _run(argv: Sequence[str] | None) -> int:
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
