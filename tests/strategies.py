"""Hypothesis strategies for clinics, preferences and start dates."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

import ketaplan

ZONES = ("America/Toronto", "Europe/London", "Australia/Sydney", "Asia/Tokyo", "America/Sao_Paulo")
HOLIDAYS = {
    "America/Toronto": ("CA-ON",),
    "Europe/London": ("GB-ENG",),
    "Australia/Sydney": ("AU-NSW",),
    "Asia/Tokyo": ("JP",),
    "America/Sao_Paulo": ("BR",),
}
WEEKDAYS = list(ketaplan.Weekday)


@st.composite
def clinics(draw: st.DrawFn) -> ketaplan.Clinic:
    """A clinic in one of several zones, open most weekdays, with a few closures."""
    zone = draw(st.sampled_from(ZONES))
    open_days = draw(st.sets(st.sampled_from(WEEKDAYS), min_size=4, max_size=7))
    opens = draw(st.sampled_from([dt.time(7), dt.time(8), dt.time(9)]))
    closes = draw(st.sampled_from([dt.time(17), dt.time(18), dt.time(20)]))
    hours = {day: (ketaplan.Hours(opens, closes),) for day in open_days}
    closure_days = draw(st.lists(st.dates(dt.date(2026, 1, 1), dt.date(2028, 12, 31)), max_size=4))
    closures = tuple(
        ketaplan.Closure(day, day + dt.timedelta(days=draw(st.integers(0, 2))), "closed")
        for day in closure_days
    )
    return ketaplan.Clinic(
        name="Test clinic",
        timezone=zone,
        hours=hours,
        holidays=HOLIDAYS[zone] if draw(st.booleans()) else (),
        closures=closures,
        consecutive_days=draw(st.booleans()),
        min_gap=dt.timedelta(hours=draw(st.sampled_from([0, 24, 48]))),
        chairs=draw(st.integers(1, 3)),
    )


def preferences() -> st.SearchStrategy[ketaplan.Preferences]:
    """A preferred time in clinic hours and two or three preferred weekdays."""
    return st.builds(
        ketaplan.Preferences,
        time=st.sampled_from([dt.time(9), dt.time(9, 30), dt.time(10, 15), dt.time(13)]),
        weekdays=st.sets(st.sampled_from(WEEKDAYS[:5]), min_size=2, max_size=3).map(tuple),
    )


def starts() -> st.SearchStrategy[dt.date]:
    """Start dates over two years, so every DST change and holiday season comes up."""
    return st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31))


def odd_texts() -> st.SearchStrategy[str]:
    """Text a clinic might paste into a name, address or reason: line breaks, NUL,
    emoji, right-to-left marks, iCalendar and template syntax, mixed with plain text."""
    pieces = st.sampled_from(
        [
            "\n",
            "\r\n",
            "\r",
            "\x00",
            "\t",
            ";",
            ",",
            "\\",
            ":",
            '"',
            "💉",
            "👩🏽‍⚕️",
            "\u202e",
            "\u200b",
            "\u2028",
            "مرحبا",
            "BEGIN:VEVENT",
            "X\nATTENDEE:mailto:evil@example.com",
            "{{ 7 * 7 }}",
            "<b>bold</b>",
        ]
    )
    return st.lists(st.one_of(pieces, st.text(max_size=6)), max_size=8).map("".join)
