"""Build a clinic's patients from a CSV in one batch, then run it again.

The CSV (examples/batch/patients.csv) gives one patient a row; each row's
cells replace the values of the template plan file (examples/batch/template.toml).
Every plan goes into its own folder under batch-out/. The second run finds
every plan's inputs and files unchanged and writes nothing.

    python examples/batch_clinic.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "batch"
OUT = Path("batch-out")


def batch(*arguments: str) -> str:
    """Run ``ketaplan batch`` and return what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "ketaplan", "batch", *arguments],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SOURCE_DATE_EPOCH": "1798761600"},
    )
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    return result.stdout


first = batch(
    str(HERE / "patients.csv"), "--template", str(HERE / "template.toml"), "--out", str(OUT)
)
print(first.splitlines()[-1])  # 6 plans: 6 written, 0 unchanged, 0 refused, 0 failed
for folder in sorted(OUT.iterdir()):
    print(folder.name, len([p for p in folder.iterdir() if not p.name.startswith(".")]), "files")

again = batch(
    str(HERE / "patients.csv"), "--template", str(HERE / "template.toml"), "--out", str(OUT)
)
assert "6 unchanged" in again.splitlines()[-1], again
print(again.splitlines()[-1])
