"""Version chains: the versions of one law, ordered by 시행일자, and each chunk's
status (in force, superseded, prospective, undated) on a date.

A document is a version of a law when it states a 시행일자 (front matter, a sidecar
``FILE.meta.yaml`` or a law.go.kr JSON). Versions of one law share its 법령ID; without
one they share title and kind. ``link_versions`` runs over every chunk of a build, so
that adding a newer version closes the older one's ``effective_to``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np

from fnrag.errors import IngestError
from fnrag.types import Chunk, Document
from fnrag.versions.dates import iso_date, korean_date

IN_FORCE = "in force"
SUPERSEDED = "superseded"
PROSPECTIVE = "prospective"
UNDATED = "undated"


@dataclass(frozen=True)
class DocumentVersion:
    """What one document says about the version it is.

    Attributes:
        law_id: 법령ID, else ``title:`` + the title; None when undated.
        label: e.g. ``법률 제14242호, 2016. 12. 1. 시행``; None when undated.
        effective_from: the 시행일자 as ISO; None when undated.
        promulgated: the 공포일자 as ISO, when given.
    """

    law_id: str | None
    label: str | None
    effective_from: str | None
    promulgated: str | None = None


def document_version(doc: Document) -> DocumentVersion:
    """The version ``doc`` is (all None for an undated document).

    Raises:
        IngestError: the 시행일자 (or 공포일자) is there but is not a date.
    """
    meta = doc.metadata
    raw = meta.get("시행일자") or meta.get("effective_from") or ""
    if not raw.strip():
        return DocumentVersion(None, None, None)
    effective = iso_date(raw)
    if effective is None:
        raise IngestError(
            f"{doc.source}: 시행일자 {raw!r} is not a date; write it as YYYY-MM-DD "
            "(e.g. 시행일자: 2016-12-01) in the front matter or the FILE.meta.yaml sidecar"
        )
    promulgated_raw = meta.get("공포일자") or ""
    promulgated = iso_date(promulgated_raw)
    if promulgated_raw.strip() and promulgated is None:
        raise IngestError(
            f"{doc.source}: 공포일자 {promulgated_raw!r} is not a date; write it as YYYY-MM-DD"
        )
    law_id = (meta.get("법령ID") or meta.get("law_id") or "").strip() or f"title:{doc.title}"
    kind = (meta.get("법령구분") or "").strip()
    number = (meta.get("공포번호") or "").strip().lstrip("0")
    parts = [p for p in (kind, f"제{number}호" if number else "") if p]
    label = (
        f"{' '.join(parts)}, {korean_date(effective)} 시행"
        if parts
        else f"{korean_date(effective)} 시행"
    )
    return DocumentVersion(law_id, label, effective, promulgated)


def article_dates(doc: Document) -> dict[str, str]:
    """Articles in force from a date of their own (분리시행: ``조문시행일자`` in a
    law.go.kr JSON, or the same key as a JSON mapping in front matter or a sidecar)."""
    raw = doc.metadata.get("조문시행일자")
    if not raw:
        return {}
    import json

    try:
        data = json.loads(raw)
    except ValueError:
        raise IngestError(
            f"{doc.source}: 조문시행일자 is not a JSON mapping of article to date; write it as "
            '{"제4조": "2027-01-01"}'
        ) from None
    out = {}
    for article, day in data.items() if isinstance(data, dict) else ():
        iso = iso_date(str(day))
        if iso is None:
            raise IngestError(f"{doc.source}: 조문시행일자 of {article} ({day!r}) is not a date")
        out[str(article)] = iso
    return out


def link_versions(chunks: Sequence[Chunk]) -> tuple[list[Chunk], list[str]]:
    """``chunks`` with ``effective_to`` set from the next version of the same law.

    Returns the chunks and notes for the build report (versions of one 법령ID whose
    titles differ: a law renamed by an amendment is still one chain).

    Raises:
        IngestError: two files are versions of one law in force from the same date.
    """
    starts: dict[str, dict[str, tuple[str, str]]] = {}  # law → from → (source, title)
    for chunk in chunks:
        if chunk.law_id is None or chunk.effective_from is None:
            continue
        start = version_start(chunk)
        seen = starts.setdefault(chunk.law_id, {}).setdefault(start, (chunk.source, chunk.title))
        if seen[0] != chunk.source:
            raise IngestError(
                f"{seen[0]} and {chunk.source} are both versions of {_law_name(chunk)} in force "
                f"from {start}: leave one out, or correct its 시행일자"
            )
    notes = []
    for law_id, versions in starts.items():
        titles = sorted({title for _, title in versions.values()})
        if len(titles) > 1 and not law_id.startswith("title:"):
            notes.append(
                f"{', '.join(src for src, _ in versions.values())} share 법령ID {law_id} "
                f"but their titles differ ({' / '.join(titles)}); they are versions of one law"
            )
    nexts: dict[tuple[str, str], str | None] = {}
    for law_id, versions in starts.items():
        ordered = sorted(versions)
        for i, start in enumerate(ordered):
            nexts[(law_id, start)] = ordered[i + 1] if i + 1 < len(ordered) else None
    # Imported here: the chunker imports this module while fnrag.index (whose package
    # imports the builder, which imports this module) may still be loading.
    from fnrag.index.fusion import section_article

    # 분리시행: an article of the next version that takes effect later than that version
    # leaves this version's article in force until its own date.
    own_start: dict[tuple[str, str, str], str] = {}
    for chunk in chunks:
        if chunk.law_id and chunk.effective_from and chunk.effective_from != version_start(chunk):
            article = section_article(chunk.section) or ""
            own_start[(chunk.law_id, version_start(chunk), article)] = chunk.effective_from
    linked = []
    for chunk in chunks:
        if chunk.law_id is None or chunk.effective_from is None:
            linked.append(chunk)
            continue
        end = nexts[(chunk.law_id, version_start(chunk))]
        if end is not None and own_start:
            end = own_start.get((chunk.law_id, end, section_article(chunk.section) or ""), end)
        linked.append(replace(chunk, effective_to=end))
    return linked, notes


def version_start(chunk: Chunk) -> str:
    """The 시행일자 of the version ``chunk`` belongs to (its document's)."""
    # An article with a later date of its own (분리시행) is still part of the version
    # its document's 시행일자 names: the chain is of documents.
    return iso_date(chunk.effective_date) or chunk.effective_from or ""


def _law_name(chunk: Chunk) -> str:
    return f"법령ID {chunk.law_id}" if not str(chunk.law_id).startswith("title:") else chunk.title


def status(item: Any, day: date) -> str:
    """``in force``, ``superseded``, ``prospective`` or ``undated`` on ``day``, for a
    Chunk, Hit or Citation."""
    start = getattr(item, "effective_from", None)
    if not start:
        return UNDATED
    iso = day.isoformat()
    if start > iso:
        return PROSPECTIVE
    end = getattr(item, "effective_to", None)
    return SUPERSEDED if end and end <= iso else IN_FORCE


class VersionFilter:
    """Which rows of an index are searchable on a date: the text in force on it and
    undated documents. Built once per index; masks are cached per date."""

    def __init__(self, chunks: Iterable[Chunk]) -> None:
        rows = list(chunks)
        far = date.max.toordinal() + 1
        self.starts = np.array([_ordinal(c.effective_from, -1) for c in rows], dtype=np.int64)
        self.ends = np.array([_ordinal(c.effective_to, far) for c in rows], dtype=np.int64)
        self.dated = self.starts >= 0
        self.any_dated = bool(self.dated.any())
        self._masks: dict[date, np.ndarray] = {}

    def mask(self, day: date) -> np.ndarray:
        """True for the rows searchable on ``day`` (read-only)."""
        cached = self._masks.get(day)
        if cached is None:
            n = day.toordinal()
            cached = ~self.dated | ((self.starts <= n) & (n < self.ends))
            cached.setflags(write=False)
            if len(self._masks) > 64:
                self._masks.clear()
            self._masks[day] = cached
        return cached

    def holds_law_text_on(self, day: date) -> bool:
        """True when some dated text is in force on ``day`` (or nothing is dated)."""
        return not self.any_dated or bool((self.mask(day) & self.dated).any())

    def earliest(self) -> str | None:
        """The earliest 시행일자 held, as ISO."""
        if not self.any_dated:
            return None
        return date.fromordinal(int(self.starts[self.dated].min())).isoformat()


def _ordinal(iso: str | None, missing: int) -> int:
    return date.fromisoformat(iso).toordinal() if iso else missing


def version_chains(chunks: Iterable[Chunk]) -> list[dict[str, Any]]:
    """The manifest's summary of the chains: per law, its versions in order."""
    laws: dict[str, dict[str, dict[str, Any]]] = {}
    for chunk in chunks:
        if chunk.law_id is None or chunk.effective_from is None:
            continue
        start = version_start(chunk)
        laws.setdefault(chunk.law_id, {}).setdefault(
            start,
            {
                "label": chunk.version,
                "title": chunk.title,
                "source": chunk.source,
                "effective_from": start,
                "effective_to": chunk.effective_to,
            },
        )
    return [
        {"law_id": law_id, "versions": [versions[k] for k in sorted(versions)]}
        for law_id, versions in sorted(laws.items())
    ]
