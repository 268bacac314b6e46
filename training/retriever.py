"""Fine-tune fnrag's embedder from reviewed pairs, with hard negatives mined from the index.

    python -m training.retriever --qa FILE --index DIR --out MODEL_DIR [--config YAML]
    fnrag build-index SOURCES --embedder MODEL_DIR      # then search/ask use it

``--qa`` holds reviewed pairs (``instruction`` + ``chunk_id``) or eval-format QA (``q`` +
gold ``doc``/``anchor``, resolved to the index's chunks; see ``training.retriever_data``).
Training is sentence-transformers' ``SentenceTransformerTrainer`` with
``MultipleNegativesRankingLoss`` over (query, positive, hard negatives…): the other
passages of a batch are negatives too, so batches never repeat a text. The e5 prefixes
(``query: ``/``passage: ``) are put on the texts, as fnrag does at search time. With
``lora: true`` peft adapts the attention and FFN projections and is merged before saving,
so MODEL_DIR is always a plain sentence-transformers folder.

MODEL_DIR also holds ``fnrag_embedder.json`` (family e5, backend onnx-int8, base model,
sha256 of the training file, and the refusal thresholds carried onto the tuned model's
cosine scale: ``training.retriever_scope``), which fnrag's factory and build-index read,
and ``retriever_report.json``:
the held-out split's hit@1/hit@5/MRR@10 before and after, dense-only and hybrid (each
model searched through the index's own fusion, with the int8 ONNX export fnrag loads by
default), the int8-vs-torch cosine, seconds per stage and peak RSS.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fnrag.embedders.base import E5_PREFIXES, same_embedder, weights_sha256
from fnrag.errors import FnragError, InputError, missing_dependency
from fnrag.evaluation.metrics import hit_at_k, mrr_at_k
from training.config import config_help, load_config, opt, write_json
from training.retriever_data import (
    Pair,
    data_sha256,
    is_excluded,
    load_pairs,
    mine_negatives,
    split_pairs,
)
from training.retriever_scope import calibrate, calibration_questions

MARKER = "fnrag_embedder.json"
REPORT = "retriever_report.json"
BERT_LINEAR = ["query", "key", "value", "dense"]


@dataclass(frozen=True)
class RetrieverConfig:
    base_model: str = opt("default", "sentence-transformers folder; 'default' = bundled e5-small.")
    eval_fraction: float = opt(0.15, "Share of questions held out for the before/after report.")
    seed: int = opt(0, "Seed for the split, the data order and LoRA init.")
    hard_negatives: int = opt(1, "Mined negatives per pair (dense and BM25, alternating).")
    mine_depth: int = opt(30, "How deep each ranking is searched for negatives.")
    epochs: float = opt(3.0, "Training epochs (ignored when max_steps > 0).")
    max_steps: int = opt(-1, "Optimizer steps; -1 = run the epochs.")
    batch_size: int = opt(16, "Pairs per batch (the rest of the batch are negatives too).")
    learning_rate: float = opt(5e-5, "Peak learning rate (LoRA wants ~1e-4).")
    warmup_ratio: float = opt(0.1, "Share of steps with a linear warm-up.")
    weight_decay: float = opt(0.01, "AdamW weight decay.")
    scale: float = opt(20.0, "MultipleNegativesRankingLoss scale (inverse temperature).")
    mini_batch_size: int = opt(
        8,
        "Texts per forward pass (CachedMultipleNegativesRankingLoss, the same loss with "
        "bounded memory: batch 16 x 4 texts x 256 tokens took over 9 GB at once); 0 = plain.",
    )
    max_seq_length: int = opt(192, "Tokens per text; longer passages are cut.")
    freeze_embeddings: bool = opt(
        True,
        "Keep the token embeddings fixed: 96M of e5-small's 118M weights, which a few hundred "
        "pairs cannot train, and most of the optimizer's memory.",
    )
    lora: bool = opt(False, "Train LoRA adapters (peft) instead of the full encoder.")
    lora_r: int = opt(16, "LoRA rank.")
    lora_alpha: int = opt(32, "LoRA alpha.")
    lora_dropout: float = opt(0.05, "LoRA dropout.")
    lora_targets: list = field(
        default_factory=lambda: list(BERT_LINEAR),
        metadata={"help": "BERT module names that get adapters."},
    )
    export_onnx: bool = opt(True, "Export the int8 ONNX model fnrag loads by default.")
    torch_threads: int = opt(0, "torch.set_num_threads (0 = leave).")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _base_folder(spec: str) -> Path:
    from fnrag.embedders.factory import DEFAULT_ALIASES, ensure_default_model

    folder = ensure_default_model() if spec in DEFAULT_ALIASES else Path(spec).expanduser()
    if not (folder / "modules.json").is_file():
        raise InputError(
            f"base model {spec!r} is not a sentence-transformers folder (no modules.json in "
            f"{folder}); pass such a folder or 'default'"
        )
    return folder


def _check_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise InputError(
            f"{out} exists and is not a model training.retriever wrote; choose a new --out"
        )


def _texts(pairs: Sequence[Pair], negatives: Sequence[list[int]], chunks: Any, seed: int) -> dict:
    """Columns anchor, positive, negative_1..n with the e5 prefixes; short negative lists
    are filled with random non-gold chunks, as every row needs the same columns."""
    rng = np.random.default_rng(seed)
    width = max((len(n) for n in negatives), default=0)
    columns: dict[str, list[str]] = {"anchor": [], "positive": []}
    columns.update({f"negative_{j + 1}": [] for j in range(width)})
    q_prefix, p_prefix = E5_PREFIXES
    for pair, mined in zip(pairs, negatives, strict=True):
        rows = list(mined)
        while len(rows) < width:
            row = int(rng.integers(len(chunks)))
            if row not in rows and not is_excluded(pair, row, chunks[row]):
                rows.append(row)
        columns["anchor"].append(q_prefix + pair.question)
        columns["positive"].append(p_prefix + chunks[pair.positive].indexed_text)
        for j, row in enumerate(rows):
            columns[f"negative_{j + 1}"].append(p_prefix + chunks[row].indexed_text)
    return columns


def fit(config: RetrieverConfig, base: Path, columns: dict, out: Path) -> dict[str, Any]:
    """Train on ``columns`` and save a plain sentence-transformers folder into ``out``."""
    try:
        import torch
        from datasets import Dataset
        from sentence_transformers import (
            SentenceTransformer,
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )
        from sentence_transformers.sentence_transformer.losses import (
            CachedMultipleNegativesRankingLoss,
            MultipleNegativesRankingLoss,
        )
        from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    except ImportError as exc:
        raise missing_dependency(getattr(exc, "name", None) or "sentence-transformers") from exc

    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    cuda = torch.cuda.is_available()
    model = SentenceTransformer(str(base), device="cuda" if cuda else "cpu")
    model.max_seq_length = config.max_seq_length
    encoder: Any = model[0]  # the Transformer module (its auto_model / model)
    if config.freeze_embeddings:
        encoder.auto_model.embeddings.requires_grad_(False)
    if config.lora:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as exc:
            raise missing_dependency("peft") from exc
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=list(config.lora_targets),
        )
        encoder.model = get_peft_model(encoder.model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    dataset = Dataset.from_dict(columns)
    with tempfile.TemporaryDirectory(prefix="fnrag-retriever-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=config.epochs,
            max_steps=config.max_steps,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            warmup_ratio=config.warmup_ratio,
            weight_decay=config.weight_decay,
            seed=config.seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            report_to="none",
            logging_steps=1,
            disable_tqdm=True,
            use_cpu=not cuda,
            dataloader_pin_memory=False,
        )
        loss = (
            CachedMultipleNegativesRankingLoss(
                model, scale=config.scale, mini_batch_size=config.mini_batch_size
            )
            if config.mini_batch_size > 0
            else MultipleNegativesRankingLoss(model, scale=config.scale)
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=dataset, loss=loss
        )
        result = trainer.train()
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    if config.lora:
        encoder.model = encoder.model.merge_and_unload()
    model.save(str(out))
    return {
        "steps": int(result.global_step),
        "trainable_parameters": int(trainable),
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "device": "cuda" if cuda else "cpu",
    }


def _swapped(index: Any, embedder: Any, vectors: np.ndarray) -> Any:
    """``index`` searched with another embedder's vectors (same chunks, BM25 and fusion)."""
    import faiss

    clone = copy.copy(index)
    clone.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    clone.dense = faiss.IndexFlatIP(clone.vectors.shape[1])
    clone.dense.add(clone.vectors)
    clone._embedder, clone._embedder_lock = embedder, threading.Lock()
    return clone


