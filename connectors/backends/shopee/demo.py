"""The fake Shopee's data: Hearth & Grain Home's three Shopee shops, their orders and their CPC ads.

Standard library only. The seller (``SELLER_NAME``, the catalogue of ``amazon_ads.demo_data``) sells the same
home goods on Shopee Singapore (SGD), Malaysia (MYR) and Thailand (THB), at local shelf prices: S$ and RM
prices end in .90, baht prices are whole and end in 9. Each shop has about 400 days of orders:

- a weekly rhythm (Friday to Sunday busiest), a slow upward trend, and the double-date mega sales: 9.9,
  11.11 and 12.12 bring four to six times the orders, a third of them in the first two hours after
  midnight, every line 20% off (``flash_sale``); on ordinary days one line in eight is on a 10% promotion;
- one to three lines an order; free shipping above a threshold, a flat fee below it; cash on delivery in
  Malaysia (15%) and Thailand (30%);
- a life after checkout: online payments arrive minutes later (UNPAID -> READY_TO_SHIP; 2% never pay and
  are cancelled by the system a day or three later), 2.5% are cancelled by the buyer before shipping, the
  rest go PROCESSED, SHIPPED and COMPLETED over four to eleven days. Each status change moves the order's
  ``update_time``; what the API shows is the order's state at the fake's "now".

Shopee Ads (shop-level CPC) for every shop and day: impressions, clicks and expense follow the shop's traffic
(mega sales lift them too); broad conversions are a quarter to a third of the day's orders, direct ones
about two thirds of those. ``restatement`` (a counter the fake keeps) adds late conversions to the last
``ATTRIBUTION_DAYS`` days, as clicks keep converting for seven days, so a re-sync must overwrite them.

Every day's orders and ads row are a pure function of (shop, day): a day looks the same whenever it is
generated. Amounts are ``Decimal`` in the shop currency (major units, as Shopee sends them).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from connectors.backends.amazon_ads.demo_data import PRODUCTS, SELLER_NAME

MAIN_ACCOUNT_ID = 3_104_227  # the seller's main account: one authorization for the three shops
EPOCH = date(2024, 1, 1)
ATTRIBUTION_DAYS = 7
MEGA_SALES = {(9, 9): 4.0, (11, 11): 6.0, (12, 12): 5.0}  # (month, day) -> order multiplier
WEEKDAY_FACTOR = [0.9, 0.86, 0.88, 0.95, 1.08, 1.22, 1.12]  # Monday first
BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ORDER_STATUSES = ("UNPAID", "READY_TO_SHIP", "PROCESSED", "SHIPPED", "COMPLETED", "CANCELLED")

CATALOGUE = [(sku, title, Decimal(usd)) for group in PRODUCTS.values() for sku, title, usd in group]


@dataclass(frozen=True)
class ShopSpec:
    shop_id: int
    region: str
    currency: str
    time_zone: str
    decimals: int  # digits after the point in shelf prices and GMV (THB: whole baht)
    price_factor: Decimal  # USD shelf price -> local
    base_orders: float  # an ordinary weekday's orders at the start of the history
    cod_share: float
    free_shipping_from: Decimal
    shipping_fee: Decimal
    cpc: tuple[str, str]  # cost per click range, local currency
    item_id_base: int
    carrier: str

    @property
    def name(self) -> str:
        return f"{SELLER_NAME} {self.region}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def unit(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)

    def money(self, value: Decimal) -> Decimal:
        return value.quantize(self.unit, rounding=ROUND_HALF_UP)

    def shelf_price(self, usd: Decimal) -> Decimal:
        local = usd * self.price_factor
        if self.decimals == 0:
            return Decimal(int(local) // 10 * 10 + 9)
        return local.quantize(Decimal(1), rounding=ROUND_FLOOR) + Decimal("0.90")

    def local_day(self, unix: int) -> date:
        return datetime.fromtimestamp(unix, UTC).astimezone(self.tz).date()


SHOPS = [
    ShopSpec(
        820114301, "SG", "SGD", "Asia/Singapore", 2, Decimal("1.35"), 9.0, 0.0, Decimal("40"), Decimal("2.99"),
        ("0.15", "0.55"), 24118000000, "SPX Express",
    ),
    ShopSpec(
        820114302, "MY", "MYR", "Asia/Kuala_Lumpur", 2, Decimal("4.45"), 12.0, 0.15, Decimal("50"), Decimal("4.90"),
        ("0.40", "1.40"), 24118100000, "SPX Express",
    ),
    ShopSpec(
        820114303, "TH", "THB", "Asia/Bangkok", 0, Decimal("33"), 15.0, 0.30, Decimal("300"), Decimal("39"),
        ("4.00", "12.00"), 24118200000, "Shopee Xpress",
    ),
]  # fmt: skip
SHOPS_BY_ID = {spec.shop_id: spec for spec in SHOPS}


@dataclass
class Line:
    item_id: int
    item_name: str
    item_sku: str
    model_id: int
    model_name: str
    model_sku: str
    quantity: int
    original_price: Decimal
    discounted_price: Decimal
    promotion_type: str

    @property
    def amount(self) -> Decimal:
        return self.discounted_price * self.quantity


@dataclass
class OrderState:
    status: str
    update_time: int
    pay_time: int | None


@dataclass
class Order:
    order_sn: str
    shop: ShopSpec
    create_time: int  # unix seconds
    lines: list[Line]
    shipping_fee: Decimal  # what the buyer paid for shipping
    cod: bool
    payment_method: str
    initial_status: str
    events: list[tuple[int, str]] = field(default_factory=list)  # (unix seconds, new status), in time order
    cancel_by: str = ""
    cancel_reason: str = ""

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.shipping_fee

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def day(self) -> date:
        return self.shop.local_day(self.create_time)

    def state(self, now: float) -> OrderState | None:
        """The order as Shopee shows it at ``now``; ``None`` before it was placed."""
        if self.create_time > now:
            return None
        status, updated = self.initial_status, self.create_time
        paid = None
        for at, new_status in self.events:
            if at > now:
                break
            status, updated = new_status, at
            if new_status == "READY_TO_SHIP" and not self.cod:
                paid = at
            if new_status == "COMPLETED" and self.cod:
                paid = at  # cash on delivery is paid when the parcel arrives
        return OrderState(status, updated, paid)

    def shown_total(self, state: OrderState) -> Decimal | None:
        """``total_amount`` as the API returns it: only once the buyer has paid (or chose cash on delivery)."""
        if self.cod or state.pay_time is not None:
            return self.total
        return None

    def gross(self, state: OrderState) -> Decimal:
        """What our mapping files the order under: its total, or the lines' value while it has none."""
        shown = self.shown_total(state)
        return self.subtotal if shown is None else shown


