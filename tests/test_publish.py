"""Publishing to a real CalDAV server: Radicale, started on 127.0.0.1 for each test.

Every event is read back with caldav and parsed with icalendar, so the tests
check what a calendar app would see, not what ketaplan meant to send.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import io
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs
import caldav
import icalendar
import pytest
from caldav.collection import Calendar

import ketaplan
from ketaplan._cli import main
from ketaplan._publish import CALDAV_MINIMUM, CALDAV_REQUIREMENT, split

from .conftest import EXAMPLES, NOW, ROOT

PLAN_FILE = EXAMPLES / "iv-induction.toml"
USER, PASSWORD = "nurse", "correct horse"
STARTUP_SECONDS = 15


@attrs.frozen
class Server:
    """A running Radicale: its root address, one empty calendar of USER's and its folder on disk."""

    root: str
    calendar: str
    folder: Path

    def files(self) -> list[Path]:
        """The calendar objects Radicale stored, straight from its storage folder."""
        return sorted(self.folder.glob("*.ics"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening(process: subprocess.Popen[bytes], port: int) -> bool:
    """Wait until ``process`` listens on ``port``; False if it exits or is too slow."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            time.sleep(0.05)
        else:
            return True
    return False


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def radicale_config(folder: Path, port: int) -> Path:
    """A Radicale configuration: one user in a plain-text htpasswd file, storage in ``folder``."""
    users = folder / "users"
    users.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    config = folder / "radicale.ini"
    config.write_text(
        f"""\
[server]
hosts = 127.0.0.1:{port}

[auth]
type = htpasswd
htpasswd_filename = {users}
htpasswd_encryption = plain
# no delay after a wrong password, so that the tests stay fast
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {folder / "collections"}

[web]
type = none

[logging]
level = warning
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """Radicale on 127.0.0.1 with one user and one empty calendar, stopped after the test.

    A free port can be taken by someone else before Radicale binds it, so a
    start that fails is tried again on another port, three times at most.
    """
    log = tmp_path / "radicale.log"
    with log.open("wb") as output:
        for _ in range(3):
            port = free_port()
            config = radicale_config(tmp_path, port)
            process = subprocess.Popen(
                [sys.executable, "-m", "radicale", "--config", str(config)],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            started = False
            try:
                started = listening(process, port)
            finally:
                if not started:
                    stop(process)
            if started:
                break
        else:
            pytest.fail(f"radicale did not start:\n{log.read_text(encoding='utf-8')}")
        try:
            root = f"http://127.0.0.1:{port}/"
            with caldav.DAVClient(url=root, username=USER, password=PASSWORD) as client:
                calendar = client.principal().make_calendar(
                    name="Appointments", cal_id="appointments"
                )
            folder = tmp_path / "collections" / "collection-root" / USER / "appointments"
            yield Server(root, str(calendar.url), folder)
        finally:
            stop(process)


@pytest.fixture
def plan() -> ketaplan.Plan:
    """The IV induction example plan."""
    return ketaplan.load_plan(PLAN_FILE, now=NOW)


def stored_events(url: str) -> list[icalendar.Event]:
    """Every event in the calendar at ``url``, as an independent parser reads it."""
    with caldav.DAVClient(url=url, username=USER, password=PASSWORD) as client:
        objects = Calendar(client=client, url=url).get_events()
        texts = [item.data for item in objects]
    events = []
    for text in texts:
        events.extend(icalendar.Calendar.from_ical(text).events)
    return events


def starts(events: list[icalendar.Event]) -> dict[str, dt.datetime]:
    return {str(event["UID"]): event.start for event in events}


def evolve_session(plan: ketaplan.Plan, key: str, **changes: object) -> ketaplan.Plan:
    sessions = tuple(
        attrs.evolve(session, **changes) if session.key == key else session
        for session in plan.sessions
    )
    return attrs.evolve(plan, sessions=sessions)


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_publish_creates_one_event_per_session(server: Server, plan: ketaplan.Plan) -> None:
    """Publishing stores exactly one event per session, under its UID, at its start time."""
    result = ketaplan.publish(plan, server.calendar, user=USER, password=PASSWORD, now=NOW)
    events = stored_events(server.calendar)
    assert (len(plan.sessions), 0, 0) == (result.created, result.updated, result.unchanged)
    assert len(plan.sessions) == len(events) == len(server.files())
    assert {plan.uid(s): s.start for s in plan.sessions} == starts(events)


def test_publishing_again_adds_no_copies(server: Server, plan: ketaplan.Plan) -> None:
    """A second publish of the same plan, later, leaves every event as it was."""
    ketaplan.publish(plan, server.calendar, user=USER, password=PASSWORD, now=NOW)
    later = NOW + dt.timedelta(days=3)
    result = ketaplan.publish(plan, server.calendar, user=USER, password=PASSWORD, now=later)
    events = stored_events(server.calendar)
    assert (0, 0, len(plan.sessions)) == (result.created, result.updated, result.unchanged)
    assert {plan.uid(s): s.start for s in plan.sessions} == starts(events)
    assert {NOW} == {event.DTSTAMP for event in events}


def test_publishing_a_changed_plan_updates_the_same_events(
    server: Server, plan: ketaplan.Plan
) -> None:
    """A moved session gets its new time and a cancelled one stays, marked cancelled."""
    ketaplan.publish(plan, server.calendar, user=USER, password=PASSWORD, now=NOW)
    moved, cancelled = plan.sessions[-1], plan.sessions[1]
    day = dt.timedelta(days=1)
    changed = evolve_session(plan, moved.key, start=moved.start + day, end=moved.end + day)
    changed = evolve_session(changed, cancelled.key, status=ketaplan.SessionStatus.CANCELLED)

    result = ketaplan.publish(changed, server.calendar, user=USER, password=PASSWORD, now=NOW)
    events = {str(event["UID"]): event for event in stored_events(server.calendar)}

    assert (0, 2, len(plan.sessions) - 2) == (result.created, result.updated, result.unchanged)
    assert len(plan.sessions) == len(server.files())
    assert {plan.uid(s): s.start for s in changed.sessions} == starts(list(events.values()))
    assert moved.start + day == events[plan.uid(moved)].start
    assert "CANCELLED" == events[plan.uid(cancelled)]["STATUS"]
    assert (1, 1) == (events[plan.uid(moved)].sequence, events[plan.uid(cancelled)].sequence)


def test_wrong_password_is_one_line_naming_the_calendar(
    server: Server, plan: ketaplan.Plan
) -> None:
    """A password the server rejects is a PublishError for HTTP 401 that names the URL, not the password."""
    with pytest.raises(ketaplan.PublishError) as caught:
        ketaplan.publish(plan, server.calendar, user=USER, password="wrong horse", now=NOW)
    message = str(caught.value)
    assert 401 == caught.value.status
    assert message.startswith(f"calendar {server.calendar}: ")
    assert "KETAPLAN_CALDAV_PASSWORD" in message
    assert ("\n" in message, "wrong horse" in message) == (False, False)
    assert [] == stored_events(server.calendar)


def test_unreachable_server_is_a_publish_error(plan: ketaplan.Plan) -> None:
    """A port where nothing listens is a PublishError saying the server cannot be reached."""
    url = f"http://127.0.0.1:{free_port()}/nurse/appointments/"
    with pytest.raises(ketaplan.PublishError, match="the server cannot be reached") as caught:
        ketaplan.publish(plan, url, user=USER, password=PASSWORD, now=NOW)
    assert isinstance(caught.value, ConnectionError)
    assert str(caught.value).startswith(f"calendar {url}: ")


def test_missing_calendar_is_a_publish_error(server: Server, plan: ketaplan.Plan) -> None:
    """A calendar URL the server does not have is a PublishError for HTTP 404."""
    url = server.root + f"{USER}/no-such-calendar/"
    with pytest.raises(ketaplan.PublishError, match="there is no calendar there") as caught:
        ketaplan.publish(plan, url, user=USER, password=PASSWORD, now=NOW)
    assert 404 == caught.value.status


def test_a_collection_that_is_not_a_calendar_is_refused(
    server: Server, plan: ketaplan.Plan
) -> None:
    """The user's home collection is not a calendar: nothing is written there."""
    url = server.root + f"{USER}/"
    with pytest.raises(ketaplan.PublishError, match="not a calendar collection"):
        ketaplan.publish(plan, url, user=USER, password=PASSWORD, now=NOW)
    with caldav.DAVClient(url=url, username=USER, password=PASSWORD) as client:
        children = Calendar(client=client, url=url).children()
    assert [server.calendar] == [str(child[0]) for child in children]


def test_another_users_calendar_is_forbidden(server: Server, plan: ketaplan.Plan) -> None:
    """Writing to a calendar the user may not write to is a PublishError for HTTP 403."""
    with pytest.raises(ketaplan.PublishError, match="does not let user 'nurse' write") as caught:
        ketaplan.publish(plan, server.root + "someone/else/", user=USER, password=PASSWORD, now=NOW)
    assert 403 == caught.value.status


def test_a_password_in_the_url_is_never_shown(plan: ketaplan.Plan) -> None:
    """Credentials written into the URL are used, but the password is left out of messages."""
    port = free_port()
    with pytest.raises(ketaplan.PublishError) as caught:
        ketaplan.publish(plan, f"http://nurse:s3cret@127.0.0.1:{port}/cal/", now=NOW)
    assert str(caught.value).startswith(f"calendar http://nurse@127.0.0.1:{port}/cal/: ")
    assert "s3cret" not in str(caught.value)


def test_a_url_that_is_not_http_is_a_spec_error(plan: ketaplan.Plan) -> None:
    """Only http:// and https:// addresses are accepted."""
    with pytest.raises(ketaplan.SpecError) as caught:
        ketaplan.publish(plan, "caldav.example.org/nurse", now=NOW)
    assert caught.value.field == "url"


def test_without_caldav_the_error_says_what_to_install(
    plan: ketaplan.Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the caldav library, publishing says to install the ketaplan[caldav] extra."""
    for module in [name for name in sys.modules if name.split(".")[0] == "caldav"]:
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ketaplan.MissingExtraError) as caught:
        ketaplan.publish(plan, "http://127.0.0.1:9/cal/", now=NOW)
    assert isinstance(caught.value, ImportError)
    assert str(caught.value).endswith("pip install 'ketaplan[caldav]'")


def test_an_old_caldav_is_named_with_the_upgrade_command(
    plan: ketaplan.Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caldav older than the extra requires is reported with its version and how to upgrade."""
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "3.2.1")
    with pytest.raises(ketaplan.MissingExtraError) as caught:
        ketaplan.publish(plan, "http://127.0.0.1:9/cal/", now=NOW)
    assert ("3.2.1", f"{CALDAV_REQUIREMENT}") == (caught.value.installed, caught.value.requirement)
    assert str(caught.value).endswith("pip install --upgrade 'ketaplan[caldav]'")


def test_the_caldav_extra_requires_what_publish_checks() -> None:
    """pyproject's caldav extra and the version publish checks for are the same."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert [CALDAV_REQUIREMENT] == project["optional-dependencies"]["caldav"]
    assert CALDAV_REQUIREMENT in project["optional-dependencies"]["test"]
    assert CALDAV_REQUIREMENT == "caldav>=" + ".".join(map(str, CALDAV_MINIMUM))


def test_each_calendar_object_holds_one_event_and_the_time_zone(plan: ketaplan.Plan) -> None:
    """The plan's calendar is split into one VCALENDAR per event, each with the VTIMEZONE and no METHOD."""
    objects = split(ketaplan.render_ics(plan, now=NOW))
    assert [plan.uid(s) for s in plan.sessions] == [str(o.events[0]["UID"]) for o in objects]
    assert {(1, 1, False)} == {(len(o.events), len(o.timezones), "METHOD" in o) for o in objects}


def test_cli_publish_prints_a_summary(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ketaplan publish` reads the password from KETAPLAN_CALDAV_PASSWORD and prints one summary line."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    monkeypatch.setenv("KETAPLAN_CALDAV_PASSWORD", PASSWORD)
    code, out, err = run("publish", str(PLAN_FILE), "--url", server.calendar, "--user", USER)
    count = len(stored_events(server.calendar))
    assert (0, "") == (code, err)
    assert f"{server.calendar}: {count} events, {count} created, 0 updated, 0 unchanged\n" == out


def test_cli_wrong_password_exits_2_with_one_line(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong KETAPLAN_CALDAV_PASSWORD prints one `error:` line without the password and exits 2."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    monkeypatch.setenv("KETAPLAN_CALDAV_PASSWORD", "wrong horse")
    code, out, err = run("publish", str(PLAN_FILE), "--url", server.calendar, "--user", USER)
    assert (2, "") == (code, out)
    assert 1 == len(err.splitlines())
    assert err.startswith(f"error: calendar {server.calendar}: ")
    assert "wrong horse" not in err


def test_a_session_dropped_from_the_plan_is_published_cancelled(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Build, publish the saved JSON, drop a session from the plan file, rebuild, publish: it is cancelled, not gone."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795000000")
    monkeypatch.setenv("KETAPLAN_CALDAV_PASSWORD", PASSWORD)
    plan_file = tmp_path / "plan.toml"
    text = PLAN_FILE.read_text(encoding="utf-8")
    plan_file.write_text(text, encoding="utf-8")
    first = ketaplan.load_plan(plan_file, now=NOW)
    saved = tmp_path / "out" / f"{first.id}.json"
    assert 0 == run("build", str(plan_file), "--out", str(tmp_path / "out"))[0]
    assert 0 == run("publish", str(saved), "--url", server.calendar, "--user", USER)[0]

    plan_file.write_text(text.replace("sessions = 3", "sessions = 2"), encoding="utf-8")
    assert 0 == run("build", str(plan_file), "--out", str(tmp_path / "out"))[0]
    code, out, _ = run("publish", str(saved), "--url", server.calendar, "--user", USER)
    events = {str(event["UID"]): event for event in stored_events(server.calendar)}

    kept = {session.key for session in ketaplan.load_plan(plan_file, now=NOW).sessions}
    dropped = [session for session in first.sessions if session.key not in kept]
    assert (0, 1) == (code, len(dropped))
    assert {first.uid(s) for s in first.sessions} == set(events)
    assert "CANCELLED" == events[first.uid(dropped[0])]["STATUS"]
    assert f": {len(first.sessions)} events, 0 created, " in out
