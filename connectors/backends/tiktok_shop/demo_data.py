"""The fake TikTok Shop's data: Hearth & Grain Home's US and Singapore shops, generated deterministically.

The story. Hearth & Grain Home (the same home-goods brand and catalogue as the Amazon Ads demo) sells on TikTok
Shop in the US (USD, Seller Center days in America/Los_Angeles) and in Singapore (SGD, Asia/Singapore). A day's
orders come from four sources, all visible in the daily figures:

- organic shop-tab and search orders, with a weekly rhythm (evenings and weekends are busier on TikTok), a
  steady growth trend and the marketplace's sale days (US: Black Friday to Cyber Monday and December; SG: the
  double-digit mega sales 9.9, 10.10, 11.11 and 12.12);
- orders driven by TikTok Ads (video shopping and LIVE promotion ads): ``ad_spend(shop, day)`` is the daily
  spend the story assumes, in the shop's currency, and those orders follow it at a return of about 3x, so a
  TikTok Ads demo that spends along the same curve reconciles with these sales;
- affiliate creators: every few days a creator posts a video of one product; its orders arrive over three days
  (a half, then a quarter of the first day's);
- LIVE shopping: the brand streams on fixed evenings (US Thursdays and Sundays 19:00, SG Saturdays 20:00, local
  time) with two featured products at a live-only 15 % seller discount. Live orders spike inside those two hours
  and their line items carry the live room's ``room_id``, as TikTok's order API does.

After an order is placed its status moves on: AWAITING_SHIPMENT at once, IN_TRANSIT a day or two later,
DELIVERED a few days after that and COMPLETED after the return window; about 3 % are CANCELLED within hours
instead. Each move is an update (``update_time``), so orders keep appearing in later "updated since" searches.

Every day's orders are a pure function of (shop, day): a day looks the same whenever and wherever it is
generated. Amounts are ``Decimal`` in the shop currency with two decimals; TikTok sends them as strings.

The TikTok Ads demo (``tiktok_ads.demo_data.tiktok_shop_day``) reads this module: ``US``, ``SG``,
``ad_spend(shop, day)``, ``day_orders(shop, day)`` and each order's ``source`` and ``sub_total``. Its TikTok
Shop campaigns spend ``ad_spend`` and are credited with the ``source == "ads"`` orders: keep those names.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from connectors.backends.amazon_ads.demo_data import PRODUCTS, SELLER_NAME

CENT = Decimal("0.01")
EPOCH = date(2020, 1, 1)
GROWTH_FROM = date(2025, 1, 1)
ORDER_ID_BASE = 576_000_000_000_000_000
LINE_ID_BASE = 577_000_000_000_000_000
ROOM_ID_BASE = 7_300_000_000_000_000_000
WEEKDAY_FACTOR = (0.85, 0.8, 0.85, 0.95, 1.05, 1.3, 1.35)  # Monday first
CANCEL_RATE = 0.03
LIVE_DISCOUNT = Decimal("0.85")

# (seller_sku, product name, USD price, TikTok product id); ids are stable, one SKU per product.
CATALOGUE: tuple[tuple[str, str, Decimal, str], ...] = tuple(
    (sku, title, Decimal(price), str(1_729_500_000_000_000_000 + 1000 * number))
    for number, (sku, title, price) in enumerate(
        (item for group in PRODUCTS.values() for item in group),
        start=1,
    )
)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ShopSpec:
    number: int
    id: str
    name: str
    region: str
    currency: str
    time_zone: str
    cipher: str
    code: str
    seller_type: str
    price_factor: Decimal  # USD list price -> local list price
    organic_orders: float  # an average weekday's organic orders before growth
    ad_spend_base: Decimal  # daily TikTok Ads spend, local currency
    ad_roas: float
    live_weekdays: tuple[int, ...]
    live_hour: int
    live_orders: int
    creator_every: int  # a creator video every n days, on average
    creator_orders: int
    shipping_fee: Decimal
    free_shipping_from: Decimal
    tax_rate: Decimal  # added on top (US sales tax); 0 where prices include tax (SG GST)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def local_price(self, usd: Decimal) -> Decimal:
        """Local list price: USD x factor, ending in .90 outside the US (SGD 53.90 for USD 39.99)."""
        if self.price_factor == 1:
            return usd
        whole = (usd * self.price_factor).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        return money(whole.to_integral_value(rounding=ROUND_HALF_UP) - Decimal("0.10"))


US = ShopSpec(
    number=1,
    id="7495813640213367001",
    name=f"{SELLER_NAME} US",
    region="US",
    currency="USD",
    time_zone="America/Los_Angeles",
    cipher="ROW_hJ3kUwAAAABhgrainUS0dZ7QmHqHeArtH",
    code="USLCHGHOME01",
    seller_type="LOCAL",
    price_factor=Decimal("1"),
    organic_orders=26.0,
    ad_spend_base=Decimal("260.00"),
    ad_roas=3.1,
    live_weekdays=(3, 6),  # Thursday, Sunday
    live_hour=19,
    live_orders=22,
    creator_every=8,
    creator_orders=16,
    shipping_fee=Decimal("4.99"),
    free_shipping_from=Decimal("35.00"),
    tax_rate=Decimal("0.0725"),
)
SG = ShopSpec(
    number=2,
    id="7495813640213367002",
    name=f"{SELLER_NAME} SG",
    region="SG",
    currency="SGD",
    time_zone="Asia/Singapore",
    cipher="ROW_pQ8vXgAAAADgrainSG0kF2wLmRtBcYhQe",
    code="SGLCHGHOME02",
    seller_type="CROSS_BORDER",
    price_factor=Decimal("1.35"),
    organic_orders=9.0,
    ad_spend_base=Decimal("150.00"),
    ad_roas=3.5,
    live_weekdays=(5,),  # Saturday
    live_hour=20,
    live_orders=12,
    creator_every=11,
    creator_orders=7,
    shipping_fee=Decimal("3.99"),
    free_shipping_from=Decimal("40.00"),
    tax_rate=Decimal("0"),
)
SHOPS: tuple[ShopSpec, ...] = (US, SG)


# --- the shape of a day ------------------------------------------------------------------------------------


def season(shop: ShopSpec, day: date) -> float:
    """The marketplace's sale days lift every source of orders (and the ad budget with them)."""
    if shop.region == "SG":
        if day.month == day.day and day.month in (9, 10, 11, 12):
            return 2.6  # 9.9, 10.10, 11.11, 12.12
        if day.month in (9, 10, 11, 12) and abs(day.day - day.month) == 1:
            return 1.3
        return 1.0
    thanksgiving = date(day.year, 11, 22 + (3 - date(day.year, 11, 22).weekday()) % 7)
    if thanksgiving + timedelta(days=1) <= day <= thanksgiving + timedelta(days=4):  # Black Friday..Cyber Monday
        return 2.2
    if day.month == 12 and day.day <= 18:
        return 1.45
    return 1.0


