"""One error hierarchy for everything fnrag raises on purpose.

Every message says what went wrong *and what to do next*; the CLI prints
``str(error)`` as a single line and exits with status 2.
"""

from __future__ import annotations


class FnragError(Exception):
    """Base class of every error fnrag raises deliberately."""


class InputError(FnragError):
    """The caller gave something unusable: an empty question, a bad option."""


class NoTextInForceError(InputError):
    """The index holds versioned law text, but none of it in force on the date asked.

    ``day`` is the date asked about and ``earliest`` the oldest 시행일자 held (ISO)."""

    def __init__(self, message: str, day: str = "", earliest: str = "") -> None:
        super().__init__(message)
        self.day = day
        self.earliest = earliest


class IngestError(FnragError):
    """A source file could not be read or yields no text (names the file)."""


class IndexNotFoundError(FnragError):
    """No index at the given location."""


class IndexFormatError(FnragError):
    """The index is corrupt, tampered with, truncated or of an unknown format."""


class EmbedderMismatchError(IndexFormatError):
    """The index was built with a different embedder than the one requested."""


class MissingExtraError(FnragError, ImportError):
    """An optional dependency is missing; the message names the pip extra."""


class GenerationError(FnragError):
    """A generator backend failed (server unreachable, model missing, …)."""


def missing_extra(package: str, extra: str) -> MissingExtraError:
    """Build the error raised when an optional dependency is not installed."""
    return MissingExtraError(
        f"{package} is not installed; install it with: pip install 'fnrag[{extra}]'"
    )


def missing_dependency(package: str) -> MissingExtraError:
    """The error raised when one of fnrag's own (non-optional) dependencies is missing."""
    return MissingExtraError(
        f"{package} is not installed, but fnrag needs it (it is not an optional extra); "
        "reinstall fnrag with its dependencies: pip install fnrag (or pip install -e . in a checkout)"
    )
