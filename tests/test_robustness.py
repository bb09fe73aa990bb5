"""Robustness: mutated plan files, known bad inputs, concurrent edits, killed edits, file modes.

The mutation engine lives in ``tests/fuzzing.py``; ``benchmarks/fuzz_nightly.py``
runs it with many more cases.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import io
import json
import os
import random
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ketaplan
from ketaplan._cli import main
from ketaplan._write import render_outputs

from . import fuzzing
from .conftest import EXAMPLES, NOW
from .strategies import odd_texts

SEED = 20261120
CASES_PER_EXAMPLE = 400  # 2,000 over the five examples
CLI_EVERY = 10  # 200 of them through `ketaplan build` as well
BUILT = "1796000000"  # 2026-11-30: the saved plan is built before its first session
EDITED = str(int(dt.datetime(2026, 12, 17, 17, 0, tzinfo=dt.UTC).timestamp()))
PLAN_ID = "lakeside-iv-0107"


def run(*args: str | Path) -> tuple[int, str, str]:
    """Run the command line in-process; returns (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def error_line(err: str) -> str:
    """The one ``error:`` line a refused command prints, without its prefix."""
    lines = err.splitlines()
    assert 1 == len(lines), err
    assert lines[0].startswith("error: "), err
    return lines[0].removeprefix("error: ")


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def leftovers(folder: Path) -> list[str]:
    """Temporary and lock files left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".tmp", ".lock"))


@pytest.fixture
def epoch(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Set SOURCE_DATE_EPOCH, the generation time of the commands run in-process."""

    def set_epoch(value: str) -> None:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", value)

    set_epoch(BUILT)
    return set_epoch


@pytest.fixture
def saved(tmp_path: Path, epoch: Callable[[str], None]) -> Path:
    """examples/iv-induction.toml built into tmp_path/plan before its first session: the saved JSON."""
    code, _, err = run("build", EXAMPLES / "iv-induction.toml", "--out", tmp_path / "plan")
    assert (0, "") == (code, err)
    return tmp_path / "plan" / f"{PLAN_ID}.json"


def plan_file(folder: Path, example: str, *replacements: tuple[str, str]) -> Path:
    """An example plan file with the patient's name and reference marked, then each ``(old, new)`` replaced."""
    text = fuzzing.dumps(fuzzing.seed_document(example))
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLES / "clinic-bookings.ics", folder / "clinic-bookings.ics")
    path = folder / f"{example}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- 1. mutation fuzz -----------------------------------------------------------


@pytest.mark.parametrize("example", fuzzing.example_names())
def test_mutated_plan_files_load_or_fail_with_a_readable_error(
    example: str, tmp_path: Path
) -> None:
    """400 seeded mutations of each example plan file either load or raise a KetaplanError whose message is one line under 300 characters, names a field and shows neither the patient's name or reference nor a Python repr."""
    report = fuzzing.run(SEED, [example], range(CASES_PER_EXAMPLE), tmp_path)
    assert CASES_PER_EXAMPLE == report.cases
    assert [] == report.summary(), "\n".join(report.summary())


@pytest.mark.parametrize("example", fuzzing.example_names())
def test_mutated_plan_files_build_or_fail_with_one_line_and_nothing_written(
    example: str, tmp_path: Path
) -> None:
    """`ketaplan build` on 40 mutated plan files per example exits 0 (and its saved plan loads back), or exits 2 with one `error:` line, an empty --out and no temporary file."""
    numbers = range(0, CASES_PER_EXAMPLE, CLI_EVERY)
    report = fuzzing.run(SEED, [example], numbers, tmp_path, api=False, cli=lambda n: True)
    assert CASES_PER_EXAMPLE // CLI_EVERY == report.cli_cases
    assert [] == report.summary(), "\n".join(report.summary())


def test_the_same_seed_makes_the_same_cases() -> None:
    """A case is a function of (seed, example, number), so a failure reported by number can be replayed."""
    first = fuzzing.make_case(SEED, "iv-induction", 7)
    assert first == fuzzing.make_case(SEED, "iv-induction", 7)
    assert first != fuzzing.make_case(SEED + 1, "iv-induction", 7)


