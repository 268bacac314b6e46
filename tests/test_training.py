"""Training pipeline: self-instruct parsing/grounding, review round-trip, SFT examples,
LoRA smoke chain on SmolLM2-135M, sweep, merge → GGUF → llama-cpp server → fnrag ask."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from llama_server import LlamaServer, free_port, require_server_extra

from fnrag.errors import GenerationError, InputError
from training.selfinstruct import SelfInstructConfig, generate, parse_pairs
from training.textutil import grounding_score, is_valid_format

REPO = Path(__file__).resolve().parent.parent
# Short fixed cited answer for the CPU smoke run (see training/configs/smoke-cpu.yaml).
SMOKE_ANSWER_TEMPLATE = "Source: [{n}]"


@pytest.mark.parametrize(
    ("text", "status", "first_question"),
    [
        ('[{"question": "실명확인이란?", "answer": "실지명의 확인"}]', "ok", "실명확인이란?"),
        ('{"pairs": [{"question": "통보 기한은?", "answer": "10일"}]}', "ok", "통보 기한은?"),
        (
            '물론입니다!\n```json\n[{"question": "차명거래란?", "answer": "타인 명의 거래",},]\n```',
            "repaired",
            "차명거래란?",
        ),
        ('답변: {"질문": "과태료는?", "답변": "3천만원 이하"} 끝', "repaired", "과태료는?"),
        ("질문과 답변을 만들 수 없습니다.", "skipped", None),
    ],
)
def test_parse_pairs_counts_each_path(text: str, status: str, first_question: str | None) -> None:
    result = parse_pairs(text)
    assert result.status == status
    assert (result.pairs[0][0] if result.pairs else None) == first_question


@pytest.mark.parametrize(
    ("answer", "grounded"),
    [
        ("금융회사등은 거래자의 실지명의로 금융거래를 하여야 한다.", True),
        ("금융회사등은 실지명의로 거래하여야 합니다", True),
        ("가상자산 거래소는 해외 송금 한도를 매년 공시한다.", False),
    ],
)
def test_grounding_check(answer: str, grounded: bool) -> None:
    chunk = "금융회사등은 거래자의 실지명의로 금융거래를 하여야 한다. 실지명의는 주민등록표상의 성명을 말한다."
    assert (grounding_score(answer, chunk) >= 0.6) is grounded


@pytest.mark.parametrize(
    ("answer", "valid"),
    [
        ("실지명의로 거래합니다 [2].", True),
        ("근거는 [1, 2]입니다.", True),
        ("근거 [3]", False),
        ("근거 없음", False),
        ("제공된 자료에서 답을 찾을 수 없습니다.", True),
    ],
)
def test_format_check(answer: str, valid: bool) -> None:
    from fnrag.prompts import REFUSAL_SENTENCE

    assert is_valid_format(answer, 2, REFUSAL_SENTENCE) is valid


def _qa_records() -> list[dict[str, str]]:
    return [
        {
            "id": f"c{i}-0",
            "instruction": q,
            "input": "",
            "output": a,
            "chunk_id": f"c{i}",
            "source": "가이드.md",
            "section": f"제{i}장",
        }
        for i, (q, a) in enumerate(
            [
                ("실명확인 대상은?", "모든 금융거래"),
                ("통보 기한은?", "10일 이내"),
                ("과태료 상한은?", "3천만원"),
            ]
        )
    ]


def test_review_round_trip(tmp_path: Path) -> None:
    from training.config import read_jsonl, write_jsonl
    from training.review import export_csv, import_csv

    qa, sheet, out = tmp_path / "qa.jsonl", tmp_path / "review.csv", tmp_path / "reviewed.jsonl"
    write_jsonl(qa, _qa_records())
    assert export_csv(qa, sheet) == 3
    raw = sheet.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens Korean correctly
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0]["question"] == "실명확인 대상은?"
    rows[0]["decision"] = "accept"
    rows[1].update(
        decision="edit", question="거래정보 제공 통보 기한은?", answer="제공한 날부터 10일 이내"
    )
    rows[2].update(decision="reject", comment="근거 불충분")
    with sheet.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = import_csv(qa, sheet, out)
    assert (result.accepted, result.edited, result.rejected, result.blank, result.kept) == (
        1,
        1,
        1,
        0,
        2,
    )
    kept = list(read_jsonl(out))
    assert [r["instruction"] for r in kept] == ["실명확인 대상은?", "거래정보 제공 통보 기한은?"]
    assert kept[1]["output"] == "제공한 날부터 10일 이내"


def test_review_rejects_unknown_decision_naming_the_row(tmp_path: Path) -> None:
    from training.config import write_jsonl
    from training.review import export_csv, import_csv

    qa, sheet = tmp_path / "qa.jsonl", tmp_path / "review.csv"
    write_jsonl(qa, _qa_records())
    export_csv(qa, sheet)
    lines = sheet.read_text(encoding="utf-8-sig").splitlines()
    lines[2] = lines[2][:-2] + ",보류,"  # row 3: decision "보류" is not a decision
    sheet.write_text("\n".join(lines), encoding="utf-8-sig")
    with pytest.raises(InputError, match=r"row 3 \(id c1-0\).*보류"):
        import_csv(qa, sheet, tmp_path / "out.jsonl")


@pytest.fixture
def sample_index(tmp_path: Path) -> Path:
    from fnrag.index.build import build_index

    out = tmp_path / "index"
    build_index([REPO / "index" / "sample"], out, embedder="hashing")
    return out


def test_build_sft_uses_the_inference_prompt(tmp_path: Path, sample_index: Path) -> None:
    from fnrag.index.search import load_index
    from fnrag.prompts import REFUSAL_SENTENCE, build_prompt
    from training.build_sft import BuildSFTConfig, build_sft, contains_answer, passages_for
    from training.config import read_jsonl, write_jsonl
    from training.seed_qa import seed_pairs

    index = load_index(sample_index)
    qa = tmp_path / "qa.jsonl"
    write_jsonl(qa, seed_pairs(index.chunks, per_chunk=1))
    config = BuildSFTConfig(
        qa=str(qa),
        index=str(sample_index),
        out=str(tmp_path / "sft.jsonl"),
        k=3,
        refusal_share=0.25,
        seed=1,
    )
    counts = build_sft(config, index)
    examples = list(read_jsonl(config.out))
    assert counts["refusal"] == round(0.25 * len(examples)) > 0
    for example in examples:
        hits = passages_for([index.chunk(c) for c in example["passage_ids"]], 0)
        assert example["prompt"] == build_prompt(example["question"], hits)
        if example["refusal"]:
            assert example["completion"] == REFUSAL_SENTENCE
            assert example["chunk_id"] not in example["passage_ids"]
            assert not any(contains_answer(h.text, example["answer"]) for h in hits)
        else:
            n = example["source_position"]
            assert example["passage_ids"][n - 1] == example["chunk_id"]
            assert example["completion"].endswith(f"[{n}]")
            assert len(hits) == 3
    positions = {e["source_position"] for e in examples if not e["refusal"]}
    assert len(positions) > 1  # the source is not always in the same slot


def test_build_sft_can_keep_the_source_where_retrieval_ranked_it(
    tmp_path: Path, sample_index: Path
) -> None:
    from fnrag.index.search import load_index
    from training.build_sft import BuildSFTConfig, build_examples
    from training.seed_qa import seed_pairs

    index = load_index(sample_index)
    records = seed_pairs(index.chunks, per_chunk=1)
    config = BuildSFTConfig(k=3, refusal_share=0.0, seed=1, source_position="retrieved")
    placed = build_examples(config, records, index)
    uniform = build_examples(dataclasses.replace(config, source_position="random"), records, index)
    checked = 0
    for example, other in zip(placed, uniform, strict=True):
        ranked = [h.chunk_id for h in index.search(example["question"], k=9)]
        # Same distractors either way (the seeded draws do not depend on the mode).
        assert set(example["passage_ids"]) == set(other["passage_ids"])
        if example["chunk_id"] not in ranked:
            continue
        checked += 1
        shown = example["passage_ids"]
        n = example["source_position"]
        assert shown[n - 1] == example["chunk_id"]
        # Every passage shown before the source was ranked above it by the search.
        above = set(ranked[: ranked.index(example["chunk_id"])])
        assert set(shown[: n - 1]) <= above
        assert not above & set(shown[n:])
    assert checked >= len(placed) // 2
    ones = sum(e["source_position"] == 1 for e in placed)
    assert ones > sum(e["source_position"] == 1 for e in uniform)
    with pytest.raises(InputError, match="random or retrieved"):
        build_examples(dataclasses.replace(config, source_position="first"), records, index)


def test_selfinstruct_retries_then_fails_with_counts(tmp_path: Path) -> None:
    from fnrag.types import Chunk

    port = free_port()  # nothing listens here: a real connection error
    config = SelfInstructConfig(
        out=str(tmp_path / "qa.jsonl"),
        base_url=f"http://127.0.0.1:{port}/v1",
        model="없음",
        retries=2,
        backoff=0.5,
        timeout=2,
    )
    delays: list[float] = []
    chunk = Chunk("c1", "가이드.md", "가이드", "제1장", "실명확인 원칙", 0, 6)
    with pytest.raises(GenerationError, match="failed 3 times"):
        generate(config, [chunk], sleep=delays.append)
    assert delays == [0.5, 1.0]


@pytest.fixture
def llama_server(tmp_path: Path) -> Iterator[Callable[[Path, str], str]]:
    """Start llama-cpp-python's OpenAI-compatible server on a GGUF; yields a starter."""
    require_server_extra()
    started: list[LlamaServer] = []

    def start(model: Path, alias: str) -> str:
        server = LlamaServer(model, alias, tmp_path / f"server-{len(started)}.log", n_ctx=4096)
        started.append(server)
        return server.wait_ready(seconds=60)

    yield start
    for server in started:
        server.stop()


