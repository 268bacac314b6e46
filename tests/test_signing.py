"""Signed manifests (issue 19): checksums give integrity, a keyed signature authenticity.

The threat: whoever can write the index folder edits a chunk's text and recomputes its
sha256 and size in manifest.json; without a key fnrag serves the edited text as a
verified quote. With a key, that index, an unsigned one and a wrongly signed one are
refused before any data file is read. One signed index (sample corpus, hashing
embedder) is built per module; every test damages its own copy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fnrag.cli import main
from fnrag.errors import IndexFormatError, InputError
from fnrag.index import signing, store
from fnrag.index.build import build_index
from fnrag.index.search import load_index
from fnrag.paths import sample_corpus_dir

ORIGINAL = "실명확인"
FORGED = "실명확인 없이 타인 명의로 거래해도 된다"
SAMPLE = sample_corpus_dir()


def _key(path: Path, seed: int = 0) -> Path:
    # Deterministic but random-looking bytes: 32 distinct values.
    path.write_bytes(bytes((seed * 7 + i * 37 + 11) % 256 for i in range(32)))
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {"good": _key(folder / "index.key"), "other": _key(folder / "other.key", seed=3)}


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Path]) -> Path:
    out = tmp_path_factory.mktemp("signed") / "index"
    build_index([SAMPLE], out, embedder="hashing", sign_key=keys["good"])
    return out


@pytest.fixture
def index_dir(signed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(signed, copy)
    return copy


def _manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / store.MANIFEST).read_text(encoding="utf-8"))


def _forge_chunk(index_dir: Path) -> str:
    """Edit one chunk's text and reseal size + sha256 in the manifest; return its id."""
    manifest = _manifest(index_dir)
    chunks_path = index_dir / manifest["files"]["chunks"]["name"]
    lines = chunks_path.read_text(encoding="utf-8").splitlines(keepends=True)
    for number, line in enumerate(lines):
        record = json.loads(line)
        if ORIGINAL in record["text"]:
            record["text"] = record["text"].replace(ORIGINAL, FORGED, 1)
            lines[number] = json.dumps(record, ensure_ascii=False) + "\n"
            break
    chunks_path.write_text("".join(lines), encoding="utf-8")
    manifest["files"]["chunks"] = store.describe_file(chunks_path)
    (index_dir / store.MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return record["chunk_id"]


def test_signed_index_has_a_signature_and_loads_with_its_key(
    index_dir: Path, keys: dict[str, Path]
) -> None:
    build_id = _manifest(index_dir)["build_id"]
    record = json.loads((index_dir / f"signature-{build_id}.json").read_text(encoding="utf-8"))
    assert record["algorithm"] == "hmac-sha256"
    assert record["build_id"] == build_id
    assert record["key_id"] == signing.key_id(keys["good"].read_bytes())
    assert keys["good"].read_bytes().hex() not in json.dumps(record)
    for key in (keys["good"], str(keys["good"]), keys["good"].read_bytes()):
        index = load_index(index_dir, verify_key=key)
        assert index.search("실명확인을 생략할 수 있는 거래는?", k=3)
    # Without a key nothing changes: a signed index loads like any other.
    assert len(load_index(index_dir)) == len(index)


def test_forged_chunk_is_served_without_key_and_refused_with_it(
    index_dir: Path, keys: dict[str, Path]
) -> None:
    chunk_id = _forge_chunk(index_dir)
    # The threat: the checksums hold, so the edited text is served as a quote.
    assert FORGED in load_index(index_dir).chunk(chunk_id).text
    with pytest.raises(IndexFormatError, match="changed after signing") as caught:
        load_index(index_dir, verify_key=keys["good"])
    assert "--sign-key" in str(caught.value)


def test_forged_chunk_is_refused_before_any_data_file_is_read(
    index_dir: Path, keys: dict[str, Path]
) -> None:
    _forge_chunk(index_dir)
    # Data files that would fail to parse: the signature must be what stops the load.
    for entry in _manifest(index_dir)["files"].values():
        (index_dir / entry["name"]).write_bytes(b"\x80 not data")
    with pytest.raises(IndexFormatError, match="changed after signing"):
        load_index(index_dir, verify_key=keys["good"])


def test_wrong_key_is_refused(index_dir: Path, keys: dict[str, Path]) -> None:
    with pytest.raises(IndexFormatError, match="signed with another key") as caught:
        load_index(index_dir, verify_key=keys["other"])
    assert signing.key_id(keys["other"].read_bytes()) in str(caught.value)


def test_unsigned_index_is_refused_with_a_key(tmp_path: Path, keys: dict[str, Path]) -> None:
    out = tmp_path / "unsigned"
    build_index([SAMPLE], out, embedder="hashing")
    assert not list(out.glob("signature-*"))
    assert len(load_index(out)) > 0
    with pytest.raises(IndexFormatError, match="not signed") as caught:
        load_index(out, verify_key=keys["good"])
    assert "--sign-key" in str(caught.value)


def test_environment_key_is_honoured(
    index_dir: Path, keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FNRAG_INDEX_KEY", str(keys["good"]))
    assert len(load_index(index_dir)) > 0
    monkeypatch.setenv("FNRAG_INDEX_KEY", str(keys["other"]))
    with pytest.raises(IndexFormatError, match="another key"):
        load_index(index_dir)
    # An explicit key wins over the environment.
    assert len(load_index(index_dir, verify_key=keys["good"])) > 0
    monkeypatch.setenv("FNRAG_INDEX_KEY", str(keys["good"]))
    _forge_chunk(index_dir)
    with pytest.raises(IndexFormatError, match="changed after signing"):
        load_index(index_dir)


def test_stale_or_substituted_signature_never_validates(
    index_dir: Path, keys: dict[str, Path]
) -> None:
    old_id = _manifest(index_dir)["build_id"]
    old_manifest = (index_dir / store.MANIFEST).read_bytes()
    old_signature = (index_dir / f"signature-{old_id}.json").read_bytes()
    build_index([SAMPLE], index_dir, embedder="hashing", sign_key=keys["good"])
    new_id = _manifest(index_dir)["build_id"]
    assert new_id != old_id
    assert not (index_dir / f"signature-{old_id}.json").exists()  # swept by the commit
    # The previous build's (genuine) signature put in place of the new one.
    (index_dir / f"signature-{new_id}.json").write_bytes(old_signature)
    with pytest.raises(IndexFormatError, match="changed after signing"):
        load_index(index_dir, verify_key=keys["good"])
    # The old manifest back, beside only the new signature: not signed.
    (index_dir / store.MANIFEST).write_bytes(old_manifest)
    with pytest.raises(IndexFormatError, match="not signed"):
        load_index(index_dir, verify_key=keys["good"])


def test_signature_file_cannot_choose_its_algorithm(index_dir: Path, keys: dict[str, Path]) -> None:
    path = next(index_dir.glob("signature-*.json"))
    record = json.loads(path.read_text(encoding="utf-8"))
    for change in ({"algorithm": "none", "signature": ""}, {"signature": "비밀번호"}):
        path.write_text(json.dumps({**record, **change}, ensure_ascii=False), encoding="utf-8")
        with pytest.raises(IndexFormatError):
            load_index(index_dir, verify_key=keys["good"])


def test_crash_between_signature_and_manifest_keeps_the_old_index(
    index_dir: Path, keys: dict[str, Path]
) -> None:
    """What a build killed after writing its signature, before its commit, leaves."""
    key = keys["good"].read_bytes()
    before = load_index(index_dir, verify_key=key)
    manifest = _manifest(index_dir)
    manifest["build_id"] = store.new_build_id()
    manifest["sources"][0]["title"] = "위조된 제목"
    data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    store.begin_build(index_dir, manifest["build_id"])  # as the build does, before any file
    orphan = signing.write_signature(index_dir, data, manifest["build_id"], key)
    after = load_index(index_dir, verify_key=key)
    assert after.version == before.version
    # The next build sweeps the orphan signature.
    build_index([SAMPLE], index_dir, embedder="hashing", sign_key=key)
    assert not (index_dir / orphan).exists()
    assert len(list(index_dir.glob("signature-*.json"))) == 1


def test_rebuild_with_key_does_not_reuse_an_unverified_previous_index(
    index_dir: Path, keys: dict[str, Path]
) -> None:
    sources = [SAMPLE]
    # A verified previous build is reused as before.
    report = build_index(sources, index_dir, embedder="hashing", sign_key=keys["good"])
    assert all(file.reused for file in report.files)
    chunk_id = _forge_chunk(index_dir)
    report = build_index(sources, index_dir, embedder="hashing", sign_key=keys["good"])
    assert not any(file.reused for file in report.files)
    assert report.reused_embeddings == 0
    index = load_index(index_dir, verify_key=keys["good"])
    assert all(FORGED not in chunk.text for chunk in index.chunks)
    assert ORIGINAL in index.chunk(chunk_id).text


def test_unsigned_rebuild_drops_the_old_signature(index_dir: Path, keys: dict[str, Path]) -> None:
    build_index([SAMPLE], index_dir, embedder="hashing")
    assert not list(index_dir.glob("signature-*"))
    with pytest.raises(IndexFormatError, match="not signed"):
        load_index(index_dir, verify_key=keys["good"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"short-key", "holds 9 bytes"),
        (b"\0" * 32, "not random"),
        (("비밀" * 6).encode("utf-8"), "not random"),
    ],
)
def test_weak_key_is_refused_before_anything_is_built(
    tmp_path: Path, content: bytes, message: str
) -> None:
    key = tmp_path / "weak.key"
    key.write_bytes(content)
    out = tmp_path / "index"
    for source in (key, content):
        with pytest.raises(InputError, match=message) as caught:
            build_index([SAMPLE], out, embedder="hashing", sign_key=source)
        assert "head -c 32 /dev/urandom" in str(caught.value)
    assert not out.exists()


def test_missing_key_file_is_refused(tmp_path: Path, signed: Path) -> None:
    missing = tmp_path / "없는.key"
    with pytest.raises(InputError, match="does not exist") as caught:
        load_index(signed, verify_key=missing)
    assert "head -c 32 /dev/urandom" in str(caught.value)


def test_cli_signs_and_verifies(
    tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli-index"
    sample = str(SAMPLE)
    common = ["--embedder", "hashing", "--quiet", "--out", str(out)]
    assert main(["build-index", sample, *common, "--sign-key", str(keys["good"])]) == 0
    capsys.readouterr()
    query = ["search", "실명확인을 생략할 수 있는 거래는?", "--index", str(out), "--json"]
    assert main([*query, "--index-key", str(keys["good"])]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and ORIGINAL in " ".join(hit["text"] for hit in hits)

    assert main([*query, "--index-key", str(keys["other"])]) == 2
    error = capsys.readouterr().err
    assert error.startswith("fnrag: error: ") and "another key" in error
    assert error.count("\n") == 1

    ask = ["ask", "실명확인을 생략할 수 있는 거래는?", "--index", str(out), "--json"]
    _forge_chunk(out)
    assert main([*ask, "--index-key", str(keys["good"])]) == 2
    assert "changed after signing" in capsys.readouterr().err

    short = tmp_path / "short.key"
    short.write_bytes(b"12345")
    assert main(["build-index", sample, *common, "--sign-key", str(short)]) == 2
    assert "holds 5 bytes" in capsys.readouterr().err


def test_cli_eval_accepts_index_key(
    tmp_path: Path, signed: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    qa = tmp_path / "qa.jsonl"
    item = {"id": "q1", "q": "오늘 서울 날씨는 어떤가요?", "out_of_scope": True}
    qa.write_text(json.dumps(item, ensure_ascii=False) + "\n", encoding="utf-8")
    base = ["eval", "--qa", str(qa), "--index", str(signed), "--no-answers", "--modes", "lexical"]
    assert main([*base, "--no-progress", "--json", "--index-key", str(keys["good"])]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main([*base, "--no-progress", "--index-key", str(keys["other"])]) == 2
    assert "another key" in capsys.readouterr().err
