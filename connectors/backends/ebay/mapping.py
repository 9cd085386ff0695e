"""eBay rows -> our unified model: report rows to ``AdFact``, orders to ``OrderFact``, campaigns to entity rows.

Promoted Listings (general strategy, cost per sale):

- A report day is eBay's: midnight to midnight MST (UTC-7, no daylight saving) on every marketplace [C].
  We keep that day as the fact's date, and the ad account's time zone says so (``America/Phoenix`` is MST
  all year).
- ``product`` grain: one row per campaign, listing and day of the LISTING_PERFORMANCE_REPORT; the listing
  id is the ``product_id`` (the same id an order line carries in ``asin``, see below).
- ``campaign`` grain: the sum of the campaign's listing rows that day. A general-strategy campaign is its
  listings and nothing else, so the sum is the campaign; eBay's per-campaign summary report takes one
  campaign per request, which the 200-an-hour report quota cannot afford. The account report's totals are
  recorded beside ours for reconciliation.
- ``cost`` = ``ad_fees``, ``sales`` = ``sale_amount``, ``orders`` = ``sales`` (the number of attributed
  sales) [S]. eBay gives no separate attributed quantity, so ``units`` = ``orders`` [U].
- The attribution window is eBay's for general campaigns: a sale within 30 days of a click on the promoted
  listing ("30d") [U: eBay's help pages, not re-checked; the reference lists it as unconfirmed].
- Amounts are decimal strings, possibly with a currency code ("GBP 1.50") or thousands separators; the code,
  when present, is the row's currency, otherwise the marketplace's.

Orders (Fulfillment API): an order's day is its ``creationDate`` in the marketplace's time zone; amounts are
eBay ``Amount`` objects (``value`` as a string, ``currency``). Daily sales are gross, like Shopify's: every
order created that day, cancelled ones included, at ``pricingSummary.total``; refunds stay on the order.
Order lines keep the SKU in ``sku`` and eBay's listing id (``legacyItemId``) in ``asin``: that column holds
the marketplace's own item id (the ASIN on Amazon), which lets ad facts and order lines meet on one id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from analytics.services import AdFact, OrderFact, OrderLineFact, SalesFact
from connectors.backends.base import DiscoveredAccount
from connectors.backends.ebay.client import ReportFormatError, parse_day

CHANNEL = "ebay_pl"
PLATFORM = "ebay"
ATTRIBUTION_WINDOW = "30d"
REPORT_TIME_ZONE = "America/Phoenix"  # MST all year: the Promoted Listings report day
ZERO = Decimal(0)

# marketplace id -> (currency, time zone, what we call it)
MARKETPLACES = {
    "EBAY_US": ("USD", "America/Los_Angeles", "eBay US"),
    "EBAY_GB": ("GBP", "Europe/London", "eBay UK"),
    "EBAY_DE": ("EUR", "Europe/Berlin", "eBay DE"),
}

_MONEY = re.compile(r"^([A-Z]{3})?\s*([-+]?[\d,]*\.?\d*)$")


# --- accounts and campaigns ------------------------------------------------------------------------------


def account_id(user_id: str, marketplace_id: str) -> str:
    """One connection per marketplace: the seller's user id and the marketplace."""
    return f"{user_id}:{marketplace_id}"


def discovered_account(user: dict, marketplace_id: str) -> DiscoveredAccount:
    currency, time_zone, label = MARKETPLACES[marketplace_id]
    seller = (user.get("businessAccount") or {}).get("name") or user.get("username") or user["userId"]
    return DiscoveredAccount(
        external_id=account_id(user["userId"], marketplace_id),
        name=f"{seller} · {label}",
        currency=currency,
        time_zone=time_zone,
        marketplace=marketplace_id,
        config={"user_id": user["userId"], "username": user.get("username", ""), "marketplace_id": marketplace_id},
    )


