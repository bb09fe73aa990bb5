"""Invitations: each changed session as an iTIP message sent by email.

A calendar file imported once is never updated by Google Calendar or
Outlook; an invitation is (see ``docs/invitations.md``). For every session
whose event changed since the last invitation to an address, one email
(RFC 6047) carries a one-event calendar (RFC 5546): ``METHOD:REQUEST`` for a
new or changed session, ``METHOD:CANCEL`` for one that was cancelled after
it was sent. The calendar is a ``text/calendar`` part of a
``multipart/alternative`` message beside the plain-text body, as Gmail
needs to update the event in place; the event has the session's own UID,
the clinic as ORGANIZER and the patient as ATTENDEE.

What was sent is recorded in the plan's history (a revision whose action
is ``invite``), so the next run sends only what changed since. The plan's
privacy level decides what the subject and the body say, as it decides
what the calendar says, and the plan's language the words they are in.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    import smtplib

from ._clinic import _EMAIL
from ._plan import Plan, Revision
from ._planfile import load_plan
from ._session import Session, SessionStatus, english_date
from ._store import update_plan, write_files
from ._variables import SMTP_PASSWORD, SMTP_USER
from .exceptions import NOT_SHOWN, KetaplanError, OutputError, SpecError
from .export._ics import CANCELLED, Event, _View, event, head, timezone, write_event
from .export._lines import ContentLines

__all__ = [
    "ACTION",
    "PASSWORD_VARIABLE",
    "USER_VARIABLE",
    "Invitation",
    "invitations",
    "last_sent",
    "record",
    "send_invitations",
    "write_invitations",
]

#: The history action of a revision that records invitations.
ACTION = "invite"
#: Environment variables holding the SMTP user name and password.
USER_VARIABLE = SMTP_USER
PASSWORD_VARIABLE = SMTP_PASSWORD
#: Seconds to wait for the SMTP server to connect or answer.
TIMEOUT = 30

Method = Literal["REQUEST", "CANCEL"]

# Messages are written as mail servers want them: CRLF line ends, and any
# text that is not ASCII quoted-printable or base64 (no 8-bit transport).
_POLICY = email.policy.SMTP.clone(cte_type="7bit")
# One recorded invitation: "request induction-01 (sequence 2) to pat@example.org".
_SENT = re.compile(
    r"(?P<method>request|cancel) (?P<key>.+) \(sequence (?P<sequence>\d+)\) to (?P<to>\S+)"
)
_ANY_ADDRESS = re.compile(r"[^\s<>]+@[^\s<>]+")
_ADDRESS = "expected one email address such as patient@example.org, without a name or brackets"


@attrs.frozen
class Invitation:
    """One invitation: the message for session ``key`` (its ``method`` and ``sequence``)."""

    plan_id: str
    key: str
    method: Method
    sequence: int
    to: str
    message: EmailMessage = attrs.field(eq=False, repr=False)

    @property
    def filename(self) -> str:
        """``<plan id>-<session key>-<sequence>-<method>.eml``."""
        return f"{self.plan_id}-{self.key}-{self.sequence}-{self.method.lower()}.eml"

    def record(self) -> str:
        """The history line that says this invitation was delivered."""
        return f"{self.method.lower()} {self.key} (sequence {self.sequence}) to {self.to}"


def check_address(address: str) -> str:
    """``address`` if it is one plain email address; a :class:`SpecError` that does not
    show it otherwise (it is the patient's)."""
    if not isinstance(address, str) or not _EMAIL().fullmatch(address):
        raise SpecError("--to", NOT_SHOWN, _ADDRESS)
    return address


def last_sent(plan: Plan, to: str) -> dict[str, tuple[Method, int]]:
    """What the plan's history says was last sent to ``to``, by session key: the method and
    the SEQUENCE."""
    sent: dict[str, tuple[Method, int]] = {}
    for revision in plan.history:
        if revision.action != ACTION:
            continue
        for change in revision.changes:
            match = _SENT.fullmatch(change)
            if match is not None and match["to"].lower() == to.lower():
                method: Method = "CANCEL" if match["method"] == "cancel" else "REQUEST"
                sent[match["key"]] = (method, int(match["sequence"]))
    return sent


def invitations(plan: Plan, *, to: str, now: dt.datetime) -> list[Invitation]:
    """The invitations ``to`` needs now: a REQUEST for every session that has not ended and
    was never sent or changed since (its SEQUENCE differs, or it was cancelled and is back),
    a CANCEL for every cancelled session whose last invitation was a REQUEST.

    Completed and missed sessions, and sessions that have ended, get none.
    """
    check_address(to)
    if not plan.clinic.email:
        raise SpecError(
            "clinic.email",
            NOT_SHOWN,
            "invitations come from the clinic's address, their organizer: add email to [clinic] in the plan file and build it again",
        )
    sent = last_sent(plan, to)
    view = _View(plan, "patient")
    found = []
    for session in plan.sessions:
        method = _method(session, sent.get(session.key), now)
        if method is not None:
            message = _message(view, session, method, to, now, updated=session.key in sent)
            found.append(Invitation(plan.id, session.key, method, session.sequence, to, message))
    return found


def _method(session: Session, sent: tuple[Method, int] | None, now: dt.datetime) -> Method | None:
    if session.end <= now:
        return None
    if session.status is SessionStatus.CANCELLED:
        return "CANCEL" if sent is not None and sent[0] == "REQUEST" else None
    if session.status is not SessionStatus.SCHEDULED:
        return None
    if sent is None or sent != ("REQUEST", session.sequence):
        return "REQUEST"
    return None


def record(
    plan: Plan, delivered: Sequence[Invitation], *, now: dt.datetime, how: str, by: str = ""
) -> Plan:
    """``plan`` with a revision recording ``delivered`` (``how``: where they went)."""
    if not delivered:
        return plan
    revision = Revision(
        plan.revision + 1,
        now,
        ACTION,
        reason=how,
        by=by,
        changes=tuple(invitation.record() for invitation in delivered),
    )
    return attrs.evolve(plan, history=(*plan.history, revision))


def write_invitations(
    path: str | Path, folder: str | Path, *, to: str, now: dt.datetime, by: str = ""
) -> list[Path]:
    """Write the invitations the plan saved at ``path`` needs as ``.eml`` files into
    ``folder`` (readable by their owner only), record them in its history, and return
    the files' paths."""
    folder = Path(folder)
    written: list[Path] = []

    def deliver(pending: list[Invitation]) -> Iterable[Invitation]:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(
                f"--out: cannot create the folder {str(folder)!r} ({error.strerror})"
            ) from None
        files = {invitation.filename: invitation.message.as_bytes() for invitation in pending}
        written.extend(write_files(folder, files, private=True))
        return pending

    _deliver(path, to, now, deliver, how=f"written as .eml files to {folder}", by=by)
    return written


def send_invitations(
    path: str | Path,
    *,
    to: str,
    host: str,
    port: int,
    now: dt.datetime,
    starttls: bool = True,
    user: str | None = None,
    password: str | None = None,
    by: str = "",
) -> list[Invitation]:
    """Send the invitations the plan saved at ``path`` needs through the SMTP server at
    ``host``:``port``, record them in its history, and return them.

    The connection is upgraded with STARTTLS (``starttls``, the default), checking the
    server's certificate against the system's trusted authorities (or the file named by
    ``SSL_CERT_FILE``); ``user`` and ``password`` log in, and only over TLS. If the server
    fails part way, the invitations it accepted are recorded before the
    :class:`~ketaplan.OutputError` is raised.
    """
    if user and not starttls:
        raise SpecError(
            "--no-smtp-starttls",
            NOT_SHOWN,
            f"logging in as {USER_VARIABLE} needs STARTTLS: the password would travel unencrypted",
        )
    if user and not password:
        raise SpecError(PASSWORD_VARIABLE, NOT_SHOWN, f"set it to the password of {USER_VARIABLE}")
    where = f"{host}:{port}"

    def deliver(pending: list[Invitation]) -> Iterable[Invitation]:
        with _smtp(where, host, port) as server:
            _start(server, where, starttls, user, password)
            for invitation in pending:
                _send(server, where, invitation)
                yield invitation

    return _deliver(path, to, now, deliver, how=f"sent through {where}", by=by)


def _deliver(
    path: str | Path,
    to: str,
    now: dt.datetime,
    deliver: Callable[[list[Invitation]], Iterable[Invitation]],
    *,
    how: str,
    by: str,
) -> list[Invitation]:
    """Deliver the pending invitations under the plan's lock, so that two runs never send
    the same one, and record whatever was delivered, even when delivery then fails."""
    check_address(to)
    path = Path(path)
    if (
        path.suffix.lower() == ".json"
        and path.is_file()
        and not invitations(load_plan(path, now=now), to=to, now=now)
    ):
        return []  # nothing to send: the saved plan is left as it was
    delivered: list[Invitation] = []
    failure: KetaplanError | None = None

    def change(plan: Plan) -> Plan:
        nonlocal failure
        try:
            for invitation in deliver(invitations(plan, to=to, now=now)):
                delivered.append(invitation)
        except KetaplanError as error:
            failure = error
        return record(plan, delivered, now=now, how=how, by=by)

    update_plan(path, change)
    if failure is not None:
        if delivered:
            raise OutputError(
                f"{failure} ({len(delivered)} invitations were delivered before this and are recorded in the plan's history)"
            ) from None
        raise failure
    return delivered


# -- the message -------------------------------------------------------------------


def _message(
    view: _View, session: Session, method: Method, to: str, now: dt.datetime, *, updated: bool
) -> EmailMessage:
    plan = view.plan
    content = event(view, session)
    lines = ContentLines()
    head(lines, method)
    lines.extend(timezone(plan))
    write_event(
        lines,
        content,
        sequence=session.sequence,
        stamp=lines.utc(now),
        modified=view.modified(session, now),
        attendee=to,
    )
    lines.end("VCALENDAR")
    calendar = lines.to_ical().decode()

    local = session.start.astimezone(view.zone)
    words = view.words
    day = english_date(local.date()) if words.english else words.long_date(local.date())
    when = f"{day}, {words.clock(local)}"
    title = content.summary
    subject = _one_line(f"{title}: {when}")
    if method == "REQUEST" and updated:
        subject = words.gettext("Updated: %(subject)s") % {"subject": subject}
    clinic = plan.clinic
    message = EmailMessage(policy=_POLICY)
    sender = _one_line(clinic.name) if view.privacy != "minimal" else ""
    message["From"] = email.utils.formataddr((sender, clinic.email))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(now.astimezone(dt.UTC))
    digest = hashlib.sha256(
        f"{plan.id}\x00{session.key}\x00{method}\x00{session.sequence}\x00{to}\x00{now.isoformat()}".encode()
    ).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@{clinic.email.rpartition('@')[2]}>"
    message.set_content(_body(view, session, content, method, when))
    message.add_alternative(calendar, subtype="calendar", params={"method": method})
    for part in message.iter_parts():
        del part["MIME-Version"]  # a header of the message, not of its parts
    message.set_boundary(f"=_ketaplan_{digest}")  # not random: the same inputs, the same bytes
    return message


def _one_line(text: str) -> str:
    """``text`` for a header: a name's line breaks would end the header."""
    return " ".join(text.split())


def _body(view: _View, session: Session, content: Event, method: Method, when: str) -> str:
    _ = view.words.gettext
    local_end = session.end.astimezone(view.zone)
    times = {"when": when, "end": view.words.clock(local_end), "zone": view.plan.clinic.timezone}
    parts = [content.summary, _("When: %(when)s-%(end)s (%(zone)s)") % times]
    if content.location:
        parts.append(_("Where: %(place)s") % {"place": content.location})
    paragraphs = ["\n".join(parts)]
    if method == "CANCEL":
        paragraphs.append(
            _("%(cancelled)s: this appointment no longer takes place.")
            % {"cancelled": _(CANCELLED)}
        )
    else:
        if content.description:
            paragraphs.append(content.description)
        paragraphs.append(
            _(
                "Your calendar program adds this appointment from the invitation in this email, "
                "and updates it when the clinic sends a change."
            )
        )
    return "\n\n".join(paragraphs) + "\n"


# -- SMTP --------------------------------------------------------------------------


def _smtp(where: str, host: str, port: int) -> smtplib.SMTP:
    import smtplib  # only sending needs it (and ssl with it)

    try:
        return smtplib.SMTP(host, port, timeout=TIMEOUT)
    except (OSError, smtplib.SMTPException) as error:
        raise OutputError(
            f"{where}: cannot connect to the mail server ({_reason(error)})"
        ) from None


def _start(
    server: smtplib.SMTP, where: str, starttls: bool, user: str | None, password: str | None
) -> None:
    import smtplib
    import ssl

    try:
        server.ehlo()
        if starttls:
            if not server.has_extn("starttls"):
                raise OutputError(
                    f"{where}: the mail server does not offer STARTTLS; use a server that does, or --no-smtp-starttls for one on this machine"
                )
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        if user:
            server.login(user, password or "")
    except smtplib.SMTPAuthenticationError as error:
        raise OutputError(
            f"{where}: the mail server refused the user name or password ({USER_VARIABLE}, {PASSWORD_VARIABLE}): {error.smtp_code}"
        ) from None
    except ssl.SSLCertVerificationError as error:
        raise OutputError(
            f"{where}: the mail server's certificate is not trusted ({error.verify_message}); set SSL_CERT_FILE to its authority's certificate"
        ) from None
    except (OSError, smtplib.SMTPException) as error:
        raise OutputError(f"{where}: the mail server failed ({_reason(error)})") from None


def _send(server: smtplib.SMTP, where: str, invitation: Invitation) -> None:
    import smtplib

    try:
        server.send_message(invitation.message)
    except smtplib.SMTPRecipientsRefused:
        raise OutputError(f"{where}: the mail server refused the recipient (--to)") from None
    except smtplib.SMTPSenderRefused as error:
        raise OutputError(
            f"{where}: the mail server refused the clinic's address as sender: {error.smtp_code}"
        ) from None
    except (OSError, smtplib.SMTPException) as error:
        raise OutputError(
            f"{where}: the mail server failed while sending {invitation.key} ({_reason(error)})"
        ) from None


def _reason(error: BaseException) -> str:
    """A short reason for ``error``, with any email address in it left out."""
    import smtplib

    if isinstance(error, smtplib.SMTPResponseException):
        answer = error.smtp_error
        text = answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
        text = f"{error.smtp_code} {text}"
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = str(error) or type(error).__name__
    return _ANY_ADDRESS.sub("<address>", " ".join(text.split()))[:160]
