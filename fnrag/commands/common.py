"""Small helpers shared by the CLI commands."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Any


def print_line(text: str) -> None:
    """Print one line, surviving terminals that cannot encode Korean."""
    try:
        print(text)
    except UnicodeEncodeError:
        sys.stdout.buffer.write(text.encode("utf-8", "replace") + b"\n")


def add_as_of(parser: argparse.ArgumentParser) -> None:
    """``--as-of YYYY-MM-DD``: search the law text in force on that date."""
    parser.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        type=_as_of,
        help="answer from the law text in force on this date (default: today; "
        "undated documents such as guides are always searched)",
    )


def _as_of(value: str) -> date:
    from fnrag.errors import InputError
    from fnrag.versions.dates import parse_date

    try:
        return parse_date(value, what="--as-of")
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def version_label(item: Any) -> str:
    """`` (법률 제14242호, 2016. 12. 1. 시행)`` for a versioned hit or citation, else ""."""
    version = getattr(item, "version", None)
    return f" ({version})" if version else ""