def growth(day: date) -> float:
    return 1 + 0.5 * max(0, (day - GROWTH_FROM).days) / 365


def ad_spend(shop: ShopSpec, day: date) -> Decimal:
    """The TikTok Ads spend the story assumes for ``shop`` on ``day`` (local currency): weekly rhythm, sale
    days, growth, and LIVE evenings promoted with extra budget."""
    factor = WEEKDAY_FACTOR[day.weekday()] * season(shop, day) * growth(day)
    if day.weekday() in shop.live_weekdays:
        factor *= 1.4
    return money(shop.ad_spend_base * Decimal(str(round(factor, 4))))


def average_order_value(shop: ShopSpec) -> Decimal:
    prices = [shop.local_price(price) for _sku, _title, price, _pid in CATALOGUE]
    return sum(prices, Decimal("0")) / len(prices) * Decimal("1.3")  # about 1.3 items an order


def creator_post(shop: ShopSpec, day: date) -> int | None:
    """The catalogue index of the product a creator posted about on ``day``, or None."""
    rng = random.Random(f"tiktok-shop|creator|{shop.id}|{day.isoformat()}")
    if rng.random() < 1 / shop.creator_every:
        return rng.randrange(len(CATALOGUE))
    return None


def live_products(shop: ShopSpec, day: date) -> tuple[int, int]:
    rng = random.Random(f"tiktok-shop|live|{shop.id}|{day.isoformat()}")
    first, second = rng.sample(range(len(CATALOGUE)), 2)
    return first, second


