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
        indexes = [
            models.Index(fields=["organization", "date", "grain"], name="analytics_adperf_day_idx"),
            # drill-down from a campaign to its ad groups, targets and search terms
            models.Index(fields=["organization", "campaign_id", "grain", "date"], name="analytics_adperf_campaign_idx"),
        ]


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


# --- rollups: what dashboards read ------------------------------------------------------------------------
# Each rollup row sums facts in the platform's own currency and day; conversion to a home currency happens on
# read (a few hundred (day, currency) pairs per view), so a change of home currency never needs a rebuild.
# Rollups are rebuilt per organization and day range from the facts (delete + insert in one transaction), so
# refreshing twice gives the same rows. ``RollupFill`` records which days are still to refresh.


class AdRollupDaily(OrgOwnedModel):
    """Ad performance per day x channel x publisher x marketplace x account x campaign (the campaign grain of the
    facts, or the coarsest grain a source has). ``publisher`` splits Meta into facebook / instagram / ...;
    it is '' for other channels."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    channel = models.CharField(max_length=32)
    publisher = models.CharField(max_length=32, blank=True)
    marketplace = models.CharField(max_length=64, blank=True)
    account_id = models.CharField(max_length=128)
    campaign_id = models.CharField(max_length=128)
    campaign_name = models.CharField(max_length=255, blank=True)
    currency = models.CharField(max_length=3)
    attribution_window = models.CharField(max_length=16, blank=True)
    impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    orders = models.IntegerField(default=0)
    units = models.IntegerField(default=0)
    sales = models.DecimalField(max_digits=18, decimal_places=4, default=0)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("daily ad rollup")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "date", "channel", "account_id", "campaign_id", "publisher", "marketplace"],
                name="analytics_adrollup_key",
            )
        ]


class ProductAdRollupDaily(OrgOwnedModel):
    """Ad performance per day x channel x marketplace x advertised product (SKU or ASIN)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    channel = models.CharField(max_length=32)
    marketplace = models.CharField(max_length=64, blank=True)
    account_id = models.CharField(max_length=128)
    product_id = models.CharField(max_length=128)
    currency = models.CharField(max_length=3)
    impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    orders = models.IntegerField(default=0)
    units = models.IntegerField(default=0)
    sales = models.DecimalField(max_digits=18, decimal_places=4, default=0)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("daily product ad rollup")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "date", "channel", "account_id", "marketplace", "product_id"],
                name="analytics_productadrollup_key",
            )
        ]


class SalesRollupDaily(OrgOwnedModel):
    """Store sales per day x platform x marketplace (the TACoS denominator), with refunds from the orders."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    platform = models.CharField(max_length=32)
    marketplace = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3)
    orders = models.IntegerField(default=0)
    units = models.IntegerField(default=0)
    total_sales = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    refunds = models.DecimalField(max_digits=18, decimal_places=4, default=0)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("daily sales rollup")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "date", "platform", "marketplace", "currency"], name="analytics_salesrollup_key"
            )
        ]


class ProductSalesRollupDaily(OrgOwnedModel):
    """Store sales per day x platform x marketplace x SKU, from order lines."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    platform = models.CharField(max_length=32)
    marketplace = models.CharField(max_length=64, blank=True)
    sku = models.CharField(max_length=128)
    title = models.CharField(max_length=500, blank=True)
    currency = models.CharField(max_length=3)
    orders = models.IntegerField(default=0)
    units = models.IntegerField(default=0)
    sales = models.DecimalField(max_digits=18, decimal_places=4, default=0)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("daily product sales rollup")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "date", "platform", "marketplace", "sku", "currency"],
                name="analytics_productsalesrollup_key",
            )
        ]


