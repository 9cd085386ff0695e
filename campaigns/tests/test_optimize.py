"""Bid and budget proposal runs on hand-made facts, targets and campaigns: the exact proposals, nothing proposed
twice, provisional days left out, the budget total kept to the cent, and the selectors' shapes."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.models import AuditEvent, Role
from accounts.tests.factories import OrganizationFactory, member
from analytics.tests.factories import AdFactFactory, AdRollupFactory, DataSourceFactory
from campaigns import optimize_selectors as selectors
from campaigns.models import AdAccount, AdGroup, Campaign, Proposal, SellerEvent, Target, ToolRun
from campaigns.services import optimize as services
from campaigns.services.optimize import BidRunInput, OptimizeError

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 6, 30)
EVIDENCE_DAY = date(2026, 6, 10)
PROVISIONAL_DAY = date(2026, 6, 29)  # Amazon restates 3 days here: 28, 29 and 30 June are provisional


@pytest.fixture
def org():
    return OrganizationFactory()


@pytest.fixture
def owner(org):
    return member(org, Role.OWNER)


def account(org, *, channel="amazon_ads", external_id="P1", marketplace="US", currency="USD"):
    return AdAccount.unscoped_objects.create(
        organization=org,
        channel=channel,
        external_id=external_id,
        name=f"{channel} {external_id}",
        marketplace=marketplace,
        currency=currency,
    )


def campaign(org, ad_account, external_id, *, budget=None, state="enabled", budget_type="daily", name=None):
    return Campaign.unscoped_objects.create(
        organization=org,
        ad_account=ad_account,
        external_id=external_id,
        name=name or f"Campaign {external_id}",
        state=state,
        budget=budget,
        budget_type=budget_type,
    )


def target(org, ad_group, external_id, *, bid, text=None, state="enabled"):
    return Target.unscoped_objects.create(
        organization=org,
        ad_group=ad_group,
        external_id=external_id,
        text=text or f"keyword {external_id}",
        match_type="EXACT",
        bid=bid,
        state=state,
    )


def target_fact(org, target_id, day, *, clicks, cost, orders, sales, impressions=1000, units=None):
    return AdFactFactory(
        organization=org,
        grain="target",
        account_id="P1",
        date=day,
        campaign_id="C1",
        campaign_name="Campaign C1",
        ad_group_id="G1",
        ad_group_name="Group G1",
        target_id=target_id,
        impressions=impressions,
        clicks=clicks,
        cost=Decimal(cost),
        orders=orders,
        units=orders if units is None else units,
        sales=Decimal(sales),
    )


@pytest.fixture
def bid_setup(org):
    """One campaign, one ad group, three exact keywords:
    T1 (bid 1.00) spent 100 for 200 of sales over 100 clicks: ACoS 50 %;
    T2 (bid 0.50) spent 20 for 400 over 100 clicks: ACoS 5 %;
    T3 (bid 0.80) had impressions and no click.
    Amazon's connection restates 3 days."""
    ad_account = account(org)
    group = AdGroup.unscoped_objects.create(
        organization=org, campaign=campaign(org, ad_account, "C1"), external_id="G1", name="Group G1"
    )
    target(org, group, "T1", bid=Decimal("1.00"), text="desk lamp")
    target(org, group, "T2", bid=Decimal("0.50"), text="reading lamp")
    target(org, group, "T3", bid=Decimal("0.80"), text="lamp shade")
    target_fact(org, "T1", EVIDENCE_DAY, clicks=100, cost="100", orders=10, sales="200")
    target_fact(org, "T2", EVIDENCE_DAY, clicks=100, cost="20", orders=10, sales="400")
    target_fact(org, "T3", EVIDENCE_DAY, clicks=0, cost="0", orders=0, sales="0")
    DataSourceFactory(organization=org, channel="amazon_ads", account_id="P1", restatement_days=3)
    return ad_account


def bid_proposals(org):
    return {
        p.target_id: (p.current_value, p.proposed_value, p.evidence["action"])
        for p in Proposal.unscoped_objects.filter(organization=org, kind="bid")
    }


# --- selectors ------------------------------------------------------------------------------------------------


