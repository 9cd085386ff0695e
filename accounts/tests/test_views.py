from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.models import AuditEvent, Membership, Role
from accounts.templatetags.chuhai import money
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory, member

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def url(name, org, **kwargs):
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


def test_home_sends_members_to_their_organization_and_visitors_to_login(client, org, owner):
    assert client.get("/")["Location"] == reverse("account_login")
    client.force_login(owner)
    assert client.get("/")["Location"] == url("dashboard", org)


def test_user_without_organization_is_asked_to_create_one(client):
    client.force_login(UserFactory())
    assert client.get("/")["Location"] == reverse("organization_create")


def test_dashboard_shows_navigation_for_every_area(owner_client, org):
    response = owner_client.get(url("dashboard", org))
    assert response.status_code == 200
    for label in ["Dashboard", "Connections", "Campaigns", "Keywords", "Compliance", "Billing", "Settings"]:
        assert f">{label}</a>" in response.content.decode()
    assert b'hx-headers=\'{"X-CSRFToken": "' in response.content


@pytest.mark.parametrize("section", ["campaigns", "billing"])
def test_areas_not_built_yet_say_so(owner_client, org, section):
    response = owner_client.get(url("section", org, section=section))
    assert response.status_code == 200
    assert b"Not available yet" in response.content


def test_unknown_section_is_404(owner_client, org):
    assert owner_client.get(f"/o/{org.slug}/nonsense/").status_code == 404


def test_create_organization_makes_the_creator_owner(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        reverse("organization_create"),
        {
            "name": "Shenzhen Outdoor",
            "home_currency": "CNY",
            "time_zone": "Asia/Shanghai",
            "default_language": "zh-hans",
            "data_region": "cn",
        },
    )
    membership = Membership.unscoped_objects.get(user=user)
    assert response["Location"] == url("dashboard", membership.organization)
    assert membership.role == Role.OWNER
    assert (membership.organization.slug, membership.organization.home_currency) == (
        "shenzhen-outdoor",
        "CNY",
    )


def test_create_organization_with_a_bad_time_zone_is_a_form_error(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        reverse("organization_create"),
        {
            "name": "X",
            "home_currency": "CNY",
            "time_zone": "Mars/Olympus",
            "default_language": "en",
            "data_region": "cn",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert b'id="org-form"' in response.content
    assert b"<html" not in response.content
    assert not Membership.unscoped_objects.filter(user=user).exists()


def test_settings_save_via_htmx_returns_the_form_partial_and_audits(owner_client, org, owner):
    data = {
        "name": "Renamed",
        "home_currency": "EUR",
        "time_zone": "Europe/Berlin",
        "default_language": "en",
        "data_region": "eu",
    }
    response = owner_client.post(url("organization_settings", org), data, headers=HX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<form id="settings-form"')
    assert b"Settings saved." in response.content
    assert "HX-Request" in response["Vary"]
    org.refresh_from_db()
    assert (org.name, org.home_currency, org.time_zone, org.data_region) == (
        "Renamed",
        "EUR",
        "Europe/Berlin",
        "eu",
    )
    event = AuditEvent.unscoped_objects.get(organization=org, verb="organization.settings_changed")
    assert event.actor == owner
    assert event.data["home_currency"] == ["USD", "EUR"]


def test_settings_with_invalid_values_change_nothing(owner_client, org):
    response = owner_client.post(
        url("organization_settings", org),
        {
            "name": "",
            "home_currency": "XXX",
            "time_zone": "UTC",
            "default_language": "en",
            "data_region": "sg",
        },
    )
    assert response.status_code == 400
    org.refresh_from_db()
    assert org.home_currency == "USD"
    assert not AuditEvent.unscoped_objects.filter(verb="organization.settings_changed").exists()


def test_members_page_and_partial(owner_client, org):
    full = owner_client.get(url("members", org))
    partial = owner_client.get(url("members", org), headers=HX)
    assert b"<html" in full.content and b'id="members-panel"' in full.content
    assert b"<html" not in partial.content and partial.content.lstrip().startswith(b'<div id="members-panel"')
    assert "HX-Request" in full["Vary"] and "HX-Request" in partial["Vary"]


def test_history_restore_request_gets_the_full_page(owner_client, org):
    response = owner_client.get(url("members", org), headers={**HX, "HX-History-Restore-Request": "true"})
    assert b"<html" in response.content


def test_members_page_query_count_does_not_grow_with_members(client, org, django_assert_num_queries):
    user = member(org, Role.OWNER)
    client.force_login(user)
    client.get(url("members", org))  # warm up session and caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get(url("members", org))
    for _ in range(15):
        MembershipFactory(organization=org, role=Role.ANALYST)
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url("members", org))
    assert response.content.count(b"<tr>") >= 16


def test_htmx_request_without_login_gets_hx_redirect(client, org):
    response = client.get(url("members", org), headers=HX)
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("account_login"))


def test_htmx_error_is_a_message_for_the_message_area(client, org):
    client.force_login(member(org, Role.VIEWER))
    response = client.post(url("member_invite", org), {"email": "a@example.test", "role": "viewer"}, headers=HX)
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#messages"
    assert b'class="alert alert-error"' in response.content
    assert b"does not allow" in response.content


def test_language_switch_is_remembered_for_the_user(client, org, owner):
    client.force_login(owner)
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": url("members", org)})
    assert response["Location"] == url("members", org)
    owner.refresh_from_db()
    assert owner.language == "zh-hans"
    page = client.get(url("dashboard", org))
    assert b'<html lang="zh-hans">' in page.content


def test_language_switch_refuses_foreign_redirects(client):
    response = client.post(reverse("set_language"), {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == reverse("home")


def test_language_and_time_zone_default_from_the_organization(client):
    org = OrganizationFactory(default_language="zh-hans", time_zone="Asia/Shanghai")
    client.force_login(member(org, Role.VIEWER))
    response = client.get(url("dashboard", org))
    assert b'<html lang="zh-hans">' in response.content
    assert response.context["TIME_ZONE"] == "Asia/Shanghai"


def test_money_is_formatted_for_the_language():
    with translation.override("en"):
        assert money(Decimal("1234.5"), "CNY") == "CN¥1,234.50"
        assert money(Decimal("1234.5"), "USD") == "$1,234.50"
    with translation.override("zh-hans"):
        assert money(Decimal("1234.5"), "CNY") == "¥1,234.50"
        assert money(Decimal("1234.5"), "USD") == "US$1,234.50"
    assert money(None, "USD") == ""


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_is_503_when_the_broker_is_unreachable(client, monkeypatch):
    from config.celery_app import app

    unreachable = "redis://127.0.0.1:9/0"
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", unreachable)
    monkeypatch.setitem(app.conf, "broker_url", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")
    assert response.json()["database"] == "ok"


def test_audit_log_lists_events_for_admins(owner_client, org, owner):
    AuditEvent.unscoped_objects.create(
        organization=org,
        actor=owner,
        verb="membership.removed",
        target_type="accounts.membership",
        target_id="42",
        data={"role": "analyst"},
    )
    response = owner_client.get(url("audit_log", org))
    assert response.status_code == 200
    assert b"removed a member" in response.content
    assert b'<span class="badge">Analyst</span>' in response.content
