"""Where fnrag is: its version, its bundled sample corpus, its default index and home."""

from __future__ import annotations

import os
from pathlib import Path

# The package version (``fnrag.__version__``); here so stage modules need not import upward.
VERSION = "0.1.0"
REPO_ROOT = Path(__file__).resolve().parent.parent


def sample_corpus_dir() -> Path:
    """The project's own sample practitioner guide (``index/sample``)."""
    return REPO_ROOT / "index" / "sample"


def default_index_dir() -> Path:
    """``$FNRAG_INDEX``, else ``index/default`` in the source tree."""
    configured = os.environ.get("FNRAG_INDEX")
    return Path(configured) if configured else REPO_ROOT / "index" / "default"


def fnrag_home() -> Path:
    """fnrag's cache folder: ``$FNRAG_HOME`` or ``~/.cache/fnrag``."""
    return Path(os.environ.get("FNRAG_HOME") or Path.home() / ".cache" / "fnrag").expanduser()
