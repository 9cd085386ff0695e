"""TikTok Ads rows -> our unified model: report rows to ``AdFact``, ``campaign/get`` and ``adgroup/get`` items
to the row dicts of ``campaigns.services``, ``advertiser/info`` items to ``DiscoveredAccount``.

Units. Report metrics arrive as **strings**: money with decimals (``"76.73"``), counts as integers or, in
older answers, as ``"116.0"``; ``"-"`` or ``""`` where a value does not apply. Money becomes ``Decimal`` of
that text, in the advertiser's currency (the row's ``currency`` attribute, else the account's). Ids arrive
as JSON numbers in report dimensions and as strings elsewhere: both become strings.

Days. ``stat_time_day`` (``"2025-10-17 00:00:00"``) is the advertiser's own day, in the time zone of the
advertiser account (``advertiser/info`` ``timezone``), which the connection keeps [S, bububa/tiktok-business:
report dates follow the advertiser's time zone].

Conversions. ``orders`` = ``complete_payment`` (website purchases, from the pixel) + ``onsite_shopping``
(TikTok Shop purchases); ``sales`` = ``total_complete_payment_rate`` (the website purchase *value*: the
name is misleading) + ``total_onsite_shopping_value``. The two are different events, so adding them counts
nothing twice. TikTok reports purchases, not units: ``units`` = ``orders``. Every conversion carries
``ATTRIBUTION_WINDOW``: TikTok's default attribution, 7-day click and 1-day view [U: no source confirmed
the default; an advertiser can change it in Events Manager, and the report API does not say which applied].

Grains. ``AUCTION_CAMPAIGN`` rows -> ``campaign``; ``AUCTION_ADGROUP`` -> ``ad_group``; ``AUCTION_AD`` ->
``target``, encoded as ``target_id`` = the ad id, ``target_text`` = the ad name, ``match_type`` = ``"AD"``.
Not ``product``: ``product_id`` holds a SKU or ASIN and product rows are joined to store sales by SKU, while
a TikTok ad is a creative (a Spark post, a video) that may show several products or none. ``target`` is our
"what served inside an ad group" grain, and ``match_type = "AD"`` keeps keyword tools (which look for EXACT,
PHRASE and BROAD) from ever taking an ad for a keyword.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from analytics.services import AdFact
from connectors.backends.base import DiscoveredAccount

CHANNEL = "tiktok_ads"
ATTRIBUTION_WINDOW = "7d_click+1d_view"
AD_MATCH_TYPE = "AD"
ZERO = Decimal(0)
GRAINS = {"AUCTION_CAMPAIGN": "campaign", "AUCTION_ADGROUP": "ad_group", "AUCTION_AD": "target"}


# --- values ---------------------------------------------------------------------------------------------


def money(value) -> Decimal:
    """``"76.73"`` -> ``Decimal("76.73")``; ``None``, ``""`` and ``"-"`` -> 0."""
    if value is None:
        return ZERO
    text = str(value).strip()
    if text in ("", "-"):
        return ZERO
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


def count(value) -> int:
    """``"10505"`` and ``"116.0"`` -> ``10505`` and ``116``; ``None``, ``""`` and ``"-"`` -> 0."""
    amount = money(value)
    if amount != amount.to_integral_value():
        raise ValueError(f"not a count: {value!r}")
    return int(amount)


def ident(value) -> str:
    return "" if value in (None, "", "-") else str(value)


def stat_day(value) -> date:
    """``"2025-10-17 00:00:00"`` (or ``"2025-10-17"``) -> ``date(2025, 10, 17)``."""
    return date.fromisoformat(str(value)[:10])


def time_zone(info: dict) -> str:
    for key in ("timezone", "display_timezone"):
        name = info.get(key) or ""
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return name
    return "UTC"


# --- accounts -------------------------------------------------------------------------------------------


def discovered_account(info: dict) -> DiscoveredAccount:
    """An ``advertiser/info/`` item -> one connection: the advertiser, its currency, time zone and country."""
    advertiser_id = str(info["advertiser_id"])
    return DiscoveredAccount(
        external_id=advertiser_id,
        name=info.get("name") or advertiser_id,
        currency=info.get("currency") or "",
        time_zone=time_zone(info),
        marketplace=info.get("country") or "",
        config={"company": info.get("company") or "", "status": info.get("status") or ""},
    )


# --- reports --------------------------------------------------------------------------------------------


def ad_facts(
    rows: Iterable[dict],
    *,
    level: str,
    account_id: str,
    marketplace: str,
    currency: str,
    source_ref: int,
) -> Iterator[AdFact]:
    """``AdFact`` for each flattened report row (``{**metrics, **dimensions}``, or a CSV line) of ``level``."""
    grain = GRAINS[level]
    days: dict[str, date] = {}
    for row in rows:
        day_text = row["stat_time_day"]
        day = days.get(day_text)
        if day is None:
            day = days[day_text] = stat_day(day_text)
        orders = count(row.get("complete_payment")) + count(row.get("onsite_shopping"))
        at_ad = grain == "target"
        yield AdFact(
            channel=CHANNEL,
            account_id=account_id,
            marketplace=marketplace,
            date=day,
            grain=grain,
            campaign_id=ident(row.get("campaign_id")),
            campaign_name=row.get("campaign_name") or "",
            ad_group_id="" if grain == "campaign" else ident(row.get("adgroup_id")),
            ad_group_name="" if grain == "campaign" else row.get("adgroup_name") or "",
            target_id=ident(row.get("ad_id")) if at_ad else "",
            target_text=(row.get("ad_name") or "") if at_ad else "",
            match_type=AD_MATCH_TYPE if at_ad else "",
            search_term="",
            product_id="",
            impressions=count(row.get("impressions")),
            clicks=count(row.get("clicks")),
            cost=money(row.get("spend")),
            orders=orders,
            units=orders,
            sales=money(row.get("total_complete_payment_rate")) + money(row.get("total_onsite_shopping_value")),
            currency=ident(row.get("currency")) or currency,
            attribution_window=ATTRIBUTION_WINDOW,
            source="api",
            source_ref=source_ref,
        )


def platform_totals(rows: Iterable[dict], *, start: date, end: date, currency: str) -> dict:
    """The advertiser's own totals (``AUCTION_ADVERTISER`` rows without the day) as JSON for reconciliation."""
    spend = sales = ZERO
    impressions = clicks = orders = 0
    for row in rows:
        spend += money(row.get("spend"))
        impressions += count(row.get("impressions"))
        clicks += count(row.get("clicks"))
        orders += count(row.get("complete_payment")) + count(row.get("onsite_shopping"))
        sales += money(row.get("total_complete_payment_rate")) + money(row.get("total_onsite_shopping_value"))
        currency = ident(row.get("currency")) or currency
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "currency": currency,
        "cost": str(spend),
        "impressions": impressions,
        "clicks": clicks,
        "orders": orders,
        "sales": str(sales),
        "attribution_window": ATTRIBUTION_WINDOW,
    }


# --- entities (campaigns.services row dicts) ------------------------------------------------------------


def _budget(item: dict) -> Decimal | None:
    if item.get("budget_mode") == "BUDGET_MODE_INFINITE":
        return None
    value = item.get("budget")
    return None if value in (None, "") else Decimal(str(value))


def campaign_row(item: dict) -> dict:
    return {
        "external_id": ident(item["campaign_id"]),
        "name": item.get("campaign_name") or "",
        "state": item.get("operation_status") or "",
        "targeting_type": item.get("objective_type") or "",
        "budget": _budget(item),
        "budget_type": item.get("budget_mode") or "",
        "portfolio": "",
    }


def ad_group_row(item: dict) -> dict:
    bid = item.get("bid_price")
    return {
        "campaign_external_id": ident(item["campaign_id"]),
        "external_id": ident(item["adgroup_id"]),
        "name": item.get("adgroup_name") or "",
        "state": item.get("operation_status") or "",
        "default_bid": Decimal(str(bid)) if bid not in (None, "", 0, 0.0) else None,
    }
