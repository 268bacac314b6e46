"""Expert review round-trip for self-instruct pairs: CSV out, decisions back in.

    python -m training.review export --qa qa.jsonl --csv review.csv
    python -m training.review import --qa qa.jsonl --csv review.csv --out reviewed.jsonl

The CSV (UTF-8 with BOM, so Excel shows Korean) has columns id, question, answer,
source_section, chunk_id, decision, comment. Reviewers set decision to accept, edit
(the edited question/answer cells are applied) or reject; import keeps accept + edit
and drops reject and blank rows, reporting the counts. A decision outside those,
an unknown id or an emptied edit is an error naming the CSV row.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fnrag.errors import FnragError, InputError
from training.config import atomic_write_text, read_jsonl, write_jsonl

COLUMNS = ("id", "question", "answer", "source_section", "chunk_id", "decision", "comment")
DECISIONS = ("accept", "edit", "reject")
# Reviewers may answer in Korean; both spellings mean the same decision.
_ALIASES = {"승인": "accept", "수정": "edit", "거절": "reject", "반려": "reject"}


@dataclass(frozen=True)
class ReviewResult:
    accepted: int
    edited: int
    rejected: int
    blank: int
    kept: int


def export_csv(qa: str | Path, csv_path: str | Path) -> int:
    """Write the review sheet; returns the number of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    rows = 0
    for number, record in enumerate(read_jsonl(qa), 1):
        if not record.get("id"):
            raise InputError(
                f"{qa} record {number} has no id; regenerate it with training.selfinstruct"
            )
        writer.writerow(
            [
                record["id"],
                record.get("instruction", ""),
                record.get("output", ""),
                record.get("section", ""),
                record.get("chunk_id", ""),
                "",
                "",
            ]
        )
        rows += 1
    atomic_write_text(csv_path, "\ufeff" + buffer.getvalue(), encoding="utf-8")
    return rows


def _decision(raw: str, row: int, record_id: str) -> str:
    value = raw.strip().lower()
    value = _ALIASES.get(value, value)
    if value and value not in DECISIONS:
        raise InputError(
            f"review CSV row {row} (id {record_id}): decision {raw!r} is not one of "
            f"{', '.join(DECISIONS)} (or blank); fix the cell and import again"
        )
    return value


def import_csv(qa: str | Path, csv_path: str | Path, out: str | Path) -> ReviewResult:
    """Apply the sheet's decisions to ``qa`` and write the kept records to ``out``."""
    originals = {r["id"]: r for r in read_jsonl(qa)}
    path = Path(csv_path)
    if not path.is_file():
        raise InputError(
            f"{path} not found; export it first with: python -m training.review export"
        )
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = [
        c for c in ("id", "question", "answer", "decision") if c not in (reader.fieldnames or [])
    ]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; keep the exported header"
        )
    counts = {"accept": 0, "edit": 0, "reject": 0, "": 0}
    kept: list[dict[str, Any]] = []
    for row_number, row in enumerate(reader, 2):  # row 1 is the header
        record_id = (row.get("id") or "").strip()
        if record_id not in originals:
            raise InputError(f"review CSV row {row_number}: id {record_id!r} is not in {qa}")
        decision = _decision(row.get("decision") or "", row_number, record_id)
        counts[decision] += 1
        if decision not in ("accept", "edit"):
            continue
        record = dict(originals[record_id])
        if decision == "edit":
            question, answer = (
                (row.get("question") or "").strip(),
                (row.get("answer") or "").strip(),
            )
            if not question or not answer:
                raise InputError(
                    f"review CSV row {row_number} (id {record_id}): edit needs a question and an answer"
                )
            record["instruction"], record["output"] = question, answer
        record["review"] = {"decision": decision, "comment": (row.get("comment") or "").strip()}
        kept.append(record)
    write_jsonl(out, kept)
    return ReviewResult(counts["accept"], counts["edit"], counts["reject"], counts[""], len(kept))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.review",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="action", required=True)
    exp = sub.add_parser("export", help="write the review CSV")
    exp.add_argument("--qa", required=True)
    exp.add_argument("--csv", required=True)
    imp = sub.add_parser("import", help="apply the reviewed CSV")
    imp.add_argument("--qa", required=True)
    imp.add_argument("--csv", required=True)
    imp.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        if args.action == "export":
            print(json.dumps({"rows": export_csv(args.qa, args.csv)}))
        else:
            print(json.dumps(asdict(import_csv(args.qa, args.csv, args.out))))
    except FnragError as error:
        print(f"review: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
