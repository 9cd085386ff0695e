from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.scoping import OrgOwnedModel
from connectors.crypto import EncryptedJSONField


class Platform(models.TextChoices):
    AMAZON_ADS = "amazon_ads", _("Amazon Ads")
    AMAZON_SP = "amazon_sp", _("Amazon Seller Central")
    SHOPIFY = "shopify", _("Shopify")
    GOOGLE_ADS = "google_ads", _("Google Ads")
    META = "meta", _("Meta (Facebook and Instagram)")
    TIKTOK_ADS = "tiktok_ads", _("TikTok Ads")
    SHOPEE = "shopee", _("Shopee")
    TIKTOK_SHOP = "tiktok_shop", _("TikTok Shop")
    EBAY = "ebay", _("eBay")


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ERROR = "error", _("Needs attention")
    REAUTH = "reauth", _("Re-authorization needed")
    DISCONNECTED = "disconnected", _("Disconnected")


class Connection(OrgOwnedModel):
    """One account on one platform (an Amazon Ads profile, a seller account in one marketplace, a shop)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="connections")
    platform = models.CharField(_("platform"), max_length=32, choices=Platform.choices)
    name = models.CharField(_("name"), max_length=200)
    external_id = models.CharField(_("account id"), max_length=128, help_text=_("Profile, seller or shop id."))
    marketplace = models.CharField(_("marketplace"), max_length=32, blank=True)
    region = models.CharField(_("region"), max_length=8, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    status = models.CharField(
        _("status"), max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE
    )
    credentials = EncryptedJSONField(_("credentials"), blank=True, default=dict, editable=False)
    config = models.JSONField(_("settings"), default=dict, blank=True)
    sync_every_hours = models.PositiveSmallIntegerField(_("sync every (hours)"), default=6)
    backfill_days = models.PositiveSmallIntegerField(_("history to load (days)"), default=90)
    lookback_days = models.PositiveSmallIntegerField(
        _("restatement window (days)"),
        help_text=_("Days re-pulled on every run because the platform restates them."),
    )
    synced_through = models.DateField(_("complete through"), null=True, blank=True)
    next_sync_at = models.DateTimeField(_("next sync"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    connected_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "platform", "external_id", "marketplace"],
                name="connectors_connection_unique_account",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_sync_at"], name="connectors_conn_due_idx"),
        ]

    def __str__(self):
        return f"{self.get_platform_display()}: {self.name}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    PARTIAL = "partial", _("Partly loaded")
    FAILED = "failed", _("Failed")


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class RunKind(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    MANUAL = "manual", _("Sync now")
    BACKFILL = "backfill", _("First load")


class SyncRun(OrgOwnedModel):
    """One pull of one connection over a window of days; its cursor lets a killed run resume."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(_("kind"), max_length=16, choices=RunKind.choices, default=RunKind.SCHEDULED)
    status = models.CharField(_("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    window_start = models.DateField(_("from"))
    window_end = models.DateField(_("to"))
    cursor = models.JSONField(_("cursor"), default=dict, blank=True)
    rows_read = models.BigIntegerField(_("rows read"), default=0)
    rows_written = models.BigIntegerField(_("rows written"), default=0)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    platform_totals = models.JSONField(
        _("platform's own totals"),
        default=dict,
        blank=True,
        help_text=_("Totals the platform reported for the window, kept beside ours for reconciliation."),
    )
    message = models.TextField(_("message"), blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    not_before = models.DateTimeField(
        _("retry not before"), null=True, blank=True, help_text=_("Set while waiting out a platform's Retry-After.")
    )
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        ordering = ["-created_at"]
        constraints = [
            # At most one queued or running run per connection: the claim is the database's.
            models.UniqueConstraint(
                fields=["connection"],
                condition=Q(status__in=["queued", "running"]),
                name="connectors_syncrun_one_active_per_connection",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "connection", "-created_at"], name="connectors_run_conn_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="connectors_run_status_idx"),
        ]

    def __str__(self):
        return f"run {self.pk} of {self.connection_id} ({self.status})"


class ImportFormat(models.TextChoices):
    AMAZON_SP_SEARCH_TERM = "amazon_sp_search_term", _("Amazon Sponsored Products search term report")
    AMAZON_SP_CAMPAIGN = "amazon_sp_campaign", _("Amazon Sponsored Products campaign report")
    GOOGLE_ADS_UI = "google_ads_ui", _("Google Ads report (downloaded from the Google Ads UI)")
    META_ADS_MANAGER = "meta_ads_manager", _("Meta Ads Manager export")


class FileImport(OrgOwnedModel):
    """An uploaded report file: all of it is loaded, or none of it."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    original_name = models.CharField(_("file name"), max_length=255)
    stored_path = models.CharField(max_length=500, editable=False)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField(default=0)
    detected_format = models.CharField(_("format"), max_length=32, choices=ImportFormat.choices, blank=True)
    marketplace = models.CharField(_("marketplace"), max_length=32, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    rows_total = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{row, column, message}]")
    message = models.TextField(blank=True)
    uploaded_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("file import")
        verbose_name_plural = _("file imports")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "sha256"], name="connectors_import_sha_idx")]

    def __str__(self):
        return self.original_name


class RateLimitBucket(models.Model):
    """Token buckets shared by every worker when no Redis is configured (one row per platform and key)."""

    key = models.CharField(max_length=200, primary_key=True)
    tokens = models.FloatField()
    updated_at = models.FloatField(help_text="time.time() of the last refill")

    def __str__(self):
        return self.key
