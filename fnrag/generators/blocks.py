"""One answer line of the composer: a provision unit quoted under its full reference.

A 호 or 목 never stands alone: its lead-in comes first, shortened; a "다음 각 호" lead-in
is completed by the 호 that hold the question's terms. A guide passage gives its one
sentence under its document and page. Quotes are exact spans of the passage text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fnrag.generators.quoting import quoted, shorten
from fnrag.generators.sentences import squeeze
from fnrag.generators.units import (
    Unit,
    ancestors,
    child_on_path,
    item_mark,
    page_reference,
    passage_units,
    reference,
)
from fnrag.types import Hit


@dataclass(frozen=True)
class Block:
    """One answer line: a reference, its quoted pieces, the passage it cites."""

    n: int
    reference: str
    parts: tuple[str, ...]  # quoted pieces and bare connectors ("…", "제1호")
    chars: int
    own: tuple[str, ...] = ()  # the parts that quote the deciding unit (and its 호)


def quote_block(
    hit: Hit,
    n: int,
    index: int,
    terms: set[str],
    shown: set[tuple[int, int]],
    *,
    limit: int,
    lead_in_chars: int,
    max_items: int,
) -> Block:
    """Unit ``index`` of passage ``n`` (``hit``) as an answer line; every unit quoted is
    added to ``shown`` as ``(n, unit index)``. ``limit``: characters of the unit's own
    quote before it is shortened; ``lead_in_chars``: the same for a lead-in shown only to
    introduce its 호; ``max_items``: 호 (목) completing a lead-in."""
    pu = passage_units(hit.text, hit.section, hit.source)
    units = pu.units
    unit = units[index]
    shown.add((n, index))
    if not pu.statute:
        whole = (quoted(unit.text, hit.text),)
        ref = page_reference(hit.title, hit.page)
        return Block(n, ref, whole, len(unit.text), whole)
    parts: list[str] = []
    for ancestor in ancestors(units, index):
        # A 호 or 목 never stands alone: its lead-in comes first, shortened.
        at = units.index(ancestor)
        shown.add((n, at))
        parts.extend(shorten(ancestor.pieces, lead_in_chars, terms, hit.text))
        parts.append(item_mark(unit=ancestor, child=child_on_path(units, at, index)))
    start = len(parts)
    parts.extend(shorten(unit.pieces, limit, terms, hit.text))
    if unit.lead_in:
        _complete(units, index, terms, limit // 2 or 60, hit, parts, shown, n, max_items)
    ref = reference(units, index, hit.title, hit.section)
    chars = sum(len(p) for p in parts)
    return Block(n, ref, tuple(parts), chars, tuple(parts[start:]))


def _complete(
    units: Sequence[Unit],
    index: int,
    terms: set[str],
    limit: int,
    hit: Hit,
    parts: list[str],
    shown: set[tuple[int, int]],
    n: int,
    max_items: int,
) -> None:
    """Complete a "다음 각 호" lead-in with the (at most ``max_items``) 호 that hold most
    question terms, in their order; a 호 that is itself a lead-in gets its 목 the
    same way. Left-out 호 are marked "…"."""
    strong = {t for t in terms if len(t) > 1}

    def hits(i: int) -> int:
        text = squeeze(units[i].text) + "".join(squeeze(units[c].text) for c in units[i].children)
        return sum(t in text for t in strong)

    children = [c for c in units[index].children if units[c].text]
    ranked = sorted((c for c in children if hits(c)), key=lambda c: (-hits(c), c))
    matching = sorted(ranked[:max_items])
    for c in matching:
        shown.add((n, c))
        parts.append(item_mark(units[c]))
        parts.extend(shorten(units[c].pieces, limit, terms, hit.text))
        if units[c].lead_in:
            _complete(units, c, terms, limit, hit, parts, shown, n, max_items)
    if len(matching) < len(units[index].children):
        parts.append("…")


def lead_in_shown(hit: Hit, n: int, index: int, shown: set[tuple[int, int]]) -> bool:
    """True when a lead-in above unit ``index`` of passage ``n`` is already in the answer
    (its 호 would repeat the lead-in; the matching 호 were chosen with it)."""
    units = passage_units(hit.text, hit.section, hit.source).units
    at = units[index].parent
    while at is not None:
        if (n, at) in shown:
            return True
        at = units[at].parent
    return False


def line_body(block: Block) -> str:
    """The answer line without its marker: the reference and the quoted pieces."""
    return f"{block.reference}: {' '.join(block.parts)}"


def same_block(a: Block, b: Block) -> bool:
    return a.n == b.n and a.parts == b.parts
