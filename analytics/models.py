"""Daily facts as the platforms report them (their currency, their day), and FX rates to convert them.

Amounts are never converted in place: conversion to a home currency happens when reading, with a named
rate (see ``analytics.fx``). Each fact table has a natural unique key; loads upsert on it, so re-running a
sync or an import never duplicates a row and a platform's late correction overwrites the earlier value.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.scoping import OrgOwnedModel


class Grain(models.TextChoices):
    CAMPAIGN = "campaign", _("Campaign")
    AD_GROUP = "ad_group", _("Ad group")
    TARGET = "target", _("Keyword or target")
    SEARCH_TERM = "search_term", _("Search term")
    PRODUCT = "product", _("Advertised product")


class Source(models.TextChoices):
    API = "api", _("API sync")
    IMPORT = "import", _("File import")


class AdPerformanceDaily(OrgOwnedModel):
    """Ad performance for one day at one grain. Rows of different grains overlap: sum within one grain."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=32)
    account_id = models.CharField(max_length=128)
    marketplace = models.CharField(max_length=32, blank=True)
    date = models.DateField(help_text="The platform's own day, in the ad account's time zone.")
    grain = models.CharField(max_length=16, choices=Grain.choices)
    campaign_id = models.CharField(max_length=128)
    campaign_name = models.CharField(max_length=255, blank=True)
    ad_group_id = models.CharField(max_length=128, blank=True)
    ad_group_name = models.CharField(max_length=255, blank=True)
    target_id = models.CharField(max_length=128, blank=True)
    target_text = models.CharField(max_length=500, blank=True)
    match_type = models.CharField(max_length=40, blank=True)
    search_term = models.CharField(max_length=500, blank=True)
    product_id = models.CharField(max_length=128, blank=True, help_text="SKU or ASIN")
    impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    orders = models.IntegerField(default=0)
    units = models.IntegerField(default=0)
    sales = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    currency = models.CharField(max_length=3)
    attribution_window = models.CharField(max_length=16, blank=True, help_text="e.g. 7d click")
    source = models.CharField(max_length=8, choices=Source.choices)
    source_ref = models.BigIntegerField(help_text="Connection id (API) or file import id.")

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("daily ad performance")
        verbose_name_plural = _("daily ad performance")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "channel",
                    "account_id",
                    "date",
                    "grain",
                    "campaign_id",
                    "ad_group_id",
                    "target_id",
                    "search_term",
                    "product_id",
                ],
                name="analytics_adperf_natural_key",
            )
        ]
        indexes = [models.Index(fields=["organization", "date", "grain"], name="analytics_adperf_day_idx")]


class StoreSalesDaily(OrgOwnedModel):
    """Total store sales for one day in one marketplace (the TACoS denominator); sku '' means all SKUs."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=32)
    marketplace = models.CharField(max_length=32)
    date = models.DateField()
    sku = models.CharField(max_length=128, blank=True)
    orders = models.IntegerField(default=0)
    units = models.IntegerField(default=0)
    total_sales = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    currency = models.CharField(max_length=3)
    source_ref = models.BigIntegerField()

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("daily store sales")
        verbose_name_plural = _("daily store sales")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "platform", "marketplace", "date", "sku"],
                name="analytics_storesales_natural_key",
            )
        ]


class StoreOrder(OrgOwnedModel):
    """An order as the store reports it. Buyer personal data is not stored."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=32)
    marketplace = models.CharField(max_length=32, blank=True)
    external_id = models.CharField(max_length=128)
    ordered_at = models.DateTimeField()
    date = models.DateField(help_text="Order day in the store's time zone.")
    status = models.CharField(max_length=40, blank=True)
    currency = models.CharField(max_length=3)
    total = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    refunded = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    units = models.IntegerField(default=0)
    landing_site = models.TextField(blank=True)
    referrer = models.TextField(blank=True)
    attribution = models.JSONField(default=dict, blank=True, help_text="UTM and journey data the store gives.")
    source_ref = models.BigIntegerField()

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("store order")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "platform", "external_id"], name="analytics_storeorder_natural_key"
            )
        ]
        indexes = [models.Index(fields=["organization", "date"], name="analytics_storeorder_day_idx")]


class StoreOrderLine(OrgOwnedModel):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(StoreOrder, on_delete=models.CASCADE, related_name="lines")
    external_id = models.CharField(max_length=128)
    sku = models.CharField(max_length=128, blank=True)
    asin = models.CharField(max_length=32, blank=True)
    title = models.CharField(max_length=500, blank=True)
    quantity = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    currency = models.CharField(max_length=3)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("store order line")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "order", "external_id"], name="analytics_storeorderline_natural_key"
            )
        ]


class FxRate(models.Model):
    """How many ``quote`` one ``base`` buys on ``date`` (ECB reference rates use EUR as the base)."""

    class RateSource(models.TextChoices):
        ECB = "ecb", _("European Central Bank reference rate")
        MANUAL = "manual", _("Uploaded by staff")

    date = models.DateField()
    base = models.CharField(max_length=3)
    quote = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=24, decimal_places=10)
    source = models.CharField(max_length=8, choices=RateSource.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("FX rate")
        constraints = [models.UniqueConstraint(fields=["date", "base", "quote"], name="analytics_fxrate_unique")]
        indexes = [models.Index(fields=["base", "quote", "-date"], name="analytics_fxrate_lookup_idx")]

    def __str__(self):
        return f"{self.date} 1 {self.base} = {self.rate} {self.quote} ({self.source})"
