"""Shopify orders -> our order facts, and stored orders -> daily store sales (the TACoS denominator).

An order's day is its creation day in the shop's time zone (``shop.ianaTimezone``), the day Shopify's own
reports file it under. Amounts are the shop currency (``shopMoney``), never the buyer's presentment money.

Daily sales are gross: every order created that day, cancelled ones included, at its original total
(``totalPriceSet``); refunds stay on the order rows (``refunded``), so net = total - refunded is one
subtraction away and a late refund never rewrites the day's gross.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Sum

from analytics.services import OrderFact, OrderLineFact, SalesFact

PLATFORM = "shopify"
MARKETPLACE_MAX = 32  # the width of the marketplace columns


def marketplace_for(shop_domain: str) -> str:
    """The shop's domain (``homegoods-demo.myshopify.com``) is its marketplace. The columns hold 32
    characters; a longer domain keeps its start and gets a short hash so it stays unique."""
    if len(shop_domain) <= MARKETPLACE_MAX:
        return shop_domain
    digest = hashlib.sha256(shop_domain.encode()).hexdigest()[:8]
    return f"{shop_domain[: MARKETPLACE_MAX - 9]}~{digest}"


def parse_datetime(value: str) -> datetime:
    """Shopify's ISO 8601 timestamps (``2025-06-01T14:03:00Z``) -> aware datetimes."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def money(bag: dict | None) -> Decimal:
    """``{"shopMoney": {"amount": "12.30", ...}}`` -> Decimal('12.30'); a missing bag is zero."""
    if not bag or not bag.get("shopMoney"):
        return Decimal("0")
    return Decimal(str(bag["shopMoney"]["amount"]))


def money_currency(bag: dict | None, default: str) -> str:
    if not bag or not bag.get("shopMoney"):
        return default
    return bag["shopMoney"].get("currencyCode") or default


def _visit(visit: dict | None) -> dict | None:
    if not visit:
        return None
    utm = visit.get("utmParameters") or {}
    return {
        "source": visit.get("source") or "",
        "occurred_at": visit.get("occurredAt") or "",
        "landing_page": visit.get("landingPage") or "",
        "referrer": visit.get("referrerUrl") or "",
        "utm": {key: utm.get(key) or "" for key in ("source", "medium", "campaign", "content", "term")},
    }


def order_status(node: dict) -> str:
    if node.get("cancelledAt"):
        return "cancelled"
    return str(node.get("displayFinancialStatus") or "").lower()


def order_fact(node: dict, *, marketplace: str, tz: ZoneInfo, source_ref: int) -> OrderFact:
    """One order node (with ``lines``: its line-item nodes) -> an ``OrderFact``."""
    currency = money_currency(node.get("totalPriceSet"), node.get("currencyCode") or "")
    ordered_at = parse_datetime(node["createdAt"])
    journey = node.get("customerJourneySummary") or {}
    first, last = _visit(journey.get("firstVisit")), _visit(journey.get("lastVisit"))
    attribution = {key: value for key, value in (("first_visit", first), ("last_visit", last)) if value}
    lines = tuple(
        OrderLineFact(
            external_id=line["id"],
            sku=line.get("sku") or "",
            asin="",
            title=(line.get("title") or "")[:500],
            quantity=int(line.get("quantity") or 0),
            amount=money(line.get("originalTotalSet")),
            currency=money_currency(line.get("originalTotalSet"), currency),
        )
        for line in node.get("lines", ())
    )
    return OrderFact(
        platform=PLATFORM,
        marketplace=marketplace,
        external_id=node["id"],
        ordered_at=ordered_at,
        date=ordered_at.astimezone(tz).date(),
        status=order_status(node),
        currency=currency,
        total=money(node.get("totalPriceSet")),
        refunded=money(node.get("totalRefundedSet")),
        units=sum(line.quantity for line in lines),
        landing_site=(first or {}).get("landing_page", ""),
        referrer=(first or {}).get("referrer", ""),
        attribution=attribution,
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
    """``(day, orders, units, total)`` per shop-local day from the orders we hold, ``start``..``end``.

    Recomputed from the stored rows (not summed from one run's pages), so an order updated later, or
    loaded by an earlier run, is counted once with its latest values. (A read of analytics' table; it
    belongs in ``analytics.selectors`` once that module exists.)
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
