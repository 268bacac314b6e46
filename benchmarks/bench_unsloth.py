"""unsloth vs peft + trl on a Llama-3-8B-shaped model: tokens/s and peak GPU memory.

    python benchmarks/bench_unsloth.py --all --out results.json [--seq-len 2048 --batch 2 --steps 12]

Builds a Llama-3-8B-shaped model with random weights from its config (hidden 4096,
intermediate 14336, 32 layers, 32 heads, 8 KV heads, vocab 128256, rope_theta 500000;
no download: random weights are fine for speed), saves it once, then trains LoRA
(r 16, all linear layers) with trl's SFTTrainer on identical pre-tokenised random
data, the same sequence length, batch and steps, in one subprocess per variant
(unsloth patches transformers globally): peft bf16, unsloth bf16, peft 4-bit QLoRA,
unsloth 4-bit QLoRA. Both sides use gradient checkpointing (unsloth's own, HF's
non-reentrant one). Prints and writes tokens/s (timed steps after warm-up) and
peak allocated memory, with unsloth/peft ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("peft-bf16", "unsloth-bf16", "peft-4bit", "unsloth-4bit")


def build_model(path: Path) -> None:
    if (path / "config.json").is_file():
        return
    import torch
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    # transformers 5 stores rope_theta in rope_parameters (checked: 500000 kept).
    config = LlamaConfig(  # type: ignore[call-arg]
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        rope_theta=500000.0,
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3} | {f"t{i}": i + 4 for i in range(1000)}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    fast.save_pretrained(path)
    del model
    torch.cuda.empty_cache()


def run_variant(
    variant: str, model_dir: Path, seq_len: int, batch: int, steps: int, warmup: int
) -> dict:
    backend, quant = variant.split("-")
    if backend == "unsloth":
        import unsloth  # noqa: F401  (before transformers/trl/peft, as unsloth requires)
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    t0 = time.perf_counter()
    if backend == "unsloth":
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            str(model_dir),
            max_seq_length=seq_len,
            dtype=torch.bfloat16,
            load_in_4bit=quant == "4bit",
        )
        model = FastLanguageModel.get_peft_model(
            model,
            r=16,
            lora_alpha=16,
            lora_dropout=0.0,
            target_modules=targets,
            bias="none",
            use_gradient_checkpointing="unsloth",
            random_state=0,
        )
    else:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        kwargs: dict = {"dtype": torch.bfloat16, "device_map": {"": 0}}
        if quant == "4bit":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=torch.bfloat16,
            )
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
        if quant == "4bit":
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
        model = get_peft_model(
            model,
            LoraConfig(
                r=16,
                lora_alpha=16,
                lora_dropout=0.0,
                target_modules=targets,
                bias="none",
                task_type="CAUSAL_LM",
            ),
        )
    load_s = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(0)  # identical data for every variant
    rows = []
    for _ in range(batch * (steps + warmup)):
        ids = torch.randint(4, 128000, (seq_len,), generator=gen).tolist()
        rows.append({"input_ids": ids, "attention_mask": [1] * seq_len, "labels": ids})

    def collate(items: list) -> dict:
        return {
            k: torch.tensor([r[k] for r in items])
            for k in ("input_ids", "attention_mask", "labels")
        }

    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            torch.cuda.synchronize()
            marks.append(time.perf_counter())

    args = SFTConfig(
        output_dir=f"/tmp/bench-{variant}",
        per_device_train_batch_size=batch,
        max_steps=steps + warmup,
        learning_rate=1e-4,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=True,
        dataset_kwargs={"skip_prepare_dataset": True},
        remove_unused_columns=False,
        max_length=seq_len,
        disable_tqdm=True,
        seed=0,
        dataloader_num_workers=0,
        optim="adamw_torch",
        gradient_accumulation_steps=1,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        data_collator=collate,
        processing_class=tokenizer,
        callbacks=[Clock()],
    )
    torch.cuda.reset_peak_memory_stats()
    trainer.train()
    # unsloth's patched trainer may change accumulation; count what actually ran.
    accum = trainer.args.gradient_accumulation_steps
    timed = marks[warmup:]
    seconds = timed[-1] - marks[warmup - 1]
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return {
        "variant": variant,
        "seq_len": seq_len,
        "batch": batch,
        "timed_steps": len(timed),
        "tokens_per_s": len(timed) * accum * batch * seq_len / seconds,
        "grad_accum": accum,
        "s_per_step": seconds / len(timed),
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
        "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
        "load_s": load_s,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "device": torch.cuda.get_device_name(0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", choices=VARIANTS)
    parser.add_argument(
        "--all", action="store_true", help="run the given --variants in subprocesses"
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--model-dir", default="/tmp/llama3-8b-random")
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", default="bench_unsloth.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model_dir = Path(args.model_dir)
    if args.variant:
        result = run_variant(
            args.variant, model_dir, args.seq_len, args.batch, args.steps, args.warmup
        )
        Path(args.out).write_text(json.dumps(result))
        return 0
    t = time.perf_counter()
    build_model(model_dir)
    print(f"model built/saved in {time.perf_counter() - t:.1f} s", flush=True)
    existing = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    results = existing.get("results", {})
    for variant in args.variants.split(","):
        part = Path(f"{args.out}.{variant}.json")
        command = [
            sys.executable,
            __file__,
            "--variant",
            variant,
            "--model-dir",
            str(model_dir),
            "--seq-len",
            str(args.seq_len),
            "--batch",
            str(args.batch),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--out",
            str(part),
        ]
        t = time.perf_counter()
        done = subprocess.run(command)
        if done.returncode == 0 and part.is_file():
            results[variant] = json.loads(part.read_text())
            results[variant]["wall_s"] = time.perf_counter() - t
        else:
            results[variant] = {"variant": variant, "error": f"exit {done.returncode}"}
        print(json.dumps(results[variant]), flush=True)
    ratios = {}
    for quant in ("bf16", "4bit"):
        u, p = results.get(f"unsloth-{quant}", {}), results.get(f"peft-{quant}", {})
        if "tokens_per_s" in u and "tokens_per_s" in p:
            ratios[quant] = {
                "tokens_per_s_ratio": u["tokens_per_s"] / p["tokens_per_s"],
                "peak_mem_ratio": u["peak_mem_gib"] / p["peak_mem_gib"],
            }
    Path(args.out).write_text(json.dumps({"results": results, "ratios": ratios}, indent=2))
    print(json.dumps({"ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
