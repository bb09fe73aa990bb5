"""The patient and clinician documents, read back with html.parser and line by line."""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections.abc import Callable
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import attrs
import jinja2
import pytest
from markupsafe import Markup, escape

import ketaplan
from ketaplan import DoseEntry, Quantity
from ketaplan._library import route_sources, routes
from ketaplan.export.documents import markdown_escape

from .conftest import EXAMPLES, NOW, ROOT, toronto_clinic


class StrSubclass(str):
    """A text of a type of its own, as a library may hand one over."""


DEMO = ROOT / "src" / "ketaplan" / "data" / "demo.toml"
MARKUP = '<b>Zoë "Jo" O\'Brien & Co_</b>'
MONTHS = [
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
]
BLANK = "\\_" * 10  # ten underscores, escaped for Markdown
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

Render = Callable[..., str]
HTML_RENDERERS = [ketaplan.render_patient_html, ketaplan.render_clinician_html]
MARKDOWN_RENDERERS = [ketaplan.render_patient_markdown, ketaplan.render_clinician_markdown]
PATIENT_RENDERERS = [ketaplan.render_patient_html, ketaplan.render_patient_markdown]
ALL_RENDERERS = HTML_RENDERERS + MARKDOWN_RENDERERS


class Page(HTMLParser):
    """What an independent HTML parser sees: tags, attributes, text, headings and table rows."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.headings: list[int] = []
        self.rows: list[list[str]] = []
        self._cells: list[str] | None = None
        self._cell: list[str] | None = None
        self._style = False
        self.feed(text)
        self.close()
        self.text = " ".join("".join(self.chunks).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.append((tag, dict(attrs)))
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "tr":
            self._cells = []
        elif tag in ("td", "th") and self._cells is not None:
            self._cell = []
        elif tag == "style":
            self._style = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._cells is not None:
            self._cells.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._cells is not None:
            self.rows.append(self._cells)
            self._cells = None
        elif tag == "style":
            self._style = False

    def handle_data(self, data: str) -> None:
        if self._style:
            return
        self.chunks.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def row(self, first: str, cells: int | None = None) -> list[str]:
        """The only table row whose first cell is ``first`` (and that has ``cells`` cells)."""
        found = [
            row
            for row in self.rows
            if row and row[0] == first and (cells is None or len(row) == cells)
        ]
        assert len(found) == 1, f"{len(found)} rows start with {first!r}"
        return found[0]


@functools.cache
def demo() -> ketaplan.Plan:
    """The demo plan: IV induction in Toronto, draft, no dose entries."""
    return ketaplan.load_plan(DEMO, now=NOW)


def with_entries(plan: ketaplan.Plan) -> ketaplan.Plan:
    return attrs.evolve(
        plan,
        doses=(
            DoseEntry("dose_per_kg", Quantity(Decimal("0.5"), "mg/kg")),
            DoseEntry("body_weight", Quantity(Decimal("72"), "kg")),
            DoseEntry("infusion_minutes", Quantity(Decimal("53"), "min"), session="induction-02"),
        ),
    )


def signed(plan: ketaplan.Plan) -> ketaplan.Plan:
    """``plan`` with every dose field entered and a clinician's sign-off."""
    plan = with_entries(plan)
    every = DoseEntry("infusion_minutes", Quantity(Decimal("41"), "min"))
    return attrs.evolve(
        plan, doses=(*plan.doses, every), signoff=ketaplan.SignOff("Dr Rivka Okafor", NOW)
    )


def nasal_protocol() -> ketaplan.Protocol:
    """An intranasal protocol with a monitoring form and a phase the clinician dates later."""
    route = routes()["intranasal"]
    assert route.session is not None
    return ketaplan.Protocol(
        name="nasal-test",
        title="Esketamine nasal spray course",
        summary="Twice-weekly nasal spray sessions, then sessions at an interval the clinician sets.",
        route=route,
        phases=(
            ketaplan.Phase(
                "induction", "Induction", ketaplan.PerWeek(2, 2, 2, 4), session=route.session.name
            ),
            ketaplan.Phase(
                "maintenance",
                "Maintenance",
                ketaplan.Every(
                    ketaplan.IntervalRange.parse("1-2 weeks"), sessions=3, set_by_clinician=True
                ),
                session=route.session.name,
            ),
        ),
        sessions=(route.session,),
        weekdays=(ketaplan.Weekday.MO, ketaplan.Weekday.TH),
        monitoring_form=ketaplan.MonitoringForm(
            "Patient monitoring form",
            ketaplan.Interval(7, "days"),
            "Submit to the REMS.",
            ("spravato-rems",),
        ),
        drug="esketamine",
        sources=route_sources(),
    )


@functools.cache
def nasal() -> ketaplan.Plan:
    return ketaplan.Plan.create(
        "nasal-0001",
        nasal_protocol(),
        toronto_clinic(phone="+1 416 555 0199"),
        dt.date(2027, 3, 1),
        patient=ketaplan.Patient("Sam Example", "MRN-9"),
        now=NOW,
    )