def test_the_unmutated_examples_load_with_the_markers(tmp_path: Path) -> None:
    """The fuzz starts from plan files that load: each example, written back with the marked patient, loads and passes every check."""
    for example in fuzzing.example_names():
        document = fuzzing.seed_document(example)
        content = fuzzing.dumps(document)
        assert document == tomllib.loads(content)
        case = fuzzing.Case(SEED, example, -1, (), content.encode())
        assert ("loaded", []) == fuzzing.check_api(case, tmp_path)


# --- 2. known bad inputs, replayed through the command line -----------------------

REFUSED_PLAN_FILES = [
    pytest.param(
        "iv-induction",
        [("sessions = 3", "sessions = 0")],
        "phases.maintenance.sessions",
        id="phase-sessions-0",
    ),
    pytest.param(
        "iv-induction",
        [("sessions = 3", "sessions = -1")],
        "phases.maintenance.sessions",
        id="phase-sessions-negative",
    ),
    pytest.param(
        "im-kap", [("start = 2027-03-16", "start = 9999-06-01")], "plan.start", id="start-9999"
    ),
    pytest.param(
        "iv-induction",
        [("start = 2026-12-14", "start = 0001-01-01")],
        "plan.start",
        id="start-0001-01-01",
    ),
    pytest.param(
        "iv-induction",
        [('timezone = "America/Toronto"', f'timezone = "America/{"x" * 300}"')],
        "plan.timezone",
        id="timezone-over-255-characters",
    ),
    pytest.param(
        "iv-induction",
        [("sessions = 3", "until = 2027-01-01")],
        "phases.maintenance.until",
        id="phase-until-before-the-phase-starts",
    ),
    pytest.param(
        "iv-induction",
        [("start = 2026-12-14", "start = 2027-02-30")],
        "plan.start",
        id="date-2027-02-30",
    ),
    pytest.param(
        "iv-induction",
        [("chairs = 2", "chairs = 2\nmin_gap = 48")],
        "clinic.min_gap",
        id="min-gap-a-number",
    ),
    pytest.param(
        "iv-induction",
        [('time = "09:30"', "time = 2027-01-11T09:30:00")],
        "plan.time",
        id="time-a-toml-datetime",
    ),
    pytest.param(
        "iv-induction",
        [(f'name = "{fuzzing.PATIENT_NAME}"', f'nmae = "{fuzzing.PATIENT_NAME}"')],
        "patient",
        id="mistyped-key-in-patient",
    ),
    pytest.param("iv-induction", [("[patient]", "[pateint]")], "pateint", id="mistyped-table-name"),
    pytest.param(
        "iv-induction",
        [("[plan]", "deep = " + "[" * 100_000 + "]" * 100_000 + "\n\n[plan]")],
        "plan file",
        id="toml-nested-100000-deep",
    ),
]


@pytest.mark.parametrize(("example", "replacements", "field"), REFUSED_PLAN_FILES)
def test_bad_plan_files_are_refused_in_one_line_naming_the_field(
    example: str,
    replacements: list[tuple[str, str]],
    field: str,
    tmp_path: Path,
    epoch: Callable[[str], None],
) -> None:
    """`ketaplan build` on a known bad plan file exits 2 with one `error:` line that names the field, shows no personal value and writes nothing."""
    path = plan_file(tmp_path / "in", example, *replacements)
    code, _, err = run("build", path, "--out", tmp_path / "out")
    message = error_line(err)
    assert 2 == code
    assert field in message
    assert [] == [m for m in fuzzing.MARKERS if m in message]
    assert [] == fuzzing.message_problems(message)
    assert [] == files_under(tmp_path / "out")
    assert ["clinic-bookings.ics", f"{example}.toml"] == files_under(tmp_path / "in")


