"""Bid proposals: the smoothing toward the ad group on hand-computed numbers, the step and bid limits, the
window and provisional days, profit-aware targets and every edge case (no clicks, no orders anywhere, no
current bid), with outputs that never hold NaN."""

import math
from datetime import date, timedelta

import pandas as pd
import pytest

from campaigns.bidding import OUTPUT_COLUMNS, BidPolicy, propose_bids

AS_OF = date(2026, 3, 31)


def row(target, *, day=AS_OF, bid=1.0, group="g1", campaign="c1", clicks=0, orders=0, sales=0.0, cost=0.0, **extra):
    return {
        "target_id": target,
        "ad_group_id": group,
        "campaign_id": campaign,
        "bid": bid,
        "date": day,
        "impressions": clicks * 20,
        "clicks": clicks,
        "cost": cost,
        "orders": orders,
        "sales": sales,
        **extra,
    }


def propose(rows, **policy):
    policy = {"target_acos": 0.30, "as_of": AS_OF, **policy}
    return propose_bids(daily=pd.DataFrame(rows), policy=BidPolicy(**policy)).set_index("target_id")


def test_policy_needs_exactly_one_target():
    with pytest.raises(ValueError, match="exactly one"):
        BidPolicy()
    with pytest.raises(ValueError, match="exactly one"):
        BidPolicy(target_acos=0.3, target_roas=4)
    assert BidPolicy(target_roas=4).fixed_target_acos == 0.25
    assert BidPolicy(profit_target_margin=0.1).fixed_target_acos is None


def test_policy_rejects_inconsistent_limits():
    with pytest.raises(ValueError, match="max_bid"):
        BidPolicy(target_acos=0.3, min_bid=0.5, max_bid=0.4)
    with pytest.raises(ValueError, match="max_step"):
        BidPolicy(target_acos=0.3, max_step=1.5)
    with pytest.raises(ValueError, match="ignore_last_days"):
        BidPolicy(target_acos=0.3, window_days=7, ignore_last_days=7)


def test_sparse_keyword_is_shrunk_toward_its_ad_group():
    # Given an ad group where t1 has 40 clicks, 8 orders, 80.00 sales and t2 has 8 clicks and no order
    # (group = campaign: 48 clicks, 8 orders, 80.00 sales; CVR 1/6, revenue per click 5/3)
    rows = [
        row("t1", bid=0.55, clicks=40, orders=8, sales=80.0, cost=40.0),
        row("t2", bid=0.50, clicks=8, cost=4.0),
    ]
    # When bids are proposed with 30 pseudo-clicks of prior
    out = propose(rows)
    # Then t2's CVR is (0 + 30/6) / (8 + 30) = 5/38 and its RPC (0 + 30 x 5/3) / 38 = 50/38
    t2 = out.loc["t2"]
    assert t2["smoothed_cvr"] == 0.1316
    assert t2["rpc"] == 1.3158
    assert t2["smoothed_aov"] == 10.0
    # its ideal bid 0.30 x 50/38 = 0.39 is more than 8 of 10 clicks allow: at most 0.8 x 20 % = 16 % down
    assert (t2["proposed_bid"], t2["change_pct"], t2["action"]) == (0.42, -16.0, "lower")
    assert t2["acos"] is None
    # And t1: CVR (8 + 5) / 70, RPC (80 + 50) / 70 = 1.857..., ideal 0.557 within the step: 0.55 -> 0.56
    t1 = out.loc["t1"]
    assert (t1["smoothed_cvr"], t1["rpc"], t1["smoothed_aov"]) == (0.1857, 1.8571, 10.0)
    assert (t1["proposed_bid"], t1["change_pct"], t1["action"], t1["acos"]) == (0.56, 1.8, "raise", 0.5)
    assert t1["reason"] == (
        "40 clicks, 8 orders, ACoS 50.0% against a 30.0% target: ideal bid 0.56, so from 0.55 to 0.56."
    )


def test_group_prior_is_itself_shrunk_toward_the_campaign():
    # Given campaign c1 with group g1 (100 clicks, 10 orders, 200.00) and group g2 (t3: 20 clicks, no order)
    rows = [
        row("t1", clicks=100, orders=10, sales=200.0, cost=50.0),
        row("t3", group="g2", clicks=20, cost=10.0),
    ]
    # When no shrinkage is asked for, t3 is its own numbers; with 30 pseudo-clicks it borrows from the campaign
    raw = propose(rows, prior_strength_clicks=0).loc["t3"]
    smoothed = propose(rows).loc["t3"]
    # Then: campaign RPC 200/120; g2's RPC (0 + 30 x 5/3) / 50 = 1.0; t3's (0 + 30 x 1.0) / 50 = 0.6
    assert raw["rpc"] == 0.0
    assert smoothed["rpc"] == 0.6
    assert smoothed["smoothed_cvr"] == 0.03  # g2's CVR (0 + 30 x 10/120) / 50 = 0.05; t3's 30 x 0.05 / 50
    assert smoothed["proposed_bid"] == 0.8  # ideal 0.18, capped at a 20 % step


