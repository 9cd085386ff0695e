"""Every metric a dashboard shows, defined once.

Inputs are sums over the same rows (money already in one currency). A ratio whose denominator is zero or
missing is ``None``: templates show it as "-", never as 0, and nothing raises. Ratios are returned as
``Decimal`` fractions (ACoS 0.25 means 25 %); ``format_metric`` turns them into what a person reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext_lazy as _

ZERO = Decimal(0)


def ratio(numerator, denominator) -> Decimal | None:
    """numerator / denominator, or None when the denominator is zero or unknown."""
    if numerator is None or denominator is None:
        return None
    denominator = Decimal(denominator)
    if denominator == 0:
        return None
    return Decimal(numerator) / denominator


@dataclass(frozen=True)
class Totals:
    """Sums over a set of rows, in one currency. ``total_sales`` is all store sales (ads or not)."""

    impressions: int = 0
    clicks: int = 0
    spend: Decimal = ZERO
    ad_orders: int = 0
    ad_units: int = 0
    ad_sales: Decimal = ZERO
    total_sales: Decimal = ZERO
    total_orders: int = 0
    total_units: int = 0
    refunds: Decimal = ZERO
    cogs: Decimal | None = None  # None: cost of goods unknown for some of the units sold
    fees: Decimal | None = None
    tax: Decimal | None = None

    def __add__(self, other: Totals) -> Totals:
        def both(a, b):
            return None if a is None or b is None else a + b

        return Totals(
            impressions=self.impressions + other.impressions,
            clicks=self.clicks + other.clicks,
            spend=self.spend + other.spend,
            ad_orders=self.ad_orders + other.ad_orders,
            ad_units=self.ad_units + other.ad_units,
            ad_sales=self.ad_sales + other.ad_sales,
            total_sales=self.total_sales + other.total_sales,
            total_orders=self.total_orders + other.total_orders,
            total_units=self.total_units + other.total_units,
            refunds=self.refunds + other.refunds,
            cogs=both(self.cogs, other.cogs),
            fees=both(self.fees, other.fees),
            tax=both(self.tax, other.tax),
        )


def roas(t: Totals) -> Decimal | None:
    """Return on ad spend: ad sales / ad spend."""
    return ratio(t.ad_sales, t.spend)


def acos(t: Totals) -> Decimal | None:
    """Advertising cost of sales: ad spend / ad sales."""
    return ratio(t.spend, t.ad_sales)


def tacos(t: Totals) -> Decimal | None:
    """Total advertising cost of sales: ad spend / total sales."""
    return ratio(t.spend, t.total_sales)


def cpc(t: Totals) -> Decimal | None:
    """Cost per click: ad spend / clicks."""
    return ratio(t.spend, t.clicks)


def ctr(t: Totals) -> Decimal | None:
    """Click-through rate: clicks / impressions."""
    return ratio(t.clicks, t.impressions)


def cvr(t: Totals) -> Decimal | None:
    """Conversion rate: ad orders / clicks."""
    return ratio(t.ad_orders, t.clicks)


def profit(t: Totals) -> Decimal | None:
    """Estimated profit: total sales - refunds - tax in the price - cost of goods - marketplace fees - ad
    spend. None while the cost of goods or the fees are unknown: a profit without them would flatter."""
    if t.cogs is None or t.fees is None:
        return None
    return t.total_sales - t.refunds - (t.tax or ZERO) - t.cogs - t.fees - t.spend


def margin(t: Totals) -> Decimal | None:
    """Profit / total sales."""
    return ratio(profit(t), t.total_sales)


def break_even_acos(*, price: Decimal, unit_cost: Decimal, fees_per_unit: Decimal, tax_per_unit=ZERO) -> Decimal | None:
    """The ACoS at which one more ad-driven sale earns nothing: the margin before ads over the price."""
    if price is None or unit_cost is None or fees_per_unit is None:
        return None
    return ratio(price - tax_per_unit - unit_cost - fees_per_unit, price)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str  # money | count | ratio | multiple
    better: str  # up | down: which way is good, for colouring changes
    value: callable

    def of(self, t: Totals):
        return self.value(t)


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("spend", _("Ad spend"), "money", "down", lambda t: t.spend),
        Metric("ad_sales", _("Ad sales"), "money", "up", lambda t: t.ad_sales),
        Metric("total_sales", _("Total sales"), "money", "up", lambda t: t.total_sales),
        Metric("roas", _("ROAS"), "multiple", "up", roas),
        Metric("acos", _("ACoS"), "ratio", "down", acos),
        Metric("tacos", _("TACoS"), "ratio", "down", tacos),
        Metric("cpc", _("CPC"), "money", "down", cpc),
        Metric("ctr", _("CTR"), "ratio", "up", ctr),
        Metric("cvr", _("CVR"), "ratio", "up", cvr),
        Metric("impressions", _("Impressions"), "count", "up", lambda t: t.impressions),
        Metric("clicks", _("Clicks"), "count", "up", lambda t: t.clicks),
        Metric("ad_orders", _("Ad orders"), "count", "up", lambda t: t.ad_orders),
        Metric("orders", _("Orders"), "count", "up", lambda t: t.total_orders),
        Metric("profit", _("Estimated profit"), "money", "up", profit),
    )
}


def change(current, previous) -> Decimal | None:
    """Relative change from previous to current (0.1 = +10 %); None without a base to compare to."""
    if current is None or previous is None:
        return None
    return ratio(Decimal(current) - Decimal(previous), abs(Decimal(previous)))


DASH = "-"


def format_metric(value, kind: str, currency: str = "") -> str:
    """What a person reads: money with 2 decimals and its currency, ratios as percentages, ROAS as 3.20x."""
    if value is None:
        return DASH
    if kind == "money":
        amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return f"{amount:,.2f} {currency}".strip()
    if kind == "ratio":
        return f"{Decimal(value) * 100:.1f}%"
    if kind == "multiple":
        return f"{Decimal(value):.2f}x"
    return f"{int(value):,}"
