"""Ingest: source files (PDF, Markdown, text) into :class:`fnrag.types.Document` objects.

``collect`` expands the paths given to ``build-index``, ``sources`` reads each file;
``pdf`` extracts a PDF's text layer with its page numbers.
"""

from fnrag.ingest.collect import SUPPORTED_SUFFIXES, SkippedFile, SourceList, collect_sources
from fnrag.ingest.sources import MAX_TEXT_BYTES, load_document

__all__ = [
    "MAX_TEXT_BYTES",
    "SUPPORTED_SUFFIXES",
    "SkippedFile",
    "SourceList",
    "collect_sources",
    "load_document",
]
