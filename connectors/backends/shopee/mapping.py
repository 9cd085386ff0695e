"""Shopee rows -> our unified model: shop info to accounts, order details to order facts, stored orders to
daily store sales, and CPC ads daily performance to ad facts.

Units and days:

- Amounts arrive as JSON numbers in the shop's currency, in major units (the VND sample: ``48000``; SGD and
  MYR with cents; THB whole baht in practice). We read fractions as ``Decimal`` (``json.loads(parse_float=
  Decimal)``) and anything else through ``str``, never through a binary float.
- Times are unix seconds. An order's day is its ``create_time`` in the shop's time zone (the time zone of
  the shop's market, ``REGIONS``), the day Seller Centre files it under.
- The ads API's ``date`` is ``DD-MM-YYYY``; we take it as the shop's local day [U: the docs do not say].

Orders: ``total`` is ``total_amount`` (items, the buyer's shipping, less Shopee promotions), which Shopee
returns only once the buyer has paid; until then it is the lines' value. A ``CANCELLED`` order keeps its
total and is ``refunded`` in full (nothing was kept), so net = total - refunded, as for Shopify. A line is
``model_discounted_price`` x ``model_quantity_purchased`` (a bundle-deal line shows 0: Shopee prices the
bundle on the order, not the line); its SKU is the model SKU, else the item SKU.

Daily sales are gross, as for Shopify: every order created that day, cancelled ones included, at its total.

Ads: ``get_all_cpc_ads_daily_performance`` is shop-level (all CPC ads of the shop), so each day is one
``AdFact`` at grain ``campaign`` with an empty ``campaign_id`` and the name ``ADS_CAMPAIGN_NAME``: the account
total. (If per-campaign performance is loaded one day, this row must stop being loaded at the same grain.)
Conversions are Shopee's *broad* ones: an order within 7 days of a click on an ad of the shop, for any of
the shop's items (Seller Centre's "Conversions"; *direct* counts only the clicked item), so
``attribution_window`` is ``"7d"``: orders = ``broad_order``, units = ``broad_item_sold``, sales =
``broad_gmv``, cost = ``expense``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Sum

from analytics.services import AdFact, OrderFact, OrderLineFact, SalesFact
from connectors.backends.base import DiscoveredAccount

logger = logging.getLogger(__name__)

PLATFORM = "shopee"
CHANNEL = "shopee_ads"
ATTRIBUTION_WINDOW = "7d"
ADS_GRAIN = "campaign"
ADS_CAMPAIGN_NAME = "All CPC ads"
ADS_DATE_FORMAT = "%d-%m-%Y"
ZERO = Decimal(0)

# A shop's market -> (currency, time zone). The first seven are the brief's table (Shopee's Southeast Asian
# markets and Taiwan); the Latin American ones are ours, from each country's currency and capital.
REGIONS = {
    "SG": ("SGD", "Asia/Singapore"),
    "MY": ("MYR", "Asia/Kuala_Lumpur"),
    "TH": ("THB", "Asia/Bangkok"),
    "ID": ("IDR", "Asia/Jakarta"),
    "PH": ("PHP", "Asia/Manila"),
    "VN": ("VND", "Asia/Ho_Chi_Minh"),
    "TW": ("TWD", "Asia/Taipei"),
    "BR": ("BRL", "America/Sao_Paulo"),
    "MX": ("MXN", "America/Mexico_City"),
    "CO": ("COP", "America/Bogota"),
    "CL": ("CLP", "America/Santiago"),
}
AMERICAS = {"BR", "MX", "CO", "CL"}


def decimal(value) -> Decimal:
    """A Shopee number (Decimal, int, float or text) -> Decimal; missing is zero."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def moment(unix) -> datetime:
    return datetime.fromtimestamp(int(unix), UTC)


def parse_ads_date(text: str) -> date:
    return datetime.strptime(text, ADS_DATE_FORMAT).date()  # noqa: DTZ007 - a calendar day, not a moment


def format_ads_date(day: date) -> str:
    return day.strftime(ADS_DATE_FORMAT)


# --- accounts ----------------------------------------------------------------------------------------------


def discovered_account(info: dict, *, shop_id: int, host: str) -> DiscoveredAccount | None:
    """``get_shop_info`` -> the shop's account, or ``None`` for a market we do not know."""
    region = str(info.get("region") or "").upper()
    if region not in REGIONS:
        logger.warning("Shopee shop %s is in region %r, which we do not support yet", shop_id, region)
        return None
    currency, time_zone = REGIONS[region]
    return DiscoveredAccount(
        external_id=str(shop_id),
        name=str(info.get("shop_name") or shop_id),
        currency=currency,
        time_zone=time_zone,
        marketplace=region,
        region="NA" if region in AMERICAS else "FE",  # the connect picker's value, for re-authorizing
        config={
            "shop_id": int(shop_id),
            "host": host,
            "status": str(info.get("status") or ""),
            "is_cb": bool(info.get("is_cb")),
        },
    )


