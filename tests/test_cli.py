"""The command line, run in-process: outputs, exit codes and one-line errors."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ketaplan._cli import main

from .test_ics import PLANS

FILES = [
    "{id}.ics",
    "{id}-clinic.ics",
    "{id}.json",
    "{id}-patient.html",
    "{id}-patient.md",
    "{id}-clinician.html",
    "{id}-clinician.md",
]


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _fixed_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")


def test_protocols_lists_each_builtin_name_first() -> None:
    """`ketaplan protocols` prints one protocol per line, its name first."""
    code, out, _ = run("protocols")
    names = [line.split("\t")[0] for line in out.splitlines()]
    assert (code, names) == (0, ["esketamine-nasal", "im-kap", "iv-induction", "oral-sublingual"])


def test_demo_writes_every_file(tmp_path: Path) -> None:
    """`ketaplan demo OUTDIR` writes the seven files of the built-in example and lists them."""
    code, out, err = run("demo", str(tmp_path))
    written = sorted(p.name for p in tmp_path.iterdir())
    assert (code, err) == (0, "")
    assert sorted(name.format(id="demo-iv-0001") for name in FILES) == written
    assert sorted(out.split()) == sorted(str(tmp_path / name) for name in written)


def test_build_is_byte_identical_with_source_date_epoch(tmp_path: Path) -> None:
    """Two builds with the same SOURCE_DATE_EPOCH give byte-identical files."""
    assert run("build", str(PLANS[0]), "--out", str(tmp_path / "a"))[0] == 0
    assert run("build", str(PLANS[0]), "--out", str(tmp_path / "b"))[0] == 0
    first = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    second = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert first == second


def test_build_accepts_saved_json(tmp_path: Path) -> None:
    """`ketaplan build` takes a saved plan JSON as well as a TOML plan file."""
    run("build", str(PLANS[0]), "--out", str(tmp_path / "a"))
    saved = next((tmp_path / "a").glob("*.json"))
    code, _, err = run("build", str(saved), "--out", str(tmp_path / "b"))
    assert (code, err) == (0, "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["build", "missing.toml", "--out", "{out}"],
            "error: plan file: got 'missing.toml'; no such file",
        ),
        (["build", "{bad}", "--out", "{out}"], "error: plan.protocol: got 'nope'"),
        (["build"], "error: the following arguments are required: PLANFILE, --out"),
        (["frobnicate"], "error: argument COMMAND: invalid choice: 'frobnicate'"),
    ],
)
def test_errors_are_one_line_exit_2_and_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Bad input prints one `error: ...` line, exits 2 and leaves the output folder empty."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[plan]\nid = "x"\nprotocol = "nope"\nstart = 2027-01-11\ntimezone = "UTC"\n')
    out = tmp_path / "out"
    code, stdout, stderr = run(*(a.format(out=out, bad=bad) for a in args))
    assert code == 2
    assert stdout == ""
    assert len(stderr.splitlines()) == 1
    assert stderr.startswith(message)
    assert not out.exists() or list(out.iterdir()) == []


def test_bad_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SOURCE_DATE_EPOCH that is not a number of seconds is a clear error."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    code, _, err = run("demo", str(tmp_path))
    assert (code, err) == (
        2,
        "error: SOURCE_DATE_EPOCH: got 'yesterday'; expected whole seconds since 1970-01-01 UTC, e.g. 1798761600\n",
    )


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    """An output path that is a file is reported in one line and no temporary file is left."""
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    code, _, err = run("demo", str(blocker))
    assert code == 2
    assert err.startswith("error: --out: cannot create the folder")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_python_dash_m_runs_without_traceback(tmp_path: Path) -> None:
    """`python -m ketaplan` runs the same command line and prints no traceback on bad input."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1795000000"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ketaplan",
            "build",
            str(tmp_path / "none.toml"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")


CHRISTMAS = """\
[plan]
id = "xmas"
protocol = "esketamine-nasal"
start = 2026-11-27
timezone = "America/Toronto"
weekdays = ["TU", "FR"]
time = "09:30"

[clinic]
name = "Lakeside"
holidays = "CA-ON"
consecutive_days = false
"""


def test_check_prints_sessions_moves_and_pending_and_writes_nothing(tmp_path: Path) -> None:
    """`ketaplan check` prints each session's clinic date, every move with its reason
    and the pending phases, and writes no file."""
    planfile = tmp_path / "plan.toml"
    planfile.write_text(CHRISTMAS, encoding="utf-8")
    code, out, err = run("check", str(planfile))
    assert (0, "") == (code, err)
    lines = out.splitlines()
    assert "induction-08\tdosing\tThu 2026-12-24 09:30\tscheduled" in lines
    moved = lines.index("induction-08\tdosing\tThu 2026-12-24 09:30\tscheduled")
    assert [
        "\tmoved (planned 2026-12-25):",
        "\t\tFri 25 Dec 2026: statutory holiday: Christmas Day (CA-ON)",
    ] == lines[moved + 1 : moved + 3]
    assert (
        "pending\tphase 'maintenance' is not dated: the clinician sets the interval (the protocol allows 1-2 weeks)"
        in lines
    )
    assert "xmas: 13 sessions (1 moved), pending phases: 1; nothing written" == lines[-1]
    assert ["plan.toml"] == sorted(p.name for p in tmp_path.iterdir())


def test_check_reads_a_saved_plan(tmp_path: Path) -> None:
    """`ketaplan check PLAN.json` previews a saved plan with its sessions' status."""
    planfile = tmp_path / "plan.toml"
    planfile.write_text(CHRISTMAS, encoding="utf-8")
    assert 0 == run("build", str(planfile), "--out", str(tmp_path / "out"))[0]
    saved = tmp_path / "out" / "xmas.json"
    assert 0 == run("omit", str(saved), "induction-02", "--reason", "travel")[0]
    before = saved.read_bytes()
    code, out, _ = run("check", str(saved))
    assert 0 == code
    assert "induction-02\tdosing\tFri 2026-12-04 09:30\tcancelled" in out.splitlines()
    assert before == saved.read_bytes()


def test_check_prints_a_conflict_as_one_error_line(tmp_path: Path) -> None:
    """A plan that cannot be dated is one `error:` line naming the session, exit 2."""
    planfile = tmp_path / "plan.toml"
    planfile.write_text(
        CHRISTMAS.replace(
            "consecutive_days = false\n",
            'consecutive_days = false\nclosures = [{ first = 2026-12-01, last = 2027-03-31, reason = "renovation" }]\n',
        ),
        encoding="utf-8",
    )
    code, out, err = run("check", str(planfile))
    assert (2, "") == (code, out)
    assert err.startswith("error: ")
    assert "cannot schedule session 'induction-" in err
    assert "closed: renovation" in err
    assert 1 == len(err.splitlines())
    assert ["plan.toml"] == sorted(p.name for p in tmp_path.iterdir())


class _ClosedPipe(io.StringIO):
    """Standard output whose reader has gone away, as under `ketaplan check PLAN | head`."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_stops_early_gets_no_error_line() -> None:
    """When the program reading the output stops (a pipe into `head`), the command prints
    no `error:` line and exits as a program stopped by SIGPIPE does (128 + 13)."""
    err = io.StringIO()
    plan = Path(__file__).parent.parent / "examples" / "iv-induction.toml"
    assert 141 == main(["check", str(plan)], stdout=_ClosedPipe(), stderr=err)
    assert "" == err.getvalue()


COMMANDS = [
    "protocols",
    "demo",
    "check",
    "build",
    "publish",
    "invite",
    "batch",
    "sessions",
    "history",
    "reschedule",
    "defer",
    "omit",
    "miss",
    "complete",
    "cease",
    "dose",
    "finalise",
]
COMMAND_LINES = [
    [],
    ["--help"],
    ["--version"],
    ["nosuch"],
    ["bu"],
    *([command, "--help"] for command in COMMANDS),
    *([command] for command in COMMANDS[1:]),  # each but `protocols` needs an argument
    *([command, "--bogus", "a", "b"] for command in COMMANDS),
    ["build", "x.toml"],
    ["build", "--out"],
    ["build", "-h", "extra"],
    ["demo", "--priv"],
    ["batch", "x", "--out", "y", "--jobs", "0"],
    ["invite", "p.json", "--to", "a", "--out", "d", "--smtp", "h:1"],
    ["invite", "p.json", "--to", "a"],
    ["defer", "p.json", "k", "--reason", "r", "--days", "x"],
]
HELP_GOLDEN = Path(__file__).parent / "data" / "cli-help.txt"


def _transcript(capsys: pytest.CaptureFixture[str]) -> str:
    """What each of COMMAND_LINES prints, on stdout and stderr, and its exit status."""
    parts = []
    for line in COMMAND_LINES:
        code, out, err = run(*line)
        captured = capsys.readouterr()  # argparse prints help and the version to sys.stdout
        parts.append(f"$ ketaplan {' '.join(line)}\n{captured.out}{out}{err}exit {code}\n")
    return "".join(parts)


def test_help_usage_and_errors_of_every_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ketaplan --help`, each command's help and the errors of bad command lines read as in
    tests/data/cli-help.txt (written with Python 3.11), byte for byte: every command is
    listed with its help line, and each command's usage, arguments and messages stay the
    same however the parser is made."""
    monkeypatch.setenv("COLUMNS", "80")
    expected, transcript = HELP_GOLDEN.read_text(encoding="utf-8"), _transcript(capsys)
    if sys.version_info >= (3, 13):  # argparse lays help out in other columns: the same words
        expected, transcript = " ".join(expected.split()), " ".join(transcript.split())
    assert expected == transcript
