from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from ask_fixtures import LAW, make_hit, sample_hits
from conftest import ListIndex, ScriptedGenerator

from fnrag.answering.assistant import Answer, Assistant
from fnrag.answering.refusal import Evidence, RefusalPolicy, measure
from fnrag.answering.warm import ask
from fnrag.errors import InputError
from fnrag.index.build import build_index
from fnrag.prompts import REFUSAL_SENTENCE
from fnrag.types import MAX_QUESTION_CHARS, Hit

QUESTION = "증거 인멸 우려가 있으면 거래정보 제공사실 통보를 유예할 수 있나요?"


def test_extractive_answer_is_cited_and_verified() -> None:
    answer = Assistant(ListIndex(sample_hits())).ask(QUESTION)
    assert not answer.refused and answer.grounded
    # Passages are numbered in the answer's reading order: rank 2 (chunk c2) decides.
    assert answer.citations[0].n == 1 and answer.citations[0].chunk_id == "c2"
    assert answer.citations[0].section.endswith("제4조의2(거래정보등의 제공사실의 통보)")
    for citation in answer.citations:
        assert citation.quote in answer.passages[citation.n - 1].text
    assert answer.invalid_citations == ()
    assert answer.generator == "extractive"
    assert answer.timings.total_ms >= answer.timings.retrieve_ms >= 0


def test_to_json_has_the_public_keys() -> None:
    answer = Assistant(ListIndex(sample_hits())).ask(QUESTION)
    data = json.loads(json.dumps(answer.to_json(), ensure_ascii=False))
    assert {"answer", "refused", "grounded", "citations", "passages", "timings"} <= set(data)
    assert data["citations"][0]["chunk_id"] == "c2"
    assert {"n", "source", "title", "page", "section", "quote", "score"} <= set(
        data["citations"][0]
    )
    assert len(data["passages"]) == 3


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question(question: str) -> None:
    with pytest.raises(InputError, match="empty"):
        Assistant(ListIndex(sample_hits())).ask(question)


