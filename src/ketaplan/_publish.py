"""Publishing a plan into a CalDAV calendar, one calendar object per session.

The plan's calendar (:func:`~ketaplan.render_ics`) is split into one VCALENDAR
per event, each with the plan's VTIMEZONE, and every event is stored under its
stable UID: publishing again updates the same events instead of adding
copies. An event whose content did not change is left alone; one that did is
written over with its SEQUENCE raised by one. Nothing is ever deleted: a
cancelled session stays in the calendar with ``STATUS:CANCELLED``.

The ``caldav`` library is an optional extra (``pip install 'ketaplan[caldav]'``)
and is imported only when publishing. ``docs/publish.md`` is the user's guide.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import re
import urllib.parse
from collections import Counter
from copy import deepcopy
from typing import TYPE_CHECKING, Literal, cast

import attrs
import icalendar

from ._plan import Plan
from .exceptions import MissingExtraError, PublishError, SpecError
from .export import render_ics

if TYPE_CHECKING:
    from caldav.calendarobjectresource import CalendarObjectResource
    from caldav.collection import Calendar

__all__ = ["PublishResult", "publish"]

Outcome = Literal["created", "updated", "unchanged"]

FEATURE = "publishing to a CalDAV calendar"
#: The oldest caldav whose errors carry the HTTP status; keep in step with
#: the ``caldav`` extra in pyproject.toml (a test checks).
CALDAV_MINIMUM = (3, 6)
CALDAV_REQUIREMENT = "caldav>=3.6"
#: Seconds to wait for the server to connect or answer, per request.
TIMEOUT = 30
#: Properties that change on every publish and so do not make an event different.
VOLATILE = ("DTSTAMP", "SEQUENCE")
#: Calendar properties each calendar object keeps. METHOD is left out: RFC 4791
#: section 4.1 forbids it in a calendar collection.
CALENDAR_PROPERTIES = ("VERSION", "PRODID", "CALSCALE")

RESOURCETYPE = "{DAV:}resourcetype"
CALENDAR_TYPE = "{urn:ietf:params:xml:ns:caldav}calendar"
CHECK_ADDRESS = "check the calendar's address: it is the URL of the calendar collection itself, e.g. https://dav.example.org/nurse/appointments/"


@attrs.frozen
class PublishResult:
    """What :func:`publish` did: how many events it created, updated or left unchanged."""

    url: str
    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        """Every event of the plan: created, updated and unchanged together."""
        return self.created + self.updated + self.unchanged

    def __str__(self) -> str:
        return f"{self.url}: {self.total} events, {self.created} created, {self.updated} updated, {self.unchanged} unchanged"


def publish(
    plan: Plan,
    url: str,
    *,
    user: str | None = None,
    password: str | None = None,
    now: dt.datetime,
) -> PublishResult:
    """Put the plan's events into the CalDAV calendar at ``url``.

    ``url`` is the calendar collection's address; ``user`` and ``password``
    log in to it. Each session becomes one event stored under
    :meth:`Plan.uid <ketaplan.Plan.uid>`, so publishing again updates the
    events instead of adding copies; cancelled sessions stay, marked
    cancelled. ``now`` is every event's DTSTAMP.

    Raises :class:`~ketaplan.PublishError` when the server cannot be reached
    or refuses, and :class:`~ketaplan.MissingExtraError` when the ``caldav``
    extra is not installed or too old.
    """
    shown = _without_password(url)
    _require_caldav()
    from caldav.collection import Calendar
    from caldav.davclient import DAVClient
    from caldav.lib.error import DAVError

    objects = split(render_ics(plan, now=now))
    try:
        with DAVClient(url=url, username=user, password=password, timeout=TIMEOUT) as client:
            calendar = Calendar(client=client, url=url)
            _require_calendar(calendar, shown)
            stored = _stored(calendar)
            done = Counter(_put(calendar, single, stored) for single in objects)
    except PublishError:  # an OSError too: not a connection failure
        raise
    except DAVError as failure:
        raise _refused(shown, failure, user) from None
    except OSError as failure:  # requests' and niquests' errors are OSErrors
        raise PublishError(
            shown,
            f"the server cannot be reached ({_cause(failure)})",
            "check the address and that the server is running",
        ) from None
    return PublishResult(shown, done["created"], done["updated"], done["unchanged"])


def _require_caldav() -> None:
    """Raise MissingExtraError unless a recent enough caldav is installed."""
    try:
        import caldav  # noqa: F401
    except ImportError:
        raise MissingExtraError(FEATURE, "caldav", CALDAV_REQUIREMENT) from None
    try:
        installed = importlib.metadata.version("caldav")
    except importlib.metadata.PackageNotFoundError:  # importable, but not installed by pip
        return
    if tuple(int(part) for part in re.findall(r"\d+", installed)[:2]) < CALDAV_MINIMUM:
        raise MissingExtraError(FEATURE, "caldav", CALDAV_REQUIREMENT, installed=installed)


def split(content: bytes) -> list[icalendar.Calendar]:
    """One calendar object per event of an iCalendar file, each with the file's time zones."""
    calendar = icalendar.Calendar.from_ical(content)
    heads = {name: calendar[name] for name in CALENDAR_PROPERTIES if name in calendar}
    objects = []
    for event in calendar.events:
        single = icalendar.Calendar(heads)
        single.subcomponents.extend([*calendar.timezones, event])
        objects.append(single)
    return objects


