"""The printable documents (issue #40 item 4), rendered server-side as PDF with ReportLab: a 整改通知书
(rectification notice) and a 现场检查记录 (inspection record), A4, each with its document number, the
facility's particulars, the findings, the inspection's photos as thumbnails, signature lines and the
facility's receipt line. docs/contract.md ("Printable documents") gives each layout.

The text is set in WenQuanYi Zen Hei (Debian's fonts-wqy-zenhei, a TrueType collection under the GPL
with the font exception), embedded as a subset of the glyphs used: the PDF reads the same on any viewer,
printer or archive, with no Chinese font of its own. Without that file (a machine set up by hand) the
documents fall back to ReportLab's built-in CID font STSong-Light, which is named but not embedded (the
reader then supplies the face), and the web logs that once. The text stays text: `pdftotext` reads it
back (tests/test_documents.py).

Rendering is CPU work (a thumbnail per photo, the layout): `render_*` are plain functions the pages run in
a worker thread, holding no database connection.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from contract.inspection import AREAS, DEFAULT_DEPARTMENT, checklist
from contract.places import county_name_zh, township_name
from storage.documents import Photo

# TrueType faces with Chinese glyphs that ReportLab can embed (not CFF-based OpenType such as Noto CJK)
EMBEDDABLE = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)
FALLBACK = "STSong-Light"
logger = logging.getLogger(__name__)
THUMB_PX = 480  # a thumbnail's longer side: sharp at 46 mm wide when printed (≈ 260 dpi)
THUMB_MM = 46
THUMBS_PER_ROW = 3


@cache
def _font() -> str:
    """The face the documents are set in: an embeddable TrueType one when the machine has it."""
    for path in EMBEDDABLE:
        if path.exists():
            pdfmetrics.registerFont(TTFont("CareWatchCJK", str(path), subfontIndex=0))
            return "CareWatchCJK"
    logger.warning(
        "no embeddable Chinese font (%s): printable documents use %s, not embedded (apt-get install fonts-wqy-zenhei)",
        ", ".join(map(str, EMBEDDABLE)),
        FALLBACK,
    )
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK))
    return FALLBACK


@dataclass(frozen=True, slots=True)
class Facility:
    """What a document says of a facility (storage.documents.particulars)."""

    id: str
    name: str
    county: str
    township: str
    kind: str  # the name of its type, in the document's language
    places: int
    class_count: int
    hours: str
    timezone: str

    @property
    def area(self) -> str:
        return f"{county_name_zh(self.county)} {township_name(self.township)}"


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    base = ParagraphStyle("body", fontName=font, fontSize=11, leading=17, wordWrap="CJK")
    return {
        "body": base,
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=28, alignment=TA_CENTER, spaceAfter=2),
        "issuer": ParagraphStyle("issuer", parent=base, fontSize=13, leading=18, alignment=TA_CENTER),
        "number": ParagraphStyle("number", parent=base, alignment=TA_RIGHT, spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12.5, leading=19, spaceBefore=8, spaceAfter=3),
        "small": ParagraphStyle("small", parent=base, fontSize=9, leading=12),
        "cut": ParagraphStyle("cut", parent=base, fontSize=9, leading=12, alignment=TA_CENTER),
        "cell": ParagraphStyle("cell", parent=base, fontSize=9.5, leading=13),
        "indent": ParagraphStyle("indent", parent=base, firstLineIndent=22),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text (escaped: a title with `<` is text, not markup), line breaks kept."""
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def local_time(value: str | datetime | None, tz: str, lang: str, *, with_time: bool = True) -> str:
    """2026年12月6日 14:30 / 2026-12-06 14:30 in the facility's zone; '' for none."""
    if value is None or value == "":
        return ""
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = t.astimezone(ZoneInfo(tz))
    day = f"{local.year}年{local.month}月{local.day}日" if lang == "zh" else f"{local:%Y-%m-%d}"
    return f"{day} {local:%H:%M}" if with_time else day


