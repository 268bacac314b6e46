"""What a question's wording asks for, beyond its terms: shared by ranking and composing.

부칙 (시행일, 경과조치, 다른 법률의 개정) is amendment metadata: it answers only a
question about those. A penalty question (처벌, 과태료, …) is answered by the
벌칙/과태료 article, not by the duty it sanctions.
"""

from __future__ import annotations

import re

ADDENDA_CUES = ("시행일", "시행되", "시행하", "경과조치", "경과", "부칙", "개정", "적용례", "종전")
PENALTY_CUES = ("벌칙", "과태료", "처벌", "벌금", "징역", "형사", "처해", "처하", "제재")
# A question asking for an amount, a period, a deadline or a count.
NUMBER_CUES = ("얼마", "몇", "언제까지", "기간", "기한", "금액", "횟수", "세율", "며칠", "이내")
# What kind of number a question asks for, by its wording.
NUMBER_KIND_CUES = {
    "time": ("며칠", "언제", "기간", "기한", "몇 년", "몇년", "몇 개월", "몇개월", "동안", "이내"),
    "amount": ("얼마", "금액", "만원", "벌금", "과태료"),
    "count": ("몇 번", "몇번", "횟수", "몇 회"),
    "rate": ("세율", "비율", "퍼센트", "%"),
}
_WH = (
    *("무엇", "뭘", "뭐", "어떤", "어떻게", "누구", "누가", "어디", "어느", "언제", "왜"),
    *("얼마", "몇", "며칠", "무슨"),
)
_YES_NO_END = re.compile(
    r"(?:나요|가요|까요|습니까|니까|되죠|하죠|있죠|돼요|되요|죠|지요)\s*[?？]?\s*$"
)
# The same cues in an English question (``fnrag.korean.glossary`` reads its domain
# phrases, not what kind of answer it asks for).
NUMBER_KIND_CUES_EN = {
    "time": ("how long", "how soon", "how many days", "how many years", "deadline", "by when"),
    "amount": ("how much", "what amount", "how large an amount"),
    "count": ("how many times",),
    "rate": ("what rate", "what percentage", "how many percent"),
}
# A sentence opening with an auxiliary: "… in cash. Does foreign currency count?"
_YES_NO_EN = re.compile(
    r"(?:^|[.?!]\s+)(?:do|does|did|is|are|was|were|can|could|must|should|may|will|would"
    r"|has|have)\b",
    re.IGNORECASE,
)
_WH_EN = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)
_PENALTY_SECTION = re.compile(r"벌칙|과태료|양벌|병과")


def asks_addenda(question: str) -> bool:
    return any(cue in question for cue in ADDENDA_CUES)


def asks_penalty(question: str) -> bool:
    return any(cue in question for cue in PENALTY_CUES)


def asks_number(question: str) -> bool:
    if _latin(question):
        return bool(number_kinds(question))
    return any(cue in question for cue in NUMBER_CUES)


def number_kinds(question: str) -> list[str]:
    """The kinds of number (time, amount, count, rate) the wording asks for, in that
    order; empty when it names none."""
    if _latin(question):
        lowered = question.lower()
        return [k for k, cues in NUMBER_KIND_CUES_EN.items() if any(c in lowered for c in cues)]
    return [kind for kind, cues in NUMBER_KIND_CUES.items() if any(c in question for c in cues)]


def asks_yes_no(question: str) -> bool:
    if _latin(question):
        return bool(_YES_NO_EN.search(question)) and not _WH_EN.search(question)
    return bool(_YES_NO_END.search(question)) and not any(w in question for w in _WH)


def _latin(question: str) -> bool:
    """Written mostly in Latin letters (an English question)."""
    latin = sum("a" <= ch.lower() <= "z" for ch in question)
    hangul = sum("가" <= ch <= "힣" for ch in question)
    return latin > 2 * hangul


def is_addenda(section: str) -> bool:
    """True for a chunk under a 부칙 heading (``… > 부칙 <제5493호,1997.12.31> > …``)."""
    return any(part.strip().startswith("부칙") for part in section.split(" > "))


def is_penalty_section(section: str) -> bool:
    """True for the 벌칙 / 과태료 / 양벌규정 articles (their headings say so)."""
    return not is_addenda(section) and bool(_PENALTY_SECTION.search(section))
