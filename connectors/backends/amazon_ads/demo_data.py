"""A deterministic Amazon Ads account for the fake: a home-goods seller with US, DE and JP profiles.

Everything is a pure function of the seed and the parameters: entities are built once (they are small);
daily metrics are computed lazily, row by row, for the dates a report asks for, so a 90-day search-term
report streams in a fraction of a second without ever being held in memory.

Metrics are generated per keyword or target and day, in minor currency units (cents, or yen), and the
other report types are built from them so they reconcile exactly, as Amazon's do:

- spCampaigns (campaign x day) = sum of spTargeting rows of that campaign and day;
- spAdvertisedProduct rows split each ad group's day over its product ads (sums equal the campaign's);
- spSearchTerm rows split each target's day over its search terms; like Amazon's, a term only appears if
  it got a click, so its impressions can fall short of the target's, while clicks, cost, orders, units
  and sales add up exactly.

``restatement`` (a counter the fake keeps) adds late conversions to the last ``RESTATED_DAYS`` days, the
way Amazon restates attributed sales after the fact, so a re-sync has to overwrite what it loaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

M64 = (1 << 64) - 1
RESTATED_DAYS = 3
REPORT_TYPES = ("spCampaigns", "spTargeting", "spSearchTerm", "spAdvertisedProduct")


def _mix(x: int) -> int:
    """splitmix64: a fast, well-spread 64-bit hash of an integer (stable across processes, unlike hash())."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def _seed(*parts: int | str) -> int:
    h = 0x5EED
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


def _split(total: int, weights: list[int]) -> list[int]:
    """Split the integer ``total`` by integer ``weights`` exactly; the remainder goes to the heaviest part."""
    parts = [0] * len(weights)
    if total <= 0:
        return parts
    sw = sum(weights)
    if sw <= 0:
        return parts
    given = 0
    heaviest = 0
    for i, w in enumerate(weights):
        p = total * w // sw
        parts[i] = p
        given += p
        if w > weights[heaviest]:
            heaviest = i
    parts[heaviest] += total - given
    return parts


# --- the catalogue ---------------------------------------------------------------------------------------

# group -> [(sku, english title, USD price)]
PRODUCTS: dict[str, list[tuple[str, str, str]]] = {
    "Lamps": [
        ("HG-LAMP-01", "Ceramic Table Lamp", "39.99"),
        ("HG-LAMP-02", "Arc Floor Lamp", "89.99"),
        ("HG-LAMP-03", "LED Bedside Lamp", "24.99"),
    ],
    "Textiles": [
        ("HG-THROW-01", "Chunky Knit Throw Blanket", "34.99"),
        ("HG-PILLOW-01", "Linen Cushion Cover Set", "21.99"),
        ("HG-TOWEL-01", "Turkish Bath Towels", "29.99"),
    ],
    "Decor": [
        ("HG-VASE-01", "Ceramic Bud Vase Set", "19.99"),
        ("HG-MIRROR-01", "Round Wall Mirror", "49.99"),
        ("HG-CLOCK-01", "Wooden Wall Clock", "32.99"),
        ("HG-CANDLE-01", "Soy Candle Trio", "22.99"),
    ],
    "Kitchen": [
        ("HG-MUG-01", "Stoneware Mug Set", "27.99"),
        ("HG-BASKET-01", "Seagrass Storage Basket", "25.99"),
        ("HG-PLANTER-01", "Ceramic Planter Pot", "18.99"),
    ],
}

