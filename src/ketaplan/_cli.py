"""The ``ketaplan`` command line: a thin layer over the library.

Exit 0 on success; 2 on bad input, with one line ``error: ...`` on stderr and
no file written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from . import __version__
from ._ledger import Ledger, book_around
from ._library import builtin_protocols
from ._plan import Plan
from ._planfile import load_plan
from ._store import update_plan
from ._variables import CALDAV_PASSWORD as PASSWORD_VARIABLE
from ._variables import SMTP_PASSWORD as INVITE_PASSWORD
from ._variables import SMTP_USER as INVITE_USER
from ._write import write_outputs, write_saved_outputs
from .exceptions import KetaplanError, SpecError

__all__ = ["main"]

DEMO_FILE = "demo.toml"


class _UsageError(Exception):
    """A command line argparse rejected; printed as one ``error:`` line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see 'ketaplan --help')")


Arguments = Callable[[_Parser], object]

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[_Parser]
else:  # not subscriptable at run time
    _SubParsers = argparse._SubParsersAction


class _Commands(_SubParsers):
    """The commands, each made into its own parser only when it is the one run.

    ``ketaplan --help`` and argparse's checks need only each command's name and
    help line; making every command's parser with its arguments costs more
    than the rest of reading the command line.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._later: dict[str, tuple[Arguments, dict[str, Any]]] = {}

    def add_command(
        self, name: str, help: str, arguments: Arguments | None = None, **kwargs: Any
    ) -> None:
        """Add the command ``name``; ``arguments`` adds its arguments to its parser."""
        self._choices_actions.append(self._ChoicesPseudoAction(name, (), help))
        self._later[name] = (arguments or _no_arguments, kwargs)
        # argparse checks a command against this map's names; its parser is made on use.
        self._name_parser_map[name] = cast(_Parser, None)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        name = cast(Sequence[str], values)[0]
        if name in self._later:
            arguments, kwargs = self._later.pop(name)
            parsers = self._name_parser_map
            order = list(parsers)
            del parsers[name]
            arguments(self.add_parser(name, **kwargs))  # as argparse makes it, in its place
            made = {key: parsers[key] for key in order}
            parsers.clear()
            parsers.update(made)
        super().__call__(parser, namespace, values, option_string)


def _no_arguments(command: _Parser) -> None:
    pass


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ketaplan",
        description="Turn ketamine and esketamine treatment protocols and a clinic calendar into dated plans.",
        epilog="SOURCE_DATE_EPOCH, when set, is the generation time (seconds since 1970, UTC).",
    )
    parser.add_argument("--version", action="version", version=f"ketaplan {__version__}")
    commands = cast(
        _Commands,
        parser.add_subparsers(
            dest="command",
            required=True,
            metavar="COMMAND",
            parser_class=_Parser,
            action=_Commands,
        ),
    )
    commands.add_command("protocols", "list the built-in protocols, one per line, name first")
    commands.add_command("demo", "build the built-in example plan into OUTDIR", _demo_arguments)
    commands.add_command(
        "check",
        "print the dated sessions, every move and its reason, pending phases and any conflict; write nothing",
        _check_arguments,
    )
    commands.add_command(
        "build", "build a plan file (TOML) or a saved plan (JSON)", _build_arguments
    )
    commands.add_command(
        "publish",
        "put a plan's events into a CalDAV calendar",
        _publish_arguments,
        epilog=f"{PASSWORD_VARIABLE}, when set, is the password for --user.",
    )
    commands.add_command(
        "invite",
        "email the patient an invitation for each session that changed since the last ones",
        _invite_arguments,
        epilog=f"{INVITE_USER} and {INVITE_PASSWORD}, when set, log in to the --smtp server (over TLS only). The server's certificate is checked against the system's authorities, or the file SSL_CERT_FILE names.",
    )
    commands.add_command(
        "batch",
        "build many plans, each into its own folder, with progress and a summary (see docs/batch.md)",
        _batch_arguments,
        epilog="Exit 0 when every plan was written or unchanged, 1 when some plan was refused or failed, 2 when the command was misused; 130 or 143 when stopped by Ctrl-C or SIGTERM.",
    )
    _plan_verbs(commands)
    return parser


def _demo_arguments(demo: _Parser) -> None:
    demo.add_argument("outdir", metavar="OUTDIR", type=Path)
    _private_argument(demo)


def _check_arguments(check: _Parser) -> None:
    check.add_argument(
        "planfile", metavar="PLANFILE", type=Path, help="a plan file (TOML) or a saved plan (JSON)"
    )


def _build_arguments(build: _Parser) -> None:
    build.add_argument("planfile", metavar="PLANFILE", type=Path)
    build.add_argument(
        "--out", metavar="OUTDIR", type=Path, required=True, help="folder for the output files"
    )
    build.add_argument(
        "--fhir",
        action="store_true",
        help="also write <plan id>.fhir.json, the plan as a FHIR R4 transaction Bundle (see docs/fhir.md)",
    )
    build.add_argument(
        "--bookings",
        metavar="DIR",
        type=Path,
        help="book the plan around the clinic's bookings in DIR: saved plans (.json) and calendars (.ics)",
    )
    build.add_argument(
        "--replace",
        action="store_true",
        help="start the plan over even though its saved JSON in OUTDIR was changed since it was built (the saved JSON is kept beside it as a .bak file)",
    )
    _private_argument(build)


def _private_argument(command: _Parser) -> None:
    command.add_argument(
        "--private",
        action="store_true",
        help="make every written file readable by its owner only (mode 0600); otherwise a replaced file keeps its mode and a new one follows the umask",
    )


def _publish_arguments(publish_: _Parser) -> None:
    publish_.add_argument(
        "planfile", metavar="PLANFILE", type=Path, help="a plan file (TOML) or a saved plan (JSON)"
    )
    publish_.add_argument(
        "--url", metavar="URL", required=True, help="the CalDAV calendar collection's address"
    )
    publish_.add_argument("--user", metavar="NAME", help="the user name to log in with")


def _batch_arguments(batch: _Parser) -> None:
    batch.add_argument(
        "source",
        metavar="SOURCE",
        type=Path,
        help="a folder of plan files (.toml, saved .json) or a .csv of patients (with --template)",
    )
    batch.add_argument(
        "--out", metavar="DIR", type=Path, required=True, help="each plan goes into DIR/<plan id>/"
    )
    batch.add_argument(
        "--template", metavar="FILE", type=Path, help="the plan file a CSV's rows are applied to"
    )
    batch.add_argument(
        "--bookings",
        metavar="DIR",
        type=Path,
        help="book the plans one after another around the clinic's bookings in DIR",
    )
    batch.add_argument(
        "--jobs",
        metavar="N",
        type=_jobs,
        help="worker processes that render and write (default: the number of cores; 1: none)",
    )
    batch.add_argument(
        "--quiet", action="store_true", help="no progress and no counts; only failures"
    )


def _jobs(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected a whole number from 1 to 256")
    return int(text)


def _invite_arguments(invite: _Parser) -> None:
    invite.add_argument("plan", metavar="PLAN.json", type=Path)
    invite.add_argument(
        "--to", required=True, metavar="ADDRESS", help="the patient's email address"
    )
    where = invite.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--out", metavar="DIR", type=Path, help="write the invitations as .eml files into DIR"
    )
    where.add_argument(
        "--smtp", metavar="HOST:PORT", help="send the invitations through this SMTP server"
    )
    invite.add_argument(
        "--smtp-starttls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="upgrade the SMTP connection with STARTTLS before sending (default: on; turn it off only for a server on this machine)",
    )
    invite.add_argument("--by", default="", help="who sends them, recorded in the plan's history")


def _plan_verbs(commands: _Commands) -> None:
    """The commands that read or change a saved plan JSON in place."""

    def verb(
        name: str,
        help: str,
        *more: Arguments,
        key: bool = False,
        reason: bool = False,
    ) -> None:
        def arguments(command: _Parser) -> None:
            command.add_argument("plan", metavar="PLAN.json", type=Path)
            if key:
                command.add_argument(
                    "key", metavar="SESSION", help="the session's key (see 'ketaplan sessions')"
                )
            if reason:
                command.add_argument(
                    "--reason", required=True, help="why, recorded in the plan's history"
                )
            command.add_argument("--by", default="", help="who makes the change")
            command.add_argument(
                "--expect-revision",
                type=int,
                metavar="N",
                help="refuse unless the plan is at revision N",
            )
            for add in more:
                add(command)

        commands.add_command(name, help, arguments)

    verb("sessions", "list a saved plan's sessions with their keys, dates and status")
    verb("history", "show a saved plan's revisions")
    verb(
        "reschedule",
        "move one session",
        lambda command: command.add_argument(
            "--to",
            required=True,
            metavar="YYYY-MM-DDTHH:MM",
            help="the new start: clinic wall-clock time, or an instant with its UTC offset (2027-03-22T10:30:00-04:00)",
        ),
        key=True,
        reason=True,
    )
    verb(
        "defer",
        "shift a session and every later one",
        lambda command: command.add_argument(
            "--days", required=True, type=int, help="how many calendar days"
        ),
        key=True,
        reason=True,
    )
    verb("omit", "leave out one session", key=True, reason=True)
    verb(
        "miss",
        "record a missed session",
        lambda command: command.add_argument("--reason", default=""),
        key=True,
    )
    verb("complete", "record a completed session", key=True)
    verb("cease", "cancel every future session", reason=True)
    verb("dose", "enter a dose field's value", _dose_arguments)
    verb(
        "finalise",
        "sign the plan off",
        lambda command: command.add_argument("--clinician", required=True),
    )


def _dose_arguments(dose: _Parser) -> None:
    dose.add_argument("field", metavar="FIELD")
    dose.add_argument("value", metavar="VALUE", help="a number and its unit, e.g. '72 kg'")
    dose.add_argument("--session", metavar="SESSION", help="for this session only")


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
    except BrokenPipeError:
        # Whoever read the output stopped (`ketaplan check PLAN | head`): no error to tell,
        # and nothing more to print; exit as a program stopped by SIGPIPE does.
        import signal

        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        err.write(f"error: {_one_line(where + (error.strerror or str(error)))}\n")
        return 2


def _run(arguments: argparse.Namespace, out: TextIO) -> int:
    if arguments.command == "protocols":
        for protocol in builtin_protocols().values():
            out.write(f"{protocol.name}\t{protocol.route.name}\t{protocol.title}\n")
        return 0
    now = generation_time(os.environ)
    if arguments.command == "publish":
        return _publish(arguments, out, now)
    if arguments.command == "invite":
        return _invite(arguments, out, now)
    if arguments.command == "batch":
        return _batch(arguments, out, now)
    if arguments.command == "check":
        _check(load_plan(arguments.planfile, now=now), out)
        return 0
    if arguments.command in ("sessions", "history"):
        _show(load_plan(arguments.plan, now=now), arguments.command, out)
        return 0
    if arguments.command in _CHANGES:
        change = _CHANGES[arguments.command]
        plan = update_plan(
            arguments.plan,
            lambda plan: change(plan, arguments, now),
            expect_revision=arguments.expect_revision,
        )
        out.write(f"{plan.id}: revision {plan.revision} ({plan.history[-1].action})\n")
        return 0
    ledger: Ledger | None = None
    if arguments.command == "demo":
        from importlib import resources

        with resources.as_file(resources.files("ketaplan").joinpath("data", DEMO_FILE)) as path:
            plan = load_plan(path, now=now)
        folder = arguments.outdir
    else:
        folder = arguments.out
        source = arguments.planfile
        if source.suffix.lower() == ".json" and _same_file(source, folder / source.name):
            # The saved plan rebuilt in its own folder: read it under its lock.
            if arguments.bookings is not None:
                plan = load_plan(source, now=now)
                ledger = Ledger.from_folder(arguments.bookings, plan.clinic, start=plan.start)
            for path in write_saved_outputs(
                source, now=now, private=arguments.private, fhir=arguments.fhir, ledger=ledger
            ):
                out.write(f"{path}\n")
            return 0
        plan = load_plan(source, now=now)
        if arguments.bookings is not None:
            ledger = Ledger.from_folder(arguments.bookings, plan.clinic, start=plan.start)
            plan = book_around(plan, ledger)
    written = write_outputs(
        plan,
        folder,
        now=now,
        replace=getattr(arguments, "replace", False),
        private=arguments.private,
        fhir=getattr(arguments, "fhir", False),
        report=lambda line: print(f"re-planned\t{line}", file=out),
        ledger=ledger,
    )
    for path in written:
        out.write(f"{path}\n")
    return 0


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one.samefile(other)
    except OSError:
        return False


def _batch(arguments: argparse.Namespace, out: TextIO, now: dt.datetime) -> int:
    from ._batch import Outcome, Progress, run_batch

    summary = run_batch(
        arguments.source,
        arguments.out,
        now=now,
        template=arguments.template,
        bookings=arguments.bookings,
        jobs=arguments.jobs,
        progress=None if arguments.quiet else lambda total: Progress(out, total),
    )
    if not arguments.quiet:
        counts = ", ".join(f"{summary.count(o)} {o.value}" for o in Outcome)
        stopped = f" (stopped by {summary.interrupted})" if summary.interrupted else ""
        out.write(f"{len(summary.results)} plans: {counts}{stopped}\n")
    for result in summary.results:
        if result.outcome in (Outcome.REFUSED, Outcome.FAILED):
            out.write(f"{result.source}: {result.message}\n")
    return summary.exit_status


def _publish(arguments: argparse.Namespace, out: TextIO, now: dt.datetime) -> int:
    from ._publish import publish

    plan = load_plan(arguments.planfile, now=now)
    password = os.environ.get(PASSWORD_VARIABLE) or None
    result = publish(plan, arguments.url, user=arguments.user, password=password, now=now)
    out.write(f"{result}\n")
    return 0


def _invite(arguments: argparse.Namespace, out: TextIO, now: dt.datetime) -> int:
    from ._invite import send_invitations, write_invitations

    if arguments.out is not None:
        paths = write_invitations(
            arguments.plan, arguments.out, to=arguments.to, now=now, by=arguments.by
        )
        lines = [str(path) for path in paths]
    else:
        host, port = _host_port(arguments.smtp)
        sent = send_invitations(
            arguments.plan,
            to=arguments.to,
            host=host,
            port=port,
            now=now,
            starttls=arguments.smtp_starttls,
            user=os.environ.get(INVITE_USER) or None,
            password=os.environ.get(INVITE_PASSWORD) or None,
            by=arguments.by,
        )
        lines = [f"{i.key}\t{i.method}\tsequence {i.sequence}" for i in sent]
    for line in lines or ["no invitations to send: every session's last invitation is up to date"]:
        out.write(f"{line}\n")
    return 0


def _host_port(text: str) -> tuple[str, int]:
    """``--smtp HOST:PORT`` (an IPv6 host in brackets: ``[::1]:25``)."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise SpecError("--smtp", text, "expected HOST:PORT, e.g. smtp.clinic.example:587")
    return host, int(port)


