"""The demo seller behind the fake: Hearth & Grain Home, a home-goods brand selling on Amazon US, DE and JP.

The Amazon Ads demo's story (``connectors.backends.amazon_ads.demo_data``): the same merchant id, the same
catalogue (SKUs HG-LAMP-01, HG-MUG-01 ...) and shelf prices, so ad spend and store sales line up by SKU.
Orders are a pure function of (marketplace, local day): the same day always yields the same orders, with
more on weekends, a winter peak and a slow upward trend. Each order's life is a list of timed events
(Pending -> Unshipped -> Shipped, or Canceled), so what the fake shows depends only on its clock.
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from connectors.backends.amazon_ads.demo_data import PRODUCTS, PROFILES, SELLER_ENTITY_ID, SELLER_NAME
from connectors.backends.amazon_sp.client import MARKETPLACES_BY_CODE, Marketplace, local_midnight

SELLER_ID = SELLER_ENTITY_ID  # an Ads profile's accountInfo.id is the seller's merchant id
STORE_NAME = SELLER_NAME
HISTORY_DAYS = 400
GROUP_WEIGHT = {"Lamps": 3, "Textiles": 3, "Decor": 2, "Kitchen": 3}  # relative order share of a product


@dataclass(frozen=True)
class Product:
    sku: str
    asin: str
    title: str
    prices: tuple[tuple[str, Decimal], ...]  # (marketplace code, unit price in its currency)
    weight: int

    def price(self, code: str) -> Decimal:
        return dict(self.prices)[code]


def shelf_price(usd: str, code: str) -> Decimal:
    """The Ads demo's local shelf price: x.99 in USD and EUR, round tens of yen in JPY."""
    spec = next(p for p in PROFILES if p.country == code)
    value = Decimal(usd) * Decimal(spec.price_factor)
    if spec.decimals == 0:
        return Decimal(int(value / 10) * 10 - 20 if value > 100 else int(value))
    return Decimal(int(value)) + Decimal("0.99")


def _asin(sku: str) -> str:
    digest = int(hashlib.sha256(sku.encode()).hexdigest(), 16)
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "B0" + "".join(alphabet[(digest >> (5 * i)) % len(alphabet)] for i in range(8))


CATALOG: tuple[Product, ...] = tuple(
    Product(
        sku=sku,
        asin=_asin(sku),
        title=f"Hearth & Grain {title}",
        prices=tuple((code, shelf_price(usd, code)) for code in ("US", "DE", "JP")),
        weight=GROUP_WEIGHT[group],
    )
    for group, products in PRODUCTS.items()
    for sku, title, usd in products
)


@dataclass(frozen=True)
class MarketPlan:
    marketplace: Marketplace
    name: str
    domain: str
    language: str
    daily_orders: float
    id_prefix: str  # first group of the 3-7-7 order id
    buyers: tuple[str, ...]
    addresses: tuple[tuple[str, str, str, str], ...]  # street, city, region, postal code


PLANS: dict[str, MarketPlan] = {
    "US": MarketPlan(
        MARKETPLACES_BY_CODE["US"], "Amazon.com", "www.amazon.com", "en_US", 12, "114",
        ("Jordan Miller", "Avery Johnson", "Taylor Brooks", "Morgan Lee", "Casey Rivera"),
        (("12 Maple Street", "Portland", "OR", "97205"), ("480 Lake Ave", "Chicago", "IL", "60611")),
    ),
    "DE": MarketPlan(
        MARKETPLACES_BY_CODE["DE"], "Amazon.de", "www.amazon.de", "de_DE", 6, "304",
        ("Lena Schmidt", "Jonas Becker", "Mia Wagner", "Felix Hoffmann"),
        (("Lindenstraße 7", "Berlin", "BE", "10969"), ("Hafenweg 21", "Hamburg", "HH", "20457")),
    ),
    "JP": MarketPlan(
        MARKETPLACES_BY_CODE["JP"], "Amazon.co.jp", "www.amazon.co.jp", "ja_JP", 5, "503",
        ("佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健"),
        (("神南1-2-3", "渋谷区", "東京都", "150-0041"), ("北浜2-1-5", "大阪市中央区", "大阪府", "541-0041")),
    ),
}  # fmt: skip
# A marketplace the seller is registered in but does not sell on (isParticipating false): never connected.
IDLE_MARKETPLACES = ("CA",)

