"""Chunking: split a document into chunks that follow its own structure.

``chunker`` dispatches by document kind to ``statute`` (조, 항, 호) or ``guide`` (headings,
case boxes); ``spans`` holds the span helpers both use.
"""

from fnrag.chunking.chunker import chunk_document
from fnrag.chunking.spans import DEFAULT_MAX_CHARS, ChunkConfig

__all__ = ["DEFAULT_MAX_CHARS", "ChunkConfig", "chunk_document"]
