import re
from datetime import timedelta

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import AuditEvent, Invitation, InvitationStatus, Membership, Role
from accounts.tests.factories import InvitationFactory, MembershipFactory, UserFactory, member

pytestmark = pytest.mark.django_db


def members_url(org, name="members", **kwargs):
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


@pytest.fixture
def invite(client, django_capture_on_commit_callbacks):
    """POST the invite form and run what the view schedules after commit (the email task)."""

    def post(org, email="new@example.test", role=Role.MARKETER, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(members_url(org, "member_invite"), {"email": email, "role": role}, headers=headers)

    return post


def _link(mail):
    return re.search(r"https?://\S+/invitations/\S+/", mail.body).group(0)


def test_owner_invites_and_the_invitee_joins_with_that_role(client, invite, org, owner, mailoutbox):
    client.force_login(owner)
    response = invite(org)
    assert response.status_code == 302
    invitation = Invitation.unscoped_objects.get(organization=org)
    assert (invitation.email, invitation.role, invitation.status) == (
        "new@example.test",
        Role.MARKETER,
        "pending",
    )
    assert [m.to for m in mailoutbox] == [["new@example.test"]]
    assert org.name in mailoutbox[0].subject
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="invitation.created").count() == 1

    invitee = UserFactory(email="New@Example.test")
    client.force_login(invitee)
    path = _link(mailoutbox[0]).split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)
    assert page.status_code == 200
    assert org.name.encode() in page.content
    response = client.post("/" + path)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard", kwargs={"org_slug": org.slug})
    membership = Membership.unscoped_objects.get(organization=org, user=invitee)
    assert membership.role == Role.MARKETER
    invitation.refresh_from_db()
    assert (invitation.status, invitation.accepted_by) == (InvitationStatus.ACCEPTED, invitee)
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="membership.joined").count() == 1

    # The same link cannot be used twice.
    again = client.post("/" + path)
    assert again.status_code == 400
    assert b"already been accepted" in again.content


def test_invite_via_htmx_returns_the_members_panel(client, invite, org, owner):
    client.force_login(owner)
    response = invite(org, **{"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="members-panel"')
    assert "<html" not in body
    assert "new@example.test" in body
    assert "HX-Request" in response["Vary"]


def test_inviting_again_resends_with_a_new_link_and_kills_the_old_one(client, invite, org, owner, mailoutbox):
    client.force_login(owner)
    invite(org)
    invite(org, role=Role.ANALYST)
    assert Invitation.unscoped_objects.filter(organization=org).count() == 1
    assert Invitation.unscoped_objects.get(organization=org).role == Role.ANALYST
    old, new = _link(mailoutbox[0]), _link(mailoutbox[1])
    assert old != new
    client.force_login(UserFactory(email="new@example.test"))
    response = client.get("/" + old.split("://", 1)[1].split("/", 1)[1])
    assert response.status_code == 400
    assert b"replaced by a newer one" in response.content


def test_inviting_an_existing_member_is_refused(client, invite, org, owner):
    colleague = member(org, Role.VIEWER)
    client.force_login(owner)
    response = invite(org, email=colleague.email.upper())
    assert response.status_code == 400
    assert b"already a member" in response.content
    assert not Invitation.unscoped_objects.exists()


def test_invalid_email_is_a_form_error(client, invite, org, owner):
    client.force_login(owner)
    response = invite(org, email="not-an-email")
    assert response.status_code == 400
    assert not Invitation.unscoped_objects.exists()


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("garbage", b"not valid"),
        (signing.dumps({"i": 999999, "n": "x"}, salt=services.INVITATION_SALT), b"not valid"),
        (signing.dumps({"i": 1, "n": "x"}, salt="another.salt"), b"not valid"),
    ],
)
def test_invalid_invitation_tokens_are_explained(client, token, message):
    client.force_login(UserFactory())
    response = client.post(reverse("invitation_accept", args=[token]))
    assert response.status_code == 400
    assert message in response.content
    assert not Membership.unscoped_objects.exists()


def test_expired_invitation_is_refused_and_changes_nothing(client, org):
    invitation = InvitationFactory(organization=org, expires_at=timezone.now() - timedelta(minutes=1))
    token = services._invitation_token(invitation)
    client.force_login(UserFactory(email=invitation.email))
    response = client.post(reverse("invitation_accept", args=[token]))
    assert response.status_code == 400
    assert b"has expired" in response.content
    assert not Membership.unscoped_objects.filter(organization=org).exists()
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_invitation_for_another_address_is_refused(client, org):
    invitation = InvitationFactory(organization=org, email="right@example.test")
    client.force_login(UserFactory(email="wrong@example.test"))
    response = client.post(reverse("invitation_accept", args=[services._invitation_token(invitation)]))
    assert response.status_code == 400
    assert b"right@example.test" in response.content
    assert not Membership.unscoped_objects.filter(organization=org).exists()


