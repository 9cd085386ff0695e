import pytest
from django.http import Http404

from accounts.models import AuditEvent, Membership, Role
from accounts.scoping import (
    OrganizationScopeError,
    current_organization,
    get_org_object_or_404,
    organization_scope,
    organization_task,
)
from accounts.tests.factories import InvitationFactory, MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_default_manager_fails_closed_without_a_scope():
    MembershipFactory()
    with pytest.raises(OrganizationScopeError, match="no organization in scope"):
        list(Membership.objects.all())


def test_scope_shows_only_that_organizations_rows(org, other_org):
    mine = MembershipFactory(organization=org)
    MembershipFactory(organization=other_org)
    with organization_scope(org):
        assert list(Membership.objects.values_list("pk", flat=True)) == [mine.pk]
        assert current_organization() == org
    assert current_organization() is None


def test_scopes_nest_and_restore(org, other_org):
    with organization_scope(org):
        with organization_scope(other_org):
            assert current_organization() == other_org
        assert current_organization() == org


def test_saving_another_tenants_row_inside_a_scope_is_refused(org, other_org):
    invitation = InvitationFactory(organization=other_org)
    invitation.role = Role.ADMIN
    with organization_scope(org), pytest.raises(OrganizationScopeError):
        invitation.save()
    invitation.refresh_from_db()
    assert invitation.role == Role.MARKETER


def test_new_rows_take_the_organization_in_scope(org):
    with organization_scope(org):
        event = AuditEvent(verb="x", target_type="t", target_id="1")
        event.save()
    assert event.organization_id == org.pk


def test_get_org_object_or_404_hides_other_tenants_objects(org, other_org):
    theirs = InvitationFactory(organization=other_org)
    mine = InvitationFactory(organization=org)
    assert get_org_object_or_404(type(mine), org, pk=mine.pk) == mine
    with pytest.raises(Http404):
        get_org_object_or_404(type(theirs), org, pk=theirs.pk)
    with pytest.raises(Http404):
        get_org_object_or_404(type(theirs), org, pk="not-a-number")


def test_organization_task_runs_inside_the_scope(org):
    seen = {}

    @organization_task
    def body(*, organization, value):
        seen["org"] = current_organization()
        seen["value"] = value
        return Membership.objects.count()

    MembershipFactory(organization=org)
    MembershipFactory(organization=OrganizationFactory())
    assert body(organization_id=org.pk, value=3) == 1
    assert seen == {"org": org, "value": 3}
    assert current_organization() is None


def test_organization_task_for_a_deleted_organization_does_nothing(org):
    calls = []

    @organization_task
    def body(*, organization):
        calls.append(organization)

    org_id = org.pk
    org.delete()
    assert body(organization_id=org_id) is None
    assert calls == []


def test_middleware_resets_scope_after_each_request(client, org):
    from accounts.tests.factories import member

    client.force_login(member(org, Role.VIEWER))
    response = client.get(f"/o/{org.slug}/")
    assert response.status_code == 200
    assert response.wsgi_request.organization == org
    assert current_organization() is None
