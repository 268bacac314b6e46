"""Correct a question's misspelled Korean words against the index's own vocabulary.

Tellers type fast: "과태로" for 과태료, "게좌" for 계좌, "실면확인" for 실명확인. Kiwi then
splits the word into fragments (과태/로) that match nothing, BM25 finds unrelated text and
the answer is refused or wrong. A misspelling here is a stretch of the question, two to
five syllables, that occurs nowhere in the indexed text but differs in exactly one
letter (one 초성, 중성 or 종성, a missing or extra 받침 included) from a word the
index holds in at least ``min_doc_freq`` passages; among such words, the one the corpus
writes after the same preceding text wins, then the most frequent. Only nouns Kiwi
itself does not know are candidates (and runs of one-syllable fragments, how Kiwi reads
an unknown word's end): a real word the corpus lacks (교회, 콜센터) is spelled as
written, and so is any stretch the indexed text contains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_HANGUL_RUN = re.compile(r"[가-힣]{2,}")
_HANGUL = re.compile(r"[가-힣]+")
_BASE = 0xAC00
_SYLLABLES = 11172
MAX_SYLLABLES = 5


def letters(word: str) -> tuple[int, ...]:
    """The word's 초성/중성/종성 indices, three slots a syllable (종성 0: none)."""
    out: list[int] = []
    for ch in word:
        code = ord(ch) - _BASE
        if not 0 <= code < _SYLLABLES:
            raise ValueError(f"{ch!r} is not a Hangul syllable")
        out.extend((code // 588, (code % 588) // 28, code % 28))
    return tuple(out)


def _keys(slots: tuple[int, ...]) -> Iterable[tuple[int, ...]]:
    # One key per slot with that slot blanked: two words one letter apart share a key.
    for i in range(len(slots)):
        yield (*slots[:i], -1, *slots[i + 1 :])


@dataclass(frozen=True)
class Correction:
    """One replaced stretch of a question: what was typed, what replaced it."""

    typed: str
    word: str


_NOUN_TAGS = ("NNG", "NNP", "NNB")


def suspects(question: str) -> list[tuple[int, int]]:
    """Character spans of the question that may be misspelled nouns: a noun Kiwi does
    not know (with a one-syllable particle right after it, which may be the noun's own
    last syllable: 과태/로 for 과태로), and a run of two or more one-syllable nouns inside
    one word (고액현금거레 → …/거/레), which is how Kiwi reads an unknown ending."""
    from fnrag.korean.tokens import analyse

    tokens = [t for t in analyse(question) if _HANGUL.fullmatch(question[t.start : t.end])]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if token.tag in _NOUN_TAGS and token.oov:
            end = token.end
            if after and after.start == end and after.tag.startswith("J") and after.len == 1:
                end = after.end
            spans.append((token.start, end))
            i += 1
            continue
        run = i
        while (
            run < len(tokens)
            and tokens[run].tag in _NOUN_TAGS
            and tokens[run].len == 1
            and (run == i or tokens[run].start == tokens[run - 1].end)
        ):
            run += 1
        if run - i >= 2:
            spans.append((tokens[i].start, tokens[run - 1].end))
            i = run
            continue
        i += 1
    return spans


class Speller:
    """Corrects misspellings against a vocabulary (see the module docstring).

    Args:
        vocabulary: word → number of passages holding it (the index's BM25 terms).
        text: the indexed text; a stretch found in it is never a misspelling.
        min_doc_freq: a replacement must occur in at least this many passages.
    """

    def __init__(self, vocabulary: dict[str, int], text: str, min_doc_freq: int = 3) -> None:
        # Words kept apart: a stretch is looked up inside one word, never across two
        # ("…하게 좌석" must not vouch for "게좌").
        self._text = " ".join(text.split())
        self._freq = {
            w: n
            for w, n in vocabulary.items()
            if n >= min_doc_freq and 2 <= len(w) <= MAX_SYLLABLES and _HANGUL_RUN.fullmatch(w)
        }
        self._by_key: dict[tuple[int, ...], list[str]] = {}
        for word in self._freq:
            for key in _keys(letters(word)):
                self._by_key.setdefault(key, []).append(word)

    def correct(self, question: str) -> tuple[str, tuple[Correction, ...]]:
        """The question with its misspellings replaced, and what was replaced."""
        corrections: list[Correction] = []
        out = question
        # Right to left, so earlier offsets stay valid as replacements change lengths.
        for begin, end in sorted(suspects(question), reverse=True):
            fixed, found = self._correct_span(question[begin:end])
            if found:
                out = out[:begin] + fixed + out[end:]
                corrections[:0] = found
        return (out, tuple(corrections)) if corrections else (question, ())

    def _correct_span(self, span: str) -> tuple[str, list[Correction]]:
        """Known words are kept; at the first position no known word starts, the longest
        stretch with a one-letter neighbour is replaced; a position with neither ends
        the search (guessing inside an unknown word corrupts it)."""
        found: list[Correction] = []
        out: list[str] = []
        start = 0
        while start < len(span):
            sizes = range(min(MAX_SYLLABLES, len(span) - start), 1, -1)
            known = next((n for n in sizes if span[start : start + n] in self._freq), 0)
            if known:
                out.append(span[start : start + known])
                start += known
                continue
            for size in sizes:
                typed = span[start : start + size]
                word = self._replacement(typed, "".join(out))
                if word:
                    out.append(word)
                    found.append(Correction(typed, word))
                    start += size
                    break
            else:
                out.append(span[start:])
                break
        return "".join(out), found

    def _replacement(self, typed: str, before: str = "") -> str | None:
        if typed in self._freq:
            return None
        slots = letters(typed)
        candidates = {w for key in _keys(slots) for w in self._by_key.get(key, ())}
        candidates.discard(typed)
        # The expensive test last, and only when a neighbour exists: text the corpus
        # holds (an inflected form, a word inside a longer one) is spelled as written.
        if not candidates or typed in self._text:
            return None
        # Among neighbours, the one the corpus writes after the same words (통보유얘 →
        # 통보유예, not the more frequent 유의), then the most frequent.
        return max(
            sorted(candidates),
            key=lambda w: (bool(before) and before + w in self._text, self._freq[w]),
        )
