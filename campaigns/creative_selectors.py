"""Reads for the creative pages: A/B tests and the numbers of their variants, saved ad copy, and the converting
search terms and destination ad groups of keyword localization.

A variant's numbers come from the daily facts of what it points to on the platform: ``grain="campaign"`` rows
for a whole campaign, ``grain="ad_group"`` rows for one ad group (each grain is summed on its own, as the
rows of different grains overlap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Q, Sum

from accounts.models import Organization
from analytics.models import AdPerformanceDaily, Grain
from campaigns.experiments import Readout, readout
from campaigns.models import AdAccount, AdCopy, AdGroup, Campaign, Experiment, ExperimentVariant

BASELINE_DAYS = 30
TRAFFIC_DAYS = 14
CONVERTING_KEYWORDS_LIMIT = 100
SUMS = ("impressions", "clicks", "orders", "sales", "cost")


@dataclass(frozen=True)
class VariantTarget:
    """Something a variant can point to: a whole campaign (``ad_group_id`` empty) or one of its ad groups.

    ``key`` is the form value (``campaign:<pk>`` or ``ad_group:<pk>``); ``campaign_id`` and ``ad_group_id`` are
    the platform's own ids, which the facts carry."""

    key: str
    channel: str
    campaign_id: str
    ad_group_id: str
    campaign_name: str
    ad_group_name: str

    @property
    def label(self) -> str:
        if not self.ad_group_id:
            return f"{self.campaign_name} ({self.campaign_id})"
        return f"{self.campaign_name} › {self.ad_group_name} ({self.ad_group_id})"


# --- A/B tests ------------------------------------------------------------------------------------------------


def experiments_list(*, organization: Organization, status: str = "") -> list[Experiment]:
    """The organization's tests, newest first, each with ``variant_count``; ``status`` filters when given."""
    queryset = Experiment.unscoped_objects.filter(organization=organization)
    if status:
        queryset = queryset.filter(status=status)
    return list(queryset.annotate(variant_count=Count("variants")).order_by("-created_at", "-pk"))


def experiment_variants(*, organization: Organization, experiment: Experiment) -> list[ExperimentVariant]:
    """The variants of ``experiment``, the control first."""
    return list(
        ExperimentVariant.unscoped_objects.filter(organization=organization, experiment=experiment).order_by(
            "position", "pk"
        )
    )


def ad_channels(*, organization: Organization) -> list[str]:
    """Channels the organization has campaigns in, in a stable order."""
    return sorted(
        set(Campaign.unscoped_objects.filter(organization=organization).values_list("ad_account__channel", flat=True))
    )


def variant_targets(*, organization: Organization, channel: str = "") -> list[VariantTarget]:
    """Every campaign of ``channel`` (all channels when empty) and each of its ad groups, by campaign name."""
    campaigns = Campaign.unscoped_objects.filter(organization=organization).select_related("ad_account")
    groups = AdGroup.unscoped_objects.filter(organization=organization).select_related("campaign__ad_account")
    if channel:
        campaigns = campaigns.filter(ad_account__channel=channel)
        groups = groups.filter(campaign__ad_account__channel=channel)
    by_campaign: dict[int, list[AdGroup]] = {}
    for group in groups.order_by("name", "pk"):
        by_campaign.setdefault(group.campaign_id, []).append(group)
    targets = []
    for campaign in campaigns.order_by("name", "pk"):
        targets.append(
            VariantTarget(
                key=f"campaign:{campaign.pk}",
                channel=campaign.ad_account.channel,
                campaign_id=campaign.external_id,
                ad_group_id="",
                campaign_name=campaign.name,
                ad_group_name="",
            )
        )
        for group in by_campaign.get(campaign.pk, []):
            targets.append(
                VariantTarget(
                    key=f"ad_group:{group.pk}",
                    channel=campaign.ad_account.channel,
                    campaign_id=campaign.external_id,
                    ad_group_id=group.external_id,
                    campaign_name=campaign.name,
                    ad_group_name=group.name,
                )
            )
    return targets


def variant_totals(
    *,
    organization: Organization,
    channel: str,
    variants: Sequence[tuple[str, str]],
    start: date,
    end: date,
) -> list[dict[str, float]]:
    """Impressions, clicks, orders, sales and cost from ``start`` to ``end`` (inclusive) of each
    ``(campaign_id, ad_group_id)`` in ``variants`` (an empty ad group id: the whole campaign), in that order.
    One query whatever the number of variants; a variant without facts gets zeros."""
    match = Q(pk__in=[])
    for campaign_id, ad_group_id in variants:
        if ad_group_id:
            match |= Q(grain=Grain.AD_GROUP, campaign_id=campaign_id, ad_group_id=ad_group_id)
        else:
            match |= Q(grain=Grain.CAMPAIGN, campaign_id=campaign_id)
    rows = (
        AdPerformanceDaily.unscoped_objects.filter(
            organization=organization, channel=channel, date__gte=start, date__lte=end
        )
        .filter(match)
        .values("grain", "campaign_id", "ad_group_id")
        .annotate(**{field: Sum(field) for field in SUMS})
    )
    found: dict[tuple[str, str], dict[str, float]] = {}
    for row in rows:
        key = (row["campaign_id"], row["ad_group_id"] if row["grain"] == Grain.AD_GROUP else "")
        totals = found.setdefault(key, dict.fromkeys(SUMS, 0.0))
        for field in SUMS:
            totals[field] += float(row[field] or 0)
    return [dict(found.get((c, g or ""), dict.fromkeys(SUMS, 0.0))) for c, g in variants]


