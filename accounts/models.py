import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.scoping import OrgOwnedModel


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Signs in with an email address; belongs to organizations through memberships."""

    email = models.EmailField(_("email address"), unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("Leave empty to follow the organization's default language."),
    )
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self):
        return self.email

    def get_full_name(self):
        return self.name or self.email

    def get_short_name(self):
        return self.name.split(" ")[0] if self.name else self.email


CURRENCIES = [
    ("CNY", "CNY"),
    ("USD", "USD"),
    ("EUR", "EUR"),
    ("GBP", "GBP"),
    ("JPY", "JPY"),
    ("HKD", "HKD"),
    ("SGD", "SGD"),
    ("AUD", "AUD"),
    ("CAD", "CAD"),
    ("MYR", "MYR"),
    ("THB", "THB"),
    ("IDR", "IDR"),
    ("PHP", "PHP"),
    ("VND", "VND"),
    ("TWD", "TWD"),
    ("KRW", "KRW"),
    ("MXN", "MXN"),
    ("BRL", "BRL"),
    ("AED", "AED"),
    ("SAR", "SAR"),
    ("PLN", "PLN"),
    ("SEK", "SEK"),
    ("TRY", "TRY"),
    ("INR", "INR"),
]

TIME_ZONES = sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class DataRegion(models.TextChoices):
    CHINA = "cn", _("Mainland China")
    SINGAPORE = "sg", _("Singapore")
    EU = "eu", _("European Union")
    US = "us", _("United States")


class Plan(models.TextChoices):
    BASIC = "basic", _("Basic")
    PRO = "pro", _("Pro")
    ENTERPRISE = "enterprise", _("Enterprise")


class Organization(models.Model):
    """A seller business: the tenant. Everything a seller owns hangs off one of these."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    home_currency = models.CharField(_("home currency"), max_length=3, choices=CURRENCIES, default="USD")
    # No model-level choices: the IANA list changes with tzdata and would churn migrations.
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC", validators=[validate_time_zone])
    default_language = models.CharField(_("default language"), max_length=10, choices=settings.LANGUAGES, default="en")
    data_region = models.CharField(
        _("data region"), max_length=8, choices=DataRegion.choices, default=DataRegion.SINGAPORE
    )
    billing_email = models.EmailField(_("billing email"), blank=True)
    plan = models.CharField(
        _("plan"),
        max_length=20,
        choices=Plan.choices,
        default=Plan.BASIC,
        help_text=_("Kept in step with the Stripe subscription once billing is connected."),
    )
    is_personal = models.BooleanField(_("personal organization"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def email(self):
        """dj-stripe's subscriber email: the billing address set on the organization."""
        return self.billing_email


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    MARKETER = "marketer", _("Marketer")
    ANALYST = "analyst", _("Analyst")
    VIEWER = "viewer", _("Viewer")


class Membership(OrgOwnedModel):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("organization")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="accounts_membership_org_user_unique")
        ]
        indexes = [models.Index(fields=["user", "organization"], name="accounts_membership_user_idx")]

    def __str__(self):
        return f"{self.user_id} in {self.organization_id} as {self.role}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")
    REVOKED = "revoked", _("Revoked")
    EXPIRED = "expired", _("Expired")


class Invitation(OrgOwnedModel):
    """An email invitation to join an organization with a role.

    The link carries a token signed with the site's secret over (id, nonce). Re-sending rotates the
    nonce, so an older link stops working; expiry is enforced from ``expires_at``.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("organization")
    )
    email = models.EmailField(_("email address"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    nonce = models.CharField(max_length=32, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    expires_at = models.DateTimeField(_("expires at"))
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=models.Q(status="pending"),
                name="accounts_invitation_one_pending_per_email",
            )
        ]
        indexes = [models.Index(fields=["organization", "status"], name="accounts_invitation_status_idx")]

    def __str__(self):
        return f"{self.email} ({self.role})"


class AuditEvent(OrgOwnedModel):
    """Who did what to which object, written in the same transaction as the change itself.

    Stores ids and field values, never personal data beyond the actor's id. Kept in ``accounts``
    because membership and settings changes (the first writers) live here and ``accounts`` depends
    on no other app of ours; ``compliance`` reads these rows through ``accounts.selectors``.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_events", verbose_name=_("organization")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    verb = models.CharField(_("verb"), max_length=64)
    target_type = models.CharField(_("target type"), max_length=64)
    target_id = models.CharField(_("target id"), max_length=64)
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta(OrgOwnedModel.Meta):
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="accounts_audit_org_time_idx")]

    def __str__(self):
        return f"{self.verb} {self.target_type}:{self.target_id}"
