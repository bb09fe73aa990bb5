"""The VTIMEZONE in every calendar, resolved by its own observances, never by tzdata.

Each observance's onsets are its DTSTART, the expansion of its RRULE by
dateutil and its RDATEs; the offset at an instant is the TZOFFSETTO of the
last onset before it (RFC 5545, 3.6.5). That offset is compared with what
zoneinfo says for the same instant, for every day of a plan's span, and each
event's wall-clock DTSTART and DTEND, read through it, must give the
session's own instants.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import json
import re
import zoneinfo
from pathlib import Path

import icalendar
import pytest
from dateutil import rrule

import ketaplan
from ketaplan.export import _vtimezone

from .conftest import NOW
from .test_ics import CORPUS, build_source, dst_plan

#: RFC 5545 says nothing of size; the major clients' own definitions are a few
#: hundred bytes, and some servers and clients refuse long ones.
MAX_BYTES = 1536


@dataclasses.dataclass(frozen=True)
class Onset:
    """One change of a zone: its instant in UTC and the offsets either side."""

    at: dt.datetime  # naive UTC
    before: dt.timedelta
    after: dt.timedelta


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A VTIMEZONE read as the list of its changes, in order."""

    onsets: list[Onset]

    def offset(self, moment: dt.datetime) -> dt.timedelta:
        """The UTC offset at the instant ``moment`` (naive UTC)."""
        index = bisect.bisect_right([onset.at for onset in self.onsets], moment) - 1
        assert index >= 0, f"no observance covers {moment.isoformat()}"
        return self.onsets[index].after

    def instant(self, wall: dt.datetime) -> dt.datetime:
        """The UTC instant of the wall-clock time ``wall``, as RFC 5545 (3.3.5) reads it:
        in the repeated hour the first of the two, in a skipped hour with the offset
        before the gap."""
        offsets = sorted({onset.after for onset in self.onsets} | {self.onsets[0].before})
        fits = sorted(wall - offset for offset in offsets if self.offset(wall - offset) == offset)
        if fits:
            return fits[0]
        gap = next(o for o in self.onsets if o.at + o.before <= wall < o.at + o.after)
        return wall - gap.before


def resolve(vtimezone: icalendar.Component, until: dt.datetime) -> Resolved:
    """Every change of ``vtimezone`` up to ``until`` (local), from its observances alone."""
    onsets = []
    for observance in vtimezone.subcomponents:
        start = observance.decoded("DTSTART")
        before = observance.decoded("TZOFFSETFROM")
        after = observance.decoded("TZOFFSETTO")
        walls = [start]
        if "RRULE" in observance:
            recurrence = observance["RRULE"]
            text = icalendar.vRecur({k: v for k, v in recurrence.items() if k != "UNTIL"}).to_ical()
            rule = rrule.rrulestr(text.decode(), dtstart=start)
            if "UNTIL" in recurrence:
                # UNTIL is UTC (RFC 5545, 3.3.10): the last onset in local time before it.
                last = recurrence["UNTIL"][0].astimezone(dt.UTC).replace(tzinfo=None) + before
                rule = rule.replace(until=last)
            walls = rule.between(start, until, inc=True)
            assert [start] == walls[:1], "DTSTART is the rule's first onset"
        dates = observance.get("RDATE", [])
        for value in dates if isinstance(dates, list) else [dates]:
            walls.extend(period.dt for period in value.dts)
        onsets.extend(Onset(wall - before, before, after) for wall in walls)
    return Resolved(sorted(onsets, key=lambda onset: onset.at))


def read_vtimezone(data: bytes) -> tuple[icalendar.Component, int]:
    """The one VTIMEZONE in ``data`` and its size in bytes."""
    (vtimezone,) = icalendar.Calendar.from_ical(data).walk("VTIMEZONE")
    block = re.search(rb"BEGIN:VTIMEZONE\r\n.*?END:VTIMEZONE\r\n", data, re.DOTALL)
    assert block is not None
    return vtimezone, len(block.group())


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def check_against_zoneinfo(
    resolved: Resolved,
    key: str,
    first: dt.date,
    last: dt.date,
    hours: tuple[int, ...] = (0, 6, 12, 18),
) -> None:
    """For every day from ``first`` to ``last``, at each of ``hours`` (UTC), and on both sides
    of each change in that span, the VTIMEZONE's offset is zoneinfo's."""
    zone = zoneinfo.ZoneInfo(key)
    moments = [
        dt.datetime.combine(day, dt.time(hour))
        for day in days(first, last)
        for hour in (0, 6, 12, 18)
    ]
    low, high = moments[0] - dt.timedelta(days=1), moments[-1] + dt.timedelta(days=1)
    for onset in resolved.onsets:
        if low <= onset.at <= high:
            moments += [onset.at - dt.timedelta(seconds=1), onset.at]
    wrong = [
        moment.isoformat()
        for moment in moments
        if resolved.offset(moment) != moment.replace(tzinfo=dt.UTC).astimezone(zone).utcoffset()
    ]
    assert [] == wrong, key


