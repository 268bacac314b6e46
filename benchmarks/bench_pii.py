"""PII masking recall and false-positive rate on the generated sets (issue 6, item 1).

Usage:
    python benchmarks/bench_pii.py [--seeds 5] [--per-kind 30] [--lookalikes 240]

Prints, per seed and in total: recall over real-format PII strings (valid check
digits computed in tests/pii_samples.py), false-positive rate over look-alikes
(article numbers, amounts, dates, statute numbers, page numbers …), kind accuracy,
and masking throughput.  Targets: recall >= 0.99, false positives <= 1%.

Half of each set are variants (issue 19): the same values with other dashes (– — − ﹣ －
…), no-break/thin/ideographic spaces and full-width digits, space-grouped account
numbers (1002 345 678901), and look-alikes written the same way (제４조의２, １００만원,
2016.\u00a012.\u00a01.); their figures are also printed on their own.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pii_samples import covered, lookalike_samples, pii_samples  # noqa: E402

from fnrag.answering.pii import mask_pii  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of generated sets")
    parser.add_argument("--per-kind", type=int, default=30, help="PII values per kind per set")
    parser.add_argument("--lookalikes", type=int, default=240, help="look-alikes per set")
    args = parser.parse_args()

    hits = total = flagged = clean = right = 0
    missed: Counter[str] = Counter()
    # (plain, variant) → [caught, positives, flagged, negatives]
    split = {False: [0, 0, 0, 0], True: [0, 0, 0, 0]}
    started = time.perf_counter()
    for seed in range(args.seeds):
        positives = pii_samples(seed, args.per_kind)
        negatives = lookalike_samples(seed, args.lookalikes)
        seed_hits = 0
        for sample in positives:
            split[sample.variant][1] += 1
            if covered(sample):
                seed_hits += 1
                split[sample.variant][0] += 1
                right += mask_pii(sample.text).replacements[0].kind == sample.kind
            else:
                missed[sample.kind] += 1
        seed_flagged = 0
        for sample in negatives:
            split[sample.variant][3] += 1
            if mask_pii(sample.text).masked:
                seed_flagged += 1
                split[sample.variant][2] += 1
        hits += seed_hits
        total += len(positives)
        flagged += seed_flagged
        clean += len(negatives)
        print(
            f"seed {seed}: recall {seed_hits / len(positives):.4f} ({seed_hits}/{len(positives)}), "
            f"false positives {seed_flagged / len(negatives):.4f} ({seed_flagged}/{len(negatives)})"
        )
    elapsed = time.perf_counter() - started
    calls = 2 * total + clean  # covered() masks once, kind check once more
    print(f"TOTAL recall {hits / total:.4f} ({hits}/{total})  target >= 0.99")
    print(f"TOTAL false-positive rate {flagged / clean:.4f} ({flagged}/{clean})  target <= 0.01")
    for is_variant, (caught, positive, wrong, negative) in split.items():
        print(
            f"  {'variants' if is_variant else 'plain   '}: recall {caught / positive:.4f} "
            f"({caught}/{positive}), false positives {wrong / negative:.4f} ({wrong}/{negative})"
        )
    print(f"kind accuracy {right / max(hits, 1):.4f}; misses by kind: {dict(missed) or 'none'}")
    print(f"throughput ~{calls / elapsed:,.0f} mask_pii calls/s on short sentences")
    return 0 if hits / total >= 0.99 and flagged / clean <= 0.01 else 1


if __name__ == "__main__":
    sys.exit(main())
