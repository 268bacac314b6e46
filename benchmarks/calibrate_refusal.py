"""Calibrate the weak-evidence refusal thresholds of ``fnrag.answering.refusal``.

Usage::

    python benchmarks/calibrate_refusal.py --index INDEX_DIR [--dev ../shared/corpus/dev_qa.jsonl]

Computes coverage / best cosine / best BM25 for dev_qa (in-scope and
out_of_scope) and the written questions in ``refusal_questions.py``, then prints
the refusal rates of the default policy and a small grid, so the thresholds are
chosen on more than the two dev out-of-scope items.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from refusal_questions import IN_SCOPE, OFF_TOPIC

from fnrag.answering.refusal import Evidence, RefusalPolicy, ScopeScorer, measure, with_scope
from fnrag.index.search import Index, load_index


def features(index: Index, questions: list[str], k: int = 5) -> list[Evidence]:
    scope = ScopeScorer(index)
    retrievals = [index.retrieve(q, k=k) for q in questions]
    return [with_scope(measure(r.plan.tokens, r.hits, top=3), scope(r)) for r in retrievals]


def rate(policy: RefusalPolicy, evidence: list[Evidence]) -> float:
    return sum(policy.refuse(e) for e in evidence) / max(1, len(evidence))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", required=True)
    parser.add_argument(
        "--dev", default=str(Path(__file__).resolve().parents[2] / "shared/corpus/dev_qa.jsonl")
    )
    args = parser.parse_args()
    index = load_index(args.index)
    dev = [
        json.loads(line)
        for line in Path(args.dev).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    groups = {
        "dev in-scope": [d["q"] for d in dev if not d.get("out_of_scope")],
        "dev out-of-scope": [d["q"] for d in dev if d.get("out_of_scope")],
        "written in-scope": list(IN_SCOPE),
        "written off-topic": list(OFF_TOPIC),
    }
    evidence = {name: features(index, qs) for name, qs in groups.items()}
    for name, qs in groups.items():
        print(f"## {name}")
        for q, e in zip(qs, evidence[name], strict=True):
            print(
                f"  scope={e.scope or 0:.3f} cov={e.coverage:.2f} dense={e.dense or 0:.3f} "
                f"bm25={e.lexical or 0:6.2f}  {q}  missing={list(e.missing)}"
            )
    print("\n## refusal rates: policy → " + " | ".join(groups))
    policies = [RefusalPolicy()] + [
        RefusalPolicy(min_scope=s, scope_coverage=c)
        for s in (0.850, 0.855, 0.858, 0.860, 0.861, 0.862, 0.864, 0.866, 0.870)
        for c in (0.0, 0.25, 0.4)
    ]
    for policy in policies:
        rates = " | ".join(f"{rate(policy, evidence[name]):.2f}" for name in groups)
        print(f"  scope>={policy.min_scope} cov>={policy.scope_coverage}: {rates}")


if __name__ == "__main__":
    main()
