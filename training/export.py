"""Merge a LoRA adapter into its base, save a Hugging Face folder, convert to GGUF, verify.

    python -m training.export --base PATH --adapter PATH --out DIR [--gguf q8_0] \
        [--converter convert_hf_to_gguf.py] [--verify]

``--base smollm2`` / ``--base gemma3-270m`` mean the prepared folders. ``DIR/hf`` gets
the merged model and tokenizer (a tokenizer without a chat template gets
``RAW_PROMPT_TEMPLATE``, so a chat server renders the raw Alpaca prompt); with
``--gguf TYPE`` (f32, f16, bf16, q8_0) llama.cpp's converter writes ``DIR/model-TYPE.gguf``. The converter comes from ``--converter`` or
:func:`training.get_converter.ensure_converter` (llama-cpp-python's sdist, cached).
``--verify`` loads the GGUF with llama-cpp-python and generates a few tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fnrag.errors import FnragError, missing_extra
from training.config import write_json

GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")
# A pretrained base (Gemma 3 270M) has no chat template, and llama.cpp's server would then
# wrap messages in a guessed format the model never saw. fnrag's OpenAI generator sends the
# Alpaca prompt it was tuned on as the last message: render exactly that, after BOS.
RAW_PROMPT_TEMPLATE = "{{ bos_token }}{{ messages[-1]['content'] }}"


@dataclass(frozen=True)
class ExportResult:
    hf_dir: str
    gguf: str | None
    gguf_bytes: int | None
    verified_text: str | None
    timings: dict[str, float]


def merge(base: str, adapter: str | Path, out: Path) -> Path:
    """merge_and_unload the adapter into the base; save model + tokenizer to ``out``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise missing_extra("peft", "train") from error
    from training.sft import resolve_base

    base_dir = resolve_base(base)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged = merged.to(torch.bfloat16)
    merged.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = RAW_PROMPT_TEMPLATE
    tokenizer.save_pretrained(out)
    return out


def convert(hf_dir: Path, outfile: Path, outtype: str, converter: str | Path | None = None) -> Path:
    """Run llama.cpp's convert_hf_to_gguf.py (with its own gguf-py) on ``hf_dir``."""
    if outtype not in GGUF_TYPES:
        raise FnragError(f"--gguf must be one of {', '.join(GGUF_TYPES)}, not {outtype!r}")
    if converter is None:
        from training.get_converter import ensure_converter

        converter = ensure_converter()
    script = Path(converter)
    if not script.is_file():
        raise FnragError(f"converter {script} not found; run python -m training.get_converter")
    tmp = outfile.with_name(f".{outfile.name}.part")
    command = [
        sys.executable,
        str(script),
        str(hf_dir),
        "--outfile",
        str(tmp),
        "--outtype",
        outtype,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise FnragError(f"GGUF conversion failed: {done.stderr.strip()[-800:]}")
    os.replace(tmp, outfile)
    return outfile


def verify_gguf(path: Path, prompt: str = "### Response:\n") -> str:
    """Load the GGUF with llama-cpp-python and return a short greedy continuation."""
    try:
        from llama_cpp import Llama
    except ImportError as error:
        raise missing_extra("llama-cpp-python", "train") from error
    llm = Llama(model_path=str(path), n_ctx=512, verbose=False)
    out: Any = llm(prompt, max_tokens=8, temperature=0.0)
    return str(out["choices"][0]["text"])


def export(
    base: str,
    adapter: str | Path,
    out: str | Path,
    gguf: str | None = None,
    converter: str | Path | None = None,
    verify: bool = False,
) -> ExportResult:
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    timings = {}
    t = time.perf_counter()
    hf_dir = merge(base, adapter, target / "hf")
    timings["merge_s"] = time.perf_counter() - t
    gguf_path, text = None, None
    if gguf:
        t = time.perf_counter()
        gguf_path = convert(hf_dir, target / f"model-{gguf}.gguf", gguf, converter)
        timings["convert_s"] = time.perf_counter() - t
        if verify:
            text = verify_gguf(gguf_path)
    result = ExportResult(
        str(hf_dir),
        str(gguf_path) if gguf_path else None,
        gguf_path.stat().st_size if gguf_path else None,
        text,
        timings,
    )
    write_json(target / "export.json", asdict(result))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base", required=True, help="base HF folder, or 'smollm2'")
    parser.add_argument(
        "--adapter", required=True, help="adapter folder (training.sft DIR/adapter)"
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--gguf", choices=GGUF_TYPES, help="also write a GGUF of this type")
    parser.add_argument("--converter", help="path to llama.cpp's convert_hf_to_gguf.py")
    parser.add_argument("--verify", action="store_true", help="load the GGUF with llama-cpp-python")
    args = parser.parse_args(argv)
    try:
        result = export(args.base, args.adapter, args.out, args.gguf, args.converter, args.verify)
    except FnragError as error:
        print(f"export: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
