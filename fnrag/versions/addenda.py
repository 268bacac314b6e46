"""부칙 as amendment records: which amendments a version's text records, when each
was promulgated, how it takes effect, and its 경과조치.

Every version of a law carries the 부칙 of all its earlier amendments, so the latest
held version lists the amendments made between two held versions — the ones the
index does not hold as texts. The records are read from the 부칙 chunks (kept out of
ordinary answers by ranking, ``fnrag.index.cues``) of each version.
"""

from __future__ import annotations

import re
from typing import Any

from fnrag.index.cues import is_addenda
from fnrag.types import AmendmentRecord
from fnrag.versions.chains import version_start

_HEADING = re.compile(
    r"부\s*칙\s*(?:\(([^)]*)\))?\s*<\s*제\s*(\d+)\s*호\s*,\s*(\d{4})\s*\.\s*(\d{1,2})\s*\.\s*(\d{1,2})\s*\.?\s*>"
)
_EFFECTIVE = re.compile(r"[^.\n]*시행한다\.")
_TRANSITIONAL = re.compile(r"제\d+조(?:의\d+)?\s*\(([^)]*(?:경과조치|적용례)[^)]*)\)")


def amendment_records(index: Any, law_id: str | None = None) -> list[AmendmentRecord]:
    """The amendments the index's versions record, oldest first, one per 공포번호 (as
    the latest held version words it)."""
    texts: dict[tuple[str, str], dict[str, Any]] = {}
    for chunk in getattr(index, "chunks", ()):
        if chunk.law_id is None or (law_id and chunk.law_id != law_id):
            continue
        if not is_addenda(chunk.section):
            continue
        match = _HEADING.search(chunk.section) or _HEADING.search(chunk.text)
        if not match:
            continue
        key = (chunk.law_id, match.group(2).lstrip("0"))
        start = version_start(chunk)
        seen = texts.get(key)
        if seen is not None and seen["start"] > start:
            continue  # a later version already records it
        if seen is None or seen["start"] < start:
            seen = texts[key] = {"start": start, "chunk": chunk, "match": match, "parts": []}
        seen["parts"].append((chunk.start, chunk.text))
    records = []
    for (law, number), seen in texts.items():
        match, chunk = seen["match"], seen["chunk"]
        text = "\n".join(t for _, t in sorted(seen["parts"]))
        effective = _EFFECTIVE.search(text)
        y, m, d = (int(g) for g in match.group(3, 4, 5))
        records.append(
            AmendmentRecord(
                law_id=law,
                version=chunk.version,
                number=number,
                promulgated=f"{y:04d}-{m:02d}-{d:02d}",
                amending_law=(match.group(1) or "").strip(),
                effective=" ".join(effective.group(0).split()) if effective else "",
                transitional=tuple(dict.fromkeys(_TRANSITIONAL.findall(text))),
                heading=" ".join(match.group(0).split()),
            )
        )
    return sorted(records, key=lambda r: (r.law_id, r.promulgated, r.number))
