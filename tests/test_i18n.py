"""Plans in French: the plan's language, Babel's forms of dates, times and numbers, the
gettext catalogues, and French documents, calendars and invitations."""

from __future__ import annotations

import datetime as dt
import decimal
import email
import email.policy
import io
import json
import re
import warnings
from pathlib import Path
from typing import BinaryIO

import attrs
import icalendar
import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import ketaplan
from ketaplan._i18n import LANGUAGES, LOCALE_DIR, catalogue_path, compile_catalogue, language
from ketaplan._invite import write_invitations
from ketaplan._plan import localized
from ketaplan.export import render_ics

from .conftest import EXAMPLES, NOW, ROOT

#: The example plans; the French one is in a folder of its own, apart from the English
#: examples whose documents other tests read as English.
FRENCH = EXAMPLES / "french" / "esketamine-nasal-fr.toml"
PLAN_FILES = [*sorted(EXAMPLES.glob("*.toml")), FRENCH]

#: Common English words that a French patient document or calendar must not show (none of
#: them a French word too: "on", "plan", "date", "or", "questions" are left out).
_COMMON = """
    the and your you will with before after session sessions day days week weeks clinic
    please of to for at in is are be this that what when where how do not don't must
    can may if from by about take bring drive home eat drink until next each every
    treatment appointment appointments moved cancelled length afterwards
    call phone keep taking have has it its we our us into than then there
    their they them these those which who would should could also only more most some any
    other such yes all here time times first last today tomorrow morning
"""
ENGLISH = frozenset(_COMMON.split())
#: A word: letters of any alphabet ("téléphone" is one word, not "t", "l" and "phone").
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def french(path: Path = FRENCH) -> ketaplan.Plan:
    """The plan of ``path`` in Canadian French."""
    return attrs.evolve(ketaplan.load_plan(path, now=NOW), language="fr-CA")


def english_words(text: str, plan: ketaplan.Plan) -> set[str]:
    """The common English words in ``text``, apart from the plan's own names (the clinic's,
    the patient's, the address and the codes), which stay as they were written."""
    for name in (
        plan.clinic.name,
        plan.clinic.address,
        plan.clinic.email,
        plan.patient.name,
        plan.patient.ref,
        plan.id,
    ):
        if name:
            text = text.replace(name, " ")
    return {word.lower() for word in WORD.findall(text)} & ENGLISH


# -- the plan's language ----------------------------------------------------------------


def test_a_plan_is_in_english_unless_its_file_says_otherwise() -> None:
    """A plan file without `language` makes an English plan; `language = "fr-CA"` a French one."""
    assert ("en", "fr-CA") == (
        ketaplan.load_plan(EXAMPLES / "esketamine-nasal.toml", now=NOW).language,
        ketaplan.load_plan(FRENCH, now=NOW).language,
    )


def test_an_unsupported_language_is_refused_with_the_supported_ones(tmp_path: Path) -> None:
    """`language = "de"` is a SpecError naming plan.language, the value and en, fr-CA."""
    path = tmp_path / "plan.toml"
    path.write_text(FRENCH.read_text(encoding="utf-8").replace('"fr-CA"', '"de"'), encoding="utf-8")
    with pytest.raises(ketaplan.SpecError) as caught:
        ketaplan.load_plan(path, now=NOW)
    assert "plan.language: got 'de'; expected one of the supported languages: en, fr-CA" == str(
        caught.value
    )


def test_plan_create_takes_the_language() -> None:
    """Plan.create(..., language="fr-CA") records the language; Plan refuses an unknown one."""
    plan = ketaplan.load_plan(FRENCH, now=NOW)
    made = ketaplan.Plan.create(
        plan.id, plan.protocol, plan.clinic, plan.start, now=NOW, language="fr-CA"
    )
    assert "fr-CA" == made.language
    with pytest.raises(ketaplan.SpecError, match=r"^plan\.language: got 'fr'"):
        attrs.evolve(made, language="fr")


def test_the_saved_plan_keeps_the_language() -> None:
    """A French plan's JSON records "language": "fr-CA" and loads back into an equal plan."""
    plan = ketaplan.load_plan(FRENCH, now=NOW)
    text = ketaplan.plan_to_json(plan)
    assert "fr-CA" == json.loads(text)["language"]
    assert plan == ketaplan.plan_from_json(text)


def test_an_english_plan_saves_as_before_and_an_old_plan_loads_as_english() -> None:
    """An English plan's JSON has no language key (the files of plans saved before languages
    stay the same), and such a file loads as an English plan."""
    plan = ketaplan.load_plan(EXAMPLES / "esketamine-nasal.toml", now=NOW)
    document = json.loads(ketaplan.plan_to_json(plan))
    assert "language" not in document
    assert "en" == ketaplan.plan_from_json(json.dumps(document)).language


