"""The one rule for spreading a balance over installments, shared by plans and accounts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.money import split_by_component

COMPONENTS = ("late_fee", "fees", "interest", "principal")


def test_odd_fen_of_several_components_never_pile_onto_one_installment() -> None:
    # Found by the plans property test: 1 fen of fees and 23 of late fee over 24
    # months used to give installment 1 two fen and installment 24 none.
    shares = split_by_component({"late_fee": 23, "fees": 1, "interest": 0, "principal": 0}, 24)
    totals = [sum(shares[c][i] for c in shares) for i in range(24)]
    assert totals == [1] * 24


@given(
    st.fixed_dictionaries({c: st.integers(0, 10_000_000) for c in COMPONENTS}),
    st.integers(1, 36),
)
def test_every_component_sums_exactly_and_installments_differ_by_at_most_a_fen(
    parts: dict[str, int], count: int
) -> None:
    shares = split_by_component(parts, count)
    assert {c: sum(s) for c, s in shares.items()} == parts
    for s in shares.values():
        assert max(s) - min(s) <= 1
    totals = [sum(shares[c][i] for c in COMPONENTS) for i in range(count)]
    assert max(totals) - min(totals) <= 1
