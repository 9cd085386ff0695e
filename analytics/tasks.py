from datetime import date

import httpx
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from accounts.scoping import organization_task
from analytics import alerts, digest, panels, rollups
from analytics.fx import ecb, services
from analytics.query import today_in


@shared_task(
    name="analytics.tasks.refresh_fx_rates",
    autoretry_for=(httpx.TransportError, ecb.EcbTransientError),
    retry_backoff=60,
    retry_backoff_max=15 * 60,
    retry_jitter=True,
    max_retries=5,
)
def refresh_fx_rates(days: str = "90d") -> int:
    """Beat entry: upsert ECB rates. Re-pulls the 90-day feed by default, so a day missed while the ECB
    or we were down is filled by the next run (unchanged rows are not rewritten). Retries network errors
    and 5xx/429 after about 1, 2, 4, 8 and 15 minutes (with jitter); a malformed feed fails at once."""
    return services.fx_rates_refresh(days=days)


@shared_task(name="analytics.tasks.refresh_rollups", acks_late=True)
@organization_task
def refresh_rollups(*, organization) -> int:
    """Refresh the organization's dirty rollup days (queued after each sync and import), then render the default
    dashboard view into the cache for the next visitor. Returns the days done."""
    days = rollups.rollups_refresh(organization=organization)
    if days and settings.DASHBOARD_PRERENDER:
        panels.panels_prerender(organization=organization)
    return days


@shared_task(name="analytics.tasks.refresh_dirty_rollups")
def refresh_dirty_rollups() -> int:
    """Beat entry: queue a refresh for every organization with dirty rollup days (one whose refresh was lost
    or whose worker died mid-way)."""
    ids = rollups.dirty_organization_ids()
    for organization_id in ids:
        refresh_rollups.delay(organization_id=organization_id)
    return len(ids)


@shared_task(name="analytics.tasks.detect_alerts", acks_late=True)
@organization_task
def detect_alerts(*, organization) -> int:
    """Score the organization's recent days for anomalies, then email the new alerts. Returns alerts found."""
    found = alerts.alerts_detect(organization=organization, today=today_in(organization.time_zone))
    alerts.alerts_notify(organization=organization)
    return len(found)


@shared_task(name="analytics.tasks.detect_alerts_all")
def detect_alerts_all() -> int:
    """Beat entry (daily): one detection per organization with data."""
    ids = alerts.organizations_with_data()
    for organization_id in ids:
        detect_alerts.delay(organization_id=organization_id)
    return len(ids)


@shared_task(name="analytics.tasks.send_weekly_digest", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
@organization_task
def send_weekly_digest(*, organization, week_start: str | None = None) -> bool:
    """Send the organization's digest of the ISO week starting ``week_start`` (default: the week due now), once."""
    week = date.fromisoformat(week_start) if week_start else digest.due_week(timezone.now(), organization.time_zone)
    return digest.digest_send(organization=organization, week_start=week) is not None


@shared_task(name="analytics.tasks.send_weekly_digests")
def send_weekly_digests() -> int:
    """Beat entry (hourly): queue the digest of every organization whose week is due in its own time zone
    (Monday 08:00 local) and not sent yet; ``DigestSent`` makes a repeat a no-op."""
    due = digest.digests_due()
    for organization_id, week_start in due:
        send_weekly_digest.delay(organization_id=organization_id, week_start=week_start)
    return len(due)