@pytest.mark.slow
@pytest.mark.server
def test_selfinstruct_against_real_server(tmp_path: Path, sample_index: Path, llama_server) -> None:
    from fnrag.index.search import load_index
    from training.config import read_jsonl
    from training.smollm import find_smollm2_gguf

    url = llama_server(find_smollm2_gguf(), "smollm2")
    config = SelfInstructConfig(
        index=str(sample_index),
        out=str(tmp_path / "qa.jsonl"),
        base_url=url,
        model="smollm2",
        per_chunk=2,
        max_chunks=3,
        max_tokens=160,
        temperature=0.0,
    )
    summary = generate(config)
    run = summary["this_run"]
    assert run["chunks_processed"] == 3
    assert run["responses_ok"] + run["responses_repaired"] + run["responses_skipped"] == 3
    assert run["pairs_parsed"] == (
        run["pairs_invalid"]
        + run["pairs_duplicate"]
        + run["pairs_ungrounded"]
        + run["pairs_written"]
    )
    written = list(read_jsonl(config.out))
    assert len(written) == run["pairs_written"]
    chunks = {c.chunk_id: c for c in load_index(sample_index).chunks}
    for record in written:  # everything kept is grounded in its own chunk
        assert grounding_score(record["output"], chunks[record["chunk_id"]].text) >= 0.6
    # Resume with JSON mode (grammar-constrained JSON): the first three chunks are not
    # asked again; SmolLM2's JSON now parses, so the grounding check has work to do.
    again = generate(dataclasses.replace(config, json_mode=True))["this_run"]
    assert again["chunks_resumed"] == 3 and again["chunks_processed"] == 3
    assert again["responses_ok"] + again["responses_repaired"] >= 1
    assert again["pairs_parsed"] == (
        again["pairs_invalid"]
        + again["pairs_duplicate"]
        + again["pairs_ungrounded"]
        + again["pairs_written"]
    )
    saved = json.loads(Path(f"{config.out}.summary.json").read_text(encoding="utf-8"))
    assert len(saved["chunks_done"]) == 6
    assert saved["totals"]["chunks_processed"] == 6