def _require_calendar(calendar: Calendar, url: str) -> None:
    """Refuse an address that is a collection but not a calendar, such as a user's home."""
    from caldav.elements import dav

    properties = calendar.get_properties([dav.ResourceType()])
    kinds = properties.get(RESOURCETYPE) if isinstance(properties, dict) else None
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or ())
    if CALENDAR_TYPE not in kinds:
        raise PublishError(url, "the address is not a calendar collection", CHECK_ADDRESS)


def _stored(calendar: Calendar) -> dict[str, CalendarObjectResource]:
    """The calendar's events by UID."""
    events = cast("list[CalendarObjectResource]", calendar.get_events())
    return {str(item.id): item for item in events if item.id}


def _put(
    calendar: Calendar, single: icalendar.Calendar, stored: dict[str, CalendarObjectResource]
) -> Outcome:
    """Store one calendar object: a new event, an update, or nothing when it is unchanged."""
    from caldav.calendarobjectresource import Event

    event = single.events[0]
    uid = str(event.uid)
    old = stored.get(uid)
    if old is None:
        Event(calendar.client, data=single.to_ical(), parent=calendar).save(increase_seqno=False)
        return "created"
    old_event = _event(old.data, uid)
    if old_event is not None:
        if event.sequence <= old_event.sequence and _comparable(old_event) == _comparable(event):
            return "unchanged"
        # RFC 5545 3.8.7.4: each revision the calendar sees has a higher SEQUENCE.
        event.sequence = max(old_event.sequence + 1, event.sequence)
    old.data = single.to_ical()
    old.save(increase_seqno=False)
    return "updated"


def _event(data: object, uid: str) -> icalendar.Event | None:
    """The event ``uid`` in a stored calendar object, if it can be read."""
    if not isinstance(data, (str, bytes)):
        return None
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError:
        return None
    return next((event for event in calendar.events if str(event.get("UID")) == uid), None)


def _comparable(event: icalendar.Event) -> icalendar.Event:
    """A copy of the event without the properties that change on every publish."""
    copy = deepcopy(event)
    for name in VOLATILE:
        copy.pop(name, None)
    return copy


def _refused(url: str, failure: Exception, user: str | None) -> PublishError:
    status = getattr(failure, "status", None)
    if status == 401:
        reason = (
            f"the server did not accept user {user!r} with that password (HTTP 401)"
            if user
            else "the server asks for a user name and password (HTTP 401)"
        )
        return PublishError(
            url,
            reason,
            "check the user name and password (on the command line: --user and KETAPLAN_CALDAV_PASSWORD)",
            status=status,
        )
    if status == 403:
        who = f"user {user!r}" if user else "an anonymous user"
        return PublishError(
            url,
            f"the server does not let {who} write to this calendar (HTTP 403)",
            "check that the calendar belongs to, or is shared with, that user",
            status=status,
        )
    if status == 404:
        return PublishError(
            url, "there is no calendar there (HTTP 404)", CHECK_ADDRESS, status=status
        )
    answer = f"HTTP {status}" if status else type(failure).__name__
    return PublishError(
        url,
        f"the server refused the request ({answer})",
        "check that the address is a CalDAV calendar; the server's log says why it refused",
        status=status,
    )


def _cause(failure: BaseException) -> str:
    """The innermost cause of a connection error, e.g. 'Connection refused'."""
    while (inner := failure.__cause__ or failure.__context__) is not None:
        failure = inner
    text = getattr(failure, "strerror", None) or str(failure) or type(failure).__name__
    return " ".join(str(text).split())


def _without_password(url: str) -> str:
    """``url`` as it may be shown: an http(s) address with any password removed."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is not None:
        user = f"{parts.username}@" if parts.username else ""
        parts = parts._replace(netloc=user + parts.netloc.rpartition("@")[2])
    shown = urllib.parse.urlunsplit(parts)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SpecError(
            "url",
            shown,
            "expected the calendar's http:// or https:// address, e.g. https://dav.example.org/nurse/appointments/",
        )
    return shown