@pytest.mark.parametrize(
    ("replacements", "form"),
    [
        pytest.param([("chairs = 2", "chairs = 2\nmin_gap = 48")], r'"\d+ ?[a-z]+"', id="min_gap"),
        pytest.param([('time = "09:30"', "time = 2027-01-11T09:30:00")], r'"\d\d:\d\d"', id="time"),
    ],
)
def test_a_value_of_the_wrong_toml_type_is_shown_its_string_form(
    replacements: list[tuple[str, str]], form: str, tmp_path: Path, epoch: Callable[[str], None]
) -> None:
    """`min_gap = 48` and a TOML datetime for `time` are refused with an example of the string they take (`"48 h"`, `"09:30"`)."""
    path = plan_file(tmp_path / "in", "iv-induction", *replacements)
    code, _, err = run("build", path, "--out", tmp_path / "out")
    assert 2 == code
    assert re.search(form, error_line(err)), err


@pytest.mark.parametrize(
    ("replacements", "change"),
    [
        pytest.param([], lambda text: b"\xef\xbb\xbf" + text, id="utf-8-bom"),
        pytest.param([('time = "09:30"', "time = 09:30:00")], bytes, id="time-a-toml-time"),
        pytest.param([], bytes, id="unchanged"),
    ],
)
def test_plan_files_that_are_accepted(
    replacements: list[tuple[str, str]],
    change: Callable[[bytes], bytes],
    tmp_path: Path,
    epoch: Callable[[str], None],
) -> None:
    """A UTF-8 BOM and a TOML time (`time = 09:30:00`) are accepted: the build exits 0 and every dosing session is at 09:30."""
    path = plan_file(tmp_path / "in", "iv-induction", *replacements)
    path.write_bytes(change(path.read_bytes()))
    code, _, err = run("build", path, "--out", tmp_path / "out")
    assert (0, "") == (code, err)
    plan = ketaplan.load_plan(tmp_path / "out" / f"{PLAN_ID}.json", now=NOW)
    dosing = [s for s in plan.sessions if s.kind is ketaplan.SessionKind.DOSING]
    assert {dt.time(9, 30)} == {s.start.astimezone(plan.clinic.zone).time() for s in dosing}


def test_defer_by_99999999_days_is_refused(saved: Path, epoch: Callable[[str], None]) -> None:
    """`defer --days 99999999` exits 2 with one line naming the days and leaves the plan as it was."""
    before = saved.read_bytes()
    code, _, err = run(
        "defer", saved, "maintenance-01", "--days", "99999999", "--reason", "far away"
    )
    assert 2 == code
    assert "days" in error_line(err)
    assert before == saved.read_bytes()
    assert [] == leftovers(saved.parent)


@pytest.mark.parametrize(
    "value",
    ["1000000000000000 mg/kg", "1e308 mg/kg", "inf mg/kg", "nan mg/kg", "1e-320 mg/kg"],
)
def test_an_enormous_dose_is_refused_or_renders(
    value: str, saved: Path, epoch: Callable[[str], None]
) -> None:
    """`dose dose_per_kg` with an enormous or non-finite value is refused in one line, or entered; either way the plan then builds."""
    epoch(EDITED)
    assert 0 == run("dose", saved, "body_weight", "72 kg")[0]
    code, _, err = run("dose", saved, "dose_per_kg", value)
    if code != 0:
        assert 2 == code
        assert "dose_per_kg" in error_line(err)
    code, _, err = run("build", saved, "--out", saved.parent)
    assert (0, "") == (code, err)
    ketaplan.load_plan(saved, now=NOW)