def daily_units(
    *, organization: Organization, channel: str, metric: str, variants: Sequence[tuple[str, str]], today: date
) -> list[float]:
    """Average daily impressions (``ctr``) or clicks (the other metrics) of each variant over the last
    ``TRAFFIC_DAYS`` full days before ``today``; days without facts count as zero."""
    totals = variant_totals(
        organization=organization,
        channel=channel,
        variants=variants,
        start=today - timedelta(days=TRAFFIC_DAYS),
        end=today - timedelta(days=1),
    )
    unit = "impressions" if metric == "ctr" else "clicks"
    return [row[unit] / TRAFFIC_DAYS for row in totals]


def baseline_rate(*, organization: Organization, channel: str, metric: str, today: date) -> float | None:
    """The channel's rate over the last ``BASELINE_DAYS`` full days: clicks per impression for ``ctr``, orders
    per click for the others (revenue metrics are planned on conversions). ``None`` without a usable rate."""
    totals = AdPerformanceDaily.unscoped_objects.filter(
        organization=organization,
        channel=channel,
        grain=Grain.CAMPAIGN,
        date__gte=today - timedelta(days=BASELINE_DAYS),
        date__lte=today - timedelta(days=1),
    ).aggregate(impressions=Sum("impressions"), clicks=Sum("clicks"), orders=Sum("orders"))
    numerator, denominator = (
        (totals["clicks"], totals["impressions"]) if metric == "ctr" else (totals["orders"], totals["clicks"])
    )
    if not denominator or not numerator:
        return None
    rate = float(numerator) / float(denominator)
    return rate if 0 < rate < 1 else None


def experiment_readout(
    *, organization: Organization, experiment: Experiment, variants: Sequence[ExperimentVariant], today: date
) -> tuple[Readout, list[dict[str, float]]] | None:
    """The Bayesian readout of a started test from its variants' facts since the start day (to the stop day once
    stopped), with the totals it was computed from; ``None`` before the test starts."""
    if experiment.started_on is None or len(variants) < 2:
        return None
    end = experiment.stopped_on or today
    totals = variant_totals(
        organization=organization,
        channel=experiment.channel,
        variants=[(v.campaign_id, v.ad_group_id) for v in variants],
        start=experiment.started_on,
        end=max(end, experiment.started_on),
    )
    rows = [{"name": v.name, **total} for v, total in zip(variants, totals, strict=True)]
    result = readout(variants=rows, metric=experiment.metric, min_units=experiment.planned_units or None)
    return result, totals


# --- ad copy --------------------------------------------------------------------------------------------------


def ad_copies(*, organization: Organization, status: str = "", limit: int = 100) -> list[AdCopy]:
    """Saved ad copy, newest first, with who approved it."""
    queryset = AdCopy.unscoped_objects.filter(organization=organization).select_related("approved_by")
    if status:
        queryset = queryset.filter(status=status)
    return list(queryset.order_by("-updated_at", "-pk")[:limit])


# --- keyword localization -------------------------------------------------------------------------------------


def search_term_marketplaces(*, organization: Organization) -> list[str]:
    """Marketplaces with search-term facts."""
    return sorted(
        m
        for m in AdPerformanceDaily.unscoped_objects.filter(organization=organization, grain=Grain.SEARCH_TERM)
        .values_list("marketplace", flat=True)
        .distinct()
        if m
    )


def account_marketplaces(*, organization: Organization) -> list[str]:
    """Marketplaces of the organization's ad accounts: where localized keywords can go."""
    return sorted(
        m
        for m in AdAccount.unscoped_objects.filter(organization=organization)
        .values_list("marketplace", flat=True)
        .distinct()
        if m
    )


def converting_keywords(
    *, organization: Organization, marketplace: str, start: date, end: date, limit: int = CONVERTING_KEYWORDS_LIMIT
) -> list[dict]:
    """Search terms with at least one order in ``marketplace`` from ``start`` to ``end``: ``search_term``,
    ``orders``, ``clicks``, ``sales``, most orders first."""
    rows = (
        AdPerformanceDaily.unscoped_objects.filter(
            organization=organization,
            grain=Grain.SEARCH_TERM,
            marketplace=marketplace,
            date__gte=start,
            date__lte=end,
        )
        .exclude(search_term="")
        .values("search_term")
        .annotate(orders=Sum("orders"), clicks=Sum("clicks"), sales=Sum("sales"))
        .filter(orders__gt=0)
        .order_by("-orders", "-sales", "search_term")[:limit]
    )
    return [
        {"search_term": r["search_term"], "orders": r["orders"], "clicks": r["clicks"], "sales": float(r["sales"])}
        for r in rows
    ]


def destination_ad_groups(*, organization: Organization, marketplace: str) -> list[AdGroup]:
    """Ad groups whose ad account sells in ``marketplace``, with their campaign and account."""
    return list(
        AdGroup.unscoped_objects.filter(organization=organization, campaign__ad_account__marketplace=marketplace)
        .select_related("campaign__ad_account")
        .order_by("campaign__name", "name", "pk")
    )