KEYWORDS: dict[str, dict[str, list[str]]] = {
    "en": {
        "Lamps": [
            "table lamp",
            "ceramic table lamp",
            "bedside lamp",
            "nightstand lamp",
            "floor lamp",
            "arc floor lamp",
            "reading lamp",
            "lamp for living room",
            "touch lamp",
            "bedroom lamp",
        ],
        "Textiles": [
            "throw blanket",
            "chunky knit blanket",
            "knit throw blanket",
            "couch blanket",
            "linen pillow covers",
            "throw pillow covers 18x18",
            "turkish bath towels",
            "cotton bath towels",
            "cushion covers",
            "boho throw blanket",
        ],
        "Decor": [
            "ceramic vase",
            "bud vase set",
            "round wall mirror",
            "wall clock",
            "wooden wall clock",
            "soy candles",
            "scented candles gift set",
            "home decor",
            "boho decor",
            "mirror for bathroom",
        ],
        "Kitchen": [
            "coffee mugs set",
            "stoneware mugs",
            "large coffee mug",
            "storage basket",
            "seagrass basket",
            "woven storage baskets",
            "plant pot",
            "ceramic planter",
            "indoor planter",
            "mug set of 4",
        ],
    },
    "de": {
        "Lamps": [
            "tischlampe",
            "tischlampe keramik",
            "nachttischlampe",
            "stehlampe",
            "bogenlampe",
            "leselampe",
            "nachttischlampe touch",
            "lampe wohnzimmer",
            "tischleuchte",
            "stehlampe wohnzimmer",
        ],
        "Textiles": [
            "kuscheldecke",
            "wolldecke",
            "strickdecke grob",
            "sofadecke",
            "kissenbezug leinen",
            "kissenhülle 50x50",
            "handtücher baumwolle",
            "hamamtuch",
            "kissenbezüge",
            "tagesdecke",
        ],
        "Decor": [
            "vase keramik",
            "vasen set",
            "wandspiegel rund",
            "wanduhr",
            "wanduhr holz",
            "duftkerzen",
            "sojawachs kerze",
            "deko wohnzimmer",
            "boho deko",
            "spiegel bad",
        ],
        "Kitchen": [
            "kaffeetassen set",
            "steingut tassen",
            "große tasse",
            "aufbewahrungskorb",
            "seegras korb",
            "körbe aufbewahrung",
            "blumentopf",
            "übertopf keramik",
            "pflanztopf innen",
            "tassen 4er set",
        ],
    },
    "ja": {
        "Lamps": [
            "テーブルランプ",
            "間接照明",
            "ベッドサイドランプ",
            "フロアランプ",
            "スタンドライト",
            "フロアスタンド",
            "読書灯",
            "照明 おしゃれ",
            "ナイトライト",
            "テーブルライト",
        ],
        "Textiles": [
            "ブランケット",
            "ニットブランケット",
            "ひざ掛け",
            "ソファカバー",
            "クッションカバー",
            "クッションカバー 45×45",
            "バスタオル",
            "今治タオル",
            "リネン クッションカバー",
            "マルチカバー",
        ],
        "Decor": [
            "花瓶",
            "一輪挿し",
            "壁掛け鏡",
            "丸鏡",
            "壁掛け時計",
            "掛け時計 木製",
            "アロマキャンドル",
            "キャンドル ギフト",
            "インテリア 雑貨",
            "北欧 インテリア",
        ],
        "Kitchen": [
            "マグカップ",
            "マグカップ セット",
            "大きめ マグカップ",
            "収納バスケット",
            "かご 収納",
            "ラタン バスケット",
            "植木鉢",
            "プランター 室内",
            "鉢 陶器",
            "マグカップ おしゃれ",
        ],
    },
}

# Words shoppers add to a keyword; the first is "nothing added".
MODIFIERS = {
    "en": ["", " modern", " set of 2", " white", " for bedroom", " cheap", " large", " boho", " gift", " black"],
    "de": ["", " modern", " 2er set", " weiß", " schlafzimmer", " günstig", " groß", " boho", " geschenk", " schwarz"],
    "ja": ["", " おしゃれ", " 2個セット", " 白", " 寝室", " 安い", " 大きい", " 北欧", " ギフト", " 黒"],
}
CAMPAIGN_NEGATIVES = {"en": ["used", "free"], "de": ["gebraucht", "kostenlos"], "ja": ["中古", "無料"]}
AD_GROUP_NEGATIVES = {"en": "ikea", "de": "ikea", "ja": "ニトリ"}

# Auto targeting: the list API's expression type -> the text reports show for it.
AUTO_TARGETS = [
    ("QUERY_HIGH_REL_MATCHES", "close-match"),
    ("QUERY_BROAD_REL_MATCHES", "loose-match"),
    ("ASIN_SUBSTITUTE_RELATED", "substitutes"),
    ("ASIN_ACCESSORY_RELATED", "complements"),
]


