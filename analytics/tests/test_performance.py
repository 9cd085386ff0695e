"""Overview, channels and marketplaces selectors: sums from rollups, FX per day, missing rates kept apart,
filters, comparison periods and provisional days. Numbers are hand-computed."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from accounts.scoping import organization_scope
from analytics.models import MarketplaceFee, ProductCost, SalesTax
from analytics.query import DashboardQuery
from analytics.selectors import performance as perf
from analytics.tests.factories import (
    AdRollupFactory,
    DataSourceFactory,
    FxRateFactory,
    ProductSalesRollupFactory,
    SalesRollupFactory,
)

pytestmark = pytest.mark.django_db

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
TODAY = date(2026, 11, 3)


def q(params="", start=D1, end=D3):
    return DashboardQuery.from_params(QueryDict(f"range=custom&start={start}&end={end}&{params}"), today=TODAY)


@pytest.fixture
def scoped(org):
    with organization_scope(org):
        yield org


def test_two_currencies_convert_per_day_and_ratios_use_the_converted_sums(scoped):
    org = scoped
    AdRollupFactory(organization=org, date=D1, currency="USD", cost=Decimal("25"), sales=Decimal("100"))
    AdRollupFactory(
        organization=org,
        date=D1,
        channel="amazon_ads",
        account_id="A2",
        marketplace="DE",
        currency="EUR",
        cost=Decimal("10"),
        sales=Decimal("40"),
    )
    AdRollupFactory(
        organization=org,
        date=D2,
        account_id="A2",
        marketplace="DE",
        currency="EUR",
        cost=Decimal("10"),
        sales=Decimal("0"),
        clicks=0,
        impressions=0,
    )
    SalesRollupFactory(organization=org, date=D1, currency="USD", total_sales=Decimal("400"), orders=20)
    FxRateFactory(date=D1, quote="USD", rate=Decimal("1.1"))  # 1 EUR = 1.1 USD
    FxRateFactory(date=D2, quote="USD", rate=Decimal("1.2"))

    kpis = perf.overview_kpis(organization=org, query=q("compare=none"), today=TODAY)

    totals = kpis.current.total("USD")
    assert totals.spend == Decimal("48.0000")  # 25 + 10 x 1.1 + 10 x 1.2
    assert totals.ad_sales == Decimal("144.0000")  # 100 + 40 x 1.1
    assert totals.total_sales == Decimal("400")
    assert totals.clicks == 100
    assert kpis.view.currencies == ["USD"]
    assert kpis.current.rated == {(D1, "EUR"), (D2, "EUR")}
    assert kpis.current.missing == set()
    assert perf.METRICS["acos"].of(totals) == Decimal("48") / Decimal("144")
    assert perf.METRICS["tacos"].of(totals) == Decimal("0.12")  # 48 / 400
    assert perf.METRICS["roas"].of(totals) == Decimal("3")  # 144 / 48
    assert kpis.previous is None
    assert kpis.changes["USD"]["spend"] is None
    assert "several rates" in perf.rate_note(kpis.view, kpis.current)


def test_a_missing_rate_is_kept_apart_and_flagged_never_guessed(scoped):
    org = scoped
    AdRollupFactory(organization=org, date=D1, currency="USD", cost=Decimal("25"), sales=Decimal("100"))
    AdRollupFactory(
        organization=org,
        date=D2,
        account_id="J1",
        marketplace="JP",
        currency="JPY",
        cost=Decimal("1500"),
        sales=Decimal("6000"),
    )
    SalesRollupFactory(organization=org, date=D2, marketplace="JP", currency="JPY", total_sales=Decimal("30000"))
    FxRateFactory(date=D1, quote="USD", rate=Decimal("1.1"))  # USD is known, JPY is not

    kpis = perf.overview_kpis(organization=org, query=q("compare=none"), today=TODAY)

    assert kpis.current.total("USD").spend == Decimal("25")
    assert kpis.current.total("USD").total_sales == 0
    unconverted = kpis.current.unconverted
    assert list(unconverted) == ["JPY"]
    assert unconverted["JPY"].spend == Decimal("1500")
    assert unconverted["JPY"].ad_sales == Decimal("6000")
    assert unconverted["JPY"].total_sales == Decimal("30000")
    assert kpis.current.missing == {("JPY", D2)}
    assert perf.missing_notes(kpis.current) == ["No FX rate for JPY on 2 Nov 2026"]
    # TACoS has no converted total sales: "-", not 0 and not a guess
    assert perf.METRICS["tacos"].of(kpis.current.total("USD")) is None


def test_one_day_one_rate_names_the_rate_and_its_day(scoped):
    org = scoped
    AdRollupFactory(organization=org, date=D1, currency="EUR", cost=Decimal("10"), sales=Decimal("40"))
    FxRateFactory(date=D1, quote="USD", rate=Decimal("1.1"))

    kpis = perf.overview_kpis(organization=org, query=q("compare=none"), today=TODAY)

    assert kpis.current.total("USD").spend == Decimal("11.0000")
    assert perf.rate_note(kpis.view, kpis.current) == "1 EUR = 1.1 USD (FX rate for 2026-11-01)"


def test_original_currencies_are_never_added_together(scoped):
    org = scoped
    AdRollupFactory(organization=org, date=D1, currency="USD", cost=Decimal("25"), sales=Decimal("100"))
    AdRollupFactory(organization=org, date=D1, account_id="A2", currency="EUR", cost=Decimal("10"), sales=Decimal("40"))
    SalesRollupFactory(organization=org, date=D1, currency="USD", total_sales=Decimal("400"))

    kpis = perf.overview_kpis(organization=org, query=q("compare=none&currency=original"), today=TODAY)

    assert kpis.view.currencies == ["EUR", "USD"]
    assert kpis.current.total("EUR").spend == Decimal("10")
    assert kpis.current.total("USD").spend == Decimal("25")
    assert perf.METRICS["tacos"].of(kpis.current.total("USD")) == Decimal("0.0625")  # 25 / 400
    assert perf.METRICS["tacos"].of(kpis.current.total("EUR")) is None  # no EUR store sales
    assert kpis.view.rates == {}


def test_previous_period_and_change(scoped):
    org = scoped
    # current: 1-3 Nov; previous: 29-31 Oct
    AdRollupFactory(organization=org, date=D2, cost=Decimal("30"), sales=Decimal("120"))
    AdRollupFactory(organization=org, date=date(2026, 10, 30), cost=Decimal("20"), sales=Decimal("120"))
    AdRollupFactory(organization=org, date=date(2026, 10, 28), cost=Decimal("999"))  # outside both periods
    SalesRollupFactory(organization=org, date=D3, total_sales=Decimal("300"))

    kpis = perf.overview_kpis(organization=org, query=q(), today=TODAY)

    assert kpis.previous.total("USD").spend == Decimal("20")
    assert kpis.changes["USD"]["spend"] == Decimal("0.5")  # 30 vs 20
    assert kpis.changes["USD"]["ad_sales"] == Decimal("0")
    assert kpis.changes["USD"]["acos"].quantize(Decimal("0.000001")) == Decimal("0.5")  # 0.25 vs 1/6
    assert kpis.changes["USD"]["total_sales"] is None  # nothing to compare with


def test_year_comparison_reads_the_same_days_a_year_earlier(scoped):
    org = scoped
    AdRollupFactory(organization=org, date=D1, cost=Decimal("30"))
    AdRollupFactory(organization=org, date=date(2025, 11, 1), cost=Decimal("10"))

    kpis = perf.overview_kpis(organization=org, query=q("compare=year"), today=TODAY)

    assert kpis.previous.total("USD").spend == Decimal("10")
    assert kpis.changes["USD"]["spend"] == Decimal("2")


def test_filters_channel_applies_to_ads_marketplace_to_ads_and_sales(scoped):
    org = scoped
    AdRollupFactory(organization=org, date=D1, channel="amazon_ads", marketplace="US", cost=Decimal("25"))
    AdRollupFactory(
        organization=org, date=D1, channel="google_ads", account_id="G", marketplace="US", cost=Decimal("7")
    )
    AdRollupFactory(
        organization=org, date=D1, channel="amazon_ads", account_id="D", marketplace="DE", cost=Decimal("3")
    )
    AdRollupFactory(organization=org, date=D1, campaign_id="C9", cost=Decimal("1"))
    SalesRollupFactory(organization=org, date=D1, marketplace="US", total_sales=Decimal("400"))
    SalesRollupFactory(organization=org, date=D1, marketplace="DE", total_sales=Decimal("100"))

    def spend_and_sales(params):
        kpis = perf.overview_kpis(organization=org, query=q("compare=none&" + params), today=TODAY)
        totals = kpis.current.total("USD")
        return totals.spend, totals.total_sales

    assert spend_and_sales("") == (Decimal("36"), Decimal("500"))
    assert spend_and_sales("channel=google_ads") == (Decimal("7"), Decimal("500"))
    assert spend_and_sales("marketplace=DE") == (Decimal("3"), Decimal("100"))
    assert spend_and_sales("campaign=C9") == (Decimal("1"), Decimal("500"))
    assert spend_and_sales("marketplace=US&channel=amazon_ads") == (Decimal("26"), Decimal("400"))


def test_trend_marks_provisional_days_and_aligns_the_comparison(scoped):
    org = scoped
    DataSourceFactory(organization=org, platform="amazon_ads", channel="amazon_ads", restatement_days=2)
    AdRollupFactory(organization=org, date=D1, cost=Decimal("10"))
    AdRollupFactory(organization=org, date=D3, cost=Decimal("30"))
    AdRollupFactory(organization=org, date=date(2026, 10, 29), cost=Decimal("5"))  # first day of previous period
    SalesRollupFactory(organization=org, date=D2, total_sales=Decimal("200"))

    data = perf.trend(organization=org, query=q(), today=TODAY)

    assert [d.day for d in data.days] == [D1, D2, D3]
    assert [d.provisional for d in data.days] == [False, True, True]  # today - 2 + 1 = 2 Nov
    assert [d.current.total("USD").spend for d in data.days] == [Decimal("10"), 0, Decimal("30")]
    assert [d.current.total("USD").total_sales for d in data.days] == [0, Decimal("200"), 0]
    assert [d.previous_day for d in data.days] == [date(2026, 10, 29), date(2026, 10, 30), date(2026, 10, 31)]
    assert data.days[0].previous.total("USD").spend == Decimal("5")
    assert data.view.provisional == {"amazon_ads": D2}
    assert data.view.provisional_from == D2


def test_channel_mix_splits_meta_by_publisher_and_channels_nests_them(scoped):
    org = scoped
    AdRollupFactory(organization=org, date=D1, channel="meta", publisher="facebook", account_id="M", cost=Decimal("30"))
    AdRollupFactory(
        organization=org, date=D1, channel="meta", publisher="instagram", account_id="M", cost=Decimal("20")
    )
    AdRollupFactory(organization=org, date=D1, channel="amazon_ads", cost=Decimal("40"), sales=Decimal("160"))
    DataSourceFactory(organization=org, platform="meta", channel="meta", restatement_days=28)

    mix = perf.channel_mix(organization=org, query=q("compare=none"), today=TODAY)

    assert [(row.label, row.current.total("USD").spend) for row in mix.rows] == [
        ("Amazon Ads", Decimal("40")),
        ("Meta · Facebook", Decimal("30")),
        ("Meta · Instagram", Decimal("20")),
    ]
    assert mix.total.current.total("USD").spend == Decimal("90")
    assert [row.provisional_from for row in mix.rows] == [None, D1, D1]  # Meta restates 28 days: all of them

    table = perf.channels(organization=org, query=q("compare=none"), today=TODAY)

    assert [(row.label, row.current.total("USD").spend) for row in table.rows] == [
        ("Meta", Decimal("50")),
        ("Amazon Ads", Decimal("40")),
    ]
    assert [child.label for child in table.rows[0].children] == ["Meta · Facebook", "Meta · Instagram"]
    assert table.rows[1].children == []


def test_marketplaces_pair_ads_with_the_stores_sales_there(scoped):
    org = scoped
    AdRollupFactory(organization=org, date=D1, marketplace="US", cost=Decimal("25"))
    AdRollupFactory(organization=org, date=D1, account_id="A2", marketplace="DE", currency="EUR", cost=Decimal("10"))
    SalesRollupFactory(organization=org, date=D1, marketplace="US", total_sales=Decimal("500"))
    SalesRollupFactory(
        organization=org, date=D1, platform="amazon_sp", marketplace="DE", currency="EUR", total_sales=Decimal("50")
    )
    SalesRollupFactory(organization=org, date=D2, platform="shopify", marketplace="shop.example", total_sales=0)
    FxRateFactory(date=D1, quote="USD", rate=Decimal("1.1"))
    DataSourceFactory(organization=org, platform="amazon_sp", channel="", marketplace="DE", restatement_days=1)

    table = perf.marketplaces(organization=org, query=q("compare=none"), today=TODAY)

    got = [
        (
            row.label,
            row.current.total("USD").spend,
            row.current.total("USD").total_sales,
            row.current.value("tacos", "USD"),
            row.provisional_from,
        )
        for row in table.rows
    ]
    assert got == [
        ("US", Decimal("25"), Decimal("500"), Decimal("0.05"), D3),
        ("DE", Decimal("11.0000"), Decimal("55.0000"), Decimal("0.2"), D3),
        ("shop.example", 0, 0, None, None),
    ]
    assert table.total.current.value("tacos", "USD") == Decimal("36") / Decimal("555")


def test_top_movers_rank_campaigns_by_absolute_change(scoped):
    org = scoped
    prev = date(2026, 10, 30)
    AdRollupFactory(organization=org, date=D1, campaign_id="UP", campaign_name="Lamps", cost=Decimal("50"))
    AdRollupFactory(organization=org, date=prev, campaign_id="UP", campaign_name="Lamps", cost=Decimal("10"))
    AdRollupFactory(organization=org, date=D1, campaign_id="SALES", cost=Decimal("5"), sales=Decimal("10"))
    AdRollupFactory(organization=org, date=prev, campaign_id="SALES", cost=Decimal("5"), sales=Decimal("100"))
    AdRollupFactory(organization=org, date=D1, campaign_id="FLAT", cost=Decimal("5"), sales=Decimal("10"))
    AdRollupFactory(organization=org, date=prev, campaign_id="FLAT", cost=Decimal("5"), sales=Decimal("10"))
    AdRollupFactory(organization=org, date=prev, campaign_id="GONE", cost=Decimal("12"), sales=Decimal("0"))

    view, movers = perf.top_movers(organization=org, query=q(), today=TODAY)

    assert [(m.row.label, m.metric, m.delta) for m in movers] == [
        ("Campaign SALES", "ad_sales", Decimal("-90")),
        ("Lamps", "spend", Decimal("40")),
        ("Campaign GONE", "spend", Decimal("-12")),
    ]
    _view, none = perf.top_movers(organization=org, query=q("compare=none"), today=TODAY)
    assert none == []


def test_no_rows_gives_zeros_and_dashes(scoped):
    kpis = perf.overview_kpis(organization=scoped, query=q(), today=TODAY)
    totals = kpis.current.total("USD")
    assert totals.spend == 0
    for key in ("roas", "acos", "tacos", "cpc", "ctr", "cvr", "profit"):
        assert perf.METRICS[key].of(totals) is None
    assert kpis.changes["USD"]["spend"] is None


def test_selectors_read_rollups_only(scoped, django_assert_num_queries):
    """The currencies in view, their FX rates, the ad and sales rollups summed and converted by the database,
    the provisional days; the KPIs add the Profit page's P&L (a fixed number of queries, on rollups too)."""
    org = scoped
    for n in range(5):
        AdRollupFactory(organization=org, date=D1 + timedelta(days=n % 3), campaign_id=f"C{n}", currency="EUR")
    FxRateFactory(date=D1, quote="USD", rate=Decimal("1.1"))
    with django_assert_num_queries(5):
        perf.trend(organization=org, query=q(), today=TODAY)
    with django_assert_num_queries(5):
        perf.marketplaces(organization=org, query=q(), today=TODAY)
    with django_assert_num_queries(4):  # no sales rows to read
        perf.channel_mix(organization=org, query=q(), today=TODAY)
    with django_assert_num_queries(2):  # original currencies: no rates to look up
        perf.channel_mix(organization=org, query=q("currency=original"), today=TODAY)
    with CaptureQueriesContext(connection) as captured:
        perf.overview_kpis(organization=org, query=q(), today=TODAY)
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    assert "analytics_adperformancedaily" not in sql and "analytics_storesalesdaily" not in sql
    assert "analytics_storeorder" not in sql