@pytest.fixture
def unreadable(saved: Path) -> Iterator[list[str]]:
    """A command prefix that runs ketaplan unable to read the saved plan (mode 000)."""
    saved.chmod(0)
    try:
        if os.geteuid() != 0:
            yield []
            return
        # root reads any file: drop the capabilities that let it, if setpriv can.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file modes cannot be enforced")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
        probe = subprocess.run(
            [*prefix, sys.executable, "-c", f"open({str(saved)!r}).read()"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            pytest.skip("running as root: setpriv could not make the file unreadable")
        yield prefix
    finally:
        saved.chmod(0o644)


def test_an_edit_without_permission_to_read_the_plan_is_refused(
    saved: Path, unreadable: list[str]
) -> None:
    """`dose` on a plan the user may not read exits 2 with one line saying so, and changes nothing."""
    command = ["dose", str(saved), "body_weight", "72 kg"]
    if unreadable:
        result = subprocess.run(
            [*unreadable, sys.executable, "-m", "ketaplan", *command],
            capture_output=True,
            text=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": EDITED},
            check=False,
        )
        code, err = result.returncode, result.stderr
    else:
        code, _, err = run(*command)
    assert 2 == code
    assert "permission" in error_line(err).lower()
    assert [] == [p for p in saved.parent.iterdir() if p.suffix == ".tmp"]


def _damage(saved: Path, change: Callable[[dict[str, object]], object]) -> bytes:
    data = json.loads(saved.read_text(encoding="utf-8"))
    change(data)
    saved.write_text(json.dumps(data), encoding="utf-8")
    return saved.read_bytes()


def _end_before_start(data: dict[str, object]) -> None:
    sessions = data["sessions"]
    assert isinstance(sessions, list)
    session = sessions[3]
    start = dt.datetime.fromisoformat(session["start"])
    session["end"] = (start - dt.timedelta(hours=1)).isoformat()


def _long_timezone(data: dict[str, object]) -> None:
    clinic = data["clinic"]
    assert isinstance(clinic, dict)
    clinic["timezone"] = "America/" + "x" * 300


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(_end_before_start, "end", id="session-ends-before-it-starts"),
        pytest.param(_long_timezone, "timezone", id="timezone-over-255-characters"),
        pytest.param(
            b"[" * 100_000 + b"]" * 100_000, "nested too deeply", id="json-nested-100000-deep"
        ),
    ],
)
@pytest.mark.parametrize("command", ["build", "dose", "sessions"])
def test_a_damaged_saved_plan_is_refused_by_every_command(
    content: Callable[[dict[str, object]], None] | bytes,
    expected: str,
    command: str,
    saved: Path,
    epoch: Callable[[str], None],
) -> None:
    """A saved plan whose session ends before it starts, whose time zone name is 308 characters long, or JSON nested 100,000 deep, is refused by build, dose and sessions with one `error:` line; nothing is written."""
    if isinstance(content, bytes):
        saved.write_bytes(content)
        before = content
    else:
        before = _damage(saved, content)
    args = {
        "build": ["build", saved, "--out", saved.parent / "again"],
        "dose": ["dose", saved, "body_weight", "72 kg"],
        "sessions": ["sessions", saved],
    }[command]
    code, _, err = run(*args)
    message = error_line(err)
    assert 2 == code
    assert expected in message
    assert [] == fuzzing.message_problems(message)
    assert before == saved.read_bytes()
    assert [] == files_under(saved.parent / "again")
    assert [] == [p for p in saved.parent.iterdir() if p.suffix == ".tmp"]


MEMORY_LIMIT = 2 * 1024**3


def _limit_memory() -> None:  # pragma: no cover (runs in the child process)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _special_input(kind: str, folder: Path) -> list[str]:
    """Arguments for `ketaplan` that make it read a device, a FIFO or a pathological TOML key."""
    folder.mkdir()
    if kind == "plan-json-is-dev-zero":
        (folder / "plan.json").symlink_to("/dev/zero")
        return ["build", str(folder / "plan.json"), "--out", str(folder / "out")]
    if kind == "plan-file-is-a-fifo":
        os.mkfifo(folder / "plan.toml")
        return ["build", str(folder / "plan.toml"), "--out", str(folder / "out")]
    replacements = {
        "busy-is-dev-zero": ("chairs = 2", 'chairs = 2\nbusy = "/dev/zero"'),
        "protocol-is-dev-zero": ('protocol = "iv-induction"', 'protocol = "/dev/zero"'),
        "protocol-is-a-fifo": ('protocol = "iv-induction"', 'protocol = "protocol.toml"'),
        "dotted-key-30000-deep": ("[plan]", "a" + ".a" * 30_000 + " = 1\n\n[plan]"),
    }
    path = plan_file(folder, "iv-induction", replacements[kind])
    if kind == "protocol-is-a-fifo":
        os.mkfifo(folder / "protocol.toml")
    return ["build", str(path), "--out", str(folder / "out")]


