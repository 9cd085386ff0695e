"""Budget allocation: the total kept to the cent on many random inputs, the winner, the floors and
ceilings, campaigns without data, one campaign, a zero total, and determinism with the seed."""

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from campaigns.budgets import OUTPUT_COLUMNS, allocate_budget


def campaign(campaign_id, *, spend=100.0, sales=300.0, orders=10, clicks=200, current=20, **limits):
    return {
        "campaign_id": campaign_id,
        "channel": "amazon_ads",
        "current_budget": current,
        "spend": spend,
        "sales": sales,
        "orders": orders,
        "clicks": clicks,
        **limits,
    }


def allocate(rows, daily_total, **options):
    return allocate_budget(campaigns=pd.DataFrame(rows), daily_total=daily_total, **options).set_index("campaign_id")


def test_total_is_kept_to_the_cent_and_limits_hold_on_random_inputs():
    rng = np.random.default_rng(7)
    for _ in range(150):
        # Given 1 to 8 campaigns with random results, some with floors and ceilings that can be met
        n = int(rng.integers(1, 9))
        total = Decimal(int(rng.integers(0, 100_000))).scaleb(-2)
        spend = rng.choice([0.0, 1.0, 50.0, 2000.0], size=n) * rng.random(n)
        orders = rng.poisson(spend / 20)
        rows = [
            campaign(f"c{i}", spend=spend[i], orders=int(orders[i]), sales=float(orders[i] * rng.uniform(5, 80)))
            for i in range(n)
        ]
        for i in range(n):
            if rng.random() < 0.3:
                rows[i]["max_budget"] = round(float(total) / n * rng.uniform(0.2, 1.0), 2)
        if all("max_budget" in r for r in rows):
            rows[0].pop("max_budget")
        if rng.random() < 0.3:
            rows[-1]["min_budget"] = round(float(total) / n * rng.uniform(0.0, 0.8), 2)
            rows[-1].pop("max_budget", None)
        # When the budget is allocated
        out = allocate(rows, total, draws=200, seed=int(rng.integers(1000)))
        # Then the amounts are whole cents that add up to the total exactly, within every limit
        assert sum(out["proposed_budget"], Decimal(0)) == total
        for r in rows:
            amount = out.loc[r["campaign_id"], "proposed_budget"]
            assert amount == amount.quantize(Decimal("0.01")) and amount >= 0
            assert amount <= Decimal(str(r.get("max_budget", "Infinity")))
            assert amount >= Decimal(str(r.get("min_budget", 0)))
        assert out["p_best"].sum() == pytest.approx(1.0, abs=1e-3)


def test_clear_winner_gets_the_most():
    # Given three campaigns with plenty of data: ROAS 6, 2 and 1.5
    rows = [
        campaign("winner", spend=1000.0, sales=6000.0, orders=200),
        campaign("middle", spend=1000.0, sales=2000.0, orders=70),
        campaign("loser", spend=1000.0, sales=1500.0, orders=50),
    ]
    # When 300.00 is split with 20 % spread evenly
    out = allocate(rows, 300)
    # Then the winner is the best in (nearly) every draw and gets its even 20.00 plus the other 240.00
    assert out.loc["winner", "p_best"] == 1.0
    assert out["proposed_budget"].to_dict() == {
        "winner": Decimal("260.00"),
        "middle": Decimal("20.00"),
        "loser": Decimal("20.00"),
    }
    assert out.loc["winner", "shift"] == Decimal("240.00")
    assert out.loc["winner", "roas_p05"] < out.loc["winner", "roas_mean"] < out.loc["winner", "roas_p95"]
    assert 5.5 < out.loc["winner", "roas_mean"] < 6.5
    assert out.loc["middle", "reason"] == (
        "0.0% chance of the best ROAS (mean 2.04, 90% interval 1.60 to 2.55): kept at 20.00."
    )
    assert out.loc["winner", "reason"].endswith("raised by 240.00 to 260.00.")


