"""A deterministic TikTok Ads business for the fake: Hearth & Grain Home's US (USD) and SG (SGD) advertisers.

The story. Hearth & Grain Home (the seller of the Amazon demo, same catalogue) advertises on TikTok from two
advertiser accounts:

- **US** (USD, America/Los_Angeles): "Cozy Corner UGC | Website Sales" runs creator Spark Ads and a
  retargeting ad group that send shoppers to the Shopify store. Its purchases are driven by the Shopify
  demo shop itself: each day TikTok reports at least the shop's orders whose first visit came from TikTok
  (``utm_source=tiktok&utm_medium=paid_social&utm_campaign=cozy-corner-ugc``), plus the few view-through
  purchases a platform always claims on top. "TikTok Shop US | Video Shopping Ads" sells the same products
  in TikTok Shop (onsite purchases), "Lamp Drop | Video Views" buys reach for the lamp range (no purchases),
  and "Holiday Gifting 2025 | Website Sales" (switched off since) ran from mid-November to Christmas 2025;
  one of the lamp-drop ads was deleted in July 2026 (reports hide it at ad level unless asked for it).
- **SG** (SGD, Asia/Singapore): TikTok Shop SG product-sales campaigns (shop ads and creator Spark Ads) and
  a brand video-views campaign.

The TikTok Shop campaigns of each advertiser are tied to the TikTok Shop demo (``tiktok_shop.demo_data``)
of the same market: together they spend that shop's ``ad_spend(shop, day)`` and are credited with the
shop's ad-driven orders of the day (``source == "ads"``) and their value, so TikTok Ads ROAS and TikTok Shop
sales tell the same story. Without that package in the build they keep their generated figures.

Everything is a pure function of the seed and the calendar day: metrics are generated per ad and day in
minor units (cents), and ad groups, campaigns and the advertiser are sums of their ads, so every level of
a report reconciles exactly with the others, as TikTok's do. Weekly rhythm (Friday to Sunday busiest), a
yearly swell and a November-December peak. ``restatement`` (a counter the fake keeps) adds late purchases
to the last ``RESTATED_DAYS`` days, the way attributed conversions keep arriving after the click.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from connectors.backends.amazon_ads.demo_data import PRODUCTS, SELLER_NAME

M64 = (1 << 64) - 1
RESTATED_DAYS = 3
LEVELS = ("AUCTION_ADVERTISER", "AUCTION_CAMPAIGN", "AUCTION_ADGROUP", "AUCTION_AD")
ID_DIMENSION = {
    "AUCTION_ADVERTISER": "advertiser_id",
    "AUCTION_CAMPAIGN": "campaign_id",
    "AUCTION_ADGROUP": "adgroup_id",
    "AUCTION_AD": "ad_id",
}
# metrics tuple: impressions, clicks, spend (minor units), complete_payment, its value (minor units),
# onsite_shopping, its value (minor units)
IMP, CLK, SPEND, CP, CPV, OS, OSV = range(7)
WEEKDAY_FACTOR = (0.9, 0.88, 0.92, 0.97, 1.08, 1.2, 1.15)  # Monday first
CATALOGUE = {sku: (title, Decimal(usd)) for group in PRODUCTS.values() for sku, title, usd in group}


def _mix(x: int) -> int:
    """splitmix64: a well-spread 64-bit hash of an integer (stable across processes, unlike hash())."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def _seed(*parts: int | str) -> int:
    h = 0x7170C
    for part in parts:
        if isinstance(part, str):
            for ch in part.encode():
                h = _mix(h ^ ch)
        else:
            h = _mix(h ^ (part & M64))
    return h


_U = 1.0 / (1 << 21)


def _u3(h: int) -> tuple[float, float, float]:
    return (h & 0x1FFFFF) * _U, ((h >> 21) & 0x1FFFFF) * _U, ((h >> 42) & 0x1FFFFF) * _U


