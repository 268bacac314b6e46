"""The default generator: no model, answers from the passages' own words.

By default it composes (``fnrag.generators.composer``): the deciding 항/호/목 quoted whole
under its reference, with at most two supporting units; the calibrated sentence selector
(``fnrag.generators.sentences``) decides whether the passages answer at all. With
``compose=False`` the selected sentences themselves are the answer, each cited.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from fnrag.generators.base import Generation
from fnrag.generators.sentences import SentenceSelector
from fnrag.prompts import REFUSAL_SENTENCE
from fnrag.types import Hit, Retrieval


class ExtractiveGenerator(SentenceSelector):
    """Answer from the passages' own words, each piece cited.

    Args:
        max_sentences, max_chars, relative_cutoff, min_score, rank_decay, heading_credit,
            distinct_passages: the sentence selector's settings (``SentenceSelector``).
        compose: answer through the provision composer (``fnrag.generators.composer``):
            the deciding 항/호/목 quoted whole under its reference; this selector then
            only decides whether to answer. False: the selected sentences themselves.
    """

    name = "extractive"

    def __init__(
        self,
        max_sentences: int = 3,
        max_chars: int = 600,
        relative_cutoff: float = 0.6,
        min_score: float = 0.2,
        rank_decay: float = 0.1,
        heading_credit: float = 1.0,
        distinct_passages: bool = True,
        compose: bool = True,
    ) -> None:
        super().__init__(
            max_sentences,
            max_chars,
            relative_cutoff,
            min_score,
            rank_decay,
            heading_credit,
            distinct_passages,
        )
        self.compose = compose
        # One generator serves many threads (``fnrag serve``): the answer composed by
        # ``passage_order`` is kept per thread.
        self._ordered = threading.local()

    def generate(
        self,
        prompt: str,
        *,
        question: str,
        passages: Sequence[Hit],
        retrieval: Retrieval | None = None,
    ) -> Generation:
        """``retrieval``, when given, supplies the question's analysis (no second one)."""
        started = time.perf_counter()
        plan = retrieval.plan if retrieval else None
        ordered = getattr(self._ordered, "answer", None)
        self._ordered.answer = None
        if self.compose and ordered is not None and ordered[0] == (question, plan, tuple(passages)):
            # ``passage_order`` composed this answer already, over these passages.
            answer = ordered[1]
        elif self.compose:
            from fnrag.generators.composer import ComposerGenerator

            answer = ComposerGenerator(gate=self).compose(question, passages, plan)
        else:
            chosen = self.select(question, passages, plan)
            answer = " ".join(f"{c.text} [{c.n}]" for c in chosen)
        text = answer or REFUSAL_SENTENCE
        return Generation(text=text, seconds=time.perf_counter() - started)

    def answers(self, retrieval: Retrieval) -> bool:
        """Whether this generator would answer from ``retrieval``'s passages: the refusal
        bar the Assistant also applies before a model generates (``sentence_gate``)."""
        text = self.generate(
            "", question=retrieval.question, passages=retrieval.hits, retrieval=retrieval
        ).text
        return text != REFUSAL_SENTENCE

    def passage_order(self, retrieval: Retrieval) -> tuple[Hit, ...]:
        """The passages numbered in the composed answer's reading order (its cited
        passages first, as cited); unchanged when not composing."""
        if not self.compose:
            return retrieval.hits
        from fnrag.generators.composer import ComposerGenerator

        composer = ComposerGenerator(gate=self)
        hits, answer = composer.ordered(retrieval.question, retrieval.hits, retrieval.plan)
        # Kept for the ``generate`` over these passages that follows in this thread
        # (``Assistant.ask``): composing is most of an answer's time after the embedding.
        self._ordered.answer = ((retrieval.question, retrieval.plan, hits), answer)
        return hits
