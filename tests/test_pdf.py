"""The documents printed to PDF by headless Chromium, on Letter and A4.

Chromium and poppler's pdftotext come from Debian's packages, which ``.ci/run``
installs; where they are missing these tests skip, unless
``KETAPLAN_REQUIRE_BROWSER`` is set (as CI sets it), when they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import attrs
import pytest

import ketaplan
from ketaplan._i18n import language

from .conftest import EXAMPLES, NOW

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOOLS = CHROMIUM and shutil.which("pdftotext") and shutil.which("pdfinfo")
if not TOOLS and not os.environ.get("KETAPLAN_REQUIRE_BROWSER"):
    pytest.skip("headless Chromium and poppler-utils are not installed", allow_module_level=True)

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
PLANS = ["iv-induction", "esketamine-nasal", "im-kap"]
PAPER = {"letter": "", "a4": "<style>@page { size: A4; }</style>"}


def print_pdf(html: str, folder: Path, paper: str) -> tuple[int, str, str]:
    """Print ``html`` on ``paper`` and return (pages, page size line, text)."""
    page = folder / f"{paper}.html"
    page.write_text(html.replace("</head>", PAPER[paper] + "</head>", 1), encoding="utf-8")
    pdf = folder / f"{paper}.pdf"
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={folder / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))  # type: ignore[union-attr]
    size = re.search(r"^Page size:\s+(.*)$", info, re.MULTILINE).group(1)  # type: ignore[union-attr]
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return pages, size, text


def squeeze(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("paper", ["letter", "a4"])
@pytest.mark.parametrize("name", PLANS)
def test_patient_document_prints_every_session_date(name: str, paper: str, tmp_path: Path) -> None:
    """The printed patient schedule has every session's date on a few pages of the chosen paper."""
    plan = ketaplan.load_plan(EXAMPLES / f"{name}.toml", now=NOW)
    pages, size, text = print_pdf(ketaplan.render_patient_html(plan, now=NOW), tmp_path, paper)
    assert ("letter" if paper == "letter" else "A4") in size
    assert 2 <= pages <= 10
    flat = squeeze(text)
    missing = [
        s.key
        for s in plan.sessions
        if f"{s.start.day} {MONTHS[s.start.month - 1]} {s.start.year}" not in flat
    ]
    assert [] == missing


@pytest.mark.parametrize("paper", ["letter", "a4"])
@pytest.mark.parametrize("name", PLANS)
def test_clinician_document_prints_every_date_and_blank(
    name: str, paper: str, tmp_path: Path
) -> None:
    """The printed clinical plan has every session's date, every dose field as a blank with its
    unit, and DRAFT while the plan is a draft."""
    plan = ketaplan.load_plan(EXAMPLES / f"{name}.toml", now=NOW)
    pages, _size, text = print_pdf(ketaplan.render_clinician_html(plan, now=NOW), tmp_path, paper)
    assert 2 <= pages <= 30
    flat = squeeze(text)
    missing = [
        s.key
        for s in plan.sessions
        if f"{s.start.day} {MONTHS[s.start.month - 1][:3]} {s.start.year}" not in flat
    ]
    assert [] == missing
    for field in plan.protocol.route.dose_fields:
        assert field.label in flat
        assert re.search(rf"_{{6,}}\s+{re.escape(field.unit)}", flat), f"no blank for {field.label}"
    assert "DRAFT" in flat


def test_entered_dose_prints_and_patient_copy_never_does(tmp_path: Path) -> None:
    """A clinician's entry prints in the clinical plan with its derived total, and never in the
    patient's schedule."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    fields = {f.name: f for f in plan.protocol.route.dose_fields}
    plan = attrs.evolve(
        plan,
        doses=(
            ketaplan.DoseEntry("dose_per_kg", fields["dose_per_kg"].parse("0.5 mg/kg")),
            ketaplan.DoseEntry("body_weight", fields["body_weight"].parse("72 kg")),
        ),
    )
    _pages, _size, clinical = print_pdf(
        ketaplan.render_clinician_html(plan, now=NOW), tmp_path, "letter"
    )
    assert "0.5 mg/kg" in squeeze(clinical)
    assert "36 mg" in squeeze(clinical)
    patient_folder = tmp_path / "patient"
    patient_folder.mkdir()
    _pages, _size, patient = print_pdf(
        ketaplan.render_patient_html(plan, now=NOW), patient_folder, "letter"
    )
    assert "0.5" not in patient
    assert "36 mg" not in patient


FRENCH = EXAMPLES / "french" / "esketamine-nasal-fr.toml"


def french_plans() -> list[ketaplan.Plan]:
    """The French example and two English examples put into French."""
    plans = [ketaplan.load_plan(FRENCH, now=NOW)]
    for name in ("iv-induction", "im-kap"):
        plan = ketaplan.load_plan(EXAMPLES / f"{name}.toml", now=NOW)
        plans.append(attrs.evolve(plan, language="fr-CA"))
    return plans


@pytest.mark.parametrize("paper", ["letter", "a4"])
@pytest.mark.parametrize("number", range(3), ids=["gatineau-fr", "iv-induction-fr", "im-kap-fr"])
def test_french_patient_document_prints_every_session_date_in_french(
    number: int, paper: str, tmp_path: Path
) -> None:
    """The printed French patient schedule has every session's date in the French form
    ("16 février 2027", "1er mars 2027") and its time ("9 h 30"), on a few pages."""
    plan = french_plans()[number]
    words = language("fr-CA")
    pages, size, text = print_pdf(ketaplan.render_patient_html(plan, now=NOW), tmp_path, paper)
    assert ("letter" if paper == "letter" else "A4") in size
    assert 2 <= pages <= 12
    flat = squeeze(text)
    zone = plan.clinic.zone
    missing = [
        s.key
        for s in plan.sessions
        if words.day_month_year(s.start.astimezone(zone).date()) not in flat
        or words.clock(s.start.astimezone(zone)) not in flat
    ]
    assert [] == missing
    assert "Vos rendez-vous" in flat


@pytest.mark.parametrize("paper", ["letter", "a4"])
def test_french_clinician_document_prints_every_session_date_in_french(
    paper: str, tmp_path: Path
) -> None:
    """The printed French clinical plan has every session's date in the French short form
    ("ven. 19 févr. 2027") and marks the draft BROUILLON."""
    plan = french_plans()[0]
    words = language("fr-CA")
    _pages, _size, text = print_pdf(ketaplan.render_clinician_html(plan, now=NOW), tmp_path, paper)
    flat = squeeze(text)
    zone = plan.clinic.zone
    missing = [
        s.key
        for s in plan.sessions
        if words.short_date(s.start.astimezone(zone).date()) not in flat
    ]
    assert [] == missing
    assert "BROUILLON" in flat