def local(plan: ketaplan.Plan, moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(plan.clinic.zone)


def day_month_year(day: dt.date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def clock_span(plan: ketaplan.Plan, session: ketaplan.Session) -> str:
    return f"{local(plan, session.start):%H:%M}-{local(plan, session.end):%H:%M}"


# -- escaping ------------------------------------------------------------------


@pytest.mark.parametrize("render", HTML_RENDERERS, ids=lambda f: f.__name__)
def test_markup_in_the_patient_name_adds_no_element(render: Render) -> None:
    """A patient name full of markup adds no element to the HTML and reads exactly as typed."""
    plain = attrs.evolve(demo(), patient=ketaplan.Patient("Alex Example", "DEMO-0001"))
    marked = attrs.evolve(demo(), patient=ketaplan.Patient(MARKUP, "<i>R&D</i>"))

    expected, actual = Page(render(plain, now=NOW)), Page(render(marked, now=NOW))

    assert expected.tags == actual.tags
    assert MARKUP in actual.text
    assert "b" not in actual.tags


@pytest.mark.parametrize("render", MARKDOWN_RENDERERS, ids=lambda f: f.__name__)
def test_markdown_escapes_markup_in_the_patient_name(render: Render) -> None:
    """The Markdown shows a marked-up name backslash-escaped, so it renders as text, never as a tag."""
    plan = attrs.evolve(demo(), patient=ketaplan.Patient(MARKUP, ""))

    text = render(plan, now=NOW)

    assert '\\<b\\>Zoë "Jo" O\'Brien \\& Co\\_\\</b\\>' in text
    assert "<b>" not in text


@pytest.mark.parametrize("render", MARKDOWN_RENDERERS, ids=lambda f: f.__name__)
def test_markdown_tables_keep_their_columns_with_pipes_in_values(render: Render) -> None:
    """A '|' or a newline in a value never adds a cell or a line to a Markdown table."""
    clinic = attrs.evolve(demo().clinic, name="North | South\nClinic")
    plan = attrs.evolve(demo(), clinic=clinic, patient=ketaplan.Patient("A | B", "x|y"))

    lines = render(plan, now=NOW).splitlines()

    tables: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    for table in filter(None, tables):
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table}
        expected = 1
        assert expected == len(widths), table


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain words", "plain words"),
        ("<b>x</b>", "\\<b\\>x\\</b\\>"),
        ("a_b*c`d[e](f)", "a\\_b\\*c\\`d\\[e\\](f)"),
        ("R&D | #1 ~x~ $y$ \\", "R\\&D \\| \\#1 \\~x\\~ \\$y\\$ \\\\"),
        ("- not a list", "\\- not a list"),
        ("1. not a list", "1\\. not a list"),
        ("+1 416 555 0100", "+1 416 555 0100"),
        ("two\nlines", "two lines"),
    ],
)
def test_markdown_escape_renders_values_literally(value: str, expected: str) -> None:
    """markdown_escape backslash-escapes inline markup and list markers and keeps a value on one line."""
    assert expected == markdown_escape(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain words",
        '<b>Zo\u00eb "Jo" O\'Brien & Co_</b>',
        "&amp; already &lt;escaped&gt;",
        "\u2028\U0001f9e0 <\x00>",
        0,
        -12,
        True,
        1.5,
        Markup("<br>"),
        Markup("&lt;x&gt;"),
        StrSubclass("<i>"),
    ],
)
def test_html_documents_escape_a_value_as_markupsafe_does(value: object) -> None:
    """A value shown in an HTML document is escaped to the same text markupsafe gives, plain
    text, number or markup alike."""
    from ketaplan.export.documents._environment import _escape_text, _replace_specials

    assert str(escape(value)) == _escape_text(value)
    if type(value) is str:  # without markupsafe's own (before markupsafe 3.0)
        assert str(escape(value)) == _replace_specials(value)


# -- what the documents contain ------------------------------------------------


@pytest.mark.parametrize("render", [ketaplan.render_patient_html], ids=lambda f: f.__name__)
def test_patient_html_lists_every_session_with_its_day_date_and_time(render: Render) -> None:
    """Every session has a row with its weekday, date and clinic-time span."""
    plan = demo()
    page = Page(render(plan, now=NOW))

    for session in plan.sessions:
        start = local(plan, session.start)
        expected = [DAYS[start.weekday()], day_month_year(start.date()), clock_span(plan, session)]
        assert any(row[:3] == expected for row in page.rows), session.key


def test_clinician_html_lists_every_session_with_its_date_and_time() -> None:
    """Every session has a row, by key, with its date, clinic-time span and status."""
    plan = demo()
    page = Page(ketaplan.render_clinician_html(plan, now=NOW))

    for session in plan.sessions:
        start = local(plan, session.start)
        row = page.row(session.key, cells=7)
        assert f"{start.day} {MONTHS[start.month - 1][:3]} {start.year}" in row[3]
        assert row[4].startswith(clock_span(plan, session))
        assert session.status.value == row[5]


