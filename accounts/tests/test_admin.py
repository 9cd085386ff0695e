import pytest
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, Role
from accounts.tests.factories import (
    PASSWORD,
    AuditEventFactory,
    InvitationFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


def totp_code(secret):
    counters = list(yield_hotp_counters_from_time())
    counter = counters[len(counters) // 2]
    return format_hotp_value(hotp_value(secret, counter))


def login_with_totp(client, user, secret):
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert response.status_code == 302


def test_anonymous_admin_goes_to_the_product_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    response = client.get(response["Location"])
    assert response["Location"].startswith(reverse("account_login"))


def test_staff_without_mfa_is_sent_to_set_it_up(client, staff):
    client.force_login(staff)
    response = client.get("/admin/", follow=True)
    # allauth asks for the password again before TOTP can be turned on.
    assert [url for url, _ in response.redirect_chain][:2] == [
        "/admin/login/?next=/admin/",
        reverse("mfa_activate_totp"),
    ]
    assert client.get(reverse("admin:accounts_organization_changelist")).status_code == 302


def test_non_staff_cannot_use_admin_even_with_mfa(client):
    user = UserFactory()
    TOTP.activate(user, generate_totp_secret())
    client.force_login(user)
    assert client.get("/admin/login/").status_code == 403


def test_staff_with_totp_signs_in_and_lists_pages_without_per_row_queries(client, staff):
    secret = generate_totp_secret()
    TOTP.activate(staff, secret)
    login_with_totp(client, staff, secret)
    pages = [
        "admin:accounts_organization_changelist",
        "admin:accounts_user_changelist",
        "admin:accounts_membership_changelist",
        "admin:accounts_invitation_changelist",
        "admin:accounts_auditevent_changelist",
    ]

    def populate(n):
        for _ in range(n):
            org = OrganizationFactory()
            MembershipFactory(organization=org, role=Role.OWNER)
            InvitationFactory(organization=org, invited_by=staff)
            AuditEventFactory(organization=org, actor=staff)

    populate(2)
    counts = {}
    for page in pages:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse(page)).status_code == 200
        counts[page] = len(ctx.captured_queries)
    populate(8)
    for page in pages:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse(page))
        assert response.status_code == 200
        assert len(ctx.captured_queries) == counts[page], f"{page} runs a query per row"


def test_organization_search_by_member_email(client, staff, settings):
    settings.ADMIN_REQUIRE_MFA = False
    org = OrganizationFactory(name="Needle Trading")
    MembershipFactory(organization=org, user=UserFactory(email="finder@example.test"))
    OrganizationFactory(name="Haystack")
    client.force_login(staff)
    response = client.get(reverse("admin:accounts_organization_changelist"), {"q": "finder@example"})
    assert b"Needle Trading" in response.content
    assert b"Haystack" not in response.content


def test_admin_changes_to_organizations_are_audited(client, staff, settings):
    settings.ADMIN_REQUIRE_MFA = False
    org = OrganizationFactory()
    membership = MembershipFactory(organization=org, role=Role.VIEWER)
    client.force_login(staff)
    response = client.post(
        reverse("admin:accounts_organization_change", args=[org.pk]),
        {
            "name": org.name,
            "slug": org.slug,
            "home_currency": "GBP",
            "time_zone": "UTC",
            "default_language": "en",
            "data_region": "eu",
            "billing_email": "",
            "plan": "pro",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": membership.pk,
            "memberships-0-organization": org.pk,
            "memberships-0-user": membership.user_id,
            "memberships-0-role": "admin",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    org.refresh_from_db()
    membership.refresh_from_db()
    assert (org.home_currency, org.plan, membership.role) == ("GBP", "pro", "admin")
    verbs = set(AuditEvent.unscoped_objects.filter(organization=org, actor=staff).values_list("verb", flat=True))
    assert verbs == {"organization.settings_changed", "membership.role_changed"}


def test_audit_events_are_read_only_in_admin(client, staff, settings):
    settings.ADMIN_REQUIRE_MFA = False
    event = AuditEventFactory()
    client.force_login(staff)
    assert client.get(reverse("admin:accounts_auditevent_change", args=[event.pk])).status_code == 200
    assert client.post(reverse("admin:accounts_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:accounts_auditevent_add")).status_code == 403
    assert AuditEvent.unscoped_objects.filter(pk=event.pk).exists()
