"""Expert review round-trip for self-instruct pairs: a sheet out, decisions back in.

    python -m training.review export --qa qa.jsonl --sheet review.xlsx   # or review.csv
    python -m training.review import --qa qa.jsonl --sheet review.xlsx --out reviewed.jsonl
    python -m training.review export --from-db URL --qa feedback.jsonl --sheet review.csv

With ``--from-db`` (a ``fnrag serve`` database URL), the down-voted or commented answers
are first written to ``--qa`` as records (the masked question, the answer, the lead
citation's section and chunk, the practitioners' ratings in the comment column), so the
same ``import`` applies the reviewers' corrections.

The sheet has columns id, question, answer, source_section, chunk_id, decision, comment.
``.csv`` is UTF-8 with BOM, so Excel shows Korean; ``.xlsx`` (extra ``train``: openpyxl)
has a frozen header, wrapped text and a drop-down on the decision column. Reviewers set
decision to accept, edit (the edited question/answer cells are applied) or reject (or
승인/수정/거절); import keeps accept + edit and drops reject and blank rows, reporting the
counts. A decision outside those, an unknown id or an emptied edit is an error naming the
sheet row. Cells that start like a spreadsheet formula (=, +, -, @) are written as text
(a leading ' in CSV, removed again on import), so opening the sheet runs nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fnrag.errors import FnragError, InputError, missing_extra
from training.config import atomic_write_bytes, atomic_write_text, read_jsonl, write_jsonl

COLUMNS = ("id", "question", "answer", "source_section", "chunk_id", "decision", "comment")
DECISIONS = ("accept", "edit", "reject")
# Reviewers may answer in Korean; both spellings mean the same decision.
_ALIASES = {"승인": "accept", "수정": "edit", "거절": "reject", "반려": "reject"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_WIDTHS = {"id": 24, "question": 60, "answer": 60, "source_section": 40, "chunk_id": 18}


@dataclass(frozen=True)
class ReviewResult:
    accepted: int
    edited: int
    rejected: int
    blank: int
    kept: int


def _sheet_kind(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InputError(f"{path}: review sheets are .csv or .xlsx; name the file accordingly")
    return suffix[1:]


def _review_rows(qa: str | Path) -> list[list[str]]:
    rows = []
    for number, record in enumerate(read_jsonl(qa), 1):
        if not record.get("id"):
            raise InputError(
                f"{qa} record {number} has no id; regenerate it with training.selfinstruct"
            )
        rows.append(
            [
                str(record["id"]),
                str(record.get("instruction", "")),
                str(record.get("output", "")),
                str(record.get("section", "")),
                str(record.get("chunk_id", "")),
                "",
                str(record.get("comment", "")),
            ]
        )
    return rows


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _from_csv_cell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def _write_csv(path: str | Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([[_csv_cell(cell) for cell in row] for row in rows])
    atomic_write_text(path, "\ufeff" + buffer.getvalue(), encoding="utf-8")


def _openpyxl() -> Any:
    try:
        import openpyxl
    except ImportError as error:
        raise missing_extra("openpyxl", "train") from error
    return openpyxl


def _write_xlsx(path: str | Path, rows: list[list[str]]) -> None:
    openpyxl = _openpyxl()
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "review"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            cell.data_type = "s"  # text, also when it starts with "=": never a formula
            cell.alignment = wrap
    for number, name in enumerate(COLUMNS, 1):
        sheet.column_dimensions[openpyxl.utils.get_column_letter(number)].width = _WIDTHS.get(
            name, 14
        )
    sheet.freeze_panes = "B2"
    choices = DataValidation(
        type="list", formula1='"accept,edit,reject,승인,수정,거절"', allow_blank=True
    )
    choices.error = "accept, edit, reject (승인, 수정, 거절) 중 하나를 고르십시오."
    sheet.add_data_validation(choices)
    decision_column = openpyxl.utils.get_column_letter(COLUMNS.index("decision") + 1)
    choices.add(f"{decision_column}2:{decision_column}{max(2, len(rows) + 1)}")
    buffer = io.BytesIO()
    book.save(buffer)
    atomic_write_bytes(path, buffer.getvalue())


def export_sheet(qa: str | Path, sheet_path: str | Path) -> int:
    """Write the review sheet (.csv or .xlsx by suffix); returns the number of rows."""
    kind = _sheet_kind(sheet_path)
    rows = _review_rows(qa)
    (_write_xlsx if kind == "xlsx" else _write_csv)(sheet_path, rows)
    return len(rows)


def export_csv(qa: str | Path, csv_path: str | Path) -> int:
    """Write the review CSV; returns the number of rows."""
    rows = _review_rows(qa)
    _write_csv(csv_path, rows)
    return len(rows)


def _decision(raw: str, row: int, record_id: str) -> str:
    value = raw.strip().lower()
    value = _ALIASES.get(value, value)
    if value and value not in DECISIONS:
        raise InputError(
            f"review sheet row {row} (id {record_id}): decision {raw!r} is not one of "
            f"{', '.join(DECISIONS)} (or blank); fix the cell and import again"
        )
    return value


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    rows = [{k: _from_csv_cell(v or "") for k, v in row.items() if k} for row in reader]
    return list(reader.fieldnames or []), rows


def _read_xlsx(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    openpyxl = _openpyxl()
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise InputError(
            f"{path} is not a readable .xlsx workbook ({error}); save it from Excel as .xlsx "
            "or export the review sheet again"
        ) from error
    try:
        values = list(book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()
    if not values:
        return [], []
    header = ["" if v is None else str(v).strip() for v in values[0]]

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    rows = []
    for line in values[1:]:
        if all(v is None for v in line):
            continue  # Excel keeps formatted but empty rows
        rows.append({name: text(v) for name, v in zip(header, line, strict=False) if name})
    return header, rows


def import_sheet(qa: str | Path, sheet_path: str | Path, out: str | Path) -> ReviewResult:
    """Apply the sheet's decisions to ``qa`` and write the kept records to ``out``."""
    kind = _sheet_kind(sheet_path)
    originals = {r["id"]: r for r in read_jsonl(qa)}
    path = Path(sheet_path)
    if not path.is_file():
        raise InputError(
            f"{path} not found; export it first with: python -m training.review export"
        )
    fieldnames, rows = (_read_xlsx if kind == "xlsx" else _read_csv)(path)
    missing = [c for c in ("id", "question", "answer", "decision") if c not in fieldnames]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; keep the exported header"
        )
    counts = {"accept": 0, "edit": 0, "reject": 0, "": 0}
    kept: list[dict[str, Any]] = []
    for row_number, row in enumerate(rows, 2):  # row 1 is the header
        record_id = (row.get("id") or "").strip()
        if record_id not in originals:
            raise InputError(f"review sheet row {row_number}: id {record_id!r} is not in {qa}")
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
                    f"review sheet row {row_number} (id {record_id}): edit needs a question "
                    "and an answer"
                )
            record["instruction"], record["output"] = question, answer
        record["review"] = {"decision": decision, "comment": (row.get("comment") or "").strip()}
        kept.append(record)
    write_jsonl(out, kept)
    return ReviewResult(counts["accept"], counts["edit"], counts["reject"], counts[""], len(kept))