@pytest.mark.parametrize("render", ALL_RENDERERS, ids=lambda f: f.__name__)
def test_every_session_date_appears(render: Render) -> None:
    """Every session's date (day month year) appears in every document."""
    plan = demo()
    text = render(plan, now=NOW)

    for session in plan.sessions:
        start = local(plan, session.start).date()
        short = f"{start.day} {MONTHS[start.month - 1][:3]} {start.year}"
        assert day_month_year(start) in text or short in text, session.key


def test_moved_sessions_say_why_in_the_patient_document() -> None:
    """A session moved off a holiday says so, with the holiday, in the patient's row."""
    page = Page(ketaplan.render_patient_html(demo(), now=NOW))

    row = next(row for row in page.rows if row[:2] == ["Wednesday", "17 February 2027"])

    expected = (
        "Moved from Monday 15 February 2027. Mon 15 Feb 2027: statutory holiday: Family Day"
        " (CA-ON); Tue 16 Feb 2027: Tuesday is not a preferred weekday."
    )
    assert expected == row[-1]


def test_blank_dose_fields_show_as_lines_with_units() -> None:
    """Without entries every dose field of every dosing session is a visible blank followed by its unit."""
    plan = demo()
    page = Page(ketaplan.render_clinician_html(plan, now=NOW))
    dosing = [s for s in plan.sessions if s.kind is ketaplan.SessionKind.DOSING]

    for field in plan.protocol.route.dose_fields:
        rows = [row for row in page.rows if row and row[0] == field.label]
        assert len(dosing) + 1 == len(rows)  # one per dosing session, one plan-wide
        for row in rows:
            assert re.fullmatch(rf"_{{6,}} {re.escape(field.unit)}", row[1]), row
    blanks = [a for tag, a in page.attributes if "blank" in (a.get("class") or "").split()]
    assert len(blanks) >= len(plan.protocol.route.dose_fields) * (len(dosing) + 1)


def test_blank_dose_fields_render_as_underscores_in_markdown() -> None:
    """In Markdown a blank dose field is a run of escaped underscores and its unit, in a table cell."""
    text = ketaplan.render_clinician_markdown(demo(), now=NOW)

    for field in demo().protocol.route.dose_fields:
        assert f"| {field.label} | {BLANK} {field.unit} |" in text


def test_entered_values_show_with_derived_values_and_their_inputs() -> None:
    """Entered values replace the blanks, and the derived total shows the inputs it came from."""
    plan = with_entries(demo())
    page = Page(ketaplan.render_clinician_html(plan, now=NOW))
    text = ketaplan.render_clinician_markdown(plan, now=NOW)

    assert ["Dose per kg", "0.5 mg/kg", "plan-wide"] in page.rows
    assert ["Infusion time", "53 min", "this session only"] in page.rows
    derived = "36 mg (from Dose per kg 0.5 mg/kg x Body weight 72 kg)"
    assert ["Total dose (derived)", derived] in page.rows
    assert f"| Total dose (derived) | {derived} | |" in text
    assert re.search(r"\| Infusion time \| (\\_){10} min \|", text)


@pytest.mark.parametrize("render", PATIENT_RENDERERS, ids=lambda f: f.__name__)
def test_patient_documents_never_show_a_dose(render: Render) -> None:
    """Even with every dose entered, the patient documents show no dose value or dose unit."""
    text = render(signed(demo()), now=NOW)
    if text.startswith("<!DOCTYPE"):  # the text and attribute values, not the stylesheet
        page = Page(text)
        values = (v or "" for _tag, a in page.attributes for v in a.values())
        text = " ".join((page.text, *values))

    for value in (
        "0.5",
        "mg/kg",
        "72 kg",
        "36 mg",
        "53 min",
        "41 min",
        "Total dose",
        "Dose per kg",
    ):
        assert value not in text


def test_checkpoints_show_their_wall_clock_times() -> None:
    """Each checkpoint of a dosing session shows start plus its offset, in the clinic's zone."""
    plan = demo()
    session = plan.session("maintenance-01")
    page = Page(ketaplan.render_clinician_html(plan, now=NOW))
    template = plan.template(session)

    clock = [
        f"{(session.start.astimezone(dt.UTC) + point.at).astimezone(plan.clinic.zone):%H:%M %Z}"
        for point in template.checkpoints
    ]
    labels = [point.label for point in template.checkpoints]
    found = [
        row for row in page.rows if len(row) == 5 and row[2] in labels and row[0].endswith("EDT")
    ]

    assert clock == [row[0] for row in found[: len(clock)]]
    assert "10:15 EDT" in clock


def test_intranasal_plan_reads_differently_from_an_iv_plan() -> None:
    """The instructions come from the session templates: a nasal-spray plan has its own, not the IV ones."""
    iv = Page(ketaplan.render_patient_html(demo(), now=NOW)).text
    spray = Page(ketaplan.render_patient_html(nasal(), now=NOW)).text

    assert "Nasal spray treatment session" in spray
    assert "nasal corticosteroid or decongestant" in spray
    assert "infusion runs for about 40 minutes" not in spray
    assert "infusion runs for about 40 minutes" in iv


