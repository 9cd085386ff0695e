"""The advertising entities of every channel, each keeping the platform's own id and state."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.scoping import OrgOwnedModel


class Channel(models.TextChoices):
    AMAZON_ADS = "amazon_ads", _("Amazon Ads")
    GOOGLE_ADS = "google_ads", _("Google Ads")
    META = "meta", _("Meta")
    TIKTOK_ADS = "tiktok_ads", _("TikTok Ads")
    SHOPEE_ADS = "shopee_ads", _("Shopee Ads")
    EBAY_PL = "ebay_pl", _("eBay Promoted Listings")


class MatchType(models.TextChoices):
    EXACT = "EXACT", _("Exact")
    PHRASE = "PHRASE", _("Phrase")
    BROAD = "BROAD", _("Broad")
    TARGETING_EXPRESSION = "TARGETING_EXPRESSION", _("Product or category target")
    TARGETING_EXPRESSION_PREDEFINED = "TARGETING_EXPRESSION_PREDEFINED", _("Automatic target")
    NEGATIVE_EXACT = "NEGATIVE_EXACT", _("Negative exact")
    NEGATIVE_PHRASE = "NEGATIVE_PHRASE", _("Negative phrase")


class AdAccount(OrgOwnedModel):
    """An advertising account or profile (an Amazon Ads profile, a Google Ads customer, a Meta ad account)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(_("channel"), max_length=32, choices=Channel.choices)
    external_id = models.CharField(_("platform id"), max_length=128)
    name = models.CharField(_("name"), max_length=255)
    marketplace = models.CharField(_("marketplace"), max_length=32, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("ad account")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "channel", "external_id"], name="campaigns_adaccount_unique"
            )
        ]

    def __str__(self):
        return self.name


class Campaign(OrgOwnedModel):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    ad_account = models.ForeignKey(AdAccount, on_delete=models.CASCADE, related_name="campaigns")
    external_id = models.CharField(_("platform id"), max_length=128)
    name = models.CharField(_("name"), max_length=255)
    state = models.CharField(_("state"), max_length=32, blank=True)
    targeting_type = models.CharField(_("targeting"), max_length=32, blank=True)
    budget = models.DecimalField(_("budget"), max_digits=18, decimal_places=4, null=True, blank=True)
    budget_type = models.CharField(_("budget type"), max_length=32, blank=True)
    portfolio = models.CharField(_("portfolio"), max_length=255, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("campaign")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "ad_account", "external_id"], name="campaigns_campaign_unique"
            )
        ]

    def __str__(self):
        return self.name


class AdGroup(OrgOwnedModel):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="ad_groups")
    external_id = models.CharField(_("platform id"), max_length=128)
    name = models.CharField(_("name"), max_length=255)
    state = models.CharField(_("state"), max_length=32, blank=True)
    default_bid = models.DecimalField(_("default bid"), max_digits=18, decimal_places=4, null=True, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("ad group")
        constraints = [
            models.UniqueConstraint(fields=["organization", "campaign", "external_id"], name="campaigns_adgroup_unique")
        ]

    def __str__(self):
        return self.name


class Target(OrgOwnedModel):
    """A keyword or a product/category/automatic target, with its bid."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    ad_group = models.ForeignKey(AdGroup, on_delete=models.CASCADE, related_name="targets")
    external_id = models.CharField(_("platform id"), max_length=128)
    text = models.CharField(_("keyword or target"), max_length=500)
    match_type = models.CharField(_("match type"), max_length=40, choices=MatchType.choices)
    bid = models.DecimalField(_("bid"), max_digits=18, decimal_places=4, null=True, blank=True)
    state = models.CharField(_("state"), max_length=32, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("keyword or target")
        constraints = [
            models.UniqueConstraint(fields=["organization", "ad_group", "external_id"], name="campaigns_target_unique")
        ]

    def __str__(self):
        return f"{self.text} [{self.match_type}]"


class NegativeKeyword(OrgOwnedModel):
    """A negative at ad-group level (ad_group set) or campaign level (ad_group empty)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="negative_keywords")
    ad_group = models.ForeignKey(
        AdGroup, on_delete=models.CASCADE, null=True, blank=True, related_name="negative_keywords"
    )
    external_id = models.CharField(_("platform id"), max_length=128)
    text = models.CharField(_("keyword"), max_length=500)
    match_type = models.CharField(_("match type"), max_length=40, choices=MatchType.choices)
    state = models.CharField(_("state"), max_length=32, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("negative keyword")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "campaign", "external_id"], name="campaigns_negative_unique"
            )
        ]

    def __str__(self):
        return f"-{self.text} [{self.match_type}]"


class AdvertisedProduct(OrgOwnedModel):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    ad_group = models.ForeignKey(AdGroup, on_delete=models.CASCADE, related_name="products")
    external_id = models.CharField(_("platform id"), max_length=128)
    sku = models.CharField(_("SKU"), max_length=128, blank=True)
    asin = models.CharField(_("ASIN"), max_length=32, blank=True)
    state = models.CharField(_("state"), max_length=32, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("advertised product")
        constraints = [
            models.UniqueConstraint(fields=["organization", "ad_group", "external_id"], name="campaigns_product_unique")
        ]

    def __str__(self):
        return self.sku or self.asin