def test_target_daily_frame_joins_facts_to_the_stored_targets(org, bid_setup, django_assert_num_queries):
    target_fact(org, "T-UNKNOWN", EVIDENCE_DAY, clicks=5, cost="5", orders=0, sales="0")  # no Target row

    with django_assert_num_queries(3):  # the transaction's savepoint, SET LOCAL and the COPY
        frame = selectors.target_daily_frame(organization=org, start=AS_OF - timedelta(days=29), end=AS_OF)

    assert list(frame.columns) == selectors.TARGET_DAILY_COLUMNS
    assert frame[["target_id", "text", "bid", "clicks", "cost", "sales", "currency"]].values.tolist() == [
        ["T1", "desk lamp", 1.0, 100, 100.0, 200.0, "USD"],
        ["T2", "reading lamp", 0.5, 100, 20.0, 400.0, "USD"],
        ["T3", "lamp shade", 0.8, 0, 0.0, 0.0, "USD"],
    ]
    assert frame["date"].dt.date.unique().tolist() == [EVIDENCE_DAY]


def test_target_daily_frame_uses_the_ad_group_default_bid_and_skips_archived_targets(org):
    ad_account = account(org)
    group = AdGroup.unscoped_objects.create(
        organization=org,
        campaign=campaign(org, ad_account, "C1"),
        external_id="G1",
        name="Group G1",
        default_bid=Decimal("0.45"),
    )
    target(org, group, "T1", bid=None)
    target(org, group, "T2", bid=Decimal("0.50"), state="archived")
    target_fact(org, "T1", EVIDENCE_DAY, clicks=1, cost="1", orders=0, sales="0")
    target_fact(org, "T2", EVIDENCE_DAY, clicks=1, cost="1", orders=0, sales="0")

    frame = selectors.target_daily_frame(organization=org, start=EVIDENCE_DAY, end=EVIDENCE_DAY)

    assert frame[["target_id", "bid"]].values.tolist() == [["T1", 0.45]]


def test_empty_frames_keep_their_columns(org):
    targets = selectors.target_daily_frame(organization=org, start=AS_OF, end=AS_OF)
    campaigns = selectors.campaign_window_frame(organization=org, start=AS_OF, end=AS_OF)
    assert list(targets.columns) == selectors.TARGET_DAILY_COLUMNS and targets.empty
    assert list(campaigns.columns) == selectors.CAMPAIGN_WINDOW_COLUMNS and campaigns.empty


# --- bids -----------------------------------------------------------------------------------------------------


def test_bids_run_proposes_the_exact_raises_and_lowers_and_counts_the_hold(org, owner, bid_setup):
    # Pooled revenue per click: campaign 600 / 200 = 3.00. T1: (200 + 30 x 3) / 130 = 2.23, ideal bid at 25 %
    # ACoS 0.56, lowered by the 20 % step to 0.80. T2: (400 + 90) / 130 = 3.77, ideal 0.94, raised to 0.60.
    result = services.bids_run(organization=org, actor=owner, policy_input=BidRunInput(target_acos=0.25, as_of=AS_OF))

    assert (result.created, result.skipped) == (2, 0)
    assert bid_proposals(org) == {
        "T1": (Decimal("1.0000"), Decimal("0.8000"), "lower"),
        "T2": (Decimal("0.5000"), Decimal("0.6000"), "raise"),
    }
    lowered = Proposal.unscoped_objects.get(organization=org, target_id="T1")
    assert (lowered.channel, lowered.account_id, lowered.marketplace, lowered.currency) == (
        "amazon_ads",
        "P1",
        "US",
        "USD",
    )
    assert (lowered.campaign_id, lowered.ad_group_id, lowered.text, lowered.match_type) == (
        "C1",
        "G1",
        "desk lamp",
        "EXACT",
    )
    assert lowered.reason == (
        "100 clicks, 10 orders, ACoS 50.0% against a 25.0% target: ideal bid 0.56, moved at most 20.0% per run, "
        "from 1.00 to 0.80."
    )
    assert {key: lowered.evidence[key] for key in ("clicks", "orders", "cost", "sales", "acos", "change_pct")} == {
        "clicks": 100,
        "orders": 10,
        "cost": 100.0,
        "sales": 200.0,
        "acos": 0.5,
        "change_pct": -20.0,
    }
    assert (lowered.evidence["window_start"], lowered.evidence["window_end"]) == ("2026-06-01", "2026-06-30")
    run = result.run
    assert (run.tool, run.window_start, run.window_end) == ("bids", date(2026, 6, 1), AS_OF)
    assert run.summary == {"targets": 3, "raise": 1, "lower": 1, "hold": 1, "ignored_days": {"amazon_ads": 3}}
    assert run.parameters["target_acos"] == 0.25 and run.parameters["ignore_last_days"] is None
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="campaigns.proposals_created").count() == 1