def _split(total: int, weights: list[int]) -> list[int]:
    """Split the integer ``total`` by integer ``weights`` exactly; the remainder goes to the heaviest part."""
    parts = [0] * len(weights)
    sw = sum(weights)
    if total <= 0 or sw <= 0:
        return parts
    heaviest = max(range(len(weights)), key=weights.__getitem__)
    for i, w in enumerate(weights):
        parts[i] = total * w // sw
    parts[heaviest] += total - sum(parts)
    return parts


# --- the accounts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdSpec:
    name: str
    kind: str  # SPARK (a creator's post, authorised) | VIDEO (our own upload)
    sku: str = ""
    deleted_on: str = ""  # the day the ad was deleted: it served until the day before


@dataclass(frozen=True)
class AdGroupSpec:
    name: str
    optimization_goal: str  # CONVERT | VALUE | REACH | VIDEO_VIEW
    bid: str  # "" for no bid (lowest cost)
    ads: tuple[AdSpec, ...]


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    objective_type: str  # WEB_CONVERSIONS | PRODUCT_SALES | VIDEO_VIEWS
    destination: str  # WEBSITE | TIKTOK_SHOP | "" (no purchases)
    budget: str
    budget_mode: str
    status: str  # ENABLE | DISABLE
    impressions: int  # a typical day's impressions
    ctr: tuple[float, float]
    cvr: tuple[float, float]  # purchases per click
    ad_groups: tuple[AdGroupSpec, ...]
    runs: tuple[str, str] | None = None  # (first day, last day) it served, if not always
    shopify_linked: bool = False
    created: str = "2025-06-02 08:15:00"


@dataclass(frozen=True)
class AdvertiserSpec:
    key: str
    advertiser_id: int
    name: str
    currency: str
    timezone: str
    country: str
    price_factor: str  # USD shelf price -> local price
    cpm: tuple[int, int]  # minor units per 1000 impressions
    campaigns: tuple[CampaignSpec, ...]


def _ad(name: str, sku: str = "", deleted_on: str = "") -> AdSpec:
    return AdSpec(name, "SPARK" if name.startswith("Spark") else "VIDEO", sku, deleted_on)


