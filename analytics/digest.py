"""The weekly digest email: last week's key numbers against the week before, in the home currency.

One digest per organization and ISO week. The ``DigestSent`` row is the idempotency key: it is inserted
first, in the transaction that sends, so two workers racing for the same week serialise on the unique key
and the loser sends nothing, while a failed send rolls the claim back for the next run to retry.

When: a digest is due from Monday 08:00 in the organization's own time zone (a seller in Shenzhen and one
in Los Angeles both read it on Monday morning), about the ISO week (Monday to Sunday) that ended before it.
The beat fan-out runs hourly and queues only organizations whose due week has no ``DigestSent`` row yet,
so an outage is caught up by the next run and nothing is sent twice.

Amounts are summed per day and currency by the database and converted with that day's rate (like the
dashboards); a (day, currency) without a rate is left out and named in the email, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Max, Sum
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Organization
from accounts.permissions import Perm
from analytics.alerts import absolute_url, organizations_with_data, recipients_with, send_localized
from analytics.fx.selectors import rates_frame
from analytics.labels import channel_label
from analytics.metrics import METRICS, ZERO, Totals, change, format_metric
from analytics.models import AdRollupDaily, Alert, DigestSent, SalesRollupDaily
from analytics.selectors.alerts import campaign_url

DIGEST_METRICS = ("spend", "ad_sales", "total_sales", "roas", "acos", "tacos", "orders")
TOP_CAMPAIGNS = 3
DUE_HOUR = 8  # local time on Monday
PLACES = Decimal("0.0001")
SALES_FIELDS = ("total_sales", "total_orders", "total_units", "refunds")


def due_week(now: datetime, time_zone: str) -> date:
    """The Monday of the last ISO week whose digest is due at ``now``: the week before the current one once
    it is Monday ``DUE_HOUR``:00 locally, else the week before that (already due since last Monday)."""
    try:
        zone = ZoneInfo(time_zone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = (now.astimezone(zone) - timedelta(hours=DUE_HOUR)).date()
    return local - timedelta(days=local.weekday() + 7)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    current: str
    previous: str
    change: Decimal | None
    good: bool | None  # whether the change goes the way that is good for this metric; None without a change

    @property
    def change_text(self) -> str:
        if self.change is None:
            return format_metric(None, "ratio")
        return ("+" if self.change > 0 else "") + format_metric(self.change, "ratio")


@dataclass(frozen=True)
class CampaignSpend:
    label: str
    spend: str
    roas: str
    url: str


@dataclass
class Digest:
    organization: Organization
    week_start: date
    week_end: date
    previous_start: date
    previous_end: date
    currency: str
    current: Totals
    previous: Totals
    figures: list[Figure] = field(default_factory=list)
    top_campaigns: list[CampaignSpend] = field(default_factory=list)
    open_alerts: int = 0
    missing_rates: list[str] = field(default_factory=list)  # currencies with a day without a rate
    url: str = ""
    alerts_url: str = ""

    @property
    def has_data(self) -> bool:
        return self.current != Totals() or self.previous != Totals()


def _convert(amount, rate: Decimal) -> Decimal:
    return (Decimal(amount or 0) * rate).quantize(PLACES, rounding=ROUND_HALF_EVEN)


def _week_totals(organization: Organization, start: date, end: date, rates, missing: set[str], middle: date):
    """(previous, current) Totals in the home currency; ``middle`` is the first day of the current week."""
    money = {"spend", "ad_sales", "total_sales", "refunds"}
    fields = ("impressions", "clicks", "spend", "ad_orders", "ad_units", "ad_sales", *SALES_FIELDS)
    sums = {period: {name: ZERO if name in money else 0 for name in fields} for period in (False, True)}
    ads = (
        AdRollupDaily.objects.filter(organization=organization, date__range=(start, end))
        .values("date", "currency")
        .annotate(
            impressions=Sum("impressions"),
            clicks=Sum("clicks"),
            spend=Sum("cost"),
            ad_orders=Sum("orders"),
            ad_units=Sum("units"),
            ad_sales=Sum("sales"),
        )
        .order_by()
    )
    sales = (
        SalesRollupDaily.objects.filter(organization=organization, date__range=(start, end))
        .values("date", "currency")
        .annotate(
            total_sales=Sum("total_sales"), total_orders=Sum("orders"), total_units=Sum("units"), refunds=Sum("refunds")
        )
        .order_by()
    )
    for row in [*ads, *sales]:
        day, currency = row.pop("date"), row.pop("currency")
        rate = rates.get((day, currency))
        if rate is None:
            missing.add(currency)
            continue
        bucket = sums[day >= middle]
        for name, value in row.items():
            bucket[name] += _convert(value, rate) if name in money else (value or 0)
    return Totals(**sums[False]), Totals(**sums[True])


def _top_campaigns(organization: Organization, start: date, end: date, rates, home: str) -> list[CampaignSpend]:
    rows = (
        AdRollupDaily.objects.filter(organization=organization, date__range=(start, end))
        .values("date", "currency", "channel", "account_id", "campaign_id")
        .annotate(spend=Sum("cost"), ad_sales=Sum("sales"), name=Max("campaign_name"))
        .order_by()
    )
    spend: dict[tuple, list] = {}
    for row in rows:
        rate = rates.get((row["date"], row["currency"]))
        if rate is None:
            continue
        key = (row["channel"], row["account_id"], row["campaign_id"])
        entry = spend.setdefault(key, [ZERO, ZERO, row["name"]])
        entry[0] += _convert(row["spend"], rate)
        entry[1] += _convert(row["ad_sales"], rate)
    top = sorted(spend.items(), key=lambda item: (-item[1][0], item[0]))[:TOP_CAMPAIGNS]
    return [
        CampaignSpend(
            label=f"{channel_label(channel)} · {name or campaign_id}",
            spend=format_metric(total, "money", home),
            roas=format_metric(METRICS["roas"].of(Totals(spend=total, ad_sales=ad_sales)), "multiple"),
            url=absolute_url(
                campaign_url(organization=organization, channel=channel, campaign_id=campaign_id, start=start, end=end)
            ),
        )
        for (channel, _account, campaign_id), (total, ad_sales, name) in top
    ]


def _page_url(organization: Organization, name: str) -> str:
    try:
        return absolute_url(reverse(name, kwargs={"org_slug": organization.slug}))
    except NoReverseMatch:
        return absolute_url(reverse("analytics_alerts", kwargs={"org_slug": organization.slug}))


def digest_content(*, organization: Organization, week_start: date) -> Digest:
    """The digest of the ISO week starting ``week_start`` (a Monday) against the week before. Seven queries,
    whatever the amount of data."""
    week_end = week_start + timedelta(days=6)
    previous_start = week_start - timedelta(days=7)
    home = organization.home_currency
    ad_currencies = AdRollupDaily.objects.filter(organization=organization, date__range=(previous_start, week_end))
    currencies = set(ad_currencies.values_list("currency", flat=True).distinct()) | set(
        SalesRollupDaily.objects.filter(organization=organization, date__range=(previous_start, week_end))
        .values_list("currency", flat=True)
        .distinct()
    )
    rates = rates_frame(currencies, previous_start, week_end, home)
    missing: set[str] = set()
    previous, current = _week_totals(organization, previous_start, week_end, rates, missing, week_start)
    figures = []
    for key in DIGEST_METRICS:
        metric = METRICS[key]
        now, before = metric.of(current), metric.of(previous)
        delta = change(now, before)
        figures.append(
            Figure(
                key=key,
                label=str(metric.label),
                current=format_metric(now, metric.kind, home),
                previous=format_metric(before, metric.kind, home),
                change=delta,
                good=None if not delta else (delta > 0) == (metric.better == "up"),
            )
        )
    return Digest(
        organization=organization,
        week_start=week_start,
        week_end=week_end,
        previous_start=previous_start,
        previous_end=week_start - timedelta(days=1),
        currency=home,
        current=current,
        previous=previous,
        figures=figures,
        top_campaigns=_top_campaigns(organization, week_start, week_end, rates, home),
        open_alerts=Alert.objects.filter(organization=organization, status=Alert.Status.OPEN).count(),
        missing_rates=sorted(missing),
        url=_page_url(organization, "analytics_overview") + f"?range=custom&start={week_start}&end={week_end}",
        alerts_url=absolute_url(reverse("analytics_alerts", kwargs={"org_slug": organization.slug})),
    )


def digest_send(*, organization: Organization, week_start: date) -> DigestSent | None:
    """Send the digest of one week to every member (all roles can view dashboards), in each member's
    language, once. Returns the ``DigestSent`` row, or None when this week's digest was already claimed.
    A week without any data is claimed and sends nothing."""
    try:
        with transaction.atomic():
            sent = DigestSent.objects.create(organization=organization, week_start=week_start)
            digest = digest_content(organization=organization, week_start=week_start)
            if digest.has_data:
                sent.recipients = send_localized(
                    organization=organization,
                    recipients=recipients_with(organization=organization, perm=Perm.VIEW),
                    template="analytics/email/digest",
                    context={"digest": digest, "organization": organization},
                )
                sent.save(update_fields=["recipients", "updated_at"])
    except IntegrityError:
        return None
    return sent


def digests_due(*, now: datetime | None = None) -> list[tuple[int, str]]:
    """(organization id, week start) of every organization with data whose due digest is not sent yet.
    Beat fan-out only (reads across organizations)."""
    now = now or timezone.now()
    organizations = Organization.objects.filter(pk__in=organizations_with_data()).values_list("pk", "time_zone")
    due = {pk: due_week(now, zone) for pk, zone in organizations}
    sent = set(
        DigestSent.unscoped_objects.filter(organization_id__in=due, week_start__in=set(due.values())).values_list(
            "organization_id", "week_start"
        )
    )
    return [(pk, week.isoformat()) for pk, week in sorted(due.items()) if (pk, week) not in sent]
