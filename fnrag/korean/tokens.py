"""Korean tokens for lexical search: Kiwi content morphemes, with references kept whole.

Kiwi splits ``제4조의2`` into 제/XPN 4/SN 조/NNB 의/JKG 2/SN and ``100만원`` into
100/SN 만/NR 원/NNB, which would make article references and amounts unsearchable.
So those are recognised by regex first, kept whole as tokens, and only the rest of
the text goes through Kiwi.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

# 제4조의2, 제 4 조 의 2, 제3조제3항 → 제3조 + 제3항; 4조 is accepted too.
_ARTICLE = re.compile(r"(?:제\s*)?(\d+)\s*조(?:\s*의\s*(\d+))?(?!\s*원)")
_PARAGRAPH = re.compile(r"제\s*(\d+)\s*(항|호)")
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
# Amounts and periods: 100만원, 1,000만 원, 5년, 10일, 6개월, 30퍼센트.
_QUANTITY = re.compile(
    r"(\d[\d,]*(?:\.\d+)?)\s*(조\s*원|억\s*원|천만\s*원|백만\s*원|만\s*원|천\s*원|원|개월|년|월|일|시간|퍼센트|%|세|회|명)"
)

# Content morphemes: nouns, verb/adjective stems, roots, foreign words, hanja.
_CONTENT_TAGS = {"NNG", "NNP", "VV", "VA", "XR", "SL", "SH", "MAG"}
# Light verbs and auxiliaries: everywhere, so they only add noise to scores.
_STOP = {
    "하",
    "되",
    "있",
    "없",
    "이",
    "아니",
    "같",
    "그렇",
    "어떻",
    "무엇",
    "경우",
    "것",
    "수",
    "등",
    "때",
    "관하",
}

_kiwi_lock = threading.Lock()
_kiwi: Any = None


def _get_kiwi() -> Any:
    global _kiwi
    with _kiwi_lock:
        if _kiwi is None:
            from kiwipiepy import Kiwi

            _kiwi = Kiwi()
        return _kiwi


def article_token(match: re.Match[str]) -> str:
    """``제4조의2`` / ``제8조`` from a match whose groups are the number and the branch."""
    number, branch = match.group(1), match.group(2)
    return f"제{number}조의{branch}" if branch else f"제{number}조"


def special_tokens(text: str) -> tuple[list[str], str]:
    """Pull article references and quantities out of ``text``.

    Returns the tokens found and the text with those spans blanked, so Kiwi does
    not split them again.
    """
    tokens: list[str] = []
    chars = list(text)

    def blank(match: re.Match[str]) -> None:
        for i in range(match.start(), match.end()):
            chars[i] = " "

    for match in _ARTICLE.finditer(text):
        tokens.append(article_token(match))
        blank(match)
    for match in _PARAGRAPH.finditer(text):
        tokens.append(f"제{match.group(1)}{match.group(2)}")
        blank(match)
    for char in text:
        index = _CIRCLED.find(char)
        if index >= 0:
            tokens.append(f"제{index + 1}항")
    remaining = "".join(chars)
    for match in _QUANTITY.finditer(remaining):
        number = match.group(1).replace(",", "")
        unit = re.sub(r"\s+", "", match.group(2))
        tokens.append(f"{number}{unit}")
        blank(match)
    return tokens, "".join(chars)


def _morphemes(kiwi_tokens: Iterable[Any]) -> list[str]:
    out: list[str] = []
    previous_noun: str | None = None
    for token in kiwi_tokens:
        form, tag = token.form, token.tag
        is_noun = tag in ("NNG", "NNP")
        if tag in _CONTENT_TAGS and form not in _STOP and (len(form) > 1 or is_noun or tag == "SH"):
            out.append(form.lower() if tag == "SL" else form)
        # Noun bigrams keep compounds (거래+정보 → 거래정보) matchable as one unit.
        if is_noun and previous_noun is not None:
            out.append(previous_noun + form)
        previous_noun = form if is_noun else None
    return out


def tokenize(text: str) -> list[str]:
    """Search tokens of ``text``: article refs, quantities, content morphemes."""
    return tokenize_many([text])[0]


def tokenize_many(texts: Sequence[str]) -> list[list[str]]:
    """Tokenise many texts at once (Kiwi batches internally, much faster)."""
    prepared = [special_tokens(text) for text in texts]
    kiwi = _get_kiwi()
    with _kiwi_lock:
        analysed = list(kiwi.tokenize([rest for _, rest in prepared]))
    result = []
    for (specials, _rest), kiwi_tokens in zip(prepared, analysed, strict=True):
        result.append(specials + _morphemes(kiwi_tokens))
    return result


def analyse(text: str) -> list[Any]:
    """Kiwi's tokens of ``text`` as they are (form, tag, offsets, ``oov``)."""
    kiwi = _get_kiwi()
    with _kiwi_lock:
        return list(kiwi.tokenize(text))
