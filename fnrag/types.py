"""Frozen result and record types shared by every fnrag module."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Longest question search() and ask() accept: one limit for both.
MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class Page:
    """One page of extracted text.

    Attributes:
        index: 1-based page index inside the file (PDF page number).
        printed: the page number(s) the page prints itself, e.g. ``(218, 219)``
            for a sheet holding two printed pages; empty when none is printed.
        text: the page's text, running headers and footers removed.
    """

    index: int
    printed: tuple[int, ...]
    text: str


@dataclass(frozen=True)
class Document:
    """A source file turned into text.

    Attributes:
        source: the file path as given to build-index (or relative to a given
            directory, prefixed by that directory).
        title: the document title (front matter 제목, PDF metadata, first heading
            or the file stem).
        kind: ``"statute"``, ``"guide"`` or ``"text"``: which chunker applies.
        text: the whole extracted text; chunk spans index into it.
        pages: for PDFs, the pages with their offsets in ``text`` (``page_starts``).
        page_starts: character offset in ``text`` where each page begins.
        metadata: front matter and PDF metadata (공포일자, 시행일자, …) as strings.
        sha256: hex digest of the raw file bytes.
    """

    source: str
    title: str
    kind: str
    text: str
    pages: tuple[Page, ...] = ()
    page_starts: tuple[int, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    sha256: str = ""

    @property
    def effective_date(self) -> str | None:
        """The 시행일자 when the document states one."""
        return self.metadata.get("시행일자") or None


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage that knows exactly where it came from.

    Attributes:
        chunk_id: stable id derived from the chunk's title, section and text.
        source: file path as given to build-index.
        title: document title.
        section: section path, e.g. ``금융실명거래 및 비밀보장에 관한 법률 > 제4조의2
            (거래정보등의 제공사실의 통보) > ②``.
        text: the passage, verbatim from the extracted document text.
        start: character offset of ``text`` in ``Document.text``.
        end: end offset (exclusive) in ``Document.text``.
        page: the (printed, when known) page the chunk starts on; None for
            documents without pages.
        pages: every page the chunk spans (same numbering as ``page``).
        effective_date: the document's 시행일자 when known.
        pdf_page: the PDF page (1-based index in the file) the chunk starts on, for
            PDFs whose pages print another number (``page`` 219 is PDF page 56); None
            for documents without pages.
        pdf_pages: every PDF page the chunk spans.
        law_id: the law the document is a version of (front matter 법令ID, else
            ``title:`` + its title for a dated statute); None for undated documents.
        version: the version's label, e.g. ``법률 제14242호, 2016. 12. 1. 시행``; None
            for undated documents.
        effective_from: ISO date from which this text is in force (the version's
            시행일자, or the article's own date where a JSON source gives one).
        effective_to: ISO date on which the next held version of the same law takes
            effect (exclusive); None for the latest version and undated documents.
    """

    chunk_id: str
    source: str
    title: str
    section: str
    text: str
    start: int
    end: int
    page: int | None = None
    pages: tuple[int, ...] = ()
    effective_date: str | None = None
    pdf_page: int | None = None
    pdf_pages: tuple[int, ...] = ()
    law_id: str | None = None
    version: str | None = None
    effective_from: str | None = None
    effective_to: str | None = None

    @property
    def indexed_text(self) -> str:
        """What the embedder and the lexical index see: section path, then text."""
        return f"{self.section}\n{self.text}" if self.section else self.text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pages"] = list(self.pages)
        data["pdf_pages"] = list(self.pdf_pages)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        values = dict(data)
        values["pages"] = tuple(values.get("pages") or ())
        # Indexes built before PDF pages were kept have neither key: they load as None/().
        values["pdf_pages"] = tuple(values.get("pdf_pages") or ())
        return cls(**values)


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        rank: 1-based position in the result list.
        score: fused relevance score (higher is better; comparable within one query).
        chunk_id, source, title, page, pages, section, text: copied from the chunk.
        start, end: the chunk's character span in its document's extracted text.
        effective_date: the document's 시행일자 when known.
        dense_score: cosine similarity from the embedder (None if not retrieved densely).
        lexical_score: BM25 score (None if not retrieved lexically).
        pdf_page, pdf_pages: the PDF page(s) of the chunk (see ``Chunk``).
        law_id, version, effective_from, effective_to: the version of the law the
            chunk belongs to (see ``Chunk``); None for undated documents.
        linked_to: the chunk id of the provision whose reference placed this hit just
            above it (the 과태료 article naming the duty a penalty question is about; the
            decree article defining an amount the act delegates); None when the hit is
            ranked on its own evidence.
        linked_article: the article of ``linked_to`` (``제4조의2``) this hit refers to.
        parts: for a whole-article passage (``fnrag.index.articles``), the (chunk id,
            start, end) of each chunk it joins, in document order; ``chunk_id`` is the
            one retrieval ranked, ``section`` the article's. Empty for a single chunk.
    """

    rank: int
    score: float
    chunk_id: str
    source: str
    title: str
    page: int | None
    pages: tuple[int, ...]
    section: str
    text: str
    start: int = 0
    end: int = 0
    effective_date: str | None = None
    dense_score: float | None = None
    lexical_score: float | None = None
    pdf_page: int | None = None
    pdf_pages: tuple[int, ...] = ()
    law_id: str | None = None
    version: str | None = None
    effective_from: str | None = None
    effective_to: str | None = None
    linked_to: str | None = None
    linked_article: str | None = None
    parts: tuple[tuple[str, int, int], ...] = ()

    @classmethod
    def from_chunk(
        cls,
        chunk: Chunk,
        rank: int,
        score: float,
        *,
        linked_to: str | None = None,
        linked_article: str | None = None,
        **scores: float | None,
    ) -> Hit:
        return cls(
            rank=rank,
            score=score,
            chunk_id=chunk.chunk_id,
            source=chunk.source,
            title=chunk.title,
            page=chunk.page,
            pages=chunk.pages,
            section=chunk.section,
            text=chunk.text,
            start=chunk.start,
            end=chunk.end,
            effective_date=chunk.effective_date,
            dense_score=scores.get("dense_score"),
            lexical_score=scores.get("lexical_score"),
            pdf_page=chunk.pdf_page,
            pdf_pages=chunk.pdf_pages,
            law_id=chunk.law_id,
            version=chunk.version,
            effective_from=chunk.effective_from,
            effective_to=chunk.effective_to,
            linked_to=linked_to,
            linked_article=linked_article,
        )

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape of a hit (``fnrag search --json``)."""
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "chunk_id": self.chunk_id,
            "source": self.source,
            "title": self.title,
            "page": self.page,
            "pages": list(self.pages),
            "section": self.section,
            "text": self.text,
            "version": self.version,
            "effective_from": self.effective_from,
            "effective_to": self.effective_to,
            "linked_to": self.linked_to,
            "chunk_ids": [part[0] for part in self.parts] or [self.chunk_id],
        }


