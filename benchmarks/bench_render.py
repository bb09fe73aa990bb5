"""Time rendering each of a plan's files and print the CPU per plan, per file.

    python benchmarks/bench_render.py --rounds 15

The plans run for about a year: the four built-in protocols at three clinics
(Toronto, London, Sydney, each with its statutory holidays), in English and
in Canadian French, with a patient's name and reference. Each file is
rendered on its own (``render_ics``, ``plan_to_json``, the four documents)
and so is everything ``render_outputs`` gives (the seven files together).
Every round has plans of its own (other ids and start dates), as a batch
has, and ``render_outputs`` is timed on other plans than the files alone,
so that no figure gains from a cache that the same plan filled just
before. The renderers take turns plan by plan within each round, so that a
change in the machine's load falls on all of them alike; each figure is the
median over the rounds of the CPU time per plan (``time.process_time``), in
milliseconds, for each language. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ketaplan
from ketaplan._serialize import plan_to_json
from ketaplan._write import render_outputs

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
LANGUAGES = ("en", "fr-CA")
CLINICS = (
    ("America/Toronto", "CA-ON"),
    ("Europe/London", "GB-ENG"),
    ("Australia/Sydney", "AU-NSW"),
)
#: Each protocol with the phase table that carries it on for about a year.
PROTOCOLS = (
    ("esketamine-nasal", '[phases.maintenance]\ninterval = "2 weeks"\nsessions = 22\n'),
    ("iv-induction", '[phases.maintenance]\ninterval = "4 weeks"\nsessions = 12\n'),
    ("oral-sublingual", "[phases.every-two-weeks]\nsessions = 22\n"),
    ("im-kap", ""),
)
PLAN = """\
[plan]
id = "{id}"
protocol = "{protocol}"
start = {start}
timezone = "{zone}"
weekdays = ["TU", "FR"]
time = "09:30"
language = "{language}"

[patient]
name = "Sam Rivera"
ref = "MRN-{number:05d}"

[clinic]
name = "Lakeside Wellness Clinic"
address = "100 Queen St W"
holidays = "{holidays}"
chairs = 4

{phases}"""


def plans(language: str, series: int = 0) -> list[ketaplan.Plan]:
    """One-year plans of every built-in protocol at every clinic, in ``language``; each
    ``series`` has ids and start dates of its own."""
    found = []
    with tempfile.TemporaryDirectory() as scratch:
        for number, ((zone, holidays), (protocol, phases)) in enumerate(
            (clinic, protocol) for clinic in CLINICS for protocol in PROTOCOLS
        ):
            path = Path(scratch) / f"plan-{number}.toml"
            start = dt.date(2027, 1, 11) + dt.timedelta(days=(series * 11 + number * 5) % 365)
            path.write_text(
                PLAN.format(
                    id=f"bench-{series:03d}-{number:02d}",
                    protocol=protocol,
                    zone=zone,
                    holidays=holidays,
                    language=language,
                    number=number,
                    phases=phases,
                    start=start.isoformat(),
                ),
                encoding="utf-8",
            )
            found.append(ketaplan.load_plan(path, now=NOW))
    return found


#: Each file's renderer, and all of them together, by the name printed.
RENDERERS: dict[str, Callable[[ketaplan.Plan], object]] = {
    "patient .ics": lambda plan: ketaplan.render_ics(plan, now=NOW),
    "clinic .ics": lambda plan: ketaplan.render_ics(plan, now=NOW, audience="clinic"),
    "plan .json": plan_to_json,
    "patient .html": lambda plan: ketaplan.render_patient_html(plan, now=NOW),
    "patient .md": lambda plan: ketaplan.render_patient_markdown(plan, now=NOW),
    "clinician .html": lambda plan: ketaplan.render_clinician_html(plan, now=NOW),
    "clinician .md": lambda plan: ketaplan.render_clinician_markdown(plan, now=NOW),
    "render_outputs": lambda plan: render_outputs(plan, now=NOW),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds (default 15)")
    rounds = parser.parse_args().rounds
    alone = {name: renderer for name, renderer in RENDERERS.items() if name != "render_outputs"}
    timings: dict[tuple[str, str], list[float]] = {
        (tag, name): [] for tag in LANGUAGES for name in RENDERERS
    }
    sessions: list[int] = []
    for series in range(rounds + 1):  # the first round warms up: templates compiled
        for tag in LANGUAGES:
            each, together = plans(tag, 2 * series), plans(tag, 2 * series + 1)
            sessions.extend(len(plan.sessions) for plan in each)
            spent = dict.fromkeys(RENDERERS, 0.0)
            for plan, other in zip(each, together, strict=True):
                for name, renderer in alone.items():
                    started = time.process_time()
                    renderer(plan)
                    spent[name] += time.process_time() - started
                started = time.process_time()
                RENDERERS["render_outputs"](other)
                spent["render_outputs"] += time.process_time() - started
            if series:
                for name, seconds in spent.items():
                    timings[tag, name].append(seconds * 1000 / len(each))
    count = len(CLINICS) * len(PROTOCOLS)
    print(
        f"{count} one-year plans per language and round, "
        f"{statistics.mean(sessions):.0f} sessions on average;"
    )
    print(f"CPU per plan in ms, median of {rounds} rounds")
    print(f"{'file':<18}" + "".join(f"{tag:>10}" for tag in LANGUAGES))
    totals = dict.fromkeys(LANGUAGES, 0.0)
    for name in RENDERERS:
        if name == "render_outputs":
            print("-" * (18 + 10 * len(LANGUAGES)))
            print(
                f"{'the seven, summed':<18}" + "".join(f"{totals[tag]:10.2f}" for tag in LANGUAGES)
            )
        medians = {tag: statistics.median(timings[tag, name]) for tag in LANGUAGES}
        if name != "render_outputs":
            for tag in LANGUAGES:
                totals[tag] += medians[tag]
        print(f"{name:<18}" + "".join(f"{medians[tag]:10.2f}" for tag in LANGUAGES))


if __name__ == "__main__":
    main()