def import_csv(qa: str | Path, csv_path: str | Path, out: str | Path) -> ReviewResult:
    """Apply the reviewed CSV (kept for callers of the first release)."""
    if _sheet_kind(csv_path) != "csv":
        raise InputError(f"{csv_path}: import_csv reads .csv; use import_sheet for .xlsx")
    return import_sheet(qa, csv_path, out)


def _feedback_records(url: str) -> list[dict[str, Any]]:
    """The service's down-voted or commented answers as review records."""
    from fnrag.storage.db import Database
    from fnrag.storage.records import review_records

    db = Database(url)
    try:
        records = review_records(db)
    finally:
        db.dispose()
    for record in records:
        notes = [
            f"{f['rating']}/{f['reason'] or '-'}: {f['comment']}".rstrip(": ")
            for f in record["feedback"]
        ]
        record["comment"] = " | ".join(notes)
    return records


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.review",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="action", required=True)
    exp = sub.add_parser("export", help="write the review sheet (.csv or .xlsx)")
    imp = sub.add_parser("import", help="apply the reviewed sheet")
    for command in (exp, imp):
        command.add_argument("--qa", required=True)
        where = command.add_mutually_exclusive_group(required=True)
        where.add_argument("--sheet", help="review.csv or review.xlsx")
        where.add_argument("--csv", dest="sheet", help="same as --sheet (first release)")
    imp.add_argument("--out", required=True)
    exp.add_argument(
        "--from-db",
        metavar="URL",
        help="first write fnrag serve's down-voted or commented answers to --qa",
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "export" and args.from_db:
            write_jsonl(args.qa, _feedback_records(args.from_db))
        if args.action == "export":
            print(json.dumps({"rows": export_sheet(args.qa, args.sheet)}))
        else:
            print(json.dumps(asdict(import_sheet(args.qa, args.sheet, args.out))))
    except FnragError as error:
        print(f"review: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
