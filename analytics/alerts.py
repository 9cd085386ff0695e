"""Anomaly alerts: a day's spend, ACoS, ad sales or total sales far from its own recent normal.

For every series (a campaign, a whole channel, a store platform) and metric, a day is scored with a robust
z-score against the ``WINDOW_DAYS`` days before it (the day itself is not in its window)::

    score = (value - median) / (1.4826 * MAD)        MAD = median(|window - median|)

1.4826 makes the MAD estimate the standard deviation of normal data, so ``THRESHOLD`` 3.5 reads like
"3.5 sigma" (Iglewicz & Hoaglin's cut-off for the modified z-score) while one wild day in the window
cannot hide the next one. When more than half the window is the same number (a budget-capped campaign
spends exactly its cap) the MAD is 0; the scale then falls back to 1.253314 x the mean absolute deviation
around the median, and a window without any variation is not scored at all: there is no "normal spread"
to measure against.

To stay quiet on noise a day is only flagged when it also has
- at least ``MIN_HISTORY`` days with data in its window (a new campaign has no normal yet),
- a size worth a look: the larger of the day and its median is at least ``MIN_SIZE_USD`` of the metric,
  converted to the organization's home currency (for ACoS: that day's spend is),
- a relative change of at least ``MIN_CHANGE`` from the median.

Money is compared in the home currency (named dated rates from ``analytics.fx``); a day a rate is missing
for has no value (never a guess) and is neither scored nor part of another day's window. Days without any
rollup row have no value either, and no day after the last one every API connection of the channel has
synced is scored: a connection that is behind on its sync does not look like a crash.

Attribution lag: ad sales and ACoS of the last days are still being restated by the platform (Amazon
reports conversions up to 14 days late, Meta up to 28), so they are only scored for days before the
channel's first provisional day; spend is final the next day and is scored up to yesterday. Each run scores
the last ``CATCH_UP_DAYS`` eligible days of every series, so a missed run is caught up, and writes alerts
as an upsert on their natural key: re-running never duplicates, a dismissed alert stays dismissed and an
emailed alert is not emailed again.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Max, Sum
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import Organization
from accounts.permissions import MATRIX, Perm
from analytics.fx.selectors import rates_frame
from analytics.models import AdRollupDaily, Alert, DataSource, SalesRollupDaily

try:  # written alongside this module; the defaults below stand in until it exists
    from analytics.selectors.freshness import provisional_since as _provisional_since
except ImportError:  # pragma: no cover
    _provisional_since = None

WINDOW_DAYS = 28
MIN_HISTORY = 14
CATCH_UP_DAYS = 3
THRESHOLD = 3.5
MIN_CHANGE = 0.2
MAD_SCALE = 1.4826
MEAN_AD_SCALE = 1.253314  # sqrt(pi / 2): mean absolute deviation -> standard deviation for normal data
MIN_SIZE_USD = {"spend": 20, "ad_sales": 50, "total_sales": 50, "acos": 20}
# Days a channel still restates conversions when the connection does not say (mirrors the connectors).
RESTATEMENT_DAYS = {"amazon_ads": 14, "google_ads": 14, "meta": 28, "tiktok_ads": 7, "ebay_pl": 3, "shopee_ads": 3}
# Metrics built from attributed conversions: scored only once the platform has stopped restating them.
CONVERSION_METRICS = frozenset({"ad_sales", "acos"})
AD_METRICS = ("spend", "ad_sales", "acos")
MONEY_METRICS = frozenset({"spend", "ad_sales", "total_sales"})
MAX_ALERTS_PER_EMAIL = 50
MAX_LAG_DAYS = 45  # never look further back than this for a last scoreable day
MAX_SCORE = 9_999_999  # what Alert.score can hold
# Alerts go to the roles that can act on them (change bids and budgets, dismiss): owners, admins and
# marketers. Analysts and viewers see them on the alerts page and as a count in the weekly digest.
ALERT_EMAIL_PERM = Perm.EDIT_CAMPAIGNS

_KEY = ["channel", "account_id", "campaign_id"]


def provisional_from(*, organization: Organization, today: date) -> dict[str, date]:
    """First provisional day per ad channel and sales platform. A connection's own restatement window wins;
    an ad channel without one (file imports only, or no freshness data) takes ``RESTATEMENT_DAYS``: an
    uploaded report's last days are as immature as a synced one's."""
    since = {channel: today - timedelta(days=days - 1) for channel, days in RESTATEMENT_DAYS.items()}
    if _provisional_since is not None:
        known = _provisional_since(organization=organization, today=today) or {}
        since.update({key: day for key, day in known.items() if day is not None})
    return since


def synced_through(*, organization: Organization) -> dict[str, date]:
    """The last day every API connection of a channel (or sales platform) has synced: days after it are not in
    yet, and a half-loaded day must not look like a collapse."""
    through: dict[str, date] = {}
    rows = DataSource.objects.filter(organization=organization, source="api", data_through__isnull=False)
    for channel, platform, day in rows.values_list("channel", "platform", "data_through").order_by():
        key = channel or platform
        through[key] = min(day, through.get(key, day))
    return through


def _last_scored_day(
    channel: str, metric: str, *, provisional: dict[str, date], through: dict[str, date], yesterday: date
) -> date:
    last = min(yesterday, through.get(channel, yesterday))
    if metric in CONVERSION_METRICS or metric == "total_sales":
        first_provisional = provisional.get(channel)
        if first_provisional is not None:
            last = min(last, first_provisional - timedelta(days=1))
    return last


# --- loading: rollups -> one row per series, day and metric, in the home currency ---------------------------


def _ad_rows(organization: Organization, start: date, end: date) -> pd.DataFrame:
    """Ad rollups summed per day and campaign (over publishers and marketplaces), in their own currency."""
    rows = (
        AdRollupDaily.objects.filter(organization=organization, date__range=(start, end))
        .values("date", "channel", "account_id", "campaign_id", "currency")
        .annotate(spend=Sum("cost"), ad_sales=Sum("sales"), campaign_name=Max("campaign_name"))
        .order_by()
    )
    return pd.DataFrame(list(rows))


def _sales_rows(organization: Organization, start: date, end: date) -> pd.DataFrame:
    rows = (
        SalesRollupDaily.objects.filter(organization=organization, date__range=(start, end))
        .values("date", "platform", "currency")
        .annotate(value=Sum("total_sales"))
        .order_by()
    )
    return pd.DataFrame(list(rows))


def _to_home(frame: pd.DataFrame, rates: dict[tuple[date, str], Decimal], columns: list[str]) -> pd.DataFrame:
    """Convert ``columns`` to the home currency; rows without a rate get NaN (and so does any sum over them)."""
    wanted = pd.MultiIndex.from_arrays([frame["date"], frame["currency"]])
    rate = pd.Series(rates, dtype=object).reindex(wanted).to_numpy(dtype=float) if rates else np.nan
    return frame.assign(**{column: frame[column].astype(float) * rate for column in columns})


def _sum_strict(frame: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """Group sums that stay NaN when any part is NaN (an unconvertible amount makes the total unknown)."""
    grouped = frame.groupby(by, sort=False)
    sums, known = grouped[columns].sum(), grouped[columns].count()
    return sums.where(known.eq(grouped.size(), axis=0)).reset_index()


def _ad_series(frame: pd.DataFrame) -> pd.DataFrame:
    """Per campaign and per channel: spend, ad sales and ACoS (where defined) as long rows; ``size`` carries
    the day's spend for ACoS, whose size test is the spend behind it."""
    names = frame.sort_values("date").drop_duplicates(_KEY, keep="last")[[*_KEY, "campaign_name"]]  # latest
    campaigns = _sum_strict(frame, [*_KEY, "date"], ["spend", "ad_sales"]).merge(names, on=_KEY, how="left")
    # A channel's own series only where it has several campaigns: with one, it would repeat that campaign's.
    per_channel = frame[_KEY].drop_duplicates().groupby("channel").size()
    several = frame[frame["channel"].isin(per_channel[per_channel > 1].index)]
    channels = _sum_strict(several, ["channel", "date"], ["spend", "ad_sales"]).assign(
        account_id="", campaign_id="", campaign_name=""
    )
    both = pd.concat([campaigns, channels], ignore_index=True)
    both["campaign_name"] = both["campaign_name"].fillna("")
    both["acos"] = (both["spend"] / both["ad_sales"]).where(both["ad_sales"] > 0)
    both["day_spend"] = both["spend"]
    long = both.melt(
        id_vars=[*_KEY, "campaign_name", "date", "day_spend"], value_vars=list(AD_METRICS), var_name="metric"
    )
    long["size"] = long["day_spend"].where(long["metric"] == "acos")
    return long.drop(columns="day_spend")


