"""Compare a cold ``ketaplan build`` of an example with importing its two main libraries.

    python benchmarks/bench_coldstart.py --runs 7

Runs, in turn, ``ketaplan build examples/iv-induction.toml --out TMP`` (each
into a new folder) and ``python -c "import icalendar, jinja2"``, each as a new
process, and measures the CPU time (user + system) of each child with
``resource.getrusage(RUSAGE_CHILDREN)``. Prints the median of each and their
ratio, against the goal of at most 1.5. The first pair is a warm-up (it also
fills the compiled-template cache) and is not counted. The children run as on
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="counted runs of each (default 7)")
    runs = parser.parse_args().runs
    libraries = [sys.executable, "-c", "import icalendar, jinja2"]
    builds: list[float] = []
    imports: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(runs + 1):
            build = [sys.executable, "-m", "ketaplan", "build", str(EXAMPLE)]
            build_seconds = cpu_seconds([*build, "--out", str(Path(folder) / f"run-{run}")])
            import_seconds = cpu_seconds(libraries)
            if run > 0:
                builds.append(build_seconds)
                imports.append(import_seconds)
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


if __name__ == "__main__":
    main()