@dataclass(frozen=True)
class ProfileSpec:
    country: str
    profile_id: int
    currency: str
    timezone: str
    marketplace_id: str
    language: str
    decimals: int  # minor units per currency unit: 10**decimals
    price_factor: str  # USD price -> local price
    cpc_range: tuple[int, int]  # minor units
    size: float  # relative traffic
    daily_budget: int


PROFILES = [
    ProfileSpec(
        "US", 1873625790128461, "USD", "America/Los_Angeles", "ATVPDKIKX0DER", "en", 2, "1", (35, 180), 1.0, 500
    ),
    ProfileSpec("DE", 2590417735268102, "EUR", "Europe/Berlin", "A1PA6795UKMFR9", "de", 2, "0.93", (30, 140), 0.6, 300),
    ProfileSpec("JP", 3370926154208833, "JPY", "Asia/Tokyo", "A1VC38T7YXB528", "ja", 0, "150", (20, 110), 0.45, 40000),
]
SELLER_NAME = "Hearth & Grain Home"
SELLER_ENTITY_ID = "A2HGHOMEGOODS7"


# --- entities --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Product:
    ad_id: int
    sku: str
    asin: str
    price: int  # minor units
    state: str
    seed: int


@dataclass(eq=False)
class Target:
    id: int
    kind: str  # keyword | auto | asin
    text: str  # keyword text, or the rendering reports show ("close-match", 'asin="B0..."')
    match_type: str  # EXACT/PHRASE/BROAD, TARGETING_EXPRESSION(_PREDEFINED)
    expression: list | None
    bid: int  # minor units
    state: str
    terms: tuple[str, ...]
    seed: int
    base_impressions: float
    ctr: float
    cpc: int  # minor units
    cvr: float
    price: int  # minor units


@dataclass(eq=False)
class AdGroup:
    id: int
    name: str
    default_bid: int
    state: str
    targets: list[Target] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    negatives: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, text, match type, state


@dataclass(eq=False)
class Campaign:
    id: int
    name: str
    targeting_type: str
    state: str
    budget: int  # whole currency units
    start_date: str
    ad_groups: list[AdGroup] = field(default_factory=list)
    negatives: list[tuple[int, str, str, str]] = field(default_factory=list)


@dataclass(eq=False)
class Account:
    spec: ProfileSpec
    campaigns: list[Campaign]


def _local_price(spec: ProfileSpec, usd: str) -> int:
    """A local shelf price in minor units: x.99 in USD/EUR, round tens of yen in JPY."""
    value = Decimal(usd) * Decimal(spec.price_factor)
    if spec.decimals == 0:
        return int(value / 10) * 10 - 20 if value > 100 else int(value)
    return int(value) * 100 + 99


def _asin(seed: int) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    h = _mix(seed)
    chars = []
    for _ in range(8):
        chars.append(alphabet[h % len(alphabet)])
        h //= len(alphabet)
    return "B0" + "".join(chars)


