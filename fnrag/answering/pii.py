"""Mask Korean personal data before a question reaches a generator, a log or a server.

``mask_pii`` replaces 주민등록번호, 외국인등록번호, 사업자등록번호, 법인등록번호, card
numbers, bank account numbers, phone numbers and e-mail addresses with numbered
placeholders such as ``[주민등록번호1]``.  The same value twice in one call gets the
same placeholder, so an answer that repeats it stays readable.  The raw value is
never stored: a ``Replacement`` keeps only the placeholder, the kind, the span in
the original text and whether a checksum held.

Choices worth knowing:

* 주민등록번호 issued since October 2020 end in random digits, so their check
  digit is meaningless.  A 6-7 digit number whose first six digits are a real
  date and whose 7th digit is a gender/century digit (1-8) is therefore masked
  even when the check digit fails; ``Replacement.checksum_ok`` records which.
* Card numbers written in 4-4-4-4 groups are masked even when Luhn fails (a
  mistyped card number is still a card number); bare digit runs need Luhn.
* Look-alikes are left alone by construction: statute numbers (제20894호),
  article references (제4조의2), dates (2025-04-01 has 8 digits, below the 10-digit
  floor of every numeric kind), amounts (digits followed by 원/만/억 …, or with
  thousands commas) and page numbers never reach 10 contiguous or hyphen-joined
  digits.  A number right after "ISBN" is not an account.
* Typed or pasted variants match like the plain form: any dash (‐ ‑ ‒ – — − ー ﹣ －),
  no-break, thin or ideographic spaces and full-width characters (０-９, ＋, （）, ＠) are
  folded to ASCII before matching.  Every fold is one character for one, so offsets in
  the folded text are offsets in the original, and everything outside a mask is kept
  exactly as written.
* Account numbers may be grouped by spaces (``1002 345 678901``) as long as one group
  has 5+ digits or the groups are 농협's 3-4-4-2: rows of years or of 3-digit amounts
  (``2019 2020 2021``, ``100 200 300 400``) are not accounts.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass

RRN = "주민등록번호"
FOREIGNER = "외국인등록번호"
BUSINESS = "사업자등록번호"
CORPORATE = "법인등록번호"
CARD = "카드번호"
ACCOUNT = "계좌번호"
PHONE = "전화번호"
EMAIL = "이메일"

KINDS = (RRN, FOREIGNER, BUSINESS, CORPORATE, CARD, ACCOUNT, PHONE, EMAIL)


@dataclass(frozen=True)
class Replacement:
    """One masked value (the raw value itself is deliberately not kept).

    Attributes:
        placeholder: what replaced it in ``MaskedText.text``, e.g. ``[전화번호1]``.
        kind: one of ``KINDS``.
        start: character offset of the value in the original text.
        end: end offset (exclusive) in the original text.
        checksum_ok: True/False for kinds with a check digit, None otherwise.
    """

    placeholder: str
    kind: str
    start: int
    end: int
    checksum_ok: bool | None = None


@dataclass(frozen=True)
class MaskedText:
    """The result of ``mask_pii``.

    Attributes:
        text: the input with every detected value replaced by its placeholder.
        replacements: one entry per occurrence, in text order.
    """

    text: str
    replacements: tuple[Replacement, ...] = ()

    @property
    def masked(self) -> bool:
        """True when at least one value was replaced."""
        return bool(self.replacements)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The distinct kinds found, in order of first appearance."""
        return tuple(dict.fromkeys(r.kind for r in self.replacements))


# --- folding typed variants to ASCII (one character for one) ---------------

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\ufe58\ufe63\uff0d"
_SPACES = "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
_SPACES += "\u202f\u205f\u3000"
_FOLD = {ord(c): "-" for c in _DASHES} | {ord(c): " " for c in _SPACES}
# The full-width ASCII block (！ … ～), digits included; － is in it and folds to "-".
_FOLD |= {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}


def fold_variants(text: str) -> str:
    """``text`` with dash, space and full-width variants as ASCII; same length, same offsets."""
    return text.translate(_FOLD)


# --- check digits -----------------------------------------------------------


def _digits(value: str) -> list[int]:
    return [int(c) for c in value if c.isdigit()]


