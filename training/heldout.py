"""The held-out split and what is measured on it: format, decisions, passage choice.

Kept apart from the training loop so the sweep and the tests can use the split and the
metrics without loading a model.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from fnrag.errors import InputError
from fnrag.prompts import REFUSAL_SENTENCE
from training.config import SFTConfig, read_jsonl
from training.textutil import cited_numbers, is_valid_format


def format_rate(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], max_new_tokens: int, batch: int = 8
) -> tuple[float, list[dict[str, Any]]]:
    """Share of generated answers that cite only valid [n] or are exactly the refusal."""
    import torch

    model.eval()
    tokenizer.padding_side = "left"
    samples = []
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        enc = tokenizer([r["prompt"] for r in part], return_tensors="pt", padding=True).to(
            model.device
        )
        with torch.no_grad():
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        for row, ids in zip(part, out[:, enc["input_ids"].shape[1] :], strict=True):
            text = tokenizer.decode(ids, skip_special_tokens=True).strip()
            ok = is_valid_format(text, row["n_passages"], REFUSAL_SENTENCE)
            refused = text == REFUSAL_SENTENCE
            wanted = is_refusal_row(row)
            source = row.get("source_position")
            samples.append(
                {
                    "id": row.get("id"),
                    "generated": text,
                    "target": row["completion"],
                    "valid": ok,
                    "refused": refused,
                    # refuse when the target refuses, else give a well-formed citing answer
                    "right_decision": refused if wanted else (ok and not refused),
                    "n_passages": row["n_passages"],
                    "source_position": source,
                    # Passage choice, not just format: the passage holding the answer is cited.
                    "cites_source": (not wanted and source is not None and not refused and ok)
                    and source in cited_numbers(text),
                }
            )
    tokenizer.padding_side = "right"
    return (sum(s["valid"] for s in samples) / len(samples) if samples else 0.0), samples


def sample_share(samples: Sequence[dict[str, Any]], key: str) -> float:
    """Share of samples whose ``key`` is true (0.0 for none)."""
    return sum(1 for s in samples if s[key]) / len(samples) if samples else 0.0


def is_refusal_row(row: dict[str, Any]) -> bool:
    return bool(row.get("refusal")) or row.get("completion") == REFUSAL_SENTENCE


def source_citation(samples: Sequence[dict[str, Any]]) -> tuple[float | None, float | None]:
    """(share of answerable samples citing the passage that holds the answer, chance level).

    Chance is what citing one passage uniformly at random would score: the mean of
    1 / n_passages. A model that learned the format but not passage choice sits there.
    """
    answerable = [s for s in samples if s.get("source_position")]
    if not answerable:
        return None, None
    rate = sum(1 for s in answerable if s["cites_source"]) / len(answerable)
    chance = sum(1 / s["n_passages"] for s in answerable) / len(answerable)
    return rate, chance


def generation_rows(rows: Sequence[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The held-out rows to generate for, refusal targets in proportion (at least one).

    Without this a small generated set can hold no refusal target, and then decision
    accuracy only says whether the model cites, not whether it refuses when it should.
    """
    if not limit or limit >= len(rows):
        return list(rows)
    refusals = [r for r in rows if is_refusal_row(r)]
    answerable = [r for r in rows if not is_refusal_row(r)]
    n_refusal = min(
        len(refusals), max(1 if refusals else 0, round(limit * len(refusals) / len(rows)))
    )
    n_answer = min(len(answerable), limit - n_refusal)
    return answerable[:n_answer] + refusals[: limit - n_answer]


def split_held_out(config: SFTConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = list(read_jsonl(config.train_file))
    if config.eval_file:
        return rows, list(read_jsonl(config.eval_file))
    # Stratified: the held-out split keeps the refusal share of the data, so both
    # decisions (cite, refuse) are measured.
    rng = random.Random(config.seed)
    held: set[int] = set()
    for want_refusal in (False, True):
        group = [i for i, r in enumerate(rows) if is_refusal_row(r) == want_refusal]
        rng.shuffle(group)
        # At least one of each kind, unless that would leave none of it to train on.
        least = 1 if len(group) >= 2 else 0
        held.update(group[: max(least, round(config.eval_fraction * len(group)))])
    if len(held) >= len(rows):
        raise InputError(
            f"{config.train_file}: too few rows to hold {config.eval_fraction:.0%} out"
        )
    return [r for i, r in enumerate(rows) if i not in held], [
        r for i, r in enumerate(rows) if i in held
    ]
