"""Role checks, per view and per role, derived from the permission each view declares."""

from pathlib import Path

import pytest
from django.urls import resolve, reverse

from accounts.models import Role
from accounts.permissions import MATRIX, Perm, can_assign_role, has_perm, matrix_markdown
from accounts.tests.factories import InvitationFactory, MembershipFactory, member
from accounts.tests.test_cross_tenant import SAMPLES, org_url_patterns

pytestmark = pytest.mark.django_db


def _required_perm(name, kwargs):
    view = resolve(reverse(name, kwargs=kwargs)).func
    return getattr(view, "required_perm", None)


# What each page or action needs. A new view must be added here with the permission it should need.
EXPECTED = {
    "dashboard": Perm.VIEW,
    "section": Perm.VIEW,
    "compliance_check": Perm.VIEW,
    "members": Perm.VIEW,
    "organization_leave": Perm.VIEW,
    "organization_settings": Perm.VIEW,  # read-only for roles without MANAGE_SETTINGS; saving is checked too
    "audit_log": Perm.MANAGE_SETTINGS,
    "member_invite": Perm.INVITE,
    "invitation_revoke": Perm.INVITE,
    "member_change_role": Perm.MANAGE_MEMBERS,
    "member_remove": Perm.MANAGE_MEMBERS,
    "connections": Perm.VIEW,
    "connection_detail": Perm.VIEW,
    "connection_status": Perm.VIEW,
    "import_status": Perm.VIEW,
    "connect_start": Perm.CONNECT_ACCOUNTS,
    "connection_disconnect": Perm.CONNECT_ACCOUNTS,
    "connection_sync": Perm.EDIT_CAMPAIGNS,
    "import_upload": Perm.EDIT_CAMPAIGNS,
    "analytics_campaigns": Perm.VIEW,
    "analytics_campaigns_export": Perm.EXPORT,
    "analytics_campaign_detail": Perm.VIEW,
    "analytics_campaign_detail_export": Perm.EXPORT,
    "analytics_products": Perm.VIEW,
    "analytics_products_export": Perm.EXPORT,
    "analytics_profit": Perm.VIEW,
    "analytics_cost_edit": Perm.EDIT_CAMPAIGNS,
    "analytics_cost_upload": Perm.EDIT_CAMPAIGNS,
    "analytics_fee_edit": Perm.MANAGE_SETTINGS,
    "analytics_tax_edit": Perm.MANAGE_SETTINGS,
    "analytics_overview": Perm.VIEW,
    "analytics_overview_panel": Perm.VIEW,
    "analytics_channels": Perm.VIEW,
    "analytics_marketplaces": Perm.VIEW,
    "analytics_export": Perm.EXPORT,
    "analytics_funnel": Perm.VIEW,
    "analytics_funnel_ads": Perm.VIEW,
    "analytics_funnel_sources": Perm.VIEW,
    "analytics_funnel_export": Perm.EXPORT,
    "analytics_alerts": Perm.VIEW,
    "analytics_alert_dismiss": Perm.EDIT_CAMPAIGNS,
    "rules": Perm.VIEW,
    "rule_create": Perm.EDIT_CAMPAIGNS,
    "rule_condition_row": Perm.EDIT_CAMPAIGNS,
    "rule_detail": Perm.VIEW,
    "rule_edit": Perm.EDIT_CAMPAIGNS,
    "rule_toggle": Perm.EDIT_CAMPAIGNS,
    "rule_dry_run": Perm.EDIT_CAMPAIGNS,
    "rule_run": Perm.EDIT_CAMPAIGNS,
    "rule_run_detail": Perm.VIEW,
    "keywords": Perm.VIEW,
    "keywords_harvest": Perm.EDIT_CAMPAIGNS,
    "keywords_negatives": Perm.EDIT_CAMPAIGNS,
    "changes": Perm.VIEW,
    "changes_decide": Perm.PUSH_CHANGES,
    "changes_rollback": Perm.PUSH_CHANGES,
    "optimize": Perm.VIEW,
    "optimize_bids_run": Perm.EDIT_CAMPAIGNS,
    "optimize_budgets_run": Perm.EDIT_CAMPAIGNS,
    "optimize_calendar": Perm.VIEW,
    "optimize_seller_event_add": Perm.EDIT_CAMPAIGNS,
    "optimize_seller_event_delete": Perm.EDIT_CAMPAIGNS,
    "creative_tests": Perm.VIEW,
    "creative_test_new": Perm.EDIT_CAMPAIGNS,
    "creative_test_detail": Perm.VIEW,
    "creative_test_start": Perm.EDIT_CAMPAIGNS,
    "creative_test_stop": Perm.PUSH_CHANGES,
    "creative_copy": Perm.VIEW,
    "creative_copy_generate": Perm.EDIT_CAMPAIGNS,
    "creative_copy_check": Perm.EDIT_CAMPAIGNS,
    "creative_copy_save": Perm.EDIT_CAMPAIGNS,
    "creative_copy_row": Perm.VIEW,
    "creative_copy_edit": Perm.EDIT_CAMPAIGNS,
    "creative_copy_approve": Perm.PUSH_CHANGES,
    "creative_localize": Perm.VIEW,
    "creative_localize_translate": Perm.EDIT_CAMPAIGNS,
    "creative_localize_propose": Perm.EDIT_CAMPAIGNS,
}


