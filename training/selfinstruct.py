"""Self-instruct: ask an OpenAI-compatible model for Korean Q/A pairs grounded in each chunk.

    python -m training.selfinstruct --index DIR --out qa.jsonl --base-url URL --model NAME \
        [--per-chunk N] [--config selfinstruct.yaml]

Writes Alpaca JSON lines (instruction, input "", output, plus id, chunk_id, source,
section) and ``<out>.summary.json`` with the counts of every path taken: responses
parsed as-is (ok), parsed after repair (repaired), unparseable (skipped), pairs dropped
as near-duplicates or as ungrounded. Re-running resumes: chunks already in the output
(or recorded as done in the summary) are skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fnrag.errors import FnragError, GenerationError, missing_extra
from fnrag.types import Chunk
from training.config import config_help, load_config, opt, read_jsonl, write_json, write_jsonl
from training.textutil import char_ngrams, grounding_score, jaccard, qa_record

SYSTEM_PROMPT = (
    "당신은 금융실명제 문서로 학습 데이터를 만드는 전문가입니다. 설명 없이 JSON만 출력하세요."
)
USER_TEMPLATE = (
    "다음 발췌문만 근거로 한국어 질문과 답변 {n}쌍을 만드세요. 답변은 발췌문의 표현을 "
    "그대로 쓰고, 발췌문에 없는 내용은 쓰지 마세요.\n"
    '형식: [{{"question": "질문", "answer": "답변"}}]\n\n'
    "출처: {section}\n발췌문:\n{text}"
)


@dataclass(frozen=True)
class SelfInstructConfig:
    index: str = opt("", "Index directory (fnrag build-index output) whose chunks are used.")
    out: str = opt("qa.jsonl", "Output Alpaca JSON lines; appended to when resuming.")
    base_url: str = opt("http://127.0.0.1:8000/v1", "OpenAI-compatible endpoint URL.")
    model: str = opt("gpt-4o", "Model name sent to the endpoint.")
    api_key: str = opt("", "API key; empty uses $OPENAI_API_KEY, else a placeholder.")
    per_chunk: int = opt(3, "Question/answer pairs requested per chunk.")
    max_chunks: int = opt(0, "Stop after this many chunks (0 = all); for trials.")
    temperature: float = opt(0.7, "Sampling temperature.")
    max_tokens: int = opt(768, "Completion token limit per request.")
    timeout: float = opt(120.0, "Seconds before one request is abandoned.")
    retries: int = opt(4, "Retries per chunk after API errors (exponential backoff).")
    backoff: float = opt(1.0, "First backoff delay in seconds; doubles on each retry.")
    json_mode: bool = opt(False, "Send response_format json_object (if the server has it).")
    dedup_threshold: float = opt(
        0.8, "Drop a question whose char-3-gram Jaccard with a kept one is >= this."
    )
    grounding_threshold: float = opt(
        0.6, "Drop an answer whose content tokens are < this share present in the chunk."
    )
    min_answer_chars: int = opt(2, "Drop answers shorter than this.")


@dataclass(frozen=True)
class ParseResult:
    """Pairs from one response and how they were obtained: ok, repaired or skipped."""

    pairs: tuple[tuple[str, str], ...]
    status: str


@dataclass
class Counts:
    chunks_total: int = 0
    chunks_resumed: int = 0
    chunks_processed: int = 0
    responses_ok: int = 0
    responses_repaired: int = 0
    responses_skipped: int = 0
    api_errors: int = 0
    api_retries: int = 0
    pairs_parsed: int = 0
    pairs_invalid: int = 0
    pairs_duplicate: int = 0
    pairs_ungrounded: int = 0
    pairs_written: int = 0


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([\]}])")


def _first_json_block(text: str) -> str | None:
    """The first balanced [...] or {...} in ``text`` (string-aware), or None."""
    starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    stack: list[str] = []
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return text[start : i + 1]
    return None


def _pairs_from(data: Any) -> list[tuple[str, str]] | None:
    """Accept a list of objects, {"pairs"|"items"|...: [...]}, or one object."""
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, list):
                return _pairs_from(value)
        data = [data]
    if not isinstance(data, list):
        return None
    pairs = []
    for item in data:
        if not isinstance(item, dict):
            continue
        q = item.get("question", item.get("질문", item.get("instruction")))
        a = item.get("answer", item.get("답변", item.get("output")))
        if isinstance(q, str) and isinstance(a, str):
            pairs.append((q.strip(), a.strip()))
    return pairs or None


def parse_pairs(text: str) -> ParseResult:
    """Strict ``json.loads`` first; then repairs: code fences, first JSON block, trailing commas."""
    try:
        pairs = _pairs_from(json.loads(text))
        if pairs:
            return ParseResult(tuple(pairs), "ok")
    except (json.JSONDecodeError, ValueError):
        pass
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        for variant in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            block = _first_json_block(variant)
            if block is None:
                continue
            for attempt in (block, _TRAILING_COMMA.sub(r"\1", block)):
                try:
                    pairs = _pairs_from(json.loads(attempt))
                except (json.JSONDecodeError, ValueError):
                    continue
                if pairs:
                    return ParseResult(tuple(pairs), "repaired")
    return ParseResult((), "skipped")


def summary_path(out: str | Path) -> Path:
    return Path(f"{out}.summary.json")


def _make_client(config: SelfInstructConfig) -> Any:
    try:
        from openai import OpenAI
    except ImportError as error:
        raise missing_extra("openai", "openai") from error
    key = config.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
    # Our own retry loop counts retries; the client's would hide them.
    return OpenAI(base_url=config.base_url, api_key=key, timeout=config.timeout, max_retries=0)


def _complete(
    client: Any,
    config: SelfInstructConfig,
    chunk: Chunk,
    counts: Counts,
    sleep: Callable[[float], None],
) -> str | None:
    import openai

    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": USER_TEMPLATE.format(
                n=config.per_chunk, section=chunk.section, text=chunk.text
            ),
        },
    ]
    extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if config.json_mode else {}
    for attempt in range(config.retries + 1):
        try:
            response = client.chat.completions.create(
                model=config.model,
                messages=messages,
                temperature=config.temperature,
                max_tokens=config.max_tokens,
                **extra,
            )
            return response.choices[0].message.content or ""
        except (
            openai.APIConnectionError,
            openai.APITimeoutError,
            openai.RateLimitError,
            openai.InternalServerError,
        ) as error:
            counts.api_errors += 1
            if attempt == config.retries:
                raise GenerationError(
                    f"{config.base_url} failed {attempt + 1} times ({error}); check the server, "
                    "then re-run the same command to resume"
                ) from error
            counts.api_retries += 1
            sleep(config.backoff * 2**attempt)
    return None


def generate(
    config: SelfInstructConfig,
    chunks: Sequence[Chunk] | None = None,
    client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Run self-instruct over ``chunks`` (default: the index's), returning the summary."""
    if chunks is None:
        from fnrag.index.search import load_index

        chunks = load_index(config.index).chunks
    out = Path(config.out)
    records = list(read_jsonl(out)) if out.is_file() else []
    previous = (
        json.loads(summary_path(out).read_text(encoding="utf-8"))
        if summary_path(out).is_file()
        else {}
    )
    done = {r.get("chunk_id") for r in records} | set(previous.get("chunks_done", []))
    counts = Counts(chunks_total=len(chunks))
    kept_grams = [char_ngrams(r["instruction"]) for r in records]
    client = client or _make_client(config)
    todo = [c for c in chunks if c.chunk_id not in done]
    counts.chunks_resumed = len(chunks) - len(todo)
    if config.max_chunks:
        todo = todo[: config.max_chunks]
    for chunk in todo:
        text = _complete(client, config, chunk, counts, sleep)
        parsed = parse_pairs(text or "")
        setattr(
            counts, f"responses_{parsed.status}", getattr(counts, f"responses_{parsed.status}") + 1
        )
        counts.pairs_parsed += len(parsed.pairs)
        for number, (question, answer) in enumerate(parsed.pairs):
            if len(question) < 2 or len(answer) < config.min_answer_chars:
                counts.pairs_invalid += 1
                continue
            grams = char_ngrams(question)
            if any(jaccard(grams, other) >= config.dedup_threshold for other in kept_grams):
                counts.pairs_duplicate += 1
                continue
            if grounding_score(answer, chunk.text) < config.grounding_threshold:
                counts.pairs_ungrounded += 1
                continue
            kept_grams.append(grams)
            records.append(qa_record(chunk, f"{chunk.chunk_id}-{number}", question, answer))
            counts.pairs_written += 1
        done.add(chunk.chunk_id)
        counts.chunks_processed += 1
        # Written after every chunk so an interruption loses at most one request.
        write_jsonl(out, records)
        summary = _summary(config, counts, previous, done, len(records))
        write_json(summary_path(out), summary)
    summary = _summary(config, counts, previous, done, len(records))
    write_json(summary_path(out), summary)
    return summary


def _summary(
    config: SelfInstructConfig, counts: Counts, previous: dict[str, Any], done: set[Any], total: int
) -> dict[str, Any]:
    totals = dict(previous.get("totals", {}))
    run = dataclasses.asdict(counts)
    return {
        "base_url": config.base_url,
        "model": config.model,
        "this_run": run,
        "totals": {
            k: totals.get(k, 0) + v
            for k, v in run.items()
            if k not in ("chunks_total", "chunks_resumed")
        },
        "records_in_file": total,
        "chunks_done": sorted(str(c) for c in done if c),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.selfinstruct",
        description=__doc__,
        epilog="Config keys:\n" + config_help(SelfInstructConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file with SelfInstructConfig keys")
    for name in ("index", "out", "base_url", "model", "api_key"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name)
    parser.add_argument("--per-chunk", dest="per_chunk", type=int)
    parser.add_argument("--max-chunks", dest="max_chunks", type=int)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k != "config" and v is not None}
    try:
        config = load_config(SelfInstructConfig, args.config, overrides)
        if not config.index:
            parser.error("--index is required")
        summary = generate(config)
    except FnragError as error:
        print(f"selfinstruct: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary["this_run"], ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