# --- retrieval ----------------------------------------------------------------------


@dataclass(frozen=True)
class QueryPlan:
    """What a question asks of each retriever.

    Attributes:
        question: the question as given (stripped).
        tokens: the question's own lexical tokens, in order (repeats kept).
        terms: lexical term → weight (expansion terms weigh ``expansion_weight``).
        dense_text: the question plus legal phrasings of practitioner terms.
        articles: articles the question names (``제4조의2``).
        law_kinds: ``시행령`` / ``시행규칙`` when the question names them.
        carried: terms carried from earlier turns of a conversation (at their lower
            weight in ``terms``): part of what the follow-up asks, not expansions.
        carried_refused: the earlier answer carried from was a refusal: a follow-up
            with no words of its own then asks about nothing the corpus answers.
        reading: for a question in English, the Korean terms of its domain phrases
            (``fnrag.korean.glossary``): ``tokens``/``terms`` are this text's, and the
            scope check reads its embedding; "" for a Korean question.
    """

    question: str
    tokens: tuple[str, ...]
    terms: dict[str, float]
    dense_text: str
    articles: frozenset[str]
    law_kinds: tuple[str, ...]
    carried: frozenset[str] = frozenset()
    reading: str = ""
    carried_refused: bool = False


@dataclass(frozen=True, eq=False)
class Retrieval:
    """One question's retrieval, handed on to refusal and the generator, so that each
    question is analysed once and embedded once.

    Attributes:
        question: the question as searched (stripped; PII already masked by ``ask``).
        plan: its analysis (tokens, weighted terms, the text the embedder saw).
        hits: the ranked passages.
        mode: ``hybrid``, ``dense`` or ``lexical``.
        query_vector: the embedding retrieval used (of ``plan.dense_text``; read-only),
            None in lexical mode.
        question_vector: the embedding of the question as asked (the scope check is
            calibrated on it); the same array as ``query_vector`` when no expansion applied.
        as_of: the ISO date whose text in force was searched (None: not date-aware).
    """

    question: str
    plan: QueryPlan
    hits: tuple[Hit, ...]
    mode: str
    query_vector: Any = None
    question_vector: Any = None
    as_of: str | None = None


