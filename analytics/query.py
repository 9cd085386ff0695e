"""What a dashboard view shows, parsed from and written back to its URL, so every view can be bookmarked.

    ?range=30d&compare=previous&channel=meta&channel=google_ads&marketplace=US&currency=home
    ?range=custom&start=2026-01-01&end=2026-01-31&compare=year

Unknown or malformed values fall back to the defaults instead of failing: a shared link that has aged
still opens. Dates are in the organization's time zone (today is the organization's today).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _

RANGES = {
    "7d": _("Last 7 days"),
    "14d": _("Last 14 days"),
    "30d": _("Last 30 days"),
    "90d": _("Last 90 days"),
    "mtd": _("Month to date"),
    "last_month": _("Last month"),
    "qtd": _("Quarter to date"),
    "ytd": _("Year to date"),
    "365d": _("Last 365 days"),
    "custom": _("Custom"),
}
COMPARES = {
    "previous": _("Previous period"),
    "year": _("Same period last year"),
    "none": _("No comparison"),
}
CURRENCY_MODES = {"home": _("Home currency"), "original": _("Original currencies")}
DEFAULT_RANGE = "30d"
MAX_DAYS = 3 * 366
FILTERS = ("channel", "marketplace", "campaign", "product")


def today_in(time_zone: str) -> date:
    try:
        zone = ZoneInfo(time_zone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.now(zone).date()


def preset_range(preset: str, today: date) -> tuple[date, date]:
    """The days a preset covers, ending today (inclusive)."""
    if preset.endswith("d") and preset[:-1].isdigit():
        days = int(preset[:-1])
        return today - timedelta(days=days - 1), today
    if preset == "mtd":
        return today.replace(day=1), today
    if preset == "last_month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if preset == "qtd":
        return today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1), today
    if preset == "ytd":
        return today.replace(month=1, day=1), today
    raise ValueError(preset)


def _shift_year(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class DashboardQuery:
    start: date
    end: date
    range: str = DEFAULT_RANGE
    compare: str = "previous"
    currency: str = "home"
    channels: tuple[str, ...] = ()
    marketplaces: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = field(default=())  # page-specific parameters (sort, page, ...)

    @classmethod
    def from_request(cls, request, *, time_zone: str | None = None, extra_keys=()) -> DashboardQuery:
        organization = getattr(request, "organization", None)
        return cls.from_params(
            request.GET,
            today=today_in(time_zone or getattr(organization, "time_zone", "UTC")),
            extra_keys=extra_keys,
        )

    @classmethod
    def from_params(cls, params, *, today: date, extra_keys=()) -> DashboardQuery:
        preset = params.get("range") or DEFAULT_RANGE
        if preset not in RANGES:
            preset = DEFAULT_RANGE
        start, end = None, None
        if preset == "custom":
            start, end = _parse_date(params.get("start")), _parse_date(params.get("end"))
            if start is None or end is None:
                preset = DEFAULT_RANGE
            elif start > end:
                start, end = end, start
        if preset != "custom":
            start, end = preset_range(preset, today)
        if (end - start).days >= MAX_DAYS:
            start = end - timedelta(days=MAX_DAYS - 1)
        compare = params.get("compare") or "previous"
        currency = params.get("currency") or "home"

        def many(key):
            return tuple(sorted({value.strip() for value in params.getlist(key) if value.strip()}))

        return cls(
            start=start,
            end=end,
            range=preset,
            compare=compare if compare in COMPARES else "previous",
            currency=currency if currency in CURRENCY_MODES else "home",
            channels=many("channel"),
            marketplaces=many("marketplace"),
            campaigns=many("campaign"),
            products=many("product"),
            extra=tuple((key, params[key]) for key in extra_keys if params.get(key)),
        )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def comparison(self) -> tuple[date, date] | None:
        """The period to compare with: the same number of days just before, or a year earlier."""
        if self.compare == "previous":
            end = self.start - timedelta(days=1)
            return end - timedelta(days=self.days - 1), end
        if self.compare == "year":
            return _shift_year(self.start, -1), _shift_year(self.end, -1)
        return None

    def param(self, key: str, default: str = "") -> str:
        return dict(self.extra).get(key, default)

    def params(self) -> list[tuple[str, str]]:
        pairs = [("range", self.range)]
        if self.range == "custom":
            pairs += [("start", self.start.isoformat()), ("end", self.end.isoformat())]
        if self.compare != "previous":
            pairs.append(("compare", self.compare))
        if self.currency != "home":
            pairs.append(("currency", self.currency))
        for key, values in (
            ("channel", self.channels),
            ("marketplace", self.marketplaces),
            ("campaign", self.campaigns),
            ("product", self.products),
        ):
            pairs += [(key, value) for value in values]
        return pairs + list(self.extra)

    def querystring(self, **changes) -> str:
        """This view's query string, with ``changes`` applied (``None`` removes a page parameter)."""
        query = self
        extra = dict(self.extra)
        for key, value in changes.items():
            if key in {"range", "compare", "currency", "start", "end"}:
                query = replace(query, **{key: value})
            elif key in {"channels", "marketplaces", "campaigns", "products"}:
                query = replace(query, **{key: tuple(value)})
            elif value is None:
                extra.pop(key, None)
            else:
                extra[key] = str(value)
        query = replace(query, extra=tuple(extra.items()))
        return urlencode(query.params())

    def cache_key(self) -> str:
        return urlencode(sorted(self.params()))
