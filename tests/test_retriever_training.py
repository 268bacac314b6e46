"""training.retriever: pairs resolved and mined from a real index, a tiny real training run,
the int8 ONNX export of the tuned model, and the errors bad input gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fnrag.errors import InputError
from fnrag.evaluation.metrics import squash
from fnrag.index.search import load_index
from training.retriever import RetrieverConfig, train_retriever
from training.retriever_data import load_pairs, mine_negatives

REPO = Path(__file__).resolve().parent.parent


def _qa_line(qid: str, chunk, anchor: str, question: str) -> str:
    doc = Path(chunk.source).name
    gold = [{"doc": doc, "art": "", "anchor": anchor}]
    return json.dumps({"id": qid, "q": question, "gold": gold}, ensure_ascii=False)


def _anchor(chunk) -> str:
    words = chunk.text.split()
    return " ".join(words[len(words) // 2 : len(words) // 2 + 3])


def _qa_file(path: Path, index, n: int) -> Path:
    chunks = [c for c in index.chunks if len(c.text.split()) > 8][:n]
    lines = [
        _qa_line(f"s{i}", c, _anchor(c), f"{c.section.split('>')[-1].strip()}에 대해 알려 주세요")
        for i, c in enumerate(chunks)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_mining_never_returns_gold(hashing_sample_index_dir: Path, tmp_path: Path) -> None:
    index = load_index(hashing_sample_index_dir)
    pairs, _ = load_pairs(_qa_file(tmp_path / "qa.jsonl", index, 12), index.chunks)
    assert pairs
    # Deep enough that every ranking reaches the gold chunks it must skip.
    mined = mine_negatives(index, pairs, per_pair=len(index.chunks), depth=len(index.chunks))
    for pair, rows in zip(pairs, mined, strict=True):
        assert rows, pair.item
        assert pair.positive not in rows
        assert not set(rows) & pair.gold_rows
        for row in rows:
            assert not any(a in squash(index.chunks[row].text) for a in pair.anchors)


def test_reviewed_pairs_exclude_overlapping_chunks(
    hashing_sample_index_dir: Path, tmp_path: Path
) -> None:
    index = load_index(hashing_sample_index_dir)
    chunk = index.chunks[3]
    record = {"id": "r1", "instruction": "실명확인은 누가 하나요?", "chunk_id": chunk.chunk_id}
    qa = tmp_path / "reviewed.jsonl"
    qa.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    pairs, _ = load_pairs(qa, index.chunks)
    assert pairs[0].positive == 3
    (rows,) = mine_negatives(index, pairs, per_pair=50, depth=len(index.chunks))
    assert 3 not in rows and not set(rows) & pairs[0].gold_rows


def test_anchor_in_no_chunk_is_named(hashing_sample_index_dir: Path, tmp_path: Path) -> None:
    index = load_index(hashing_sample_index_dir)
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        _qa_line("x7", index.chunks[0], "어느 조문에도 없는 문구", "무엇인가요?") + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"어느 조문에도 없는 문구.*'x7'.*is in no chunk"):
        load_pairs(qa, index.chunks)


def test_empty_file_is_an_error(hashing_sample_index_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="is empty"):
        train_retriever(empty, hashing_sample_index_dir, tmp_path / "out", RetrieverConfig())


def test_base_that_is_not_sentence_transformers(
    hashing_sample_index_dir: Path, tmp_path: Path
) -> None:
    index = load_index(hashing_sample_index_dir)
    qa = _qa_file(tmp_path / "qa.jsonl", index, 3)
    plain = tmp_path / "not-a-model"
    plain.mkdir()
    (plain / "config.json").write_text("{}", encoding="utf-8")
    config = RetrieverConfig(base_model=str(plain))
    with pytest.raises(InputError, match="not a sentence-transformers folder"):
        train_retriever(qa, hashing_sample_index_dir, tmp_path / "out", config)


def test_cli_reports_bad_input_in_one_line(hashing_sample_index_dir: Path, tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("", encoding="utf-8")
    index_dir, out = str(hashing_sample_index_dir), str(tmp_path / "m")
    command = [sys.executable, "-m", "training.retriever", "--qa", str(qa), "--index", index_dir]
    run = subprocess.run(
        [*command, "--out", out],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("retriever: error:") and "empty" in run.stderr


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A few real steps on e5-small: synthetic pairs whose questions name their passage."""
    from fnrag.index.build import build_index

    work = tmp_path_factory.mktemp("retriever")
    index_dir = work / "index"
    build_index([str(REPO / "index" / "sample")], index_dir, embedder="hashing")
    index = load_index(index_dir)
    qa = _qa_file(work / "qa.jsonl", index, 8)
    config = RetrieverConfig(
        eval_fraction=0.0,
        max_steps=4,
        batch_size=4,
        learning_rate=1e-4,
        warmup_ratio=0.0,
        hard_negatives=1,
        max_seq_length=128,
        torch_threads=2,
    )
    out = work / "model"
    report = train_retriever(qa, index_dir, out, config)
    return out, qa, report


