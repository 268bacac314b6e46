"""Turn source files (PDF, Markdown, plain text) into :class:`Document` objects.

``collect_sources`` expands the paths given to ``build-index``; ``load_document``
reads one file. Every failure is an :class:`IngestError` that names the file and
says what to do, so a build never drops a file silently.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fnrag.errors import IngestError, InputError
from fnrag.types import Document

SUPPORTED_SUFFIXES = (".pdf", ".md", ".markdown", ".txt")
MAX_TEXT_BYTES = 50 * 1024 * 1024  # a text "document" larger than this is a mistake
# A folder tree this large is a home directory or a disk, not a document collection.
MAX_WALK_ENTRIES = 200_000

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_MD_BOLD = re.compile(r"\*\*(.+?)\*\*")
_MD_ARTICLE = re.compile(r"^#{1,6}\s*제\d+조(?:의\d+)?(?:\s|\(|$)", re.M)
_TEXT_ARTICLE = re.compile(r"^\s*제\d+조(?:의\d+)?\s*\(", re.M)
_MD_H1 = re.compile(r"^#\s+(.+?)\s*$", re.M)
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Not ASCII, not a Hangul syllable, not general punctuation / CJK symbols.
_UNCOMMON = re.compile(r"[^\x00-\x7e\uac00-\ud7a3\u2000-\u30ff]")


@dataclass(frozen=True)
class SkippedFile:
    """A file inside a given directory that the build does not ingest.

    Attributes:
        source: display path (``given_dir/relative_path``).
        reason: why it was skipped, in words for the build summary.
    """

    source: str
    reason: str


class SourceList(list[tuple[Path, str]]):
    """``collect_sources``' result: (file, display source) pairs, plus ``.skipped``.

    It *is* the list of pairs, so callers that only need the files iterate it;
    the build summary reads :attr:`skipped` to list what was left out and why.
    """

    def __init__(self, files: Sequence[tuple[Path, str]] = (), skipped: Sequence[SkippedFile] = ()):
        super().__init__(files)
        self.skipped: tuple[SkippedFile, ...] = tuple(skipped)

    @property
    def files(self) -> tuple[tuple[Path, str], ...]:
        return tuple(self)


def collect_sources(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> SourceList:
    """Expand files and directories (recursively, in sorted order) into sources.

    ``paths`` is one path or a sequence of them. A file given explicitly must have a
    supported type. Inside a directory, unsupported files, hidden entries,
    ``README.md`` files (which describe the folder) and symbolic links to folders
    (which may loop back to a parent) are skipped and reported in ``.skipped``.

    Raises:
        InputError: an item is not a path (bytes, a number, an empty string), or it
            is the file-system root.
        IngestError: a path does not exist, an explicit file has an unsupported
            type, a folder is too large to be a document collection, or nothing at
            all was found.
    """
    given_paths = source_paths(paths)
    files: list[tuple[Path, str]] = []
    skipped: list[SkippedFile] = []
    seen: set[Path] = set()
    for given in given_paths:
        path = Path(given)
        if not path.exists():
            raise IngestError(f"{given}: no such file or directory; check the path")
        if path.is_dir():
            _walk(path, str(given).rstrip("/\\") or str(given), files, skipped, seen)
        else:
            _check_suffix(path, str(given))
            if path.resolve() not in seen:
                seen.add(path.resolve())
                files.append((path, str(given)))
    if not files:
        names = ", ".join(str(p) for p in given_paths) or "(nothing)"
        raise IngestError(
            f"no PDF, Markdown or text files found in {names}; "
            f"give files ending in {', '.join(SUPPORTED_SUFFIXES)}"
        )
    return SourceList(files, skipped)


def source_paths(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[str | os.PathLike[str]]:
    """Check the ``sources`` argument: one path or an iterable of paths, each a real path.

    A single ``str`` is one source, not a sequence of one-character paths (``"/"``
    among them, which would walk the whole file system).

    Raises:
        InputError: an item is bytes, not a path, empty, or the file-system root.
    """
    items: list[object] = (
        [paths] if isinstance(paths, str | os.PathLike | bytes) else list(_iterate(paths))
    )
    checked: list[str | os.PathLike[str]] = []
    for item in items:
        if isinstance(item, bytes):
            raise InputError(
                f"source {item[:60]!r} is bytes, not a path; decode it first "
                "(os.fsdecode(path)) or pass a str or pathlib.Path"
            )
        if not isinstance(item, str | os.PathLike) or isinstance(os.fspath(item), bytes):
            raise InputError(
                f"source {item!r} ({type(item).__name__}) is not a path; "
                "pass file or folder paths as str or pathlib.Path"
            )
        text = os.fspath(item)
        if not text.strip():
            raise InputError("a source path is empty; give a file or folder path")
        resolved = Path(text).resolve()
        if resolved == Path(resolved.anchor):
            raise InputError(
                f"source {text!r} is the file-system root; give the folder that holds "
                "the documents, not /"
            )
        checked.append(item)
    return checked


def _iterate(paths: object) -> Iterable[object]:
    try:
        return iter(paths)  # type: ignore[call-overload]
    except TypeError:
        raise InputError(
            f"sources must be a path or a list of paths, not {type(paths).__name__}; "
            "pass e.g. ['docs/법률.md', 'docs/manual.pdf']"
        ) from None


def _walk(
    root: Path,
    shown: str,
    files: list[tuple[Path, str]],
    skipped: list[SkippedFile],
    seen: set[Path],
) -> None:
    # Symbolic links to folders are not followed (sub/up -> .. would make the walk
    # exponential); real folders are remembered by (device, inode) so a bind mount
    # or a loop of hard-linked folders cannot repeat either.
    visited: set[tuple[int, int]] = set()
    stack = [root]
    entries_seen = 0
    while stack:
        folder = stack.pop()
        try:
            stat = folder.stat()
            if (stat.st_dev, stat.st_ino) in visited:
                continue
            visited.add((stat.st_dev, stat.st_ino))
            entries = sorted(folder.iterdir(), key=lambda p: p.name)
        except OSError as exc:
            skipped.append(
                SkippedFile(_display(shown, root, folder), f"cannot be read ({_why(exc)})")
            )
            continue
        entries_seen += len(entries)
        if entries_seen > MAX_WALK_ENTRIES:
            raise IngestError(
                f"{shown}: holds more than {MAX_WALK_ENTRIES:,} files and folders, too many "
                "for a document collection; give the folder that holds the documents"
            )
        subdirs: list[Path] = []
        for entry in entries:
            display = _display(shown, root, entry)
            reason = _skip_reason(entry)
            if reason is not None:
                skipped.append(SkippedFile(display, reason))
            elif entry.is_dir():
                subdirs.append(entry)
            elif entry.resolve() not in seen:
                seen.add(entry.resolve())
                files.append((entry, display))
        # Depth-first in name order, so the listing reads like a sorted tree.
        stack.extend(reversed(subdirs))


def _skip_reason(entry: Path) -> str | None:
    """Why a directory entry is not ingested, or None when it is (a folder or a source)."""
    try:
        is_link = entry.is_symlink()
        is_dir = entry.is_dir()
    except OSError as exc:
        return f"cannot be read ({_why(exc)})"
    if entry.name.startswith("."):
        return f"hidden {'directory' if is_dir else 'file'}"
    if is_link and is_dir:
        return "symbolic link to a folder (not followed; give its target as a source instead)"
    if is_link and not entry.exists():
        return "broken symbolic link"
    if is_dir:
        return None
    if entry.name.lower() == "readme.md":
        return "README (describes the folder, not indexed)"
    if entry.suffix.lower() not in SUPPORTED_SUFFIXES:
        return f"unsupported type '{entry.suffix or entry.name}'"
    return None


def _display(shown: str, root: Path, entry: Path) -> str:
    rel = entry.relative_to(root).as_posix()
    return shown if rel == "." else f"{shown}/{rel}"


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _check_suffix(path: Path, shown: str) -> None:
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        hint = (
            " (save HWP/DOCX files as PDF first)"
            if path.suffix.lower() in {".hwp", ".hwpx", ".docx", ".doc"}
            else ""
        )
        raise IngestError(
            f"{shown}: unsupported file type '{path.suffix or path.name}'; "
            f"give a PDF, Markdown or text file{hint}"
        )


def load_document(path: Path, source: str) -> Document:
    """Read one source file into a :class:`Document`.

    Raises:
        IngestError: unreadable, unsupported, encrypted, scanned, damaged or empty.
    """
    path = Path(path)
    _check_suffix(path, source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(
            f"{source}: cannot be read ({exc.strerror or exc}); check the file's permissions"
        ) from exc
    if not data or data.isspace():
        raise IngestError(f"{source}: the file is empty; add text or leave it out of the sources")
    digest = hashlib.sha256(data).hexdigest()
    if path.suffix.lower() == ".pdf":
        doc = _load_pdf(path, source, data, digest)
    else:
        if len(data) > MAX_TEXT_BYTES:
            raise IngestError(
                f"{source}: {len(data) // 2**20} MiB is too large for one text document; split it"
            )
        text = _decode(data, source)
        if path.suffix.lower() in (".md", ".markdown"):
            doc = _load_markdown(path, source, text, digest)
        else:
            body = _tidy(text)
            kind = "statute" if len(_TEXT_ARTICLE.findall(body)) >= 2 else "text"
            doc = Document(
                source=source, title=_stem_title(path), kind=kind, text=body, sha256=digest
            )
    if not doc.text.strip():
        raise IngestError(
            f"{source}: no text in the document; add text or leave it out of the sources"
        )
    return doc


def _decode(data: bytes, source: str) -> str:
    """Decode UTF-8 (with or without BOM), else CP949 (old Korean Windows files)."""
    candidates = ("utf-8-sig",) if data.startswith(b"\xef\xbb\xbf") else ("utf-8", "cp949")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # macOS writes decomposed Hangul (NFD); queries arrive composed.
        text = unicodedata.normalize("NFC", text)
        if _plausible(text):
            return text
    raise IngestError(
        f"{source}: not readable text (tried UTF-8 and CP949; binary data?); "
        "save it as UTF-8 text or give the original PDF"
    )


def _plausible(text: str) -> bool:
    # CP949 decodes many random byte strings; real text is mostly Hangul, ASCII
    # and punctuation, with no NULs or stray control characters. Counted with
    # regexes: a list of a 50 MB file's characters would be one str object each
    # (over 1 GB for Hangul).
    if "\x00" in text:
        return False
    visible = _SPACE.sub("", text)
    if not visible:
        return True
    if _CONTROL.search(visible):
        return False
    uncommon = len(visible) - len(_UNCOMMON.sub("", visible))
    return uncommon <= 0.2 * len(visible)


def _tidy(text: str) -> str:
    """Normalise newlines and trailing spaces; collapse runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _load_markdown(path: Path, source: str, text: str, digest: str) -> Document:
    metadata: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        metadata = _front_matter(match.group(1), source)
        text = text[match.end() :]
    # law.go.kr Markdown escapes list markers (1\. 가\.) and bolds ①; the text we
    # index and quote should read like the law.
    body = _MD_BOLD.sub(r"\1", _MD_ESCAPE.sub(r"\1", _tidy(text)))
    title = metadata.get("제목") or metadata.get("title") or ""
    if not title and (h1 := _MD_H1.search(body)):
        title = h1.group(1).strip()
    kind = "statute" if len(_MD_ARTICLE.findall(body)) >= 2 else "guide"
    return Document(
        source=source,
        title=title or _stem_title(path),
        kind=kind,
        text=body,
        metadata=metadata,
        sha256=digest,
    )


