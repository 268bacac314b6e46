"""``fnrag diff``: one article as in force on two dates, aligned by 항/호/목.

Units are aligned by their words, not their numbers, so an item inserted before
others shows as one ``added`` unit and the rest as ``renumbered`` (or ``changed``
where the words moved *and* changed), not as a cascade of changes. The alignment is
an ordered one (the order of a law's items is part of its meaning): dynamic
programming over word similarity, with a small bonus for keeping the same number.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from typing import Any

from fnrag.errors import InputError
from fnrag.generators.units import LAW_SHORT_NAMES, Unit, passage_units, short_law_name
from fnrag.types import ArticleDiff, UnitChange
from fnrag.versions.articles import ArticleText, articles_of
from fnrag.versions.dates import korean_date, parse_date

# Below this similarity two units are different provisions, not one changed.
MATCH_FLOOR = 0.45
SAME_NUMBER_BONUS = 0.15
_ARTICLE = re.compile(r"^\s*(?:제\s*)?(\d+)\s*(?:조)?\s*(?:의\s*(\d+))?\s*$")
# Amendment notes of any length (the units parser drops only short ones): a note
# is a record of an amendment, never a change of the words.
_NOTE = re.compile(
    r"<(?:개정|신설|전문개정|타법개정)[^<>\n]*>|\[(?:본조신설|전문개정|제목개정|본조제목개정|시행일)[^\[\]\n]*\]"
)
_PARAGRAPH = {ch: i + 1 for i, ch in enumerate("①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳")}


def article_name(text: str) -> str:
    """``4`` / ``제4조`` / ``제4조의2`` / ``4의2`` → ``제4조`` / ``제4조의2``."""
    match = _ARTICLE.match(str(text))
    if not match:
        raise InputError(f"{text!r} is not an article; write it as 제4조, 제4조의2 or 4")
    main, branch = match.groups()
    return f"제{int(main)}조의{int(branch)}" if branch else f"제{int(main)}조"


def resolve_law(index: Any, law: str) -> str:
    """The law id that ``law`` (a title, a short title such as ``금융실명법 시행령``, a
    trailing part such as ``시행령``, or a 법령ID) names among the index's versioned laws.

    Raises:
        InputError: no such law, or several fit (the message lists them).
    """
    titles: dict[str, set[str]] = {}
    versions: dict[str, int] = {}
    for (law_id, _), articles in articles_of(index).items():
        versions[law_id] = versions.get(law_id, 0) + 1
        titles.setdefault(law_id, set()).add(next(iter(articles.values())).title)
    if not titles:
        raise InputError(
            "the index holds no dated law text; build it from law files whose front matter "
            "gives 시행일자 (or a FILE.meta.yaml sidecar)"
        )
    wanted = " ".join(str(law).split())
    for full, short in LAW_SHORT_NAMES:
        if wanted.startswith(short):
            wanted = full + wanted[len(short) :]
    exact = [i for i, t in titles.items() if wanted == i or wanted in t]
    fits = exact or [
        i for i, ts in titles.items() if any(t.endswith(" " + wanted) or wanted in t for t in ts)
    ]
    if len(fits) > 1:
        # "시행령" alone: the one with versions to compare is the one meant.
        several = [i for i in fits if versions[i] > 1]
        fits = several if len(several) == 1 else fits
    if not fits:
        known = ", ".join(sorted(short_law_name(min(t)) for t in titles.values()))
        raise InputError(f"no law {law!r} in the index; it holds: {known}")
    if len(fits) > 1:
        named = ", ".join(sorted(short_law_name(min(titles[i])) for i in fits))
        raise InputError(f"{law!r} fits several laws ({named}); name one of them")
    return fits[0]


def in_force(index: Any, law_id: str, day: date) -> tuple[str, dict[str, ArticleText]]:
    """The version of ``law_id`` in force on ``day``: its start and its articles."""
    iso = day.isoformat()
    held = sorted((s, a) for (i, s), a in articles_of(index).items() if i == law_id)
    for start, articles in reversed(held):
        end = next(iter(articles.values())).effective_to
        if start <= iso and (end is None or iso < end):
            return start, articles
    first = korean_date(held[0][0]) if held else "?"
    raise InputError(
        f"no version of that law held by the index is in force on {korean_date(day)}; "
        f"its oldest takes effect on {first}"
    )


def diff_article(
    index: Any, law: str, article: str, from_date: Any, to_date: Any = None
) -> ArticleDiff:
    """``article`` of ``law`` as in force on ``from_date`` and on ``to_date`` (default
    today), aligned unit by unit."""
    law_id = resolve_law(index, law)
    name = article_name(article)
    old_day = parse_date(from_date, what="--from")
    new_day = parse_date(to_date if to_date is not None else "today", what="--to")
    _, old_articles = in_force(index, law_id, old_day)
    _, new_articles = in_force(index, law_id, new_day)
    old, new = old_articles.get(name), new_articles.get(name)
    if old is None and new is None:
        raise InputError(f"{name} is in neither version; check the article number")
    some = new or old
    assert some is not None
    return ArticleDiff(
        law_id=law_id,
        title=some.title,
        article=name,
        from_date=old_day.isoformat(),
        to_date=new_day.isoformat(),
        from_version=_label(old_articles),
        to_version=_label(new_articles),
        from_text=old.text if old else "",
        to_text=new.text if new else "",
        changes=tuple(align(unit_list(old), unit_list(new))),
        amendments=tuple(_between(index, law_id, _label(old_articles), _label(new_articles))),
    )


def _between(index: Any, law_id: str, older: str | None, newer: str | None) -> list[Any]:
    """The amendments from the earlier version (exclusive) to the later (inclusive)."""
    from fnrag.versions.addenda import amendment_records

    records = amendment_records(index, law_id)
    dates = {r.number: r.promulgated for r in records}
    low, high = dates.get(_number(older)), dates.get(_number(newer))
    if older == newer or high is None:
        return []
    return [r for r in records if (low is None or low < r.promulgated) and r.promulgated <= high]


def _number(label: str | None) -> str:
    match = re.search(r"제(\d+)호", label or "")
    return match.group(1).lstrip("0") if match else ""


def _label(articles: dict[str, ArticleText]) -> str | None:
    return next(iter(articles.values())).version if articles else None


def unit_list(article: ArticleText | None) -> list[tuple[str, str]]:
    """(number path, words) of every 항/호/목 of ``article``, in order."""
    if article is None:
        return []
    units = passage_units(article.text, article.section, article.source).units
    return [(unit_path(units, i), words(u.text)) for i, u in enumerate(units)]


def words(text: str) -> str:
    """A unit's words for comparison: notes removed, whitespace collapsed."""
    return " ".join(_NOTE.sub("", text).split())


