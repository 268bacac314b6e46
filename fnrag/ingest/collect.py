"""Which files a build ingests: the paths given to ``build-index``, expanded.

``collect_sources`` takes one path or several; folders are walked in sorted order.
It refuses what could run away (the file-system root, a folder tree the size of a
disk) and never follows a symbolic link to a folder, so ``sub/up -> ..`` cannot
make the walk loop or explode; everything left out is reported with its reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fnrag.errors import IngestError, InputError

# .json: law.go.kr Open API law texts (fnrag.ingest.law_json).
SUPPORTED_SUFFIXES = (".pdf", ".md", ".markdown", ".txt", ".json")
# A folder tree this large is a home directory or a disk, not a document collection.
MAX_WALK_ENTRIES = 200_000


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
            check_suffix(path, str(given))
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
    if entry.name.lower().endswith(".meta.yaml"):
        return "sidecar (read with the file it describes)"
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


def check_suffix(path: Path, shown: str) -> None:
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
