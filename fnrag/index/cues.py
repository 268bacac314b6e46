"""What a question's wording asks for, beyond its terms: shared by ranking and composing.

부칙 (시행일, 경과조치, 다른 법률의 개정) is amendment metadata: it answers only a
question about those. A penalty question (처벌, 과태료, …) is answered by the
벌칙/과태료 article, not by the duty it sanctions.
"""

from __future__ import annotations

import re

ADDENDA_CUES = ("시행일", "시행되", "시행하", "경과조치", "경과", "부칙", "개정", "적용례", "종전")
PENALTY_CUES = ("벌칙", "과태료", "처벌", "벌금", "징역", "형사", "처해", "처하", "제재")
_PENALTY_SECTION = re.compile(r"벌칙|과태료|양벌|병과")


def asks_addenda(question: str) -> bool:
    return any(cue in question for cue in ADDENDA_CUES)


def asks_penalty(question: str) -> bool:
    return any(cue in question for cue in PENALTY_CUES)


def is_addenda(section: str) -> bool:
    """True for a chunk under a 부칙 heading (``… > 부칙 <제5493호,1997.12.31> > …``)."""
    return any(part.strip().startswith("부칙") for part in section.split(" > "))


def is_penalty_section(section: str) -> bool:
    """True for the 벌칙 / 과태료 / 양벌규정 articles (their headings say so)."""
    return not is_addenda(section) and bool(_PENALTY_SECTION.search(section))
