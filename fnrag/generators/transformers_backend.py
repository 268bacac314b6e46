"""A local causal LM (transformers), optionally with a peft LoRA adapter.

The production case is the LoRA-tuned Llama-3-Open-Ko-8B; tests use SmolLM2-135M.
Greedy decoding by default (answers must be reproducible), a mild repetition
penalty (small models loop otherwise), and generation stops at EOS. Quotes are kept
verbatim in the shown passages while decoding (``fnrag.generators.verbatim``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fnrag.errors import GenerationError, InputError, missing_extra
from fnrag.generators.base import Generation
from fnrag.prompts import SYSTEM_PROMPT
from fnrag.types import Hit


class TransformersGenerator:
    """Generate with a local model folder (and optional adapter folder).

    Args:
        model: path of a transformers model folder (config + weights + tokenizer).
        adapter: path of a peft adapter folder trained on ``build_prompt``.
        device: ``"cpu"``, ``"cuda"``, … ; default: cuda when available.
        max_new_tokens: generation budget.
        do_sample / temperature / top_p: sampling (off by default).
        repetition_penalty: >1 discourages loops.
        chat_template: use the tokenizer's chat template (system + Alpaca prompt as
            user turn); None = when the tokenizer has one. Set False for adapters
            trained on the raw Alpaca prompt.
        dtype: torch dtype name, e.g. ``"bfloat16"``; default float32 on CPU,
            bfloat16 on GPU.
        verbatim: keep quotes verbatim while decoding: ``"cited"`` (in the passages the
            line's marker names, else any shown one), ``"shown"`` (any shown passage) or
            ``"off"``; markers may only name shown passages unless off.
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path | None = None,
        adapter: str | Path | None = None,
        device: str | None = None,
        max_new_tokens: int = 256,
        do_sample: bool = False,
        temperature: float = 0.7,
        top_p: float = 0.9,
        repetition_penalty: float = 1.1,
        chat_template: bool | None = None,
        dtype: str | None = None,
        verbatim: str = "cited",
    ) -> None:
        from fnrag.generators.verbatim import SCOPES

        if model is None:
            raise InputError(
                "the transformers generator needs a model folder: pass --model PATH "
                "(a local transformers checkpoint)"
            )
        self.model_path = Path(model)
        self.adapter_path = Path(adapter) if adapter is not None else None
        for label, path in (("model", self.model_path), ("adapter", self.adapter_path)):
            if path is not None and not path.is_dir():
                raise InputError(f"{label} folder {path} does not exist; pass an existing folder")
        # Numbers may arrive as text: fnrag eval's --generator NAME:key=value options.
        self.max_new_tokens = int(max_new_tokens)
        self.do_sample = do_sample
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.repetition_penalty = float(repetition_penalty)
        self.use_chat_template = chat_template
        if verbatim not in (*SCOPES, "off"):
            raise InputError(
                f"unknown verbatim setting {verbatim!r}; choose one of: "
                f"{', '.join((*SCOPES, 'off'))}"
            )
        self.verbatim = verbatim
        self._token_table: Any = None  # built on first use: ~2 s for a 262k vocabulary
        self._load(device, dtype)
        # One generate() at a time: HF models are not re-entrant on shared caches.
        self._lock = threading.Lock()

    def _load(self, device: str | None, dtype: str | None) -> None:
        # The hub is never reachable here; fail fast instead of retrying downloads.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype else None
        if torch_dtype is None:
            torch_dtype = torch.float32 if self.device == "cpu" else torch.bfloat16
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_path))
            model: Any = AutoModelForCausalLM.from_pretrained(
                str(self.model_path), dtype=torch_dtype
            )
        except (OSError, ValueError) as error:
            raise GenerationError(
                f"could not load the model from {self.model_path}: {error}; "
                "point --model at a transformers model folder"
            ) from error
        if self.adapter_path is not None:
            try:
                from peft import PeftModel
            except ImportError:
                raise missing_extra("peft", "train") from None
            model = PeftModel.from_pretrained(model, str(self.adapter_path))
        self.model = model.to(self.device).eval()
        if self.use_chat_template is None:
            self.use_chat_template = bool(getattr(self.tokenizer, "chat_template", None))

    def render(self, prompt: str) -> str:
        """The exact text fed to the model for an Alpaca ``prompt``."""
        if not self.use_chat_template:
            return prompt
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
        ]
        rendered = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return str(rendered)

    def _inputs(self, prompt: str) -> Any:
        # Chat templates already add BOS; the raw prompt gets the tokenizer's default.
        encoded = self.tokenizer(
            self.render(prompt), return_tensors="pt", add_special_tokens=not self.use_chat_template
        )
        return encoded.to(self.device)

    def _generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "repetition_penalty": self.repetition_penalty,
            "eos_token_id": self.tokenizer.eos_token_id,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p)
        else:
            # Explicit None keeps the model's generation_config sampling knobs from warning.
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs

    def logits_processors(self, prompts: Sequence[str], start: int) -> Any:
        """The processors for one ``generate`` call over ``prompts`` (Alpaca text, one per
        row) whose generated tokens begin at input position ``start``; None when off."""
        if self.verbatim == "off":
            return None
        from transformers import LogitsProcessorList

        from fnrag.generators.verbatim import TokenTable, VerbatimQuotes

        if self._token_table is None:
            self._token_table = TokenTable.of(self.tokenizer)
        eos = self.tokenizer.eos_token_id
        processor = VerbatimQuotes(
            self._token_table,
            prompts,
            start,
            always=[eos] if eos is not None else [],
            scope=self.verbatim,
        )
        return LogitsProcessorList([processor])

    def generate(self, prompt: str, *, question: str, passages: Sequence[Hit]) -> Generation:
        import torch

        started = time.perf_counter()
        inputs = self._inputs(prompt)
        prompt_length = int(inputs["input_ids"].shape[1])
        processors = self.logits_processors([prompt], prompt_length)
        with self._lock, torch.inference_mode():
            output = self.model.generate(
                **inputs, **self._generate_kwargs(), logits_processor=processors
            )
        new_tokens = output[0, prompt_length:]
        hit_eos = bool(len(new_tokens)) and int(new_tokens[-1]) == self.tokenizer.eos_token_id
        text = str(self.tokenizer.decode(new_tokens, skip_special_tokens=True)).strip()
        return Generation(
            text=text,
            finish_reason="stop" if hit_eos or len(new_tokens) < self.max_new_tokens else "length",
            prompt_tokens=prompt_length,
            completion_tokens=len(new_tokens),
            seconds=time.perf_counter() - started,
        )

    def stream(self, prompt: str, *, question: str, passages: Sequence[Hit]) -> Iterator[str]:
        """Yield decoded text pieces as the model produces them."""
        import torch
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        inputs = self._inputs(prompt)
        processors = self.logits_processors([prompt], int(inputs["input_ids"].shape[1]))

        def run() -> None:
            with self._lock, torch.inference_mode():
                self.model.generate(
                    **inputs,
                    **self._generate_kwargs(),
                    streamer=streamer,
                    logits_processor=processors,
                )

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        yield from streamer
        worker.join()

    def next_token_logits(self, prompt: str) -> Any:
        """Logits of the first answer token (used to compare base vs adapter)."""
        import torch

        with self._lock, torch.inference_mode():
            return self.model(**self._inputs(prompt)).logits[0, -1].float().cpu()
