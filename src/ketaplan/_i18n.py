"""Languages: the words, dates, times and numbers a plan's readers see.

A plan has a language (:data:`LANGUAGES`; ``"en"`` by default). It governs
what the patient and the clinician read: the documents, the calendars'
summaries, descriptions and alarms, and the invitations. Errors, logs and the
command line stay in English: they are for staff.

:class:`Language` holds one language's tools. Its texts come from the gettext
catalogues in ``ketaplan/locale`` (``messages.po``, compiled to
``messages.mo`` when the package is built or installed); its dates, times and
numbers from Babel, in the locale's own forms (``fr-CA``: "mardi 16 février
2027", "9 h 30", "0,5 mg/kg"). English keeps ketaplan's own forms
("Tuesday 16 February 2027", "09:30"), whatever the machine's locale.

Code marks a text for the catalogue by calling ``gettext``/``ngettext`` on a
:class:`Language` (``_ = language.gettext``), or with :func:`N_` where the
text is translated later; ``pybabel extract -F babel.cfg`` finds them all.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import gettext as _gettext
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ._units import Interval, IntervalRange
from .exceptions import SpecError

if TYPE_CHECKING:
    from babel import Locale

# Babel is imported where a locale's forms are needed: an English plan uses
# ketaplan's own forms and never loads it (the command starts faster).

__all__ = ["DEFAULT", "LANGUAGES", "N_", "Language", "check_language", "language"]

#: The languages a plan may have, as BCP 47 tags.
LANGUAGES = ("en", "fr-CA")
#: A plan's language when none is given.
DEFAULT = "en"

#: The gettext domain of ketaplan's catalogues.
DOMAIN = "messages"
#: Where the catalogues are: ``<language>/LC_MESSAGES/messages.po`` (and ``.mo``).
LOCALE_DIR = Path(__file__).parent / "locale"

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WIDTHS = ("full", "long", "medium", "short")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it (it is translated later)."""
    return message


#: What each kind of session is called (``SessionKind``'s values); translated on use.
_KINDS = {
    "dosing": N_("Treatment session"),
    "integration": N_("Integration session"),
    "consultation": N_("Consultation"),
    "preparation": N_("Preparation session"),
    "assessment": N_("Review and assessment"),
    "follow-up": N_("Follow-up"),
}


def check_language(value: object, *, field: str = "plan.language") -> str:
    """``value`` if it is one of :data:`LANGUAGES`, else a SpecError naming ``field``."""
    if not isinstance(value, str) or value not in LANGUAGES:
        raise SpecError(
            field, value, f"expected one of the supported languages: {', '.join(LANGUAGES)}"
        )
    return value


def catalogue_path(tag: str) -> Path:
    """The ``.po`` catalogue of the language ``tag`` (``fr-CA``: ``locale/fr_CA/...``)."""
    return LOCALE_DIR / tag.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogue(po: Path) -> bytes:
    """The ``.mo`` bytes of the catalogue ``po``, as ``pybabel compile`` writes them."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as file:
        catalogue = read_po(file, locale=po.parent.parent.name)
    out = io.BytesIO()
    write_mo(out, catalogue)
    return out.getvalue()


@functools.cache
def _translations(tag: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``tag``: the package's ``.mo`` file, built when the package
    was built or installed; compiled from the ``.po`` in memory where there is none (a source
    tree used without installing it)."""
    if tag == DEFAULT:
        return _gettext.NullTranslations()
    from babel.support import Translations

    po = catalogue_path(tag)
    mo = po.with_suffix(".mo")
    data = mo.read_bytes() if mo.is_file() else compile_catalogue(po)
    return Translations(io.BytesIO(data), domain=DOMAIN)