# --- orders ------------------------------------------------------------------------------------------------


def order_lines(detail: dict, currency: str) -> tuple[OrderLineFact, ...]:
    lines, seen = [], {}
    for item in detail.get("item_list") or []:
        key = f"{item.get('item_id')}:{item.get('model_id') or 0}"
        seen[key] = seen.get(key, 0) + 1
        quantity = int(item.get("model_quantity_purchased") or 0)
        lines.append(
            OrderLineFact(
                external_id=key if seen[key] == 1 else f"{key}#{seen[key]}",
                sku=str(item.get("model_sku") or item.get("item_sku") or "")[:128],
                asin="",
                title=str(item.get("item_name") or "")[:500],
                quantity=quantity,
                amount=decimal(item.get("model_discounted_price")) * quantity,
                currency=currency,
            )
        )
    return tuple(lines)


def order_fact(detail: dict, *, marketplace: str, currency: str, tz: ZoneInfo, source_ref: int) -> OrderFact:
    """One ``get_order_detail`` order (with ``item_list`` and ``total_amount`` asked for) -> an ``OrderFact``."""
    currency = str(detail.get("currency") or currency)
    lines = order_lines(detail, currency)
    status = str(detail.get("order_status") or "")
    if detail.get("total_amount") is not None:
        total = decimal(detail["total_amount"])
    else:
        total = sum((line.amount for line in lines), ZERO)
    ordered_at = moment(detail["create_time"])
    return OrderFact(
        platform=PLATFORM,
        marketplace=marketplace,
        external_id=str(detail["order_sn"]),
        ordered_at=ordered_at,
        date=ordered_at.astimezone(tz).date(),
        status=status.lower(),
        currency=currency,
        total=total,
        refunded=total if status == "CANCELLED" else ZERO,
        units=sum(line.quantity for line in lines),
        landing_site="",
        referrer="",
        attribution={},
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
            units=units or 0,
            total_sales=total or ZERO,
            currency=currency,
            source_ref=source_ref,
        )
        for day, orders, units, total in rows
    ]


def stored_daily_totals(*, organization, marketplace: str, start: date, end: date) -> list[tuple]:
    """``(day, orders, units, total)`` per shop-local day from the Shopee orders we hold in ``marketplace``.

    Recomputed from the stored rows, so an order updated later, or loaded by an earlier run, counts once
    with its latest values. (A read of analytics' table; it belongs in ``analytics.selectors`` once that
    module exists, as Shopify's does.)
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


# --- ads ---------------------------------------------------------------------------------------------------


def ad_fact(row: dict, *, account_id: str, marketplace: str, currency: str, source_ref: int) -> AdFact:
    return AdFact(
        channel=CHANNEL,
        account_id=account_id,
        marketplace=marketplace,
        date=parse_ads_date(row["date"]),
        grain=ADS_GRAIN,
        campaign_id="",
        campaign_name=ADS_CAMPAIGN_NAME,
        ad_group_id="",
        ad_group_name="",
        target_id="",
        target_text="",
        match_type="",
        search_term="",
        product_id="",
        impressions=int(row.get("impression") or 0),
        clicks=int(row.get("clicks") or 0),
        cost=decimal(row.get("expense")),
        orders=int(row.get("broad_order") or 0),
        units=int(row.get("broad_item_sold") or 0),
        sales=decimal(row.get("broad_gmv")),
        currency=currency,
        attribution_window=ATTRIBUTION_WINDOW,
        source="api",
        source_ref=source_ref,
    )


def ad_facts(
    rows: Iterable[dict],
    *,
    account_id: str,
    marketplace: str,
    currency: str,
    source_ref: int,
    start: date | None = None,
    end: date | None = None,
) -> Iterator[AdFact]:
    """``AdFact`` for each daily row, leaving out days outside ``start``..``end`` when given."""
    for row in rows:
        fact = ad_fact(row, account_id=account_id, marketplace=marketplace, currency=currency, source_ref=source_ref)
        if (start is None or fact.date >= start) and (end is None or fact.date <= end):
            yield fact


def ad_totals(facts: Iterable[AdFact], into: dict | None = None) -> dict:
    """Sum facts into a plain JSON dict (counts as integers, money as decimal strings)."""
    totals = dict(into or {})
    for key in ("impressions", "clicks", "orders", "units"):
        totals[key] = int(totals.get(key, 0))
    for key in ("cost", "sales"):
        totals[key] = decimal(totals.get(key, "0"))
    totals["days"] = int(totals.get("days", 0))
    for fact in facts:
        totals["impressions"] += fact.impressions
        totals["clicks"] += fact.clicks
        totals["orders"] += fact.orders
        totals["units"] += fact.units
        totals["cost"] += fact.cost
        totals["sales"] += fact.sales
        totals["days"] += 1
    totals["cost"], totals["sales"] = str(totals["cost"]), str(totals["sales"])
    return totals