# --- answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """How well the top passages cover a question.

    Attributes:
        coverage: share of the question's content morphemes found in the top passages.
        matched: those morphemes; missing: the ones not found.
        dense: best dense cosine among the hits (None when not retrieved densely).
        lexical: best BM25 score among the hits (None when not retrieved lexically).
        scope: best cosine between the question and the index's scope passages
            (the statutes); None when not measured.
    """

    coverage: float
    matched: tuple[str, ...]
    missing: tuple[str, ...]
    dense: float | None
    lexical: float | None
    scope: float | None = None


@dataclass(frozen=True)
class InvalidCitation:
    """A citation removed from the answer.

    Attributes:
        n: the passage number the answer gave.
        reason: ``"unknown passage"`` (no such passage was shown),
            ``"quote not found"`` (a quote of its sentence is in no cited passage), or
            ``"quote in another passage"`` (the sentence's quotes are verbatim in exactly
            one other shown passage, which the marker now names: ``repointed_to``).
        sentence: the answer sentence that carried it.
        repointed_to: the passage number the marker was changed to, or None when the
            marker was removed.
    """

    n: int
    reason: str
    sentence: str
    repointed_to: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "reason": self.reason,
            "sentence": self.sentence,
            "repointed_to": self.repointed_to,
        }


@dataclass(frozen=True)
class Citation:
    """A verified citation of one passage.

    Attributes:
        n: the passage number used in the answer text (1-based).
        chunk_id, source, title, page, pages, section: where the passage comes from.
        quote: the passage sentence (or quoted span) that supports the answer;
            always an exact substring of the passage text.
        score: the passage's retrieval score.
        pdf_page, pdf_pages: the PDF page(s) of the passage when ``page`` is a printed
            page number (see ``Chunk``).
        reference: the quoted provision as a lawyer cites it (``금융실명법 시행령
            제4조의2제1항제1호나목``), or the document and page of a guide passage.
        quote_start, quote_end: the quote's character span in its document's extracted
            text (``document.text[quote_start:quote_end] == quote``), for highlighting.
        version: the label of the law version quoted (``법률 제14242호, 2016. 12. 1.
            시행``); None for undated documents.
        effective_from, effective_to: the ISO dates between which the quoted version is
            in force (``effective_to`` None: no later version held).
    """

    n: int
    chunk_id: str
    source: str
    title: str
    page: int | None
    section: str
    quote: str
    score: float
    pages: tuple[int, ...] = ()
    pdf_page: int | None = None
    pdf_pages: tuple[int, ...] = ()
    reference: str = ""
    quote_start: int = 0
    quote_end: int = 0
    version: str | None = None
    effective_from: str | None = None
    effective_to: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "chunk_id": self.chunk_id,
            "reference": self.reference,
            "quote_start": self.quote_start,
            "quote_end": self.quote_end,
            "source": self.source,
            "title": self.title,
            "page": self.page,
            "pages": list(self.pages),
            "pdf_page": self.pdf_page,
            "pdf_pages": list(self.pdf_pages),
            "section": self.section,
            "quote": self.quote,
            "score": round(self.score, 6),
            "version": self.version,
            "effective_from": self.effective_from,
            "effective_to": self.effective_to,
        }


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each step of one ask."""

    retrieve_ms: float = 0.0
    generate_ms: float = 0.0
    verify_ms: float = 0.0
    total_ms: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {
            "retrieve_ms": round(self.retrieve_ms, 3),
            "generate_ms": round(self.generate_ms, 3),
            "verify_ms": round(self.verify_ms, 3),
            "total_ms": round(self.total_ms, 3),
        }


