"""The patient's timeline: the course drawn along a date axis as SVG geometry, and in words.

Every coordinate is an integer in SVG user units; the template only draws them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from ..._i18n import Language
from ..._protocol import SessionKind
from ..._session import Session, SessionStatus
from ._course import Course

# SVG user units; the viewBox scales to the page, so 720 wide prints on Letter and A4.
_TIMELINE_WIDTH = 720
_TIMELINE_LEFT = 12
_TIMELINE_RIGHT = _TIMELINE_WIDTH - 12
_BAND_TOP = 24
_BAND_HEIGHT = 28
_AXIS_Y = 62
_DOSING_TICK = (16, _AXIS_Y)
_OTHER_TICK = (40, _AXIS_Y)
_LABEL_Y = 80
_LEGEND_Y = 104
_LEGEND_ROW = 20
_CHAR_WIDTH = 7  # a generous average advance of the 11px sans-serif labels
_PHASE_COLOURS = ("#9ec5e8", "#b8deb0", "#f3d49b", "#d6c2ea", "#f2b8b5", "#c9d6df")
_TICK_COLOURS = {"dosing": "#14324f", "other": "#a3480a"}


class Band:
    """One phase drawn as a coloured band along the timeline's date axis."""

    __slots__ = ("colour", "title", "width", "x")

    def __init__(self, x: int, width: int, colour: str, title: str) -> None:
        self.x = x
        self.width = width
        self.colour = colour
        self.title = title


class Tick:
    """One session on the timeline: a dosing tick is tall, any other session's is short."""

    __slots__ = ("bottom", "cancelled", "kind", "label", "top", "x")

    def __init__(
        self, x: int, top: int, bottom: int, kind: str, cancelled: bool, label: str
    ) -> None:
        self.x = x
        self.top = top
        self.bottom = bottom
        self.kind = kind
        self.cancelled = cancelled
        self.label = label


class MonthMark:
    """A month boundary on the date axis and its label."""

    __slots__ = ("label", "x")

    def __init__(self, x: int, label: str) -> None:
        self.x = x
        self.label = label


class LegendItem:
    """One entry of the timeline's legend: a swatch (a band colour or a tick kind) and its text."""

    __slots__ = ("colour", "swatch", "text", "x", "y")

    def __init__(self, x: int, y: int, swatch: str, colour: str, text: str) -> None:
        self.x = x
        self.y = y
        self.swatch = swatch
        self.colour = colour
        self.text = text


class TimelineMonth:
    """The timeline as text: the days of one month with a session, by kind."""

    __slots__ = ("dosing", "month", "other")

    def __init__(self, month: str, dosing: str, other: str) -> None:
        self.month = month
        self.dosing = dosing
        self.other = other


class Timeline:
    """The course drawn along a date axis; every coordinate an integer in SVG user units."""

    __slots__ = (
        "axis_y",
        "band_height",
        "band_top",
        "bands",
        "description",
        "height",
        "label_y",
        "left",
        "legend",
        "months",
        "right",
        "text",
        "ticks",
        "title",
        "width",
    )

    def __init__(
        self,
        width: int,
        height: int,
        band_top: int,
        band_height: int,
        axis_y: int,
        label_y: int,
        left: int,
        right: int,
        title: str,
        description: str,
        bands: tuple[Band, ...],
        ticks: tuple[Tick, ...],
        months: tuple[MonthMark, ...],
        legend: tuple[LegendItem, ...],
        text: tuple[TimelineMonth, ...],
    ) -> None:
        self.width = width
        self.height = height
        self.band_top = band_top
        self.band_height = band_height
        self.axis_y = axis_y
        self.label_y = label_y
        self.left = left
        self.right = right
        self.title = title
        self.description = description
        self.bands = bands
        self.ticks = ticks
        self.months = months
        self.legend = legend
        self.text = text


