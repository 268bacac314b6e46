"""Settings a bank changes without editing code: YAML, $FNRAG_CONFIG, CLI options."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
from conftest import ScriptedGenerator

from fnrag.answering.assistant import Assistant
from fnrag.commands.options import SECTIONS, add_settings, settings_from
from fnrag.config import scalar_fields
from fnrag.errors import InputError
from fnrag.index.search import load_index
from fnrag.settings import Settings, load_settings


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fnrag.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_calibrated_values() -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.search.k == 5 and settings.search.fusion.lexical_weight == 0.6
    assert settings.refusal.min_coverage == 0.5 and settings.chunking.max_chars == 700


def test_yaml_sets_nested_values_and_keeps_the_rest(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        "# 지점 환경 설정\nsearch:\n  k: 3\n  fusion:\n    lexical_weight: 0.7\n"
        "refusal:\n  min_coverage: 0.4\nask:\n  log: false\n",
    )
    settings = load_settings(path)
    assert settings.search.k == 3
    assert settings.search.fusion.lexical_weight == 0.7
    assert settings.search.fusion.article_boost == 0.3  # untouched
    assert settings.refusal.min_coverage == 0.4 and settings.ask.log is False


def test_fnrag_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FNRAG_CONFIG", str(_yaml(tmp_path, "search:\n  mode: lexical\n")))
    assert load_settings().search.mode == "lexical"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("search:\n  lexcal_weight: 0.7\n", "unknown key"),
        ("search:\n  fusion:\n    lexcal_weight: 0.7\n", "valid keys: .*article_boost"),
        ("search:\n  k: 다섯\n", "k must be int"),
        ("search:\n  k: true\n", "k must be int"),
        ("search:\n  mode: 하이브리드\n", "unknown search mode"),
        ("ask:\n  generator: gpt\n", "unknown generator"),
        ("search: 5\n", "must be a mapping"),
        ("- 목록\n", "mapping of option"),
        ("search: [\n", "not valid YAML"),
    ],
)
def test_bad_settings_say_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_settings(_yaml(tmp_path, text))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_settings(tmp_path / "없는.yaml")


def _parser(sections: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_settings(parser, sections)
    return parser


def test_every_setting_is_a_command_line_option() -> None:
    parser = _parser(tuple(SECTIONS))
    known = {action.dest for action in parser._actions}
    for cls in SECTIONS.values():
        for f in scalar_fields(cls):
            assert f.name in known, f"{cls.__name__}.{f.name} has no option"
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


def test_options_win_over_the_file(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "search:\n  k: 3\n  fusion:\n    lexical_weight: 0.7\n")
    args = _parser(("search", "refusal")).parse_args(
        ["--config", str(path), "-k", "8", "--min-coverage", "0.3"]
    )
    settings = settings_from(args)
    assert settings.search.k == 8  # the option
    assert settings.search.fusion.lexical_weight == 0.7  # the file
    assert settings.refusal.min_coverage == 0.3


def test_the_sentence_gate_is_a_setting_and_an_option(tmp_path: Path) -> None:
    off = load_settings(
        _yaml(tmp_path, "# 모델 답변에도 같은 기준\nrefusal:\n  sentence_gate: false\n")
    )
    assert off.refusal.sentence_gate is False and Settings().refusal.sentence_gate is True
    args = _parser(("refusal",)).parse_args(["--no-sentence-gate"])
    assert settings_from(args).refusal.sentence_gate is False
    scripted = ScriptedGenerator("")
    assert off.refusal.sentence_gate_for(scripted) is None
    assert Settings().refusal.sentence_gate_for(scripted) is not None


def test_settings_change_what_search_and_ask_do(hashing_sample_index_dir: Path) -> None:
    question = "실명확인증표에는 어떤 것이 있나요?"
    lexical_only = dataclasses.replace(
        Settings().search,
        fusion=dataclasses.replace(
            Settings().search.fusion, lexical_weight=1.0, focus_boost=0.0, article_boost=0.0
        ),
        k=4,
    )
    index = load_index(hashing_sample_index_dir, config=lexical_only)
    hits = index.search(question)
    assert len(hits) == 4
    assert all(h.lexical_score is not None for h in hits)
    # With the dense side weighing nothing, the order is BM25's among the candidates.
    assert [h.lexical_score for h in hits] == sorted(
        (h.lexical_score or 0 for h in hits), reverse=True
    )
    strict = dataclasses.replace(
        Settings(),
        search=lexical_only,
        refusal=dataclasses.replace(Settings().refusal, min_coverage=1.01),
    )
    answer = Assistant.from_settings(index, strict).ask(question)
    assert answer.refused and answer.refusal_reason == "weak evidence"
    assert len(answer.passages) == 4


def test_a_misspelt_generator_option_is_named(hashing_sample_index_dir: Path) -> None:
    index = load_index(hashing_sample_index_dir)
    with pytest.raises(InputError, match=r"takes no option 'max_sentense'.*max_sentences"):
        Assistant(index, "extractive", max_sentense=2)


def test_chunk_settings_are_recorded_and_a_change_rechunks(
    tmp_path: Path, sample_corpus: Path
) -> None:
    import json

    from fnrag.chunking.spans import ChunkConfig
    from fnrag.index.build import build_index

    out = tmp_path / "색인"
    first = build_index([sample_corpus], out, embedder="hashing")
    again = build_index([sample_corpus], out, embedder="hashing")
    assert all(f.reused for f in again.files)  # same settings: chunks reused
    small = build_index(
        [sample_corpus], out, embedder="hashing", chunking=ChunkConfig(max_chars=300)
    )
    assert not any(f.reused for f in small.files)  # other settings: every file re-cut
    assert small.chunks > first.chunks
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["chunking"] == {"max_chars": 300, "include_chapters": False}
    index = load_index(out)
    assert max(len(c.text) for c in index.chunks) <= 300 + 100  # the overlap may add a little