def test_a_saved_plan_with_an_unknown_language_is_refused() -> None:
    """A saved plan whose language is not supported names the key and the choices."""
    document = json.loads(ketaplan.plan_to_json(french()))
    document["language"] = "klingon"
    with pytest.raises(ketaplan.SpecError) as caught:
        ketaplan.plan_from_json(json.dumps(document))
    assert str(caught.value).startswith(
        'language: got "klingon"; expected one of the supported languages: en, fr-CA'
    )


@pytest.mark.parametrize("tag", LANGUAGES)
@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_every_example_plan_builds_in_every_language(path: Path, tag: str, tmp_path: Path) -> None:
    """Each example plan, its language set to en and to fr-CA, builds its seven files."""
    plan = attrs.evolve(ketaplan.load_plan(path, now=NOW), language=tag)
    assert 7 == len(ketaplan.write_outputs(plan, tmp_path, now=NOW))


# -- dates, times and numbers -----------------------------------------------------------


def test_french_dates_times_and_numbers_are_in_the_locale_form() -> None:
    """fr-CA writes "mardi 16 février 2027", "9 h 30", "0,5 mg/kg" and "3 jours"."""
    words = language("fr-CA")
    assert (
        "mardi 16 février 2027",
        "9 h 30",
        "14 h 05",
        "0,5 mg/kg",
        "0,50",
        "3 jours",
        "1 h 30 min",
    ) == (
        words.long_date(dt.date(2027, 2, 16)),
        words.clock(dt.time(9, 30)),
        words.clock(dt.time(14, 5)),
        words.quantity(decimal.Decimal("0.5"), "mg/kg"),
        words.number(decimal.Decimal("0.50")),
        words.duration(dt.timedelta(days=3)),
        words.duration(dt.timedelta(minutes=90)),
    )


def test_english_forms_are_ketaplans_own() -> None:
    """English keeps ketaplan's forms: "Tuesday 16 February 2027", "09:30", "0.5 mg/kg"."""
    words = language("en")
    assert ("Tuesday 16 February 2027", "09:30", "0.5 mg/kg", "3 days") == (
        words.long_date(dt.date(2027, 2, 16)),
        words.clock(dt.time(9, 30)),
        words.quantity(decimal.Decimal("0.5"), "mg/kg"),
        words.duration(dt.timedelta(days=3)),
    )


def test_plural_forms_follow_the_language() -> None:
    """French uses the singular for 0 and 1 ("1 jour"), the plural from 2 ("2 jours")."""
    words = language("fr-CA")
    forms = [words.ngettext("%(count)d day", "%(count)d days", n) % {"count": n} for n in (1, 2)]
    assert ["1 jour", "2 jours"] == forms


# -- the catalogues ---------------------------------------------------------------------


def test_the_french_catalogue_is_complete() -> None:
    """Every message of the French catalogue is translated, none fuzzy, and its python-format
    placeholders are those of the English text."""
    with catalogue_path("fr-CA").open("rb") as file:
        catalogue = read_po(file, locale="fr_CA")
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(re.findall(r"%\(\w+\)[sd]", "".join(ids)))
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated or fuzzy: {ids[0]!r}")
        elif any(set(re.findall(r"%\(\w+\)[sd]", text)) != wanted for text in strings):
            problems.append(f"placeholders differ: {ids[0]!r}")
    assert [] == problems


