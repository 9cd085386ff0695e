"""Writes to ``DataSource``: what analytics knows of each source of facts (a connection or a file import).

The connectors call these after a run or an import; dashboards read the rows through
``analytics.selectors.freshness`` (labels, provisional days, how far each source's data reaches).
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import transaction

from accounts.models import Organization
from analytics import rollups
from analytics.models import DataSource


def data_source_upsert(
    *,
    organization: Organization,
    source: str,
    source_ref: int,
    platform: str,
    label: str,
    channel: str = "",
    account_id: str = "",
    marketplace: str = "",
    currency: str = "",
    time_zone: str = "",
    restatement_days: int = 0,
    attribution_window: str = "",
    data_through: date | None = None,
    synced_at: datetime | None = None,
) -> DataSource:
    """Create or update the row of one source. ``data_through`` only moves forward (a short manual run of old
    days does not make the source look behind); None leaves it as it is."""
    values = {
        "platform": platform,
        "label": label[:255],
        "channel": channel or "",
        "account_id": account_id[:128],
        "marketplace": marketplace[:64],
        "currency": currency[:3],
        "time_zone": time_zone[:64],
        "restatement_days": max(0, restatement_days),
        "attribution_window": attribution_window[:32],
    }
    if synced_at is not None:
        values["synced_at"] = synced_at
    with transaction.atomic():
        row, created = DataSource.unscoped_objects.select_for_update().get_or_create(
            organization=organization,
            source=source,
            source_ref=source_ref,
            defaults={**values, "data_through": data_through},
        )
        if not created:
            for name, value in values.items():
                setattr(row, name, value)
            if data_through is not None and (row.data_through is None or data_through > row.data_through):
                row.data_through = data_through
            row.save(update_fields=[*values, "data_through", "updated_at"])
    return row


def data_source_remove(*, organization: Organization, source: str, source_ref: int) -> tuple[date, date] | None:
    """Forget a source whose facts are about to be deleted: mark the days they cover dirty (call it before the
    delete, in the same transaction) and delete its ``DataSource`` row. Returns the days marked, or None."""
    span = rollups.fact_date_range(organization=organization, source=source, source_ref=source_ref)
    if span is not None:
        rollups.rollups_mark_dirty(organization=organization, start=span[0], end=span[1])
    DataSource.unscoped_objects.filter(organization=organization, source=source, source_ref=source_ref).delete()
    return span
