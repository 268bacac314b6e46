"""A tuned embedder's refusal thresholds: carried onto its cosine scale by training, read
from the index manifest by Assistant, overridden by what settings or code set."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from fnrag.answering.refusal import RefusalPolicy, calibrated_policy, for_index
from training.retriever_scope import MIN_QUESTIONS, calibration_questions, carry_thresholds

DEFAULTS = {f.name: f.default for f in fields(RefusalPolicy)}


def test_thresholds_follow_the_fitted_line() -> None:
    rng = np.random.default_rng(0)
    base = np.linspace(0.80, 0.93, 40)
    tuned = 2.4 * base - 1.36 + rng.normal(0, 0.004, base.size)  # spread like training does
    recorded = carry_thresholds(base, tuned)
    for name in ("min_scope", "confident_scope", "min_dense"):
        assert recorded[name] == pytest.approx(2.4 * DEFAULTS[name] - 1.36, abs=0.01)
    assert recorded["min_scope"] < recorded["confident_scope"]  # order kept
    assert recorded["calibration"]["questions"] == 40
    assert recorded["calibration"]["correlation"] > 0.99


@pytest.mark.parametrize(
    ("base", "tuned", "why"),
    [
        (
            np.linspace(0.8, 0.9, MIN_QUESTIONS - 1),
            np.linspace(0.6, 0.8, MIN_QUESTIONS - 1),
            "too few questions",
        ),
        (np.linspace(0.8, 0.9, 30), np.random.default_rng(1).uniform(0.5, 0.9, 30), "weak fit"),
        (np.linspace(0.8, 0.9, 30), np.linspace(0.9, 0.6, 30), "weak fit"),  # reversed order
    ],
)
def test_no_trustworthy_line_switches_the_cosine_thresholds_off(base, tuned, why) -> None:
    recorded = carry_thresholds(base, tuned)
    assert recorded["dense_applies"] is False
    assert recorded["calibration"]["why"] == why
    assert "min_scope" not in recorded


def test_recorded_thresholds_replace_only_the_defaults() -> None:
    recorded = {"min_scope": 0.70, "confident_scope": 0.717, "min_dense": 0.56}
    policy = calibrated_policy(recorded, RefusalPolicy())
    assert (policy.min_scope, policy.confident_scope, policy.min_dense) == (0.70, 0.717, 0.56)
    mine = calibrated_policy(recorded, RefusalPolicy(min_scope=0.65, min_coverage=0.4))
    assert mine.min_scope == 0.65 and mine.confident_scope == 0.717 and mine.min_coverage == 0.4
    assert calibrated_policy(None, RefusalPolicy()) == RefusalPolicy()
    off = calibrated_policy({"dense_applies": False}, RefusalPolicy())
    assert off.dense_applies is False
    assert calibrated_policy(
        {"dense_applies": False}, RefusalPolicy(dense_applies=True)
    ).dense_applies


def test_for_index_reads_the_manifest() -> None:
    from types import SimpleNamespace

    recorded = SimpleNamespace(manifest={"embedder_provenance": {"refusal": {"min_scope": 0.7}}})
    plain = SimpleNamespace(manifest={"embedder": {"name": "e5"}})
    assert for_index(recorded, RefusalPolicy()).min_scope == 0.7
    assert for_index(plain, RefusalPolicy()) == RefusalPolicy()
    assert for_index(object(), RefusalPolicy()) == RefusalPolicy()


def test_calibration_questions_add_the_out_of_scope_items(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"id": "a", "q": "실명확인증표는 무엇인가요?", "gold": [{"doc": "x.md", "anchor": "주민등록증"}]}\n'
        '{"id": "b", "q": "주택청약 1순위 조건은?", "out_of_scope": true}\n',
        encoding="utf-8",
    )
    questions = calibration_questions(
        qa, ["실명확인증표는 무엇인가요?", "실명확인증표는 무엇인가요?"]
    )
    assert questions == ["실명확인증표는 무엇인가요?", "주택청약 1순위 조건은?"]
    reviewed = tmp_path / "pairs.jsonl"
    reviewed.write_text('{"instruction": "통보유예 기간은?", "chunk_id": "c1"}\n', encoding="utf-8")
    assert calibration_questions(reviewed, ["통보유예 기간은?"]) == ["통보유예 기간은?"]


@pytest.mark.slow
def test_assistant_refuses_by_the_thresholds_the_index_records(sample_index_dir: Path) -> None:
    """Real e5 sample index: the same question is answered with the e5 defaults, refused
    once the manifest records a scale it does not reach, answered again when the caller
    sets the threshold."""
    from fnrag.answering.assistant import Assistant
    from fnrag.index.search import load_index

    question = "100만원 이하 송금도 실명확인을 해야 하나요?"
    index = load_index(sample_index_dir)
    assert not Assistant(index, log=False).ask(question).refused
    index.manifest["embedder_provenance"] = {
        "refusal": {"min_scope": 0.99, "confident_scope": 0.995}
    }
    assistant = Assistant(index, log=False)
    assert assistant.refusal is not None and assistant.refusal.min_scope == 0.99
    assert assistant.ask(question).refused
    own = Assistant(index, log=False, refusal=RefusalPolicy(min_scope=0.5, confident_scope=0.5))
    assert not own.ask(question).refused