def test_the_catalogue_template_holds_every_marked_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pybabel extract -F babel.cfg` finds exactly the messages of messages.pot and of the
    French catalogue: no text marked in the code or templates is missing from them."""
    out = tmp_path / "messages.pot"
    command = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "--no-location"]
    monkeypatch.chdir(ROOT)
    CommandLineInterface().run([*command, "-o", str(out), "."])

    def ids(path: Path) -> set[str]:
        with path.open("rb") as file:
            return {str(m.id if isinstance(m.id, str) else m.id[0]) for m in read_po(file) if m.id}

    extracted = ids(out)
    assert (extracted, extracted) == (
        ids(LOCALE_DIR / "messages.pot"),
        ids(catalogue_path("fr-CA")),
    )


def test_the_compiled_catalogue_is_current() -> None:
    """The package's compiled French catalogue (messages.mo, built at install) holds what the
    messages.po says."""
    po = catalogue_path("fr-CA")
    mo = po.with_suffix(".mo")
    assert mo.is_file(), "install the package (pip install -e .) to compile the catalogues"

    def messages(file: BinaryIO) -> dict[object, object]:
        return {repr(m.id): repr(m.string) for m in read_mo(file) if m.id}

    with mo.open("rb") as file:
        installed = messages(file)
    assert messages(io.BytesIO(compile_catalogue(po))) == installed


# -- calendars and invitations ----------------------------------------------------------


def _events(data: bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(data).walk("VEVENT"))


@pytest.mark.parametrize("privacy", ["minimal", "standard", "full"])
def test_french_calendar_summaries_and_alarms_are_french(privacy: str) -> None:
    """Read back with icalendar, a French calendar's summaries, categories and alarms use the
    French session names, never the English ones."""
    plan = french()
    plan = attrs.evolve(plan, calendar=attrs.evolve(plan.calendar, privacy=privacy))
    events = _events(render_ics(plan, now=NOW))
    summaries = {str(event["SUMMARY"]) for event in events}
    alarms = {str(alarm["DESCRIPTION"]) for event in events for alarm in event.walk("VALARM")}
    if privacy == "minimal":
        assert ({"Rendez-vous"}, {"Rendez-vous"}) == (summaries, alarms)
    elif privacy == "standard":
        assert {"Consultation", "Séance de traitement"} == summaries
        assert all(alarm.startswith(("Consultation", "Séance de traitement")) for alarm in alarms)
    else:
        assert all(" sur " in s or "(" in s for s in summaries)
        assert not any(" of " in s for s in summaries)


def test_french_calendar_descriptions_say_length_and_moves_in_french() -> None:
    """The description of a French event gives its length ("Durée : environ 2 h 30 min.") and a
    moved session the date passed over in the French form, not the scheduler's English."""
    events = _events(render_ics(french(), now=NOW))
    descriptions = [str(event["DESCRIPTION"]) for event in events]
    assert all(text.startswith("Durée\u00a0: environ ") for text in descriptions)
    moved = [text for text in descriptions if "déplacé" in text]
    assert 1 == len(moved)
    assert "ven. 26 mars 2027" in moved[0]
    assert "Good Friday" not in moved[0]


def test_french_invitation_subject_and_body_are_french(tmp_path: Path) -> None:
    """An invitation of a French plan gives its date as "mardi 16 février 2027, 9 h 30" in the
    subject, and says when and where in French."""
    saved = ketaplan.write_outputs(french(), tmp_path / "out", now=NOW)
    path = next(p for p in saved if p.suffix == ".json")
    written = write_invitations(path, tmp_path / "mail", to="patient@example.org", now=NOW)
    first = min(written)
    message = email.message_from_bytes(first.read_bytes(), policy=email.policy.default)
    assert "Consultation: mardi 16 février 2027, 9 h 30" == message["Subject"]
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Quand\u00a0: mardi 16 février 2027, 9 h 30 à 10 h 30 (America/Toronto)" in body
    assert "Votre application de calendrier" in body


# -- documents --------------------------------------------------------------------------


def _visible(html: str) -> str:
    """The text a reader sees in an HTML document: no style, no markup, entities read."""
    import html as html_module

    html = re.sub(r"<style.*?</style>", " ", html, flags=re.DOTALL)
    return html_module.unescape(re.sub(r"<[^>]+>", " ", html))


def _facts(plan: ketaplan.Plan) -> list[str]:
    """The dates, times and session titles (in its language) every patient document of
    ``plan`` states."""
    plan = localized(plan)
    words = language(plan.language)
    zone = plan.clinic.zone
    facts = []
    for session in plan.sessions:
        start, end = session.start.astimezone(zone), session.end.astimezone(zone)
        facts.append(words.day_month_year(start.date()))
        facts.append(words.clock(start))
        facts.append(words.clock(end))
        facts.append(plan.template(session).title)
    return facts


@pytest.mark.parametrize("tag", LANGUAGES)
@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_markdown_and_html_state_the_same_facts(path: Path, tag: str) -> None:
    """The patient's Markdown and HTML documents both give every session's date, start and end
    times and title, in the plan's language."""
    plan = attrs.evolve(ketaplan.load_plan(path, now=NOW), language=tag)
    html = _visible(ketaplan.render_patient_html(plan, now=NOW))
    markdown = ketaplan.render_patient_markdown(plan, now=NOW).replace("\\", "")
    facts = _facts(plan)
    assert ([], []) == (
        [fact for fact in facts if fact not in html],
        [fact for fact in facts if fact not in " ".join(markdown.split())],
    )


def test_french_patient_document_gives_dates_and_times_in_the_french_form() -> None:
    """The French patient document says "mardi 16 février 2027", "9 h 30 à 10 h 30", "1er mars"
    and "Semaine du lundi 15 février 2027", in a page whose language is fr-CA."""
    html = ketaplan.render_patient_html(french(), now=NOW)
    text = " ".join(_visible(html).split())
    assert '<html lang="fr-CA">' in html
    for expected in (
        "Votre plan de traitement",
        "mardi 16 février 2027",
        "9 h 30 à 10 h 30",
        "Semaine du lundi 1er mars 2027",
        "Semaine du lundi 15 février 2027",
        "du vendredi 19 février 2027 au mardi 16 mars 2027",
    ):
        assert expected in text
    assert not re.search(r"\b\d\d:\d\d\b", text), "no 24-hour English clock time"


def test_french_clinician_document_shows_dose_values_in_the_french_number_form() -> None:
    """Dose values a clinician entered keep their units and read "0,5 mg/kg", "72,5 kg" in a
    French clinician document, and "0.5 mg/kg" in an English one; nothing is converted."""
    plan = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    fields = {field.name: field for field in plan.protocol.route.dose_fields}
    plan = attrs.evolve(
        plan,
        doses=(
            ketaplan.DoseEntry("dose_per_kg", fields["dose_per_kg"].parse("0.5 mg/kg")),
            ketaplan.DoseEntry("body_weight", fields["body_weight"].parse("72.5 kg")),
        ),
    )
    english = ketaplan.render_clinician_markdown(plan, now=NOW)
    french_text = ketaplan.render_clinician_markdown(attrs.evolve(plan, language="fr-CA"), now=NOW)
    assert ("0.5 mg/kg" in english, "72.5 kg" in english) == (True, True)
    assert ("0,5 mg/kg" in french_text, "72,5 kg" in french_text) == (True, True)
    assert "0.5 mg/kg" not in french_text
    assert "36,25 mg" in french_text  # the derived total, from 0,5 mg/kg x 72,5 kg


def _calendar_texts(data: bytes) -> str:
    """Every text a calendar shows: its name, and each event's summary, description,
    location, categories and alarms, read back with icalendar."""
    calendar = icalendar.Calendar.from_ical(data)
    texts = [str(calendar.get("X-WR-CALNAME", ""))]
    for event in calendar.walk("VEVENT"):
        texts.extend(str(event.get(key, "")) for key in ("SUMMARY", "DESCRIPTION", "LOCATION"))
        if "CATEGORIES" in event:
            texts.extend(str(name) for name in event["CATEGORIES"].cats)
        texts.extend(str(alarm["DESCRIPTION"]) for alarm in event.walk("VALARM"))
    return "\n".join(texts)


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_no_english_is_left_in_a_french_patient_document(path: Path) -> None:
    """The visible text of a French patient document (HTML and Markdown) has none of the common
    English words; the clinic's name and address, the patient's name and codes are as written."""
    plan = french(path)
    html = _visible(ketaplan.render_patient_html(plan, now=NOW))
    markdown = ketaplan.render_patient_markdown(plan, now=NOW)
    assert (set(), set()) == (english_words(html, plan), english_words(markdown, plan))


@pytest.mark.parametrize("privacy", ["minimal", "standard", "full"])
@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_no_english_is_left_in_a_french_calendar(path: Path, privacy: str) -> None:
    """A French plan's patient calendar, at each privacy level, has none of the common English
    words in its name, summaries, descriptions, locations, categories and alarms. (The clinic's
    own calendar also gives the scheduler's reasons for a move, in English, for staff.)"""
    plan = french(path)
    plan = attrs.evolve(plan, calendar=attrs.evolve(plan.calendar, privacy=privacy))
    assert set() == english_words(_calendar_texts(render_ics(plan, now=NOW)), plan)


def test_an_english_patient_document_is_caught_by_the_word_scan() -> None:
    """The scan finds English in an English patient document: it is a real check."""
    plan = ketaplan.load_plan(FRENCH, now=NOW)
    english_plan = attrs.evolve(plan, language="en")
    text = _visible(ketaplan.render_patient_html(english_plan, now=NOW))
    assert {"your", "appointments", "the", "treatment"} <= english_words(text, english_plan)


def test_a_plan_already_in_its_language_is_not_translated_again() -> None:
    """A plan whose protocol was put into French is given back as it is, however many other
    plans were put into French since: no text is looked up again, so no warning says that a
    French text has no French translation."""
    first = localized(ketaplan.load_plan(FRENCH, now=NOW))
    assert "fr-CA" == first.language
    for _ in range(12):  # more plans than are remembered by the protocol they came with
        other = ketaplan.load_plan(FRENCH, now=NOW)
        assert other.protocol is not first.protocol
        localized(other)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = localized(first)
    assert first.protocol is again.protocol