def _show(plan: Plan, what: str, out: TextIO) -> None:
    if what == "history":
        for revision in plan.history:
            by = f" by {revision.by}" if revision.by else ""
            why = f": {revision.reason}" if revision.reason else ""
            out.write(f"{revision.number}\t{revision.at.isoformat()}\t{revision.action}{by}{why}\n")
            for change in revision.changes:
                out.write(f"\t\t{change}\n")
        return
    zone = plan.clinic.zone
    for session in plan.sessions:
        out.write(
            f"{session.key}\t{session.kind.value}\t{session.start.astimezone(zone):%Y-%m-%d %H:%M}\t{session.status.value}\n"
        )


def _check(plan: Plan, out: TextIO) -> None:
    """A preview: every session with its clinic date, each move and why, pending phases."""
    zone = plan.clinic.zone
    moved = 0
    for session in plan.sessions:
        local = session.start.astimezone(zone)
        out.write(
            f"{session.key}\t{session.kind.value}\t{local:%a %Y-%m-%d %H:%M}\t{session.status.value}\n"
        )
        if session.moved:
            moved += 1
            planned = f" (planned {session.planned.isoformat()})" if session.planned else ""
            out.write(f"\tmoved{planned}:\n")
            for move in session.moves:
                out.write(f"\t\t{_one_line(str(move))}\n")
    for pending in plan.pending:
        out.write(f"pending\tphase {pending.phase!r} is not dated: {_one_line(pending.reason)}\n")
    out.write(
        f"{plan.id}: {len(plan.sessions)} sessions ({moved} moved), pending phases: {len(plan.pending)}; nothing written\n"
    )


