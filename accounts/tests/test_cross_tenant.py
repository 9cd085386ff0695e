"""Every URL under /o/<slug>/ answers 404 to a member of another organization.

The walk covers every pattern in the URLconf, so a view added later is covered the day it is added.
A new URL keyword argument needs a sample below, or this test fails and says so.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import AuditEvent, Invitation, Membership, Organization, Role
from accounts.tests.factories import InvitationFactory, MembershipFactory, OrganizationFactory, member

pytestmark = pytest.mark.django_db

# kwarg name -> function(organization) returning a value that belongs to that organization
SAMPLES = {
    "membership_id": lambda org: MembershipFactory(organization=org, role=Role.VIEWER).pk,
    "invitation_id": lambda org: InvitationFactory(organization=org).pk,
    "section": lambda org: "campaigns",
    "connection_id": lambda org: _connection(org).pk,
    "import_id": lambda org: _file_import(org).pk,
    "platform": lambda org: "amazon_ads",
    "channel": lambda org: "amazon_ads",
    "campaign_id": lambda org: _ad_campaign(org),
    "panel": lambda org: "kpis",
    "page": lambda org: "overview",
    "alert_id": lambda org: _alert(org).pk,
    "rule_id": lambda org: _rule(org).pk,
    "run_id": lambda org: _rule_run(org).pk,
    "proposal_id": lambda org: _proposal(org).pk,
    "seller_event_id": lambda org: _seller_event(org).pk,
    "experiment_id": lambda org: _experiment(org).pk,
    "ad_copy_id": lambda org: _ad_copy(org).pk,
}


def _connection(org):
    from connectors.tests.factories import ConnectionFactory

    return ConnectionFactory(organization=org)


def _ad_campaign(org):
    from analytics.tests.factories import AdFactFactory

    return AdFactFactory(organization=org, channel="amazon_ads", campaign_id="C-SAMPLE").campaign_id


def _alert(org):
    from analytics.tests.factories import AlertFactory

    return AlertFactory(organization=org)


def _proposal(org):
    from campaigns.tests.factories import ProposalFactory

    return ProposalFactory(organization=org)


def _seller_event(org):
    from datetime import date

    from campaigns.models import SellerEvent

    return SellerEvent.unscoped_objects.create(
        organization=org, key="prime_day", marketplace="US", start=date(2026, 7, 14), end=date(2026, 7, 15)
    )


def _rule(org):
    from campaigns.models import Rule

    return Rule.unscoped_objects.create(
        organization=org,
        name="Sample rule",
        scope="campaign",
        conditions=[{"metric": "spend", "window_days": 7, "op": "gt", "value": 0}],
        action={"type": "pause", "value": None, "ignore_last_days": 0},
    )


def _rule_run(org):
    from campaigns.models import RuleRun

    return RuleRun.unscoped_objects.create(organization=org, rule=_rule(org))


def _experiment(org):
    from campaigns.models import Experiment, ExperimentVariant

    experiment = Experiment.unscoped_objects.create(
        organization=org, name="Sample test", channel="amazon_ads", metric="ctr"
    )
    for position, name in enumerate("AB"):
        ExperimentVariant.unscoped_objects.create(
            organization=org, experiment=experiment, name=name, position=position, campaign_id=f"C-{name}"
        )
    return experiment


def _ad_copy(org):
    from campaigns.models import AdCopy

    return AdCopy.unscoped_objects.create(
        organization=org,
        product="Desk lamp",
        market="US",
        language="en",
        channel="google_ads",
        headline="Desk lamp",
        body="A lamp for your desk.",
        provider="templates",
    )


def _file_import(org):
    from connectors.tests.factories import FileImportFactory

    return FileImportFactory(organization=org)


# kwargs that name an object (as opposed to a fixed word such as a section)
OBJECT_KWARGS = {
    "membership_id",
    "invitation_id",
    "connection_id",
    "import_id",
    "alert_id",
    "rule_id",
    "run_id",
    "proposal_id",
    "seller_event_id",
    "experiment_id",
    "ad_copy_id",
}


def _walk(patterns, prefix_kwargs=frozenset()):
    for entry in patterns:
        kwargs = prefix_kwargs | set(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, frozenset(kwargs))
        elif isinstance(entry, URLPattern) and "org_slug" in kwargs and entry.name:
            yield entry.name, tuple(sorted(kwargs - {"org_slug"}))


def org_url_patterns():
    return sorted(set(_walk(get_resolver().url_patterns)))


def test_the_walk_finds_the_organization_pages():
    names = {name for name, _ in org_url_patterns()}
    assert {"dashboard", "members", "member_change_role", "organization_settings", "section"} <= names


@pytest.mark.parametrize(("name", "kwarg_names"), org_url_patterns())
def test_other_organizations_urls_answer_404(client, name, kwarg_names):
    victim = OrganizationFactory(name="Victim")
    attacker_org = OrganizationFactory(name="Attacker")
    client.force_login(member(attacker_org, Role.OWNER))
    missing = [k for k in kwarg_names if k not in SAMPLES]
    assert not missing, f"add a sample for URL kwargs {missing} of '{name}' in {__file__}"

    victim_kwargs = {k: SAMPLES[k](victim) for k in kwarg_names}
    before = _state()
    url = reverse(name, kwargs={"org_slug": victim.slug, **victim_kwargs})
    assert client.get(url).status_code == 404, url
    assert client.post(url, {"role": Role.OWNER, "email": "x@example.test"}).status_code == 404, url
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 404, url

    if set(kwarg_names) & OBJECT_KWARGS:
        # The attacker's own organization in the URL, the victim's object ids: still 404.
        url = reverse(name, kwargs={"org_slug": attacker_org.slug, **victim_kwargs})
        # 405 answers the method before any lookup, whether or not the object exists: it reveals nothing.
        assert client.get(url).status_code in (404, 405), url
        assert client.post(url, {"role": Role.OWNER}).status_code in (404, 405), url
        assert 404 in (client.get(url).status_code, client.post(url, {"role": Role.OWNER}).status_code), url
    after = _state()
    assert _victim_rows(before, victim) == _victim_rows(after, victim), "a denied request changed data"


def _state():
    from connectors.models import Connection, SyncRun

    return {
        "connections": set(Connection.unscoped_objects.values_list("pk", "organization_id", "status")),
        "runs": SyncRun.unscoped_objects.count(),
        "memberships": set(Membership.unscoped_objects.values_list("pk", "organization_id", "role")),
        "invitations": set(Invitation.unscoped_objects.values_list("pk", "organization_id", "status")),
        "audit": AuditEvent.unscoped_objects.count(),
        "orgs": set(Organization.objects.values_list("pk", "name", "home_currency")),
    }


def _victim_rows(state, victim):
    return (
        {row for row in state["memberships"] if row[1] == victim.pk},
        {row for row in state["invitations"] if row[1] == victim.pk},
        {row for row in state["orgs"] if row[0] == victim.pk},
        {row for row in state["connections"] if row[1] == victim.pk},
        state["runs"],
    )


def test_unknown_slug_and_anonymous_access(client, org):
    response = client.get(f"/o/{org.slug}/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    client.force_login(member(OrganizationFactory(), Role.OWNER))
    assert client.get("/o/no-such-org/").status_code == 404
