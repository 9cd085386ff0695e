"""Google Ads rows -> our unified model: GAQL report rows to ``AdFact``, entity rows to ``campaigns.services`` rows.

Units and types, as Google's REST JSON carries them:

- ids and int64 metrics arrive as strings (``"impressions": "2216"``) and become ``int`` (metrics) or ``str``
  (ids);
- ``costMicros`` (a string) is the cost in the account's currency times 1,000,000: ``cost`` is
  ``Decimal(micros) / 10**6``, rounded half up to the 4 decimals our column keeps; bids and budgets likewise;
- ``conversions`` is a double and may be **fractional**: data-driven attribution shares one purchase among
  the clicks that led to it (``1.37``). ``orders`` is each row's conversions rounded half up to a whole
  number, as our Google Ads file importer does. Summed over many small rows (search terms) these whole
  numbers drift from the fractional total; ``sales`` (``conversionsValue``, a double, in the account's
  currency) does not, and the run's platform totals keep the exact fractional conversions;
- Google reports no units: ``units`` is 0;
- ``segments.date`` is the account's own day (``customer.time_zone``), stored as it comes;
- the conversion columns count the conversion actions "included in Conversions", each over its click-through
  window (default 30 days, 1 to 90): ``attribution_window`` records the account's longest such window,
  e.g. ``30d click``.

Negative keywords: Google's criterion ids belong to a keyword (text and match type), so the same id recurs
in other ad groups and campaigns; our negatives are keyed ``<ad group id>~<criterion id>`` (ad group level)
and ``<campaign id>~<criterion id>`` (campaign level), the tails of Google's own resource names. Their match
types become ``NEGATIVE_EXACT``, ``NEGATIVE_PHRASE`` and ``NEGATIVE_BROAD``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from analytics.services import AdFact
from connectors.backends.base import DiscoveredAccount

CHANNEL = "google_ads"
DEFAULT_CONVERSION_WINDOW_DAYS = 30  # Google's default click-through conversion window
GRAINS = {"campaign": "campaign", "ad_group": "ad_group", "keyword_view": "target", "search_term_view": "search_term"}
QUANTUM = Decimal("0.0001")
ZERO = Decimal(0)
TEXT_MAX = 500
NAME_MAX = 255

# Country geo targets are 2000 + the ISO 3166-1 numeric code (geoTargetConstants/2840 is the United States).
# Marketplace codes follow our Amazon connectors: "UK" for the United Kingdom.
COUNTRY_BY_ISO_NUMERIC = {
    36: "AU", 40: "AT", 56: "BE", 76: "BR", 124: "CA", 156: "CN", 203: "CZ", 208: "DK", 246: "FI", 250: "FR",
    276: "DE", 344: "HK", 356: "IN", 360: "ID", 372: "IE", 376: "IL", 380: "IT", 392: "JP", 410: "KR", 458: "MY",
    484: "MX", 528: "NL", 554: "NZ", 578: "NO", 608: "PH", 616: "PL", 620: "PT", 682: "SA", 702: "SG", 710: "ZA",
    724: "ES", 752: "SE", 756: "CH", 764: "TH", 784: "AE", 792: "TR", 826: "UK", 840: "US", 704: "VN", 158: "TW",
}  # fmt: skip


# --- ids and accounts ------------------------------------------------------------------------------------------


def tail_id(resource_name: str | None) -> str:
    """The last id of a resource name: ``customers/1/adGroupCriteria/2~3`` -> ``3``; ``customers/7`` -> ``7``."""
    if not resource_name:
        return ""
    return str(resource_name).rsplit("/", 1)[-1].rsplit("~", 1)[-1]


def format_customer_id(customer_id) -> str:
    """``7214590386`` -> ``721-459-0386``, as the Google Ads interface shows it."""
    digits = str(customer_id)
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}" if len(digits) == 10 else digits


def country_of(geo_target_constant: str | None) -> str:
    """``geoTargetConstants/2826`` -> ``UK``; a region, a city or an unknown country -> ``""``."""
    try:
        geo = int(tail_id(geo_target_constant))
    except ValueError:
        return ""
    return COUNTRY_BY_ISO_NUMERIC.get(geo - 2000, "") if 2000 < geo < 3000 else ""


def main_country(rows: Iterable[dict]) -> str:
    """The country most of the account's live campaigns target (location criteria rows); ``""`` if none."""
    counts: Counter[str] = Counter()
    for row in rows:
        if (row.get("campaign") or {}).get("status") == "REMOVED":
            continue
        country = country_of(((row.get("campaignCriterion") or {}).get("location") or {}).get("geoTargetConstant"))
        if country:
            counts[country] += 1
    if not counts:
        return ""
    best = max(counts.values())
    return next(country for country, n in counts.items() if n == best)  # ties: the first seen


