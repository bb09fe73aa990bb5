"""How ketaplan starts and scales: what ``import ketaplan`` loads, compiled templates kept
between processes, documents linear in the sessions."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ketaplan
from ketaplan.export.documents._clinician import clinician_context
from ketaplan.export.documents._patient import patient_context

from .conftest import EXAMPLES, NOW


class CountedPasses(tuple):  # type: ignore[type-arg]
    """A tuple that counts how many times it is iterated over from the start."""

    passes = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        type(self).passes += 1
        return super().__iter__()


def _passes_over_sessions(plan: ketaplan.Plan, build: object) -> int:
    """How many times building a view model of ``plan`` walks through its sessions."""
    counted = type("Counted", (CountedPasses,), {"passes": 0})
    object.__setattr__(plan, "sessions", counted(plan.sessions))
    build(plan, NOW)  # type: ignore[operator]
    return counted.passes  # type: ignore[no-any-return]


@pytest.mark.parametrize("build", [patient_context, clinician_context])
def test_view_models_walk_the_sessions_a_fixed_number_of_times(build: object) -> None:
    """Building a document's view model passes over the plan's sessions as many times for a
    plan with twice the sessions: the work grows linearly with the number of sessions."""
    base = ketaplan.load_plan(EXAMPLES / "iv-induction.toml", now=NOW)
    later = NOW + dt.timedelta(days=1)
    small = ketaplan.add_boosters(base, 20, now=later, reason="longer course")
    large = ketaplan.add_boosters(base, 40, now=later, reason="longer course")
    assert len(large.sessions) - len(base.sessions) == 2 * (
        len(small.sessions) - len(base.sessions)
    )
    assert _passes_over_sessions(small, build) == _passes_over_sessions(large, build)


LAZY = ["caldav", "recurring_ical_events", "x_wr_timezone", "cattrs", "jinja2", "smtplib"]


def _imported(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh Python process imports to run ``code``, from ``-X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}


def test_import_ketaplan_leaves_out_what_only_some_commands_need() -> None:
    """``import ketaplan`` loads neither CalDAV, the busy-file reader's recurrence library,
    cattrs, Jinja2 nor smtplib; they are imported when a plan is saved, rendered, published
    or sent."""
    imported = _imported("import ketaplan")
    assert "ketaplan" in imported
    assert [] == [name for name in LAZY if name in imported]


ONLY_SOME_BUILDS = ["difflib", "importlib.resources", "signal", "dateutil.relativedelta"]


def test_a_build_leaves_out_what_only_errors_and_other_commands_need(tmp_path: Path) -> None:
    """`ketaplan build` of a plan file writes its files without importing difflib (it
    suggests names in error messages), importlib.resources (the demo's plan), signal (a
    closed pipe's exit status) or dateutil's relativedelta (intervals in months)."""
    out = tmp_path / "out"
    code = f"from ketaplan._cli import main; main(['build', {str(EXAMPLES / 'iv-induction.toml')!r}, '--out', {str(out)!r}])"
    imported = _imported(code)
    assert (out / "lakeside-iv-0107.ics").is_file()
    assert [] == [name for name in ONLY_SOME_BUILDS if name in imported]


def test_lazy_public_names_are_the_same_objects() -> None:
    """The names ketaplan loads on first use are the functions of their modules."""
    from ketaplan._publish import publish
    from ketaplan._write import write_outputs
    from ketaplan.export.documents import render_patient_html

    assert publish is ketaplan.publish
    assert write_outputs is ketaplan.write_outputs
    assert render_patient_html is ketaplan.render_patient_html
    assert "write_outputs" in dir(ketaplan)
    with pytest.raises(AttributeError):
        _ = ketaplan.no_such_name  # type: ignore[attr-defined]


COUNT_COMPILES = """
import datetime as dt, sys, jinja2
compiled = []
original = jinja2.Environment.compile
def compile(self, source, name=None, filename=None, *args, **kwargs):
    compiled.append(name)
    return original(self, source, name, filename, *args, **kwargs)
jinja2.Environment.compile = compile
import ketaplan
now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
plan = ketaplan.load_plan(sys.argv[1], now=now)
templates = sys.argv[2] if len(sys.argv) > 2 else None
sys.stdout.write(ketaplan.render_patient_markdown(plan, now=now, templates=templates))
print(len(compiled))
"""


def _render_in_a_new_process(cache: Path, *templates: Path) -> tuple[str, int]:
    """The patient Markdown rendered by a new process with ``cache`` as the user's cache
    folder, and how many templates it compiled."""
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            COUNT_COMPILES,
            str(EXAMPLES / "iv-induction.toml"),
            *map(str, templates),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    text, _, count = result.stdout.rstrip("\n").rpartition("\n")
    return text, int(count)


def test_a_second_process_loads_the_compiled_templates_from_the_cache(tmp_path: Path) -> None:
    """The first process compiles the templates into the user's cache folder, private to the
    user; the next one renders the same document without compiling any."""
    first, compiled = _render_in_a_new_process(tmp_path)
    second, compiled_again = _render_in_a_new_process(tmp_path)
    assert compiled > 0
    assert 0 == compiled_again
    assert first == second
    folder = tmp_path / "ketaplan"
    assert 0o700 == folder.stat().st_mode & 0o777
    assert any(folder.rglob("*.cache"))


def test_an_edited_custom_template_is_not_served_stale_from_the_cache(tmp_path: Path) -> None:
    """A template in a custom folder that changed since it was cached is compiled afresh."""
    custom = tmp_path / "templates"
    custom.mkdir()
    template = custom / "patient.md.j2"
    template.write_text("First version for {{ doc.head.plan_id }}\n", encoding="utf-8")
    first, _ = _render_in_a_new_process(tmp_path / "cache", custom)
    template.write_text("Second version for {{ doc.head.plan_id }}\n", encoding="utf-8")
    second, compiled = _render_in_a_new_process(tmp_path / "cache", custom)
    assert "First version for lakeside-iv-0107" == first.strip()
    assert "Second version for lakeside-iv-0107" == second.strip()
    assert 1 == compiled


def test_a_cache_folder_that_cannot_be_made_still_builds(tmp_path: Path) -> None:
    """When the user's cache folder cannot be created (here a file is in the way), ketaplan
    build compiles the templates in memory and writes every file."""
    blocked = tmp_path / "cache"
    blocked.write_text("not a folder", encoding="utf-8")
    out = tmp_path / "out"
    env = dict(os.environ, XDG_CACHE_HOME=str(blocked))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ketaplan",
            "build",
            str(EXAMPLES / "iv-induction.toml"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (0, "") == (result.returncode, result.stderr)
    assert 7 == len(list(out.glob("lakeside-iv-0107*")))


BUILD = """
import io, sys
from ketaplan._cli import main
assert 0 == main(["build", sys.argv[1], "--out", sys.argv[2]], stdout=io.StringIO())
"""


def _build_imports(cache: Path, plan: Path, out: Path) -> set[str]:
    """The modules a new process imports to build ``plan`` into ``out``."""
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), SOURCE_DATE_EPOCH="1795000000")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", BUILD, str(plan), str(out)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}


def test_building_an_english_plan_loads_only_what_it_uses(tmp_path: Path) -> None:
    """`ketaplan build` of an English plan loads neither Babel (its forms are ketaplan's
    own), cattrs (writing the JSON needs only the plan's attrs classes), the mail modules,
    CalDAV, the recurrence library, FHIR, the changes to a saved plan nor re-planning; once
    the holidays of its years are in the cache folder, a new process does not load the
    holidays package (which loads every country's calendar to find one) and writes the
    same files."""
    cache = tmp_path / "cache"
    plan = EXAMPLES / "iv-induction.toml"
    first = {name.split(".")[0] for name in _build_imports(cache, plan, tmp_path / "first")}
    assert "holidays" in first
    modules = _build_imports(cache, plan, tmp_path / "second")
    second = {name.split(".")[0] for name in modules}
    unused = {"babel", "cattrs", "email", "smtplib", "caldav", "recurring_ical_events", "holidays"}
    assert set() == unused & second
    assert {"ketaplan", "jinja2", "icalendar"} <= second
    ours = {"ketaplan._lifecycle", "ketaplan._revise", "ketaplan.export._fhir", "ketaplan._busy"}
    assert set() == ours & modules
    names = sorted(path.name for path in (tmp_path / "first").iterdir())
    assert 7 <= len(names)
    for name in names:
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()


def test_a_damaged_holiday_cache_is_computed_again(tmp_path: Path) -> None:
    """A holiday file in the cache folder that is not what ketaplan wrote (broken JSON, a
    key missing, a name that is not text, a bad date) is ignored and written again: the
    clinic's holidays are the same and the build goes on."""
    from ketaplan import _cache

    calls = []

    def compute() -> dict[dt.date, str]:
        calls.append(1)
        return {dt.date(2027, 7, 1): "Canada Day"}

    env_cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(env_cache))
        assert {dt.date(2027, 7, 1): "Canada Day"} == _cache.holidays_cached("CA-ON", 2027, compute)
        (stored,) = env_cache.glob("ketaplan/holidays-*/CA-ON-2027.json")
        assert {dt.date(2027, 7, 1): "Canada Day"} == _cache.holidays_cached("CA-ON", 2027, compute)
        assert 1 == len(calls)
        damaged = [
            "{not json",
            '{"code": "CA-ON", "year": 2027}',
            '{"code": "CA-ON", "year": 2027, "days": {"2027-07-01": null}}',
            '{"code": "CA-ON", "year": 2027, "days": {"2027-13-01": "Canada Day"}}',
            '{"code": "CA-ON", "year": 2027, "days": ["2027-07-01"]}',
            "[1]",
        ]
        for number, text in enumerate(damaged, start=2):
            stored.write_text(text, encoding="utf-8")
            expected = {dt.date(2027, 7, 1): "Canada Day"}
            assert expected == _cache.holidays_cached("CA-ON", 2027, compute)
            assert number == len(calls)
        calls.clear()
        assert {dt.date(2027, 7, 1): "Canada Day"} == _cache.holidays_cached("../x", 2027, compute)
        assert 1 == len(calls)  # a code that is no safe file name is never cached