class Language:
    """One language's texts and its forms of dates, times and numbers."""

    def __init__(self, tag: str) -> None:
        self.tag = check_language(tag)
        self.translations = _translations(tag)
        self.english = tag == DEFAULT

    @functools.cached_property
    def locale(self) -> Locale:
        """Babel's locale of this language."""
        from babel import Locale

        return Locale.parse(self.tag, sep="-")

    @functools.cached_property
    def _clock(self) -> str:
        # Quebec and Ontario write the hour without a leading zero ("9 h 30"), as
        # Babel's own time ranges do; the locale's short pattern has "HH".
        return str(self.locale.time_formats["short"].pattern).replace("HH", "H")

    def __repr__(self) -> str:
        return f"Language({self.tag!r})"

    def gettext(self, message: str) -> str:
        """``message`` in this language."""
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """``singular`` or ``plural`` in this language, in the form that suits ``n``."""
        return self.translations.ngettext(singular, plural, n)

    def kind(self, kind: str) -> str:
        """What a session of ``kind`` (a ``SessionKind``) is called: ``"Treatment session"``."""
        return self.gettext(_KINDS[str(kind)])

    def long_date(self, day: dt.date) -> str:
        """``"Tuesday 16 February 2027"``; fr-CA ``"mardi 16 février 2027"``."""
        if self.english:
            return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"
        return _date(self.tag, "full", _day(day))

    def short_date(self, day: dt.date) -> str:
        """``"Tue 16 Feb 2027"``; fr-CA ``"mar. 16 févr. 2027"``."""
        if self.english:
            return f"{_DAYS[day.weekday()][:3]} {day.day} {_MONTHS[day.month - 1][:3]} {day.year}"
        return _date(self.tag, "EEE d MMM y", _day(day))

    def day_month_year(self, day: dt.date) -> str:
        """``"16 February 2027"``; fr-CA ``"16 février 2027"``."""
        if self.english:
            return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
        return _date(self.tag, "long", _day(day))

    def _first(self, day: dt.date, form: str) -> str:
        """The Babel pattern ``form`` (a pattern, or a width such as ``"full"``), with the first
        of the month as French writes it ("1er mars"): CLDR has no ordinal day."""
        pattern = str(self.locale.date_formats[form].pattern) if form in _WIDTHS else form
        if day.day == 1 and self.locale.language == "fr":
            pattern = re.sub(r"(?<![d'])d(?!d)", "d'er'", pattern, count=1)
        return pattern

    def month_year(self, day: dt.date) -> str:
        """``"February 2027"``; fr-CA ``"février 2027"``."""
        if self.english:
            return f"{_MONTHS[day.month - 1]} {day.year}"
        return _date(self.tag, "LLLL y", dt.date(day.year, day.month, 1))

    def month_name(self, month: int) -> str:
        """``"February"``; fr-CA ``"février"`` (as it stands alone)."""
        if self.english:
            return _MONTHS[month - 1]
        return self._names[0][month - 1]

    def month_abbreviation(self, month: int) -> str:
        """``"Feb"``; fr-CA ``"févr."``."""
        if self.english:
            return _MONTHS[month - 1][:3]
        return self._names[1][month - 1]

    def weekday(self, day: int) -> str:
        """The name of ``day`` (Monday is 0): ``"Tuesday"``; fr-CA ``"mardi"``."""
        if self.english:
            return _DAYS[day]
        return self._names[2][day]

    @functools.cached_property
    def _names(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """The locale's month names, month abbreviations and weekday names, looked up once
        (each lookup goes through Babel's locale data; a plan's documents name hundreds)."""
        months, days = self.locale.months, self.locale.days
        return (
            tuple(str(months["stand-alone"]["wide"][m]) for m in range(1, 13)),
            tuple(str(months["format"]["abbreviated"][m]) for m in range(1, 13)),
            tuple(str(days["format"]["wide"][d]) for d in range(7)),
        )

    def clock(self, moment: dt.time | dt.datetime) -> str:
        """A wall-clock time: ``"09:30"``; fr-CA ``"9 h 30"``."""
        if self.english:
            return f"{moment.hour:02d}:{moment.minute:02d}"
        time = moment.time() if isinstance(moment, dt.datetime) else moment
        if time.tzinfo is not None:  # aware times compare by instant: not a key
            from babel.dates import format_time

            return format_time(time, self._clock, locale=self.locale)
        return _time(self.tag, time)

    def number(self, value: decimal.Decimal | int) -> str:
        """A number as entered, in the locale's form, its digits kept: ``"0.50"``; fr-CA ``"0,50"``."""
        if self.english:
            return f"{value:f}" if isinstance(value, decimal.Decimal) else str(value)
        exponent = value.as_tuple().exponent if isinstance(value, decimal.Decimal) else 0
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        pattern = "#,##0" + ("." + "0" * places if places else "")
        from babel.numbers import format_decimal

        return format_decimal(value, pattern, locale=self.locale, decimal_quantization=False)

    def quantity(self, value: decimal.Decimal, unit: str) -> str:
        """A value and its unit, the unit as entered: ``"0.5 mg/kg"``; fr-CA ``"0,5 mg/kg"``."""
        return f"{self.number(value)} {unit}"

    def interval(self, value: Interval) -> str:
        """A calendar interval: ``"1 week"``, ``"2 weeks"``; fr-CA ``"2 semaines"``."""
        if self.english:
            return str(value)
        count = {"count": value.amount}
        if value.unit == "days":
            return self.ngettext("%(count)d day", "%(count)d days", value.amount) % count
        if value.unit == "weeks":
            return self.ngettext("%(count)d week", "%(count)d weeks", value.amount) % count
        return self.ngettext("%(count)d month", "%(count)d months", value.amount) % count

    def interval_range(self, value: IntervalRange) -> str:
        """``"2 weeks"``, ``"1-2 weeks"``, ``"2 weeks to 1 month"``; fr-CA ``"1-2 semaines"``."""
        if self.english:
            return str(value)
        if value.fixed:
            return self.interval(value.low)
        if value.low.unit == value.high.unit:
            high = self.interval(value.high)
            return f"{value.low.amount}-{high}"
        return self.gettext("%(low)s to %(high)s") % {
            "low": self.interval(value.low),
            "high": self.interval(value.high),
        }

    def duration(self, value: dt.timedelta) -> str:
        """``"1 h 30 min"``, ``"45 min"``, ``"3 days"`` (fr-CA ``"3 jours"``)."""
        minutes = int(value.total_seconds()) // 60
        sign = "-" if minutes < 0 else ""
        hours, rest = divmod(abs(minutes), 60)
        if hours and not rest and hours % 24 == 0 and hours > 24:
            days = hours // 24
            return sign + self.ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
        parts = [f"{hours} h"] if hours else []
        if rest or not hours:
            parts.append(f"{rest} min")
        return sign + " ".join(parts)


# Babel's forms are slow to apply (a pattern parsed, the locale's data looked up) and
# the same dates and times come back in every document and calendar of a plan: each
# is formatted once, in caches of bounded size (a worker writes thousands of plans).
_FORMS = 4096


def _day(day: dt.date) -> dt.date:
    """``day`` as a date (the date of a datetime, which Babel formats as its date): a
    datetime is not a key, two of them at the same instant being equal."""
    return day if type(day) is dt.date else dt.date(day.year, day.month, day.day)


@functools.lru_cache(maxsize=_FORMS)
def _date(tag: str, form: str, day: dt.date) -> str:
    """``day`` in the Babel pattern or width ``form`` of the language ``tag``."""
    from babel.dates import format_date

    words = language(tag)
    return format_date(day, words._first(day, form), locale=words.locale)


@functools.lru_cache(maxsize=_FORMS)
def _time(tag: str, time: dt.time) -> str:
    """The wall-clock ``time`` (naive) in the language ``tag``."""
    from babel.dates import format_time

    words = language(tag)
    return format_time(time, words._clock, locale=words.locale)


@functools.cache
def language(tag: str) -> Language:
    """The :class:`Language` of ``tag`` (one of :data:`LANGUAGES`), made once."""
    return Language(tag)
