"""Run the plan-file mutation fuzz with many cases and print a summary.

    python benchmarks/fuzz_nightly.py --cases 20000 --seed 7

The cases are the test suite's (tests/fuzzing.py): each example plan file,
its patient marked, mutated one to three times with a seeded random
generator, then loaded through the API and, for every ``--cli-every``-th
case, built with ``ketaplan build`` in-process. A case may load or fail, but
only with a readable ``KetaplanError`` (one short line naming a field, no
patient data, no Python repr); a build exits 0 or 2 with one ``error:`` line
and writes nothing. Exits 1 if any case fails; ``--save DIR`` writes each
failing plan file there to replay it with ``ketaplan build``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The repository root is on the path now, so the shared engine imports.
from tests import fuzzing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000, help="cases in all (default 20000)")
    parser.add_argument("--seed", type=int, default=0, help="the random seed (default 0)")
    parser.add_argument(
        "--cli-every",
        type=int,
        default=10,
        metavar="K",
        help="also build every K-th case with the command line (default 10; 0: never)",
    )
    parser.add_argument(
        "--example",
        action="append",
        choices=fuzzing.example_names(),
        help="fuzz only this example (repeatable; default all)",
    )
    parser.add_argument("--save", type=Path, metavar="DIR", help="write failing plan files here")
    parser.add_argument(
        "--show", type=int, default=3, metavar="N", help="cases shown per kind of failure"
    )
    arguments = parser.parse_args(argv)

    examples = arguments.example or fuzzing.example_names()
    per_example = max(1, arguments.cases // len(examples))
    every = arguments.cli_every
    started = time.monotonic()
    last = started

    def progress(report: fuzzing.Report) -> None:
        nonlocal last
        if time.monotonic() - last > 10:
            last = time.monotonic()
            print(
                f"  {report.cases} cases, {len(report.failures)} failures, {last - started:.0f} s",
                file=sys.stderr,
            )

    with tempfile.TemporaryDirectory(prefix="ketaplan-fuzz-") as folder:
        report = fuzzing.run(
            arguments.seed,
            examples,
            range(per_example),
            Path(folder),
            cli=lambda n: every > 0 and n % every == 0,
            progress=progress,
        )
    elapsed = time.monotonic() - started

    print(
        f"seed {arguments.seed}: {report.cases} cases ({report.cli_cases} also through "
        f"`ketaplan build`) from {len(examples)} examples in {elapsed:.0f} s"
    )
    print("outcomes:")
    for outcome, count in report.outcomes.most_common(25):
        print(f"  {count:6d}  {outcome}")
    if len(report.outcomes) > 25:
        print(f"  ... and {len(report.outcomes) - 25} more")
    if not report.failures:
        print("no failures")
        return 0
    failing = {f.case.label for f in report.failures}
    print(f"{len(report.failures)} failures in {len(failing)} cases, by kind:")
    for line in report.summary(arguments.show):
        print(line)
    if arguments.save is not None:
        arguments.save.mkdir(parents=True, exist_ok=True)
        saved = {failure.case.label: failure.case for failure in report.failures}
        for case in saved.values():
            name = f"{case.example}-{arguments.seed}-{case.number}.toml"
            (arguments.save / name).write_bytes(case.content)
        print(f"wrote {len(saved)} failing plan files to {arguments.save}")
        print("(a [busy] mutation may need examples/clinic-bookings.ics beside them)")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
