"""Held-out measurement of training runs: stratified split, generated set, passage choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fnrag.errors import InputError
from fnrag.prompts import REFUSAL_SENTENCE


def _rows(answerable: int, refusals: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "id": f"a{i}",
            "prompt": "질문",
            "completion": f"Source: [{1 + i % 2}]",
            "refusal": False,
            "source_position": 1 + i % 2,
            "n_passages": 2,
        }
        for i in range(answerable)
    ]
    rows += [
        {
            "id": f"r{i}",
            "prompt": "질문",
            "completion": REFUSAL_SENTENCE,
            "refusal": True,
            "source_position": None,
            "n_passages": 2,
        }
        for i in range(refusals)
    ]
    return rows


def _config(tmp_path: Path, rows: list[dict[str, Any]], fraction: float = 0.12) -> Any:
    from training.config import write_jsonl
    from training.sft import SFTConfig

    path = tmp_path / "sft.jsonl"
    write_jsonl(path, rows)
    return SFTConfig(train_file=str(path), eval_fraction=fraction, seed=3)


@pytest.mark.parametrize(("answerable", "refusals"), [(58, 10), (40, 2), (20, 1), (9, 0)])
def test_split_holds_out_both_kinds_when_it_can(
    tmp_path: Path, answerable: int, refusals: int
) -> None:
    from training.heldout import is_refusal_row, split_held_out

    train, held = split_held_out(_config(tmp_path, _rows(answerable, refusals)))
    assert len(train) + len(held) == answerable + refusals
    assert {r["id"] for r in train}.isdisjoint(r["id"] for r in held)
    held_refusals = sum(is_refusal_row(r) for r in held)
    train_refusals = sum(is_refusal_row(r) for r in train)
    if refusals >= 2:
        assert held_refusals >= 1 and train_refusals >= 1
    else:
        # A single refusal example stays in training: holding it out would teach none.
        assert held_refusals == 0 and train_refusals == refusals
    assert any(not is_refusal_row(r) for r in held)


def test_split_is_reproducible_per_seed(tmp_path: Path) -> None:
    from training.heldout import split_held_out

    config = _config(tmp_path, _rows(30, 6))
    assert [r["id"] for r in split_held_out(config)[1]] == [
        r["id"] for r in split_held_out(config)[1]
    ]


def test_split_refuses_to_hold_out_everything(tmp_path: Path) -> None:
    from training.heldout import split_held_out

    with pytest.raises(InputError, match="too few rows"):
        split_held_out(_config(tmp_path, _rows(1, 0), fraction=1.0))


@pytest.mark.parametrize(
    ("answerable", "refusals", "limit", "want_refusals"),
    [(7, 1, 6, 1), (10, 10, 6, 3), (5, 0, 4, 0), (2, 1, 0, 1), (3, 3, 2, 1)],
)
def test_generated_rows_include_refusal_targets(
    answerable: int, refusals: int, limit: int, want_refusals: int
) -> None:
    from training.heldout import generation_rows, is_refusal_row

    rows = generation_rows(_rows(answerable, refusals), limit)
    assert len(rows) == (limit or answerable + refusals)
    assert sum(is_refusal_row(r) for r in rows) == want_refusals


@pytest.mark.parametrize(
    ("generated", "source", "cites"),
    [
        (["Source: [2]", "Source: [2]"], [2, 1], 0.5),
        (["근거는 자료 1입니다 [1]", "두 자료 모두 [1, 2]"], [1, 2], 1.0),
        (["자료 [3]", REFUSAL_SENTENCE], [1, 2], 0.0),
    ],
)
def test_source_citation_counts_the_passage_holding_the_answer(
    generated: list[str], source: list[int], cites: float
) -> None:
    from training.heldout import source_citation
    from training.textutil import cited_numbers, is_valid_format

    samples = []
    for text, position in zip(generated, source, strict=True):
        valid = is_valid_format(text, 2, REFUSAL_SENTENCE)
        samples.append(
            {
                "source_position": position,
                "n_passages": 2,
                "cites_source": valid
                and text != REFUSAL_SENTENCE
                and position in cited_numbers(text),
            }
        )
    samples.append({"source_position": None, "n_passages": 2, "cites_source": False})
    rate, chance = source_citation(samples)
    assert rate == pytest.approx(cites)
    assert chance == pytest.approx(0.5)


def test_source_citation_is_undefined_without_answerable_samples() -> None:
    from training.heldout import source_citation

    assert source_citation([{"source_position": None, "n_passages": 2}]) == (None, None)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [("실명확인 [1]. 통보 [2, 3]", [1, 2, 3]), ("[ 4 ][5]", [4, 5]), ("근거 없음", [])],
)
def test_cited_numbers(text: str, numbers: list[int]) -> None:
    from training.textutil import cited_numbers

    assert cited_numbers(text) == numbers


CONFIGS = sorted((Path(__file__).resolve().parent.parent / "training" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_committed_configs_load(path: Path) -> None:
    """Every documented config parses into its dataclass; grids name real SFTConfig keys."""
    import dataclasses

    from training.config import load_config
    from training.sft import SFTConfig
    from training.sweep import GridConfig

    if path.name.startswith("retriever-"):
        from training.retriever import RetrieverConfig

        load_config(RetrieverConfig, path)
    elif path.name.startswith("grid-"):
        grid = load_config(GridConfig, path)
        assert Path(grid.base_config).name in {p.name for p in CONFIGS}
        assert set(grid.grid) <= {f.name for f in dataclasses.fields(SFTConfig)}
    else:
        config = load_config(SFTConfig, path)
        assert config.base_model and config.train_file
