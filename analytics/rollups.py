"""The rollup tables dashboards read, rebuilt from the facts per organization and day range.

A sync or an import that changed facts marks its days dirty (``rollups_mark_dirty``) in the organization's
``RollupFill`` row and queues a refresh (``rollups_refresh_soon``). ``rollups_refresh`` then works through the
dirty range a chunk of days at a time; each chunk is one short transaction that locks the fill row, deletes
the organization's rollup rows of those days, inserts them again from the facts (one ``INSERT ... SELECT ...
GROUP BY`` per table, the database does the sums), moves ``dirty_from`` past the chunk and bumps ``version``.
A worker killed mid-way leaves the rest of the range dirty, so the next refresh (or the beat sweep,
``analytics.tasks.refresh_dirty_rollups``) resumes there; rebuilding a day from the same facts gives the
same rows, so refreshing twice changes nothing.

Ad facts come at several overlapping grains (a campaign's day is also in its ad groups, targets and search
terms). For each source, day and campaign the rollup sums only the coarsest grain present (campaign <
ad_group < target < product < search_term): an API source that has campaign rows is summed at the campaign
grain, and a file import that only has search-term rows still counts. The choice is made per day and
campaign rather than over the whole refreshed range, so the rows do not depend on where a chunk starts.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Organization
from analytics import marks
from analytics.models import (
    AdPerformanceDaily,
    AdRollupDaily,
    ProductAdRollupDaily,
    ProductSalesRollupDaily,
    RollupFill,
    SalesRollupDaily,
    StoreOrder,
    StoreOrderLine,
    StoreSalesDaily,
)

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_DAYS = 31
WORK_MEM = "64MB"
GRAIN_ORDER = ("campaign", "ad_group", "target", "product", "search_term")  # coarsest first

_FACTS = AdPerformanceDaily._meta.db_table
_SALES = StoreSalesDaily._meta.db_table
_ORDERS = StoreOrder._meta.db_table
_LINES = StoreOrderLine._meta.db_table
_FILL = RollupFill._meta.db_table

GRAIN_RANK_SQL = (
    "CASE grain "
    + " ".join(f"WHEN '{grain}' THEN {rank}" for rank, grain in enumerate(GRAIN_ORDER))
    + f" ELSE {len(GRAIN_ORDER)} END"
)
PUBLISHER_SQL = "CASE WHEN channel = 'meta' THEN match_type ELSE '' END"


def market_sql(column: str) -> str:
    """One code per market across platforms, as the Amazon connectors name them: eBay's site ids (EBAY_US,
    EBAY_GB) become US and UK, and ISO's GB becomes UK. Other codes (a Shopify shop domain) stay."""
    return (
        f"CASE WHEN {column} IN ('GB', 'EBAY_GB') THEN 'UK' "
        f"WHEN {column} ~ '^EBAY_[A-Z]{{2}}$' THEN substr({column}, 6) ELSE {column} END"
    )


# Every statement takes %(org)s, %(start)s and %(end)s.
AD_ROLLUP_SQL = f"""
WITH g AS (
    SELECT date, channel, account_id, source_ref, campaign_id, {PUBLISHER_SQL} AS publisher,
           {market_sql("marketplace")} AS marketplace,
           {GRAIN_RANK_SQL} AS grain_rank,
           max(campaign_name) AS campaign_name, max(currency) AS currency,
           max(attribution_window) AS attribution_window,
           sum(impressions) AS impressions, sum(clicks) AS clicks, sum(cost) AS cost,
           sum(orders) AS orders, sum(units) AS units, sum(sales) AS sales
    FROM {_FACTS}
    WHERE organization_id = %(org)s AND date BETWEEN %(start)s AND %(end)s
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
), ranked AS (
    SELECT g.*, min(grain_rank) OVER (PARTITION BY date, channel, account_id, source_ref, campaign_id) AS best
    FROM g
)
INSERT INTO {AdRollupDaily._meta.db_table} (
    organization_id, created_at, updated_at, date, channel, publisher, marketplace, account_id, campaign_id,
    campaign_name, currency, attribution_window, impressions, clicks, cost, orders, units, sales
)
SELECT %(org)s, now(), now(), date, channel, publisher, marketplace, account_id, campaign_id,
       max(campaign_name), max(currency), max(attribution_window),
       sum(impressions), sum(clicks), sum(cost), sum(orders), sum(units), sum(sales)
FROM ranked
WHERE grain_rank = best
GROUP BY date, channel, account_id, campaign_id, publisher, marketplace
"""

