"""Ingestion: sources, Markdown front matter, PDF pages and headers, every bad input."""

from __future__ import annotations

import importlib.util
import io
import random
from pathlib import Path

import pytest

from fnrag.chunking import chunk_document
from fnrag.errors import IngestError
from fnrag.ingest.sources import collect_sources, load_document

HEADER = "샘플 금융실명 업무해설 · 내부 교육용"
BODY = [
    "제1장 실명확인\n1. 실명확인의 원칙\n금융회사등은 거래자의 실지명의로 금융거래를 하여야 한다.",
    "2. 실명확인증표\n주민등록증과 운전면허증은 사진이 붙은 실명확인증표이다.",
    "제2장 비밀보장\n1. 제공 금지\n"
    "명의인의 서면상 요구나 동의 없이 거래정보등을 제공하지 아니한다.",
    "2. 기록 관리\n거래정보등을 제공한 날부터 5년간 기록을 보관하여야 한다.",
]


def _font() -> Path:
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or spec.origin is None:
        pytest.skip("koreanize-matplotlib (NanumGothic font) is not installed")
    return Path(spec.origin).parent / "fonts" / "NanumGothic.ttf"


def render_pdf(pages: list[str], *, first_printed: int = 11, header: str = HEADER) -> bytes:
    """A Korean PDF: running header on top, printed page number at the bottom."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("Nanum", fname=str(_font()))
    pdf.set_auto_page_break(False)
    for i, body in enumerate(pages):
        pdf.add_page()
        pdf.set_font("Nanum", size=10)
        pdf.set_xy(10, 8)
        pdf.cell(0, 6, header)
        pdf.set_xy(10, 25)
        pdf.set_font("Nanum", size=12)
        pdf.multi_cell(0, 7, body)
        pdf.set_xy(10, 280)
        pdf.set_font("Nanum", size=10)
        pdf.cell(0, 6, f"- {first_printed + i} -", align="C")
    return bytes(pdf.output())


@pytest.fixture
def sample_pdf(tmp_path: Path) -> Path:
    path = tmp_path / "업무해설_샘플.pdf"
    path.write_bytes(render_pdf(BODY))
    return path


def test_pdf_pages_keep_printed_numbers_and_drop_running_header(sample_pdf: Path) -> None:
    doc = load_document(sample_pdf, "docs/업무해설_샘플.pdf")
    assert [p.index for p in doc.pages] == [1, 2, 3, 4]
    assert [p.printed for p in doc.pages] == [(11,), (12,), (13,), (14,)]
    assert HEADER not in doc.text
    assert "- 12 -" not in doc.text
    assert "실지명의로 금융거래를 하여야 한다" in doc.text
    for page, start in zip(doc.pages, doc.page_starts, strict=False):
        assert doc.text[start : start + len(page.text)] == page.text
    chunks = chunk_document(doc, max_chars=80)
    record = next(c for c in chunks if "5년간 기록을 보관" in c.text)
    assert record.page == 14 and record.pages == (14,)
    ban = next(c for c in chunks if "서면상 요구나 동의" in c.text)
    assert ban.page == 13
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)


def test_pdf_kind_follows_content(tmp_path: Path) -> None:
    statute = [
        "제1조(목적) 이 법은 실지명의에 의한 금융거래를 실시함을 목적으로 한다.",
        "제2조(정의) 이 법에서 사용하는 용어의 뜻은 다음과 같다.",
        "제3조(금융실명거래) ① 금융회사등은 실명으로 거래하여야 한다.",
    ]
    path = tmp_path / "법령.pdf"
    path.write_bytes(render_pdf(statute, header="법제처    국가법령정보센터"))
    doc = load_document(path, "법령.pdf")
    assert doc.kind == "statute"
    sections = [c.section for c in chunk_document(doc)]
    assert any(s.endswith("제2조 (정의)") for s in sections)
    guide = load_document(*_write(tmp_path, "해설.pdf", render_pdf(BODY)))
    assert guide.kind == "guide"


def _write(tmp_path: Path, name: str, data: bytes) -> tuple[Path, str]:
    path = tmp_path / name
    path.write_bytes(data)
    return path, name


def test_markdown_front_matter_and_unescaping(tmp_path: Path) -> None:
    text = (
        "---\n제목: 금융실명거래 및 비밀보장에 관한 법률\n공포일자: 2025-04-01\n"
        "시행일자: 2025-04-01\n소관부처:\n- 금융위원회\n---\n\n"
        "# 금융실명거래 및 비밀보장에 관한 법률\n\n##### 제1조 (목적)\n\n이 법은 목적으로 한다.\n\n"
        "##### 제2조 (정의)\n\n**①** 용어의 뜻은 다음과 같다.\n\n"
        '  1\\. "금융회사등"이란 다음 각 목의 것을 말한다.\n'
        "    가\\. 「은행법」에 따른 은행\n"
    )
    path, name = _write(tmp_path, "법률.md", text.encode())
    doc = load_document(path, name)
    assert doc.title == "금융실명거래 및 비밀보장에 관한 법률"
    assert doc.metadata["시행일자"] == "2025-04-01"
    assert doc.metadata["소관부처"] == "금융위원회"
    assert doc.effective_date == "2025-04-01"
    assert doc.kind == "statute"
    assert "① 용어의 뜻" in doc.text and "**" not in doc.text
    assert (
        '  1. "금융회사등"' in doc.text and "가. 「은행법」" in doc.text and "\\." not in doc.text
    )
    assert "제목:" not in doc.text
    assert len(doc.sha256) == 64


def test_markdown_without_articles_is_a_guide(tmp_path: Path) -> None:
    path, name = _write(
        tmp_path, "해설.md", "# 실명확인 안내\n\n## 1. 원칙\n\n실명을 확인한다.\n".encode()
    )
    doc = load_document(path, name)
    assert doc.kind == "guide" and doc.title == "실명확인 안내"


def test_cp949_text_is_decoded(tmp_path: Path) -> None:
    path, name = _write(
        tmp_path, "메모.txt", "금융실명제 실무 메모: 실명확인증표를 확인한다.".encode("cp949")
    )
    doc = load_document(path, name)
    assert "실명확인증표" in doc.text and doc.kind == "text" and doc.title == "메모"


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("깨진.txt", b"\x80\x81\xff\xfe\x00garbage", "UTF-8"),
        ("잡음.txt", random.Random(7).randbytes(4000), "UTF-8"),
        ("빈파일.txt", b"", "empty"),
        ("공백.md", b"  \n\n  ", "empty"),
        ("머리말만.md", "---\n제목: 빈 문서\n---\n".encode(), "no text"),
        ("한글문서.hwp", "한글 파일".encode(), "unsupported"),
        ("잘못된머리말.md", "---\n제목: [닫히지 않음\n---\n본문".encode(), "front matter"),
    ],
    ids=["invalid-utf8", "random-bytes", "empty", "blank", "front-matter-only", "hwp", "bad-yaml"],
)
def test_bad_text_inputs_name_the_file_and_the_fix(
    tmp_path: Path, name: str, data: bytes, needle: str
) -> None:
    path, shown = _write(tmp_path, name, data)
    with pytest.raises(IngestError) as err:
        load_document(path, shown)
    message = str(err.value)
    assert shown in message and needle in message


def test_encrypted_pdf(tmp_path: Path, sample_pdf: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(sample_pdf).pages:
        writer.add_page(page)
    writer.encrypt(user_password="비밀1234", owner_password="owner", algorithm="AES-128")
    buf = io.BytesIO()
    writer.write(buf)
    path, name = _write(tmp_path, "암호.pdf", buf.getvalue())
    with pytest.raises(IngestError, match="password") as err:
        load_document(path, name)
    assert name in str(err.value) and "qpdf" in str(err.value)


def test_pdf_with_only_an_owner_password_opens(tmp_path: Path, sample_pdf: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(sample_pdf).pages:
        writer.add_page(page)
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    buf = io.BytesIO()
    writer.write(buf)
    doc = load_document(*_write(tmp_path, "소유자암호.pdf", buf.getvalue()))
    assert "실명확인증표" in doc.text


def test_image_only_pdf_asks_for_ocr(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 100, 60, style="F")  # a "scan": marks on the page, no text
    path, name = _write(tmp_path, "스캔본.pdf", bytes(pdf.output()))
    with pytest.raises(IngestError, match="OCR") as err:
        load_document(path, name)
    assert "pages 1-2" in str(err.value) and name in str(err.value)


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_pdf(tmp_path: Path, keep: float) -> None:
    data = render_pdf(BODY)
    path, name = _write(tmp_path, "잘림.pdf", data[: int(len(data) * keep)])
    with pytest.raises(IngestError, match=r"truncated|damaged") as err:
        load_document(path, name)
    assert name in str(err.value)


def test_not_a_pdf(tmp_path: Path) -> None:
    path, name = _write(tmp_path, "가짜.pdf", "PDF가 아닌 텍스트".encode())
    with pytest.raises(IngestError, match="not a PDF"):
        load_document(path, name)


def test_pdf_page_guard(tmp_path: Path) -> None:
    from fnrag.ingest.pdf import extract_pdf

    data = render_pdf(BODY)
    with pytest.raises(IngestError, match="split the PDF"):
        extract_pdf(Path("큰문서.pdf"), data, max_pages=2)


def test_collect_sources_expands_directories_and_reports_skips(tmp_path: Path) -> None:
    root = tmp_path / "자료"
    (root / "하위").mkdir(parents=True)
    (root / "나_해설.md").write_text("# 해설\n\n본문", encoding="utf-8")
    (root / "가_메모.txt").write_text("메모", encoding="utf-8")
    (root / "하위" / "다_법령.pdf").write_bytes(render_pdf(BODY[:1]))
    (root / "README.md").write_text("# 설명", encoding="utf-8")
    (root / "표.xlsx").write_bytes(b"PK")
    (root / ".숨김.md").write_text("숨김", encoding="utf-8")
    sources = collect_sources([root])
    shown = [s for _, s in sources]
    assert shown == [f"{root}/가_메모.txt", f"{root}/나_해설.md", f"{root}/하위/다_법령.pdf"]
    reasons = {s.source.rsplit("/", 1)[-1]: s.reason for s in sources.skipped}
    assert set(reasons) == {"README.md", "표.xlsx", ".숨김.md"}
    assert "README" in reasons["README.md"] and "unsupported" in reasons["표.xlsx"]
    assert sources.files == tuple(sources)


def test_collect_sources_errors(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        collect_sources([tmp_path / "없음.md"])
    (tmp_path / "문서.hwp").write_bytes(b"x")
    with pytest.raises(IngestError, match="unsupported"):
        collect_sources([tmp_path / "문서.hwp"])
    empty = tmp_path / "빈폴더"
    empty.mkdir()
    with pytest.raises(IngestError, match="no PDF, Markdown or text files"):
        collect_sources([empty])


def test_explicit_readme_is_ingested(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# 안내\n\n내용", encoding="utf-8")
    assert [s for _, s in collect_sources([path])] == [str(path)]


def test_sample_corpus_collects_without_readme(sample_corpus: Path) -> None:
    sources = collect_sources([sample_corpus])
    assert len(sources) >= 2
    assert all(not s.endswith("README.md") for _, s in sources)
    assert any(s.source.endswith("README.md") for s in sources.skipped)
    for path, shown in sources:
        doc = load_document(path, shown)
        assert doc.metadata.get("비고") == "샘플" and "샘플" in doc.title
        assert "법률 자문이 아닙니다" in doc.text[:400]


def test_decomposed_hangul_markdown_is_read_as_composed(tmp_path) -> None:
    import unicodedata

    from fnrag.ingest.sources import load_document

    text = "# 실명확인 안내\n\n금융회사등은 거래자의 실지명의로 금융거래를 하여야 한다.\n"
    path = tmp_path / "nfd.md"
    path.write_text(unicodedata.normalize("NFD", text), encoding="utf-8")
    document = load_document(path, str(path))
    assert "실지명의로 금융거래" in document.text