def _passage_vectors(index: Any, embedder: Any) -> np.ndarray:
    if same_embedder(embedder.identity(), index.manifest.get("embedder") or {}):
        return np.asarray(index.vectors)
    return embedder.encode_passages([c.indexed_text for c in index.chunks])


def score_pairs(index: Any, pairs: Sequence[Pair]) -> dict[str, dict[str, float]]:
    """hit@1, hit@5 and MRR@10 per search mode, once per question (any gold row counts)."""
    rows = {c.chunk_id: i for i, c in enumerate(index.chunks)}
    first = {p.item: p for p in pairs}.values()
    scores: dict[str, dict[str, float]] = {}
    for mode in ("dense", "hybrid"):
        rel = [
            [rows[h.chunk_id] in p.gold_rows for h in index.search(p.question, 10, mode)]
            for p in first
        ]
        n = max(len(rel), 1)
        scores[mode] = {
            "hit@1": sum(hit_at_k(r, 1) for r in rel) / n,
            "hit@5": sum(hit_at_k(r, 5) for r in rel) / n,
            "mrr@10": sum(mrr_at_k(r, 10) for r in rel) / n,
        }
    return scores


def onnx_agreement(folder: Path, texts: Sequence[str]) -> float:
    """Least cosine between the torch vectors and the int8 ONNX ones fnrag loads."""
    from fnrag.embedders.factory import load_embedder

    torch_vecs = load_embedder(str(folder), backend="torch").encode_passages(list(texts))
    int8_vecs = load_embedder(str(folder)).encode_passages(list(texts))
    return float(np.min(np.sum(torch_vecs * int8_vecs, axis=1)))


