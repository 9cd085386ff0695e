"""Writes to the unified advertising entities. Syncs call these with platform rows mapped to plain dicts."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from accounts.models import Organization
from campaigns.models import AdAccount, AdGroup, AdvertisedProduct, Campaign, NegativeKeyword, Target


def ad_account_upsert(
    *,
    organization: Organization,
    channel: str,
    external_id: str,
    name: str,
    currency: str,
    time_zone: str = "UTC",
    marketplace: str = "",
) -> AdAccount:
    account, _ = AdAccount.unscoped_objects.update_or_create(
        organization=organization,
        channel=channel,
        external_id=str(external_id),
        defaults={"name": name, "currency": currency, "time_zone": time_zone, "marketplace": marketplace},
    )
    return account


def _upsert(model, objs: list, unique: list[str], update: list[str]) -> int:
    if not objs:
        return 0
    model.unscoped_objects.bulk_create(
        objs, update_conflicts=True, unique_fields=unique, update_fields=update, batch_size=2000
    )
    return len(objs)


@transaction.atomic
def campaigns_upsert(*, organization: Organization, ad_account: AdAccount, rows: Iterable[dict]) -> int:
    """rows: external_id, name, state, targeting_type, budget, budget_type, portfolio."""
    objs = [Campaign(organization=organization, ad_account=ad_account, **row) for row in rows]
    update = ["name", "state", "targeting_type", "budget", "budget_type", "portfolio", "updated_at"]
    return _upsert(Campaign, objs, ["organization", "ad_account", "external_id"], update)


def _campaign_ids(organization, ad_account, external_ids) -> dict[str, int]:
    return dict(
        Campaign.unscoped_objects.filter(
            organization=organization, ad_account=ad_account, external_id__in=set(external_ids)
        ).values_list("external_id", "pk")
    )


def _ad_group_ids(organization, ad_account, external_ids) -> dict[str, int]:
    return dict(
        AdGroup.unscoped_objects.filter(
            organization=organization, campaign__ad_account=ad_account, external_id__in=set(external_ids)
        ).values_list("external_id", "pk")
    )


@transaction.atomic
def ad_groups_upsert(*, organization: Organization, ad_account: AdAccount, rows: Iterable[dict]) -> int:
    """rows: campaign_external_id, external_id, name, state, default_bid (unknown campaigns: skipped)."""
    rows = list(rows)
    parents = _campaign_ids(organization, ad_account, (r["campaign_external_id"] for r in rows))
    objs = [
        AdGroup(
            organization=organization,
            campaign_id=parents[r["campaign_external_id"]],
            **{k: v for k, v in r.items() if k != "campaign_external_id"},
        )
        for r in rows
        if r["campaign_external_id"] in parents
    ]
    return _upsert(
        AdGroup,
        objs,
        ["organization", "campaign", "external_id"],
        ["name", "state", "default_bid", "updated_at"],
    )


@transaction.atomic
def targets_upsert(*, organization: Organization, ad_account: AdAccount, rows: Iterable[dict]) -> int:
    """rows: ad_group_external_id, external_id, text, match_type, bid, state."""
    rows = list(rows)
    parents = _ad_group_ids(organization, ad_account, (r["ad_group_external_id"] for r in rows))
    objs = [
        Target(
            organization=organization,
            ad_group_id=parents[r["ad_group_external_id"]],
            **{k: v for k, v in r.items() if k != "ad_group_external_id"},
        )
        for r in rows
        if r["ad_group_external_id"] in parents
    ]
    return _upsert(
        Target,
        objs,
        ["organization", "ad_group", "external_id"],
        ["text", "match_type", "bid", "state", "updated_at"],
    )


@transaction.atomic
def negative_keywords_upsert(*, organization: Organization, ad_account: AdAccount, rows: Iterable[dict]) -> int:
    """rows: campaign_external_id, ad_group_external_id ('' at campaign level), external_id, text,
    match_type, state."""
    rows = list(rows)
    campaigns = _campaign_ids(organization, ad_account, (r["campaign_external_id"] for r in rows))
    groups = _ad_group_ids(
        organization, ad_account, (r["ad_group_external_id"] for r in rows if r["ad_group_external_id"])
    )
    objs = [
        NegativeKeyword(
            organization=organization,
            campaign_id=campaigns[r["campaign_external_id"]],
            ad_group_id=groups.get(r["ad_group_external_id"]) if r["ad_group_external_id"] else None,
            external_id=r["external_id"],
            text=r["text"],
            match_type=r["match_type"],
            state=r["state"],
        )
        for r in rows
        if r["campaign_external_id"] in campaigns
    ]
    return _upsert(
        NegativeKeyword,
        objs,
        ["organization", "campaign", "external_id"],
        ["ad_group", "text", "match_type", "state", "updated_at"],
    )


@transaction.atomic
def advertised_products_upsert(*, organization: Organization, ad_account: AdAccount, rows: Iterable[dict]) -> int:
    """rows: ad_group_external_id, external_id, sku, asin, state."""
    rows = list(rows)
    parents = _ad_group_ids(organization, ad_account, (r["ad_group_external_id"] for r in rows))
    objs = [
        AdvertisedProduct(
            organization=organization,
            ad_group_id=parents[r["ad_group_external_id"]],
            **{k: v for k, v in r.items() if k != "ad_group_external_id"},
        )
        for r in rows
        if r["ad_group_external_id"] in parents
    ]
    return _upsert(
        AdvertisedProduct,
        objs,
        ["organization", "ad_group", "external_id"],
        ["sku", "asin", "state", "updated_at"],
    )