WEEKDAY_FACTOR = (0.9, 0.92, 0.95, 1.0, 1.08, 1.22, 1.3)  # Monday .. Sunday
MONTH_FACTOR = {1: 0.85, 2: 0.9, 7: 1.1, 11: 1.25, 12: 1.4}
TREND_START = date(2025, 1, 1)


@dataclass(frozen=True)
class DemoLine:
    item_id: str
    product: Product
    quantity: int
    amount: Decimal  # ItemPrice: unit price x quantity


@dataclass(frozen=True)
class DemoOrder:
    id: str
    code: str
    purchased_at: datetime  # UTC
    events: tuple[tuple[datetime, str], ...]  # (when, status), first is (purchased_at, "Pending")
    lines: tuple[DemoLine, ...]
    fulfillment: str
    is_prime: bool
    is_business: bool
    buyer_name: str
    buyer_email: str
    address: tuple[str, str, str, str]

    @property
    def currency(self) -> str:
        return PLANS[self.code].marketplace.currency

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


def expected_orders(code: str, day: date) -> float:
    trend = 1 + 0.0004 * max(0, (day - TREND_START).days)
    return PLANS[code].daily_orders * WEEKDAY_FACTOR[day.weekday()] * MONTH_FACTOR.get(day.month, 1.0) * trend


def _events(rng: random.Random, purchased_at: datetime) -> tuple[tuple[datetime, str], ...]:
    paid = purchased_at + timedelta(minutes=rng.randint(3, 40))
    if rng.random() < 0.03:
        last = (purchased_at + timedelta(hours=rng.randint(2, 10)), "Canceled")
    else:
        last = (purchased_at + timedelta(hours=rng.randint(14, 40)), "Shipped")
    return ((purchased_at, "Pending"), (paid, "Unshipped"), last)


@functools.lru_cache(maxsize=4096)
def orders_for_day(code: str, day: date) -> tuple[DemoOrder, ...]:
    """Every order placed on ``day`` (local) in marketplace ``code``, in purchase order."""
    plan = PLANS[code]
    rng = random.Random(f"hearth-and-grain:{code}:{day.isoformat()}")
    count = max(0, round(expected_orders(code, day) * (0.75 + 0.5 * rng.random())))
    start = local_midnight(day, plan.marketplace.time_zone)
    seconds = sorted(rng.randrange(86_400) for _ in range(count))
    weights = [p.weight for p in CATALOG]
    orders = []
    for index, offset in enumerate(seconds):
        purchased_at = (start + timedelta(seconds=offset)).astimezone(UTC)
        order_id = f"{plan.id_prefix}-{day.toordinal():07d}-{index:03d}{rng.randrange(10_000):04d}"
        line_count = rng.choices((1, 2, 3), weights=(75, 20, 5))[0]
        products = []
        while len(products) < line_count:
            product = rng.choices(CATALOG, weights=weights)[0]
            if product not in products:
                products.append(product)
        lines = []
        for number, product in enumerate(products):
            quantity = rng.choices((1, 2, 3), weights=(85, 12, 3))[0]
            lines.append(
                DemoLine(
                    item_id=f"{day.toordinal():07d}{index:03d}{number:02d}{list(PLANS).index(code):02d}",
                    product=product,
                    quantity=quantity,
                    amount=product.price(code) * quantity,
                )
            )
        buyer = rng.choice(plan.buyers)
        orders.append(
            DemoOrder(
                id=order_id,
                code=code,
                purchased_at=purchased_at,
                events=_events(rng, purchased_at),
                lines=tuple(lines),
                fulfillment="AFN" if rng.random() < 0.65 else "MFN",
                is_prime=rng.random() < 0.7,
                is_business=rng.random() < 0.08,
                buyer_name=buyer,
                buyer_email=f"{rng.getrandbits(48):012x}@marketplace.{plan.domain.removeprefix('www.')}",
                address=rng.choice(plan.addresses),
            )
        )
    return tuple(orders)


def parse_order_id(order_id: str) -> tuple[str, date] | None:
    """(marketplace code, local day) of a demo order id, or None if it is not one."""
    prefix, _, rest = order_id.partition("-")
    ordinal, _, _ = rest.partition("-")
    code = next((c for c, plan in PLANS.items() if plan.id_prefix == prefix), None)
    if code is None or not ordinal.isdigit():
        return None
    return code, date.fromordinal(int(ordinal))