def test_window_ignores_provisional_days_and_rows_outside_it():
    # Given a 7-day window ending on the 31st with its last 2 days provisional
    rows = [
        row("t1", day=AS_OF - timedelta(days=7), clicks=100, bid=0.9),  # before the window
        row("t1", day=AS_OF - timedelta(days=6), clicks=10, orders=1, sales=20.0, cost=5.0),
        row("t1", day=AS_OF - timedelta(days=2), clicks=10, orders=1, sales=20.0, cost=5.0),
        row("t1", day=AS_OF - timedelta(days=1), clicks=50, cost=25.0),  # provisional
        row("t1", day=AS_OF, clicks=50, cost=25.0, bid=1.10),  # provisional, carries the current bid
        row("t1", day=AS_OF + timedelta(days=1), clicks=50, bid=9.99),  # after as_of: not seen at all
    ]
    # When bids are proposed
    out = propose(rows, window_days=7, ignore_last_days=2).loc["t1"]
    # Then only the two settled days in the window count and the bid is the latest one up to as_of
    assert (out["clicks"], out["orders"], out["cost"], out["sales"]) == (20, 2, 10.0, 40.0)
    assert (out["days_used"], out["ignored_days"]) == (2, 2)
    assert out["current_bid"] == 1.10
    assert out["rpc"] == 2.0  # its own 40 / 20, and its group is only itself
    assert out["proposed_bid"] == 0.88  # ideal 0.60: 1.10 lowered by the full 20 %


def test_as_of_defaults_to_the_latest_date():
    rows = [row("t1", day=AS_OF - timedelta(days=40), clicks=30), row("t1", day=AS_OF, clicks=10, orders=1, sales=10.0)]
    out = propose_bids(daily=pd.DataFrame(rows), policy=BidPolicy(target_acos=0.3)).set_index("target_id")
    assert (out.loc["t1", "clicks"], out.loc["t1", "days_used"]) == (10, 1)


def test_no_clicks_keeps_the_bid():
    # Given a keyword with impressions but no click in the window
    rows = [{**row("t1", bid=0.75), "impressions": 400}]
    # When bids are proposed
    out = propose(rows).loc["t1"]
    # Then it is held at its bid, with no ratio invented
    assert (out["proposed_bid"], out["change_pct"], out["action"]) == (0.75, 0.0, "hold")
    assert out["acos"] is None and out["smoothed_cvr"] is None and out["rpc"] is None
    assert out["reason"] == "No clicks in the last 30 days: no evidence to change the bid of 0.75."


def test_clicks_without_orders_anywhere_lowers_by_the_full_step_down_to_min_bid():
    # Given a campaign whose targets have clicks but no order at all
    rows = [
        row("t1", bid=0.40, clicks=20, cost=8.0),
        row("t2", bid=0.02, clicks=15, cost=0.3),
        row("t3", bid=0.024, clicks=12, cost=0.3),
    ]
    # When bids are proposed
    out = propose(rows)
    # Then each goes down by the 20 % step, never below the 0.02 minimum
    assert out["proposed_bid"].to_dict() == {"t1": 0.32, "t2": 0.02, "t3": 0.02}
    assert out["action"].to_dict() == {"t1": "lower", "t2": "hold", "t3": "lower"}
    assert out.loc["t1", "rpc"] == 0.0 and out.loc["t1", "smoothed_aov"] is None
    assert out.loc["t1", "reason"] == (
        "20 clicks and 8.00 spent without a sale, and none in its ad group or campaign either: bid 0.32 "
        "(was 0.40), lowered by up to 20.0% per run and never below 0.02."
    )


def test_huge_acos_is_capped_by_the_step():
    # Given 50 clicks costing 100.00 for a single 5.00 sale (ACoS 2000 %)
    out = propose([row("t1", bid=2.0, clicks=50, orders=1, sales=5.0, cost=100.0)]).loc["t1"]
    # Then the bid only drops 20 % this run
    assert (out["proposed_bid"], out["change_pct"], out["acos"]) == (1.6, -20.0, 20.0)
    assert "moved at most 20.0% per run" in out["reason"]


