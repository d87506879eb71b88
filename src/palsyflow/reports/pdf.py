"""Clinician PDF report of one session (ReportLab platypus).

One A4 (or letter) document: title, header table, simulated-data banner when
relevant, regional symmetry table, the millimetre (Emotrics-equivalent) table when
the session has those measures, the clinical scales, the key frames and the asymmetry
heat map (:mod:`palsyflow.reports.frames`, when the caller passes the session's frames),
history plot, speech table, the "Not measured" list (:mod:`palsyflow.reports.missing`),
plain-language summary and a disclaimer footer on every page. Written atomically; with
``ReportParams.deterministic`` the bytes depend only on the report content.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from xml.sax.saxutils import escape

from palsyflow.atomic import atomic_path
from palsyflow.config import ReportParams
from palsyflow.reports.frames import HEATMAP_CMAP, HEATMAP_RANGE, KeyFrame, SessionFrames, asymmetry_heatmap
from palsyflow.reports.model import MeasureRow, SessionReport, onset_line
from palsyflow.reports.plots import history_plot_png, trend_caption
from palsyflow.reports.summary import format_date, plain_language_summary

DISCLAIMER = "Left and right refer to the patient's sides. Research measurement, not a diagnosis."
SIMULATED_BANNER = "SIMULATED DATA - not a real patient recording"
_NA = "n/a"


#: Heading of the millimetre table.
MILLIMETRE_TITLE = "Millimetre measures (Emotrics-equivalent, iris 11.77 mm)"


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return _NA if v is None else fmt.format(v)


def _signed(v: float | None) -> str:
    if v is None:
        return _NA
    return "0.0" if round(v, 1) == 0 else f"{v:+.1f}"


def _side(v: str | None) -> str:
    return {"left": "Left", "right": "Right"}.get(v or "", "-")


def carried_side_note(report: SessionReport, sessions: list[str]) -> str:
    """The footnote of a side kept from an earlier session.

    Parameters
    ----------
    report : SessionReport
        Its history gives the earlier sessions' dates.
    sessions : list of str
        The ``YYYYMMDD`` labels the table's starred sides were kept from
        (:func:`palsyflow.measures.symmetry.carry_sides`).

    Returns
    -------
    str
        One paragraph, starting with ``*``.
    """
    dates = {h.session: h.session_date for h in report.history}
    when = ", ".join(format_date(dates[s]) if s in dates else s for s in sessions)
    return (
        f"* The side named at the session of {when}, where the movement difference lay outside the healthy "
        "range. In this session the movement difference points to the same side and is above measurement "
        "noise, but lies within the range seen in healthy faces; it is named because a one-sided palsy does "
        "not change sides, not as a finding of this session alone."
    )


def _generated_text(params: ReportParams, generated_at: dt.datetime | None) -> str:
    if generated_at is None and params.deterministic:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        if epoch is None:
            return "not recorded (reproducible output)"
        generated_at = dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc)
    if generated_at is None:
        generated_at = dt.datetime.now(tz=dt.timezone.utc)
    if generated_at.tzinfo is None:
        generated_at = generated_at.replace(tzinfo=dt.timezone.utc)
    return generated_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _percentile(row: MeasureRow) -> str:
    return _NA if row.percentile is None else f"{row.percentile:.0f}"


#: Heading of the clinical-scale section; every value in it is an automated estimate.
SCALES_TITLE = "Clinical scales (automated estimate, not a clinician's grade)"


def eface_bars_png(eface: dict, width_in: float = 6.0, height_in: float = 1.7, dpi: int = 150) -> bytes:
    """PNG of the eFACE automated estimate: horizontal bars static/dynamic/synkinesis/total, 0-100.

    Parameters
    ----------
    eface : dict
        :func:`palsyflow.measures.scales.eface`'s result; a missing subscore is drawn as
        an empty bar labelled "not measured".
    width_in, height_in : float
        Figure size, inches.
    dpi : int

    Returns
    -------
    bytes
        PNG (no software metadata, so the bytes depend on the values only).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = ("static", "dynamic", "synkinesis", "total")
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.14, 0.22, 0.80, 0.70))
    ys = list(range(len(names)))[::-1]
    for y, n in zip(ys, names):
        v = eface.get(n)
        ax.barh(y, 100, color="#eef1f5", height=0.62)
        if v is None:
            ax.text(2, y, "not measured", va="center", fontsize=7, color="#666666")
            continue
        ax.barh(y, v, color="#2b5d8a" if n == "total" else "#7fa3c6", height=0.62)
        ax.text(min(v, 100) - 1.5, y, f"{v:.0f}", va="center", ha="right", fontsize=7.5, color="white", fontweight="bold")
    ax.set_yticks(ys, [n.capitalize() for n in names], fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("eFACE, automated estimate (100 = normal)", fontsize=7.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def scale_section(report: SessionReport, frame_width: float, h2, small, grid: list) -> list:
    """The clinical-scale flowables: eFACE bars, Sunnybrook composite, House-Brackmann estimate.

    Parameters
    ----------
    report : SessionReport
        ``report.scales`` (:func:`palsyflow.reports.model.scale_report`); nothing when None.
    frame_width : float
        Text width, points.
    h2, small : ParagraphStyle
        Heading and footnote styles.
    grid : list
        The report's table style commands.

    Returns
    -------
    list
        Platypus flowables (empty without scales). The House-Brackmann estimate stands
        beside the clinician's grade when the manifest gave one.
    """
    from reportlab.platypus import Image, KeepTogether, Paragraph, Table, TableStyle

    sc = report.scales
    if sc is None:
        return []
    e, sb, hb = sc.estimates.eface, sc.estimates.sunnybrook, sc.estimates.house_brackmann
    png = eface_bars_png(e)
    w = min(frame_width, 6.0 * 72)
    rows = [["Scale (automated estimate)", "Value", "Detail"]]
    rows.append(["Sunnybrook composite (0-100)", _num(sb["composite"], "{:.0f}"),
                 f"voluntary {_num(sb['voluntary'], '{:.0f}')} - resting {_num(sb['resting'], '{:.0f}')}"
                 f" - synkinesis {_num(sb['synkinesis'], '{:.0f}')}"])
    rows.append(["House-Brackmann (estimate)", hb["grade"] or _NA,
                 "clinician's grade: " + (("I", "II", "III", "IV", "V", "VI")[sc.clinician_hb_grade - 1]
                                          if sc.clinician_hb_grade else "not given")])
    table = Table(rows, colWidths=[0.38 * frame_width, 0.14 * frame_width, 0.48 * frame_width])
    table.setStyle(TableStyle(list(grid) + [("ALIGN", (2, 0), (2, -1), "LEFT")]))
    missing = [m for m in sb["missing"] if m.startswith("voluntary_")]
    note = ("Automated estimates from this session's landmarks, not clinician grades. eFACE: Banks et al. 2015, "
            "automated as in Miller et al. 2021; Sunnybrook: Ross et al. 1996; House-Brackmann: "
            + escape(hb["basis"]) + ". Synkinesis: ocular only (eye narrowing in smile and pucker).")
    if missing:
        note += " Not measured: " + ", ".join(m.removeprefix("voluntary_").replace("_", " ") for m in missing) + "."
    return [KeepTogether([
        Paragraph(SCALES_TITLE, h2),
        Image(io.BytesIO(png), width=w, height=w * 1.7 / 6.0),
        table,
        Paragraph(note, small),
    ])]


#: Heading of the palsy detector's section.
DETECTOR_TITLE = "Palsy detector (automated estimate, research model)"


def detector_section(block: dict | None, frame_width: float, h2, body, small, grid: list) -> list:
    """The palsy detector's probability and its SHAP explanation, when a detector is registered.

    Parameters
    ----------
    block : dict or None
        ``{"probability", "model_version", "top_features": [{"name", "shap"}], "reason"}``
        (:func:`palsyflow.models.detector.predict_block`); nothing when None (no detector
        registered).
    frame_width : float
        Text width, points.
    h2, body, small : ParagraphStyle
    grid : list
        The report's table style commands.

    Returns
    -------
    list
        Platypus flowables. SHAP values are the features' contributions to the log-odds of
        "palsy" (Lundberg & Lee 2017, NeurIPS; the ``shap`` package): positive pushes
        towards palsy.
    """
    from reportlab.platypus import KeepTogether, Paragraph, Table, TableStyle

    if block is None:
        return []
    version = escape(str(block.get("model_version") or ""))
    if block.get("probability") is None:
        return [KeepTogether([Paragraph(DETECTOR_TITLE, h2),
                              Paragraph(f"Not computed: {escape(str(block.get('reason') or 'no reason given'))} "
                                        f"(model {version}).", body)])]
    rows = [["Feature", "SHAP (log-odds)", "Pushes towards"]]
    for f in block.get("top_features") or []:
        rows.append([f["name"], f"{f['shap']:+.2f}", "palsy" if f["shap"] > 0 else "healthy"])
    table = Table(rows, colWidths=[0.5 * frame_width, 0.22 * frame_width, 0.28 * frame_width])
    table.setStyle(TableStyle(list(grid)))
    return [KeepTogether([
        Paragraph(DETECTOR_TITLE, h2),
        Paragraph(f"Probability of facial palsy from the face at rest: <b>{100 * block['probability']:.0f} %</b> "
                  f"(model {version}).", body),
        table,
        Paragraph("A healthy-vs-palsy classifier on static face geometry, trained on web photos "
                  "(models/cards/detector.md); not a diagnosis. The table lists the features that moved this "
                  "estimate most, with their SHAP contributions.", small),
    ])]


#: Heading of the key-frame section.
KEYFRAMES_TITLE = "Key frames (neutral and peak of each task)"
#: Heading of the heat map.
HEATMAP_TITLE = "Asymmetry by region, on the face"
#: Heading of the list of what this session could not measure.
NOT_MEASURED_TITLE = "Not measured"
#: Key-frame thumbnails per table row (two tasks, neutral and peak each).
KEYFRAME_COLUMNS = 4


def _keyframe_cell(k: KeyFrame, width: float, small) -> list:
    from reportlab.platypus import Image, Paragraph

    what = f"{k.task.replace('_', ' ')}, {k.which}"
    when = f", {k.time_s:.2f} s" if k.time_s is not None else ""
    if k.image is None:
        return [Paragraph(f"<b>{escape(what)}</b>: not shown - {escape(k.missing or 'not available')}", small)]
    h = width * k.image.height / k.image.width
    return [Image(io.BytesIO(k.image.data), width=width, height=h), Paragraph(escape(what + when), small)]


def frames_section(report: SessionReport, frames: SessionFrames | None, frame_width: float, h2, body, small) -> list:
    """The key-frame grid and the asymmetry heat map.

    Parameters
    ----------
    report : SessionReport
        Its regional rows colour the heat map (asymmetry ``100 - symmetry``).
    frames : SessionFrames or None
        From the report stage (:class:`palsyflow.stages.report_frames.FrameSource`);
        None: no section (a caller without frames); empty: a sentence saying so.
    frame_width : float
        Text width, points.
    h2, body, small : ParagraphStyle

    Returns
    -------
    list
        Platypus flowables.
    """
    from reportlab.platypus import Image, KeepTogether, Paragraph, Table, TableStyle

    if frames is None:
        return []
    out: list = [Paragraph(KEYFRAMES_TITLE, h2)]
    keys = list(frames.keyframes)
    if not keys:
        out.append(Paragraph("No key frame is available for this session (no video or photo with landmarks).", body))
        return out
    cw = frame_width / KEYFRAME_COLUMNS
    by_task: dict[str, dict[str, KeyFrame]] = {}
    for k in keys:
        by_task.setdefault(k.task, {})[k.which] = k
    cells = []  # a task's neutral and peak side by side (a photo rest has no peak: its cell is blank)
    for shown in by_task.values():
        cells += [_keyframe_cell(shown[w], cw - 6, small) if w in shown else "" for w in ("neutral", "peak")]
    rows = [cells[i:i + KEYFRAME_COLUMNS] for i in range(0, len(cells), KEYFRAME_COLUMNS)]
    rows[-1] += [""] * (KEYFRAME_COLUMNS - len(rows[-1]))
    grid = Table(rows, colWidths=[cw] * KEYFRAME_COLUMNS)
    grid.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]))
    out += [grid, Paragraph(
        "Each frame is cut to the face; dots are the landmarks, lines the brow, eye and lip contours. "
        "\"patient's R\" and \"patient's L\" mark the patient's sides (on an unmirrored image the patient's "
        "right is on the image left). Neutral: the frame closest to the recording's rest posture; peak: the "
        "task's strongest movement, the two frames the movement measures compare.", small)]
    if frames.heat_face is not None and frames.region_points and report.regions:
        asym = {r.region: (100.0 - r.value if r.value is not None else None) for r in report.regions}
        weaker = {r.region: r.weaker_side for r in report.regions}
        img = asymmetry_heatmap(frames.heat_face, asym, frames.region_points, weaker)
        w = 0.62 * frame_width
        lo, hi = HEATMAP_RANGE
        out.append(KeepTogether([
            Paragraph(HEATMAP_TITLE, h2),
            Image(io.BytesIO(img.data), width=w, height=w * img.height / img.width),
            Paragraph(
                f"Each region (brow, eye, cheek, mouth) is coloured on both sides by its rest asymmetry from the "
                f"regional table (100 - symmetry, 0 = symmetric); colormap {HEATMAP_CMAP}, {lo:.0f} to {hi:.0f} "
                f"points, larger values take the top colour. Grey hatched: not measured. Dashed outline: the "
                f"patient's weaker side, where one is named. Drawn on the neutral frame of the "
                f"{(frames.heat_task or 'rest').replace('_', ' ')} recording.", small),
        ]))
    return out


