"""Reads for the Products and Profit pages: per-product ad and store figures, the profit inputs (cost of goods,
marketplace fees, VAT/GST) and the profit and loss of a range.

Sales, refunds and ad spend are converted with the rate of their own day (as on every dashboard page). Unit
amounts that are not sales (a SKU's cost, a fee per order or per unit) are converted with the rate of the
range's last day, which the page names: a cost is a standing price, not a dated transaction.

Fees and taxes come from the organization's own rows, or else from ``analytics.profit_defaults``; a cost of
goods only from the organization. Whatever is unknown stays unknown: profit is ``None`` while the cost of any
unit sold (or a marketplace's fees) is missing, and the page says which SKUs or markets lack it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Max, Sum

from accounts.models import Organization
from analytics import metrics
from analytics.fx.selectors import rates_frame
from analytics.models import (
    AdRollupDaily,
    MarketplaceFee,
    ProductAdRollupDaily,
    ProductCost,
    ProductSalesRollupDaily,
    SalesRollupDaily,
    SalesTax,
)
from analytics.profit_defaults import default_fees, default_taxes
from analytics.query import DashboardQuery
from analytics.selectors.campaigns import Money, aggregate, currencies_in

ZERO = Decimal(0)
HUNDRED = Decimal(100)
PAGE_SIZE = 50

# --- profit inputs ---------------------------------------------------------------------------------------


def plain(value: Decimal, *, places: int = 0) -> str:
    """12.5000 -> "12.5", 100.0000 -> "100" (with ``places=2``: "12.50", "100.00", 0.0125 -> "0.0125"): a
    stored figure without trailing zeros beyond ``places`` or an exponent."""
    value = value.normalize()
    if -value.as_tuple().exponent < places:
        value = value.quantize(Decimal(1).scaleb(-places))
    return format(value, "f")


@dataclass(frozen=True)
class FeeRow:
    platform: str
    marketplace: str
    referral_pct: Decimal
    fixed_per_order: Decimal
    fulfilment_per_unit: Decimal
    currency: str
    source: str
    is_default: bool

    @property
    def texts(self) -> tuple[str, str, str]:
        return (
            plain(self.referral_pct),
            plain(self.fixed_per_order, places=2),
            plain(self.fulfilment_per_unit, places=2),
        )


@dataclass(frozen=True)
class TaxRow:
    marketplace: str
    rate_pct: Decimal
    prices_include_tax: bool
    source: str
    is_default: bool

    @property
    def rate_text(self) -> str:
        return plain(self.rate_pct)


@dataclass(frozen=True)
class CostRow:
    sku: str
    marketplace: str
    unit_cost: Decimal
    currency: str

    @property
    def unit_cost_text(self) -> str:
        return plain(self.unit_cost, places=2)


def fee_rows(*, organization: Organization) -> list[FeeRow]:
    """The fee table in force: the organization's rows, and the defaults it has not replaced."""
    rows = {
        key: FeeRow(
            d.platform,
            d.marketplace,
            d.referral_pct,
            d.fixed_per_order,
            d.fulfilment_per_unit,
            d.currency,
            d.source_text,
            True,
        )
        for key, d in default_fees().items()
    }
    for fee in MarketplaceFee.objects.filter(organization=organization):
        rows[(fee.platform, fee.marketplace)] = FeeRow(
            fee.platform,
            fee.marketplace,
            fee.referral_pct,
            fee.fixed_per_order,
            fee.fulfilment_per_unit,
            fee.currency,
            fee.source,
            False,
        )
    return sorted(rows.values(), key=lambda row: (row.platform, row.marketplace))


def tax_rows(*, organization: Organization) -> list[TaxRow]:
    rows = {
        key: TaxRow(d.marketplace, d.rate_pct, d.prices_include_tax, d.source_text, True)
        for key, d in default_taxes().items()
    }
    for tax in SalesTax.objects.filter(organization=organization):
        rows[tax.marketplace] = TaxRow(tax.marketplace, tax.rate_pct, tax.prices_include_tax, tax.source, False)
    return sorted(rows.values(), key=lambda row: row.marketplace)


