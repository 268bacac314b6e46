"""Small helpers shared by the CLI commands."""

from __future__ import annotations

import sys


def print_line(text: str) -> None:
    """Print one line, surviving terminals that cannot encode Korean."""
    try:
        print(text)
    except UnicodeEncodeError:
        sys.stdout.buffer.write(text.encode("utf-8", "replace") + b"\n")