def test_bids_stay_within_min_and_max_bid():
    rows = [
        row("t1", bid=1.0, clicks=100, orders=50, sales=2000.0, cost=100.0),  # ideal 6.00
        row("t2", campaign="c2", bid=0.01, clicks=100, orders=1, sales=1.0, cost=10.0),  # ideal ~0.003
    ]
    out = propose(rows, max_bid=1.1, min_bid=0.05)
    assert out["proposed_bid"].to_dict() == {"t1": 1.1, "t2": 0.05}
    assert out.loc["t1", "reason"].endswith("held at the maximum bid 1.10 (was 1.00).")
    assert out.loc["t2", "reason"].endswith("held at the minimum bid 0.05 (was 0.01).")


def test_missing_or_zero_current_bid_starts_at_the_ideal_bid():
    # Given t1 with results, t2 (no bid, no clicks) in the same group and t3 alone with nothing at all
    rows = [
        row("t1", clicks=100, orders=10, sales=300.0, cost=50.0),
        row("t2", bid=None),
        row("t3", bid=0.0, group="g9", campaign="c9"),
    ]
    out = propose(rows)
    # Then t2 starts from its group's revenue per click (3.00 x 0.30) and t3 at the minimum bid
    assert (out.loc["t2", "current_bid"], out.loc["t2", "proposed_bid"], out.loc["t2", "action"]) == (0.0, 0.9, "raise")
    assert out.loc["t2", "change_pct"] is None
    assert (out.loc["t3", "proposed_bid"], out.loc["t3", "action"]) == (0.02, "raise")
    assert out.loc["t3", "reason"] == "No current bid and no results to price a click: starting at the minimum, 0.02."


def test_target_roas_is_the_inverse_target_acos():
    rows = [row("t1", bid=0.80, clicks=100, orders=10, sales=300.0, cost=80.0)]
    by_roas = propose(rows, target_acos=None, target_roas=4)
    by_acos = propose(rows, target_acos=0.25)
    assert by_roas.loc["t1", "target_acos"] == 0.25
    assert by_roas.loc["t1", "proposed_bid"] == by_acos.loc["t1", "proposed_bid"] == 0.75


def test_profit_aware_target_is_break_even_minus_margin():
    product = {"price": 20.0, "unit_cogs": 8.0, "unit_fees": 4.0}  # break-even ACoS (20 - 12) / 20 = 0.40
    rows = [
        row("t1", bid=0.80, clicks=100, orders=10, sales=300.0, cost=80.0, **product),
        row("t2", bid=0.80, clicks=100, orders=10, sales=300.0, cost=80.0, price=None, unit_cogs=8.0, unit_fees=1),
        row("t3", bid=0.80, clicks=100, orders=10, sales=300.0, cost=80.0, price=10.0, unit_cogs=9.0, unit_fees=2),
    ]
    out = propose(rows, target_acos=None, profit_target_margin=0.10)
    # t1: target 0.40 - 0.10 = 0.30 of RPC 3.00 -> 0.90; t2: no price, held; t3: loses money per sale -> 0 target
    assert out["target_acos"].to_dict() == {"t1": 0.3, "t2": None, "t3": 0.0}
    assert out["proposed_bid"].to_dict() == {"t1": 0.9, "t2": 0.8, "t3": 0.64}
    assert out.loc["t2", "action"] == "hold"
    assert out.loc["t2", "reason"] == "No price and unit costs for this product, so no profit target: bid kept at 0.80."


def test_profit_aware_mode_needs_the_product_columns():
    with pytest.raises(ValueError, match="unit_cogs, unit_fees, price"):
        propose([row("t1", clicks=5)], target_acos=None, profit_target_margin=0.1)


def test_outputs_hold_no_nan():
    rows = [
        row("t1", clicks=0),
        row("t2", bid=None, clicks=3, cost=1.0),
        row("t3", clicks=30, orders=2, sales=0.0, cost=9.0),
        row("t4", group="g2", campaign="c2", bid=None),
    ]
    out = propose(rows).reset_index()
    assert list(out.columns) == OUTPUT_COLUMNS
    for value in out.drop(columns=["reason", "action", "target_id", "ad_group_id", "campaign_id"]).to_numpy().ravel():
        assert value is None or math.isfinite(value)
    assert "nan" not in " ".join(out["reason"]).lower()


def test_empty_input_and_missing_columns():
    empty = propose_bids(daily=pd.DataFrame(columns=list(row("t1"))), policy=BidPolicy(target_acos=0.3))
    assert list(empty.columns) == OUTPUT_COLUMNS and empty.empty
    with pytest.raises(ValueError, match="bid"):
        propose_bids(daily=pd.DataFrame([row("t1")]).drop(columns="bid"), policy=BidPolicy(target_acos=0.3))