def test_rerunning_bids_proposes_nothing_twice(org, owner, bid_setup):
    services.bids_run(organization=org, actor=owner, policy_input=BidRunInput(target_acos=0.25, as_of=AS_OF))

    again = services.bids_run(organization=org, actor=owner, policy_input=BidRunInput(target_acos=0.25, as_of=AS_OF))

    assert (again.created, again.skipped) == (0, 2)
    assert Proposal.unscoped_objects.filter(organization=org).count() == 2
    assert ToolRun.unscoped_objects.filter(organization=org, tool="bids").count() == 2


def test_a_huge_spend_on_a_provisional_day_does_not_move_the_bid(org, owner, bid_setup):
    # 1,000 clicks and 5,000 spent without an order on 29 June, a day Amazon may still add conversions to.
    target_fact(org, "T2", PROVISIONAL_DAY, clicks=1000, cost="5000", orders=0, sales="0")

    services.bids_run(organization=org, actor=owner, policy_input=BidRunInput(target_acos=0.25, as_of=AS_OF))

    raised = Proposal.unscoped_objects.get(organization=org, target_id="T2")
    assert (raised.proposed_value, raised.evidence["clicks"], raised.evidence["ignored_days"]) == (
        Decimal("0.6000"),
        100,
        1,
    )


def test_counting_the_provisional_day_on_purpose_lowers_the_bid(org, owner, bid_setup):
    target_fact(org, "T2", PROVISIONAL_DAY, clicks=1000, cost="5000", orders=0, sales="0")

    result = services.bids_run(
        organization=org, actor=owner, policy_input=BidRunInput(target_acos=0.25, as_of=AS_OF, ignore_last_days=0)
    )

    # Campaign revenue per click falls to 600 / 1,200 = 0.50: T2's ideal bid is 0.09, lowered by the step to 0.40.
    assert bid_proposals(org)["T2"] == (Decimal("0.5000"), Decimal("0.4000"), "lower")
    assert result.run.summary["ignored_days"] == {"amazon_ads": 0}


def test_target_roas_is_the_inverse_target_acos(org, owner, bid_setup):
    services.bids_run(organization=org, actor=owner, policy_input=BidRunInput(target_roas=4, as_of=AS_OF))

    assert bid_proposals(org) == {
        "T1": (Decimal("1.0000"), Decimal("0.8000"), "lower"),
        "T2": (Decimal("0.5000"), Decimal("0.6000"), "raise"),
    }


def test_profit_mode_holds_bids_without_product_costs(org, owner, bid_setup):
    result = services.bids_run(
        organization=org, actor=owner, policy_input=BidRunInput(profit_target_margin=0.1, as_of=AS_OF)
    )

    assert result.created == 0
    assert result.run.summary["hold"] == 3


def test_profit_mode_targets_the_break_even_acos_less_the_margin(org, owner, bid_setup):
    from analytics.models import MarketplaceFee, ProductCost
    from campaigns.models import AdvertisedProduct

    group = AdGroup.unscoped_objects.get(organization=org, external_id="G1")
    AdvertisedProduct.unscoped_objects.create(organization=org, ad_group=group, external_id="AP1", sku="LAMP-1")
    ProductCost.unscoped_objects.create(organization=org, sku="LAMP-1", unit_cost=Decimal("10"), currency="USD")
    MarketplaceFee.unscoped_objects.create(
        organization=org, platform="amazon_sp", marketplace="US", referral_pct=Decimal("15"), currency="USD"
    )
    # Price 600 / 20 units = 30; fees 15 % = 4.50; break-even (30 - 10 - 4.50) / 30 = 51.7 %; less 10 points: 41.7 %.
    services.bids_run(organization=org, actor=owner, policy_input=BidRunInput(profit_target_margin=0.1, as_of=AS_OF))

    lowered = Proposal.unscoped_objects.get(organization=org, target_id="T1")
    assert lowered.evidence["target_acos"] == 0.4167
    assert (lowered.evidence["price"], lowered.evidence["unit_cogs"], lowered.evidence["unit_fees"]) == (
        30.0,
        10.0,
        4.5,
    )
    # T1: ideal 0.4167 x 2.23 = 0.93 against a bid of 1.00 (within the step); T2: 0.4167 x 3.77 = 1.57, raised 20 %.
    assert bid_proposals(org) == {
        "T1": (Decimal("1.0000"), Decimal("0.9300"), "lower"),
        "T2": (Decimal("0.5000"), Decimal("0.6000"), "raise"),
    }


