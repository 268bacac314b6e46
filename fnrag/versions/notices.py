"""What an answer's reader must know about the versions it quotes.

Two cases, both said in Korean beside the answer (never silently left out):

* a later version held by the index words the cited article differently: promulgated
  but not yet in force (``2027. 1. 1. 시행 예정 개정 있음``), or in force since a date
  after the one asked about;
* the date asked about falls between two held versions, and the later one's amendment
  notes (``<개정 2017.6.20>``) show an amendment in between that the index does not
  hold as text: the quoted text may not be exact for that date.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fnrag.errors import InputError
from fnrag.generators.units import short_law_name
from fnrag.index.fusion import section_article
from fnrag.types import Answer
from fnrag.versions.articles import articles_of
from fnrag.versions.chains import version_start
from fnrag.versions.dates import korean_date

_NOTES = re.compile(r"<[^<>\n]{0,80}>|\[[^\[\]\n]{0,80}\]")


def version_notices(index: Any, answer: Answer, as_of: str) -> tuple[str, ...]:
    """Notices for the articles ``answer`` cites, as of ``as_of`` (ISO)."""
    lookup = getattr(index, "chunk", None)
    if lookup is None or not answer.citations:
        return ()
    table = articles_of(index)
    today = date.today().isoformat()
    notices: list[str] = []
    seen: set[tuple[str, str]] = set()
    for citation in answer.citations:
        try:
            chunk = lookup(citation.chunk_id)
        except (InputError, KeyError):  # a chunk the index does not hold: nothing to say
            continue
        if chunk.law_id is None:
            continue
        start = version_start(chunk)
        mine = table.get((chunk.law_id, start), {})
        article = section_article(chunk.section)
        if article is None or article not in mine or (chunk.law_id, article) in seen:
            continue
        seen.add((chunk.law_id, article))
        name = f"{short_law_name(chunk.title)} {article}"
        cited = mine[article]
        later = sorted(
            (s, arts) for (law, s), arts in table.items() if law == chunk.law_id and s > start
        )
        for later_start, articles in later:
            other = articles.get(article)
            if other is not None and _same(other.text, cited.text):
                continue
            label = f" ({other.version})" if other is not None and other.version else ""
            if later_start > today:
                notices.append(f"{name}: {korean_date(later_start)} 시행 예정 개정 있음{label}")
            elif later_start > as_of:
                notices.append(
                    f"{name}: {korean_date(later_start)} 시행 개정으로 현행 조문은 인용문과 다릅니다{label}"
                )
            break
        if (
            later
            and cited.effective_from <= as_of
            and (cited.effective_to is None or as_of < cited.effective_to)
        ):
            _, next_articles = later[0]
            other = next_articles.get(article)
            if other is not None:
                # The later version's newest note anywhere is its own amendment (not in
                # force before it takes effect); older notes after the quoted version's
                # date are amendments the index does not hold.
                own = max((d for a in next_articles.values() for d in a.marks), default="")
                missing = [d for d in other.marks if start < d <= as_of and d < own]
                if missing:
                    shown = ", ".join(korean_date(d) for d in missing)
                    notices.append(
                        f"{name}: {korean_date(as_of)} 당시 조문은 색인에 없는 개정({shown})으로 "
                        "인용문과 다를 수 있습니다"
                    )
    return tuple(notices)


def _same(a: str, b: str) -> bool:
    return " ".join(_NOTES.sub("", a).split()) == " ".join(_NOTES.sub("", b).split())


def no_text_in_force(day: str, earliest: str) -> str:
    """The answer when the index holds no law text in force on ``day`` (ISO)."""
    oldest = (
        f" 색인에 있는 가장 오래된 법령은 {korean_date(earliest)} 시행본입니다." if earliest else ""
    )
    return (
        f"{korean_date(day)} 당시 시행 중이던 법령 본문이 색인에 없어 답할 수 없습니다.{oldest} "
        "더 늦은 기준일로 물어보시거나 그 당시의 법령을 색인에 추가하세요."
    )