def train_retriever(
    qa: str | Path, index_dir: str | Path, out: str | Path, config: RetrieverConfig
) -> dict[str, Any]:
    """The whole step; returns (and writes into ``out``) the report."""
    from fnrag.embedders.factory import load_embedder
    from fnrag.embedders.onnx import ensure_exported
    from fnrag.index.search import load_index

    started, seconds = time.perf_counter(), {}
    out = Path(out)
    _check_out(out)
    base = _base_folder(config.base_model)
    index = load_index(index_dir)
    pairs, skipped = load_pairs(qa, index.chunks)
    train, held = split_pairs(pairs, config.eval_fraction, config.seed)
    if not train:
        raise InputError(f"{qa} leaves no pair to train on; add pairs or lower eval_fraction")
    stage = time.perf_counter()
    negatives = mine_negatives(index, train, config.hard_negatives, config.mine_depth)
    seconds["mine"] = time.perf_counter() - stage

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        stage = time.perf_counter()
        columns = _texts(train, negatives, index.chunks, config.seed)
        training = fit(config, base, columns, tmp)
        seconds["train"] = time.perf_counter() - stage
        base_name = "multilingual-e5-small" if config.base_model == "default" else base.name
        marker = {
            "family": "e5",
            "backend": "onnx-int8" if config.export_onnx else "torch",
            "base_model": base_name,
            "base_weights_sha256": weights_sha256(base),
            "training_data_sha256": data_sha256(qa),
            "trained_pairs": len(train),
            "config": asdict(config),
        }
        (tmp / MARKER).write_text(json.dumps(marker, ensure_ascii=False, indent=2), "utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report: dict[str, Any] = {
        "pairs": len(pairs),
        "train_pairs": len(train),
        "held_out_questions": len({p.item for p in held}),
        "skipped_out_of_scope": skipped,
        "training": training,
    }
    if config.export_onnx:
        stage = time.perf_counter()
        ensure_exported(out, weights_sha256(out))
        sample = [index.chunks[p.positive].indexed_text for p in (held or train)[:16]]
        report["onnx_int8_min_cosine"] = onnx_agreement(out, sample)
        seconds["export"] = time.perf_counter() - stage
    stage = time.perf_counter()
    before = load_embedder(None if config.base_model == "default" else str(base))
    after = load_embedder(str(out))
    before_index = _swapped(index, before, _passage_vectors(index, before))
    after_index = _swapped(index, after, _passage_vectors(index, after))
    if held:
        report["before"] = score_pairs(before_index, held)
        report["after"] = score_pairs(after_index, held)
    seconds["evaluate"] = time.perf_counter() - stage
    stage = time.perf_counter()
    # The refusal's cosine thresholds, carried onto the tuned model's scale; build-index
    # copies them into the manifest, where Assistant finds them.
    questions = calibration_questions(qa, [p.question for p in pairs])
    marker["refusal"] = calibrate(before_index, after_index, questions)
    write_json(out / MARKER, marker)
    report["refusal"] = marker["refusal"]
    seconds["calibrate"] = time.perf_counter() - stage
    seconds["total"] = time.perf_counter() - started
    report["seconds"] = seconds
    report["peak_rss_mb"] = _peak_rss_mb()
    write_json(out / REPORT, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.retriever",
        description=__doc__,
        epilog="Config keys:\n" + config_help(RetrieverConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--qa", required=True, help="reviewed pairs or eval-format QA (JSONL)")
    parser.add_argument("--index", required=True, help="the index the pairs refer to")
    parser.add_argument("--out", required=True, help="folder for the tuned model")
    parser.add_argument("--config", help="YAML file with RetrieverConfig keys")
    parser.add_argument("--base-model", dest="base_model")
    parser.add_argument("--max-steps", dest="max_steps", type=int)
    parser.add_argument("--eval-fraction", dest="eval_fraction", type=float)
    args = parser.parse_args(argv)
    overrides = {k: getattr(args, k) for k in ("base_model", "max_steps", "eval_fraction")}
    try:
        config = load_config(RetrieverConfig, args.config, overrides)
        report = train_retriever(args.qa, args.index, args.out, config)
    except FnragError as error:
        print(f"retriever: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
