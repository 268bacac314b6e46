"""Hits built directly (no index) shared by the ask tests."""

from __future__ import annotations

from fnrag.types import Hit

LAW = "금융실명거래 및 비밀보장에 관한 법률"
DECREE = "금융실명거래 및 비밀보장에 관한 법률 시행령"


def make_hit(
    n: int, title: str, section: str, text: str, page: int | None = None, **kw: float
) -> Hit:
    return Hit(
        rank=n,
        score=1.0 / n,
        chunk_id=f"c{n}",
        source=f"laws/doc{n}.md",
        title=title,
        page=page,
        pages=(page,) if page is not None else (),
        section=section,
        text=text,
        dense_score=kw.get("dense_score"),
        lexical_score=kw.get("lexical_score"),
    )


def sample_hits() -> list[Hit]:
    return [
        make_hit(
            1,
            DECREE,
            f"{DECREE} > 제3조(실지명의)",
            '법 제2조제4호에서 "대통령령으로 정하는 것"이란 다음 각 호의 구분에 따른 것을 말한다.\n'
            "1\\. 개인의 경우 주민등록표에 기재된 성명 및 주민등록번호. <개정 2014. 11. 28.>",
        ),
        make_hit(
            2,
            LAW,
            f"{LAW} > 제4조의2(거래정보등의 제공사실의 통보)",
            "② 금융회사등은 통보 대상 거래정보등의 요구자로부터 다음 각 호의 어느 하나에 해당하는 "
            "사유로 통보의 유예를 서면으로 요청받은 경우에는 "
            "유예요청기간 동안 통보를 유예하여야 한다.\n"
            "2\\. 해당 통보가 증거 인멸, 증인 위협 등 "
            "공정한 사법절차의 진행을 방해할 우려가 명백한 경우",
            page=12,
        ),
        make_hit(
            3,
            LAW,
            f"{LAW} > 제1조(목적)",
            "이 법은 실지명의에 의한 금융거래를 실시하고 그 비밀을 보장하여 금융거래의 정상화를 "
            "꾀함으로써 경제정의를 실현하고 국민경제의 건전한 발전을 도모함을 목적으로 한다.",
        ),
    ]
