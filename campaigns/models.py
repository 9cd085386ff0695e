"""The advertising entities of every channel, each keeping the platform's own id and state."""

from decimal import Decimal

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


# --- acting on the data: proposals (the outbox a push claims), tool runs, rules, experiments, copy ----------------


class ProposalKind(models.TextChoices):
    KEYWORD = "keyword", _("New keyword")
    NEGATIVE = "negative", _("Negative keyword")
    BID = "bid", _("Bid change")
    BUDGET = "budget", _("Budget change")
    STATUS = "status", _("Status change")
    COPY = "copy", _("Ad copy")


class ProposalStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved, waiting to push")
    REJECTED = "rejected", _("Rejected")
    PUSHING = "pushing", _("Pushing")
    PUSHED = "pushed", _("Pushed")
    FAILED = "failed", _("Push failed")
    ROLLED_BACK = "rolled_back", _("Rolled back")
    SUPERSEDED = "superseded", _("Superseded")


OPEN_PROPOSAL_STATUSES = (ProposalStatus.PENDING, ProposalStatus.APPROVED, ProposalStatus.PUSHING)


class ToolRun(OrgOwnedModel):
    """One run of a keyword tool, bid or budget proposer, or rule: its parameters and what it proposed."""

    class Tool(models.TextChoices):
        HARVEST = "harvest", _("Search-term harvesting")
        NEGATIVES = "negatives", _("Negative mining")
        BIDS = "bids", _("Bid proposals")
        BUDGETS = "budgets", _("Budget allocation")
        RULE = "rule", _("Rule")
        MANUAL = "manual", _("Manual change")
        COPY = "copy", _("Ad copy")

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    tool = models.CharField(_("tool"), max_length=16, choices=Tool.choices)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    window_start = models.DateField(_("from"), null=True, blank=True)
    window_end = models.DateField(_("to"), null=True, blank=True)
    proposed = models.PositiveIntegerField(_("proposals"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0, help_text=_("Already proposed or in place."))
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    created_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("tool run")
        indexes = [models.Index(fields=["organization", "-created_at"], name="campaigns_toolrun_recent_idx")]

    def __str__(self):
        return f"{self.get_tool_display()} #{self.pk}"


class Proposal(OrgOwnedModel):
    """One proposed change with its evidence. Approved rows are the outbox a connectors task pushes; each push
    records its result here. ``dedupe_key`` makes re-running a tool idempotent: one open proposal per change."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(ToolRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="proposals")
    kind = models.CharField(_("kind"), max_length=16, choices=ProposalKind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.PENDING
    )
    channel = models.CharField(_("channel"), max_length=32, choices=Channel.choices)
    account_id = models.CharField(_("account"), max_length=128)
    marketplace = models.CharField(_("marketplace"), max_length=32, blank=True)
    campaign_id = models.CharField(_("campaign"), max_length=128, blank=True)
    campaign_name = models.CharField(_("campaign name"), max_length=255, blank=True)
    ad_group_id = models.CharField(_("ad group"), max_length=128, blank=True)
    ad_group_name = models.CharField(_("ad group name"), max_length=255, blank=True)
    target_id = models.CharField(_("keyword or target"), max_length=128, blank=True)
    text = models.CharField(_("text"), max_length=500, blank=True)
    match_type = models.CharField(_("match type"), max_length=40, choices=MatchType.choices, blank=True)
    current_value = models.DecimalField(_("current"), max_digits=18, decimal_places=4, null=True, blank=True)
    proposed_value = models.DecimalField(_("proposed"), max_digits=18, decimal_places=4, null=True, blank=True)
    proposed_state = models.CharField(_("proposed state"), max_length=32, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    dedupe_key = models.CharField(max_length=200)
    decided_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    push_attempts = models.PositiveSmallIntegerField(_("push attempts"), default=0)
    pushed_at = models.DateTimeField(_("pushed"), null=True, blank=True)
    result_code = models.CharField(_("result"), max_length=64, blank=True)
    result_message = models.TextField(_("result message"), blank=True)
    platform_id = models.CharField(
        _("platform id"), max_length=128, blank=True, help_text=_("Id of what the push created (for a rollback).")
    )
    previous = models.JSONField(
        _("before the push"), default=dict, blank=True, help_text=_("What a rollback restores.")
    )
    rollback_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="rollbacks")

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("proposal")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "dedupe_key"],
                condition=models.Q(status__in=["pending", "approved", "pushing"]),
                name="campaigns_proposal_one_open",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "status", "kind"], name="campaigns_proposal_status_idx"),
            models.Index(fields=["status", "channel"], name="campaigns_proposal_outbox_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.text or self.campaign_name or self.campaign_id}"


class Rule(OrgOwnedModel):
    """ "If <metric> over <window> <op> <value> [and ...] then <action>" on campaigns, keywords or search terms."""

    class Scope(models.TextChoices):
        CAMPAIGN = "campaign", _("Campaigns")
        KEYWORD = "keyword", _("Keywords and targets")
        SEARCH_TERM = "search_term", _("Search terms")

    class Schedule(models.TextChoices):
        DAILY = "daily", _("Daily")
        WEEKLY = "weekly", _("Weekly")
        MANUAL = "manual", _("Only when run by hand")

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    scope = models.CharField(_("applies to"), max_length=16, choices=Scope.choices)
    channels = models.JSONField(_("channels"), default=list, blank=True, help_text=_("Empty: every channel."))
    conditions = models.JSONField(_("conditions"), default=list)
    action = models.JSONField(_("action"), default=dict)
    schedule = models.CharField(_("schedule"), max_length=16, choices=Schedule.choices, default=Schedule.DAILY)
    enabled = models.BooleanField(_("enabled"), default=True)
    auto_apply = models.BooleanField(
        _("apply without approval"),
        default=False,
        help_text=_("Changes this rule makes are approved by the rule itself, within its guardrails."),
    )
    max_changes = models.PositiveIntegerField(_("most changes per run"), default=50)
    max_spend_increase_pct = models.DecimalField(
        _("most daily spend increase per run (%)"), max_digits=6, decimal_places=2, default=Decimal("20")
    )
    created_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("rule")

    def __str__(self):
        return self.name


class RuleRun(OrgOwnedModel):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    tool_run = models.OneToOneField(ToolRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    dry_run = models.BooleanField(_("dry run"), default=True)
    matched = models.PositiveIntegerField(_("matched"), default=0)
    changes = models.JSONField(_("changes"), default=list, blank=True)
    stopped_by_guardrail = models.CharField(_("stopped by guardrail"), max_length=200, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("rule run")


class Experiment(OrgOwnedModel):
    """An A/B test of ad creatives or copy: its variants, metric and plan."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        STOPPED = "stopped", _("Stopped")

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    channel = models.CharField(_("channel"), max_length=32, choices=Channel.choices)
    metric = models.CharField(_("metric"), max_length=8)
    baseline_rate = models.DecimalField(_("baseline rate"), max_digits=8, decimal_places=6, null=True, blank=True)
    minimum_effect = models.DecimalField(
        _("smallest lift worth detecting"), max_digits=6, decimal_places=4, default=Decimal("0.1")
    )
    planned_units = models.PositiveIntegerField(_("planned units per variant"), null=True, blank=True)
    planned_days = models.PositiveIntegerField(_("planned days"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    started_on = models.DateField(_("started"), null=True, blank=True)
    stopped_on = models.DateField(_("stopped"), null=True, blank=True)
    winner = models.CharField(_("winner"), max_length=120, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("A/B test")

    def __str__(self):
        return self.name


class ExperimentVariant(OrgOwnedModel):
    """One arm: the ad (or ad group) on the platform whose facts are its numbers."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveSmallIntegerField(default=0)
    campaign_id = models.CharField(_("campaign"), max_length=128, blank=True)
    ad_group_id = models.CharField(_("ad group"), max_length=128, blank=True)
    ad_copy = models.ForeignKey("AdCopy", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("A/B test variant")
        ordering = ["position", "pk"]


class AdCopy(OrgOwnedModel):
    """Ad copy for one product, market, language and channel; approved only after the compliance check."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        APPROVED = "approved", _("Approved")
        BLOCKED = "blocked", _("Blocked by the compliance check")

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    product = models.CharField(_("product"), max_length=255)
    market = models.CharField(_("market"), max_length=8)
    language = models.CharField(_("language"), max_length=16)
    channel = models.CharField(_("channel"), max_length=32)
    headline = models.CharField(_("headline"), max_length=300)
    body = models.TextField(_("body"), blank=True)
    provider = models.CharField(_("written by"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    check_verdict = models.CharField(_("compliance verdict"), max_length=16, blank=True)
    check_findings = models.JSONField(_("compliance findings"), default=list, blank=True)
    approved_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("ad copy")
        verbose_name_plural = _("ad copies")

    def __str__(self):
        return self.headline


class SellerEvent(OrgOwnedModel):
    """A date only the seller knows (Prime Day, a store's own sale), shown in the market calendar."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(_("event"), max_length=32, default="prime_day")
    marketplace = models.CharField(_("marketplace"), max_length=8)
    start = models.DateField(_("start"))
    end = models.DateField(_("end"))

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("seller event")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key", "marketplace", "start"], name="campaigns_sellerevent_unique"
            )
        ]
