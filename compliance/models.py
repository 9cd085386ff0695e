"""Ad-claim rules as the staff console sees them: one row per rule in the rule files, and the words staff add.

Rules are global, not tenant-owned. Their content comes from ``compliance/rules/*.yaml`` (``definition`` keeps
the validated entry, the other columns mirror it for the admin); staff may only switch a rule off, leave a
note, and add words or compliant forms to it, per market if needed. Every change is kept in the history tables.
"""

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from compliance import loader


class Category(models.TextChoices):
    FREE_CLAIM = "free_claim", _("“Free” claim")
    FALSE_URGENCY = "false_urgency", _("False urgency")
    SUPERLATIVE = "superlative", _("Superlative or ranking")
    HEALTH_CLAIM = "health_claim", _("Health claim")
    WEIGHT_LOSS = "weight_loss", _("Weight loss")
    PERSONAL_ATTRIBUTES = "personal_attributes", _("Personal attributes")
    ENVIRONMENTAL_CLAIM = "environmental_claim", _("Environmental claim")
    ORIGIN_CLAIM = "origin_claim", _("Origin claim")
    REVIEWS_ENDORSEMENTS = "reviews_endorsements", _("Reviews and endorsements")
    PRICE_REDUCTION = "price_reduction", _("Price reduction")
    LISTING_PROMO = "listing_promo", _("Promotion in a listing")
    PESTICIDE_CLAIM = "pesticide_claim", _("Pesticide or biocide claim")
    RESTRICTED_PRODUCT = "restricted_product", _("Restricted product")
    RELIGIOUS_CULTURAL = "religious_cultural", _("Religious or cultural")
    HALAL_CLAIM = "halal_claim", _("Halal claim")
    CLICKBAIT = "clickbait", _("Clickbait")


class Severity(models.TextChoices):
    BLOCK = "block", _("Block")
    WARN = "warn", _("Warn")


class Rule(models.Model):
    rule_id = models.CharField(_("rule id"), max_length=100, unique=True)
    file = models.CharField(_("rule file"), max_length=100)
    file_version = models.PositiveIntegerField(_("file version"))
    category = models.CharField(_("category"), max_length=32, choices=Category.choices)
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices)
    markets = ArrayField(models.CharField(max_length=8), verbose_name=_("markets"))
    channels = ArrayField(models.CharField(max_length=32), verbose_name=_("channels"))
    languages = ArrayField(models.CharField(max_length=8), verbose_name=_("languages"))
    explanation = models.TextField(_("explanation"))
    fix = models.TextField(_("suggested fix"))
    source = models.TextField(_("source"))
    source_url = models.URLField(_("source address"), max_length=500, blank=True)
    definition = models.JSONField(_("definition"), help_text=_("The rule as validated from its file."))
    content_hash = models.CharField(_("content hash"), max_length=64)
    enabled = models.BooleanField(_("enabled"), default=True)
    retired = models.BooleanField(
        _("retired"), default=False, help_text=_("No longer in the rule files; never applied.")
    )
    staff_note = models.TextField(_("staff note"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["rule_id"]
        verbose_name = _("ad rule")
        verbose_name_plural = _("ad rules")

    def __str__(self) -> str:
        return self.rule_id


class TermKind(models.TextChoices):
    TRIGGER = "trigger", _("Word that triggers the rule")
    EXCEPTION = "exception", _("Compliant form that clears it")


class RuleTerm(models.Model):
    """A word (or a regular expression) staff added to a rule, for one market or all of the rule's markets."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="terms", verbose_name=_("rule"))
    kind = models.CharField(_("kind"), max_length=16, choices=TermKind.choices, default=TermKind.TRIGGER)
    value = models.CharField(
        _("word or pattern"),
        max_length=300,
        help_text=_("A word or phrase; * at either end allows letters before or after it."),
    )
    is_pattern = models.BooleanField(_("regular expression"), default=False)
    language = models.CharField(_("language"), max_length=8, help_text=_("ISO code such as en, de, zh, or any."))
    market = models.CharField(
        _("market"), max_length=2, blank=True, help_text=_("ISO country code; empty for all the rule's markets.")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["rule_id", "language", "market", "value"]
        verbose_name = _("rule word")
        verbose_name_plural = _("rule words")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "kind", "language", "market", "value"], name="compliance_ruleterm_unique"
            )
        ]

    def __str__(self) -> str:
        where = f"{self.language}, {self.market}" if self.market else self.language
        return f"{self.value} ({where})"

    def clean(self) -> None:
        errors = {}
        self.language = loader.normalize_language(self.language) or ""
        self.market = loader.MARKET_ALIASES.get(self.market.strip().upper(), self.market.strip().upper())
        problem = loader.validate_pattern(self.value) if self.is_pattern else loader.validate_word(self.value)
        if problem:
            errors["value"] = problem
        rule = self.rule if self.rule_id else None
        if rule is not None:
            if loader.ANY_LANGUAGE not in rule.languages and self.language not in [*rule.languages, "any"]:
                errors["language"] = _("This rule is for %(languages)s.") % {"languages": ", ".join(rule.languages)}
            in_markets = loader.ANY_MARKET in rule.markets or self.market in loader.expand_markets(rule.markets)
            if self.market and not in_markets:
                errors["market"] = _("This rule applies in %(markets)s.") % {"markets": ", ".join(rule.markets)}
        if errors:
            raise ValidationError(errors)
