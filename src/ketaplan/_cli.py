"""The ``ketaplan`` command line: a thin layer over the library.

Exit 0 on success; 2 on bad input, with one line ``error: ...`` on stderr and
no file written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import NoReturn, TextIO

from . import __version__
from ._library import builtin_protocols
from ._planfile import load_plan
from ._publish import publish
from ._revise import reconcile
from ._write import write_outputs
from .exceptions import KetaplanError, SpecError

__all__ = ["main"]

DEMO_FILE = "demo.toml"
PASSWORD_VARIABLE = "KETAPLAN_CALDAV_PASSWORD"


class _UsageError(Exception):
    """A command line argparse rejected; printed as one ``error:`` line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see 'ketaplan --help')")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ketaplan",
        description="Turn ketamine and esketamine treatment protocols and a clinic calendar into dated plans.",
        epilog="SOURCE_DATE_EPOCH, when set, is the generation time (seconds since 1970, UTC).",
    )
    parser.add_argument("--version", action="version", version=f"ketaplan {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    commands.add_parser("protocols", help="list the built-in protocols, one per line, name first")
    demo = commands.add_parser("demo", help="build the built-in example plan into OUTDIR")
    demo.add_argument("outdir", metavar="OUTDIR", type=Path)
    build = commands.add_parser("build", help="build a plan file (TOML) or a saved plan (JSON)")
    build.add_argument("planfile", metavar="PLANFILE", type=Path)
    build.add_argument(
        "--out", metavar="OUTDIR", type=Path, required=True, help="folder for the output files"
    )
    publish_ = commands.add_parser(
        "publish",
        help="put a plan's events into a CalDAV calendar",
        epilog=f"{PASSWORD_VARIABLE}, when set, is the password for --user.",
    )
    publish_.add_argument(
        "planfile", metavar="PLANFILE", type=Path, help="a plan file (TOML) or a saved plan (JSON)"
    )
    publish_.add_argument(
        "--url", metavar="URL", required=True, help="the CalDAV calendar collection's address"
    )
    publish_.add_argument("--user", metavar="NAME", help="the user name to log in with")
    return parser


def generation_time(environ: dict[str, str] | os._Environ[str]) -> dt.datetime:
    """``SOURCE_DATE_EPOCH`` as an aware UTC datetime, or the current time."""
    text = environ.get("SOURCE_DATE_EPOCH")
    if text is None or text == "":
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        return dt.datetime.fromtimestamp(int(text), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise SpecError(
            "SOURCE_DATE_EPOCH",
            text,
            "expected whole seconds since 1970-01-01 UTC, e.g. 1798761600",
        ) from None


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run the command line; returns the exit status."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        arguments = _parser().parse_args(argv)
    except _UsageError as error:
        err.write(f"error: {error}\n")
        return 2
    except SystemExit as stop:  # --help and --version
        return int(stop.code or 0)
    try:
        return _run(arguments, out)
    except KetaplanError as error:
        err.write(f"error: {_one_line(str(error))}\n")
        return 2


def _run(arguments: argparse.Namespace, out: TextIO) -> int:
    if arguments.command == "protocols":
        for protocol in builtin_protocols().values():
            out.write(f"{protocol.name}\t{protocol.route.name}\t{protocol.title}\n")
        return 0
    now = generation_time(os.environ)
    if arguments.command == "publish":
        return _publish(arguments, out, now)
    if arguments.command == "demo":
        with resources.as_file(resources.files("ketaplan").joinpath("data", DEMO_FILE)) as path:
            plan = load_plan(path, now=now)
        folder = arguments.outdir
    else:
        plan = load_plan(arguments.planfile, now=now)
        folder = arguments.out
    saved = Path(folder) / f"{plan.id}.json"
    if saved.is_file() and saved.resolve() != Path(getattr(arguments, "planfile", "")).resolve():
        # A rebuild into the same folder: keep the calendar identity of what
        # was exported before (SEQUENCE, cancelled sessions, history).
        plan = reconcile(load_plan(saved, now=now), plan, now=now)
    for path in write_outputs(plan, folder, now=now):
        out.write(f"{path}\n")
    return 0


def _publish(arguments: argparse.Namespace, out: TextIO, now: dt.datetime) -> int:
    plan = load_plan(arguments.planfile, now=now)
    password = os.environ.get(PASSWORD_VARIABLE) or None
    result = publish(plan, arguments.url, user=arguments.user, password=password, now=now)
    out.write(f"{result}\n")
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
