"""Reads in accounts. Each takes the organization (or user) explicitly."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from accounts.models import AuditEvent, Invitation, InvitationStatus, Membership, Organization, User


def user_memberships(*, user: User) -> QuerySet[Membership]:
    return Membership.unscoped_objects.filter(user=user).select_related("organization").order_by("organization__name")


def user_default_organization(*, user: User, preferred_slug: str | None = None) -> Organization | None:
    memberships = list(user_memberships(user=user))
    for membership in memberships:
        if membership.organization.slug == preferred_slug:
            return membership.organization
    return memberships[0].organization if memberships else None


def organization_members(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.unscoped_objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__name", "user__email")
    )


def organization_pending_invitations(*, organization: Organization) -> QuerySet[Invitation]:
    return (
        Invitation.unscoped_objects.filter(organization=organization, status=InvitationStatus.PENDING)
        .select_related("invited_by")
        .order_by("-created_at")
    )


def organization_audit_events(*, organization: Organization, limit: int = 50) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.unscoped_objects.filter(organization=organization)
        .select_related("actor")
        .order_by("-created_at")[:limit]
    )


def organizations_with_member_counts() -> QuerySet[Organization]:
    return Organization.objects.annotate(member_count=Count("memberships", distinct=True))


def organization_settings_reviewed(*, organization: Organization) -> bool:
    """Whether someone chose this organization's currency and time zone (not just the signup defaults)."""
    if not organization.is_personal:
        return True
    return AuditEvent.unscoped_objects.filter(organization=organization, verb="organization.settings_changed").exists()
