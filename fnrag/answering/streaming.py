"""Stream only verified text: whole sentences whose citations hold.

A model's raw stream is unverified: it may cite passages it was never shown, quote
words no passage has, or start echoing the prompt (``### Instruction:`` …). The
stream is buffered; a sentence is passed on once it is complete (the next sentence
has begun, so no ``[n]`` marker can still join it) and ``verify_citations`` keeps at
least one of its citations; it is passed on as verified (invalid markers removed).
A sentence without a marker waits for the next cited one: it is passed on just
before it when it quotes and every quote is in a passage that sentence validly
cites (a quoted provision leading into its cited item: ``제4조의2: “…한다.” → 제2호
“…” [2]``), else dropped. At a prompt echo the stream ends: nothing from there on
is part of the answer.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

from fnrag.answering.citations import (
    find_quotes,
    locate,
    parse_markers,
    trail_leading_markers,
    verify_citations,
)
from fnrag.prompts import PROMPT_ECHO
from fnrag.text import MARKER_RE, split_sentences
from fnrag.types import Hit

_LINE_OPENS_WITH_MARKER = re.compile(r"\s*" + MARKER_RE.pattern)


class VerifiedStream:
    """Feed it the generator's pieces; ``emit`` receives verified sentences.

    Example:
        >>> from fnrag.types import Hit
        >>> hit = Hit(1, 1.0, "c1", "법.md", "법", None, (), "제1조", "이 법은 목적이 있다.")
        >>> shown = []
        >>> stream = VerifiedStream([hit], shown.append)
        >>> for piece in ["이 법은 목적이 ", "있다 [1]. 근거 없는 말. ", "### Instruction: 또"]:
        ...     if not stream.feed(piece):
        ...         break
        >>> stream.close(), shown
        ('이 법은 목적이 있다 [1]. 근거 없는 말.', ['이 법은 목적이 있다 [1].'])
    """

    def __init__(
        self, passages: Sequence[Hit], emit: Callable[[str], None], *, repoint: bool = True
    ) -> None:
        self.passages = passages
        self.emit = emit
        self.repoint = repoint  # the same rule the whole answer is checked by
        self.text = ""
        self.emitted = 0  # sentences passed on
        self._decided = 0  # offset in ``text`` up to which sentences were judged
        self._ended = False
        # Marker-less sentences (with the whitespace before each) awaiting a cited one.
        self._held: list[tuple[str, str]] = []

    def feed(self, piece: str) -> bool:
        """Take one piece; False once the model echoes the prompt (stop reading)."""
        if self._ended:
            return False
        self.text += piece
        # The echo may be split across pieces: search a little before this piece too.
        echo = PROMPT_ECHO.search(self.text, max(0, self._decided - 16))
        if echo is not None:
            self.text = self.text[: echo.start()]
            self._ended = True
            self._judge(final=True)
            return False
        self._judge(final=False)
        return True

    def close(self) -> str:
        """Judge the last sentence; the text generated up to any prompt echo."""
        if not self._ended:
            self._ended = True
            self._judge(final=True)
        return self.text.strip()

    def _judge(self, final: bool) -> None:
        tail = self.text[self._decided :]
        # "[2] 제4조: “…”": a line's opening marker belongs at its end, so a line that
        # opens with one waits until it is complete.
        cut = len(tail)
        if not final:
            last_line = tail.rfind("\n") + 1
            if _LINE_OPENS_WITH_MARKER.match(tail, last_line):
                cut = last_line
        complete = tail[:cut]
        tail = trail_leading_markers(complete)
        if tail != complete:
            self.text = self.text[: self._decided] + tail + self.text[self._decided + cut :]
        spans = split_sentences(tail)
        if not final:
            spans = _complete(tail, spans)
        before = 0
        for start, end in spans:
            # The whitespace before it as generated (a line break stays a line break).
            self._pass_on(tail[before:start], tail[start:end])
            before = end
        if spans:
            self._decided += spans[-1][1]

    def _pass_on(self, gap: str, sentence: str) -> None:
        if not parse_markers(sentence):
            self._held.append((gap, sentence))
            return
        held, self._held = self._held, []
        check = verify_citations(sentence, self.passages, repoint=self.repoint)
        if not check.citations:
            return
        cited = [self.passages[c.n - 1] for c in check.citations]
        for lead_gap, lead in held:
            quotes = find_quotes(lead)
            if quotes and all(any(_holds(quote, hit) for hit in cited) for quote in quotes):
                self._send(lead_gap, lead)
        self._send(gap, check.text)

    def _send(self, gap: str, sentence: str) -> None:
        self.emit(sentence if not self.emitted else (gap or " ") + sentence)
        self.emitted += 1


def _holds(quote: str, hit: Hit) -> bool:
    # As the verifier counts it: in the passage, or (a quoted law name) in its label.
    return (
        locate(quote, hit.text) is not None
        or locate(quote, f"{hit.title}\n{hit.section}") is not None
    )


def _complete(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans that can no longer change: each followed by a sentence that does not
    open with ``[`` (a marker that may still close the sentence before it)."""
    done: list[tuple[int, int]] = []
    for span, following in itertools.pairwise(spans):
        if text[following[0]] == "[":
            break
        done.append(span)
    return done
