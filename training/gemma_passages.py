"""Text pieces of the Gemma RAFT data: deciding sentences, passage windows, targets in
the extractive composer's words, and templated pairs (``training.gemma_data`` uses them).

Everything returned is an exact span of a chunk's text, because fnrag's citation
verifier accepts a quote only when it finds it in the cited passage.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence
from typing import Any

from fnrag.errors import FnragError
from fnrag.evaluation.metrics import GoldRef, is_gold
from fnrag.types import Chunk


def deciding_span(text: str, anchor: str, limit: int) -> tuple[int, int] | None:
    """Span of the sentence(s) of ``text`` holding ``anchor`` (whitespace-insensitive),
    cut to about ``limit`` characters around the anchor at spaces; None when absent."""
    from fnrag.answering.citations import locate
    from fnrag.text import split_sentences

    found = locate(anchor, text)
    if found is None:
        return None
    a, b = found
    spans = split_sentences(text)
    start = min((s for s, e in spans if s <= a < e), default=a)
    end = max((e for s, e in spans if s < b <= e), default=b)
    if end - start > limit:
        room = max(limit - (b - a), 0) // 2
        start, end = max(start, a - room), min(end, b + room)
        if start < a and " " in text[start:a]:
            start = text.index(" ", start, a) + 1
        if end > b and " " in text[b:end]:
            end = text.rindex(" ", b, end)
    return start, end


def window(
    text: str, limit: int, keep: tuple[int, int] | None, rng: random.Random
) -> tuple[int, int]:
    """A span of whole sentences of at most ``limit`` chars starting at a sentence, holding
    ``keep`` when given (then at least ``keep`` itself); the whole text when it fits."""
    from fnrag.text import split_sentences

    if not limit or len(text) <= limit:
        return 0, len(text)
    starts = [s for s, _ in split_sentences(text)] or [0]
    if keep is not None:
        fits = [s for s in starts if s <= keep[0] and keep[1] - s <= limit]
        start = rng.choice(fits) if fits else keep[0]
    else:
        start = rng.choice([s for s in starts if s < len(text) - 1] or [0])
    end = min(len(text), start + limit)
    if end < len(text) and " " in text[start:end]:
        end = text.rindex(" ", start, end)
    if keep is not None:
        end = max(end, keep[1])
    return start, end


def slice_chunk(chunk: Chunk, span: tuple[int, int]) -> Chunk:
    a, b = span
    if (a, b) == (0, len(chunk.text)):
        return chunk
    return dataclasses.replace(
        chunk, text=chunk.text[a:b], start=chunk.start + a, end=chunk.start + a + (b - a)
    )


def _seed_topic(chunk: Chunk) -> str:
    """What a templated question names: the law and article, else the heading."""
    from fnrag.generators.units import short_law_name
    from training.seed_qa import _topic

    parts = [p.strip() for p in chunk.section.split(" > ")]
    article = next((p for p in parts if re.match(r"제\d+조", p)), "")
    if article:
        return f"{short_law_name(chunk.title)} {article}"
    heading = re.sub(r"^[(（]?[0-9가-힣]{1,2}[.)）]\s*", "", _topic(chunk))  # "1. ", "(나) "
    return f"{short_law_name(chunk.title)}의 {heading}"


def seed_records(
    chunks: Sequence[Chunk], n: int, banned: Sequence[GoldRef], limit: int, seed: int
) -> list[dict[str, Any]]:
    """``n`` pairs with ``training.seed_qa``'s question templates, on statute chunks first,
    none in 부칙 or touched by a held-out gold; the answer is the chunk's first sentence
    of 30+ characters that is not markup (fnrag's own splitter: seed_qa's cuts headings)."""
    from fnrag.index.fusion import section_article
    from fnrag.text import is_markup, split_sentences
    from training.seed_qa import TEMPLATES
    from training.textutil import qa_record

    allowed = [
        c for c in chunks if "부칙" not in c.section and not is_gold(c.source, c.text, banned)
    ]
    random.Random(seed).shuffle(allowed)
    # Statute chunks first: what practitioners (and dev_qa) ask about most.
    allowed.sort(key=lambda c: section_article(c.section) is None)
    records: list[dict[str, Any]] = []
    for chunk in allowed:
        if len(records) == n:
            break
        for start, end in split_sentences(chunk.text):
            sentence = chunk.text[start:end]
            if len(sentence) >= 30 and not is_markup(sentence) and "<" not in sentence[:2]:
                if len(sentence) > limit:
                    sentence = sentence[: sentence.rfind(" ", 0, limit)]
                question = TEMPLATES[len(records) % len(TEMPLATES)].format(topic=_seed_topic(chunk))
                row = qa_record(chunk, f"{chunk.chunk_id}-seed", question, sentence)
                records.append({**row, "origin": "seed"})
                break
    return records


def composer_target(
    example: dict[str, Any], chunk: Chunk, shown: str, quote: str, style: str = "quote-first"
) -> str:
    """``reference: “quote” [n]`` as the extractive composer writes it; ``cite-first``
    puts the marker before the reference (``[n] reference: “quote”``), so that a small
    model names the passage before it copies from it (fnrag moves the marker back)."""
    from fnrag.generators.quoting import quoted
    from fnrag.generators.units import quote_reference

    ref = quote_reference(shown, chunk.section, chunk.source, chunk.title, chunk.page, quote, quote)
    text = quoted(quote, shown)
    if "“" not in text:
        raise FnragError(
            f"{example['id']}: the quote is not in passage {example['source_position']}"
        )
    marker = f"[{example['source_position']}]"
    return f"{marker} {ref}: {text}" if style == "cite-first" else f"{ref}: {text} {marker}"
