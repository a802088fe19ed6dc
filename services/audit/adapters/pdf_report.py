"""The audit report typeset as PDF with ReportLab: real fonts, Chinese that prints.

Latin text is set in Helvetica (a standard font every viewer has); whatever Helvetica
cannot encode (Chinese, full-width punctuation) in ReportLab's built-in CID font
STSong-Light, which viewers supply themselves (Adobe's GB1 collection), so nothing is
downloaded or embedded and a Chinese name stays text a reader can search and copy.

The chart is a PNG drawn with Pillow (already a ReportLab dependency) and placed as an
image: ReportLab's own bitmap renderer needs cairo, and a picture is what the reader of
a printed report expects. Its legend is PDF text below it, so it reads in Chinese too.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from datetime import date
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer

from services.audit.domain.report import Report
from services.audit.domain.state import Point
from services.audit.domain.story import money

LATIN = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"
CJK = "STSong-Light"
MARGIN = 18 * mm

OWED, DPD, FEES = "#1f5fa8", "#b3261e", "#c77700"
"""The chart's line colours: owed blue, days past due red, late fees amber (each told
apart by a marker shape too, so the chart reads in grey print)."""

_registered = threading.Lock()
_fonts_ready = False


def _register_fonts() -> None:
    """Register the CID font once, on first use (never at import)."""
    global _fonts_ready
    with _registered:
        if not _fonts_ready:
            pdfmetrics.registerFont(UnicodeCIDFont(CJK))
            _fonts_ready = True


def _latin(ch: str) -> bool:
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def markup(text: str, bold: bool = False) -> str:
    """`text` as Paragraph markup: escaped, with each run Helvetica cannot set in the CJK
    font (a run, not the whole line, so Latin ids and hashes keep their Latin face)."""
    out: list[str] = []
    run: list[str] = []
    run_latin = True
    for ch in text:
        latin = _latin(ch)
        if run and latin != run_latin:
            out.append(_run("".join(run), run_latin))
            run = []
        run_latin = latin
        run.append(ch)
    if run:
        out.append(_run("".join(run), run_latin))
    body = "".join(out)
    return f"<b>{body}</b>" if bold else body


def _run(text: str, latin: bool) -> str:
    return escape(text) if latin else f'<font face="{CJK}">{escape(text)}</font>'


def _has_cjk(text: str) -> bool:
    return not all(_latin(ch) for ch in text)


class _Styles:
    def __init__(self, cjk: bool) -> None:
        # CJK wrapping breaks between any two characters, as Chinese is set; Latin text
        # wraps at spaces. A Chinese report wraps its mixed lines the Chinese way.
        wrap = "CJK" if cjk else None
        self.title = ParagraphStyle("title", fontName=LATIN_BOLD, fontSize=16, leading=20)
        self.heading = ParagraphStyle(
            "heading", fontName=LATIN_BOLD, fontSize=12, leading=15, spaceBefore=10, spaceAfter=4
        )
        self.body = ParagraphStyle(
            "body", fontName=LATIN, fontSize=9, leading=12, spaceAfter=2, wordWrap=wrap
        )
        self.row = ParagraphStyle("row", parent=self.body, spaceBefore=4)


class ReportLabTypesetter:
    """Typesets a report (services.audit.domain.report) as PDF bytes with ReportLab."""

    def render(self, report: Report) -> bytes:
        """The report as a complete PDF file."""
        _register_fonts()
        cjk = report.lang == "zh-CN"
        latin, chinese = _Styles(cjk), _Styles(True)

        def p(text: str, style: str, bold: bool = False) -> Paragraph:
            # A Chinese name in an English report still wraps as Chinese does.
            styles = chinese if cjk or _has_cjk(text) else latin
            return Paragraph(markup(text, bold), getattr(styles, style))

        flow: list[Flowable] = [p(report.title, "title", bold=True), Spacer(1, 6)]
        flow += [p(line, "body") for line in report.header]
        flow.append(p(report.integrity_heading, "heading", bold=True))
        flow += [p(line, "body") for line in report.integrity]
        flow.append(p(report.chart_heading, "heading", bold=True))
        if report.series:
            width = A4[0] - 2 * MARGIN
            png = chart_png(report.series)
            flow.append(Image(io.BytesIO(png), width=width, height=width * CHART_H / CHART_W))
            swatches = (("■", OWED), ("▲", DPD), ("●", FEES))
            legend = "   ".join(
                f'<font face="{CJK}" color="{colour}">{mark}</font> {markup(name)}'
                for (mark, colour), name in zip(swatches, report.legend, strict=True)
            )
            flow.append(Paragraph(legend, chinese.body))
        else:
            flow.append(p(report.no_figures, "body"))
        flow.append(p(report.story_heading, "heading", bold=True))
        if not report.rows:
            flow.append(p(report.no_story, "body"))
        for row in report.rows:
            # One paragraph a line of the story (with splitting off, below): its heading,
            # sentence and provenance stay on one page, and it is wrapped once.
            styles = chinese if cjk or _has_cjk(row.text) else latin
            text = (
                f'<font size="7" color="#444444">{markup(row.heading)}</font><br/>'
                f"{markup(row.text)}<br/>"
                f'<font size="6.5" color="#555555">{markup(row.provenance)}</font>'
            )
            flow.append(Paragraph(text, styles.row))

        footer_font = CJK if _has_cjk(report.page) else LATIN

        def footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
            canvas.saveState()
            canvas.setFont(footer_font, 7)
            canvas.drawString(MARGIN, MARGIN / 2, report.page.format(n=doc.page))
            canvas.restoreState()

        out = io.BytesIO()
        doc = SimpleDocTemplate(
            out,
            pagesize=A4,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN,
            bottomMargin=MARGIN,
            title=report.title,
            author="arrears audit",
            creator="arrears audit",
            lang=report.lang,
            # The same report twice is the same bytes (no creation time, no random id).
            invariant=1,
            # No flowable is split over two pages: each is a few lines at most.
            allowSplitting=0,
        )
        doc.build(flow, onFirstPage=footer, onLaterPages=footer)
        return out.getvalue()


CHART_W, CHART_H = 1400, 560
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 130, 90, 20, 60


def chart_png(series: Sequence[Point]) -> bytes:
    """Owed and late fees (left axis, yuan) and days past due (right axis) per day close,
    as a PNG. Axis figures only (digits and dates): the words are the PDF's."""
    img = PILImage.new("RGB", (CHART_W, CHART_H), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=22)
    left, right = _PAD_L, CHART_W - _PAD_R
    top, bottom = _PAD_T, CHART_H - _PAD_B
    money_top = _nice(max(max(p.owed for p in series), max(p.late_fees for p in series), 1))
    days_top = _nice(max(max(p.days_past_due for p in series), 1))
    first, last = series[0].day, series[-1].day
    span = max((last - first).days, 1)

    def x(day: date) -> float:
        if first == last:
            return (left + right) / 2
        return left + (right - left) * (day - first).days / span

    def y(value: int, top_value: int) -> float:
        return bottom - (bottom - top) * value / top_value

    for i in range(5):
        level = bottom - (bottom - top) * i / 4
        draw.line([(left, level), (right, level)], fill="#dddddd", width=1)
        # Yuan, whole: the fen are in the story; the currency is in the legend.
        label = money(money_top * i // 4).rsplit(".", 1)[0]
        draw.text((left - 10, level), label, fill="#333333", font=font, anchor="rm")
        draw.text((right + 10, level), str(days_top * i // 4), fill=DPD, font=font, anchor="lm")
    draw.line([(left, top), (left, bottom), (right, bottom), (right, top)], fill="#333333")
    for day in sorted({first, series[len(series) // 2].day, last}):
        draw.text((x(day), bottom + 12), day.isoformat(), fill="#333333", font=font, anchor="ma")

    lines = (
        ([(x(p.day), y(p.owed, money_top)) for p in series], OWED, "square"),
        ([(x(p.day), y(p.days_past_due, days_top)) for p in series], DPD, "triangle"),
        ([(x(p.day), y(p.late_fees, money_top)) for p in series], FEES, "circle"),
    )
    for points, colour, mark in lines:
        if len(points) > 1:
            draw.line(points, fill=colour, width=4, joint="curve")
        # Markers only where they stay apart: a point a pixel from the next is a line.
        step = max(1, len(points) // 40)
        for px, py in points[::step]:
            _marker(draw, mark, px, py, colour)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _marker(draw: ImageDraw.ImageDraw, mark: str, px: float, py: float, colour: str) -> None:
    r = 7
    if mark == "square":
        draw.rectangle([px - r, py - r, px + r, py + r], fill=colour)
    elif mark == "triangle":
        draw.polygon([(px, py - r - 1), (px - r, py + r), (px + r, py + r)], fill=colour)
    else:
        draw.ellipse([px - r, py - r, px + r, py + r], fill=colour)


def _nice(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten, times 4 (the grid's steps), >= value."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude * 4 >= value:
                return step * magnitude * 4
        magnitude *= 10
