"""The story in Simplified Chinese: the same lines as the English one, other sentences."""

from __future__ import annotations

from services.audit.domain.story import NARRATORS, tell
from services.audit.domain.story_zh import NARRATORS_ZH, tell_zh
from tests.unit.test_audit_story import DISCLOSURE, negotiation


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_the_chinese_story_has_the_english_lines_with_chinese_sentences() -> None:
    entries = negotiation()
    english, zh = tell(entries), tell_zh(entries)
    # Same events, same order, same links and kinds: only the sentence differs.
    strip = [(x.seq, x.event_id, x.hash, x.type, x.kind) for x in english]
    assert [(x.seq, x.event_id, x.hash, x.type, x.kind) for x in zh] == strip
    translated = {t for t, n in NARRATORS_ZH.items() if n is not NARRATORS.get(t)}
    for line in zh:
        if line.type in translated:
            # Written by its template, not the generic fallback, and amounts with the sign.
            assert chinese(line.text) and line.text.endswith("。"), line
            assert "CNY " not in line.text, line
    assert {x.type for x in zh} & translated >= {"BillIssued", "PlanAccepted", "FeesWaived"}

    by_type = {x.type: x.text for x in zh}
    assert by_type["BillIssued"] == (
        "账单 B1 于 2026-03-01 出具，金额 ¥1,234.56（本金 ¥1,200.00，利息 ¥30.56，"
        "费用 ¥4.00），到期日 2026-03-10。"
    )
    assert "计提滞纳金 ¥0.62" in by_type["LateFeeAccrued"]
    assert "日费率 0.05%" in by_type["LateFeeAccrued"]
    assert (
        DISCLOSURE in by_type["PlanAccepted"] and "与要约的披露文本一致" in by_type["PlanAccepted"]
    )
    assert by_type["PlanCompleted"] == "计划 PL1 已完成：每一期均已还清。"


def test_a_type_without_a_chinese_template_keeps_its_english_sentence() -> None:
    entries = negotiation()
    english = {x.type: x.text for x in tell(entries)}
    zh = {x.type: x.text for x in tell_zh(entries)}
    assert "PromiseToPayMade" not in set(NARRATORS_ZH) - set(NARRATORS)
    assert zh["PromiseToPayMade"] == english["PromiseToPayMade"]
    # The Chinese table covers every type the English one does.
    assert set(NARRATORS) <= set(NARRATORS_ZH)
