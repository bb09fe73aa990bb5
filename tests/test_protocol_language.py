"""Protocol texts in other languages: the [text.<language>] tables and Protocol.in_language."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import attrs
import pytest

import ketaplan
from ketaplan._protocol import text_paths

from .conftest import NOW, toronto_clinic

NAMES = ["esketamine-nasal", "im-kap", "iv-induction", "oral-sublingual"]

#: The texts a route brings that a protocol file translates with the rest.
ROUTE_KEYS = re.compile(r"^(route\.|sessions\.dosing\.)")


def own_protocol(tmp_path: Path, text: str = "") -> ketaplan.Protocol:
    """A user's protocol file with a consultation, the intravenous route's dosing session,
    one phase each, and ``text`` appended (its translations)."""
    path = tmp_path / "own.toml"
    path.write_text(
        '[protocol]\nname = "own"\ntitle = "Own course"\nroute = "intravenous"\n'
        'notes = ["First note.", "Second note."]\n\n'
        '[sessions.consultation]\nkind = "consultation"\ntitle = "First visit"\n'
        'duration = "1 h"\nduring = ["We talk.", "You fill in a form."]\n\n'
        '[[phases]]\nname = "consultation"\ntitle = "Consultation"\n'
        'session = "consultation"\ncadence = { offsets = ["0 days"] }\n\n'
        '[[phases]]\nname = "induction"\ntitle = "Induction"\nsession = "dosing"\n'
        'cadence = { every = "1 week", sessions = 2 }\nsources = ["iv-practice"]\n\n' + text,
        encoding="utf-8",
    )
    return ketaplan.load_protocol(str(path))


def refusal(tmp_path: Path, text: str) -> str:
    """The message of the SpecError that loading a protocol file with ``text`` raises."""
    with pytest.raises(ketaplan.SpecError) as caught:
        own_protocol(tmp_path, text)
    return str(caught.value)


# -- the built-in protocols ---------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_builtin_text_has_a_french_text(name: str) -> None:
    """Each built-in protocol has French for every English text it has, its route's included."""
    protocol = ketaplan.builtin_protocols()[name]
    english = {key for key, text in protocol.texts().items() if text}
    assert "fr" in protocol.languages
    assert [] == sorted(english - set(protocol.translations["fr"]))


@pytest.mark.parametrize("name", NAMES)
def test_french_builtin_texts_differ_from_the_english(name: str) -> None:
    """Each French text is a translation, not a copy of the English (except words that are
    the same in both languages, such as "Consultation" and "Dose")."""
    protocol = ketaplan.builtin_protocols()[name]
    english = protocol.texts()
    same = [
        key
        for key, text in protocol.translations["fr"].items()
        if text == english[key] and text not in ("Consultation", "Dose")
    ]
    assert [] == same


@pytest.mark.parametrize("name", NAMES)
def test_fr_ca_gives_the_french_texts_without_a_warning(name: str) -> None:
    """in_language("fr-CA") finds every text under "fr" (warnings are errors here), and gives
    French titles for the protocol, its phases, its sessions and its checkpoints."""
    protocol = ketaplan.builtin_protocols()[name]
    french = protocol.in_language("fr-CA")
    fr = protocol.translations["fr"]
    assert fr["protocol.title"] == french.title
    assert [fr[f"phases.{p.name}.title"] for p in protocol.phases] == [
        p.title for p in french.phases
    ]
    assert [fr[f"sessions.{t.name}.title"] for t in protocol.sessions] == [
        t.title for t in french.sessions
    ]
    dosing = french.template("dosing")
    assert fr["sessions.dosing.checkpoints"] == tuple(c.label for c in dosing.checkpoints)
    assert fr["route.title"] == french.route.title
    assert dict(fr) == {key: text for key, text in french.texts().items() if key in fr}


def test_a_translated_protocol_keeps_everything_but_its_texts() -> None:
    """Durations, cadences, checkpoint times, sources and dose fields' names and units are
    the same in French; only the texts change."""
    protocol = ketaplan.builtin_protocols()["esketamine-nasal"]
    french = protocol.in_language("fr")

    def shape(p: ketaplan.Protocol) -> object:
        return (
            [(t.name, t.kind, t.duration, t.setting, t.sources) for t in p.sessions],
            [(c.at, c.sources) for t in p.sessions for c in t.checkpoints],
            [(ph.name, ph.cadence, ph.companions, ph.sources) for ph in p.phases],
            [(f.name, f.unit, f.form, f.required) for f in p.route.dose_fields],
            p.assessments,
            p.lateness_rules,
            p.sources,
            p.weekdays,
            p.drug,
        )

    assert shape(protocol) == shape(french)
    assert {} == french.translations
    assert "Formulaire de surveillance du patient REMS" == french.monitoring_form.name  # type: ignore[union-attr]


