"""Factories for analytics rows. Rollup rows are normally written by ``analytics.rollups``; tests of pages
may create them directly to pin exact numbers."""

from datetime import date
from decimal import Decimal

import factory

from accounts.tests.factories import OrganizationFactory
from analytics import models


class _Unscoped(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.unscoped_objects.create(*args, **kwargs)


class AdFactFactory(_Unscoped):
    class Meta:
        model = models.AdPerformanceDaily

    organization = factory.SubFactory(OrganizationFactory)
    channel = "amazon_ads"
    account_id = "A1"
    marketplace = "US"
    date = date(2026, 11, 1)
    grain = "campaign"
    campaign_id = "C1"
    campaign_name = factory.LazyAttribute(lambda o: f"Campaign {o.campaign_id}")
    impressions = 1000
    clicks = 50
    cost = Decimal("25.00")
    orders = 5
    units = 5
    sales = Decimal("100.00")
    currency = "USD"
    attribution_window = "7d"
    source = "api"
    source_ref = 1


class StoreSalesFactory(_Unscoped):
    class Meta:
        model = models.StoreSalesDaily

    organization = factory.SubFactory(OrganizationFactory)
    platform = "amazon_sp"
    marketplace = "US"
    date = date(2026, 11, 1)
    sku = ""
    orders = 20
    units = 24
    total_sales = Decimal("400.00")
    currency = "USD"
    source_ref = 2


class AdRollupFactory(_Unscoped):
    class Meta:
        model = models.AdRollupDaily

    organization = factory.SubFactory(OrganizationFactory)
    date = date(2026, 11, 1)
    channel = "amazon_ads"
    publisher = ""
    marketplace = "US"
    account_id = "A1"
    campaign_id = "C1"
    campaign_name = factory.LazyAttribute(lambda o: f"Campaign {o.campaign_id}")
    currency = "USD"
    attribution_window = "7d"
    impressions = 1000
    clicks = 50
    cost = Decimal("25.00")
    orders = 5
    units = 5
    sales = Decimal("100.00")


class SalesRollupFactory(_Unscoped):
    class Meta:
        model = models.SalesRollupDaily

    organization = factory.SubFactory(OrganizationFactory)
    date = date(2026, 11, 1)
    platform = "amazon_sp"
    marketplace = "US"
    currency = "USD"
    orders = 20
    units = 24
    total_sales = Decimal("400.00")
    refunds = Decimal("0")


class ProductAdRollupFactory(_Unscoped):
    class Meta:
        model = models.ProductAdRollupDaily

    organization = factory.SubFactory(OrganizationFactory)
    date = date(2026, 11, 1)
    channel = "amazon_ads"
    marketplace = "US"
    account_id = "A1"
    product_id = "SKU-1"
    currency = "USD"
    impressions = 500
    clicks = 20
    cost = Decimal("10.00")
    orders = 2
    units = 2
    sales = Decimal("40.00")


class ProductSalesRollupFactory(_Unscoped):
    class Meta:
        model = models.ProductSalesRollupDaily

    organization = factory.SubFactory(OrganizationFactory)
    date = date(2026, 11, 1)
    platform = "amazon_sp"
    marketplace = "US"
    sku = "SKU-1"
    title = "Linen lamp"
    currency = "USD"
    orders = 8
    units = 9
    sales = Decimal("180.00")


class DataSourceFactory(_Unscoped):
    class Meta:
        model = models.DataSource

    organization = factory.SubFactory(OrganizationFactory)
    source_ref = factory.Sequence(lambda n: 1000 + n)
    source = "api"
    platform = "amazon_ads"
    channel = "amazon_ads"
    account_id = "A1"
    label = "Amazon Ads US"
    marketplace = "US"
    currency = "USD"
    time_zone = "America/Los_Angeles"
    restatement_days = 14
    attribution_window = "7d"


class FxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.FxRate

    date = date(2026, 11, 1)
    base = "EUR"
    quote = "USD"
    rate = Decimal("1.1000")
    source = "ecb"


class AlertFactory(_Unscoped):
    class Meta:
        model = models.Alert

    organization = factory.SubFactory(OrganizationFactory)
    date = date(2026, 11, 1)
    metric = "spend"
    channel = "amazon_ads"
    account_id = "A1"
    campaign_id = factory.Sequence(lambda n: f"C{n}")
    campaign_name = factory.LazyAttribute(lambda o: f"Campaign {o.campaign_id}")
    value = Decimal("80")
    expected = Decimal("50")
    score = Decimal("10.117")
    direction = "up"
    currency = "USD"