def thumbnail(photo: Photo) -> bytes | None:
    """A JPEG of at most THUMB_PX on its longer side, upright; None for a PDF scan or an unreadable file
    (the stored photos were decoded once already, web/photos.py)."""
    if photo.content_type not in {"image/jpeg", "image/png"}:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(photo.data)) as img:
                small = ImageOps.exif_transpose(img)
                small.thumbnail((THUMB_PX, THUMB_PX))
                out = io.BytesIO()
                small.convert("RGB").save(out, "JPEG", quality=80)
                return out.getvalue()
    except (UnidentifiedImageError, PILImage.DecompressionBombError, PILImage.DecompressionBombWarning, OSError):
        return None


def _photos(photos: Sequence[Photo], t: Mapping[str, str], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    if not photos:
        return []
    cells: list[Any] = []
    for ph in photos:
        jpeg = thumbnail(ph)
        if jpeg is None:
            cells.append(_p(f"{ph.filename}（{t['doc_photo_not_shown']}）", st["small"]))
            continue
        with PILImage.open(io.BytesIO(jpeg)) as im:
            w, h = im.size
        width = THUMB_MM * mm
        img = Image(io.BytesIO(jpeg), width=width, height=width * h / w)
        cells.append([img, _p(ph.filename, st["small"])])
    rows = [cells[i : i + THUMBS_PER_ROW] for i in range(0, len(cells), THUMBS_PER_ROW)]
    rows[-1] += [""] * (THUMBS_PER_ROW - len(rows[-1]))
    grid = Table(rows, colWidths=[(THUMB_MM + 3) * mm] * THUMBS_PER_ROW)
    grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("FONTNAME", (0, 0), (-1, -1), _font())]))
    return [_p(t["doc_photos"], st["h2"]), grid]


def _grid(rows: list[list[Any]], widths: list[float], header: bool = False) -> Table:
    table = Table(rows, colWidths=[w * mm for w in widths], repeatRows=1 if header else 0)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("FONTNAME", (0, 0), (-1, -1), _font()),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    table.setStyle(TableStyle(style))
    return table


