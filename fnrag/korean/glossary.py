"""English questions → the statutes' Korean words, for the lexical half of retrieval.

The corpus is Korean; a compliance officer may still ask in English ("Which ID can we use
to verify a foreigner's real name?"). The multilingual embedder places such a question
near the right provision, but BM25, the answer composer and the refusal check match
Korean words and find none, so English questions were refused. A question written mostly
in Latin letters is therefore read through this glossary: its domain phrases (real name,
passport, suspicious transaction report, …) become the Korean terms the statutes use, and
those terms are what the lexical side searches and scores. The table is domain knowledge
of 금융실명제 and AML terminology, written from the statutes' definitions and the FATF /
FIU English names of their institutions, not from any evaluation question. Longer phrases
win over the words inside them ("foreign currency" before "foreign").
"""

from __future__ import annotations

import re

# English phrase (lower case; a trailing "*" matches any word ending) → Korean phrasing.
ENGLISH_TERMS: dict[str, str] = {
    # 실명확인 (금융실명법 제3조, 시행령 제3조·제4조의2)
    "real-name": "실명",
    "real name": "실명",
    "real-name verification": "실명확인",
    "verify* the real name": "실명확인",
    "verify* a real name": "실명확인",
    "name verification": "실명확인",
    "identity verification": "실명확인 확인",
    "verify* identity": "실명확인 확인",
    "id document*": "실명확인증표 증표 서류",
    "identification document*": "실명확인증표 증표 서류",
    "identity card": "신분증 주민등록증",
    "resident registration card": "주민등록증",
    "resident registration number": "주민등록번호",
    "driver's license": "운전면허증",
    "driver license": "운전면허증",
    "passport*": "여권",
    "alien registration card": "외국인등록증",
    "alien registration": "외국인등록",
    "foreigner*": "외국인",
    "foreign national*": "외국인",
    "foreign worker*": "외국인",
    "overseas korean*": "재외국민",
    "business registration certificate": "사업자등록증",
    "business registration number": "사업자등록번호",
    "corporation*": "법인",
    "corporate": "법인",
    "company": "법인",
    "companies": "법인",
    "unincorporated": "법인이 아닌 단체",
    "association*": "단체",
    "non-profit": "비영리법인",
    "nonprofit": "비영리법인",
    "minor*": "미성년자",
    "legal representative*": "법정대리인",
    "agent*": "대리인",
    "proxy": "대리인",
    "heir*": "상속인",
    "inheritance": "상속",
    "deceased": "상속",
    "account holder*": "명의인",
    "customer*": "고객",
    "client*": "고객",
    "police": "수사기관 경찰",
    "investigat*": "수사 조사",
    "prosecutor*": "검찰 수사기관",
    "account*": "계좌",
    "open an account": "계좌 개설",
    "opening an account": "계좌 개설",
    "new account*": "계좌 신규 개설",
    "nominee": "타인의 실명 차명",
    "borrowed name": "타인의 실명 차명",
    "borrowed-name": "타인의 실명 차명",
    "someone else's name": "타인의 실명",
    "another person's name": "타인의 실명",
    "pseudonym*": "가명",
    "non-real-name": "비실명",
    "financial institution*": "금융회사등",
    "bank*": "금융회사등",
    "financial asset*": "금융자산",
    "financial transaction*": "금융거래",
    "remittance*": "송금",
    "wire transfer*": "전신송금",
    "money transfer*": "송금",
    "without a bankbook": "무통장입금",
    "exemption*": "생략 예외",
    "exempt": "생략 예외",
    # 비밀보장·제공·통보·기록 (금융실명법 제4조~제4조의3)
    "confidentiality": "비밀보장",
    "secrecy": "비밀보장",
    "transaction information": "거래정보등",
    "transaction record*": "거래정보등 기록",
    "transaction detail*": "거래정보등 금융거래의 내용",
    "transaction history": "거래정보등 금융거래의 내용",
    "account statement*": "거래정보등 금융거래의 내용",
    "disclose*": "제공 누설",
    "disclosure": "제공 누설",
    "leak*": "누설",
    "provide* information": "거래정보등 제공",
    "written consent": "서면상의 동의",
    "consent*": "동의",
    "court order*": "법원의 제출명령",
    "warrant*": "영장",
    "tax authorit*": "세무관서 조세",
    "tax office": "세무관서",
    "tax*": "조세",
    "delinquent taxpayer*": "체납자",
    "tax arrears": "체납액",
    "parliamentary investigation": "국정조사",
    "national assembly": "국회 국정조사",
    "supervisory": "감독 검사",
    "inspection*": "검사",
    "notify*": "통보",
    "notification": "통보",
    "notice": "통보",
    "defer*": "통보유예 유예",
    "deferral": "통보유예 유예",
    "postpone*": "유예",
    "record-keeping": "기록 보관",
    "keep* record*": "기록 보관",
    "retain*": "보관 보존",
    "retention": "보관 보존",
    "standard form": "표준양식",
    # 제재 (금융실명법 제5조~제7조, 특정금융정보법 제16조~제20조)
    "penalt*": "벌칙 과태료",
    "punish*": "벌칙 처벌",
    "criminal": "벌칙 징역 벌금",
    "imprisonment": "징역",
    "prison": "징역",
    "fine*": "벌금 과태료",
    "administrative fine*": "과태료",
    "sanction*": "제재 조치",
    "disciplinary": "징계 조치",
    "withholding tax": "원천징수세율",
    "withholding": "원천징수",
    "interest income": "이자소득",
    "dividend*": "배당소득",
    # 특정금융정보법
    "suspicious transaction report*": "의심되는 거래의 보고 의심거래보고",
    "suspicious transaction*": "의심되는 거래 의심거래",
    "str": "의심되는 거래의 보고 의심거래보고",
    "currency transaction report*": "고액 현금거래 보고 고액현금거래",
    "ctr": "고액 현금거래 보고 고액현금거래",
    "large cash": "고액 현금거래",
    "cash transaction*": "현금거래",
    "cash": "현금",
    "foreign currency": "외국통화",
    "threshold": "기준금액 금액 이상",
    "customer due diligence": "고객확인",
    "cdd": "고객확인",
    "know your customer": "고객확인",
    "kyc": "고객확인",
    "enhanced due diligence": "강화된 고객확인",
    "edd": "강화된 고객확인",
    "beneficial owner*": "실제 소유자",
    "ultimate owner*": "실제 소유자",
    "money laundering": "자금세탁행위",
    "anti-money laundering": "자금세탁방지",
    "aml": "자금세탁방지",
    "terrorist financing": "공중협박자금조달행위",
    "illegal proceeds": "불법재산",
    "criminal proceeds": "불법재산 범죄수익",
    "financial intelligence unit": "금융정보분석원",
    "fiu": "금융정보분석원",
    "korea financial intelligence unit": "금융정보분석원",
    "financial services commission": "금융위원회",
    "fsc": "금융위원회",
    "financial supervisory service": "금융감독원",
    "fss": "금융감독원",
    "virtual asset service provider*": "가상자산사업자",
    "vasp*": "가상자산사업자",
    "virtual asset*": "가상자산",
    "crypto*": "가상자산",
    "crypto exchange*": "가상자산사업자",
    "virtual asset exchange*": "가상자산사업자",
    "currency exchange": "외국통화의 매입 매각 환전",
    "registration": "신고",
    "register*": "신고",
    "report*": "보고 신고",
    "valid*": "유효기간",
    "expire*": "유효기간 만료",
    "expiry": "유효기간 만료",
    "renew*": "갱신",
    "real-name account*": "실명확인입출금계정",
    "travel rule": "가상자산 이전 정보 제공",
    "compliance officer*": "보고책임자",
    "reporting officer*": "보고책임자",
    "internal control*": "내부통제",
    "employee*": "종사자 임직원",
    "staff": "종사자 직원",
    "teller*": "직원",
    "deadline": "기한 이내",
    "within": "이내",
    "how long": "기간 이내",
    "days": "일",
    "years": "년",
}