def cost_index(*, organization: Organization) -> dict[tuple[str, str], CostRow]:
    return {
        (c.sku, c.marketplace): CostRow(c.sku, c.marketplace, c.unit_cost, c.currency)
        for c in ProductCost.objects.filter(organization=organization)
    }


@dataclass
class Inputs:
    fees: dict[tuple[str, str], FeeRow]
    taxes: dict[str, TaxRow]
    costs: dict[tuple[str, str], CostRow]

    @classmethod
    def load(cls, organization: Organization) -> Inputs:
        """Three queries: fees, taxes, costs."""
        return cls(
            fees={(f.platform, f.marketplace): f for f in fee_rows(organization=organization)},
            taxes={t.marketplace: t for t in tax_rows(organization=organization)},
            costs=cost_index(organization=organization),
        )

    def fee(self, platform: str, marketplace: str) -> FeeRow | None:
        return self.fees.get((platform, marketplace)) or self.fees.get((platform, ""))

    def tax(self, marketplace: str) -> TaxRow | None:
        return self.taxes.get(marketplace)

    def cost(self, sku: str, marketplace: str) -> CostRow | None:
        return self.costs.get((sku, marketplace)) or self.costs.get((sku, ""))

    def currencies(self) -> set[str]:
        return {f.currency for f in self.fees.values()} | {c.currency for c in self.costs.values()}


@dataclass(frozen=True)
class UnitRates:
    """Rates of one day (the range's last) for converting costs and fixed fees: 1 currency = rate ``home``."""

    day: date
    home: str
    rates: dict[str, Decimal]

    @classmethod
    def of(cls, frame: dict[tuple[date, str], Decimal], day: date, home: str) -> UnitRates:
        return cls(day, home, {currency: rate for (d, currency), rate in frame.items() if d == day})

    def convert(self, amount: Decimal, from_currency: str, to_currency: str) -> Decimal | None:
        if amount == 0 or from_currency == to_currency:
            return amount
        source, target = self.rates.get(from_currency), self.rates.get(to_currency)
        if source is None or target is None:
            return None
        return amount * source / target

    def rate(self, from_currency: str, to_currency: str) -> Decimal | None:
        return self.convert(Decimal(1), from_currency, to_currency)


def _frames(*, organization: Organization, query: DashboardQuery, currencies: Iterable[str]) -> tuple[Money, UnitRates]:
    """The view's money and the unit rates of its last day, from one rates query."""
    home = organization.home_currency
    currencies = set(currencies) | {home}
    if query.currency == "original":
        frame = rates_frame(currencies, query.end, query.end, home)
        return Money(home=None), UnitRates.of(frame, query.end, home)
    frame = rates_frame(currencies, query.start, query.end, home)
    return Money(home=home, rates=frame), UnitRates.of(frame, query.end, home)


# --- the economics of a set of sales ------------------------------------------------------------------------


@dataclass
class Economics:
    cogs: Decimal | None
    fees: Decimal | None
    tax: Decimal | None
    missing_skus: set[str] = field(default_factory=set)
    missing_fee: bool = False
    missing_tax: bool = False
    no_rate: bool = False


def economics(
    *,
    platform: str,
    marketplace: str,
    currency: str,
    sales: Decimal,
    refunds: Decimal,
    orders: int,
    units: int,
    sku_units: dict[str, int],
    inputs: Inputs,
    rates: UnitRates,
) -> Economics:
    """Cost of goods, marketplace fees and tax in the price of these sales, in ``currency``."""
    result = Economics(cogs=ZERO, fees=None, tax=None)
    for sku, count in sku_units.items():
        if not count:
            continue
        cost = inputs.cost(sku, marketplace)
        if cost is None:
            result.missing_skus.add(sku)
            continue
        converted = rates.convert(cost.unit_cost * count, cost.currency, currency)
        if converted is None:
            result.no_rate = True
        else:
            result.cogs += converted
    if result.missing_skus or result.no_rate:
        result.cogs = None
    fee = inputs.fee(platform, marketplace)
    if fee is None:
        result.missing_fee = bool(sales or orders or units)
        result.fees = None if result.missing_fee else ZERO
    else:
        fixed = rates.convert(fee.fixed_per_order * orders + fee.fulfilment_per_unit * units, fee.currency, currency)
        if fixed is None:
            result.no_rate = True
        else:
            result.fees = sales * fee.referral_pct / HUNDRED + fixed
    tax = inputs.tax(marketplace)
    if tax is None:
        result.missing_tax = bool(sales)
        result.tax = None if result.missing_tax else ZERO
    elif tax.prices_include_tax:
        result.tax = (sales - refunds) * tax.rate_pct / (HUNDRED + tax.rate_pct)
    else:
        result.tax = ZERO
    return result


