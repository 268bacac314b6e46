"""Check an answer's ``[n]`` citations against the passages it was given.

Pure functions only: no model, no index. An answer cites passages with markers
``[1]``, ``[1, 2]`` or ``[1][2]``; a marker is valid when it names a passage
that was shown, and every quoted span of its sentence (“…”, "…", 「…」) occurs
in one of the passages that sentence cites (whitespace-insensitively). Invalid
markers are removed from the text and reported. Each valid citation carries a
quote that is an exact substring of its passage's text.

A sentence whose quotes are verbatim in no passage it cites but, together, in exactly
one other shown passage is *re-pointed* to that passage (``repoint``, on by default):
small generators copy the right words and then misnumber them (Gemma 3 270M + LoRA
put 20 of 27 verbatim quotes under a wrong number, issue 18). The quote is still
checked word for word; only the pointer moves, and the wrong number is still
reported (reason ``"quote in another passage"``). Quotes shorter than
``REPOINT_MIN_CHARS`` non-space characters, or held by several passages, are not
re-pointed: they would say too little about which passage was meant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fnrag.text import (
    MARKER_RE,
    is_markup,
    split_sentences,
    strip_markers,
    trim_markup,
)
from fnrag.text import WHITESPACE as _WS
from fnrag.types import Citation, Hit, InvalidCitation

REPOINT_MIN_CHARS = 12
# A line's opening markers ("[2]", "[1, 2]", "[1][2]"), then its text.
_LEADING_MARKER = re.compile(
    r"^(?P<indent>[ \t]*)(?P<marker>(?:" + MARKER_RE.pattern + r"[ \t]*)+)"
    r"(?P<rest>\S[^\n]*?)[ \t]*$",
    re.M,
)

# Markup is layout, not wording: a heading line, a table row, or a sentence that is
# only bold markers, bullets and numbering never becomes a quote (or an answer).
_QUOTE_RES = (
    re.compile(r"“([^”\n]+)”"),
    re.compile(r'"([^"\n]+)"'),
    re.compile(r"「([^」\n]+)」"),
)


@dataclass(frozen=True)
class Marker:
    """One ``[n]`` / ``[n, m]`` marker: its span in the answer and the numbers."""

    start: int
    end: int
    numbers: tuple[int, ...]


@dataclass(frozen=True)
class CitationCheck:
    """The result of verifying an answer.

    Attributes:
        text: the answer with invalid markers removed.
        citations: one verified citation per distinct passage, in order of first use.
        invalid: every removed marker number, with the reason.
    """

    text: str
    citations: tuple[Citation, ...]
    invalid: tuple[InvalidCitation, ...]

    @property
    def grounded(self) -> bool:
        """True when at least one valid citation remains."""
        return bool(self.citations)


def parse_markers(text: str) -> tuple[Marker, ...]:
    """Every citation marker in ``text``, in order."""
    return tuple(
        Marker(m.start(), m.end(), tuple(int(p) for p in m.group(1).split(",")))
        for m in MARKER_RE.finditer(text)
    )


def cited_numbers(text: str) -> tuple[int, ...]:
    """The distinct passage numbers cited in ``text``, in order of first use."""
    seen: dict[int, None] = {}
    for marker in parse_markers(text):
        for n in marker.numbers:
            seen.setdefault(n, None)
    return tuple(seen)


def trail_leading_markers(text: str) -> str:
    """Move the marker of a line that opens with it (``[2] 제4조: “…”``) to the line's end
    (``제4조: “…” [2]``), where the verifier and the reader look for it. A small model
    taught to name the passage before it copies (issue 18's ``cite-first`` targets)
    writes them so; a line holding other markers too is left as written."""

    def move(m: re.Match[str]) -> str:
        rest = m["rest"]
        if MARKER_RE.search(rest):
            return m.group(0)
        return f"{m['indent']}{rest} {m['marker'].strip()}"

    return _LEADING_MARKER.sub(move, text)


def find_quotes(text: str) -> tuple[str, ...]:
    """Quoted spans (“…”, "…", 「…」) with at least two non-space characters."""
    found: list[tuple[int, str]] = []
    for pattern in _QUOTE_RES:
        for m in pattern.finditer(text):
            if len(_WS.sub("", m.group(1))) >= 2:
                found.append((m.start(), m.group(1)))
    return tuple(quote for _, quote in sorted(found))


def locate(needle: str, haystack: str) -> tuple[int, int] | None:
    """Span of ``needle`` in ``haystack`` ignoring all whitespace, or None."""
    squeezed = _WS.sub("", needle)
    if not squeezed:
        return None
    positions = [i for i, ch in enumerate(haystack) if not ch.isspace()]
    flat = "".join(haystack[i] for i in positions)
    at = flat.find(squeezed)
    if at < 0:
        return None
    return positions[at], positions[at + len(squeezed) - 1] + 1


def _bigrams(text: str) -> set[str]:
    flat = _WS.sub("", text)
    return {flat[i : i + 2] for i in range(len(flat) - 1)} or ({flat} if flat else set())


def best_quote(sentence: str, passage: str) -> str:
    """The passage sentence most similar to ``sentence`` (character-bigram Dice).

    Markup (``is_markup``) is never chosen, and a chosen line loses its leading
    bullet. Returns an exact substring of ``passage`` (the whole stripped passage
    when it has no sentence that is not markup).
    """
    target = _bigrams(strip_markers(sentence))
    best, best_score = "", -1.0
    for start, end in split_sentences(passage):
        if is_markup(passage[start:end]):
            continue
        start, end = trim_markup(passage, start, end)
        candidate = passage[start:end]
        grams = _bigrams(candidate)
        if not grams:
            continue
        score = 2 * len(target & grams) / (len(target) + len(grams) or 1)
        if score > best_score:
            best, best_score = candidate, score
    return best or passage.strip()


def verify_citations(
    answer: str, passages: Sequence[Hit], *, repoint: bool = True
) -> CitationCheck:
    """Verify every marker of ``answer`` against ``passages`` (numbered from 1);
    ``repoint`` moves a misnumbered verbatim quote's marker (see the module text)."""
    invalid: list[InvalidCitation] = []
    chosen: dict[int, str] = {}  # passage number -> quote, first use wins
    said: dict[int, str] = {}  # passage number -> the answer sentence that first cited it
    removals: list[tuple[Marker, tuple[int, ...]]] = []
    markers = parse_markers(answer)
    for s_start, s_end in split_sentences(answer):
        sentence = answer[s_start:s_end]
        inside = [m for m in markers if s_start <= m.start < s_end]
        if not inside:
            continue
        numbers = list(dict.fromkeys(n for m in inside for n in m.numbers))
        known = [n for n in numbers if 1 <= n <= len(passages)]
        bad = {n: "unknown passage" for n in numbers if n not in known}
        quote_spans: dict[int, tuple[int, int]] = {}
        quotes = find_quotes(strip_markers(sentence))
        for quote in quotes:
            holders = []
            for n in known:
                span = locate(quote, passages[n - 1].text)
                if span is not None:
                    holders.append(n)
                    quote_spans.setdefault(n, span)
                elif _in_label(quote, passages[n - 1]):
                    holders.append(n)
            if not holders:
                bad.update({n: "quote not found" for n in known})
        # Every number wrong: the words may still be verbatim in one other passage.
        moved = (
            _repoint(quotes, passages, numbers) if repoint and len(bad) == len(numbers) else None
        )
        if moved is not None:
            m, quote_spans[m] = moved
            reason = "quote in another passage"
            invalid += [InvalidCitation(n, reason, strip_markers(sentence), m) for n in bad]
            # The first marker names the passage; any others go.
            removals += [(inside[0], (m,))] + [(x, ()) for x in inside[1:]]
            known, bad = [m], {}
        else:
            invalid += [InvalidCitation(n, r, strip_markers(sentence)) for n, r in bad.items()]
            removals += [(x, tuple(n for n in x.numbers if n not in bad)) for x in inside]
        for n in known:
            if n in bad or n in chosen:
                continue
            text = passages[n - 1].text
            said[n] = strip_markers(sentence)
            if n in quote_spans:
                chosen[n] = _enclosing_sentence(text, *quote_spans[n])
            else:
                chosen[n] = best_quote(sentence, text)
    citations = tuple(_citation(n, passages[n - 1], quote, said[n]) for n, quote in chosen.items())
    return CitationCheck(_rewrite(answer, removals), citations, tuple(invalid))


def _repoint(
    quotes: Sequence[str], passages: Sequence[Hit], cited: Sequence[int]
) -> tuple[int, tuple[int, int]] | None:
    """The one uncited passage holding every quote verbatim, with the first quote's
    span there; None when the quotes are too short, or held by none or several."""
    if not quotes or sum(len(_WS.sub("", q)) for q in quotes) < REPOINT_MIN_CHARS:
        return None
    found: list[tuple[int, tuple[int, int]]] = []
    for n, hit in enumerate(passages, start=1):
        if n in cited:
            continue
        spans = [locate(q, hit.text) for q in quotes]
        first = spans[0]
        if first is not None and all(span is not None for span in spans):
            found.append((n, first))
    return found[0] if len(found) == 1 else None


def _enclosing_sentence(text: str, start: int, end: int) -> str:
    """The passage sentence holding ``text[start:end]``, else that span itself (also
    when that sentence is markup: a quoted article title stays the quoted words)."""
    for s_start, s_end in split_sentences(text):
        if s_start <= start and end <= s_end:
            if is_markup(text[s_start:s_end]):
                break
            s_start, s_end = trim_markup(text, s_start, s_end)
            return text[min(s_start, start) : s_end]
    return text[start:end]


def _in_label(quote: str, hit: Hit) -> bool:
    # A quoted law name (「금융실명거래 및 비밀보장에 관한 법률」) is usually in the
    # passage's label (title/section) rather than its text: still faithful.
    return locate(quote, f"{hit.title}\n{hit.section}") is not None


def _rewrite(answer: str, removals: list[tuple[Marker, tuple[int, ...]]]) -> str:
    out: list[str] = []
    at = 0
    for marker, keep in sorted(removals, key=lambda r: r[0].start):
        if keep == marker.numbers:
            continue
        head = answer[at : marker.start]
        if keep:
            out.append(head + "[" + ", ".join(str(n) for n in keep) + "]")
        else:
            out.append(head.rstrip())
        at = marker.end
    out.append(answer[at:])
    return "".join(out).strip()


def _citation(n: int, hit: Hit, quote: str, sentence: str = "") -> Citation:
    from fnrag.generators.units import quote_reference

    # The quote is an exact substring of the passage, and the passage is
    # document.text[hit.start:hit.end]: its place in the document follows.
    at = max(hit.text.find(quote), 0)
    return Citation(
        n=n,
        quote_start=hit.start + at,
        quote_end=hit.start + at + len(quote),
        chunk_id=hit.chunk_id,
        source=hit.source,
        title=hit.title,
        page=hit.page,
        section=hit.section,
        quote=quote,
        score=hit.score,
        pages=hit.pages,
        pdf_page=hit.pdf_page,
        pdf_pages=hit.pdf_pages,
        reference=quote_reference(
            hit.text, hit.section, hit.source, hit.title, hit.page, quote, sentence
        ),
        version=hit.version,
        effective_from=hit.effective_from,
        effective_to=hit.effective_to,
    )