US_CAMPAIGNS = (
    CampaignSpec(
        "Cozy Corner UGC | Website Sales",
        "WEB_CONVERSIONS",
        "WEBSITE",
        "120",
        "BUDGET_MODE_DAY",
        "ENABLE",
        12_000,
        (0.008, 0.014),
        (0.015, 0.03),
        (
            AdGroupSpec(
                "Spark Ads | Creator videos",
                "CONVERT",
                "",
                (
                    _ad("Spark | @maya.makes.home | Arc Floor Lamp", "HG-LAMP-02"),
                    _ad("Spark | @cozywithkai | Chunky Knit Throw", "HG-THROW-01"),
                    _ad("Spark | @thekitchenshelf | Stoneware Mugs", "HG-MUG-01"),
                ),
            ),
            AdGroupSpec(
                "Retargeting | Site visitors 30d",
                "CONVERT",
                "",
                (
                    _ad("Video | Cozy corner reel 15s", "HG-LAMP-01"),
                    _ad("Video | Lamp glow-up 9s", "HG-LAMP-03"),
                ),
            ),
        ),
        shopify_linked=True,
        created="2025-03-03 17:05:00",
    ),
    CampaignSpec(
        "TikTok Shop US | Video Shopping Ads",
        "PRODUCT_SALES",
        "TIKTOK_SHOP",
        "80",
        "BUDGET_MODE_DAY",
        "ENABLE",
        50_000,
        (0.01, 0.018),
        (0.02, 0.04),
        (
            AdGroupSpec(
                "Shop | Lamps & Decor",
                "VALUE",
                "",
                (
                    _ad("Video | Ceramic table lamp unboxing", "HG-LAMP-01"),
                    _ad("Spark | @maya.makes.home | Bud vases", "HG-VASE-01"),
                    _ad("Video | Soy candle trio ASMR", "HG-CANDLE-01"),
                ),
            ),
            AdGroupSpec(
                "Shop | Kitchen & Textiles",
                "VALUE",
                "",
                (
                    _ad("Video | Mug set morning routine", "HG-MUG-01"),
                    _ad("Spark | @cozywithkai | Turkish towels", "HG-TOWEL-01"),
                ),
            ),
        ),
        created="2025-05-12 09:30:00",
    ),
    CampaignSpec(
        "Lamp Drop | Video Views",
        "VIDEO_VIEWS",
        "",
        "40",
        "BUDGET_MODE_DAY",
        "ENABLE",
        15_000,
        (0.003, 0.006),
        (0.0, 0.0),
        (
            AdGroupSpec(
                "Broad | 18-44 Home decor interest",
                "VIDEO_VIEW",
                "0.02",
                (
                    _ad("Video | Lamp drop teaser 6s", "HG-LAMP-02"),
                    _ad("Video | Behind the glaze 30s", "HG-LAMP-01"),
                    # deleted: reports leave it out at ad level unless asked for ad_status STATUS_ALL
                    _ad("Video | Lamp drop teaser (first cut)", "HG-LAMP-02", deleted_on="2026-07-01"),
                ),
            ),
        ),
        created="2025-04-01 12:00:00",
    ),
    CampaignSpec(
        "Holiday Gifting 2025 | Website Sales",
        "WEB_CONVERSIONS",
        "WEBSITE",
        "2500",
        "BUDGET_MODE_TOTAL",
        "DISABLE",
        8_000,
        (0.009, 0.015),
        (0.02, 0.035),
        (
            AdGroupSpec(
                "Gift guides | Under $50",
                "CONVERT",
                "",
                (
                    _ad("Spark | @giftsbyjules | Candle Trio", "HG-CANDLE-01"),
                    _ad("Video | Gift guide under $50", "HG-PILLOW-01"),
                ),
            ),
        ),
        runs=("2025-11-15", "2025-12-24"),
        created="2025-11-10 10:00:00",
    ),
)

SG_CAMPAIGNS = (
    CampaignSpec(
        "TikTok Shop SG | Product Sales",
        "PRODUCT_SALES",
        "TIKTOK_SHOP",
        "150",
        "BUDGET_MODE_DAY",
        "ENABLE",
        18_000,
        (0.011, 0.02),
        (0.025, 0.045),
        (
            AdGroupSpec(
                "Shop SG | Kitchen",
                "VALUE",
                "",
                (
                    _ad("Video | Mug set kopi time", "HG-MUG-01"),
                    _ad("Video | Seagrass basket declutter", "HG-BASKET-01"),
                ),
            ),
            AdGroupSpec(
                "Shop SG | Lighting",
                "VALUE",
                "",
                (_ad("Video | Bedside lamp HDB makeover", "HG-LAMP-03"),),
            ),
        ),
        created="2025-04-21 02:00:00",
    ),
    CampaignSpec(
        "Spark Ads SG | Home Refresh",
        "PRODUCT_SALES",
        "TIKTOK_SHOP",
        "90",
        "BUDGET_MODE_DAY",
        "ENABLE",
        12_000,
        (0.012, 0.02),
        (0.02, 0.04),
        (
            AdGroupSpec(
                "Spark | Creators SG",
                "CONVERT",
                "",
                (
                    _ad("Spark | @homewithhui | Ceramic Planter", "HG-PLANTER-01"),
                    _ad("Spark | @sg.nestmaker | Linen Cushions", "HG-PILLOW-01"),
                ),
            ),
        ),
        created="2025-06-16 03:45:00",
    ),
    CampaignSpec(
        "Brand Video SG | Video Views",
        "VIDEO_VIEWS",
        "",
        "30",
        "BUDGET_MODE_DAY",
        "ENABLE",
        9_000,
        (0.003, 0.005),
        (0.0, 0.0),
        (
            AdGroupSpec(
                "Broad | SG 18-45",
                "VIDEO_VIEW",
                "0.03",
                (_ad("Video | Hearth & Grain story 20s"),),
            ),
        ),
        created="2025-03-20 04:00:00",
    ),
)

