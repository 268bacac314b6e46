"""``Assistant.ask()``: a question in, a cited and verified ``Answer`` out
(``fnrag.ask`` keeps one warm Assistant per index: :mod:`fnrag.answering.warm`).

Flow: validate → mask PII (before anything else sees the question) → retrieve →
refuse on weak evidence (for a model, also when no passage sentence answers) → build
the Alpaca prompt, fitted to the model's context (``fnrag.generators.budget``) →
generate (streaming only verified sentences, ``fnrag.answering.streaming``) → verify
citations → refuse if ungrounded (configurable) → log without raw PII.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fnrag.answering.citations import locate, trail_leading_markers, verify_citations
from fnrag.answering.refusal import RefusalPolicy, ScopeScorer, for_index, measure, with_scope
from fnrag.answering.streaming import VerifiedStream
from fnrag.errors import InputError, NoTextInForceError
from fnrag.generators import ContextOverflowError, Generator, StreamingGenerator, get_generator
from fnrag.generators.budget import fit_for
from fnrag.prompts import REFUSAL_SENTENCE, cut_at_echo
from fnrag.types import MAX_QUESTION_CHARS, Answer, Citation, Evidence, Hit, Retrieval, Timings

if TYPE_CHECKING:
    from fnrag.answering.pii import MaskedText
    from fnrag.settings import Settings

__all__ = ["MAX_QUESTION_CHARS", "Answer", "Assistant", "Citation", "Timings"]


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


def _embedder_family(index: Any) -> str:
    identity = getattr(index, "embedder_identity", None)
    return str(getattr(identity, "family", ""))


def _takes_retrieval(generator: Generator) -> bool:
    try:
        return "retrieval" in inspect.signature(generator.generate).parameters
    except (TypeError, ValueError):
        return False


class Assistant:
    """Keeps an index and a generator loaded and answers questions with citations.

    Args:
        index: an ``Index``, a path to one, or None for the default index.
        generator: a generator name (``extractive``, ``transformers``, ``openai``)
            or a built generator.
        k: passages retrieved and shown to the generator.
        refuse_ungrounded: replace answers left with no valid citation by the
            refusal sentence (otherwise return them with ``grounded=False``).
        repoint_citations: move a marker whose sentence quotes, verbatim, exactly one
            other shown passage to that passage (``verify_citations``' ``repoint``).
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
        repoint_citations: bool = True,
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
        self._generator_takes_retrieval = _takes_retrieval(self.generator)
        self.k = k
        self.mode = mode
        self.refuse_ungrounded = refuse_ungrounded
        self.repoint_citations = repoint_citations
        self.log = log
        self.log_question = log_question
        if refusal is False:
            self.refusal: RefusalPolicy | None = None
        else:
            policy = refusal if isinstance(refusal, RefusalPolicy) else RefusalPolicy()
            # A tuned embedder's cosines live on their own scale: its recorded thresholds.
            policy = for_index(self.index, policy)
            if policy.dense_applies is None:
                # The cosine thresholds are calibrated on e5; other embedders use a
                # different scale, so only the embedder-independent signals apply.
                policy = replace(policy, dense_applies=_embedder_family(self.index) == "e5")
            self.refusal = policy
        self._scope = (
            ScopeScorer.for_index(self.index)
            if self.refusal is not None and self.refusal.dense_applies
            else None
        )
        self._sentence_gate = (
            self.refusal.sentence_gate_for(self.generator) if self.refusal else None
        )

    @classmethod
    def from_settings(
        cls, index: Any, settings: Settings | None = None, **generator_options: Any
    ) -> Assistant:
        """An Assistant configured by :class:`fnrag.settings.Settings` (a YAML file's or
        the defaults); ``generator_options`` go to the generator backend."""
        from fnrag.settings import load_settings

        chosen = settings or load_settings()
        return cls(
            index,
            chosen.ask.generator,
            k=chosen.search.k,
            mode=chosen.search.mode,
            refusal=chosen.refusal,
            refuse_ungrounded=chosen.ask.refuse_ungrounded,
            repoint_citations=chosen.ask.repoint_citations,
            log=chosen.ask.log,
            log_question=chosen.ask.log_question,
            **generator_options,
        )

    def ask(
        self,
        question: str,
        *,
        on_text: Callable[[str], None] | None = None,
        as_of: Any = None,
        history: Any = None,
    ) -> Answer:
        """Answer ``question``; ``on_text`` receives the answer's sentences as each one
        is complete and its citations verify (as generated, when the generator
        streams); the returned Answer is the verified whole.

        ``as_of`` (a ``datetime.date`` or ISO string; default today) answers from the
        text in force on that date (plus undated documents). ``history`` is the earlier
        turns of a conversation, ``[{"role": "user"|"assistant", "content": …}, …]``,
        against which a follow-up question is resolved before retrieval."""
        from fnrag.answering.conversation import resolve_for
        from fnrag.answering.pii import mask_pii

        started = time.perf_counter()
        masked_question = mask_pii(validate_question(question))
        masked = masked_question.text
        # A follow-up is resolved against the (validated, PII-masked) earlier turns.
        resolution = resolve_for(masked, history, self.index, self.generator)
        resolved = resolution.resolved
        try:
            retrieval = self._retrieve(resolved, as_of, resolution.plan)
        except NoTextInForceError as error:
            # A date before every version held: say so instead of answering from
            # nothing, or from a law that was not yet in force.
            return self._finish(
                _not_in_force(masked, error, self.generator.name, started),
                question,
                masked_question,
                resolved=resolved,
            )
        hits = retrieval.hits
        top = self.refusal.top if self.refusal else 3
        evidence = measure(retrieval.plan.tokens, hits, top=top)
        if self._scope is not None and hits:
            evidence = with_scope(evidence, self._scope(retrieval))
        retrieved = time.perf_counter()
        weak = not hits or (self.refusal is not None and self.refusal.refuse(evidence))
        if weak or (self._sentence_gate and not self._sentence_gate.answers(retrieval)):
            answer = self._refusal(masked, hits, evidence, "weak evidence", "", started, retrieved)
            return self._finish(answer, question, masked_question, retrieval.as_of, resolved)
        order = getattr(self.generator, "passage_order", None)
        if order is not None:
            # A generator that knows what it will cite (the extractive composer) numbers
            # the passages so that its markers read [1], [2], … in order.
            retrieval = replace(retrieval, hits=tuple(order(retrieval)))
        # From here on the passages are those shown: a prompt budget may leave out the
        # lowest-ranked and shorten the first, and citations are checked against them.
        retrieval, raw = self._generate_fitted(retrieval, on_text)
        hits = retrieval.hits
        generated = time.perf_counter()
        if locate(REFUSAL_SENTENCE, raw) is not None:
            answer = self._refusal(masked, hits, evidence, "declined", raw, started, retrieved)
            return self._finish(answer, question, masked_question, retrieval.as_of, resolved)
        check = verify_citations(trail_leading_markers(raw), hits, repoint=self.repoint_citations)
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
            lead=None if refuse or not check.citations else check.citations[0],
        )
        return self._finish(answer, question, masked_question, retrieval.as_of, resolved)

    def _retrieve(self, question: str, as_of: Any = None, plan: Any = None) -> Retrieval:
        retrieve = getattr(self.index, "retrieve", None)
        if retrieve is not None:
            # Only the keywords in use: bank code may pass an index of its own.
            extra = {"as_of": as_of} if as_of is not None else {}
            if plan is not None:
                extra["plan"] = plan
            return retrieve(question, self.k, self.mode, **extra)
        # Any object with ``search(query, k, mode)`` still serves (bank code may pass
        # its own): the question is analysed here instead.
        from fnrag.index.plan import plan_query

        dated = {"as_of": as_of} if as_of is not None else {}
        try:
            hits = tuple(self.index.search(question, k=self.k, mode=self.mode, **dated))
        except TypeError:
            if not dated:
                raise
            raise InputError(
                f"the index object ({type(self.index).__name__}) cannot search as of a date; "
                "use an fnrag index (fnrag.load_index) or leave as_of out"
            ) from None
        return Retrieval(question, plan or plan_query(question), hits, self.mode)

    def _generate_fitted(
        self, retrieval: Retrieval, on_text: Callable[[str], None] | None
    ) -> tuple[Retrieval, str]:
        """Generate over the passages that fit the generator's context budget; when the
        server answers that the prompt overflowed and names its context (which the
        generator then keeps), fit to that and try once more."""
        hits = retrieval.hits
        while True:
            fitted = fit_for(self.generator, retrieval.question, hits)
            shown = replace(retrieval, hits=fitted.passages)
            try:
                return shown, self._generate(fitted.prompt, shown, on_text)
            except ContextOverflowError:
                learned = getattr(self.generator, "prompt_budget", lambda: None)()
                if learned is None or (fitted.budget is not None and learned >= fitted.budget):
                    raise  # nothing new learned: trying again would overflow again

    def _generate(
        self, prompt: str, retrieval: Retrieval, on_text: Callable[[str], None] | None
    ) -> str:
        """The generated text up to any echo of the prompt; ``on_text`` receives only
        complete sentences whose citations verify (``fnrag.answering.streaming``)."""
        question, hits = retrieval.question, retrieval.hits
        # Generators that take the retrieval (the extractive one) reuse its analysis.
        extra = {"retrieval": retrieval} if self._generator_takes_retrieval else {}
        if on_text is None:
            generation = self.generator.generate(prompt, question=question, passages=hits, **extra)
            return cut_at_echo(generation.text)
        verified = VerifiedStream(hits, on_text, repoint=self.repoint_citations)
        if isinstance(self.generator, StreamingGenerator):
            pieces = self.generator.stream(prompt, question=question, passages=hits, **extra)
        else:
            generation = self.generator.generate(prompt, question=question, passages=hits, **extra)
            pieces = iter([generation.text])
        try:
            for piece in pieces:
                if not verified.feed(piece):
                    break  # the model is writing the prompt again: stop it there
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        return verified.close()

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

    def _finish(
        self,
        answer: Answer,
        question: str,
        masked: MaskedText,
        as_of: str | None = None,
        resolved: str = "",
    ) -> Answer:
        answer = replace(answer, resolved_question=resolved or answer.question)
        if as_of is not None:
            from fnrag.versions.notices import version_notices

            answer = replace(
                answer, as_of=as_of, notices=version_notices(self.index, answer, as_of)
            )
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


def _not_in_force(
    question: str, error: NoTextInForceError, generator: str, started: float
) -> Answer:
    from fnrag.versions.notices import no_text_in_force

    said = no_text_in_force(error.day, error.earliest)
    return Answer(
        text=said,
        citations=(),
        refused=True,
        grounded=False,
        passages=(),
        question=question,
        timings=Timings(total_ms=(time.perf_counter() - started) * 1000),
        generator=generator,
        refusal_reason="no text in force",
        as_of=error.day or None,
        notices=(said,),
    )
