"""LoRA fine-tuning on build_sft examples, loss on the response only.

    python -m training.sft --config CONFIG.yaml --output-dir DIR

Backend: unsloth (``FastLanguageModel`` with 4/8-bit loading and unsloth gradient
checkpointing) when a CUDA GPU is present and unsloth imports; peft + trl's
``SFTTrainer`` otherwise. Both train on the same pre-tokenised rows: ``input_ids`` =
prompt + completion + EOS, ``labels`` = -100 over the prompt. Writes ``DIR/adapter``
and ``DIR/metrics.json`` (train loss first/last, held-out loss and format rate before
and after, timings, EOS check, base/LoRA weight checks).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fnrag.errors import FnragError, InputError, missing_extra
from training.batches import collate, held_out_loss, response_loss, tokenize_examples
from training.config import (
    SFTConfig,
    config_help,
    load_config,
    write_json,
    write_jsonl,
)
from training.heldout import (
    format_rate,
    generation_rows,
    is_refusal_row,
    sample_share,
    source_citation,
    split_held_out,
)


@dataclass(frozen=True)
class SFTResult:
    output_dir: Path
    adapter_dir: Path
    metrics: dict[str, Any]


def resolve_base(name: str) -> Path:
    if name in ("smollm2", "smollm2-135m"):
        from training.smollm import prepare_smollm2

        return prepare_smollm2()
    if name in ("gemma3", "gemma3-270m"):
        from training.gemma import prepare_gemma

        return prepare_gemma()
    path = Path(name)
    if not (path / "config.json").is_file():
        raise InputError(f"base model {name} is not a Hugging Face folder (no config.json)")
    return path


def choose_backend(config: SFTConfig) -> str:
    """'unsloth' or 'peft'. unsloth must be imported before transformers/trl/peft."""
    if config.backend not in ("auto", "unsloth", "peft"):
        raise InputError(f"backend must be auto, unsloth or peft, not {config.backend!r}")
    if config.backend == "peft":
        return "peft"
    import torch

    if torch.cuda.is_available():
        try:
            import unsloth  # noqa: F401
        except ImportError as error:
            if config.backend == "unsloth":
                raise missing_extra("unsloth", "gpu") from error
            return "peft"
        return "unsloth"
    if config.backend == "unsloth":
        raise InputError("backend unsloth needs a CUDA GPU; use backend: peft")
    return "peft"


def _checksums(model: Any) -> dict[str, tuple[float, float]]:
    """Cheap fingerprints (sum, abs-sum) of every parameter, by name."""
    import torch

    with torch.no_grad():
        return {
            n: (float(p.float().sum()), float(p.float().abs().sum()))
            for n, p in model.named_parameters()
        }


def _lora_args(config: SFTConfig, model: Any) -> dict[str, Any]:
    """The adapter settings both backends take (unsloth's get_peft_model, peft's LoraConfig)."""
    args: dict[str, Any] = {
        "r": config.lora_r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "target_modules": list(config.target_modules),
        "bias": "none",
    }
    if config.lora_layers > 0:
        total = int(model.config.num_hidden_layers)
        args["layers_to_transform"] = list(range(max(total - config.lora_layers, 0), total))
    return args


def _load(config: SFTConfig, backend: str, base: Path) -> tuple[Any, Any]:
    import torch

    if backend == "unsloth":
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=str(base),
            max_seq_length=config.max_seq_len,
            dtype=None,
            load_in_4bit=config.load_in_4bit,
            load_in_8bit=config.load_in_8bit,
        )
        model = FastLanguageModel.get_peft_model(
            model,
            **_lora_args(config, model),
            use_gradient_checkpointing="unsloth",
            random_state=config.seed,
        )
        return model, tokenizer
    try:
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise missing_extra("peft", "train") from error
    cuda = torch.cuda.is_available()
    dtype = {
        "auto": torch.bfloat16 if cuda else torch.float32,
        "float32": torch.float32,
        "bfloat16": torch.bfloat16,
        "float16": torch.float16,
    }[config.dtype]
    kwargs: dict[str, Any] = {"dtype": dtype}
    if config.load_in_4bit or config.load_in_8bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=config.load_in_4bit,
            load_in_8bit=config.load_in_8bit,
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_quant_type="nf4",
        )
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    if cuda and "quantization_config" not in kwargs:
        model = model.to("cuda")  # type: ignore[arg-type]
    if config.load_in_4bit or config.load_in_8bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.gradient_checkpointing
        )
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    return get_peft_model(
        model, LoraConfig(**_lora_args(config, model), task_type="CAUSAL_LM")
    ), tokenizer


def _response_trainer(base: Any) -> Any:
    """trl's SFTTrainer with :func:`response_loss` (unsloth keeps its own patched loss)."""

    class ResponseOnlySFTTrainer(base):
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            loss = response_loss(model, inputs)
            return (loss, None) if return_outputs else loss

    return ResponseOnlySFTTrainer


