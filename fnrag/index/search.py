"""Loading and searching an fnrag index (FAISS + Kiwi-BM25, fused)."""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from fnrag.embedders.base import EmbedderIdentity, same_embedder
from fnrag.errors import EmbedderMismatchError, IndexFormatError, InputError, NoTextInForceError
from fnrag.index import signing, store
from fnrag.index.articles import ArticleGroups
from fnrag.index.bm25 import BM25Index
from fnrag.index.fusion import SEARCH_MODES, SearchConfig, collapse_overlaps, section_article
from fnrag.index.links import ReferenceGraph
from fnrag.index.plan import candidate_boosts, plan_query, rank_candidates
from fnrag.index.store import read_chunks
from fnrag.korean.spelling import Speller
from fnrag.paths import default_index_dir
from fnrag.types import (
    MAX_QUESTION_CHARS,
    AmendmentRecord,
    ArticleDiff,
    Chunk,
    Hit,
    QueryPlan,
    Retrieval,
)
from fnrag.versions.chains import VersionFilter
from fnrag.versions.dates import korean_date, resolve_as_of

__all__ = ["MAX_QUERY_CHARS", "SEARCH_MODES", "Index", "load_index"]

MAX_QUERY_CHARS = MAX_QUESTION_CHARS


def load_index(
    path: str | os.PathLike[str] | None = None,
    embedder: str | None = None,
    *,
    verify_key: signing.KeySource | None = None,
    config: SearchConfig | None = None,
    vocabulary: str | os.PathLike[str] | None = None,
) -> Index:
    """Open an index directory, verifying format version and every checksum.

    Args:
        path: the index directory (default: ``default_index_dir()``).
        embedder: an embedder spec to use for queries; it must be the one the index
            was built with (else ``EmbedderMismatchError``). Default: the index's own.
        verify_key: the HMAC key the index was signed with (a key file's path or the
            key's bytes; default: the file ``$FNRAG_INDEX_KEY`` names). With a key, an
            unsigned, wrongly signed or altered index is refused (``IndexFormatError``)
            before any data file is read.
        config: search settings (k, mode, fusion weights); default: the calibrated ones.
        vocabulary: a bank's practitioner-term YAML (see ``fnrag.korean.vocabulary``);
            default: ``$FNRAG_VOCABULARY``, else the built-in table.
    """
    index_dir = Path(path) if path is not None else default_index_dir()
    manifest = store.read_manifest(index_dir, verify_key=signing.resolve_key(verify_key))
    paths = store.verify_files(index_dir, manifest)
    index = Index(index_dir, manifest, paths, embedder, config)
    if vocabulary is not None:
        from fnrag.korean.vocabulary import load_vocabulary

        index.vocabulary = load_vocabulary(vocabulary)  # read now: a bad file fails here
    return index


