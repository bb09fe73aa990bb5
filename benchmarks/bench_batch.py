"""Time ``ketaplan batch`` on N one-year plans and print plans per second.

    python benchmarks/bench_batch.py --plans 10000

The plans come from a generated CSV of patients applied to a template plan
file: the four built-in protocols, three clinics (Toronto, London, Sydney),
start dates spread over a year, and different preferred weekdays and times.
Each plan runs for about a year and gets all seven files. The inputs are
written outside the timing; the batch runs through the same code as
``ketaplan batch`` on ``--jobs`` workers (default 2). The goal is 10,000
plans in under 60 seconds on two cores.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import tempfile
import time
from pathlib import Path

from ketaplan._batch import Outcome, run_batch

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
GOAL_SECONDS, GOAL_PLANS = 60.0, 10_000
CLINICS = (
    ("America/Toronto", "CA-ON"),
    ("Europe/London", "GB-ENG"),
    ("Australia/Sydney", "AU-NSW"),
)
#: Each protocol with the phase that carries it on for about a year: its interval (when
#: the clinician sets it) and number of sessions. im-kap's follow-ups reach 6 months.
PROTOCOLS = (
    ("esketamine-nasal", "maintenance", "2 weeks", "22"),
    ("iv-induction", "maintenance", "4 weeks", "12"),
    ("oral-sublingual", "every-two-weeks", "", "22"),
    ("im-kap", "", "", ""),
)
WEEKDAYS = ("MO WE FR", "TU FR", "TU TH", "MO TH", "WE FR")
TIMES = ("08:30", "09:30", "11:00", "13:30", "15:00")
TEMPLATE = """\
[plan]
id = "template"
protocol = "esketamine-nasal"
start = 2027-01-11
timezone = "America/Toronto"

[clinic]
name = "Benchmark Clinic"
chairs = 4
"""
COLUMNS = (
    "plan.id",
    "plan.protocol",
    "plan.start",
    "plan.timezone",
    "plan.weekdays",
    "plan.time",
    "clinic.holidays",
    "patient.ref",
    "phases.maintenance.interval",
    "phases.maintenance.sessions",
    "phases.every-two-weeks.sessions",
)


def write_inputs(folder: Path, count: int) -> tuple[Path, Path]:
    """A template plan file and a CSV of ``count`` patients in ``folder``."""
    template = folder / "template.toml"
    template.write_text(TEMPLATE, encoding="utf-8")
    patients = folder / "patients.csv"
    with patients.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for n in range(count):
            zone, holidays = CLINICS[n % len(CLINICS)]
            protocol, phase, interval, sessions = PROTOCOLS[(n // len(CLINICS)) % len(PROTOCOLS)]
            start = dt.date(2027, 1, 4) + dt.timedelta(days=(n * 7) % 365)
            cells = {
                "plan.id": f"bench-{n:05d}",
                "plan.protocol": protocol,
                "plan.start": start.isoformat(),
                "plan.timezone": zone,
                "plan.weekdays": WEEKDAYS[n % len(WEEKDAYS)],
                "plan.time": TIMES[(n // 3) % len(TIMES)],
                "clinic.holidays": holidays,
                "patient.ref": f"MRN-{n:05d}",
            }
            if sessions:
                cells[f"phases.{phase}.sessions"] = sessions
            if interval:
                cells[f"phases.{phase}.interval"] = interval
            writer.writerow([cells.get(column, "") for column in COLUMNS])
    return template, patients


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--plans", type=int, default=GOAL_PLANS, help="how many (default 10000)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        template, patients = write_inputs(folder, arguments.plans)
        out = folder / "out"
        cpu = time.process_time()
        summary = run_batch(patients, out, now=NOW, template=template, jobs=arguments.jobs)
        cpu = time.process_time() - cpu
        written = [r for r in summary.results if r.outcome is Outcome.WRITTEN]
        sizes = sum(p.stat().st_size for p in out.glob("*/*") if not p.name.startswith("."))
    problems = [r for r in summary.results if r.outcome is not Outcome.WRITTEN]
    print(
        f"{len(written)} of {arguments.plans} plans written on {arguments.jobs} workers"
        f" ({len(problems)} not written)"
    )
    for result in problems[:5]:
        print(f"  {result.source}: {result.outcome.value}: {result.message}")
    print(f"wall time:        {summary.seconds:8.1f} s")
    print(f"plans per second: {len(written) / summary.seconds:8.1f}")
    # The batch's own process reads the CSV and hands out the plans; its CPU is taken
    # from the same cores as the workers'.
    print(f"batch process:    {1000 * cpu / max(arguments.plans, 1):8.2f} ms CPU per plan")
    for pid, peak in sorted(summary.memory.items()):
        print(f"peak memory, worker {pid}: {peak / 1e6:6.1f} MB")
    print(f"bytes per plan:   {sizes / max(len(written), 1):8.0f}")
    projected = summary.seconds * GOAL_PLANS / max(arguments.plans, 1)
    print(
        f"goal: {GOAL_PLANS} plans in under {GOAL_SECONDS:.0f} s;"
        f" at this rate {GOAL_PLANS} take {projected:.0f} s"
    )


if __name__ == "__main__":
    main()