# --- products -------------------------------------------------------------------------------------------------


@dataclass
class ProductRow:
    sku: str
    marketplace: str
    title: str
    currency: str
    totals: metrics.Totals
    no_rate: bool = False
    missing_cost: bool = False
    missing_fee: bool = False
    unit_cost: Decimal | None = None
    cells: list = field(default_factory=list)

    @property
    def profit(self) -> Decimal | None:
        return None if self.no_rate else metrics.profit(self.totals)

    @property
    def margin(self) -> Decimal | None:
        return None if self.no_rate else metrics.margin(self.totals)

    @property
    def tacos(self) -> Decimal | None:
        return None if self.no_rate else metrics.tacos(self.totals)

    @property
    def acos(self) -> Decimal | None:
        return None if self.no_rate else metrics.acos(self.totals)

    @property
    def break_even_acos(self) -> Decimal | None:
        """At the range's average price: (price - tax - unit cost - fees per unit) / price."""
        t = self.totals
        if self.no_rate or not t.total_units or t.cogs is None or t.fees is None:
            return None
        units = Decimal(t.total_units)
        return metrics.break_even_acos(
            price=t.total_sales / units,
            unit_cost=t.cogs / units,
            fees_per_unit=t.fees / units,
            tax_per_unit=(t.tax or ZERO) / units,
        )

    def values(self) -> dict:
        t = self.totals
        return {
            "sku": self.sku,
            "title": self.title,
            "marketplace": self.marketplace,
            "currency": self.currency,
            "spend": t.spend,
            "ad_sales": t.ad_sales,
            "acos": self.acos,
            "total_sales": t.total_sales,
            "units": t.total_units,
            "orders": t.total_orders,
            "tacos": self.tacos,
            "cogs": t.cogs,
            "fees": t.fees,
            "tax": t.tax,
            "profit": self.profit,
            "margin": self.margin,
            "break_even_acos": self.break_even_acos,
        }


PRODUCT_SORTS = (
    "sku",
    "spend",
    "ad_sales",
    "acos",
    "total_sales",
    "units",
    "tacos",
    "profit",
    "margin",
    "break_even_acos",
)
PRODUCT_DEFAULT_SORT = "-total_sales"


@dataclass
class ProductTable:
    rows: list[ProductRow]
    total_rows: int
    page: int
    pages: int
    sort: str
    money: Money
    rates: UnitRates


def _product_filters(query: DashboardQuery, column: str, *, channels: bool) -> tuple[list, dict]:
    where, params = [], {}
    if channels and query.channels:
        where.append("r.channel = ANY(%(channels)s)")
        params["channels"] = list(query.channels)
    if query.marketplaces:
        where.append("r.marketplace = ANY(%(marketplaces)s)")
        params["marketplaces"] = list(query.marketplaces)
    if query.products:
        where.append(f"r.{column} = ANY(%(products)s)")
        params["products"] = list(query.products)
    return where, params


