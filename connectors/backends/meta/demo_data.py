"""A deterministic Meta ad business for the fake: Hearth & Grain Home's ad accounts on Facebook and Instagram.

Three ad accounts: a US store account (USD, America/Los_Angeles, shoppers in the US and Canada), a South-East
Asia account (SGD, Asia/Singapore, shoppers in Singapore and Malaysia) and an old closed account (status 101,
no delivery), which discovery must leave out. Each live account runs three prospecting campaigns (one per
product line, one of them paused 45 days ago) and a retargeting campaign; each campaign has two ad sets and
each ad set two ads, named after the SKU they show (``HG-LAMP-01 | Ceramic Table Lamp | Video``).

Everything is a pure function of the seed and the dates: nothing is stored, each day's rows are computed
when asked for (and a few hundred days are cached). The finest fact is one ad on one day on one publisher
platform in one country, in minor currency units (cents); every insights level and breakdown the fake serves
is a sum of those facts, so the account totals reconcile exactly with the ad rows, as Meta's do.

Purchases are reported the way Meta reports them: under several action types that are aliases of one
another and carry *identical* values (the US account: ``omni_purchase``, ``offsite_conversion.fb_pixel_purchase``,
``purchase`` and ``onsite_web_purchase``; the SEA account, whose pixel predates the omni types, only the
pixel type and ``purchase``). Summing them would count each purchase two to four times.

``restatement`` (a counter the fake keeps) adds late click-through purchases to the last ``RESTATED_DAYS``
days, the way Meta restates conversions inside the attribution window, so a re-sync must overwrite.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from connectors.backends.amazon_ads.demo_data import PRODUCTS, SELLER_NAME

M64 = (1 << 64) - 1
RESTATED_DAYS = 7
PAUSED_DAYS_AGO = 45  # the paused prospecting campaign stopped delivering this many days before today
ALL_PURCHASE_ALIASES = ("omni_purchase", "offsite_conversion.fb_pixel_purchase", "purchase", "onsite_web_purchase")
PIXEL_PURCHASE_ALIASES = ("offsite_conversion.fb_pixel_purchase", "purchase")
# Windows the fake can split an action into; ``value`` is always the default setting, 7-day click or 1-day view.
WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view", "7d_view")
PLATFORM_CTR = {"facebook": 1.0, "instagram": 0.85, "audience_network": 0.6, "messenger": 0.7}
PLATFORM_CPM = {"facebook": 1.0, "instagram": 1.15, "audience_network": 0.35, "messenger": 0.8}


def _mix(x: int) -> int:
    """splitmix64: a fast, well-spread 64-bit hash of an integer (stable across processes, unlike hash())."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def _seed(*parts: int | str) -> int:
    h = 0x3E7A
    for part in parts:
        if isinstance(part, str):
            for ch in part.encode():
                h = _mix(h ^ ch)
        else:
            h = _mix(h ^ (part & M64))
    return h


_U = 1.0 / (1 << 21)


def _u3(h: int) -> tuple[float, float, float]:
    """Three uniforms in [0, 1) from one 64-bit hash."""
    return (h & 0x1FFFFF) * _U, ((h >> 21) & 0x1FFFFF) * _U, ((h >> 42) & 0x1FFFFF) * _U


