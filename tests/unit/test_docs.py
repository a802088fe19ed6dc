"""docs/events.md is what the catalogue says today."""

from pathlib import Path

from shared.docgen import OWN_ENTRIES, TOPICS, render_events_markdown
from shared.events import default_catalogue

ROOT = Path(__file__).resolve().parents[2]


def test_events_reference_is_up_to_date() -> None:
    expected = render_events_markdown(default_catalogue())
    actual = (ROOT / "docs/events.md").read_text()
    assert actual == expected, "docs/events.md is stale: run `make docs`"


def test_every_event_type_is_on_a_topic_or_audits_own() -> None:
    on_topics = [t for types in TOPICS.values() for t in types]
    assert sorted(on_topics + OWN_ENTRIES) == sorted(default_catalogue().types())
