"""Keep a local model's quotes verbatim and its ``[n]`` markers in range while it decodes.

A logits processor for transformers' ``generate``: inside an open quote (“…”, "…" or
「…」 on one line, the spans ``fnrag.answering.citations`` checks) only tokens that
continue a span of a shown passage, or close the quote, may come next; inside an open
``[`` marker a number may only name a shown passage, and after a quote (quote-first
answers, ``“…” [n]``) only a passage that holds the quote. Verification afterwards is
unchanged; this only stops a small model from writing what verification would strike
(Gemma 3 270M + LoRA: 3 of 57 dev markers struck, issue 18).

Where the quote may come from (``scope``):

- ``"cited"`` (default): when the line already names passages (cite-first answers,
  ``[2] 제4조제1항: “…``), the passages it names; otherwise every shown passage.
- ``"shown"``: every shown passage; a quote under the wrong number is then left to the
  verifier's re-pointing.

Matching works on bytes, so byte-level BPE vocabularies (Llama-3, SmolLM2) and
SentencePiece ones with byte fallback (Gemma) are handled alike: a Korean syllable split
over several tokens is followed byte by byte. The passages are read back from the prompt
(``fnrag.prompts.shown_passages``), so the quote stays inside what the model was shown.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fnrag.text import MARKER_RE

SCOPES = ("cited", "shown")
# The longest token, in bytes, a continuation is tried against (longer tokens are rare
# and a shorter one always exists for the same bytes).
_WINDOW = 48
# Quote openers and their closers, as in fnrag.answering.citations' quote patterns.
_CLOSER = {"“".encode(): "”".encode(), b'"': b'"', "「".encode(): "」".encode()}
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_MARKER = re.compile(MARKER_RE.pattern.encode())  # the verifier's marker, on bytes
# An open marker at the end of a line: "[", "[1", "[1, ", "[1,2" …
_OPEN_MARKER = re.compile(rb"\[\s*(?:\d{1,3}\s*,\s*)*\d{0,4}\s*$")
_MARKER_LEAD = re.compile(rb"^[0-9, ]*")
# On text, not bytes: a byte class [^”] would exclude each of ”'s three bytes.
_CLOSED_QUOTE = re.compile(r'“([^”\n]+)”|"([^"\n]+)"|「([^」\n]+)」')


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-to-unicode table, inverted (byte-level BPE token strings → bytes)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, codes, strict=True)}


@dataclass
class TokenTable:
    """Every token of a vocabulary as the bytes it adds to the text.

    Attributes:
        pieces: token id → bytes (empty for special tokens).
        by_bytes: bytes → the token ids that spell exactly them.
        closing: closer → {bytes before the closer → ids of tokens that spell them, then
            the closer, then anything}.
        marker_tokens: (id, leading run of digits/commas/spaces/``]``) for tokens whose
            run holds a digit, a comma or ``]``: the only ones that can change an open marker.
        bracket_tokens: (id, the bytes from the token's last ``[`` on) for tokens that
            open a marker themselves (``[1``, ``[12]``).
        opener_tokens: (id, opener, the bytes after it) for tokens that open a quote and
            already carry its first bytes (``“이``).
    """

    pieces: list[bytes]
    by_bytes: dict[bytes, list[int]]
    closing: dict[bytes, dict[bytes, list[int]]]
    marker_tokens: list[tuple[int, bytes]]
    bracket_tokens: list[tuple[int, bytes]]
    opener_tokens: list[tuple[int, bytes, bytes]]

    @classmethod
    def of(cls, tokenizer: Any) -> TokenTable:
        """Build the table for a transformers tokenizer (about a second for 262k tokens)."""
        size = len(tokenizer)
        tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
        special = set(getattr(tokenizer, "all_special_ids", ()) or ())
        byte_level = _is_byte_level(tokenizer)
        decoder = _byte_decoder() if byte_level else {}
        pieces: list[bytes] = []
        for i, token in enumerate(tokens):
            if token is None or i in special:
                pieces.append(b"")
            elif byte_level:
                try:
                    pieces.append(bytes(decoder[ch] for ch in token))
                except KeyError:  # an added token outside the byte alphabet
                    pieces.append(token.encode("utf-8"))
            else:
                byte = _BYTE_TOKEN.fullmatch(token)
                if byte:
                    pieces.append(bytes([int(byte.group(1), 16)]))
                else:
                    pieces.append(token.replace("▁", " ").encode("utf-8"))
        by_bytes: dict[bytes, list[int]] = defaultdict(list)
        closing: dict[bytes, dict[bytes, list[int]]] = {
            c: defaultdict(list) for c in _CLOSER.values()
        }
        marker_tokens: list[tuple[int, bytes]] = []
        bracket_tokens: list[tuple[int, bytes]] = []
        opener_tokens: list[tuple[int, bytes, bytes]] = []
        for i, piece in enumerate(pieces):
            if not piece:
                continue
            by_bytes[piece].append(i)
            for closer, table in closing.items():
                at = piece.find(closer)
                if at >= 0:
                    table[piece[:at]].append(i)
            lead = _MARKER_LEAD.match(piece)
            run = lead.group(0) if lead else b""
            if piece[len(run) : len(run) + 1] == b"]":
                run += b"]"
            if any(c in run for c in b"0123456789,]"):
                marker_tokens.append((i, run))
            bracket = piece.rfind(b"[")
            if bracket >= 0 and re.match(rb"\[\s*\d", piece[bracket:]):
                bracket_tokens.append((i, piece[bracket:]))
            opened = _open_quote(piece)
            if opened is not None and opened[0] + len(opened[1]) < len(piece):
                at, opener = opened
                opener_tokens.append((i, opener, piece[at + len(opener) :]))
        return cls(
            pieces,
            dict(by_bytes),
            {c: dict(t) for c, t in closing.items()},
            marker_tokens,
            bracket_tokens,
            opener_tokens,
        )


def _is_byte_level(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return decoder is not None and "ByteLevel" in str(decoder.__getstate__())


@dataclass
class _Row:
    """One sequence's decoding state."""

    passages: dict[int, list[bytes]]  # number → its lines (a quote never spans lines)
    text: bytearray = field(default_factory=bytearray)
    seen: int = 0
    cache: dict[Any, list[int]] = field(default_factory=dict)


class VerbatimQuotes:
    """A transformers logits processor; one per ``generate`` call.

    Args:
        table: the tokenizer's :class:`TokenTable`.
        prompts: each row's prompt text (its shown passages are read from it).
        start: the input length where generated tokens begin (the padded width).
        always: token ids never masked (EOS, so a quote cut off by EOS still ends).
        scope: ``"cited"`` or ``"shown"`` (see the module docstring).

    Attributes:
        steps_only: decoding steps restricted to a quote's continuations.
        steps_blocked: decoding steps where some tokens were blocked (markers, openers).
    """

    def __init__(
        self,
        table: TokenTable,
        prompts: Sequence[str],
        start: int,
        always: Sequence[int] = (),
        scope: str = "cited",
    ) -> None:
        from fnrag.errors import InputError
        from fnrag.prompts import shown_passages

        if scope not in SCOPES:
            raise InputError(
                f"unknown verbatim scope {scope!r}; choose one of: {', '.join(SCOPES)}"
            )
        self.table = table
        self.start = start
        self.always = {int(i) for i in always}
        self.scope = scope
        self.rows = [
            _Row({n: body.encode("utf-8").split(b"\n") for n, body in shown_passages(p).items()})
            for p in prompts
        ]
        self.shared: dict[Any, list[int]] = {}
        self.steps_only = 0
        self.steps_blocked = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        for r, row in enumerate(self.rows):
            if not row.passages:
                continue
            for token in input_ids[r, self.start + row.seen :].tolist():
                row.text += self.table.pieces[token] if token < len(self.table.pieces) else b""
                row.seen += 1
            only, blocked = self.rule(row)
            if only is not None:
                ids = torch.tensor(sorted(set(only) | self.always), device=scores.device)
                kept = scores[r, ids].clone()
                scores[r].fill_(float("-inf"))
                scores[r, ids] = kept
                self.steps_only += 1
            elif blocked:
                ids = torch.tensor(
                    [i for i in blocked if i not in self.always], device=scores.device
                )
                scores[r, ids] = float("-inf")
                self.steps_blocked += 1
        return scores

    def rule(self, row: _Row) -> tuple[list[int] | None, list[int]]:
        """(the only ids that may come next, or None; ids that may not) for ``row``."""
        line = bytes(row.text[row.text.rfind(b"\n") + 1 :])
        opened = _open_quote(line)
        if opened is not None:
            at, opener = opened
            sources = self._sources(row, line[:at])
            return self._quote_continuations(row, sources, line[at + len(opener) :], opener), []
        shown = frozenset(row.passages)
        blocked = self._bad_brackets(shown) + self._bad_openers(row, self._sources(row, line))
        bracket = line.rfind(b"[")
        if bracket >= 0 and _OPEN_MARKER.fullmatch(line[bracket:]):
            holders = _holders(row, line[:bracket]) or shown
            blocked += self._bad_marker_steps(line[bracket:], holders)
        return None, blocked

    def _sources(self, row: _Row, before: bytes) -> tuple[int, ...]:
        if self.scope == "cited":
            named = list(_MARKER.finditer(before))
            if named:
                cited = [int(n) for n in re.split(rb"\s*,\s*", named[-1].group(1))]
                kept = tuple(n for n in cited if n in row.passages)
                if kept:
                    return kept
        return tuple(sorted(row.passages))

    def _quote_continuations(
        self, row: _Row, sources: tuple[int, ...], quote: bytes, opener: bytes
    ) -> list[int]:
        closing = self.table.closing.get(_CLOSER[opener], {})
        if not quote:
            # Any span of the sources may start a quote; worked out once per row and sources.
            key = ("starts", sources)
            if key not in row.cache:
                row.cache[key] = self._span_starts(row, sources)
            return row.cache[key]
        allowed: list[int] = list(closing.get(b"", ())) if quote.strip() else []
        windows: set[bytes] = set()
        for n in sources:
            for passage_line in row.passages[n]:
                at = passage_line.find(quote)
                while at >= 0:
                    windows.add(passage_line[at + len(quote) : at + len(quote) + _WINDOW])
                    at = passage_line.find(quote, at + 1)
        for window in windows:
            for j in range(1, len(window) + 1):
                allowed += self.table.by_bytes.get(window[:j], ())
                allowed += closing.get(window[:j], ())
        return allowed

    def _span_starts(self, row: _Row, sources: tuple[int, ...]) -> list[int]:
        found: set[int] = set()
        lookup = self.table.by_bytes
        for n in sources:
            for passage_line in row.passages[n]:
                for i in range(len(passage_line)):
                    if 0x80 <= passage_line[i] < 0xC0:
                        continue  # mid-character: no quote starts there
                    window = passage_line[i : i + _WINDOW]
                    for j in range(1, len(window) + 1):
                        ids = lookup.get(window[:j])
                        if ids:
                            found.update(ids)
        return sorted(found)

    def _bad_brackets(self, shown: frozenset[int]) -> list[int]:
        """Tokens that would themselves write a marker naming no shown passage."""
        key = ("brackets", shown)
        if key not in self.shared:
            self.shared[key] = [
                i for i, run in self.table.bracket_tokens if not _marker_ok(run, shown)
            ]
        return self.shared[key]

    def _bad_openers(self, row: _Row, sources: tuple[int, ...]) -> list[int]:
        """Tokens that would open a quote with bytes no source holds."""
        key = ("openers", sources)
        if key not in row.cache:
            lines = [line for n in sources for line in row.passages[n]]
            row.cache[key] = [
                i
                for i, _opener, rest in self.table.opener_tokens
                if not any(rest in line for line in lines)
            ]
        return row.cache[key]

    def _bad_marker_steps(self, tail: bytes, numbers: frozenset[int]) -> list[int]:
        """Inside an open marker: tokens that would make it name a passage not in ``numbers``."""
        key = ("marker", tail, numbers)
        if key not in self.shared:
            self.shared[key] = [
                i for i, run in self.table.marker_tokens if not _marker_ok(tail + run, numbers)
            ]
        return self.shared[key]


def _holders(row: _Row, before: bytes) -> frozenset[int]:
    """The passages holding the quote that ends the sentence a marker is being written
    for (quote-first answers, ``“…” [``); empty when there is none."""
    text = before.decode("utf-8", errors="ignore")
    quotes = list(_CLOSED_QUOTE.finditer(text))
    if not quotes or MARKER_RE.search(text, quotes[-1].end()):
        return frozenset()
    found = quotes[-1]
    quote = (found.group(1) or found.group(2) or found.group(3)).encode("utf-8")
    return frozenset(n for n, lines in row.passages.items() if any(quote in x for x in lines))


def _open_quote(line: bytes) -> tuple[int, bytes] | None:
    """Where the line's still-open quote starts (byte offset, opener), or None."""
    state: tuple[int, bytes] | None = None
    i = 0
    while i < len(line):
        if state is None:
            for opener in _CLOSER:
                if line.startswith(opener, i):
                    state = (i, opener)
                    i += len(opener)
                    break
            else:
                i += 1
        elif line.startswith(_CLOSER[state[1]], i):
            i += len(_CLOSER[state[1]])
            state = None
        else:
            i += 1
    return state


def _marker_ok(text: bytes, numbers: frozenset[int]) -> bool:
    """False when ``text`` (from ``[`` on) is, or can only grow into, a marker naming a
    passage not in ``numbers``."""
    closed = text.find(b"]")
    body = text[1:closed] if closed >= 0 else text[1:]
    if not re.fullmatch(rb"[\d\s,]*", body):
        return True  # not a marker at all, e.g. "[별표"
    parts = body.split(b",")
    for k, part in enumerate(parts):
        digits = part.strip()
        if not digits:
            continue
        if len(digits) > 3 or not digits.isdigit():
            return False
        typing = closed < 0 and k == len(parts) - 1 and not part.endswith(b" ")
        if typing:
            if not any(str(n).encode().startswith(digits) for n in numbers):
                return False
        elif int(digits) not in numbers:
            return False
    return True
