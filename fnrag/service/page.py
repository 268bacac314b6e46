"""The practitioner's chat page served by ``fnrag serve`` at ``/`` (issue 16).

``GET /`` is a Korean chat page (``static/index.html``, ``app.js``, ``app.css``: plain
HTML, CSS and browser JavaScript, no build step, nothing fetched from outside the
server). Its script talks to the issue-15 API (``/v1/chat/completions`` streamed,
``/v1/feedback``) and to the routes below, which serve what the API does not:

- ``GET /ui/config`` (public): how the page must authenticate (``key``, ``proxy`` or
  ``none``), whether the bundled sample corpus is loaded (the 샘플 banner), whether the
  index holds dated law versions, and the refusal sentence.
- ``GET /ui/passage?chunk_id=&quote_start=&quote_end=``: the cited chunk's text and
  place, and for a PDF source the page holding the quote with its rectangles.
- ``GET /ui/pdf-page?chunk_id=&page=``: that PDF page as PNG (rendered once, cached).
- ``GET /ui/conversations`` and ``GET /ui/conversations/{id}``: the caller's own past
  conversations, read from the service database.

Every response of the page carries a Content-Security-Policy that allows scripts,
styles and connections only from the server itself (no inline script, no ``eval``),
images from the server and ``blob:`` (the rendered PDF pages), and no framing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from fnrag.errors import MissingExtraError
from fnrag.service.auth import Principal, require
from fnrag.service.errors import ApiError

router = APIRouter()

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# The caller, who must hold a practitioner (or operator) key, or 401/403/429.
Practitioner = Annotated[Principal, Depends(require("practitioner"))]


def _headers(cache: str = "no-cache") -> dict[str, str]:
    return {**SECURITY_HEADERS, "Cache-Control": cache}


def _json(body: Any) -> JSONResponse:
    return JSONResponse(body, headers=_headers("no-store"))


@router.get("/", include_in_schema=False)
def page() -> Response:
    """The chat page."""
    html = (STATIC / "index.html").read_bytes()
    return Response(html, media_type="text/html; charset=utf-8", headers=_headers())


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """Browsers ask for it unprompted; a 404 would be a console error on every load."""
    return asset("icon.svg")


@router.get("/ui/static/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    """One of the page's own files (a fixed list: no path is read from the request)."""
    media = ASSETS.get(name)
    if media is None:
        raise ApiError(404, f"no page asset {name!r}", "not_found")
    return Response((STATIC / name).read_bytes(), media_type=media, headers=_headers())


@router.get("/ui/config", include_in_schema=False)
def page_config(request: Request) -> JSONResponse:
    """What the page must know before the first question."""
    from fnrag.prompts import REFUSAL_SENTENCE
    from fnrag.service.page_data import facts

    service = request.app.state.service
    config = service.config
    if not config.auth:
        auth = "none"
    elif config.trusted_proxy_header:
        auth = "proxy"
    else:
        auth = "key"
    body: dict[str, Any] = {"auth": auth, "refusal": REFUSAL_SENTENCE, "ready": service.ready}
    if service.ready:
        known = facts(service.index)
        body.update(
            sample=known.sample, versions=known.versions, index_version=service.index_version
        )
    return _json(body)


def _chunk(request: Request, chunk_id: str) -> tuple[Any, Any]:
    from fnrag.service.page_data import facts

    index = request.app.state.service.index
    chunk = facts(index).chunks.get(chunk_id)
    if chunk is None:
        raise ApiError(
            404, f"no passage {chunk_id!r} in the loaded index (was it rebuilt?)", "not_found"
        )
    # The passage as the answer showed it: a short article's chunks joined into one.
    shown = getattr(index, "passage", None)
    return index, shown(chunk_id) if callable(shown) else chunk


def _pdf_of(index: Any, chunk: Any) -> tuple[Path, str] | None:
    from fnrag.service.page_pdf import find_source

    manifest = getattr(index, "manifest", {}) or {}
    path = find_source(manifest, Path(getattr(index, "index_dir", ".")), chunk.source)
    if path is None:
        return None
    digest = next(e["sha256"] for e in manifest["sources"] if e.get("source") == chunk.source)
    return path, digest


def _pdf_pages(chunk: Any) -> list[int]:
    pages = list(chunk.pdf_pages) or ([chunk.pdf_page] if chunk.pdf_page else [])
    return [int(p) for p in pages]


@router.get("/ui/passage", include_in_schema=False)
def passage(
    request: Request,
    principal: Practitioner,
    chunk_id: Annotated[str, Query(max_length=200)],
    quote_start: Annotated[int, Query(ge=0)] = 0,
    quote_end: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """The cited passage, and where on its PDF page the quote stands."""
    from fnrag.service.page_data import passage_json
    from fnrag.service.page_pdf import quote_marks

    index, chunk = _chunk(request, chunk_id)
    body = passage_json(chunk)
    pages = _pdf_pages(chunk)
    pdf: dict[str, Any] = {"available": False}
    if pages:
        found = _pdf_of(index, chunk)
        if found is not None:
            a, b = quote_start - chunk.start, quote_end - chunk.start
            quote = chunk.text[a:b] if 0 <= a < b <= len(chunk.text) else chunk.text[:200]
            try:
                page, marks = quote_marks(found[0], pages, quote)
            except MissingExtraError as error:  # the passage still shows, without its page
                pdf["reason"] = str(error)
            else:
                pdf = {"available": True, "page": page or pages[0], "pages": pages, "marks": marks}
        else:
            pdf["reason"] = "the source PDF is not where the index recorded it, or it changed"
    body["pdf"] = pdf
    return _json(body)


@router.get("/ui/pdf-page", include_in_schema=False)
def pdf_page(
    request: Request,
    principal: Practitioner,
    chunk_id: Annotated[str, Query(max_length=200)],
    page: Annotated[int, Query(ge=1)],
) -> Response:
    """A page of the cited passage's PDF as PNG (only the pages the passage spans)."""
    from fnrag.service.page_pdf import render_page

    index, chunk = _chunk(request, chunk_id)
    if page not in _pdf_pages(chunk):
        raise ApiError(404, f"page {page} is not a page of passage {chunk_id!r}", "not_found")
    found = _pdf_of(index, chunk)
    if found is None:
        raise ApiError(404, "the source PDF is not available to this server", "not_found")
    png = render_page(found[0], found[1], page)
    return Response(png, media_type="image/png", headers=_headers("private, max-age=3600"))


@router.get("/ui/conversations", include_in_schema=False)
def conversation_list(request: Request, principal: Practitioner) -> JSONResponse:
    """The caller's past conversations, newest first."""
    from fnrag.service.page_data import conversations

    return _json({"conversations": conversations(request.app.state.service.db, principal.name)})


@router.get("/ui/conversations/{conversation_id}", include_in_schema=False)
def conversation(request: Request, conversation_id: str, principal: Practitioner) -> JSONResponse:
    """One of the caller's conversations, turn by turn (questions as stored: masked)."""
    from fnrag.service.page_data import conversation_turns

    turns = conversation_turns(request.app.state.service.db, principal.name, conversation_id[:64])
    if turns is None:
        raise ApiError(404, "no such conversation of yours", "not_found")
    return _json({"id": conversation_id, "turns": turns})
