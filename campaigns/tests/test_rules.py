"""Rules: conditions on metric frames, actions per scope, guardrails, the frames read from the database, dry and
real runs, and the schedule's once-per-period runs."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import AuditEvent, Role
from accounts.tests.factories import OrganizationFactory, member
from analytics.tests.factories import AdFactFactory, AdRollupFactory
from campaigns import rule_selectors, rules
from campaigns.models import (
    AdAccount,
    AdGroup,
    Campaign,
    NegativeKeyword,
    Proposal,
    ProposalStatus,
    Rule,
    RuleRun,
    Target,
    ToolRun,
)
from campaigns.services import rules as services
from campaigns.tasks import run_due_rules

AS_OF = date(2026, 11, 30)


def spec(scope, conditions, action, value=None, **extra):
    return rules.parse_rule(
        scope=scope,
        conditions=[{"metric": m, "window_days": w, "op": o, "value": v} for m, w, o, v in conditions],
        action={"type": action, "value": value, "ignore_last_days": extra.pop("ignore_last_days", 0)},
        **extra,
    )


def frame(scope, rows):
    defaults = {
        rules.CAMPAIGN: {"marketplace": "US", "currency": "USD", "campaign_name": "", "state": "enabled"},
        rules.KEYWORD: {
            "campaign_id": "C1",
            "ad_group_id": "G1",
            "marketplace": "US",
            "currency": "USD",
            "campaign_name": "Lamps",
            "ad_group_name": "Desk",
            "text": "lamp",
            "match_type": "EXACT",
            "state": "enabled",
            "campaign_state": "enabled",
            "ad_group_state": "enabled",
        },
        rules.SEARCH_TERM: {
            "campaign_id": "C1",
            "ad_group_id": "G1",
            "marketplace": "US",
            "currency": "USD",
            "campaign_name": "Lamps auto",
            "ad_group_name": "All",
            **dict.fromkeys(rules.FLAG_COLUMNS, False),
        },
    }[scope]
    numbers = {"impressions": 0, "clicks": 0, "cost": 0.0, "orders": 0, "sales": 0.0}
    full = [{"channel": "amazon_ads", "account_id": "A1", **defaults, **numbers, **row} for row in rows]
    columns = [*rules.KEYS[scope], *rules.ATTRIBUTES[scope], *rules.SUMS]
    return pd.DataFrame(full, columns=columns)


def changes(evaluation, *columns):
    return [tuple(row[c] for c in columns) for row in evaluation.records()]


# --- conditions and actions -------------------------------------------------------------------------------------


def test_campaign_budget_cut_when_acos_is_high_with_reason_and_evidence():
    rows = [
        {"campaign_id": "C1", "campaign_name": "Lamps", "budget": 50.0, "clicks": 100, "cost": 70.0, "sales": 100.0},
        {"campaign_id": "C2", "campaign_name": "Desks", "budget": 50.0, "clicks": 100, "cost": 20.0, "sales": 100.0},
    ]
    rule = spec("campaign", [("acos", 7, "gt", 0.5)], "budget_pct", -20)

    result = rules.evaluate(frames_by_window={7: frame("campaign", rows)}, rule_spec=rule, as_of=AS_OF)

    assert (result.kind, result.matched, result.unchanged, result.stopped_by_guardrail) == ("budget", 1, 0, "")
    [row] = result.records()
    assert {k: row[k] for k in ("campaign_id", "campaign_name", "target_id", "current_value", "proposed_value")} == {
        "campaign_id": "C1",
        "campaign_name": "Lamps",
        "target_id": "",
        "current_value": 50.0,
        "proposed_value": 40.0,
    }
    assert row["reason"] == "ACoS over 7 days 70.0% > 50.0%: daily budget 50.00 USD → 40.00 USD (-20%)."
    assert row["evidence"] == {
        "spend_7d": 70.0,
        "sales_7d": 100.0,
        "orders_7d": 0,
        "clicks_7d": 100,
        "acos_7d": 0.7,
        "window_start": "2026-11-24",
        "window_end": "2026-11-30",
    }
    assert result.window == (date(2026, 11, 24), date(2026, 11, 30))


def test_budget_set_is_kept_at_one_and_rounded_and_unknown_budgets_skip_percentages():
    rows = [
        {"campaign_id": "C1", "budget": 10.0, "cost": 5.0},
        {"campaign_id": "C2", "budget": None, "cost": 5.0},
    ]
    # 10 a day spent in all; an unknown budget set to 1.00 counts as +1.00 a day, within a 100 % cap
    cut = spec("campaign", [("spend", 7, "gte", 1)], "budget_set", 0.504, max_spend_increase_pct=100)
    pct = spec("campaign", [("spend", 7, "gte", 1)], "budget_pct", 10, max_spend_increase_pct=100)

    set_result = rules.evaluate(frames_by_window={7: frame("campaign", rows)}, rule_spec=cut, as_of=AS_OF)
    pct_result = rules.evaluate(frames_by_window={7: frame("campaign", rows)}, rule_spec=pct, as_of=AS_OF)

    assert changes(set_result, "campaign_id", "current_value", "proposed_value") == [
        ("C1", 10.0, 1.0),
        ("C2", None, 1.0),
    ]
    assert changes(pct_result, "campaign_id", "current_value", "proposed_value") == [("C1", 10.0, 11.0)]
    assert (pct_result.matched, pct_result.unchanged) == (2, 1)


def test_pause_skips_paused_campaigns_and_enable_only_takes_paused_ones():
    rows = [
        {"campaign_id": "C1", "state": "enabled", "cost": 30.0},
        {"campaign_id": "C2", "state": "PAUSED", "cost": 20.0},
        {"campaign_id": "C3", "state": "archived", "cost": 90.0},
    ]
    pause = spec("campaign", [("orders", 30, "eq", 0)], "pause")
    enable = spec("campaign", [("orders", 30, "eq", 0)], "enable", max_spend_increase_pct=1000)

    paused = rules.evaluate(frames_by_window={30: frame("campaign", rows)}, rule_spec=pause, as_of=AS_OF)
    enabled = rules.evaluate(frames_by_window={30: frame("campaign", rows)}, rule_spec=enable, as_of=AS_OF)

    assert changes(paused, "campaign_id", "proposed_state", "current_value") == [("C1", "paused", None)]
    assert (paused.kind, paused.matched, paused.unchanged) == ("status", 2, 1)  # the archived one is not looked at
    assert changes(enabled, "campaign_id", "proposed_state") == [("C2", "enabled")]
    assert enabled.records()[0]["evidence"]["state"] == "PAUSED"
    assert enabled.records()[0]["reason"] == "Orders over 30 days 0 = 0: enable."


def test_keyword_bids_are_stepped_floored_at_two_cents_and_rounded():
    rows = [
        {"target_id": "T1", "text": "desk lamp", "bid": 1.00, "clicks": 40, "cost": 40.0},
        {"target_id": "T2", "text": "lamp", "bid": 0.03, "clicks": 30, "cost": 30.0},
        {"target_id": "T3", "text": "led lamp", "bid": 0.02, "clicks": 20, "cost": 20.0},  # already at the floor
        {"target_id": "T4", "text": "no bid", "bid": None, "clicks": 20, "cost": 10.0},
        {"target_id": "T5", "text": "quiet", "bid": 0.50, "clicks": 5, "cost": 5.0},  # too few clicks
    ]
    rule = spec("keyword", [("clicks", 14, "gte", 10), ("orders", 14, "eq", 0)], "bid_pct", -45)

    result = rules.evaluate(frames_by_window={14: frame("keyword", rows)}, rule_spec=rule, as_of=AS_OF)

    assert changes(result, "target_id", "text", "match_type", "current_value", "proposed_value") == [
        ("T1", "desk lamp", "EXACT", 1.0, 0.55),
        ("T2", "lamp", "EXACT", 0.03, 0.02),
    ]
    assert (result.kind, result.matched, result.unchanged) == ("bid", 4, 2)
    assert result.records()[0]["reason"] == (
        "Clicks over 14 days 40 ≥ 10; Orders over 14 days 0 = 0: bid 1.00 USD → 0.55 USD (-45%)."
    )


def test_bid_set_and_keyword_pause():
    rows = [
        {"target_id": "T1", "bid": 0.80, "cost": 12.0, "clicks": 12},
        {"target_id": "T2", "bid": 0.35, "cost": 9.0, "clicks": 9, "state": "paused"},
    ]
    set_rule = spec("keyword", [("cpc", 7, "gt", 0.5)], "bid_set", 0.35)
    pause_rule = spec("keyword", [("cpc", 7, "gt", 0.5)], "pause")

    set_result = rules.evaluate(frames_by_window={7: frame("keyword", rows)}, rule_spec=set_rule, as_of=AS_OF)
    pause_result = rules.evaluate(frames_by_window={7: frame("keyword", rows)}, rule_spec=pause_rule, as_of=AS_OF)

    assert changes(set_result, "target_id", "current_value", "proposed_value") == [("T1", 0.8, 0.35)]
    assert changes(pause_result, "target_id", "proposed_state") == [("T1", "paused")]


def test_negatives_judge_a_term_over_its_campaign_and_skip_what_is_in_place():
    rows = [
        # "cheap lamp": 15 + 10 spent across two ad groups, no order anywhere in C1 -> one campaign negative
        {"ad_group_id": "G1", "search_term": "cheap lamp", "clicks": 10, "cost": 15.0},
        {"ad_group_id": "G2", "search_term": "cheap lamp", "clicks": 8, "cost": 10.0},
        # "lamp shade": wasted in G1 but converts in G2 -> not negated in the campaign
        {"ad_group_id": "G1", "search_term": "lamp shade", "clicks": 20, "cost": 30.0},
        {"ad_group_id": "G2", "search_term": "lamp shade", "clicks": 5, "cost": 4.0, "orders": 1, "sales": 25.0},
        {"search_term": "B0ABCDEF12", "clicks": 30, "cost": 40.0},  # a product (ASIN) target
        {"search_term": "red lamp", "clicks": 30, "cost": 40.0, "negative_exact_in_place": True},
        {"search_term": "blue lamp", "clicks": 30, "cost": 40.0, "exact_in_campaign": True},
        {"campaign_id": "C2", "campaign_name": "Lamps exact", "search_term": "cheap lamp", "cost": 21.0},
    ]
    rule = spec("search_term", [("spend", 30, "gt", 20), ("orders", 30, "eq", 0)], "negative_exact")

    result = rules.evaluate(frames_by_window={30: frame("search_term", rows)}, rule_spec=rule, as_of=AS_OF)

    assert changes(result, "campaign_id", "campaign_name", "ad_group_id", "text", "match_type", "proposed_value") == [
        ("C1", "Lamps auto", "", "cheap lamp", "NEGATIVE_EXACT", None),
        ("C2", "Lamps exact", "", "cheap lamp", "NEGATIVE_EXACT", None),
    ]
    assert (result.kind, result.matched, result.unchanged) == ("negative", 4, 2)
    assert result.records()[0]["reason"] == (
        "Spend over 30 days 25.00 USD > 20.00 USD; Orders over 30 days 0 = 0: "
        "add “cheap lamp” as a negative exact keyword in the campaign."
    )


def test_negative_phrase_checks_phrase_negatives_in_place():
    rows = [
        {"search_term": "cheap", "cost": 30.0, "negative_exact_in_place": True},
        {"search_term": "free", "cost": 30.0, "negative_phrase_in_place": True},
    ]
    rule = spec("search_term", [("spend", 7, "gt", 20)], "negative_phrase")

    result = rules.evaluate(frames_by_window={7: frame("search_term", rows)}, rule_spec=rule, as_of=AS_OF)

    assert changes(result, "text", "match_type") == [("cheap", "NEGATIVE_PHRASE")]


def test_harvest_adds_exact_keywords_at_the_terms_cpc_or_the_given_bid():
    rows = [
        {"search_term": "walnut desk lamp", "clicks": 10, "cost": 12.0, "orders": 3, "sales": 90.0},
        {"search_term": "desk lamp", "clicks": 20, "cost": 10.0, "orders": 4, "sales": 80.0, "exact_in_ad_group": True},
        {"ad_group_id": "G2", "search_term": "oak lamp", "clicks": 8, "cost": 2.0, "orders": 2, "sales": 40.0},
    ]
    conditions = [("orders", 30, "gte", 2), ("acos", 30, "lt", 0.3)]
    at_cpc = spec("search_term", conditions, "harvest_exact", max_spend_increase_pct=1000)
    at_bid = spec("search_term", conditions, "harvest_exact", 0.5, max_spend_increase_pct=1000)

    cpc_result = rules.evaluate(frames_by_window={30: frame("search_term", rows)}, rule_spec=at_cpc, as_of=AS_OF)
    bid_result = rules.evaluate(frames_by_window={30: frame("search_term", rows)}, rule_spec=at_bid, as_of=AS_OF)

    columns = ("ad_group_id", "text", "match_type", "proposed_value", "current_value")
    assert changes(cpc_result, *columns) == [
        ("G1", "walnut desk lamp", "EXACT", 1.2, None),
        ("G2", "oak lamp", "EXACT", 0.25, None),
    ]
    assert changes(bid_result, "text", "proposed_value") == [("walnut desk lamp", 0.5), ("oak lamp", 0.5)]
    assert (cpc_result.kind, cpc_result.matched, cpc_result.unchanged) == ("keyword", 3, 1)
    assert cpc_result.records()[0]["reason"].endswith(
        "add “walnut desk lamp” as an exact keyword in the ad group at 1.20 USD."
    )


def test_a_condition_on_an_undefined_ratio_is_false_whatever_the_operator():
    rows = [
        {"target_id": "T1", "bid": 1.0, "clicks": 30, "cost": 25.0},  # no sales: ACoS undefined
        {"target_id": "T2", "bid": 1.0, "clicks": 30, "cost": 25.0, "orders": 1, "sales": 20.0},  # ACoS 125 %
        {"target_id": "T3", "bid": 1.0, "clicks": 30, "cost": 2.0, "orders": 1, "sales": 20.0},  # ACoS 10 %
    ]
    keyword_frame = {30: frame("keyword", rows)}

    def matched(*condition):
        rule = spec("keyword", [condition], "pause")
        return [
            r["target_id"]
            for r in rules.evaluate(frames_by_window=keyword_frame, rule_spec=rule, as_of=AS_OF).records()
        ]

    assert matched("acos", 30, "gt", 0.3) == ["T2"]
    assert matched("acos", 30, "lt", 0.3) == ["T3"]
    assert matched("acos", 30, "gte", 0) == ["T2", "T3"]
    assert matched("sales", 30, "eq", 0) == ["T1"]  # how a rule says "spend without sales"
    assert matched("roas", 30, "lt", 100) == ["T1", "T2", "T3"]  # ROAS 0 is defined: there was spend


def test_windows_are_joined_per_entity_and_missing_entities_count_as_zero():
    recent = frame("keyword", [{"target_id": "T1", "bid": 1.0, "clicks": 5, "cost": 4.0}])
    month = frame(
        "keyword",
        [
            {"target_id": "T1", "bid": 1.0, "clicks": 40, "cost": 30.0, "orders": 2, "sales": 60.0},
            {"target_id": "T2", "bid": 1.0, "clicks": 40, "cost": 30.0, "orders": 2, "sales": 60.0},
        ],
    )
    rule = spec("keyword", [("clicks", 7, "lt", 1), ("orders", 30, "gte", 2)], "bid_pct", 10)

    result = rules.evaluate(frames_by_window={7: recent, 30: month}, rule_spec=rule, as_of=AS_OF)

    assert changes(result, "target_id", "proposed_value") == [("T2", 1.1)]
    assert result.records()[0]["evidence"]["clicks_7d"] == 0
    assert result.records()[0]["evidence"]["orders_30d"] == 2


def test_ignored_days_move_every_window_back():
    rule = spec("keyword", [("clicks", 7, "gt", 0)], "pause", ignore_last_days=2)

    result = rules.evaluate(frames_by_window={7: frame("keyword", [])}, rule_spec=rule, as_of=AS_OF)

    assert rules.window_dates(as_of=AS_OF, window_days=7, ignore_last_days=2) == (
        date(2026, 11, 22),
        date(2026, 11, 28),
    )
    assert result.window == (date(2026, 11, 22), date(2026, 11, 28))
    assert (result.matched, result.records()) == (0, [])


def test_channels_limit_the_entities():
    rows = [
        {"campaign_id": "C1", "budget": 10.0, "cost": 5.0},
        {"campaign_id": "C2", "channel": "google_ads", "budget": 10.0, "cost": 5.0},
    ]
    rule = spec("campaign", [("spend", 7, "gt", 1)], "budget_pct", -10, channels=["google_ads"])

    result = rules.evaluate(frames_by_window={7: frame("campaign", rows)}, rule_spec=rule, as_of=AS_OF)

    assert changes(result, "channel", "campaign_id") == [("google_ads", "C2")]


# --- guardrails ---------------------------------------------------------------------------------------------------


def test_max_changes_keeps_the_highest_spend_entities():
    rows = [{"target_id": f"T{n}", "bid": 1.0, "clicks": 10, "cost": float(n)} for n in range(1, 6)]
    rule = spec("keyword", [("clicks", 7, "gte", 10)], "bid_pct", -10, max_changes=3)

    result = rules.evaluate(frames_by_window={7: frame("keyword", rows)}, rule_spec=rule, as_of=AS_OF)

    assert changes(result, "target_id") == [("T5",), ("T4",), ("T3",)]
    assert (result.matched, result.left_out, result.stopped_by_guardrail) == (5, {"max_changes": 2}, "max_changes:2")


def test_spend_increase_cap_stops_adding_raises_past_the_cap():
    # Scope spend: 70 + 42 + 28 + 560 = 700 over 7 days = 100 a day; a 5 % cap allows +5.00 a day.
    # +50 % bids add half of each target's spend a day: T1 10/day -> +5 (kept), T2 6/day -> +3 (8 > 5, out),
    # T3 4/day -> +2 (10 > 5, out). T4 (no match) only counts towards the base.
    rows = [
        {"target_id": "T1", "bid": 1.0, "clicks": 70, "cost": 70.0, "orders": 7, "sales": 700.0},
        {"target_id": "T2", "bid": 1.0, "clicks": 42, "cost": 42.0, "orders": 4, "sales": 420.0},
        {"target_id": "T3", "bid": 1.0, "clicks": 28, "cost": 28.0, "orders": 3, "sales": 280.0},
        {"target_id": "T4", "bid": 1.0, "clicks": 560, "cost": 560.0, "orders": 1, "sales": 100.0},
    ]
    rule = spec("keyword", [("roas", 7, "gte", 5)], "bid_pct", 50, max_spend_increase_pct=5)

    result = rules.evaluate(frames_by_window={7: frame("keyword", rows)}, rule_spec=rule, as_of=AS_OF)

    assert changes(result, "target_id", "proposed_value") == [("T1", 1.5)]
    assert (result.matched, result.left_out, result.stopped_by_guardrail) == (
        3,
        {"spend_increase": 2},
        "spend_increase:2",
    )
    assert rules.describe_guardrail(result.stopped_by_guardrail) == [
        "2 changes left out: they would raise daily spend past the rule's cap."
    ]


def test_spend_cap_applies_per_currency_and_never_to_cuts():
    rows = [
        {"campaign_id": "US1", "budget": 100.0, "cost": 700.0},  # 100 USD a day
        {"campaign_id": "JP1", "currency": "JPY", "budget": 10000.0, "cost": 70000.0},  # 10,000 JPY a day
    ]
    raise_rule = spec("campaign", [("spend", 7, "gt", 0)], "budget_pct", 10, max_spend_increase_pct=10)
    tight_rule = spec("campaign", [("spend", 7, "gt", 0)], "budget_pct", 10, max_spend_increase_pct=9)
    cut_rule = spec("campaign", [("spend", 7, "gt", 0)], "budget_pct", -50, max_spend_increase_pct=0)

    raised = rules.evaluate(frames_by_window={7: frame("campaign", rows)}, rule_spec=raise_rule, as_of=AS_OF)
    tight = rules.evaluate(frames_by_window={7: frame("campaign", rows)}, rule_spec=tight_rule, as_of=AS_OF)
    cut = rules.evaluate(frames_by_window={7: frame("campaign", rows)}, rule_spec=cut_rule, as_of=AS_OF)

    assert changes(raised, "campaign_id", "proposed_value") == [("JP1", 11000.0), ("US1", 110.0)]
    assert (tight.records(), tight.stopped_by_guardrail) == ([], "spend_increase:2")
    assert changes(cut, "campaign_id", "proposed_value") == [("JP1", 5000.0), ("US1", 50.0)]


def test_enabling_a_campaign_counts_its_budget_against_the_cap():
    rows = [
        {"campaign_id": "C1", "state": "enabled", "budget": 100.0, "cost": 700.0, "orders": 9},  # 100 a day
        {"campaign_id": "C2", "state": "paused", "budget": 15.0, "cost": 7.0},
        {"campaign_id": "C3", "state": "paused", "budget": 10.0, "cost": 0.0},
    ]
    rule = spec("campaign", [("orders", 7, "eq", 0)], "enable", max_spend_increase_pct=20)  # +20.00 a day

    result = rules.evaluate(frames_by_window={7: frame("campaign", rows)}, rule_spec=rule, as_of=AS_OF)

    assert changes(result, "campaign_id", "proposed_state") == [("C2", "enabled")]  # 15 kept, 15 + 10 > 20
    assert result.stopped_by_guardrail == "spend_increase:1"


def test_both_guardrails_are_recorded():
    rows = [{"campaign_id": f"C{n}", "budget": 10.0, "cost": 70.0} for n in range(1, 5)]  # 40 a day in all
    # +1.00 a day each; a 7.5 % cap (3.00 a day) keeps three, then at most two per run.
    rule = spec("campaign", [("spend", 7, "gt", 0)], "budget_pct", 10, max_spend_increase_pct=7.5, max_changes=2)

    result = rules.evaluate(frames_by_window={7: frame("campaign", rows)}, rule_spec=rule, as_of=AS_OF)

    assert changes(result, "campaign_id") == [("C1",), ("C2",)]
    assert result.stopped_by_guardrail == "spend_increase:1 max_changes:1"


# --- checking a rule ----------------------------------------------------------------------------------------------


def test_parse_rule_says_what_is_wrong():
    with pytest.raises(rules.InvalidRule) as caught:
        rules.parse_rule(
            scope="search_term",
            conditions=[
                {"metric": "margin", "window_days": 7, "op": "gt", "value": 1},
                {"metric": "acos", "window_days": 91, "op": "gt", "value": 0.3},
            ],
            action={"type": "bid_pct", "value": 10},
        )
    assert caught.value.messages == [
        "Condition 1: unknown metric “margin”.",
        "Condition 2: the window must be from 1 to 90 days.",
        "“Change the bid by a percentage” cannot be used on search terms.",
    ]
    with pytest.raises(rules.InvalidRule, match="needs a number"):
        rules.parse_rule(
            scope="campaign",
            conditions=[{"metric": "spend", "window_days": 7, "op": "gt", "value": 1}],
            action={"type": "budget_set"},
        )
    with pytest.raises(rules.InvalidRule, match="Add at least one condition"):
        rules.parse_rule(scope="campaign", conditions=[], action={"type": "pause"})


def test_descriptions_for_pages():
    assert rules.describe_condition({"metric": "acos", "window_days": 30, "op": "gt", "value": 0.3}) == (
        "ACoS over 30 days > 30.0%"
    )
    assert rules.describe_condition({"metric": "clicks", "window_days": 1, "op": "gte", "value": 10}) == (
        "Clicks over the last 1 day ≥ 10"
    )
    assert rules.describe_action({"type": "bid_pct", "value": -15}) == "Change the bid by a percentage: -15%"
    assert rules.describe_action({"type": "pause"}) == "Pause"


# --- database: frames, runs, schedule ------------------------------------------------------------------------------


@pytest.fixture
def org(db):
    return OrganizationFactory(time_zone="UTC")


@pytest.fixture
def owner(org):
    return member(org, Role.OWNER)


def _entities(org):
    account = AdAccount.unscoped_objects.create(
        organization=org, channel="amazon_ads", external_id="A1", name="US", marketplace="US", currency="USD"
    )
    lamps = Campaign.unscoped_objects.create(
        organization=org, ad_account=account, external_id="C1", name="Lamps", state="enabled", budget=Decimal("50")
    )
    Campaign.unscoped_objects.create(
        organization=org, ad_account=account, external_id="C2", name="Desks", state="paused", budget=Decimal("20")
    )
    group = AdGroup.unscoped_objects.create(
        organization=org, campaign=lamps, external_id="G1", name="Desk", default_bid=Decimal("0.60")
    )
    Target.unscoped_objects.create(
        organization=org, ad_group=group, external_id="T1", text="desk lamp", match_type="EXACT", bid=Decimal("1.00")
    )
    Target.unscoped_objects.create(
        organization=org, ad_group=group, external_id="T2", text="lamp", match_type="BROAD", bid=None, state="enabled"
    )
    NegativeKeyword.unscoped_objects.create(
        organization=org, campaign=lamps, external_id="N1", text="Free Lamp", match_type="NEGATIVE_EXACT"
    )
    return account


@pytest.mark.django_db
def test_campaign_frame_joins_rollups_with_budgets_and_counts_other_days_and_tenants_out(org):
    _entities(org)
    AdRollupFactory(
        organization=org, date=date(2026, 11, 30), campaign_id="C1", cost=Decimal("30"), sales=Decimal("60")
    )
    AdRollupFactory(organization=org, date=date(2026, 11, 24), campaign_id="C1", publisher="x", cost=Decimal("10"))
    AdRollupFactory(organization=org, date=date(2026, 11, 23), campaign_id="C1", cost=Decimal("999"))  # before
    AdRollupFactory(organization=OrganizationFactory(), date=date(2026, 11, 30), campaign_id="C1", cost=Decimal("7"))

    result = rule_selectors.campaign_frame(organization=org, start=date(2026, 11, 24), end=date(2026, 11, 30))

    rows = result.sort_values("campaign_id").to_dict("records")
    assert [
        (r["campaign_id"], r["campaign_name"], r["state"], r["budget"], r["cost"], r["sales"], r["clicks"])
        for r in rows
    ] == [
        ("C1", "Lamps", "enabled", 50.0, 40.0, 160.0, 100),
        ("C2", "Desks", "paused", 20.0, 0.0, 0.0, 0),
    ]
    assert list(result.columns) == [*rules.KEYS["campaign"], *rules.ATTRIBUTES["campaign"], *rules.SUMS]


@pytest.mark.django_db
def test_keyword_frame_takes_the_ad_group_bid_when_a_target_has_none(org):
    _entities(org)
    AdFactFactory(
        organization=org, grain="target", date=date(2026, 11, 30), campaign_id="C1", ad_group_id="G1", target_id="T1",
        clicks=12, cost=Decimal("9.00"), orders=0, sales=Decimal("0"),
    )  # fmt: skip

    result = rule_selectors.keyword_frame(organization=org, start=date(2026, 11, 24), end=date(2026, 11, 30))

    rows = result.sort_values("target_id").to_dict("records")
    assert [(r["target_id"], r["text"], r["match_type"], r["bid"], r["clicks"], r["cost"]) for r in rows] == [
        ("T1", "desk lamp", "EXACT", 1.0, 12, 9.0),
        ("T2", "lamp", "BROAD", 0.6, 0, 0.0),
    ]


@pytest.mark.django_db
def test_search_term_frame_flags_keywords_and_negatives_in_place(org):
    _entities(org)
    for term in ("desk lamp", "free lamp", "brass lamp"):
        AdFactFactory(
            organization=org, grain="search_term", date=date(2026, 11, 29), campaign_id="C1", ad_group_id="G1",
            target_id="T2", target_text="lamp", match_type="BROAD", search_term=term, cost=Decimal("3"),
        )  # fmt: skip

    result = rule_selectors.search_term_frame(organization=org, start=date(2026, 11, 24), end=date(2026, 11, 30))

    flags = {r["search_term"]: tuple(r[c] for c in rules.FLAG_COLUMNS) for r in result.to_dict("records")}
    assert flags == {
        "desk lamp": (True, True, False, False),
        "free lamp": (False, False, True, False),
        "brass lamp": (False, False, False, False),
    }
    assert set(result["campaign_name"]) == {"Campaign C1"}


@pytest.mark.django_db
def test_rule_frames_give_one_frame_per_window_and_respect_channels(org):
    _entities(org)
    AdRollupFactory(organization=org, date=date(2026, 11, 30), campaign_id="C1", cost=Decimal("30"))
    AdRollupFactory(organization=org, date=date(2026, 11, 10), campaign_id="C1", cost=Decimal("5"))
    both = spec("campaign", [("spend", 7, "gt", 0), ("spend", 30, "gt", 0)], "pause")
    google = spec("campaign", [("spend", 7, "gt", 0)], "pause", channels=["google_ads"])

    frames = rule_selectors.rule_frames(organization=org, spec=both, as_of=AS_OF)
    none = rule_selectors.rule_frames(organization=org, spec=google, as_of=AS_OF)

    assert sorted(frames) == [7, 30]
    costs = {days: dict(zip(f["campaign_id"], f["cost"], strict=True)) for days, f in frames.items()}
    assert costs == {7: {"C1": 30.0, "C2": 0.0}, 30: {"C1": 35.0, "C2": 0.0}}
    assert none[7].empty and list(none[7].columns) == list(frames[7].columns)


def _bid_rule(org, **extra):
    return Rule.unscoped_objects.create(
        organization=org,
        name="Cut bids without orders",
        scope="keyword",
        conditions=[
            {"metric": "clicks", "window_days": 7, "op": "gte", "value": 10},
            {"metric": "orders", "window_days": 30, "op": "eq", "value": 0},
        ],
        action={"type": "bid_pct", "value": -20, "ignore_last_days": 0},
        **extra,
    )


def _target_fact(org, target_id, day, clicks, orders=0):
    AdFactFactory(
        organization=org, grain="target", date=day, campaign_id="C1", ad_group_id="G1", target_id=target_id,
        clicks=clicks, cost=Decimal(clicks) / 2, orders=orders, sales=Decimal(orders * 20),
    )  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("auto_apply", [False, True])
def test_a_dry_run_shows_exactly_what_the_real_run_proposes(org, owner, auto_apply):
    _entities(org)
    rule = _bid_rule(org, auto_apply=auto_apply)
    _target_fact(org, "T1", date(2026, 11, 29), clicks=12)
    _target_fact(org, "T2", date(2026, 11, 28), clicks=15)

    dry = services.rule_run(organization=org, rule=rule, actor=owner, dry_run=True, as_of=AS_OF)
    assert Proposal.unscoped_objects.filter(organization=org).count() == 0
    assert ToolRun.unscoped_objects.filter(organization=org).count() == 0
    real = services.rule_run(organization=org, rule=rule, actor=owner, dry_run=False, as_of=AS_OF)

    assert (dry.dry_run, dry.tool_run, dry.matched) == (True, None, 2)
    assert dry.changes == real.changes
    assert [(c["target_id"], c["current_value"], c["proposed_value"]) for c in real.changes] == [
        ("T2", 0.6, 0.48),
        ("T1", 1.0, 0.8),
    ]
    proposals = Proposal.unscoped_objects.filter(organization=org).order_by("pk")
    assert [(p.kind, p.target_id, p.proposed_value, p.reason, p.run_id) for p in proposals] == [
        (
            c_kind,
            c["target_id"],
            Decimal(str(c["proposed_value"])).quantize(Decimal("0.0001")),
            c["reason"],
            real.tool_run_id,
        )
        for c_kind, c in zip(["bid", "bid"], real.changes, strict=True)
    ]
    expected = ProposalStatus.APPROVED if auto_apply else ProposalStatus.PENDING
    assert {p.status for p in proposals} == {expected}
    assert real.tool_run.tool == "rule" and real.tool_run.summary["changes"] == 2
    verbs = list(AuditEvent.unscoped_objects.filter(organization=org).order_by("pk").values_list("verb", flat=True))
    assert verbs == ["campaigns.rule_dry_run", "campaigns.proposals_created", "campaigns.rule_run"]


@pytest.mark.django_db
def test_a_real_run_with_nothing_to_change_creates_no_tool_run(org, owner):
    _entities(org)
    rule = _bid_rule(org)

    run = services.rule_run(organization=org, rule=rule, actor=owner, dry_run=False, as_of=AS_OF)

    assert (run.dry_run, run.matched, run.changes, run.tool_run) == (False, 0, [], None)
    assert ToolRun.unscoped_objects.filter(organization=org).count() == 0


@pytest.mark.django_db
def test_running_a_self_applying_rule_needs_the_push_permission(org):
    _entities(org)
    rule = _bid_rule(org, auto_apply=True)
    analyst = member(org, Role.ANALYST)

    with pytest.raises(PermissionDenied):
        services.rule_run(organization=org, rule=rule, actor=analyst, dry_run=False, as_of=AS_OF)
    assert RuleRun.unscoped_objects.filter(organization=org).count() == 0


RULE_DATA = {
    "name": "Pause wasters",
    "scope": "keyword",
    "channels": ["amazon_ads"],
    "conditions": [{"metric": "spend", "window_days": 14, "op": "gt", "value": 20}],
    "action": {"type": "pause", "ignore_last_days": 2},
    "schedule": "weekly",
    "enabled": True,
    "auto_apply": False,
    "max_changes": 10,
    "max_spend_increase_pct": 15,
}


@pytest.mark.django_db
def test_rule_save_stores_the_checked_spec_and_audits(org, owner):
    rule = services.rule_save(organization=org, actor=owner, data=RULE_DATA)

    rule.refresh_from_db()
    assert (rule.name, rule.scope, rule.channels, rule.schedule, rule.max_changes) == (
        "Pause wasters", "keyword", ["amazon_ads"], "weekly", 10,
    )  # fmt: skip
    assert rule.conditions == [{"metric": "spend", "window_days": 14, "op": "gt", "value": 20.0}]
    assert rule.action == {"type": "pause", "value": None, "ignore_last_days": 2}
    assert rule.max_spend_increase_pct == Decimal("15.00")
    assert AuditEvent.unscoped_objects.get(organization=org).verb == "campaigns.rule_created"

    services.rule_save(organization=org, actor=owner, data={**RULE_DATA, "name": "Renamed"}, rule=rule)
    rule.refresh_from_db()
    assert rule.name == "Renamed"
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="campaigns.rule_updated").count() == 1


@pytest.mark.django_db
def test_rule_save_refuses_bad_rules_and_auto_apply_without_push(org):
    marketer, analyst = member(org, Role.MARKETER), member(org, Role.ANALYST)
    bad = {**RULE_DATA, "action": {"type": "negative_exact"}}

    with pytest.raises(ValidationError) as caught:
        services.rule_save(organization=org, actor=marketer, data=bad)
    assert caught.value.messages == [
        "“Add as a negative exact keyword (campaign)” cannot be used on keywords and targets."
    ]
    with pytest.raises(ValidationError) as caught:
        services.rule_save(organization=org, actor=analyst, data={**RULE_DATA, "auto_apply": True})
    assert caught.value.messages == [
        "Only members who may push changes can let a rule apply its changes without approval."
    ]
    assert Rule.unscoped_objects.filter(organization=org).count() == 0
    assert services.rule_save(organization=org, actor=marketer, data={**RULE_DATA, "auto_apply": True}).auto_apply


# --- schedule -------------------------------------------------------------------------------------------------------


def test_period_start_is_the_local_day_from_six_and_mondays_for_weekly_rules():
    monday_7 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # a Monday
    start = services.period_start(schedule="daily", now=monday_7, time_zone="UTC")
    assert start == datetime(2026, 11, 30, tzinfo=UTC)
    assert services.period_start(schedule="weekly", now=monday_7, time_zone="UTC") == start
    assert services.period_start(schedule="daily", now=monday_7.replace(hour=5), time_zone="UTC") is None
    assert services.period_start(schedule="weekly", now=monday_7 + timedelta(days=1), time_zone="UTC") is None
    assert services.period_start(schedule="manual", now=monday_7, time_zone="UTC") is None
    # 23:00 UTC on Sunday is 07:00 on Monday in Shanghai
    shanghai = services.period_start(
        schedule="weekly", now=datetime(2026, 11, 29, 23, tzinfo=UTC), time_zone="Asia/Shanghai"
    )
    assert shanghai == datetime(2026, 11, 29, 16, tzinfo=UTC)


@pytest.mark.django_db
def test_rules_due_skips_rules_run_in_their_period_manual_and_disabled_ones(org):
    monday_noon = datetime(2026, 11, 30, 12, tzinfo=UTC)
    daily = _bid_rule(org)
    weekly = _bid_rule(org, schedule="weekly")
    _bid_rule(org, schedule="manual")
    _bid_rule(org, enabled=False)
    ran_today = _bid_rule(org)
    ran_yesterday = _bid_rule(org)
    dry_today = _bid_rule(org)
    for rule, when, dry in (
        (ran_today, monday_noon, False),
        (ran_yesterday, monday_noon - timedelta(days=1), False),
        (dry_today, monday_noon, True),
    ):
        run = RuleRun.unscoped_objects.create(organization=org, rule=rule, dry_run=dry)
        RuleRun.unscoped_objects.filter(pk=run.pk).update(created_at=when - timedelta(hours=1))

    due = services.rules_due(now=monday_noon)

    assert due == sorted((org.pk, rule.pk) for rule in (daily, weekly, ran_yesterday, dry_today))


def _zone_at_local_noon() -> str:
    """A fixed-offset zone where it is about noon now, so 'due today' holds whenever the test runs."""
    offset = 12 - timezone.now().astimezone(UTC).hour
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


@pytest.mark.django_db
def test_the_beat_running_twice_in_a_day_runs_a_rule_once():
    org = OrganizationFactory(time_zone=_zone_at_local_noon())
    _entities(org)
    rule = _bid_rule(org)
    yesterday = services.default_as_of(org)
    _target_fact(org, "T1", yesterday, clicks=12)

    assert run_due_rules() == 1
    assert run_due_rules() == 0
    assert services.rule_run_scheduled(organization=org, rule_id=rule.pk) is None  # a duplicate message

    run = RuleRun.unscoped_objects.get(organization=org, rule=rule)
    assert (run.dry_run, run.matched, len(run.changes)) == (False, 1, 1)
    assert Proposal.unscoped_objects.filter(organization=org).count() == 1
    assert AuditEvent.unscoped_objects.get(organization=org, verb="campaigns.rule_run").actor is None
