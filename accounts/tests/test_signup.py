import re

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from accounts.models import AuditEvent, Membership, Role, User
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def signup(client, email="mei@example.test", name="Mei Zhang"):
    return client.post(
        reverse("account_signup"),
        {"name": name, "email": email, "password1": PASSWORD, "password2": PASSWORD},
    )


def test_signup_creates_a_personal_organization_and_requires_email_verification(client, mailoutbox):
    response = signup(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get(email="mei@example.test")
    assert user.name == "Mei Zhang"
    membership = Membership.unscoped_objects.select_related("organization").get(user=user)
    assert membership.role == Role.OWNER
    assert membership.organization.is_personal
    assert membership.organization.name == "Mei Zhang's shop"
    assert AuditEvent.unscoped_objects.filter(
        organization=membership.organization, verb="organization.created"
    ).exists()

    # Not verified yet: no way in.
    assert client.get(reverse("dashboard", kwargs={"org_slug": membership.organization.slug})).status_code == 302
    login = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert login["Location"] == reverse("account_email_verification_sent")

    link = re.search(r"https?://[^/]+(/accounts/confirm-email/\S+/)", mailoutbox[-1].body).group(1)
    confirm = client.post(link)
    assert confirm.status_code == 302
    assert EmailAddress.objects.get(user=user).verified
    home = client.get(reverse("home"))
    assert home["Location"] == reverse("dashboard", kwargs={"org_slug": membership.organization.slug})


def test_signup_with_a_taken_email_creates_nothing_and_reveals_nothing(client, mailoutbox):
    UserFactory(email="taken@example.test")
    response = signup(client, email="Taken@Example.test")
    # Same answer as a fresh signup (no account enumeration); the owner of the address is told by email.
    assert response["Location"] == reverse("account_email_verification_sent")
    assert User.objects.filter(email__iexact="taken@example.test").count() == 1
    assert [m.to for m in mailoutbox] == [["taken@example.test"]]


def test_signup_without_a_name_is_refused(client):
    response = signup(client, name="")
    assert response.status_code == 200
    assert not User.objects.filter(email="mei@example.test").exists()


def test_failed_logins_are_rate_limited(client):
    user = UserFactory()
    statuses = [
        client.post(reverse("account_login"), {"login": user.email, "password": "wrong-password"}).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 6
    # After five failures even the right password is refused while the limit holds.
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_signup_in_chinese_sets_the_users_language(client):
    client.cookies["chuhai_language"] = "zh-hans"
    signup(client, email="zh@example.test")
    assert User.objects.get(email="zh@example.test").language == "zh-hans"
