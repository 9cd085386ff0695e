"""SP-API rows -> our facts. Pure functions; buyer personal data is never read, so it cannot be stored."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from analytics.services import OrderFact, OrderLineFact, SalesFact

PLATFORM = "amazon_sp"


def parse_time(value: str) -> datetime:
    """An SP-API ISO 8601 timestamp ("2025-01-20T19:49:35Z", or with an offset) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _money(value: dict | None) -> tuple[Decimal, str]:
    """Orders' Money is {"CurrencyCode", "Amount"}, Sales' is {"currencyCode", "amount"}; amounts are strings."""
    value = value or {}
    amount = value.get("Amount", value.get("amount")) or "0"
    return Decimal(str(amount)), value.get("CurrencyCode") or value.get("currencyCode") or ""


def sales_facts(buckets: Iterable[dict], *, marketplace: str, time_zone: str, source_ref: int) -> Iterator[SalesFact]:
    """getOrderMetrics ``Day`` buckets -> one SalesFact per local day (sku '' = the whole marketplace)."""
    zone = ZoneInfo(time_zone)
    for bucket in buckets:
        start = parse_time(bucket["interval"].split("--", 1)[0])
        amount, currency = _money(bucket["totalSales"])
        yield SalesFact(
            platform=PLATFORM,
            marketplace=marketplace,
            date=start.astimezone(zone).date(),
            sku="",
            orders=int(bucket["orderCount"]),
            units=int(bucket["unitCount"]),
            total_sales=amount,
            currency=currency,
            source_ref=source_ref,
        )


def add_metrics(buckets: Iterable[dict], *, into: dict | None = None) -> dict:
    """getOrderMetrics buckets summed into ``into`` (a run's running totals, kept in its cursor between chunks):
    ``orders``, ``units`` and ``sales`` (a decimal string) with the ``currency`` Amazon states. Day buckets of a
    window add up to its ``Total`` bucket: the same orders, counted by purchase date."""
    totals = {"orders": 0, "units": 0, "sales": "0", "currency": "", **(into or {})}
    sales = Decimal(totals["sales"])
    for bucket in buckets:
        amount, currency = _money(bucket.get("totalSales"))
        totals["orders"] += int(bucket.get("orderCount") or 0)
        totals["units"] += int(bucket.get("unitCount") or 0)
        sales += amount
        totals["currency"] = totals["currency"] or currency
    totals["sales"] = str(sales)
    return totals


def order_fact(
    order: dict, items: Iterable[dict], *, marketplace: str, time_zone: str, currency: str, source_ref: int
) -> OrderFact:
    """An Orders v0 order and its items -> OrderFact. Only the fields named here are read: no BuyerInfo,
    no ShippingAddress. A Pending order has no OrderTotal or ItemPrice yet: its amounts are 0 until it moves on
    (a later sync within the restatement window overwrites them)."""
    ordered_at = parse_time(order["PurchaseDate"])
    total, order_currency = _money(order.get("OrderTotal"))
    order_currency = order_currency or currency
    lines = []
    for item in items:
        amount, line_currency = _money(item.get("ItemPrice"))
        lines.append(
            OrderLineFact(
                external_id=str(item["OrderItemId"]),
                sku=item.get("SellerSKU") or "",
                asin=item.get("ASIN") or "",
                title=(item.get("Title") or "")[:500],
                quantity=int(item.get("QuantityOrdered") or 0),
                amount=amount,
                currency=line_currency or order_currency,
            )
        )
    if lines:
        units = sum(line.quantity for line in lines)
    else:
        units = int(order.get("NumberOfItemsShipped") or 0) + int(order.get("NumberOfItemsUnshipped") or 0)
    return OrderFact(
        platform=PLATFORM,
        marketplace=marketplace,
        external_id=order["AmazonOrderId"],
        ordered_at=ordered_at,
        date=ordered_at.astimezone(ZoneInfo(time_zone)).date(),
        status=order.get("OrderStatus") or "",
        currency=order_currency,
        total=total,
        refunded=Decimal(0),  # the Orders API does not report refunds
        units=units,
        landing_site="",
        referrer="",
        attribution={},  # Amazon gives no journey data
        source_ref=source_ref,
        lines=tuple(lines),
    )