def test_estimated_profit_comes_from_the_profit_inputs(scoped):
    """180 sales of 9 units of SKU-1 at a cost of 5 (45), fees 15 % + 3 per unit (27 + 27), no tax in the
    price, 25 ad spend: 180 - 45 - 54 - 25 = 56. Unknown until every input is there."""
    org = scoped
    AdRollupFactory(organization=org, date=D1, cost=Decimal("25"))
    SalesRollupFactory(organization=org, date=D1, total_sales=Decimal("180"), units=9, orders=8)
    ProductSalesRollupFactory(organization=org, date=D1)  # SKU-1: 9 units, 8 orders, 180
    kpis = perf.overview_kpis(organization=org, query=q("compare=none"), today=TODAY)
    assert kpis.value("profit", "USD") is None  # no cost of goods or fees known: never a flattering guess

    ProductCost.objects.create(organization=org, sku="SKU-1", unit_cost=Decimal("5"), currency="USD")
    MarketplaceFee.objects.create(
        organization=org,
        platform="amazon_sp",
        marketplace="US",
        referral_pct=Decimal("15"),
        fulfilment_per_unit=Decimal("3"),
        currency="USD",
    )
    SalesTax.objects.create(organization=org, marketplace="US", rate_pct=Decimal("0"), prices_include_tax=False)
    kpis = perf.overview_kpis(organization=org, query=q(), today=TODAY)
    assert kpis.value("profit", "USD") == Decimal("56")
    assert kpis.value("profit", "USD", previous=True) is None  # no P&L before: nothing to compare with
    assert kpis.changes["USD"]["profit"] is None