def test_withdrawn_invitation_link_stops_working(client, org, owner):
    invitation = InvitationFactory(organization=org)
    client.force_login(owner)
    client.post(members_url(org, "invitation_revoke", invitation_id=invitation.pk))
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.REVOKED
    client.force_login(UserFactory(email=invitation.email))
    response = client.post(reverse("invitation_accept", args=[services._invitation_token(invitation)]))
    assert response.status_code == 400
    assert b"withdrawn" in response.content


def test_anonymous_visitor_is_asked_to_sign_in(client, org):
    invitation = InvitationFactory(organization=org)
    url = reverse("invitation_accept", args=[services._invitation_token(invitation)])
    page = client.get(url)
    assert page.status_code == 200
    assert b"Sign in" in page.content
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_owner_changes_a_role_and_it_is_audited(client, org, owner):
    colleague = MembershipFactory(organization=org, role=Role.VIEWER)
    client.force_login(owner)
    response = client.post(
        members_url(org, "member_change_role", membership_id=colleague.pk),
        {"role": Role.ADMIN},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    colleague.refresh_from_db()
    assert colleague.role == Role.ADMIN
    event = AuditEvent.unscoped_objects.get(organization=org, verb="membership.role_changed")
    assert event.actor == owner
    assert event.data == {"user": colleague.user_id, "from": "viewer", "to": "admin"}


def test_admin_cannot_promote_to_owner_or_touch_owners(client, org, owner):
    admin = member(org, Role.ADMIN)
    colleague = MembershipFactory(organization=org, role=Role.VIEWER)
    owner_membership = Membership.unscoped_objects.get(user=owner)
    client.force_login(admin)
    client.post(members_url(org, "member_change_role", membership_id=colleague.pk), {"role": Role.OWNER})
    client.post(members_url(org, "member_remove", membership_id=owner_membership.pk))
    colleague.refresh_from_db()
    assert colleague.role == Role.VIEWER
    assert Membership.unscoped_objects.filter(pk=owner_membership.pk).exists()


def test_last_owner_cannot_leave_or_be_demoted(client, org, owner):
    mine = Membership.unscoped_objects.get(user=owner)
    client.force_login(owner)
    response = client.post(members_url(org, "organization_leave"))
    assert response.status_code == 302
    assert Membership.unscoped_objects.filter(pk=mine.pk).exists()
    with pytest.raises(services.ServiceError, match="at least one owner"):
        services.membership_change_role(organization=org, actor=mine, membership_id=mine.pk, role=Role.ADMIN)
    mine.refresh_from_db()
    assert mine.role == Role.OWNER


def test_an_owner_can_leave_when_another_owner_remains(client, org, owner):
    member(org, Role.OWNER)
    client.force_login(owner)
    response = client.post(members_url(org, "organization_leave"))
    assert response.status_code == 302
    assert not Membership.unscoped_objects.filter(organization=org, user=owner).exists()
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="membership.left").exists()


def test_owner_removes_a_member(client, org, owner):
    colleague = MembershipFactory(organization=org, role=Role.ANALYST)
    client.force_login(owner)
    client.post(members_url(org, "member_remove", membership_id=colleague.pk))
    assert not Membership.unscoped_objects.filter(pk=colleague.pk).exists()
    assert AuditEvent.unscoped_objects.get(organization=org, verb="membership.removed").data["role"] == "analyst"


def test_tampered_role_value_is_rejected(client, org, owner):
    colleague = MembershipFactory(organization=org, role=Role.VIEWER)
    client.force_login(owner)
    response = client.post(members_url(org, "member_change_role", membership_id=colleague.pk), {"role": "superuser"})
    assert response.status_code == 400
    colleague.refresh_from_db()
    assert colleague.role == Role.VIEWER


def test_expire_invitations_task_marks_only_overdue_ones(org):
    from accounts.tasks import expire_invitations, fan_out_expire_invitations

    overdue = InvitationFactory(organization=org, expires_at=timezone.now() - timedelta(hours=1))
    fresh = InvitationFactory(organization=org)
    assert fan_out_expire_invitations() == 1
    overdue.refresh_from_db()
    fresh.refresh_from_db()
    assert (overdue.status, fresh.status) == (InvitationStatus.EXPIRED, InvitationStatus.PENDING)
    assert expire_invitations(organization_id=org.pk) == 0
