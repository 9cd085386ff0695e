"""The Rules pages: list, form (with and without JavaScript), a rule with its runs, dry runs and real runs, role
checks and other organizations' rules."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from accounts.models import AuditEvent, Role
from accounts.tests.factories import OrganizationFactory
from analytics.tests.factories import AdFactFactory
from campaigns.models import AdAccount, AdGroup, Campaign, Proposal, Rule, RuleRun, Target
from conftest import client_for

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
CONDITIONS = [
    {"metric": "acos", "window_days": 30, "op": "gt", "value": 0.3},
    {"metric": "clicks", "window_days": 7, "op": "gte", "value": 10},
]


def make_rule(org, name="Cut expensive bids", **extra):
    values = {
        "scope": "keyword",
        "conditions": CONDITIONS,
        "action": {"type": "bid_pct", "value": -20, "ignore_last_days": 0},
        **extra,
    }
    return Rule.unscoped_objects.create(organization=org, name=name, **values)


def url(name, org, **kwargs):
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


def keyword_with_facts(org):
    """One keyword at a 1.00 bid with 20 clicks and ACoS 50 % yesterday (in the organization's time zone)."""
    account = AdAccount.unscoped_objects.create(
        organization=org, channel="amazon_ads", external_id="A1", name="US", marketplace="US", currency="USD"
    )
    campaign = Campaign.unscoped_objects.create(organization=org, ad_account=account, external_id="C1", name="Lamps")
    group = AdGroup.unscoped_objects.create(organization=org, campaign=campaign, external_id="G1", name="Desk")
    Target.unscoped_objects.create(
        organization=org, ad_group=group, external_id="T1", text="desk lamp", match_type="EXACT", bid=Decimal("1.00")
    )
    from campaigns.services.rules import default_as_of

    AdFactFactory(
        organization=org, grain="target", date=default_as_of(org), campaign_id="C1", ad_group_id="G1",
        target_id="T1", clicks=20, cost=Decimal("10"), orders=1, sales=Decimal("20"),
    )  # fmt: skip


# --- list ---------------------------------------------------------------------------------------------------------


def test_list_page_shows_rules_their_conditions_and_last_run(client, org):
    client, _user = client_for(client, org, Role.MARKETER)
    rule = make_rule(org)
    RuleRun.unscoped_objects.create(organization=org, rule=rule, dry_run=True, matched=3, changes=[{}, {}])
    make_rule(OrganizationFactory(), name="Someone else's rule")

    response = client.get(url("rules", org))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "Cut expensive bids" in html
    assert "ACoS over 30 days &gt; 30.0%" in html and "Clicks over 7 days ≥ 10" in html
    assert "Change the bid by a percentage: -20%" in html
    assert "3 matched, 2 changes" in html
    assert "Someone else" not in html
    assert url("rule_create", org) in html


def test_list_htmx_request_gets_the_table_partial(client, org):
    client, _user = client_for(client, org, Role.VIEWER)
    make_rule(org)

    response = client.get(url("rules", org), headers=HTMX)

    html = response.content.decode().strip()
    assert response.status_code == 200
    assert html.startswith('<section class="card" id="rules-table"') and "<html" not in html
    assert "HX-Request" in response["Vary"]
    assert url("rule_create", org) not in html  # and no switch either: a viewer reads only
    assert url("rule_toggle", org, rule_id=Rule.unscoped_objects.get().pk) not in html


def test_list_query_count_does_not_grow_with_rules(client, org):
    client, _user = client_for(client, org, Role.OWNER)
    for n in range(2):
        rule = make_rule(org, name=f"Rule {n}")
        RuleRun.unscoped_objects.create(organization=org, rule=rule, changes=[{}])
    client.get(url("rules", org))  # warm up: the membership cache
    with CaptureQueriesContext(connection) as few:
        client.get(url("rules", org))
    for n in range(2, 8):
        rule = make_rule(org, name=f"Rule {n}")
        RuleRun.unscoped_objects.create(organization=org, rule=rule, changes=[{}])

    with CaptureQueriesContext(connection) as many:
        response = client.get(url("rules", org))

    assert response.content.decode().count('id="rule-') == 8
    assert len(many) == len(few)


def test_the_switch_turns_a_rule_off_in_place_and_audits(client, org):
    client, user = client_for(client, org, Role.MARKETER)
    rule = make_rule(org)

    response = client.post(url("rule_toggle", org, rule_id=rule.pk), headers=HTMX)

    html = response.content.decode().strip()
    assert html.startswith(f'<tr id="rule-{rule.pk}">') and 'aria-pressed="false"' in html
    rule.refresh_from_db()
    assert rule.enabled is False
    assert AuditEvent.unscoped_objects.get(organization=org).verb == "campaigns.rule_disabled"
    assert client.post(url("rule_toggle", org, rule_id=rule.pk)).status_code == 302  # without JavaScript
    rule.refresh_from_db()
    assert rule.enabled is True


# --- form ---------------------------------------------------------------------------------------------------------


def form_data(**extra):
    data = {
        "name": "Pause costly keywords",
        "scope": "keyword",
        "action_type": "pause",
        "action_value": "",
        "ignore_last_days": "2",
        "schedule": "daily",
        "enabled": "on",
        "max_changes": "25",
        "max_spend_increase_pct": "10",
        "conditions-TOTAL_FORMS": "3",
        "conditions-INITIAL_FORMS": "0",
        "conditions-0-metric": "acos",
        "conditions-0-window_days": "30",
        "conditions-0-op": "gt",
        "conditions-0-value": "45",
        "conditions-1-metric": "spend",
        "conditions-1-window_days": "14",
        "conditions-1-op": "gte",
        "conditions-1-value": "20",
        "conditions-2-metric": "",
        "conditions-2-window_days": "",
        "conditions-2-op": "gt",
        "conditions-2-value": "",
    }
    data.update(extra)
    return data


def test_new_rule_form_has_three_condition_rows(client, org):
    client, _user = client_for(client, org, Role.MARKETER)

    html = client.get(url("rule_create", org)).content.decode()

    assert 'name="conditions-2-metric"' in html and 'name="conditions-3-metric"' not in html
    assert f"{url('rule_condition_row', org)}?index=3" in html


def test_creating_a_rule_converts_percentages_and_goes_to_the_rule(client, org):
    client, user = client_for(client, org, Role.MARKETER)

    response = client.post(url("rule_create", org), form_data())

    rule = Rule.unscoped_objects.get(organization=org)
    assert response.status_code == 302 and response["Location"] == url("rule_detail", org, rule_id=rule.pk)
    assert rule.conditions == [
        {"metric": "acos", "window_days": 30, "op": "gt", "value": 0.45},
        {"metric": "spend", "window_days": 14, "op": "gte", "value": 20.0},
    ]
    assert rule.action == {"type": "pause", "value": None, "ignore_last_days": 2}
    assert (rule.max_changes, rule.max_spend_increase_pct, rule.created_by) == (25, Decimal("10.00"), user)


def test_creating_with_htmx_redirects_with_a_header(client, org):
    client, _user = client_for(client, org, Role.OWNER)

    response = client.post(url("rule_create", org), form_data(), headers=HTMX)

    rule = Rule.unscoped_objects.get(organization=org)
    assert response.status_code == 204
    assert response["HX-Redirect"] == url("rule_detail", org, rule_id=rule.pk)


def test_an_action_that_does_not_fit_the_scope_is_refused_with_a_reason(client, org):
    client, _user = client_for(client, org, Role.MARKETER)

    response = client.post(url("rule_create", org), form_data(action_type="negative_exact"), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and html.strip().startswith('<form class="card" id="rule-form"')
    assert "cannot be used on keywords and targets." in html
    assert Rule.unscoped_objects.filter(organization=org).count() == 0


def test_a_chosen_metric_needs_its_window_and_value(client, org):
    client, _user = client_for(client, org, Role.MARKETER)

    response = client.post(url("rule_create", org), form_data(**{"conditions-1-value": ""}))

    assert "Required when a metric is chosen." in response.content.decode()
    assert Rule.unscoped_objects.filter(organization=org).count() == 0


def test_adding_a_condition_row_without_javascript_keeps_what_was_typed(client, org):
    client, _user = client_for(client, org, Role.MARKETER)

    response = client.post(url("rule_create", org), form_data(add_condition="1"))

    html = response.content.decode()
    assert 'name="conditions-3-metric"' in html and 'value="45"' in html
    assert Rule.unscoped_objects.filter(organization=org).count() == 0


def test_adding_a_condition_row_with_htmx(client, org):
    client, _user = client_for(client, org, Role.MARKETER)

    response = client.get(url("rule_condition_row", org), {"index": 3}, headers=HTMX)

    html = response.content.decode()
    assert 'name="conditions-3-metric"' in html
    assert 'name="conditions-TOTAL_FORMS" value="4"' in html and 'hx-swap-oob="true"' in html
    assert f"{url('rule_condition_row', org)}?index=4" in html
    assert client.get(url("rule_condition_row", org), {"index": 10}, headers=HTMX).status_code == 204


def test_editing_shows_the_stored_rule_with_percentages(client, org):
    client, _user = client_for(client, org, Role.MARKETER)
    rule = make_rule(org)

    html = client.get(url("rule_edit", org, rule_id=rule.pk)).content.decode()

    assert 'name="conditions-0-value" value="30"' in html  # ACoS 0.3 shown as 30 (%)
    assert 'name="action_value" value="-20"' in html
    assert 'name="conditions-1-value" value="10"' in html
    assert 'name="conditions-2-metric"' in html


def test_viewers_cannot_create_edit_or_run_rules(client, org):
    client, _user = client_for(client, org, Role.VIEWER)
    rule = make_rule(org)

    assert client.get(url("rule_create", org)).status_code == 403
    assert client.post(url("rule_create", org), form_data()).status_code == 403
    assert client.post(url("rule_edit", org, rule_id=rule.pk), form_data()).status_code == 403
    assert client.post(url("rule_dry_run", org, rule_id=rule.pk)).status_code == 403
    assert client.post(url("rule_run", org, rule_id=rule.pk)).status_code == 403
    assert client.post(url("rule_toggle", org, rule_id=rule.pk)).status_code == 403

    assert Rule.unscoped_objects.filter(organization=org).count() == 1
    assert RuleRun.unscoped_objects.filter(organization=org).count() == 0
    rule.refresh_from_db()
    assert (rule.name, rule.enabled) == ("Cut expensive bids", True)
    assert client.get(url("rule_detail", org, rule_id=rule.pk)).status_code == 200


# --- a rule, dry runs and runs ---------------------------------------------------------------------------------------


def test_rule_page_full_and_runs_partial(client, org):
    client, _user = client_for(client, org, Role.ANALYST)
    rule = make_rule(org)
    RuleRun.unscoped_objects.create(
        organization=org, rule=rule, matched=4, changes=[{}], stopped_by_guardrail="max_changes:2"
    )

    page = client.get(url("rule_detail", org, rule_id=rule.pk)).content.decode()
    partial = client.get(url("rule_detail", org, rule_id=rule.pk), headers=HTMX).content.decode().strip()

    assert "<html" in page and "ACoS over 30 days &gt; 30.0%" in page
    assert url("rule_dry_run", org, rule_id=rule.pk) not in page  # an analyst does not run rules
    assert partial.startswith('<section class="card" id="rule-runs"')
    assert "2 changes left out: the rule&#x27;s most changes per run was reached." in partial


def test_a_dry_run_shows_the_changes_and_proposes_nothing(client, org):
    client, _user = client_for(client, org, Role.MARKETER)
    keyword_with_facts(org)
    rule = make_rule(org)

    response = client.post(url("rule_dry_run", org, rule_id=rule.pk), headers=HTMX)

    html = response.content.decode()
    run = RuleRun.unscoped_objects.get(organization=org)
    assert html.strip().startswith('<section id="run-result" class="card">')
    assert 'id="rule-runs" hx-swap-oob="true"' in html
    assert "1 matched, 1 change." in html and "desk lamp" in html
    assert "ACoS over 30 days 50.0% &gt; 30.0%; Clicks over 7 days 20 ≥ 10: bid 1.00 USD → 0.80 USD (-20%)." in html
    assert (run.dry_run, run.matched, run.tool_run) == (True, 1, None)
    assert Proposal.unscoped_objects.filter(organization=org).count() == 0


def test_a_dry_run_without_javascript_lands_on_the_run_page(client, org):
    client, _user = client_for(client, org, Role.MARKETER)
    keyword_with_facts(org)
    rule = make_rule(org)

    response = client.post(url("rule_dry_run", org, rule_id=rule.pk))

    run = RuleRun.unscoped_objects.get(organization=org)
    assert response.status_code == 302 and response["Location"] == url("rule_run_detail", org, run_id=run.pk)
    page = client.get(response["Location"]).content.decode()
    assert "A dry run changes nothing" in page and "0.80 USD" in page


def test_run_now_proposes_the_changes_and_links_to_them(client, org):
    client, user = client_for(client, org, Role.MARKETER)
    keyword_with_facts(org)
    rule = make_rule(org)

    html = client.post(url("rule_run", org, rule_id=rule.pk), headers=HTMX).content.decode()

    run = RuleRun.unscoped_objects.get(organization=org)
    proposal = Proposal.unscoped_objects.get(organization=org)
    assert (run.dry_run, proposal.run_id, proposal.target_id, proposal.proposed_value) == (
        False, run.tool_run_id, "T1", Decimal("0.8000"),
    )  # fmt: skip
    assert proposal.status == "pending"
    try:
        changes = reverse("changes", kwargs={"org_slug": org.slug})
    except NoReverseMatch:  # the link is shown only where the Changes page exists
        changes = None
    if changes:
        assert f"{changes}?run={run.tool_run_id}" in html


def test_another_organizations_rule_is_a_404(client, org):
    client, _user = client_for(client, org, Role.OWNER)
    other = OrganizationFactory()
    rule = make_rule(other)
    run = RuleRun.unscoped_objects.create(organization=other, rule=rule)

    for name in ("rule_detail", "rule_edit"):
        assert client.get(url(name, org, rule_id=rule.pk)).status_code == 404
    for name in ("rule_edit", "rule_toggle", "rule_dry_run", "rule_run"):
        assert client.post(url(name, org, rule_id=rule.pk), form_data()).status_code == 404
    assert client.get(url("rule_run_detail", org, run_id=run.pk)).status_code == 404
    assert client.get(url("rules", other)).status_code == 404

    rule.refresh_from_db()
    assert (rule.name, rule.enabled) == ("Cut expensive bids", True)
    assert RuleRun.unscoped_objects.filter(organization=other).count() == 1


def test_run_page_of_a_date(client, org):
    client, _user = client_for(client, org, Role.VIEWER)
    rule = make_rule(org)
    change = {
        "campaign_name": "Lamps",
        "ad_group_name": "Desk",
        "text": "desk lamp",
        "match_type": "EXACT",
        "current_value": 1.0,
        "proposed_value": 0.8,
        "currency": "USD",
        "reason": "Because.",
        "evidence": {"window_end": date(2026, 11, 30).isoformat()},
    }
    run = RuleRun.unscoped_objects.create(organization=org, rule=rule, dry_run=False, matched=1, changes=[change])

    html = client.get(url("rule_run_detail", org, run_id=run.pk), headers=HTMX).content.decode().strip()

    assert html.startswith('<section class="card" id="run-result">')
    assert "1.00 USD" in html and "0.80 USD" in html and "Because." in html