def not_measured_section(frames: SessionFrames | None, frame_width: float, h2, cell, grid: list) -> list:
    """The "Not measured" table: each missing measure or task with its recorded reason.

    Parameters
    ----------
    frames : SessionFrames or None
        ``not_measured`` pairs (:func:`palsyflow.reports.missing.not_measured`).
    frame_width : float
    h2, cell : ParagraphStyle
    grid : list
        The report's table style commands.

    Returns
    -------
    list
        Nothing without frames (the stage gave none).
    """
    from reportlab.platypus import KeepTogether, Paragraph, Table, TableStyle

    if frames is None:
        return []
    items = list(frames.not_measured)
    rows = [["What", "Why"]] + [[Paragraph(escape(w), cell), Paragraph(escape(r), cell)] for w, r in items]
    if not items:
        rows.append([Paragraph("Everything of the session protocol was measured.", cell), ""])
    table = Table(rows, colWidths=[0.36 * frame_width, 0.64 * frame_width], repeatRows=1)
    table.setStyle(TableStyle(list(grid) + [("ALIGN", (0, 0), (-1, -1), "LEFT"), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return [KeepTogether([Paragraph(NOT_MEASURED_TITLE, h2), table])]


def render_session_report(
    report: SessionReport,
    out: Path,
    params: ReportParams,
    *,
    generated_at: dt.datetime | None = None,
    frames: SessionFrames | None = None,
    detector: dict | None = None,
) -> Path:
    """Write the clinician PDF of one session.

    Parameters
    ----------
    report : SessionReport
        From :func:`palsyflow.reports.model.build_session_report`.
    out : pathlib.Path
        Destination file (chosen by the caller); written atomically, parent
        directories created.
    params : ReportParams
        Title, institution, page size, plot size, ``deterministic`` (ReportLab
        invariant mode, no wall-clock timestamp unless ``SOURCE_DATE_EPOCH`` or
        ``generated_at`` is given) and ``page_compression``.
    generated_at : datetime, optional
        Timestamp printed as "Generated"; defaults to now (UTC), or to
        ``SOURCE_DATE_EPOCH`` / none in deterministic mode.
    frames : SessionFrames, optional
        Key frames, the heat map's face and the "Not measured" list (the report stage's
        :class:`palsyflow.stages.report_frames.FrameSource`); without them the PDF has no
        "Not measured" section and says no key frame is available.
    detector : dict, optional
        The palsy detector's block for the session (:func:`detector_section`); without it
        the PDF has no detector section.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4, letter
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import inch, mm
    from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    out = Path(out)
    pagesize = A4 if params.page_size == "A4" else letter
    margin = 16 * mm
    frame_width = pagesize[0] - 2 * margin

    styles = getSampleStyleSheet()
    title_style = ParagraphStyle("pf_title", parent=styles["Title"], fontSize=17, leading=21, spaceAfter=2)
    sub_style = ParagraphStyle("pf_sub", parent=styles["Normal"], fontSize=9, textColor=colors.grey, alignment=TA_CENTER)
    h2 = ParagraphStyle("pf_h2", parent=styles["Heading2"], fontSize=12, leading=15, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("pf_body", parent=styles["Normal"], fontSize=9.5, leading=13)
    small = ParagraphStyle("pf_small", parent=styles["Normal"], fontSize=8, leading=10, textColor=colors.grey)
    cell = ParagraphStyle("pf_cell", parent=styles["Normal"], fontSize=9, leading=11)
    head_left = ParagraphStyle("pf_head", parent=cell, fontName="Helvetica-Bold", fontSize=8.5, leading=10)
    head_right = ParagraphStyle("pf_head_r", parent=head_left, alignment=TA_RIGHT)

    def heads(names: list[str], left_cols: tuple[int, ...] = (0,)) -> list:
        return [Paragraph(escape(n), head_left if i in left_cols else head_right) for i, n in enumerate(names)]

    banner_style = ParagraphStyle(
        "pf_banner", parent=styles["Normal"], fontName="Helvetica-Bold", fontSize=12, leading=15,
        textColor=colors.white, alignment=TA_CENTER,
    )

    grid = [
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor("#5b6b7f")),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#c8d0da")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ("ALIGN", (1, 0), (-1, 0), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]

    story: list = [Paragraph(escape(params.title), title_style)]
    if params.institution:
        story.append(Paragraph(escape(params.institution), sub_style))
    story.append(Spacer(1, 4 * mm))

    if report.simulated:
        banner = Table([[Paragraph(SIMULATED_BANNER, banner_style)]], colWidths=[frame_width])
        banner.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#b3261e")),
                    ("TOPPADDING", (0, 0), (-1, -1), 5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                ]
            )
        )
        story += [banner, Spacer(1, 3 * mm)]

    header = [
        ["Site", report.site, "Session date", report.session_date.isoformat()],
        ["Patient ID (pseudonym)", report.subject, "Session", report.session],
        ["Model version", report.model_version or "none (no normative model)", "Generated", _generated_text(params, generated_at)],
    ]
    onset = onset_line(report)
    if onset:
        header.append(["Time since onset", onset, "", ""])
    header_table = Table(
        [[Paragraph(escape(str(c)), cell) for c in row] for row in header],
        colWidths=[0.24 * frame_width, 0.28 * frame_width, 0.16 * frame_width, 0.32 * frame_width],
    )
    header_table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor("#5b6b7f")),
                ("INNERGRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#c8d0da")),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#e8edf3")),
                ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#e8edf3")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story.append(header_table)

    # Regional symmetry
    story.append(Paragraph("Facial symmetry by region", h2))
    rows = [heads(["Region", "Symmetry (0-100)", "Percentile vs healthy", "Weaker side (patient's)", "Change since first"])]
    regional = list(report.regions) + list(report.components) + ([report.overall] if report.overall is not None else [])
    carried = sorted({r.side_from_session for r in regional if r.side_from_session})
    for r in regional:
        mark = "*" if r.side_from_session else ""
        rows.append([r.label, _num(r.value), _percentile(r), _side(r.weaker_side) + mark, _signed(r.change_since_first)])
    if len(rows) == 1:
        rows.append(["No facial symmetry scores for this session", "", "", "", ""])
    region_table = Table(
        rows,
        colWidths=[0.32 * frame_width, 0.17 * frame_width, 0.17 * frame_width, 0.17 * frame_width, 0.17 * frame_width],
        repeatRows=1,
    )
    style = list(grid)
    if report.overall is not None:
        last = len(rows) - 1
        style += [
            ("FONTNAME", (0, last), (-1, last), "Helvetica-Bold"),
            ("LINEABOVE", (0, last), (-1, last), 0.8, colors.HexColor("#5b6b7f")),
        ]
    region_table.setStyle(TableStyle(style))
    story.append(region_table)
    story.append(
        Paragraph(
            "Symmetry: 100 means both sides move equally. Percentile: share of healthy faces (in %) "
            "scoring lower. Change: points relative to the patient's first session.",
            small,
        )
    )
    if carried:
        story.append(Paragraph(escape(carried_side_note(report, carried)), small))

    # Millimetre measures
    if report.millimetres:
        mrows = [heads(["Measure", "Left (patient's)", "Right (patient's)", "Left - right", "Unit"], left_cols=(0, 4))]
        for r in report.millimetres:
            bilateral = r.left is None and r.right is None  # a height deviation: a magnitude, unsigned
            mrows.append([r.label, _num(r.left), _num(r.right), _num(r.difference) if bilateral else _signed(r.difference), r.unit])
        mm_table = Table(
            mrows,
            colWidths=[0.40 * frame_width, 0.15 * frame_width, 0.15 * frame_width, 0.15 * frame_width, 0.15 * frame_width],
            repeatRows=1,
        )
        mm_table.setStyle(TableStyle(list(grid) + [("ALIGN", (4, 0), (4, -1), "LEFT")]))
        story.append(KeepTogether([
            Paragraph(MILLIMETRE_TITLE, h2),
            mm_table,
            Paragraph(
                "Emotrics estimators (Guarin et al. 2018) on this session's landmarks, scaled by the iris diameter "
                "(11.77 mm). Rest: the neutral posture; task rows: the task's peak. A height deviation has one value, "
                "in the difference column. Eye narrowing: rest minus task fissure height.",
                small,
            ),
        ]))

    story += scale_section(report, frame_width, h2, small, grid)
    story += detector_section(detector, frame_width, h2, body, small, grid)
    story += frames_section(report, frames, frame_width, h2, body, small)

    # History plot
    png = history_plot_png(report, params.plot_width_in, params.plot_height_in, dpi=params.plot_dpi)
    img_w = min(frame_width, params.plot_width_in * inch)
    img_h = img_w * params.plot_height_in / params.plot_width_in
    story.append(
        KeepTogether(
            [
                Paragraph(f"Symmetry across sessions ({len(report.history)} session{'s' if len(report.history) != 1 else ''})", h2),
                Image(io.BytesIO(png), width=img_w, height=img_h),
                Paragraph(escape(trend_caption(report)), body),
            ]
        )
    )

    # Speech
    speech_block: list = [Paragraph("Speech measures", h2)]
    if report.speech:
        speech_block.append(Paragraph(
            "Clarity is machine intelligibility: the share of the prompt's words a recogniser (pocketsphinx, closed "
            "grammar of the session's sentences) gets right, a proxy for listener intelligibility. The dysarthria "
            "index (0 = as healthy speakers, 100 = far from them) is a screening composite of the components below, "
            "not a diagnosis. Voice measures come from the sustained vowel only.", body))
        srows = [heads(["Measure", "Value", "Unit", "Percentile vs healthy", "Change since first"], left_cols=(0, 2))]
        for r in report.speech:
            srows.append([r.label, _num(r.value, "{:.2f}"), r.unit or "", _percentile(r), _signed(r.change_since_first)])
        speech_table = Table(
            srows,
            colWidths=[0.32 * frame_width, 0.17 * frame_width, 0.17 * frame_width, 0.17 * frame_width, 0.17 * frame_width],
            repeatRows=1,
        )
        sstyle = list(grid) + [("ALIGN", (2, 1), (2, -1), "LEFT"), ("ALIGN", (2, 0), (2, 0), "LEFT")]
        speech_table.setStyle(TableStyle(sstyle))
        speech_block.append(speech_table)
    else:
        speech_block.append(Paragraph("No speech recording was scored for this session.", body))
    story.append(KeepTogether(speech_block))
    story += not_measured_section(frames, frame_width, h2, cell, grid)

    # Plain language
    summary_box = Table(
        [[Paragraph(escape(plain_language_summary(report)), body)]], colWidths=[frame_width]
    )
    summary_box.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor("#5b6b7f")),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f5f7fa")),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("RIGHTPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    story.append(KeepTogether([Paragraph("In plain language", h2), summary_box]))

    footer_id = f"site {report.site} / patient {report.subject} / session {report.session}"
    simulated = report.simulated

    def _decorate(canvas, doc) -> None:
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor("#c8d0da"))
        canvas.setLineWidth(0.5)
        canvas.line(margin, 14 * mm, pagesize[0] - margin, 14 * mm)
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.HexColor("#333333"))
        canvas.drawString(margin, 10 * mm, DISCLAIMER)
        canvas.setFillColor(colors.grey)
        canvas.drawString(margin, 6.5 * mm, footer_id)
        canvas.drawRightString(pagesize[0] - margin, 6.5 * mm, f"Page {doc.page}")
        if simulated:
            canvas.setFont("Helvetica-Bold", 8)
            canvas.setFillColor(colors.HexColor("#b3261e"))
            canvas.drawRightString(pagesize[0] - margin, 10 * mm, "SIMULATED DATA")
        canvas.restoreState()

    with atomic_path(out) as tmp:
        doc = SimpleDocTemplate(
            str(tmp),
            pagesize=pagesize,
            leftMargin=margin,
            rightMargin=margin,
            topMargin=14 * mm,
            bottomMargin=20 * mm,
            title=f"{params.title} - {report.subject} {report.session}",
            author="palsyflow",
            subject="Facial motor function measurements",
            creator="palsyflow",
            invariant=1 if params.deterministic else 0,
            pageCompression=1 if params.page_compression else 0,
        )
        doc.build(story, onFirstPage=_decorate, onLaterPages=_decorate)
    return out