class RollupFill(OrgOwnedModel):
    """Which days of an organization's rollups still need a refresh, and a version that changes with every
    refresh (cached dashboard panels are keyed on it). One row per organization."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    dirty_from = models.DateField(null=True, blank=True)
    dirty_to = models.DateField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("rollup fill state")
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(dirty_from__isnull=True, dirty_to__isnull=True))
                | models.Q(dirty_from__isnull=False, dirty_to__isnull=False, dirty_from__lte=models.F("dirty_to")),
                name="analytics_rollupfill_range",
            )
        ]


class DataSource(OrgOwnedModel):
    """What analytics knows of one source of facts (a connection or a file import), written by the connectors
    after each run: its label, currency, time zone, how many recent days the platform still restates (those
    days are provisional on dashboards) and how far its data reaches."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    source_ref = models.BigIntegerField()
    source = models.CharField(max_length=8, choices=Source.choices)
    platform = models.CharField(max_length=32)
    channel = models.CharField(max_length=32, blank=True, help_text="The ad channel its facts carry, if any.")
    account_id = models.CharField(max_length=128, blank=True)
    label = models.CharField(max_length=255)
    marketplace = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    restatement_days = models.PositiveSmallIntegerField(default=0)
    attribution_window = models.CharField(max_length=32, blank=True)
    data_through = models.DateField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("data source")
        constraints = [
            models.UniqueConstraint(fields=["organization", "source", "source_ref"], name="analytics_datasource_key")
        ]


# --- profit inputs ----------------------------------------------------------------------------------------


class ProductCost(OrgOwnedModel):
    """Cost of goods for one unit of a SKU (landed: product, freight, duty), optionally per marketplace
    (marketplace '' applies everywhere the SKU has no specific row)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    sku = models.CharField(max_length=128)
    marketplace = models.CharField(max_length=64, blank=True)
    unit_cost = models.DecimalField(max_digits=14, decimal_places=4)
    currency = models.CharField(max_length=3)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("product cost")
        constraints = [
            models.UniqueConstraint(fields=["organization", "sku", "marketplace"], name="analytics_productcost_key")
        ]


class MarketplaceFee(OrgOwnedModel):
    """The fees a marketplace takes, as the seller's own table: a share of the sale price, a fixed fee per
    order and a fulfilment fee per unit, with where the figures come from."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=32)
    marketplace = models.CharField(max_length=64, blank=True)
    referral_pct = models.DecimalField(max_digits=6, decimal_places=3, default=0)
    fixed_per_order = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    fulfilment_per_unit = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    currency = models.CharField(max_length=3)
    source = models.CharField(max_length=500, blank=True, help_text="Where the figures come from (a URL or note).")

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("marketplace fee")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "platform", "marketplace"], name="analytics_marketplacefee_key"
            )
        ]


class SalesTax(OrgOwnedModel):
    """VAT / GST in one market, and whether the marketplace's sales figures include it."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    marketplace = models.CharField(max_length=64)
    rate_pct = models.DecimalField(max_digits=6, decimal_places=3)
    prices_include_tax = models.BooleanField(default=True)
    source = models.CharField(max_length=500, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("sales tax")
        verbose_name_plural = _("sales taxes")
        constraints = [models.UniqueConstraint(fields=["organization", "marketplace"], name="analytics_salestax_key")]


# --- alerts and digests -----------------------------------------------------------------------------------


class Alert(OrgOwnedModel):
    """An anomaly found on one day's metric of a campaign or channel (the scope is the rollup key it was
    computed over; campaign_id '' means the whole channel)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DISMISSED = "dismissed", _("Dismissed")

    class Direction(models.TextChoices):
        UP = "up", _("Above normal")
        DOWN = "down", _("Below normal")

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    metric = models.CharField(max_length=32)
    channel = models.CharField(max_length=32)
    account_id = models.CharField(max_length=128, blank=True)
    campaign_id = models.CharField(max_length=128, blank=True)
    campaign_name = models.CharField(max_length=255, blank=True)
    value = models.DecimalField(max_digits=18, decimal_places=4)
    expected = models.DecimalField(max_digits=18, decimal_places=4)
    score = models.DecimalField(max_digits=10, decimal_places=3, help_text="Robust z-score.")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("alert")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "date", "metric", "channel", "account_id", "campaign_id"],
                name="analytics_alert_key",
            )
        ]
        indexes = [models.Index(fields=["organization", "status", "-date"], name="analytics_alert_open_idx")]


class DigestSent(OrgOwnedModel):
    """One weekly digest email per organization and ISO week (the row is the idempotency key)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    week_start = models.DateField()
    recipients = models.PositiveIntegerField(default=0)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("weekly digest sent")
        constraints = [models.UniqueConstraint(fields=["organization", "week_start"], name="analytics_digestsent_key")]