def test_the_french_sources_are_cited_as_published() -> None:
    """No source is translated: the French protocol cites the same text for every source."""
    for protocol in ketaplan.builtin_protocols().values():
        assert protocol.cited_sources() == protocol.in_language("fr-CA").cited_sources()


@pytest.mark.parametrize("language", ["en", "EN", "en-CA"])
def test_english_gives_the_protocol_unchanged(language: str) -> None:
    """ "en" (and an English variant with no texts of its own) gives the same protocol, without
    a warning."""
    protocol = ketaplan.builtin_protocols()["iv-induction"]
    assert protocol == protocol.in_language(language)
    assert ("en", "fr") == protocol.languages


# -- a user's protocol file ---------------------------------------------------------


def test_a_protocol_file_without_french_warns_once_for_each_text(tmp_path: Path) -> None:
    """A protocol with no French keeps its English, and in_language warns once for each text
    it has, naming the key."""
    protocol = own_protocol(tmp_path)
    english = [key for key, text in protocol.texts().items() if text]
    with pytest.warns(ketaplan.KetaplanWarning) as caught:
        french = protocol.in_language("fr-CA")
    messages = [str(warning.message) for warning in caught]
    assert [f"{key} has no 'fr-CA' text; using English" for key in english] == messages
    assert "sessions.dosing.aftercare has no 'fr-CA' text; using English" in messages
    assert protocol == french
    assert ("en",) == protocol.languages


def test_a_partial_translation_warns_only_for_what_it_lacks(tmp_path: Path) -> None:
    """The texts a file translates are used; only the others are named in warnings."""
    protocol = own_protocol(
        tmp_path,
        '[text.fr.protocol]\ntitle = "Mon traitement"\nnotes = ["Première.", "Deuxième."]\n\n'
        '[text.fr.sessions.consultation]\nduring = ["Nous parlons.", "Vous remplissez un formulaire."]\n',
    )
    with pytest.warns(ketaplan.KetaplanWarning) as caught:
        french = protocol.in_language("fr")
    named = {str(warning.message).split(" ")[0] for warning in caught}
    assert not named & {"protocol.title", "protocol.notes", "sessions.consultation.during"}
    assert "sessions.consultation.title" in named
    assert ("Mon traitement", ("Première.", "Deuxième.")) == (french.title, french.notes)
    assert ("Nous parlons.", "Vous remplissez un formulaire.") == french.template(
        "consultation"
    ).during
    assert "First visit" == french.template("consultation").title


def test_a_regional_text_comes_before_the_language_text(tmp_path: Path) -> None:
    """fr-CA looks in [text.fr-CA] first, then [text.fr]; fr-FR, with no table, uses fr."""
    protocol = own_protocol(
        tmp_path,
        '[text.fr.protocol]\ntitle = "Mon traitement"\n\n'
        '[text.fr-CA.protocol]\ntitle = "Mon traitement au Canada"\n',
    )
    assert ("en", "fr", "fr-CA") == protocol.languages
    with pytest.warns(ketaplan.KetaplanWarning):
        canadian = protocol.in_language("fr-ca")
    with pytest.warns(ketaplan.KetaplanWarning):
        french = protocol.in_language("fr-FR")
    assert ("Mon traitement au Canada", "Mon traitement") == (canadian.title, french.title)


