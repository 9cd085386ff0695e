"""Creative A/B tests: the planned sample size against hand-computed values, and the Bayesian readout on
identical, clearly different, simulated A/A and empty variants."""

from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from campaigns.experiments import (
    CONTINUE,
    METRICS,
    NEED_MORE_DATA,
    STOP_NO_DIFFERENCE,
    STOP_WINNER,
    duration_days,
    readout,
    sample_size,
)


def _variant(name, impressions=0, clicks=0, orders=0, sales=0.0, cost=0.0):
    return {"name": name, "impressions": impressions, "clicks": clicks, "orders": orders, "sales": sales, "cost": cost}


# --- sample size and duration --------------------------------------------------------------------------------


def test_sample_size_matches_the_hand_computed_two_proportion_value():
    # Given a 5 % baseline and a 20 % relative lift (p2 = 6 %), alpha 0.05 two-sided, power 0.8:
    # z = 1.959964, z_power = 0.841621, pbar = 0.055
    # (1.959964 * sqrt(2 * .055 * .945) + 0.841621 * sqrt(.05 * .95 + .06 * .94))^2 / .01^2
    # = (0.6319174 + 0.2712843)^2 / 0.0001 = 8157.73 -> 8158 per variant.
    # The pooled-variance textbook shortcut (z + z_power)^2 * (p1 q1 + p2 q2) / d^2 gives 8155.
    n = sample_size(baseline_rate=0.05, minimum_detectable_effect=0.20, alpha=0.05, power=0.8)

    assert n == 8158
    assert abs(n - 8155) / 8155 < 0.01


def test_sample_size_splits_alpha_over_the_comparisons_with_the_control():
    # Given three variants: alpha 0.05 / 2 comparisons -> z = 2.241403
    # (2.241403 * 0.3224127 + 0.2712843)^2 / 0.0001 = 9879.18 -> 9880.
    assert sample_size(baseline_rate=0.05, minimum_detectable_effect=0.20, variants=3) == 9880


@pytest.mark.parametrize(
    "kwargs",
    [
        {"baseline_rate": 0.0, "minimum_detectable_effect": 0.1},
        {"baseline_rate": 1.0, "minimum_detectable_effect": 0.1},
        {"baseline_rate": 0.6, "minimum_detectable_effect": 1.0},  # 120 % is not a rate
        {"baseline_rate": 0.05, "minimum_detectable_effect": 0.0},
        {"baseline_rate": 0.05, "minimum_detectable_effect": 0.1, "variants": 1},
    ],
)
def test_sample_size_rejects_impossible_plans(kwargs):
    with pytest.raises(ValueError):
        sample_size(**kwargs)


def test_duration_days_rounds_up_to_whole_days():
    # 2 x 8158 = 16316 units at 1000 a day -> 16.3 days -> 17
    assert duration_days(per_variant=8158, daily_units=1000, variants=2) == 17
    assert duration_days(per_variant=500, daily_units=1000, variants=2) == 1


def test_duration_days_without_traffic_is_an_error():
    with pytest.raises(ValueError):
        duration_days(per_variant=100, daily_units=0, variants=2)


# --- readout ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 4])
def test_identical_variants_share_the_probability_of_being_best(k):
    # Given k variants with exactly the same numbers
    variants = [_variant(f"V{i}", impressions=50_000, clicks=1_000, orders=50, sales=2_000, cost=500) for i in range(k)]

    for metric in METRICS:
        # When read out
        result = readout(variants=variants, metric=metric)

        # Then each is best with probability near 1/k, and nothing is decided on moderate data
        # (Monte Carlo standard error with 20 000 draws is at most 0.0035)
        assert all(abs(v.p_best - 1 / k) < 0.02 for v in result.variants)
        assert abs(sum(v.p_best for v in result.variants) - 1) < 1e-9
        assert result.recommendation == CONTINUE
        assert result.winner is None


def test_posterior_and_observed_values_of_a_rate():
    # Given 10 clicks on 100 impressions and 30 on 200, with a uniform prior
    result = readout(variants=[_variant("A", 100, 10), _variant("B", 200, 30)], metric="ctr", min_units=0)
    a, b = result.variants

    # Then the observed CTRs are exact and the posterior means are Beta(11, 91) and Beta(31, 171) means
    assert (a.observed, b.observed) == (0.1, 0.15)
    assert a.posterior_mean == pytest.approx(11 / 102, abs=0.001)
    assert b.posterior_mean == pytest.approx(31 / 202, abs=0.001)
    assert a.interval[0] < a.posterior_mean < a.interval[1]
    assert a.lift_median is None and a.lift_interval is None
    assert b.lift_interval[0] < b.lift_median < b.lift_interval[1]
    assert result.details[0].startswith("B vs A: CTR lift ")


def test_strong_simulated_winner_is_recovered():
    # Given simulated traffic where B's true CTR is 3 % against A's 2 %
    rng = np.random.default_rng(7)
    variants = [
        _variant("A", impressions=20_000, clicks=int(rng.binomial(20_000, 0.02))),
        _variant("B", impressions=20_000, clicks=int(rng.binomial(20_000, 0.03))),
    ]

    # When read out
    result = readout(variants=variants, metric="ctr")

    # Then B is best with P >= 0.95 and the test can stop with B
    assert result.variants[1].p_best >= 0.95
    assert result.recommendation == STOP_WINNER
    assert result.winner == "B"
    assert result.explanation.startswith("Stop the test and keep B: it has a 100.0% chance of the best CTR")


