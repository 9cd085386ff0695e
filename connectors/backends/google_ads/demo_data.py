"""The demo seller's Google Ads: a manager account over a US and a UK client account, deterministic.

Hearth & Grain Home (the seller of the Amazon Ads demo, same catalogue) runs its Google Ads from one manager
account (MCC). Under it:

- **US** (USD, America/New_York, targets the United States): brand search, generic lamp and textile search,
  a Shopping campaign for lamps and decor, a Performance Max campaign for rugs, and a kitchen test campaign
  paused five months ago. The US store is the Shopify demo shop: the campaigns' final URL suffixes carry the
  ``utm_campaign`` values its google / cpc orders show (``brand-search``, ``lamps-shopping``, ``rugs-pmax``),
  and the daily rhythm is the shop's own (its weekday factors, its growth since January 2025 and its
  late-November to mid-December peak), so ad spend rises and falls with the store's Google orders and the
  account's conversions land near the shop's google / cpc order count.
- **UK** (GBP, Europe/London, targets the United Kingdom): the same search and Shopping campaigns at about
  two fifths of the traffic, British wording, a 60-day conversion window (the US account keeps Google's
  default of 30 days).
- A closed Canadian client account (status CANCELED), which discovery must skip.

Everything is a pure function of the seed: entities are built once; daily metrics are computed lazily per
"unit" (a keyword, a Shopping product group, or a whole Performance Max campaign) and day. The other views
are sums of units, so they reconcile exactly, as Google's do: ad group = sum of its keywords (or product
groups), campaign = sum of its ad groups (Performance Max: its campaign-level unit), customer = sum of its
campaigns; search terms split each unit's day exactly (each term with impressions is a row).

Money is generated in micros (cost, multiples of 10,000: whole cents/pence) and cents (conversion value);
conversions in hundredths, because Google's data-driven attribution gives fractional conversions (1.37).
``restatement`` (a counter the fake keeps) adds half a conversion to every clicked unit on the last
``RESTATED_DAYS`` days, the way conversions arrive after the click within the conversion window.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

# The Amazon Ads demo's hash helpers and catalogue: the same seller, the same products.
from connectors.backends.amazon_ads.demo_data import PRODUCTS, SELLER_NAME, _mix, _seed, _split, _u3
from connectors.backends.shopify.demo import WEEKDAY_FACTOR

RESTATED_DAYS = 3
HISTORY_DAYS = 400
MICROS = 1_000_000
CENT_MICROS = 10_000

MANAGER_ID = 5839201746
US_ID = 7214590386
UK_ID = 3358802417
CLOSED_ID = 6120094473


@dataclass(frozen=True)
class CustomerSpec:
    customer_id: int
    name: str
    currency: str
    time_zone: str
    country: str = ""  # our marketplace code ("UK" for the United Kingdom, as the Amazon connectors use)
    geo_target: int = 0  # the geoTargetConstants id its campaigns target
    manager: bool = False
    status: str = "ENABLED"
    size: float = 1.0  # traffic relative to the US account
    money_factor: str = "1"  # USD amounts -> this account's currency
    conversion_window_days: int = 30
    british: bool = False


MANAGER = CustomerSpec(MANAGER_ID, f"{SELLER_NAME} (Manager)", "USD", "America/New_York", manager=True)
CLIENTS = (
    CustomerSpec(US_ID, f"{SELLER_NAME} US", "USD", "America/New_York", "US", 2840),
    CustomerSpec(
        UK_ID,
        f"{SELLER_NAME} UK",
        "GBP",
        "Europe/London",
        "UK",
        2826,
        size=0.4,
        money_factor="0.8",
        conversion_window_days=60,
        british=True,
    ),
    CustomerSpec(CLOSED_ID, f"{SELLER_NAME} CA", "CAD", "America/Toronto", "CA", 2124, status="CANCELED", size=0),
)


# --- the campaign plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignPlan:
    key: str
    name: str
    channel: str  # SEARCH | SHOPPING | PERFORMANCE_MAX
    bidding: str
    budget_usd: int  # a day
    clicks: float  # expected clicks a day (US, before the day's factor)
    ctr: float
    cpc_usd: float
    cvr: float
    aov_usd: float
    utm: str
    # ad group name -> [(keyword, match type, own bid in USD or None to inherit)] or ["SKU", ...] (Shopping)
    ad_groups: dict = field(default_factory=dict)
    ad_group_negatives: dict = field(default_factory=dict)  # ad group name -> [(text, match type)]
    negatives: tuple = ()  # campaign level [(text, match type)]
    paused_days_ago: int | None = None
    us_only: bool = False


PLANS = (
    CampaignPlan(
        "brand", "Search | Brand", "SEARCH", "MANUAL_CPC", 30, 22, 0.18, 0.48, 0.095, 92, "brand-search",
        ad_groups={
            "Brand - Exact": [
                ("hearth and grain", "EXACT", 0.6),
                ("hearth and grain home", "EXACT", 0.6),
                ("hearth & grain home", "EXACT", None),
            ],
            "Brand - Phrase": [
                ("hearth and grain lamps", "PHRASE", None),
                ("hearth and grain throw blanket", "PHRASE", None),
                ("hearth and grain", "PHRASE", 0.45),
            ],
        },
        negatives=(("jobs", "BROAD"), ("careers", "BROAD")),
    ),
    CampaignPlan(
        "lamps", "Search | Lamps | Generic", "SEARCH", "MANUAL_CPC", 110, 48, 0.045, 1.25, 0.026, 78, "lamps-search",
        ad_groups={
            "Table lamps": [
                ("ceramic table lamp", "EXACT", 1.6),
                ("table lamp", "PHRASE", 1.2),
                ("bedside lamp", "PHRASE", None),
                ("nightstand lamp", "BROAD", 0.9),
                ("touch lamp", "PHRASE", None),
            ],
            "Floor lamps": [
                ("arc floor lamp", "EXACT", 1.8),
                ("floor lamp", "PHRASE", 1.3),
                ("reading lamp", "BROAD", None),
                ("floor lamp for living room", "PHRASE", None),
            ],
        },
        ad_group_negatives={
            "Table lamps": [("floor", "PHRASE")],
            "Floor lamps": [("table", "PHRASE"), ("desk", "PHRASE")],
        },
        negatives=(("free", "BROAD"), ("diy", "PHRASE"), ("ikea", "PHRASE"), ("repair", "PHRASE")),
    ),
    CampaignPlan(
        "textiles", "Search | Textiles | Generic", "SEARCH", "MANUAL_CPC", 60, 28, 0.04, 1.0, 0.021, 64,
        "textiles-search",
        ad_groups={
            "Throw blankets": [
                ("chunky knit throw blanket", "EXACT", 1.3),
                ("throw blanket", "PHRASE", None),
                ("knit blanket", "PHRASE", None),
                ("couch blanket", "BROAD", 0.8),
            ],
            "Cushion covers": [
                ("linen pillow covers", "EXACT", 1.1),
                ("throw pillow covers", "PHRASE", None),
                ("cushion covers", "PHRASE", None),
            ],
        },
        negatives=(("free", "BROAD"), ("pattern", "PHRASE"), ("crochet", "PHRASE")),
    ),
    CampaignPlan(
        "shopping", "Shopping | Lamps & Decor", "SHOPPING", "MANUAL_CPC", 45, 42, 0.012, 0.62, 0.028, 70,
        "lamps-shopping",
        ad_groups={
            "All products": ["HG-LAMP-01", "HG-LAMP-02", "HG-LAMP-03", "HG-VASE-01", "HG-MIRROR-01", "HG-CANDLE-01"],
        },
        negatives=(("free", "BROAD"), ("wholesale", "BROAD")),
    ),
    CampaignPlan(
        "pmax", "PMax | Rugs", "PERFORMANCE_MAX", "MAXIMIZE_CONVERSION_VALUE", 30, 16, 0.02, 0.85, 0.02, 135,
        "rugs-pmax", us_only=True,
    ),
    CampaignPlan(
        "kitchen", "Search | Kitchen | Test", "SEARCH", "MANUAL_CPC", 15, 10, 0.035, 0.9, 0.015, 45,
        "kitchen-search",
        ad_groups={"Mugs": [("stoneware mug set", "EXACT", 0.9), ("coffee mugs set", "PHRASE", None)]},
        paused_days_ago=150,
    ),
)  # fmt: skip

# British wording for the UK account.
BRITISH = {
    "nightstand lamp": "bedside table lamp",
    "couch blanket": "sofa throw",
    "throw pillow covers": "cushion covers 45x45",
    "linen pillow covers": "linen cushion covers",
    "floor lamp for living room": "floor lamp for lounge",
    "coffee mugs set": "mug set",
}
PREFIXES = ("modern", "small", "white", "black", "boho", "vintage", "large", "grey")
# Words shoppers add after a phrase or broad keyword, by campaign.
SUFFIXES = {
    "lamps": ("for bedroom", "for living room", "with usb port", "near me", "on sale", "dimmable", "tall", "nordic"),
    "textiles": ("for sofa", "for bed", "set of 2", "near me", "on sale", "oversized", "gift", "nordic"),
    "shopping": ("for bedroom", "for living room", "set of 2", "near me", "on sale", "gift", "handmade", "nordic"),
    "kitchen": ("set of 4", "gift", "near me", "on sale", "large", "dishwasher safe", "nordic", "handmade"),
}
PRODUCT_TITLES = {sku: title for items in PRODUCTS.values() for sku, title, _price in items}


# --- entities -----------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Criterion:
    criterion_id: int
    kind: str  # KEYWORD | LISTING_GROUP | LOCATION
    text: str = ""  # keyword text; the product's SKU for a listing group
    match_type: str = ""
    status: str = "ENABLED"
    negative: bool = False
    cpc_bid_micros: int = 0  # 0: the keyword has no bid of its own and uses its ad group's
    geo_target: int = 0


@dataclass(eq=False)
class Unit:
    """What earns metrics: a keyword, a Shopping product group, or a Performance Max campaign as a whole."""

    criterion: Criterion | None
    seed: int
    clicks: float  # expected clicks a day before the day's factor
    ctr: float
    cpc_micros: int
    cvr: float
    aov_cents: int
    terms: tuple[str, ...]
    term_ids: tuple[str, ...] = ()  # base64url of each term (the search term view's resource name part)


@dataclass(eq=False)
class AdGroup:
    id: int
    name: str
    type: str
    cpc_bid_micros: int
    status: str = "ENABLED"
    criteria: list[Criterion] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)


@dataclass(eq=False)
class Budget:
    id: int
    name: str
    amount_micros: int
    period: str = "DAILY"


@dataclass(eq=False)
class Campaign:
    id: int
    name: str
    status: str
    channel: str
    bidding: str
    budget: Budget
    final_url_suffix: str
    start_date: date
    paused_on: date | None
    ad_groups: list[AdGroup] = field(default_factory=list)
    criteria: list[Criterion] = field(default_factory=list)  # campaign-level negatives and locations
    units: list[Unit] = field(default_factory=list)  # Performance Max: the campaign itself


@dataclass(eq=False)
class ConversionAction:
    id: int
    name: str
    category: str
    type: str
    status: str
    include_in_conversions_metric: bool
    click_through_days: int
    view_through_days: int


@dataclass(eq=False)
class Account:
    spec: CustomerSpec
    campaigns: list[Campaign] = field(default_factory=list)
    conversion_actions: list[ConversionAction] = field(default_factory=list)

    @property
    def budgets(self) -> list[Budget]:
        return [c.budget for c in self.campaigns]


def _money_micros(usd: float, factor: str) -> int:
    """A USD amount in this account's currency, in micros rounded to a whole cent (10,000 micros)."""
    value = Decimal(str(usd)) * Decimal(factor) * 100
    return int(value.to_integral_value(rounding=ROUND_HALF_UP)) * CENT_MICROS


