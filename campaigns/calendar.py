"""Marketing calendar per marketplace: the shopping events, holidays and religious festivals a seller plans
ad budgets around, with budget and bid suggestions for the days before, during and after each one.

Where the dates come from:

- Fixed days (11.11, 12.12, 618, 9.9, 10.10, Christmas, Boxing Day, Songkran 13-15 April, Japan's Golden
  Week 29 April - 5 May, China's National Day week 1-7 October, ...) are written here.
- Black Friday is the day after US Thanksgiving (fourth Thursday of November), Cyber Monday three days
  later; other movable days (Mother's and Father's Day, US Memorial and Labor Day) follow each market's own
  rule, with Easter from ``dateutil`` (a dependency of ``holidays``).
- Lunar New Year and Diwali come from the ``holidays`` package: China's Spring Festival for every market
  except Vietnam, whose Tet follows the Vietnamese lunar calendar (UTC+7) and can fall a day earlier
  (2030: 2 February against 3 February). Diwali is India's date, except in Singapore and Malaysia, where
  Deepavali follows the Tamil calendar and can differ (2027, 2028).
- Ramadan, Eid al-Fitr and Eid al-Adha come from the Umm al-Qura calendar (``hijridate``): Ramadan runs from
  1 Ramadan to the day before 1 Shawwal, Eid al-Fitr is 1 Shawwal, Eid al-Adha 10 Dhu al-Hijjah. Umm al-Qura
  is Saudi Arabia's calendar; countries that start the month on a local moon sighting (Indonesia,
  Malaysia) can be a day later, which the ramp-up period absorbs.
- Prime Day is announced by Amazon a few weeks ahead and differs per marketplace, so it only appears when
  the seller enters it.

``events`` returns the events that *start* in the given year. An event that a package cannot date (a year
outside its tables) is left out rather than guessed. A marketplace missing from ``MARKET_EVENTS`` gets
``FALLBACK_EVENTS`` only: the two shopping days Amazon runs nearly everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache

import holidays
from dateutil.easter import easter
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from hijridate import Gregorian, Hijri

SHOPPING = "shopping"
HOLIDAY = "holiday"
RELIGIOUS = "religious"

RAMP_UP = "ramp_up"
EVENT = "event"
COOL_DOWN = "cool_down"

PrimeDay = date | tuple[date, date]
Span = tuple[date, date]


@dataclass(frozen=True)
class Event:
    """One occurrence of an event. ``name`` is translatable; ``start`` and ``end`` are inclusive;
    ``kind`` is ``shopping``, ``holiday`` or ``religious``; ``markets`` the marketplaces it was asked for
    that share these dates."""

    key: str
    name: str | Promise
    start: date
    end: date
    kind: str
    markets: tuple[str, ...]


@dataclass(frozen=True)
class Suggestion:
    """Multipliers to apply to a campaign's usual daily budget and bids from ``start`` to ``end``
    (inclusive) in one ``phase`` (``ramp_up``, ``event``, ``cool_down``), and why."""

    event_key: str
    phase: str
    start: date
    end: date
    budget_multiplier: float
    bid_multiplier: float
    reason: str


# --- date rules ------------------------------------------------------------------------------------------------

SUNDAY = 6
MONDAY = 0
THURSDAY = 3


def _day(month: int, day: int, length: int = 1) -> Callable[[int, str], list[Span]]:
    def rule(year: int, marketplace: str) -> list[Span]:
        start = date(year, month, day)
        return [(start, start + timedelta(days=length - 1))]

    return rule


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th given weekday (Monday = 0) of a month; n = -1 for the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _weekday_rule(month: int, weekday: int, n: int) -> Callable[[int, str], list[Span]]:
    def rule(year: int, marketplace: str) -> list[Span]:
        day = _nth_weekday(year, month, weekday, n)
        return [(day, day)]

    return rule


def black_friday(year: int) -> date:
    """The day after US Thanksgiving (the fourth Thursday of November)."""
    return _nth_weekday(year, 11, THURSDAY, 4) + timedelta(days=1)


def _black_friday(year: int, marketplace: str) -> list[Span]:
    day = black_friday(year)
    return [(day, day)]


def _cyber_monday(year: int, marketplace: str) -> list[Span]:
    day = black_friday(year) + timedelta(days=3)
    return [(day, day)]


def _mothers_day_date(year: int, marketplace: str) -> date:
    if marketplace == "UK":  # Mothering Sunday: fourth Sunday of Lent
        return easter(year) - timedelta(days=21)
    if marketplace == "FR":  # last Sunday of May, a week later when that is Pentecost
        day = _nth_weekday(year, 5, SUNDAY, -1)
        return day + timedelta(days=7) if day == easter(year) + timedelta(days=49) else day
    if marketplace == "ES":
        return _nth_weekday(year, 5, SUNDAY, 1)
    fixed = {"MX": (5, 10), "TH": (8, 12), "SA": (3, 21), "AE": (3, 21), "ID": (12, 22)}
    if marketplace in fixed:
        return date(year, *fixed[marketplace])
    return _nth_weekday(year, 5, SUNDAY, 2)


def _mothers_day(year: int, marketplace: str) -> list[Span]:
    day = _mothers_day_date(year, marketplace)
    return [(day, day)]


def _fathers_day_date(year: int, marketplace: str) -> date:
    if marketplace == "DE":  # Vatertag is Ascension Day
        return easter(year) + timedelta(days=39)
    if marketplace in ("IT", "ES"):  # Saint Joseph's day
        return date(year, 3, 19)
    if marketplace == "AU":
        return _nth_weekday(year, 9, SUNDAY, 1)
    if marketplace == "BR":
        return _nth_weekday(year, 8, SUNDAY, 2)
    if marketplace == "TH":
        return date(year, 12, 5)
    return _nth_weekday(year, 6, SUNDAY, 3)


def _fathers_day(year: int, marketplace: str) -> list[Span]:
    day = _fathers_day_date(year, marketplace)
    return [(day, day)]


def _strip_estimated(name: str) -> str:
    return name.replace(" (estimated)", "").replace(", estimated)", ")")


@lru_cache(maxsize=512)
def _holiday_dates(country: str, subdiv: str | None, name: str, year: int) -> tuple[date, ...]:
    """Days the ``holidays`` package names exactly ``name`` (its English name, estimated or not, never an
    observed substitute day) in a country and year; empty when the package cannot date that year."""
    table = holidays.country_holidays(country, subdiv=subdiv, years=year, language="en_US")
    found = [day for day, names in table.items() if any(_strip_estimated(n) == name for n in names.split("; "))]
    return tuple(sorted(found))


LUNAR_NEW_YEAR_SOURCE = {"VN": ("VN", None, "Lunar New Year")}
LUNAR_NEW_YEAR_DEFAULT = ("CN", None, "Chinese New Year (Spring Festival)")
DIWALI_SOURCE = {"SG": ("SG", None, "Diwali"), "MY": ("MY", "14", "Diwali")}  # 14: Kuala Lumpur
DIWALI_DEFAULT = ("IN", None, "Diwali")


def _first_day_from_holidays(source: tuple[str, str | None, str], year: int) -> list[Span]:
    days = _holiday_dates(*source, year)
    return [(days[0], days[0])] if days else []


def _lunar_new_year(year: int, marketplace: str) -> list[Span]:
    return _first_day_from_holidays(LUNAR_NEW_YEAR_SOURCE.get(marketplace, LUNAR_NEW_YEAR_DEFAULT), year)


def _diwali(year: int, marketplace: str) -> list[Span]:
    return _first_day_from_holidays(DIWALI_SOURCE.get(marketplace, DIWALI_DEFAULT), year)


RAMADAN, SHAWWAL, DHU_AL_HIJJAH = 9, 10, 12


def _to_gregorian(hijri_year: int, month: int, day: int) -> date | None:
    try:
        gregorian = Hijri(hijri_year, month, day).to_gregorian()
    except (OverflowError, ValueError):  # outside the Umm al-Qura tables
        return None
    return date(gregorian.year, gregorian.month, gregorian.day)


def _hijri_dates(year: int, month: int, day: int) -> list[tuple[int, date]]:
    """(Hijri year, Gregorian date) of every ``day``/``month`` of the Umm al-Qura calendar that falls in the
    Gregorian ``year`` (a Gregorian year can hold the same Hijri date twice, as Ramadan in 2030)."""
    try:
        first = Gregorian(year, 1, 1).to_hijri().year
    except (OverflowError, ValueError):
        return []
    found = []
    for hijri_year in (first, first + 1, first + 2):
        day_in_year = _to_gregorian(hijri_year, month, day)
        if day_in_year is not None and day_in_year.year == year:
            found.append((hijri_year, day_in_year))
    return found


def _ramadan(year: int, marketplace: str) -> list[Span]:
    spans = []
    for hijri_year, start in _hijri_dates(year, RAMADAN, 1):
        eid = _to_gregorian(hijri_year, SHAWWAL, 1)
        if eid is not None:
            spans.append((start, eid - timedelta(days=1)))
    return spans


def _eid_al_fitr(year: int, marketplace: str) -> list[Span]:
    return [(day, day) for _hijri_year, day in _hijri_dates(year, SHAWWAL, 1)]


def _eid_al_adha(year: int, marketplace: str) -> list[Span]:
    return [(day, day) for _hijri_year, day in _hijri_dates(year, DHU_AL_HIJJAH, 10)]


@dataclass(frozen=True)
class _Definition:
    name: str | Promise
    kind: str
    dates: Callable[[int, str], list[Span]]


EVENTS: dict[str, _Definition] = {
    # shopping
    "singles_day": _Definition(gettext_lazy("Singles' Day (11.11)"), SHOPPING, _day(11, 11)),
    "double_12": _Definition(gettext_lazy("Double 12 (12.12)"), SHOPPING, _day(12, 12)),
    "harbolnas": _Definition(gettext_lazy("Harbolnas (12.12)"), SHOPPING, _day(12, 12)),
    "nine_nine": _Definition(gettext_lazy("9.9 Sale"), SHOPPING, _day(9, 9)),
    "ten_ten": _Definition(gettext_lazy("10.10 Sale"), SHOPPING, _day(10, 10)),
    "mid_year_618": _Definition(gettext_lazy("618 Shopping Festival"), SHOPPING, _day(6, 18)),
    "black_friday": _Definition(gettext_lazy("Black Friday"), SHOPPING, _black_friday),
    "white_friday": _Definition(gettext_lazy("White Friday"), SHOPPING, _black_friday),
    "cyber_monday": _Definition(gettext_lazy("Cyber Monday"), SHOPPING, _cyber_monday),
    "boxing_day": _Definition(gettext_lazy("Boxing Day"), SHOPPING, _day(12, 26)),
    # holidays
    "christmas": _Definition(gettext_lazy("Christmas"), HOLIDAY, _day(12, 25)),
    "valentines_day": _Definition(gettext_lazy("Valentine's Day"), HOLIDAY, _day(2, 14)),
    "dia_dos_namorados": _Definition(gettext_lazy("Dia dos Namorados"), HOLIDAY, _day(6, 12)),
    "mothers_day": _Definition(gettext_lazy("Mother's Day"), HOLIDAY, _mothers_day),
    "fathers_day": _Definition(gettext_lazy("Father's Day"), HOLIDAY, _fathers_day),
    "halloween": _Definition(gettext_lazy("Halloween"), HOLIDAY, _day(10, 31)),
    "memorial_day": _Definition(gettext_lazy("Memorial Day"), HOLIDAY, _weekday_rule(5, MONDAY, -1)),
    "independence_day_us": _Definition(gettext_lazy("Independence Day (4 July)"), HOLIDAY, _day(7, 4)),
    "labor_day_us": _Definition(gettext_lazy("Labor Day"), HOLIDAY, _weekday_rule(9, MONDAY, 1)),
    "lunar_new_year": _Definition(gettext_lazy("Lunar New Year"), HOLIDAY, _lunar_new_year),
    "golden_week_jp": _Definition(gettext_lazy("Golden Week (Japan)"), HOLIDAY, _day(4, 29, length=7)),
    "new_year_jp": _Definition(gettext_lazy("New Year holidays (Shogatsu)"), HOLIDAY, _day(1, 1, length=3)),
    "golden_week_cn": _Definition(gettext_lazy("National Day Golden Week (China)"), HOLIDAY, _day(10, 1, length=7)),
    "songkran": _Definition(gettext_lazy("Songkran (Thai New Year)"), HOLIDAY, _day(4, 13, length=3)),
    "saudi_national_day": _Definition(gettext_lazy("Saudi National Day"), HOLIDAY, _day(9, 23)),
    "uae_national_day": _Definition(gettext_lazy("UAE National Day"), HOLIDAY, _day(12, 2)),
    # religious
    "ramadan": _Definition(gettext_lazy("Ramadan"), RELIGIOUS, _ramadan),
    "eid_al_fitr": _Definition(gettext_lazy("Eid al-Fitr"), RELIGIOUS, _eid_al_fitr),
    "eid_al_adha": _Definition(gettext_lazy("Eid al-Adha"), RELIGIOUS, _eid_al_adha),
    "diwali": _Definition(gettext_lazy("Diwali"), RELIGIOUS, _diwali),
}
PRIME_DAY_NAME = gettext_lazy("Prime Day")

_WESTERN = ("black_friday", "cyber_monday", "christmas", "valentines_day", "mothers_day", "fathers_day")
_SEA_SALES = ("nine_nine", "ten_ten", "singles_day", "double_12")
_ISLAMIC = ("ramadan", "eid_al_fitr", "eid_al_adha")

# Which events a seller on each marketplace plans for. Prime Day is added wherever the seller enters it.
MARKET_EVENTS: dict[str, tuple[str, ...]] = {
    "US": (*_WESTERN, "halloween", "memorial_day", "independence_day_us", "labor_day_us"),
    "CA": (*_WESTERN, "boxing_day", "halloween"),
    "UK": (*_WESTERN, "boxing_day", "halloween"),
    "DE": (*_WESTERN, "boxing_day"),
    "FR": _WESTERN,
    "IT": _WESTERN,
    "ES": _WESTERN,
    "AU": (*_WESTERN, "boxing_day"),
    "JP": (
        "black_friday",
        "christmas",
        "valentines_day",
        "mothers_day",
        "fathers_day",
        "golden_week_jp",
        "new_year_jp",
    ),
    "SG": (*_SEA_SALES, "black_friday", "christmas", "lunar_new_year", "diwali", "valentines_day", "mothers_day"),
    "MY": (*_SEA_SALES, "lunar_new_year", *_ISLAMIC, "diwali", "mothers_day"),
    "TH": (*_SEA_SALES, "songkran", "mothers_day", "fathers_day"),
    "ID": ("nine_nine", "ten_ten", "singles_day", "harbolnas", "lunar_new_year", *_ISLAMIC, "mothers_day"),
    "PH": (*_SEA_SALES, "christmas", "lunar_new_year", "valentines_day", "mothers_day"),
    "VN": (*_SEA_SALES, "lunar_new_year"),
    "SA": ("white_friday", *_ISLAMIC, "saudi_national_day", "mothers_day"),
    "AE": ("white_friday", *_ISLAMIC, "uae_national_day", "mothers_day"),
    "IN": ("diwali", "valentines_day", "mothers_day", "fathers_day"),
    "BR": ("black_friday", "cyber_monday", "christmas", "mothers_day", "fathers_day", "dia_dos_namorados"),
    "MX": ("black_friday", "christmas", "valentines_day", "mothers_day", "fathers_day"),
    "CN": ("lunar_new_year", "mid_year_618", "golden_week_cn", "singles_day", "double_12"),
}
FALLBACK_EVENTS: tuple[str, ...] = ("black_friday", "cyber_monday")
MARKETPLACE_ALIASES = {"GB": "UK"}


def _normalise(marketplace: str) -> str:
    code = marketplace.strip().upper()
    return MARKETPLACE_ALIASES.get(code, code)


def _prime_day_span(prime_day: PrimeDay) -> Span:
    if isinstance(prime_day, date):
        return prime_day, prime_day
    start, end = prime_day
    if end < start:
        raise ValueError("Prime Day ends before it starts")
    return start, end


def events(*, marketplace: str, year: int, prime_day: PrimeDay | None = None) -> list[Event]:
    """Events starting in ``year`` that sellers on ``marketplace`` plan for, sorted by start. ``prime_day``
    is the seller-entered Prime Day: one date, or (start, end) for a multi-day event."""
    market = _normalise(marketplace)
    found: list[Event] = []
    for key in MARKET_EVENTS.get(market, FALLBACK_EVENTS):
        definition = EVENTS[key]
        for start, end in definition.dates(year, market):
            found.append(Event(key, definition.name, start, end, definition.kind, (market,)))
    if prime_day is not None:
        start, end = _prime_day_span(prime_day)
        if start.year == year:
            found.append(Event("prime_day", PRIME_DAY_NAME, start, end, SHOPPING, (market,)))
    return sorted(found, key=lambda e: (e.start, e.end, e.key))


def upcoming(
    *,
    marketplaces: Iterable[str],
    today: date,
    days: int = 60,
    prime_days: Mapping[str, PrimeDay] | PrimeDay | None = None,
) -> list[Event]:
    """Events of any of ``marketplaces`` running at some point from ``today`` to ``today + days``, sorted
    by start. An event on the same dates in several marketplaces is listed once with all of them in
    ``markets``. ``prime_days`` maps a marketplace to its Prime Day, or is one Prime Day for all of them."""
    horizon = today + timedelta(days=days)
    per_market = isinstance(prime_days, Mapping)
    prime_by_market = {_normalise(market): value for market, value in prime_days.items()} if per_market else {}
    merged: dict[tuple[str, date, date], Event] = {}
    for marketplace in dict.fromkeys(_normalise(m) for m in marketplaces):
        prime_day = prime_by_market.get(marketplace) if per_market else prime_days
        # the year before too: an event that started then (Ramadan from late December) may still run
        for year in range(today.year - 1, horizon.year + 1):
            for event in events(marketplace=marketplace, year=year, prime_day=prime_day):
                if event.end < today or event.start > horizon:
                    continue
                identity = (event.key, event.start, event.end)
                known = merged.get(identity)
                merged[identity] = event if known is None else replace(known, markets=(*known.markets, marketplace))
    return sorted(merged.values(), key=lambda e: (e.start, e.end, e.key))


# --- budget and bid suggestions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhasePlan:
    """Default length of the ramp-up and cool-down (days) and (budget, bid) multipliers per phase."""

    ramp_days: int
    ramp: tuple[float, float]
    event: tuple[float, float]
    cool_days: int
    cool: tuple[float, float]


# Shopping events: traffic and conversion rate peak on the day, and competitors raise bids, so budgets that
# are fine on a normal day run out by noon. Holidays: the extra demand (gifts, trips) comes before the day,
# the day itself is ordinary at best. Religious festivals: shopping grows through the season (Ramadan
# evenings, Diwali gifts) and stays high on the day. After each, traffic falls back faster than bids do.
PHASE_PLANS: dict[str, PhasePlan] = {
    SHOPPING: PhasePlan(ramp_days=7, ramp=(1.3, 1.1), event=(2.0, 1.25), cool_days=3, cool=(0.8, 0.9)),
    HOLIDAY: PhasePlan(ramp_days=14, ramp=(1.3, 1.15), event=(1.0, 1.0), cool_days=5, cool=(0.8, 0.9)),
    RELIGIOUS: PhasePlan(ramp_days=10, ramp=(1.2, 1.1), event=(1.3, 1.15), cool_days=3, cool=(0.9, 0.95)),
}
# Events whose build-up is longer than their kind's: Prime Day and the Chinese festivals have pre-sales
# and deal announcements weeks ahead; Christmas, Diwali and Lunar New Year gift shopping starts early.
# Ramadan is a month long itself, so its ramp-up is short.
RAMP_DAYS_BY_EVENT = {
    "prime_day": 14,
    "singles_day": 14,
    "mid_year_618": 14,
    "christmas": 21,
    "diwali": 21,
    "lunar_new_year": 21,
    "ramadan": 7,
}
# No cool-down where the next event follows at once: Cyber Monday after Black Friday, Boxing Day and the
# after-Christmas sales after Christmas, Eid al-Fitr the day after Ramadan.
COOL_DAYS_BY_EVENT = {"black_friday": 0, "white_friday": 0, "christmas": 0, "ramadan": 0}


def _change(multiplier: float) -> str:
    return f"{multiplier - 1:+.0%}"


def _when(day: date) -> str:
    return date_format(day)


def _dates(start: date, end: date) -> str:
    if start == end:
        return _when(start)
    return _("%(start)s to %(end)s") % {"start": _when(start), "end": _when(end)}


def _reason(phase: str, budget: float) -> str:
    if phase == RAMP_UP:
        return _(
            "Ramp up for %(event)s, %(dates)s: shoppers research and fill their carts before the event, and "
            "visibility built now is cheaper than on the day. Budgets %(budget)s, bids %(bid)s."
        )
    if phase == EVENT and budget > 1:
        return _(
            "%(event)s, %(dates)s: traffic and conversion peak and competitors bid up, so give campaigns room "
            "not to run out of budget early. Budgets %(budget)s, bids %(bid)s."
        )
    if phase == EVENT:
        return _(
            "%(event)s, %(dates)s: most of the extra demand comes before the day, so keep budgets and bids at "
            "their usual level. Budgets %(budget)s, bids %(bid)s."
        )
    return _(
        "Cool down after %(event)s, %(dates)s: demand falls back faster than bid prices do, so bring spend "
        "back down. Budgets %(budget)s, bids %(bid)s."
    )


def event_suggestions(*, event: Event, as_of: date | None = None) -> list[Suggestion]:
    """Budget and bid multipliers for the ramp-up before ``event``, the event itself and the cool-down
    after it (``PHASE_PLANS`` per kind, lengths from ``RAMP_DAYS_BY_EVENT``/``COOL_DAYS_BY_EVENT`` where
    set). With ``as_of``, phases already over are left out and a running one starts at ``as_of``.
    Suggestions are per event: where the phases of two events overlap (Valentine's Day in the run-up to
    Lunar New Year), the larger multipliers are the ones to apply."""
    plan = PHASE_PLANS[event.kind]
    ramp_days = RAMP_DAYS_BY_EVENT.get(event.key, plan.ramp_days)
    cool_days = COOL_DAYS_BY_EVENT.get(event.key, plan.cool_days)
    phases = [
        (RAMP_UP, event.start - timedelta(days=ramp_days), event.start - timedelta(days=1), plan.ramp),
        (EVENT, event.start, event.end, plan.event),
        (COOL_DOWN, event.end + timedelta(days=1), event.end + timedelta(days=cool_days), plan.cool),
    ]
    suggestions = []
    for phase, phase_start, end, (budget, bid) in phases:
        if end < phase_start:  # a phase this event does without
            continue
        if as_of is not None and end < as_of:
            continue
        start = phase_start if as_of is None else max(phase_start, as_of)
        values = {"event": event.name, "dates": _dates(start, end), "budget": _change(budget), "bid": _change(bid)}
        suggestions.append(Suggestion(event.key, phase, start, end, budget, bid, _reason(phase, budget) % values))
    return suggestions


def holiday_campaign_warnings(*, campaign_end: date | None, event: Event) -> list[str]:
    """Warnings for a campaign built for ``event``: Amazon requires holiday-themed creatives to stop
    within one day after the event, so a campaign without an end date, or ending later than that, is
    flagged. An empty list means the end date is fine."""
    deadline = event.end + timedelta(days=1)
    if campaign_end is None:
        return [
            _(
                "This campaign has no end date. Holiday creatives for %(event)s must stop within a day of the "
                "event: set the end date to %(deadline)s at the latest."
            )
            % {"event": event.name, "deadline": _when(deadline)}
        ]
    if campaign_end > deadline:
        days = (campaign_end - event.end).days
        return [
            ngettext(
                "This campaign ends on %(end)s, %(days)s day after %(event)s ends. Holiday creatives must stop "
                "within a day of the event: end it on %(deadline)s at the latest.",
                "This campaign ends on %(end)s, %(days)s days after %(event)s ends. Holiday creatives must stop "
                "within a day of the event: end it on %(deadline)s at the latest.",
                days,
            )
            % {"end": _when(campaign_end), "days": days, "event": event.name, "deadline": _when(deadline)}
        ]
    return []
