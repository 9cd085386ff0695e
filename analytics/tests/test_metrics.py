"""Metric definitions on hand-computed cases: one place defines every number a dashboard shows."""

from decimal import Decimal

import pytest

from analytics import metrics
from analytics.metrics import METRICS, Totals, change, format_metric

SELLER = Totals(
    impressions=20000,
    clicks=400,
    spend=Decimal("200.00"),
    ad_orders=20,
    ad_units=22,
    ad_sales=Decimal("800.00"),
    total_sales=Decimal("2500.00"),
    total_orders=90,
    total_units=100,
    refunds=Decimal("100.00"),
    cogs=Decimal("900.00"),
    fees=Decimal("375.00"),
    tax=Decimal("0"),
)


def test_ratios_on_a_hand_computed_seller():
    assert metrics.roas(SELLER) == Decimal("4")  # 800 / 200
    assert metrics.acos(SELLER) == Decimal("0.25")  # 200 / 800
    assert metrics.tacos(SELLER) == Decimal("0.08")  # 200 / 2500
    assert metrics.cpc(SELLER) == Decimal("0.5")  # 200 / 400
    assert metrics.ctr(SELLER) == Decimal("0.02")  # 400 / 20000
    assert metrics.cvr(SELLER) == Decimal("0.05")  # 20 / 400
    # 2500 - 100 refunds - 0 tax - 900 cogs - 375 fees - 200 spend
    assert metrics.profit(SELLER) == Decimal("925.00")
    assert metrics.margin(SELLER) == Decimal("0.37")


def test_tacos_and_acos_use_different_denominators():
    t = Totals(spend=Decimal("30"), ad_sales=Decimal("120"), total_sales=Decimal("600"))
    assert metrics.acos(t) == Decimal("0.25")
    assert metrics.tacos(t) == Decimal("0.05")


@pytest.mark.parametrize("key", ["roas", "acos", "tacos", "cpc", "ctr", "cvr"])
def test_zero_denominators_are_none_and_shown_as_a_dash(key):
    empty = Totals()
    assert METRICS[key].of(empty) is None
    assert format_metric(METRICS[key].of(empty), METRICS[key].kind, "USD") == "-"


def test_spend_without_sales_has_no_acos_but_has_cpc():
    t = Totals(spend=Decimal("10"), clicks=4)
    assert metrics.acos(t) is None
    assert metrics.roas(t) == Decimal("0")
    assert metrics.cpc(t) == Decimal("2.5")


def test_profit_is_unknown_without_costs_or_fees():
    assert metrics.profit(Totals(total_sales=Decimal("100"))) is None
    assert metrics.profit(Totals(total_sales=Decimal("100"), cogs=Decimal("10"))) is None
    assert metrics.profit(Totals(total_sales=Decimal("100"), cogs=Decimal("10"), fees=Decimal("5"))) == Decimal("85")


def test_totals_add_and_unknown_costs_stay_unknown():
    a = Totals(spend=Decimal("1.5"), clicks=3, cogs=Decimal("2"), fees=Decimal("1"))
    b = Totals(spend=Decimal("2.5"), clicks=1, cogs=None, fees=Decimal("1"))
    total = a + b
    assert (total.spend, total.clicks, total.cogs, total.fees) == (Decimal("4.0"), 4, None, Decimal("2"))


def test_break_even_acos():
    # price 40, unit cost 12, fees 8 -> 20 of margin before ads: break-even ACoS 50 %
    assert metrics.break_even_acos(price=Decimal("40"), unit_cost=Decimal("12"), fees_per_unit=Decimal("8")) == Decimal(
        "0.5"
    )
    assert metrics.break_even_acos(price=Decimal("0"), unit_cost=Decimal("1"), fees_per_unit=Decimal("0")) is None


def test_change():
    assert change(Decimal("30"), Decimal("20")) == Decimal("0.5")
    assert change(Decimal("10"), Decimal("20")) == Decimal("-0.5")
    assert change(Decimal("-5"), Decimal("-10")) == Decimal("0.5")  # a loss halved is an improvement
    assert change(Decimal("10"), Decimal("0")) is None
    assert change(None, Decimal("1")) is None
    assert change(Decimal("1"), None) is None


def test_format_metric():
    assert format_metric(Decimal("1234.5"), "money", "USD") == "1,234.50 USD"
    assert format_metric(Decimal("0.005"), "money", "USD") == "0.01 USD"  # half up
    assert format_metric(Decimal("0.0833"), "ratio") == "8.3%"
    assert format_metric(Decimal("3.2"), "multiple") == "3.20x"
    assert format_metric(12345, "count") == "12,345"
    assert format_metric(None, "money", "USD") == "-"


def test_every_metric_is_defined_once_with_a_direction():
    assert set(METRICS) >= {"spend", "ad_sales", "total_sales", "roas", "acos", "tacos", "cpc", "ctr", "cvr"}
    for metric in METRICS.values():
        assert metric.kind in {"money", "count", "ratio", "multiple"}
        assert metric.better in {"up", "down"}
    assert METRICS["acos"].better == "down" and METRICS["roas"].better == "up"
