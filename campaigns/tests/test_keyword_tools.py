"""The keyword tools as actions: harvesting and negative mining turn search-term facts into proposals of one tool
run (nothing proposed twice), and the conflict check finds what a pending negative would block."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import AuditEvent, Role
from accounts.tests.factories import OrganizationFactory, member
from campaigns.keywords.harvest import HarvestThresholds
from campaigns.models import AdAccount, AdGroup, Campaign, Proposal, ProposalKind, ProposalStatus, Target, ToolRun
from campaigns.services.keyword_tools import harvest_run, negative_conflicts, negatives_run
from campaigns.tests.factories import ProposalFactory, ToolRunFactory, search_term_fact

pytestmark = pytest.mark.django_db
NOV1, NOV2 = date(2026, 11, 1), date(2026, 11, 2)
WINDOW = {"start": NOV1, "end": date(2026, 11, 30)}


@pytest.fixture
def owner(org):
    return member(org, Role.OWNER)


@pytest.fixture
def facts(org):
    """ "desk lamp" sold 3 times through the automatic target of ad group G1 and once through the broad keyword
    "lamp" of G2 (24 clicks, 12.00 spend, 120.00 sales in all); "floor lamp" sold once in 3 clicks; "lamp shade
    cheap" took 15 clicks and 7.50 with no order."""
    common = {"orders": 0, "sales": Decimal("0")}
    search_term_fact(org, "desk lamp", date=NOV1, clicks=10, cost=Decimal("5"), orders=2, sales=Decimal("60"))
    search_term_fact(org, "desk lamp", date=NOV2, clicks=10, cost=Decimal("5"), orders=1, sales=Decimal("30"))
    search_term_fact(
        org,
        "desk lamp",
        date=NOV1,
        ad_group_id="G2",
        ad_group_name="Lamps broad",
        target_id="T2",
        target_text="lamp",
        match_type="BROAD",
        clicks=4,
        cost=Decimal("2"),
        orders=1,
        sales=Decimal("30"),
    )
    search_term_fact(org, "floor lamp", date=NOV1, clicks=3, cost=Decimal("1.50"), orders=1, sales=Decimal("25"))
    search_term_fact(org, "lamp shade cheap", date=NOV1, clicks=15, cost=Decimal("7.50"), **common)


def test_harvest_proposes_the_keyword_and_its_source_negative_in_one_run(org, owner, facts):
    proposed = harvest_run(organization=org, actor=owner, thresholds=HarvestThresholds(), **WINDOW)

    assert (proposed.created, proposed.skipped) == (2, 0)
    run = ToolRun.unscoped_objects.get(organization=org)
    assert proposed.run == run
    assert (run.tool, run.proposed, run.skipped, run.window_start, run.window_end) == (
        "harvest",
        2,
        0,
        *WINDOW.values(),
    )
    assert run.parameters["min_orders"] == 2 and run.parameters["target_acos"] == 0.30
    assert run.summary["by_kind"] == {
        "keyword": {"proposed": 1, "skipped": 0},
        "negative": {"proposed": 1, "skipped": 0},
    }
    keyword, negative = Proposal.unscoped_objects.filter(organization=org).order_by("pk")
    assert (keyword.kind, keyword.text, keyword.match_type, keyword.campaign_id, keyword.ad_group_id) == (
        ProposalKind.KEYWORD,
        "desk lamp",
        "EXACT",
        "C1",
        "G1",
    )
    assert (keyword.campaign_name, keyword.ad_group_name, keyword.currency) == ("Lamps auto", "Lamps", "USD")
    assert keyword.proposed_value == Decimal("1.5000")  # 30% target ACoS x 120.00 sales / 24 clicks
    assert {key: keyword.evidence[key] for key in ("clicks", "orders", "cost", "sales", "acos", "cvr", "cpc")} == {
        "clicks": 24,
        "orders": 4,
        "cost": 12.0,
        "sales": 120.0,
        "acos": 0.1,
        "cvr": 0.1667,
        "cpc": 0.5,
    }
    assert keyword.reason == (
        "4 orders from 24 clicks (CVR 16.7%, ACoS 10.0%, 120.00 USD sales on 12.00 USD): add as an exact keyword at "
        "1.50 USD"
    )
    assert (negative.kind, negative.text, negative.match_type, negative.campaign_id, negative.ad_group_id) == (
        ProposalKind.NEGATIVE,
        "desk lamp",
        "NEGATIVE_EXACT",
        "C1",
        "G2",
    )
    assert negative.ad_group_name == "Lamps broad" and negative.proposed_value is None
    assert negative.evidence["harvested"] is True
    assert {p.status for p in (keyword, negative)} == {ProposalStatus.PENDING}


def test_rerunning_the_harvest_proposes_nothing_twice(org, owner, facts):
    harvest_run(organization=org, actor=owner, thresholds=HarvestThresholds(), **WINDOW)
    again = harvest_run(organization=org, actor=owner, thresholds=HarvestThresholds(), **WINDOW)
    assert (again.created, again.skipped) == (0, 2)
    assert Proposal.unscoped_objects.filter(organization=org).count() == 2
    assert ToolRun.unscoped_objects.filter(organization=org).count() == 2
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="campaigns.proposals_created").count() == 4