def money_text(minor: int, decimals: int = 2) -> str:
    """Minor units as Meta's JSON writes money: a decimal string without trailing zeros (``"5339.5"``)."""
    text = format(Decimal(minor).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- accounts and their structure ------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountSpec:
    account_id: str  # the digits; the Graph node is ``act_<digits>``
    name: str
    currency: str
    timezone: str
    account_status: int  # 1 ACTIVE, 2 DISABLED, 101 CLOSED, ...
    business_id: str
    countries: tuple[tuple[str, float], ...]  # where its shoppers are, with their share of delivery
    platforms: tuple[tuple[str, float], ...]  # publisher platforms with their share (prospecting)
    price_factor: str  # USD shelf price -> local price
    cpm_factor: float
    size: float  # relative traffic
    purchase_types: tuple[str, ...]
    decimals: int = 2


ACCOUNTS = (
    AccountSpec(
        account_id="1029384756",
        name=f"{SELLER_NAME} US",
        currency="USD",
        timezone="America/Los_Angeles",
        account_status=1,
        business_id="918273645501",
        countries=(("US", 0.86), ("CA", 0.14)),
        platforms=(("facebook", 0.58), ("instagram", 0.37), ("audience_network", 0.05)),
        price_factor="1",
        cpm_factor=1.0,
        size=1.0,
        purchase_types=ALL_PURCHASE_ALIASES,
    ),
    AccountSpec(
        account_id="2039485761",
        name=f"{SELLER_NAME} SEA",
        currency="SGD",
        timezone="Asia/Singapore",
        account_status=1,
        business_id="918273645501",
        countries=(("SG", 0.6), ("MY", 0.4)),
        platforms=(("instagram", 0.55), ("facebook", 0.45)),
        price_factor="1.35",
        cpm_factor=1.1,
        size=0.45,
        purchase_types=PIXEL_PURCHASE_ALIASES,
    ),
    AccountSpec(
        account_id="3049586172",
        name=f"{SELLER_NAME} (old, closed)",
        currency="USD",
        timezone="America/New_York",
        account_status=101,
        business_id="918273645501",
        countries=(("US", 1.0),),
        platforms=(("facebook", 1.0),),
        price_factor="1",
        cpm_factor=1.0,
        size=0.0,
        purchase_types=ALL_PURCHASE_ALIASES,
    ),
)

# name, kind, product line, status
CAMPAIGNS = (
    ("Prospecting | Lamps & Lighting", "prospecting", "Lamps", "ACTIVE"),
    ("Prospecting | Cosy Textiles", "prospecting", "Textiles", "ACTIVE"),
    ("Prospecting | Kitchen & Table", "prospecting", "Kitchen", "PAUSED"),
    ("Retargeting | Visitors & carts", "retargeting", "", "ACTIVE"),
)
AD_SETS = {
    "prospecting": (("Broad | 25-54", 1.0), ("Lookalike 1% | Purchasers", 0.7)),
    "retargeting": (("Viewed content | 30 days", 1.0), ("Added to cart | 14 days", 0.45)),
}
FORMATS = ("Video", "Carousel")
RETARGETING_SKUS = ("HG-LAMP-01", "HG-THROW-01", "HG-MUG-01", "HG-VASE-01")
CATALOGUE = {sku: (title, usd) for line in PRODUCTS.values() for sku, title, usd in line}


@dataclass(eq=False)
class Ad:
    id: str
    name: str
    status: str
    sku: str
    price: int  # minor units
    seed: int
    base_impressions: float
    ctr: float
    cpm: int  # minor units per 1000 impressions
    cvr: float
    view_rate: float  # 1-day view-through purchases per impression
    basket: float  # order value / shelf price
    ad_set: AdSet | None = None


@dataclass(eq=False)
class AdSet:
    id: str
    name: str
    status: str
    daily_budget: int | None  # minor units (ad-set budgets: retargeting)
    campaign: Campaign | None = None
    ads: list[Ad] = field(default_factory=list)


@dataclass(eq=False)
class Campaign:
    id: str
    name: str
    kind: str
    status: str
    daily_budget: int | None  # minor units (campaign budgets: prospecting)
    ad_sets: list[AdSet] = field(default_factory=list)


@dataclass(eq=False)
class Account:
    spec: AccountSpec
    campaigns: list[Campaign]

    @property
    def ads(self) -> list[Ad]:
        return [ad for c in self.campaigns for s in c.ad_sets for ad in s.ads]


def _local_price(spec: AccountSpec, usd: str) -> int:
    """A shelf price in minor units ending in .99 (USD) or .90 (SGD)."""
    value = Decimal(usd) * Decimal(spec.price_factor)
    return int(value) * 100 + (99 if spec.price_factor == "1" else 90)


class Dataset:
    """The seller's ad accounts and their daily facts on demand."""

    def __init__(self, *, seed: int = 2026, days: int = 400, volume: float = 1.0):
        self.seed = seed
        self.days = days
        self.volume = volume
        self.accounts: dict[str, Account] = {spec.account_id: Account(spec, self._build(spec)) for spec in ACCOUNTS}

    # -- building ---------------------------------------------------------------------------------------
    def _id(self, *parts) -> str:
        """An 18-digit Graph id like Meta's current ones (``1202...``)."""
        return "1202" + str(_seed(self.seed, *parts) % 10**14).zfill(14)

    def _build(self, spec: AccountSpec) -> list[Campaign]:
        if spec.account_status != 1:
            return []
        campaigns = []
        for ci, (name, kind, line, status) in enumerate(CAMPAIGNS):
            prospecting = kind == "prospecting"
            campaign = Campaign(
                id=self._id(spec.account_id, "campaign", ci),
                name=name,
                kind=kind,
                status=status,
                daily_budget=int(6000 * spec.size * float(spec.price_factor)) // 100 * 100 if prospecting else None,
            )
            for si, (set_name, weight) in enumerate(AD_SETS[kind]):
                ad_set = AdSet(
                    id=self._id(spec.account_id, "adset", ci, si),
                    name=f"{set_name} | {'+'.join(c for c, _ in spec.countries)}",
                    status="ACTIVE",
                    daily_budget=None if prospecting else int(2500 * spec.size * weight) // 100 * 100,
                    campaign=campaign,
                )
                for fi, fmt in enumerate(FORMATS):
                    if prospecting:
                        sku, title, usd = PRODUCTS[line][(si + fi) % len(PRODUCTS[line])]
                    else:
                        sku = RETARGETING_SKUS[(2 * si + fi) % len(RETARGETING_SKUS)]
                        title, usd = CATALOGUE[sku]
                    seed = _seed(self.seed, spec.account_id, "ad", ci, si, fi)
                    u1, u2, u3 = _u3(seed)
                    u4, u5, u6 = _u3(_mix(seed))
                    base = (2400.0 if prospecting else 650.0) * weight * (0.5 + u1)
                    ad_set.ads.append(
                        Ad(
                            id=self._id(spec.account_id, "ad", ci, si, fi),
                            name=f"{sku} | {title} | {fmt}",
                            status="ACTIVE",
                            sku=sku,
                            price=_local_price(spec, usd),
                            seed=seed,
                            base_impressions=base * spec.size * self.volume,
                            ctr=(0.008 + 0.008 * u2) if prospecting else (0.015 + 0.015 * u2),
                            cpm=int(((700 + 500 * u3) if prospecting else (1300 + 800 * u3)) * spec.cpm_factor),
                            cvr=(0.028 + 0.018 * u4) if prospecting else (0.07 + 0.04 * u4),
                            view_rate=(0.00006 + 0.00004 * u5) if prospecting else (0.0002 + 0.0002 * u5),
                            basket=1.0 + 0.5 * u6,
                            ad_set=ad_set,
                        )
                    )
                campaign.ad_sets.append(ad_set)
            campaigns.append(campaign)
        return campaigns

    # -- lookups ----------------------------------------------------------------------------------------
    def account(self, account_id: str) -> Account:
        return self.accounts[str(account_id).removeprefix("act_")]

    def today(self, account_id: str) -> date:
        return datetime.now(ZoneInfo(self.account(account_id).spec.timezone)).date()

    def first_day(self, account_id: str) -> date:
        return self.today(account_id) - timedelta(days=self.days - 1)

    def start_time(self, account_id: str) -> str:
        """When the campaigns started, as Meta writes times: local time with a ``-0700`` style offset."""
        tz = ZoneInfo(self.account(account_id).spec.timezone)
        return datetime.combine(self.first_day(account_id), time(9), tzinfo=tz).strftime("%Y-%m-%dT%H:%M:%S%z")

    # -- Graph nodes --------------------------------------------------------------------------------------
    def ad_accounts_json(self) -> list[dict]:
        return [
            {
                "account_id": a.spec.account_id,
                "id": f"act_{a.spec.account_id}",
                "name": a.spec.name,
                "currency": a.spec.currency,
                "timezone_name": a.spec.timezone,
                "account_status": a.spec.account_status,
                "business": {"id": a.spec.business_id, "name": SELLER_NAME},
            }
            for a in self.accounts.values()
        ]

    def entities(self, account_id: str, edge: str) -> list[dict]:
        """The ad account's ``campaigns``, ``adsets`` or ``ads`` edge: every field the fake knows, ids and
        money (minor units) as strings, as the Graph API writes them."""
        account = self.account(account_id)
        spec = account.spec
        start = self.start_time(account_id)
        out: list[dict] = []
        for c in account.campaigns:
            if edge == "campaigns":
                item = {
                    "id": c.id,
                    "account_id": spec.account_id,
                    "name": c.name,
                    "status": c.status,
                    "effective_status": c.status,
                    "objective": "OUTCOME_SALES",
                    "buying_type": "AUCTION",
                    "start_time": start,
                }
                if c.daily_budget is not None:
                    item["daily_budget"] = str(c.daily_budget)
                out.append(item)
                continue
            for s in c.ad_sets:
                if edge == "adsets":
                    item = {
                        "id": s.id,
                        "account_id": spec.account_id,
                        "campaign_id": c.id,
                        "name": s.name,
                        "status": s.status,
                        "effective_status": "CAMPAIGN_PAUSED" if c.status == "PAUSED" else s.status,
                        "optimization_goal": "OFFSITE_CONVERSIONS",
                        "billing_event": "IMPRESSIONS",
                        "start_time": start,
                    }
                    if s.daily_budget is not None:
                        item["daily_budget"] = str(s.daily_budget)
                    out.append(item)
                    continue
                if edge != "ads":
                    raise KeyError(edge)
                for ad in s.ads:
                    out.append(
                        {
                            "id": ad.id,
                            "account_id": spec.account_id,
                            "campaign_id": c.id,
                            "adset_id": s.id,
                            "name": ad.name,
                            "status": ad.status,
                            "effective_status": "CAMPAIGN_PAUSED" if c.status == "PAUSED" else ad.status,
                        }
                    )
        return out

    # -- daily facts --------------------------------------------------------------------------------------
    @staticmethod
    def _day_factor(day: date) -> float:
        doy = day.timetuple().tm_yday
        factor = 1.0 + 0.2 * math.sin(2 * math.pi * (doy - 300) / 365.0)  # autumn and winter: home season
        if day.weekday() == 6:
            factor *= 1.2  # Sunday evenings on the sofa, scrolling
        elif day.weekday() == 5:
            factor *= 1.1
        elif day.weekday() == 1:
            factor *= 0.92
        if (day.month == 11 and day.day >= 20) or (day.month == 12 and day.day <= 18):
            factor *= 1.45  # Black Friday to the last Christmas delivery date
        return factor

    def _segments(self, spec: AccountSpec, kind: str) -> list[tuple[str, str, float]]:
        platforms = list(spec.platforms)
        if kind == "retargeting" and spec.currency == "USD":
            platforms.append(("messenger", 0.03))
        return [(p, c, pw * cw) for p, pw in platforms for c, cw in spec.countries]

    def day_facts(self, account_id: str, day: date, restatement: int = 0) -> list[tuple]:
        """(ad, publisher_platform, country, metrics) of one day; metrics = (impressions, clicks, spend,
        link_clicks, landing_page_views, adds_to_cart, purchases_click, purchases_view, value_click, value_view),
        money in minor units. Days outside the history, or after today, have none."""
        account = self.account(account_id)
        today = self.today(account_id)
        if day > today or day < self.first_day(account_id):
            return []
        restated = restatement if (today - day).days < RESTATED_DAYS else 0
        stopped = today - timedelta(days=PAUSED_DAYS_AGO)
        return _day_facts(self, account.spec.account_id, day.toordinal(), restated, stopped.toordinal())

    def facts(self, account_id: str, start: date, end: date, restatement: int = 0) -> Iterator[tuple]:
        """(day, ad, publisher_platform, country, metrics) for every fact between ``start`` and ``end``."""
        day = max(start, self.first_day(account_id))
        last = min(end, self.today(account_id))
        while day <= last:
            for ad, platform, country, m in self.day_facts(account_id, day, restatement):
                yield day, ad, platform, country, m
            day += timedelta(days=1)

    def totals(self, account_id: str, start: date, end: date, restatement: int = 0) -> dict:
        """Exact sums over the facts, to check what a sync loaded: ``rows`` (ad x day x platform x country),
        ``campaign_rows`` (campaign x day x platform x country) and the metrics, purchases counted once."""
        spec = self.account(account_id).spec
        sums = [0] * 10
        rows = 0
        campaign_rows = set()
        for day, ad, platform, country, m in self.facts(account_id, start, end, restatement):
            rows += 1
            campaign_rows.add((day, ad.ad_set.campaign.id, platform, country))
            for i in range(10):
                sums[i] += m[i]
        return {
            "rows": rows,
            "campaign_rows": len(campaign_rows),
            "impressions": sums[0],
            "clicks": sums[1],
            "cost": Decimal(sums[2]).scaleb(-spec.decimals),
            "orders": sums[6] + sums[7],
            "sales": Decimal(sums[8] + sums[9]).scaleb(-spec.decimals),
        }

    def insights_rows(
        self,
        account_id: str,
        *,
        level: str,
        since: date,
        until: date,
        daily: bool,
        breakdowns: tuple[str, ...],
        fields: tuple[str, ...],
        windows: tuple[str, ...] = (),
        restatement: int = 0,
    ) -> list[dict]:
        """The rows of an insights query, in Meta's shapes: numbers and money as strings, ``actions`` and
        ``action_values`` as lists of AdsActionStats, ``date_start``/``date_stop`` on every row. A row only
        exists where something was delivered (impressions > 0)."""
        spec = self.account(account_id).spec
        depth = LEVELS.index(level)
        groups: dict[tuple, list] = {}
        for day, ad, platform, country, m in self.facts(account_id, since, until, restatement):
            ad_set = ad.ad_set
            campaign = ad_set.campaign
            entity = (campaign, ad_set, ad)[:depth]
            segment = tuple(platform if b == "publisher_platform" else country for b in breakdowns)
            key = (day if daily else None, tuple(e.id for e in entity), segment)
            group = groups.get(key)
            if group is None:
                group = groups[key] = [entity, [0] * 10]
            sums = group[1]
            for i in range(10):
                sums[i] += m[i]
        wanted = set(fields)
        rows = []
        for (day, _ids, segment), (entity, sums) in groups.items():
            row: dict = {}
            names = {
                "account_id": spec.account_id,
                "account_name": spec.name,
                "account_currency": spec.currency,
            }
            for obj, prefix in zip(entity, ("campaign", "adset", "ad"), strict=False):
                names[f"{prefix}_id"], names[f"{prefix}_name"] = obj.id, obj.name
            for name, value in names.items():
                if name in wanted:
                    row[name] = value
            metrics = insights_row(spec, sums, windows, actions="actions" in wanted, values="action_values" in wanted)
            for name in ("impressions", "clicks", "spend", "actions", "action_values"):
                if name in wanted and name in metrics:
                    row[name] = metrics[name]
            row["date_start"] = (day or since).isoformat()
            row["date_stop"] = (day or until).isoformat()
            for name, value in zip(breakdowns, segment, strict=True):
                row[name] = value
            rows.append(row)
        return rows


@lru_cache(maxsize=4096)
def _day_facts(dataset: Dataset, account_id: str, ordinal: int, restated: int, stopped: int) -> list[tuple]:
    account = dataset.accounts[account_id]
    spec = account.spec
    day = date.fromordinal(ordinal)
    factor = Dataset._day_factor(day)
    out = []
    for campaign in account.campaigns:
        if campaign.status == "PAUSED" and ordinal >= stopped:
            continue
        segments = dataset._segments(spec, campaign.kind)
        for ad_set in campaign.ad_sets:
            for ad in ad_set.ads:
                for platform, country, weight in segments:
                    h = _mix(ad.seed ^ _seed(platform, country) ^ (ordinal * 0x9E3779B97F4A7C15 & M64))
                    u1, u2, u3 = _u3(h)
                    u4, u5, u6 = _u3(_mix(h))
                    impressions = int(ad.base_impressions * factor * weight * (0.6 + 0.8 * u1))
                    if impressions <= 0:
                        continue  # Meta has no row for an ad that did not deliver
                    clicks = min(
                        impressions, int(impressions * ad.ctr * PLATFORM_CTR[platform] * (0.7 + 0.6 * u2) + u3)
                    )
                    spend = int(impressions * ad.cpm * PLATFORM_CPM[platform] * (0.85 + 0.3 * u4) / 1000)
                    link_clicks = clicks - clicks // 5
                    landing = int(link_clicks * (0.55 + 0.3 * u5))
                    u7, u8, _ = _u3(_mix(h ^ 0x5EED))
                    # Rounded at random (x + a uniform, floored): small segments still add up to the right rate.
                    p_click = int(clicks * ad.cvr * (0.6 + 0.8 * u5) + u7)
                    p_view = int(impressions * ad.view_rate * (0.5 + u6) + u8)
                    if restated and clicks:
                        p_click += restated
                    carts = 2 * (p_click + p_view) + landing // 6
                    per_order = int(ad.price * ad.basket)
                    out.append(
                        (
                            ad,
                            platform,
                            country,
                            (
                                impressions,
                                clicks,
                                spend,
                                link_clicks,
                                landing,
                                carts,
                                p_click,
                                p_view,
                                p_click * per_order,
                                p_view * ad.price,
                            ),
                        )
                    )
    return out


# --- insights ------------------------------------------------------------------------------------------------

LEVELS = ("account", "campaign", "adset", "ad")
LEVEL_FIELDS = {
    "account": ("account_id", "account_name", "account_currency"),
    "campaign": ("campaign_id", "campaign_name"),
    "adset": ("adset_id", "adset_name"),
    "ad": ("ad_id", "ad_name"),
}
METRIC_FIELDS = ("impressions", "clicks", "spend", "actions", "action_values")
BREAKDOWNS = ("publisher_platform", "country")


def fields_allowed(level: str) -> set[str]:
    """The fields an insights query at ``level`` may ask for (a finer entity than the level is an error)."""
    allowed = set(METRIC_FIELDS)
    for name in LEVELS[: LEVELS.index(level) + 1]:
        allowed.update(LEVEL_FIELDS[name])
    return allowed


def _stats(action_type: str, total: int, click: int, view: int, windows, money: bool, decimals: int) -> dict:
    """One AdsActionStats: ``value`` under the default setting (7-day click or 1-day view), plus one key per
    requested window (left out when zero)."""
    text = (lambda v: money_text(v, decimals)) if money else str
    split = {
        "1d_click": click - click // 4,
        "7d_click": click,
        "28d_click": click + click // 8,
        "1d_view": view,
        "7d_view": view + view // 2,
    }
    item = {"action_type": action_type, "value": text(total)}
    for window in windows:
        if split.get(window):
            item[window] = text(split[window])
    return item


def insights_row(spec: AccountSpec, m: list[int], windows, *, actions: bool, values: bool) -> dict:
    """The metric fields of one insights row from summed facts ``m`` (see ``Dataset.day_facts``)."""
    row: dict = {"impressions": str(m[0]), "clicks": str(m[1]), "spend": money_text(m[2], spec.decimals)}
    if actions:
        purchases = m[6] + m[7]
        items = [
            _stats("link_click", m[3], m[3], 0, windows, False, 0),
            _stats("landing_page_view", m[4], m[4], 0, windows, False, 0),
            _stats("add_to_cart", m[5], m[5] - 2 * m[7], 2 * m[7], windows, False, 0),
            _stats("omni_add_to_cart", m[5], m[5] - 2 * m[7], 2 * m[7], windows, False, 0),
        ]
        if purchases:
            items += [_stats(t, purchases, m[6], m[7], windows, False, 0) for t in spec.purchase_types]
        row["actions"] = [item for item in items if item["value"] != "0"]
    if values:
        value = m[8] + m[9]
        if value:
            row["action_values"] = [
                _stats(t, value, m[8], m[9], windows, True, spec.decimals) for t in spec.purchase_types
            ]
    return row