ADVERTISERS = (
    AdvertiserSpec(
        "US",
        7312440518829056001,
        f"{SELLER_NAME} US",
        "USD",
        "America/Los_Angeles",
        "US",
        "1",
        (600, 1100),
        US_CAMPAIGNS,
    ),
    AdvertiserSpec(
        "SG",
        7312440518829056002,
        f"{SELLER_NAME} SG",
        "SGD",
        "Asia/Singapore",
        "SG",
        "1.35",
        (400, 800),
        SG_CAMPAIGNS,
    ),
)


@dataclass(eq=False)
class Ad:
    id: int
    spec: AdSpec
    deleted_on: date | None
    price: int  # minor units; 0 when the ad shows no product
    seed: int
    impressions: float
    ctr: float
    cpm: int
    cvr: float


@dataclass(eq=False)
class AdGroup:
    id: int
    spec: AdGroupSpec
    ads: list[Ad] = field(default_factory=list)


@dataclass(eq=False)
class Campaign:
    id: int
    spec: CampaignSpec
    ad_groups: list[AdGroup] = field(default_factory=list)

    def runs_on(self, day: date) -> bool:
        if self.spec.runs is None:
            return True
        first, last = self.spec.runs
        return first <= day.isoformat() <= last


@dataclass(eq=False)
class Account:
    spec: AdvertiserSpec
    campaigns: list[Campaign]


def local_price(spec: AdvertiserSpec, sku: str) -> int:
    """The shelf price in minor units: the USD price in the US, x.90 after conversion elsewhere."""
    if not sku:
        return 0
    usd = CATALOGUE[sku][1]
    if spec.price_factor == "1":
        return int(usd * 100)
    return int(usd * Decimal(spec.price_factor)) * 100 + 90


@lru_cache(maxsize=2048)
def shopify_tiktok_orders(day: date) -> tuple[int, int]:
    """(orders, subtotal in cents) of the Shopify demo shop on ``day`` whose first visit came from TikTok."""
    from connectors.backends.shopify.demo import day_orders

    orders = [
        order
        for order in day_orders(_shopify_shop(), day)
        if order.journey and (order.journey.get("firstVisit") or {}).get("source") == "tiktok"
    ]
    return len(orders), int(sum(order.subtotal for order in orders) * 100)


@lru_cache(maxsize=4096)
def tiktok_shop_day(key: str, day: date) -> tuple[int, int, int] | None:
    """(ad spend, ad-driven orders, their subtotal), all in minor units, of the TikTok Shop demo's ``key``
    shop (US or SG) on ``day``; None when that demo is not in this build."""
    try:
        from connectors.backends.tiktok_shop import demo_data as shop_demo
    except ImportError:
        return None
    shop = getattr(shop_demo, key, None)
    if shop is None or not hasattr(shop_demo, "ad_spend") or not hasattr(shop_demo, "day_orders"):
        return None
    orders = [order for order in shop_demo.day_orders(shop, day) if order.source == "ads"]
    value = sum((order.sub_total for order in orders), Decimal(0))
    return int(shop_demo.ad_spend(shop, day) * 100), len(orders), int(value * 100)


@lru_cache(maxsize=1)
def _shopify_shop():
    from connectors.backends.shopify.demo import demo_shop

    return demo_shop()


