"""The index: build it (``build``), keep it on disk (``store``), search it (``search``).

``bm25`` and ``fusion`` are the two retrievers' scoring, ``plan`` the analysis of one
question. ``fnrag.index.build_index`` / ``fnrag.index.load_index`` are public.
"""

from fnrag.index.build import BuildReport, FileReport, build_index
from fnrag.index.search import MAX_QUERY_CHARS, SEARCH_MODES, Index, load_index
from fnrag.paths import default_index_dir, sample_corpus_dir

__all__ = [
    "MAX_QUERY_CHARS",
    "SEARCH_MODES",
    "BuildReport",
    "FileReport",
    "Index",
    "build_index",
    "default_index_dir",
    "load_index",
    "sample_corpus_dir",
]
