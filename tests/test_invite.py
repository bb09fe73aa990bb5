"""`ketaplan invite`: iTIP invitations by email, sent to a real SMTP server on 127.0.0.1.

The server is aiosmtpd, with STARTTLS on a throwaway certificate made with
openssl and a login; what arrives is parsed with the email package and read
with two iCalendar parsers (icalendar and the strict ical).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import io
import json
import re
import shutil
import socket
import ssl
import stat
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import attrs
import icalendar
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from ical.calendar_stream import IcsCalendarStream

import ketaplan
from ketaplan import _invite
from ketaplan._cli import main

from .conftest import EXAMPLES, NOW

SOURCE = EXAMPLES / "iv-induction.toml"
PATIENT = "sam.rivera@example.org"
CLINIC = "appointments@lakeside-wellness.example"
USER, PASSWORD = "clinic", "correct horse battery staple"
EPOCH = str(int(NOW.timestamp()))
LATER = NOW + dt.timedelta(days=1)


# -- the SMTP server -------------------------------------------------------------------


@dataclasses.dataclass
class Inbox:
    """What an SMTP server received, and how to refuse some of it."""

    messages: list[tuple[str, list[str], bytes]] = dataclasses.field(default_factory=list)
    refuse_after: int | None = None
    refuse_recipients: bool = False

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_recipients:
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_after is not None and len(self.messages) >= self.refuse_after:
            return "554 5.7.1 Message rejected"
        content = envelope.original_content or b""
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 OK"

    def parsed(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[misc]
            for _sender, _to, content in self.messages
        ]


@dataclasses.dataclass
class Server:
    inbox: Inbox
    address: str  # HOST:PORT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1, and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate for STARTTLS")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _serve(inbox: Inbox, **options: object) -> Iterator[Server]:
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield Server(inbox, f"127.0.0.1:{port}")
    finally:
        controller.stop()


@pytest.fixture
def tls_server(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """An SMTP server that requires STARTTLS and a login, trusted through SSL_CERT_FILE."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv(_invite.USER_VARIABLE, USER)
    monkeypatch.setenv(_invite.PASSWORD_VARIABLE, PASSWORD)
    yield from _serve(
        Inbox(),
        tls_context=context,
        require_starttls=True,
        authenticator=_login,
        auth_required=True,
        auth_require_tls=True,
    )


@pytest.fixture
def plain_server() -> Iterator[Server]:
    """An SMTP server with neither TLS nor login (a relay on this machine)."""
    yield from _serve(Inbox())


# -- plans and the command line ----------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example IV plan, built into a folder: its saved JSON."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    out = tmp_path / "out"
    assert 0 == main(["build", str(SOURCE), "--out", str(out)], stdout=io.StringIO())
    return out / "lakeside-iv-0107.json"