def discovered_account(
    customer: dict, *, login_customer_id: str = "", manager_name: str = "", country: str = ""
) -> DiscoveredAccount:
    """A ``customer`` (reached directly) or ``customerClient`` (reached through a manager) row's object."""
    customer_id = str(customer.get("id") or tail_id(customer.get("clientCustomer") or customer.get("resourceName")))
    config = {"customer_id": format_customer_id(customer_id), "login_customer_id": login_customer_id}
    if manager_name:
        config["manager_name"] = manager_name
    return DiscoveredAccount(
        external_id=customer_id,
        name=(customer.get("descriptiveName") or format_customer_id(customer_id))[:200],
        currency=customer.get("currencyCode") or "",
        time_zone=customer.get("timeZone") or "UTC",
        marketplace=country,
        region="",
        config=config,
    )


# --- conversions and totals ------------------------------------------------------------------------------------


def conversion_window_days(rows: Iterable[dict]) -> int:
    """The longest click-through window among the enabled conversion actions counted in Conversions."""
    windows = []
    for row in rows:
        action = row.get("conversionAction") or {}
        if action.get("status", "ENABLED") != "ENABLED" or not action.get("includeInConversionsMetric"):
            continue
        try:
            windows.append(int(action.get("clickThroughLookbackWindowDays")))
        except (TypeError, ValueError):
            continue
    return max(windows) if windows else DEFAULT_CONVERSION_WINDOW_DAYS


def attribution_window(days: int) -> str:
    return f"{int(days)}d click"


def micros(value) -> Decimal:
    """Micros (an int64 string) -> currency units, at our 4 decimals."""
    if value in (None, ""):
        return ZERO
    return (Decimal(int(value)) / 1_000_000).quantize(QUANTUM, rounding=ROUND_HALF_UP)


def micros_or_none(value) -> Decimal | None:
    return None if value in (None, "", "0", 0) else micros(value)


def money(value) -> Decimal:
    """A double amount (``conversionsValue``) -> Decimal through its shortest text, at our 4 decimals."""
    if value in (None, ""):
        return ZERO
    return Decimal(str(value)).quantize(QUANTUM, rounding=ROUND_HALF_UP)


def whole_orders(conversions) -> int:
    """Fractional conversions -> whole orders, rounded half up (2.5 -> 3, 0.49 -> 0)."""
    if conversions in (None, ""):
        return 0
    return int(Decimal(str(conversions)).to_integral_value(rounding=ROUND_HALF_UP))


def platform_totals(row: dict | None, *, start: date, end: date, currency: str, window: str) -> dict:
    """The account's own totals for the window (one ``FROM customer`` row) as plain JSON for the run."""
    metrics = (row or {}).get("metrics") or {}
    customer = (row or {}).get("customer") or {}
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "currency": customer.get("currencyCode") or currency,
        "impressions": int(metrics.get("impressions") or 0),
        "clicks": int(metrics.get("clicks") or 0),
        "cost": str(micros(metrics.get("costMicros"))),
        "conversions": str(Decimal(str(metrics.get("conversions") or 0))),
        "sales": str(money(metrics.get("conversionsValue"))),
        "attribution_window": window,
    }


# --- reports ---------------------------------------------------------------------------------------------------