def seller_marketplaces(user: dict, campaigns: Iterable[dict]) -> list[str]:
    """Where the seller sells: the registration site, then every site with a Promoted Listings campaign;
    sites we do not support yet are left out."""
    found = [user.get("registrationMarketplaceId") or ""]
    found += sorted({c.get("marketplaceId") or "" for c in campaigns})
    return [mp for mp in dict.fromkeys(found) if mp in MARKETPLACES]


def campaign_row(item: dict) -> dict:
    funding = item.get("fundingStrategy") or {}
    return {
        "external_id": str(item["campaignId"]),
        "name": item.get("campaignName", ""),
        "state": item.get("campaignStatus", ""),
        "targeting_type": funding.get("fundingModel", "") or "",
        "budget": None,  # cost-per-sale campaigns have an ad rate, no budget
        "budget_type": "",
        "portfolio": "",
    }


# --- report rows ----------------------------------------------------------------------------------------


def parse_money(value: str | None, default_currency: str) -> tuple[Decimal, str]:
    """``"GBP 1,234.50"`` -> (Decimal('1234.50'), 'GBP'); ``"12.3"`` -> (Decimal('12.3'), default); blank -> 0."""
    text = (value or "").strip().replace("\u00a0", " ")
    for symbol in ("$", "£", "€"):
        text = text.replace(symbol, "")
    if not text or text in ("-", "--"):
        return ZERO, default_currency
    match = _MONEY.match(text.strip())
    if not match or not match.group(2):
        raise ReportFormatError(_("An eBay report held an amount we cannot read."), detail=f"amount {value!r}")
    try:
        amount = Decimal(match.group(2).replace(",", ""))
    except InvalidOperation as exc:
        raise ReportFormatError(_("An eBay report held an amount we cannot read."), detail=f"amount {value!r}") from exc
    return amount, match.group(1) or default_currency


def parse_count(value: str | None) -> int:
    text = (value or "").strip().replace(",", "")
    if not text or text in ("-", "--"):
        return 0
    try:
        return int(Decimal(text))
    except InvalidOperation as exc:
        raise ReportFormatError(_("An eBay report held a count we cannot read."), detail=f"count {value!r}") from exc


def report_day(value: str) -> date:
    try:
        return parse_day(value)
    except ValueError as exc:
        raise ReportFormatError(_("An eBay report held a day we cannot read."), detail=str(exc)) from exc


def metrics(row: dict, currency: str) -> tuple[int, int, int, Decimal, Decimal, str]:
    """(impressions, clicks, attributed sales, ad fees, sale amount, currency) of one report row."""
    cost, cost_currency = parse_money(row.get("ad_fees"), "")
    sales, sales_currency = parse_money(row.get("sale_amount"), "")
    return (
        parse_count(row.get("impressions")),
        parse_count(row.get("clicks")),
        parse_count(row.get("sales")),
        cost,
        sales,
        cost_currency or sales_currency or currency,
    )