def _orders_on(rng: random.Random, spec: ShopSpec, day: date) -> int:
    trend = 1 + 0.3 * max(0, (day - EPOCH).days) / 365
    mega = MEGA_SALES.get((day.month, day.day), 1.0)
    if mega == 1.0 and (day + timedelta(days=1)).timetuple()[1:3] in MEGA_SALES:
        mega = 0.8  # the eve of a mega sale: buyers fill their carts and wait for midnight
    if mega == 1.0 and (day - timedelta(days=1)).timetuple()[1:3] in MEGA_SALES:
        mega = 1.5  # the day after: late vouchers
    expected = spec.base_orders * WEEKDAY_FACTOR[day.weekday()] * trend * mega * rng.gauss(1, 0.12)
    return max(1, round(expected))


def _order_sn(spec: ShopSpec, day: date, index: int, taken: set[str]) -> str:
    salt = 0
    while True:
        digest = hashlib.blake2b(f"{spec.shop_id}|{day.isoformat()}|{index}|{salt}".encode(), digest_size=8)
        number = int.from_bytes(digest.digest(), "big")
        chars = []
        for _ in range(8):
            number, rest = divmod(number, 36)
            chars.append(BASE36[rest])
        order_sn = day.strftime("%y%m%d") + "".join(chars)
        if order_sn not in taken:
            return order_sn
        salt += 1