def ad_facts(
    rows: Iterable[dict],
    *,
    resource: str,
    account_id: str,
    marketplace: str,
    currency: str,
    attribution_window: str,
    source_ref: int,
) -> Iterator[AdFact]:
    """``AdFact`` for each row of a daily report (campaign, ad_group, keyword_view, search_term_view)."""
    grain = GRAINS[resource]
    with_group = grain != "campaign"
    days: dict[str, date] = {}
    for row in rows:
        segments = row.get("segments") or {}
        day_text = segments["date"]
        day = days.get(day_text)
        if day is None:
            day = days[day_text] = date.fromisoformat(day_text)
        campaign = row.get("campaign") or {}
        ad_group = (row.get("adGroup") or {}) if with_group else {}
        metrics = row.get("metrics") or {}
        target_id = target_text = match_type = search_term = ""
        if grain == "target":
            criterion = row.get("adGroupCriterion") or {}
            keyword = criterion.get("keyword") or {}
            target_id = str(criterion.get("criterionId") or "")
            target_text, match_type = keyword.get("text") or "", keyword.get("matchType") or ""
        elif grain == "search_term":
            keyword = segments.get("keyword") or {}  # absent for Shopping: no keyword matched the search
            info = keyword.get("info") or {}
            target_id = tail_id(keyword.get("adGroupCriterion"))
            target_text, match_type = info.get("text") or "", info.get("matchType") or ""
            search_term = ((row.get("searchTermView") or {}).get("searchTerm") or "")[:TEXT_MAX]
        yield AdFact(
            channel=CHANNEL,
            account_id=account_id,
            marketplace=marketplace,
            date=day,
            grain=grain,
            campaign_id=str(campaign.get("id") or ""),
            campaign_name=(campaign.get("name") or "")[:NAME_MAX],
            ad_group_id=str(ad_group.get("id") or ""),
            ad_group_name=(ad_group.get("name") or "")[:NAME_MAX],
            target_id=target_id,
            target_text=target_text[:TEXT_MAX],
            match_type=match_type,
            search_term=search_term,
            product_id="",
            impressions=int(metrics.get("impressions") or 0),
            clicks=int(metrics.get("clicks") or 0),
            cost=micros(metrics.get("costMicros")),
            orders=whole_orders(metrics.get("conversions")),
            units=0,
            sales=money(metrics.get("conversionsValue")),
            currency=currency,
            attribution_window=attribution_window,
            source="api",
            source_ref=source_ref,
        )


# --- entities (campaigns.services row dicts) -------------------------------------------------------------------


def campaign_row(row: dict) -> dict:
    campaign = row.get("campaign") or {}
    budget = row.get("campaignBudget") or {}
    return {
        "external_id": str(campaign["id"]),
        "name": (campaign.get("name") or "")[:NAME_MAX],
        "state": campaign.get("status") or "",
        "targeting_type": campaign.get("advertisingChannelType") or "",
        "budget": micros_or_none(budget.get("amountMicros")),
        "budget_type": budget.get("period") or "",
        "portfolio": "",
    }


def ad_group_row(row: dict) -> dict:
    ad_group = row.get("adGroup") or {}
    return {
        "campaign_external_id": str((row.get("campaign") or {})["id"]),
        "external_id": str(ad_group["id"]),
        "name": (ad_group.get("name") or "")[:NAME_MAX],
        "state": ad_group.get("status") or "",
        "default_bid": micros_or_none(ad_group.get("cpcBidMicros")),
    }


def keyword_row(row: dict) -> dict:
    """A positive keyword. Its bid is its own ``cpcBidMicros``, else the one it inherits from its ad group."""
    criterion = row.get("adGroupCriterion") or {}
    keyword = criterion.get("keyword") or {}
    return {
        "ad_group_external_id": str((row.get("adGroup") or {})["id"]),
        "external_id": str(criterion["criterionId"]),
        "text": (keyword.get("text") or "")[:TEXT_MAX],
        "match_type": keyword.get("matchType") or "",
        "bid": micros_or_none(criterion.get("cpcBidMicros")) or micros_or_none(criterion.get("effectiveCpcBidMicros")),
        "state": criterion.get("status") or "",
    }


def _negative_match(match_type: str | None) -> str:
    return f"NEGATIVE_{match_type}" if match_type else ""


def ad_group_negative_row(row: dict) -> dict:
    criterion = row.get("adGroupCriterion") or {}
    keyword = criterion.get("keyword") or {}
    ad_group_id = str((row.get("adGroup") or {})["id"])
    return {
        "campaign_external_id": str((row.get("campaign") or {})["id"]),
        "ad_group_external_id": ad_group_id,
        "external_id": f"{ad_group_id}~{criterion['criterionId']}",
        "text": (keyword.get("text") or "")[:TEXT_MAX],
        "match_type": _negative_match(keyword.get("matchType")),
        "state": criterion.get("status") or "",
    }


def campaign_negative_row(row: dict) -> dict:
    criterion = row.get("campaignCriterion") or {}
    keyword = criterion.get("keyword") or {}
    campaign_id = str((row.get("campaign") or {})["id"])
    return {
        "campaign_external_id": campaign_id,
        "ad_group_external_id": "",
        "external_id": f"{campaign_id}~{criterion['criterionId']}",
        "text": (keyword.get("text") or "")[:TEXT_MAX],
        "match_type": _negative_match(keyword.get("matchType")),
        "state": criterion.get("status") or "",
    }
