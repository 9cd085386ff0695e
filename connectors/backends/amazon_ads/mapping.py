"""Amazon Ads rows -> our unified model: v3 report rows to ``AdFact``, SP v3 list items to entity row dicts.

Report ids arrive as JSON numbers and list ids as strings: both become strings. Money arrives as JSON
numbers in the campaign's currency and becomes ``Decimal(str(x))`` (the shortest text of the number, so
``14.5`` is ``Decimal("14.5")``, never a binary fraction). Conversions use the 7-day click window that
Amazon's console uses for Sponsored Products: orders = purchases7d, units = unitsSoldClicks7d,
sales = sales7d.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal

from analytics.services import AdFact
from connectors.backends.base import DiscoveredAccount

CHANNEL = "amazon_ads"
ATTRIBUTION_WINDOW = "7d"
ZERO = Decimal(0)

REGIONS = {
    "NA": {"US", "CA", "MX", "BR"},
    "EU": {"UK", "GB", "FR", "IT", "ES", "DE", "NL", "AE", "PL", "TR", "EG", "SA", "SE", "BE", "IN", "ZA"},
    "FE": {"JP", "AU", "SG"},
}
REGION_BY_COUNTRY = {country: region for region, countries in REGIONS.items() for country in countries}

GRAINS = {
    "spCampaigns": "campaign",
    "spTargeting": "target",
    "spSearchTerm": "search_term",
    "spAdvertisedProduct": "product",
}

# SP v3 targeting-clause expression types -> the text reports show for them.
EXPRESSION_TEXT = {
    "QUERY_HIGH_REL_MATCHES": "close-match",
    "QUERY_BROAD_REL_MATCHES": "loose-match",
    "ASIN_SUBSTITUTE_RELATED": "substitutes",
    "ASIN_ACCESSORY_RELATED": "complements",
    "ASIN_SAME_AS": "asin",
    "ASIN_EXPANDED_FROM": "asin-expanded",
    "ASIN_CATEGORY_SAME_AS": "category",
    "ASIN_BRAND_SAME_AS": "brand",
}


def region_of(country_code: str) -> str:
    return REGION_BY_COUNTRY.get((country_code or "").upper(), "NA")


def discovered_account(profile: dict) -> DiscoveredAccount:
    info = profile.get("accountInfo") or {}
    country = profile.get("countryCode", "")
    return DiscoveredAccount(
        external_id=str(profile["profileId"]),
        name=f"{info.get('name') or profile['profileId']} {country}".strip(),
        currency=profile.get("currencyCode", ""),
        time_zone=profile.get("timezone") or "UTC",
        marketplace=country,
        region=region_of(country),
        config={
            "marketplace_id": info.get("marketplaceStringId", ""),
            "account_id": info.get("id", ""),
            "account_type": info.get("type", ""),
        },
    )


def is_seller(profile: dict) -> bool:
    return (profile.get("accountInfo") or {}).get("type") == "seller"


# --- reports -------------------------------------------------------------------------------------------


def _id(value) -> str:
    return "" if value is None else str(value)


def _money(value) -> Decimal:
    return ZERO if value is None else Decimal(str(value))


def ad_facts(
    rows: Iterable[dict],
    *,
    report_type: str,
    account_id: str,
    marketplace: str,
    currency: str,
    source_ref: int,
) -> Iterator[AdFact]:
    """``AdFact`` for each row of a v3 SP report (spCampaigns, spTargeting, spSearchTerm, spAdvertisedProduct)."""
    grain = GRAINS[report_type]
    at_campaign = grain == "campaign"
    with_target = grain in ("target", "search_term")
    days: dict[str, date] = {}
    for row in rows:
        day_text = row["date"]
        day = days.get(day_text)
        if day is None:
            day = days[day_text] = date.fromisoformat(day_text)
        if with_target:
            target_id = _id(row.get("keywordId"))
            target_text = row.get("keyword") or row.get("targeting") or ""
            match_type = row.get("matchType") or ""
        else:
            target_id = target_text = match_type = ""
        yield AdFact(
            channel=CHANNEL,
            account_id=account_id,
            marketplace=marketplace,
            date=day,
            grain=grain,
            campaign_id=_id(row.get("campaignId")),
            campaign_name=row.get("campaignName") or "",
            ad_group_id="" if at_campaign else _id(row.get("adGroupId")),
            ad_group_name="" if at_campaign else row.get("adGroupName") or "",
            target_id=target_id,
            target_text=target_text,
            match_type=match_type,
            search_term=(row.get("searchTerm") or "") if grain == "search_term" else "",
            product_id=(row.get("advertisedSku") or row.get("advertisedAsin") or "") if grain == "product" else "",
            impressions=int(row.get("impressions") or 0),
            clicks=int(row.get("clicks") or 0),
            cost=_money(row.get("cost")),
            orders=int(row.get("purchases7d") or 0),
            units=int(row.get("unitsSoldClicks7d") or 0),
            sales=_money(row.get("sales7d")),
            currency=row.get("campaignBudgetCurrencyCode") or currency,
            attribution_window=ATTRIBUTION_WINDOW,
            source="api",
            source_ref=source_ref,
        )


def platform_totals(
    rows: Iterable[dict], *, start: date, end: date, currency: str, time_zone: str, window: str
) -> dict:
    """A campaigns SUMMARY report's rows summed into the JSON ``SyncContext.record_platform_totals`` keeps:
    the profile's own totals of ``start``..``end``, conversions at ``window``; money as decimal strings."""
    impressions = clicks = orders = 0
    cost = sales = ZERO
    currencies: set[str] = set()
    for row in rows:
        impressions += int(row.get("impressions") or 0)
        clicks += int(row.get("clicks") or 0)
        cost += _money(row.get("cost"))
        orders += int(row.get(f"purchases{window}") or 0)
        sales += _money(row.get(f"sales{window}"))
        if row.get("campaignBudgetCurrencyCode"):
            currencies.add(row["campaignBudgetCurrencyCode"])
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "currency": ", ".join(sorted(currencies)) or currency,
        "time_zone": time_zone,
        "impressions": impressions,
        "clicks": clicks,
        "cost": str(cost),
        "orders": orders,
        "sales": str(sales),
        "attribution_window": window,
    }


