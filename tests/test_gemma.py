"""Gemma 3 270M (issue 18): the loader, the teacher-free RAFT data, a few real LoRA steps,
``fnrag eval`` with the adapter, and the merged model's GGUF in llama-cpp-python.

The model tests share one prepared folder (the session's models folder) and one tiny
adapter (3 CPU steps on the last 2 layers, ~650-token prompts), to keep CI's CPU time small.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fnrag.errors import InputError

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "training" / "configs" / "gemma-smoke.yaml"
KOREAN = "금융회사등은 거래자의 실지명의로 금융거래를 하여야 한다. 「특정금융정보법」 제5조의2"

# Questions about the sample guide (index/sample); each anchor must stay in its text.
SAMPLE_QA = [
    ("g1", "개인 고객의 실지명의는 무엇을 말하나요?", "주민등록표에 올라 있는 성명과 주민등록번호"),
    ("g2", "법인 고객은 어떤 증표로 실명을 확인하나요?", "사업자등록증 또는 그 사본"),
    ("g3", "공과금 수납 때도 실명확인을 해야 하나요?", "각종 공과금을 받는 거래는 실명확인 없이"),
    (
        "g4",
        "대리인이 오면 누구의 실명을 확인해야 하나요?",
        "본인과 대리인 모두의 실명을 확인해야 한다",
    ),
]
OUT_OF_SCOPE = [("g8", "오늘 서울 날씨는 어떤가요?"), ("g9", "신용카드 연회비는 얼마인가요?")]


def write_sample_qa(path: Path, sample: Path, ids: tuple[str, ...] = ()) -> Path:
    files = sorted(sample.rglob("*.md"))
    lines = []
    for qid, question, anchor in SAMPLE_QA:
        if ids and qid not in ids:
            continue
        flat = "".join(anchor.split())
        owner = next(f for f in files if flat in "".join(f.read_text("utf-8").split()))
        doc = "sample/" + owner.relative_to(sample).as_posix()
        gold = [{"doc": doc, "art": "", "anchor": anchor}]
        lines.append({"id": qid, "q": question, "gold": gold})
    for qid, question in OUT_OF_SCOPE:
        if not ids or qid in ids:
            lines.append({"id": qid, "q": question, "gold": [], "out_of_scope": True})
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


def build_data(out: Path, index_dir: Path, sample: Path, **settings: Any) -> dict[str, Any]:
    from training.gemma_data import GemmaDataConfig, build

    config = GemmaDataConfig(
        index=str(index_dir),
        out=str(out),
        qa=[str(write_sample_qa(out.parent / "sample_qa.jsonl", sample))],
        heldout_fraction=0.25,
        seed_pairs=6,
        k=2,
        max_passage_chars=120,
        sizes=[4],
        **settings,
    )
    return build(config)


def shown_hits(example: dict[str, Any], index: Any) -> list[Any]:
    from training.build_sft import passages_for
    from training.gemma_passages import slice_chunk

    chunks = [index.chunk(c) for c in example["passage_ids"]]
    spans = [tuple(s) for s in example["passage_spans"]]
    return passages_for([slice_chunk(c, s) for c, s in zip(chunks, spans, strict=True)], 0)


def test_raft_targets_quote_the_deciding_sentence_and_verify(
    tmp_path: Path, hashing_sample_index_dir: Path, sample_corpus: Path
) -> None:
    from fnrag.answering.citations import verify_citations
    from fnrag.evaluation.metrics import GoldRef, is_gold
    from fnrag.index.search import load_index
    from fnrag.prompts import REFUSAL_SENTENCE, build_prompt
    from training.config import read_jsonl

    index = load_index(hashing_sample_index_dir)
    summary = build_data(tmp_path / "data", hashing_sample_index_dir, sample_corpus)
    train = list(read_jsonl(tmp_path / "data" / "sft.jsonl"))
    held_ids = {r["id"] for r in read_jsonl(tmp_path / "data" / "heldout_qa.jsonl")}
    # 25 % of the 4 in-scope and of the 2 out-of-scope items, never trained on.
    assert len(held_ids) == 2 == summary["heldout_items"]
    assert not held_ids & {r["id"] for r in train}
    assert {r["origin"] for r in train} >= {"qa", "seed"}
    anchors = {qid: anchor for qid, _, anchor in SAMPLE_QA}
    for example in train:
        hits = shown_hits(example, index)
        assert example["prompt"] == build_prompt(example["question"], hits)
        assert all(
            len(h.text) <= 120 or i == example["source_position"] for i, h in enumerate(hits, 1)
        )
        if example["refusal"]:
            assert example["completion"] == REFUSAL_SENTENCE
            gold = tuple(GoldRef(**g) for g in example.get("gold") or ())
            assert not any(is_gold(h.source, h.text, gold) for h in hits)
            continue
        n = example["source_position"]
        check = verify_citations(example["completion"], hits)
        assert not check.invalid and [c.n for c in check.citations] == [n]
        assert example["completion"].endswith(f"” [{n}]")  # composer style: ref: “quote” [n]
        if example["origin"] == "qa":
            squashed = "".join(example["completion"].split())
            assert "".join(anchors[example["id"]].split()) in squashed
    assert len(list(read_jsonl(tmp_path / "data" / "sft-4.jsonl"))) == 4


def test_cite_first_targets_name_the_passage_before_the_quote(
    tmp_path: Path, hashing_sample_index_dir: Path, sample_corpus: Path
) -> None:
    from fnrag.answering.citations import trail_leading_markers, verify_citations
    from fnrag.index.search import load_index
    from fnrag.prompts import REFUSAL_SENTENCE
    from training.config import read_jsonl
    from training.gemma_data import GemmaDataConfig, build

    index = load_index(hashing_sample_index_dir)
    build_data(tmp_path / "quote", hashing_sample_index_dir, sample_corpus)
    build_data(
        tmp_path / "cite", hashing_sample_index_dir, sample_corpus, target_style="cite-first"
    )
    quote_first = list(read_jsonl(tmp_path / "quote" / "sft.jsonl"))
    cite_first = list(read_jsonl(tmp_path / "cite" / "sft.jsonl"))
    # The same examples in the same order: only the layout of the answers differs.
    assert [e["prompt"] for e in cite_first] == [e["prompt"] for e in quote_first]
    answered = 0
    for example, baseline in zip(cite_first, quote_first, strict=True):
        if example["refusal"]:
            assert example["completion"] == REFUSAL_SENTENCE == baseline["completion"]
            continue
        answered += 1
        n = example["source_position"]
        assert example["completion"].startswith(f"[{n}] ")
        assert trail_leading_markers(example["completion"]) == baseline["completion"]
        check = verify_citations(
            trail_leading_markers(example["completion"]), shown_hits(example, index)
        )
        assert not check.invalid and [c.n for c in check.citations] == [n]
    assert answered
    with pytest.raises(InputError, match="quote-first, cite-first"):
        build(GemmaDataConfig(index=str(hashing_sample_index_dir), target_style="marker-last"))


def test_a_teacher_answer_opens_with_its_marker_under_cite_first(
    tmp_path: Path, hashing_sample_index_dir: Path, sample_corpus: Path
) -> None:
    from fnrag.index.search import load_index
    from training.config import read_jsonl

    index = load_index(hashing_sample_index_dir)
    chunk = next(c for c in index.chunks if "공과금" in c.text)
    paraphrase = "공과금 수납은 실명확인 없이 처리할 수 있습니다"  # a teacher's words, not a quote
    reviewed = tmp_path / "reviewed.jsonl"
    record = {"instruction": "공과금 낼 때도 실명확인 하나요?", "output": paraphrase}
    reviewed.write_text(
        json.dumps({**record, "chunk_id": chunk.chunk_id}, ensure_ascii=False) + "\n", "utf-8"
    )
    build_data(
        tmp_path / "data",
        hashing_sample_index_dir,
        sample_corpus,
        target_style="cite-first",
        reviewed=[str(reviewed)],
    )
    (example,) = [
        e for e in read_jsonl(tmp_path / "data" / "sft.jsonl") if e["origin"] == "reviewed"
    ]
    assert example["completion"] == f"[{example['source_position']}] {paraphrase}"


def test_dev_qa_is_never_training_data(tmp_path: Path) -> None:
    from training.gemma_data import load_items

    dev = tmp_path / "dev_qa.jsonl"
    dev.write_text('{"id": "d1", "q": "금융실명법의 목적은?", "gold": []}\n', encoding="utf-8")
    with pytest.raises(InputError, match="measurement set"):
        load_items([str(dev)])


def test_loader_names_the_extra_when_the_package_is_missing(tmp_path: Path) -> None:
    # The package is hidden from a child process (a real import failure there), with an
    # empty fnrag home so no earlier assembled copy can stand in.
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('gemma3_270m'): raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import runpy; runpy.run_module('training.gemma', run_name='__main__')\n"
    )
    env = {**os.environ, "FNRAG_HOME": str(tmp_path / "home")}
    env.pop("FNRAG_GEMMA_GGUF", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert done.returncode != 0
    assert "pip install 'fnrag[train]'" in done.stderr
    assert not (tmp_path / "home" / "models" / "gemma3-270m").exists()


@pytest.fixture(scope="module")
def gemma_folder() -> Path:
    from training.gemma import prepare_gemma

    return prepare_gemma()


@pytest.mark.slow
def test_loader_builds_a_plain_folder_and_round_trips_korean(gemma_folder: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    from training.gemma import find_gemma_gguf, prepare_gemma

    assert find_gemma_gguf().stat().st_size > 200_000_000
    config = AutoConfig.from_pretrained(gemma_folder)
    assert config.model_type == "gemma3_text" and config.num_hidden_layers == 18
    assert not hasattr(config, "quantization_config")
    started = time.perf_counter()
    # Cached (each test home links the session models folder): no second conversion.
    assert prepare_gemma().resolve() == gemma_folder.resolve()
    assert time.perf_counter() - started < 5
    tokenizer = AutoTokenizer.from_pretrained(gemma_folder)
    assert not getattr(tokenizer, "chat_template", None)  # a base model: raw Alpaca prompt
    ids = tokenizer(KOREAN)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and tokenizer.eos_token == "<eos>"
    assert tokenizer.decode(ids, skip_special_tokens=True) == KOREAN
    assert len(ids) < 0.8 * len(KOREAN)  # whole Korean pieces, not bytes


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_run(
    gemma_folder: Path,
    tmp_path_factory: pytest.TempPathFactory,
    hashing_sample_index_dir: Path,
) -> tuple[Any, str, str]:
    from training.config import SFTConfig, load_config
    from training.sft import train

    work = tmp_path_factory.mktemp("gemma-run")
    build_data(work / "data", hashing_sample_index_dir, REPO / "index" / "sample")
    weights = gemma_folder / "model.safetensors"
    before = _sha(weights)
    config = load_config(
        SFTConfig,
        SMOKE,
        {"train_file": str(work / "data" / "sft.jsonl"), "base_model": str(gemma_folder)},
    )
    return train(config, work / "run"), before, _sha(weights)


@pytest.mark.slow
def test_tiny_lora_run_changes_the_adapter_only(tiny_run: tuple[Any, str, str]) -> None:
    from safetensors.torch import load_file

    result, before, after = tiny_run
    m = result.metrics
    assert m["steps"] == 3 and m["backend"] == "peft"
    assert m["tokenization"]["eos_verified"] == m["train_examples"] > 0
    assert m["lora_tensors_changed"] > 0 and m["base_tensors_changed"] == 0
    assert before == after  # the prepared base folder is never written
    adapter = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    layers = {k.split(".layers.")[1].split(".")[0] for k in adapter}
    assert layers == {"16", "17"}  # lora_layers: 2 of 18
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in adapter.items())


@pytest.mark.slow
def test_fnrag_eval_with_the_transformers_generator_and_adapter(
    tmp_path: Path,
    gemma_folder: Path,
    tiny_run: tuple[Any, str, str],
    sample_index_dir: Path,
    sample_corpus: Path,
) -> None:
    qa = write_sample_qa(tmp_path / "qa.jsonl", sample_corpus, ("g1", "g2", "g9"))
    spec = f"transformers:model={gemma_folder},adapter={tiny_run[0].adapter_dir},max_new_tokens=16"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fnrag.cli",
            "eval",
            "--qa",
            str(qa),
            "--index",
            str(sample_index_dir),
            "--modes",
            "hybrid",
            "--generator",
            spec,
            "--json",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    answers = {a["setting"]: a for a in report["answers"]}
    assert set(answers) == {"rag", "closed-book"}
    for setting in answers.values():
        assert setting["available"] and len(setting["questions"]) == 3
        assert 0.0 <= (setting["invalid_citation_rate"] or 0.0) <= 1.0
        # Verified: an answer left standing cites only passages it was shown.
        for q in setting["questions"]:
            assert q["refused"] or q["answer"].strip()
    assert next(q for q in answers["rag"]["questions"] if q["id"] == "g9")["refused"]
    # The in-scope questions reached the model (not all refused on weak evidence first).
    assert report["latency"]["ask"][f"{spec}/rag"]["generate"]["p95_ms"] > 50


@pytest.mark.slow
def test_merged_gguf_loads_in_llama_cpp_with_the_same_tokens(
    tmp_path: Path, gemma_folder: Path, tiny_run: tuple[Any, str, str]
) -> None:
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    from training.export import export

    exported = export(
        str(gemma_folder), tiny_run[0].adapter_dir, tmp_path / "x", "q8_0", verify=True
    )
    assert exported.gguf and exported.gguf_bytes and exported.gguf_bytes > 200_000_000
    assert exported.verified_text is not None
    llm = Llama(model_path=exported.gguf, n_ctx=64, vocab_only=True, verbose=False)
    ids = AutoTokenizer.from_pretrained(gemma_folder)(KOREAN)["input_ids"]
    assert llm.tokenize(KOREAN.encode("utf-8"), add_bos=True) == ids
    # Served over the chat API (fnrag --generator openai → llama_cpp.server), the base
    # model's GGUF renders the last message alone after BOS: the layout it was tuned on.
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from training.export import RAW_PROMPT_TEMPLATE

    template = llm.metadata.get("tokenizer.chat_template")
    assert template == RAW_PROMPT_TEMPLATE
    formatter = Jinja2ChatFormatter(template, eos_token="<eos>", bos_token="<bos>")
    rendered = formatter(
        messages=[
            {"role": "system", "content": "지시"},
            {"role": "user", "content": KOREAN},
        ]
    ).prompt
    assert rendered == "<bos>" + KOREAN
    assert llm.tokenize(rendered.encode("utf-8"), add_bos=False, special=True) == ids