@pytest.mark.parametrize(
    "kind",
    [
        "busy-is-dev-zero",
        "protocol-is-dev-zero",
        "plan-json-is-dev-zero",
        "plan-file-is-a-fifo",
        "protocol-is-a-fifo",
        "dotted-key-30000-deep",
    ],
)
def test_endless_or_pathological_inputs_are_refused_quickly(kind: str, tmp_path: Path) -> None:
    """A plan, protocol or bookings file that is a device such as /dev/zero or a FIFO, or a 60 KB
    plan file with a dotted key 30,000 deep, is refused within seconds, in 2 GB of memory, with
    one `error:` line (run in a child process, so that a failure cannot exhaust the test run)."""
    args = _special_input(kind, tmp_path / "in")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ketaplan", *args],
            env={**os.environ, "SOURCE_DATE_EPOCH": BUILT},
            capture_output=True,
            text=True,
            timeout=10,
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"ketaplan {' '.join(args)[:80]}... still running after 10 s")
    assert 2 == done.returncode, done.stderr[-500:]
    error_line(done.stderr)
    assert [] == files_under(tmp_path / "in" / "out")


def test_an_edit_through_a_symbolic_link_changes_the_plan_it_points_to(
    saved: Path, epoch: Callable[[str], None]
) -> None:
    """`dose current.json ...` where current.json links to the saved plan changes the saved plan and keeps the link."""
    link = saved.parent / "current.json"
    link.symlink_to(saved.name)
    epoch(EDITED)
    assert (0, "") == run("dose", link, "body_weight", "72 kg")[::2]
    assert link.is_symlink()
    assert 2 == ketaplan.load_plan(saved, now=NOW).revision


def test_reschedule_to_a_time_with_an_offset_means_that_instant(
    saved: Path, epoch: Callable[[str], None]
) -> None:
    """`reschedule --to 2027-03-22T10:30:00-04:00` is accepted and the session starts at that instant."""
    epoch(EDITED)
    code, _, err = run(
        "reschedule",
        saved,
        "maintenance-03",
        "--to",
        "2027-03-22T10:30:00-04:00",
        "--reason",
        "script",
    )
    assert (0, "") == (code, err)
    plan = ketaplan.load_plan(saved, now=NOW)
    assert dt.datetime(2027, 3, 22, 14, 30, tzinfo=dt.UTC) == plan.session("maintenance-03").start


def test_reschedule_before_the_plans_start_is_refused(
    saved: Path, epoch: Callable[[str], None]
) -> None:
    """`reschedule` to a day before the plan's start (but after now) exits 2 and leaves the plan as it was."""
    before = saved.read_bytes()
    code, _, err = run(
        "reschedule", saved, "induction-02", "--to", "2026-12-07T10:00", "--reason", "earlier"
    )
    message = error_line(err)
    assert 2 == code
    assert "induction-02" in message
    assert re.search(r"2026-12-14|14 Dec 2026", message), message
    assert before == saved.read_bytes()


EDITS = {
    "dose": ["dose", "{plan}", "body_weight", "72 kg"],
    "omit": ["omit", "{plan}", "induction-02", "--reason", "away"],
    "cease": ["cease", "{plan}", "--reason", "stopped"],
    "reschedule": [
        "reschedule",
        "{plan}",
        "induction-02",
        "--to",
        "2026-12-18T11:00",
        "--reason",
        "x",
    ],
}


