"""Why an account's trail lacks records, in words. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def missing_records(
    letters: Mapping[str, Sequence[str]], behind: Mapping[str, int]
) -> dict[str, str]:
    """Per account, its unresolved dead letters ("id (kind)") and how many records are
    parked behind them, as one sentence for a reader of its trail."""
    out = {}
    for owner in sorted(set(letters) | set(behind)):
        parts = []
        if owner in letters:
            parts.append(f"unresolved dead letters {', '.join(letters[owner])}")
        if behind.get(owner):
            parts.append(f"{behind[owner]} records parked behind them")
        out[owner] = (
            "records of this account are not on the trail: "
            + "; ".join(parts)
            + " (see arrears dlq list audit)"
        )
    return out
