"""Follow-up questions: resolve a question against the earlier turns of a conversation.

"그럼 법인 고객은요?" means nothing alone. Before retrieval, ``resolve`` turns the
question and its history into what is searched and answered:

* no history, or a **self-contained** new question (its own topic words, no pronoun or
  ellipsis): the question alone, no carry-over;
* with an **LLM generator**: a condense step through the same backend (the prompt is
  ``fnrag.prompts.build_condense_prompt``) rewrites the follow-up as one standalone
  question; an empty answer, an echo of the follow-up or of the prompt falls back to
* the **extractive** route: the earlier user turns' terms and the articles the earlier
  answers cited are carried into the retrieval plan at a lower weight
  (``CARRY_WEIGHT``), the follow-up's own words keep full weight, and the embedder sees
  the previous question and the follow-up together.

The history is validated (``InputError`` names the bad turn) and PII-masked before any
of it is analysed, embedded or sent to a model.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fnrag.errors import InputError
from fnrag.types import MAX_QUESTION_CHARS, QueryPlan

# Longest history accepted, in turns, and longest turn (an answer quotes provisions).
MAX_HISTORY_TURNS = 100
MAX_TURN_CHARS = 20_000
ROLES = ("user", "assistant")
# How many earlier user turns (most recent first) carry terms, and their weights:
# the follow-up's own terms weigh 1 (per occurrence), the last question's CARRY_WEIGHT,
# the one before CARRY_WEIGHT * CARRY_DECAY. Measured on benchmarks/data/dialogues.jsonl
# (tuning half; benchmarks/bench_dialogue.py).
CONTEXT_USER_TURNS = 2
CARRY_WEIGHT = 0.5
CARRY_DECAY = 0.5
# Articles the last answer cited (``제4조의2``) are carried as lexical terms.
ARTICLE_WEIGHT = 0.5

# A follow-up leans on the previous turn: a demonstrative (그건, 그 양식, 이 경우), a
# connective that continues it (그럼, 그러면), or an elliptical ending that drops the
# predicate ("법인 고객은요?", "해외로 보내는 건요?", "비영리단체면요?").
_ANAPHORA = re.compile(
    r"(?:^|[\s\"'(])(?:그럼|그러면|그렇다면|그런데|근데|그리고|또|아까|방금|그래서)(?=[\s,.?!]|$)"
    r"|(?:^|[\s\"'(])(?:그|이|저|해당|위|같은\s*경우)\s"
    r"|(?:^|[\s\"'(])(?:그것|이것|저것|그거|이거|저거|그건|이건|저건|그게|이게|그걸|이걸|그때|이때)"
    r"|그래요|그런가요|그렇나요|그렇게|마찬가지"
)
_ELLIPSIS = re.compile(r"(?:은|는|이면|면|라면|건|도|이랑|랑|과|와|의)\s*요\s*[?？!.]*\s*$")
# The condense prompt shows the last turns only, each cut to a length (answers quote
# whole provisions): enough to name what the follow-up refers to.
CONDENSE_TURNS = 6
CONDENSE_TURN_CHARS = 600
# Fewer topic words than this (words of the index's article headings) and no named
# article or law: the question has no topic of its own...
MIN_TOPIC_TERMS = 2
# ...and a question with a demonstrative or an elliptical ending needs this many. Measured
# (benchmarks/bench_dialogue.py): the 30 follow-ups of dialogues.jsonl have 0-3 topic
# words; of the 139 standalone questions of practitioner_qa, tune_qa and dev_qa, the 7
# with such a marker have 3-7, the unmarked ones 2 or more (but for 4 written in English).
MARKED_TOPIC_TERMS = 4
_NAMES_LAW = re.compile(r"제\s*\d+\s*조|금융실명|특정금융|특금법|시행령|시행규칙|법률")


@dataclass(frozen=True)
class Turn:
    """One earlier turn of a conversation, validated and PII-masked.

    Attributes:
        role: ``"user"`` or ``"assistant"``.
        content: the turn's text, PII masked.
    """

    role: str
    content: str


@dataclass(frozen=True)
class Resolution:
    """What a question resolves to before retrieval.

    Attributes:
        question: the question as asked (PII masked).
        resolved: what is searched and answered (``Answer.resolved_question``): the
            question itself, the condensed standalone question, or the previous question
            and the follow-up together.
        route: ``"alone"`` (no history), ``"self-contained"``, ``"condensed"`` (an LLM
            rewrote it) or ``"carried"`` (earlier terms carried into the plan).
        plan: the prepared retrieval plan (``"carried"`` only; else None: the retriever
            analyses ``resolved`` itself).
    """

    question: str
    resolved: str
    route: str
    plan: QueryPlan | None = None


def validate_history(history: object) -> tuple[Turn, ...]:
    """The history's user/assistant turns (system turns dropped), PII masked, or
    InputError naming the bad turn and the fix."""
    from fnrag.answering.pii import mask_pii

    if history is None:
        return ()
    if isinstance(history, str | bytes) or not isinstance(history, Sequence):
        raise InputError(
            "history must be a list of turns like "
            '[{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}], '
            f"not {type(history).__name__}"
        )
    if len(history) > MAX_HISTORY_TURNS:
        raise InputError(
            f"history has {len(history)} turns; send at most the last {MAX_HISTORY_TURNS}"
        )
    turns: list[Turn] = []
    for number, turn in enumerate(history, start=1):
        where = f"history turn {number}"
        if not isinstance(turn, Mapping):
            raise InputError(
                f'{where} must be an object {{"role": …, "content": …}}, not {type(turn).__name__}'
            )
        role = turn.get("role")
        if role == "system":
            continue  # chat clients send their own system prompt: not a turn of the talk
        if role not in ROLES:
            raise InputError(f"{where} has role {role!r}; use 'user' or 'assistant'")
        content = _text_of(turn.get("content"), where)
        if len(content) > MAX_TURN_CHARS:
            raise InputError(
                f"{where} has {len(content):,} characters; shorten it to at most {MAX_TURN_CHARS:,}"
            )
        turns.append(Turn(role, mask_pii(content).text))
    return tuple(turns)


def _text_of(content: object, where: str) -> str:
    if isinstance(content, list):
        # OpenAI's content parts: [{"type": "text", "text": "…"}, …].
        parts = [p.get("text") for p in content if isinstance(p, Mapping)]
        if len(parts) == len(content) and all(isinstance(p, str) for p in parts):
            content = "\n".join(parts)  # type: ignore[arg-type]
    if not isinstance(content, str):
        raise InputError(f"{where} needs 'content' text, not {type(content).__name__}")
    return content.strip()


def is_follow_up(question: str, topic_terms: frozenset[str] | None = None) -> bool:
    """True when ``question`` leans on an earlier turn: too few topic words of its own,
    or a demonstrative, continuing connective or elliptical ending without the topic
    words that would make it a question of its own.

    ``topic_terms``: the words of the index's article headings (``topic_vocabulary``);
    None: every content word counts as a topic word."""
    from fnrag.korean.tokens import tokenize

    text = question.strip()
    words = set(tokenize(text))
    topical = len(words if topic_terms is None else words & topic_terms)
    if _ANAPHORA.search(text) or _ELLIPSIS.search(text):
        # "그 정보를 다른 사람에게 주면 안 되나요?" alone is a follow-up; "해당 고객에게
        # 의심거래보고 사실을 알려도 되나요?" names its topic and stands alone.
        return topical < MARKED_TOPIC_TERMS
    if _NAMES_LAW.search(text):
        return False
    return topical < MIN_TOPIC_TERMS


def topic_vocabulary(index: Any) -> frozenset[str] | None:
    """The lexical tokens of an index's section headings (article titles such as
    ``거래정보등의 제공사실의 통보``): what a question's topic is made of. None when
    the index exposes no chunks."""
    chunks = getattr(index, "chunks", None)
    if not chunks:
        return None
    from fnrag.korean.tokens import tokenize_many

    headings = sorted({part for c in chunks for part in c.section.split(" > ")[1:]})
    return frozenset(t for tokens in tokenize_many(headings) for t in tokens)


# Topic words per loaded index (its headings), computed once: weakly keyed, so a
# reloaded index gets its own and an unloaded one frees its entry.
_topics: weakref.WeakKeyDictionary[Any, frozenset[str] | None] = weakref.WeakKeyDictionary()
_topics_lock = threading.Lock()


def resolve_for(question: str, history: object, index: Any, generator: Any) -> Resolution:
    """``resolve`` with what ``Assistant.ask`` has: the raw ``history`` (validated and
    masked here), the index (its topic words, expansion weight and vocabulary) and the
    generator (a model condenses; the extractive one does not)."""
    turns = validate_history(history)
    if not any(t.role == "user" and t.content for t in turns):
        return Resolution(question, question, "alone")
    try:
        with _topics_lock:
            if index not in _topics:
                _topics[index] = topic_vocabulary(index)
            topic_terms = _topics[index]
    except TypeError:  # an index object that cannot be weakly referenced
        topic_terms = topic_vocabulary(index)
    fusion = getattr(index, "fusion", None)
    return resolve(
        question,
        turns,
        generator=generator,
        topic_terms=topic_terms,
        expansion_weight=getattr(fusion, "expansion_weight", 0.5),
        vocabulary=getattr(index, "vocabulary", None),
    )


def resolve(
    question: str,
    turns: Sequence[Turn],
    *,
    generator: Any = None,
    topic_terms: frozenset[str] | None = None,
    expansion_weight: float = 0.5,
    vocabulary: Any = None,
) -> Resolution:
    """Resolve the (masked) ``question`` against the validated ``turns``."""
    earlier = [t.content for t in turns if t.role == "user" and t.content]
    if not earlier:
        return Resolution(question, question, "alone")
    if not is_follow_up(question, topic_terms):
        return Resolution(question, question, "self-contained")
    if generator is not None and getattr(generator, "name", "extractive") != "extractive":
        condensed = condense(question, turns, generator)
        if condensed is not None:
            return Resolution(question, condensed, "condensed")
    answers = [t.content for t in turns if t.role == "assistant"]
    plan = carried_plan(
        question,
        earlier[::-1],
        answers[-1:],
        expansion_weight=expansion_weight,
        vocabulary=vocabulary,
    )
    return Resolution(question, plan.question, "carried", plan)


def carried_plan(
    question: str,
    earlier_questions: Sequence[str],
    earlier_answers: Sequence[str] = (),
    *,
    expansion_weight: float = 0.5,
    vocabulary: Any = None,
) -> QueryPlan:
    """The follow-up's plan with the earlier questions' terms (most recent first) and the
    earlier answers' cited articles added at lower weights."""
    from fnrag.index.fusion import named_articles
    from fnrag.index.plan import plan_query

    own = plan_query(question, expansion_weight, vocabulary)
    context = list(earlier_questions[:CONTEXT_USER_TURNS])
    terms = dict(own.terms)
    tokens = list(own.tokens)
    weight = CARRY_WEIGHT
    law_kinds = own.law_kinds
    for text in context:
        previous = plan_query(text, expansion_weight, vocabulary)
        for term, w in previous.terms.items():
            if term not in terms:
                terms[term] = weight * min(w, 1.0)
        tokens.extend(t for t in dict.fromkeys(previous.tokens) if t not in tokens)
        law_kinds = law_kinds or previous.law_kinds
        weight *= CARRY_DECAY
    for answer in earlier_answers:
        for article in sorted(named_articles(answer)):
            terms.setdefault(article, ARTICLE_WEIGHT)
    resolved = " ".join([*reversed(context), question])
    dense = plan_query(resolved, expansion_weight, vocabulary).dense_text
    return QueryPlan(
        question=resolved,
        tokens=tuple(tokens),
        terms=terms,
        dense_text=dense,
        articles=own.articles,
        law_kinds=law_kinds,
        carried=frozenset(t for t in terms if t not in own.terms),
        carried_refused=bool(earlier_answers) and _is_refusal(earlier_answers[-1]),
    )