def ad_facts(
    rows: Iterable[dict],
    *,
    account_id: str,
    marketplace: str,
    currency: str,
    start: date,
    end: date,
    source_ref: int,
    skipped: list | None = None,
) -> Iterator[AdFact]:
    """``AdFact`` rows of a LISTING_PERFORMANCE_REPORT: each row at product grain as it streams by, then each
    campaign-day (the sum of its listings). Rows dated outside ``start``..``end`` are left out (and counted in
    ``skipped``)."""
    campaigns: dict[tuple[date, str], list] = {}

    def fact(day, grain, campaign_id, campaign_name, product_id, values, row_currency) -> AdFact:
        impressions, clicks, orders, cost, sales = values
        return AdFact(
            channel=CHANNEL,
            account_id=account_id,
            marketplace=marketplace,
            date=day,
            grain=grain,
            campaign_id=campaign_id,
            campaign_name=campaign_name[:255],
            ad_group_id="",
            ad_group_name="",
            target_id="",
            target_text="",
            match_type="",
            search_term="",
            product_id=product_id,
            impressions=impressions,
            clicks=clicks,
            cost=cost,
            orders=orders,
            units=orders,
            sales=sales,
            currency=row_currency,
            attribution_window=ATTRIBUTION_WINDOW,
            source="api",
            source_ref=source_ref,
        )

    days: dict[str, date] = {}
    for row in rows:
        text = row.get("day", "")
        day = days.get(text)
        if day is None:
            day = days[text] = report_day(text)
        if not start <= day <= end:
            if skipped is not None:
                skipped.append(row)
            continue
        impressions, clicks, orders, cost, sales, row_currency = metrics(row, currency)
        campaign_id = (row.get("campaign_id") or "").strip()
        campaign_name = row.get("campaign_name") or ""
        yield fact(
            day,
            "product",
            campaign_id,
            campaign_name,
            (row.get("listing_id") or "").strip(),
            (impressions, clicks, orders, cost, sales),
            row_currency,
        )
        acc = campaigns.get((day, campaign_id))
        if acc is None:
            acc = campaigns[(day, campaign_id)] = [campaign_name, 0, 0, 0, ZERO, ZERO, row_currency]
        acc[1] += impressions
        acc[2] += clicks
        acc[3] += orders
        acc[4] += cost
        acc[5] += sales
    for (day, campaign_id), (name, impressions, clicks, orders, cost, sales, row_currency) in sorted(campaigns.items()):
        yield fact(day, "campaign", campaign_id, name, "", (impressions, clicks, orders, cost, sales), row_currency)


def account_totals(rows: Iterable[dict], *, currency: str, start: date, end: date) -> dict:
    """The sums of an ACCOUNT_PERFORMANCE_REPORT over ``start``..``end``: plain JSON (money as strings)."""
    sums = {"impressions": 0, "clicks": 0, "orders": 0, "cost": ZERO, "sales": ZERO}
    days = 0
    found_currency = currency
    for row in rows:
        day = report_day(row.get("day", ""))
        if not start <= day <= end:
            continue
        impressions, clicks, orders, cost, sales, found_currency = metrics(row, currency)
        days += 1
        sums["impressions"] += impressions
        sums["clicks"] += clicks
        sums["orders"] += orders
        sums["cost"] += cost
        sums["sales"] += sales
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": days,
        "currency": found_currency,
        "impressions": sums["impressions"],
        "clicks": sums["clicks"],
        "orders": sums["orders"],
        "cost": str(sums["cost"]),
        "sales": str(sums["sales"]),
    }


def add_totals(a: dict | None, b: dict) -> dict:
    """Two account-report totals of consecutive chunks -> the totals of both."""
    if not a:
        return dict(b)
    return {
        "start": min(a["start"], b["start"]),
        "end": max(a["end"], b["end"]),
        "days": a["days"] + b["days"],
        "currency": b["currency"] or a["currency"],
        "impressions": a["impressions"] + b["impressions"],
        "clicks": a["clicks"] + b["clicks"],
        "orders": a["orders"] + b["orders"],
        "cost": str(Decimal(a["cost"]) + Decimal(b["cost"])),
        "sales": str(Decimal(a["sales"]) + Decimal(b["sales"])),
    }


# --- orders ---------------------------------------------------------------------------------------------


