from celery import shared_task
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts import services
from accounts.models import Invitation, InvitationStatus, Organization
from accounts.scoping import organization_task


@shared_task(name="accounts.tasks.send_invitation_email", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
@organization_task
def send_invitation_email(*, organization: Organization, invitation_id: int) -> bool:
    invitation = (
        Invitation.objects.select_related("invited_by")
        .filter(pk=invitation_id, status=InvitationStatus.PENDING)
        .first()
    )
    if invitation is None:
        return False
    with translation.override(organization.default_language):
        context = {
            "organization": organization,
            "invitation": invitation,
            "url": services.invitation_url(invitation),
            "inviter": invitation.invited_by.get_full_name() if invitation.invited_by else "",
        }
        subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
        body = render_to_string("accounts/email/invitation_message.txt", context)
    send_mail(subject, body, None, [invitation.email])
    return True


@shared_task(name="accounts.tasks.expire_invitations")
@organization_task
def expire_invitations(*, organization: Organization) -> int:
    return services.invitations_expire(organization=organization)


@shared_task(name="accounts.tasks.fan_out_expire_invitations")
def fan_out_expire_invitations() -> int:
    """Beat entry: one task per organization that has overdue pending invitations."""
    organization_ids = (
        Invitation.unscoped_objects.filter(status=InvitationStatus.PENDING, expires_at__lte=timezone.now())
        .values_list("organization_id", flat=True)
        .distinct()
    )
    count = 0
    for organization_id in organization_ids:
        expire_invitations.delay(organization_id=organization_id)
        count += 1
    return count
