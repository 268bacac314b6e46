"""PDF pages for the citation panel: the source file found and checked, the page rendered
to PNG (cached under ``$FNRAG_HOME``), and the quote's place on it.

The index manifest records each source as it was given to ``build-index`` and its
sha256. A page is only ever rendered from a file whose bytes still have that sha256, so
the image shown is the page of the document that was indexed, not of a later edit.
Relative sources are looked up from the working directory, the index folder and its
parent, and the checkout. The quote is located through pdfium's text layer: its
characters (whitespace ignored) are matched to the page's characters, and their boxes
are merged per line into rectangles given as fractions of the page.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from fnrag.errors import missing_extra
from fnrag.paths import REPO_ROOT, fnrag_home

# Rendered width in pixels: sharp enough for 9-point Korean in a 30rem panel.
RENDER_WIDTH = 1000
# How much of a quote's start (non-space characters) is searched when the whole is not
# on one page (a quote across a page break, or text the two extractors read apart).
PROBE_CHARS = 24

_lock = threading.Lock()
_verified: dict[tuple[str, str], tuple[Path, int, float] | None] = {}


def _pdfium() -> Any:
    try:
        import pypdfium2
    except ImportError as error:
        raise missing_extra("pypdfium2", "serve") from error
    return pypdfium2


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _candidates(source: str, index_dir: Path) -> list[Path]:
    path = Path(source)
    if path.is_absolute():
        return [path]
    return [Path.cwd() / path, index_dir / path, index_dir.parent / path, REPO_ROOT / path]


def find_source(manifest: dict[str, Any], index_dir: Path, source: str) -> Path | None:
    """The PDF file ``source`` was indexed from, if it is still there unchanged."""
    if not source.lower().endswith(".pdf"):
        return None
    expected = next(
        (e.get("sha256") for e in manifest.get("sources", []) if e.get("source") == source), None
    )
    if not expected:
        return None
    key = (source, expected)
    with _lock:
        seen, known = key in _verified, _verified.get(key)
    if seen and known is None:
        return None  # looked for before and not found (a restart looks again)
    if known is not None:
        path, size, mtime = known
        try:
            stat = path.stat()
        except OSError:
            stat = None
        if stat is not None and (stat.st_size, stat.st_mtime) == (size, mtime):
            return path
    found: tuple[Path, int, float] | None = None
    for candidate in _candidates(source, index_dir):
        try:
            if candidate.is_file() and _sha256(candidate) == expected:
                stat = candidate.stat()
                found = (candidate.resolve(), stat.st_size, stat.st_mtime)
                break
        except OSError:
            continue
    with _lock:
        _verified[key] = found
    return found[0] if found else None


def page_count(path: Path) -> int:
    pdfium = _pdfium()
    document = pdfium.PdfDocument(str(path))
    try:
        return len(document)
    finally:
        document.close()


def render_page(path: Path, sha256: str, page: int) -> bytes:
    """PNG bytes of 1-based ``page``, rendered once and then read from the cache."""
    cache = fnrag_home() / "page-images" / sha256[:32] / f"{page}-{RENDER_WIDTH}.png"
    if cache.is_file():
        return cache.read_bytes()
    pdfium = _pdfium()
    document = pdfium.PdfDocument(str(path))
    try:
        if not 1 <= page <= len(document):
            raise IndexError(page)
        pdf_page = document[page - 1]
        width, _ = pdf_page.get_size()
        bitmap = pdf_page.render(scale=RENDER_WIDTH / width)
        try:
            image = bitmap.to_pil()
        except ImportError as error:
            raise missing_extra("pillow", "serve") from error
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        image.save(temporary, format="PNG", optimize=True)
        os.replace(temporary, cache)  # atomic: a reader never sees half a PNG
        return cache.read_bytes()
    finally:
        document.close()


def _locate(text: list[str], quote: str) -> tuple[int, int] | None:
    """(first, last) character indexes of ``quote`` in the page's characters."""
    kept = [i for i, ch in enumerate(text) if not ch.isspace()]
    squeezed = "".join(text[i] for i in kept)
    wanted = "".join(quote.split())
    if not wanted:
        return None
    for probe in (wanted, wanted[:PROBE_CHARS], wanted[-PROBE_CHARS:]):
        at = squeezed.find(probe)
        if at >= 0:
            if probe is wanted:
                return kept[at], kept[at + len(probe) - 1]
            # Extend a probe match as far as the quote keeps matching.
            start = wanted.find(probe)
            begin, end = at - start, at - start + len(wanted)
            begin, end = max(begin, 0), min(end, len(squeezed))
            return kept[begin], kept[end - 1]
    return None


def quote_marks(path: Path, pages: list[int], quote: str) -> tuple[int | None, list[list[float]]]:
    """The first of ``pages`` whose text layer holds ``quote``, with one rectangle per
    line the quote covers: ``[x0, y0, x1, y1]`` as fractions of the page, top-left origin.
    (None, []) when no page's text layer holds it."""
    pdfium = _pdfium()
    document = pdfium.PdfDocument(str(path))
    try:
        for page in pages:
            if not 1 <= page <= len(document):
                continue
            pdf_page = document[page - 1]
            width, height = pdf_page.get_size()
            textpage = pdf_page.get_textpage()
            count = textpage.count_chars()
            chars = list(textpage.get_text_range(0, count)) if count else []
            span = _locate(chars, quote) if len(chars) == count else None
            if span is None:
                continue
            lines: list[list[float]] = []
            for i in range(span[0], span[1] + 1):
                if chars[i].isspace():
                    continue
                left, bottom, right, top = textpage.get_charbox(i)
                box = [left / width, 1 - top / height, right / width, 1 - bottom / height]
                last = lines[-1] if lines else None
                if last is not None and abs(last[1] - box[1]) < 0.006 and box[0] >= last[0] - 0.01:
                    last[1], last[2], last[3] = (
                        min(last[1], box[1]),
                        max(last[2], box[2]),
                        max(last[3], box[3]),
                    )
                else:
                    lines.append(box)
            pad = 0.002
            return page, [
                [
                    round(max(0.0, a - pad), 4),
                    round(max(0.0, b - pad), 4),
                    round(min(1.0, c + pad), 4),
                    round(min(1.0, d + pad), 4),
                ]
                for a, b, c, d in lines
            ]
        return None, []
    finally:
        document.close()