@pytest.mark.parametrize("target", ["toml", "missing", "folder", "folder.json", "missing-folder"])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edits_need_a_saved_plan_json_and_create_nothing(
    edit: str, target: str, tmp_path: Path, epoch: Callable[[str], None]
) -> None:
    """An edit given the plan file (.toml), a missing file, a folder or a path in a missing folder exits 2 with one line and creates no file, no lock."""
    paths = {
        "toml": plan_file(tmp_path, "iv-induction"),
        "missing": tmp_path / "missing.json",
        "folder": tmp_path / "plans",
        "folder.json": tmp_path / "folder.json",
        "missing-folder": tmp_path / "nowhere" / "plan.json",
    }
    (tmp_path / "plans").mkdir()
    (tmp_path / "folder.json").mkdir()
    before = files_under(tmp_path)
    target_path = paths[target]
    code, _, err = run(*(a.format(plan=target_path) for a in EDITS[edit]))
    message = error_line(err)
    assert 2 == code
    if target == "toml":
        assert ".json" in message
    assert before == files_under(tmp_path)


# --- 3. concurrent edits while builds run -------------------------------------------

BUILD_LOOP = """
import io, json, os, sys
from ketaplan._cli import main
plan, folder, stop, results = sys.argv[1:]
codes = []
while not os.path.exists(stop):
    err = io.StringIO()
    codes.append([main(["build", plan, "--out", folder], stdout=io.StringIO(), stderr=err), err.getvalue()])
with open(results, "w") as handle:
    json.dump(codes, handle)
"""


def _edits(plan: ketaplan.Plan) -> list[list[str]]:
    """Fifty edits of mixed kinds; most apply in any order, and a few are refused by a rule
    (a second omit of one session, a miss after a complete, anything after `cease`)."""
    dosing = [s.key for s in plan.sessions if s.kind is ketaplan.SessionKind.DOSING]
    companions = [s.key for s in plan.sessions if s.kind is not ketaplan.SessionKind.DOSING]
    zone = plan.clinic.zone
    day = {s.key: s.start.astimezone(zone).date() for s in plan.sessions}
    doses = [
        ["dose", "body_weight", f"{60 + n} kg", "--session", dosing[n % len(dosing)]]
        for n in range(19)
    ]
    doses[5:5] = [["dose", "dose_per_kg", "0.5 mg/kg"], ["dose", "infusion_minutes", "40 min"]]
    doses[12:12] = [["dose", "body_weight", "70 kg"]]
    omits = [["omit", key, "--reason", "away"] for key in companions[2:8]]
    omits += [["omit", "maintenance-03", "--reason", "away"]] * 2
    reschedules = [
        ["reschedule", key, "--to", f"{day[key]}T11:00", "--reason", "later that day"]
        for key in dosing[1:9]
    ]
    defers = [
        ["defer", key, "--days", str(n), "--reason", "storm"]
        for key in ("maintenance-02", "maintenance-03")
        for n in (1, 2, 7)
    ]
    past = [
        ["miss", "induction-01", "--reason", "ill"],
        ["miss", "consultation"],
        ["complete", "consultation"],
        ["complete", "induction-01"],
    ]
    ceases = [["cease", "--reason", "patient stopped"]] * 2
    # Interleave the kinds so that each runs alongside the others; cease comes last.
    groups = [doses, omits, reschedules, defers, past]
    mixed: list[list[str]] = []
    while any(groups):
        for group in groups:
            if group:
                mixed.append(group.pop(0))
    return mixed + ceases


