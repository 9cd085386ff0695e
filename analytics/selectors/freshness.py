"""How fresh and how final the numbers are: the data sources, the days still provisional, and one source's
own totals for reconciling a sync window with what the platform reported."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import connection

from accounts.models import Organization
from analytics.models import AdPerformanceDaily, DataSource, StoreOrder
from analytics.rollups import GRAIN_RANK_SQL

# Sales platforms whose facts carry their platform key (StoreSalesDaily / StoreOrder.platform).
SALES_PLATFORMS = frozenset({"amazon_sp", "shopify", "shopee", "tiktok_shop", "ebay"})


def data_sources(*, organization: Organization) -> list[DataSource]:
    return list(DataSource.unscoped_objects.filter(organization=organization).order_by("platform", "label", "pk"))


def provisional_since(*, organization: Organization, today: date) -> dict[str, date]:
    """The first provisional day per ad channel (``amazon_ads``, ``meta``, ...) and per sales platform
    (``amazon_sp``, ``shopee``, ...): ``today - restatement_days + 1`` of the sources behind that key.

    Where several sources feed one key, the longest restatement window counts (a day is provisional while any
    of them may still restate it). Sources without a restatement window (file imports) add nothing; a key
    missing from the result has no provisional days. One query.
    """
    since: dict[str, date] = {}
    rows = (
        DataSource.unscoped_objects.filter(organization=organization, restatement_days__gt=0)
        .values_list("channel", "platform", "restatement_days")
        .order_by()
    )
    for channel, platform, days in rows:
        first = today - timedelta(days=days - 1)
        keys = [channel] if channel else []
        if platform in SALES_PLATFORMS:
            keys.append(platform)
        for key in keys:
            if key not in since or first < since[key]:
                since[key] = first
    return since


def is_provisional(since: dict[str, date], key: str, day: date) -> bool:
    """Whether ``day`` of a channel or sales platform ``key`` may still change (``since`` from
    ``provisional_since``)."""
    first = since.get(key)
    return first is not None and day >= first


# --- one source's totals, for reconciliation ------------------------------------------------------------

_AD_DAILY_SQL = f"""
WITH g AS (
    SELECT date, campaign_id, currency, attribution_window, {GRAIN_RANK_SQL} AS grain_rank,
           sum(impressions) AS impressions, sum(clicks) AS clicks, sum(cost) AS cost,
           sum(orders) AS orders, sum(units) AS units, sum(sales) AS sales
    FROM {AdPerformanceDaily._meta.db_table}
    WHERE organization_id = %(org)s AND source = %(source)s AND source_ref = %(ref)s
      AND date BETWEEN %(start)s AND %(end)s
    GROUP BY 1, 2, 3, 4, 5
), ranked AS (
    SELECT g.*, min(grain_rank) OVER (PARTITION BY date, campaign_id) AS best FROM g
)
SELECT date, currency, max(attribution_window), sum(impressions), sum(clicks), sum(cost),
       sum(orders), sum(units), sum(sales)
FROM ranked
WHERE grain_rank = best
GROUP BY date, currency
ORDER BY date, currency
"""

_ORDER_DAILY_SQL = f"""
SELECT date, currency, count(*), sum(units), sum(total), sum(refunded)
FROM {StoreOrder._meta.db_table}
WHERE organization_id = %(org)s AND source_ref = %(ref)s AND date BETWEEN %(start)s AND %(end)s
GROUP BY date, currency
ORDER BY date, currency
"""

AD_METRICS = ("impressions", "clicks", "cost", "orders", "units", "sales")
ORDER_METRICS = ("orders", "units", "total", "refunded")
MONEY_METRICS = frozenset({"cost", "sales", "total", "refunded"})


def source_daily_totals(
    *, organization: Organization, source_ref: int, start: date, end: date, source: str = "api"
) -> dict[str, list[dict]]:
    """One source's facts per day and currency, ``start``..``end``: ``{"ads": [...], "orders": [...]}``.

    Ads are summed like the rollups sum them (per day and campaign, the coarsest grain the source has), so
    "ours" is what the dashboards show for that source. Orders are the stored orders by the day they were
    placed. Two queries, whatever the span; a reconciliation panel asks once for all its windows.
    """
    params = {"org": organization.pk, "source": source, "ref": source_ref, "start": start, "end": end}
    result: dict[str, list[dict]] = {"ads": [], "orders": []}
    with connection.cursor() as cursor:
        cursor.execute(_AD_DAILY_SQL, params)
        for day, currency, window, *values in cursor.fetchall():
            result["ads"].append(
                {
                    "date": day,
                    "currency": currency,
                    "attribution_window": window,
                    **dict(zip(AD_METRICS, values, strict=True)),
                }
            )
        if source == "api":
            cursor.execute(_ORDER_DAILY_SQL, params)
            for day, currency, *values in cursor.fetchall():
                result["orders"].append(
                    {"date": day, "currency": currency, **dict(zip(ORDER_METRICS, values, strict=True))}
                )
    return result


def sum_window(daily: dict[str, list[dict]], start: date, end: date) -> dict[str, dict]:
    """Sum ``source_daily_totals`` rows of ``start``..``end``: ``{"ads": {...}, "orders": {...}}``, each with
    its metrics, ``currencies`` (sorted) and, for ads, ``attribution_windows``; counts are ints, money Decimal."""
    totals = {}
    for kind, metrics in (("ads", AD_METRICS), ("orders", ORDER_METRICS)):
        sums = dict.fromkeys(metrics, 0)
        currencies, windows, days = set(), set(), set()
        for row in daily.get(kind, ()):
            if start <= row["date"] <= end:
                for name in metrics:
                    sums[name] += row[name] or 0
                currencies.add(row["currency"])
                days.add(row["date"])
                if row.get("attribution_window"):
                    windows.add(row["attribution_window"])
        for name in metrics:  # SQL sums of bigints come back as numeric
            sums[name] = Decimal(sums[name]) if name in MONEY_METRICS else int(sums[name])
        totals[kind] = {
            **sums,
            "currencies": sorted(currencies),
            "attribution_windows": sorted(windows),
            "days": len(days),
        }
    return totals


def source_totals(
    *, organization: Organization, source_ref: int, start: date, end: date, source: str = "api"
) -> dict[str, dict]:
    """One source's totals for one window (see ``source_daily_totals`` and ``sum_window``)."""
    daily = source_daily_totals(organization=organization, source_ref=source_ref, start=start, end=end, source=source)
    return sum_window(daily, start, end)
