"""Reading FX rates: convert one amount with a named rate, or build a table of rates for a dashboard.

Every stored rate is "1 EUR = rate X" (the ECB's convention; manual rows follow it too). A pair without
EUR is a cross rate: 1 USD = (EUR->CNY / EUR->USD) CNY. The ECB publishes on TARGET business days only,
so a date takes the most recent rate on or before it, but never one older than ``MAX_STALENESS``: a
conversion that would silently use a month-old rate raises ``FxRateMissing`` instead.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal

from analytics.models import FxRate

EUR = "EUR"
MAX_STALENESS = timedelta(days=7)
AMOUNT_PLACES = Decimal("0.0001")
# Rates stay unrounded; quotients carry 28 significant digits whatever the thread's decimal context is.
_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)


class FxRateMissing(LookupError):
    """No usable rate for a pair on a date (none at all, or only ones older than ``MAX_STALENESS``)."""

    def __init__(self, from_currency: str, to_currency: str, on: date, missing: str, latest: date | None):
        self.from_currency, self.to_currency, self.on = from_currency, to_currency, on
        self.missing, self.latest = missing, latest
        oldest = on - MAX_STALENESS
        detail = (
            f"the latest EUR->{missing} rate is from {latest}, older than {oldest}"
            if latest
            else f"there is no EUR->{missing} rate on or before {on}"
        )
        super().__init__(
            f"No FX rate for {from_currency}->{to_currency} on {on}: {detail}. "
            f"Load ECB rates (manage.py load_fx_rates) or upload a manual rate."
        )


@dataclass(frozen=True, slots=True)
class RateLeg:
    """One stored rate a conversion used: 1 EUR = ``rate`` ``quote`` on ``date``."""

    date: date
    quote: str
    rate: Decimal
    source: str


@dataclass(frozen=True, slots=True)
class Converted:
    """An amount in ``currency`` and the rate behind it: 1 source currency = ``rate`` ``currency``.

    ``rate_date`` is the date of the rate used (for a cross rate, the older of its two legs); ``source`` is
    ``ecb``, ``manual``, ``ecb+manual`` for a cross rate mixing both, or ``identity`` for the same
    currency; ``via`` is ``"EUR"`` for a cross rate, else ``None``. ``legs`` holds the stored rows used.
    """

    amount: Decimal
    currency: str
    rate: Decimal
    rate_date: date
    source: str
    via: str | None
    legs: tuple[RateLeg, ...] = ()


def convert(amount: Decimal, from_currency: str, to_currency: str, on: date) -> Converted:
    """``amount`` of ``from_currency`` in ``to_currency`` at the rate for ``on``; at most one query.

    The amount is rounded once, at the end, to 4 places (half to even); the rate is kept unrounded.
    """
    if isinstance(amount, float) or not isinstance(amount, Decimal | int):
        raise TypeError(f"convert() takes a Decimal amount, not {type(amount).__name__}")
    amount = Decimal(amount)
    from_currency, to_currency = from_currency.upper(), to_currency.upper()
    if from_currency == to_currency:
        return Converted(
            amount=amount.quantize(AMOUNT_PLACES, rounding=ROUND_HALF_EVEN),
            currency=to_currency,
            rate=Decimal(1),
            rate_date=on,
            source="identity",
            via=None,
        )
    legs = _legs({from_currency, to_currency} - {EUR}, on)
    for currency in (from_currency, to_currency):
        if currency != EUR and currency not in legs:
            latest = (
                FxRate.objects.filter(base=EUR, quote=currency, date__lte=on)
                .order_by("-date")
                .values_list("date", flat=True)
                .first()
            )
            raise FxRateMissing(from_currency, to_currency, on, currency, latest)
    from_leg, to_leg = legs.get(from_currency), legs.get(to_currency)
    eur_to_from = from_leg.rate if from_leg else Decimal(1)
    eur_to_to = to_leg.rate if to_leg else Decimal(1)
    used = tuple(leg for leg in (from_leg, to_leg) if leg)
    # One multiplication (exact) and one division: the amount does not inherit the rate's rounding.
    converted = _CONTEXT.divide(_CONTEXT.multiply(amount, eur_to_to), eur_to_from)
    return Converted(
        amount=converted.quantize(AMOUNT_PLACES, rounding=ROUND_HALF_EVEN, context=_CONTEXT),
        currency=to_currency,
        rate=_CONTEXT.divide(eur_to_to, eur_to_from),
        rate_date=min(leg.date for leg in used),
        source="+".join(sorted({leg.source for leg in used})),
        via=EUR if len(used) == 2 else None,
        legs=used,
    )


def _legs(currencies: set[str], on: date) -> dict[str, RateLeg]:
    """The newest EUR->X row per currency within the staleness window: one query (DISTINCT ON)."""
    if not currencies:
        return {}
    rows = (
        FxRate.objects.filter(base=EUR, quote__in=currencies, date__range=(on - MAX_STALENESS, on))
        .order_by("quote", "-date")
        .distinct("quote")
        .values_list("date", "quote", "rate", "source")
    )
    return {quote: RateLeg(day, quote, rate, source) for day, quote, rate, source in rows}


def rates_frame(currencies: Iterable[str], start: date, end: date, home: str) -> dict[tuple[date, str], Decimal]:
    """``{(day, currency): rate}`` meaning 1 ``currency`` = rate ``home``, for every calendar day from
    ``start`` to ``end`` inclusive, from one query.

    Each day uses the newest rates on or before it within ``MAX_STALENESS``, like ``convert``; a day with
    no usable rate for the currency or the home currency has no key (show "no rate", never a guess).
    The home currency itself is always 1.
    """
    home = home.upper()
    wanted = sorted({currency.upper() for currency in currencies})
    needed = ({*wanted, home}) - {EUR}
    series: dict[str, tuple[list[date], list[Decimal]]] = {currency: ([], []) for currency in needed}
    if needed:
        rows = (
            FxRate.objects.filter(base=EUR, quote__in=needed, date__range=(start - MAX_STALENESS, end))
            .order_by("quote", "date")
            .values_list("quote", "date", "rate")
        )
        for quote, day, rate in rows:
            series[quote][0].append(day)
            series[quote][1].append(rate)

    def eur_rate(currency: str, day: date) -> Decimal | None:
        if currency == EUR:
            return Decimal(1)
        days, values = series[currency]
        i = bisect.bisect_right(days, day) - 1
        if i < 0 or days[i] < day - MAX_STALENESS:
            return None
        return values[i]

    frame: dict[tuple[date, str], Decimal] = {}
    day = start
    while day <= end:
        eur_to_home = eur_rate(home, day)
        for currency in wanted:
            if currency == home:
                frame[(day, currency)] = Decimal(1)
                continue
            eur_to_currency = eur_rate(currency, day)
            if eur_to_home is not None and eur_to_currency is not None:
                frame[(day, currency)] = _CONTEXT.divide(eur_to_home, eur_to_currency)
        day += timedelta(days=1)
    return frame