def train(config: SFTConfig, output_dir: str | Path) -> SFTResult:
    """Fine-tune, measure before/after, save the adapter and metrics.json."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    backend = choose_backend(config)  # imports unsloth first when it is used
    import torch

    if config.torch_threads and not torch.cuda.is_available():
        torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = resolve_base(config.base_model)
    train_rows, eval_rows = split_held_out(config)
    model, tokenizer = _load(config, backend, base)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    timings["load_s"] = time.perf_counter() - t0
    train_tok, train_stats = tokenize_examples(tokenizer, train_rows, config.max_seq_len)
    eval_tok, _ = tokenize_examples(tokenizer, eval_rows, config.max_seq_len)
    gen_rows = generation_rows(eval_rows, config.eval_examples)
    if not train_tok or not eval_tok:
        raise InputError("no training or held-out rows fit max_seq_len; raise it or cut passages")
    pad_id = tokenizer.pad_token_id
    before = _checksums(model)
    fast: Any = None
    if backend == "unsloth":
        import unsloth

        fast = unsloth.FastLanguageModel
    t = time.perf_counter()
    if fast:
        fast.for_inference(model)
    rate_before, samples_before = format_rate(model, tokenizer, gen_rows, config.max_new_tokens)
    loss_before = held_out_loss(model, eval_tok, pad_id)
    timings["eval_before_s"] = time.perf_counter() - t
    if fast:
        fast.for_training(model)

    from datasets import Dataset
    from trl import SFTConfig as TrlConfig
    from trl import SFTTrainer

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    args = TrlConfig(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        lr_scheduler_type=config.lr_scheduler,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=config.seed,
        bf16=bf16,
        fp16=cuda and not bf16,
        use_cpu=not cuda,
        dataset_kwargs={"skip_prepare_dataset": True},
        remove_unused_columns=False,
        max_length=config.max_seq_len,
        gradient_checkpointing=False,
        disable_tqdm=True,
    )
    trainer_class = SFTTrainer if backend == "unsloth" else _response_trainer(SFTTrainer)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_tok),
        data_collator=lambda batch: collate(batch, pad_id),
        processing_class=tokenizer,
    )
    t = time.perf_counter()
    trainer.train()
    timings["train_s"] = time.perf_counter() - t
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    trained_tokens = sum(len(r["input_ids"]) for r in train_tok) * max(config.epochs, 1)
    after = _checksums(model)
    lora_changed = [n for n in after if "lora_" in n and after[n] != before[n]]
    base_changed = [n for n in after if "lora_" not in n and after[n] != before[n]]
    t = time.perf_counter()
    if fast:
        fast.for_inference(model)
    rate_after, samples_after = format_rate(model, tokenizer, gen_rows, config.max_new_tokens)
    source_after, source_chance = source_citation(samples_after)
    loss_after = held_out_loss(model, eval_tok, pad_id)
    timings["eval_after_s"] = time.perf_counter() - t
    adapter = out / "adapter"
    model.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    timings["total_s"] = time.perf_counter() - t0
    metrics = {
        "backend": backend,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "base_model": str(base),
        "config": asdict(config),
        "train_examples": len(train_tok),
        "eval_examples": len(eval_tok),
        "format_examples": len(gen_rows),
        "tokenization": train_stats,
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
        "train_losses": losses,
        "steps": trainer.state.global_step,
        "eval_loss_before": loss_before,
        "eval_loss_after": loss_after,
        "format_rate_before": rate_before,
        "format_rate_after": rate_after,
        # format_rate counts a refusal as well-formed, so a model that always refuses
        # scores 1.0: these two say whether it cites/refuses on the right examples.
        "refusal_rate_after": sample_share(samples_after, "refused"),
        "decision_accuracy_before": sample_share(samples_before, "right_decision"),
        "decision_accuracy_after": sample_share(samples_after, "right_decision"),
        "format_refusal_targets": sum(1 for r in gen_rows if is_refusal_row(r)),
        "source_citation_before": source_citation(samples_before)[0],
        "source_citation_after": source_after,
        "source_citation_chance": source_chance,
        "lora_tensors_changed": len(lora_changed),
        "base_tensors_changed": len(base_changed),
        "train_tokens_per_s": trained_tokens / timings["train_s"] if timings["train_s"] else None,
        "timings": timings,
    }
    write_json(out / "metrics.json", metrics)
    write_jsonl(
        out / "format_samples.jsonl",
        [{"phase": "before", **s} for s in samples_before]
        + [{"phase": "after", **s} for s in samples_after],
    )
    return SFTResult(out, adapter, metrics)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.sft",
        description=__doc__,
        epilog="Config keys:\n" + config_help(SFTConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, help="YAML file with SFTConfig keys")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--train-file", dest="train_file")
    parser.add_argument("--base-model", dest="base_model")
    parser.add_argument("--backend")
    args = parser.parse_args(argv)
    overrides = {
        "train_file": args.train_file,
        "base_model": args.base_model,
        "backend": args.backend,
    }
    try:
        result = train(load_config(SFTConfig, args.config, overrides), args.output_dir)
    except FnragError as error:
        print(f"sft: error: {error}", file=sys.stderr)
        return 2
    keys = (
        "backend",
        "train_loss_first",
        "train_loss_last",
        "format_rate_before",
        "format_rate_after",
        "decision_accuracy_after",
        "source_citation_after",
        "source_citation_chance",
    )
    print(json.dumps({k: result.metrics[k] for k in keys}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
