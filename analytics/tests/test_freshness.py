"""Provisional days from the data sources, and one source's totals for reconciliation."""

from datetime import date
from decimal import Decimal

import pytest

from analytics.models import StoreOrder
from analytics.selectors import freshness
from analytics.tests.factories import AdFactFactory, DataSourceFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 20)


def test_provisional_since_per_channel_and_sales_platform(org, other_org):
    DataSourceFactory(organization=org, platform="amazon_ads", channel="amazon_ads", restatement_days=14)
    DataSourceFactory(organization=org, platform="meta", channel="meta", restatement_days=28)
    # Two sources of one channel: the longer window counts.
    DataSourceFactory(organization=org, platform="google_ads", channel="google_ads", restatement_days=3)
    DataSourceFactory(organization=org, platform="google_ads", channel="google_ads", restatement_days=30)
    # Shopee carries ads and sales; eBay too; Shopify only sales.
    DataSourceFactory(organization=org, platform="shopee", channel="shopee_ads", restatement_days=7)
    DataSourceFactory(organization=org, platform="ebay", channel="ebay_pl", restatement_days=3)
    DataSourceFactory(organization=org, platform="shopify", channel="", restatement_days=1)
    # A file import is a snapshot: nothing restates it.
    DataSourceFactory(
        organization=org, source="import", platform="tiktok_ads", channel="tiktok_ads", restatement_days=0
    )
    DataSourceFactory(organization=other_org, platform="amazon_sp", channel="", restatement_days=7)

    since = freshness.provisional_since(organization=org, today=TODAY)

    assert since == {
        "amazon_ads": date(2026, 11, 7),
        "meta": date(2026, 10, 24),
        "google_ads": date(2026, 10, 22),
        "shopee_ads": date(2026, 11, 14),
        "shopee": date(2026, 11, 14),
        "ebay_pl": date(2026, 11, 18),
        "ebay": date(2026, 11, 18),
        "shopify": date(2026, 11, 20),
    }
    assert freshness.is_provisional(since, "amazon_ads", date(2026, 11, 7)) is True
    assert freshness.is_provisional(since, "amazon_ads", date(2026, 11, 6)) is False
    assert freshness.is_provisional(since, "shopify", TODAY) is True
    assert freshness.is_provisional(since, "tiktok_ads", TODAY) is False
    assert freshness.is_provisional(since, "amazon_sp", TODAY) is False


def test_data_sources_are_the_organizations_own(org, other_org):
    DataSourceFactory(organization=org, platform="meta", label="Meta EU")
    DataSourceFactory(organization=org, platform="amazon_ads", label="Amazon US")
    DataSourceFactory(organization=other_org, label="Not ours")

    assert [s.label for s in freshness.data_sources(organization=org)] == ["Amazon US", "Meta EU"]


def test_source_totals_sum_one_sources_window_like_the_rollups(org):
    source = {"organization": org, "source": "api", "source_ref": 5}
    AdFactFactory(**source, campaign_id="C1", cost=Decimal("10.00"), clicks=4)
    AdFactFactory(**source, campaign_id="C1", grain="search_term", search_term="x", cost=Decimal("9.00"))
    AdFactFactory(**source, campaign_id="C2", grain="ad_group", ad_group_id="G", cost=Decimal("1.50"), clicks=1)
    AdFactFactory(**source, campaign_id="C1", date=date(2026, 11, 2), cost=Decimal("2.25"), attribution_window="1d")
    AdFactFactory(**source, campaign_id="C1", date=date(2026, 11, 9), cost=Decimal("99"))  # outside the window
    AdFactFactory(organization=org, source="import", source_ref=5, campaign_id="C3", cost=Decimal("50"))  # not it
    AdFactFactory(organization=org, source="api", source_ref=6, campaign_id="C4", cost=Decimal("50"))  # not it
    for number, (day, refunded) in enumerate([(date(2026, 11, 1), "0"), (date(2026, 11, 3), "4.5")]):
        StoreOrder.unscoped_objects.create(
            organization=org,
            platform="shopee",
            marketplace="SG",
            external_id=f"o{number}",
            ordered_at="2026-11-01T00:00:00Z",
            date=day,
            currency="SGD",
            total=Decimal("30"),
            refunded=Decimal(refunded),
            units=2,
            source_ref=5,
        )

    totals = freshness.source_totals(organization=org, source_ref=5, start=date(2026, 11, 1), end=date(2026, 11, 3))

    assert totals == {
        "ads": {
            "impressions": 3000,
            "clicks": 55,
            "cost": Decimal("13.7500"),
            "orders": 15,
            "units": 15,
            "sales": Decimal("300.0000"),
            "currencies": ["USD"],
            "attribution_windows": ["1d", "7d"],
            "days": 2,
        },
        "orders": {
            "orders": 2,
            "units": 4,
            "total": Decimal("60.0000"),
            "refunded": Decimal("4.5000"),
            "currencies": ["SGD"],
            "attribution_windows": [],
            "days": 2,
        },
    }
