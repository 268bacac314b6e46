"""PDF text extraction with pypdf: printed page numbers, running headers dropped.

Two layouts matter in practice:

* the FSS inspection manual prints several numbered pages per PDF sheet; the
  number stands alone on a line at the top of each printed page, so a sheet is
  split at those lines into one :class:`Page` per printed page (``index`` stays
  the PDF sheet);
* law.go.kr exports repeat ``법제처  12  국가법령정보센터`` and the law's name on
  every page; such lines are found generically (the same line, digits
  normalised, near the top or bottom of at least half the pages) and dropped,
  and a number inside them becomes the printed page number.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fnrag.errors import IngestError
from fnrag.types import Page

# Cheap guards against pathological files (a 50,000-page scan, a content stream
# that makes pypdf crawl): fail with a message instead of hanging a build.
MAX_PAGES = 3000
MAX_SECONDS = 300.0

_NUMBER_LINE = re.compile(r"^\s*[-–—(]?\s*(\d{1,4})\s*[-–—)]?\s*$")
_DIGITS = re.compile(r"\d+")
_LEADER = re.compile(r"[․.·…‥]{5,}")
_EDGE_LINES = 3  # how many lines at the top and bottom may be running headers
_HANGUL = "\uac00-\ud7a3"
# Line ends that close an item or a sentence: the next line starts anew.
_SENTENCE_ENDS = ("다", "는지", "은지", "인지", "한지", "할지", "함", "됨", "임", "음")
_SPACED = re.compile(f"(?:[{_HANGUL}] ){{3,}}")  # letter-spaced table headers: 점 검 사 항
_ENFORCE_DATE = re.compile(r"\[시행\s*(\d{4})\.\s*(\d{1,2})\.\s*(\d{1,2})\.?\s*\]")
_PROMULGATION = re.compile(r"\[[^\]]*?제\s*\d+호,\s*(\d{4})\.\s*(\d{1,2})\.\s*(\d{1,2})\.")


@dataclass(frozen=True)
class PdfText:
    """What :func:`extract_pdf` found in a PDF.

    Attributes:
        pages: one entry per printed page (or per sheet when none is printed).
        metadata: PDF info and dates found in the text, as strings.
        title: a title candidate (PDF /Title, or the law name repeated as a
            running header), empty when none was found.
    """

    pages: tuple[Page, ...]
    metadata: dict[str, str] = field(default_factory=dict)
    title: str = ""


def extract_pdf(
    path: Path, data: bytes, *, max_pages: int = MAX_PAGES, max_seconds: float = MAX_SECONDS
) -> PdfText:
    """Extract the text of a PDF page by page.

    Raises:
        IngestError: encrypted, damaged/truncated, too large, or no text layer.
    """
    import pypdf
    from pypdf.errors import PyPdfError

    # pypdf logs every repair it attempts on a broken file; the outcome reaches the
    # user as one IngestError instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    if not data.lstrip()[:1024].startswith(b"%PDF-") and b"%PDF-" not in data[:1024]:
        raise IngestError(
            f"{path}: not a PDF file (it does not start with a PDF header); "
            "check the file or rename it"
        )
    # pypdf recovers silently from many truncations; a missing end marker is the
    # cheap, reliable sign that the download or copy was cut short.
    if b"%%EOF" not in data[-2048:]:
        raise IngestError(
            f"{path}: the PDF is truncated or damaged (its end-of-file marker is missing); "
            "download or export it again"
        )
    try:
        import io

        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt(reader, path)
        sheets = list(reader.pages)
        info = reader.metadata
    except IngestError:
        raise
    except NotImplementedError as exc:
        raise IngestError(
            f"{path}: the PDF uses a feature pypdf cannot read (such as a non-standard "
            "encryption); re-export it without encryption (e.g. print it to a new PDF)"
        ) from exc
    # PyPdfError covers pypdf's own guards (LimitReachedError: self-referencing
    # page trees, oversized declared streams) found by fuzzing.
    except (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        OSError,
        RecursionError,
    ) as exc:
        raise IngestError(
            f"{path}: the PDF is damaged and cannot be read ({_cause(exc)}); "
            "download or export it again"
        ) from exc
    if len(sheets) > max_pages:
        raise IngestError(
            f"{path}: {len(sheets)} pages exceeds the limit of {max_pages}; "
            "split the PDF into smaller files"
        )
    started = time.monotonic()
    raw: list[str] = []
    for number, sheet in enumerate(sheets, start=1):
        try:
            raw.append(sheet.extract_text() or "")
        except Exception as exc:  # pypdf raises many internal types on broken streams
            raise IngestError(
                f"{path}: page {number} is damaged and cannot be read ({_cause(exc)}); "
                "export the PDF again"
            ) from exc
        if time.monotonic() - started > max_seconds:
            raise IngestError(
                f"{path}: text extraction took longer than {max_seconds:.0f} s "
                f"(stopped at page {number}); split the PDF or convert it to text"
            )
    if not raw:
        raise IngestError(f"{path}: the PDF has no pages; export it again or leave it out")
    textless = tuple(i for i, text in enumerate(raw, start=1) if not text.strip())
    if len(textless) == len(raw):
        raise IngestError(
            f"{path}: no text layer on any page (pages {_ranges(textless)}); it is a scan: "
            "run OCR first (e.g. ocrmypdf -l kor in.pdf out.pdf) and index the OCR'd file"
        )
    pages, header_title = _layout(raw)
    metadata = _metadata(info, pages)
    if textless:
        metadata["textless_pages"] = _ranges(textless)
    title = metadata.get("pdf_title", "") or header_title
    return PdfText(tuple(pages), metadata, title)


def _decrypt(reader: object, path: Path) -> None:
    # Many "encrypted" PDFs only carry an owner password and open with an empty
    # user password; anything else needs the user to remove the protection.
    try:
        ok = reader.decrypt("")  # type: ignore[attr-defined]
    except Exception as exc:
        raise IngestError(
            f"{path}: the PDF is encrypted and cannot be opened ({_cause(exc)}); "
            "save an unprotected copy (e.g. qpdf --decrypt in.pdf out.pdf) and index that"
        ) from exc
    if not ok:
        raise IngestError(
            f"{path}: the PDF is password-protected; save an unprotected copy "
            "(e.g. qpdf --password=PW --decrypt in.pdf out.pdf) and index that"
        )


def _cause(exc: BaseException) -> str:
    """The cause of a pypdf failure in words, never pypdf's message.

    pypdf's messages quote the file's raw bytes (``Invalid Elementary Object starting
    with b'...' @584: b'...%%EOF'``), which tell a bank practitioner nothing; the
    exception's class says enough to pick the fix.
    """
    from pypdf.errors import DependencyError, LimitReachedError

    if isinstance(exc, DependencyError):
        # Raised by pypdf itself (e.g. AES needs the cryptography package): no file bytes.
        return " ".join(str(exc).split())[:160] or "a package pypdf needs is missing"
    if isinstance(exc, LimitReachedError):
        return "it exceeds pypdf's safety limits: oversized or self-referencing objects"
    if "cyclic" in str(exc).lower():
        return "its page tree refers to itself"
    if isinstance(exc, RecursionError):
        return "its objects are nested too deeply"
    if isinstance(exc, MemoryError):
        return "it needs more memory than is available"
    if isinstance(exc, OSError):
        return "a compressed stream cannot be decoded"
    return f"its internal structure is broken; pypdf raised {type(exc).__name__}"


def _ranges(numbers: tuple[int, ...]) -> str:
    """``(1, 2, 3, 7)`` → ``"1-3, 7"``."""
    parts: list[str] = []
    run: list[int] = []
    for n in numbers:
        if run and n != run[-1] + 1:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(n)
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(parts)


# --- printed page numbers -------------------------------------------------------


def _chain(candidates: list[tuple[int, int]], after: int) -> list[tuple[int, int]]:
    """Longest run n, n+1, … among (line, number) candidates in reading order."""
    best: list[tuple[int, int]] = []
    for i, (line, value) in enumerate(candidates):
        if value <= after:
            continue
        run = [(line, value)]
        for later_line, later_value in candidates[i + 1 :]:
            if later_value == run[-1][1] + 1:
                run.append((later_line, later_value))
        gap = value - after
        best_gap = best[0][1] - after if best else 0
        if len(run) > len(best) or (len(run) == len(best) and gap < best_gap):
            best = run
    return best


def _printed_numbers(sheets: list[list[str]]) -> list[list[tuple[int, int]]]:
    """Per sheet, the (line index, printed number) of standalone page-number lines."""
    found: list[list[tuple[int, int]]] = []
    last = 0
    for lines in sheets:
        candidates = [
            (i, int(m.group(1))) for i, line in enumerate(lines) if (m := _NUMBER_LINE.match(line))
        ]
        run = _chain(candidates, last)
        # A jump far beyond the previous page is a number in the text, not a folio.
        if run and last and run[0][1] - last > 40:
            run = []
        if run:
            last = run[-1][1]
        found.append(run)
    numbered = sum(1 for run in found if run)
    if len(sheets) < 2 or numbered < max(2, len(sheets) // 2):
        return [[] for _ in sheets]
    return found


def _split_sheet(
    lines: list[str], numbers: list[tuple[int, int]], top: bool
) -> list[tuple[tuple[int, ...], list[str]]]:
    """Cut a sheet at its number lines into (printed, lines) parts."""
    if not numbers:
        return [((), lines)]
    cuts = [line for line, _ in numbers]
    values = [value for _, value in numbers]
    parts: list[tuple[tuple[int, ...], list[str]]] = []
    # Header style: the number heads its page (text above the first number
    # continues it); footer style: the number closes its page.
    bounds = [0, *cuts[1:], len(lines)] if top else [0, *[c + 1 for c in cuts[:-1]], len(lines)]
    for k, value in enumerate(values):
        chunk = [
            line
            for i, line in enumerate(lines[bounds[k] : bounds[k + 1]], bounds[k])
            if i not in cuts
        ]
        parts.append(((value,), chunk))
    return parts


# --- running headers and footers -------------------------------------------------


def _norm(line: str) -> str:
    return " ".join(_DIGITS.sub("#", line).split())


def _edges(lines: list[str]) -> list[int]:
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(filled[:_EDGE_LINES] + filled[-_EDGE_LINES:]))


def _running_lines(parts: list[list[str]]) -> set[str]:
    counts: Counter[str] = Counter()
    for lines in parts:
        counts.update({_norm(lines[i]) for i in _edges(lines)})
    need = max(3, (len(parts) + 1) // 2)
    return {key for key, n in counts.items() if n >= need and key}


def _layout(raw: list[str]) -> tuple[list[Page], str]:
    sheets = [text.split("\n") for text in raw]
    numbers = _printed_numbers(sheets)
    starts_with_number = sum(
        1
        for lines, run in zip(sheets, numbers, strict=False)
        if run and run[0][0] == _first_filled(lines)
    )
    top = starts_with_number * 2 >= sum(1 for run in numbers if run)
    parts: list[tuple[int, tuple[int, ...], list[str]]] = []
    for index, (lines, run) in enumerate(zip(sheets, numbers, strict=False), start=1):
        for printed, part in _split_sheet(lines, run, top):
            parts.append((index, printed, part))
    running = _running_lines([p[2] for p in parts]) if len(parts) >= 3 else set()
    header_title = ""
    for key in running:
        if "#" not in key and re.search(f"[{_HANGUL}]", key) and len(key) > len(header_title):
            header_title = key
    use_header_numbers = not any(numbers)
    pages: list[Page] = []
    last = 0
    for index, printed, lines in parts:
        kept: list[str] = []
        edges = set(_edges(lines))
        for i, line in enumerate(lines):
            key = _norm(line)
            if i in edges and key in running:
                digits = _DIGITS.findall(line)
                if (
                    use_header_numbers
                    and len(digits) == 1
                    and int(digits[0]) > last
                    and not printed
                ):
                    printed = (int(digits[0]),)
                    last = printed[0]
                continue
            # Tables of contents fill pages with leader dots: keep one ellipsis.
            line = _LEADER.sub(" … ", line)
            if line.strip(" …"):
                kept.append(line)
        pages.append(Page(index=index, printed=printed, text=_unwrap(kept).strip("\n")))
    return pages, header_title


def _first_filled(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines) if line.strip()), -1)


def _unwrap(lines: list[str]) -> str:
    """Join lines that the page width broke in the middle of a Korean word.

    A long line (>= 60% of the page's longest) that ends in a Hangul syllable,
    followed by a line starting with one, was wrapped by the layout: ``징\\n구하는지``
    becomes ``징구하는지``, which both the lexical index and readers need.
    Short lines are headings or list items and keep their break.
    """
    if not lines:
        return ""
    widest = max(len(line.strip()) for line in lines) or 1
    out = [lines[0]]
    for line in lines[1:]:
        prev = out[-1]
        wrapped = (
            len(prev.strip()) >= 0.6 * widest
            and re.search(f"[{_HANGUL}]\\s?$", prev) is not None
            and re.match(f"[{_HANGUL}]", line) is not None
            and not prev.rstrip().endswith(_SENTENCE_ENDS)
            and _SPACED.search(prev) is None
        )
        if wrapped:
            # A trailing space means the break fell between words: keep one space.
            out[-1] = prev.rstrip() + (" " if prev[-1:].isspace() else "") + line
        else:
            out.append(line)
    return "\n".join(line.rstrip() for line in out)


def _metadata(info: object, pages: list[Page]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    title = str(getattr(info, "title", "") or "").strip() if info is not None else ""
    if title and not title.lower().startswith(("untitled", "microsoft")):
        metadata["pdf_title"] = title
    head = "\n".join(page.text for page in pages[:2])
    if m := _ENFORCE_DATE.search(head):
        metadata["시행일자"] = f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    if m := _PROMULGATION.search(head):
        metadata["공포일자"] = f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    return metadata