def _sales_series(frame: pd.DataFrame) -> pd.DataFrame:
    platforms = _sum_strict(frame.rename(columns={"platform": "channel"}), ["channel", "date"], ["value"])
    return platforms.assign(account_id="", campaign_id="", campaign_name="", metric="total_sales", size=np.nan)


# --- scoring ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    channel: str
    account_id: str
    campaign_id: str
    campaign_name: str
    metric: str
    date: date
    value: float
    expected: float
    score: float


def score(
    long: pd.DataFrame, *, days: pd.DatetimeIndex, last_scored: dict[tuple[str, str], date], min_size: dict[str, float]
) -> list[Finding]:
    """Score the last ``CATCH_UP_DAYS`` scoreable days of every series in ``long`` (columns: channel,
    account_id, campaign_id, campaign_name, metric, date, value, size) and return the anomalies.

    ``days`` is the calendar the rows fall on; ``last_scored`` gives the last day a (channel, metric) may be
    scored on. The statistics are array arithmetic over a (scored day x window) matrix: no loop per series.
    """
    if long.empty:
        return []
    long = long.assign(date=pd.to_datetime(long["date"]))
    codes = long.groupby([*_KEY, "metric"], sort=False).ngroup().to_numpy()
    first = np.unique(codes, return_index=True)[1]  # one row of each series, in code order
    keys = list(long[[*_KEY, "metric"]].iloc[first].itertuples(index=False, name=None))
    names = long["campaign_name"].to_numpy()[first]
    day_index = days.get_indexer(long["date"])
    n_days, n_series = len(days), len(keys)
    values = np.full((n_days, n_series), np.nan)
    sizes = np.full((n_days, n_series), np.nan)
    values[day_index, codes] = long["value"].to_numpy(dtype=float)
    sizes[day_index, codes] = long["size"].to_numpy(dtype=float)

    last_index = days.get_indexer(pd.to_datetime([last_scored[(key[0], key[3])] for key in keys]))
    series = np.repeat(np.arange(n_series), CATCH_UP_DAYS)
    scored_day = np.repeat(last_index, CATCH_UP_DAYS) - np.tile(np.arange(CATCH_UP_DAYS), n_series)
    keep = scored_day >= WINDOW_DAYS
    series, scored_day = series[keep], scored_day[keep]
    value = values[scored_day, series]
    has_value = ~np.isnan(value)
    series, scored_day, value = series[has_value], scored_day[has_value], value[has_value]
    if not len(series):
        return []

    window = values[scored_day[:, None] + np.arange(-WINDOW_DAYS, 0)[None, :], series[:, None]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: their rows fail MIN_HISTORY below
        history = np.count_nonzero(~np.isnan(window), axis=1)
        median = np.nanmedian(window, axis=1)
        deviation = np.abs(window - median[:, None])
        mad = np.nanmedian(deviation, axis=1)
        mean_ad = np.nanmean(deviation, axis=1)
    spread = np.where(mad > 0, MAD_SCALE * mad, np.where(mean_ad > 0, MEAN_AD_SCALE * mean_ad, np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (value - median) / spread

    metric = np.array([key[3] for key in keys])[series]
    floor = np.array([min_size[m] for m in metric], dtype=float)
    size = np.where(metric == "acos", sizes[scored_day, series], np.maximum(value, median))
    flagged = (
        (history >= MIN_HISTORY)
        & ~np.isnan(z)
        & (np.abs(z) >= THRESHOLD)
        & (np.nan_to_num(size, nan=0.0) >= floor)
        & (np.abs(value - median) >= MIN_CHANGE * np.abs(median))
    )
    findings = []
    for i in np.flatnonzero(flagged):
        channel, account_id, campaign_id, metric_key = keys[series[i]]
        findings.append(
            Finding(
                channel=channel,
                account_id=account_id,
                campaign_id=campaign_id,
                campaign_name=names[series[i]] or "",
                metric=metric_key,
                date=days[scored_day[i]].date(),
                value=float(value[i]),
                expected=float(median[i]),
                score=float(z[i]),
            )
        )
    return findings


# --- services -------------------------------------------------------------------------------------------


def _decimal(value: float, places: str) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(places))


def alerts_detect(*, organization: Organization, today: date) -> list[Alert]:
    """Score the organization's recent days (``today`` is its own today) and upsert an alert per anomaly.
    Returns the alerts found by this run, as stored (a dismissed one stays dismissed)."""
    yesterday = today - timedelta(days=1)
    provisional = provisional_from(organization=organization, today=today)
    through = synced_through(organization=organization)
    earliest_last = min([yesterday, *(day - timedelta(days=1) for day in provisional.values()), *through.values()])
    earliest_last = max(earliest_last, yesterday - timedelta(days=MAX_LAG_DAYS))
    start = earliest_last - timedelta(days=WINDOW_DAYS + CATCH_UP_DAYS - 1)
    ads, sales = _ad_rows(organization, start, yesterday), _sales_rows(organization, start, yesterday)
    if ads.empty and sales.empty:
        return []
    currencies = {*ads.get("currency", ()), *sales.get("currency", ()), "USD"}
    home = organization.home_currency
    rates = rates_frame(currencies, start, yesterday, home)
    usd = float(rates.get((yesterday, "USD"), 1))  # no USD rate: read the floors as home-currency amounts
    min_size = {metric: amount * usd for metric, amount in MIN_SIZE_USD.items()}

    parts = []
    if not ads.empty:
        parts.append(_ad_series(_to_home(ads, rates, ["spend", "ad_sales"])))
    if not sales.empty:
        parts.append(_sales_series(_to_home(sales, rates, ["value"])))
    long = pd.concat(parts, ignore_index=True)
    last_scored = {
        (channel, metric): _last_scored_day(
            channel, metric, provisional=provisional, through=through, yesterday=yesterday
        )
        for channel, metric in long[["channel", "metric"]].drop_duplicates().itertuples(index=False)
    }
    findings = score(long, days=pd.date_range(start, yesterday, freq="D"), last_scored=last_scored, min_size=min_size)
    if not findings:
        return []
    alerts = [
        Alert(
            organization=organization,
            date=f.date,
            metric=f.metric,
            channel=f.channel,
            account_id=f.account_id,
            campaign_id=f.campaign_id,
            campaign_name=f.campaign_name[:255],
            value=_decimal(f.value, "0.0001"),
            expected=_decimal(f.expected, "0.0001"),
            score=_decimal(max(min(f.score, MAX_SCORE), -MAX_SCORE), "0.001"),
            direction=Alert.Direction.UP if f.value > f.expected else Alert.Direction.DOWN,
            currency=home if f.metric in MONEY_METRICS else "",
        )
        for f in findings
    ]
    Alert.objects.bulk_create(
        alerts,
        update_conflicts=True,
        unique_fields=["organization", "date", "metric", "channel", "account_id", "campaign_id"],
        update_fields=["campaign_name", "value", "expected", "score", "direction", "currency", "updated_at"],
    )
    return list(Alert.objects.filter(organization=organization, pk__in=[a.pk for a in alerts]).order_by("-date", "pk"))


def alert_dismiss(*, organization: Organization, alert: Alert, actor) -> Alert:
    """Dismiss an open alert (a no-op on a dismissed one), with an audit row in the same transaction."""
    from accounts.services import record_audit

    with transaction.atomic():
        updated = Alert.objects.filter(organization=organization, pk=alert.pk, status=Alert.Status.OPEN).update(
            status=Alert.Status.DISMISSED, updated_at=timezone.now()
        )
        if updated:
            record_audit(organization=organization, actor=actor, verb="alert.dismiss", target=alert)
    alert.status = Alert.Status.DISMISSED
    return alert


def recipients_with(*, organization: Organization, perm: Perm):
    """Active members whose role grants ``perm``, with their users."""
    from accounts.models import Membership

    roles = [role for role, perms in MATRIX.items() if perm in perms]
    return list(
        Membership.objects.filter(organization=organization, role__in=roles, user__is_active=True)
        .select_related("user")
        .order_by("pk")
    )


def send_localized(*, organization: Organization, recipients, template: str, context: dict) -> int:
    """One message per recipient (nobody sees the others' addresses), rendered in the member's language (or
    the organization's) from ``<template>_subject.txt``, ``<template>.txt`` and ``<template>.html``.
    Returns the number of messages sent."""
    rendered: dict[str, tuple[str, str, str]] = {}
    messages = []
    for membership in recipients:
        language = membership.user.language or organization.default_language or settings.LANGUAGE_CODE
        if language not in rendered:
            with translation.override(language):
                rendered[language] = (
                    " ".join(render_to_string(f"{template}_subject.txt", context).split()),
                    render_to_string(f"{template}.txt", context),
                    render_to_string(f"{template}.html", context),
                )
        subject, text, html = rendered[language]
        message = EmailMultiAlternatives(subject, text, None, [membership.user.email])
        message.attach_alternative(html, "text/html")
        messages.append(message)
    if not messages:
        return 0
    return get_connection().send_messages(messages) or 0


def alerts_notify(*, organization: Organization) -> int:
    """Email the open alerts nobody was told about yet, once: the alerts are locked, the emails sent and
    ``emailed_at`` set in one transaction, so a failed send leaves them for the next run and two runs never
    send the same alert. Alerts found while nobody could receive them are marked too, so a member who joins
    later is not sent a backlog. Returns how many alerts were covered."""
    from analytics.selectors.alerts import alert_rows

    with transaction.atomic():
        pending = list(
            Alert.objects.filter(organization=organization, status=Alert.Status.OPEN, emailed_at__isnull=True)
            .order_by("-date", "-score", "pk")
            .select_for_update(skip_locked=True)
        )
        if not pending:
            return 0
        shown = pending[:MAX_ALERTS_PER_EMAIL]
        context = {
            "organization": organization,
            "rows": alert_rows(shown, organization=organization, absolute=True),
            "count": len(pending),
            "more": len(pending) - len(shown),
            "alerts_url": absolute_url(reverse("analytics_alerts", kwargs={"org_slug": organization.slug})),
        }
        send_localized(
            organization=organization,
            recipients=recipients_with(organization=organization, perm=ALERT_EMAIL_PERM),
            template="analytics/email/alert",
            context=context,
        )
        Alert.objects.filter(pk__in=[a.pk for a in pending]).update(emailed_at=timezone.now())
    return len(pending)


def absolute_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def organizations_with_data() -> list[int]:
    """Ids of organizations with at least one source of facts. Beat fan-out only (reads across tenants)."""
    return sorted(set(DataSource.unscoped_objects.values_list("organization_id", flat=True).distinct()))
