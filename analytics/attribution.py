"""Multi-touch attribution over the touchpoints a store gives us, and where a touch came from.

Pure functions, no database. A journey is the ordered touches (visits) before one order, and the order's
value; a model says which share of the value each touch earns:

- first click: all to the first touch; last click: all to the last;
- linear: equal shares;
- time decay: weight 2^(-(t_order - t_touch) / half_life) (half-life 7 days unless given), normalised;
- position based (U-shape): 40 % first, 40 % last, 20 % shared by the touches between; one touch 100 %,
  two touches 50/50.

Shares are summed per traffic source, and the value is split in exact ``Decimal``: the credits add up to the
value to the last digit, the rounding remainder going to the largest share (the first of equal ones). A
journey without touches is credited to "direct / none".

What the data can tell: Shopify keeps two visits per order (the first and the last before it) with their
times, so the multi-touch models work over at most two touches; a touch without a time (other stores,
older orders) counts as made at the order, where time decay weighs like linear. Marketplaces
(Amazon, Shopee, TikTok Shop, eBay) give no journey at all: their orders are not attributed here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from django.utils.translation import gettext_lazy as _

_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
CENT = Decimal("0.01")
DEFAULT_HALF_LIFE = timedelta(days=7)

FIRST_CLICK, LAST_CLICK, LINEAR, TIME_DECAY, POSITION_BASED = (
    "first_click",
    "last_click",
    "linear",
    "time_decay",
    "position_based",
)
MODELS = {
    LAST_CLICK: _("Last click"),
    FIRST_CLICK: _("First click"),
    LINEAR: _("Linear"),
    TIME_DECAY: _("Time decay"),
    POSITION_BASED: _("Position based (40/20/40)"),
}
DEFAULT_MODEL = LAST_CLICK

# --- traffic sources ----------------------------------------------------------------------------------------

GOOGLE_ADS, META, TIKTOK_ADS, OTHER_PAID = "google_ads", "meta", "tiktok_ads", "other_paid"
EMAIL, ORGANIC_SEARCH, ORGANIC_SOCIAL, REFERRAL, DIRECT = (
    "email",
    "organic_search",
    "organic_social",
    "referral",
    "direct",
)
MARKETPLACE = "marketplace"

SOURCES = {
    GOOGLE_ADS: _("Google Ads"),
    META: _("Meta (Facebook / Instagram)"),
    TIKTOK_ADS: _("TikTok Ads"),
    OTHER_PAID: _("Other paid"),
    EMAIL: _("Email"),
    ORGANIC_SEARCH: _("Organic search"),
    ORGANIC_SOCIAL: _("Organic social"),
    REFERRAL: _("Referral"),
    DIRECT: _("Direct / none"),
    MARKETPLACE: _("Marketplace (no journey data)"),
}

PAID_MEDIUMS = {
    "cpc", "ppc", "cpm", "cpv", "cpa", "paid", "paidsearch", "paid_search", "paid-search", "paidsocial",
    "paid_social", "paid-social", "social_paid", "sem", "display", "ads", "ad", "retargeting", "shopping",
}  # fmt: skip
ORGANIC_MEDIUMS = {"organic", "social", "organic_social", "organic-social", "referral", "bio", "post", "profile"}
EMAIL_SOURCES = {"email", "klaviyo", "mailchimp", "omnisend", "newsletter", "sendinblue", "brevo", "shopify_email"}
GOOGLE_SOURCES = {"google", "adwords", "googleads", "google_ads", "youtube"}
META_SOURCES = {"facebook", "fb", "instagram", "ig", "meta", "messenger", "an", "audience_network", "threads"}
TIKTOK_SOURCES = {"tiktok", "tiktok_ads", "tt"}
SEARCH_ENGINES = {
    "google",
    "bing",
    "yahoo",
    "duckduckgo",
    "baidu",
    "yandex",
    "naver",
    "ecosia",
    "sogou",
    "so",
    "seznam",
}
SOCIAL_SITES = {
    "facebook", "instagram", "tiktok", "t", "twitter", "x", "pinterest", "youtube", "reddit", "linkedin",
    "threads", "snapchat", "weibo", "xiaohongshu", "douyin", "lnkd", "fb",
}  # fmt: skip
AD_PLATFORM_SOURCES = {
    **dict.fromkeys(GOOGLE_SOURCES, GOOGLE_ADS),
    **dict.fromkeys(META_SOURCES, META),
    **dict.fromkeys(TIKTOK_SOURCES, TIKTOK_ADS),
}
SECOND_LEVEL = {"co", "com", "net", "org", "gov", "ac", "ne", "or", "go"}  # google.co.uk, yahoo.co.jp
NONE_NAMES = {"direct", "(direct)", "none", "(none)", "(not set)"}
# Click ids the ad platforms append to landing URLs: a paid click even without UTM tags.
CLICK_IDS = {
    "gclid": GOOGLE_ADS,
    "gbraid": GOOGLE_ADS,
    "wbraid": GOOGLE_ADS,
    "ttclid": TIKTOK_ADS,
    "msclkid": OTHER_PAID,
}
# Marketplace sales platforms: their orders carry no visit or UTM data.
MARKETPLACE_PLATFORMS = {"amazon_sp", "shopee", "tiktok_shop", "ebay"}


@dataclass(frozen=True, slots=True)
class Touch:
    """One visit before an order: its UTM source / medium / campaign, the referring URL and landing page, the
    store's own name for where the visit came from (``label``: Shopify's visit ``source``), and when it
    happened if the store says."""

    source: str = ""
    medium: str = ""
    campaign: str = ""
    referrer: str = ""
    landing_page: str = ""
    label: str = ""
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Journey:
    value: Decimal
    converted_at: datetime
    touches: tuple[Touch, ...] = ()


def _host(url: str) -> str:
    return (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower()


def _site(url: str) -> str:
    """The name a URL's host is known by: ``https://l.facebook.com/x`` -> ``facebook``, ``www.google.co.uk``
    -> ``google``, ``t.co`` -> ``t``."""
    parts = [part for part in _host(url).split(".") if part]
    if len(parts) > 1:
        parts.pop()  # the top-level domain
        if len(parts) > 1 and parts[-1] in SECOND_LEVEL:
            parts.pop()
    return parts[-1] if parts else ""


def _by_name(name: str) -> str | None:
    if name in SEARCH_ENGINES:
        return ORGANIC_SEARCH
    if name in SOCIAL_SITES or name in AD_PLATFORM_SOURCES:
        return ORGANIC_SOCIAL
    return None


@lru_cache(maxsize=4096)
def traffic_source(touch: Touch) -> str:
    """The traffic source of a touch, one of ``SOURCES``.

    UTM tags come first: an email medium or an email tool as the source is Email; Google, Meta or TikTok as
    the source is that ad channel unless the medium says organic (sellers tag their ads; a post tagged
    ``social`` is organic); any other source with a paid medium (cpc, paid_social ...) is Other paid. Then a
    platform's click id on the landing page (gclid, ttclid ...) is a paid click. Without those the referrer
    decides: a search engine is Organic search, a social site Organic social, another site Referral (the shop
    referring to itself counts as none). Then the store's own label, and with nothing at all: Direct.
    """
    source, medium = touch.source.strip().lower(), touch.medium.strip().lower()
    if medium == "email" or source in EMAIL_SOURCES:
        return EMAIL
    if source in AD_PLATFORM_SOURCES:
        if medium not in ORGANIC_MEDIUMS:
            return AD_PLATFORM_SOURCES[source]
        return ORGANIC_SEARCH if source in SEARCH_ENGINES else ORGANIC_SOCIAL
    if source and medium in PAID_MEDIUMS:
        return OTHER_PAID
    if touch.landing_page:
        params = parse_qs(urlsplit(touch.landing_page).query)
        for click_id, channel in CLICK_IDS.items():
            if params.get(click_id):
                return channel
    if touch.referrer and not (touch.landing_page and _host(touch.referrer) == _host(touch.landing_page)):
        site = _site(touch.referrer)
        if site:
            return _by_name(site) or REFERRAL
    if source and source not in NONE_NAMES:
        return _by_name(source) or REFERRAL
    label = touch.label.strip().lower()
    if label in EMAIL_SOURCES:
        return EMAIL
    if label and label not in NONE_NAMES:
        return _by_name(label) or REFERRAL
    return DIRECT


def source_label(key: str) -> str:
    return str(SOURCES.get(key, key))


# --- journeys from stored orders ------------------------------------------------------------------------------


def _parse_time(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _utm_from_url(url: str) -> dict[str, str]:
    params = parse_qs(urlsplit(url).query) if url and "utm_" in url else {}
    return {key: (params.get(f"utm_{key}") or [""])[0] for key in ("source", "medium", "campaign")}


def _visit_touch(visit: Mapping) -> Touch:
    """A visit as ``connectors.backends.shopify.mapping`` stores it: ``source`` (Shopify's label),
    ``landing_page``, ``referrer``, ``utm`` {source, medium, campaign, ...}, and ``occurred_at`` if known."""
    utm = visit.get("utm") or {}
    landing = str(visit.get("landing_page") or "")
    from_url = _utm_from_url(landing) if not (utm.get("source") and utm.get("medium")) else {}
    return Touch(
        source=str(utm.get("source") or from_url.get("source") or ""),
        medium=str(utm.get("medium") or from_url.get("medium") or ""),
        campaign=str(utm.get("campaign") or from_url.get("campaign") or ""),
        referrer=str(visit.get("referrer") or ""),
        landing_page=landing,
        label=str(visit.get("source") or ""),
        at=_parse_time(visit.get("occurred_at")),
    )


def journey_from_order(
    *, platform: str, ordered_at: datetime, value: Decimal, landing_site: str, referrer: str, attribution: Mapping
) -> Journey | None:
    """The journey a stored order tells, or ``None`` for a marketplace order (no journey data at all).

    Shopify's first and last visit are two touches; when both are the same visit (a one-visit journey,
    which Shopify reports as the same first and last visit) they are one. Other stores give at most a
    landing page and a referrer: one touch. An online order with nothing is a journey without touches.
    """
    if platform in MARKETPLACE_PLATFORMS:
        return None
    attribution = attribution if isinstance(attribution, Mapping) else {}
    touches: list[Touch] = []
    for key in ("first_visit", "last_visit"):
        visit = attribution.get(key)
        if isinstance(visit, Mapping):
            touch = _visit_touch(visit)
            if not touches or touch != touches[-1]:
                touches.append(touch)
    if not touches and (landing_site or referrer):
        utm = _utm_from_url(landing_site)
        touches.append(
            Touch(
                utm["source"], utm["medium"], utm["campaign"], referrer=referrer or "", landing_page=landing_site or ""
            )
        )
    return Journey(value=value, converted_at=ordered_at, touches=tuple(touches))


# --- models -----------------------------------------------------------------------------------------------------


def touch_ages(journey: Journey) -> tuple[timedelta | None, ...]:
    """How long before the order each touch was made; ``None`` where the store gives no time."""
    return tuple(
        max(timedelta(0), journey.converted_at - touch.at) if touch.at is not None else None
        for touch in journey.touches
    )


def weights(model: str, ages: Sequence[timedelta | None], *, half_life=DEFAULT_HALF_LIFE) -> list[Decimal]:
    """Each touch's share under ``model``, for touches made ``ages`` before the order (first touch first;
    only time decay reads the ages, a ``None`` age counting as 0). Unrounded; they add up to 1 within 28
    significant digits."""
    n = len(ages)
    if model not in MODELS:
        raise ValueError(f"unknown attribution model {model!r}")
    if n == 0:
        return []
    if model == FIRST_CLICK:
        return [Decimal(1)] + [Decimal(0)] * (n - 1)
    if model == LAST_CLICK:
        return [Decimal(0)] * (n - 1) + [Decimal(1)]
    if model == LINEAR:
        return [_CONTEXT.divide(1, n)] * n
    if model == POSITION_BASED:
        if n == 1:
            return [Decimal(1)]
        if n == 2:
            return [Decimal("0.5"), Decimal("0.5")]
        middle = _CONTEXT.divide(Decimal("0.2"), n - 2)
        return [Decimal("0.4")] + [middle] * (n - 2) + [Decimal("0.4")]
    # time decay: 2 ** -(age / half-life)
    half_life_seconds = Decimal(str(half_life.total_seconds()))
    raw = [
        _CONTEXT.power(
            Decimal(2), _CONTEXT.divide(-Decimal(str((age or timedelta(0)).total_seconds())), half_life_seconds)
        )
        for age in ages
    ]
    total = sum(raw, Decimal(0))
    return [_CONTEXT.divide(weight, total) for weight in raw]


def shares(
    model: str, keys: Sequence[str], ages: Sequence[timedelta | None] | None = None, *, half_life=DEFAULT_HALF_LIFE
) -> dict[str, Decimal]:
    """The model's shares summed per channel key (``keys``: one per touch, first touch first), in order of
    first appearance; keys without a share are left out. No touches: everything to Direct / none."""
    if not keys:
        return {DIRECT: Decimal(1)}
    ages = ages if ages is not None else (None,) * len(keys)
    result: dict[str, Decimal] = {}
    for channel, weight in zip(keys, weights(model, ages, half_life=half_life), strict=True):
        result[channel] = result.get(channel, Decimal(0)) + weight
    return {channel: weight for channel, weight in result.items() if weight}


def split(value: Decimal, parts: Mapping[str, Decimal], *, places: Decimal = CENT) -> dict[str, Decimal]:
    """``value`` split by ``parts`` (shares adding up to 1), each rounded to ``places`` (or to the value's
    own finer precision), the remainder added to the largest share (the first of equal ones), so the
    credits add up to ``value`` exactly."""
    value = Decimal(value)
    if not parts:
        return {}
    exponent = value.as_tuple().exponent
    quantum = places if not isinstance(exponent, int) else min(places, Decimal(1).scaleb(min(exponent, 0)))
    credits = {
        k: _CONTEXT.multiply(value, share).quantize(quantum, rounding=ROUND_HALF_EVEN) for k, share in parts.items()
    }
    remainder = value - sum(credits.values(), Decimal(0))
    if remainder:
        largest = max(parts, key=lambda k: (parts[k], -list(parts).index(k)))
        credits[largest] += remainder
    return credits


def attribute(
    journey: Journey,
    model: str,
    *,
    half_life=DEFAULT_HALF_LIFE,
    key: Callable[[Touch], str] = traffic_source,
    places: Decimal = CENT,
) -> dict[str, Decimal]:
    """Credit per channel key for one journey under ``model``, adding up exactly to ``journey.value``."""
    keys = [key(touch) for touch in journey.touches]
    parts = shares(model, keys, touch_ages(journey), half_life=half_life)
    return split(journey.value, parts, places=places)