def room_id(shop: ShopSpec, day: date) -> str:
    return str(ROOM_ID_BASE + shop.number * 10**9 + (day - EPOCH).days)


# --- orders ------------------------------------------------------------------------------------------------


@dataclass
class Line:
    id: str
    seller_sku: str
    product_id: str
    sku_id: str
    product_name: str
    original_price: Decimal
    sale_price: Decimal
    room_id: str = ""

    @property
    def seller_discount(self) -> Decimal:
        return self.original_price - self.sale_price


@dataclass
class Order:
    id: str
    shop: ShopSpec
    created_at: datetime  # UTC, whole seconds
    lines: list[Line]
    source: str  # organic | ads | affiliate | live: the story's own label; TikTok's order API has no such field
    events: list[tuple[datetime, str]] = field(default_factory=list)  # (when, new status), in time order

    @property
    def sub_total(self) -> Decimal:
        return sum((line.sale_price for line in self.lines), Decimal("0"))

    @property
    def original_total_product_price(self) -> Decimal:
        return sum((line.original_price for line in self.lines), Decimal("0"))

    @property
    def shipping_fee(self) -> Decimal:
        return Decimal("0.00") if self.sub_total >= self.shop.free_shipping_from else self.shop.shipping_fee

    @property
    def tax(self) -> Decimal:
        return money(self.sub_total * self.shop.tax_rate)

    @property
    def total_amount(self) -> Decimal:
        return self.sub_total + self.shipping_fee + self.tax

    @property
    def units(self) -> int:
        return len(self.lines)  # TikTok lists one line item per unit sold

    def state(self, now: datetime) -> tuple[str, datetime] | None:
        """(status, update_time) as TikTok shows the order at ``now``; None before it was placed."""
        if self.created_at > now:
            return None
        status, updated = "AWAITING_SHIPMENT", self.created_at
        for at, new_status in self.events:
            if at > now:
                break
            status, updated = new_status, at
        return status, updated

    def cancel(self, at: datetime) -> None:
        """The seller or buyer cancels the order at ``at``: later moves never happen."""
        at = at.replace(microsecond=0)
        self.events = [(when, status) for when, status in self.events if when < at] + [(at, "CANCELLED")]


def _lifecycle(rng: random.Random, created: datetime) -> list[tuple[datetime, str]]:
    if rng.random() < CANCEL_RATE:
        return [(created + timedelta(hours=rng.uniform(0.5, 20)), "CANCELLED")]
    shipped = created + timedelta(hours=rng.uniform(16, 48))
    delivered = shipped + timedelta(hours=rng.uniform(48, 120))
    completed = delivered + timedelta(days=rng.uniform(3, 6))
    return [(shipped, "IN_TRANSIT"), (delivered, "DELIVERED"), (completed, "COMPLETED")]


def _count(rng: random.Random, expected: float) -> int:
    return max(0, round(expected * rng.gauss(1, 0.12)))