def test_concurrent_edits_and_builds_lose_nothing(saved: Path, tmp_path: Path) -> None:
    """Fifty edits as separate processes, four at a time, while builds of the saved plan loop: every edit that printed success is in the final history at the revision it printed, revisions run 1..n, no build fails, and no temporary or lock file is left."""
    plan = ketaplan.load_plan(saved, now=NOW)
    edits = _edits(plan)
    assert 50 == len(edits)
    env = {**os.environ, "SOURCE_DATE_EPOCH": EDITED}
    stop, results = tmp_path / "stop", tmp_path / "builds.json"
    builder = subprocess.Popen(
        [sys.executable, "-c", BUILD_LOOP, str(saved), str(saved.parent), str(stop), str(results)],
        env=env,
    )

    def edit(number: int) -> tuple[int, list[str], subprocess.CompletedProcess[str]]:
        verb, *rest = edits[number]
        args = [verb, str(saved), *rest, "--by", f"edit-{number:02d}"]
        done = subprocess.run(
            [sys.executable, "-m", "ketaplan", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return number, args, done

    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(edit, range(len(edits))))
    finally:
        stop.touch()
        builder.wait(timeout=120)
    builds = json.loads(results.read_text())

    unexpected = [
        (args, done.returncode, done.stderr)
        for _, args, done in outcomes
        if done.returncode not in (0, 2)
        or (done.returncode == 2 and len(done.stderr.splitlines()) != 1)
        or any(
            sign in done.stderr
            for sign in ("Traceback", "not valid JSON", "damaged", "another command", "cannot save")
        )
    ]
    assert [] == unexpected
    printed = {}
    for number, _, done in outcomes:
        if done.returncode == 0:
            found = re.fullmatch(rf"{PLAN_ID}: revision (\d+) \((.+)\)\n", done.stdout)
            assert found, done.stdout
            printed[f"edit-{number:02d}"] = int(found.group(1))
    assert len(printed) >= 20, "most edits apply in any order"
    final = ketaplan.load_plan(saved, now=NOW)
    assert list(range(1, len(final.history) + 1)) == [r.number for r in final.history]
    in_history = {
        tag: final.history[n - 1].by for tag, n in printed.items() if n <= len(final.history)
    }
    assert {tag: tag for tag in printed} == in_history
    refused = {f"edit-{n:02d}" for n, _, done in outcomes if done.returncode != 0}
    assert set() == refused & {r.by for r in final.history}
    assert builds, "the build loop ran"
    assert [] == [(code, err) for code, err in builds if code != 0]
    assert [] == leftovers(saved.parent)


# --- 4. killed edits --------------------------------------------------------------

KILL_COPIES = 4
KILLS_PER_COPY = 30


def _kill_trials(copy: Path, number: int, env: dict[str, str]) -> tuple[int, int]:
    """Start an edit on ``copy`` and SIGKILL it after a seeded random delay, again and again.

    The delays run from 0 to a little over the time one whole edit takes on this
    machine under this load (measured first), so kills land at every stage: while
    Python starts, while the plan is read, while the lock is held and while the
    new file is written. Returns (edits killed while running, edits that finished).
    """
    rng = random.Random(SEED + number)
    began = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "ketaplan", "dose", str(copy), "body_weight", "72 kg"],
        env=env,
        capture_output=True,
        check=True,
    )
    whole = time.monotonic() - began
    killed = finished = 0
    for trial in range(KILLS_PER_COPY):
        args = (
            ["dose", str(copy), "body_weight", f"{60 + trial} kg"]
            if trial % 2
            else ["defer", str(copy), "maintenance-03", "--days", "1", "--reason", "kill test"]
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "ketaplan", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0, 1.2 * whole))
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            killed += 1
        else:
            finished += 1
        worker.wait(timeout=60)
    return killed, finished


def test_killed_edits_leave_a_plan_that_loads(saved: Path, tmp_path: Path) -> None:
    """An edit killed at a random moment (120 edits, on four copies at once) leaves a plan that loads with revisions 1..n; the next edit succeeds and no temporary or lock file remains beside the plan."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": EDITED}
    copies = []
    for number in range(KILL_COPIES):
        folder = tmp_path / f"copy-{number}"
        folder.mkdir()
        copies.append(Path(shutil.copy(saved, folder / saved.name)))
    with concurrent.futures.ThreadPoolExecutor(KILL_COPIES) as pool:
        trials = list(pool.map(_kill_trials, copies, range(KILL_COPIES), [env] * KILL_COPIES))
    killed, finished = (sum(counts) for counts in zip(*trials, strict=True))
    assert KILL_COPIES * KILLS_PER_COPY == killed + finished
    assert killed >= 60, "most edits are killed while they run"
    assert finished >= 1, "the delays reach the end of an edit"
    for copy in copies:
        done = subprocess.run(
            [sys.executable, "-m", "ketaplan", "dose", str(copy), "infusion_minutes", "40 min"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert (0, "") == (done.returncode, done.stderr)
        listed = subprocess.run(
            [sys.executable, "-m", "ketaplan", "sessions", str(copy)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert (0, "") == (listed.returncode, listed.stderr)
        plan = ketaplan.load_plan(copy, now=NOW)
        assert list(range(1, len(plan.history) + 1)) == [r.number for r in plan.history]
        assert [] == leftovers(copy.parent)


# --- 5. file modes ----------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_edit_keeps_a_shared_plans_mode(saved: Path, epoch: Callable[[str], None]) -> None:
    """A saved plan with mode 0664 (shared with the clinic's group) keeps 0664 after an edit."""
    saved.chmod(0o664)
    epoch(EDITED)
    assert 0 == run("dose", saved, "body_weight", "72 kg")[0]
    assert oct(0o664) == oct(mode(saved))


def test_a_build_into_the_plans_folder_keeps_its_mode(
    saved: Path, epoch: Callable[[str], None]
) -> None:
    """A saved plan with mode 0664 keeps 0664 when it is built again into its own folder."""
    saved.chmod(0o664)
    epoch(EDITED)
    assert (0, "") == run("build", saved, "--out", saved.parent)[::2]
    assert oct(0o664) == oct(mode(saved))


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process's umask for one test."""
    previous = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002], ids=oct)