@pytest.mark.parametrize("audience", ["patient", "clinic"])
@pytest.mark.parametrize("source", CORPUS, ids=str)
def test_every_event_resolves_through_the_files_own_rules(source: str, audience: str) -> None:
    """Every event's DTSTART and DTEND, read through the file's own VTIMEZONE (its RRULEs
    expanded with dateutil), are the session's instants, and for every day of the plan's span
    the VTIMEZONE gives zoneinfo's offset."""
    plan, data = build_source(source, audience)
    vtimezone, _size = read_vtimezone(data)
    zone = plan.clinic.zone
    first = min(s.start.astimezone(zone).date() for s in plan.sessions)
    last = max(s.end.astimezone(zone).date() for s in plan.sessions)
    resolved = resolve(vtimezone, dt.datetime.combine(last, dt.time()) + dt.timedelta(days=3))
    check_against_zoneinfo(resolved, plan.clinic.timezone, first, last)
    events = icalendar.Calendar.from_ical(data).walk("VEVENT")
    found = {
        (
            resolved.instant(event.decoded("DTSTART").replace(tzinfo=None)),
            resolved.instant(event.decoded("DTEND").replace(tzinfo=None)),
        )
        for event in events
    }
    utc = {
        (
            s.start.astimezone(dt.UTC).replace(tzinfo=None),
            s.end.astimezone(dt.UTC).replace(tzinfo=None),
        )
        for s in plan.sessions
    }
    assert utc == found


@pytest.mark.parametrize(
    "key", ["America/Toronto", "Europe/London", "Australia/Sydney", "America/Vancouver"]
)
def test_a_plan_that_starts_in_dst_gets_both_observances_with_rules(key: str) -> None:
    """Regression (ical4j 4.0 applied no DST change to observances without RRULE; ical4j 4.3
    and Outlook misread a zone that opens with a DAYLIGHT section whose offsets are equal, or
    has no STANDARD section): a plan starting in DST gets exactly one STANDARD and one
    DAYLIGHT observance, each with a yearly RRULE, each changing the offset."""
    plan = dst_plan(key)
    vtimezone, _size = read_vtimezone(ketaplan.render_ics(plan, now=NOW))
    observances = {o.name: o for o in vtimezone.subcomponents}
    assert ["DAYLIGHT", "STANDARD"] == sorted(o.name for o in vtimezone.subcomponents)
    for observance in observances.values():
        assert "YEARLY" == observance["RRULE"]["FREQ"][0]
        assert "UNTIL" not in observance["RRULE"]
        assert observance.decoded("TZOFFSETFROM") != observance.decoded("TZOFFSETTO")
    daylight, standard = observances["DAYLIGHT"], observances["STANDARD"]
    assert daylight.decoded("TZOFFSETTO") > standard.decoded("TZOFFSETTO")


def test_onsets_are_in_the_local_time_before_the_change() -> None:
    """Regression: Toronto's clocks go forward at 02:00 EST (07:00Z) and back at 02:00 EDT
    (06:00Z); each DTSTART is that local time before the change, never the new wall time."""
    vtimezone, _size = read_vtimezone(ketaplan.render_ics(dst_plan("America/Toronto"), now=NOW))
    resolved = resolve(vtimezone, dt.datetime(2028, 1, 1))
    changes = [
        o for o in resolved.onsets if dt.datetime(2027, 1, 1) <= o.at < dt.datetime(2028, 1, 1)
    ]
    assert [dt.datetime(2027, 3, 14, 7), dt.datetime(2027, 11, 7, 6)] == [o.at for o in changes]
    daylight = next(o for o in vtimezone.subcomponents if o.name == "DAYLIGHT")
    assert "20070311T020000" == daylight["DTSTART"].to_ical().decode()


