"""The fake eBay's seller: Hearth & Grain Home, selling home goods on eBay US (USD) and eBay UK (GBP).

Everything is a pure function of the seed, the marketplace, the day and the fake's "now":

- Listings: the Hearth & Grain catalogue (the Amazon demo's products and SKUs), listed on both sites at
  local prices; each listing sits in one Promoted Listings *general strategy* (cost per sale) campaign of its
  product group, whose ad rate is a percentage of the sale price ("Lamps · General 6%").
- Orders: generated per marketplace-local day (a weekly rhythm with busy Sundays, a summer dip, a
  November-December peak, a slow upward trend); one to three line items, free delivery above a threshold.
  Each order's history is fixed when it is generated (shipped a day or two later, a few cancelled within
  hours, some refunded days later); what the API shows is its state at the fake's "now".
- Promoted Listings: impressions and clicks per listing and day; the *attributed sales* are the order lines
  marked ``soldViaAdCampaign``, counted on the report day they fell in (eBay's report days run midnight to
  midnight MST, UTC-7, on every site), with the ad fee = sale amount x the campaign's ad rate. So the ads
  tell the same story as the orders: ad sales are a share of the store's sales.
- ``restatement`` (a counter the fake keeps) credits late-attributed sales to the last ``RESTATED_DAYS``
  report days, the way eBay adjusts sales and ad fees during its 72-hour reconciliation period.

Money is kept in minor units (cents, pence) and becomes ``Decimal`` only at the edges.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from connectors.backends.amazon_ads.demo_data import PRODUCTS, SELLER_NAME
from connectors.backends.ebay.client import REPORT_TZ

RESTATED_DAYS = 3  # eBay's reconciliation period: 72 hours
EPOCH = date(2020, 1, 1)
USER_ID = "hG7rNm2QxW4"  # eBay's immutable user id (commerce/identity ``userId``)
USERNAME = "hearthandgrain_home"
REGISTRATION_MARKETPLACE = "EBAY_US"
WEEKDAY_FACTOR = [1.02, 0.96, 0.95, 0.97, 0.93, 1.05, 1.22]  # Monday first; eBay shoppers buy on Sundays
METRIC_FIELDS = ("impressions", "clicks", "sales", "sale_amount", "ad_fees")


@dataclass(frozen=True)
class MarketplaceSpec:
    marketplace_id: str
    country: str
    currency: str
    time_zone: str
    price_factor: str  # USD catalogue price -> local price
    size: float  # relative order volume
    free_delivery_from: int  # minor units
    delivery: int  # minor units
    digit: int  # marks ids as this site's


MARKETPLACES: dict[str, MarketplaceSpec] = {
    "EBAY_US": MarketplaceSpec("EBAY_US", "US", "USD", "America/Los_Angeles", "1", 1.0, 3500, 599, 1),
    "EBAY_GB": MarketplaceSpec("EBAY_GB", "GB", "GBP", "Europe/London", "0.79", 0.55, 3000, 349, 3),
}
# product group -> ad rate in basis points (6% = 600)
AD_RATES = {"Lamps": 600, "Textiles": 500, "Decor": 450, "Kitchen": 550}


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    marketplace_id: str
    group: str
    bid_bp: int
    start: date


@dataclass(frozen=True)
class Listing:
    listing_id: str
    marketplace_id: str
    sku: str
    title: str
    price: int  # minor units
    campaign: Campaign
    popularity: float
    base_impressions: float
    ctr: float
    seed: int


@dataclass
class Line:
    line_item_id: str
    listing: Listing
    quantity: int
    amount: int  # minor units: price x quantity
    via_ad: bool


@dataclass
class Event:
    at: datetime
    kind: str  # "ship" | "cancel" | "refund"
    amount: int = 0


@dataclass
class OrderState:
    updated_at: datetime
    cancelled_at: datetime | None
    refunds: list[tuple[datetime, int]]
    shipped: bool

    @property
    def refunded(self) -> int:
        return sum(amount for _, amount in self.refunds)


@dataclass
class Order:
    order_id: str
    marketplace_id: str
    currency: str
    created_at: datetime  # UTC, whole seconds
    lines: list[Line]
    delivery: int
    sales_record: int
    buyer: str
    events: list[Event] = field(default_factory=list)

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal + self.delivery

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    def state(self, now: datetime) -> OrderState | None:
        """The order as eBay shows it at ``now``; ``None`` before it was placed."""
        if self.created_at > now:
            return None
        updated, cancelled, refunds, shipped = self.created_at, None, [], False
        for event in sorted(self.events, key=lambda e: e.at):
            if event.at > now:
                break
            updated = event.at
            if event.kind == "ship":
                shipped = True
            elif event.kind == "cancel":
                cancelled = event.at
                refunds.append((event.at, self.total))
            elif event.kind == "refund":
                refunds.append((event.at, min(event.amount, self.total - sum(a for _, a in refunds))))
        return OrderState(updated, cancelled, refunds, shipped)


def money(minor: int) -> Decimal:
    return Decimal(minor).scaleb(-2)


def _hash_uniform(*parts) -> float:
    return random.Random("|".join(str(p) for p in parts)).random()


class Dataset:
    """The demo seller on every marketplace; orders and report rows on demand (orders cached per day)."""

    def __init__(self, *, seed: int = 2026, days: int = 400, marketplaces: tuple[str, ...] = ("EBAY_US", "EBAY_GB")):
        self.seed = seed
        self.days = days
        self.user_id = USER_ID
        self.username = USERNAME
        self.business_name = SELLER_NAME
        self.specs = {mp: MARKETPLACES[mp] for mp in marketplaces}
        self.campaigns: dict[str, list[Campaign]] = {}
        self.listings: dict[str, list[Listing]] = {}
        for spec in self.specs.values():
            self._build(spec)
        self.listing_by_id = {lst.listing_id: lst for lists in self.listings.values() for lst in lists}
        self._orders: dict[tuple[str, date], list[Order]] = {}
        self._ad_days: dict[tuple[str, date, datetime, int], dict[str, tuple[int, ...]]] = {}

    # -- catalogue ------------------------------------------------------------------------------------
    def _build(self, spec: MarketplaceSpec) -> None:
        campaigns, listings = [], []
        for gi, (group, products) in enumerate(PRODUCTS.items()):
            rng = random.Random(f"{self.seed}|campaign|{spec.marketplace_id}|{group}")
            rate = AD_RATES[group] + (50 if spec.marketplace_id == "EBAY_GB" else 0)
            percent = f"{rate / 100:g}"
            campaign = Campaign(
                campaign_id=str(10_000_000_000 + spec.digit * 1_000_000_000 + gi * 10_000_000 + rng.randrange(10**7)),
                name=f"{group} · General {percent}%",
                marketplace_id=spec.marketplace_id,
                group=group,
                bid_bp=rate,
                start=date(2024, 9, 1),
            )
            campaigns.append(campaign)
            for sku, title, usd in products:
                rng = random.Random(f"{self.seed}|listing|{spec.marketplace_id}|{sku}")
                local = Decimal(usd) * Decimal(spec.price_factor)
                price = int(local) * 100 + 99  # x.99 shelf prices
                listings.append(
                    Listing(
                        listing_id=str(spec.digit * 10**11 + 56 * 10**9 + rng.randrange(10**9)),
                        marketplace_id=spec.marketplace_id,
                        sku=sku,
                        title=f"{title} | {SELLER_NAME}",
                        price=price,
                        campaign=campaign,
                        popularity=0.4 + rng.random() * (1.6 if "LAMP" in sku or "THROW" in sku else 1.0),
                        base_impressions=(300 + rng.random() * 900) * spec.size,
                        ctr=0.006 + rng.random() * 0.012,
                        seed=rng.randrange(2**62),
                    )
                )
        self.campaigns[spec.marketplace_id] = campaigns
        self.listings[spec.marketplace_id] = listings

    def spec(self, marketplace_id: str) -> MarketplaceSpec:
        return self.specs[marketplace_id]

    def tz(self, marketplace_id: str) -> ZoneInfo:
        return ZoneInfo(self.specs[marketplace_id].time_zone)

    def today(self, marketplace_id: str, now: datetime) -> date:
        return now.astimezone(self.tz(marketplace_id)).date()

    def first_day(self, marketplace_id: str, now: datetime) -> date:
        return self.today(marketplace_id, now) - timedelta(days=self.days - 1)

    @staticmethod
    def report_today(now: datetime) -> date:
        return now.astimezone(REPORT_TZ).date()

    # -- orders ---------------------------------------------------------------------------------------
    @staticmethod
    def _day_factor(day: date) -> float:
        doy = day.timetuple().tm_yday
        factor = 1.0 - 0.12 * math.sin(2 * math.pi * (doy - 100) / 365.0)  # quieter in summer
        if (day.month == 11 and day.day >= 20) or (day.month == 12 and day.day <= 20):
            factor *= 1.4
        trend = 1 + 0.2 * max(0, (day - date(2025, 1, 1)).days) / 365
        return factor * trend * WEEKDAY_FACTOR[day.weekday()]

    def orders_on(self, marketplace_id: str, day: date) -> list[Order]:
        """Every order placed on ``day`` (marketplace-local), whatever the fake's now."""
        key = (marketplace_id, day)
        cached = self._orders.get(key)
        if cached is not None:
            return cached
        spec = self.specs[marketplace_id]
        tz = self.tz(marketplace_id)
        rng = random.Random(f"{self.seed}|orders|{marketplace_id}|{day.isoformat()}")
        offset = (day - EPOCH).days
        count = max(1, round(16 * spec.size * self._day_factor(day) * rng.gauss(1, 0.12)))
        listings = self.listings[marketplace_id]
        weights = [lst.popularity for lst in listings]
        seconds = sorted(int(6.5 * 3600 + rng.random() ** 0.85 * 17.4 * 3600) for _ in range(count))
        orders = []
        for index, second in enumerate(seconds):
            created = (datetime.combine(day, time(0), tzinfo=tz) + timedelta(seconds=second)).astimezone(UTC)
            size = rng.choices([1, 2, 3], weights=[80, 16, 4])[0]
            chosen: list[Listing] = []
            while len(chosen) < size:
                pick = rng.choices(listings, weights=weights)[0]
                if pick not in chosen:
                    chosen.append(pick)
            lines = []
            for position, listing in enumerate(chosen):
                quantity = rng.choice([1, 1, 1, 1, 1, 2, 2, 3])
                lines.append(
                    Line(
                        line_item_id=str(10**13 + spec.digit * 10**12 + offset * 10_000 + index * 10 + position),
                        listing=listing,
                        quantity=quantity,
                        amount=listing.price * quantity,
                        via_ad=rng.random() < 0.36,
                    )
                )
            subtotal = sum(line.amount for line in lines)
            order = Order(
                order_id=f"{spec.digit}{day.weekday()}-{offset:05d}-{index:02d}{rng.randrange(1000):03d}",
                marketplace_id=marketplace_id,
                currency=spec.currency,
                created_at=created,
                lines=lines,
                delivery=0 if subtotal >= spec.free_delivery_from else spec.delivery,
                sales_record=offset * 100 + index,
                buyer=f"buyer_{rng.randrange(10**6):06d}",
            )
            roll = rng.random()
            if roll < 0.02:
                order.events.append(Event(created + timedelta(hours=rng.uniform(1, 10)), "cancel"))
            else:
                if rng.random() < 0.93:
                    order.events.append(Event(created + timedelta(days=rng.uniform(0.4, 2.5)), "ship"))
                if roll > 0.94:
                    full = rng.random() < 0.3
                    amount = order.total if full else lines[-1].amount
                    order.events.append(Event(created + timedelta(days=rng.uniform(4, 20)), "refund", amount))
            for event in order.events:
                event.at = event.at.replace(microsecond=0)
            orders.append(order)
        self._orders[key] = orders
        return orders

    def visible_orders(self, now: datetime, marketplace_id: str | None = None) -> list[tuple[Order, OrderState]]:
        """``(order, state)`` of every order placed by ``now``, oldest first (eBay's default order)."""
        out = []
        for mp in [marketplace_id] if marketplace_id else list(self.specs):
            day, last = self.first_day(mp, now), self.today(mp, now)
            while day <= last:
                for order in self.orders_on(mp, day):
                    state = order.state(now)
                    if state is not None:
                        out.append((order, state))
                day += timedelta(days=1)
        out.sort(key=lambda pair: (pair[0].created_at, pair[0].order_id))
        return out

    def daily_sales(self, marketplace_id: str, start: date, end: date, now: datetime) -> dict[date, tuple]:
        """Gross figures per marketplace-local day of creation: (orders, units, total) with Decimal total."""
        tz = self.tz(marketplace_id)
        out: dict[date, list] = {}
        for order, _state in self.visible_orders(now, marketplace_id):
            day = order.created_at.astimezone(tz).date()
            if start <= day <= end:
                row = out.setdefault(day, [0, 0, 0])
                row[0] += 1
                row[1] += order.units
                row[2] += order.total
        return {day: (o, u, money(t)) for day, (o, u, t) in sorted(out.items())}

    # -- Promoted Listings ----------------------------------------------------------------------------
    def _traffic_factor(self, day: date) -> float:
        return self._day_factor(day) / WEEKDAY_FACTOR[day.weekday()] * (1.1 if day.weekday() >= 5 else 1.0)

    def ad_day(self, marketplace_id: str, day: date, now: datetime, restatement: int = 0) -> dict[str, tuple]:
        """listing id -> (impressions, clicks, sales, sale amount, ad fees) on report day ``day`` (MST),
        money in minor units; listings without impressions or sales are left out."""
        key = (marketplace_id, day, now, restatement)
        cached = self._ad_days.get(key)
        if cached is not None:
            return cached
        report_today = self.report_today(now)
        first = self.first_day(marketplace_id, now)
        result: dict[str, tuple] = {}
        if first <= day <= report_today:
            sold: dict[str, list[int]] = {}
            for local in (day - timedelta(days=1), day, day + timedelta(days=1)):
                if local < first:
                    continue  # before the seller's history: not an order the API shows
                for order in self.orders_on(marketplace_id, local):
                    if order.created_at > now or order.created_at.astimezone(REPORT_TZ).date() != day:
                        continue
                    for line in order.lines:
                        if line.via_ad:
                            acc = sold.setdefault(line.listing.listing_id, [0, 0, 0])
                            acc[0] += 1
                            acc[1] += line.amount
                            acc[2] += (line.amount * line.listing.campaign.bid_bp + 5000) // 10000
            restated = restatement if (report_today - day).days < RESTATED_DAYS else 0
            factor = self._traffic_factor(day)
            for listing in self.listings[marketplace_id]:
                u1 = _hash_uniform(listing.seed, day.toordinal(), "imp")
                u2 = _hash_uniform(listing.seed, day.toordinal(), "clk")
                impressions = int(listing.base_impressions * factor * (0.6 + 0.8 * u1))
                clicks = int(impressions * listing.ctr * (0.6 + 0.8 * u2) + u2)
                sales, amount, fees = sold.get(listing.listing_id, (0, 0, 0))
                if restated and clicks:
                    sales += restated
                    amount += restated * listing.price
                    fees += restated * ((listing.price * listing.campaign.bid_bp + 5000) // 10000)
                clicks = max(clicks, sales)
                impressions = max(impressions, clicks)
                if impressions or sales:
                    result[listing.listing_id] = (impressions, clicks, sales, amount, fees)
        if len(self._ad_days) > 20_000:
            self._ad_days.clear()
        self._ad_days[key] = result
        return result

    def listing_rows(
        self, marketplace_id: str, start: date, end: date, now: datetime, restatement: int = 0
    ) -> Iterator[tuple[date, Listing, tuple]]:
        """(day, listing, metrics) for every row of a listing performance report, by day then listing."""
        day = start
        while day <= end:
            metrics = self.ad_day(marketplace_id, day, now, restatement)
            for listing in self.listings[marketplace_id]:
                if listing.listing_id in metrics:
                    yield day, listing, metrics[listing.listing_id]
            day += timedelta(days=1)

    def account_rows(
        self, marketplace_id: str, start: date, end: date, now: datetime, restatement: int = 0
    ) -> Iterator[tuple[date, tuple]]:
        """(day, metrics) of an account performance report: the day's sums over every listing."""
        day = start
        while day <= end:
            metrics = self.ad_day(marketplace_id, day, now, restatement)
            if metrics:
                yield day, tuple(sum(values[i] for values in metrics.values()) for i in range(5))
            day += timedelta(days=1)

    def ad_totals(self, marketplace_id: str, start: date, end: date, now: datetime, restatement: int = 0) -> dict:
        """What a sync of ``start``..``end`` must load: rows per grain and the sums, money as Decimal."""
        sums = [0, 0, 0, 0, 0]
        rows, campaign_days = 0, set()
        for day, listing, metrics in self.listing_rows(marketplace_id, start, end, now, restatement):
            rows += 1
            campaign_days.add((day, listing.campaign.campaign_id))
            for i in range(5):
                sums[i] += metrics[i]
        return {
            "product_rows": rows,
            "campaign_rows": len(campaign_days),
            "impressions": sums[0],
            "clicks": sums[1],
            "orders": sums[2],
            "sales": money(sums[3]),
            "cost": money(sums[4]),
        }