@pytest.mark.parametrize(("name", "kwarg_names"), org_url_patterns())
def test_every_organization_view_declares_the_expected_permission(org, name, kwarg_names):
    kwargs = {"org_slug": org.slug, **{k: SAMPLES[k](org) for k in kwarg_names}}
    declared = _required_perm(name, kwargs)
    assert isinstance(declared, Perm), f"{name} has no @require(Perm...)"
    assert name in EXPECTED, f"add {name} to EXPECTED in {__file__}"
    assert declared == EXPECTED[name]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("name", "kwarg_names"), org_url_patterns())
def test_roles_without_the_permission_get_403(client, org, role, name, kwarg_names):
    user = member(org, role)
    MembershipFactory(organization=org, role=Role.OWNER)  # so the last-owner rule never hides a 403
    client.force_login(user)
    kwargs = {"org_slug": org.slug, **{k: SAMPLES[k](org) for k in kwarg_names}}
    perm = _required_perm(name, kwargs)
    url = reverse(name, kwargs=kwargs)
    response = client.post(url, {"role": Role.VIEWER}) if _post_only(client, url) else client.get(url)
    if has_perm(role, perm):
        assert response.status_code != 403, f"{role} should reach {name}"
    else:
        assert response.status_code == 403, f"{role} must not reach {name} ({perm})"


def _post_only(client, url):
    return client.get(url).status_code == 405


def test_matrix_shape():
    assert MATRIX[Role.OWNER] == frozenset(Perm)
    assert Perm.MANAGE_BILLING not in MATRIX[Role.ADMIN]
    assert MATRIX[Role.VIEWER] == {Perm.VIEW}
    assert Perm.PUSH_CHANGES in MATRIX[Role.MARKETER]
    assert Perm.CONNECT_ACCOUNTS not in MATRIX[Role.MARKETER]
    assert MATRIX[Role.ANALYST] == {Perm.VIEW, Perm.EXPORT}


def test_only_owners_hand_out_the_owner_role():
    assert can_assign_role(Role.OWNER, Role.OWNER)
    assert not can_assign_role(Role.ADMIN, Role.OWNER)
    assert can_assign_role(Role.ADMIN, Role.MARKETER)
    assert not can_assign_role(Role.MARKETER, Role.VIEWER)


def test_written_matrix_matches_the_code():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "permissions.md").read_text()
    assert matrix_markdown() in doc, "docs/permissions.md is out of date: run manage.py permissions_matrix"


def test_analyst_sees_settings_read_only_and_cannot_save(client, org):
    client.force_login(member(org, Role.ANALYST))
    page = client.get(reverse("organization_settings", kwargs={"org_slug": org.slug}))
    assert page.status_code == 200
    assert b"Only owners and admins can change these settings." in page.content
    response = client.post(
        reverse("organization_settings", kwargs={"org_slug": org.slug}),
        {
            "name": "Hijacked",
            "home_currency": "EUR",
            "time_zone": "UTC",
            "default_language": "en",
            "data_region": "eu",
        },
    )
    assert response.status_code == 403
    org.refresh_from_db()
    assert org.name != "Hijacked"


def test_marketer_cannot_withdraw_invitations(client, org):
    invitation = InvitationFactory(organization=org)
    client.force_login(member(org, Role.MARKETER))
    url = reverse("invitation_revoke", kwargs={"org_slug": org.slug, "invitation_id": invitation.pk})
    assert client.post(url).status_code == 403
    invitation.refresh_from_db()
    assert invitation.status == "pending"