def run(*arguments: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(arguments), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def invite(saved: Path, server: Server, *more: str) -> tuple[int, str, str]:
    return run("invite", str(saved), "--to", PATIENT, "--smtp", server.address, *more)


def calendar_part(message: EmailMessage) -> EmailMessage:
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part  # type: ignore[return-value]


def read_event(message: EmailMessage) -> tuple[icalendar.Calendar, icalendar.Event]:
    """The message's calendar, read with icalendar and checked against the strict ical
    parser: one event, the same UID and instants."""
    data = calendar_part(message).get_content()
    calendar = icalendar.Calendar.from_ical(data)
    (event,) = calendar.walk("VEVENT")
    (strict,) = IcsCalendarStream.calendar_from_ics(data).events
    assert (str(event["UID"]), event.start, event.end) == (strict.uid, strict.dtstart, strict.dtend)
    return calendar, event


def future(plan: ketaplan.Plan, now: dt.datetime = NOW) -> list[ketaplan.Session]:
    return [
        s for s in plan.sessions if s.status is ketaplan.SessionStatus.SCHEDULED and s.end > now
    ]


# -- the clinic's address --------------------------------------------------------------------


def test_clinic_email_is_read_from_the_plan_file_and_saved() -> None:
    """`email` in [clinic] becomes Clinic.email and survives the saved plan's round trip."""
    plan = ketaplan.load_plan(SOURCE, now=NOW)
    assert CLINIC == plan.clinic.email
    assert plan == ketaplan.plan_from_json(ketaplan.plan_to_json(plan))
    assert CLINIC == json.loads(ketaplan.plan_to_json(plan))["clinic"]["email"]


def test_saved_plan_without_clinic_email_still_loads_and_writes_the_same() -> None:
    """A plan saved before clinics had an email loads with none, and is written back
    byte for byte as it was."""
    old = (Path(__file__).parent / "data" / "saved" / "base.json").read_text(encoding="utf-8")
    assert '"email"' not in old
    plan = ketaplan.plan_from_json(old)
    assert "" == plan.clinic.email
    assert '"email"' not in ketaplan.plan_to_json(plan)


@pytest.mark.parametrize("value", ["Lakeside <a@b.example>", "a@b.example\nBcc: x@y", "nobody"])
def test_bad_clinic_email_is_refused_with_its_field(value: str, tmp_path: Path) -> None:
    """A clinic email that is not one plain address is a SpecError naming clinic.email."""
    text = SOURCE.read_text(encoding="utf-8").replace(CLINIC, json.dumps(value)[1:-1])
    (tmp_path / "plan.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ketaplan.SpecError, match=r"^clinic\.email: .*one email address"):
        ketaplan.load_plan(tmp_path / "plan.toml", now=NOW)


# -- sending -------------------------------------------------------------------------------


def test_invitations_arrive_over_starttls_one_per_session(saved: Path, tls_server: Server) -> None:
    """Over STARTTLS with a login, each future session arrives as one RFC 6047 email from the
    clinic: a plain-text body and a text/calendar METHOD:REQUEST part in multipart/alternative,
    whose one event has the session's UID and instants, the clinic as ORGANIZER and the
    patient as ATTENDEE."""
    code, out, err = invite(saved, tls_server)
    assert (0, "") == (code, err)
    plan = ketaplan.load_plan(saved, now=NOW)
    sessions = future(plan)
    assert len(sessions) == len(out.splitlines())
    assert [(CLINIC, [PATIENT])] * len(sessions) == [
        (sender, to) for sender, to, _ in tls_server.inbox.messages
    ]
    by_uid = {}
    for message in tls_server.inbox.parsed():
        assert "multipart/alternative" == message.get_content_type()
        assert ["text/plain", "text/calendar"] == [
            p.get_content_type() for p in message.iter_parts()
        ]
        assert "REQUEST" == calendar_part(message).get_param("method")
        assert CLINIC in str(message["From"])
        assert PATIENT == str(message["To"])
        calendar, event = read_event(message)
        assert "REQUEST" == str(calendar["METHOD"])
        assert f"mailto:{CLINIC}" == str(event["ORGANIZER"])
        assert f"mailto:{PATIENT}" == str(event["ATTENDEE"])
        by_uid[str(event["UID"])] = (event.start, event.end, event["SEQUENCE"])
    assert {plan.uid(s): (s.start, s.end, 0) for s in sessions} == by_uid


def test_a_second_run_sends_only_what_changed(saved: Path, tls_server: Server) -> None:
    """What was sent is in the plan's history: a second run sends nothing; a moved session
    is sent again as an update (SEQUENCE 1, "Updated:"), an omitted one as METHOD:CANCEL with
    a title that says so."""
    assert 0 == invite(saved, tls_server)[0]
    count = len(tls_server.inbox.messages)
    code, out, _err = invite(saved, tls_server)
    assert (0, count) == (code, len(tls_server.inbox.messages))
    assert "no invitations to send" in out

    plan = ketaplan.load_plan(saved, now=NOW)
    moved, dropped = future(plan)[-1], future(plan)[-2]
    to = (moved.start + dt.timedelta(days=1)).astimezone(plan.clinic.zone)
    assert (
        0
        == run(
            "reschedule", str(saved), moved.key, "--to", f"{to:%Y-%m-%dT%H:%M}", "--reason", "asked"
        )[0]
    )
    assert 0 == run("omit", str(saved), dropped.key, "--reason", "asked")[0]
    code, out, _err = invite(saved, tls_server)
    assert 0 == code
    new = tls_server.inbox.parsed()[count:]
    assert 2 == len(new)
    update = next(m for m in new if calendar_part(m).get_param("method") == "REQUEST")
    cancel = next(m for m in new if calendar_part(m).get_param("method") == "CANCEL")
    assert str(update["Subject"]).startswith("Updated: ")
    _calendar, event = read_event(update)
    assert (plan.uid(moved), 1, to) == (str(event["UID"]), event["SEQUENCE"], event.start)
    calendar, event = read_event(cancel)
    assert ("CANCEL", "CANCELLED") == (str(calendar["METHOD"]), str(event["STATUS"]))
    assert str(event["SUMMARY"]).startswith("Cancelled: ")
    assert str(cancel["Subject"]).startswith("Cancelled: ")
    assert (plan.uid(dropped), 1) == (str(event["UID"]), event["SEQUENCE"])
    assert [] == event.walk("VALARM")
    assert 0 == invite(saved, tls_server)[0]
    assert count + 2 == len(tls_server.inbox.messages)


def test_what_was_sent_is_in_the_history(saved: Path, tls_server: Server) -> None:
    """The plan's history has one revision for the run, naming each session, its method and
    SEQUENCE and the address; `ketaplan history` shows it."""
    assert 0 == invite(saved, tls_server, "--by", "front desk")[0]
    plan = ketaplan.load_plan(saved, now=NOW)
    revision = plan.history[-1]
    assert ("invite", "front desk") == (revision.action, revision.by)
    assert f"sent through {tls_server.address}" == revision.reason
    assert [f"request {s.key} (sequence 0) to {PATIENT}" for s in future(plan)] == list(
        revision.changes
    )
    assert "invite" in run("history", str(saved))[1]


def test_the_history_is_written_through_the_plans_lock(
    saved: Path, tls_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """invite records what it sent by update_plan (the plan's lock, a fresh read, an atomic
    write), never by writing the JSON itself."""
    calls = []
    real = _invite.update_plan

    def spy(path: object, change: object, **options: object) -> object:
        calls.append(path)
        return real(path, change, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(_invite, "update_plan", spy)
    assert 0 == invite(saved, tls_server)[0]
    assert [saved] == [Path(str(p)) for p in calls]


def test_another_address_gets_every_session(saved: Path, tls_server: Server) -> None:
    """The history is kept per address: a new address gets every future session."""
    assert 0 == invite(saved, tls_server)[0]
    count = len(tls_server.inbox.messages)
    other = "carer@example.org"
    assert 0 == run("invite", str(saved), "--to", other, "--smtp", tls_server.address)[0]
    assert [[other]] * count == [to for _s, to, _c in tls_server.inbox.messages[count:]]


def test_sessions_that_have_ended_get_no_invitation(
    saved: Path, tls_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run after some sessions took place invites only to the sessions still to come."""
    plan = ketaplan.load_plan(saved, now=NOW)
    later = plan.sessions[3].end
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(later.timestamp())))
    assert 0 == invite(saved, tls_server)[0]
    assert len(future(plan, later)) == len(tls_server.inbox.messages)


@pytest.mark.parametrize("privacy", ["minimal", "standard", "full"])
def test_privacy_governs_subject_and_body(privacy: str) -> None:
    """Below full, subject and body name neither the patient nor the drug nor the route; at
    minimal not even the clinic's name; at full the subject names the patient."""
    base = ketaplan.load_plan(SOURCE, now=NOW)
    plan = attrs.evolve(base, calendar=attrs.evolve(base.calendar, privacy=privacy))
    for invitation in _invite.invitations(plan, to=PATIENT, now=NOW):
        message = invitation.message
        body = message.get_body(("plain",))
        assert body is not None
        text = f"{message['Subject']}\n{message['From']}\n{body.get_content()}".lower()
        words = ["ketamine", "infusion", "intravenous", base.patient.name.lower()]
        if privacy == "full":
            assert base.patient.name in str(message["Subject"])
        else:
            assert [] == [word for word in words if word in text]
        assert (privacy != "minimal") == (base.clinic.name.lower() in text)


def test_invitation_is_the_same_for_the_same_inputs() -> None:
    """The same plan, address and time give the same message bytes (no random boundary or
    Message-ID)."""
    plan = ketaplan.load_plan(SOURCE, now=NOW)
    first = [i.message.as_bytes() for i in _invite.invitations(plan, to=PATIENT, now=NOW)]
    again = [i.message.as_bytes() for i in _invite.invitations(plan, to=PATIENT, now=NOW)]
    assert first == again


# -- writing .eml files ----------------------------------------------------------------------


def test_out_writes_private_eml_files_and_records_them(saved: Path, tmp_path: Path) -> None:
    """--out writes one .eml file per invitation, readable by its owner only, which the email
    package reads back; they count as sent, so a second run writes nothing."""
    folder = tmp_path / "mail"
    code, out, err = run("invite", str(saved), "--to", PATIENT, "--out", str(folder))
    assert (0, "") == (code, err)
    plan = ketaplan.load_plan(saved, now=NOW)
    files = sorted(folder.glob("*.eml"))
    assert [str(f) for f in files] == sorted(out.splitlines())
    assert len(future(plan)) == len(files)
    for path in files:
        assert 0o600 == stat.S_IMODE(path.stat().st_mode)
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        _calendar, event = read_event(message)  # type: ignore[arg-type]
        assert f"-{event['SEQUENCE']}-request.eml" in path.name
    assert "invite" == plan.history[-1].action
    code, out, _err = run("invite", str(saved), "--to", PATIENT, "--out", str(folder))
    assert (0, len(files)) == (code, len(list(folder.glob("*.eml"))))
    assert "no invitations to send" in out


# -- errors ----------------------------------------------------------------------------------


def _error(result: tuple[int, str, str]) -> str:
    code, _out, err = result
    assert 2 == code
    assert 1 == len(err.splitlines())
    assert err.startswith("error: ")
    return err


def test_clinic_without_email_cannot_invite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invitations need the clinic's address as organizer: without one, an error that says so."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    text = SOURCE.read_text(encoding="utf-8").replace(f'email = "{CLINIC}"\n', "")
    (tmp_path / "plan.toml").write_text(text, encoding="utf-8")
    assert 0 == run("build", str(tmp_path / "plan.toml"), "--out", str(tmp_path / "out"))[0]
    saved = next((tmp_path / "out").glob("*.json"))
    err = _error(run("invite", str(saved), "--to", PATIENT, "--out", str(tmp_path / "mail")))
    assert "clinic.email" in err
    assert not (tmp_path / "mail").exists()


@pytest.mark.parametrize(
    "address", ["Sam <sam@example.org>", "sam@example.org\r\nBcc: x@y.z", "sam"]
)
def test_bad_recipient_is_refused_without_showing_it(
    saved: Path, tmp_path: Path, address: str
) -> None:
    """--to must be one plain address; the error does not repeat it (it is the patient's)."""
    err = _error(run("invite", str(saved), "--to", address, "--out", str(tmp_path / "mail")))
    assert "--to" in err
    assert "sam" not in err


def test_wrong_password_is_an_error_and_nothing_is_recorded(
    saved: Path, tls_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused login is one error line naming the variables to check; nothing is sent or
    recorded."""
    monkeypatch.setenv(_invite.PASSWORD_VARIABLE, "wrong")
    before = saved.read_bytes()
    err = _error(invite(saved, tls_server))
    assert _invite.USER_VARIABLE in err
    assert PASSWORD not in err
    assert ([], before) == (tls_server.inbox.messages, saved.read_bytes())


def test_untrusted_certificate_is_an_error(
    saved: Path, tls_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A server whose certificate no trusted authority signed is refused before anything is sent."""
    empty = tmp_path / "none.pem"
    empty.write_text("", encoding="ascii")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    err = _error(invite(saved, tls_server))
    assert "certificate is not trusted" in err
    assert [] == tls_server.inbox.messages


def test_server_without_starttls_is_refused_by_default(saved: Path, plain_server: Server) -> None:
    """STARTTLS is on by default: a server that does not offer it gets nothing."""
    err = _error(invite(saved, plain_server))
    assert "does not offer STARTTLS" in err
    assert [] == plain_server.inbox.messages


def test_plain_smtp_to_a_local_relay_on_request(saved: Path, plain_server: Server) -> None:
    """--no-smtp-starttls sends to a relay without TLS (and without a login)."""
    code, _out, err = invite(saved, plain_server, "--no-smtp-starttls")
    assert (0, "") == (code, err)
    plan = ketaplan.load_plan(saved, now=NOW)
    assert len(future(plan)) == len(plain_server.inbox.messages)


def test_login_without_tls_is_refused(
    saved: Path, plain_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user name with --no-smtp-starttls is refused: the password would travel in clear."""
    monkeypatch.setenv(_invite.USER_VARIABLE, USER)
    monkeypatch.setenv(_invite.PASSWORD_VARIABLE, PASSWORD)
    err = _error(invite(saved, plain_server, "--no-smtp-starttls"))
    assert "unencrypted" in err
    assert [] == plain_server.inbox.messages


def test_unreachable_server_is_an_error(saved: Path) -> None:
    """A server that does not answer is one error line naming it."""
    address = f"127.0.0.1:{_free_port()}"
    err = _error(run("invite", str(saved), "--to", PATIENT, "--smtp", address))
    assert address in err
    assert "cannot connect" in err


@pytest.mark.parametrize("value", ["smtp.example.org", "smtp.example.org:0", ":25", "host:port"])
def test_bad_smtp_address_is_refused(saved: Path, value: str) -> None:
    """--smtp must be HOST:PORT."""
    assert "--smtp" in _error(run("invite", str(saved), "--to", PATIENT, "--smtp", value))


def test_refused_recipient_is_an_error_without_the_address(
    saved: Path, plain_server: Server
) -> None:
    """A server that refuses the recipient gives an error that does not repeat the address."""
    plain_server.inbox.refuse_recipients = True
    err = _error(invite(saved, plain_server, "--no-smtp-starttls"))
    assert "refused the recipient" in err
    assert PATIENT not in err


def test_what_was_sent_before_a_failure_is_recorded(saved: Path, plain_server: Server) -> None:
    """When the server fails part way, the invitations it took are recorded, the error says
    how many, and the next run sends only the rest."""
    plain_server.inbox.refuse_after = 2
    err = _error(invite(saved, plain_server, "--no-smtp-starttls"))
    assert "2 invitations were delivered" in err
    assert PATIENT not in err
    plan = ketaplan.load_plan(saved, now=NOW)
    assert 2 == len(plan.history[-1].changes)
    plain_server.inbox.refuse_after = None
    assert 0 == invite(saved, plain_server, "--no-smtp-starttls")[0]
    uids = [str(read_event(m)[1]["UID"]) for m in plain_server.inbox.parsed()]
    assert sorted(plan.uid(s) for s in future(plan)) == sorted(uids)


def test_invite_needs_a_saved_plan(tmp_path: Path) -> None:
    """invite works on a saved plan JSON, not on the plan file."""
    err = _error(run("invite", str(SOURCE), "--to", PATIENT, "--out", str(tmp_path)))
    assert "saved plan" in err


def test_out_and_smtp_are_exclusive(saved: Path, tmp_path: Path) -> None:
    """Exactly one of --out and --smtp."""
    assert "--smtp" in _error(
        run("invite", str(saved), "--to", PATIENT, "--out", str(tmp_path), "--smtp", "h:25")
    )
    assert re.search(r"--out|--smtp", _error(run("invite", str(saved), "--to", PATIENT)))


def test_names_with_line_breaks_stay_inside_their_headers() -> None:
    """A clinic or patient name with a line break gives one-line From and Subject headers,
    and the message still parses."""
    plan = ketaplan.load_plan(SOURCE, now=NOW)
    plan = attrs.evolve(
        plan,
        clinic=attrs.evolve(plan.clinic, name="Lakeside\nBcc: evil@example.com"),
        patient=attrs.evolve(plan.patient, name="Sam\r\nRivera"),
        calendar=attrs.evolve(plan.calendar, privacy="full"),
    )
    (first, *_rest) = _invite.invitations(plan, to=PATIENT, now=NOW)
    data = first.message.as_bytes()
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Bcc"] is None
    assert "Lakeside Bcc: evil@example.com" in str(message["From"])
    assert str(message["Subject"]).endswith(": Sam Rivera: Mon 14 Dec 2026, 09:30")
    read_event(message)  # type: ignore[arg-type]
