"""The on-disk index format: versioned manifest, checksummed files, atomic commits.

An index directory holds data files whose names carry a build id
(``chunks-<id>.jsonl``, ``dense-<id>.faiss``, ``bm25-<id>.npz``, …) and one
``manifest.json`` that names them with their sha256. A build writes its new files
beside the old ones, then replaces ``manifest.json`` with ``os.replace``: that
rename is the commit. A build that dies before it leaves the old manifest pointing
at the old files, untouched. Only files of builds this folder recorded are ever
deleted: the previous manifest's build, and builds journaled in ``.build.journal``
before their first file was written (so a dead build's files are swept next time);
a user's ``chunks-mydata.jsonl`` is never touched, and a folder holding unrelated
files is refused as an index location.
With a key, ``signing`` adds ``signature-<build_id>.json``, written just before the
manifest and checked before the manifest is trusted.
Loading verifies every checksum before any file is parsed, and nothing is ever
unpickled.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fnrag import files
from fnrag.errors import IndexFormatError, IndexNotFoundError, InputError
from fnrag.files import sha256_file, write_file_atomic
from fnrag.index import signing
from fnrag.index.lock import LOCK, build_lock  # noqa: F401 - store.build_lock is public
from fnrag.types import Chunk

if TYPE_CHECKING:
    import numpy as np

    from fnrag.index.bm25 import BM25Index

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def new_build_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def read_manifest(index_dir: Path, verify_key: bytes | None = None) -> dict[str, Any]:
    """The parsed manifest; with ``verify_key``, only once its signature holds."""
    manifest_path = index_dir / MANIFEST
    if not index_dir.is_dir() or not manifest_path.is_file():
        raise IndexNotFoundError(
            f"no fnrag index at {index_dir}: build one with `fnrag build-index SOURCE... --out {index_dir}`"
        )
    # One read: the bytes verified are the bytes parsed, even if a build commits meanwhile.
    data = manifest_path.read_bytes()
    if verify_key is not None:
        signing.verify_manifest(index_dir, data, verify_key)
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IndexFormatError(
            f"{manifest_path} is not valid JSON ({error}); the index is damaged: rebuild it with `fnrag build-index`"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != "fnrag-index":
        raise IndexFormatError(f"{manifest_path} is not an fnrag index manifest; rebuild the index")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise IndexFormatError(f"{manifest_path} has no format version; rebuild the index")
    if version > FORMAT_VERSION:
        raise IndexFormatError(
            f"the index at {index_dir} uses format version {version}, newer than this fnrag "
            f"understands ({FORMAT_VERSION}); upgrade fnrag or rebuild the index with this version"
        )
    if version < FORMAT_VERSION:
        raise IndexFormatError(
            f"the index at {index_dir} uses old format version {version}; rebuild it with `fnrag build-index`"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise IndexFormatError(f"{manifest_path} lists no data files; rebuild the index")
    return manifest


def verify_files(index_dir: Path, manifest: dict[str, Any]) -> dict[str, Path]:
    """Check every data file's presence, size and sha256; return role → path."""
    paths: dict[str, Path] = {}
    for role, entry in manifest["files"].items():
        name = entry.get("name", "")
        # Names are plain file names written by us; anything else is tampering.
        if (
            not isinstance(name, str)
            or not name
            or "/" in name
            or "\\" in name
            or name.startswith(".")
        ):
            raise IndexFormatError(
                f"the manifest of {index_dir} names an invalid file {name!r}; rebuild the index"
            )
        path = index_dir / name
        if not path.is_file():
            raise IndexFormatError(
                f"{path} is missing; the index is incomplete: rebuild it with `fnrag build-index`"
            )
        if path.stat().st_size != entry.get("size"):
            raise IndexFormatError(
                f"{path} has the wrong size (truncated or replaced); rebuild the index with `fnrag build-index`"
            )
        if sha256_file(path) != entry.get("sha256"):
            raise IndexFormatError(
                f"{path} does not match its checksum in the manifest (modified or corrupt); "
                "rebuild the index with `fnrag build-index`"
            )
        paths[role] = path
    return paths


