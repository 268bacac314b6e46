"""``ask()``: a question in, a cited and verified ``Answer`` out.

Flow: validate → mask PII (before anything else sees the question) → retrieve →
refuse on weak evidence → build the Alpaca prompt → generate → verify citations
→ refuse if ungrounded (configurable) → log without raw PII.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fnrag.answering.citations import locate, verify_citations
from fnrag.answering.refusal import RefusalPolicy, ScopeScorer, measure, with_scope
from fnrag.errors import InputError
from fnrag.generators import Generator, StreamingGenerator, get_generator
from fnrag.prompts import REFUSAL_SENTENCE, build_prompt
from fnrag.types import MAX_QUESTION_CHARS, Answer, Citation, Evidence, Hit, Timings

if TYPE_CHECKING:
    from fnrag.answering.pii import MaskedText

__all__ = ["MAX_QUESTION_CHARS", "Answer", "Assistant", "Citation", "Timings", "ask"]


def validate_question(question: object) -> str:
    """The stripped question, or InputError saying what to fix."""
    if not isinstance(question, str):
        raise InputError(f"the question must be text, not {type(question).__name__}")
    stripped = question.strip()
    if not stripped:
        raise InputError("the question is empty; type a question about 금융실명제")
    if len(stripped) > MAX_QUESTION_CHARS:
        raise InputError(
            f"the question has {len(stripped):,} characters; shorten it to at most "
            f"{MAX_QUESTION_CHARS:,} characters (ask one thing at a time)"
        )
    return stripped


def _load(index: Any) -> Any:
    if index is None or isinstance(index, str | Path):
        from fnrag.index.search import load_index

        return load_index(index)
    return index


def _embedder_name(index: Any) -> str:
    manifest = getattr(index, "manifest", None) or {}
    embedder = manifest.get("embedder") if isinstance(manifest, dict) else None
    if isinstance(embedder, dict):
        return str(embedder.get("name", ""))
    return str(embedder or getattr(getattr(index, "embedder", None), "name", ""))


class Assistant:
    """Keeps an index and a generator loaded and answers questions with citations.

    Args:
        index: an ``Index``, a path to one, or None for the default index.
        generator: a generator name (``extractive``, ``transformers``, ``openai``)
            or a built generator.
        k: passages retrieved and shown to the generator.
        refuse_ungrounded: replace answers left with no valid citation by the
            refusal sentence (otherwise return them with ``grounded=False``).
        refusal: the weak-evidence policy; None = the calibrated default; False = never.
        mode: retrieval mode (``hybrid``, ``dense``, ``lexical``).
        log: write a structured log record per ask (``fnrag.answering.logs``; no raw PII).
        log_question: include the (PII-masked) question text in that record.
        **generator_options: passed to the generator backend (model, adapter, base_url, …).

    Example:
        >>> assistant = Assistant("index/")  # doctest: +SKIP
        >>> answer = assistant.ask("실명확인을 생략할 수 있는 거래는?")  # doctest: +SKIP
        >>> answer.citations[0].section  # doctest: +SKIP
    """

    def __init__(
        self,
        index: Any = None,
        generator: str | Generator = "extractive",
        k: int = 5,
        refuse_ungrounded: bool = True,
        refusal: RefusalPolicy | bool | None = None,
        mode: str = "hybrid",
        log: bool = True,
        log_question: bool = False,
        **generator_options: Any,
    ) -> None:
        if k < 1:
            raise InputError(f"k must be at least 1 (got {k})")
        self.index = _load(index)
        self.generator = get_generator(generator, **generator_options)
        self.k = k
        self.mode = mode
        self.refuse_ungrounded = refuse_ungrounded
        self.log = log
        self.log_question = log_question
        if refusal is False:
            self.refusal: RefusalPolicy | None = None
        elif isinstance(refusal, RefusalPolicy):
            self.refusal = refusal
        else:
            # The dense threshold is calibrated on e5 cosines; other embedders use a
            # different scale, so only the embedder-independent signals apply.
            self.refusal = RefusalPolicy(dense_applies="e5" in _embedder_name(self.index).lower())
        self._scope = (
            ScopeScorer.for_index(self.index)
            if self.refusal is not None and self.refusal.dense_applies
            else None
        )

    def ask(self, question: str, *, on_text: Callable[[str], None] | None = None) -> Answer:
        """Answer ``question``; ``on_text`` receives streamed text pieces when the
        generator can stream (the returned Answer is still the verified one)."""
        from fnrag.answering.pii import mask_pii
        from fnrag.korean.tokens import tokenize

        started = time.perf_counter()
        masked_question = mask_pii(validate_question(question))
        masked = masked_question.text
        hits = tuple(self.index.search(masked, k=self.k, mode=self.mode))
        evidence = measure(tokenize(masked), hits, top=self.refusal.top if self.refusal else 3)
        if self._scope is not None and hits:
            evidence = with_scope(evidence, self._scope(masked))
        retrieved = time.perf_counter()
        if not hits or (self.refusal is not None and self.refusal.refuse(evidence)):
            answer = self._refusal(masked, hits, evidence, "weak evidence", "", started, retrieved)
            return self._finish(answer, question, masked_question)
        prompt = build_prompt(masked, hits)
        raw = self._generate(prompt, masked, hits, on_text)
        generated = time.perf_counter()
        if locate(REFUSAL_SENTENCE, raw) is not None:
            answer = self._refusal(masked, hits, evidence, "declined", raw, started, retrieved)
            return self._finish(answer, question, masked_question)
        check = verify_citations(raw, hits)
        done = time.perf_counter()
        timings = Timings(
            retrieve_ms=(retrieved - started) * 1000,
            generate_ms=(generated - retrieved) * 1000,
            verify_ms=(done - generated) * 1000,
            total_ms=(done - started) * 1000,
        )
        refuse = not check.grounded and self.refuse_ungrounded
        answer = Answer(
            text=REFUSAL_SENTENCE if refuse else check.text,
            citations=check.citations,
            refused=refuse,
            grounded=check.grounded,
            passages=hits,
            question=masked,
            timings=timings,
            invalid_citations=check.invalid,
            generator=self.generator.name,
            refusal_reason="ungrounded" if refuse else None,
            evidence=evidence,
            raw_text=raw,
        )
        return self._finish(answer, question, masked_question)

    def _generate(
        self, prompt: str, question: str, hits: Sequence[Hit], on_text: Callable[[str], None] | None
    ) -> str:
        if on_text is not None and isinstance(self.generator, StreamingGenerator):
            pieces = []
            for piece in self.generator.stream(prompt, question=question, passages=hits):
                pieces.append(piece)
                on_text(piece)
            return "".join(pieces).strip()
        text = self.generator.generate(prompt, question=question, passages=hits).text
        if on_text is not None:
            on_text(text)
        return text

    def _refusal(
        self,
        question: str,
        hits: tuple[Hit, ...],
        evidence: Evidence,
        reason: str,
        raw: str,
        started: float,
        retrieved: float,
    ) -> Answer:
        now = time.perf_counter()
        timings = Timings(
            retrieve_ms=(retrieved - started) * 1000,
            generate_ms=(now - retrieved) * 1000 if raw else 0.0,
            total_ms=(now - started) * 1000,
        )
        return Answer(
            text=REFUSAL_SENTENCE,
            citations=(),
            refused=True,
            grounded=False,
            passages=hits,
            question=question,
            timings=timings,
            generator=self.generator.name,
            refusal_reason=reason,
            evidence=evidence,
            raw_text=raw,
        )

    def _finish(self, answer: Answer, question: str, masked: MaskedText) -> Answer:
        if self.log:
            from fnrag.answering.logs import log_ask

            t = answer.timings
            log_ask(
                # The question as asked (never logged verbatim) and its masking, so the
                # record's pii_kinds and question_chars describe what the user sent.
                question=question,
                masked=masked,
                index_version=str(getattr(self.index, "version", "")),
                cited_chunk_ids=[c.chunk_id for c in answer.citations],
                timings={
                    "retrieve": t.retrieve_ms / 1000,
                    "generate": t.generate_ms / 1000,
                    "verify": t.verify_ms / 1000,
                    "total": t.total_ms / 1000,
                },
                refused=answer.refused,
                log_raw_question=self.log_question,
            )
        return answer


# One Assistant per (index path, generator, k) so repeated ask() calls stay warm.
_assistants: dict[tuple[Any, ...], Assistant] = {}
_assistants_lock = threading.Lock()


def ask(
    question: str,
    index: Any = None,
    generator: str | Generator = "extractive",
    k: int = 5,
    **kw: Any,
) -> Answer:
    """Answer one question with verified citations (see ``Assistant`` for options).

    Example:
        >>> from fnrag import ask  # doctest: +SKIP
        >>> ask("금융실명법의 목적은 무엇인가요?", index="index/").text  # doctest: +SKIP
    """
    if index is not None and not isinstance(index, str | Path):
        return Assistant(index, generator, k=k, **kw).ask(question)
    try:
        key: tuple[Any, ...] | None = (
            str(index),
            generator,
            k,
            tuple(sorted(kw.items())),
        )
        hash(key)
    except TypeError:
        key = None
    if key is None:
        return Assistant(index, generator, k=k, **kw).ask(question)
    with _assistants_lock:
        assistant = _assistants.get(key)
        if assistant is None:
            assistant = _assistants[key] = Assistant(index, generator, k=k, **kw)
    return assistant.ask(question)
