"""Write the esketamine example plan's documents with a clinic's own letterhead.

The templates in examples/custom-templates/ override the shipped ones by file
name: base.html.j2 there extends the shipped "ketaplan/base.html.j2" and
replaces only its header (a logo and contact details) and adds some CSS.

Run from any folder: the files go to ./custom-documents/.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ketaplan

HERE = Path(__file__).resolve().parent
NOW = dt.datetime(2027, 2, 1, 12, 0, tzinfo=dt.UTC)  # the generation time is an input

plan = ketaplan.load_plan(HERE / "esketamine-nasal.toml", now=NOW)
written = ketaplan.write_outputs(
    plan, "custom-documents", now=NOW, templates=HERE / "custom-templates"
)
for path in written:
    print(path)