def _margin(folder: str, qa: Path, index) -> float:
    """Mean cosine of each question to its gold passage minus to the best other passage."""
    from fnrag.embedders.factory import load_embedder

    pairs, _ = load_pairs(qa, index.chunks)
    emb = load_embedder(folder, backend="torch")
    q = emb.encode_queries([p.question for p in pairs])
    p = emb.encode_passages([c.indexed_text for c in index.chunks])
    sims = q @ p.T
    margins = []
    for i, pair in enumerate(pairs):
        other = max(sims[i, j] for j in range(len(index.chunks)) if j not in pair.gold_rows)
        margins.append(sims[i, pair.positive] - other)
    return float(np.mean(margins))


@pytest.mark.slow
def test_tiny_run_changes_weights_and_raises_score(tuned) -> None:
    from safetensors.numpy import load_file

    from fnrag.embedders.factory import ensure_default_model

    out, qa, report = tuned
    assert report["training"]["steps"] == 4
    base = load_file(str(ensure_default_model() / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    changed = [k for k in base if k in after and not np.array_equal(base[k], after[k])]
    assert any("encoder.layer" in k for k in changed)
    assert not any("word_embeddings" in k for k in changed)  # frozen by default
    marker = json.loads((out / "fnrag_embedder.json").read_text(encoding="utf-8"))
    assert marker["family"] == "e5" and marker["backend"] == "onnx-int8"
    assert marker["base_model"] == "multilingual-e5-small"
    assert len(marker["training_data_sha256"]) == 64
    # 8 questions are too few to carry the refusal thresholds over: cosine checks off.
    assert marker["refusal"]["dense_applies"] is False
    assert marker["refusal"]["calibration"]["questions"] == 8
    assert report["refusal"] == marker["refusal"]
    index = load_index(qa.parent / "index")
    assert _margin(str(out), qa, index) > _margin(str(ensure_default_model()), qa, index)


@pytest.mark.slow
def test_onnx_export_reproduces_torch_vectors(tuned) -> None:
    from fnrag.embedders.factory import load_embedder

    out, _, report = tuned
    texts = [
        "예금주 본인 확인은 신분증으로 합니다.",
        "금융회사등은 실지명의로 거래하여야 한다. " * 40,  # past the saved 128 tokens
    ]
    torch_vecs = load_embedder(str(out), backend="torch").encode_passages(texts)
    # sentence-transformers 6 saves max_seq_length in tokenizer_config.json: before the
    # ONNX route read it there, long passages were cut at 512, not 128 (cosine 0.90).
    fp32 = load_embedder(str(out), backend="onnx").encode_passages(texts)
    assert np.sum(torch_vecs * fp32, axis=1).min() >= 0.99
    default = load_embedder(str(out))
    assert default.backend == "onnx-int8" and default.family == "e5"
    cosine = np.sum(torch_vecs * default.encode_passages(texts), axis=1)
    assert cosine.min() >= 0.97  # int8 weights; fp32 above is the export itself
    assert report["onnx_int8_min_cosine"] >= 0.97


@pytest.mark.slow
def test_build_index_records_the_tuned_model(tuned, tmp_path: Path) -> None:
    from fnrag.index.build import build_index

    out, qa, _ = tuned
    build_index([str(REPO / "index" / "sample")], tmp_path / "idx", embedder=str(out))
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedder"]["name"] == "model"
    assert manifest["embedder"]["backend"] == "onnx-int8"
    provenance = manifest["embedder_provenance"]
    assert provenance["base_model"] == "multilingual-e5-small"
    import hashlib

    assert provenance["training_data_sha256"] == hashlib.sha256(qa.read_bytes()).hexdigest()
    hits = load_index(tmp_path / "idx").search("실명확인증표는 무엇인가요?", k=3)
    assert len(hits) == 3
    # The refusal entry travels into the manifest, and Assistant applies it.
    from fnrag.answering.assistant import Assistant

    assert provenance["refusal"]["dense_applies"] is False
    assistant = Assistant(load_index(tmp_path / "idx"), log=False)
    assert assistant.refusal is not None and assistant.refusal.dense_applies is False


def test_onnx_reads_sentence_transformers_6_folders(tmp_path: Path) -> None:
    from fnrag.embedders.onnx import _max_length, _pooling_mode

    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode": "cls"}', "utf-8")
    (tmp_path / "sentence_bert_config.json").write_text('{"transformer_task": "x"}', "utf-8")
    (tmp_path / "tokenizer_config.json").write_text('{"model_max_length": 128}', "utf-8")
    assert _pooling_mode(tmp_path) == "cls"
    assert _max_length(tmp_path) == 128


def test_bank_vocabulary_file_extends_or_replaces(tmp_path: Path, monkeypatch) -> None:
    from fnrag.index.plan import plan_query
    from fnrag.korean.vocabulary import VOCABULARY_ENV, expansions

    extra = tmp_path / "bank.yaml"
    extra.write_text("terms:\n  통장: 예금계좌 금융자산\n", encoding="utf-8")
    assert expansions("통장 만들 때 신분증") == ["실명확인증표 주민등록증"]
    both = expansions("통장 만들 때 신분증", extra)
    assert "예금계좌 금융자산" in both and "실명확인증표 주민등록증" in both
    only = tmp_path / "only.yaml"
    only.write_text("builtin: false\nterms:\n  통장: 예금계좌\n", encoding="utf-8")
    monkeypatch.setenv(VOCABULARY_ENV, str(only))
    assert expansions("통장 만들 때 신분증") == ["예금계좌"]
    assert plan_query("통장 만들 때 신분증").dense_text == "통장 만들 때 신분증 (예금계좌)"
    bad = tmp_path / "bad.yaml"
    bad.write_text("terms: [통장]\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.yaml"):
        expansions("통장", bad)
    with pytest.raises(InputError, match="does not exist"):
        expansions("통장", tmp_path / "missing.yaml")


def test_load_index_takes_a_vocabulary_file(hashing_sample_index_dir: Path, tmp_path: Path) -> None:
    vocabulary = tmp_path / "bank.yaml"
    vocabulary.write_text("terms:\n  통장: 실지명의 금융거래\n", encoding="utf-8")
    index = load_index(hashing_sample_index_dir, vocabulary=vocabulary)
    plain = load_index(hashing_sample_index_dir)
    question = "통장 만들 때 뭐가 필요해요?"
    assert "실지명의 금융거래" in index.retrieve(question, mode="lexical").plan.dense_text
    assert "실지명의" not in plain.retrieve(question, mode="lexical").plan.dense_text
    with pytest.raises(InputError, match="does not exist"):
        load_index(hashing_sample_index_dir, vocabulary=tmp_path / "none.yaml")


@pytest.mark.slow
def test_lora_run_is_merged_into_a_plain_folder(
    hashing_sample_index_dir: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file

    from fnrag.embedders.factory import ensure_default_model

    index = load_index(hashing_sample_index_dir)
    qa = _qa_file(tmp_path / "qa.jsonl", index, 4)
    config = RetrieverConfig(
        eval_fraction=0.0,
        max_steps=2,
        batch_size=4,
        learning_rate=1e-3,
        warmup_ratio=0.0,
        hard_negatives=1,
        max_seq_length=64,
        lora=True,
        export_onnx=False,
    )
    report = train_retriever(qa, hashing_sample_index_dir, tmp_path / "m", config)
    assert report["training"]["trainable_parameters"] < 2_000_000  # adapters only
    after = load_file(str(tmp_path / "m" / "model.safetensors"))
    assert not any("lora" in key for key in after)
    base = load_file(str(ensure_default_model() / "model.safetensors"))
    key = "encoder.layer.0.attention.self.query.weight"
    assert key in after and not np.array_equal(base[key], after[key])
