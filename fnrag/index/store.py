"""The on-disk index format: versioned manifest, checksummed files, atomic commits.

An index directory holds data files whose names carry a build id
(``chunks-<id>.jsonl``, ``dense-<id>.faiss``, ``bm25-<id>.npz``, …) and one
``manifest.json`` that names them with their sha256. A build writes its new files
beside the old ones, then replaces ``manifest.json`` with ``os.replace``: that
rename is the commit. A build that dies before it leaves the old manifest pointing
at the old files, untouched; files no manifest names are swept by the next build.
Loading verifies every checksum before any file is parsed, and nothing is ever
unpickled.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fnrag.errors import IndexFormatError, IndexNotFoundError
from fnrag.files import sha256_file, write_file_atomic
from fnrag.types import Chunk

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".build.lock"


def new_build_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def read_manifest(index_dir: Path) -> dict[str, Any]:
    manifest_path = index_dir / MANIFEST
    if not index_dir.is_dir() or not manifest_path.is_file():
        raise IndexNotFoundError(
            f"no fnrag index at {index_dir}: build one with `fnrag build-index SOURCE... --out {index_dir}`"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
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


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index directory (readers never wait)."""
    import fcntl

    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexFormatError(
                f"another fnrag build is writing {index_dir}; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def commit(index_dir: Path, manifest: dict[str, Any]) -> None:
    """Make ``manifest`` the index's current state, then sweep unreferenced files."""
    data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    write_file_atomic(index_dir / MANIFEST, data)
    keep = {entry["name"] for entry in manifest["files"].values()} | {MANIFEST, LOCK}
    for path in index_dir.iterdir():
        if path.name not in keep and path.is_file() and _is_ours(path.name):
            with contextlib.suppress(OSError):
                path.unlink()


def _is_ours(name: str) -> bool:
    prefixes = ("chunks-", "dense-", "bm25-", "embeddings-")
    return name.startswith(prefixes) or (name.startswith(".") and ".tmp-" in name)


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