def rrn_checksum_ok(digits: str) -> bool:
    """주민등록번호 check digit (valid for numbers issued before October 2020)."""
    d = _digits(digits)
    total = sum(x * w for x, w in zip(d[:12], (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=False))
    return len(d) == 13 and (11 - total % 11) % 10 == d[12]


def foreigner_checksum_ok(digits: str) -> bool:
    """외국인등록번호 check digit: same weights as the RRN, offset 13 instead of 11."""
    d = _digits(digits)
    total = sum(x * w for x, w in zip(d[:12], (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=False))
    return len(d) == 13 and (13 - total % 11) % 10 == d[12]


def corporate_checksum_ok(digits: str) -> bool:
    """법인등록번호 check digit: weights 1,2,1,2,… modulo 10."""
    d = _digits(digits)
    total = sum(x * (1 if i % 2 == 0 else 2) for i, x in enumerate(d[:12]))
    return len(d) == 13 and (10 - total % 10) % 10 == d[12]


def business_checksum_ok(digits: str) -> bool:
    """사업자등록번호 check digit (weights 1,3,7,1,3,7,1,3,5 plus the 5×9th-digit carry)."""
    d = _digits(digits)
    if len(d) != 10:
        return False
    total = sum(x * w for x, w in zip(d[:9], (1, 3, 7, 1, 3, 7, 1, 3, 5), strict=False))
    total += d[8] * 5 // 10
    return (10 - total % 10) % 10 == d[9]


def luhn_ok(digits: str) -> bool:
    """The Luhn check used by every card scheme."""
    d = _digits(digits)
    total = 0
    for i, x in enumerate(reversed(d)):
        if i % 2 == 1:
            x = x * 2 - 9 if x > 4 else x * 2
        total += x
    return len(d) >= 12 and total % 10 == 0


_CENTURY = {1: 1900, 2: 1900, 5: 1900, 6: 1900, 3: 2000, 4: 2000, 7: 2000, 8: 2000}


def _birth_date_ok(digits: str) -> bool:
    """The first six digits are a date for the century the 7th digit names (1-8)."""
    century = _CENTURY.get(int(digits[6]))
    if century is None:
        return False
    try:
        _dt.date(century + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return False
    return True


# --- classifiers: digits (separators removed) and the raw match → (kind, checksum_ok)

Verdict = tuple[str, bool | None] | None


def _classify_registration(raw: str) -> Verdict:
    d = "".join(c for c in raw if c.isdigit())
    if _birth_date_ok(d):
        foreign = int(d[6]) in (5, 6, 7, 8)
        ok = foreigner_checksum_ok(d) or rrn_checksum_ok(d) if foreign else rrn_checksum_ok(d)
        if ok:
            return (FOREIGNER if foreign else RRN), True
        if corporate_checksum_ok(d):
            return CORPORATE, True
        # Post-2020 RRN (random tail): still a person's number.
        return (FOREIGNER if foreign else RRN), False
    if corporate_checksum_ok(d):
        return CORPORATE, True
    return None  # may still be an account number: later patterns decide


_YEAR = re.compile(r"(?:19|20)\d\d")


def _classify_card(raw: str) -> Verdict:
    grouped = not raw.isdigit()
    ok = luhn_ok(raw)
    # A table header "2019 2020 2021 2022" has the card's shape, not its check digit.
    if not ok and all(_YEAR.fullmatch(g) for g in re.split("[- ]", raw)):
        return None
    if ok or grouped:
        return CARD, ok
    return None


def _classify_business(raw: str) -> Verdict:
    if business_checksum_ok(raw):
        return BUSINESS, True
    return ACCOUNT, None  # 3-2-5 groups that fail the check are still a private number


def _classify_phone(raw: str) -> Verdict:
    return PHONE, None


def _classify_email(raw: str) -> Verdict:
    return EMAIL, None


_MIN_DIGITS, _MAX_DIGITS = 10, 16


def _classify_grouped(raw: str) -> Verdict:
    d = "".join(c for c in raw if c.isdigit())
    if not _MIN_DIGITS <= len(d) <= _MAX_DIGITS:
        return None
    return ACCOUNT, None


def _classify_spaced(raw: str) -> Verdict:
    groups = [len(g) for g in raw.split(" ")]
    if not _MIN_DIGITS <= sum(groups) <= _MAX_DIGITS:
        return None
    if max(groups) < 5 and groups != [3, 4, 4, 2]:
        return None
    return ACCOUNT, None


def _classify_run(raw: str) -> Verdict:
    if len(raw) == 10 and business_checksum_ok(raw):
        return BUSINESS, True
    if len(raw) in (15, 16) and luhn_ok(raw):
        return CARD, True
    return ACCOUNT, None


# --- patterns, tried in priority order; an earlier match wins any overlap ---

# Not glued to more digits, nor to a digit group joined by - or . (so we never
# mask the middle of a longer number).
_L = r"(?<![0-9])(?<![0-9][-.])"
_R = r"(?![0-9])(?![-.][0-9])"
_AREA = r"(?:1[016789]|2|[3-6][1-5]|70)"
# A bare digit run followed by a unit is an amount or a count, never an identifier.
# (년/월/일 are left out on purpose: "…1234567일 때" is the copula, not a day count.)
# Count words must touch the number and end the word ("123…주" yes, "… 주세요" no).
_UNIT_AFTER = re.compile(
    r"\s*(?:원|달러|엔|위안|유로|%|퍼센트)|(?:개|명|건|주|회|배|번째)(?![가-힣])"
)

_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[str], Verdict]], ...] = (
    (
        re.compile(
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
        ),
        _classify_email,
    ),
    (
        re.compile(r"\+82[-. ]?(?:\(0\)[-. ]?)?0?" + _AREA + r"[-. )]?\d{3,4}[-. ]?\d{4}" + _R),
        _classify_phone,
    ),
    (re.compile(_L + r"\d{6}[- ]?\d{7}" + _R), _classify_registration),
    (re.compile(_L + r"\d{4}(?P<s>[- ]?)\d{4}(?P=s)\d{4}(?P=s)\d{4}" + _R), _classify_card),
    (re.compile(_L + r"3[47]\d{2}(?P<s>[- ])\d{6}(?P=s)\d{5}" + _R), _classify_card),
    (
        re.compile(_L + r"(?:\(0" + _AREA + r"\)\s?|0" + _AREA + r"[-. ]?)\d{3,4}[-. ]?\d{4}" + _R),
        _classify_phone,
    ),
    (re.compile(_L + r"\d{3}-\d{2}-\d{5}" + _R), _classify_business),
    (re.compile(_L + r"\d{2,6}(?:-\d{1,8}){1,4}" + _R), _classify_grouped),
    (re.compile(_L + r"\d{3,6}(?: \d{2,8}){1,3}" + _R), _classify_spaced),
    (re.compile(r"(?<![0-9,.])\d{10,16}(?![0-9])(?![,.][0-9])"), _classify_run),
)