def test_harvesting_selected_terms_judges_only_those(org, owner, facts):
    proposed = harvest_run(
        organization=org,
        actor=owner,
        thresholds=HarvestThresholds(min_orders=1, min_clicks=1),
        terms=[("amazon_ads", "A1", "C1", "Floor Lamp")],  # compared normalized
        **WINDOW,
    )
    assert (proposed.created, proposed.skipped) == (1, 0)
    only = Proposal.unscoped_objects.get(organization=org)
    assert (only.text, only.kind, only.proposed_value) == ("floor lamp", "keyword", Decimal("2.5000"))


def test_harvest_respects_the_channel_filter_and_an_empty_window(org, owner, facts):
    assert (
        harvest_run(organization=org, actor=owner, thresholds=HarvestThresholds(), channels=["meta"], **WINDOW).created
        == 0
    )
    nothing = harvest_run(
        organization=org, actor=owner, thresholds=HarvestThresholds(), start=date(2026, 1, 1), end=date(2026, 1, 31)
    )
    assert (nothing.created, nothing.skipped, nothing.run.proposed) == (0, 0, 0)


def test_negatives_run_proposes_campaign_level_negatives_once(org, owner, facts):
    proposed = negatives_run(organization=org, actor=owner, min_clicks=10, **WINDOW)
    assert (proposed.created, proposed.skipped) == (1, 0)
    negative = Proposal.unscoped_objects.get(organization=org)
    assert (negative.kind, negative.text, negative.match_type, negative.campaign_id, negative.ad_group_id) == (
        "negative",
        "lamp shade cheap",
        "NEGATIVE_EXACT",
        "C1",
        "",
    )
    assert negative.reason == "15 clicks and 7.50 USD spent with no orders"
    assert (negative.evidence["clicks"], negative.evidence["cost"], negative.evidence["acos"]) == (15, 7.5, None)
    assert proposed.run.parameters == {"min_clicks": 10, "min_spend": None, "channels": [], "marketplaces": []}
    again = negatives_run(organization=org, actor=owner, min_clicks=10, **WINDOW)
    assert (again.created, again.skipped) == (0, 1)
    assert negatives_run(organization=org, actor=owner, min_clicks=10, min_spend=8.0, **WINDOW).created == 0


def _keyword(org, text, *, ad_group="G1"):
    account, _ = AdAccount.unscoped_objects.get_or_create(
        organization=org, channel="amazon_ads", external_id="A1", defaults={"name": "US", "currency": "USD"}
    )
    campaign, _ = Campaign.unscoped_objects.get_or_create(
        organization=org, ad_account=account, external_id="C1", defaults={"name": "Lamps auto"}
    )
    group, _ = AdGroup.unscoped_objects.get_or_create(
        organization=org, campaign=campaign, external_id=ad_group, defaults={"name": ad_group}
    )
    return Target.unscoped_objects.create(
        organization=org, ad_group=group, external_id=f"K-{text}", text=text, match_type="EXACT", state="enabled"
    )


def test_conflicts_list_the_converting_terms_and_keywords_a_pending_negative_would_block(org, facts):
    _keyword(org, "desk lamp")
    run = ToolRunFactory(organization=org, tool="negatives", window_start=NOV1, window_end=NOV2)
    phrase = ProposalFactory(
        organization=org, run=run, kind="negative", text="lamp", match_type="NEGATIVE_PHRASE", ad_group_id=""
    )
    harmless = ProposalFactory(
        organization=org, run=run, kind="negative", text="cheap", match_type="NEGATIVE_PHRASE", ad_group_id=""
    )
    approved = ProposalFactory(
        organization=org, run=run, kind="negative", text="lamp", match_type="NEGATIVE_EXACT", status="approved"
    )
    keyword = ProposalFactory(organization=org, run=run)

    conflicts = negative_conflicts(organization=org, proposals=[phrase, harmless, approved, keyword])

    assert set(conflicts) == {phrase.pk}
    found = [(c.blocked_kind, c.blocked_text, c.orders, c.sales) for c in conflicts[phrase.pk]]
    assert found == [
        ("keyword", "desk lamp", 0, 0.0),  # the exact keyword has served nothing yet: still blocked
        ("search_term", "desk lamp", 3, 90.0),  # per ad group: G1
        ("search_term", "desk lamp", 1, 30.0),  # G2
        ("search_term", "floor lamp", 1, 25.0),
    ]
    term = next(c for c in conflicts[phrase.pk] if c.blocked_text == "floor lamp")
    assert (term.orders, term.sales) == (1, 25.0)
    assert term.explanation == "Negative phrase “lamp” would block the search term “floor lamp”, which brought 1 orders"


def test_a_harvest_negative_is_not_flagged_for_the_term_it_moves(org, owner, facts):
    harvest_run(organization=org, actor=owner, thresholds=HarvestThresholds(), **WINDOW)
    proposals = list(Proposal.unscoped_objects.filter(organization=org))
    assert negative_conflicts(organization=org, proposals=proposals) == {}
    _keyword(org, "desk lamp", ad_group="G2")  # an exact keyword where the negative goes: a real conflict
    conflicts = negative_conflicts(organization=org, proposals=proposals)
    (negative,) = [p for p in proposals if p.kind == "negative"]
    assert [(c.blocked_kind, c.blocked_text) for c in conflicts[negative.pk]] == [("keyword", "desk lamp")]


def test_conflicts_stay_in_the_organization(org, facts):
    other = OrganizationFactory()
    search_term_fact(other, "lamp post", date=NOV1, orders=4, sales=Decimal("80"))
    proposal = ProposalFactory(organization=org, kind="negative", text="post", match_type="NEGATIVE_PHRASE")
    assert negative_conflicts(organization=org, proposals=[proposal]) == {}
