"""The Bids & budgets page: the forms and the latest runs' proposals, running a tool (redirect to where the
proposals are approved), validation, permissions, other organizations and a constant number of queries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, member
from analytics.query import today_in
from analytics.tests.factories import AdFactFactory, AdRollupFactory
from campaigns import optimize_views
from campaigns.models import AdAccount, AdGroup, Campaign, Proposal, Target, ToolRun
from campaigns.services.proposals import proposals_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return OrganizationFactory()


def page_url(org):
    return reverse("optimize", kwargs={"org_slug": org.slug})


def bids_url(org):
    return reverse("optimize_bids_run", kwargs={"org_slug": org.slug})


def budgets_url(org):
    return reverse("optimize_budgets_run", kwargs={"org_slug": org.slug})


def login(client, org, role=Role.MARKETER):
    user = member(org, role)
    client.force_login(user)
    return user


def seller(org):
    """One keyword with clicks and a bid, one campaign with a budget, results yesterday."""
    yesterday = today_in(org.time_zone) - timedelta(days=1)
    account = AdAccount.unscoped_objects.create(
        organization=org, channel="amazon_ads", external_id="P1", name="US", marketplace="US", currency="USD"
    )
    campaign = Campaign.unscoped_objects.create(
        organization=org, ad_account=account, external_id="C1", name="Lamps", state="enabled", budget=Decimal("20")
    )
    Campaign.unscoped_objects.create(
        organization=org, ad_account=account, external_id="C2", name="Shades", state="enabled", budget=Decimal("20")
    )
    group = AdGroup.unscoped_objects.create(organization=org, campaign=campaign, external_id="G1", name="Group")
    Target.unscoped_objects.create(
        organization=org, ad_group=group, external_id="T1", text="desk lamp", match_type="EXACT", bid=Decimal("1.00")
    )
    AdFactFactory(
        organization=org,
        grain="target",
        account_id="P1",
        date=yesterday,
        campaign_id="C1",
        ad_group_id="G1",
        target_id="T1",
        clicks=100,
        cost=Decimal("100"),
        orders=10,
        sales=Decimal("200"),
    )
    AdRollupFactory(organization=org, account_id="P1", campaign_id="C1", date=yesterday, cost=Decimal("50"))
    AdRollupFactory(organization=org, account_id="P1", campaign_id="C2", date=yesterday, cost=Decimal("5"), orders=0)


BID_POST = {"goal": "acos", "target": "25", "min_bid": "0.02", "max_step": "20"}


def changes_url(org, run):
    try:
        return f"{reverse(optimize_views.CHANGES_URL_NAMES[0], kwargs={'org_slug': org.slug})}?run={run.pk}"
    except NoReverseMatch:
        pass
    try:
        return f"{reverse(optimize_views.CHANGES_URL_NAMES[1], kwargs={'org_slug': org.slug})}?run={run.pk}"
    except NoReverseMatch:
        return page_url(org)


# --- the page -------------------------------------------------------------------------------------------------


def test_full_page_shows_both_forms_with_defaults_to_a_marketer(client, org):
    seller(org)
    login(client, org)

    response = client.get(page_url(org))

    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" in content and "<h1>Bids & budgets</h1>" in content
    assert 'id="bid-form"' in content and 'id="budget-form"' in content
    assert 'name="target" value="25"' in content
    assert 'name="daily_total" value="40.00"' in content  # the two campaigns' current budgets
    assert "USD (2 campaigns)" in content
    assert "No bid or budget run yet." in content
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_a_viewer_sees_the_proposals_but_no_forms(client, org):
    seller(org)
    login(client, org, Role.VIEWER)

    content = client.get(page_url(org)).content.decode()

    assert 'id="optimize-runs"' in content
    assert 'id="bid-form"' not in content and 'id="budget-form"' not in content


def test_htmx_request_gets_only_the_runs_partial(client, org):
    login(client, org)

    response = client.get(page_url(org), headers={"HX-Request": "true"})

    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<section id="optimize-runs"')
    assert "<html" not in content and 'id="bid-form"' not in content


def test_other_organizations_page_and_runs_are_404(client, org):
    login(client, OrganizationFactory(), Role.OWNER)

    assert client.get(page_url(org)).status_code == 404
    assert client.post(bids_url(org), BID_POST).status_code == 404
    assert client.post(budgets_url(org), {"currency": "USD", "daily_total": "10", "min_budget": "1"}).status_code == 404
    assert not ToolRun.unscoped_objects.filter(organization=org).exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_roles_without_edit_cannot_run_tools(client, org, role):
    seller(org)
    login(client, org, role)

    assert client.post(bids_url(org), BID_POST).status_code == 403
    assert client.post(budgets_url(org), {"currency": "USD", "daily_total": "10", "min_budget": "1"}).status_code == 403
    assert not ToolRun.unscoped_objects.filter(organization=org).exists()
    assert not Proposal.unscoped_objects.filter(organization=org).exists()


def test_page_queries_do_not_grow_with_proposals(client, org):
    seller(org)
    user = login(client, org)

    def run(tool, kind, first, last):
        rows = [
            {"channel": "amazon_ads", "account_id": "P1", "campaign_id": f"C{n}", "target_id": f"T{n}",
             "current_value": 1, "proposed_value": 1.2, "currency": "USD", "evidence": {"action": "raise"}}
            for n in range(first, last)
        ]  # fmt: skip
        proposals_create(organization=org, tool=tool, kind=kind, rows=rows, actor=user)

    run("bids", "bid", 0, 1)
    run("budgets", "budget", 0, 1)
    client.get(page_url(org))  # the login and membership are cached after the first request
    with CaptureQueriesContext(connection) as one:
        assert client.get(page_url(org)).status_code == 200
    run("bids", "bid", 1, 61)
    run("budgets", "budget", 1, 61)
    with CaptureQueriesContext(connection) as many:
        content = client.get(page_url(org)).content.decode()

    assert content.count('<tr id="proposal-') == 2 * optimize_views.PREVIEW_ROWS
    assert "10 more proposals of this run are on the Changes page." in content
    assert len(many) == len(one)


# --- running the tools ----------------------------------------------------------------------------------------


def test_running_bids_redirects_to_the_proposals(client, org):
    seller(org)
    login(client, org)

    response = client.post(bids_url(org), BID_POST)

    run = ToolRun.unscoped_objects.get(organization=org, tool="bids")
    assert response.status_code == 302
    assert response["Location"] == changes_url(org, run)
    assert list(Proposal.unscoped_objects.filter(run=run).values_list("target_id", "proposed_value")) == [
        ("T1", Decimal("0.8000"))
    ]
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["1 proposal waiting for approval."]


def test_without_a_changes_page_a_run_comes_back_here_with_a_message(client, org, monkeypatch):
    monkeypatch.setattr(optimize_views, "CHANGES_URL_NAMES", ("no_such_page",))
    seller(org)
    login(client, org)

    response = client.post(bids_url(org), BID_POST, follow=True)

    assert response.redirect_chain == [(page_url(org), 302)]
    content = response.content.decode()
    assert "1 proposal waiting for approval." in content
    assert "Latest bid proposals" in content and "desk lamp" in content


def test_htmx_run_answers_with_hx_redirect(client, org):
    seller(org)
    login(client, org)

    response = client.post(budgets_url(org), {"currency": "USD", "daily_total": "40", "min_budget": "1"},
                           headers={"HX-Request": "true"})  # fmt: skip

    run = ToolRun.unscoped_objects.get(organization=org, tool="budgets")
    assert response.status_code == 204
    assert response["HX-Redirect"] == changes_url(org, run)
    assert run.summary["campaigns"] == 2


def test_invalid_bid_form_shows_translatable_errors(client, org):
    seller(org)
    login(client, org)

    response = client.post(bids_url(org), {**BID_POST, "target": "0", "max_bid": "0.01", "min_bid": "0.50"})

    assert response.status_code == 400
    content = response.content.decode()
    assert "Enter a target ACoS above 0 and up to 200 %." in content
    assert "The maximum bid is below the minimum bid." in content
    assert not ToolRun.unscoped_objects.filter(organization=org).exists()


def test_invalid_form_over_htmx_swaps_the_form_back(client, org):
    seller(org)
    login(client, org)

    response = client.post(
        bids_url(org), {**BID_POST, "goal": "profit", "target": "100"}, headers={"HX-Request": "true"}
    )

    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<section class="card" id="bid-form"')
    assert "Enter a profit margin from 0 to under 100 %." in content


def test_a_budget_that_cannot_be_met_is_a_form_error(client, org):
    seller(org)
    login(client, org)

    response = client.post(budgets_url(org), {"currency": "USD", "daily_total": "10", "min_budget": "6"})

    assert response.status_code == 400
    assert (
        "A minimum of 6.00 for each of the 2 campaigns adds up to more than the daily total of 10.00."
        in response.content.decode()
    )
    assert not ToolRun.unscoped_objects.filter(organization=org).exists()


def test_an_unknown_currency_is_refused(client, org):
    seller(org)
    login(client, org)

    response = client.post(budgets_url(org), {"currency": "EUR", "daily_total": "10", "min_budget": "1"})

    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