def test_monitoring_form_deadline_follows_each_dosing_session() -> None:
    """Each dosing session shows the monitoring form due by its date plus the form's interval."""
    plan = nasal()
    text = Page(ketaplan.render_clinician_html(plan, now=NOW)).text

    for session in plan.sessions:
        deadline = local(plan, session.start).date() + dt.timedelta(days=7)
        expected = f"Patient monitoring form due by {DAYS[deadline.weekday()]} {day_month_year(deadline)} (within 7 days"
        assert expected in text, session.key


def test_pending_phases_are_explained() -> None:
    """A phase the clinician has not dated yet is explained to the patient and named with its reason for the clinician."""
    plan = nasal()
    assert plan.pending

    patient = Page(ketaplan.render_patient_html(plan, now=NOW)).text
    clinician = Page(ketaplan.render_clinician_html(plan, now=NOW)).text

    assert "Not dated yet. Your clinician will decide when these sessions happen" in patient
    assert f"Not dated: {plan.pending[0].reason}" in clinician


def test_clinician_document_names_route_code_sources_history_and_signoff() -> None:
    """The clinician document carries the route's SNOMED code, the sources, the history and the sign-off."""
    plan = signed(demo())
    page = Page(ketaplan.render_clinician_html(plan, now=NOW))

    route = ["Route", "Intravenous infusion (SNOMED CT 47625008)"]
    created = [
        "1",
        "Fri 20 Nov 2026 07:00 EST",
        "created",
        "scheduled from protocol 'iv-induction'",
        "",
    ]
    clinician = ["Clinician name", "Dr Rivka Okafor"]

    assert route == page.row("Route")
    assert page.row("murrough-2013")[1].startswith("Murrough JW et al.")
    assert created == page.row("1")
    assert clinician == page.row("Clinician name")


# -- draft marking -------------------------------------------------------------


def test_draft_is_marked_in_every_document() -> None:
    """A draft plan says DRAFT in the clinician documents, with what is missing, and Draft in the patient's."""
    plan = demo()
    assert plan.is_draft

    clinician_html = ketaplan.render_clinician_html(plan, now=NOW)
    page = Page(clinician_html)

    assert page.text.startswith("DRAFT: Clinical treatment plan")  # the <title>
    assert "DRAFT: not signed off and not for treatment" in page.text
    for line in plan.missing():
        assert line in page.text
    assert re.search(r"@top-center \{ content: \"DRAFT", clinician_html)
    assert ("div", {"class": "watermark", "aria-hidden": "true"}) in page.attributes
    assert "**DRAFT: not signed off" in ketaplan.render_clinician_markdown(plan, now=NOW)
    patient = Page(ketaplan.render_patient_html(plan, now=NOW)).text
    assert "Draft: your clinic has not yet confirmed this plan." in patient
    patient = ketaplan.render_patient_markdown(plan, now=NOW)
    assert "> **DRAFT: your clinic has not yet confirmed this plan.**" in patient


@pytest.mark.parametrize("render", ALL_RENDERERS, ids=lambda f: f.__name__)
def test_a_signed_complete_plan_is_not_marked_draft(render: Render) -> None:
    """Once every required field is filled and a clinician signed, no document says draft."""
    plan = signed(demo())
    assert not plan.is_draft

    text = render(plan, now=NOW)

    assert "DRAFT" not in text
    assert "not yet confirmed" not in text


# -- form of the HTML ------------------------------------------------------------


def fetched(page: Page) -> list[dict[str, str | None]]:
    """The attributes that would make a browser fetch something: any ``src``, and any ``href``
    but a ``tel:`` link (a phone number a tap dials)."""
    return [
        a
        for _tag, a in page.attributes
        if "src" in a or ("href" in a and not (a["href"] or "").startswith("tel:"))
    ]


@pytest.mark.parametrize("render", HTML_RENDERERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("plan", [demo, nasal], ids=["iv", "nasal"])
def test_html_is_self_contained_and_accessible(
    render: Render, plan: Callable[[], ketaplan.Plan]
) -> None:
    """One self-contained file: lang, charset, headings in order, scoped table headers, nothing fetched."""
    html = render(plan(), now=NOW)
    page = Page(html)

    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert ("meta", {"charset": "utf-8"}) in page.attributes
    assert [1] == [level for level in page.headings if level == 1] == page.headings[:1]
    assert all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False))
    assert all(
        a.get("scope") in ("col", "row", "rowgroup") for tag, a in page.attributes if tag == "th"
    )
    assert not {"script", "link", "img", "iframe", "object"} & set(page.tags)
    assert [] == fetched(page)
    assert "url(" not in html
    assert "@import" not in html
    assert "thead { display: table-header-group; }" in html


# -- determinism -----------------------------------------------------------------


