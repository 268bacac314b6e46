"""Generated PII strings (valid check digits computed here) and look-alikes that must survive.

Shared by tests/test_pii.py and benchmarks/bench_pii.py.  Everything is drawn from
a seeded ``random.Random`` so a failing case reproduces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fnrag.answering import pii


@dataclass(frozen=True)
class Sample:
    """A sentence and the raw value in it (empty for look-alikes).

    ``variant``: written with dash/space/full-width variants or space-grouped (issue 19).
    """

    text: str
    value: str
    kind: str
    variant: bool = False


_SENTENCES = (
    "제 {} 번호로 조회가 되나요?",
    "고객이 {}을(를) 알려주었는데 실명확인이 가능한가요?",
    "{} 관련 거래정보 제공 요청이 왔습니다.",
    "번호는{}입니다",
    "Please check {} for me.",
    "({})",
)


def _rrn_check(d: str, offset: int) -> str:
    total = sum(int(x) * w for x, w in zip(d, (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=False))
    return str((offset - total % 11) % 10)


def _luhn_complete(body: str) -> str:
    for last in "0123456789":
        if pii.luhn_ok(body + last):
            return body + last
    raise AssertionError("unreachable")


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _birth(rng: random.Random, lo: int, hi: int) -> tuple[str, int]:
    year = rng.randint(lo, hi)
    return f"{year % 100:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}", year


def _rrn(rng: random.Random) -> tuple[str, str]:
    date, year = _birth(rng, 1940, 2019)
    gender = rng.choice("12" if year < 2000 else "34")
    body = date + gender + _digits(rng, 5)
    return body + _rrn_check(body, 11), pii.RRN


def _rrn_2020(rng: random.Random) -> tuple[str, str]:
    # Issued since October 2020: random tail, check digit meaningless.
    date, _ = _birth(rng, 2020, 2024)
    return date + rng.choice("34") + _digits(rng, 6), pii.RRN


def _foreigner(rng: random.Random) -> tuple[str, str]:
    date, year = _birth(rng, 1950, 2015)
    gender = rng.choice("56" if year < 2000 else "78")
    body = date + gender + _digits(rng, 5)
    return body + _rrn_check(body, 13), pii.FOREIGNER


def _corporate(rng: random.Random) -> tuple[str, str]:
    body = rng.choice(("1101", "1311", "1201", "2841", "1601")) + rng.choice(("11", "21", "71"))
    body += _digits(rng, 6)
    total = sum(int(x) * (1 if i % 2 == 0 else 2) for i, x in enumerate(body))
    return body + str((10 - total % 10) % 10), pii.CORPORATE


def _business(rng: random.Random) -> tuple[str, str]:
    body = _digits(rng, 9)
    for last in "0123456789":
        if pii.business_checksum_ok(body + last):
            return body + last, pii.BUSINESS
    raise AssertionError("unreachable")


def _card(rng: random.Random) -> tuple[str, str]:
    prefix = rng.choice(("4", "51", "52", "55", "9410", "6250", "3560"))
    return _luhn_complete(prefix + _digits(rng, 15 - len(prefix))), pii.CARD


def _amex(rng: random.Random) -> tuple[str, str]:
    return _luhn_complete(rng.choice(("34", "37")) + _digits(rng, 12)), pii.CARD


def _fmt(value: str, groups: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for g in groups:
        out.append(value[i : i + g])
        i += g
    return sep.join(out)


_ACCOUNT_FORMATS = (
    (3, 2, 6),
    (3, 3, 6),
    (6, 2, 6),
    (4, 3, 6),
    (4, 2, 7),
    (3, 4, 4, 2),
    (3, 6, 5),
    (3, 2, 7),
)


# Typed and pasted variants (issue 19): every dash, space and full-width digit that
# mask_pii folds before matching.
VARIANT_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2212\u30fc\ufe63\uff0d"
VARIANT_SPACES = "\u00a0\u2009\u202f\u3000"
_FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def variant(rng: random.Random, value: str, full_width: float = 0.3) -> str:
    """``value`` with each - or space replaced by a random variant, digits sometimes full-width."""
    out = "".join(
        rng.choice(VARIANT_DASHES) if c == "-" else rng.choice(VARIANT_SPACES) if c == " " else c
        for c in value
    )
    return out.translate(_FULL_WIDTH_DIGITS) if rng.random() < full_width else out


def pii_samples(seed: int = 20250401, per_kind: int = 30, variants: bool = True) -> list[Sample]:
    """≥ 300 sentences each holding one real-format value of a known kind.

    With ``variants`` every numeric value comes a second time with dash/space/full-width
    variants, and ``per_kind`` space-grouped account numbers (``1002 345 678901``) join.
    """
    rng = random.Random(seed)
    values: list[tuple[str, str]] = []
    for _ in range(per_kind):
        rrn, kind = _rrn(rng)
        values.append((_fmt(rrn, (6, 7), rng.choice("- ")) if rng.random() < 0.8 else rrn, kind))
        rrn, kind = _rrn_2020(rng)
        values.append((_fmt(rrn, (6, 7), "-"), kind))
        frn, kind = _foreigner(rng)
        values.append((_fmt(frn, (6, 7), "-"), kind))
        corp, kind = _corporate(rng)
        values.append((_fmt(corp, (6, 7), "-"), kind))
        biz, kind = _business(rng)
        values.append((_fmt(biz, (3, 2, 5), "-") if rng.random() < 0.8 else biz, kind))
        card, kind = _card(rng)
        values.append((_fmt(card, (4, 4, 4, 4), rng.choice(("-", " ", ""))), kind))
        if rng.random() < 0.3:
            amex, kind = _amex(rng)
            values.append((_fmt(amex, (4, 6, 5), rng.choice("- ")), kind))
        groups = rng.choice(_ACCOUNT_FORMATS)
        account = _digits(rng, sum(groups))
        values.append((_fmt(account, groups, "-") if rng.random() < 0.85 else account, pii.ACCOUNT))
        values.append((_phone(rng), pii.PHONE))
        values.append((_email(rng), pii.EMAIL))
    if variants:
        # A second generator: the plain samples stay exactly as before.
        vrng = random.Random(seed + 2)
        extra = [(variant(vrng, v), k) for v, k in values if k != pii.EMAIL]
        for _ in range(per_kind):
            groups = vrng.choice(_ACCOUNT_FORMATS)
            spaced = _fmt(_digits(vrng, sum(groups)), groups, " ")
            extra.append((spaced if vrng.random() < 0.5 else variant(vrng, spaced), pii.ACCOUNT))
    else:
        extra = []
    return [
        Sample(rng.choice(_SENTENCES).format(v), v, k, variant=i >= len(values))
        for i, (v, k) in enumerate(values + extra)
    ]


def _phone(rng: random.Random) -> str:
    style = rng.randrange(6)
    mid, last = _digits(rng, 4), _digits(rng, 4)
    if style == 0:
        return f"010-{mid}-{last}"
    if style == 1:
        return f"010{mid}{last}"
    if style == 2:
        return f"02-{_digits(rng, rng.choice((3, 4)))}-{last}"
    if style == 3:
        return f"0{rng.choice(('31', '32', '51', '53', '62', '64', '70'))}-{mid}-{last}"
    if style == 4:
        return f"+82 10-{mid}-{last}" if rng.random() < 0.5 else f"+82-10-{mid}-{last}"
    return f"(02) {_digits(rng, 3)}-{last}" if rng.random() < 0.5 else f"010.{mid}.{last}"


def _email(rng: random.Random) -> str:
    user = rng.choice(("hong", "kim.cs", "lee_01", "park+bank", "choi.min-su"))
    domain = rng.choice(("example.com", "bank.co.kr", "naver.com", "fss.or.kr", "mail.go.kr"))
    return f"{user}{rng.randint(1, 999)}@{domain}"


def lookalike_samples(seed: int = 20250401, n: int = 240, variants: bool = True) -> list[Sample]:
    """Statute references, dates, amounts, page numbers …: none may be masked.

    With ``variants`` ``n`` more come with dash/space/full-width variants.
    """
    rng = random.Random(seed + 1)
    makers = (
        lambda: f"제{rng.randint(1, 60)}조의{rng.randint(2, 5)}",
        lambda: f"제{rng.randint(1, 60)}조제{rng.randint(1, 9)}항제{rng.randint(1, 12)}호",
        lambda: f"{rng.randint(1, 999)}만원",
        lambda: f"{rng.randint(1, 99)}억 {rng.randint(1, 9)}천만원",
        lambda: f"{rng.randint(1, 999_999_999_999):,}원",
        lambda: f"{rng.randint(1_000_000_000, 9_999_999_999_999)}원",
        lambda: f"{rng.randint(1_000_000_000, 99_999_999_999)} 원",
        lambda: f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: f"{rng.randint(1990, 2030)}.{rng.randint(1, 12)}.{rng.randint(1, 28)}.",
        lambda: f"{rng.randint(1990, 2030)}. {rng.randint(1, 12)}. {rng.randint(1, 28)}.",
        lambda: f"{rng.randint(1990, 2030)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
        lambda: f"{rng.randint(1990, 2030)}년 {rng.randint(1, 12)}월 {rng.randint(1, 28)}일",
        lambda: f"법률 제{rng.randint(10000, 21000)}호",
        lambda: f"대통령령 제{rng.randint(20000, 36000)}호",
        lambda: f"총리령 제{rng.randint(1000, 2000)}호",
        lambda: f"금융위원회고시 제{rng.randint(2010, 2025)}-{rng.randint(1, 60)}호",
        lambda: f"p.{rng.randint(1, 999)}",
        lambda: f"pp.{rng.randint(1, 400)}-{rng.randint(401, 999)}",
        lambda: f"{rng.randint(1, 999)}쪽",
        lambda: f"- {rng.randint(1, 999)} -",
        lambda: f"{rng.randint(1, 36)}개월",
        lambda: f"연 {rng.randint(0, 20)}.{rng.randint(0, 99)}%",
        lambda: f"{rng.choice(('1588', '1599', '1544', '1661'))}-{rng.randint(1000, 9999)}",
        lambda: f"{rng.randint(2000, 2025)}다{rng.randint(1000, 99999)}",
        lambda: f"{rng.randint(2000, 2025)}헌마{rng.randint(1, 999)}",
        lambda: f"{rng.randint(2000, 2012)}-{rng.randint(2013, 2025)}",
        lambda: (
            f"{rng.randint(2020, 2024)}-{rng.randint(1, 12):02d}-01"
            f" ~ {rng.randint(2025, 2026)}-12-31"
        ),
        lambda: f"{rng.randint(8, 10):02d}:00~{rng.randint(16, 18)}:00",
        lambda: (
            f"ISBN 978-89-{rng.randint(1000, 9999)}-{rng.randint(100, 999)}-{rng.randint(0, 9)}"
        ),
        lambda: f"[시행 {rng.randint(2015, 2025)}. {rng.randint(1, 12)}. {rng.randint(1, 28)}.]",
        lambda: f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        lambda: f"{rng.randint(1, 99)},{rng.randint(100, 999)},{rng.randint(100, 999)}주",
        # Rows of numbers from tables: years, counts, amounts written with spaces.
        lambda: " ".join(str(year) for year in range(rng.randint(2010, 2020), 2025)),
        lambda: " ".join(str(rng.randint(100, 999)) for _ in range(rng.randint(3, 6))),
        lambda: f"{rng.randint(1, 999)} 000 000원",
        lambda: f"제{rng.randint(1, 60)}조 제{rng.randint(1, 9)}항 제{rng.randint(1, 12)}호",
    )
    out = []
    for i in range(n):
        value = makers[i % len(makers)]()
        out.append(Sample(rng.choice(_SENTENCES).format(value), "", "look-alike"))
    if variants:
        # Every look-alike again with dash/space/full-width variants (제４조의２, １００만원,
        # 2016.\u00a012.\u00a01., 2025–04–01 …): folding must not turn them into PII.
        vrng = random.Random(seed + 3)
        out += [
            Sample(
                rng.choice(_SENTENCES).format(variant(vrng, makers[i % len(makers)]())),
                "",
                "look-alike",
                variant=True,
            )
            for i in range(n)
        ]
    return out


def covered(sample: Sample) -> bool:
    """True when one replacement spans the whole value (partial masking is a miss)."""
    start = sample.text.index(sample.value)
    end = start + len(sample.value)
    masked = pii.mask_pii(sample.text)
    return any(r.start <= start and r.end >= end for r in masked.replacements)


def score(samples_pii: list[Sample], samples_clean: list[Sample]) -> tuple[float, float]:
    """(recall over PII samples, false-positive rate over look-alikes)."""
    caught = sum(1 for s in samples_pii if covered(s))
    flagged = sum(1 for s in samples_clean if pii.mask_pii(s.text).masked)
    return caught / len(samples_pii), flagged / len(samples_clean)