@pytest.mark.slow
@pytest.mark.server
def test_smoke_chain_trains_exports_and_serves(
    tmp_path: Path, sample_index: Path, llama_server
) -> None:
    """seed Q/A → build_sft → LoRA on SmolLM2 → merge → GGUF → server → fnrag ask."""
    from safetensors.torch import load_file

    from fnrag.index.search import load_index
    from training.build_sft import BuildSFTConfig, build_sft
    from training.config import load_config, write_jsonl
    from training.export import export
    from training.seed_qa import seed_pairs
    from training.sft import SFTConfig, train

    index = load_index(sample_index)
    qa = tmp_path / "qa.jsonl"
    write_jsonl(qa, seed_pairs(index.chunks, per_chunk=2))
    sft_file = tmp_path / "sft.jsonl"
    build_sft(
        BuildSFTConfig(
            qa=str(qa),
            index=str(sample_index),
            out=str(sft_file),
            k=2,
            max_passage_chars=30,
            refusal_share=0.15,
            answer_template=SMOKE_ANSWER_TEMPLATE,
        ),
        index,
    )
    config = load_config(
        SFTConfig,
        REPO / "training" / "configs" / "smoke-cpu.yaml",
        {"train_file": str(sft_file), "backend": "peft"},
    )
    result = train(config, tmp_path / "run")
    m = result.metrics
    # Batch 1: single-step losses are noisy, so compare the first and last thirds.
    losses = m["train_losses"]
    third = max(1, len(losses) // 3)
    assert sum(losses[-third:]) / third < sum(losses[:third]) / third
    assert m["eval_loss_after"] < m["eval_loss_before"]
    assert m["format_rate_after"] >= 0.8 and m["format_rate_after"] > m["format_rate_before"]
    # Not collapsed onto the refusal sentence: it cites on answerable held-out examples.
    assert m["decision_accuracy_after"] > m["decision_accuracy_before"]
    assert m["refusal_rate_after"] < 0.9
    # The generated held-out set holds a refusal target, and passage choice is reported
    # against its chance level (k = 2); 16 CPU steps are not asked to beat chance.
    assert m["format_refusal_targets"] >= 1
    assert m["source_citation_chance"] == pytest.approx(0.5)
    assert 0.0 <= m["source_citation_after"] <= 1.0
    assert m["tokenization"]["eos_verified"] == m["train_examples"]
    assert m["lora_tensors_changed"] > 0 and m["base_tensors_changed"] == 0
    adapter = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in adapter.items())

    exported = export("smollm2", result.adapter_dir, tmp_path / "export", gguf="q8_0", verify=True)
    assert exported.gguf and exported.gguf_bytes and exported.gguf_bytes > 1_000_000
    url = llama_server(Path(exported.gguf), "fnrag-smoke")
    env = {**os.environ, "OPENAI_API_KEY": "not-needed"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fnrag.cli",
            "ask",
            "--index",
            str(sample_index),
            "--generator",
            "openai",
            "--base-url",
            url,
            "--model",
            "fnrag-smoke",
            "-k",
            "2",
            "--json",
            "실명확인은 언제 생략할 수 있나요?",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["answer"].strip()
    assert answer["refused"] or answer["citations"]
    # Whatever the tiny model wrote survived citation verification: only valid markers remain.
    assert all(1 <= c["n"] <= 2 for c in answer.get("citations", []))


@pytest.mark.slow
def test_sweep_compares_and_picks_by_criterion(tmp_path: Path) -> None:
    """Two LoRA ranks on a tiny random Llama: the table lists both, best follows the criterion."""
    import torch
    import yaml
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from training.config import write_jsonl
    from training.smollm import prepare_smollm2
    from training.sweep import run_sweep

    tokenizer = AutoTokenizer.from_pretrained(prepare_smollm2())
    torch.manual_seed(0)
    tiny = LlamaForCausalLM(
        LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            vocab_size=len(tokenizer),
        )
    )
    tiny.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    rows = [
        {
            "id": f"r{i}",
            "prompt": f"질문 {i}: 통보 기한은?\n### Response:\n",
            "completion": f"10일 이내 [{1 + i % 2}]",
            "n_passages": 2,
        }
        for i in range(10)
    ]
    write_jsonl(tmp_path / "sft.jsonl", rows)
    base = {
        "base_model": str(tmp_path / "tiny"),
        "train_file": str(tmp_path / "sft.jsonl"),
        "eval_fraction": 0.3,
        "eval_examples": 2,
        "max_steps": 2,
        "batch_size": 2,
        "max_new_tokens": 4,
        "learning_rate": 0.01,
    }
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base), encoding="utf-8")
    grid = {
        "base_config": str(tmp_path / "base.yaml"),
        "output_dir": str(tmp_path / "sweep"),
        "grid": {"lora_r": [2, 4]},
    }
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid), encoding="utf-8")
    result = run_sweep(tmp_path / "grid.yaml")
    runs = result["runs"]
    assert [r["changes"]["lora_r"] for r in runs] == [2, 4] and all("error" not in r for r in runs)
    top = max(
        runs,
        key=lambda r: (
            r["decision_accuracy_after"],
            r["source_citation_after"] or 0.0,
            r["format_rate_after"],
            -r["eval_loss_after"],
        ),
    )
    assert result["best"]["run"] == top["run"]
    table = (tmp_path / "sweep" / "sweep.md").read_text(encoding="utf-8")
    assert "**best**" in table and result["criterion"] in table


def test_training_caches_under_fnrag_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The README documents one variable for fnrag's caches; SmolLM2 and the GGUF converter
    # must follow it like the embedding models do, not fall back to ~/.cache.
    from training.get_converter import converter_dir
    from training.smollm import default_cache_dir

    monkeypatch.setenv("FNRAG_HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home"
    assert converter_dir().parent == tmp_path / "home"
