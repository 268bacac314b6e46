"""Practitioner words → the statutes' words, for query expansion.

Tellers ask about "거래내역", "신분증" and "예금주"; the statutes say "거래정보등",
"실명확인증표" and "명의인". Neither BM25 nor a small multilingual embedder bridges
such gaps reliably, so the lexical query is expanded with the legal term, at a
lower weight than the user's own words. The table is domain knowledge about
금융실명제 and AML vocabulary (common abbreviations included), written from the
statutes' definitions, not from any evaluation question.

A bank adds its own words without editing code: a YAML file (``terms:`` mapping a
practitioner word to the legal phrasing; ``builtin: false`` drops this table) passed as
``vocabulary=`` or named by ``$FNRAG_VOCABULARY``. A plain mapping is read as ``terms``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from fnrag.errors import InputError

# Each key is matched as a substring of the question (Korean words inflect, so
# substrings of stems work better than tokens); values are legal phrasing.
PRACTITIONER_TERMS: dict[str, str] = {
    # 거래정보 (법 제4조)
    "거래내역": "거래정보등 금융거래의 내용에 대한 정보 또는 자료",
    "입출금내역": "거래정보등 금융거래의 내용",
    "계좌내역": "거래정보등 금융거래의 내용",
    "거래기록": "거래정보등 기록",
    "잔액": "금융거래의 내용 정보",
    # 명의인 / 실지명의
    "예금주": "명의인",
    "계좌주": "명의인",
    "본인": "명의인",
    "차명": "타인의 실명 명의 불법재산 은닉",
    "가명": "비실명 실지명의가 아닌",
    "남의 이름": "타인의 실명",
    "다른 사람 이름": "타인의 실명",
    "실명제": "실지명의 금융실명거래",
    "실명법": "금융실명거래 및 비밀보장에 관한 법률",
    # 실명확인증표 (시행령 제3조, 제4조의2)
    "신분증": "실명확인증표 주민등록증",
    "주민증": "주민등록증 실명확인증표",
    "운전면허": "실명확인증표",
    "여권": "실명확인증표 외국인",
    "사업자등록증": "사업자등록증 법인 실지명의",
    # 통보 / 유예 (법 제4조의2)
    "알려": "통보",
    "알림": "통보",
    "연락": "통보",
    "미뤄": "유예",
    "늦춰": "유예",
    "연장": "유예 기간",
    # 기한 / 횟수: statutes give deadlines as "…일 이내", "지체 없이", "기간"
    "며칠": "일 이내 기간",
    "기한": "이내 지체 없이 기간",
    "언제까지": "이내 지체 없이 기간",
    "몇 번": "횟수 반복하여",
    "몇번": "횟수 반복하여",
    # 부과 / 양식
    "매겨": "부과 징수",
    "매기": "부과 징수",
    "양식": "표준양식 서식",
    # 제공 요구 (법 제4조)
    "경찰": "수사기관 법관이 발부한 영장",
    "검찰": "수사기관 법관이 발부한 영장",
    "수사기관": "법관이 발부한 영장",
    "세무서": "조세에 관한 법률 세무관서",
    "국세청": "조세에 관한 법률 세무관서",
    "법원": "법원의 제출명령 법관이 발부한 영장",
    "영장": "법관이 발부한 영장",
    "국회": "국정조사",
    "금감원": "금융감독원",
    "금융위": "금융위원회",
    "달라고": "제공 요구",
    "떼 달라": "제공 요구",
    "보여": "제공 누설",
    "넘겨": "제공 누설",
    "유출": "누설 제공",
    # 종사자 (시행령 제5조)
    "직원": "금융회사등에 종사하는 자 임직원",
    "행원": "금융회사등에 종사하는 자",
    "창구": "금융회사등에 종사하는 자",
    "임원": "임원 문책경고",
    "용역": "위임 위탁 종사하는 자",
    "은행": "금융회사등",
    "같은 은행": "동일한 금융회사등의 내부",
    "다른 부서": "동일한 금융회사등의 내부 상호간",
    # 제재 (법 제5조의2, 제6조, 제7조)
    "처벌": "벌칙 징역 벌금",
    "형사": "벌칙 징역 벌금",
    "징계": "문책 행정처분 제재",
    "제재": "행정처분 과태료 벌칙",
    "벌금": "벌칙 벌금",
    # 세금 (법 제5조)
    "세금": "소득세 원천징수 차등과세",
    "세율": "소득세 원천징수 세율",
    "이자": "이자소득 배당소득",
    # 특정금융정보법 vocabulary
    "특금법": "특정 금융거래정보의 보고 및 이용 등에 관한 법률",
    "의심거래": "불법재산 등으로 의심되는 거래의 보고",
    "STR": "의심되는 거래의 보고",
    "CTR": "고액 현금거래 보고",
    "고액현금": "고액 현금거래 보고",
    "KYC": "고객 확인의무",
    "고객확인": "고객 확인의무",
    "자금세탁": "자금세탁행위 공중협박자금조달행위",
    "AML": "자금세탁행위 방지",
    "FIU": "금융정보분석원",
    "가상자산": "가상자산사업자",
    "코인": "가상자산",
    "실소유자": "실제 소유자",
    "실제 주인": "실제 소유자",
}

VOCABULARY_ENV = "FNRAG_VOCABULARY"


class Vocabulary:
    """A term table compiled once into one longest-match-first pattern."""

    def __init__(self, terms: Mapping[str, str]) -> None:
        self.terms = dict(terms)
        keys = sorted(self.terms, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(key) for key in keys)) if keys else None

    def expansions(self, question: str) -> list[str]:
        found: list[str] = []
        if self.pattern is None:
            return found
        for match in self.pattern.finditer(question):
            phrase = self.terms[match.group(0)]
            if phrase not in found:
                found.append(phrase)
        return found


BUILTIN = Vocabulary(PRACTITIONER_TERMS)
# Keyed by (path, size, mtime): an edited file is read again, an unchanged one never.
_LOADED: dict[tuple[str, int, int], Vocabulary] = {}


def load_vocabulary(path: str | os.PathLike[str]) -> Vocabulary:
    """The built-in table extended (or, with ``builtin: false``, replaced) by a YAML file."""
    file = Path(path).expanduser()
    try:
        st = file.stat()
    except OSError:
        raise InputError(
            f"vocabulary file {file} does not exist; pass a YAML file of terms "
            f"(--vocabulary or ${VOCABULARY_ENV})"
        ) from None
    key = (str(file.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _LOADED:
        _LOADED[key] = Vocabulary(_read_terms(file))
    return _LOADED[key]


def _read_terms(file: Path) -> dict[str, str]:
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InputError(
            f"vocabulary file {file} is not readable UTF-8 YAML ({error}); fix the file"
        ) from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise InputError(f"vocabulary file {file}: expected a mapping with 'terms'")
    if "terms" in data or "builtin" in data:
        unknown = set(data) - {"terms", "builtin"}
        if unknown:
            raise InputError(
                f"vocabulary file {file}: unknown keys {sorted(unknown)}; use terms and builtin"
            )
        builtin, terms = data.get("builtin", True), data.get("terms") or {}
    else:
        builtin, terms = True, data
    if not isinstance(builtin, bool) or not isinstance(terms, dict):
        raise InputError(
            f"vocabulary file {file}: 'builtin' must be true/false and 'terms' a mapping"
        )
    merged = dict(PRACTITIONER_TERMS) if builtin else {}
    for word, phrase in terms.items():
        if not isinstance(word, str) or not isinstance(phrase, str) or not word.strip():
            raise InputError(
                f"vocabulary file {file}: term {word!r} must map a word to a phrase (both text)"
            )
        merged[word.strip()] = phrase.strip()
    return merged


def active_vocabulary(vocabulary: str | os.PathLike[str] | Vocabulary | None = None) -> Vocabulary:
    """``vocabulary`` (a file or a table), else ``$FNRAG_VOCABULARY``'s file, else the built-in."""
    if isinstance(vocabulary, Vocabulary):
        return vocabulary
    chosen = vocabulary if vocabulary is not None else os.environ.get(VOCABULARY_ENV, "")
    return load_vocabulary(chosen) if str(chosen).strip() else BUILTIN


def expansions(
    question: str, vocabulary: str | os.PathLike[str] | Vocabulary | None = None
) -> list[str]:
    """Legal phrasings for the practitioner terms found in ``question`` (no repeats)."""
    return active_vocabulary(vocabulary).expansions(question)
