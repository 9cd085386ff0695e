"""Reads for the Funnel and traffic sources page.

- ``ad_funnel``: impressions -> clicks -> orders per ad channel, from the campaign rollup (one query).
- ``traffic_sources``: store orders of the period split by traffic source under each attribution model
  (``analytics.attribution``), sales converted to the home currency with the rate of each order's day
  (one query for the orders, one for the rates). Store orders are thousands a year, not millions: they are
  read whole (only the needed columns) and grouped in Python by journey pattern, day and currency, so the
  models run once per group, not once per order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils.translation import gettext as _

from accounts.models import Organization
from analytics import attribution
from analytics.fx.selectors import rates_frame
from analytics.labels import channel_label, platform_label
from analytics.metrics import format_metric, ratio
from analytics.models import AdRollupDaily, StoreOrder
from analytics.query import DashboardQuery

AMOUNT = Decimal("0.0001")
ZERO = Decimal(0)


@dataclass(frozen=True)
class FunnelRow:
    channel: str
    label: str
    impressions: int
    clicks: int
    orders: int
    ctr: Decimal | None  # clicks / impressions
    cvr: Decimal | None  # orders / clicks

    @property
    def ctr_text(self) -> str:
        return format_metric(self.ctr, "ratio")

    @property
    def cvr_text(self) -> str:
        return format_metric(self.cvr, "ratio")

    @classmethod
    def of(cls, channel: str, label: str, impressions: int, clicks: int, orders: int) -> FunnelRow:
        return cls(channel, label, impressions, clicks, orders, ratio(clicks, impressions), ratio(orders, clicks))


def ad_funnel(*, organization: Organization, query: DashboardQuery) -> dict:
    """``{"rows": [FunnelRow per channel, most impressions first], "total": FunnelRow}`` over the query's
    days, channels, marketplaces and campaigns. Orders are the platforms' own attributed orders."""
    rollups = AdRollupDaily.objects.filter(organization=organization, date__gte=query.start, date__lte=query.end)
    if query.channels:
        rollups = rollups.filter(channel__in=query.channels)
    if query.marketplaces:
        rollups = rollups.filter(marketplace__in=query.marketplaces)
    if query.campaigns:
        rollups = rollups.filter(campaign_id__in=query.campaigns)
    sums = (
        rollups.values("channel")
        .order_by("channel")
        .annotate(impressions=Sum("impressions"), clicks=Sum("clicks"), orders=Sum("orders"))
        .values_list("channel", "impressions", "clicks", "orders")
    )
    rows = [
        FunnelRow.of(channel, channel_label(channel), impressions or 0, clicks or 0, orders or 0)
        for channel, impressions, clicks, orders in sums
    ]
    rows.sort(key=lambda row: (-row.impressions, row.label))
    total = FunnelRow.of(
        "",
        _("All channels"),
        sum(row.impressions for row in rows),
        sum(row.clicks for row in rows),
        sum(row.orders for row in rows),
    )
    return {"rows": rows, "total": total}


def _pct(share: Decimal | None) -> str:
    return "" if share is None else f"{share * 100:.1f}"


@dataclass
class SourceRow:
    """One traffic source under one model: credited orders (fractions under multi-touch models), sales in
    the home currency where a rate exists, the rest in its own currency, and sales per original currency."""

    key: str
    label: str
    attributed: bool = True  # False for marketplace rows: no journey data, not split by any model
    orders: Decimal = ZERO
    sales: Decimal = ZERO  # home currency, rows with a rate
    unconverted: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount without a rate
    by_currency: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount as the stores report
    sales_share: Decimal | None = None
    orders_share: Decimal | None = None

    @property
    def sales_pct(self) -> str:
        """The share of sales as a percentage with one decimal ("" without one): bar widths and labels."""
        return _pct(self.sales_share)

    @property
    def orders_pct(self) -> str:
        return _pct(self.orders_share)

    def add(self, orders: Decimal, amount: Decimal, currency: str, rate: Decimal | None) -> None:
        self.orders += orders
        self.by_currency[currency] = self.by_currency.get(currency, ZERO) + amount
        if rate is None:
            self.unconverted[currency] = self.unconverted.get(currency, ZERO) + amount
        else:
            self.sales += (amount * rate).quantize(AMOUNT)


@dataclass
class SourceMix:
    model: str
    rows: list[SourceRow]  # the chosen model, attributed sources first (by sales), marketplaces last
    total: SourceRow
    compare: list[dict]  # per source: label and credited orders under every model
    orders: int = 0
    online_orders: int = 0  # orders from stores that give journey data
    with_touches: int = 0  # online orders with at least one visit
    multi_touch: int = 0  # online orders whose first and last visit differ
    marketplace_orders: int = 0
    currencies: tuple[str, ...] = ()