@pytest.mark.parametrize("render", ALL_RENDERERS, ids=lambda f: f.__name__)
def test_output_is_byte_identical_across_renders(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same plan and generation time give the same bytes, whatever the process's time zone."""
    plan = with_entries(demo())
    first = render(plan, now=NOW).encode()

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        second = render(plan, now=NOW).encode()
    finally:
        monkeypatch.undo()
        time.tzset()

    assert first == second
    assert first.endswith(b"\n")
    assert not first.endswith(b"\n\n")


@pytest.mark.parametrize("render", ALL_RENDERERS, ids=lambda f: f.__name__)
def test_generation_time_is_shown_in_the_clinic_zone(render: Render) -> None:
    """'Generated' shows the given now, in the clinic's zone, not the clock."""
    assert "Generated Fri 20 Nov 2026 07:00 EST" in render(demo(), now=NOW)


@pytest.mark.parametrize("render", ALL_RENDERERS, ids=lambda f: f.__name__)
def test_naive_generation_time_is_rejected(render: Render) -> None:
    """A naive now raises a SpecError naming 'now'."""
    with pytest.raises(ketaplan.SpecError, match=r"^now: "):
        render(demo(), now=dt.datetime(2027, 1, 1))


# -- the timeline ------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def timeline_svg(html: str) -> ElementTree.Element:
    """The timeline's <svg> element, parsed by an XML parser."""
    found = re.findall(r'<svg [^>]*class="timeline-chart".*?</svg>', html, flags=re.DOTALL)
    assert len(found) == 1
    return ElementTree.fromstring(found[0])


@pytest.mark.parametrize("plan", [demo, nasal], ids=["iv", "nasal"])
def test_timeline_has_one_tick_per_session(plan: Callable[[], ketaplan.Plan]) -> None:
    """The patient HTML's timeline is well-formed SVG with a tick per session, dosing ticks apart from the rest."""
    svg = timeline_svg(ketaplan.render_patient_html(plan(), now=NOW))
    ticks = [e for e in svg.iter(f"{SVG}line") if "tick" in e.get("class", "").split()]
    dosing = [e for e in ticks if "dosing" in e.get("class", "").split()]
    sessions = plan().sessions

    assert len(sessions) == len(ticks)
    assert sum(s.kind is ketaplan.SessionKind.DOSING for s in sessions) == len(dosing)
    assert all(int(e.get("x1", "")) == int(e.get("x2", "")) for e in ticks)


def test_timeline_is_accessible_and_scales_to_the_page() -> None:
    """The timeline is an image with a title and description, sized by its viewBox, with month labels and a legend."""
    plan = demo()
    svg = timeline_svg(ketaplan.render_patient_html(plan, now=NOW))
    _x, _y, width, height = (int(n) for n in svg.get("viewBox", "").split())

    assert "img" == svg.get("role")
    assert "timeline-title timeline-desc" == svg.get("aria-labelledby")
    assert "Timeline of your course" == svg.findtext(f"{SVG}title")
    assert (svg.findtext(f"{SVG}desc") or "").startswith("Consultation: 1 session, Wednesday 17")
    assert ("100%", None) == (svg.get("width"), svg.get("height"))
    assert (720, True) == (width, 0 < height < 400)
    texts = [e.text for e in svg.iter(f"{SVG}text")]
    assert ["Feb 2027", "Mar", "Apr", "May"] == texts[:4]
    assert "Treatment session" in texts
    for element in list(svg.iter())[1:]:
        for name in ("x", "y", "x1", "x2", "y1", "y2", "width", "height"):
            if name in element.attrib:
                assert 0 <= int(element.attrib[name]) <= max(width, height), element.attrib


def test_timeline_escapes_the_patient_and_clinic_names() -> None:
    """Markup in the patient's or clinic's name never appears unescaped, and the SVG still parses."""
    clinic = attrs.evolve(demo().clinic, name="<script>alert(1)</script> & Co")
    plan = attrs.evolve(demo(), clinic=clinic, patient=ketaplan.Patient(MARKUP, "<i>R</i>"))

    html = ketaplan.render_patient_html(plan, now=NOW)
    timeline_svg(html)

    assert "<script>" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html


def test_markdown_timeline_lists_session_days_by_month() -> None:
    """The patient Markdown gives the timeline as text: each month with its treatment days."""
    plan = demo()
    text = ketaplan.render_patient_markdown(plan, now=NOW)
    days: dict[str, list[str]] = {}
    for session in sorted(plan.sessions, key=lambda s: s.start):
        if session.kind is not ketaplan.SessionKind.DOSING:
            continue
        day = local(plan, session.start).date()
        days.setdefault(f"{MONTHS[day.month - 1]} {day.year}", []).append(str(day.day))

    for month, numbers in days.items():
        assert f"- **{month}**: treatment sessions on {', '.join(numbers)}" in text


def _month_lines(text: str) -> dict[str, str]:
    lines = re.findall(r"^- \*\*(\w+ \d{4})\*\*: (.*)$", text, flags=re.MULTILINE)
    return dict(lines)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_markdown_timeline_lists_each_day_once(path: Path) -> None:
    """Each month lists each day once per list, in order, even when sessions share a day
    (the KAP example has a check-in and an integration session on the same day)."""
    plan = ketaplan.load_plan(path, now=NOW)
    expected: dict[str, tuple[dict[int, None], dict[int, None]]] = {}
    for session in sorted(plan.sessions, key=lambda s: (s.start, s.key)):
        day = local(plan, session.start).date()
        dosing, other = expected.setdefault(f"{MONTHS[day.month - 1]} {day.year}", ({}, {}))
        (dosing if session.kind is ketaplan.SessionKind.DOSING else other)[day.day] = None
    lines = {
        month: "; ".join(
            [f"treatment sessions on {', '.join(map(str, dosing))}"] * bool(dosing)
            + [f"other sessions on {', '.join(map(str, other))}"] * bool(other)
        )
        for month, (dosing, other) in expected.items()
    }
    assert lines == _month_lines(ketaplan.render_patient_markdown(plan, now=NOW))


def test_markdown_timeline_lists_a_shared_day_once_and_cancelled_only_if_all_are() -> None:
    """Two sessions on one day give one entry; it is marked cancelled only when both are."""
    plan = ketaplan.load_plan(EXAMPLES / "im-kap.toml", now=NOW)
    shared = [s for s in plan.sessions if local(plan, s.start).date() == dt.date(2027, 3, 24)]
    assert 2 == len(shared)
    assert "other sessions on 16, 22, 24, 25, 31" in _month_lines(
        ketaplan.render_patient_markdown(plan, now=NOW)
    ).get("March 2027", "")

    def cancel(keys: set[str]) -> ketaplan.Plan:
        sessions = tuple(
            attrs.evolve(s, status=ketaplan.SessionStatus.CANCELLED) if s.key in keys else s
            for s in plan.sessions
        )
        return attrs.evolve(plan, sessions=sessions)

    one = cancel({shared[0].key})
    assert (
        "other sessions on 16, 22, 24, 25, 31"
        == _month_lines(ketaplan.render_patient_markdown(one, now=NOW))["March 2027"].split("; ")[1]
    )
    both = cancel({s.key for s in shared})
    assert (
        "other sessions on 16, 22, 24 (cancelled), 25, 31"
        == _month_lines(ketaplan.render_patient_markdown(both, now=NOW))["March 2027"].split("; ")[
            1
        ]
    )


# -- custom templates ----------------------------------------------------------------

HEADER = """\
{% extends "ketaplan/base.html.j2" %}
{% block header %}
<div class="letterhead"><p class="logo">LAKESIDE LOGO</p><p>{{ doc.head.clinic_name }}, call 555-0100</p></div>
{% endblock %}
{% block styles %}
.logo { color: #005a9c; }
{% endblock %}
"""


def templates(folder: Path, **files: str) -> Path:
    """``folder`` holding each keyword as a template file (``base_html`` is ``base.html.j2``)."""
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / (name.replace("_", ".") + ".j2")).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("render", HTML_RENDERERS, ids=lambda f: f.__name__)
def test_a_custom_base_overrides_the_header_and_styles_of_both_documents(
    render: Render, tmp_path: Path
) -> None:
    """One base.html.j2 extending the shipped base replaces the letterhead and adds CSS; the rest is unchanged."""
    folder = templates(tmp_path, base_html=HEADER)

    shipped = Page(render(demo(), now=NOW))
    html = render(demo(), now=NOW, templates=folder)
    page = Page(html)

    assert page.text.count("LAKESIDE LOGO") == 1
    assert "Lakeside Wellness Clinic, call 555-0100" in page.text
    assert ".logo { color: #005a9c; }" in html
    assert shipped.rows == page.rows
    assert shipped.headings == page.headings
    assert html.index(".logo {") > html.index("@media print")  # later, so it wins


