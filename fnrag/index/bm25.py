"""Okapi BM25 over tokenised chunks, stored as plain arrays (``.npz`` without pickle)
plus a JSON vocabulary."""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class BM25Params:
    """Okapi BM25 parameters (the usual defaults)."""

    k1: float = 1.2
    b: float = 0.75


class BM25Index:
    """BM25 over a fixed set of tokenised documents, stored as a CSR term matrix."""

    def __init__(
        self,
        vocabulary: list[str],
        doc_ptr: np.ndarray,
        term_ids: np.ndarray,
        term_freqs: np.ndarray,
        params: BM25Params = BM25Params(),
    ) -> None:
        self.vocabulary = vocabulary
        self.term_index = {term: i for i, term in enumerate(vocabulary)}
        self.doc_ptr = doc_ptr.astype(np.int64)
        self.term_ids = term_ids.astype(np.int32)
        self.term_freqs = term_freqs.astype(np.float32)
        self.params = params
        n_docs = len(self.doc_ptr) - 1
        self.doc_lengths = (
            np.add.reduceat(self.term_freqs, self.doc_ptr[:-1]) if n_docs else np.zeros(0)
        )
        # reduceat misbehaves on empty rows: fix those explicitly.
        empty = self.doc_ptr[1:] == self.doc_ptr[:-1]
        if n_docs:
            self.doc_lengths = np.where(empty, 0.0, self.doc_lengths).astype(np.float32)
        self.avg_length = float(self.doc_lengths.mean()) if n_docs else 0.0
        doc_rows = np.repeat(np.arange(n_docs), np.diff(self.doc_ptr))
        # Column-major postings for query-time lookups.
        order = np.lexsort((doc_rows, self.term_ids))
        self._post_docs = doc_rows[order].astype(np.int32)
        self._post_tfs = self.term_freqs[order]
        counts = np.bincount(self.term_ids, minlength=len(vocabulary))
        self._post_terms: np.ndarray | None = None
        self._statistics: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
        self._post_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        doc_freq = counts.astype(np.float64)
        # The +1 inside the log keeps idf positive for very common terms (Lucene's form).
        self.idf = np.log(1.0 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5)).astype(np.float32)

    def document_frequencies(self) -> dict[str, int]:
        """Term → number of documents holding it."""
        counts = np.diff(self._post_ptr)
        return {term: int(counts[i]) for i, term in enumerate(self.vocabulary)}

    @property
    def n_docs(self) -> int:
        return len(self.doc_ptr) - 1

    @classmethod
    def from_token_lists(
        cls, docs: Iterable[Sequence[str]], params: BM25Params = BM25Params()
    ) -> BM25Index:
        """Index token lists read once, in order (a generator is fine: a big corpus is
        tokenised in batches and never held whole)."""
        vocabulary: dict[str, int] = {}
        # Typed arrays, not lists of Python ints: 4-8 bytes a posting instead of ~36.
        doc_ptr = array("q", [0])
        term_ids = array("i")
        term_freqs = array("f")
        for tokens in docs:
            for term, count in sorted(Counter(tokens).items()):
                term_ids.append(vocabulary.setdefault(term, len(vocabulary)))
                term_freqs.append(count)
            doc_ptr.append(len(term_ids))
        return cls(
            list(vocabulary),
            np.asarray(doc_ptr, dtype=np.int64),
            np.asarray(term_ids, dtype=np.int32),
            np.asarray(term_freqs, dtype=np.float32),
            params,
        )

    def doc_terms(self, row: int) -> Counter[str]:
        """The term counts of one document (used to reuse work on rebuilds)."""
        lo, hi = self.doc_ptr[row], self.doc_ptr[row + 1]
        return Counter(
            {
                self.vocabulary[t]: int(f)
                for t, f in zip(self.term_ids[lo:hi], self.term_freqs[lo:hi], strict=True)
            }
        )

    def statistics(self, rows: np.ndarray | None) -> tuple[np.ndarray, float]:
        """(idf, average length) over the documents where ``rows`` is True: the
        collection a date-filtered search searches, so that a superseded version held
        beside the text in force does not change how today's text scores. Cached per
        mask object (the version filter keeps one per date)."""
        if rows is None:
            return self.idf, self.avg_length
        cached = self._statistics.get(id(rows))
        if cached is not None and cached[0] is rows:
            return cached[1], cached[2]
        if self._post_terms is None:
            # Term ids in posting order (postings are grouped by term); only
            # date-filtered searches need them.
            counts = np.diff(self._post_ptr)
            self._post_terms = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        n_docs = int(rows.sum())
        kept = rows[self._post_docs]
        doc_freq = np.bincount(self._post_terms[kept], minlength=len(self.vocabulary))
        idf = np.log(1.0 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5)).astype(np.float32)
        avg = float(self.doc_lengths[rows].mean()) if n_docs else 0.0
        if len(self._statistics) > 64:
            self._statistics.clear()
        self._statistics[id(rows)] = (rows, idf, avg)
        return idf, avg

    def scores(
        self, query_tokens: Sequence[str] | Mapping[str, float], rows: np.ndarray | None = None
    ) -> np.ndarray:
        """BM25 score of every document for the query (zeros where nothing matches).

        ``query_tokens`` is a token list (repeats count) or a term → weight mapping.
        ``rows``: score only these documents, with the collection statistics of these
        documents (the others score 0).
        """
        scores = np.zeros(self.n_docs, dtype=np.float32)
        if not self.n_docs:
            return scores
        idf, avg_length = self.statistics(rows)
        k1, b = self.params.k1, self.params.b
        weights = query_tokens if isinstance(query_tokens, Mapping) else Counter(query_tokens)
        for term, query_count in weights.items():
            term_id = self.term_index.get(term)
            if term_id is None:
                continue
            lo, hi = self._post_ptr[term_id], self._post_ptr[term_id + 1]
            docs = self._post_docs[lo:hi]
            tf = self._post_tfs[lo:hi]
            norm = k1 * (1.0 - b + b * self.doc_lengths[docs] / max(avg_length, 1e-9))
            scores[docs] += query_count * idf[term_id] * tf * (k1 + 1.0) / (tf + norm)
        return scores if rows is None else np.where(rows, scores, 0.0).astype(np.float32)

    def save(self, path: Path) -> dict[str, str]:
        """Write ``<path>.npz`` (arrays) and ``<path>.vocab.json``; returns file names."""
        arrays = path.with_suffix(".npz")
        vocab = path.with_suffix(".vocab.json")
        with open(arrays, "wb") as handle:
            np.savez(
                handle, doc_ptr=self.doc_ptr, term_ids=self.term_ids, term_freqs=self.term_freqs
            )
        vocab.write_text(
            json.dumps(
                {"k1": self.params.k1, "b": self.params.b, "vocabulary": self.vocabulary},
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        return {"arrays": arrays.name, "vocabulary": vocab.name}

    @classmethod
    def load(cls, arrays: Path, vocab: Path) -> BM25Index:
        with np.load(arrays, allow_pickle=False) as data:
            doc_ptr, term_ids, term_freqs = data["doc_ptr"], data["term_ids"], data["term_freqs"]
        meta = json.loads(vocab.read_text(encoding="utf-8"))
        return cls(
            meta["vocabulary"], doc_ptr, term_ids, term_freqs, BM25Params(meta["k1"], meta["b"])
        )
