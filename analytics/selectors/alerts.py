"""Reads for the alerts page and the alert email: alerts as rows a person reads, with a link to the view of
the campaign, channel or store behind each one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models.functions import Abs
from django.urls import NoReverseMatch, reverse

from accounts.models import Organization
from analytics.labels import PLATFORMS, channel_label, platform_label
from analytics.metrics import METRICS, change, format_metric
from analytics.models import Alert

PAGE_SIZE = 25
STATUSES = tuple(Alert.Status.values)
CONTEXT_DAYS = 28  # a link opens the 28 days up to the alert's day: the window it was scored against


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    scope: str
    metric: str
    value: str
    expected: str
    change: Decimal | None
    url: str


def scope_label(alert: Alert) -> str:
    name = platform_label(alert.channel) if alert.channel in PLATFORMS else channel_label(alert.channel)
    if alert.campaign_id:
        return f"{name} · {alert.campaign_name or alert.campaign_id}"
    return name


def _page_url(names: Iterable[str], slug: str) -> str:
    for name in names:
        try:
            return reverse(name, kwargs={"org_slug": slug})
        except NoReverseMatch:
            continue
    return reverse("analytics_alerts", kwargs={"org_slug": slug})


def _days(start: date, end: date) -> list[tuple[str, str]]:
    return [("range", "custom"), ("start", start.isoformat()), ("end", end.isoformat())]


def campaign_url(*, organization: Organization, channel: str, campaign_id: str, start: date, end: date) -> str:
    """The campaign's drill-down over ``start``..``end``, or the campaigns table filtered to it when its id
    cannot be a path segment."""
    try:
        path = reverse(
            "analytics_campaign_detail",
            kwargs={"org_slug": organization.slug, "channel": channel, "campaign_id": campaign_id},
        )
        params = _days(start, end)
    except NoReverseMatch:
        path = _page_url(("analytics_campaigns",), organization.slug)
        params = [*_days(start, end), ("channel", channel), ("campaign", campaign_id)]
    return f"{path}?{urlencode(params)}"


def alert_url(alert: Alert, *, organization: Organization, absolute: bool = False) -> str:
    """The dashboard view an alert is about (the campaign, the channel, or for store sales the overview) over
    the days the alert was scored against."""
    start = alert.date - timedelta(days=CONTEXT_DAYS - 1)
    if alert.campaign_id:
        url = campaign_url(
            organization=organization,
            channel=alert.channel,
            campaign_id=alert.campaign_id,
            start=start,
            end=alert.date,
        )
    elif alert.channel in PLATFORMS:
        url = f"{_page_url(('analytics_overview',), organization.slug)}?{urlencode(_days(start, alert.date))}"
    else:
        params = [*_days(start, alert.date), ("channel", alert.channel)]
        url = f"{_page_url(('analytics_channels', 'analytics_overview'), organization.slug)}?{urlencode(params)}"
    return settings.SITE_URL.rstrip("/") + url if absolute else url


def alert_rows(alerts: Iterable[Alert], *, organization: Organization, absolute: bool = False) -> list[AlertRow]:
    rows = []
    for alert in alerts:
        metric = METRICS.get(alert.metric)
        kind = metric.kind if metric else "money"
        rows.append(
            AlertRow(
                alert=alert,
                scope=scope_label(alert),
                metric=str(metric.label) if metric else alert.metric,
                value=format_metric(alert.value, kind, alert.currency),
                expected=format_metric(alert.expected, kind, alert.currency),
                change=change(alert.value, alert.expected),
                url=alert_url(alert, organization=organization, absolute=absolute),
            )
        )
    return rows


def alerts_page(
    *, organization: Organization, status: str = Alert.Status.OPEN, channels: tuple[str, ...] = (), page=1
) -> tuple[Page, list[AlertRow]]:
    """One page of alerts in ``status``, newest day first then the strongest; two queries (count, rows)."""
    alerts = Alert.objects.filter(organization=organization, status=status)
    if channels:
        alerts = alerts.filter(channel__in=channels)
    alerts = alerts.order_by("-date", Abs("score").desc(), "pk")
    current = Paginator(alerts, PAGE_SIZE).get_page(page)
    return current, alert_rows(current.object_list, organization=organization)


def open_alert_count(*, organization: Organization, since: date | None = None) -> int:
    alerts = Alert.objects.filter(organization=organization, status=Alert.Status.OPEN)
    if since is not None:
        alerts = alerts.filter(date__gte=since)
    return alerts.count()
