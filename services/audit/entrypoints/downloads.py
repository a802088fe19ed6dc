"""The headers of a file audit hands out: its name (RFC 6266) and that no cache keeps it."""

from __future__ import annotations

import re
from urllib.parse import quote

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def attachment(account_id: str, extension: str) -> dict[str, str]:
    """Content-Disposition naming the account's file, and Cache-Control: no-store.

    The account id comes from the path and may hold anything: the `filename*` parameter
    carries it percent-encoded as UTF-8 (RFC 6266, RFC 8187), and `filename` an ASCII
    fallback with every other character replaced, so no quote, control character or
    non-Latin-1 character ever reaches a header (where it would inject a parameter, fail
    to encode, or make the server drop the connection).
    """
    name = f"{account_id}-audit.{extension}"
    fallback = _UNSAFE.sub("_", name)
    return {
        "Content-Disposition": (
            f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
        ),
        # Personal data, even masked, and evidence: no shared or browser cache keeps a copy.
        "Cache-Control": "no-store",
    }
