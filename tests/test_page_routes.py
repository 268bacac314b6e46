"""The practitioner page's HTTP side against a live ``fnrag serve``: the headers and
assets that make it safe and air-gapped, and the routes it adds (config, passage, PDF
page image, past conversations), with their access rules."""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hostile_files import text_pdf

# The live server and the browser (fixtures ``serve`` and ``browser``).
pytest_plugins = ("page_fixtures",)
pytestmark = pytest.mark.slow

STATIC = Path(__file__).resolve().parent.parent / "fnrag" / "service" / "static"
TESTIDS = ("question", "send", "answer", "citation", "citation-panel", "feedback-up",
           "feedback-down", "as-of", "api-key")  # fmt: skip
PDF_TEXT = (
    "Real-name verification: check the identity card before opening an account. Article 3 applies."
)


def _get(server: Any, path: str, key: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(server.url + path)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _chat(server: Any, question: str, key: str) -> dict[str, Any]:
    body = json.dumps(
        {"model": "fnrag", "messages": [{"role": "user", "content": question}]}
    ).encode()
    request = urllib.request.Request(server.url + "/v1/chat/completions", data=body, method="POST")
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def sample_server(serve: Any, hashing_sample_index_dir: Path) -> Any:
    return serve(hashing_sample_index_dir)


def test_page_headers_forbid_inline_script_and_framing(sample_server: Any) -> None:
    status, headers, html = _get(sample_server, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and headers["x-content-type-options"] == "nosniff"
    text = html.decode("utf-8")
    assert re.findall(r"<script\b[^>]*>", text) == ['<script src="/ui/static/app.js" defer>']
    assert " style=" not in text and re.search(r"\son[a-z]+\s*=", text) is None  # no inline handler
    for name in ("app.js", "app.css", "icon.svg"):
        status, headers, _ = _get(sample_server, f"/ui/static/{name}")
        assert status == 200 and "script-src 'self'" in headers["content-security-policy"]
    assert _get(sample_server, "/ui/static/..%2Fpage.py")[0] == 404
    assert _get(sample_server, "/ui/static/page.py")[0] == 404
    assert _get(sample_server, "/favicon.ico")[0] == 200


def test_assets_are_local_text_only_and_light() -> None:
    files = {path.name: path.read_text(encoding="utf-8") for path in STATIC.iterdir()}
    everything = "\n".join(files.values())
    # Air-gapped: nothing is fetched from another host (the SVG's XML namespace is a name).
    assert re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", everything) == ["http://www.w3.org"]
    assert "@import" not in files["app.css"] and "url(" not in files["app.css"]
    script = files["app.js"]
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        assert sink not in script, sink
    for name in TESTIDS:
        assert f'data-testid="{name}"' in everything or f'"data-testid": "{name}"' in everything, (
            name
        )
    weight = sum(len(text.encode("utf-8")) for text in files.values())
    print(f"[page] static assets: {weight / 1024:.1f} KB uncompressed (goal ≤ 200 KB)")
    assert weight < 200 * 1024


def test_config_and_passage_routes(sample_server: Any) -> None:
    status, _, raw = _get(sample_server, "/ui/config")
    config = json.loads(raw)
    assert status == 200 and config["auth"] == "key" and config["sample"] is True
    assert config["refusal"] == "제공된 자료에서 답을 찾을 수 없습니다."
    answer = _chat(
        sample_server, "거래정보 제공 기록부에는 무엇을 적어야 하나요?", sample_server.key
    )
    citation = answer["choices"][0]["message"]["citations"][0]
    query = f"/ui/passage?chunk_id={citation['chunk_id']}&quote_start={citation['quote_start']}&quote_end={citation['quote_end']}"
    assert _get(sample_server, query)[0] == 401
    assert _get(sample_server, query, "fnrag-wrong")[0] == 401
    status, headers, raw = _get(sample_server, query, sample_server.key)
    passage = json.loads(raw)
    assert status == 200 and headers["cache-control"] == "no-store"
    a, b = citation["quote_start"] - passage["start"], citation["quote_end"] - passage["start"]
    assert passage["text"][a:b] == citation["quote"]
    assert passage["pdf"] == {"available": False}  # a Markdown source has no page image
    assert (
        _get(
            sample_server,
            "/ui/passage?chunk_id=" + urllib.parse.quote("없는조각"),
            sample_server.key,
        )[0]
        == 404
    )


def test_conversations_are_the_callers_own(sample_server: Any) -> None:
    from fnrag.storage.keys import create_key

    answer = _chat(sample_server, "차명거래를 하면 어떤 제재를 받나요?", sample_server.key)
    status, _, raw = _get(sample_server, "/ui/conversations", sample_server.key)
    listed = json.loads(raw)["conversations"]
    assert status == 200 and answer["conversation_id"] in [c["id"] for c in listed]
    mine = next(c for c in listed if c["id"] == answer["conversation_id"])
    assert mine["title"] == "차명거래를 하면 어떤 제재를 받나요?" and mine["turns"] == 1
    status, _, raw = _get(sample_server, f"/ui/conversations/{mine['id']}", sample_server.key)
    (turn,) = json.loads(raw)["turns"]
    assert (
        turn["id"] == answer["id"] and turn["answer"] == answer["choices"][0]["message"]["content"]
    )
    db = sample_server.database()
    try:
        other, _ = create_key(db, "준법감시팀", "practitioner")
    finally:
        db.dispose()
    status, _, raw = _get(sample_server, "/ui/conversations", other)
    assert status == 200 and json.loads(raw)["conversations"] == []
    assert _get(sample_server, f"/ui/conversations/{mine['id']}", other)[0] == 404
    assert _get(sample_server, "/ui/conversations")[0] == 401


def test_pdf_page_rendered_cached_marked_and_only_for_the_indexed_file(
    serve: Any, tmp_path: Path
) -> None:
    from fnrag.index.build import build_index
    from fnrag.index.search import load_index

    source = tmp_path / "pdfs"
    source.mkdir()
    (source / "manual.pdf").write_bytes(text_pdf(PDF_TEXT))
    index_dir = tmp_path / "index"
    build_index([str(source)], index_dir, embedder="hashing")
    (chunk,) = load_index(index_dir).chunks
    server = serve(index_dir)
    start = chunk.text.index("check the identity card")
    query = f"/ui/passage?chunk_id={chunk.chunk_id}&quote_start={chunk.start + start}&quote_end={chunk.start + start + 23}"
    passage = json.loads(_get(server, query, server.key)[2])
    pdf = passage["pdf"]
    assert pdf["available"] is True and pdf["page"] == 1
    ((x0, y0, x1, y1),) = pdf["marks"]  # one line of text, one rectangle
    assert 0.05 < x0 < x1 < 0.9 and 0.05 < y0 < y1 < 0.15  # near the top, where it is drawn

    status, headers, png = _get(
        server, f"/ui/pdf-page?chunk_id={chunk.chunk_id}&page=1", server.key
    )
    assert (
        status == 200 and headers["content-type"] == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    )
    cached = list((server.home / "page-images").rglob("1-*.png"))
    assert len(cached) == 1 and cached[0].read_bytes() == png
    assert _get(server, f"/ui/pdf-page?chunk_id={chunk.chunk_id}&page=1")[0] == 401
    assert _get(server, f"/ui/pdf-page?chunk_id={chunk.chunk_id}&page=2", server.key)[0] == 404

    # A changed file is not the one that was indexed: no image of it.
    shutil.copy(source / "manual.pdf", tmp_path / "original.pdf")
    (source / "manual.pdf").write_bytes(text_pdf("A different document altogether."))
    passage = json.loads(_get(server, query, server.key)[2])
    assert passage["pdf"]["available"] is False
    assert _get(server, f"/ui/pdf-page?chunk_id={chunk.chunk_id}&page=1", server.key)[0] == 404


def test_trusted_proxy_mode_needs_no_key_prompt(serve: Any, hashing_sample_index_dir: Path) -> None:
    server = serve(hashing_sample_index_dir, "--trusted-proxy-header", "X-Remote-User")
    config = json.loads(_get(server, "/ui/config")[2])
    assert config["auth"] == "proxy"  # the page shows no key field and sends no key
    answer = _chat(server, "실명확인증표에는 무엇이 있나요?", server.key)
    request = urllib.request.Request(server.url + "/ui/conversations")
    request.add_header("X-Remote-User", "kim.jiyoung")  # as the bank's SSO proxy would
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["conversations"] == []  # kim asked nothing yet
    listed = json.loads(_get(server, "/ui/conversations", server.key)[2])["conversations"]
    assert [c["id"] for c in listed] == [answer["conversation_id"]]


def test_without_pypdfium2_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    from fnrag.errors import MissingExtraError
    from fnrag.service.page_pdf import quote_marks

    pdf = tmp_path / "manual.pdf"
    pdf.write_bytes(text_pdf(PDF_TEXT))
    monkeypatch.setitem(sys.modules, "pypdfium2", None)
    with pytest.raises(MissingExtraError, match=r"fnrag\[serve\]"):
        quote_marks(pdf, [1], "identity card")
