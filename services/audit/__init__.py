"""Audit: every event per account, hash-chained, replayable as of any time."""