def product_table(
    *,
    organization: Organization,
    query: DashboardQuery,
    search: str = "",
    sort: str = PRODUCT_DEFAULT_SORT,
    page: int = 1,
    page_size: int | None = PAGE_SIZE,
) -> ProductTable:
    """One row per product (SKU or ASIN) and marketplace: ad spend and ad sales (``ProductAdRollupDaily``),
    store sales and units (``ProductSalesRollupDaily``), TACoS, and profit and break-even ACoS when the cost
    of goods is known. Ads and sales meet on the product id = SKU. A fixed number of queries."""
    inputs = Inputs.load(organization)
    ads = ProductAdRollupDaily.objects.filter(organization=organization, date__range=(query.start, query.end))
    sold = ProductSalesRollupDaily.objects.filter(organization=organization, date__range=(query.start, query.end))
    money, rates = _frames(
        organization=organization, query=query, currencies=currencies_in(ads, sold) | inputs.currencies()
    )
    where, params = _product_filters(query, "product_id", channels=True)
    ad_rows, _ = aggregate(
        table=ProductAdRollupDaily._meta.db_table,
        organization_id=organization.pk,
        query=query,
        money=money,
        group=("product_id", "marketplace"),
        where=where,
        params=params,
        compare=False,
    )
    where, params = _product_filters(query, "sku", channels=False)
    sale_rows, _ = aggregate(
        table=ProductSalesRollupDaily._meta.db_table,
        organization_id=organization.pk,
        query=query,
        money=money,
        group=("sku", "platform", "marketplace"),
        counts=("orders", "units"),
        amounts=("sales",),
        label="title",
        where=where,
        params=params,
        compare=False,
    )
    merged: dict[tuple[str, str, str], dict] = {}

    def entry(sku, marketplace, currency):
        return merged.setdefault(
            (sku, marketplace, currency),
            {"title": "", "ads": None, "sales": [], "no_rate": False},
        )

    for row in ad_rows:
        item = entry(row["product_id"], row["marketplace"], row["currency"])
        item["ads"] = row
        item["no_rate"] |= row["no_rate"]
    for row in sale_rows:
        item = entry(row["sku"], row["marketplace"], row["currency"])
        item["sales"].append(row)
        item["title"] = item["title"] or row["label"] or ""
        item["no_rate"] |= row["no_rate"]

    rows = []
    for (sku, marketplace, currency), item in merged.items():
        ads_row = item["ads"] or {}
        cogs, fees, tax = ZERO, ZERO, ZERO
        sales = orders = units = 0
        no_rate, missing_cost, missing_fee = item["no_rate"], False, False
        for sale in item["sales"]:
            result = economics(
                platform=sale["platform"],
                marketplace=marketplace,
                currency=currency,
                sales=sale["sales"],
                refunds=ZERO,
                orders=int(sale["orders"]),
                units=int(sale["units"]),
                sku_units={sku: int(sale["units"])},
                inputs=inputs,
                rates=rates,
            )
            sales += sale["sales"]
            orders += int(sale["orders"])
            units += int(sale["units"])
            cogs = None if cogs is None or result.cogs is None else cogs + result.cogs
            fees = None if fees is None or result.fees is None else fees + result.fees
            tax = tax + (result.tax or ZERO)
            missing_cost |= bool(result.missing_skus)
            missing_fee |= result.missing_fee
            no_rate |= result.no_rate
        cost = inputs.cost(sku, marketplace)
        rows.append(
            ProductRow(
                sku=sku,
                marketplace=marketplace,
                title=item["title"],
                currency=currency,
                totals=metrics.Totals(
                    impressions=int(ads_row.get("impressions", 0)),
                    clicks=int(ads_row.get("clicks", 0)),
                    spend=ads_row.get("cost", ZERO),
                    ad_orders=int(ads_row.get("orders", 0)),
                    ad_units=int(ads_row.get("units", 0)),
                    ad_sales=ads_row.get("sales", ZERO),
                    total_sales=sales or ZERO,
                    total_orders=orders,
                    total_units=units,
                    cogs=cogs,
                    fees=fees,
                    tax=tax,
                ),
                no_rate=no_rate,
                missing_cost=missing_cost,
                missing_fee=missing_fee,
                unit_cost=None if cost is None else rates.convert(cost.unit_cost, cost.currency, currency),
            )
        )
    needle = search.strip().casefold()
    if needle:
        rows = [row for row in rows if needle in row.sku.casefold() or needle in row.title.casefold()]
    sort = sort if sort.removeprefix("-") in PRODUCT_SORTS else PRODUCT_DEFAULT_SORT
    key = sort.removeprefix("-")
    present = [row for row in rows if row.values()[key] is not None]
    absent = [row for row in rows if row.values()[key] is None]
    present.sort(key=lambda row: (row.sku, row.marketplace))
    present.sort(key=lambda row: row.values()[key], reverse=sort.startswith("-"))
    absent.sort(key=lambda row: (row.sku, row.marketplace))
    rows = present + absent
    page = max(1, page)
    total_rows = len(rows)
    if page_size:
        rows = rows[(page - 1) * page_size : page * page_size]
    return ProductTable(
        rows=rows,
        total_rows=total_rows,
        page=page,
        pages=max(1, math.ceil(total_rows / page_size)) if page_size else 1,
        sort=sort,
        money=money,
        rates=rates,
    )


