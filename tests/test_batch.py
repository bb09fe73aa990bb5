"""``ketaplan batch``: many plans, each complete or untouched, with a summary and reruns."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ketaplan
from ketaplan._batch import MANIFEST, Progress, intact
from ketaplan._cli import main

from .conftest import EXAMPLES, NOW

BATCH = EXAMPLES / "batch"
EPOCH = "1798761600"
OUTPUTS = 7


@pytest.fixture(autouse=True)
def _epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def run(*arguments: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(["batch", *map(str, arguments)], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def plans(tmp_path: Path) -> Path:
    """A copy of the example's dozen plan files."""
    folder = tmp_path / "plans"
    shutil.copytree(BATCH / "plans", folder)
    return folder


def folders(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def complete(folder: Path) -> bool:
    """Whether ``folder`` holds a plan's seven files, each as its manifest lists it."""
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    return (
        names == sorted(manifest["outputs"])
        and len(names) == OUTPUTS
        and intact(folder, manifest["inputs"])
    )


def failures(stdout: str) -> list[str]:
    return [line.split(": ", 1)[0] for line in stdout.splitlines() if ".toml: " in line]


def test_a_dozen_plans_with_two_bad_ones_reports_exactly_those_two(tmp_path: Path) -> None:
    """Two bad plans among a dozen are reported by source, one refused and one failed,
    and the other twelve are written; the exit status is 1."""
    source = plans(tmp_path)
    text = (source / "london-0005.toml").read_text(encoding="utf-8")
    (source / "bad-date.toml").write_text(
        text.replace('id = "london-0005"', 'id = "bad-date"').replace(
            "start = 2027-03-01", 'start = "next week"'
        ),
        encoding="utf-8",
    )
    closed = '\nclosures = [{ first = 2027-01-01, last = 2031-12-31, reason = "renovation" }]\n'
    (source / "closed.toml").write_text(
        text.replace('id = "london-0005"', 'id = "closed-0001"').replace(
            "chairs = 2\n", "chairs = 2" + closed
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"

    status, stdout, _ = run(source, "--out", out, "--jobs", "2")

    assert 1 == status
    assert [str(source / "bad-date.toml"), str(source / "closed.toml")] == failures(stdout)
    assert "14 plans: 12 written, 0 unchanged, 1 refused, 1 failed" in stdout
    assert sorted(p.stem for p in (BATCH / "plans").glob("*.toml")) == folders(out)
    assert all(complete(out / name) for name in folders(out))


def test_a_second_run_writes_nothing(tmp_path: Path) -> None:
    """Run again on the same inputs, every plan is unchanged and no file is touched."""
    source, out = plans(tmp_path), tmp_path / "out"
    assert 0 == run(source, "--out", out, "--jobs", "2")[0]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}

    status, stdout, _ = run(source, "--out", out, "--jobs", "2")

    assert (0, "12 plans: 0 written, 12 unchanged, 0 refused, 0 failed") == (
        status,
        stdout.splitlines()[-1],
    )
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*")}


def test_a_changed_plan_file_or_a_damaged_folder_is_built_again(tmp_path: Path) -> None:
    """A plan whose file changed, or whose output was changed or removed, is written again;
    the others stay unchanged."""
    source, out = plans(tmp_path), tmp_path / "out"
    run(source, "--out", out, "--jobs", "1")
    changed = source / "toronto-0002.toml"
    changed.write_text(changed.read_text().replace('"10:00"', '"11:00"'), encoding="utf-8")
    (out / "london-0006" / "london-0006-patient.md").unlink()

    status, stdout, _ = run(source, "--out", out, "--jobs", "1")

    assert (0, "12 plans: 2 written, 10 unchanged, 0 refused, 0 failed") == (
        status,
        stdout.splitlines()[-1],
    )
    assert (out / "london-0006" / "london-0006-patient.md").is_file()
    assert "T110000" in (out / "toronto-0002" / "toronto-0002.ics").read_text()


def test_a_saved_plan_changed_since_its_build_keeps_its_changes(tmp_path: Path) -> None:
    """A plan folder whose saved plan a clinician changed is rebuilt around the change,
    never overwritten: the omitted session stays omitted."""
    source, out = plans(tmp_path), tmp_path / "out"
    run(source, "--out", out, "--jobs", "1")
    saved = out / "toronto-0002" / "toronto-0002.json"
    assert 0 == main(
        ["omit", str(saved), "induction-03", "--reason", "unwell"],
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )

    status, stdout, _ = run(source, "--out", out, "--jobs", "1")

    assert (0, "12 plans: 1 written, 11 unchanged, 0 refused, 0 failed") == (
        status,
        stdout.splitlines()[-1],
    )
    plan = ketaplan.plan_from_json(saved.read_text(encoding="utf-8"))
    assert "cancelled" == next(s for s in plan.sessions if s.key == "induction-03").status.value
    assert "omit" in [revision.action for revision in plan.history]


def test_a_batch_killed_half_way_leaves_no_partial_folder_and_finishes_next_time(
    tmp_path: Path,
) -> None:
    """SIGKILL once the first plan folder appears: every plan folder there is complete,
    and the next run removes the leftovers and writes the rest."""
    source, out = plans(tmp_path), tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "ketaplan", "batch", str(source), "--out", str(out)]
    process = subprocess.Popen([*command, "--jobs", "1", "--quiet"])
    deadline = time.monotonic() + 60
    while not [p for p in out.iterdir() if not p.name.startswith(".")]:
        assert time.monotonic() < deadline
        assert process.poll() is None
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = [p for p in out.iterdir() if not p.name.startswith(".")]

    assert -signal.SIGKILL == process.returncode
    assert 1 <= len(written) < 12
    assert all(complete(folder) for folder in written)

    result = subprocess.run([*command, "--jobs", "2"], capture_output=True, text=True, check=False)

    assert 0 == result.returncode, result.stdout
    assert sorted(p.stem for p in source.glob("*.toml")) == folders(out)
    assert all(complete(out / name) for name in folders(out))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_a_killed_worker_costs_no_plan(tmp_path: Path) -> None:
    """A worker process killed mid-batch is replaced and its plans built again: the batch
    still writes every plan, each folder complete, and no temporary folder is left."""
    source, out = plans(tmp_path), tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "ketaplan", "batch", str(source), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + 60
    while not children.read_text().split():
        assert time.monotonic() < deadline
        time.sleep(0.005)
    while not list(out.iterdir()):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(int(children.read_text().split()[0]), signal.SIGKILL)
    stdout, stderr = process.communicate()

    assert 0 == process.returncode, stdout + stderr
    assert sorted(p.stem for p in source.glob("*.toml")) == sorted(p.name for p in out.iterdir())
    assert all(complete(out / name) for name in folders(out))


def test_sigterm_stops_the_batch_with_a_summary_and_no_partial_folder(tmp_path: Path) -> None:
    """SIGTERM stops dispatching; the plans being written finish, the summary is printed
    and the exit status is 143."""
    source, out = plans(tmp_path), tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "ketaplan", "batch", str(source), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not [p for p in out.iterdir() if not p.name.startswith(".")]:
        assert time.monotonic() < deadline
        assert process.poll() is None
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate()

    assert 143 == process.returncode
    assert "(stopped by SIGTERM)" in stdout
    assert all(complete(out / name) for name in folders(out) if not name.startswith("."))


def test_progress_is_plain_lines_when_not_on_a_terminal(tmp_path: Path) -> None:
    """Not on a terminal, progress is whole lines (no carriage returns), ending at 100%."""
    status, stdout, _ = run(plans(tmp_path), "--out", tmp_path / "out", "--jobs", "1")
    lines = stdout.splitlines()

    assert 0 == status
    assert "\r" not in stdout
    assert lines[0].startswith("batch: ")
    assert "batch: 12/12 plans (100%)" in [line.split(",")[0] for line in lines]


def test_progress_on_a_terminal_redraws_one_bar() -> None:
    """On a terminal the bar is redrawn in place with plans done, rate and time left."""
    stream = io.StringIO()
    progress = Progress(stream, 4, terminal=True)
    for _ in range(4):
        progress.advance(1)
    progress.finish()

    assert "\n" == stream.getvalue()[-1]
    assert "\n" not in stream.getvalue()[:-1]
    assert "4/4 plans" in stream.getvalue().split("\r")[-1]
    assert "left" in stream.getvalue().split("\r")[-1]


def test_quiet_prints_only_the_failures(tmp_path: Path) -> None:
    """--quiet prints neither progress nor counts; failures still get their line."""
    source = plans(tmp_path)
    (source / "broken.toml").write_text("[plan\n", encoding="utf-8")

    status, stdout, _ = run(source, "--out", tmp_path / "out", "--quiet", "--jobs", "1")

    assert 1 == status
    assert [str(source / "broken.toml")] == [line.split(": ")[0] for line in stdout.splitlines()]


def test_duplicate_plan_ids_fail_the_second_naming_both(tmp_path: Path) -> None:
    """Two plan files with one id: the second fails and its message names the first."""
    source = plans(tmp_path)
    shutil.copy(source / "sydney-0009.toml", source / "zz-copy.toml")

    status, stdout, _ = run(source, "--out", tmp_path / "out", "--jobs", "1")

    assert 1 == status
    line = next(line for line in stdout.splitlines() if line.startswith(str(source / "zz")))
    assert str(source / "sydney-0009.toml") in line


# -- the CSV ----------------------------------------------------------------------------

HEADER = "plan.id,plan.start,patient.name,patient.ref,plan.weekdays,plan.time\n"


def csv_batch(tmp_path: Path, text: str, *more: str) -> tuple[int, str, str]:
    path = tmp_path / "patients.csv"
    path.write_text(text, encoding="utf-8")
    return run(path, "--template", BATCH / "template.toml", "--out", tmp_path / "out", *more)


def test_csv_rows_override_the_template(tmp_path: Path) -> None:
    """Each row is a plan: its cells replace the template's keys, weekdays written with a
    space or a comma, an empty cell keeps the template's value."""
    text = HEADER + (
        'p-1,2027-01-11,Ana Lima,MRN-1,TU FR,09:30\np-2,2027-01-12,Ben Ode,MRN-2,"WE,TH",\n'
    )
    status, _, _ = csv_batch(tmp_path, "\ufeff" + text, "--jobs", "1")

    one = ketaplan.plan_from_json((tmp_path / "out/p-1/p-1.json").read_text(encoding="utf-8"))
    two = ketaplan.plan_from_json((tmp_path / "out/p-2/p-2.json").read_text(encoding="utf-8"))
    assert 0 == status
    assert ("Ana Lima", "MRN-1", "TU FR") == (
        one.patient.name,
        one.patient.ref,
        " ".join(d.name for d in one.preferences.weekdays),
    )
    assert ("WE TH", "09:30") == (
        " ".join(d.name for d in two.preferences.weekdays),
        two.preferences.time.strftime("%H:%M"),
    )


def test_csv_with_a_byte_order_mark_reads_its_first_column(tmp_path: Path) -> None:
    """A CSV saved with a UTF-8 byte-order mark (as spreadsheets do) reads like one without."""
    text = "\ufeff" + HEADER + "p-1,2027-01-11,Ana,MRN-1,TU FR,09:30\n"
    assert 0 == csv_batch(tmp_path, text, "--jobs", "1")[0]
    assert ["p-1"] == folders(tmp_path / "out")


def test_an_unknown_column_is_a_usage_error_suggesting_the_key(tmp_path: Path) -> None:
    """An unknown column stops the command (exit 2) before anything is written, naming the
    column and the nearest key."""
    status, _, stderr = csv_batch(tmp_path, "plan.id,plan.strat\np-1,2027-01-11\n")

    assert 2 == status
    assert "'plan.strat'" in stderr
    assert "did you mean 'plan.start'?" in stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_cell_fails_its_row_naming_row_and_column_not_the_value(tmp_path: Path) -> None:
    """A bad cell fails that row's plan: the line names the row and the column and what
    would be valid, never the cell's (personal) value; the other rows are written."""
    text = HEADER + (
        "p-1,2027-01-11,Ana Lima,MRN-1,TU FR,09:30\n"
        "p-2,2027-02-30,Ben Ode,MRN-2,TU FR,09:30\n"
        "p-3,2027-01-11,Chloé Zed,MRN-3,TU XX,09:30\n"
        "Dana Roe,2027-01-11,Dana Roe,MRN-4,TU FR,09:30\n"
    )
    status, stdout, _ = csv_batch(tmp_path, text, "--jobs", "1")
    csv_path = tmp_path / "patients.csv"
    lines = [line for line in stdout.splitlines() if line.startswith(str(csv_path))]

    assert 1 == status
    assert [f"{csv_path} row 3: column plan.start: expected a date such as 2027-01-11"] == lines[:1]
    assert lines[1].startswith(f"{csv_path} row 4: column plan.weekdays: ")
    assert lines[2].startswith(f"{csv_path} row 5: column plan.id: ")
    assert "XX" not in stdout
    assert "Dana" not in stdout
    assert "2027-02-30" not in stdout
    assert "Ben" not in stdout
    assert "Chlo" not in stdout
    assert ["p-1"] == folders(tmp_path / "out")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["missing"], "SOURCE: got"),
        (["patients.csv"], "--template"),
        (["plan.txt"], "expected a folder of plan files"),
        (["plans", "--template", "t.toml"], "--template"),
        (["plans", "--jobs", "0"], "--jobs"),
    ],
)
def test_a_misused_command_exits_2_with_one_error_line(
    tmp_path: Path, arguments: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing SOURCE, a CSV without --template, a SOURCE of another kind, --template
    with a folder, or a bad --jobs is one error line and exit status 2; nothing is written."""
    monkeypatch.chdir(tmp_path)
    plans(tmp_path)
    Path("patients.csv").write_text(HEADER, encoding="utf-8")
    Path("plan.txt").write_text("", encoding="utf-8")

    status, stdout, stderr = run(*arguments, "--out", "out")

    assert (2, "", 1) == (status, stdout, len(stderr.splitlines()))
    assert stderr.startswith("error: ")
    assert expected in stderr
    assert not Path("out").exists()


def test_an_out_that_is_a_file_exits_2(tmp_path: Path) -> None:
    """--out naming a file is the command's misuse."""
    (tmp_path / "out").write_text("", encoding="utf-8")
    status, _, stderr = run(plans(tmp_path), "--out", tmp_path / "out")
    assert (2, "error: --out") == (status, stderr[:12])


# -- bookings ------------------------------------------------------------------------------


def crowded(tmp_path: Path) -> Path:
    """A CSV of four patients of a one-chair clinic, all wanting the same days and time."""
    rows = "".join(f"c-{n:02d},2027-01-11,,,TU FR,09:30\n" for n in range(4))
    path = tmp_path / "crowded.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    template = tmp_path / "one-chair.toml"
    template.write_text(
        (BATCH / "template.toml").read_text(encoding="utf-8").replace("chairs = 2", "chairs = 1"),
        encoding="utf-8",
    )
    return path


def test_bookings_are_made_in_a_stable_order_and_never_overbook(tmp_path: Path) -> None:
    """With --bookings, one worker or two give the same bytes, and no moment holds more
    dosing sessions than the clinic has chairs, counting the bookings folder's plans."""
    source = crowded(tmp_path)
    template = tmp_path / "one-chair.toml"
    booked = tmp_path / "booked"
    existing = ketaplan.load_plan(template, now=NOW)
    ketaplan.write_outputs(existing, booked, now=NOW)
    for jobs in ("1", "2"):
        status, stdout, _ = run(
            source, "--template", template, "--bookings", booked, "--out", tmp_path / jobs,
            "--jobs", jobs,
        )  # fmt: skip
        assert (0, "4 plans: 4 written, 0 unchanged, 0 refused, 0 failed") == (
            status,
            stdout.splitlines()[-1],
        )

    files = sorted(p.relative_to(tmp_path / "1") for p in (tmp_path / "1").rglob("*.*"))
    assert files == sorted(p.relative_to(tmp_path / "2") for p in (tmp_path / "2").rglob("*.*"))
    assert all(
        (tmp_path / "1" / f).read_bytes() == (tmp_path / "2" / f).read_bytes() for f in files
    )
    ledger = ketaplan.Ledger({"chair": 1}).book(existing)
    for path in sorted((tmp_path / "1").glob("*/c-*.json")):
        ledger = ledger.book(ketaplan.plan_from_json(path.read_text(encoding="utf-8")))
    assert 5 == len(ledger.plan_ids)


def test_bookings_rerun_counts_the_unchanged_plans(tmp_path: Path) -> None:
    """Run again with --bookings, every plan is unchanged: the plans skipped still hold
    their chairs, so the plans after them are laid exactly as before."""
    source = crowded(tmp_path)
    template = tmp_path / "one-chair.toml"
    booked = tmp_path / "booked"
    booked.mkdir()
    arguments = (source, "--template", template, "--bookings", booked, "--out", tmp_path / "out")
    run(*arguments, "--jobs", "1")

    status, stdout, _ = run(*arguments, "--jobs", "1")

    assert (0, "4 plans: 0 written, 4 unchanged, 0 refused, 0 failed") == (
        status,
        stdout.splitlines()[-1],
    )


@pytest.mark.parametrize(
    "outputs",
    [{}, {"p.ics": b"BEGIN", "p.json": b"{}", "p-clinic.ics": b"", "Zoë.md": b"\xc3\xa9"}],
    ids=["no files", "files"],
)
def test_a_manifest_is_what_json_writes_for_it(outputs: dict[str, bytes]) -> None:
    """A plan folder's manifest is byte for byte json.dumps(indent=2, sort_keys=True) of its
    format, inputs digest, version and each file's sha256."""
    import hashlib

    from ketaplan import __version__
    from ketaplan._batch import _manifest

    manifest = {
        "format": "ketaplan.batch",
        "version": 1,
        "ketaplan": __version__,
        "inputs": "d" * 64,
        "outputs": {name: hashlib.sha256(data).hexdigest() for name, data in outputs.items()},
    }
    expected = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    assert expected.encode() == _manifest(outputs, "d" * 64)