def test_strong_winner_among_three_variants_on_revenue_per_click():
    # Given three variants with 1 000 clicks each: C converts 8 % against 4 %, at a similar order value
    rng = np.random.default_rng(11)
    variants = []
    for name, cvr in (("A", 0.04), ("B", 0.04), ("C", 0.08)):
        orders = int(rng.binomial(1_000, cvr))
        variants.append(_variant(name, clicks=1_000, orders=orders, sales=float(rng.exponential(30, orders).sum())))

    result = readout(variants=variants, metric="rpc")

    assert result.winner == "C"
    assert result.recommendation == STOP_WINNER
    assert result.variants[2].p_best >= 0.95


def test_roas_prefers_the_variant_with_the_same_sales_on_half_the_spend():
    # Given the same 200 orders and sales, but B spent half as much (ROAS 4 against 2)
    variants = [
        _variant("A", clicks=2_000, orders=200, sales=8_000, cost=4_000),
        _variant("B", clicks=2_000, orders=200, sales=8_000, cost=2_000),
    ]

    result = readout(variants=variants, metric="roas")

    assert [v.observed for v in result.variants] == [2.0, 4.0]
    assert result.winner == "B"
    assert result.recommendation == STOP_WINNER


def test_aa_simulation_rarely_crowns_a_false_winner():
    # Given 200 A/A tests, both arms converting 5 % of clicks, each read once at its planned sample size
    planned = sample_size(baseline_rate=0.05, minimum_detectable_effect=0.20)
    false_winners = 0
    for seed in range(200):
        rng = np.random.default_rng(10_000 + seed)
        variants = []
        for name in ("A", "B"):
            orders = int(rng.binomial(planned, 0.05))
            variants.append(
                _variant(name, clicks=planned, orders=orders, sales=float(rng.exponential(40, orders).sum()))
            )
        result = readout(variants=variants, metric="cvr", seed=seed, min_units=planned)
        false_winners += result.recommendation == STOP_WINNER

    # Then fewer than 10 % of them stop with a winner (P(best) alone would be near 10 %; this rule near 5 %)
    assert false_winners / 200 < 0.10


def test_huge_identical_variants_stop_with_no_difference():
    # Given two arms of 20 million impressions at 2 % CTR: any choice loses well under 0.5 % of the CTR
    variants = [_variant(name, impressions=20_000_000, clicks=400_000) for name in ("A", "B")]

    result = readout(variants=variants, metric="ctr")

    assert result.recommendation == STOP_NO_DIFFERENCE
    assert result.winner is None
    assert all(v.relative_expected_loss < 0.005 for v in result.variants)


@pytest.mark.parametrize("metric", METRICS)
def test_zero_data_needs_more_data_without_crashing(metric):
    # Given two variants without any traffic
    variants = [_variant("A"), _variant("B")]

    result = readout(variants=variants, metric=metric)

    # Then nothing is observed, the posteriors are the prior, and the seller is told to keep going
    unit = "impressions" if metric == "ctr" else "clicks"
    planned = "5,000" if metric == "ctr" else "500"
    assert result.recommendation == NEED_MORE_DATA
    assert result.explanation == f"Keep the test running: A has 0 {unit} of the {planned} planned per variant."
    assert [v.observed for v in result.variants] == [None, None]
    assert all(0.4 < v.p_best < 0.6 for v in result.variants)

    # And without a planned size it is simply "continue"
    assert readout(variants=variants, metric=metric, min_units=0).recommendation == CONTINUE


def test_a_winner_before_the_planned_size_still_needs_more_data():
    # Given a clear early leader, but only 1 000 of 8 158 planned clicks each
    variants = [_variant("A", clicks=1_000, orders=20), _variant("B", clicks=1_000, orders=80)]

    result = readout(variants=variants, metric="cvr", min_units=8158)

    assert result.variants[1].p_best > 0.99
    assert result.recommendation == NEED_MORE_DATA
    assert result.explanation == "Keep the test running: A has 1,000 clicks of the 8,158 planned per variant."


def test_rows_may_be_objects_with_decimals_and_more_orders_than_clicks():
    # Given platform rows as objects with Decimal money; B has more attributed orders than clicks
    rows = [
        SimpleNamespace(name="A", impressions=1_000, clicks=10, orders=2, sales=Decimal("50.00"), cost=Decimal("9.5")),
        SimpleNamespace(
            name="B", impressions=1_000, clicks=10, orders=12, sales=Decimal("300.00"), cost=Decimal("9.5")
        ),
    ]

    for metric in METRICS:
        result = readout(variants=rows, metric=metric, min_units=0)
        assert len(result.variants) == 2
        assert 0.0 <= result.variants[1].p_best <= 1.0
    assert readout(variants=rows, metric="cvr", min_units=0).variants[1].observed == 1.2


def test_rows_may_be_pandas_rows():
    frame = pd.DataFrame([_variant("A", 1_000, 30), _variant("B", 1_000, 36)], index=[7, 8])

    result = readout(variants=[row for _, row in frame.iterrows()], metric="ctr", min_units=0)

    assert [(v.name, v.observed) for v in result.variants] == [("A", 0.03), ("B", 0.036)]


def test_readout_is_reproducible_for_a_seed():
    variants = [_variant("A", 1_000, 30), _variant("B", 1_000, 36)]

    assert readout(variants=variants, metric="ctr", seed=3) == readout(variants=variants, metric="ctr", seed=3)


@pytest.mark.parametrize(
    ("variants", "metric"),
    [
        ([_variant("A", 10, 1), _variant("B", 10, 1)], "cpc"),
        ([_variant("A", 10, 1)], "ctr"),
        ([_variant("A", 10, -1), _variant("B", 10, 1)], "ctr"),
    ],
)
def test_readout_rejects_bad_input(variants, metric):
    with pytest.raises(ValueError):
        readout(variants=variants, metric=metric)
