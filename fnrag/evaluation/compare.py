"""One evaluation run comparing configurations side by side.

Retrieval: each requested index mode, plus (``baseline="langchain"``) the
LangChain quick-start and whitespace-BM25 baselines built over the same sources
with the same embedder object. Answers: each generator with retrieval (through
``fnrag.answering.assistant.Assistant``) and closed-book (the same Alpaca prompt with no
passages) where that means something — the extractive generator only copies
passage sentences, so its closed-book row is reported as n/a.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fnrag.errors import InputError
from fnrag.evaluation import runner
from fnrag.evaluation.qa import QAItem
from fnrag.types import Chunk

if TYPE_CHECKING:
    from fnrag.answering.refusal import RefusalPolicy

BASELINES = ("langchain",)
QUICKSTART = "langchain-quickstart"
WHITESPACE_BM25 = "whitespace-bm25"


@dataclass(frozen=True)
class GeneratorSpec:
    """``NAME[:key=value,...]`` from the command line, e.g.
    ``transformers:model=./base,adapter=./lora``; ``label`` is the text as given."""

    label: str
    name: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> GeneratorSpec:
        name, _, rest = text.partition(":")
        options: list[tuple[str, str]] = []
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise InputError(
                    f"bad generator option {part!r} in {text!r}; "
                    "write NAME:key=value,key=value (e.g. transformers:model=DIR,adapter=DIR)"
                )
            options.append((key.strip(), value.strip()))
        if not name.strip():
            raise InputError(f"empty generator name in {text!r}; e.g. --generator extractive")
        return cls(label=text, name=name.strip(), options=tuple(options))


def manifest_sources(index: Any) -> list[str]:
    """The source files recorded in the index manifest (for rebuilding baselines)."""
    manifest = getattr(index, "manifest", None) or {}
    # build.py records every source as {"source": path, ...}.
    paths = [entry["source"] for entry in manifest.get("sources", [])]
    missing = [p for p in paths if not Path(p).is_file()]
    if not paths or missing:
        raise InputError(
            "cannot rebuild the baseline: the index manifest's source files "
            f"{'are not recorded' if not paths else 'are missing: ' + ', '.join(missing[:3])}; "
            "pass them with --sources FILE..."
        )
    return paths


def run_evaluation(
    index: Any,
    items: Sequence[QAItem],
    *,
    qa_path: str = "",
    index_path: str = "",
    modes: Sequence[str] = runner.MODES,
    generators: Sequence[GeneratorSpec] = (),
    k: int = 5,
    baseline: str | None = None,
    sources: Sequence[str] | None = None,
    progress: bool = False,
    refusal: RefusalPolicy | None = None,
    as_of: Any = None,
) -> runner.EvalReport:
    """Evaluate ``index`` (an ``fnrag.index.Index``) on ``items``; see the module doc.
    ``refusal`` is the Assistant's weak-evidence policy (default: the calibrated one);
    ``as_of`` the date for questions that carry none (default: today)."""
    if as_of is not None:
        from fnrag.versions.dates import parse_date

        day = parse_date(as_of).isoformat()
        items = [i if i.as_of else replace(i, as_of=day) for i in items]
    for mode in modes:
        if mode not in runner.MODES:
            raise InputError(f"unknown mode {mode!r}; choose from {', '.join(runner.MODES)}")
    if not modes:
        raise InputError("no retrieval mode given; e.g. --modes hybrid,dense,lexical")
    if baseline is not None and baseline not in BASELINES:
        raise InputError(f"unknown baseline {baseline!r}; the only one is 'langchain'")
    if k < 1:
        raise InputError("-k must be at least 1")
    from fnrag.generators import GENERATOR_NAMES

    for spec in generators:
        # checked before the (long) retrieval part, not after it
        if spec.name not in GENERATOR_NAMES:
            raise InputError(
                f"unknown generator {spec.name!r}; choose one of: {', '.join(GENERATOR_NAMES)}"
            )
    n_in = sum(1 for i in items if i.in_scope)
    total = n_in * (len(modes) + (2 if baseline else 0)) + len(items) * 2 * len(generators)
    chunks: list[Chunk] = list(index.chunks)
    by_id = {c.chunk_id: c for c in chunks}
    results: list[runner.RetrievalResult] = []
    answers: list[runner.AskResult] = []
    build: tuple[tuple[str, float], ...] = ()
    with runner.progress_bar(total, progress) as bar:
        for mode in modes:
            results.append(
                runner.evaluate_retrieval(
                    mode,
                    _mode_search(index, mode),
                    chunks,
                    items,
                    tick=lambda: bar.update(1),
                )
            )
        if baseline:
            from fnrag.evaluation.baseline import WhitespaceBM25, build_quickstart

            bar.set_postfix_str("building baseline")
            quick = build_quickstart(list(sources or manifest_sources(index)), index.embedder)
            bm25 = WhitespaceBM25(quick.chunks)
            build = (
                ("quickstart_build_s", round(quick.build_seconds, 3)),
                ("quickstart_embed_s", round(quick.embed_seconds, 3)),
                ("quickstart_chunks", len(quick.chunks)),
            )
            for name, system in ((QUICKSTART, quick), (WHITESPACE_BM25, bm25)):
                results.append(
                    runner.evaluate_retrieval(
                        name, system.search, system.chunks, items, tick=lambda: bar.update(1)
                    )
                )
        for spec in generators:
            answers.extend(_evaluate_generator(index, spec, items, k, by_id, bar, refusal))
    primary = "hybrid" if "hybrid" in modes else modes[0]
    return runner.EvalReport(
        qa_path=qa_path,
        index_path=index_path,
        n_questions=len(items),
        n_in_scope=n_in,
        k=k,
        primary=primary,
        retrieval=tuple(results),
        answers=tuple(answers),
        baseline_build=build,
    )


def _mode_search(index: Any, mode: str) -> runner.SearchFn:
    def search(query: str, depth: int, **dated: Any) -> list[Any]:
        return list(index.search(query, k=depth, mode=mode, **dated))

    return search


def _evaluate_generator(
    index: Any,
    spec: GeneratorSpec,
    items: Sequence[QAItem],
    k: int,
    by_id: dict[str, Chunk],
    bar: Any,
    refusal: RefusalPolicy | None = None,
) -> list[runner.AskResult]:
    from fnrag.answering.assistant import Assistant
    from fnrag.generators import get_generator

    generator = get_generator(spec.name, **dict(spec.options))
    assistant = Assistant(index, generator=generator, k=k, log=False, refusal=refusal)
    bar.set_postfix_str(spec.label)
    rag = runner.evaluate_answers(
        spec.label, "rag", assistant.ask, items, by_id.get, tick=lambda: bar.update(1)
    )
    if getattr(generator, "name", spec.name) == "extractive":
        bar.update(len(items))
        closed = runner.AskResult(
            generator=spec.label,
            setting="closed-book",
            note="n/a: the extractive generator only quotes passages; it has no closed-book answer",
        )
    else:
        closed = runner.evaluate_answers(
            spec.label,
            "closed-book",
            lambda q, **_dated: closed_book_answer(generator, q),
            items,
            by_id.get,
            tick=lambda: bar.update(1),
        )
    return [rag, closed]


@dataclass(frozen=True)
class ClosedBookAnswer:
    """A generator's answer to the Alpaca prompt with no passages.

    ``invalid_citations`` counts every ``[n]`` marker: with no passage shown,
    any citation is invented. ``refused`` is true when the answer contains the
    refusal sentence.
    """

    text: str
    refused: bool
    invalid_citations: int
    timings: tuple[tuple[str, float], ...] = ()

    @property
    def citations(self) -> tuple[()]:
        return ()


def closed_book_answer(generator: Any, question: str) -> ClosedBookAnswer:
    """Ask ``generator`` the question with the RAG prompt but an empty passage list."""
    from fnrag.answering.citations import locate, parse_markers
    from fnrag.prompts import REFUSAL_SENTENCE, build_prompt

    generation = generator.generate(build_prompt(question, []), question=question, passages=[])
    text = generation.text
    return ClosedBookAnswer(
        text=text,
        refused=locate(REFUSAL_SENTENCE, text) is not None,
        invalid_citations=sum(len(marker.numbers) for marker in parse_markers(text)),
        timings=(("generate_s", float(generation.seconds)),),
    )
