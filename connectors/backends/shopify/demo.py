"""The fake Shopify's data: shops and their orders, generated deterministically (standard library only).

The demo shop ``homegoods-demo.myshopify.com`` (USD, America/New_York) sells home goods: 3 to 40 orders a
day with a weekly rhythm (weekends busier), a slow upward trend and a year-end peak; one to six line items
from a fixed catalog; a traffic mix of Google Ads (cpc), Facebook and TikTok (paid_social), email and
direct visits. Orders change after they are placed: most are fulfilled a day or so later, a few are
cancelled within hours, some are partly or fully refunded days later. Each order's whole history is fixed
when it is generated; what the API shows is its state at the fake's "now".

Every day's orders are a pure function of (shop, day), so a day looks the same whenever it is generated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")
EPOCH = date(2020, 1, 1)
ORDER_ID_BASE = 5_100_000_000
LINE_ID_BASE = 14_200_000_000
TAX_RATE = Decimal("0.0625")
FREE_SHIPPING_FROM = Decimal("75")
SHIPPING = Decimal("7.95")

CATALOG = [
    ("HG-LAMP-01", "Arc Floor Lamp", "arc-floor-lamp", Decimal("89.00")),
    ("HG-LAMP-02", "Ceramic Table Lamp", "ceramic-table-lamp", Decimal("49.50")),
    ("HG-RUG-01", "Jute Area Rug 5x8", "jute-area-rug", Decimal("129.00")),
    ("HG-PILLOW-03", "Linen Throw Pillow", "linen-throw-pillow", Decimal("24.00")),
    ("HG-VASE-02", "Stoneware Vase", "stoneware-vase", Decimal("34.00")),
    ("HG-MUG-04", "Speckled Mug Set of 4", "speckled-mug-set", Decimal("28.00")),
    ("HG-CANDLE-05", "Cedar & Smoke Candle", "cedar-smoke-candle", Decimal("18.50")),
    ("HG-BLANKET-01", "Waffle Knit Blanket", "waffle-knit-blanket", Decimal("68.00")),
    ("HG-MIRROR-01", "Round Wall Mirror", "round-wall-mirror", Decimal("95.00")),
    ("HG-PLANTER-02", "Terracotta Planter", "terracotta-planter", Decimal("22.00")),
]

# (visit source, utm source, utm medium, referrer, campaigns, weight)
CHANNELS = [
    ("google", "google", "cpc", "https://www.google.com/", ["brand-search", "lamps-shopping", "rugs-pmax"], 35),
    ("facebook", "facebook", "paid_social", "https://l.facebook.com/", ["spring-refresh", "retargeting-30d"], 20),
    ("tiktok", "tiktok", "paid_social", "https://www.tiktok.com/", ["cozy-corner-ugc"], 10),
    ("email", "klaviyo", "email", "", ["weekly-newsletter", "winback-60d"], 10),
    ("direct", "", "", "", [], 25),
]
WEEKDAY_FACTOR = [0.85, 0.8, 0.85, 0.95, 1.1, 1.35, 1.25]  # Monday first


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Line:
    id: int
    sku: str
    title: str
    quantity: int
    amount: Decimal


@dataclass
class Event:
    at: datetime
    kind: str  # "update" | "refund" | "cancel"
    amount: Decimal = Decimal("0")


@dataclass
class OrderState:
    updated_at: datetime
    cancelled_at: datetime | None
    refunded: Decimal
    financial_status: str


@dataclass
class Order:
    id: int
    name: str
    created_at: datetime  # UTC
    lines: list[Line]
    subtotal: Decimal
    total: Decimal
    journey: dict | None
    events: list[Event] = field(default_factory=list)

    @property
    def gid(self) -> str:
        return f"gid://shopify/Order/{self.id}"

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    def state(self, now: datetime) -> OrderState | None:
        """The order as Shopify shows it at ``now``; ``None`` before it was placed."""
        if self.created_at > now:
            return None
        updated, cancelled, refunded = self.created_at, None, Decimal("0")
        for event in sorted(self.events, key=lambda e: e.at):
            if event.at > now:
                break
            updated = event.at
            if event.kind == "cancel":
                cancelled, refunded = event.at, self.total
            elif event.kind == "refund":
                refunded = min(self.total, refunded + event.amount)
        if refunded >= self.total:
            status = "REFUNDED"
        elif refunded > 0:
            status = "PARTIALLY_REFUNDED"
        else:
            status = "PAID"
        return OrderState(updated, cancelled, refunded, status)


@dataclass
class Shop:
    subdomain: str
    name: str
    currency: str
    time_zone: str
    history_days: int = 400
    first_day: date | None = None
    orders: dict[int, Order] = field(default_factory=dict)
    generated_through: date | None = None

    @property
    def domain(self) -> str:
        return f"{self.subdomain}.myshopify.com"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def extend_to(self, now: datetime) -> None:
        """Generate every day up to the day after ``now`` (shop time), from ``history_days`` before it."""
        through = self.local_day(now) + timedelta(days=1)
        if self.first_day is None:
            self.first_day = through - timedelta(days=self.history_days)
        day = self.generated_through + timedelta(days=1) if self.generated_through else self.first_day
        while day <= through:
            for order in day_orders(self, day):
                self.orders[order.id] = order
            day += timedelta(days=1)
        self.generated_through = max(through, self.generated_through or through)

    def sorted_orders(self) -> list[Order]:
        return [self.orders[key] for key in sorted(self.orders)]


def _orders_on(rng: random.Random, day: date) -> int:
    trend = 1 + 0.35 * max(0, (day - date(2025, 1, 1)).days) / 365
    peak = 1.5 if (day.month == 11 and day.day >= 20) or (day.month == 12 and day.day <= 20) else 1.0
    expected = 14 * WEEKDAY_FACTOR[day.weekday()] * trend * peak * rng.gauss(1, 0.15)
    return max(3, min(40, round(expected)))


def _visit(rng: random.Random, channel: tuple, product_handle: str) -> dict:
    source, utm_source, medium, referrer, campaigns, _ = channel
    landing = f"https://homegoods-demo.com/products/{product_handle}"
    if source == "direct":
        return {
            "landingPage": "https://homegoods-demo.com/",
            "referrerUrl": None,
            "source": "direct",
            "utmParameters": None,
        }
    campaign = rng.choice(campaigns)
    content = {"facebook": "carousel-1", "tiktok": "video-3"}.get(source)
    term = "floor lamp" if source == "google" and campaign != "rugs-pmax" else None
    landing += f"?utm_source={utm_source}&utm_medium={medium}&utm_campaign={campaign}"
    return {
        "landingPage": landing,
        "referrerUrl": referrer or None,
        "source": source,
        "utmParameters": {
            "source": utm_source,
            "medium": medium,
            "campaign": campaign,
            "content": content,
            "term": term,
        },
    }


def day_orders(shop: Shop, day: date) -> list[Order]:
    rng = random.Random(f"{shop.subdomain}|{day.isoformat()}")
    offset = (day - EPOCH).days
    count = _orders_on(rng, day)
    seconds = sorted(6 * 3600 + int(rng.random() ** 0.8 * 18 * 3600 - 1) for _ in range(count))
    weights = [channel[-1] for channel in CHANNELS]
    orders = []
    for index, second in enumerate(seconds):
        serial = offset * 100 + index
        local = datetime.combine(day, time(0), tzinfo=shop.tz) + timedelta(seconds=second)
        created = local.astimezone(UTC).replace(microsecond=0)
        size = rng.choices([1, 2, 3, 4, 5, 6], weights=[50, 28, 14, 6, 1.5, 0.5])[0]
        lines = []
        for position, (sku, title, _handle, price) in enumerate(rng.sample(CATALOG, size)):
            quantity = rng.choice([1, 1, 1, 2, 2, 3])
            lines.append(Line(LINE_ID_BASE + serial * 10 + position, sku, title, quantity, money(price * quantity)))
        subtotal = sum((line.amount for line in lines), Decimal("0"))
        shipping = Decimal("0") if subtotal >= FREE_SHIPPING_FROM else SHIPPING
        total = subtotal + shipping + money(subtotal * TAX_RATE)
        journey = None
        if rng.random() >= 0.04:  # some orders (drafts, phone orders) have no online journey
            handle = CATALOG[[c[0] for c in CATALOG].index(lines[0].sku)][2]
            first = _visit(rng, rng.choices(CHANNELS, weights=weights)[0], handle)
            last = (
                first
                if rng.random() < 0.7
                else _visit(rng, rng.choice([CHANNELS[0], CHANNELS[3], CHANNELS[4]]), handle)
            )
            # visit times from their own generator, so the rest of the dataset does not shift
            same = last is first
            when = random.Random(f"visits|{serial}")
            last_at = created - timedelta(minutes=when.uniform(2, 180))
            first_at = last_at if same else last_at - timedelta(hours=when.uniform(4, 240))
            first = {**first, "occurredAt": first_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
            last = first if same else {**last, "occurredAt": last_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
            journey = {"firstVisit": first, "lastVisit": last}
        order = Order(
            id=ORDER_ID_BASE + serial,
            name=f"#{1001 + serial}",
            created_at=created,
            lines=lines,
            subtotal=subtotal,
            total=total,
            journey=journey,
        )
        roll = rng.random()
        if roll < 0.02:
            order.events.append(Event(created + timedelta(hours=rng.uniform(1, 12)), "cancel"))
        else:
            if rng.random() < 0.85:
                order.events.append(Event(created + timedelta(days=rng.uniform(0.5, 3)), "update"))
            if roll > 0.93:
                full = rng.random() < 0.25
                amount = total if full else lines[-1].amount
                order.events.append(Event(created + timedelta(days=rng.uniform(4, 20)), "refund", amount))
        for event in order.events:
            event.at = event.at.replace(microsecond=0)
        orders.append(order)
    return orders


def demo_shop(history_days: int = 400) -> Shop:
    return Shop("homegoods-demo", "HomeGoods Demo", "USD", "America/New_York", history_days=history_days)