def test_new_files_follow_the_umask(
    mask: int, tmp_path: Path, umask: Callable[[int], None], epoch: Callable[[str], None]
) -> None:
    """Every file a build creates has the mode the umask gives a new file (0666 without the umask's bits)."""
    umask(mask)
    assert (0, "") == run("build", EXAMPLES / "iv-induction.toml", "--out", tmp_path / "out")[::2]
    modes = {p.name: oct(mode(p)) for p in (tmp_path / "out").iterdir()}
    assert dict.fromkeys(modes, oct(0o666 & ~mask)) == modes


@pytest.mark.parametrize("command", ["build", "demo"])
def test_private_writes_owner_only_files(
    command: str, tmp_path: Path, umask: Callable[[int], None], epoch: Callable[[str], None]
) -> None:
    """`--private` makes every file `build` or `demo` writes mode 0600, whatever the umask."""
    umask(0o002)
    out = tmp_path / "out"
    args = {
        "build": ["build", EXAMPLES / "iv-induction.toml", "--out", out, "--private"],
        "demo": ["demo", out, "--private"],
    }[command]
    assert (0, "") == run(*args)[::2]
    modes = {p.name: oct(mode(p)) for p in out.iterdir()}
    assert modes
    assert dict.fromkeys(modes, oct(0o600)) == modes


# --- free text anywhere -----------------------------------------------------------

TEXT_FIELDS = [
    ("clinic", "name"),
    ("clinic", "address"),
    ("clinic", "phone"),
    ("patient", "name"),
    ("patient", "ref"),
    ("clinic", "closures", 0, "reason"),
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=odd_texts(),
    where=st.sampled_from(TEXT_FIELDS),
    privacy=st.sampled_from(["minimal", "standard", "full"]),
)
def test_any_text_in_a_free_text_field_loads_renders_and_round_trips(
    text: str, where: tuple[str | int, ...], privacy: str, tmp_path: Path
) -> None:
    """Line breaks, NUL, emoji, right-to-left marks or iCalendar syntax in a clinic or patient text field: the plan loads (or fails with a readable error), every file renders, and the saved JSON loads back equal."""
    document = fuzzing.seed_document("iv-induction")
    document["calendar"]["privacy"] = privacy
    fuzzing._set(document, where, text)
    content = fuzzing.dumps(document).encode()
    path = fuzzing.prepare(tmp_path / "text", fuzzing.Case(SEED, "iv-induction", -1, (), content))
    try:
        plan = ketaplan.load_plan(path, now=NOW)
    except ketaplan.KetaplanError as error:
        problems = fuzzing.message_problems(str(error))
        plan = None
    else:
        problems = []
    assert [] == problems
    if plan is None:
        return
    files = render_outputs(plan, now=NOW)
    assert all(files.values())
    assert plan == ketaplan.plan_from_json(ketaplan.plan_to_json(plan))