def _label(key: str) -> str:
    if key.startswith(f"{attribution.MARKETPLACE}:"):
        return _("%(platform)s (marketplace, no journey data)") % {"platform": platform_label(key.split(":", 1)[1])}
    return attribution.source_label(key)


def traffic_sources(
    *,
    organization: Organization,
    query: DashboardQuery,
    model: str = attribution.DEFAULT_MODEL,
    home_currency: str | None = None,
    half_life: timedelta = attribution.DEFAULT_HALF_LIFE,
) -> SourceMix:
    """Store orders of the query's days (and marketplaces) per traffic source under ``model``, with the
    credited orders of every model side by side. Marketplace orders form one row per platform, the same
    under every model. With ``home_currency`` sales are converted with each order day's rate; an amount
    without a rate stays in its currency (``unconverted``) and is never dropped."""
    orders = StoreOrder.objects.filter(organization=organization, date__gte=query.start, date__lte=query.end)
    if query.marketplaces:
        orders = orders.filter(marketplace__in=query.marketplaces)
    rows = list(
        orders.values_list(
            "platform", "date", "ordered_at", "currency", "total", "landing_site", "referrer", "attribution"
        )
    )
    mix = SourceMix(model=model, rows=[], total=SourceRow("", _("All orders")), compare=[])
    mix.currencies = tuple(sorted({row[3] for row in rows}))
    rates = rates_frame(mix.currencies, query.start, query.end, home_currency) if home_currency and rows else {}

    # Orders summed per journey pattern: (traffic source of each touch, touch ages in seconds), or a marketplace
    # key. Amounts are converted per order (its day's rate) first, so each model splits a few sums exactly.
    groups: dict[object, SourceRow] = {}
    for platform, day, ordered_at, currency, total, landing_site, referrer, data in rows:
        journey = attribution.journey_from_order(
            platform=platform,
            ordered_at=ordered_at,
            value=total,
            landing_site=landing_site,
            referrer=referrer,
            attribution=data,
        )
        if journey is None:
            mix.marketplace_orders += 1
            pattern = f"{attribution.MARKETPLACE}:{platform}"
        else:
            mix.online_orders += 1
            keys = tuple(attribution.traffic_source(touch) for touch in journey.touches)
            ages = tuple(None if age is None else int(age.total_seconds()) for age in attribution.touch_ages(journey))
            mix.with_touches += bool(keys)
            mix.multi_touch += len(keys) > 1
            pattern = (keys, ages)
        group = groups.get(pattern)
        if group is None:
            group = groups[pattern] = SourceRow("", "")
        rate = rates.get((day, currency)) if home_currency else None
        group.add(Decimal(1), total, currency, rate)
        mix.total.add(Decimal(1), total, currency, rate)
    mix.orders = len(rows)

    per_model: dict[str, dict[str, SourceRow]] = {name: {} for name in attribution.MODELS}
    for name, sources in per_model.items():
        for pattern, group in groups.items():
            if isinstance(pattern, str):
                parts = {pattern: Decimal(1)}
            else:
                keys, ages = pattern
                ages = tuple(None if age is None else timedelta(seconds=age) for age in ages)
                parts = attribution.shares(name, keys, ages, half_life=half_life)
            orders_split = attribution.split(group.orders, parts)
            sales_split = attribution.split(group.sales, parts, places=AMOUNT)
            unconverted = {c: attribution.split(a, parts, places=AMOUNT) for c, a in group.unconverted.items()}
            original = {c: attribution.split(a, parts, places=AMOUNT) for c, a in group.by_currency.items()}
            for key in parts:
                row = sources.get(key)
                if row is None:
                    row = sources[key] = SourceRow(key, _label(key), attributed=isinstance(pattern, tuple))
                row.orders += orders_split[key]
                row.sales += sales_split[key]
                for currency, credits in unconverted.items():
                    row.unconverted[currency] = row.unconverted.get(currency, ZERO) + credits[key]
                for currency, credits in original.items():
                    row.by_currency[currency] = row.by_currency.get(currency, ZERO) + credits[key]

    chosen = per_model[model]
    for row in chosen.values():
        row.sales_share = ratio(row.sales, mix.total.sales) if home_currency else None
        row.orders_share = ratio(row.orders, mix.total.orders)
    mix.rows = sorted(chosen.values(), key=lambda r: (not r.attributed, -r.sales, -r.orders, r.label))
    # every source some model credits, in the chosen model's order, then those it credits nothing
    order = [row.key for row in mix.rows if row.attributed]
    others = {key for sources in per_model.values() for key in sources if sources[key].attributed} - set(order)
    mix.compare = [
        {
            "key": key,
            "label": _label(key),
            "orders": [per_model[name][key].orders if key in per_model[name] else ZERO for name in attribution.MODELS],
        }
        for key in order + sorted(others, key=_label)
    ]
    return mix