def _front_matter(raw: str, source: str) -> dict[str, str]:
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        # Aliases let a few hundred bytes expand to billions of nodes ("billion
        # laughs"); front matter never needs them.
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise IngestError(
                    f"{source}: the YAML front matter uses aliases (*name), which fnrag does "
                    "not accept; write the values out"
                )
            return super().compose_node(parent, index)

    try:
        data = yaml.load(raw, Loader=NoAliasLoader)
    except yaml.YAMLError as exc:
        raise IngestError(
            f"{source}: the YAML front matter is invalid ({_yaml_problem(exc)}); "
            "fix the block between the --- lines"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise IngestError(
            f"{source}: the YAML front matter is not a mapping; write it as 'key: value' lines"
        )
    out: dict[str, str] = {}
    for key, value in data.items():
        text = _scalar(value)
        if text:
            out[str(key)] = text
    return out


def _yaml_problem(exc: Exception) -> str:
    """PyYAML's cause and line in one line (its str() spans several, quoting the text)."""
    problem = " ".join(str(getattr(exc, "problem", None) or "syntax error").split())
    mark = getattr(exc, "problem_mark", None)
    # The front matter starts on the file's line 2, after the opening ---.
    return f"{problem[:120]} at line {mark.line + 2}" if mark is not None else problem[:120]


def _scalar(value: Any) -> str:
    """Front-matter values as strings; lists joined, mappings reduced to their 제목."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(t for t in (_scalar(v) for v in value) if t)
    if isinstance(value, dict):
        return _scalar(value.get("제목") or value.get("title"))
    return str(value).strip()


def _load_pdf(path: Path, source: str, data: bytes, digest: str) -> Document:
    from fnrag.ingest.pdf import extract_pdf

    extracted = extract_pdf(Path(source) if source else path, data)
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for page in extracted.pages:
        starts.append(offset)
        parts.append(page.text)
        offset += len(page.text) + 1  # pages are joined by one newline
    text = "\n".join(parts)
    kind = "statute" if len(_TEXT_ARTICLE.findall(text)) >= 3 else "guide"
    title = extracted.title or _stem_title(path)
    return Document(
        source=source,
        title=title,
        kind=kind,
        text=text,
        pages=extracted.pages,
        page_starts=tuple(starts),
        metadata=dict(extracted.metadata),
        sha256=digest,
    )


def _stem_title(path: Path) -> str:
    return path.stem.replace("_", " ").strip() or path.name
