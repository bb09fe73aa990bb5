"""Compare a cold ``ketaplan build`` of an example with importing its two main libraries.

    python benchmarks/bench_coldstart.py --runs 7

Runs, in turn, ``ketaplan build examples/iv-induction.toml --out TMP`` (each
into a new folder) and ``python -c "import icalendar, jinja2"``, each as a new
process, and measures the CPU time (user + system) of each child with
``resource.getrusage(RUSAGE_CHILDREN)``. Prints the median of each and their
ratio, against the goal of at most 1.5. The first pair is a warm-up (it also
fills the compiled-template cache) and is not counted.

``--breakdown`` also times, in the same turns, how far a new process gets:
the two libraries and attrs, ``import ketaplan`` (its model classes are
attrs classes, whose methods attrs writes and compiles in every process),
and ``ketaplan --version`` (the command line and its parser). Each line
gives its median and its ratio to the libraries alone. A last line gives
the CPU time attrs spends making the classes a build imports (timed inside
a new process around attrs' class builder) and how many there are. The children run as on
a user's machine, where Python keeps the compiled bytecode of the modules it
imports: PYTHONDONTWRITEBYTECODE is removed from their environment.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "iv-induction.toml"
GOAL = 1.5
ENVIRONMENT = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def cpu_seconds(command: list[str]) -> float:
    """The CPU time (user + system) a child process running ``command`` used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=ENVIRONMENT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


#: Run in a new process: the CPU time attrs spends making the classes a build imports.
CLASS_COST = """
import time, attr._make as make
spent, count = [0.0], [0]
def timed(method):
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            spent[0] += time.process_time() - start
    return wrapper
make._ClassBuilder.__init__ = timed(make._ClassBuilder.__init__)
build = make._ClassBuilder.build_class
def counted(self):
    count[0] += 1
    return build(self)
make._ClassBuilder.build_class = timed(counted)
import ketaplan._cli, ketaplan._write, ketaplan.export.documents._render
print(spent[0], count[0])
"""


def class_cost() -> tuple[float, int]:
    """The CPU seconds attrs spends making the classes a build imports, and their number."""
    output = subprocess.run(
        [sys.executable, "-c", CLASS_COST],
        check=True,
        capture_output=True,
        text=True,
        env=ENVIRONMENT,
    ).stdout.split()
    return float(output[0]), int(output[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="counted runs of each (default 7)")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time the steps on the way to a build"
    )
    arguments = parser.parse_args()
    runs = arguments.runs
    libraries = [sys.executable, "-c", "import icalendar, jinja2"]
    steps = {
        "import icalendar, jinja2, attrs": [
            sys.executable,
            "-c",
            "import icalendar, jinja2, attrs",
        ],
        "import icalendar, jinja2, ketaplan": [
            sys.executable,
            "-c",
            "import icalendar, jinja2, ketaplan",
        ],
        "ketaplan --version": [sys.executable, "-m", "ketaplan", "--version"],
    }
    if not arguments.breakdown:
        steps = {}
    builds: list[float] = []
    imports: list[float] = []
    timed: dict[str, list[float]] = {name: [] for name in steps}
    with tempfile.TemporaryDirectory() as folder:
        for run in range(runs + 1):
            build = [sys.executable, "-m", "ketaplan", "build", str(EXAMPLE)]
            build_seconds = cpu_seconds([*build, "--out", str(Path(folder) / f"run-{run}")])
            import_seconds = cpu_seconds(libraries)
            step_seconds = {name: cpu_seconds(command) for name, command in steps.items()}
            if run > 0:
                builds.append(build_seconds)
                imports.append(import_seconds)
                for name, seconds in step_seconds.items():
                    timed[name].append(seconds)
    build_median = statistics.median(builds)
    import_median = statistics.median(imports)
    ratios = [b / i for b, i in zip(builds, imports, strict=True)]
    print(f"{runs} runs each, in turn; CPU seconds of each child process, median")
    print(f"ketaplan build {EXAMPLE.name}:  {build_median:.3f} s")
    print(f'python -c "import icalendar, jinja2": {import_median:.3f} s')
    print(
        f"ratio: {build_median / import_median:.2f}x (pair by pair, median "
        f"{statistics.median(ratios):.2f}x); goal: at most {GOAL}x"
    )
    for name, times in timed.items():
        median = statistics.median(times)
        print(f"  {name}: {median:.3f} s, {median / import_median:.2f}x")
    if arguments.breakdown:
        costs = [class_cost() for _ in range(runs)]
        median = statistics.median(cost for cost, _ in costs)
        print(
            f"  attrs making the {costs[0][1]} classes a build imports: {median:.3f} s,"
            f" {median / import_median:.2f}x"
        )


if __name__ == "__main__":
    main()