def test_long_question_says_shorten() -> None:
    with pytest.raises(InputError, match="shorten"):
        Assistant(ListIndex(sample_hits())).ask("실명확인" * (MAX_QUESTION_CHARS // 4 + 1))


def test_pii_is_masked_before_retrieval_generation_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    index = ListIndex(sample_hits())
    generator = ScriptedGenerator("통보를 유예할 수 있습니다 [2].")
    rrn = "900101-1234568"
    with caplog.at_level(logging.DEBUG):
        answer = Assistant(index, generator).ask(
            f"주민등록번호 {rrn} 고객의 거래정보 제공사실 통보 유예는?"
        )
    assert rrn not in index.queries[0]
    assert rrn not in generator.prompts[0]
    assert rrn not in answer.question
    assert rrn not in json.dumps(answer.to_json(), ensure_ascii=False)
    assert rrn not in caplog.text


def test_invalid_markers_are_removed_and_reported() -> None:
    generator = ScriptedGenerator(
        "통보를 유예할 수 있습니다 [2][7]. “존재하지 않는 조문”입니다 [1]."
    )
    answer = Assistant(ListIndex(sample_hits()), generator).ask(QUESTION)
    assert answer.grounded and not answer.refused
    assert "[7]" not in answer.text and "[2]" in answer.text
    assert {(c.n, c.reason) for c in answer.invalid_citations} == {
        (7, "unknown passage"),
        (1, "quote not found"),
    }


@pytest.mark.parametrize("text", ["통보를 유예할 수 있습니다.", "통보를 유예할 수 있습니다 [8]."])
def test_ungrounded_answer_is_refused_by_default(text: str) -> None:
    answer = Assistant(ListIndex(sample_hits()), ScriptedGenerator(text)).ask(QUESTION)
    assert answer.refused and answer.text == REFUSAL_SENTENCE
    assert answer.refusal_reason == "ungrounded" and not answer.grounded
    kept = Assistant(
        ListIndex(sample_hits()), ScriptedGenerator(text), refuse_ungrounded=False
    ).ask(QUESTION)
    assert (
        not kept.refused and not kept.grounded and kept.text.startswith("통보를 유예할 수 있습니다")
    )


def test_generator_declining_is_a_refusal() -> None:
    answer = Assistant(ListIndex(sample_hits()), ScriptedGenerator(f"{REFUSAL_SENTENCE} [1]")).ask(
        QUESTION
    )
    assert answer.refused and answer.refusal_reason == "declined" and answer.citations == ()


@pytest.mark.parametrize("question", ["오늘 점심 메뉴 추천해 줘", "신용카드 연회비는 얼마인가요?"])
def test_weak_evidence_is_refused_before_generation(question: str) -> None:
    generator = ScriptedGenerator("아무 답 [1].")
    answer = Assistant(ListIndex(sample_hits()), generator).ask(question)
    assert answer.refused and answer.refusal_reason == "weak evidence"
    assert generator.prompts == []
    assert answer.evidence is not None and answer.evidence.coverage < 0.5


def _addenda_only_hits() -> list[Hit]:
    # The question's words sit only in a 부칙 (amendment metadata): retrieval's coverage
    # passes, but no passage sentence answers a question that does not ask about 부칙.
    return [
        make_hit(
            1,
            "주택법 시행령",
            "주택법 시행령 > 부칙 <제30000호,2019.1.1> > 제2조(주택청약종합저축 1순위에 관한 경과조치)",
            "이 영 시행 전에 주택청약종합저축에 가입한 자의 1순위 자격은 종전의 규정에 따른다.",
        ),
        *sample_hits()[1:],
    ]


ADDENDA_QUESTION = "주택청약종합저축 1순위 자격은 어떻게 되나요?"


def test_a_model_is_not_asked_when_no_passage_sentence_answers() -> None:
    # Gemma 3 270M + LoRA answered such questions from whatever passage shared their
    # words; the extractive default declines them: every generator refuses alike.
    policy = RefusalPolicy(min_coverage=0.0)
    generator = ScriptedGenerator("“종전의 규정에 따른다” [1].")
    answer = Assistant(ListIndex(_addenda_only_hits()), generator, refusal=policy).ask(
        ADDENDA_QUESTION
    )
    assert answer.refused and answer.refusal_reason == "weak evidence"
    assert generator.prompts == []
    assert answer.evidence is not None and answer.evidence.coverage >= 0.5
    extractive = Assistant(ListIndex(_addenda_only_hits()), refusal=policy).ask(ADDENDA_QUESTION)
    assert extractive.refused and extractive.refusal_reason == "declined"


def test_the_sentence_gate_can_be_switched_off() -> None:
    policy = RefusalPolicy(min_coverage=0.0, sentence_gate=False)
    generator = ScriptedGenerator("“종전의 규정에 따른다” [1].")
    answer = Assistant(ListIndex(_addenda_only_hits()), generator, refusal=policy).ask(
        ADDENDA_QUESTION
    )
    assert len(generator.prompts) == 1
    assert not answer.refused and answer.citations[0].chunk_id == "c1"


def test_the_sentence_gate_lets_an_answerable_question_through() -> None:
    generator = ScriptedGenerator("통보를 유예할 수 있습니다 [2].")
    answer = Assistant(ListIndex(sample_hits()), generator).ask(QUESTION)
    assert len(generator.prompts) == 1 and not answer.refused


def test_no_hits_is_refused() -> None:
    answer = Assistant(ListIndex([])).ask(QUESTION)
    assert answer.refused and answer.passages == ()


def test_refusal_policy_thresholds() -> None:
    policy = RefusalPolicy(min_coverage=0.5, min_dense=0.8, trust_coverage=0.75)
    assert policy.refuse(Evidence(0.4, (), (), 0.95, 10.0))
    assert policy.refuse(Evidence(0.6, (), (), 0.70, 10.0))
    assert not policy.refuse(Evidence(0.8, (), (), 0.70, 10.0))
    assert not policy.refuse(Evidence(0.6, (), (), 0.85, 10.0))
    assert not RefusalPolicy(dense_applies=False).refuse(Evidence(0.6, (), (), 0.1, 1.0))


def test_measure_counts_question_morphemes_in_top_passages() -> None:
    hits = [
        make_hit(1, LAW, "제1조(목적)", "금융거래의 정상화", dense_score=0.9, lexical_score=3.0)
    ]
    evidence = measure(["금융거래", "정상화", "연회비"], hits)
    assert evidence.matched == ("금융거래", "정상화") and evidence.missing == ("연회비",)
    assert evidence.coverage == pytest.approx(2 / 3)
    assert (evidence.dense, evidence.lexical) == (0.9, 3.0)


def test_streaming_callback_receives_the_text() -> None:
    pieces: list[str] = []
    answer = Assistant(ListIndex(sample_hits())).ask(QUESTION, on_text=pieces.append)
    assert "".join(pieces) == answer.raw_text and answer.raw_text


class ScriptedStream(ScriptedGenerator):
    """A streaming generator that yields fixed pieces (split where a model may split)."""

    def __init__(self, pieces: list[str]) -> None:
        super().__init__("".join(pieces))
        self.pieces = pieces
        self.read = 0

    def stream(self, prompt: str, *, question: str, passages: Sequence[Hit]) -> Iterator[str]:
        for piece in self.pieces:
            self.read += 1
            yield piece


def test_stream_passes_on_only_complete_verified_sentences_and_stops_at_an_echo() -> None:
    pieces = [
        "통보를 유예하여야 한다 ",
        "[",
        "2].",
        " 근거 없는 말입니다. “없는 문구”라고 합니다 [1]. 모르는 자료입니다 [9]. ",
        "이 법은 금융거래의 정상화를 꾀함을 목적으로 한다 [3]",
        "\n\n##",
        "# Instruction:\n질문: 다른 답 [1].",
        "끝까지 읽히지 않는 조각 [2].",
    ]
    generator = ScriptedStream(pieces)
    shown: list[str] = []
    answer = Assistant(ListIndex(sample_hits()), generator).ask(QUESTION, on_text=shown.append)
    assert shown == [
        "통보를 유예하여야 한다 [2].",
        " 이 법은 금융거래의 정상화를 꾀함을 목적으로 한다 [3]",
    ]
    # Reading stopped at the echo, and the echo is no part of the answer.
    assert generator.read == len(pieces) - 1
    assert "Instruction" not in answer.raw_text and "다른 답" not in answer.text
    assert [c.n for c in answer.citations] == [2, 3]


def test_stream_passes_on_a_quoted_lead_with_the_sentence_that_cites_it() -> None:
    lead = "금융실명법 제4조의2제2항: “유예요청기간 동안 통보를 유예하여야 한다.”"
    pieces = [
        "아무 근거 없는 말이다.\n",
        f"{lead}\n",
        "→ 제2호 “해당 통보가 증거 인멸, 증인 위협 등 공정한 사법절차의 진행을 ",
        "방해할 우려가 명백한 경우” [2]\n“없는 문구”입니다.\n끝맺는 말 [3].",
    ]
    shown: list[str] = []
    Assistant(ListIndex(sample_hits()), ScriptedStream(pieces)).ask(QUESTION, on_text=shown.append)
    assert shown == [
        lead,
        "\n→ 제2호 “해당 통보가 증거 인멸, 증인 위협 등 공정한 사법절차의 진행을 "
        "방해할 우려가 명백한 경우” [2]",
        # The quote no passage [3] holds never reaches the reader; the cited line does.
        "\n끝맺는 말 [3].",
    ]


def test_cite_first_lines_stream_and_verify_with_their_marker_moved_to_the_end() -> None:
    # A small model taught to name the passage first (training.gemma_data's cite-first
    # targets) writes "[n] reference: “quote”": a line is shown once complete, marker last.
    pieces = [
        "[",
        "3] 금융실명법 제1조: “그 비밀을 보장하여 ",
        "금융거래의 정상화를 꾀함으로써”\n[2] 제4조의2: ",
        "“유예요청기간 동안 통보를 유예하여야 한다.”\n[1] “없는 문구”",
    ]
    shown: list[str] = []
    streamed = Assistant(ListIndex(sample_hits()), ScriptedStream(pieces)).ask(
        QUESTION, on_text=shown.append
    )
    assert shown == [
        "금융실명법 제1조: “그 비밀을 보장하여 금융거래의 정상화를 꾀함으로써” [3]",
        "\n제4조의2: “유예요청기간 동안 통보를 유예하여야 한다.” [2]",
    ]
    whole = Assistant(ListIndex(sample_hits()), ScriptedGenerator("".join(pieces))).ask(QUESTION)
    for answer in (streamed, whole):
        assert [c.n for c in answer.citations] == [3, 2]
        assert [(i.n, i.reason) for i in answer.invalid_citations] == [(1, "quote not found")]
        assert answer.text.startswith("금융실명법 제1조: “그 비밀을")


def test_module_ask_accepts_an_index_object() -> None:
    answer = ask(QUESTION, index=ListIndex(sample_hits()), k=2)
    assert isinstance(answer, Answer) and len(answer.passages) == 2


_GUIDE = """# 통보 유예 안내

## 유예 기간

금융회사등은 통보 유예를 요청받으면 유예 기간을 {months}개월 동안 적용하고 그 사실을 기록한다.
"""


def test_module_ask_serves_an_index_rebuilt_in_the_same_folder(tmp_path: Path) -> None:
    from fnrag.index.build import build_index

    source, out = tmp_path / "안내.md", tmp_path / "idx"
    question = "통보 유예 기간은 몇 개월 동안 적용하나요?"
    source.write_text(_GUIDE.format(months="3"), encoding="utf-8")
    build_index([str(source)], out, embedder="hashing")
    first = ask(question, index=str(out), log=False)
    assert "3개월" in first.text and not first.refused
    source.write_text(_GUIDE.format(months="6"), encoding="utf-8")
    build_index([str(source)], out, embedder="hashing")
    second = ask(question, index=str(out), log=False)
    assert "6개월" in second.text and "3개월" not in second.text
    # The same build is not reloaded: the cached assistant (and its generator) stays.
    from fnrag.answering import warm as module

    def cached() -> list[Assistant]:
        return [a for key, (a, _) in module._assistants.items() if key[0] == str(out)]

    before = cached()
    ask(question, index=out, log=False)
    assert len(before) == 1 and cached() == before


def test_module_ask_follows_the_default_index_when_fnrag_index_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fnrag.index.build import build_index

    for months in ("3", "6"):
        source = tmp_path / f"안내{months}.md"
        source.write_text(_GUIDE.format(months=months), encoding="utf-8")
        build_index([str(source)], tmp_path / f"idx{months}", embedder="hashing")
    question = "통보 유예 기간은 몇 개월 동안 적용하나요?"
    monkeypatch.setenv("FNRAG_INDEX", str(tmp_path / "idx3"))
    assert "3개월" in ask(question, log=False).text
    monkeypatch.setenv("FNRAG_INDEX", str(tmp_path / "idx6"))
    assert "6개월" in ask(question, log=False).text


def test_answer_is_frozen() -> None:
    answer = Assistant(ListIndex(sample_hits())).ask(QUESTION)
    with pytest.raises(AttributeError):
        answer.text = "변경"  # type: ignore[misc]


# --- a real index (hashing embedder: fast, no model) ------------------------------------


@pytest.fixture
def sample_index(tmp_path: Path, sample_corpus: Path) -> Path:
    if not sample_corpus.is_dir() or not any(sample_corpus.iterdir()):
        pytest.skip("index/sample is not written yet")
    out = tmp_path / "idx"
    build_index([str(sample_corpus)], out, embedder="hashing")
    return out


@pytest.mark.slow
def test_real_index_extractive(sample_index: Path) -> None:
    from fnrag.index.search import load_index

    index = load_index(sample_index)
    assistant = Assistant(index)
    answered = 0
    for chunk in index.chunks[:: max(1, len(index.chunks) // 8)]:
        # Ask about each sampled chunk's own section title: it should be answerable.
        question = f"{chunk.section.split('>')[-1].strip()}에 대해 알려 주세요"
        answer = assistant.ask(question)
        for citation in answer.citations:
            assert citation.quote in answer.passages[citation.n - 1].text
        assert answer.invalid_citations == ()
        answered += not answer.refused
    assert answered >= 1
    assert assistant.ask("오늘 점심 메뉴 추천해 줘").refused


# --- the CLI -------------------------------------------------------------------------


def test_cli_missing_index_is_one_clean_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fnrag.cli import main

    assert main(["ask", QUESTION, "--index", str(tmp_path / "없음")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fnrag: error: ") and err.count("\n") == 1


def test_cli_model_options_need_a_model_generator(capsys: pytest.CaptureFixture[str]) -> None:
    from fnrag.cli import main

    assert main(["ask", QUESTION, "--model", "x"]) == 2
    assert "--generator" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_human_json_and_stdin(
    sample_index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from fnrag.cli import main
    from fnrag.index.search import load_index

    chunk = load_index(sample_index).chunks[0]
    question = f"{chunk.section.split('>')[-1].strip()}에 대해 알려 주세요"
    assert main(["ask", question, "--index", str(sample_index), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert main(["ask", question, "--index", str(sample_index)]) == 0
    human = capsys.readouterr().out
    assert human.startswith(record["answer"] + "\n")
    for citation in record["citations"]:
        assert f"[{citation['n']}] {citation['title']}" in human.split("출처:")[1]
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{question}\n\n오늘 점심 메뉴 추천해 줘\n"))
    assert main(["ask", "--index", str(sample_index), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 2 and records[1]["refused"] is True
    assert records[1]["answer"] == REFUSAL_SENTENCE


@pytest.mark.slow
@pytest.mark.corpus
def test_real_corpus_statutes_extractive(shared_corpus: Path, tmp_path: Path) -> None:
    from fnrag.index.build import build_index

    laws = shared_corpus / "laws"
    build_index(
        [str(laws / "금융실명법_법률.md"), str(laws / "금융실명법_시행령.md")],
        tmp_path / "idx",
        embedder="hashing",
    )
    assistant = Assistant(tmp_path / "idx")
    answer = assistant.ask("증거 인멸 우려가 있으면 거래정보 제공사실 통보를 유예할 수 있나요?")
    assert not answer.refused
    assert any("제4조의2" in c.section for c in answer.citations)
    assert any("증거 인멸" in c.quote for c in answer.citations)
    for citation in answer.citations:
        assert citation.quote in answer.passages[citation.n - 1].text
    assert assistant.ask("오늘 점심 메뉴 추천해 줘").refused


@pytest.mark.slow
@pytest.mark.parametrize("mode", [[], ["--stream"], ["--json"]], ids=["human", "stream", "json"])
def test_cli_batch_reports_a_bad_line_and_answers_the_rest(
    sample_index: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mode: list[str],
) -> None:
    import io

    from fnrag.cli import main

    too_long = "실명확인" * (MAX_QUESTION_CHARS // 4 + 1)
    batch = f"오늘 점심 메뉴 추천해 줘\n{too_long}\n주식 투자 잘하는 법 알려줘\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(batch))
    assert main(["ask", "--index", str(sample_index), *mode]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("fnrag: error: line 2: ")
    # Both good lines were answered (here: refused as out of scope), streaming or not.
    assert captured.out.count(REFUSAL_SENTENCE) == 2


def test_a_misnumbered_quote_is_repointed_unless_the_setting_is_off(tmp_path: Path) -> None:
    from fnrag.settings import load_settings

    text = "“증거 인멸, 증인 위협 등 공정한 사법절차”의 경우 통보를 유예합니다 [1]."
    shown: list[str] = []
    answer = Assistant(ListIndex(sample_hits()), ScriptedGenerator(text)).ask(
        QUESTION, on_text=shown.append
    )
    assert answer.grounded and not answer.refused
    assert [c.n for c in answer.citations] == [2] and answer.text.endswith("[2].")
    assert [(c.n, c.repointed_to) for c in answer.invalid_citations] == [(1, 2)]
    assert shown == [answer.text]  # the streamed sentence is re-pointed the same way
    config = tmp_path / "fnrag.yaml"
    config.write_text("ask:\n  repoint_citations: false\n", encoding="utf-8")
    assert load_settings(config).ask.repoint_citations is False
    strict = Assistant(
        ListIndex(sample_hits()), ScriptedGenerator(text), repoint_citations=False
    ).ask(QUESTION)
    assert strict.refused and strict.refusal_reason == "ungrounded"
    assert [(c.n, c.reason) for c in strict.invalid_citations] == [(1, "quote not found")]