def _term_id(term: str) -> str:
    return base64.urlsafe_b64encode(term.encode()).decode().rstrip("=")


class Dataset:
    """The manager, its client accounts and their daily metrics on demand."""

    def __init__(self, *, seed: int = 2026, days: int = HISTORY_DAYS, volume: float = 1.0, terms_per_unit: int = 4):
        self.seed = seed
        self.days = days
        self.volume = volume
        self.terms_per_unit = terms_per_unit
        self._ids: set[int] = set()
        self.manager = MANAGER
        self.accounts: dict[int, Account] = {}
        for spec in CLIENTS:
            self.accounts[spec.customer_id] = self._build(spec)

    # -- lookups ----------------------------------------------------------------------------------------
    @property
    def specs(self) -> dict[int, CustomerSpec]:
        return {MANAGER.customer_id: MANAGER, **{a.spec.customer_id: a.spec for a in self.accounts.values()}}

    def spec(self, customer_id) -> CustomerSpec:
        return self.specs[int(customer_id)]

    def account(self, customer_id) -> Account:
        return self.accounts[int(customer_id)]

    def clients_of(self, manager_id) -> list[CustomerSpec]:
        return [a.spec for a in self.accounts.values()] if int(manager_id) == MANAGER_ID else []

    def today(self, customer_id) -> date:
        return datetime.now(ZoneInfo(self.spec(customer_id).time_zone)).date()

    def first_day(self, customer_id) -> date:
        return self.today(customer_id) - timedelta(days=self.days - 1)

    # -- building ---------------------------------------------------------------------------------------
    def _new_id(self, digits: int, *parts) -> int:
        low = 10 ** (digits - 1)
        n = 0
        while True:
            value = low + _seed(self.seed, *parts, n) % (9 * low)
            if value not in self._ids:
                self._ids.add(value)
                return value
            n += 1

    @staticmethod
    def _keyword_id(text: str, match_type: str) -> int:
        """Google gives one criterion id to one keyword (text and match type), whichever ad group holds it."""
        return 10**9 + _seed("keyword", text, match_type) % (9 * 10**11)

    def _build(self, spec: CustomerSpec) -> Account:
        account = Account(spec)
        cid = spec.customer_id
        today = datetime.now(ZoneInfo(spec.time_zone)).date()
        start = today - timedelta(days=self.days + 30)
        factor = spec.money_factor
        account.conversion_actions = [
            ConversionAction(self._new_id(9, cid, "purchase"), "Purchase (Shopify)", "PURCHASE", "WEBPAGE",
                             "ENABLED", True, spec.conversion_window_days, 1),
            ConversionAction(self._new_id(9, cid, "cart"), "Add to cart", "ADD_TO_CART", "WEBPAGE",
                             "ENABLED", False, 7, 1),
            ConversionAction(self._new_id(9, cid, "old"), "Purchase (old tag)", "PURCHASE", "WEBPAGE",
                             "REMOVED", True, 90, 1),
        ]  # fmt: skip
        if spec.status != "ENABLED":
            return account
        for plan in PLANS:
            if plan.us_only and spec.british:
                continue
            paused_on = today - timedelta(days=plan.paused_days_ago) if plan.paused_days_ago else None
            campaign = Campaign(
                id=self._new_id(11, cid, "campaign", plan.key),
                name=plan.name,
                status="PAUSED" if paused_on else "ENABLED",
                channel=plan.channel,
                bidding=plan.bidding,
                budget=Budget(
                    self._new_id(10, cid, "budget", plan.key),
                    f"{plan.name} budget",
                    _money_micros(plan.budget_usd, factor),
                ),
                final_url_suffix=f"utm_source=google&utm_medium=cpc&utm_campaign={plan.utm}",
                start_date=start,
                paused_on=paused_on,
            )
            campaign.criteria.append(
                Criterion(spec.geo_target, "LOCATION", geo_target=spec.geo_target)  # location ids are the geo ids
            )
            for text, match in plan.negatives:
                campaign.criteria.append(
                    Criterion(self._keyword_id(text, match), "KEYWORD", text, match, negative=True)
                )
            self._build_units(spec, plan, campaign)
            account.campaigns.append(campaign)
        return account

    def _british(self, spec: CustomerSpec, text: str) -> str:
        return BRITISH.get(text, text) if spec.british else text

    def _build_units(self, spec: CustomerSpec, plan: CampaignPlan, campaign: Campaign) -> None:
        cid = spec.customer_id
        factor = spec.money_factor
        scale = spec.size * self.volume
        cpc = _money_micros(plan.cpc_usd, factor)
        aov = int(Decimal(str(plan.aov_usd)) * Decimal(factor) * 100)
        if plan.channel == "PERFORMANCE_MAX":
            useed = _seed(self.seed, cid, plan.key, "pmax")
            campaign.units.append(Unit(None, useed, plan.clicks * scale, plan.ctr, cpc, plan.cvr, aov, ()))
            return
        # (ad group, criterion, weight, ctr factor, cvr factor, cpc factor)
        drafts: list[tuple[AdGroup, Criterion, float, float, float, float]] = []
        for name, items in plan.ad_groups.items():
            shopping = plan.channel == "SHOPPING"
            group = AdGroup(
                id=self._new_id(12, cid, "ad_group", plan.key, name),
                name=name,
                type="SHOPPING_PRODUCT_ADS" if shopping else "SEARCH_STANDARD",
                cpc_bid_micros=_money_micros(plan.cpc_usd * (0.9 if shopping else 1.0), factor),
            )
            for k, item in enumerate(items):
                u1, u2, u3 = _u3(_seed(self.seed, cid, plan.key, name, k))
                if shopping:
                    crit = Criterion(self._new_id(12, cid, "listing", plan.key, item), "LISTING_GROUP", text=item)
                    drafts.append((group, crit, 0.6 + 0.8 * u1, 1.0, 0.8 + 0.4 * u2, 1.0))
                else:
                    text, match, bid = item
                    text = self._british(spec, text)
                    own = _money_micros(bid, factor) if bid else 0
                    status = "PAUSED" if (u3 < 0.08 and match == "BROAD") else "ENABLED"
                    crit = Criterion(self._keyword_id(text, match), "KEYWORD", text, match, status, cpc_bid_micros=own)
                    weight = {"EXACT": 1.3, "PHRASE": 1.0, "BROAD": 0.8}[match] * (0.6 + 0.8 * u1)
                    ctr = {"EXACT": 1.5, "PHRASE": 1.0, "BROAD": 0.7}[match]
                    cvr = {"EXACT": 1.3, "PHRASE": 1.0, "BROAD": 0.75}[match] * (0.8 + 0.4 * u2)
                    cpc_f = {"EXACT": 1.1, "PHRASE": 1.0, "BROAD": 0.85}[match]
                    drafts.append((group, crit, weight, ctr, cvr, cpc_f))
                group.criteria.append(crit)
            for text, match in plan.ad_group_negatives.get(name, []):
                group.criteria.append(Criterion(self._keyword_id(text, match), "KEYWORD", text, match, negative=True))
            campaign.ad_groups.append(group)
        live = [d for d in drafts if d[1].status == "ENABLED"]
        total_weight = sum(d[2] for d in live)
        for group, crit, weight, ctr_f, cvr_f, cpc_f in live:
            useed = _seed(self.seed, cid, plan.key, group.name, crit.criterion_id)
            terms = self._terms(spec, plan, crit, useed)
            group.units.append(
                Unit(
                    crit,
                    useed,
                    plan.clicks * scale * weight / total_weight,
                    min(0.6, plan.ctr * ctr_f),
                    int(cpc * cpc_f) // CENT_MICROS * CENT_MICROS,
                    plan.cvr * cvr_f,
                    aov,
                    terms,
                    tuple(_term_id(t) for t in terms),
                )
            )

    def _terms(self, spec: CustomerSpec, plan: CampaignPlan, crit: Criterion, useed: int) -> tuple[str, ...]:
        """The distinct search terms that matched a keyword or a product group (at most ``terms_per_unit``)."""
        h = _mix(useed)
        pre = PREFIXES[h % len(PREFIXES)]
        pre2 = PREFIXES[(h >> 8) % len(PREFIXES)]
        suffixes = SUFFIXES.get(plan.key, SUFFIXES["shopping"])
        suf = suffixes[(h >> 16) % len(suffixes)]
        suf2 = suffixes[(h >> 24) % len(suffixes)]
        text = crit.text
        if crit.kind == "LISTING_GROUP":
            title = PRODUCT_TITLES.get(text, text).lower()
            short = " ".join(title.split()[-2:])
            terms = [title, short, f"hearth and grain {short}", f"{pre} {short}", f"{title} {suf}"]
        elif plan.key == "brand":
            terms = [text, text.replace(" and ", " & "), f"{text} reviews", f"{text} discount code"]
        elif crit.match_type == "EXACT":
            terms = [text, text + "s" if not text.endswith("s") else text[:-1]]
        elif crit.match_type == "PHRASE":
            terms = [text, f"{pre} {text}", f"{text} {suf}", f"{pre2} {text} {suf2}"]
        else:
            terms = [text, f"{pre} {text}", f"best {text}", f"{text} {suf}", f"{text} {suf2}"]
        seen: list[str] = []
        for term in terms:
            if spec.british:
                term = term.replace(" on sale", " sale").replace(" near me", " uk")
            if term not in seen:
                seen.append(term)
        return tuple(seen[: max(1, self.terms_per_unit)])

    # -- the day's rhythm: the Shopify demo shop's ------------------------------------------------------
    @staticmethod
    def day_factor(day: date) -> float:
        trend = 1 + 0.35 * max(0, (day - date(2025, 1, 1)).days) / 365
        peak = 1.5 if (day.month == 11 and day.day >= 20) or (day.month == 12 and day.day <= 20) else 1.0
        return WEEKDAY_FACTOR[day.weekday()] * trend * peak

    @staticmethod
    def unit_day(unit: Unit, ordinal: int, factor: float, restated: int):
        """(impressions, clicks, cost micros, conversions in hundredths, value in cents), or None (no impressions)."""
        h1 = _mix(unit.seed ^ (ordinal * 0x9E3779B97F4A7C15 & ((1 << 64) - 1)))
        u1, u2, u3 = _u3(h1)
        clicks = int(unit.clicks * factor * (0.6 + 0.8 * u1) + u2)
        impressions = int(clicks / unit.ctr * (0.85 + 0.3 * u3)) + int(u3 * 4)
        if impressions <= 0:
            return None
        clicks = min(clicks, impressions)
        if not clicks:
            return (impressions, 0, 0, 0, 0)
        u4, u5, u6 = _u3(_mix(h1))
        cost = int(clicks * unit.cpc_micros * (0.8 + 0.4 * u4)) // CENT_MICROS * CENT_MICROS
        conversions = int(clicks * unit.cvr * (0.5 + u5) * 100 * (0.7 + 0.6 * u6))
        value = conversions * unit.aov_cents * (85 + int(30 * u6)) // 10000
        if restated:
            conversions += 50 * restated
            value += 50 * restated * unit.aov_cents // 100
        return (impressions, clicks, cost, conversions, value)

    def iter_days(self, customer_id, start: date, end: date, restatement: int = 0) -> Iterator:
        """(day, campaign, ad group or None, unit, metrics) for every unit with impressions in [start, end]."""
        account = self.account(customer_id)
        today = self.today(customer_id)
        day = max(start, today - timedelta(days=self.days - 1))
        while day <= min(end, today):
            ordinal = day.toordinal()
            factor = self.day_factor(day)
            restated = restatement if (today - day).days < RESTATED_DAYS else 0
            for campaign in account.campaigns:
                if campaign.paused_on is not None and day >= campaign.paused_on:
                    continue
                for unit in campaign.units:
                    m = self.unit_day(unit, ordinal, factor, restated)
                    if m is not None:
                        yield day, campaign, None, unit, m
                for group in campaign.ad_groups:
                    for unit in group.units:
                        m = self.unit_day(unit, ordinal, factor, restated)
                        if m is not None:
                            yield day, campaign, group, unit, m
            day += timedelta(days=1)

    @staticmethod
    def split_terms(unit: Unit, ordinal: int, m: tuple) -> Iterator[tuple[int, tuple]]:
        """(term index, metrics) of each search term with impressions; the parts add up to ``m`` exactly."""
        impressions, clicks, cost, conversions, value = m
        terms = unit.terms
        h = _mix(unit.seed ^ ordinal ^ 0x5EA2C4)
        weights = [((h >> (5 * i)) & 31) + (6 if i == 0 else 1) for i in range(len(terms))]
        c_parts = _split(clicks, weights)
        i_parts = _split(impressions - clicks, weights)
        cost_parts = _split(cost // CENT_MICROS, c_parts) if clicks else [0] * len(terms)
        conv_parts = _split(conversions, c_parts) if clicks else [0] * len(terms)
        value_parts = _split(value, conv_parts) if conversions else [0] * len(terms)
        for k in range(len(terms)):
            if i_parts[k] + c_parts[k]:
                yield (
                    k,
                    (
                        i_parts[k] + c_parts[k],
                        c_parts[k],
                        cost_parts[k] * CENT_MICROS,
                        conv_parts[k],
                        value_parts[k],
                    ),
                )

    def totals(self, customer_id, resource: str, start: date, end: date, restatement: int = 0) -> dict:
        """What a daily report of ``resource`` holds over [start, end], summed exactly, to check a sync.

        ``orders`` is the sum of each row's conversions rounded half up (what our mapping stores);
        ``conversions`` the exact sum of the fractional conversions.
        """
        rows: dict[tuple, list[int]] = {}
        for day, campaign, group, unit, m in self.iter_days(customer_id, start, end, restatement):
            if resource == "search_term_view":
                if group is None:
                    continue
                for k, part in self.split_terms(unit, day.toordinal(), m):
                    _add(rows, (day, unit.seed, k), part)
                continue
            if resource == "campaign":
                key = (day, campaign.id)
            elif resource == "ad_group":
                if group is None:
                    continue
                key = (day, group.id)
            elif resource == "keyword_view":
                if group is None or unit.criterion is None or unit.criterion.kind != "KEYWORD":
                    continue
                key = (day, group.id, unit.criterion.criterion_id)
            elif resource == "customer":
                key = (day,)
            else:
                raise ValueError(resource)
            _add(rows, key, m)
        sums = [0, 0, 0, 0, 0]
        orders = 0
        for metrics in rows.values():
            for i in range(5):
                sums[i] += metrics[i]
            orders += (metrics[3] + 50) // 100
        return {
            "rows": len(rows),
            "impressions": sums[0],
            "clicks": sums[1],
            "cost": Decimal(sums[2]).scaleb(-6),
            "conversions": Decimal(sums[3]).scaleb(-2),
            "orders": orders,
            "sales": Decimal(sums[4]).scaleb(-2),
        }


def _add(rows: dict, key: tuple, m: tuple) -> None:
    current = rows.get(key)
    if current is None:
        rows[key] = list(m)
    else:
        for i in range(5):
            current[i] += m[i]
