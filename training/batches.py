"""Tokenised SFT rows, their batches and the response-only loss.

The prompt is masked out of the labels and out of the LM head: only response tokens are
trained on and scored, as only they are generated at inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fnrag.errors import FnragError, InputError


def tokenize_examples(
    tokenizer: Any, rows: Sequence[dict[str, Any]], max_len: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """input_ids = prompt + completion + EOS; labels mask the prompt with -100.

    Prompt and completion are tokenised separately, as inference tokenises the
    prompt alone and generates from there. EOS is appended explicitly (Llama-3 base
    tokenizers do not add it) and checked in every row.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise InputError("the tokenizer has no eos_token; set one in its tokenizer_config.json")
    out, dropped = [], 0
    for row in rows:
        prompt_ids = tokenizer(row["prompt"], add_special_tokens=True)["input_ids"]
        answer_ids = tokenizer(row["completion"], add_special_tokens=False)["input_ids"] + [eos]
        ids = prompt_ids + answer_ids
        if len(ids) > max_len:
            dropped += 1
            continue
        labels = [-100] * len(prompt_ids) + answer_ids
        out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    eos_ok = sum(1 for r in out if r["labels"][-1] == eos and r["input_ids"][-1] == eos)
    if eos_ok != len(out):
        raise FnragError(f"EOS missing from {len(out) - eos_ok} tokenised targets")
    return out, {"rows": len(out), "dropped_too_long": dropped, "eos_verified": eos_ok}


def collate(batch: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(r["input_ids"]) for r in batch)

    def pad(key: str, value: int) -> Any:
        return torch.tensor([r[key] + [value] * (width - len(r[key])) for r in batch])

    return {
        "input_ids": pad("input_ids", pad_id),
        "attention_mask": pad("attention_mask", 0),
        "labels": pad("labels", -100),
    }


def response_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over response tokens, computing logits only there.

    A causal LM head over the whole sequence builds a (batch, seq, vocab) fp32 tensor
    (~1,200 x 49,152 floats per SmolLM2 row, plus its gradient); the prompt positions are
    masked anyway, so the head runs on the response positions alone.
    """
    import torch

    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = causal.model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    logits = causal.lm_head(hidden[:, :-1][keep]).float()
    return torch.nn.functional.cross_entropy(logits, labels[keep])


def held_out_loss(model: Any, rows: Sequence[dict[str, Any]], pad_id: int) -> float:
    """Mean response-token loss over held-out rows."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in rows:
            batch = {k: v.to(model.device) for k, v in collate([row], pad_id).items()}
            n = sum(1 for t in row["labels"][1:] if t != -100)
            total += float(response_loss(model, batch)) * n
            count += n
    return total / max(count, 1)