def test_a_file_may_give_any_language(tmp_path: Path) -> None:
    """A translation table may name any language tag, such as Spanish."""
    protocol = own_protocol(tmp_path, '[text.es.protocol]\ntitle = "Mi tratamiento"\n')
    with pytest.warns(ketaplan.KetaplanWarning):
        assert "Mi tratamiento" == protocol.in_language("es").title


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[text.fr.protocol]\nnotes = ["Une seule."]\n',
            "text.fr.protocol.notes: has 1 items; the English has 2: one for each English item",
        ),
        (
            '[text.fr.sessions.dosing]\ncheckpoints = ["Avant", "Pendant"]\n',
            "text.fr.sessions.dosing.checkpoints: has 2 items; the English has 6",
        ),
        (
            '[text.fr.protocol]\ntitel = "Mon traitement"\n',
            "text.fr.protocol.titel: unknown key; did you mean 'title'?",
        ),
        (
            '[text.fr.sessions.consultaton]\ntitle = "Première visite"\n',
            "text.fr.sessions.consultaton: unknown key; did you mean 'consultation'?",
        ),
        (
            '[text.fr.phases.induction]\ntitle = ["Induction"]\n',
            "text.fr.phases.induction.title: got ['Induction']; expected a string",
        ),
        (
            "[text.fr.protocol]\nnotes = [1, 2]\n",
            "text.fr.protocol.notes: got [1, 2]; expected a list of strings",
        ),
        (
            '[text.fr.protocol]\ntitle = " "\n',
            "a translation is not empty: leave the key out instead",
        ),
        (
            '[text.french.protocol]\ntitle = "Mon traitement"\n',
            "text.french: got 'french'; expected a language tag such as 'fr' or 'fr-CA'",
        ),
        (
            '[text.en.protocol]\ntitle = "My course"\n',
            "text.en: got 'en'; the English texts are the protocol's own keys",
        ),
        ('[text.fr]\nprotocol = "Mon traitement"\n', "text.fr.protocol: got 'Mon traitement'"),
    ],
)
def test_a_bad_translation_is_a_spec_error(tmp_path: Path, text: str, message: str) -> None:
    """An unknown key gets the closest known one; a list has as many items as the English;
    a text has the English text's type; a language is a BCP 47 tag other than English."""
    assert message in refusal(tmp_path, text)


def test_translations_given_in_python_are_checked_too() -> None:
    """Translations passed to Protocol directly are checked against its texts."""
    protocol = ketaplan.builtin_protocols()["iv-induction"]
    with pytest.raises(ketaplan.SpecError, match=r"did you mean 'protocol\.title'"):
        attrs.evolve(protocol, translations={"fr": {"protocol.titel": "x"}})
    plain = attrs.evolve(protocol, translations={})
    assert {} == plain.translated_from
    with pytest.raises(ketaplan.SpecError, match="has 1 items; the English has 2"):
        attrs.evolve(plain, translations={"de": {"protocol.notes": ["x"]}})


def test_a_bad_language_asked_for_is_a_spec_error() -> None:
    """in_language takes a BCP 47 tag; anything else names the value."""
    protocol = ketaplan.builtin_protocols()["iv-induction"]
    with pytest.raises(ketaplan.SpecError, match="language: got 'French'; expected a language"):
        protocol.in_language("French")


def test_a_translation_whose_english_changed_is_not_used() -> None:
    """A translation is tied to the English it translates: once that text changes, the
    protocol gives the English, with a warning, and keeps its other translations."""
    protocol = ketaplan.builtin_protocols()["iv-induction"]
    edited = attrs.evolve(protocol, title="IV ketamine induction, Lakeside edition")
    with pytest.warns(ketaplan.KetaplanWarning) as caught:
        french = edited.in_language("fr")
    assert ["protocol.title has no 'fr' text; using English"] == [str(w.message) for w in caught]
    assert "IV ketamine induction, Lakeside edition" == french.title
    assert "Série d'induction" == french.phase("induction").title
    assert "protocol.title" not in edited.current_translations()["fr"]


def test_a_switched_route_drops_the_old_routes_french(tmp_path: Path) -> None:
    """After switch_route, the dosing session's French (written for the old route) is not
    used for the new route's session: those texts stay English, with warnings."""
    plan = ketaplan.Plan.create(
        "own-4",
        ketaplan.load_protocol("iv-induction"),
        toronto_clinic(),
        dt.date(2027, 2, 1),
        now=NOW,
    )
    switched = ketaplan.switch_route(plan, "intranasal", now=NOW, reason="no IV access")
    with pytest.warns(ketaplan.KetaplanWarning) as caught:
        french = switched.protocol.in_language("fr-CA")
    named = {str(w.message).split(" ")[0] for w in caught}
    assert {"sessions.dosing.title", "sessions.dosing.during", "route.title"} <= named
    assert switched.protocol.template("dosing").during == french.template("dosing").during
    assert "Série d'induction" == french.phase("induction").title
    assert switched == ketaplan.plan_from_json(ketaplan.plan_to_json(switched))


# -- values, saved plans ----------------------------------------------------------


