"""Korean lexical search: BM25 over Kiwi content morphemes.

Kiwi splits ``제4조의2`` into 제/XPN 4/SN 조/NNB 의/JKG 2/SN and ``100만원`` into
100/SN 만/NR 원/NNB, which would make article references and amounts unsearchable.
So those are recognised by regex first, kept whole as tokens, and only the rest of
the text goes through Kiwi. The BM25 state is plain arrays (``.npz`` without
pickle) plus a JSON vocabulary.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# 제4조의2, 제 4 조 의 2, 제3조제3항 → 제3조 + 제3항; 4조 is accepted too.
_ARTICLE = re.compile(r"(?:제\s*)?(\d+)\s*조(?:\s*의\s*(\d+))?(?!\s*원)")
_PARAGRAPH = re.compile(r"제\s*(\d+)\s*(항|호)")
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
# Amounts and periods: 100만원, 1,000만 원, 5년, 10일, 6개월, 30퍼센트.
_QUANTITY = re.compile(
    r"(\d[\d,]*(?:\.\d+)?)\s*(조\s*원|억\s*원|천만\s*원|백만\s*원|만\s*원|천\s*원|원|개월|년|월|일|시간|퍼센트|%|세|회|명)"
)

# Content morphemes: nouns, verb/adjective stems, roots, foreign words, hanja.
_CONTENT_TAGS = {"NNG", "NNP", "VV", "VA", "XR", "SL", "SH", "MAG"}
# Light verbs and auxiliaries: everywhere, so they only add noise to scores.
_STOP = {
    "하",
    "되",
    "있",
    "없",
    "이",
    "아니",
    "같",
    "그렇",
    "어떻",
    "무엇",
    "경우",
    "것",
    "수",
    "등",
    "때",
    "관하",
}

_kiwi_lock = threading.Lock()
_kiwi: Any = None


def _get_kiwi() -> Any:
    global _kiwi
    with _kiwi_lock:
        if _kiwi is None:
            from kiwipiepy import Kiwi

            _kiwi = Kiwi()
        return _kiwi


def article_token(match: re.Match[str]) -> str:
    """``제4조의2`` / ``제8조`` from a match whose groups are the number and the branch."""
    number, branch = match.group(1), match.group(2)
    return f"제{number}조의{branch}" if branch else f"제{number}조"


def special_tokens(text: str) -> tuple[list[str], str]:
    """Pull article references and quantities out of ``text``.

    Returns the tokens found and the text with those spans blanked, so Kiwi does
    not split them again.
    """
    tokens: list[str] = []
    chars = list(text)

    def blank(match: re.Match[str]) -> None:
        for i in range(match.start(), match.end()):
            chars[i] = " "

    for match in _ARTICLE.finditer(text):
        tokens.append(article_token(match))
        blank(match)
    for match in _PARAGRAPH.finditer(text):
        tokens.append(f"제{match.group(1)}{match.group(2)}")
        blank(match)
    for char in text:
        index = _CIRCLED.find(char)
        if index >= 0:
            tokens.append(f"제{index + 1}항")
    remaining = "".join(chars)
    for match in _QUANTITY.finditer(remaining):
        number = match.group(1).replace(",", "")
        unit = re.sub(r"\s+", "", match.group(2))
        tokens.append(f"{number}{unit}")
        blank(match)
    return tokens, "".join(chars)


def _morphemes(kiwi_tokens: Iterable[Any]) -> list[str]:
    out: list[str] = []
    previous_noun: str | None = None
    for token in kiwi_tokens:
        form, tag = token.form, token.tag
        is_noun = tag in ("NNG", "NNP")
        if tag in _CONTENT_TAGS and form not in _STOP and (len(form) > 1 or is_noun or tag == "SH"):
            out.append(form.lower() if tag == "SL" else form)
        # Noun bigrams keep compounds (거래+정보 → 거래정보) matchable as one unit.
        if is_noun and previous_noun is not None:
            out.append(previous_noun + form)
        previous_noun = form if is_noun else None
    return out


def tokenize(text: str) -> list[str]:
    """Search tokens of ``text``: article refs, quantities, content morphemes."""
    return tokenize_many([text])[0]


def tokenize_many(texts: Sequence[str]) -> list[list[str]]:
    """Tokenise many texts at once (Kiwi batches internally, much faster)."""
    prepared = [special_tokens(text) for text in texts]
    kiwi = _get_kiwi()
    with _kiwi_lock:
        analysed = list(kiwi.tokenize([rest for _, rest in prepared]))
    result = []
    for (specials, _rest), kiwi_tokens in zip(prepared, analysed, strict=True):
        result.append(specials + _morphemes(kiwi_tokens))
    return result


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
        self._post_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        doc_freq = counts.astype(np.float64)
        # The +1 inside the log keeps idf positive for very common terms (Lucene's form).
        self.idf = np.log(1.0 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5)).astype(np.float32)

    @property
    def n_docs(self) -> int:
        return len(self.doc_ptr) - 1

    @classmethod
    def from_token_lists(
        cls, docs: Sequence[Sequence[str]], params: BM25Params = BM25Params()
    ) -> BM25Index:
        vocabulary: dict[str, int] = {}
        doc_ptr = [0]
        term_ids: list[int] = []
        term_freqs: list[int] = []
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

    def scores(self, query_tokens: Sequence[str] | Mapping[str, float]) -> np.ndarray:
        """BM25 score of every document for the query (zeros where nothing matches).

        ``query_tokens`` is a token list (repeats count) or a term → weight mapping.
        """
        scores = np.zeros(self.n_docs, dtype=np.float32)
        if not self.n_docs:
            return scores
        k1, b = self.params.k1, self.params.b
        weights = query_tokens if isinstance(query_tokens, Mapping) else Counter(query_tokens)
        for term, query_count in weights.items():
            term_id = self.term_index.get(term)
            if term_id is None:
                continue
            lo, hi = self._post_ptr[term_id], self._post_ptr[term_id + 1]
            docs = self._post_docs[lo:hi]
            tf = self._post_tfs[lo:hi]
            norm = k1 * (1.0 - b + b * self.doc_lengths[docs] / max(self.avg_length, 1e-9))
            scores[docs] += query_count * self.idf[term_id] * tf * (k1 + 1.0) / (tf + norm)
        return scores

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