def timeline(course: Course) -> Timeline | None:
    """The course along a date axis: a band per phase, a tick per session, month marks, a legend."""
    plan = course.plan
    words = course.words
    _ = words.gettext
    sessions = course.sessions
    if not sessions:
        return None
    days = [course.local(s.start).date() for s in sessions]
    first, last = min(days), max(days)
    span = (last - first).days + 1
    plot = _TIMELINE_RIGHT - _TIMELINE_LEFT

    def edge(day: dt.date) -> int:
        return _TIMELINE_LEFT + ((day - first).days * plot) // span

    def middle(day: dt.date) -> int:
        return _TIMELINE_LEFT + ((2 * (day - first).days + 1) * plot) // (2 * span)

    bands = []
    summary = []
    for number, (name, found) in enumerate(course.phases):
        title = plan.protocol.phase(name).title
        if not found:
            summary.append(_("%(phase)s: not dated yet.") % {"phase": title})
            continue
        start = course.local(found[0].start).date()
        end = course.local(found[-1].start).date()
        x = edge(start)
        bands.append(
            Band(
                x=x,
                width=max(edge(end + dt.timedelta(days=1)) - x, 1),
                colour=_PHASE_COLOURS[number % len(_PHASE_COLOURS)],
                title=title,
            )
        )
        count = len(found)
        facts = {
            "phase": title,
            "count": count,
            "dates": course.date_range(found) or words.long_date(start),
        }
        summary.append(
            words.ngettext(
                "%(phase)s: %(count)d session, %(dates)s.",
                "%(phase)s: %(count)d sessions, %(dates)s.",
                count,
            )
            % facts
        )

    ticks = []
    for session, day in zip(sessions, days, strict=True):
        kind = "dosing" if session.kind is SessionKind.DOSING else "other"
        top, bottom = _DOSING_TICK if kind == "dosing" else _OTHER_TICK
        cancelled = session.status is SessionStatus.CANCELLED
        label = f"{course.title(session)}, {words.long_date(day)}" + (
            _(" (cancelled)") if cancelled else ""
        )
        ticks.append(Tick(middle(day), top, bottom, kind, cancelled, label))

    months: list[MonthMark] = []
    month = first.replace(day=1)
    free_from = _TIMELINE_LEFT
    while month <= last:
        x = edge(max(month, first))
        label = words.month_abbreviation(month.month)
        if not months or month.month == 1:
            label = f"{label} {month.year}"
        width = len(label) * _CHAR_WIDTH
        if x < free_from or x + width > _TIMELINE_RIGHT:
            label = ""
        else:
            free_from = x + width + _CHAR_WIDTH
        months.append(MonthMark(x, label))
        month = (month + dt.timedelta(days=32)).replace(day=1)

    entries = [("band", band.colour, band.title) for band in bands]
    kinds = {tick.kind for tick in ticks}
    if "dosing" in kinds:
        entries.append(("dosing", _TICK_COLOURS["dosing"], words.kind(SessionKind.DOSING)))
    if "other" in kinds:
        labels = dict.fromkeys(
            words.kind(s.kind) for s in sessions if s.kind is not SessionKind.DOSING
        )
        entries.append(
            (
                "other",
                _TICK_COLOURS["other"],
                _("Other sessions (%(kinds)s)") % {"kinds": ", ".join(labels)},
            )
        )
    if any(tick.cancelled for tick in ticks):
        entries.append(("cancelled", "#6b6b6b", _("Cancelled")))
    legend = []
    x, y = _TIMELINE_LEFT, _LEGEND_Y
    for swatch, colour, text in entries:
        width = 22 + len(text) * _CHAR_WIDTH + 18
        if x + width > _TIMELINE_RIGHT and x > _TIMELINE_LEFT:
            x, y = _TIMELINE_LEFT, y + _LEGEND_ROW
        legend.append(LegendItem(x, y, swatch, colour, text))
        x += width

    return Timeline(
        width=_TIMELINE_WIDTH,
        height=y + 10,
        band_top=_BAND_TOP,
        band_height=_BAND_HEIGHT,
        axis_y=_AXIS_Y,
        label_y=_LABEL_Y,
        left=_TIMELINE_LEFT,
        right=_TIMELINE_RIGHT,
        title=_("Timeline of your course"),
        description=" ".join(summary),
        bands=tuple(bands),
        ticks=tuple(ticks),
        months=tuple(months),
        legend=tuple(legend),
        text=_timeline_text(sessions, days, words),
    )


def _timeline_text(
    sessions: Sequence[Session], days: Sequence[dt.date], words: Language
) -> tuple[TimelineMonth, ...]:
    """The timeline in words: for each month, the days with a treatment session and with another.

    Each day is listed once in each list, however many sessions share it, and
    marked cancelled only when every one of those sessions is.
    """
    # (year, month) -> (dosing days, other days), each day -> "all its sessions cancelled"
    months: dict[tuple[int, int], tuple[dict[int, bool], dict[int, bool]]] = {}
    for session, day in zip(sessions, days, strict=True):
        dosing, other = months.setdefault((day.year, day.month), ({}, {}))
        found = dosing if session.kind is SessionKind.DOSING else other
        cancelled = session.status is SessionStatus.CANCELLED
        found[day.day] = found.get(day.day, True) and cancelled

    def listed(found: dict[int, bool]) -> str:
        cancelled = words.gettext(" (cancelled)")
        return ", ".join(f"{day}" + (cancelled if gone else "") for day, gone in found.items())

    return tuple(
        TimelineMonth(words.month_year(dt.date(year, month, 1)), listed(dosing), listed(other))
        for (year, month), (dosing, other) in months.items()
    )