def parse_datetime(value: str) -> datetime:
    """eBay's ISO 8601 UTC timestamps (``2025-06-01T14:03:00.000Z``) -> aware datetimes."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def amount(value: dict | None) -> Decimal:
    """An eBay ``Amount`` (``{"value": "12.30", "currency": "USD"}``) -> Decimal('12.30'); missing is zero."""
    if not value or value.get("value") in (None, ""):
        return ZERO
    return Decimal(str(value["value"]))


def amount_currency(value: dict | None, default: str) -> str:
    return (value or {}).get("currency") or default


def order_marketplace(order: dict) -> str:
    """The marketplace an order belongs to: where its (first) line item was listed."""
    for line in order.get("lineItems") or []:
        marketplace = line.get("listingMarketplaceId") or line.get("purchaseMarketplaceId")
        if marketplace:
            return marketplace
    return ""


def order_status(order: dict) -> str:
    if (order.get("cancelStatus") or {}).get("cancelState") == "CANCELED":
        return "cancelled"
    return str(order.get("orderPaymentStatus") or "").lower()


def refunded(order: dict) -> Decimal:
    """Refunds issued: order-level refunds that reached REFUNDED, plus line-item refunds with a refund date
    (eBay lists line-item refunds on the line, not in the order's refunds)."""
    total = ZERO
    for refund in (order.get("paymentSummary") or {}).get("refunds") or []:
        if refund.get("refundStatus") == "REFUNDED":
            total += amount(refund.get("amount"))
    for line in order.get("lineItems") or []:
        for refund in line.get("refunds") or []:
            if refund.get("refundDate"):
                total += amount(refund.get("amount"))
    return total


def order_fact(order: dict, *, marketplace: str, tz: ZoneInfo, source_ref: int) -> OrderFact:
    pricing = order.get("pricingSummary") or {}
    currency = amount_currency(pricing.get("total"), "")
    ordered_at = parse_datetime(order["creationDate"])
    lines = tuple(
        OrderLineFact(
            external_id=str(line["lineItemId"]),
            sku=(line.get("sku") or "")[:128],
            asin=str(line.get("legacyItemId") or "")[:32],
            title=(line.get("title") or "")[:500],
            quantity=int(line.get("quantity") or 0),
            amount=amount(line.get("lineItemCost")),
            currency=amount_currency(line.get("lineItemCost"), currency),
        )
        for line in order.get("lineItems") or []
    )
    via_ads = [
        str(line["lineItemId"])
        for line in order.get("lineItems") or []
        if (line.get("properties") or {}).get("soldViaAdCampaign")
    ]
    return OrderFact(
        platform=PLATFORM,
        marketplace=marketplace,
        external_id=str(order["orderId"]),
        ordered_at=ordered_at,
        date=ordered_at.astimezone(tz).date(),
        status=order_status(order),
        currency=currency,
        total=amount(pricing.get("total")),
        refunded=refunded(order),
        units=sum(line.quantity for line in lines),
        landing_site="",
        referrer="",
        attribution={"sold_via_ad_campaign": via_ads} if via_ads else {},
        source_ref=source_ref,
        lines=lines,
    )


def daily_sales_facts(
    rows: Iterable[tuple[date, int, int, Decimal]], *, marketplace: str, currency: str, source_ref: int
) -> list[SalesFact]:
    """``(day, orders, units, total)`` rows -> one all-SKU ``SalesFact`` per day."""
    return [
        SalesFact(
            platform=PLATFORM,
            marketplace=marketplace,
            date=day,
            sku="",
            orders=orders,
            units=units,
            total_sales=total,
            currency=currency,
            source_ref=source_ref,
        )
        for day, orders, units, total in rows
    ]


def stored_daily_totals(*, organization, marketplace: str, start: date, end: date) -> list[tuple]:
    """``(day, orders, units, total)`` per marketplace-local day from the eBay orders we hold, ``start``..``end``.

    Recomputed from the stored rows (as the Shopify backend does), so an order updated later, or loaded by an
    earlier run, is counted once with its latest values.
    """
    from analytics.models import StoreOrder

    return list(
        StoreOrder.unscoped_objects.filter(
            organization=organization, platform=PLATFORM, marketplace=marketplace, date__gte=start, date__lte=end
        )
        .values("date")
        .order_by("date")
        .annotate(orders=Count("pk"), units=Sum("units"), total=Sum("total"))
        .values_list("date", "orders", "units", "total")
    )