def test_protocols_with_translations_are_immutable_and_hashable() -> None:
    """Equal protocols hash alike; their mappings cannot be changed in place."""
    first = ketaplan.load_protocol("esketamine-nasal")
    again = attrs.evolve(first, translations=dict(first.translations))
    assert first == again
    assert hash(first) == hash(again)
    with pytest.raises(TypeError):
        first.translations["fr"]["protocol.title"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        first.sources["new"] = "x"  # type: ignore[index]


def test_a_plan_with_translations_round_trips_through_its_json(tmp_path: Path) -> None:
    """The saved plan stores the protocol's translations and loads back an equal plan."""
    protocol = own_protocol(
        tmp_path,
        '[text.fr-CA.protocol]\ntitle = "Mon traitement"\nnotes = ["Première.", "Deuxième."]\n',
    )
    plan = ketaplan.Plan.create("own-1", protocol, toronto_clinic(), dt.date(2027, 2, 1), now=NOW)
    text = ketaplan.plan_to_json(plan)
    stored = json.loads(text)["protocol"]["translations"]
    assert {
        "fr-CA": {"protocol.notes": ["Première.", "Deuxième."], "protocol.title": "Mon traitement"}
    } == stored
    assert plan == ketaplan.plan_from_json(text)


def test_a_protocol_in_english_only_saves_as_before(tmp_path: Path) -> None:
    """A protocol without translations writes no translations key, so its saved plan reads as
    one written before protocols had them."""
    plan = ketaplan.Plan.create(
        "own-2", own_protocol(tmp_path), toronto_clinic(), dt.date(2027, 2, 1), now=NOW
    )
    assert "translations" not in json.loads(ketaplan.plan_to_json(plan))["protocol"]


def test_a_saved_translation_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    """A saved plan whose translation is neither a string nor a list of strings is refused,
    naming the key path."""
    plan = ketaplan.Plan.create(
        "own-3",
        ketaplan.load_protocol("iv-induction"),
        toronto_clinic(),
        dt.date(2027, 2, 1),
        now=NOW,
    )
    document = json.loads(ketaplan.plan_to_json(plan))
    document["protocol"]["translations"]["fr"]["protocol.title"] = 3
    with pytest.raises(
        ketaplan.SpecError,
        match=r'protocol\.translations\.fr\["protocol\.title"\]: got 3; expected a string or a list',
    ):
        ketaplan.plan_from_json(json.dumps(document))


def test_text_keys_name_the_route_texts_a_protocol_file_translates() -> None:
    """The keys of the route's texts are those of the file's [text.<language>.route] and
    [text.<language>.sessions.dosing] tables."""
    protocol = ketaplan.builtin_protocols()["iv-induction"]
    keys = [".".join(path) for path in text_paths(protocol) if ROUTE_KEYS.match(".".join(path))]
    assert "route.dose_fields.body_weight.label" in keys
    assert "sessions.dosing.checkpoints" in keys
    assert list(protocol.texts()) == [".".join(path) for path in text_paths(protocol)]


def test_sessions_that_ran_before_a_route_switch_keep_their_french() -> None:
    """The dosing sessions that took place before switch_route keep the old route's
    template under its own name, and its French follows it: they read in French with no
    warning about them, while the new route's session falls back to English."""
    plan = ketaplan.Plan.create(
        "own-5",
        ketaplan.load_protocol("iv-induction"),
        toronto_clinic(),
        dt.date(2027, 2, 1),
        now=NOW,
    )
    first = next(s for s in plan.sessions if s.template == "dosing")
    after_first = first.end + dt.timedelta(hours=1)
    done = ketaplan.complete(plan, first.key, now=after_first)
    switched = ketaplan.switch_route(done, "intranasal", now=after_first, reason="no IV access")
    assert "dosing-intravenous" == switched.session(first.key).template
    with pytest.warns(ketaplan.KetaplanWarning) as caught:
        french = switched.protocol.in_language("fr-CA")
    named = {str(w.message).split(" ")[0] for w in caught}
    assert not any(key.startswith("sessions.dosing-intravenous.") for key in named)
    assert "sessions.dosing.during" in named
    kept = french.template("dosing-intravenous")
    assert (
        kept.title
        == ketaplan.load_protocol("iv-induction").in_language("fr-CA").template("dosing").title
    )
    assert kept.title != switched.protocol.template("dosing-intravenous").title
    assert switched == ketaplan.plan_from_json(ketaplan.plan_to_json(switched))