def unit_path(units: tuple[Unit, ...], index: int) -> str:
    """``제1항제3호가목``; ``본문`` for an article's unnumbered text."""
    chain = []
    at: int | None = index
    while at is not None:
        chain.append(units[at])
        at = units[at].parent
    parts = []
    for unit in reversed(chain):
        if unit.level == "para":
            parts.append(f"제{_PARAGRAPH[unit.mark]}항" if unit.mark in _PARAGRAPH else "본문")
        elif unit.level == "item":
            main, _, branch = unit.mark.partition("의")
            parts.append(f"제{main}호의{branch}" if branch else f"제{main}호")
        elif unit.level == "sub":
            parts.append(f"{unit.mark}목")
    if len(parts) > 1 and parts[0] == "본문":
        parts = parts[1:]
    return "".join(parts) or "본문"


def _similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def align(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> list[UnitChange]:
    """Ordered alignment of two unit lists maximising total similarity."""
    n, m = len(old), len(new)
    sim = [[0.0] * m for _ in range(n)]
    for i, (op, ot) in enumerate(old):
        for j, (np_, nt) in enumerate(new):
            s = _similarity(ot, nt)
            if _deleted(nt) and not _deleted(ot):
                s = 0.0  # "삭제" is a removal, never a rewording
            sim[i][j] = s + (SAME_NUMBER_BONUS if op == np_ else 0.0) if s >= MATCH_FLOOR else -1.0
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            options = [best[i + 1][j], best[i][j + 1]]
            if sim[i][j] >= 0:
                options.append(best[i + 1][j + 1] + sim[i][j])
            best[i][j] = max(options)
    changes: list[UnitChange] = []
    i = j = 0
    while i < n or j < m:
        if i < n and j < m and sim[i][j] >= 0 and best[i][j] == best[i + 1][j + 1] + sim[i][j]:
            (op, ot), (np_, nt) = old[i], new[j]
            status = (
                "unchanged" if ot == nt and op == np_ else "renumbered" if ot == nt else "changed"
            )
            changes.append(UnitChange(status, op, np_, ot, nt))
            i, j = i + 1, j + 1
        elif i < n and (j >= m or best[i][j] == best[i + 1][j]):
            changes.append(UnitChange("removed", old[i][0], "", old[i][1], ""))
            i += 1
        else:
            np_, nt = new[j]
            # An item left in place as "삭제" is how the law removes it.
            changes.append(UnitChange("added" if not _deleted(nt) else "removed", "", np_, "", nt))
            j += 1
    return _merge_deletions(changes)


def _deleted(text: str) -> bool:
    # The units parser leaves a "4. 삭제 <2020.12.29>" item with no words of its own.
    return text.strip() in ("", "삭제", "삭제.")


def _merge_deletions(changes: list[UnitChange]) -> list[UnitChange]:
    """A removed unit followed by its ``삭제`` placeholder is one removal."""
    merged: list[UnitChange] = []
    for change in changes:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.status == "removed"
            and not last.new_path
            and change.status == "removed"
            and not change.old_path
            and _deleted(change.new_text)
        ):
            merged[-1] = UnitChange(
                "removed", last.old_path, change.new_path, last.old_text, change.new_text
            )
            continue
        merged.append(change)
    return merged
