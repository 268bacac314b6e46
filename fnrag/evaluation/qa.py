"""Load and validate a QA file (JSONL, the format of ``../shared/corpus/dev_qa.jsonl``).

One JSON object per line::

    {"id": "d01", "q": "금융실명법의 목적은 무엇인가요?",
     "gold": [{"doc": "laws/금융실명법_법률.md", "art": "제1조", "anchor": "금융거래의 정상화"}]}
    {"id": "d21", "q": "오늘 점심 메뉴 추천해 줘", "gold": [], "out_of_scope": true}

Every problem is reported as an :class:`InputError` naming the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fnrag.errors import InputError
from fnrag.evaluation.metrics import GoldRef


@dataclass(frozen=True)
class QAItem:
    """One evaluation question.

    Attributes:
        id: unique question id.
        question: the question text (``q``).
        gold: the passages that answer it (empty for out-of-scope questions).
        out_of_scope: the question must be refused.
        line: 1-based line number in the QA file (for messages).
        as_of: the ISO date the question is asked for (``"as_of"`` in the file; None:
            the evaluation's date, by default today).
    """

    id: str
    question: str
    gold: tuple[GoldRef, ...]
    out_of_scope: bool = False
    line: int = 0
    as_of: str | None = None

    @property
    def in_scope(self) -> bool:
        return not self.out_of_scope


def load_qa(path: str | Path) -> list[QAItem]:
    """Read and validate a QA JSONL file; blank lines are skipped."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"QA file {path} does not exist; pass an existing JSONL file to --qa"
        ) from None
    except OSError as error:
        raise InputError(f"cannot read QA file {path}: {error.strerror}; check the path") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"QA file {path} is not UTF-8; save it as UTF-8 JSONL") from None
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        item = parse_qa_line(line, path, number)
        if item.id in seen:
            raise InputError(
                f"{path}:{number}: duplicate id {item.id!r} (first on line {seen[item.id]}); "
                "give every question a unique id"
            )
        seen[item.id] = number
        items.append(item)
    if not items:
        raise InputError(f"QA file {path} holds no questions; add one JSON object per line")
    return items


def parse_qa_line(line: str, path: Path, number: int) -> QAItem:
    """Validate one JSONL line into a :class:`QAItem`."""
    where = f"{path}:{number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{where}: not valid JSON ({error.msg} at column {error.colno}); "
            "write one JSON object per line"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object with id, q and gold")
    qid = data.get("id")
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    if not isinstance(qid, str) or not qid.strip():
        raise InputError(f"{where}: missing or empty 'id'; give each question a string id")
    question = data.get("q")
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"{where}: question {qid!r} has no 'q' text; add the question")
    out_of_scope = data.get("out_of_scope", False)
    if not isinstance(out_of_scope, bool):
        raise InputError(f"{where}: 'out_of_scope' of {qid!r} must be true or false")
    gold_raw = data.get("gold", [] if out_of_scope else None)
    if not isinstance(gold_raw, list):
        raise InputError(
            f"{where}: question {qid!r} needs a 'gold' list of {{doc, art, anchor}} objects"
        )
    gold = tuple(_parse_gold(entry, where, qid, i) for i, entry in enumerate(gold_raw, 1))
    if not gold and not out_of_scope:
        raise InputError(
            f"{where}: question {qid!r} has an empty 'gold' list; add its gold passages "
            'or mark it "out_of_scope": true'
        )
    as_of = data.get("as_of")
    if as_of is not None:
        from fnrag.versions.dates import parse_date

        try:
            as_of = parse_date(as_of).isoformat()
        except InputError as error:
            raise InputError(f"{where}: question {qid!r}: {error}") from None
    return QAItem(
        id=qid, question=question, gold=gold, out_of_scope=out_of_scope, line=number, as_of=as_of
    )


def _parse_gold(entry: Any, where: str, qid: str, index: int) -> GoldRef:
    if not isinstance(entry, dict):
        raise InputError(
            f"{where}: gold #{index} of {qid!r} must be an object {{doc, art, anchor}}"
        )
    doc = entry.get("doc")
    anchor = entry.get("anchor")
    art = entry.get("art", "")
    if not isinstance(doc, str) or not doc.strip():
        raise InputError(f"{where}: gold #{index} of {qid!r} has no 'doc' path; add it")
    if not isinstance(anchor, str) or not "".join(anchor.split()):
        raise InputError(
            f"{where}: gold #{index} of {qid!r} has no 'anchor'; "
            "add a short verbatim phrase of the answering text"
        )
    if not isinstance(art, str):
        raise InputError(f"{where}: gold #{index} of {qid!r} has a non-string 'art'")
    return GoldRef(doc=doc.strip(), art=art, anchor=anchor)