@dataclass(frozen=True)
class Answer:
    """A verified answer.

    Attributes:
        text: the answer (invalid citation markers removed), or ``REFUSAL_SENTENCE``.
        citations: verified citations, one per cited passage.
        refused: True when the answer is the refusal sentence.
        grounded: True when at least one valid citation supports the answer.
        passages: the retrieved hits, numbered 1.. in the prompt (when refused on
            weak evidence they were retrieved but not shown to a generator). With a
            model's context budget, those shown: the lowest-ranked may be left out and
            the first cut to an excerpt of its chunk (``fnrag.generators.budget``).
        question: the question as processed, with PII masked.
        timings: time per step.
        invalid_citations: markers removed from the generated text, with reasons.
        generator: the generator's name.
        refusal_reason: ``"weak evidence"`` (the retrieval policy, or for a model
            generator no passage sentence holding enough of the question's words),
            ``"declined"`` (the generator said the refusal sentence) or ``"ungrounded"``
            (no valid citation); None if answered.
        evidence: the retrieval-strength features the refusal decision used.
        raw_text: the generator's output before verification, up to where it began to
            echo the prompt ("" when not generated).
        lead: the citation the answer opens with (the deciding provision); None when
            refused.
        as_of: the ISO date the answer is for (the text in force on it was searched).
        notices: what the reader must know about the versions quoted, in Korean: an
            amendment promulgated but not yet in force (``2027. 1. 1. 시행 예정 개정
            있음``), or a quoted text that may not be exact for ``as_of`` because the
            index lacks an amendment made in between.
        resolved_question: what was searched and answered: the question itself, or a
            follow-up resolved against the conversation's earlier turns (a standalone
            rewrite by an LLM generator, or the previous question and the follow-up
            together; ``fnrag.answering.conversation``), PII masked.
    """

    text: str
    citations: tuple[Citation, ...]
    refused: bool
    grounded: bool
    passages: tuple[Hit, ...]
    question: str
    timings: Timings = field(default_factory=Timings)
    invalid_citations: tuple[InvalidCitation, ...] = ()
    generator: str = "extractive"
    refusal_reason: str | None = None
    evidence: Evidence | None = None
    raw_text: str = ""
    lead: Citation | None = None
    as_of: str | None = None
    notices: tuple[str, ...] = ()
    resolved_question: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "resolved_question": self.resolved_question or self.question,
            "answer": self.text,
            "lead": self.lead.to_json() if self.lead is not None else None,
            "refused": self.refused,
            "refusal_reason": self.refusal_reason,
            "grounded": self.grounded,
            "citations": [c.to_json() for c in self.citations],
            "invalid_citations": [c.to_json() for c in self.invalid_citations],
            "passages": [h.to_json() for h in self.passages],
            "generator": self.generator,
            "timings": self.timings.to_json(),
            "as_of": self.as_of,
            "notices": list(self.notices),
        }


# --- law versions ------------------------------------------------------------------


@dataclass(frozen=True)
class UnitChange:
    """One 항/호/목 of an article compared between two versions.

    Attributes:
        status: ``unchanged``, ``changed`` (same place, other words), ``renumbered``
            (same words, another number), ``added``, or ``removed`` (gone, or left as
            ``삭제``).
        old_path, new_path: the unit's number path in each version (``①``, ``①3``,
            ``①2가``; ``본문`` for an article's unnumbered text); "" where it is absent.
        old_text, new_text: its words in each version, amendment notes removed.
    """

    status: str
    old_path: str
    new_path: str
    old_text: str
    new_text: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ArticleDiff:
    """An article as in force on two dates, aligned unit by unit (``fnrag diff``).

    Attributes:
        law_id, title: the law. article: ``제4조``.
        from_date, to_date: the dates compared (ISO).
        from_version, to_version: the labels of the versions in force on them.
        from_text, to_text: the article in each version ("" when the version lacks it).
        changes: every unit, in reading order of the later version (removed units
            where they stood).
        amendments: the amendments promulgated after the earlier version and up to the
            later one, as the later version's 부칙 record them (the law's own and those
            made by other laws), oldest first.
    """

    law_id: str
    title: str
    article: str
    from_date: str
    to_date: str
    from_version: str | None
    to_version: str | None
    from_text: str
    to_text: str
    changes: tuple[UnitChange, ...]
    amendments: tuple[AmendmentRecord, ...] = ()

    @property
    def changed(self) -> bool:
        """True when any unit differs."""
        return any(c.status != "unchanged" for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["changes"] = [c.to_json() for c in self.changes]
        data["amendments"] = [a.to_json() for a in self.amendments]
        data["changed"] = self.changed
        return data


@dataclass(frozen=True)
class AmendmentRecord:
    """One amendment, read from the 부칙 a law version carries.

    Attributes:
        law_id: the amended law. version: the label of the version whose text holds
            this 부칙 (the latest held that records it).
        number: the 공포번호 (``20894``); promulgated: its 공포일 (ISO).
        amending_law: the other law that made the amendment (``국세징수법`` in
            ``부칙(국세징수법) <…>``); "" for an amendment of the law itself.
        effective: the 부칙's 시행 sentence (``이 법은 공포한 날부터 시행한다.``).
        transitional: the labels of its 경과조치 / 적용례 articles.
        heading: the 부칙 heading as printed.
    """

    law_id: str
    version: str | None
    number: str
    promulgated: str
    amending_law: str
    effective: str
    transitional: tuple[str, ...]
    heading: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
