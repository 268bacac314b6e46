"""Small text measures used by several steps: n-gram similarity, grounding, answer format,
and the Q/A record every step passes on."""

from __future__ import annotations

import re
from typing import Any

from fnrag.text import MARKER_RE
from fnrag.types import Chunk

# The inference marker grammar: [1], [1, 2] (and [1][2] as two markers).
CITATION = MARKER_RE
_TOKEN = re.compile(r"[0-9A-Za-z가-힣]+")
# Trailing particles/endings stripped before looking a token up in the passage, so that
# "금융회사등은" in an answer counts as present when the passage says "금융회사등의".
_SUFFIXES = tuple(
    sorted(
        [
            "은",
            "는",
            "이",
            "가",
            "을",
            "를",
            "의",
            "에",
            "에서",
            "에게",
            "으로",
            "로",
            "와",
            "과",
            "도",
            "만",
            "까지",
            "부터",
            "이다",
            "입니다",
            "합니다",
            "한다",
            "하여야",
            "해야",
            "하는",
            "된다",
            "됩니다",
            "라고",
            "이라",
            "하며",
            "이며",
            "및",
        ],
        key=len,
        reverse=True,
    )
)


def char_ngrams(text: str, n: int = 3) -> set[str]:
    compact = re.sub(r"\s+", " ", text.strip().lower())
    if len(compact) <= n:
        return {compact} if compact else set()
    return {compact[i : i + n] for i in range(len(compact) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def content_tokens(text: str) -> list[str]:
    """Word tokens of 2+ characters (single syllables are mostly particles)."""
    return [t for t in _TOKEN.findall(text) if len(t) >= 2]


def _stem(token: str) -> str:
    for suffix in _SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= 2:
            return token[: -len(suffix)]
    return token


def grounding_score(answer: str, passage: str) -> float:
    """Share of the answer's content tokens found (possibly minus a particle) in ``passage``.

    A cheap, dependency-free proxy for "the chunk supports this answer": an answer
    that paraphrases the chunk keeps most of its content words; a hallucinated one
    does not. Returns 0.0 for an answer without content tokens.
    """
    tokens = content_tokens(answer)
    if not tokens:
        return 0.0
    haystack = passage.lower()
    found = sum(1 for t in tokens if t.lower() in haystack or _stem(t).lower() in haystack)
    return found / len(tokens)


def cited_numbers(answer: str) -> list[int]:
    """Every passage number cited in ``answer``, in order ("[1, 3] ... [2]" -> [1, 3, 2])."""
    return [int(n) for group in CITATION.findall(answer) for n in group.split(",")]


def is_valid_format(answer: str, n_passages: int, refusal: str) -> bool:
    """True when ``answer`` is exactly the refusal sentence, or cites only markers 1..n.

    An answer must carry at least one ``[n]`` marker to count as citing.
    """
    text = answer.strip()
    if text == refusal.strip():
        return True
    markers = cited_numbers(text)
    return bool(markers) and all(1 <= m <= n_passages for m in markers)


def qa_record(chunk: Chunk, record_id: str, question: str, answer: str) -> dict[str, Any]:
    """An Alpaca Q/A line grounded in ``chunk``: what review and build_sft read."""
    return {
        "id": record_id,
        "instruction": question,
        "input": "",
        "output": answer,
        "chunk_id": chunk.chunk_id,
        "source": chunk.source,
        "section": chunk.section,
    }