def test_campaign_without_data_keeps_at_least_its_floor():
    # Given a strong campaign and a new one with no spend, clicks or orders
    rows = [
        campaign("old", spend=5000.0, sales=50000.0, orders=1000),
        campaign("new", spend=0.0, sales=0.0, orders=0, clicks=0),
    ]
    # When 100.00 is split with min_share 0.2 (10.00 each at least)
    out = allocate(rows, 100)
    # Then the new campaign keeps learning on at least its even share, and says why
    assert out.loc["new", "proposed_budget"] >= Decimal("10.00")
    assert out.loc["new", "reason"].startswith("No spend in the window, so its return is still a guess")
    # And a min_budget above what it would get is honoured exactly
    rows[1]["min_budget"] = 60
    assert out.loc["new", "proposed_budget"] < Decimal("60.00")
    assert allocate(rows, 100)["proposed_budget"].to_dict() == {"old": Decimal("40.00"), "new": Decimal("60.00")}


def test_ceiling_is_respected_and_the_excess_redistributed():
    # Given the winner capped at 50.00 and two equal runners-up
    rows = [
        campaign("winner", spend=1000.0, sales=6000.0, orders=200, max_budget=50),
        campaign("a", spend=1000.0, sales=2000.0, orders=70),
        campaign("b", spend=1000.0, sales=2000.0, orders=70),
    ]
    # When 200.00 is split
    out = allocate(rows, 200)
    # Then the winner stops at its ceiling and the other 150.00 is shared evenly by the equal campaigns
    assert out["proposed_budget"].to_dict() == {
        "winner": Decimal("50.00"),
        "a": Decimal("75.00"),
        "b": Decimal("75.00"),
    }
    assert out.loc["winner", "reason"].endswith("capped at its maximum budget of 50.00 (was 20.00).")


def test_remainders_go_to_the_largest_fractions():
    # Given three identical campaigns: an even third each is 33.333...
    rows = [campaign("a"), campaign("b"), campaign("c")]
    out = allocate(rows, 100)
    # Then the odd cent goes to the first and the total is exact
    assert list(out["proposed_budget"]) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert list(out["p_best"]) == [0.3333, 0.3333, 0.3333]


def test_single_campaign_gets_everything():
    out = allocate([campaign("only", current=40)], Decimal("123.45"))
    assert out.loc["only", "proposed_budget"] == Decimal("123.45")
    assert out.loc["only", "shift"] == Decimal("83.45")
    assert out.loc["only", "p_best"] == 1.0
    assert out.loc["only", "reason"].endswith("raised by 83.45 to 123.45.")


def test_zero_total_gives_zero_to_everyone():
    out = allocate([campaign("a"), campaign("b", spend=0.0, sales=0.0, orders=0)], 0)
    assert list(out["proposed_budget"]) == [Decimal("0.00"), Decimal("0.00")]
    assert list(out["shift"]) == [Decimal("-20.00"), Decimal("-20.00")]


def test_same_seed_same_result():
    rows = [campaign("a", sales=310.0), campaign("b", sales=290.0, orders=9), campaign("c", spend=0.0, orders=0)]
    first = allocate(rows, 99.99, seed=3)
    second = allocate(rows, 99.99, seed=3)
    pd.testing.assert_frame_equal(first, second)
    assert list(first.reset_index().columns) == OUTPUT_COLUMNS


def test_no_orders_anywhere_has_no_roas():
    rows = [campaign("a", sales=0.0, orders=0), campaign("b", spend=10.0, sales=0.0, orders=0)]
    out = allocate(rows, 10)
    assert list(out["roas_mean"]) == [None, None]
    # less spend without a sale is more promising
    assert out.loc["b", "proposed_budget"] > out.loc["a", "proposed_budget"]
    assert out.loc["a", "reason"].startswith("No campaign has an order yet")


def test_limits_that_cannot_be_met_are_refused():
    with pytest.raises(ValueError, match="minimum budgets"):
        allocate([campaign("a", min_budget=60), campaign("b", min_budget=50)], 100)
    with pytest.raises(ValueError, match="maximum budgets"):
        allocate([campaign("a", max_budget=10)], 100)
    with pytest.raises(ValueError, match="No campaign"):
        allocate_budget(campaigns=pd.DataFrame(columns=list(campaign("a"))), daily_total=5)
    with pytest.raises(ValueError, match="unique"):
        allocate([campaign("a"), campaign("a")], 5)
