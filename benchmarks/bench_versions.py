"""Law versions end to end: two versions in one index, as-of questions, amendments
without re-tuning.

Runs, in one process, on ../shared/corpus:

1. **Single vs both versions.** Index A: the README's six files. Index B: the same
   plus the 2016 texts (laws/2016-08), built by rebuilding a copy of A in place (only
   the chunks the 2016 texts add are embedded). On dev_qa and tune_qa, questions
   without ``as_of``: hit@1/hit@5/MRR@10 on A and B, and how many top-5 passages and
   citations of B are superseded text (target 0, scores not below A's).
2. **As-of pairs** (benchmarks/data/asof_qa.jsonl: each question once with an
   ``as_of`` on which the 2016 texts were in force, once without): hit@5, the right
   version cited (a gold passage, whose anchor exists only in that version, among the
   citations), citations of a version not in force on the date (target 0).
3. **Amendments without re-tuning.** Index C: the 2016 texts only; the pairs' "now"
   questions are answered from 2016 text. Today's texts are added and C rebuilt in
   place: chunks embedded vs reused and the rebuild time are reported, and the same
   questions answered again — from the new text. Nothing is trained: the generator
   (the extractive default, or any LoRA adapter) is the same object before and after.

    python benchmarks/bench_versions.py [--json-out benchmarks/results/versions.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fnrag.answering.assistant import Assistant  # noqa: E402
from fnrag.evaluation.metrics import is_gold  # noqa: E402
from fnrag.evaluation.qa import load_qa  # noqa: E402
from fnrag.evaluation.runner import evaluate_retrieval  # noqa: E402
from fnrag.index.build import build_index  # noqa: E402
from fnrag.index.search import load_index  # noqa: E402
from fnrag.versions.chains import IN_FORCE, UNDATED, status  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_ask import gold_cited  # noqa: E402
from bench_retrieval import FILES as README_FILES  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
OLD_FILES = (
    "laws/2016-08/금융실명법_법률.md",
    "laws/2016-08/금융실명법_시행령.md",
    "laws/2016-08/금융실명법_시행규칙.md",
)
TODAY_LAWS = README_FILES[:3]


def _paths(names: tuple[str, ...]) -> list[str]:
    return [str(CORPUS / n) for n in names]


def _in_force(item: object, day: str) -> bool:
    return status(item, date.fromisoformat(day)) in (IN_FORCE, UNDATED)


def retrieval_scores(index, items) -> dict[str, float]:
    def search(query: str, depth: int, **dated):
        return index.search(query, k=depth, **dated)

    result = evaluate_retrieval("hybrid", search, index.chunks, items)
    return {k: round(v, 3) for k, v in result.scores.to_json().items() if isinstance(v, float)}


def search_latency_ms(index, items, **dated) -> dict[str, float]:
    """Warm hybrid search p50 / p95 over the questions (one untimed warm-up)."""
    questions = [i.question for i in items if i.in_scope]
    index.search(questions[0], k=5, **dated)
    times = []
    for question in questions * 3:
        started = time.perf_counter()
        index.search(question, k=5, **dated)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50": round(times[len(times) // 2], 1), "p95": round(times[int(len(times) * 0.95)], 1)}


def superseded_counts(index, assistant, items) -> dict[str, int]:
    today = date.today().isoformat()
    top5 = cited = 0
    for item in items:
        if not item.in_scope:
            continue
        top5 += sum(not _in_force(h, today) for h in index.search(item.question, k=5))
        answer = assistant.ask(item.question)
        cited += sum(not _in_force(c, today) for c in answer.citations)
    return {"superseded_in_top5": top5, "superseded_cited": cited}


def as_of_scores(index, assistant, items) -> dict[str, object]:
    hit5 = right = version_ok = wrong_version = n = 0
    rows = []
    for item in items:
        day = item.as_of or date.today().isoformat()
        hits = index.search(item.question, k=5, as_of=item.as_of)
        found = any(is_gold(h.source, h.text, item.gold) for h in hits)
        answer = assistant.ask(item.question, as_of=item.as_of)
        good = gold_cited(answer, item.gold)
        bad = sum(not _in_force(c, day) for c in answer.citations)
        # The law version in force on the date cited (its file is the gold's), whether
        # or not the passage is the gold one.
        docs = {g.doc for g in item.gold}
        in_force_law = any(any(c.source.endswith(d) for d in docs) for c in answer.citations)
        version_ok += in_force_law and not bad
        n += 1
        hit5 += found
        right += good
        wrong_version += bad
        rows.append(
            {
                "id": item.id,
                "as_of": day,
                "hit@5": found,
                "right_version_cited": good,
                "cited_versions": [c.version for c in answer.citations],
                "notices": list(answer.notices),
            }
        )
    return {
        "n": n,
        "hit@5": round(hit5 / n, 3),
        "right_version_cited": round(right / n, 3),
        "version_in_force_of_gold_law_cited": round(version_ok / n, 3),
        "citations_not_in_force": wrong_version,
        "questions": rows,
    }


def cited_gold(assistant, items, **dated) -> float:
    good = 0
    for item in items:
        good += gold_cited(assistant.ask(item.question, **dated), item.gold)
    return round(good / len(items), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"{CORPUS} is absent: this benchmark needs the shared corpus")
    dev = load_qa(CORPUS / "dev_qa.jsonl")
    tune = load_qa(REPO / "benchmarks" / "data" / "tune_qa.jsonl")
    pairs = load_qa(REPO / "benchmarks" / "data" / "asof_qa.jsonl")
    out: dict[str, object] = {"date": date.today().isoformat()}
    with tempfile.TemporaryDirectory() as tmp:
        single, both, old = Path(tmp, "single"), Path(tmp, "both"), Path(tmp, "old")
        started = time.perf_counter()
        build_index(_paths(README_FILES), single)
        out["single_build_s"] = round(time.perf_counter() - started, 1)
        shutil.copytree(single, both)
        started = time.perf_counter()
        report = build_index(_paths(README_FILES + OLD_FILES), both)
        out["both_rebuild"] = {
            "seconds": round(time.perf_counter() - started, 1),
            "chunks": report.chunks,
            "embedded": report.embedded,
            "reused": report.reused_embeddings,
        }
        a, b = load_index(single), load_index(both)
        ask_a = Assistant(a, log=False)
        ask_b = Assistant(b, log=False)
        for name, items in (("dev_qa", dev), ("tune_qa", tune)):
            out[name] = {
                "single": retrieval_scores(a, items),
                "both": retrieval_scores(b, items),
                "gold_cited_single": cited_gold(ask_a, [i for i in items if i.in_scope]),
                "gold_cited_both": cited_gold(ask_b, [i for i in items if i.in_scope]),
                **superseded_counts(b, ask_b, items),
            }
        out["asof_pairs"] = as_of_scores(b, ask_b, pairs)
        # A: unfiltered (FAISS); B: filtered (exact scores over the rows in force).
        out["search_ms"] = {
            "single_index": search_latency_ms(a, tune),
            "both_versions_today": search_latency_ms(b, tune),
            "both_versions_2017": search_latency_ms(b, tune, as_of="2017-03-01"),
        }

        now = [i for i in pairs if not i.as_of]
        build_index(_paths(OLD_FILES), old)
        c = Assistant(load_index(old), log=False)
        generator = c.generator
        before = cited_gold(c, now)
        started = time.perf_counter()
        report = build_index(_paths(OLD_FILES + TODAY_LAWS), old)
        seconds = time.perf_counter() - started
        c_after = Assistant(load_index(old), generator, log=False)
        out["amendment"] = {
            "now_questions": len(now),
            "gold_cited_2016_only": before,
            "rebuild_seconds": round(seconds, 1),
            "chunks": report.chunks,
            "embedded": report.embedded,
            "reused": report.reused_embeddings,
            "gold_cited_after_rebuild": cited_gold(c_after, now),
            "same_generator_object": c_after.generator is generator,
        }
    for key in ("dev_qa", "tune_qa"):
        print(key, json.dumps(out[key], ensure_ascii=False))
    pairs_out = {k: v for k, v in out["asof_pairs"].items() if k != "questions"}
    print("asof_pairs", json.dumps(pairs_out, ensure_ascii=False))
    print("both_rebuild", json.dumps(out["both_rebuild"]))
    print("search_ms", json.dumps(out["search_ms"]))
    print("amendment", json.dumps(out["amendment"]))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
