"""Locale-aware money formatting: the amount in its currency, written the way the reader's language does."""

from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, format_decimal
from django import template
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from accounts.models import Role

register = template.Library()

BABEL_LOCALES = {"en": "en_US", "zh-hans": "zh_Hans_CN"}


def babel_locale() -> str:
    return BABEL_LOCALES.get(translation.get_language() or "en", "en_US")


@register.filter
def money(value, currency):
    """``{{ amount|money:"CNY" }}`` -> ``CN¥1,234.50`` in English, ``¥1,234.50`` in Chinese."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return ""
    return format_currency(amount, currency, locale=babel_locale())


@register.filter
def number(value, digits=0):
    if value is None or value == "":
        return ""
    return format_decimal(
        Decimal(str(value)),
        format=f"#,##0.{'0' * int(digits)}" if int(digits) else "#,##0",
        locale=babel_locale(),
    )


AUDIT_VERBS = {
    "organization.created": _("created the organization"),
    "organization.settings_changed": _("changed organization settings"),
    "invitation.created": _("sent an invitation"),
    "invitation.resent": _("re-sent an invitation"),
    "invitation.revoked": _("withdrew an invitation"),
    "invitation.accepted_existing_member": _("accepted an invitation (already a member)"),
    "membership.joined": _("joined the organization"),
    "membership.added": _("added a member"),
    "membership.role_changed": _("changed a member's role"),
    "membership.removed": _("removed a member"),
    "membership.left": _("left the organization"),
    "connection.created": _("connected an account"),
    "connection.disconnected": _("disconnected an account"),
    "alert.dismiss": _("dismissed an alert"),
    "analytics.cost_set": _("set a product cost"),
    "analytics.cost_deleted": _("removed a product cost"),
    "analytics.costs_imported": _("uploaded product costs"),
    "analytics.fee_set": _("changed a marketplace fee"),
    "analytics.tax_set": _("changed a VAT/GST rate"),
    "campaigns.proposals_created": _("proposed changes"),
    "campaigns.proposal_approved": _("approved a change"),
    "campaigns.proposal_rejected": _("rejected a change"),
    "campaigns.proposal_pushed": _("pushed a change to the platform"),
    "campaigns.proposal_push_failed": _("could not push a change to the platform"),
    "campaigns.proposal_rollback": _("queued a rollback of a change"),
    "campaigns.experiment_created": _("created an A/B test"),
    "campaigns.experiment_started": _("started an A/B test"),
    "campaigns.experiment_stopped": _("stopped an A/B test"),
    "campaigns.copy_saved": _("saved ad copy"),
    "campaigns.copy_edited": _("edited ad copy"),
    "campaigns.copy_approved": _("approved ad copy"),
    "campaigns.copy_blocked": _("tried to approve ad copy the compliance check blocks"),
    "campaigns.seller_event_added": _("added an event to the market calendar"),
    "campaigns.seller_event_deleted": _("removed an event from the market calendar"),
    "campaigns.rule_created": _("created a rule"),
    "campaigns.rule_updated": _("changed a rule"),
    "campaigns.rule_enabled": _("switched a rule on"),
    "campaigns.rule_disabled": _("switched a rule off"),
    "campaigns.rule_dry_run": _("dry-ran a rule"),
    "campaigns.rule_run": _("ran a rule"),
}


@register.filter
def audit_verb(verb):
    """A readable sentence for an audit verb; unknown verbs are shown as they are stored."""
    return AUDIT_VERBS.get(verb, verb)


@register.filter
def role_label(value):
    """The translated name of a stored role value."""
    return Role(value).label if value in Role.values else value
