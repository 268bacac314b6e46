"""Quoting provisions verbatim: shortened quotes, number and yes/no first lines.

Every quote built here is an exact span of the passage text (whitespace collapsed),
so the citation verifier finds it; a shortened quote keeps whole sentences, or the
opening and closing words of one too long, with "…" outside the quotation marks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fnrag.answering.citations import locate
from fnrag.index.cues import asks_number, asks_yes_no, number_kinds
from fnrag.text import split_sentences


def squeeze(text: str) -> str:
    return "".join(text.split()).lower()


# The endings that decide a yes/no: duties, permissions, prohibitions, sanctions, scope.
_VERDICT = re.compile(
    r"(?:여야\s*한다|해야\s*한다|수\s*있다|수\s*없다|아니\s*된다|아니한다|처한다|부과한다|과한다"
    r"|추정한다|본다|포함한다|적용한다|적용된다|준용한다|제외한다)\.?\s*$"
)
_NUMBER = re.compile(
    r"(?:\d[\d,]*(?:\.\d+)?\s*(?:만|천|백|억)*\s*(?:원|년|개월|월|일|시간|영업일|회|퍼센트|%|배)"
    r"|100분의\s*\d+|\d+분의\s*\d+|지체\s*없이|즉시)"
)


def first_line(
    question: str, own: Sequence[str], n: int, terms: set[str], shown: Sequence[str] = ()
) -> str:
    """For number / yes-no questions: the deciding words, quoted from ``own`` (the
    deciding unit's quoted parts; a lead-in shown only to introduce its 호 does not
    decide a yes/no), cited as ``[n]``; "" for other questions or when nothing fits.
    A number missing from ``own`` may come from the rest of the block (``shown``): a
    deadline is usually stated once, in the lead-in of the 호 it applies to."""
    wants_number = asks_number(question)
    if not (wants_number or asks_yes_no(question)):
        return ""
    sentences = _ranked_sentences(own, terms)
    if wants_number:
        for sentence in [*sentences, *_ranked_sentences(shown, terms)]:
            if clause := _number_clause(sentence, question):
                return f"{clause} [{n}]"
        return ""
    # A yes/no is answered by a verdict ("… 하여야 한다", "… 수 있다"); a 호 only
    # states a case, so then the provision itself opens the answer.
    verdicts = [s for s in sentences if _VERDICT.search(s)]
    tail = _predicate(verdicts[0]) if verdicts else ""
    return f"“{tail}” [{n}]" if tail else ""


def _ranked_sentences(parts: Sequence[str], terms: set[str]) -> list[str]:
    """The sentences of the quoted parts, those holding most question terms first."""
    sentences = [s for p in parts if p.startswith("“") for s in sentences_of(p[1:-1])]
    order = sorted(
        range(len(sentences)), key=lambda i: (-sum(t in squeeze(sentences[i]) for t in terms), i)
    )
    return [sentences[i] for i in order]


# How the statutes write each kind of number a question can ask for.
_KINDS = {
    "time": re.compile(r"(?:년|개월|월|일|시간|영업일)|지체\s*없이|즉시"),
    "amount": re.compile(r"원"),
    "count": re.compile(r"회"),
    "rate": re.compile(r"분의|퍼센트|%"),
}


def _number_clause(sentence: str, question: str = "") -> str:
    """A quote from the first number of the kind the question asks for (any number
    when its wording names no kind) to its clause's end."""
    kinds = [_KINDS[kind] for kind in number_kinds(question)]
    for m in _NUMBER.finditer(sentence):
        if not kinds or any(unit.search(m.group(0)) for unit in kinds):
            return _clause_from(sentence, m.start())
    return ""


def quoted(text: str, passage: str) -> str:
    """``text`` in quotation marks when the verifier will find it verbatim, else bare."""
    if "“" in text or "”" in text or locate(text, passage) is None:
        return text
    return f"“{text}”"


def sentences_of(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def shorten(pieces: Sequence[str], limit: int, terms: set[str], passage: str) -> list[str]:
    """Quoted pieces of at most about ``limit`` characters: whole sentences, the
    first one and those holding question terms kept, "…" where some are left out."""
    sentences = [s for piece in pieces for s in sentences_of(piece)]
    if sum(len(s) for s in sentences) <= limit:
        return [quoted(s, passage) for s in _merge(pieces)]
    ranked = sorted(
        range(len(sentences)),
        key=lambda i: (-sum(t in squeeze(sentences[i]) for t in terms), i),
    )
    keep = {ranked[0]}
    used = len(sentences[ranked[0]])
    for i in ranked[1:]:
        if used + len(sentences[i]) > limit:
            continue
        keep.add(i)
        used += len(sentences[i])
    out: list[str] = []
    for i, sentence in enumerate(sentences):
        if i in keep and len(sentence) <= limit * 1.5:
            out.append(quoted(sentence, passage))
        elif i in keep:
            # Too long even alone: its opening and its closing words (the verdict).
            head, tail = _head_tail(sentence, limit)
            out.extend([quoted(head, passage), "…", quoted(tail, passage)])
        elif not out or out[-1] != "…":
            out.append("…")
    if max(keep) < len(sentences) - 1 and out[-1] != "…":
        out.append("…")
    return out


def _merge(pieces: Sequence[str]) -> list[str]:
    return [p for p in pieces if p]


def _head_tail(sentence: str, limit: int) -> tuple[str, str]:
    """The sentence's opening words (about 55% of ``limit``) and closing words."""
    words = sentence.split()
    head: list[str] = []
    for word in words:
        if head and len(" ".join([*head, word])) > limit * 0.55:
            break
        head.append(word)
    tail: list[str] = []
    for word in reversed(words[len(head) :]):
        if tail and len(" ".join([word, *tail])) > limit * 0.45:
            break
        tail.insert(0, word)
    return " ".join(head), " ".join(tail)


def _clause_from(sentence: str, start: int) -> str:
    """A short quote from the number at ``start`` to its clause's predicate."""
    # Back up to the start of the word holding the number ("10일" in "…날부터 10일").
    while start > 0 and not sentence[start - 1].isspace():
        start -= 1
    rest = sentence[start:].rstrip(". ")
    if len(rest) <= 60:
        return f"“{rest}”"
    words = rest.split()
    head = " ".join(words[:3])
    tail = " ".join(words[-2:])
    if len(words) <= 5:
        return f"“{rest}”"
    return f"“{head}” … “{tail}”"


def _predicate(sentence: str) -> str:
    """The sentence's closing words (its verdict: "… 하여야 한다", "… 아니 된다"),
    at most four, never opening inside a parenthesis."""
    words = sentence.rstrip(". ").split()
    tail: list[str] = []
    for word in reversed(words):
        if len(tail) >= 4 or "," in word or ")" in word or "(" in word:
            break
        tail.insert(0, word)
    return " ".join(tail) if len(tail) >= 2 else ""
