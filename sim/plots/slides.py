"""A PowerPoint deck of the brief (python-pptx), because briefings are edited and presented:

    1. title slide: the question and the answer in words
    2. key figures: the KPI table as a native, editable table, with its notes
    3. caveats and the scenarios
    4+ the key charts (sim.plots.report.key_figures), one per slide, as pictures

Every slide carries the provenance in its speaker notes. 16:9, nothing but text boxes,
tables and pictures, so it opens in PowerPoint, Keynote, LibreOffice and Google Slides.
"""

from __future__ import annotations

import io
from pathlib import Path

from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.text import PP_ALIGN
from pptx.util import Emu, Inches, Pt

from sim.plots.answer import BriefContent
from sim.plots.style import png_bytes, style

W, H = Inches(13.333), Inches(7.5)
MARGIN = Inches(0.5)
BLUE, GREY, DARK = RGBColor(0x00, 0x72, 0xB2), RGBColor(0x66, 0x66, 0x66), RGBColor(0x1A, 0x1A, 0x1A)
CHART_SLIDES = 5  # key charts in the deck; the HTML report has them all
SKIP = {"differences"}  # too many small panels to read on a slide


def _text(slide, left, top, width, height, paragraphs, size: float = 16, bold: bool = False,
          color: RGBColor = DARK, bullets: bool = False):
    """A text box with one paragraph per string, word-wrapped, shrinking nothing (sizes are chosen
    by the caller to fit)."""
    box = slide.shapes.add_textbox(left, top, width, height)
    tf = box.text_frame
    tf.word_wrap = True
    for i, text in enumerate(paragraphs):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        p.text = ("\u2022 " if bullets else "") + text
        p.font.size, p.font.bold, p.font.color.rgb = Pt(size), bold, color
        p.space_after = Pt(size * 0.4)
    return box


def _title(slide, text: str) -> None:
    _text(slide, MARGIN, Inches(0.3), W - 2 * MARGIN, Inches(0.8), [text], size=_fit(len(text), 12.3, 0.6, 26, 18),
          bold=True)


def _notes(slide, c: BriefContent) -> None:
    slide.notes_slide.notes_text_frame.text = "Source: " + c.provenance


def _fit(chars: int, width_in: float, height_in: float, largest: float, smallest: float = 10) -> float:
    """Largest font size (pt) at which `chars` characters fill at most the box."""
    size = largest
    while size > smallest:
        per_line = width_in * 72 / (size * 0.5)
        if (chars / per_line + 1) * size * 1.3 / 72 <= height_in:
            break
        size -= 1
    return size


def title_slide(prs, c: BriefContent) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[6])
    _text(s, MARGIN, Inches(0.4), W - 2 * MARGIN, Inches(0.5), [c.title], size=16, color=GREY)
    q = c.question or "Results of " + ", ".join(c.runs)
    _text(s, MARGIN, Inches(0.9), W - 2 * MARGIN, Inches(1.4), [q], size=_fit(len(q), 12.3, 1.4, 30, 20), bold=True)
    ans = " ".join(c.answer)
    _text(s, MARGIN, Inches(2.6), W - 2 * MARGIN, Inches(3.6), [ans], size=_fit(len(ans), 12.3, 3.6, 24, 14),
          color=BLUE)
    _text(s, MARGIN, Inches(6.5), W - 2 * MARGIN, Inches(0.6), ["Scenarios: " + ", ".join(c.runs)], size=12,
          color=GREY)
    _notes(s, c)


def table_slide(prs, c: BriefContent) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[6])
    _title(s, "Key figures: mean (5-95 % of replicates)")
    nrow, ncol = len(c.rows) + 1, len(c.header)
    top, avail = Inches(1.15), H - Inches(1.15) - Inches(0.75)
    row_h = min(Inches(0.34), int(avail / (nrow + 1)))  # the header has two lines
    size = min(12 if ncol <= 4 else 10 if ncol <= 6 else 8, int(row_h / Pt(1) / 1.45))
    label_w = Inches(3.3)
    shape = s.shapes.add_table(nrow, ncol, MARGIN, top, W - 2 * MARGIN, Emu(row_h * nrow))
    table = shape.table
    table.columns[0].width = label_w
    for j in range(1, ncol):
        table.columns[j].width = int((W - 2 * MARGIN - label_w) / (ncol - 1))
    for i, row in enumerate([c.header] + c.rows):
        table.rows[i].height = row_h
        for j, text in enumerate(row):
            cell = table.cell(i, j)
            cell.text = text
            for p in cell.text_frame.paragraphs:  # a header may have two lines: two paragraphs
                p.font.size, p.font.bold = Pt(size), i == 0
                p.alignment = PP_ALIGN.LEFT if j == 0 else PP_ALIGN.RIGHT
            cell.margin_top = cell.margin_bottom = Pt(1)
    _text(s, MARGIN, H - Inches(0.7), W - 2 * MARGIN, Inches(0.6), c.footnotes, size=9, color=GREY)
    _notes(s, c)


def caveats_slide(prs, c: BriefContent) -> None:
    s = prs.slides.add_slide(prs.slide_layouts[6])
    _title(s, "Caveats and scenarios")
    chars = sum(len(x) for x in c.caveats)
    _text(s, MARGIN, Inches(1.2), W - 2 * MARGIN, Inches(3.6), c.caveats, size=_fit(chars, 12.3, 3.4, 18, 11),
          bullets=True)
    lines = [f"{n}: {line}" for n, line in c.scenarios]
    _text(s, MARGIN, Inches(5.0), W - 2 * MARGIN, Inches(2.2), ["Scenarios"], size=14, bold=True)
    _text(s, MARGIN, Inches(5.45), W - 2 * MARGIN, Inches(1.8), lines,
          size=_fit(sum(len(x) for x in lines), 12.3, 1.8, 14, 9), bullets=True)
    _notes(s, c)


def chart_slide(prs, c: BriefContent, caption: str, png: bytes) -> None:
    from PIL import Image

    s = prs.slides.add_slide(prs.slide_layouts[6])
    _title(s, caption.rstrip("."))
    w_px, h_px = Image.open(io.BytesIO(png)).size
    box_w, box_h = W - 2 * MARGIN, H - Inches(1.3) - Inches(0.3)
    scale = min(box_w / w_px, box_h / h_px)
    w, h = int(w_px * scale), int(h_px * scale)
    s.shapes.add_picture(io.BytesIO(png), int((W - w) / 2), Inches(1.2), width=w, height=h)
    _notes(s, c)


def build_slides(c: BriefContent) -> Presentation:
    from sim.plots.report import key_figures

    prs = Presentation()
    prs.slide_width, prs.slide_height = W, H
    title_slide(prs, c)
    table_slide(prs, c)
    caveats_slide(prs, c)
    with style():
        for _, caption, build in [f for f in key_figures(c) if f[0] not in SKIP][:CHART_SLIDES]:
            chart_slide(prs, c, caption, png_bytes(build()))
    prs.core_properties.title = c.question or c.title
    prs.core_properties.author = "sim"
    return prs


def write_slides(c: BriefContent, out: Path | str) -> Path:
    """Write the deck atomically (mode 0644) and return its path."""
    from sim.outputs.results import atomic_path

    out = Path(out)
    prs = build_slides(c)
    with atomic_path(out) as tmp:
        prs.save(str(tmp))
    return out