def describe_file(path: Path) -> dict[str, Any]:
    return {"name": path.name, "size": path.stat().st_size, "sha256": sha256_file(path)}


def commit(index_dir: Path, manifest: dict[str, Any], sign_key: bytes | None = None) -> None:
    """Make ``manifest`` the index's current state, then sweep the files it replaced.

    Only files of builds recorded here are removed: the previous manifest's build
    and builds in the journal (begun, never committed); see :func:`begin_build`.
    """
    data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    keep = {entry["name"] for entry in manifest["files"].values()} | {MANIFEST, LOCK, JOURNAL}
    retired = _journal_ids(index_dir)
    if (previous := _manifest_build_id(index_dir)) is not None:
        retired.add(previous)
    retired.discard(manifest["build_id"])
    if sign_key is not None:
        # Before the manifest, like the data files: a crash in between keeps the old pair.
        keep.add(signing.write_signature(index_dir, data, manifest["build_id"], sign_key))
    write_file_atomic(index_dir / MANIFEST, data)
    _sweep(index_dir, retired, keep)


# --- what this index wrote: the journal, the sweep, the --out check ---------------

JOURNAL = ".build.journal"
_BUILD_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}")
_DATA_PREFIXES = ("chunks-", "dense-", "bm25-", "embeddings-", signing.SIGNATURE_PREFIX)
_DATA_NAME = re.compile(
    r"(?:chunks|dense|bm25|embeddings|signature)-(\d{8}T\d{6}-[0-9a-f]{6})"
    r"\.(?:jsonl|npy|faiss|npz|vocab\.json|json)"
)
_TEMP_NAME = re.compile(r"\.(.+)\.tmp-\d+-[0-9a-f]{6}")


def begin_build(index_dir: Path, build_id: str) -> None:
    """Journal ``build_id`` before any of its files is written.

    A build that dies before its commit leaves files that no manifest names; the
    journal is how the next build knows that fnrag wrote them (and may delete them)
    while a user's ``chunks-mydata.jsonl`` beside them is never touched.
    """
    _write_journal(index_dir, _journal_ids(index_dir) | {build_id})


def _write_journal(index_dir: Path, build_ids: set[str]) -> None:
    if not build_ids:
        (index_dir / JOURNAL).unlink(missing_ok=True)
        return
    record = {"format": "fnrag-build-journal", "build_ids": sorted(build_ids)}
    # fnrag.files' writer, not this module's name for it: a test that breaks the
    # commit by patching store.write_file_atomic still gets its build's files written.
    files.write_file_atomic(index_dir / JOURNAL, json.dumps(record).encode("utf-8"))


def _journal_ids(index_dir: Path) -> set[str]:
    try:
        record = json.loads((index_dir / JOURNAL).read_text(encoding="utf-8"))
        ids = record.get("build_ids", []) if isinstance(record, dict) else []
    except (OSError, UnicodeDecodeError, ValueError):
        return set()
    return {i for i in ids if isinstance(i, str) and _BUILD_ID.fullmatch(i)}