def _is_refusal(answer: str) -> bool:
    # An answer that cites a passage answered something, whatever else it says.
    from fnrag.answering.citations import cited_numbers
    from fnrag.prompts import REFUSAL_SENTENCE

    return REFUSAL_SENTENCE in answer and not cited_numbers(answer)


def condense(question: str, turns: Sequence[Turn], generator: Any) -> str | None:
    """The follow-up rewritten by ``generator`` as one standalone question, or None when
    its output is unusable (empty, the follow-up echoed, the prompt echoed, too long)."""
    from fnrag.answering.pii import mask_pii
    from fnrag.prompts import REFUSAL_SENTENCE, build_condense_prompt, cut_at_echo

    shown = [(t.role, t.content[:CONDENSE_TURN_CHARS]) for t in turns[-CONDENSE_TURNS:]]
    prompt = build_condense_prompt(question, shown)
    generation = generator.generate(prompt, question=question, passages=())
    text = cut_at_echo(str(getattr(generation, "text", "") or ""))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    candidate = re.sub(r"^(?:독립\s*질문|질문|답|standalone question)\s*[:：]\s*", "", lines[0])
    candidate = candidate.strip().strip("\"'“”‘’「」").strip()
    squashed = "".join(candidate.split())
    if (
        not squashed
        or squashed == "".join(question.split())
        or REFUSAL_SENTENCE in candidate
        or len(candidate) > MAX_QUESTION_CHARS
        or any(marker in candidate for marker in ("사용자:", "도우미:", "###"))
    ):
        return None
    return mask_pii(candidate).text
