"""Dates as fnrag takes them (``as_of``, 시행일자) and as Korean law writes them."""

from __future__ import annotations

import re
from datetime import date, datetime

from fnrag.errors import InputError

# 2016-12-01, 20161201, 2016.12.1, 2016. 12. 1., 2016/12/01
_DATE = re.compile(r"^\s*(\d{4})\s*[-./]?\s*(\d{1,2})\s*[-./]?\s*(\d{1,2})\s*\.?\s*$")


def parse_date(value: object, *, what: str = "as_of") -> date:
    """``value`` (a ``date``, ``datetime``, ISO string or ``"today"``) as a date.

    Raises:
        InputError: not a date; the message shows the form to use.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        if value.strip().lower() == "today":
            return date.today()
        match = _DATE.match(value)
        if match:
            try:
                return date(*(int(g) for g in match.groups()))
            except ValueError:
                pass
    raise InputError(
        f"{what} {value!r} is not a date; write it as YYYY-MM-DD (e.g. 2017-03-01) or 'today'"
    )


def iso_date(text: str | None) -> str | None:
    """A front-matter date as ISO (``2016-12-01``), None when empty or not a date."""
    if not text:
        return None
    try:
        return parse_date(text, what="date").isoformat()
    except InputError:
        return None


def korean_date(value: str | date) -> str:
    """``2016-12-01`` → ``2016. 12. 1.`` (how Korean law writes a date)."""
    day = parse_date(value, what="date")
    return f"{day.year}. {day.month}. {day.day}."


def resolve_as_of(value: object = None) -> date:
    """The date an ask or search is for: ``value``, or today when None."""
    return date.today() if value is None else parse_date(value)