class Dataset:
    """The seller's account in every profile, and its daily report rows on demand."""

    def __init__(
        self,
        *,
        seed: int = 2026,
        campaigns: int = 8,
        ad_groups_per_campaign: int = 2,
        keywords_per_ad_group: int = 6,
        products_per_ad_group: int = 2,
        search_terms_per_target: int = 4,
        days: int = 400,
        volume: float = 1.0,
        profiles: tuple[str, ...] = ("US", "DE", "JP"),
    ):
        self.seed = seed
        self.days = days
        self.volume = volume
        self.params = (campaigns, ad_groups_per_campaign, keywords_per_ad_group, products_per_ad_group)
        self.search_terms_per_target = search_terms_per_target
        self._ids: set[int] = set()
        self.accounts: dict[int, Account] = {}
        for spec in PROFILES:
            if spec.country in profiles:
                self.accounts[spec.profile_id] = Account(spec, self._build(spec))

    # -- building ---------------------------------------------------------------------------------------
    def _new_id(self, *parts) -> int:
        n = 0
        while True:
            value = 10**13 + _seed(self.seed, *parts, n) % (9 * 10**13)
            if value not in self._ids:
                self._ids.add(value)
                return value
            n += 1

    def _build(self, spec: ProfileSpec) -> list[Campaign]:
        n_campaigns, n_groups, n_keywords, n_products = self.params
        lang = spec.language
        groups = list(PRODUCTS)
        lo, hi = spec.cpc_range
        start = "2024-09-01"
        campaigns = []
        for ci in range(n_campaigns):
            group = groups[(ci // 2) % len(groups)]
            auto = ci % 2 == 0
            lap = ci // (2 * len(groups))
            suffix = f" {lap + 1}" if lap else ""
            kind_label = "Auto" if auto else "Manual"
            state = "PAUSED" if (ci % 7 == 6) else "ENABLED"
            budget = int(spec.daily_budget * (0.05 + 0.02 * (ci % 5)))
            campaign = Campaign(
                id=self._new_id(spec.country, "campaign", ci),
                name=f"SP | {group} | {kind_label}{suffix}",
                targeting_type="AUTO" if auto else "MANUAL",
                state=state,
                budget=max(budget, 1),
                start_date=start,
            )
            if auto:
                for j, text in enumerate(CAMPAIGN_NEGATIVES[lang]):
                    campaign.negatives.append(
                        (self._new_id(spec.country, "cneg", ci, j), text, "NEGATIVE_EXACT", "ENABLED")
                    )
            products = PRODUCTS[group]
            vocab = KEYWORDS[lang][group]
            mods = MODIFIERS[lang]
            for gi in range(n_groups):
                if auto:
                    ag_kind, ag_label = "auto", "Auto"
                else:
                    ag_kind = ("exact", "broad", "asin")[(ci // 2 + gi) % 3]
                    ag_label = {"exact": "Exact", "broad": "Broad & phrase", "asin": "Competitor ASINs"}[ag_kind]
                default_bid = (lo + hi) // 2
                ad_group = AdGroup(
                    id=self._new_id(spec.country, "adgroup", ci, gi),
                    name=f"{group} - {ag_label}{f' {gi + 1}' if gi >= 3 else ''}",
                    default_bid=default_bid,
                    state="ENABLED",
                )
                for pi in range(n_products):
                    sku, _title, usd = products[(gi + pi) % len(products)]
                    if any(p.sku == sku for p in ad_group.products):
                        continue
                    pseed = _seed(self.seed, spec.country, sku)
                    ad_group.products.append(
                        Product(
                            ad_id=self._new_id(spec.country, "ad", ci, gi, pi),
                            sku=sku,
                            asin=_asin(pseed),
                            price=_local_price(spec, usd),
                            state="ENABLED",
                            seed=_seed(self.seed, "ad", spec.country, ci, gi, pi),
                        )
                    )
                price = ad_group.products[0].price
                specs: list[tuple[str, str, str, list | None]] = []  # kind, text, match type, expression
                if ag_kind == "auto":
                    for expr_type, text in AUTO_TARGETS:
                        specs.append(("auto", text, "TARGETING_EXPRESSION_PREDEFINED", [{"type": expr_type}]))
                elif ag_kind == "asin":
                    for k in range(n_keywords):
                        asin = _asin(_seed(self.seed, spec.country, "competitor", ci, gi, k))
                        expression = [{"type": "ASIN_SAME_AS", "value": asin}]
                        specs.append(("asin", f'asin="{asin}"', "TARGETING_EXPRESSION", expression))
                else:
                    for k in range(n_keywords):
                        base = vocab[(gi * 3 + k) % len(vocab)]
                        lap_k = (gi * 3 + k) // len(vocab)
                        text = base + mods[lap_k % len(mods)] if lap_k else base
                        match = "EXACT" if ag_kind == "exact" else ("BROAD" if k % 2 == 0 else "PHRASE")
                        specs.append(("keyword", text, match, None))
                for k, (kind, text, match, expression) in enumerate(specs):
                    tseed = _seed(self.seed, spec.country, "target", ci, gi, k)
                    u1, u2, u3 = _u3(tseed)
                    u4, u5, u6 = _u3(_mix(tseed))
                    base_imps = {"auto": 900.0, "asin": 160.0, "keyword": 320.0}[kind] * (0.3 + 1.4 * u1)
                    if match == "EXACT":
                        base_imps *= 0.6
                    ad_group.targets.append(
                        Target(
                            id=self._new_id(spec.country, "target", ci, gi, k),
                            kind=kind,
                            text=text,
                            match_type=match,
                            expression=expression,
                            bid=int(lo + (hi - lo) * u2),
                            state="PAUSED" if u6 < 0.06 else "ENABLED",
                            terms=self._terms(spec, kind, text, match, vocab, tseed),
                            seed=tseed,
                            base_impressions=base_imps * spec.size * self.volume,
                            ctr=0.003 + 0.009 * u3,
                            cpc=int(lo + (hi - lo) * u4),
                            cvr=0.05 + 0.11 * u5,
                            price=price,
                        )
                    )
                if ag_kind == "auto":
                    ad_group.negatives.append(
                        (
                            self._new_id(spec.country, "neg", ci, gi),
                            AD_GROUP_NEGATIVES[lang],
                            "NEGATIVE_PHRASE",
                            "ENABLED",
                        )
                    )
                elif ag_kind == "broad":
                    ad_group.negatives.append(
                        (self._new_id(spec.country, "neg", ci, gi), vocab[0] + mods[5], "NEGATIVE_EXACT", "ENABLED")
                    )
                campaign.ad_groups.append(ad_group)
            campaigns.append(campaign)
        return campaigns

    def _terms(self, spec, kind, text, match, vocab, tseed) -> tuple[str, ...]:
        """The distinct search terms a target matches (at most ``search_terms_per_target``)."""
        n = self.search_terms_per_target
        mods = MODIFIERS[spec.language]
        terms: list[str] = []
        if kind == "auto":
            terms = ["*", _asin(tseed).lower()]
            for i in range(n):
                terms.append(vocab[(tseed >> (i * 4)) % len(vocab)] + mods[(i + 1) % len(mods)])
        elif kind == "asin":
            terms = [text[6:-1].lower(), "*", _asin(tseed ^ 1).lower()]
        elif match == "EXACT":
            terms = [text, text.replace(" ", "") if " " in text else text + ("s" if spec.language == "en" else " ")]
        else:
            terms = [text + m for m in mods]
        seen: list[str] = []
        for term in terms:
            term = term.strip() or text
            if term not in seen:
                seen.append(term)
        return tuple(seen[: max(1, n)])

    # -- lookups ----------------------------------------------------------------------------------------
    def account(self, profile_id) -> Account:
        return self.accounts[int(profile_id)]

    def today(self, profile_id) -> date:
        return datetime.now(ZoneInfo(self.account(profile_id).spec.timezone)).date()

    def first_day(self, profile_id) -> date:
        return self.today(profile_id) - timedelta(days=self.days - 1)

    def profiles_json(self) -> list[dict]:
        out = []
        for account in self.accounts.values():
            spec = account.spec
            out.append(
                {
                    "profileId": spec.profile_id,
                    "countryCode": spec.country,
                    "currencyCode": spec.currency,
                    "dailyBudget": spec.daily_budget,
                    "timezone": spec.timezone,
                    "accountInfo": {
                        "marketplaceStringId": spec.marketplace_id,
                        "id": SELLER_ENTITY_ID,
                        "type": "seller",
                        "name": SELLER_NAME,
                        "validPaymentMethod": True,
                    },
                }
            )
        return out

    def money(self, profile_id, minor: int):
        """A JSON number for an amount in minor units, as Amazon's JSON carries it (14.5, 2980)."""
        decimals = self.account(profile_id).spec.decimals
        return minor if decimals == 0 else minor / 10**decimals

    def decimal(self, profile_id, minor: int) -> Decimal:
        return Decimal(minor).scaleb(-self.account(profile_id).spec.decimals)

    def entities(self, profile_id, kind: str) -> list[dict]:
        """The SP v3 list API's items for ``kind`` (campaigns, adGroups, keywords, targets, negativeKeywords,
        campaignNegativeKeywords, productAds), with ids as strings."""
        account = self.account(profile_id)

        def money(minor: int):
            return self.money(profile_id, minor)

        out: list[dict] = []
        for c in account.campaigns:
            cid = str(c.id)
            if kind == "campaigns":
                out.append(
                    {
                        "budget": {"budget": c.budget, "budgetType": "DAILY"},
                        "campaignId": cid,
                        "dynamicBidding": {"placementBidding": [], "strategy": "LEGACY_FOR_SALES"},
                        "name": c.name,
                        "startDate": c.start_date,
                        "state": c.state,
                        "targetingType": c.targeting_type,
                    }
                )
                continue
            if kind == "campaignNegativeKeywords":
                for nid, text, match, state in c.negatives:
                    out.append(
                        {
                            "campaignId": cid,
                            "keywordId": str(nid),
                            "keywordText": text,
                            "matchType": match,
                            "state": state,
                        }
                    )
                continue
            for g in c.ad_groups:
                gid = str(g.id)
                if kind == "adGroups":
                    out.append(
                        {
                            "adGroupId": gid,
                            "campaignId": cid,
                            "defaultBid": money(g.default_bid),
                            "name": g.name,
                            "state": g.state,
                        }
                    )
                elif kind == "negativeKeywords":
                    for nid, text, match, state in g.negatives:
                        out.append(
                            {
                                "adGroupId": gid,
                                "campaignId": cid,
                                "keywordId": str(nid),
                                "keywordText": text,
                                "matchType": match,
                                "state": state,
                            }
                        )
                elif kind == "productAds":
                    for p in g.products:
                        out.append(
                            {
                                "adGroupId": gid,
                                "adId": str(p.ad_id),
                                "asin": p.asin,
                                "campaignId": cid,
                                "sku": p.sku,
                                "state": p.state,
                            }
                        )
                elif kind == "keywords":
                    for t in g.targets:
                        if t.kind == "keyword":
                            out.append(
                                {
                                    "adGroupId": gid,
                                    "bid": money(t.bid),
                                    "campaignId": cid,
                                    "keywordId": str(t.id),
                                    "keywordText": t.text,
                                    "matchType": t.match_type,
                                    "state": t.state,
                                }
                            )
                elif kind == "targets":
                    for t in g.targets:
                        if t.kind != "keyword":
                            out.append(
                                {
                                    "adGroupId": gid,
                                    "bid": money(t.bid),
                                    "campaignId": cid,
                                    "expression": t.expression,
                                    "expressionType": "AUTO" if t.kind == "auto" else "MANUAL",
                                    "resolvedExpression": t.expression,
                                    "state": t.state,
                                    "targetId": str(t.id),
                                }
                            )
                else:
                    raise KeyError(kind)
        return out

    # -- metrics ----------------------------------------------------------------------------------------
    @staticmethod
    def _day_factor(day: date) -> float:
        doy = day.timetuple().tm_yday
        factor = 1.0 + 0.18 * math.sin(2 * math.pi * (doy - 80) / 365.0)
        if day.weekday() >= 5:
            factor *= 1.12
        if (day.month == 11 and day.day >= 20) or (day.month == 12 and day.day <= 20):
            factor *= 1.35
        return factor

    @staticmethod
    def _target_day(t: Target, ordinal: int, factor: float, restated: int):
        """(impressions, clicks, cost, orders, units, sales) of one target on one day, money in minor units."""
        h1 = _mix(t.seed ^ (ordinal * 0x9E3779B97F4A7C15 & M64))
        u1, u2, u3 = _u3(h1)
        impressions = int(t.base_impressions * factor * (0.55 + 0.9 * u1))
        if impressions <= 0:
            return None
        clicks = min(impressions, int(impressions * t.ctr * (0.6 + 0.8 * u2) + u3))
        if clicks:
            u4, u5, u6 = _u3(_mix(h1))
            cost = int(clicks * t.cpc * (0.8 + 0.4 * u4))
            orders = int(clicks * t.cvr * (0.4 + 1.2 * u5) + u6 * 0.6)
            units = orders + (orders // 4 if u6 > 0.7 else 0)
            if restated:
                orders += restated
                units += restated
            sales = units * t.price
        else:
            cost = orders = units = sales = 0
        return (impressions, clicks, cost, orders, units, sales)

    def iter_facts(self, profile_id, report_type: str, start: date, end: date, restatement: int = 0) -> Iterator:
        """(day, context, metrics) for every row of ``report_type`` between ``start`` and ``end``.

        context: the Campaign (spCampaigns), the (Campaign, AdGroup, Target) (spTargeting), plus the search
        term (spSearchTerm), or (Campaign, AdGroup, Product) (spAdvertisedProduct).
        """
        if report_type not in REPORT_TYPES:
            raise ValueError(report_type)
        account = self.account(profile_id)
        today = self.today(profile_id)
        first = max(start, today - timedelta(days=self.days - 1))
        day = first
        while day <= min(end, today):
            ordinal = day.toordinal()
            factor = self._day_factor(day)
            restated = restatement if (today - day).days < RESTATED_DAYS else 0
            for c in account.campaigns:
                c_sum = [0, 0, 0, 0, 0, 0]
                for g in c.ad_groups:
                    g_sum = [0, 0, 0, 0, 0, 0]
                    for t in g.targets:
                        m = self._target_day(t, ordinal, factor, restated)
                        if m is None:
                            continue
                        for i in range(6):
                            g_sum[i] += m[i]
                        if report_type == "spTargeting":
                            yield day, (c, g, t), m
                        elif report_type == "spSearchTerm":
                            yield from self._split_terms(day, c, g, t, m, ordinal)
                    for i in range(6):
                        c_sum[i] += g_sum[i]
                    if report_type == "spAdvertisedProduct" and g_sum[0]:
                        yield from self._split_products(day, c, g, g_sum, ordinal)
                if report_type == "spCampaigns" and c_sum[0]:
                    yield day, c, tuple(c_sum)
            day += timedelta(days=1)

    @staticmethod
    def _split_terms(day, c, g, t, m, ordinal):
        impressions, clicks, cost, orders, units, sales = m
        if not clicks:
            return  # search-term rows only carry impressions that led to a click
        terms = t.terms
        h = _mix(t.seed ^ ordinal ^ 0x51A7)
        weights = [((h >> (5 * i)) & 31) + (3 if i == 0 else 0) for i in range(len(terms))]
        c_parts = _split(clicks, weights)
        i_parts = _split(impressions - clicks, weights)
        cost_parts = _split(cost, c_parts)
        o_parts = _split(orders, c_parts)
        u_parts = _split(units, o_parts) if orders else _split(units, c_parts)
        s_parts = _split(sales, u_parts)
        for k, term in enumerate(terms):
            if c_parts[k]:
                yield (
                    day,
                    (c, g, t, term),
                    (i_parts[k] + c_parts[k], c_parts[k], cost_parts[k], o_parts[k], u_parts[k], s_parts[k]),
                )

    @staticmethod
    def _split_products(day, c, g, m, ordinal):
        impressions, clicks, cost, orders, units, sales = m
        products = g.products
        weights = [((_mix(p.seed ^ ordinal) & 63) + 8) for p in products]
        c_parts = _split(clicks, weights)
        i_parts = _split(impressions - clicks, weights)
        cost_parts = _split(cost, c_parts) if clicks else [0] * len(products)
        o_parts = _split(orders, c_parts) if clicks else [0] * len(products)
        u_parts = _split(units, o_parts) if orders else _split(units, c_parts)
        s_parts = _split(sales, u_parts)
        for k, p in enumerate(products):
            if i_parts[k] + c_parts[k]:
                yield (
                    day,
                    (c, g, p),
                    (i_parts[k] + c_parts[k], c_parts[k], cost_parts[k], o_parts[k], u_parts[k], s_parts[k]),
                )

    def report_rows(
        self, profile_id, report_type: str, start: date, end: date, columns, restatement: int = 0
    ) -> Iterator[dict]:
        """Report rows as Amazon's v3 GZIP_JSON carries them: the requested columns, ids as JSON numbers.

        Columns another report type has (``searchTerm`` in spCampaigns, say) come out as null; the fake
        refuses such requests before they get here.
        """
        spec = self.account(profile_id).spec
        build = _row_builder(tuple(columns), spec.decimals, spec.currency)
        campaign_level = report_type == "spCampaigns"
        last_day, day_text = None, ""
        for day, ctx, m in self.iter_facts(profile_id, report_type, start, end, restatement):
            if day is not last_day:
                last_day, day_text = day, day.isoformat()
            if campaign_level:
                yield build(day_text, ctx, None, None, None, m)
            else:
                yield build(day_text, ctx[0], ctx[1], ctx[2], ctx[3] if len(ctx) == 4 else None, m)

    def totals(self, profile_id, report_type: str, start: date, end: date, restatement: int = 0) -> dict:
        """Row count and sums of a report, exactly (Decimal money), to check what a sync loaded."""
        rows = 0
        sums = [0, 0, 0, 0, 0, 0]
        for _day, _ctx, m in self.iter_facts(profile_id, report_type, start, end, restatement):
            rows += 1
            for i in range(6):
                sums[i] += m[i]
        return {
            "rows": rows,
            "impressions": sums[0],
            "clicks": sums[1],
            "cost": self.decimal(profile_id, sums[2]),
            "orders": sums[3],
            "units": sums[4],
            "sales": self.decimal(profile_id, sums[5]),
        }


# Report column -> Python expression over (day_text, c: Campaign, g: AdGroup, x: Target or Product, term,
# m: metrics tuple); MONEY(...) marks amounts in minor units. 1d/14d/30d windows are derived from 7d.
_COLUMN_EXPRESSIONS = {
    "date": "day_text",
    "startDate": "day_text",
    "endDate": "day_text",
    "campaignId": "c.id",
    "campaignName": "c.name",
    "campaignStatus": "c.state",
    "campaignBudgetAmount": "c.budget",
    "campaignBudgetType": "'DAILY'",
    "campaignBudgetCurrencyCode": "currency",
    "impressions": "m[0]",
    "clicks": "m[1]",
    "cost": "MONEY(m[2])",
    "spend": "MONEY(m[2])",
    "adGroupId": "g.id",
    "adGroupName": "g.name",
    "adId": "x.ad_id",
    "advertisedAsin": "x.asin",
    "advertisedSku": "x.sku",
    "keywordId": "x.id",
    "keyword": "x.text",
    "targeting": "x.text",
    "matchType": "x.match_type",
    "keywordType": "x.match_type",
    "keywordBid": "MONEY(x.bid)",
    "adKeywordStatus": "x.state",
    "searchTerm": "term",
}
for _name, _index, _money in (("purchases", 3, False), ("unitsSoldClicks", 4, False), ("sales", 5, True)):
    for _window, _expr in (
        ("1d", "m[{i}] - m[{i}] // 5"),
        ("7d", "m[{i}]"),
        ("14d", "m[{i}] + m[{i}] // 10"),
        ("30d", "m[{i}] + m[{i}] // 6"),
    ):
        _value = _expr.format(i=_index)
        _COLUMN_EXPRESSIONS[f"{_name}{_window}"] = f"MONEY({_value})" if _money else _value


@lru_cache(maxsize=64)
def _row_builder(columns: tuple[str, ...], decimals: int, currency: str):
    """A function making one report row as a dict literal of just ``columns`` (compiled once per report)."""
    items = []
    for column in columns:
        expression = _COLUMN_EXPRESSIONS.get(column, "None")
        if "MONEY(" in expression:
            inner = expression[len("MONEY(") : -1]
            expression = f"({inner})" if decimals == 0 else f"({inner}) / {10**decimals}"
        items.append(f"{column!r}: {expression}")
    source = f"lambda day_text, c, g, x, term, m: {{{', '.join(items)}}}"
    return eval(source, {"currency": currency})  # noqa: S307 - built only from the whitelist above
