"""Loading a damaged or hostile index gives a clear IndexFormatError and executes nothing.

One real index (sample corpus, hashing embedder) is built per module; every test
damages its own copy in tmp_path.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fnrag.errors import EmbedderMismatchError, IndexFormatError, IndexNotFoundError
from fnrag.index import store
from fnrag.index.build import build_index
from fnrag.index.search import load_index
from fnrag.paths import sample_corpus_dir


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("index-safety") / "index"
    build_index([sample_corpus_dir()], out, embedder="hashing")
    return out


@pytest.fixture
def index_dir(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(built, copy)
    return copy


def _manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / store.MANIFEST).read_text(encoding="utf-8"))


def _data_file(index_dir: Path, role: str) -> Path:
    return index_dir / _manifest(index_dir)["files"][role]["name"]


def _rewrite_manifest(index_dir: Path, change: Callable[[dict], None]) -> None:
    manifest = _manifest(index_dir)
    change(manifest)
    (index_dir / store.MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False), encoding="utf-8"
    )


def _reseal(index_dir: Path, role: str) -> None:
    """Update size and sha256 for ``role``: a forger who also edits the manifest."""
    path = _data_file(index_dir, role)
    _rewrite_manifest(index_dir, lambda m: m["files"].__setitem__(role, store.describe_file(path)))


class _Payload:
    """Unpickling this would create MARKER: proof that something was executed."""

    marker = ""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_intact_copy_loads_and_searches(index_dir: Path) -> None:
    index = load_index(index_dir)
    assert index.search("실명확인 생략", k=3)


@pytest.mark.parametrize("role", ["chunks", "dense", "embeddings", "bm25", "bm25_vocab"])
def test_flipped_byte_is_detected(index_dir: Path, role: str) -> None:
    path = _data_file(index_dir, role)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="checksum"):
        load_index(index_dir)


def test_tampered_chunk_text_is_detected(index_dir: Path) -> None:
    path = _data_file(index_dir, "chunks")
    text = path.read_text(encoding="utf-8")
    forged = text.replace("실명", "익명", 1)
    assert forged != text and len(forged.encode()) == len(text.encode())
    path.write_text(forged, encoding="utf-8")
    with pytest.raises(IndexFormatError, match="checksum"):
        load_index(index_dir)


@pytest.mark.parametrize("role", ["dense", "chunks", "embeddings"])
def test_truncated_file_is_detected(index_dir: Path, role: str) -> None:
    path = _data_file(index_dir, role)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(IndexFormatError, match=r"size|truncated"):
        load_index(index_dir)


@pytest.mark.parametrize("role", ["dense", "embeddings", "bm25"])
def test_truncated_file_with_forged_manifest_is_unreadable_not_a_crash(
    index_dir: Path, role: str
) -> None:
    path = _data_file(index_dir, role)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _reseal(index_dir, role)
    with pytest.raises(IndexFormatError):
        load_index(index_dir)


@pytest.mark.parametrize("role", ["dense", "embeddings", "bm25", "bm25_vocab", "chunks"])
def test_foreign_file_with_forged_manifest(index_dir: Path, role: str) -> None:
    path = _data_file(index_dir, role)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2048))
    _reseal(index_dir, role)
    with pytest.raises(IndexFormatError):
        load_index(index_dir)


@pytest.mark.parametrize("role", ["embeddings", "bm25", "chunks", "dense"])
def test_pickle_in_place_of_a_data_file_executes_nothing(
    index_dir: Path, tmp_path: Path, role: str
) -> None:
    marker = tmp_path / "executed"
    _Payload.marker = str(marker)
    path = _data_file(index_dir, role)
    path.write_bytes(pickle.dumps(_Payload()))
    _reseal(index_dir, role)
    with pytest.raises(IndexFormatError):
        load_index(index_dir)
    assert not marker.exists()


def test_chunk_store_with_unexpected_fields_is_rejected(index_dir: Path) -> None:
    path = _data_file(index_dir, "chunks")
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["__class__"] = "os.system"
    lines[0] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _reseal(index_dir, "chunks")
    with pytest.raises(IndexFormatError, match="chunk"):
        load_index(index_dir)


def test_chunk_store_with_a_chunk_missing_is_inconsistent(index_dir: Path) -> None:
    path = _data_file(index_dir, "chunks")
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    _reseal(index_dir, "chunks")
    with pytest.raises(IndexFormatError, match="inconsistent"):
        load_index(index_dir)


def test_newer_format_version(index_dir: Path) -> None:
    _rewrite_manifest(
        index_dir, lambda m: m.__setitem__("format_version", store.FORMAT_VERSION + 1)
    )
    with pytest.raises(IndexFormatError, match="newer"):
        load_index(index_dir)


@pytest.mark.parametrize(
    "manifest_bytes",
    [
        b"",
        b"\x80\x81\xff",
        b"[1, 2, 3]",
        b'{"format": "something-else"}',
        pickle.dumps({"format": "fnrag-index"}),
    ],
    ids=["empty", "binary", "list", "foreign-json", "pickle"],
)
def test_foreign_manifest(index_dir: Path, manifest_bytes: bytes) -> None:
    (index_dir / store.MANIFEST).write_bytes(manifest_bytes)
    with pytest.raises(IndexFormatError):
        load_index(index_dir)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", ".hidden", "", 42])
def test_manifest_cannot_point_outside_the_index(index_dir: Path, name: object) -> None:
    _rewrite_manifest(index_dir, lambda m: m["files"]["chunks"].__setitem__("name", name))
    with pytest.raises(IndexFormatError, match="invalid file"):
        load_index(index_dir)


def test_missing_data_file(index_dir: Path) -> None:
    _data_file(index_dir, "dense").unlink()
    with pytest.raises(IndexFormatError, match="missing"):
        load_index(index_dir)


def test_another_embedder_is_refused(index_dir: Path) -> None:
    with pytest.raises(EmbedderMismatchError, match="embedder"):
        load_index(index_dir, embedder="hashing-128")


def test_manifest_claiming_another_embedder_is_refused(index_dir: Path) -> None:
    _rewrite_manifest(
        index_dir, lambda m: m["embedder"].__setitem__("name", "intfloat/multilingual-e5-small")
    )
    index = load_index(index_dir)  # loads lazily; the first dense query checks
    with pytest.raises(EmbedderMismatchError):
        index.search("실명확인", mode="dense")


def test_no_index_at_all(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="build-index"):
        load_index(tmp_path / "nowhere")
