"""docs/events.md is what the catalogue says today."""

from pathlib import Path

from shared.docgen import render_events_markdown
from shared.events import default_catalogue

ROOT = Path(__file__).resolve().parents[2]


def test_events_reference_is_up_to_date() -> None:
    expected = render_events_markdown(default_catalogue())
    actual = (ROOT / "docs/events.md").read_text()
    assert actual == expected, "docs/events.md is stale: run `make docs`"