# --- profit and loss ----------------------------------------------------------------------------------------


@dataclass
class PnlLine:
    platform: str
    marketplace: str
    currency: str
    totals: metrics.Totals
    no_rate: bool = False
    missing_skus: set[str] = field(default_factory=set)
    units_without_sku: int = 0
    missing_fee: bool = False
    missing_tax: bool = False

    @property
    def contribution(self) -> Decimal | None:
        """Profit before ad spend (ads are not split by store)."""
        return None if self.no_rate else metrics.profit(self.totals)


@dataclass
class Pnl:
    currency: str
    totals: metrics.Totals
    lines: list[PnlLine]
    no_rate: bool = False

    @property
    def profit(self) -> Decimal | None:
        return None if self.no_rate else metrics.profit(self.totals)

    @property
    def margin(self) -> Decimal | None:
        return None if self.no_rate else metrics.margin(self.totals)

    @property
    def missing_skus(self) -> list[str]:
        return sorted({sku for line in self.lines for sku in line.missing_skus})

    @property
    def missing_fees(self) -> list[tuple[str, str]]:
        return [(line.platform, line.marketplace) for line in self.lines if line.missing_fee]

    @property
    def missing_taxes(self) -> list[str]:
        return sorted({line.marketplace for line in self.lines if line.missing_tax})

    @property
    def without_sku(self) -> list[tuple[str, str, int]]:
        return [
            (line.platform, line.marketplace, line.units_without_sku) for line in self.lines if line.units_without_sku
        ]


