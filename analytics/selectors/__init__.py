"""Reads for dashboards. Pages read rollups (``analytics.rollups`` keeps them), never scan raw facts; the
modules here are split by page family: ``performance`` (overview, channels, marketplaces), ``campaigns``
(campaign table and drill-down), ``products`` (products and profit), ``funnel``, ``alerts``."""

from __future__ import annotations

from datetime import date

from django.core.cache import cache

from accounts.models import Organization
from analytics import marks
from analytics.labels import channel_label, platform_label
from analytics.models import AdRollupDaily, DataSource, SalesRollupDaily


def filter_options(*, organization: Organization, start: date, end: date) -> dict[str, list[tuple[str, str]]]:
    """The channels and marketplaces this organization has data for in the days shown (plus every connected
    channel), as (value, label) pairs. Bounded by the dates, so the reads use the rollups' (organization, date)
    key instead of scanning an organization's whole history; cached until the next rollup refresh."""
    version, _other = marks.data_marks(organization_id=organization.pk)
    key = f"analytics:filters:{organization.pk}:{version}:{start.isoformat()}:{end.isoformat()}"
    values = cache.get(key)
    if values is None:
        values = _filter_values(organization, start, end)
        cache.set(key, values, 24 * 3600)
    channels, marketplaces = values
    return {
        "channels": sorted(((c, channel_label(c)) for c in channels), key=lambda pair: str(pair[1])),
        "marketplaces": [(m, m) for m in marketplaces],
        "platforms": [],
    }


def _filter_values(organization: Organization, start: date, end: date) -> tuple[list[str], list[str]]:
    ads = AdRollupDaily.objects.filter(organization=organization, date__range=(start, end))
    sources = DataSource.objects.filter(organization=organization)
    channels = set(sources.exclude(channel="").values_list("channel", flat=True))
    channels |= set(ads.values_list("channel", flat=True).distinct())
    marketplaces = set(ads.values_list("marketplace", flat=True).distinct())
    marketplaces |= set(
        SalesRollupDaily.objects.filter(organization=organization, date__range=(start, end))
        .values_list("marketplace", flat=True)
        .distinct()
    )
    marketplaces.discard("")
    return sorted(channels), sorted(marketplaces)


__all__ = ["filter_options", "platform_label"]