def _clinic_time(plan: Plan, text: str) -> dt.datetime:
    """``--to``: clinic wall-clock time without an offset, or an instant with one."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SpecError(
            "--to",
            text,
            "expected the new start in clinic time, e.g. 2027-01-20T14:00, or with its UTC offset, e.g. 2027-01-20T14:00-05:00",
        ) from None
    if moment.second or moment.microsecond:
        raise SpecError("--to", text, "give whole minutes, e.g. 2027-01-20T14:00")
    zone = plan.clinic.zone
    try:
        if moment.tzinfo is not None:
            return moment.astimezone(zone)
        return moment.replace(tzinfo=zone)
    except OverflowError:
        raise SpecError("--to", text, "the date is out of range") from None


Change = Callable[[Plan, argparse.Namespace, dt.datetime], Plan]


def _lifecycle() -> ModuleType:
    """The plan operations, loaded by the commands that change a plan."""
    from . import _lifecycle as operations

    return operations


_CHANGES: dict[str, Change] = {
    "reschedule": lambda p, a, now: _lifecycle().reschedule(
        p, a.key, _clinic_time(p, a.to), now=now, reason=a.reason, by=a.by
    ),
    "defer": lambda p, a, now: _lifecycle().defer(
        p, a.key, a.days, now=now, reason=a.reason, by=a.by
    ),
    "omit": lambda p, a, now: _lifecycle().omit(p, a.key, now=now, reason=a.reason, by=a.by),
    "miss": lambda p, a, now: _lifecycle().miss(p, a.key, now=now, reason=a.reason, by=a.by),
    "complete": lambda p, a, now: _lifecycle().complete(p, a.key, now=now, by=a.by),
    "cease": lambda p, a, now: _lifecycle().cease(p, now=now, reason=a.reason, by=a.by),
    "dose": lambda p, a, now: _lifecycle().fill_dose(
        p, a.field, a.value, now=now, session=a.session, by=a.by
    ),
    "finalise": lambda p, a, now: _lifecycle().finalise(p, a.clinician, now=now),
}


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