# --- entities (campaigns.services row dicts) ------------------------------------------------------------


def _decimal_or_none(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def campaign_row(item: dict) -> dict:
    budget = item.get("budget") or {}
    return {
        "external_id": _id(item["campaignId"]),
        "name": item.get("name", ""),
        "state": item.get("state", ""),
        "targeting_type": item.get("targetingType", ""),
        "budget": _decimal_or_none(budget.get("budget")),
        "budget_type": budget.get("budgetType", ""),
        "portfolio": _id(item.get("portfolioId")),
    }


def ad_group_row(item: dict) -> dict:
    return {
        "campaign_external_id": _id(item["campaignId"]),
        "external_id": _id(item["adGroupId"]),
        "name": item.get("name", ""),
        "state": item.get("state", ""),
        "default_bid": _decimal_or_none(item.get("defaultBid")),
    }


def keyword_row(item: dict) -> dict:
    return {
        "ad_group_external_id": _id(item["adGroupId"]),
        "external_id": _id(item["keywordId"]),
        "text": item.get("keywordText", ""),
        "match_type": item.get("matchType", ""),
        "bid": _decimal_or_none(item.get("bid")),
        "state": item.get("state", ""),
    }


def expression_text(expression: list[dict] | None) -> str:
    """A targeting expression as reports render it: ``close-match``, ``asin="B0..."``, ``category="123"``."""
    parts = []
    for term in expression or []:
        name = EXPRESSION_TEXT.get(term.get("type", ""), term.get("type", "").lower())
        value = term.get("value")
        parts.append(f'{name}="{value}"' if value not in (None, "") else name)
    return " ".join(parts)


def target_row(item: dict) -> dict:
    auto = item.get("expressionType") == "AUTO"
    return {
        "ad_group_external_id": _id(item["adGroupId"]),
        "external_id": _id(item["targetId"]),
        "text": expression_text(item.get("resolvedExpression") or item.get("expression")),
        "match_type": "TARGETING_EXPRESSION_PREDEFINED" if auto else "TARGETING_EXPRESSION",
        "bid": _decimal_or_none(item.get("bid")),
        "state": item.get("state", ""),
    }


def negative_keyword_row(item: dict) -> dict:
    """Ad-group negatives and campaign negatives (no ``adGroupId``) alike."""
    return {
        "campaign_external_id": _id(item["campaignId"]),
        "ad_group_external_id": _id(item.get("adGroupId")),
        "external_id": _id(item["keywordId"]),
        "text": item.get("keywordText", ""),
        "match_type": item.get("matchType", ""),
        "state": item.get("state", ""),
    }


def product_ad_row(item: dict) -> dict:
    return {
        "ad_group_external_id": _id(item["adGroupId"]),
        "external_id": _id(item["adId"]),
        "sku": item.get("sku") or "",
        "asin": item.get("asin") or "",
        "state": item.get("state", ""),
    }