# A question is read through the glossary only when its phrases cover this share of its
# content words: one domain word ("bank") in a question about something else
# ("reset my online banking password") must not turn it into a question about 금융회사등.
MIN_COVERED = 0.55
_FUNCTION_TEXT = (
    "a an the is are was were be been do does did can could may might must should shall "
    "will would i we you he she it they my our your his her its their me us him them this "
    "that these those there here what which who whom whose how when where why if or and but "
    "not no yes to of for in on at by from with without as into about than then so also "
    "any some all each every only yet still just even again ever has have had get gets got "
    "use used using want wants need needs ask asks asked tell say please let make made "
    "much many more most long one two first new same other such"
)
_FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_LATIN = re.compile(r"[A-Za-z]")
_HANGUL = re.compile(r"[가-힣]")


def _pattern(phrase: str) -> str:
    words = [
        re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in phrase.split()
    ]
    return r"(?<![\w-])" + r"\s+".join(words) + r"(?![\w-])"


# Longest phrases first, so "foreign currency" claims its words before "foreign…" can.
_ORDERED = sorted(ENGLISH_TERMS.items(), key=lambda kv: (-len(kv[0].split()), -len(kv[0])))
_COMPILED = [(re.compile(_pattern(p), re.IGNORECASE), korean) for p, korean in _ORDERED]


def is_english(question: str) -> bool:
    """True when the question is written mostly in Latin letters (not a Korean question
    with an abbreviation such as "STR 보고")."""
    return len(_LATIN.findall(question)) > 2 * len(_HANGUL.findall(question))


def english_gloss(question: str) -> list[str]:
    """The Korean phrasings of the domain phrases an English question contains, in the
    order they occur; [] for a Korean question or one with no domain phrase."""
    if not is_english(question):
        return []
    text = question
    found: list[tuple[int, str]] = []
    for pattern, korean in _COMPILED:
        for match in pattern.finditer(text):
            found.append((match.start(), korean))
        # Blank what matched: a phrase's words are not read again as shorter phrases.
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    content = [w for w in _WORD.findall(question) if _content(w)]
    left = [w for w in _WORD.findall(text) if _content(w)]
    if not content or (len(content) - len(left)) / len(content) < MIN_COVERED:
        return []
    return list(dict.fromkeys(korean for _, korean in sorted(found)))


def _content(word: str) -> bool:
    word = word.lower().removesuffix("'s")
    return len(word) > 1 and word not in _FUNCTION_WORDS
