"""Writes to the fact tables. Every load is an upsert on the table's natural key."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from operator import attrgetter

from accounts.models import Organization
from analytics.bulk import UpsertTarget, copy_upsert
from analytics.models import AdPerformanceDaily, StoreSalesDaily


@dataclass(frozen=True, slots=True)
class AdFact:
    """One row of daily ad performance, as a backend or an importer produces it."""

    channel: str
    account_id: str
    marketplace: str
    date: date
    grain: str
    campaign_id: str
    campaign_name: str
    ad_group_id: str
    ad_group_name: str
    target_id: str
    target_text: str
    match_type: str
    search_term: str
    product_id: str
    impressions: int
    clicks: int
    cost: Decimal
    orders: int
    units: int
    sales: Decimal
    currency: str
    attribution_window: str
    source: str
    source_ref: int


@dataclass(frozen=True, slots=True)
class SalesFact:
    platform: str
    marketplace: str
    date: date
    sku: str
    orders: int
    units: int
    total_sales: Decimal
    currency: str
    source_ref: int


AD_KEY = (
    "organization_id",
    "channel",
    "account_id",
    "date",
    "grain",
    "campaign_id",
    "ad_group_id",
    "target_id",
    "search_term",
    "product_id",
)
AD_TARGET = UpsertTarget(
    table=AdPerformanceDaily._meta.db_table,
    columns=("organization_id", *(f.name for f in fields(AdFact))),
    key=AD_KEY,
)
SALES_TARGET = UpsertTarget(
    table=StoreSalesDaily._meta.db_table,
    columns=("organization_id", *(f.name for f in fields(SalesFact))),
    key=("organization_id", "platform", "marketplace", "date", "sku"),
)


def _with_org(organization_id: int, facts: Iterable) -> Iterator[tuple]:
    values = None  # attrgetter, not dataclasses.astuple: astuple deep-copies every field (~24 us a row)
    for fact in facts:
        if values is None:
            values = attrgetter(*(f.name for f in fields(fact)))
        yield (organization_id, *values(fact))


def ad_performance_upsert(*, organization: Organization, facts: Iterable[AdFact], progress=None) -> tuple[int, int]:
    return copy_upsert(AD_TARGET, _with_org(organization.pk, facts), progress=progress)


def store_sales_upsert(*, organization: Organization, facts: Iterable[SalesFact], progress=None) -> tuple[int, int]:
    return copy_upsert(SALES_TARGET, _with_org(organization.pk, facts), progress=progress)


@dataclass(frozen=True)
class OrderLineFact:
    external_id: str
    sku: str
    asin: str
    title: str
    quantity: int
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class OrderFact:
    platform: str
    marketplace: str
    external_id: str
    ordered_at: object  # aware datetime
    date: date
    status: str
    currency: str
    total: Decimal
    refunded: Decimal
    units: int
    landing_site: str
    referrer: str
    attribution: dict
    source_ref: int
    lines: tuple[OrderLineFact, ...] = ()


def store_orders_upsert(*, organization: Organization, orders: Iterable[OrderFact]) -> int:
    """Upsert orders and their lines (a page at a time; order volumes are far below report volumes)."""
    from django.db import transaction

    from analytics.models import StoreOrder, StoreOrderLine

    orders = list(orders)
    if not orders:
        return 0
    order_fields = [f.name for f in fields(OrderFact) if f.name != "lines"]
    with transaction.atomic():
        StoreOrder.unscoped_objects.bulk_create(
            [StoreOrder(organization=organization, **{k: getattr(o, k) for k in order_fields}) for o in orders],
            update_conflicts=True,
            unique_fields=["organization", "platform", "external_id"],
            update_fields=[f for f in order_fields if f not in ("platform", "external_id")] + ["updated_at"],
        )
        ids = dict(
            StoreOrder.unscoped_objects.filter(
                organization=organization, external_id__in=[o.external_id for o in orders]
            ).values_list("external_id", "pk")
        )
        lines = [
            StoreOrderLine(
                organization=organization,
                order_id=ids[o.external_id],
                **{f.name: getattr(line, f.name) for f in fields(OrderLineFact)},
            )
            for o in orders
            for line in o.lines
        ]
        if lines:
            StoreOrderLine.unscoped_objects.bulk_create(
                lines,
                update_conflicts=True,
                unique_fields=["organization", "order", "external_id"],
                update_fields=["sku", "asin", "title", "quantity", "amount", "currency", "updated_at"],
            )
    return len(orders)


def facts_delete_for_source(*, organization: Organization, source_ref: int) -> int:
    """Delete every fact a connection loaded (the seller asked for their history to go too)."""
    from analytics.models import AdPerformanceDaily, StoreOrder, StoreSalesDaily

    deleted = 0
    querysets = [
        AdPerformanceDaily.unscoped_objects.filter(source="api"),
        StoreSalesDaily.unscoped_objects.all(),
        StoreOrder.unscoped_objects.all(),
    ]
    for queryset in querysets:
        count, _ = queryset.filter(organization=organization, source_ref=source_ref).delete()
        deleted += count
    return deleted
