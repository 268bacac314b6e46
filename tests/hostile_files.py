"""Broken and hostile source files, built in code (shared by tests and benchmarks/fuzz_ingest.py).

Each builder returns the raw bytes of one file; ``HOSTILE_FILES`` maps a case name to
(file name, bytes builder).  PDFs are written by hand (objects + a correct xref
table) so each one is exactly as broken as intended, no more.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable


def build_pdf(objects: list[bytes], root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A PDF whose object ``i+1`` is ``objects[i]``, with a valid xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        trailer_extra,
        xref,
    )
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"", compress: bool = False) -> bytes:
    if compress:
        data = zlib.compress(data, 9)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page_pdf(
    content: bytes,
    resources: bytes = b"<< /Font << /F1 4 0 R >> >>",
    extra: list[bytes] | None = None,
    compress: bool = False,
) -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
        + resources
        + b" /Contents 5 0 R >>",
        _FONT,
        _stream(content, compress=compress),
    ]
    return build_pdf(objects + (extra or []))


def text_pdf(text: str = "Real-name financial transactions. Article 4 confidentiality.") -> bytes:
    """A small valid one-page PDF with an ASCII text layer."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")
    return _page_pdf(b"BT /F1 12 Tf 72 720 Td (" + escaped + b") Tj ET")


def truncated_pdf() -> bytes:
    data = text_pdf()
    return data[: len(data) // 2]


def empty_pdf() -> bytes:
    return b""


def header_only_pdf() -> bytes:
    return b"%PDF-1.7\n%%EOF\n"


def textless_pdf() -> bytes:
    """A page with only a drawn rectangle: a scan-like page with no text layer."""
    return _page_pdf(b"0 0 1 rg 10 10 200 200 re f")


def encrypted_pdf() -> bytes:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(text_pdf()))
    writer = pypdf.PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret-비밀", owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def foreign_encryption_pdf() -> bytes:
    """Encrypted with a non-standard security handler (found by benchmarks/fuzz_ingest.py)."""
    pdf = text_pdf()
    return pdf.replace(
        b"/Root 1 0 R ", b"/Root 1 0 R /Encrypt << /Filter /FooHandler /V 1 /R 2 >> "
    )


def deep_nesting_pdf(depth: int = 200_000) -> bytes:
    """Resources hold an array nested ``depth`` levels: a recursion-depth attack."""
    nested = b"[" * depth + b"]" * depth
    return _page_pdf(
        b"BT /F1 12 Tf 72 720 Td (deep) Tj ET",
        resources=b"<< /Font << /F1 4 0 R >> /X " + nested + b" >>",
    )


def deep_dict_pdf(depth: int = 100_000) -> bytes:
    nested = b"<< /A " * depth + b"1" + b" >>" * depth
    return _page_pdf(
        b"BT /F1 12 Tf 72 720 Td (deep) Tj ET",
        resources=b"<< /Font << /F1 4 0 R >> /X " + nested + b" >>",
    )


def deep_form_pdf(depth: int = 2_000) -> bytes:
    """Form XObjects that draw each other ``depth`` levels deep."""
    extra: list[bytes] = []
    first = 6
    for level in range(depth):
        number = first + level
        child = number + 1
        draws = b"/Fx Do" if level < depth - 1 else b"BT /F1 12 Tf (bottom) Tj ET"
        resources = b"<< /XObject << /Fx %d 0 R >> /Font << /F1 4 0 R >> >>" % child
        extra.append(
            _stream(
                draws, b" /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources " + resources
            )
        )
    resources = b"<< /XObject << /Fx %d 0 R >> /Font << /F1 4 0 R >> >>" % first
    return _page_pdf(b"/Fx Do", resources=resources, extra=extra)


def self_drawing_form_pdf() -> bytes:
    """A form XObject that draws itself: infinite recursion unless guarded."""
    form = _stream(
        b"/Fx Do BT /F1 12 Tf (loop) Tj ET",
        b" /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources "
        b"<< /XObject << /Fx 6 0 R >> /Font << /F1 4 0 R >> >>",
    )
    return _page_pdf(
        b"/Fx Do", resources=b"<< /XObject << /Fx 6 0 R >> /Font << /F1 4 0 R >> >>", extra=[form]
    )


def huge_image_pdf(with_text: bool = False) -> bytes:
    """An image XObject claiming 100,000 × 100,000 RGB pixels (30 GB decoded)."""
    image = _stream(
        b"\x00" * 16,
        b" /Type /XObject /Subtype /Image /Width 100000 /Height 100000 "
        b"/ColorSpace /DeviceRGB /BitsPerComponent 8",
    )
    content = b"q 612 0 0 792 0 0 cm /Im1 Do Q"
    if with_text:
        content += b" BT /F1 12 Tf 72 720 Td (caption) Tj ET"
    resources = b"<< /Font << /F1 4 0 R >> /XObject << /Im1 6 0 R >> >>"
    return _page_pdf(content, resources=resources, extra=[image])