def test_a_zone_without_dst_gets_one_standard_observance() -> None:
    """Tokyo keeps no DST: its VTIMEZONE is one STANDARD observance at +09:00."""
    data = _vtimezone.vtimezone_bytes("Asia/Tokyo", dt.date(2027, 1, 1), dt.date(2027, 12, 31))
    vtimezone = icalendar.Timezone.from_ical(data)
    assert ["STANDARD"] == [o.name for o in vtimezone.subcomponents]
    assert dt.timedelta(hours=9) == vtimezone.subcomponents[0].decoded("TZOFFSETTO")


def test_the_definition_is_built_once_per_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plans of different spans under a zone's current rule share one definition, built once;
    the caches are bounded."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _vtimezone.clear_cache()
    one = _vtimezone.vtimezone_bytes("Europe/London", dt.date(2027, 1, 4), dt.date(2027, 3, 1))
    other = _vtimezone.vtimezone_bytes("Europe/London", dt.date(2031, 5, 2), dt.date(2035, 9, 30))
    built = _vtimezone._component.cache_info()
    kept = _vtimezone._kept.cache_info()
    _vtimezone.clear_cache()
    assert one is other
    assert (1, 0) == (built.misses, built.hits)
    assert (1, 1) == (kept.misses, kept.hits)
    assert None not in (built.maxsize, kept.maxsize)


def _no_zone_read(key: str) -> None:
    raise AssertionError(f"{key} was read again")


def test_the_definition_is_kept_for_the_next_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process finds the definition of a plan under the zone's current rule in the
    user's private cache folder, without reading the zone's changes again; a plan before
    the rule, and a zone file that changed, are worked out from the zone as before. What an
    earlier state of ketaplan kept is removed."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "ketaplan" / "vtimezone-0123456789abcdef").mkdir(parents=True)
    _vtimezone.clear_cache()
    expected = _vtimezone.vtimezone_bytes(
        "America/Toronto", dt.date(2027, 1, 4), dt.date(2027, 12, 31)
    )
    old = _vtimezone.vtimezone_bytes("America/Toronto", dt.date(2005, 9, 1), dt.date(2007, 12, 31))
    (folder,) = (tmp_path / "ketaplan").glob("vtimezone-*")
    assert 0o700 == folder.stat().st_mode & 0o777
    assert 1 == len(list(folder.iterdir()))
    _vtimezone.clear_cache()
    with monkeypatch.context() as patch:
        patch.setattr(_vtimezone, "_read", _no_zone_read)
        assert expected == _vtimezone.vtimezone_bytes(
            "America/Toronto", dt.date(2031, 5, 2), dt.date(2032, 1, 30)
        )
    assert old == _vtimezone.vtimezone_bytes(
        "America/Toronto", dt.date(2005, 9, 1), dt.date(2007, 12, 31)
    )
    _vtimezone.clear_cache()
    monkeypatch.setattr(_vtimezone, "_tzif_bytes", lambda key: b"another tzdata release")
    with monkeypatch.context() as patch:
        patch.setattr(_vtimezone, "_read", _no_zone_read)
        with pytest.raises(AssertionError, match="read again"):
            _vtimezone.vtimezone_bytes(
                "America/Toronto", dt.date(2027, 1, 4), dt.date(2027, 12, 31)
            )
    _vtimezone.clear_cache()