def _particulars(f: Facility, t: Mapping[str, str], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    c = st["cell"]
    rows = [
        [_p(t["doc_facility_name"], c), _p(f.name, c), _p(t["doc_facility_id"], c), _p(f.id, c)],
        [_p(t["doc_area"], c), _p(f.area, c), _p(t["doc_kind"], c), _p(f.kind, c)],
        [_p(t["doc_places"], c), _p(str(f.places), c), _p(t["doc_classes"], c), _p(str(f.class_count), c)],
        [_p(t["doc_hours"], c), _p(f.hours, c), "", ""],
    ]
    table = _grid(rows, [26, 60, 26, 58])
    table.setStyle(TableStyle([("SPAN", (1, 3), (3, 3))]))
    return [_p(t["doc_particulars"], st["h2"]), table]


def _signatures(lines: Sequence[str], st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = []
    for line in lines:  # room to sign above each line
        out += [Spacer(1, 6 * mm), _p(line, st["body"])]
    return out


def _build(flow: list[Flowable], title: str, author: str) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=22 * mm,
        rightMargin=18 * mm,
        topMargin=20 * mm,
        bottomMargin=18 * mm,
        title=title,
        author=author,
        creator="CareWatch",
        initialFontName=_font(),  # the canvas's own default (Helvetica) would be one font not embedded
    )
    doc.build(flow)
    return out.getvalue()


def render_order(
    o: Mapping[str, Any],
    number: str,
    issuer: str,
    f: Facility,
    inspection_number: str | None,
    photos: Sequence[Photo],
    t: Mapping[str, str],
    lang: str,
) -> bytes:
    """整改通知书: the issuer and the title, the number, the facility addressed, the subject, requirements
    and due date, its particulars, the inspection it came from and that inspection's photos, the
    inspectors' and the issuing department's signature lines, and a receipt line for the facility."""
    st = _styles()
    tz = f.timezone
    source = {
        "inspection": t["doc_source_inspection"].format(number=inspection_number or "—"),
        "alert": t["doc_source_alert"].format(id=o.get("alert_id") or ""),
        "manual": t["doc_source_manual"],
    }[o["source"]]
    flow: list[Flowable] = [
        _p(issuer, st["issuer"]),
        _p(t["doc_order_title"], st["title"]),
        _p(number, st["number"]),
        _p(t["doc_addressee"].format(name=f.name), st["body"]),
        _p(
            t["doc_order_intro"].format(date=local_time(o["issued_at"], tz, lang, with_time=False), source=source),
            st["indent"],
        ),
        _p(t["doc_subject"], st["h2"]),
        _p(o["title"], st["indent"]),
    ]
    if o.get("detail"):
        flow += [_p(t["doc_requirements"], st["h2"]), _p(o["detail"], st["indent"])]
    flow += [
        _p(t["doc_due"], st["h2"]),
        _p(t["doc_order_due"].format(due=local_time(o["due_at"], tz, lang)), st["indent"]),
        *_particulars(f, t, st),
        *_photos(photos, t, st),
        *_signatures(
            [
                t["doc_sign_inspectors"],
                t["doc_sign_issuer"].format(issuer=issuer, date=local_time(o["issued_at"], tz, lang, with_time=False)),
            ],
            st,
        ),
        Spacer(1, 6 * mm),
        _p("- " * 30 + f" {t['doc_cut_here']} " + " -" * 30, st["cut"]),
        _p(t["doc_receipt_title"], st["h2"]),
        _p(t["doc_receipt"].format(number=number, name=f.name), st["body"]),
        *_signatures([t["doc_sign_receipt"]], st),
    ]
    return _build(flow, f"{t['doc_order_title']} {number}", issuer)


def render_inspection(
    i: Mapping[str, Any],
    number: str | None,
    issuer: str,
    f: Facility,
    photos: Sequence[Photo],
    t: Mapping[str, str],
    lang: str,
    labels: Mapping[str, str],
) -> bytes:
    """现场检查记录: the title and the number (a draft says it has none yet), the facility's particulars,
    how and when it was inspected and by whom, a finding per checklist item with its basis and note, the
    notes, the photos, the inspectors' signature lines and the facility's opinion and signature.
    `labels`: the inspection's kind ("kind") and each result's name (pass, fail, na), in `lang`."""
    st = _styles()
    c = st["cell"]
    tz = f.timezone
    kind = labels.get("kind", i["kind"])
    flow: list[Flowable] = [
        _p(issuer, st["issuer"]),
        _p(t["doc_inspection_title"], st["title"]),
        _p(number or t["doc_draft_no_number"], st["number"]),
        *_particulars(f, t, st),
        _p(t["doc_how"], st["h2"]),
        _p(
            t["doc_inspection_how"].format(
                kind=kind,
                planned=i["planned_for"],
                at=local_time(i["inspected_at"], tz, lang) or "—",
                planned_by=i["planned_by"],
                signed_by=i["signed_by"] or "—",
                second=i["second_inspector"] or "—",
                confirmed=(
                    f"{i['countersigned_by']} {local_time(i['countersigned_at'], tz, lang)}"
                    if i["countersigned_by"]
                    else t["doc_not_countersigned"]
                    if i["status"] == "countersign"
                    else "—"
                ),
            ),
            st["body"],
        ),
        _p(f"{t['department']}：{labels.get('department', '')}", st["body"]),
        _p(t["doc_findings"], st["h2"]),
    ]
    rows: list[list[Any]] = [[_p(t[k], c) for k in ("doc_item", "doc_basis", "doc_result", "doc_note")]]
    items = checklist(i.get("department", DEFAULT_DEPARTMENT))  # the record's department's (migration 043)
    for area, names in ((a, n) for a, n in AREAS.items() if any(x.area == a for x in items)):
        rows.append([_p(names[0] if lang == "zh" else names[1], c), "", "", ""])
        for item in (x for x in items if x.area == area):
            found = i["findings"].get(item.code, {})
            result = found.get("result", "")
            rows.append(
                [
                    _p(item.zh if lang == "zh" else item.en, c),
                    _p(item.basis, st["small"]),
                    _p(labels.get(result, result) if result else "—", c),
                    _p(found.get("note", ""), c),
                ]
            )
    table = _grid(rows, [52, 50, 18, 50], header=True)
    grey = colors.HexColor("#f5f5f5")
    areas = [r for r, row in enumerate(rows) if r and row[1] == ""]  # an area's heading: one cell, shaded
    table.setStyle(
        TableStyle([s for r in areas for s in (("SPAN", (0, r), (-1, r)), ("BACKGROUND", (0, r), (-1, r), grey))])
    )
    flow += [table, _p(t["doc_notes"], st["h2"]), _p(i["notes"] or t["none"], st["indent"])]
    flow += _photos(photos, t, st)
    flow += _signatures([t["doc_sign_inspectors"], t["doc_sign_facility_opinion"], t["doc_sign_receipt"]], st)
    return _build(flow, f"{t['doc_inspection_title']} {number or ''}".strip(), issuer)


def _header(issuer: str, title: str, number: str, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    return [_p(issuer, st["issuer"]), _p(title, st["title"]), _p(number, st["number"])]


def render_recheck(
    i: Mapping[str, Any],
    number: str,
    issuer: str,
    f: Facility,
    o: Mapping[str, Any],
    order_number: str,
    record_number: str,
    photos: Sequence[Photo],
    t: Mapping[str, str],
    lang: str,
    labels: Mapping[str, str],
) -> bytes:
    """复查意见书: the issuer, the title and the number, the facility addressed, the order it follows and the
    re-inspection's record, the facility's particulars, each item re-checked with its result and note, the
    conclusion (整改到位 or 未整改到位 with the items and what follows), the photos, the two officers', the
    issuing department's and the facility's signature lines. `labels`: each result's name in `lang`."""
    st = _styles()
    c = st["cell"]
    tz = f.timezone
    day = local_time(i["inspected_at"], tz, lang, with_time=False)
    flow = [
        *_header(issuer, t["doc_recheck_title"], number, st),
        _p(t["doc_addressee"].format(name=f.name), st["body"]),
        _p(t["doc_recheck_intro"].format(order=order_number, date=day, record=record_number), st["indent"]),
        *_particulars(f, t, st),
        _p(t["doc_recheck_order"], st["h2"]),
        _p(f"{order_number}  {o['title']}", st["indent"]),
        _p(t["doc_recheck_items"], st["h2"]),
    ]
    rows: list[list[Any]] = [[_p(t[k], c) for k in ("doc_item", "doc_basis", "doc_result", "doc_note")]]
    failed = []
    for item in checklist(i.get("department", DEFAULT_DEPARTMENT)):  # the 复查 record's department's items
        found = i["findings"].get(item.code)
        if not found or not found.get("result"):
            continue  # not re-checked
        result = found["result"]
        if result == "fail":
            failed.append(item.zh if lang == "zh" else item.en)
        rows.append(
            [
                _p(item.zh if lang == "zh" else item.en, c),
                _p(item.basis, st["small"]),
                _p(labels.get(result, result), c),
                _p(found.get("note", ""), c),
            ]
        )
    flow += [_grid(rows, [52, 50, 18, 50], header=True), _p(t["doc_recheck_conclusion"], st["h2"])]
    if failed:
        items = t["circular_list_sep"].join(failed)
        flow += [
            _p(t["doc_recheck_not_done"], st["h2"]),
            _p(t["doc_recheck_not_done_next"].format(items=items, order=order_number), st["indent"]),
        ]
    else:
        flow += [
            _p(t["doc_recheck_done"], st["h2"]),
            _p(t["doc_recheck_done_next"].format(order=order_number), st["indent"]),
        ]
    if i.get("notes"):
        flow += [_p(t["doc_notes"], st["h2"]), _p(i["notes"], st["indent"])]
    flow += _photos(photos, t, st)
    flow += _signatures(
        [
            t["doc_sign_inspectors"],
            t["doc_sign_issuer"].format(issuer=issuer, date=day),
            t["doc_sign_receipt"],
        ],
        st,
    )
    return _build(flow, f"{t['doc_recheck_title']} {number}", issuer)


def render_supervision(
    step: Mapping[str, Any],
    o: Mapping[str, Any],
    number: str,
    order_number: str,
    issuer: str,
    addressee: str,
    f: Facility,
    late: str,
    by: datetime,
    t: Mapping[str, str],
    lang: str,
) -> bytes:
    """督办通知: from the upper level (`issuer`) to the lower department responsible for the order
    (`addressee`): which order, whose and since when it is late (`late`, already phrased), the 催办's
    message or the 约谈's date, people and minutes, what must be done by when (`by`), the issuer's stamp
    line and the receiving department's signature line."""
    st = _styles()
    tz = f.timezone
    kind = "doc_supervision_summoned" if step["action"] == "summoned" else "doc_supervision_urged"
    flow = [
        *_header(issuer, t["doc_supervision_title"], number, st),
        _p(t["doc_addressee"].format(name=addressee), st["body"]),
        _p(
            t["doc_supervision_intro"].format(
                issued=local_time(o["issued_at"], tz, lang, with_time=False),
                facility=f.name,
                order=order_number,
                title=o["title"],
                late=late,
                step=t[kind],
            ),
            st["indent"],
        ),
    ]
    if step["action"] == "summoned":
        detail = step.get("detail") or {}
        flow += [
            _p(
                t["doc_supervision_summons"].format(date=detail.get("held_on", ""), people=detail.get("people", "")),
                st["body"],
            ),
            _p(t["doc_supervision_minutes"], st["h2"]),
            _p(step["note"], st["indent"]),
        ]
    else:
        flow += [_p(t["doc_supervision_message"], st["h2"]), _p(step["note"], st["indent"])]
    flow += [
        _p(t["doc_supervision_due_title"], st["h2"]),
        _p(t["doc_supervision_due"].format(by=local_time(by, tz, lang), issuer=issuer), st["indent"]),
        *_particulars(f, t, st),
        *_signatures(
            [
                t["doc_sign_issuer"].format(issuer=issuer, date=local_time(step["at"], tz, lang, with_time=False)),
                t["doc_sign_receiver"],
            ],
            st,
        ),
    ]
    return _build(flow, f"{t['doc_supervision_title']} {number}", issuer)


def render_circular(
    c: Mapping[str, Any],
    number: str,
    issuer: str,
    subjects: Sequence[tuple[str, str]],
    t: Mapping[str, str],
    lang: str,
    kind: str,
) -> bytes:
    """通报: the issuer, the circular's title and number, its kind (`kind`, in `lang`), the text, each subject
    (its name, what is said of it), the issuer's stamp line with the date of issue. No person's name is
    printed by the system: the department issues it."""
    st = _styles()
    flow = [
        *_header(issuer, c["title"], number, st),
        _p(kind, st["issuer"]),
        Spacer(1, 3 * mm),
        _p(t["doc_circular_to"], st["body"]),
    ]
    flow += [_p(par, st["indent"]) for par in str(c["body"]).split("\n") if par.strip()]
    flow.append(_p(t["doc_circular_subjects"], st["h2"]))
    for n, (name, said) in enumerate(subjects, 1):
        flow.append(_p(f"{n}. {name}：{said}" if lang == "zh" else f"{n}. {name}: {said}", st["indent"]))
    issued = local_time(c["issued_at"], "Asia/Shanghai", lang, with_time=False)
    flow += _signatures([t["doc_sign_issuer"].format(issuer=issuer, date=issued)], st)
    return _build(flow, f"{c['title']} {number}", issuer)