def test_a_custom_document_template_can_extend_the_shipped_one(tmp_path: Path) -> None:
    """patient.html.j2 extending ketaplan/patient.html.j2 overrides one block of the patient document only."""
    footer = '{% extends "ketaplan/patient.html.j2" %}{% block footer %}<footer><p>Questions? Call us.</p></footer>{% endblock %}'
    folder = templates(tmp_path, patient_html=footer)

    patient = Page(ketaplan.render_patient_html(demo(), now=NOW, templates=folder)).text
    clinician = Page(ketaplan.render_clinician_html(demo(), now=NOW, templates=folder)).text

    assert patient.endswith("Questions? Call us.")
    assert "Generated Fri 20 Nov 2026" not in patient
    assert "Questions?" not in clinician


def test_a_custom_markdown_template_replaces_the_shipped_one(tmp_path: Path) -> None:
    """A patient.md.j2 in the folder replaces the shipped one, and its values are still Markdown-escaped."""
    folder = templates(tmp_path, patient_md="# Plan for {{ doc.head.patient_name }}\n")
    plan = attrs.evolve(demo(), patient=ketaplan.Patient(MARKUP, ""))

    text = ketaplan.render_patient_markdown(plan, now=NOW, templates=folder)

    assert '# Plan for \\<b\\>Zoë "Jo" O\'Brien \\& Co\\_\\</b\\>\n' == text


TRANS = """\
<p>{% trans name=doc.head.patient_name, revision=doc.head.revision %}<i>{{ name }}</i>, revision {{ revision }}{% endtrans %}</p>
{% autoescape false %}<p>{% trans name=doc.head.patient_name %}Raw {{ name }}{% endtrans %}</p>{% endautoescape %}
"""


