"""The patient and clinician documents, read back with html.parser and line by line."""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections.abc import Callable
from decimal import Decimal
from html.parser import HTMLParser

import attrs
import pytest

import ketaplan
from ketaplan import DoseEntry, Quantity
from ketaplan._library import route_sources, routes
from ketaplan.export._documents import markdown_escape

from .conftest import NOW, ROOT, toronto_clinic

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

    row = next(row for row in page.rows if row[:2] == ["Tuesday", "16 February 2027"])

    expected = "Moved from Monday 15 February 2027: statutory holiday: Family Day (CA-ON)."
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
    assert not [a for _tag, a in page.attributes if "src" in a or "href" in a]
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