def _lifecycle(rng: random.Random, order: Order) -> None:
    t = order.create_time
    if not order.cod:
        if rng.random() < 0.02:
            order.events.append((t + rng.randint(86400, 3 * 86400), "CANCELLED"))
            order.cancel_by, order.cancel_reason = "system", "Unpaid Order"
            return
        t += rng.randint(60, 1800)
        order.events.append((t, "READY_TO_SHIP"))
    if rng.random() < 0.025:
        order.events.append((t + rng.randint(3600, 36000), "CANCELLED"))
        order.cancel_by = "buyer"
        order.cancel_reason = rng.choice(["Change of mind", "Need to change delivery address"])
        return
    t += rng.randint(2 * 3600, 20 * 3600)
    order.events.append((t, "PROCESSED"))
    t += rng.randint(12 * 3600, 48 * 3600)
    order.events.append((t, "SHIPPED"))
    t += rng.randint(3 * 86400, 8 * 86400)
    order.events.append((t, "COMPLETED"))


def day_orders(spec: ShopSpec, day: date, taken: set[str] | None = None) -> list[Order]:
    """The orders placed in ``spec``'s shop on its local ``day`` (a pure function of shop and day)."""
    taken = set() if taken is None else taken
    rng = random.Random(f"shopee|{spec.shop_id}|{day.isoformat()}")
    count = _orders_on(rng, spec, day)
    mega = (day.month, day.day) in MEGA_SALES
    seconds = []
    for _ in range(count):
        if mega and rng.random() < 0.35:
            seconds.append(rng.randint(0, 7199))  # the midnight rush
        else:
            seconds.append(7 * 3600 + int(rng.random() ** 0.7 * 17 * 3600 - 1))
    seconds.sort()
    midnight = datetime.combine(day, time(0), tzinfo=spec.tz)
    orders = []
    for index, second in enumerate(seconds):
        created = int((midnight + timedelta(seconds=second)).timestamp())
        lines = []
        size = rng.choices([1, 2, 3], weights=[70, 22, 8])[0]
        for position in rng.sample(range(len(CATALOGUE)), size):
            sku, title, usd = CATALOGUE[position]
            price = spec.shelf_price(usd)
            if mega:
                discounted, promotion = spec.money(price * Decimal("0.8")), "flash_sale"
            elif rng.random() < 0.125:
                discounted, promotion = spec.money(price * Decimal("0.9")), "product_promotion"
            else:
                discounted, promotion = price, ""
            lines.append(
                Line(
                    item_id=spec.item_id_base + position * 7919,
                    item_name=f"{SELLER_NAME} {title}",
                    item_sku=sku,
                    model_id=0,
                    model_name="",
                    model_sku="",
                    quantity=rng.choice([1, 1, 1, 2, 2, 3]),
                    original_price=price,
                    discounted_price=discounted,
                    promotion_type=promotion,
                )
            )
        subtotal = sum((line.amount for line in lines), Decimal(0))
        cod = rng.random() < spec.cod_share
        order = Order(
            order_sn=_order_sn(spec, day, index, taken),
            shop=spec,
            create_time=created,
            lines=lines,
            shipping_fee=Decimal(0) if subtotal >= spec.free_shipping_from else spec.shipping_fee,
            cod=cod,
            payment_method="Cash on Delivery"
            if cod
            else rng.choice(["ShopeePay", "Credit Card/Debit Card", "Online Banking"]),
            initial_status="READY_TO_SHIP" if cod else "UNPAID",
        )
        taken.add(order.order_sn)
        _lifecycle(rng, order)
        orders.append(order)
    return orders


