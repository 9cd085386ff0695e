"""TikTok Shop shops and orders -> our accounts and order facts; stored orders -> daily store sales.

Shops: one connection per authorized shop. The shop's ``region`` is its marketplace and decides its currency
and the time zone of its days (Seller Center's own: US days are Pacific time).

Orders (``/order/202309/orders/search``):

- the day is the creation day (``create_time``, unix seconds) in the shop's time zone;
- money fields are decimal strings in ``payment.currency``: ``total`` is ``payment.total_amount`` (what the
  buyer paid: products after discounts, shipping, tax);
- TikTok lists one line item per unit sold (a line item has no quantity), so units = line items; a line's
  amount is its ``sale_price`` (after seller and platform discounts on the item);
- ``status`` is TikTok's, lower-cased (``awaiting_shipment``, ``completed``, ``cancelled``...). Refunds live in
  TikTok's return and refund API, which we do not read; a cancelled order counts as refunded in full;
- line items sold in a LIVE stream carry the live room's ``room_id``: it is kept in ``attribution``.

Daily sales are gross, as for Shopify: every order created that day at its ``total``, cancelled ones included;
net = total - refunded is one subtraction away and a later cancellation never rewrites the day's gross.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db.models import Count, Sum

from analytics.services import OrderFact, OrderLineFact, SalesFact
from connectors.backends.base import DiscoveredAccount

PLATFORM = "tiktok_shop"

# region -> (currency, the time zone of Seller Center's days)
REGIONS: dict[str, tuple[str, str]] = {
    "US": ("USD", "America/Los_Angeles"),
    "GB": ("GBP", "Europe/London"),
    "SG": ("SGD", "Asia/Singapore"),
    "MY": ("MYR", "Asia/Kuala_Lumpur"),
    "TH": ("THB", "Asia/Bangkok"),
    "ID": ("IDR", "Asia/Jakarta"),
    "PH": ("PHP", "Asia/Manila"),
    "VN": ("VND", "Asia/Ho_Chi_Minh"),
}


def region_of(shop: dict) -> str:
    return str(shop.get("region") or "").upper()


def discovered_account(shop: dict) -> DiscoveredAccount | None:
    """One ``/authorization/202309/shops`` entry -> an account; None for a region we cannot date or price."""
    region = region_of(shop)
    if region not in REGIONS:
        return None
    currency, time_zone = REGIONS[region]
    return DiscoveredAccount(
        external_id=str(shop["id"]),
        name=str(shop.get("name") or shop["id"]),
        currency=currency,
        time_zone=time_zone,
        marketplace=region,
        config={
            "shop_cipher": str(shop.get("cipher") or ""),
            "shop_code": str(shop.get("code") or ""),
            "seller_type": str(shop.get("seller_type") or ""),
        },
    )


def amount(value) -> Decimal:
    """A TikTok money string (``"39.99"``, ``"5000"``) -> Decimal; missing or empty is zero."""
    if value in (None, ""):
        return Decimal("0")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


def order_fact(order: dict, *, marketplace: str, tz: ZoneInfo, currency: str, source_ref: int) -> OrderFact:
    """One order of the search (or detail) answer -> an ``OrderFact``. ``currency``: the shop's, for an order
    whose payment block names none."""
    payment = order.get("payment") or {}
    order_currency = str(payment.get("currency") or currency)
    ordered_at = datetime.fromtimestamp(int(order["create_time"]), tz=UTC)
    status = str(order.get("status") or "").lower()
    total = amount(payment.get("total_amount"))
    lines = tuple(
        OrderLineFact(
            external_id=str(line["id"]),
            sku=str(line.get("seller_sku") or line.get("sku_id") or "")[:128],
            asin="",
            title=str(line.get("product_name") or "")[:500],
            quantity=int(line.get("quantity") or 1),
            amount=amount(line.get("sale_price")),
            currency=str(line.get("currency") or order_currency),
        )
        for line in order.get("line_items") or ()
    )
    rooms = sorted({str(line["room_id"]) for line in order.get("line_items") or () if line.get("room_id")})
    attribution = {"live_room_id": rooms[0]} if len(rooms) == 1 else ({"live_room_ids": rooms} if rooms else {})
    return OrderFact(
        platform=PLATFORM,
        marketplace=marketplace,
        external_id=str(order["id"]),
        ordered_at=ordered_at,
        date=ordered_at.astimezone(tz).date(),
        status=status,
        currency=order_currency,
        total=total,
        refunded=total if status == "cancelled" else Decimal("0"),
        units=sum(line.quantity for line in lines),
        landing_site="",
        referrer="",
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

    Recomputed from the stored rows (not summed from one run's pages), so an order updated later, or loaded
    by an earlier run, counts once with its latest values (the Shopify backend does the same).
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