def test_bid_run_input_refuses_two_goals():
    with pytest.raises(ValueError, match="exactly one"):
        BidRunInput(target_acos=0.2, target_roas=4)


# --- budgets --------------------------------------------------------------------------------------------------


def rollup(org, campaign_id, day, *, cost="100", sales="300", orders=10, clicks=100, account_id="P1", **extra):
    AdRollupFactory(
        organization=org,
        account_id=account_id,
        campaign_id=campaign_id,
        date=day,
        cost=Decimal(cost),
        sales=Decimal(sales),
        orders=orders,
        clicks=clicks,
        **extra,
    )


@pytest.fixture
def budget_setup(org):
    """Three serving USD campaigns with identical results (so each is equally likely to be the best), one EUR
    campaign, one paused, one without a budget and one with a lifetime budget. Amazon restates 3 days."""
    usd, eur = account(org), account(org, external_id="P2", marketplace="DE", currency="EUR")
    campaign(org, usd, "A", budget=Decimal("33.10"))
    campaign(org, usd, "B", budget=Decimal("20.00"))
    campaign(org, usd, "C", budget=Decimal("45.90"))
    campaign(org, eur, "E", budget=Decimal("50.00"))
    campaign(org, usd, "PAUSED", budget=Decimal("10.00"), state="paused")
    campaign(org, usd, "NOBUDGET")
    campaign(org, usd, "LIFE", budget=Decimal("900.00"), budget_type="LIFETIME")
    for campaign_id in ("A", "B", "C"):
        rollup(org, campaign_id, EVIDENCE_DAY)
    rollup(org, "E", EVIDENCE_DAY, account_id="P2", currency="EUR")
    DataSourceFactory(organization=org, channel="amazon_ads", account_id="P1", restatement_days=3)


def budget_proposals(org):
    return {
        p.campaign_id: (p.current_value, p.proposed_value)
        for p in Proposal.unscoped_objects.filter(organization=org, kind="budget")
    }


def test_budgets_run_keeps_small_changes_out_and_the_total_exact(org, owner, budget_setup):
    # 99 split evenly is 33 each. A (33.10) would move by 0.3 %: it keeps 33.10 and B and C share the
    # remaining 65.90, 32.95 each.
    result = services.budgets_run(organization=org, actor=owner, daily_total="99", currency="USD", as_of=AS_OF)

    assert budget_proposals(org) == {
        "B": (Decimal("20.0000"), Decimal("32.9500")),
        "C": (Decimal("45.9000"), Decimal("32.9500")),
    }
    after = {c.external_id: c.budget for c in Campaign.unscoped_objects.filter(organization=org, external_id__in="ABC")}
    after.update({campaign_id: proposed for campaign_id, (_current, proposed) in budget_proposals(org).items()})
    assert sum(after.values()) == Decimal("99.00")  # applying every proposal meets the total to the cent
    raised = Proposal.unscoped_objects.get(organization=org, campaign_id="B")
    assert raised.reason.endswith("raised by 12.95 to 32.95.")
    assert (raised.currency, raised.evidence["spend"], raised.evidence["roas"], raised.evidence["p_best"]) == (
        "USD",
        100.0,
        3.0,
        0.3333,
    )
    run = result.run
    assert (run.tool, run.window_start, run.window_end) == ("budgets", date(2026, 5, 29), date(2026, 6, 27))
    assert run.summary["left_out"] == {
        "other_currency": {"EUR": 1},
        "not_serving": 1,
        "no_budget": 1,
        "lifetime_budget": 1,
    }
    assert (run.summary["campaigns"], run.summary["changed"], run.summary["total_kept"]) == (3, 2, True)