# Ads name a product by SKU where the platform gives one, else by ASIN; store sales by SKU. An ASIN the store's
# order lines tie to a SKU is rolled up under that SKU (its latest line's), so Products joins the two.
PRODUCT_AD_ROLLUP_SQL = f"""
WITH asin_sku AS (
    SELECT DISTINCT ON (l.asin) l.asin, l.sku
    FROM {_LINES} AS l
    WHERE l.organization_id = %(org)s AND l.asin <> '' AND l.sku <> '' AND l.asin <> l.sku
      AND l.asin IN (
          SELECT DISTINCT product_id FROM {_FACTS}
          WHERE organization_id = %(org)s AND date BETWEEN %(start)s AND %(end)s AND grain = 'product'
      )
    ORDER BY l.asin, l.id DESC
)
INSERT INTO {ProductAdRollupDaily._meta.db_table} (
    organization_id, created_at, updated_at, date, channel, marketplace, account_id, product_id, currency,
    impressions, clicks, cost, orders, units, sales
)
SELECT %(org)s, now(), now(), f.date, f.channel, {market_sql("f.marketplace")}, f.account_id,
       COALESCE(m.sku, f.product_id), max(f.currency),
       sum(f.impressions), sum(f.clicks), sum(f.cost), sum(f.orders), sum(f.units), sum(f.sales)
FROM {_FACTS} AS f
LEFT JOIN asin_sku AS m ON m.asin = f.product_id
WHERE f.organization_id = %(org)s AND f.date BETWEEN %(start)s AND %(end)s AND f.grain = 'product'
  AND f.product_id <> ''
GROUP BY f.date, f.channel, f.account_id, {market_sql("f.marketplace")}, COALESCE(m.sku, f.product_id)
"""

# Refunds come from the orders of the day they were placed; a day with refunds but no sales row still appears.
SALES_ROLLUP_SQL = f"""
INSERT INTO {SalesRollupDaily._meta.db_table} (
    organization_id, created_at, updated_at, date, platform, marketplace, currency, orders, units, total_sales,
    refunds
)
SELECT %(org)s, now(), now(), date, platform, marketplace, currency,
       sum(orders), sum(units), sum(total_sales), sum(refunds)
FROM (
    SELECT date, platform, {market_sql("marketplace")} AS marketplace, currency, orders, units, total_sales,
           0 AS refunds
    FROM {_SALES}
    WHERE organization_id = %(org)s AND date BETWEEN %(start)s AND %(end)s AND sku = ''
    UNION ALL
    SELECT date, platform, {market_sql("marketplace")}, currency, 0, 0, 0, refunded
    FROM {_ORDERS}
    WHERE organization_id = %(org)s AND date BETWEEN %(start)s AND %(end)s AND refunded <> 0
) AS u
GROUP BY date, platform, marketplace, currency
"""

PRODUCT_SALES_ROLLUP_SQL = f"""
INSERT INTO {ProductSalesRollupDaily._meta.db_table} (
    organization_id, created_at, updated_at, date, platform, marketplace, sku, title, currency, orders, units,
    sales
)
SELECT %(org)s, now(), now(), o.date, o.platform, {market_sql("o.marketplace")}, COALESCE(NULLIF(l.sku, ''), l.asin),
       max(l.title), l.currency, count(DISTINCT o.id), sum(l.quantity), sum(l.amount)
FROM {_ORDERS} AS o
JOIN {_LINES} AS l ON l.order_id = o.id AND l.organization_id = o.organization_id
WHERE o.organization_id = %(org)s AND o.date BETWEEN %(start)s AND %(end)s AND (l.sku <> '' OR l.asin <> '')
GROUP BY o.date, o.platform, {market_sql("o.marketplace")}, COALESCE(NULLIF(l.sku, ''), l.asin), l.currency
"""

ROLLUPS = (
    (AdRollupDaily, AD_ROLLUP_SQL),
    (ProductAdRollupDaily, PRODUCT_AD_ROLLUP_SQL),
    (SalesRollupDaily, SALES_ROLLUP_SQL),
    (ProductSalesRollupDaily, PRODUCT_SALES_ROLLUP_SQL),
)

MARK_DIRTY_SQL = f"""
INSERT INTO {_FILL} (organization_id, dirty_from, dirty_to, version, created_at, updated_at)
VALUES (%(org)s, %(start)s, %(end)s, 0, now(), now())
ON CONFLICT (organization_id) DO UPDATE SET
    dirty_from = LEAST(COALESCE({_FILL}.dirty_from, EXCLUDED.dirty_from), EXCLUDED.dirty_from),
    dirty_to = GREATEST(COALESCE({_FILL}.dirty_to, EXCLUDED.dirty_to), EXCLUDED.dirty_to),
    updated_at = now()
"""


