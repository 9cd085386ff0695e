"""The signed-in user and the membership behind /o/<slug>/ come from the cache, and every change to them is seen
by the very next request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership, Role
from accounts.tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.django_db


def _home(org):
    return reverse("dashboard", kwargs={"org_slug": org.slug})


def _export(org):
    return reverse("analytics_export", kwargs={"org_slug": org.slug, "page": "overview"})


@pytest.fixture
def org():
    return OrganizationFactory()


def test_a_repeated_request_reads_user_and_membership_from_the_cache(client, org):
    client.force_login(member(org, Role.OWNER))
    client.get(_home(org))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_home(org)).status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    assert not any('FROM "accounts_user" WHERE "accounts_user"."id" =' in q for q in sql), sql
    assert not any('"accounts_organization"."slug" =' in q for q in sql), sql


def test_removed_member_gets_404_on_the_next_request(client, org):
    user = member(org, Role.VIEWER)
    client.force_login(user)
    assert client.get(_home(org)).status_code == 200
    Membership.unscoped_objects.get(user=user, organization=org).delete()
    assert client.get(_home(org)).status_code == 404


def test_role_change_applies_on_the_next_request(client, org):
    user = member(org, Role.VIEWER)
    client.force_login(user)
    assert client.get(_export(org)).status_code == 403
    membership = Membership.unscoped_objects.get(user=user, organization=org)
    membership.role = Role.ANALYST
    membership.save(update_fields=["role"])
    assert client.get(_export(org)).status_code == 200


def test_deactivated_user_is_signed_out_on_the_next_request(client, org):
    user = member(org, Role.OWNER)
    client.force_login(user)
    assert client.get(_home(org)).status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get(_home(org)).status_code == 302  # to the sign-in page


def test_renamed_organization_slug_moves_at_once(client, org):
    client.force_login(member(org, Role.OWNER))
    old = _home(org)
    assert client.get(old).status_code == 200
    org.slug = f"{org.slug}-new"
    org.save(update_fields=["slug"])
    assert client.get(old).status_code == 404
    assert client.get(_home(org)).status_code == 200