def test_a_provisional_day_does_not_count_in_the_budget_split(org, owner, budget_setup):
    # B spent 1,000 without an order on a day Amazon still restates: left out, so the three stay identical.
    rollup(org, "B", PROVISIONAL_DAY, cost="1000", sales="0", orders=0)

    services.budgets_run(organization=org, actor=owner, daily_total="99", currency="USD", as_of=AS_OF)

    assert budget_proposals(org)["B"] == (Decimal("20.0000"), Decimal("32.9500"))


def test_budgets_in_another_currency_are_split_on_their_own(org, owner, budget_setup):
    result = services.budgets_run(organization=org, actor=owner, daily_total="80", currency="eur", as_of=AS_OF)

    assert budget_proposals(org) == {"E": (Decimal("50.0000"), Decimal("80.0000"))}
    assert result.run.summary["left_out"]["other_currency"] == {"USD": 6}


def test_rerunning_budgets_proposes_nothing_twice(org, owner, budget_setup):
    services.budgets_run(organization=org, actor=owner, daily_total="99", currency="USD", as_of=AS_OF)

    again = services.budgets_run(organization=org, actor=owner, daily_total="99", currency="USD", as_of=AS_OF)

    assert (again.created, again.skipped) == (0, 2)


def test_budgets_run_refuses_what_cannot_be_met(org, owner, budget_setup):
    with pytest.raises(OptimizeError, match="No serving campaign with a daily budget in JPY"):
        services.budgets_run(organization=org, actor=owner, daily_total="99", currency="JPY", as_of=AS_OF)
    with pytest.raises(OptimizeError, match="A minimum of 40.00 for each of the 3 campaigns"):
        services.budgets_run(
            organization=org, actor=owner, daily_total="99", currency="USD", min_budget=Decimal("40"), as_of=AS_OF
        )
    assert not ToolRun.unscoped_objects.filter(organization=org).exists()


# --- seller events --------------------------------------------------------------------------------------------


def test_seller_events_are_validated_audited_and_unique(org, owner):
    event = services.seller_event_add(
        organization=org, actor=owner, key="prime_day", marketplace="gb", start=date(2026, 7, 14), end=date(2026, 7, 15)
    )

    assert (event.marketplace, event.start, event.end) == ("UK", date(2026, 7, 14), date(2026, 7, 15))
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="campaigns.seller_event_added").count() == 1
    with pytest.raises(OptimizeError, match="already in the calendar"):
        services.seller_event_add(
            organization=org,
            actor=owner,
            key="prime_day",
            marketplace="UK",
            start=date(2026, 7, 14),
            end=date(2026, 7, 16),
        )
    with pytest.raises(OptimizeError, match="ends before it starts"):
        services.seller_event_add(
            organization=org,
            actor=owner,
            key="prime_day",
            marketplace="US",
            start=date(2026, 7, 14),
            end=date(2026, 7, 13),
        )
    services.seller_event_delete(organization=org, actor=owner, event=event)
    assert not SellerEvent.unscoped_objects.filter(organization=org).exists()
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="campaigns.seller_event_deleted").count() == 1


def test_market_calendar_lists_campaigns_named_for_an_event(org):
    sg = account(org, marketplace="SG", currency="SGD")
    campaign(org, sg, "S1", name="SG Singles Day push")
    campaign(org, sg, "S2", name="Always on")
    campaign(org, sg, "S3", name="Singles Day 2025", state="archived")
    campaign(org, account(org, external_id="P9", marketplace="US"), "U1", name="US singles day")

    result = selectors.market_calendar(organization=org, start=date(2026, 11, 1), days=30)

    assert result.marketplaces == ["SG", "US"]
    singles = next(entry for entry in result.entries if entry.event.key == "singles_day")
    assert [campaign.name for campaign in singles.campaigns] == ["SG Singles Day push"]
    assert singles.warning.startswith("This campaign has no end date.")
    black_friday = next(entry for entry in result.entries if entry.event.key == "black_friday")
    assert black_friday.campaigns == [] and black_friday.warning == ""
    assert black_friday.event.markets == ("SG", "US")