class Dataset:
    """Both advertisers' entities, and their daily report rows on demand."""

    def __init__(self, *, seed: int = 2026, days: int = 400, volume: float = 1.0, advertisers=("US", "SG")):
        self.seed = seed
        self.days = days
        self.volume = volume
        self._ids: set[int] = set()
        self.accounts: dict[int, Account] = {}
        for spec in ADVERTISERS:
            if spec.key in advertisers:
                self.accounts[spec.advertiser_id] = Account(spec, self._build(spec))

    # -- building ---------------------------------------------------------------------------------------
    def _new_id(self, *parts) -> int:
        n = 0
        while True:
            value = 1_700_000_000_000_000_000 + _seed(self.seed, *parts, n) % (10**17)
            if value not in self._ids:
                self._ids.add(value)
                return value
            n += 1

    def _build(self, spec: AdvertiserSpec) -> list[Campaign]:
        lo, hi = spec.cpm
        campaigns = []
        for ci, cspec in enumerate(spec.campaigns):
            campaign = Campaign(self._new_id(spec.key, "campaign", ci), cspec)
            n_ads = sum(len(g.ads) for g in cspec.ad_groups)
            weights = [1 + (_seed(self.seed, spec.key, "share", ci, k) % 5) for k in range(n_ads)]
            k = 0
            for gi, gspec in enumerate(cspec.ad_groups):
                group = AdGroup(self._new_id(spec.key, "adgroup", ci, gi), gspec)
                for ai, aspec in enumerate(gspec.ads):
                    aseed = _seed(self.seed, spec.key, "ad", ci, gi, ai)
                    u1, u2, u3 = _u3(aseed)
                    group.ads.append(
                        Ad(
                            id=self._new_id(spec.key, "ad", ci, gi, ai),
                            spec=aspec,
                            deleted_on=date.fromisoformat(aspec.deleted_on) if aspec.deleted_on else None,
                            price=local_price(spec, aspec.sku),
                            seed=aseed,
                            impressions=cspec.impressions * weights[k] / sum(weights) * self.volume,
                            ctr=cspec.ctr[0] + (cspec.ctr[1] - cspec.ctr[0]) * u1,
                            cpm=int(lo + (hi - lo) * u2),
                            cvr=cspec.cvr[0] + (cspec.cvr[1] - cspec.cvr[0]) * u3,
                        )
                    )
                    k += 1
                campaign.ad_groups.append(group)
            campaigns.append(campaign)
        return campaigns

    # -- lookups ----------------------------------------------------------------------------------------
    def account(self, advertiser_id) -> Account:
        return self.accounts[int(advertiser_id)]

    def today(self, advertiser_id) -> date:
        return datetime.now(ZoneInfo(self.account(advertiser_id).spec.timezone)).date()

    def first_day(self, advertiser_id) -> date:
        return self.today(advertiser_id) - timedelta(days=self.days - 1)

    def money(self, minor: int) -> Decimal:
        return Decimal(minor).scaleb(-2)

    def advertiser_json(self, advertiser_id) -> dict:
        """An item of ``advertiser/info/``."""
        spec = self.account(advertiser_id).spec
        return {
            "advertiser_id": str(spec.advertiser_id),
            "name": spec.name,
            "company": SELLER_NAME,
            "country": spec.country,
            "currency": spec.currency,
            "timezone": spec.timezone,
            "display_timezone": spec.timezone,
            "status": "STATUS_ENABLE",
            "role": "ROLE_ADVERTISER",
            "industry": "291604",
            "create_time": 1735700400,
        }

    def campaigns_json(self, advertiser_id) -> list[dict]:
        """``campaign/get/`` items: ids as strings, budgets as numbers, as TikTok returns them."""
        account = self.account(advertiser_id)
        out = []
        for c in account.campaigns:
            spec = c.spec
            out.append(
                {
                    "advertiser_id": str(account.spec.advertiser_id),
                    "campaign_id": str(c.id),
                    "campaign_name": spec.name,
                    "campaign_type": "REGULAR_CAMPAIGN",
                    "objective_type": spec.objective_type,
                    "budget": float(spec.budget),
                    "budget_mode": spec.budget_mode,
                    "operation_status": spec.status,
                    "secondary_status": (
                        "CAMPAIGN_STATUS_ENABLE" if spec.status == "ENABLE" else "CAMPAIGN_STATUS_DISABLE"
                    ),
                    "is_smart_performance_campaign": False,
                    "create_time": spec.created,
                    "modify_time": spec.created,
                }
            )
        return out

    def adgroups_json(self, advertiser_id) -> list[dict]:
        """``adgroup/get/`` items."""
        account = self.account(advertiser_id)
        out = []
        for c in account.campaigns:
            for g in c.ad_groups:
                spec = g.spec
                out.append(
                    {
                        "advertiser_id": str(account.spec.advertiser_id),
                        "campaign_id": str(c.id),
                        "campaign_name": c.spec.name,
                        "adgroup_id": str(g.id),
                        "adgroup_name": spec.name,
                        "operation_status": c.spec.status,
                        "optimization_goal": spec.optimization_goal,
                        "bid_type": "BID_TYPE_CUSTOM" if spec.bid else "BID_TYPE_NO_BID",
                        "bid_price": float(spec.bid or 0),
                        "budget_mode": "BUDGET_MODE_INFINITE",
                        "budget": 0.0,
                        "placement_type": "PLACEMENT_TYPE_NORMAL",
                        "placements": ["PLACEMENT_TIKTOK"],
                        "create_time": c.spec.created,
                    }
                )
        return out

    # -- metrics ----------------------------------------------------------------------------------------
    @staticmethod
    def _day_factor(day: date) -> float:
        doy = day.timetuple().tm_yday
        factor = WEEKDAY_FACTOR[day.weekday()] * (1.0 + 0.15 * math.sin(2 * math.pi * (doy - 100) / 365.0))
        if (day.month == 11 and day.day >= 20) or (day.month == 12 and day.day <= 20):
            factor *= 1.3
        return factor

    def _campaign_day(self, c: Campaign, day: date, factor: float) -> list[tuple[AdGroup, Ad, list]]:
        """(ad group, ad, metrics) of every ad of ``c`` with impressions on ``day``, before the links below."""
        if not c.runs_on(day):
            return []
        ordinal = day.toordinal()
        destination = c.spec.destination
        rows = []
        for g in c.ad_groups:
            for ad in g.ads:
                if ad.deleted_on and day >= ad.deleted_on:
                    continue
                h = _mix(ad.seed ^ (ordinal * 0x9E3779B97F4A7C15 & M64))
                u1, u2, u3 = _u3(h)
                u4, u5, u6 = _u3(_mix(h))
                impressions = int(ad.impressions * factor * (0.6 + 0.8 * u1))
                if impressions <= 0:
                    continue
                clicks = min(impressions, int(impressions * ad.ctr * (0.7 + 0.6 * u2) + u3))
                spend = int(impressions * ad.cpm * (0.85 + 0.3 * u4)) // 1000
                m = [impressions, clicks, spend, 0, 0, 0, 0]
                if destination and clicks:
                    orders = int(clicks * ad.cvr * (0.5 + u5) + 0.7 * u6)
                    baskets = orders // 4 if u6 > 0.7 else 0  # some buy two
                    value = (orders + baskets) * ad.price
                    if destination == "WEBSITE":
                        m[CP], m[CPV] = orders, value
                    else:
                        m[OS], m[OSV] = orders, value
                rows.append((g, ad, m))
        return rows

    def day_rows(self, account: Account, day: date, restated: int = 0) -> list[tuple[Campaign, AdGroup, Ad, list]]:
        """Every ad's metrics on ``day``: generated, then tied to the stores this advertiser sells through."""
        factor = self._day_factor(day)
        rows = []
        for c in account.campaigns:
            campaign_rows = self._campaign_day(c, day, factor)
            if c.spec.shopify_linked and campaign_rows:
                self._drive_from_shopify(c, day, campaign_rows)
            rows += [(c, g, ad, m) for g, ad, m in campaign_rows]
        shop_rows = [row for row in rows if row[0].spec.destination == "TIKTOK_SHOP"]
        if shop_rows:
            self._drive_tiktok_shop(account, day, shop_rows)
        if restated:
            for c, _g, ad, m in rows:
                if c.spec.destination:
                    count, value = (CP, CPV) if c.spec.destination == "WEBSITE" else (OS, OSV)
                    m[count] += restated
                    m[value] += restated * (ad.price or 2500)
        return rows

    def _drive_from_shopify(self, c: Campaign, day: date, rows) -> None:
        """The campaign's purchases are the Shopify shop's TikTok orders that day plus view-through ones."""
        orders, subtotal = shopify_tiktok_orders(day)
        view_through = _seed(self.seed, "view-through", c.id, day.toordinal()) % 3
        average = subtotal // orders if orders else 8500
        total_orders, total_value = orders + view_through, subtotal + view_through * average
        order_parts = _split(total_orders, [m[CLK] + 1 for _g, _ad, m in rows])
        value_parts = _split(total_value, order_parts) if total_orders else [0] * len(rows)
        for (_g, _ad, m), n, v in zip(rows, order_parts, value_parts, strict=True):
            m[CP], m[CPV] = n, v

    def _drive_tiktok_shop(self, account: Account, day: date, rows) -> None:
        """TikTok Shop campaigns spend what the TikTok Shop demo's story assumes (``ad_spend``) and are
        credited with that shop's ad-driven orders (``source == "ads"``) that day, split over the ads."""
        link = tiktok_shop_day(account.spec.key, day)
        if link is None:  # the TikTok Shop demo is not in this build: keep the generated figures
            return
        spend, orders, value = link
        spend_parts = _split(spend, [m[SPEND] + 1 for *_x, m in rows])
        order_parts = _split(orders, [m[CLK] + 1 for *_x, m in rows])
        value_parts = _split(value, order_parts) if orders else [0] * len(rows)
        for (*_x, m), cost, n, v in zip(rows, spend_parts, order_parts, value_parts, strict=True):
            m[SPEND], m[OS], m[OSV] = cost, n, v

    def iter_facts(
        self, advertiser_id, level: str, start: date, end: date, restatement: int = 0, *, deleted_ads: bool = True
    ) -> Iterator:
        """(day, context, metrics) of every row of ``level`` with impressions from ``start`` to ``end``.

        context: the Account (advertiser), the Campaign, (Campaign, AdGroup), or (Campaign, AdGroup, Ad).
        ``deleted_ads=False`` leaves deleted ads' rows out of the ad level (their spend stays in the levels
        above), as TikTok's default ``ad_status`` filter does.
        """
        if level not in LEVELS:
            raise ValueError(level)
        account = self.account(advertiser_id)
        today = self.today(advertiser_id)
        day = max(start, today - timedelta(days=self.days - 1))
        while day <= min(end, today):
            restated = restatement if (today - day).days < RESTATED_DAYS else 0
            rows = self.day_rows(account, day, restated)
            sums: dict[object, list] = {}  # campaign or (campaign, ad group) -> sums, in first-seen order
            for c, g, ad, m in rows:
                if level == "AUCTION_AD":
                    if deleted_ads or ad.deleted_on is None:
                        yield day, (c, g, ad), tuple(m)
                    continue
                key = account if level == "AUCTION_ADVERTISER" else c if level == "AUCTION_CAMPAIGN" else (c, g)
                total = sums.setdefault(key, [0] * 7)
                for i in range(7):
                    total[i] += m[i]
            for key, total in sums.items():
                yield day, key, tuple(total)
            day += timedelta(days=1)

    def totals(self, advertiser_id, level: str, start: date, end: date, restatement: int = 0) -> dict:
        """Row count and sums of a daily report at ``level``, exactly (Decimal money), as our facts hold them."""
        rows = 0
        sums = [0] * 7
        for _day, _ctx, m in self.iter_facts(advertiser_id, level, start, end, restatement):
            rows += 1
            for i in range(7):
                sums[i] += m[i]
        orders = sums[CP] + sums[OS]
        return {
            "rows": rows,
            "impressions": sums[IMP],
            "clicks": sums[CLK],
            "cost": self.money(sums[SPEND]),
            "orders": orders,
            "units": orders,
            "sales": self.money(sums[CPV] + sums[OSV]),
        }
