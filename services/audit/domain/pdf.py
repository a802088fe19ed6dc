"""A small text-only PDF writer (PDF 1.4, built-in Helvetica). Pure: no I/O, no dependency.

Enough for a report people print and file: paragraphs wrapped to the page width, as
many A4 pages as needed, page numbers, a correct cross-reference table. Content streams
are left uncompressed so the text can be checked (and searched) in the file itself.

Text is written in WinAnsiEncoding, the encoding every viewer has for the 14 standard
fonts; characters outside Latin-1 (Chinese names, for one) become "?", since a built-in
font has no glyphs for them and embedding a CJK font is far beyond "small".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 50
FOOTER = 30

# Helvetica advance widths (thousandths of the font size) for ASCII 32..126, from the
# standard AFM metrics; Helvetica-Bold is a little wider, so its lines are measured
# with BOLD_FACTOR. Other Latin-1 characters count as the widest glyph, so a line
# with accented letters wraps a little early but never runs off the page.
_WIDTHS = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
]  # fmt: skip
_DEFAULT_WIDTH = 1000
BOLD_FACTOR = 1.1


@dataclass(frozen=True)
class Paragraph:
    """A block of text; `size` in points, `bold` for headings, `gap` points above it."""

    text: str
    size: float = 9
    bold: bool = False
    gap: float = 2


def latin1(text: str) -> str:
    """`text` with what WinAnsi Helvetica cannot show replaced: "?" and spaces for controls."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\t\n\r":
            out.append(" ")
        elif code < 32 or 127 <= code < 160 or code > 255:
            # 128-159 are control characters in Latin-1 but other glyphs in WinAnsi.
            out.append("?")
        else:
            out.append(ch)
    return "".join(out)


def escape(text: str) -> str:
    """A PDF literal string's body: backslash and parentheses escaped."""
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_width(text: str, size: float, bold: bool = False) -> float:
    """The width of `text` in points, in Helvetica at `size`."""
    units = sum(_WIDTHS[ord(c) - 32] if 32 <= ord(c) <= 126 else _DEFAULT_WIDTH for c in text)
    return units * size / 1000 * (BOLD_FACTOR if bold else 1)


def wrap(text: str, width: float, size: float, bold: bool = False) -> list[str]:
    """`text` broken into lines no wider than `width`; over-long words are split."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size, bold) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while text_width(word, size, bold) > width:
            cut = len(word)
            while cut > 1 and text_width(word[:cut], size, bold) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    lines.append(current)
    return lines


def _layout(paragraphs: Iterable[Paragraph]) -> list[list[tuple[float, float, bool, str]]]:
    """Pages of (y, size, bold, line) placed top-down."""
    width = PAGE_WIDTH - 2 * MARGIN
    pages: list[list[tuple[float, float, bool, str]]] = [[]]
    y: float = PAGE_HEIGHT - MARGIN
    for p in paragraphs:
        leading = p.size * 1.3
        y -= p.gap
        for line in wrap(latin1(p.text), width, p.size, p.bold):
            if y - leading < MARGIN + FOOTER:
                pages.append([])
                y = PAGE_HEIGHT - MARGIN
            y -= leading
            pages[-1].append((y, p.size, p.bold, line))
    return pages


def _stream(lines: list[tuple[float, float, bool, str]], footer: str) -> bytes:
    ops = []
    for y, size, bold, line in lines:
        font = "/F2" if bold else "/F1"
        ops.append(f"BT {font} {size:g} Tf {MARGIN} {y:.2f} Td ({escape(line)}) Tj ET")
    ops.append(f"BT /F1 8 Tf {MARGIN} {MARGIN:.2f} Td ({escape(latin1(footer))}) Tj ET")
    return "\n".join(ops).encode("latin-1")


def render(paragraphs: Iterable[Paragraph], title: str = "") -> bytes:
    """A complete PDF file with the paragraphs laid out over as many pages as they need."""
    pages = _layout(paragraphs)
    # Object numbers: 1 catalog, 2 page tree, 3-4 fonts, 5 info, then page + content pairs.
    kids = [6 + 2 * i for i in range(len(pages))]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] "
        f"/Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        f"<< /Title ({escape(latin1(title))}) /Producer (arrears audit) >>".encode("latin-1"),
    ]
    for number, (kid, lines) in enumerate(zip(kids, pages, strict=True), start=1):
        content = _stream(lines, f"{latin1(title)} - page {number} of {len(pages)}")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {kid + 1} 0 R >>".encode()
        )
        objects.append(
            f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream"
        )
    # The binary comment line tells transfer tools the file is not plain text.
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"  # each entry is exactly 20 bytes, as the format requires
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 5 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)
