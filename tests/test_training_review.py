"""Expert review sheets: XLSX round trip, formula-safe cells, clear errors, CLI."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import openpyxl  # extra "train"; installed by scripts/install-dev.sh
import pytest

from fnrag.errors import InputError


def _records(questions: list[str]) -> list[dict[str, str]]:
    return [
        {
            "id": f"q{i}",
            "instruction": question,
            "input": "",
            "output": f"답변 {i}",
            "chunk_id": f"c{i}",
            "source": "가이드.md",
            "section": f"제{i}장 실명확인",
        }
        for i, question in enumerate(questions)
    ]


@pytest.fixture
def qa(tmp_path: Path) -> Path:
    from training.config import write_jsonl

    path = tmp_path / "qa.jsonl"
    write_jsonl(
        path,
        _records(["실명확인 대상은?", "통보 기한은?", "과태료 상한은?", "=1+1 차명거래란?"]),
    )
    return path


def _fill(path: Path, decisions: dict[str, tuple[str, str | None, str | None]]) -> None:
    """Set decision (and edited question/answer) per id, as a reviewer in Excel would."""
    book = openpyxl.load_workbook(path)
    sheet = book["review"]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        cells = dict(zip(header, row, strict=True))
        if cells["id"].value in decisions:
            decision, question, answer = decisions[cells["id"].value]
            cells["decision"].value = decision
            if question:
                cells["question"].value = question
            if answer:
                cells["answer"].value = answer
    book.save(path)


def test_xlsx_round_trip_applies_korean_decisions(tmp_path: Path, qa: Path) -> None:
    from training.config import read_jsonl
    from training.review import export_sheet, import_sheet

    sheet = tmp_path / "review.xlsx"
    assert export_sheet(qa, sheet) == 4
    book = openpyxl.load_workbook(sheet)
    review = book["review"]
    assert [c.value for c in review[1]] == [
        "id",
        "question",
        "answer",
        "source_section",
        "chunk_id",
        "decision",
        "comment",
    ]
    assert review.freeze_panes == "B2"
    validations = review.data_validations.dataValidation
    assert validations and "승인" in validations[0].formula1
    assert str(validations[0].sqref) == "F2:F5"
    _fill(
        sheet,
        {
            "q0": ("승인", None, None),
            "q1": ("수정", "거래정보 제공 통보 기한은?", "제공한 날부터 10일 이내"),
            "q2": ("reject", None, None),
        },
    )
    result = import_sheet(qa, sheet, tmp_path / "reviewed.jsonl")
    assert (result.accepted, result.edited, result.rejected, result.blank, result.kept) == (
        1,
        1,
        1,
        1,
        2,
    )
    kept = list(read_jsonl(tmp_path / "reviewed.jsonl"))
    assert [r["instruction"] for r in kept] == ["실명확인 대상은?", "거래정보 제공 통보 기한은?"]
    assert kept[1]["output"] == "제공한 날부터 10일 이내"
    assert kept[1]["review"]["decision"] == "edit"


def test_xlsx_keeps_formula_like_text_as_text(tmp_path: Path, qa: Path) -> None:
    from training.review import export_sheet, import_sheet

    sheet = tmp_path / "review.xlsx"
    export_sheet(qa, sheet)
    cell = openpyxl.load_workbook(sheet)["review"]["B5"]
    assert cell.value == "=1+1 차명거래란?" and cell.data_type == "s"
    _fill(sheet, {"q3": ("accept", None, None)})
    import_sheet(qa, sheet, tmp_path / "out.jsonl")
    kept = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert kept["instruction"] == "=1+1 차명거래란?"


@pytest.mark.parametrize(
    "question",
    ['=HYPERLINK("http://x")', "+82 실명확인", "-예금 해지 시", "@통보", "실명확인 대상은?"],
)
def test_csv_cells_never_start_a_formula_and_round_trip(tmp_path: Path, question: str) -> None:
    from training.config import read_jsonl, write_jsonl
    from training.review import export_sheet, import_sheet

    qa, sheet = tmp_path / "qa.jsonl", tmp_path / "review.csv"
    write_jsonl(qa, _records([question]))
    export_sheet(qa, sheet)
    rows = list(csv.DictReader(sheet.read_text(encoding="utf-8-sig").splitlines()))
    assert not rows[0]["question"].startswith(("=", "+", "-", "@"))
    rows[0]["decision"] = "accept"
    with sheet.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import_sheet(qa, sheet, tmp_path / "out.jsonl")
    assert next(iter(read_jsonl(tmp_path / "out.jsonl")))["instruction"] == question


def test_broken_xlsx_is_a_clear_error(tmp_path: Path, qa: Path) -> None:
    from training.review import import_sheet

    sheet = tmp_path / "review.xlsx"
    sheet.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(InputError, match=r"not a readable \.xlsx.*export the review sheet again"):
        import_sheet(qa, sheet, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_xlsx_unknown_decision_names_the_row(tmp_path: Path, qa: Path) -> None:
    from training.review import export_sheet, import_sheet

    sheet = tmp_path / "review.xlsx"
    export_sheet(qa, sheet)
    _fill(sheet, {"q2": ("보류", None, None)})
    with pytest.raises(InputError, match=r"row 4 \(id q2\).*보류"):
        import_sheet(qa, sheet, tmp_path / "out.jsonl")


@pytest.mark.parametrize("name", ["review.xls", "review.ods", "review"])
def test_other_sheet_formats_are_refused(tmp_path: Path, qa: Path, name: str) -> None:
    from training.review import export_sheet

    with pytest.raises(InputError, match=r"\.csv or \.xlsx"):
        export_sheet(qa, tmp_path / name)


def test_cli_exports_and_imports_xlsx(
    tmp_path: Path, qa: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.review import main

    sheet = tmp_path / "review.xlsx"
    assert main(["export", "--qa", str(qa), "--sheet", str(sheet)]) == 0
    assert json.loads(capsys.readouterr().out) == {"rows": 4}
    _fill(sheet, {"q0": ("accept", None, None)})
    out = tmp_path / "reviewed.jsonl"
    assert main(["import", "--qa", str(qa), "--sheet", str(sheet), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["kept"] == 1
    # The first release's --csv spelling still works, and errors are one clean line + exit 2.
    assert (
        main(["import", "--qa", str(qa), "--csv", str(tmp_path / "none.csv"), "--out", str(out)])
        == 2
    )
    assert "not found" in capsys.readouterr().err


def test_xlsx_without_openpyxl_names_the_extra(
    tmp_path: Path, qa: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fnrag.errors import MissingExtraError
    from training.review import export_sheet

    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(MissingExtraError, match=r"fnrag\[train\]"):
        export_sheet(qa, tmp_path / "review.xlsx")
    assert not (tmp_path / "review.xlsx").exists()