def profit_and_loss(*, organization: Organization, query: DashboardQuery) -> tuple[list[Pnl], UnitRates]:
    """The range's P&L: store sales, refunds, tax in the price, cost of goods, marketplace fees, ad spend and
    the estimated profit, per store (platform x marketplace) and in total; one P&L per currency (one in home
    currency mode). A fixed number of queries."""
    inputs = Inputs.load(organization)
    start, end = query.start, query.end
    sales_qs = SalesRollupDaily.objects.filter(organization=organization, date__range=(start, end))
    product_qs = ProductSalesRollupDaily.objects.filter(organization=organization, date__range=(start, end))
    ads_qs = AdRollupDaily.objects.filter(organization=organization, date__range=(start, end))
    money, rates = _frames(
        organization=organization,
        query=query,
        currencies=currencies_in(sales_qs, product_qs, ads_qs) | inputs.currencies(),
    )
    store_where, store_params = [], {}
    if query.marketplaces:
        store_where.append("r.marketplace = ANY(%(marketplaces)s)")
        store_params["marketplaces"] = list(query.marketplaces)
    common = {"organization_id": organization.pk, "query": query, "money": money, "compare": False}
    stores, _ = aggregate(
        table=SalesRollupDaily._meta.db_table,
        group=("platform", "marketplace"),
        counts=("orders", "units"),
        amounts=("total_sales", "refunds"),
        where=store_where,
        params=store_params,
        **common,
    )
    products, _ = aggregate(
        table=ProductSalesRollupDaily._meta.db_table,
        group=("platform", "marketplace", "sku"),
        counts=("units",),
        amounts=("sales",),
        where=store_where,
        params=store_params,
        **common,
    )
    ad_where, ad_params = list(store_where), dict(store_params)
    if query.channels:
        ad_where.append("r.channel = ANY(%(channels)s)")
        ad_params["channels"] = list(query.channels)
    ads, _ = aggregate(
        table=AdRollupDaily._meta.db_table, group=("channel",), where=ad_where, params=ad_params, **common
    )

    sku_units: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for row in products:
        sku_units[(row["platform"], row["marketplace"], row["currency"])][row["sku"]] = int(row["units"])
    by_currency: dict[str, Pnl] = {}

    def pnl(currency: str) -> Pnl:
        return by_currency.setdefault(
            currency, Pnl(currency=currency, totals=metrics.Totals(cogs=ZERO, fees=ZERO, tax=ZERO), lines=[])
        )

    for row in stores:
        key = (row["platform"], row["marketplace"], row["currency"])
        units, orders = int(row["units"]), int(row["orders"])
        skus = sku_units.pop(key, {})
        result = economics(
            platform=row["platform"],
            marketplace=row["marketplace"],
            currency=row["currency"],
            sales=row["total_sales"],
            refunds=row["refunds"],
            orders=orders,
            units=units,
            sku_units=skus,
            inputs=inputs,
            rates=rates,
        )
        without_sku = max(0, units - sum(skus.values()))
        line = PnlLine(
            platform=row["platform"],
            marketplace=row["marketplace"],
            currency=row["currency"],
            totals=metrics.Totals(
                total_sales=row["total_sales"],
                refunds=row["refunds"],
                total_orders=orders,
                total_units=units,
                cogs=None if without_sku else result.cogs,
                fees=result.fees,
                tax=result.tax,
            ),
            no_rate=row["no_rate"] or result.no_rate,
            missing_skus=result.missing_skus,
            units_without_sku=without_sku,
            missing_fee=result.missing_fee,
            missing_tax=result.missing_tax,
        )
        target = pnl(row["currency"])
        target.lines.append(line)
        target.totals = target.totals + line.totals
        target.no_rate |= line.no_rate
    for row in ads:
        target = pnl(row["currency"])
        target.totals = target.totals + metrics.Totals(
            impressions=int(row["impressions"]),
            clicks=int(row["clicks"]),
            spend=row["cost"],
            ad_orders=int(row["orders"]),
            ad_units=int(row["units"]),
            ad_sales=row["sales"],
            cogs=ZERO,
            fees=ZERO,
            tax=ZERO,
        )
        target.no_rate |= row["no_rate"]
    for item in by_currency.values():
        item.lines.sort(key=lambda line: (line.platform, line.marketplace))
    return sorted(by_currency.values(), key=lambda item: item.currency), rates


# --- the cost of goods editor -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    sku: str
    marketplace: str
    title: str
    units: int
    cost: CostRow | None


def cost_lines(*, organization: Organization, query: DashboardQuery) -> list[CostLine]:
    """Every cost the organization entered, and every SKU sold in the range that has none (first). Two queries."""
    costs = cost_index(organization=organization)
    sold = (
        ProductSalesRollupDaily.objects.filter(organization=organization, date__range=(query.start, query.end))
        .values("sku", "marketplace")
        .order_by("sku", "marketplace")
        .annotate(units=Sum("units"), title=Max("title"))
    )
    lines = []
    titles: dict[str, str] = {}
    for row in sold:
        titles.setdefault(row["sku"], row["title"])
        if (row["sku"], row["marketplace"]) in costs or (row["sku"], "") in costs:
            continue
        lines.append(CostLine(row["sku"], row["marketplace"], row["title"], int(row["units"] or 0), None))
    for _key, cost in sorted(costs.items()):
        lines.append(CostLine(cost.sku, cost.marketplace, titles.get(cost.sku, ""), 0, cost))
    return lines