def rollups_mark_dirty(*, organization: Organization, start: date, end: date) -> None:
    """Add the days ``start``..``end`` to what the organization's rollups must refresh.

    The dirty range is one span: a new range merges into it as their hull (a gap between two far-apart
    ranges is refreshed too, which costs time but is never wrong). One upsert statement, so two syncs that
    finish at once cannot lose each other's days; it waits for a refresh chunk holding the row's lock.
    """
    if start > end:
        start, end = end, start
    with connection.cursor() as cursor:
        cursor.execute(MARK_DIRTY_SQL, {"org": organization.pk, "start": start, "end": end})


def rollups_refresh_soon(*, organization: Organization) -> None:
    """Queue ``analytics.tasks.refresh_rollups`` for the organization once the current transaction commits."""

    def send():
        from analytics import tasks

        tasks.refresh_rollups.delay(organization_id=organization.pk)

    transaction.on_commit(send)


def rollups_rebuild(*, organization: Organization, start: date, end: date) -> None:
    """Delete and re-insert the organization's rollup rows of ``start``..``end`` from the facts. Run it inside
    a transaction (``rollups_refresh_step`` does), or readers see the days empty for a moment."""
    params = {"org": organization.pk, "start": start, "end": end}
    with connection.cursor() as cursor:
        # A month of a big organization's facts groups into ~100k rows before the grain choice: with the
        # default 4 MB the first aggregate sorts on disk (2-3x slower); the setting ends with the transaction.
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        for model, insert_sql in ROLLUPS:
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} "
                "WHERE organization_id = %(org)s AND date BETWEEN %(start)s AND %(end)s",
                params,
            )
            cursor.execute(insert_sql, params)


def rollups_refresh_step(
    *, organization: Organization, chunk_days: int = DEFAULT_CHUNK_DAYS
) -> tuple[date, date] | None:
    """Refresh the next chunk of dirty days in one transaction. Returns the days done, or None when nothing
    is dirty."""
    chunk_days = max(1, chunk_days)
    with transaction.atomic():
        fill = RollupFill.unscoped_objects.select_for_update().filter(organization=organization).first()
        if fill is None or fill.dirty_from is None:
            return None
        start = fill.dirty_from
        end = min(fill.dirty_to, start + timedelta(days=chunk_days - 1))
        rollups_rebuild(organization=organization, start=start, end=end)
        if end >= fill.dirty_to:
            fill.dirty_from = fill.dirty_to = None
        else:
            fill.dirty_from = end + timedelta(days=1)
        fill.version += 1
        fill.refreshed_at = timezone.now()
        fill.save(update_fields=["dirty_from", "dirty_to", "version", "refreshed_at", "updated_at"])
        marks.rollup_version_changed(organization_id=organization.pk, version=fill.version)
    return start, end


def rollups_refresh(*, organization: Organization, chunk_days: int = DEFAULT_CHUNK_DAYS) -> int:
    """Refresh every dirty day of the organization's rollups, a chunk at a time. Returns the days refreshed."""
    days = 0
    while (done := rollups_refresh_step(organization=organization, chunk_days=chunk_days)) is not None:
        days += (done[1] - done[0]).days + 1
    return days


def fact_date_range(
    *, organization: Organization, source: str | None = None, source_ref: int | None = None
) -> tuple[date, date] | None:
    """The first and last day the organization's facts cover, or one source's (``source`` "api" or "import"
    with its ``source_ref``: ids of connections and of imports can be equal). None when there are none."""
    params: dict = {"org": organization.pk}
    queries = []
    for table in (_FACTS, _SALES, _ORDERS):
        where = "organization_id = %(org)s"
        if source_ref is not None:
            if table != _FACTS and source != "api":
                continue  # store sales and orders only come from connections
            where += " AND source_ref = %(ref)s"
            params["ref"] = source_ref
            if table == _FACTS:
                where += " AND source = %(source)s"
                params["source"] = source
        queries.append(f"SELECT min(date), max(date) FROM {table} WHERE {where}")
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(queries), params)
        rows = [row for row in cursor.fetchall() if row[0] is not None]
    if not rows:
        return None
    return min(row[0] for row in rows), max(row[1] for row in rows)


def rollups_mark_all_dirty(*, organization: Organization) -> tuple[date, date] | None:
    """Mark every day the organization has facts for dirty (a first build, or a rebuild after a change of the
    rollup logic). Returns the range, or None when there are no facts."""
    span = fact_date_range(organization=organization)
    if span is not None:
        rollups_mark_dirty(organization=organization, start=span[0], end=span[1])
    return span


def dirty_organization_ids() -> list[int]:
    """Organizations whose rollups have dirty days (the beat sweep)."""
    return list(RollupFill.unscoped_objects.filter(dirty_from__isnull=False).values_list("organization_id", flat=True))