def _manifest_build_id(index_dir: Path) -> str | None:
    try:
        manifest = json.loads((index_dir / MANIFEST).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    build_id = manifest.get("build_id") if isinstance(manifest, dict) else None
    return build_id if isinstance(build_id, str) and _BUILD_ID.fullmatch(build_id) else None


def _written_by(name: str, build_ids: set[str]) -> bool:
    """``name`` is a data file (or a temp file of one) of one of ``build_ids``."""
    temp = _TEMP_NAME.fullmatch(name)
    if temp:
        name = temp.group(1)
        if name in (MANIFEST, JOURNAL):
            return True
    for prefix in _DATA_PREFIXES:
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            return any(rest.startswith(build_id + ".") for build_id in build_ids)
    return False


def _sweep(index_dir: Path, retired: set[str], keep: set[str]) -> None:
    left: set[str] = set()
    for path in index_dir.iterdir():
        if path.name in keep or not _written_by(path.name, retired) or path.is_dir():
            continue
        try:
            path.unlink()
        except OSError:
            left.update(i for i in retired if i in path.name)
    # What could not be removed now stays journaled for the next build.
    with contextlib.suppress(OSError):
        _write_journal(index_dir, left)


def check_out_dir(index_dir: Path) -> None:
    """Refuse to build into a folder that holds files fnrag did not write.

    Accepted: a missing or empty folder, an fnrag index (its manifest says so), or
    the leftovers of an fnrag build that died before its first commit.

    Raises:
        InputError: ``index_dir`` is a file, or holds unrelated files.
    """
    if not index_dir.exists():
        return
    if not index_dir.is_dir():
        raise InputError(f"{index_dir} is a file, not a folder; give a folder path for the index")
    names = sorted(p.name for p in index_dir.iterdir())
    if not names or _is_index(index_dir):
        return
    foreign = [n for n in names if not _looks_ours(n)]
    if MANIFEST in names and len(names) == 1:
        foreign = [MANIFEST]  # a manifest.json of some other tool, alone
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise InputError(
            f"{index_dir} is not empty and not an fnrag index (it holds {shown}); "
            "pick an empty folder or a new path for the index"
        )


def _is_index(index_dir: Path) -> bool:
    try:
        manifest = json.loads((index_dir / MANIFEST).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == "fnrag-index"


def _looks_ours(name: str) -> bool:
    temp = _TEMP_NAME.fullmatch(name)
    base = temp.group(1) if temp else name
    return base in (MANIFEST, LOCK, JOURNAL) or _DATA_NAME.fullmatch(base) is not None


def read_chunks(path: Path) -> list[Chunk]:
    chunks = []
    line_number = 0
    try:
        with open(path, encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):  # noqa: B007 - used in the error
                chunks.append(Chunk.from_dict(json.loads(line)))
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError, KeyError, AttributeError) as error:
        raise IndexFormatError(
            f"{path} holds an invalid chunk near line {max(line_number, 1)} ({type(error).__name__}); rebuild the index"
        ) from None
    return chunks


def write_data_files(
    index_dir: Path,
    build_id: str,
    chunks: list[Chunk],
    vectors: np.ndarray,
    bm25: BM25Index,
    exact_search_limit: int,
) -> tuple[dict[str, dict[str, Any]], str]:
    """Write one build's data files (the embeddings are already on disk) and fsync them;
    returns their manifest entries and the kind of FAISS index written."""
    import faiss

    chunk_path = index_dir / f"chunks-{build_id}.jsonl"
    with open(chunk_path, "w", encoding="utf-8") as handle:
        for chunk in chunks:
            handle.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
    embeddings_path = index_dir / f"embeddings-{build_id}.npy"  # written by _embed
    dimension = vectors.shape[1]
    if len(chunks) > exact_search_limit:
        dense: Any = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        dense.hnsw.efConstruction = 80
        dense_kind = "hnsw"
    else:
        dense = faiss.IndexFlatIP(dimension)
        dense_kind = "flat"
    dense.add(vectors)
    dense_path = index_dir / f"dense-{build_id}.faiss"
    faiss.write_index(dense, str(dense_path))
    bm25_names = bm25.save(index_dir / f"bm25-{build_id}")
    for path in index_dir.glob(f"*{build_id}*"):
        with open(path, "rb+") as handle:
            os.fsync(handle.fileno())
    files = {
        "chunks": describe_file(chunk_path),
        "embeddings": describe_file(embeddings_path),
        "dense": describe_file(dense_path),
        "bm25": describe_file(index_dir / bm25_names["arrays"]),
        "bm25_vocab": describe_file(index_dir / bm25_names["vocabulary"]),
    }
    return files, dense_kind
