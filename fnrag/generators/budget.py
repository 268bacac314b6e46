"""Fit the prompt's passages into the model's context window.

A model behind an HTTP endpoint has no tokenizer here, so counts must never be
low: ``estimate_tokens`` takes the UTF-8 byte count, an upper bound for byte-level
BPE vocabularies (Llama 3, GPT, SmolLM2) and SentencePiece with byte fallback,
because no token is shorter than one byte. Korean is where this matters: a Hangul
syllable is 3 bytes, and SmolLM2-135M (an English-centred vocabulary) spends
0.85 tokens per byte — 1.9 per character — on 금융실명법 text (measured through
llama-cpp-python's ``/extras/tokenize/count``), far above the "one token per
character" a Korean-trained vocabulary needs. A server that can count exactly is
asked instead (``OpenAIGenerator.count_prompt_tokens``).

``fit_prompt`` drops the lowest-ranked passages first; if the best one alone is still
too long it is cut to the run of its sentences that shares most of the question's
words. Passages keep their numbers (1.. in rank order) and a shortened one is an
exact slice of its chunk, so the citation verifier, which checks against the
passages actually shown, and the quotes stay consistent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from fnrag.generators.base import ContextOverflowError
from fnrag.prompts import build_prompt
from fnrag.text import split_sentences, trim
from fnrag.types import Hit

# Cuts of the passage tried before giving up: each one shrinks it by at least 10%.
_MAX_CUTS = 12


def estimate_tokens(text: str) -> int:
    """An upper bound of ``text``'s tokens for any byte-level tokenizer."""
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class FittedPrompt:
    """The prompt as it will be sent.

    Attributes:
        prompt: the Alpaca prompt over ``passages``.
        passages: the passages shown, numbered 1.. in the prompt (a prefix of the
            retrieved hits; the first one possibly an excerpt of its chunk).
        tokens: the prompt's counted tokens; None when no budget applied.
        budget: the budget it was fitted to; None when unknown.
        dropped: retrieved passages left out.
        shortened: True when the first passage is an excerpt.
    """

    prompt: str
    passages: tuple[Hit, ...]
    tokens: int | None = None
    budget: int | None = None
    dropped: int = 0
    shortened: bool = False


def fit_for(generator: Any, question: str, hits: Sequence[Hit]) -> FittedPrompt:
    """``fit_prompt`` with the generator's own budget and token count (none: as is)."""
    budget_of = getattr(generator, "prompt_budget", None)
    budget = budget_of() if callable(budget_of) else None
    count = getattr(generator, "count_prompt_tokens", None)
    return fit_prompt(question, hits, budget, count if callable(count) else estimate_tokens)


def fit_prompt(
    question: str,
    hits: Sequence[Hit],
    budget: int | None,
    count: Callable[[str], int] = estimate_tokens,
) -> FittedPrompt:
    """The prompt over as many of ``hits`` as fit ``budget`` tokens (see module doc).

    Raises:
        ContextOverflowError: the prompt leaves no room even for a short excerpt.
    """
    shown = tuple(hits)
    prompt = build_prompt(question, shown)
    if budget is None or not shown:
        return FittedPrompt(prompt, shown, budget=budget)
    tokens = count(prompt)
    for keep in range(len(shown), 0, -1):
        if keep < len(shown):
            prompt = build_prompt(question, shown[:keep])
            tokens = count(prompt)
        if tokens <= budget:
            return FittedPrompt(prompt, shown[:keep], tokens, budget, len(shown) - keep)
    first = shown[0]
    bare = count(build_prompt(question, [replace(first, text="")]))
    room = budget - bare
    if room <= 0:
        raise _no_room(bare, budget)
    # Characters per token as this passage counts, to aim the first cut well.
    chars = int(room * len(first.text) / max(1, tokens - bare))
    for _ in range(_MAX_CUTS):
        if chars < 1:
            break
        start, end = excerpt_span(first.text, question, chars)
        excerpt = _slice(first, start, end)
        prompt = build_prompt(question, [excerpt])
        tokens = count(prompt)
        if tokens <= budget:
            return FittedPrompt(prompt, (excerpt,), tokens, budget, len(shown) - 1, True)
        chars = min(int(chars * 0.9), int(chars * budget / tokens))
    raise _no_room(bare, budget)


def _no_room(bare: int, budget: int) -> ContextOverflowError:
    return ContextOverflowError(
        f"the prompt's instructions alone take {bare:,} tokens of the {budget:,} the model's "
        "context leaves for the prompt, so no passage fits; raise --max-prompt-tokens or "
        "start the server with a larger --n_ctx",
        prompt_tokens=bare,
    )


def excerpt_span(text: str, question: str, max_chars: int) -> tuple[int, int]:
    """The span of at most ``max_chars`` characters of ``text`` to show: the run of
    whole sentences sharing most of the question's words (the earliest on ties), else
    the start of the best such sentence."""
    spans = split_sentences(text)
    if not spans:
        return trim(text, 0, min(len(text), max_chars))
    scores = _sentence_scores(text, spans, question)
    best: tuple[int, int] | None = None
    best_score = -1
    end = 0
    for first in range(len(spans)):
        end = max(end, first)
        while end < len(spans) and spans[end][1] - spans[first][0] <= max_chars:
            end += 1
        if end == first:
            continue
        score = sum(scores[first:end])
        if score > best_score:
            best, best_score = (spans[first][0], spans[end - 1][1]), score
    if best is not None:
        return best
    # Every sentence is longer than the room: the start of the best one.
    top = max(range(len(spans)), key=lambda i: (scores[i], -i))
    start = spans[top][0]
    return trim(text, start, min(spans[top][1], start + max_chars))


def _sentence_scores(text: str, spans: list[tuple[int, int]], question: str) -> list[int]:
    from fnrag.korean.tokens import tokenize

    # Substring tests on whitespace-free text, as the extractive generator does: robust
    # to Kiwi splitting a compound differently in the question and the passage.
    terms = {t.lower() for t in tokenize(question) if len(t) > 1}
    squeezed = ["".join(text[a:b].split()).lower() for a, b in spans]
    return [sum(term in sentence for term in terms) for sentence in squeezed]


def _slice(hit: Hit, start: int, end: int) -> Hit:
    # The excerpt stays an exact slice of the chunk, with its offsets in the document.
    if hit.end > hit.start:
        return replace(hit, text=hit.text[start:end], start=hit.start + start, end=hit.start + end)
    return replace(hit, text=hit.text[start:end])
