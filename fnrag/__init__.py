"""fnrag: fast, correct, cited answers about 금융실명제 for bank practitioners.

Heavy parts (models, FAISS, Kiwi) load lazily, so ``import fnrag`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fnrag.errors import FnragError
from fnrag.paths import VERSION as __version__
from fnrag.types import Chunk, Document, Hit

__all__ = [
    "Answer",
    "Assistant",
    "Chunk",
    "Citation",
    "Document",
    "FnragError",
    "Hit",
    "__version__",
    "ask",
    "build_index",
    "load_index",
]

# Public names that live in modules with heavy imports: resolved on first use.
_LAZY = {
    "build_index": "fnrag.index",
    "load_index": "fnrag.index",
    "ask": "fnrag.answering.warm",
    "Assistant": "fnrag.answering.assistant",
    "Answer": "fnrag.answering.assistant",
    "Citation": "fnrag.types",
}

if TYPE_CHECKING:
    from fnrag.answering.assistant import Answer, Assistant
    from fnrag.answering.warm import ask
    from fnrag.index.build import build_index
    from fnrag.index.search import load_index
    from fnrag.types import Citation


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fnrag' has no attribute {name!r}")
