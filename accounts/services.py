"""Every write in accounts: organizations, memberships, invitations, settings, audit."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import (
    AuditEvent,
    Invitation,
    InvitationStatus,
    Membership,
    Organization,
    Role,
    User,
)
from accounts.permissions import Perm, can_assign_role, has_perm
from accounts.scoping import organization_scope

INVITATION_TTL = timedelta(days=7)
INVITATION_SALT = "accounts.invitation"
SETTINGS_FIELDS = ("name", "home_currency", "time_zone", "default_language", "data_region")


class ServiceError(ValidationError):
    """A refused write, with a message a person can act on. Nothing was changed."""


def record_audit(*, organization: Organization, actor: User | None, verb: str, target, data=None) -> AuditEvent:
    """Write an audit row. Call inside the transaction of the change it records."""
    return AuditEvent.unscoped_objects.create(
        organization=organization,
        actor=actor,
        verb=verb,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data or {},
    )


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organization_create(
    *,
    owner: User,
    name: str,
    home_currency: str = "USD",
    time_zone: str = "UTC",
    default_language: str = "en",
    data_region: str = "sg",
    is_personal: bool = False,
) -> Organization:
    organization = Organization.objects.create(
        name=name,
        slug=_unique_slug(name),
        home_currency=home_currency,
        time_zone=time_zone,
        default_language=default_language,
        data_region=data_region,
        billing_email=owner.email,
        is_personal=is_personal,
    )
    membership = Membership.unscoped_objects.create(organization=organization, user=owner, role=Role.OWNER)
    record_audit(
        organization=organization,
        actor=owner,
        verb="organization.created",
        target=organization,
        data={"owner_membership": membership.pk},
    )
    return organization


def personal_organization_create(*, user: User) -> Organization:
    label = user.name or user.email.split("@")[0]
    return organization_create(
        owner=user,
        name=_("%(name)s's shop") % {"name": label},
        default_language=user.language or "en",
        is_personal=True,
    )


@transaction.atomic
def organization_update_settings(*, organization: Organization, actor: Membership, **values) -> Organization:
    if not has_perm(actor.role, Perm.MANAGE_SETTINGS):
        raise ServiceError(_("Your role in this organization does not allow this."))
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    changes = {}
    for field in SETTINGS_FIELDS:
        if field in values and getattr(locked, field) != values[field]:
            changes[field] = [getattr(locked, field), values[field]]
            setattr(locked, field, values[field])
    if changes:
        locked.save(update_fields=[*changes, "updated_at"])
        record_audit(
            organization=locked,
            actor=actor.user,
            verb="organization.settings_changed",
            target=locked,
            data=changes,
        )
    return locked


def _invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt=INVITATION_SALT)


def invitation_url(invitation: Invitation) -> str:
    from django.urls import reverse

    return settings.SITE_URL.rstrip("/") + reverse("invitation_accept", args=[_invitation_token(invitation)])


@transaction.atomic
def invitation_create(*, organization: Organization, actor: Membership, email: str, role: str) -> Invitation:
    """Invite ``email`` with ``role``; inviting the same address again re-sends with a fresh link."""
    from accounts import tasks

    if not has_perm(actor.role, Perm.INVITE) or not can_assign_role(actor.role, role):
        raise ServiceError(_("Your role in this organization does not allow inviting with that role."))
    email = User.objects.normalize_email(email).strip()
    if Membership.unscoped_objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ServiceError(_("%(email)s is already a member of this organization.") % {"email": email})
    now = timezone.now()
    invitation = (
        Invitation.unscoped_objects.select_for_update()
        .filter(organization=organization, email__iexact=email, status=InvitationStatus.PENDING)
        .first()
    )
    verb = "invitation.resent" if invitation else "invitation.created"
    if invitation is None:
        invitation = Invitation(organization=organization, email=email)
    invitation.role = role
    invitation.nonce = secrets.token_hex(16)
    invitation.invited_by = actor.user
    invitation.expires_at = now + INVITATION_TTL
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError as exc:
        raise ServiceError(_("An invitation to %(email)s is already pending.") % {"email": email}) from exc
    record_audit(organization=organization, actor=actor.user, verb=verb, target=invitation, data={"role": role})
    tasks.send_invitation_email.delay_on_commit(organization_id=organization.pk, invitation_id=invitation.pk)
    return invitation


def invitation_from_token(token: str) -> Invitation:
    """The invitation a link points at, or a ServiceError saying why the link is no good."""
    try:
        payload = signing.loads(token, salt=INVITATION_SALT)
        invitation = Invitation.unscoped_objects.select_related("organization").get(pk=payload["i"])
    except (signing.BadSignature, KeyError, TypeError, Invitation.DoesNotExist) as exc:
        raise ServiceError(_("This invitation link is not valid. Ask for a new invitation.")) from exc
    if not secrets.compare_digest(invitation.nonce, str(payload.get("n", ""))):
        raise ServiceError(_("This invitation link has been replaced by a newer one. Use the latest email."))
    if invitation.status == InvitationStatus.ACCEPTED:
        raise ServiceError(_("This invitation has already been accepted."))
    if invitation.status == InvitationStatus.REVOKED:
        raise ServiceError(_("This invitation was withdrawn. Ask for a new invitation."))
    if invitation.status == InvitationStatus.EXPIRED or invitation.expires_at <= timezone.now():
        raise ServiceError(_("This invitation has expired. Ask the person who invited you to send a new one."))
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    invitation = invitation_from_token(token)
    invitation = Invitation.unscoped_objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != InvitationStatus.PENDING:
        raise ServiceError(_("This invitation has already been used."))
    if invitation.email.lower() != user.email.lower():
        raise ServiceError(
            _("This invitation was sent to %(email)s. Sign in with that address to accept it.")
            % {"email": invitation.email}
        )
    organization = invitation.organization
    membership, created = Membership.unscoped_objects.get_or_create(
        organization=organization, user=user, defaults={"role": invitation.role}
    )
    invitation.status = InvitationStatus.ACCEPTED
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["status", "accepted_by", "accepted_at", "updated_at"])
    record_audit(
        organization=organization,
        actor=user,
        verb="membership.joined" if created else "invitation.accepted_existing_member",
        target=membership,
        data={"role": membership.role, "invitation": invitation.pk},
    )
    return membership


@transaction.atomic
def invitation_revoke(*, organization: Organization, actor: Membership, invitation_id) -> Invitation:
    if not has_perm(actor.role, Perm.INVITE):
        raise ServiceError(_("Your role in this organization does not allow this."))
    with organization_scope(organization):
        invitation = Invitation.objects.select_for_update().get(pk=invitation_id)
    if invitation.status != InvitationStatus.PENDING:
        raise ServiceError(_("Only a pending invitation can be withdrawn."))
    invitation.status = InvitationStatus.REVOKED
    invitation.save(update_fields=["status", "updated_at"])
    record_audit(organization=organization, actor=actor.user, verb="invitation.revoked", target=invitation)
    return invitation


def invitations_expire(*, organization: Organization) -> int:
    with organization_scope(organization):
        return Invitation.objects.filter(status=InvitationStatus.PENDING, expires_at__lte=timezone.now()).update(
            status=InvitationStatus.EXPIRED, updated_at=timezone.now()
        )


def _owner_count(organization: Organization) -> int:
    return Membership.unscoped_objects.select_for_update().filter(organization=organization, role=Role.OWNER).count()


@transaction.atomic
def membership_change_role(*, organization: Organization, actor: Membership, membership_id, role: str) -> Membership:
    if role not in Role.values:
        raise ServiceError(_("Unknown role."))
    with organization_scope(organization):
        membership = Membership.objects.select_for_update().get(pk=membership_id)
    if not has_perm(actor.role, Perm.MANAGE_MEMBERS):
        raise ServiceError(_("Your role in this organization does not allow this."))
    touches_owner = Role.OWNER in (membership.role, role)
    if touches_owner and actor.role != Role.OWNER:
        raise ServiceError(_("Only an owner can grant or take away the owner role."))
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(organization) <= 1:
        raise ServiceError(_("An organization needs at least one owner. Make someone else an owner first."))
    if membership.role == role:
        return membership
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    record_audit(
        organization=organization,
        actor=actor.user,
        verb="membership.role_changed",
        target=membership,
        data={"user": membership.user_id, "from": previous, "to": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, organization: Organization, actor: Membership, membership_id) -> None:
    with organization_scope(organization):
        membership = Membership.objects.select_for_update().get(pk=membership_id)
    leaving = membership.pk == actor.pk
    if not leaving and not has_perm(actor.role, Perm.MANAGE_MEMBERS):
        raise ServiceError(_("Your role in this organization does not allow this."))
    if not leaving and membership.role == Role.OWNER and actor.role != Role.OWNER:
        raise ServiceError(_("Only an owner can remove another owner."))
    if membership.role == Role.OWNER and _owner_count(organization) <= 1:
        raise ServiceError(
            _("You are the last owner. Make someone else an owner before leaving.")
            if leaving
            else _("An organization needs at least one owner.")
        )
    record_audit(
        organization=organization,
        actor=actor.user,
        verb="membership.left" if leaving else "membership.removed",
        target=membership,
        data={"user": membership.user_id, "role": membership.role},
    )
    membership.delete()


def user_set_language(*, user: User, language: str) -> User:
    if language not in dict(settings.LANGUAGES):
        raise ServiceError(_("Unknown language."))
    user.language = language
    user.save(update_fields=["language"])
    return user