def test_a_trans_text_with_variables_escapes_the_values_not_the_text(tmp_path: Path) -> None:
    """In a {% trans %} text of a custom template the values are escaped where the output is
    autoescaped and the translated text is not; Markdown escapes the whole sentence."""
    folder = templates(tmp_path, patient_html=TRANS, patient_md=TRANS)
    plan = attrs.evolve(demo(), patient=ketaplan.Patient(MARKUP, ""))

    html = ketaplan.render_patient_html(plan, now=NOW, templates=folder)
    text = ketaplan.render_patient_markdown(plan, now=NOW, templates=folder)

    name = "&lt;b&gt;Zoë &#34;Jo&#34; O&#39;Brien &amp; Co_&lt;/b&gt;"
    assert f"<p><i>{name}</i>, revision 1</p>\n<p>Raw {MARKUP}</p>\n" == html
    escaped = '\\<i\\>\\<b\\>Zoë "Jo" O\'Brien \\& Co\\_\\</b\\>\\</i\\>, revision 1'
    assert escaped in text


def test_custom_templates_are_autoescaped(tmp_path: Path) -> None:
    """A name with markup shows as text in a custom template too; it never becomes an element."""
    folder = templates(tmp_path, base_html=HEADER)
    clinic = attrs.evolve(demo().clinic, name="<script>alert(1)</script>")
    plan = attrs.evolve(demo(), clinic=clinic, patient=ketaplan.Patient(MARKUP, ""))

    html = ketaplan.render_patient_html(plan, now=NOW, templates=folder)
    page = Page(html)

    assert "<script>alert(1)</script>, call 555-0100" in page.text
    assert not {"script", "b"} & set(page.tags)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;, call 555-0100" in html


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{% extends "ketaplan/base.html.j2" %}\n{% block header %}\n<p>{{ doc.head.clinic_name }</p>\n{% endblock %}\n',
            "template base.html.j2, line 3: unexpected '}'",
        ),
        (
            '{% extends "ketaplan/base.html.j2" %}\n{% block header %}\n\n<p>{{ doc.head.logo }}</p>\n{% endblock %}\n',
            "template base.html.j2, line 4: 'Heading' has no attribute 'logo'",
        ),
        (
            '{% extends "ketaplan/base.html.j2" %}\n{% block header %}{{ clinic_logo }}{% endblock %}\n',
            "template base.html.j2, line 2: 'clinic_logo' is undefined",
        ),
        (
            '{% extends "ketaplan/base.html.j2" %}\n{% block header %}{% include "logo.svg" %}{% endblock %}\n',
            "template base.html.j2, line 2: template 'logo.svg' not found",
        ),
    ],
    ids=["syntax", "attribute", "undefined", "include"],
)
@pytest.mark.parametrize("render", HTML_RENDERERS, ids=lambda f: f.__name__)
def test_a_broken_template_names_its_file_and_line(
    render: Render, text: str, expected: str, tmp_path: Path
) -> None:
    """A syntax error, an undefined value or a missing include is a TemplateError naming the file and line."""
    folder = templates(tmp_path, base_html=text)

    with pytest.raises(ketaplan.TemplateError) as raised:
        render(demo(), now=NOW, templates=folder)

    assert expected == str(raised.value)
    assert ("base.html.j2", int(expected.split("line ")[1].split(":")[0])) == (
        raised.value.template,
        raised.value.line,
    )


@pytest.mark.parametrize("render", ALL_RENDERERS, ids=lambda f: f.__name__)
def test_a_missing_templates_folder_is_named(render: Render, tmp_path: Path) -> None:
    """A templates folder that does not exist is a TemplateError naming the folder."""
    missing = tmp_path / "nowhere"

    with pytest.raises(
        ketaplan.TemplateError, match=r"^template folder '.*nowhere': does not exist"
    ):
        render(demo(), now=NOW, templates=missing)


def test_write_outputs_uses_the_templates_and_writes_nothing_when_one_is_broken(
    tmp_path: Path,
) -> None:
    """write_outputs passes the folder to every document; a broken template leaves the output folder empty."""
    good = templates(tmp_path / "good", base_html=HEADER)
    bad = templates(tmp_path / "bad", patient_md="{{ doc.nothing }}")

    written = ketaplan.write_outputs(demo(), tmp_path / "out", now=NOW, templates=good)
    with pytest.raises(ketaplan.TemplateError, match=r"^template patient.md.j2, line 1: "):
        ketaplan.write_outputs(demo(), tmp_path / "none", now=NOW, templates=bad)

    html = [path.read_text(encoding="utf-8") for path in written if path.suffix == ".html"]
    assert [True, True] == ["LAKESIDE LOGO" in text for text in html]
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("render", HTML_RENDERERS, ids=lambda f: f.__name__)
def test_the_example_letterhead_keeps_the_html_self_contained(render: Render) -> None:
    """examples/custom-templates adds an inline SVG logo and contact details, and fetches nothing."""
    html = render(demo(), now=NOW, templates=EXAMPLES / "custom-templates")
    page = Page(html)

    assert ("svg", "img") in [(tag, a.get("role")) for tag, a in page.attributes]
    assert "Lakeside Wellness Clinic 100 Queen St W, Toronto" in page.text
    assert not {"script", "link", "img"} & set(page.tags)
    assert [] == fetched(page)