_ISBN_BEFORE = re.compile(r"ISBN(?:-1[03])?[:\s]*$", re.IGNORECASE)
# A space-grouped value must be the whole space-joined run of numbers: part of a row
# ("2010 2011 2012 2013 2014", "3748 02 4600589") is not a card or a phone number.
# A one-digit count after it is not a group ("… 678901 2건").
_RUN_BEFORE = re.compile(r"[0-9] ")
_RUN_AFTER = re.compile(r" [0-9]{2}")


def _inside_spaced_run(folded: str, start: int, end: int) -> bool:
    return " " in folded[start:end] and (
        _RUN_BEFORE.fullmatch(folded, max(0, start - 2), start) is not None
        or _RUN_AFTER.match(folded, end) is not None
    )


def _normalise(kind: str, raw: str) -> str:
    if kind == EMAIL:
        return raw.lower()
    digits = "".join(c for c in raw if c.isdigit())
    if kind == PHONE and digits.startswith("82"):
        digits = "0" + digits[2:].lstrip("0")
    return digits


def mask_pii(text: str) -> MaskedText:
    """Replace personal data in ``text`` by consistent numbered placeholders.

    Args:
        text: any text (a question, a log line, a passage).

    Returns:
        A ``MaskedText``; ``.text`` is safe to log or send to a server.

    Example:
        >>> mask_pii("주민번호 900101-1234568, 다시 900101-1234568").text
        '주민번호 [주민등록번호1], 다시 [주민등록번호1]'
    """
    # Match on the folded text; its spans are the original's (one-for-one folds).
    folded = fold_variants(text)
    found: list[tuple[int, int, str, bool | None]] = []
    taken = [False] * (len(text) + 1)
    for pattern, classify in _PATTERNS:
        for match in pattern.finditer(folded):
            start, end = match.span()
            if any(taken[start:end]):
                continue
            raw = match.group(0)
            if raw.replace(" ", "").isdigit() and _UNIT_AFTER.match(folded, end):
                continue
            if _inside_spaced_run(folded, start, end):
                continue
            verdict = classify(raw)
            if verdict is None:
                continue
            if verdict[0] == ACCOUNT and _ISBN_BEFORE.search(folded[max(0, start - 12) : start]):
                continue
            found.append((start, end, verdict[0], verdict[1]))
            for i in range(start, end):
                taken[i] = True
    found.sort()

    counters: dict[str, int] = {}
    placeholders: dict[str, str] = {}
    replacements: list[Replacement] = []
    pieces: list[str] = []
    cursor = 0
    for start, end, kind, ok in found:
        key = _normalise(kind, folded[start:end])
        if key not in placeholders:
            counters[kind] = counters.get(kind, 0) + 1
            placeholders[key] = f"[{kind}{counters[kind]}]"
        placeholder = placeholders[key]
        replacements.append(Replacement(placeholder, kind, start, end, ok))
        pieces.append(text[cursor:start])
        pieces.append(placeholder)
        cursor = end
    pieces.append(text[cursor:])
    return MaskedText("".join(pieces), tuple(replacements))
