"""Turn source files (PDF, Markdown, plain text) into :class:`Document` objects.

``collect_sources`` (from :mod:`fnrag.ingest.collect`, re-exported here) expands the
paths given to ``build-index``; ``load_document`` reads one file. Every failure is an :class:`IngestError` that names the file and
says what to do, so a build never drops a file silently.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

from fnrag.errors import IngestError
from fnrag.ingest.collect import (  # noqa: F401 - collect_sources & co. are public here too
    MAX_WALK_ENTRIES,
    SUPPORTED_SUFFIXES,
    SkippedFile,
    SourceList,
    check_suffix,
    collect_sources,
    source_paths,
)
from fnrag.types import Document

MAX_TEXT_BYTES = 50 * 1024 * 1024  # a text "document" larger than this is a mistake

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


def load_document(path: Path, source: str) -> Document:
    """Read one source file into a :class:`Document`.

    Raises:
        IngestError: unreadable, unsupported, encrypted, scanned, damaged or empty.
    """
    path = Path(path)
    check_suffix(path, source)
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
    elif path.suffix.lower() == ".json":
        from fnrag.ingest.law_json import load_law_json

        doc = load_law_json(data, source, digest)
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
    extra = read_sidecar(path, source)
    if extra:
        # The operator's sidecar wins over the file's own front matter / PDF metadata:
        # it is how a file without (or with wrong) dates gets its 시행일자.
        doc = replace(doc, metadata={**doc.metadata, **extra})
    return doc


def sidecar_path(path: Path) -> Path:
    """``FILE.meta.yaml`` beside ``FILE``: 시행일자, 법령ID, 공포번호 … for a file that
    cannot carry front matter (a PDF, a plain-text law)."""
    return path.with_name(path.name + ".meta.yaml")


def read_sidecar(path: Path, source: str) -> dict[str, str]:
    """The sidecar's keys as strings ({} when there is none)."""
    side = sidecar_path(Path(path))
    if not side.is_file():
        return {}
    try:
        raw = side.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(
            f"{source}: its sidecar {side.name} cannot be read ({exc}); save it as UTF-8 YAML"
        ) from exc
    return _front_matter(raw, f"{source} (sidecar {side.name})")


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
