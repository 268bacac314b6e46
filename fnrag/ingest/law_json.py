"""law.go.kr Open API JSON (법령 본문 조회) → a statute :class:`Document`.

The text is laid out as the law.go.kr Markdown route reads after ingest (``#####
제4조의2 (제목)`` headings, ``①`` paragraphs, ``1.`` items indented two spaces, ``가.``
sub-items four), so both routes give the same chunks and references for the same
version. The front matter's fields come from ``기본정보`` (법령ID, 법종구분, 공포일자,
공포번호, 시행일자). Articles whose ``조문시행일자`` differs from the law's 시행일자 (분리
시행) are listed in the metadata key ``조문시행일자`` (JSON: article → ISO date), which
the chunker turns into those chunks' ``effective_from``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from fnrag.errors import IngestError
from fnrag.types import Document

_MARK = re.compile(r"^\s*(\d+(?:의\d+)?\.|[가-하]\.)\s+")
_HEAD = re.compile(r"^\s*제\s*\d+\s*조(?:\s*의\s*\d+)?\s*(?:\((?:[^()]|\([^()]*\))*\))?\s*")


def load_law_json(data: bytes, source: str, digest: str) -> Document:
    """Parse law.go.kr's JSON for one law.

    Raises:
        IngestError: not JSON, or not the law.go.kr 법령 shape.
    """
    try:
        # NFC as every text source is: law.go.kr writes some hanja as compatibility
        # ideographs (U+F90A for 金), which the Markdown route has already composed.
        root = json.loads(unicodedata.normalize("NFC", data.decode("utf-8-sig")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(
            f"{source}: not valid JSON ({exc}); save the law.go.kr response as it came"
        ) from None
    law = root.get("법령") if isinstance(root, dict) else None
    if not isinstance(law, dict) or not isinstance(law.get("기본정보"), dict):
        raise IngestError(
            f"{source}: not a law.go.kr law JSON (no 법령 → 기본정보); fnrag reads the Open API's "
            "법령 본문 response (lawService.do?target=law&type=JSON)"
        )
    info = law["기본정보"]
    title = _text(info.get("법령명_한글"))
    if not title:
        raise IngestError(f"{source}: 기본정보 has no 법령명_한글; the JSON is incomplete")
    effective = _iso(info.get("시행일자"))
    metadata = {
        "제목": title,
        "법령ID": _text(info.get("법령ID")),
        "법령구분": _text(_content(info.get("법종구분"))),
        "공포일자": _iso(info.get("공포일자")),
        "공포번호": _text(info.get("공포번호")),
        "시행일자": effective,
    }
    lines = [f"# {title}", ""]
    own_dates: dict[str, str] = {}
    units = (law.get("조문") or {}).get("조문단위") or []
    for unit in units if isinstance(units, list) else [units]:
        if not isinstance(unit, dict):
            continue
        if unit.get("조문여부") != "조문":
            lines += [f"#### {_text(unit.get('조문내용'))}", ""]  # 장/절: a heading only
            continue
        name = f"제{_text(unit.get('조문번호'))}조"
        if _text(unit.get("조문가지번호")):
            name += f"의{_text(unit.get('조문가지번호'))}"
        heading = f"{name} ({_text(unit.get('조문제목'))})" if _text(unit.get("조문제목")) else name
        lines += [f"##### {heading}", ""]
        body = _HEAD.sub("", _text(unit.get("조문내용")), count=1).strip()
        if body:
            lines += [body, ""]
        for paragraph in _list(unit.get("항")):
            lines += _paragraph(paragraph)
        date = _iso(unit.get("조문시행일자"))
        if date and effective and date != effective:
            own_dates[name] = date
    addenda = (law.get("부칙") or {}).get("부칙단위") or []
    if addenda:
        lines += ["## 부칙", ""]
        for entry in _list(addenda):
            for text in _flatten(entry.get("부칙내용") if isinstance(entry, dict) else None):
                lines += [text.strip(), ""]
    if own_dates:
        metadata["조문시행일자"] = json.dumps(own_dates, ensure_ascii=False)
    text = "\n".join(lines).strip("\n")
    return Document(
        source=source,
        title=title,
        kind="statute",
        text=text,
        metadata={k: v for k, v in metadata.items() if v},
        sha256=digest,
    )


def _paragraph(paragraph: Any) -> list[str]:
    if not isinstance(paragraph, dict):
        return []
    out: list[str] = []
    head = _flatten(paragraph.get("항내용"))
    if head:
        out += [" ".join(head[0].split()), *("  " + t.strip() for t in head[1:]), ""]
    items = _list(paragraph.get("호"))
    for item in items:
        if not isinstance(item, dict):
            continue
        out += _marked(item.get("호내용"), "  ")
        for sub in _list(item.get("목")):
            if isinstance(sub, dict):
                out += _marked(sub.get("목내용"), "    ")
    if items:
        out.append("")
    return out


def _marked(value: Any, indent: str) -> list[str]:
    texts = _flatten(value)
    if not texts:
        return []
    first = _MARK.sub(lambda m: m.group(1) + " ", texts[0].strip(), count=1)
    return [
        indent + " ".join(first.split()),
        *(indent + " ".join(t.split()) for t in texts[1:] if t.strip()),
    ]


def _flatten(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [t for v in value for t in _flatten(v)]
    return []


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _content(value: Any) -> Any:
    return value.get("content") if isinstance(value, dict) else value


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _iso(value: Any) -> str:
    raw = _text(value)
    if re.fullmatch(r"\d{8}", raw):
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    return raw
