"""Frames and charts without a database: selector output -> DataFrame -> Plotly figure dict."""

import json
import math
from datetime import date
from decimal import Decimal

import pandas as pd

from analytics import charts, frames
from analytics.query import DashboardQuery
from analytics.selectors.performance import Row, Slice, Table, Trend, TrendDay, View

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
NAMES = {"spend": "Ad spend", "ad_sales": "Ad sales", "total_sales": "Total sales", "tacos": "TACoS"}


def _slice(currency="USD", **values):
    part = Slice()
    part.add(currency, values)
    return part


def _view(compare="previous"):
    query = DashboardQuery(start=D1, end=D3, range="custom", compare=compare)
    return View(query=query, home="USD", currencies=["USD"], rates={}, provisional={})


def _trend():
    missing = _slice(spend=Decimal("5"))
    missing.missing.add(("JPY", D2))
    days = [
        TrendDay(
            D1,
            _slice(spend=Decimal("10"), ad_sales=Decimal("40")),
            date(2026, 10, 29),
            _slice(spend=Decimal("8")),
            False,
        ),
        TrendDay(D2, missing, date(2026, 10, 30), Slice(), True),
        TrendDay(D3, _slice(total_sales=Decimal("100")), date(2026, 10, 31), Slice(), True),
    ]
    return Trend(view=_view(), days=days)


def test_trend_frame():
    frame = frames.trend_frame(_trend(), "USD")
    assert list(frame["spend"]) == [10.0, 5.0, 0.0]
    assert list(frame["ad_sales"]) == [40.0, 0.0, 0.0]
    assert list(frame["total_sales"]) == [0.0, 0.0, 100.0]
    assert list(frame["previous_spend"]) == [8.0, 0.0, 0.0]
    assert list(frame["provisional"]) == [False, True, True]
    assert list(frame["no_rate"]) == [False, True, False]
    assert list(frame["day"]) == [pd.Timestamp(D1), pd.Timestamp(D2), pd.Timestamp(D3)]


def test_trend_frame_without_comparison_has_nan_previous():
    trend = _trend()
    for day in trend.days:
        day.previous = None
    frame = frames.trend_frame(trend, "USD")
    assert all(math.isnan(v) for v in frame["previous_spend"])


def test_trend_figure_lines_previous_provisional_and_missing_rates():
    frame = frames.trend_frame(_trend(), "USD")
    fig = charts.trend_figure(
        frame,
        currency="USD",
        names=NAMES,
        previous_suffix="previous period",
        provisional_label="Provisional",
        no_rate_label="No FX rate",
    )
    names = [trace["name"] for trace in fig["data"]]
    assert names == [
        "Ad spend",
        "Ad sales",
        "Total sales",
        "Ad spend (previous period)",
        "Ad sales (previous period)",
        "Total sales (previous period)",
        "No FX rate",
    ]
    spend = fig["data"][0]
    assert spend["x"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert spend["y"] == [10.0, 5.0, 0.0]
    assert spend["hovertemplate"] == "%{y:,.2f} USD<extra>Ad spend</extra>"
    assert fig["data"][3]["line"]["dash"] == "dot"
    assert fig["data"][4]["visible"] == "legendonly"
    assert fig["data"][6]["x"] == ["2026-11-02"]
    (shape,) = fig["layout"]["shapes"]
    assert (shape["x0"], shape["x1"]) == ("2026-11-01 12:00", "2026-11-03 12:00")  # 2 and 3 Nov, whole days
    assert fig["layout"]["annotations"][0]["text"] == "Provisional"
    json.dumps(fig)  # plain JSON: no NaN, no numpy types


def test_trend_figure_without_comparison_or_provisional_days():
    trend = _trend()
    for day in trend.days:
        day.previous, day.provisional = None, False
    fig = charts.trend_figure(
        frames.trend_frame(trend, "USD"),
        currency="USD",
        names=NAMES,
        previous_suffix="x",
        provisional_label="P",
        no_rate_label="N",
    )
    assert [trace["name"] for trace in fig["data"]] == ["Ad spend", "Ad sales", "Total sales", "N"]
    assert fig["layout"]["shapes"] == []


def _table():
    view = _view()
    rows = [
        Row(("US",), "US", _slice(spend=Decimal("25"), total_sales=Decimal("500")), _slice(spend=Decimal("20"))),
        Row(("DE",), "DE", _slice(spend=Decimal("10")), Slice()),
    ]
    return Table(view=view, rows=rows)


def test_table_frame_and_nan_ratios():
    frame = frames.table_frame(_table(), "USD", ("spend", "total_sales", "tacos"))
    assert list(frame["label"]) == ["US", "DE"]
    assert list(frame["spend"]) == [25.0, 10.0]
    assert frame["tacos"][0] == 0.05
    assert math.isnan(frame["tacos"][1])  # no sales: no TACoS
    assert list(frame["previous_spend"]) == [20.0, 0.0]


def test_marketplace_figure_has_bars_and_tacos_on_a_second_axis():
    fig = charts.marketplace_figure(
        frames.table_frame(_table(), "USD", ("spend", "total_sales", "tacos")), currency="USD", names=NAMES
    )
    bars, sales, tacos = fig["data"]
    assert (bars["type"], bars["y"], sales["y"]) == ("bar", [25.0, 10.0], [500.0, 0.0])
    assert tacos["yaxis"] == "y2"
    assert tacos["y"] == [0.05, None]  # a gap, not zero
    assert fig["layout"]["yaxis2"]["tickformat"] == ".0%"
    json.dumps(fig)


def test_bars_figure_with_previous_and_formats():
    frame = frames.table_frame(_table(), "USD", ("spend", "acos"))
    fig = charts.bars_figure(
        frame, series=[("spend", "Ad spend")], kind="money", currency="USD", previous_name="Before"
    )
    assert [trace["name"] for trace in fig["data"]] == ["Ad spend", "Before"]
    assert fig["data"][1]["y"] == [20.0, 0.0]
    ratio = charts.bars_figure(frame, series=[("acos", "ACoS")], kind="ratio")
    assert ratio["layout"]["yaxis"]["tickformat"] == ".0%"
    assert ratio["data"][0]["hovertemplate"] == "%{y:.1%}<extra>ACoS</extra>"


def test_share_figure_leaves_out_empty_slices():
    frame = pd.DataFrame({"label": ["Amazon Ads", "Meta · Facebook", "Google Ads"], "spend": [40.0, 30.0, 0.0]})
    fig = charts.share_figure(frame, key="spend", currency="USD")
    (pie,) = fig["data"]
    assert pie["labels"] == ["Amazon Ads", "Meta · Facebook"]
    assert pie["values"] == [40.0, 30.0]
    assert pie["hole"] > 0


def test_hover_formats():
    assert charts.hover_format("money", "CNY") == "%{y:,.2f} CNY"
    assert charts.hover_format("ratio") == "%{y:.1%}"
    assert charts.hover_format("multiple") == "%{y:.2f}x"
    assert charts.hover_format("count") == "%{y:,d}"