def day_orders(shop: ShopSpec, day: date) -> list[Order]:
    """Every order ``shop`` received on ``day`` (shop-local day), oldest first."""
    rng = random.Random(f"tiktok-shop|{shop.id}|{day.isoformat()}")
    tz = shop.tz
    lift = WEEKDAY_FACTOR[day.weekday()] * season(shop, day) * growth(day)
    aov = float(average_order_value(shop))
    plan: list[tuple[str, int | None, int, int]] = []  # (source, featured product, from second, to second)
    organic = _count(rng, shop.organic_orders * lift)
    ads = _count(rng, float(ad_spend(shop, day)) * shop.ad_roas / aov)
    plan += [("organic", None, 7 * 3600, 24 * 3600)] * organic + [("ads", None, 9 * 3600, 24 * 3600)] * ads
    for back, weight in ((0, 1.0), (1, 0.5), (2, 0.25)):
        product = creator_post(shop, day - timedelta(days=back))
        if product is not None:
            count = _count(rng, shop.creator_orders * weight * growth(day) * season(shop, day))
            plan += [("affiliate", product, 8 * 3600, 24 * 3600)] * count
    if day.weekday() in shop.live_weekdays:
        featured = live_products(shop, day)
        start = shop.live_hour * 3600
        count = _count(rng, shop.live_orders * growth(day) * season(shop, day))
        plan += [("live", featured[i % 2], start, start + 2 * 3600) for i in range(count)]
    timed = sorted(
        ((rng.randrange(lo, hi), source, product) for source, product, lo, hi in plan), key=lambda item: item[0]
    )
    offset = (day - EPOCH).days
    orders = []
    for serial, (second, source, product) in enumerate(timed):
        local = datetime.combine(day, time(0), tzinfo=tz) + timedelta(seconds=second)
        created = local.astimezone(UTC).replace(microsecond=0)
        number = shop.number * 10**13 + offset * 10**5 + serial
        picks = [product] if product is not None else [rng.randrange(len(CATALOGUE))]
        extra = rng.choices([0, 1, 2], weights=[72, 22, 6])[0]
        picks += [rng.randrange(len(CATALOGUE)) for _ in range(extra)]
        lines = []
        for position, index in enumerate(picks):
            sku, title, usd, product_id = CATALOGUE[index]
            original = shop.local_price(usd)
            live = source == "live" and index == product
            sale = money(original * LIVE_DISCOUNT) if live else original
            lines.append(
                Line(
                    id=str(LINE_ID_BASE + number * 10 + position),
                    seller_sku=sku,
                    product_id=product_id,
                    sku_id=str(int(product_id) + 1),
                    product_name=title,
                    original_price=original,
                    sale_price=sale,
                    room_id=room_id(shop, day) if source == "live" else "",
                )
            )
        order = Order(str(ORDER_ID_BASE + number), shop, created, lines, source)
        order.events = [(at.replace(microsecond=0), status) for at, status in _lifecycle(rng, created)]
        orders.append(order)
    return orders


class ShopData:
    """One shop's orders, generated day by day as far as the fake's clock needs, kept sorted by creation."""

    def __init__(self, spec: ShopSpec, *, history_days: int = 400):
        self.spec = spec
        self.history_days = history_days
        self.first_day: date | None = None
        self.generated_through: date | None = None
        self.orders: dict[str, Order] = {}
        self._sorted: list[Order] = []

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.spec.tz).date()

    def extend_to(self, now: datetime) -> None:
        """Generate every day up to the day after ``now`` (shop time), starting ``history_days`` before it."""
        through = self.local_day(now) + timedelta(days=1)
        if self.first_day is None:
            self.first_day = through - timedelta(days=self.history_days)
        if self.generated_through is not None and through <= self.generated_through:
            return
        day = self.generated_through + timedelta(days=1) if self.generated_through else self.first_day
        while day <= through:
            for order in day_orders(self.spec, day):
                self.orders[order.id] = order
                self._sorted.append(order)
            day += timedelta(days=1)
        self.generated_through = through

    def sorted_orders(self) -> list[Order]:
        """Oldest first by (create_time, id), the order the search pages in."""
        return self._sorted