@pytest.mark.parametrize("language", ["en", "fr-CA"])
def test_render_outputs_writes_the_documents_each_renderer_gives(language: str) -> None:
    """The documents of render_outputs, which lays a plan out once for all four, are the
    bytes each render function gives on its own, in either language."""
    from ketaplan._write import render_outputs

    plan = attrs.evolve(
        ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW), language=language
    )
    files = render_outputs(plan, now=NOW)
    expected = {
        f"{plan.id}-patient.html": ketaplan.render_patient_html(plan, now=NOW),
        f"{plan.id}-patient.md": ketaplan.render_patient_markdown(plan, now=NOW),
        f"{plan.id}-clinician.html": ketaplan.render_clinician_html(plan, now=NOW),
        f"{plan.id}-clinician.md": ketaplan.render_clinician_markdown(plan, now=NOW),
    }
    assert {name: text.encode() for name, text in expected.items()} == {
        name: files[name] for name in expected
    }


@pytest.mark.parametrize("render", ALL_RENDERERS, ids=lambda f: f.__name__)
def test_templates_compiled_in_one_language_are_not_served_in_another(
    render: Render, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headings are translated as a template is compiled: a French document rendered after
    the English one was compiled into the same cache folder is the French document a fresh
    cache gives, and the English one stays English."""
    from ketaplan.export.documents import _environment

    english = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    french = attrs.evolve(english, language="fr-CA")

    def fresh(cache: Path, plan: ketaplan.Plan) -> str:
        """``plan`` rendered by environments made anew, compiled code kept in ``cache``."""
        monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
        _environment._cached_environment.cache_clear()
        return render(plan, now=NOW)

    try:
        expected_french = fresh(tmp_path / "alone", french)
        shared = tmp_path / "shared"
        first_english = fresh(shared, english)
        assert expected_french == fresh(shared, french)
        assert first_english == fresh(shared, english)
        assert first_english != expected_french
    finally:
        _environment._cached_environment.cache_clear()


def test_a_part_shown_once_is_rendered_once_for_its_values_and_kept_within_a_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``{% call once(name, value) %}`` renders its body once for each distinct value and
    shows the kept text after that; it keeps at most its limit of parts, so a worker that
    writes thousands of plans does not grow."""
    from ketaplan.export.documents import _environment

    monkeypatch.setattr(_environment, "_FRAGMENTS", 2)
    rendered: list[int] = []

    def seen(value: int) -> int:
        rendered.append(value)
        return value

    template = jinja2.Environment().from_string(
        '{% call once("part", value) %}<{{ seen(value) }}>{% endcall %}',
        globals={"once": _environment._once(), "seen": seen},
    )
    shown = [template.render(value=value) for value in [1, 1, 2, 1, 3, 1]]

    assert ["<1>", "<1>", "<2>", "<1>", "<3>", "<1>"] == shown
    assert [1, 2, 3, 1] == rendered


def test_the_renderers_caches_have_a_size_limit() -> None:
    """Every cache the calendar and document renderers keep has a size limit, so a worker
    that writes thousands of plans does not grow; those made once per language hold no
    more than the languages."""
    from ketaplan import _i18n, _serialize
    from ketaplan._write import render_outputs
    from ketaplan.export import _lines
    from ketaplan.export.documents import _environment, _format, _markdown

    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    for language in _i18n.LANGUAGES:
        render_outputs(attrs.evolve(plan, language=language), now=NOW)
    caches = {
        f"{module.__name__}.{name}": value.cache_info()
        for module in (_i18n, _serialize, _lines, _environment, _format, _markdown)
        for name, value in vars(module).items()
        if hasattr(value, "cache_info") and value.__module__ == module.__name__
    }
    per_language = {"ketaplan._i18n.language", "ketaplan._i18n._translations"}
    assert len(caches) > len(per_language)
    assert [] == [
        name for name, info in caches.items() if info.maxsize is None and name not in per_language
    ]
    assert all(caches[name].currsize <= len(_i18n.LANGUAGES) for name in per_language)


def test_a_clinic_template_shows_each_patient_their_own_details_in_a_repeated_part(
    tmp_path: Path,
) -> None:
    """A clinic's copy of the clinician template that names the patient inside the dose
    record (a part the shipped template renders once for its values) shows each patient's
    own name in their own document, whatever was rendered before: with a templates
    folder every part is rendered for the document it is in."""
    shipped = (ROOT / "src" / "ketaplan" / "templates" / "clinician.html.j2").read_text()
    marker = '{% call once("dose record", block.doses, block.derived) %}'
    assert marker in shipped
    copy = shipped.replace(marker, marker + "<p>Dose record for {{ doc.head.patient_name }}</p>")
    (tmp_path / "clinician.html.j2").write_text(copy, encoding="utf-8")
    names = ("Alice Example", "Bob Example")
    found = []
    for name in names:
        plan = attrs.evolve(demo(), patient=ketaplan.Patient(name=name, ref="R-1"))
        html = ketaplan.render_clinician_html(plan, now=NOW, templates=tmp_path)
        found.append({other for other in names if f"Dose record for {other}" in html})
    assert [{"Alice Example"}, {"Bob Example"}] == found