class Shop:
    """One shop's orders, generated day by day up to the fake's "now" (shop-local days)."""

    def __init__(self, spec: ShopSpec, history_days: int = 400):
        self.spec = spec
        self.history_days = history_days
        self.first_day: date | None = None
        self.generated_through: date | None = None
        self.orders: dict[str, Order] = {}
        self.by_day: dict[date, list[Order]] = {}

    @property
    def shop_id(self) -> int:
        return self.spec.shop_id

    def extend_to(self, now: float) -> None:
        """Generate every day up to the day after ``now`` (shop time), from ``history_days`` before it."""
        through = self.spec.local_day(int(now)) + timedelta(days=1)
        if self.first_day is None:
            self.first_day = through - timedelta(days=self.history_days)
        day = self.generated_through + timedelta(days=1) if self.generated_through else self.first_day
        while day <= through:
            placed = day_orders(self.spec, day, set(self.orders))
            self.by_day[day] = placed
            for order in placed:
                self.orders[order.order_sn] = order
            day += timedelta(days=1)
        self.generated_through = max(through, self.generated_through or through)

    def visible(self, now: float) -> list[tuple[Order, OrderState]]:
        """``(order, state)`` of every order placed by ``now``."""
        result = []
        for order in self.orders.values():
            state = order.state(now)
            if state is not None:
                result.append((order, state))
        return result


# --- Shopee Ads ---------------------------------------------------------------------------------------------


def _q2(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def ads_day(shop: Shop, day: date, *, today: date, restatement: int = 0) -> dict:
    """The shop's CPC ads performance on ``day`` as ``get_all_cpc_ads_daily_performance`` reports it, with
    amounts as Decimal (the fake writes them as JSON numbers)."""
    spec = shop.spec
    orders = shop.by_day.get(day) or []
    rng = random.Random(f"shopee-ads|{spec.shop_id}|{day.isoformat()}")
    mega = MEGA_SALES.get((day.month, day.day), 1.0)
    trend = 1 + 0.3 * max(0, (day - EPOCH).days) / 365
    traffic = spec.base_orders * 950 * WEEKDAY_FACTOR[day.weekday()] * trend * mega**0.8
    impressions = max(0, int(traffic * rng.gauss(1, 0.1)))
    clicks = round(impressions * rng.uniform(0.012, 0.022))
    low, high = (Decimal(x) for x in spec.cpc)
    expense = _q2(clicks * (low + (high - low) * Decimal(str(round(rng.random(), 4)))))
    aov = (
        spec.money(sum((o.subtotal for o in orders), Decimal(0)) / len(orders))
        if orders
        else spec.shelf_price(CATALOGUE[0][2])
    )
    units_per_order = sum(o.units for o in orders) / len(orders) if orders else 1.3
    broad_order = round(len(orders) * rng.uniform(0.22, 0.32))
    direct_order = round(broad_order * rng.uniform(0.55, 0.75))
    broad_gmv = spec.money(broad_order * aov * Decimal(str(round(rng.uniform(0.92, 1.08), 3))))
    direct_gmv = spec.money(broad_gmv * Decimal(direct_order) / broad_order) if broad_order else Decimal(0)
    broad_items, direct_items = round(broad_order * units_per_order), round(direct_order * units_per_order)
    age = (today - day).days
    if restatement and 0 <= age < ATTRIBUTION_DAYS:
        late = restatement * (1 + int(hashlib.blake2b(f"{spec.shop_id}|{day}".encode(), digest_size=1).digest()[0]) % 2)
        broad_order, broad_items, broad_gmv = broad_order + late, broad_items + late, broad_gmv + aov * late
    return {
        "date": day.strftime("%d-%m-%Y"),
        "impression": impressions,
        "clicks": clicks,
        "ctr": _q2(Decimal(clicks * 100) / impressions) if impressions else Decimal(0),
        "direct_order": direct_order,
        "broad_order": broad_order,
        "direct_conversions": _q2(Decimal(direct_order * 100) / clicks) if clicks else Decimal(0),
        "broad_conversions": _q2(Decimal(broad_order * 100) / clicks) if clicks else Decimal(0),
        "direct_item_sold": direct_items,
        "broad_item_sold": broad_items,
        "direct_gmv": direct_gmv,
        "broad_gmv": broad_gmv,
        "expense": expense,
        "cost_per_conversion": _q2(expense / broad_order) if broad_order else Decimal(0),
        "direct_roas": _q2(direct_gmv / expense) if expense else Decimal(0),
        "broad_roas": _q2(broad_gmv / expense) if expense else Decimal(0),
    }


def demo_shops(history_days: int = 400) -> list[Shop]:
    return [Shop(spec, history_days) for spec in SHOPS]