def flate_bomb_pdf(megabytes: int = 200) -> bytes:
    """A content stream of ``megabytes`` MB of spaces compressed to ~0.2 MB."""
    return _page_pdf(
        b"BT /F1 12 Tf 72 720 Td (bomb) Tj ET" + b" " * (megabytes << 20), compress=True
    )


def page_tree_loop_pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        _FONT,
        _stream(b"BT /F1 12 Tf 72 720 Td (loop) Tj ET"),
    ]
    return build_pdf(objects)


def many_pages_pdf(count: int = 5_000) -> bytes:
    """``count`` pages sharing one content stream (above fnrag's page limit)."""
    kids = b" ".join(b"5 0 R" for _ in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
        _stream(b"BT /F1 12 Tf 72 720 Td (page) Tj ET"),
        _FONT,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 3 0 R >>",
    ]
    return build_pdf(objects)


def not_a_pdf() -> bytes:
    return b"PK\x03\x04 this is a zip file renamed to .pdf" + bytes(range(256))


def binary_garbage() -> bytes:
    import random

    rng = random.Random(6)
    return bytes(rng.randrange(256) for _ in range(4096))


def non_utf8_text() -> bytes:
    # Latin-1 / Shift-JIS style bytes: neither UTF-8 nor plausible CP949 text.
    return "café naïve über ÿ".encode("latin-1") + b"\x80\x81\x82\xfe\xff" * 50


def nul_text() -> bytes:
    return "금융실명제\x00\x00\x00 본문".encode()


def whitespace_text() -> bytes:
    return b" \n\t\r\n   \n"


def yaml_bomb_markdown() -> bytes:
    """Front matter with nested aliases: 9^9 items if anything expands it."""
    lines = ["---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join(f"*{previous}" for _ in range(9)) + "]")
        previous = name
    lines += ["제목: 폭탄", "---", "", "# 본문", "", "금융실명제 본문입니다."]
    return "\n".join(lines).encode()


def bad_yaml_markdown() -> bytes:
    return "---\n제목: [닫히지 않은\n: : :\n---\n\n# 본문\n\n내용".encode()


def python_tag_yaml_markdown() -> bytes:
    """A YAML tag that unsafe loaders would execute."""
    tag = '!!python/object/apply:os.system ["echo pwned > /tmp/fnrag-pwned"]'
    return f"---\n제목: {tag}\n---\n\n# 본문\n\n내용".encode()


def long_line_text(megabytes: int = 8) -> bytes:
    return ("금융실명제" * (megabytes * (1 << 20) // 15)).encode()


def too_big_text() -> bytes:
    return b"a" * (51 * 1024 * 1024)


HOSTILE_FILES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "empty_pdf": ("빈.pdf", empty_pdf),
    "header_only_pdf": ("header.pdf", header_only_pdf),
    "truncated_pdf": ("잘림.pdf", truncated_pdf),
    "encrypted_pdf": ("암호.pdf", encrypted_pdf),
    "foreign_encryption_pdf": ("암호2.pdf", foreign_encryption_pdf),
    "textless_pdf": ("스캔.pdf", textless_pdf),
    "deep_array_pdf": ("deep_array.pdf", deep_nesting_pdf),
    "deep_dict_pdf": ("deep_dict.pdf", deep_dict_pdf),
    "deep_form_pdf": ("deep_form.pdf", deep_form_pdf),
    "huge_image_pdf": ("huge_image.pdf", huge_image_pdf),
    "flate_bomb_pdf": ("bomb.pdf", flate_bomb_pdf),
    "page_tree_loop_pdf": ("loop.pdf", page_tree_loop_pdf),
    "many_pages_pdf": ("many.pdf", many_pages_pdf),
    "not_a_pdf": ("zip.pdf", not_a_pdf),
    "binary_txt": ("garbage.txt", binary_garbage),
    "binary_md": ("garbage.md", binary_garbage),
    "non_utf8_txt": ("latin1.txt", non_utf8_text),
    "nul_txt": ("nul.txt", nul_text),
    "whitespace_txt": ("blank.txt", whitespace_text),
    "yaml_bomb_md": ("yaml_bomb.md", yaml_bomb_markdown),
    "bad_yaml_md": ("bad_yaml.md", bad_yaml_markdown),
    "python_tag_md": ("python_tag.md", python_tag_yaml_markdown),
    "too_big_txt": ("big.txt", too_big_text),
}

# Files that are odd but legitimate: ingestion may succeed (or refuse cleanly).
ODD_BUT_VALID: dict[str, tuple[str, Callable[[], bytes]]] = {
    "huge_image_with_text_pdf": ("image_text.pdf", lambda: huge_image_pdf(with_text=True)),
    "long_line_txt": ("long.txt", long_line_text),
    "cp949_txt": ("cp949.txt", lambda: "금융실명제 실명확인 안내\n제1조 목적".encode("cp949")),
    "plain_pdf": ("plain.pdf", text_pdf),
    # pypdf skips the cyclic reference and still finds the text drawn beside it.
    "self_drawing_form_pdf": ("self_form.pdf", self_drawing_form_pdf),
}
