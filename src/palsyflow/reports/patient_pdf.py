"""The one-page patient PDF (ReportLab): large type, drawn traffic lights, a weekly graph.

Prints exactly the texts of :func:`palsyflow.reports.patient.page_texts` on one A4
(or letter) page: title and month, the side sentence, one traffic light per area
(a drawn disc with a drawn symbol, so colour is never the only cue: a tick for green,
a bar for yellow, an exclamation mark for red, a question mark for grey), the change
since the first visit, the weekly recovery graph (vector shapes, x = weeks since the
first visit, y = the overall score 0-100, the healthy range as a green band) and the
things to talk about with the clinician. Body text is :data:`BODY_PT` points.
Written atomically; with ``ReportParams.deterministic`` the bytes depend only on the
content.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from palsyflow.atomic import atomic_path
from palsyflow.config import ReportParams
from palsyflow.reports.patient import (
    AREAS_HEADING,
    CHANGE_HEADING,
    FOOTER,
    GRAPH_BAND,
    GRAPH_TITLE,
    GRAPH_X,
    GRAPH_Y,
    LIGHT_MEANING,
    LIGHT_WORD,
    PAGE_TITLE,
    SIMULATED_NOTE,
    TALK_HEADING,
    PatientReport,
)

#: Body text size, points (large type: at least 14).
BODY_PT = 14.5
#: Colour of each light (fill).
LIGHT_COLOUR = {"green": "#2e8b3d", "amber": "#f2b705", "red": "#c62828", "grey": "#9e9e9e"}


def light_drawing(light: str, size: float = 30.0):
    """A traffic light as vector shapes: a disc and a symbol drawn on it.

    Parameters
    ----------
    light : {"green", "amber", "red", "grey"}
    size : float
        Width and height, points.

    Returns
    -------
    reportlab.graphics.shapes.Drawing
    """
    from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, String
    from reportlab.lib import colors

    d = Drawing(size, size)
    c = size / 2
    d.add(Circle(c, c, c - 1, fillColor=colors.HexColor(LIGHT_COLOUR[light]), strokeColor=colors.HexColor("#333333"), strokeWidth=0.8))
    ink = colors.black if light == "amber" else colors.white
    w = size * 0.11
    if light == "green":
        d.add(PolyLine([c - 0.45 * c, c, c - 0.1 * c, c - 0.38 * c, c + 0.5 * c, c + 0.42 * c], strokeColor=ink, strokeWidth=w, strokeLineCap=1, strokeLineJoin=1))
    elif light == "amber":
        d.add(Line(c - 0.5 * c, c, c + 0.5 * c, c, strokeColor=ink, strokeWidth=w, strokeLineCap=1))
    elif light == "red":
        d.add(Line(c, c + 0.52 * c, c, c - 0.12 * c, strokeColor=ink, strokeWidth=w, strokeLineCap=1))
        d.add(Circle(c, c - 0.45 * c, w * 0.6, fillColor=ink, strokeColor=ink))
    else:
        d.add(String(c, c - 0.32 * size, "?", fontName="Helvetica-Bold", fontSize=size * 0.7, fillColor=ink, textAnchor="middle"))
    return d


def recovery_drawing(p: PatientReport, width: float, height: float):
    """The weekly recovery graph as vector shapes.

    Parameters
    ----------
    p : PatientReport
        ``p.recovery`` (weeks, score) and the healthy band ``p.healthy_low``-``p.healthy_high``.
    width, height : float
        Points.

    Returns
    -------
    reportlab.graphics.shapes.Drawing
        Axes 0-100 (score) by 0-max weeks (at least 4), the band, the line through the
        sessions and a larger dot for this session.
    """
    from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, Rect, String
    from reportlab.lib import colors

    d = Drawing(width, height)
    left, bottom, right, top = 44.0, 34.0, width - 10.0, height - 8.0
    pts = p.recovery
    max_w = max([4.0] + [r.weeks for r in pts])
    step = next(s for s in (1, 2, 4, 8, 13, 26, 52, 104) if max_w / s <= 8)
    max_w = step * -(-max_w // step)

    def x(w: float) -> float:
        return left + (right - left) * w / max_w

    def y(v: float) -> float:
        return bottom + (top - bottom) * max(0.0, min(100.0, v)) / 100.0

    grey = colors.HexColor("#666666")
    if p.healthy_low is not None and p.healthy_high is not None:
        d.add(Rect(left, y(p.healthy_low), right - left, y(p.healthy_high) - y(p.healthy_low),
                   fillColor=colors.HexColor("#cfe8d2"), strokeColor=None))
    for v in (0, 50, 100):
        d.add(Line(left, y(v), right, y(v), strokeColor=colors.HexColor("#dddddd"), strokeWidth=0.6))
        d.add(String(left - 6, y(v) - 4, str(v), fontName="Helvetica", fontSize=12, fillColor=grey, textAnchor="end"))
    d.add(Line(left, bottom, right, bottom, strokeColor=grey, strokeWidth=1))
    d.add(Line(left, bottom, left, top, strokeColor=grey, strokeWidth=1))
    w = 0
    while w <= max_w:
        d.add(Line(x(w), bottom, x(w), bottom - 4, strokeColor=grey, strokeWidth=1))
        d.add(String(x(w), bottom - 16, str(int(w)), fontName="Helvetica", fontSize=12, fillColor=grey, textAnchor="middle"))
        w += step
    d.add(String((left + right) / 2, 2, GRAPH_X, fontName="Helvetica", fontSize=12, fillColor=colors.black, textAnchor="middle"))
    ink = colors.HexColor("#1f4e79")
    if len(pts) > 1:
        coords: list[float] = []
        for r in pts:
            coords += [x(r.weeks), y(r.score)]
        d.add(PolyLine(coords, strokeColor=ink, strokeWidth=3))
    for r in pts:
        d.add(Circle(x(r.weeks), y(r.score), 7 if r.this_session else 4.5, fillColor=ink, strokeColor=colors.white, strokeWidth=1.2))
    if pts:
        last = next((r for r in pts if r.this_session), pts[-1])
        d.add(String(min(x(last.weeks) + 10, right - 24), y(last.score) + 8, f"{last.score:.0f}", fontName="Helvetica-Bold",
                     fontSize=14, fillColor=ink))
    return d


def render_patient_report(p: PatientReport, out: Path, params: ReportParams) -> Path:
    """Write the one-page patient PDF of one session.

    Parameters
    ----------
    p : PatientReport
        :func:`palsyflow.reports.patient.build_patient_report`'s result.
    out : pathlib.Path
        Destination (chosen by the caller); written atomically, parents created.
    params : ReportParams
        ``page_size``, ``deterministic`` (ReportLab invariant mode) and ``page_compression``.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, letter
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    out = Path(out)
    pagesize = A4 if params.page_size == "A4" else letter
    margin = 15 * mm
    width = pagesize[0] - 2 * margin
    body = ParagraphStyle("pt_body", fontName="Helvetica", fontSize=BODY_PT, leading=BODY_PT * 1.17, bulletFontSize=BODY_PT)
    bold = ParagraphStyle("pt_bold", parent=body, fontName="Helvetica-Bold")
    title = ParagraphStyle("pt_title", parent=body, fontName="Helvetica-Bold", fontSize=24, leading=28)
    h2 = ParagraphStyle("pt_h2", parent=body, fontName="Helvetica-Bold", fontSize=18, leading=22, spaceBefore=6, spaceAfter=2,
                        textColor=colors.HexColor("#1f4e79"))
    small = ParagraphStyle("pt_small", parent=body, fontSize=12, leading=15, textColor=colors.HexColor("#444444"))

    story: list = [
        Table([[Paragraph(escape(PAGE_TITLE), title), Paragraph(escape(p.month), ParagraphStyle("pt_m", parent=h2, alignment=2, spaceBefore=0))]],
              colWidths=[0.68 * width, 0.32 * width],
              style=TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("LEFTPADDING", (0, 0), (0, -1), 0),
                                ("RIGHTPADDING", (-1, 0), (-1, -1), 0)])),
    ]
    if p.simulated:
        story.append(Table([[Paragraph(escape(SIMULATED_NOTE), ParagraphStyle("pt_sim", parent=bold, textColor=colors.white))]],
                           colWidths=[width], style=TableStyle([("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#b3261e"))])))
    story += [Spacer(1, 3 * mm), Paragraph(escape(p.headline), bold), Paragraph(escape(AREAS_HEADING), h2)]

    key = [[light_drawing(k, 18), Paragraph(escape(f"{LIGHT_WORD[k]}: {v}."), small)] for k, v in LIGHT_MEANING.items()]
    key_row = [cell for pair in key for cell in pair]
    story.append(Table([key_row], colWidths=[22, 0.25 * width - 22] * 4,
                       style=TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 1),
                                         ("RIGHTPADDING", (0, 0), (-1, -1), 2)])))
    rows = [[light_drawing(a.light, 26), Paragraph(f"<b>{escape(a.title)}.</b> {escape(a.sentence)}", body)] for a in p.areas]
    if rows:
        story.append(Table(rows, colWidths=[34, width - 34],
                           style=TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("TOPPADDING", (0, 0), (-1, -1), 2),
                                             ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                                             ("LINEBELOW", (0, 0), (-1, -2), 0.4, colors.HexColor("#dddddd"))])))

    story += [Paragraph(escape(CHANGE_HEADING), h2), Paragraph(escape(p.improvement_sentence), bold)]
    graph_note = GRAPH_Y + (". " + GRAPH_BAND if p.healthy_low is not None and p.healthy_high is not None else ".")
    story += [Paragraph(escape(GRAPH_TITLE), ParagraphStyle("pt_h3", parent=bold, spaceBefore=4)),
              Paragraph(escape(graph_note), small),
              recovery_drawing(p, width, 120)]

    story.append(Paragraph(escape(TALK_HEADING), h2))
    story += [Paragraph(escape(t), body, bulletText="\u2022") for t in p.talk_about]
    story += [Spacer(1, 3 * mm), Paragraph(escape(FOOTER), small)]

    with atomic_path(out) as tmp:
        doc = SimpleDocTemplate(
            str(tmp), pagesize=pagesize, leftMargin=margin, rightMargin=margin, topMargin=10 * mm, bottomMargin=10 * mm,
            title=PAGE_TITLE, author="palsyflow", creator="palsyflow",
            invariant=1 if params.deterministic else 0, pageCompression=1 if params.page_compression else 0,
        )
        doc.build(story)
    return out