@pytest.mark.parametrize(
    "damaged",
    [
        "{not json",
        "[1]",
        '{"key": "another zone", "data": {"era": 0, "component": "BEGIN:VTIMEZONE"}}',
        '{"key": "KEY", "data": {"era": "0", "component": "BEGIN:VTIMEZONE"}}',
        '{"key": "KEY", "data": {"era": 0, "component": 1}}',
    ],
)
def test_a_damaged_or_unusable_definition_cache_only_means_working_it_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damaged: str
) -> None:
    """A kept file that is not what ketaplan wrote, and a cache folder that cannot be made,
    give the same definition as working it out from the zone."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _vtimezone.clear_cache()
    first, last = dt.date(2027, 1, 4), dt.date(2027, 12, 31)
    expected = _vtimezone.vtimezone_bytes("Europe/Paris", first, last)
    (stored,) = tmp_path.glob("ketaplan/vtimezone-*/*.json")
    key = json.loads(stored.read_text(encoding="utf-8"))["key"]
    stored.write_text(damaged.replace("KEY", key.replace("\n", "\\n")), encoding="utf-8")
    _vtimezone.clear_cache()
    assert expected == _vtimezone.vtimezone_bytes("Europe/Paris", first, last)
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    _vtimezone.clear_cache()
    assert expected == _vtimezone.vtimezone_bytes("Europe/Paris", first, last)
    _vtimezone.clear_cache()


@pytest.mark.parametrize(
    ("key", "first", "last"),
    [
        ("America/Toronto", dt.date(2005, 9, 1), dt.date(2007, 12, 31)),
        ("Europe/London", dt.date(1995, 1, 2), dt.date(1997, 6, 30)),
        ("Australia/Sydney", dt.date(2006, 11, 1), dt.date(2009, 5, 1)),
        ("Africa/Casablanca", dt.date(2027, 1, 4), dt.date(2031, 12, 29)),
        ("America/Sao_Paulo", dt.date(2017, 1, 2), dt.date(2021, 12, 31)),
        ("Asia/Jerusalem", dt.date(2027, 1, 4), dt.date(2028, 12, 29)),
        ("Africa/Cairo", dt.date(2027, 1, 4), dt.date(2028, 12, 29)),
    ],
)
def test_rules_that_changed_inside_the_span_are_kept(
    key: str, first: dt.date, last: dt.date
) -> None:
    """Where the rules change inside the span (the US rule of 2007, Brazil dropping DST,
    Morocco's Ramadan changes), or the rule needs more than one RRULE can say, the definition
    still gives zoneinfo's offset on every day, and stays small."""
    data = _vtimezone.vtimezone_bytes(key, first, last)
    vtimezone = icalendar.Timezone.from_ical(data)
    resolved = resolve(vtimezone, dt.datetime.combine(last, dt.time()) + dt.timedelta(days=3))
    check_against_zoneinfo(resolved, key, first, last)
    assert len(data) <= MAX_BYTES


def test_every_zone_is_right_and_small_for_a_year() -> None:
    """For every zone zoneinfo knows, the definition for a plan in 2027 gives zoneinfo's offset
    every day and at every change, in at most 1.5 KB."""
    first, last = dt.date(2027, 1, 4), dt.date(2027, 12, 31)
    sizes = {}
    for key in sorted(zoneinfo.available_timezones()):
        data = _vtimezone.vtimezone_bytes(key, first, last)
        resolved = resolve(icalendar.Timezone.from_ical(data), dt.datetime(2028, 1, 5))
        check_against_zoneinfo(resolved, key, first, last, hours=(12,))
        sizes[key] = len(data)
    assert {} == {key: size for key, size in sizes.items() if size > MAX_BYTES}


@pytest.mark.parametrize("year", [2000, 2008, 2016, 2026])
def test_every_zone_stays_small_for_five_years(year: int) -> None:
    """Over the longest span a plan may have, starting in any of these years, every zone's
    definition stays within 1.5 KB."""
    first = dt.date(year, 1, 3)
    last = first + dt.timedelta(days=5 * 366)
    sizes = {
        key: len(_vtimezone.vtimezone_bytes(key, first, last))
        for key in sorted(zoneinfo.available_timezones())
    }
    assert {} == {key: size for key, size in sizes.items() if size > MAX_BYTES}


def test_the_zone_is_read_from_the_file_zoneinfo_reads(tmp_path: Path) -> None:
    """The definition follows zoneinfo's search path: a zone file placed first on it is the
    one described (so the calendar agrees with the plan's own times)."""
    source = zoneinfo._tzpath.find_tzfile("America/Toronto")  # type: ignore[attr-defined]
    if source is None:
        pytest.skip("no system tzdata: zoneinfo reads the tzdata package")
    folder = tmp_path / "America"
    folder.mkdir()
    (folder / "Toronto").write_bytes(Path(source).read_bytes())
    (folder / "Halifax").write_bytes(Path(source).read_bytes())
    zoneinfo.reset_tzpath([str(tmp_path)])
    _vtimezone.clear_cache()
    try:
        data = _vtimezone.vtimezone_bytes(
            "America/Halifax", dt.date(2027, 1, 4), dt.date(2027, 3, 1)
        )
    finally:
        zoneinfo.reset_tzpath()
        _vtimezone.clear_cache()
    assert b"TZOFFSETTO:-0500" in data
    assert b"TZOFFSETTO:-0300" not in data