class Index:
    """A loaded index; ``search`` is safe to call from many threads."""

    def __init__(
        self,
        index_dir: Path,
        manifest: dict[str, Any],
        paths: dict[str, Path],
        embedder: str | None,
        config: SearchConfig | None = None,
    ) -> None:
        import faiss

        self.index_dir = index_dir
        self.manifest = manifest
        self.config = config or SearchConfig()
        self.fusion = self.config.fusion
        self.chunks = read_chunks(paths["chunks"])
        try:
            self.vectors = np.load(paths["embeddings"], allow_pickle=False)
            self.dense = faiss.read_index(str(paths["dense"]))
            self.bm25 = BM25Index.load(paths["bm25"], paths["bm25_vocab"])
        except (ValueError, RuntimeError, KeyError, OSError, zipfile.BadZipFile) as error:
            raise IndexFormatError(
                f"{index_dir} holds an unreadable data file ({error}); rebuild the index"
            ) from None
        counts = manifest.get("counts", {})
        if not (
            len(self.chunks)
            == self.vectors.shape[0]
            == self.dense.ntotal
            == self.bm25.n_docs
            == counts.get("chunks")
        ):
            raise IndexFormatError(f"{index_dir} has inconsistent file contents; rebuild the index")
        self._by_id = {chunk.chunk_id: chunk for chunk in self.chunks}
        self._articles = [section_article(c.section) for c in self.chunks]
        self.versions = VersionFilter(self.chunks)
        self._embedder_spec = embedder if embedder is not None else manifest.get("embedder_spec")
        self._embedder: Any = None
        self._embedder_lock = threading.Lock()
        self.vocabulary: Any = None
        self._speller: Speller | None = None
        self._references: ReferenceGraph | None = None
        self._articles_groups: ArticleGroups | None = None
        if embedder is not None:
            self._load_embedder()

    @property
    def version(self) -> str:
        """The build id: changes with every build."""
        return str(self.manifest.get("build_id", ""))

    @property
    def embedder_identity(self) -> EmbedderIdentity:
        """The embedder the index was built with, as its manifest records it."""
        return EmbedderIdentity.from_dict(self.manifest.get("embedder", {}))

    @property
    def embedder(self) -> Any:
        return self._embedder if self._embedder is not None else self._load_embedder()

    def _load_embedder(self) -> Any:
        from fnrag.embedders.factory import load_embedder

        with self._embedder_lock:
            if self._embedder is None:
                expected = self.manifest.get("embedder", {})
                # Query with the backend the passages were embedded with (int8 and
                # fp32 vectors differ slightly, and the identity check compares them).
                backend = expected.get("backend")
                model = load_embedder(
                    self._embedder_spec,
                    backend=backend if backend in ("torch", "onnx", "onnx-int8") else None,
                )
                if not same_embedder(model.identity(), expected):
                    raise EmbedderMismatchError(
                        f"the index at {self.index_dir} was built with embedder {expected.get('name')!r} "
                        f"(weights {str(expected.get('weights_sha256'))[:12]}), not {model.identity().get('name')!r} "
                        f"(weights {str(model.identity().get('weights_sha256'))[:12]}); search with the same "
                        "embedder or rebuild the index with this one"
                    )
                self._embedder = model
        return self._embedder

    @property
    def speller(self) -> Speller:
        """Corrects misspelled question words against this index's vocabulary."""
        if self._speller is None:
            text = "\n".join(f"{c.section}\n{c.text}" for c in self.chunks)
            self._speller = Speller(self.bm25.document_frequencies(), text)
        return self._speller

    @property
    def articles(self) -> ArticleGroups:
        """The statute articles chunked into several passages (read once)."""
        if self._articles_groups is None:
            self._articles_groups = ArticleGroups(self.chunks)
        return self._articles_groups

    @property
    def references(self) -> ReferenceGraph:
        """The statutes' cross-references (read once, on the first hybrid search)."""
        if self._references is None:
            self._references = ReferenceGraph(self.chunks)
        return self._references

    def passage(self, chunk_id: str) -> Chunk:
        """The chunk as search shows it: its whole article when the article's chunks
        are joined into one passage (``FusionConfig.article_chars``), else itself."""
        self.chunk(chunk_id)  # a clear error for an unknown id
        row = next(i for i, c in enumerate(self.chunks) if c.chunk_id == chunk_id)
        return self.articles.shown(row, self.fusion.article_chars)

    def chunk(self, chunk_id: str) -> Chunk:
        try:
            return self._by_id[chunk_id]
        except KeyError:
            raise InputError(f"no chunk {chunk_id!r} in the index at {self.index_dir}") from None

    def __len__(self) -> int:
        return len(self.chunks)

    def search(
        self, query: str, k: int | None = None, mode: str | None = None, *, as_of: Any = None
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query`` among the text in force on ``as_of``.

        Args:
            query: the question (Korean or mixed); at most 2,000 characters.
            k: how many hits to return (default: the search config's, 5).
            mode: ``hybrid`` (default), ``dense`` or ``lexical``.
            as_of: a ``datetime.date`` or ISO string (default: today). Only law text in
                force on that date is searched (superseded and not-yet-in-force versions
                are not), plus undated documents such as guides.

        Raises:
            NoTextInForceError: the index holds versioned law text, none of it in force
                on ``as_of`` (a date before its oldest version).
        """
        return list(self.retrieve(query, k, mode, as_of=as_of).hits)

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        *,
        as_of: Any = None,
        plan: QueryPlan | None = None,
    ) -> Retrieval:
        """Like :meth:`search`, with the analysis and the query vector kept for what
        comes next (refusal, the generator): one analysis and one embedding per question.

        ``plan``: a prepared analysis of ``query`` to use instead of ``plan_query`` (a
        follow-up with terms carried from earlier turns, ``fnrag.answering.conversation``)."""
        day = resolve_as_of(as_of)
        k = self.config.k if k is None else k
        mode = mode or self.config.mode
        query = _check_query(query)
        if mode not in SEARCH_MODES:
            raise InputError(f"unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
        if k < 1:
            raise InputError("k must be at least 1")
        if not self.versions.holds_law_text_on(day):
            raise NoTextInForceError(
                f"the index at {self.index_dir} holds no law text in force on "
                f"{korean_date(day)} ({day.isoformat()}): its oldest version takes effect on "
                f"{self.versions.earliest()}; ask about a later date, or add the text in force "
                "then to the index",
                day.isoformat(),
                self.versions.earliest() or "",
            )
        mask = self.versions.mask(day)
        allowed = None if mask.all() else mask
        k = min(k, len(self.chunks) if allowed is None else int(allowed.sum()))
        asked = query
        if plan is None:
            # Misspelled words ("과태로") are read as the index's own ("과태료"), by the
            # scope check too.
            asked, _ = self.speller.correct(query)
            plan = plan_query(asked, self.fusion.expansion_weight, self.vocabulary)
        if mode == "lexical":
            lexical = self.bm25.scores(list(plan.tokens), allowed)
            order = [int(i) for i in np.argsort(-lexical, kind="stable")[:k] if lexical[i] > 0]
            hits = [
                Hit.from_chunk(
                    self.chunks[i], rank, float(lexical[i]), lexical_score=float(lexical[i])
                )
                for rank, i in enumerate(order, start=1)
            ]
            return Retrieval(query, plan, tuple(hits), mode, as_of=day.isoformat())
        if mode == "dense":
            vector = self.encode_query(query)
            scores, ids = self._dense_top(vector, k, allowed)
            hits = [
                Hit.from_chunk(self.chunks[int(i)], rank, float(s), dense_score=float(s))
                for rank, (s, i) in enumerate(zip(scores, ids, strict=True), start=1)
                if i >= 0
            ]
            return Retrieval(query, plan, tuple(hits), mode, vector, vector, as_of=day.isoformat())
        # One encoder call: the expanded text retrieves better (tune_qa hit@1 0.717 vs
        # 0.683 with the bare question), while the scope check is calibrated on the
        # question as asked, so when an expansion applies both go in one batch.
        # The scope threshold is calibrated on Korean questions: an English one is
        # judged by the Korean reading it is searched by (``QueryPlan.reading``).
        asked = plan.reading or asked
        texts = [plan.dense_text] if plan.dense_text == asked else [plan.dense_text, asked]
        vectors = self.encode_queries(texts)
        fused = tuple(self._hybrid(plan, vectors[0], k, allowed))
        return Retrieval(query, plan, fused, mode, vectors[0], vectors[-1], as_of=day.isoformat())

    def diff(self, law: str, article: str, from_date: Any, to_date: Any = None) -> ArticleDiff:
        """``article`` of ``law`` as in force on ``from_date`` and ``to_date`` (default
        today), aligned by 항/호/목 (see :mod:`fnrag.versions.diff`).

        Example:
            >>> index.diff("시행령", "제4조", "2017-03-01")  # doctest: +SKIP
        """
        from fnrag.versions.diff import diff_article

        return diff_article(self, law, article, from_date, to_date)

    def amendments(self, law: str | None = None) -> list[AmendmentRecord]:
        """The amendments the held versions' 부칙 record (of ``law``, or of every law):
        공포번호, 공포일, the amending law, the 시행 sentence and 경과조치."""
        from fnrag.versions.addenda import amendment_records
        from fnrag.versions.diff import resolve_law

        return amendment_records(self, resolve_law(self, law) if law else None)

    def encode_query(self, text: str) -> np.ndarray:
        """The query embedding of ``text`` (read-only)."""
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Query embeddings of ``texts`` in one encoder call (read-only rows)."""
        matrix = np.asarray(self.embedder.encode_queries(texts), dtype=np.float32)
        matrix.setflags(write=False)
        return matrix

    def _dense_top(
        self, query_vector: np.ndarray, n: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` nearest rows (scores, row ids) among those searchable on the date.

        Unfiltered, FAISS answers; filtered, the rows in force are scored exactly (the
        vectors are in memory; a few thousand dot products), so a filter never leaves
        fewer than ``n`` results the way over-fetching can."""
        if allowed is None:
            scores, ids = self.dense.search(query_vector[None, :], n)
            return scores[0], ids[0]
        rows = np.flatnonzero(allowed)
        scores = self.vectors[rows] @ query_vector
        top = np.argsort(-scores, kind="stable")[:n]
        return scores[top], rows[top]

    def _hybrid(
        self, plan: QueryPlan, query_vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[Hit]:
        config = self.fusion
        # Each retriever contributes its top candidates; a caller asking for more
        # results than that widens the pool, so k hits come back whenever k chunks exist.
        searchable = len(self.chunks) if allowed is None else int(allowed.sum())
        n = min(max(config.candidates, k), searchable)
        lexical_all = self.bm25.scores(plan.terms, allowed)
        lexical_top = np.argsort(-lexical_all, kind="stable")[:n]
        _, dense_ids = self._dense_top(query_vector, n, allowed)
        candidates = np.array(
            sorted(
                {int(i) for i in lexical_top if lexical_all[i] > 0}
                | {int(i) for i in dense_ids if i >= 0}
            ),
            dtype=np.int64,
        )
        dense = self.vectors[candidates] @ query_vector
        lexical = lexical_all[candidates]
        boosts = candidate_boosts(
            plan,
            config,
            [self._articles[int(i)] for i in candidates],
            [self.chunks[int(i)].title for i in candidates],
            [self.chunks[int(i)].section for i in candidates],
        )
        fused, order = rank_candidates(dense, lexical, boosts, config)
        ranked = [(int(candidates[j]), float(fused[j])) for j in order]
        links: dict[int, tuple[int, str]] = {}
        if config.follow_references:
            ranked, links = self.references.reorder(plan, ranked, allowed, config.reference_anchors)
        passages = self.articles.passages([row for row, _ in ranked], config.article_chars, allowed)
        spans = [self.articles.span(rows) for _, rows in passages]
        kept = collapse_overlaps(range(len(passages)), spans, k)
        score = dict(ranked)
        hits = []
        for rank, item in enumerate(kept, start=1):
            i, rows = passages[item]
            anchor, article = links.get(i, (None, None))
            hit = Hit.from_chunk(
                self.chunks[i],
                rank,
                score[i],
                dense_score=max(float(self.vectors[r] @ query_vector) for r in rows),
                lexical_score=max(float(lexical_all[r]) for r in rows),
                linked_to=None if anchor is None else self.chunks[anchor].chunk_id,
                linked_article=article,
            )
            hits.append(self.articles.joined(hit, rows))
        return hits


def _check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InputError(
            "the question is empty; ask something such as '실명확인을 생략할 수 있는 거래는?'"
        )
    try:
        query.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            "the question contains invalid characters (broken Unicode); retype it"
        ) from None
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(
            f"the question is {len(query):,} characters long; keep it under {MAX_QUERY_CHARS:,} "
            "(ask about one case at a time)"
        )
    return query.strip()
