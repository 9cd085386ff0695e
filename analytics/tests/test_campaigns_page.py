"""Campaigns page: the cross-channel table (FX, sorting, paging, search, sparklines), the drill-down into one
campaign, HTMX partials, exports and tenancy."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from accounts.models import Role
from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory, member
from analytics.query import DashboardQuery
from analytics.selectors import campaigns as selectors
from analytics.tests.factories import AdFactFactory, AdRollupFactory, FxRateFactory

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
NOV1, NOV2 = date(2026, 11, 1), date(2026, 11, 2)
RANGE = {"range": "custom", "start": "2026-11-01", "end": "2026-11-02"}


def url(name, org, **kwargs):
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


def query(**params):
    return DashboardQuery.from_params(
        _Params({**RANGE, **params}), today=date(2026, 11, 30), extra_keys=("q", "sort", "page")
    )


class _Params(dict):
    def getlist(self, key):
        value = self.get(key)
        return [] if value is None else value if isinstance(value, list) else [value]


@pytest.fixture
def rates(db):
    # 1 EUR = 1.10 USD and 0.80 GBP on 1 November; 1.20 USD and 0.75 GBP on 2 November.
    FxRateFactory(date=NOV1, quote="USD", rate=Decimal("1.10"))
    FxRateFactory(date=NOV1, quote="GBP", rate=Decimal("0.80"))
    FxRateFactory(date=NOV2, quote="USD", rate=Decimal("1.20"))
    FxRateFactory(date=NOV2, quote="GBP", rate=Decimal("0.75"))


@pytest.fixture
def three_campaigns(org, rates):
    """A: Amazon (USD) 55 spend / 190 sales; B: Meta (EUR, two publishers) 39 / 110 USD; C: Google (GBP) 11 / 27.50."""
    AdRollupFactory(
        organization=org,
        date=NOV1,
        campaign_id="A",
        campaign_name="Lamps exact",
        cost=Decimal("25"),
        sales=Decimal("100"),
    )
    AdRollupFactory(
        organization=org,
        date=NOV2,
        campaign_id="A",
        campaign_name="Lamps exact",
        cost=Decimal("30"),
        sales=Decimal("90"),
    )
    AdRollupFactory(
        organization=org, date=date(2026, 10, 31), campaign_id="A", cost=Decimal("50"), sales=Decimal("100")
    )
    common = {
        "organization": org,
        "channel": "meta",
        "account_id": "act_9",
        "campaign_id": "B",
        "currency": "EUR",
        "marketplace": "DE",
    }
    AdRollupFactory(
        **common, date=NOV1, publisher="facebook", campaign_name="Retargeting", cost=Decimal("10"), sales=Decimal("40")
    )
    AdRollupFactory(
        **common, date=NOV1, publisher="instagram", campaign_name="Retargeting", cost=Decimal("20"), sales=Decimal("60")
    )
    AdRollupFactory(
        **common, date=NOV2, publisher="facebook", campaign_name="Retargeting", cost=Decimal("5"), sales=Decimal("0")
    )
    AdRollupFactory(
        organization=org,
        channel="google_ads",
        account_id="G1",
        campaign_id="C",
        campaign_name="Brand search",
        marketplace="UK",
        currency="GBP",
        date=NOV1,
        cost=Decimal("8"),
        sales=Decimal("20"),
    )


def test_table_sums_each_campaign_across_publishers_and_converts_with_each_days_rate(org, three_campaigns):
    with organization_scope(org):
        table = selectors.campaign_table(organization=org, query=query())
    assert [row.keys["campaign_id"] for row in table.rows] == ["A", "B", "C"]
    a, b, c = table.rows
    assert (a.current.spend, a.current.ad_sales) == (Decimal("55.0000"), Decimal("190.0000"))
    assert (b.current.spend, b.current.ad_sales) == (Decimal("39.0000"), Decimal("110.0000"))
    assert (c.current.spend, c.current.ad_sales) == (Decimal("11.0000"), Decimal("27.5000"))
    assert b.current.impressions == 3000 and b.current.clicks == 150
    assert a.label == "Lamps exact" and b.label == "Retargeting"
    assert [cell.text for cell in a.cells[:4]] == ["55.00 USD", "190.00 USD", "3.45x", "28.9%"]
    assert a.cells[0].change_text == "+10.0%" and a.cells[0].change_class == "bad"  # spend up is not good
    assert b.cells[3].text == "35.5%"
    assert b.previous == selectors.metrics.Totals(spend=Decimal("0.0000"), ad_sales=Decimal("0.0000"))
    assert table.totals.current.spend == Decimal("105.0000")
    assert table.total_rows == 3


def page(client, org, name="analytics_campaigns", headers=None, **params):
    return client.get(url(name, org), {**RANGE, **params}, headers=headers or {})


def names_in(response):
    return [row.label for row in response.context["table"].rows]


def test_full_page_shows_the_frame_and_the_converted_table(owner_client, org, three_campaigns):
    response = page(owner_client, org)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="filter-bar"' in body and 'id="campaign-table"' in body
    assert "Lamps exact" in body and "55.00 USD" in body and "39.00 USD" in body and "11.00 USD" in body
    assert "Converted from EUR to USD with the ECB reference rate of each day." in body
    assert "105.00 USD" in body  # total row


def test_htmx_request_gets_only_the_table(owner_client, org, three_campaigns):
    response = page(owner_client, org, headers=HX, sort="name")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="campaign-table"')
    assert "<html" not in body and 'class="filter-bar"' not in body
    assert response["Vary"] and "HX-Request" in response["Vary"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-spend", ["Lamps exact", "Retargeting", "Brand search"]),
        ("spend", ["Brand search", "Retargeting", "Lamps exact"]),
        ("name", ["Brand search", "Lamps exact", "Retargeting"]),
        ("-roas", ["Lamps exact", "Retargeting", "Brand search"]),  # 3.45x, 2.82x, 2.50x
        ("-acos", ["Brand search", "Retargeting", "Lamps exact"]),  # 40.0%, 35.5%, 28.9%
        ("nonsense", ["Lamps exact", "Retargeting", "Brand search"]),
    ],
)
def test_sorting(owner_client, org, three_campaigns, sort, expected):
    assert names_in(page(owner_client, org, sort=sort)) == expected


def test_sort_links_flip_direction_and_keep_the_view(owner_client, org, three_campaigns):
    headers = page(owner_client, org, sort="-spend", channel="meta").context["headers"]
    spend = next(h for h in headers if h["key"] == "spend")
    name = next(h for h in headers if h["key"] == "name")
    assert spend["aria_sort"] == "descending" and "sort=spend" in spend["url"] and "channel=meta" in spend["url"]
    assert "sort=name" in name["url"] and "start=2026-11-01" in name["url"]


def test_search_matches_campaign_names_and_ids_and_filters_apply(owner_client, org, three_campaigns):
    assert names_in(page(owner_client, org, q="lamp")) == ["Lamps exact"]
    assert names_in(page(owner_client, org, q="RETARG")) == ["Retargeting"]
    assert names_in(page(owner_client, org, q="search")) == ["Brand search"]
    assert names_in(page(owner_client, org, q="100%")) == []
    assert names_in(page(owner_client, org, channel="google_ads")) == ["Brand search"]
    assert names_in(page(owner_client, org, marketplace="DE")) == ["Retargeting"]
    assert names_in(page(owner_client, org, campaign="A")) == ["Lamps exact"]


def test_original_currency_mode_keeps_each_campaigns_currency(owner_client, org, three_campaigns):
    rows = {row.label: row for row in page(owner_client, org, currency="original").context["table"].rows}
    assert rows["Retargeting"].cells[0].text == "35.00 EUR"
    assert rows["Brand search"].cells[1].text == "20.00 GBP"
    assert rows["Lamps exact"].cells[0].text == "55.00 USD"


def test_a_day_without_a_rate_shows_no_rate_instead_of_a_guess(owner_client, org, rates):
    AdRollupFactory(organization=org, date=NOV1, campaign_id="S", campaign_name="Singapore", currency="SGD")
    row = page(owner_client, org).context["table"].rows[0]
    assert row.no_rate
    assert [cell.text for cell in row.cells[:5]] == ["no rate", "no rate", "no rate", "no rate", "5"]
    assert row.export()["spend"] is None and row.export()["ad_orders"] == 5


def test_pagination(owner_client, org):
    for n in range(30):
        AdRollupFactory(organization=org, date=NOV1, campaign_id=f"P{n:02d}", cost=Decimal(100 + n))
    first = page(owner_client, org)
    assert len(first.context["table"].rows) == 25 and first.context["table"].pages == 2
    assert first.context["table"].rows[0].keys["campaign_id"] == "P29"
    assert "page=2" in first.context["pager"]["next"] and first.context["pager"]["previous"] == ""
    second = page(owner_client, org, page="2", headers=HX)
    assert [row.keys["campaign_id"] for row in second.context["table"].rows] == ["P04", "P03", "P02", "P01", "P00"]
    assert "page=" not in second.context["pager"]["previous"]
    beyond = page(owner_client, org, page="9")
    assert beyond.context["table"].rows == [] and "First page" in beyond.content.decode()


def test_sparkline_points_are_scaled_into_the_box():
    assert selectors.sparkline_points([Decimal(25), Decimal(30)]) == "0.0,4.7 96.0,1.0"
    assert selectors.sparkline_points([Decimal(0), Decimal(0), Decimal(0)]) == "0.0,23.0 48.0,23.0 96.0,23.0"
    assert selectors.sparkline_points([Decimal(5)]) == "0.0,1.0 96.0,1.0"


def test_sparklines_come_from_one_query_whatever_the_number_of_rows(client, org, django_assert_num_queries):
    client.force_login(member(org, Role.VIEWER))

    def seed(first, last):
        for n in range(first, last):
            AdRollupFactory(organization=org, date=NOV1, campaign_id=f"K{n:02d}", cost=Decimal(10 + n))
            AdRollupFactory(organization=org, date=NOV2, campaign_id=f"K{n:02d}", cost=Decimal(20 + n))

    seed(0, 5)
    page(client, org)  # warm-up: sessions, content types
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        response = page(client, org)
    assert len(response.context["table"].rows) == 5
    seed(5, 40)
    with django_assert_num_queries(len(few.captured_queries)):
        response = page(client, org)
    rows = response.context["table"].rows
    assert len(rows) == 25 and all(row.spark for row in rows)
    assert rows[0].keys["campaign_id"] == "K39" and rows[0].spark == "0.0,4.7 96.0,1.0"  # 49 then 59
    assert response.content.decode().count("<polyline") == 25


# --- drill-down -----------------------------------------------------------------------------------------


@pytest.fixture
def drill(org):
    fact = {"organization": org, "campaign_id": "A", "campaign_name": "Lamps exact"}
    AdFactFactory(**fact, grain="campaign", cost=Decimal("25"), sales=Decimal("100"))
    AdFactFactory(
        **fact, grain="ad_group", ad_group_id="AG1", ad_group_name="Linen", cost=Decimal("10"), sales=Decimal("50")
    )
    AdFactFactory(
        **fact,
        grain="ad_group",
        ad_group_id="AG1",
        ad_group_name="Linen",
        date=NOV2,
        cost=Decimal("5"),
        sales=Decimal("0"),
    )
    AdFactFactory(
        **fact, grain="ad_group", ad_group_id="AG2", ad_group_name="Rattan", cost=Decimal("15"), sales=Decimal("30")
    )
    target = {**fact, "grain": "target", "ad_group_id": "AG1", "ad_group_name": "Linen"}
    AdFactFactory(
        **target, target_id="T1", target_text="linen lamp", match_type="exact", cost=Decimal("6"), sales=Decimal("40")
    )
    AdFactFactory(
        **target, target_id="T2", target_text="lamp", match_type="broad", cost=Decimal("4"), sales=Decimal("10")
    )
    term = {**fact, "grain": "search_term", "ad_group_id": "AG1"}
    AdFactFactory(**term, target_id="T1", search_term="linen lamp", cost=Decimal("6"), sales=Decimal("40"))
    AdFactFactory(**term, target_id="T2", search_term="linen lamp", cost=Decimal("1"), sales=Decimal("0"))
    AdFactFactory(**term, target_id="T2", search_term="cheap lamp", cost=Decimal("3"), sales=Decimal("10"))
    # another campaign's facts never leak in
    AdFactFactory(organization=org, campaign_id="Z", grain="ad_group", ad_group_id="AG9", cost=Decimal("99"))


def detail(client, org, headers=None, channel="amazon_ads", campaign_id="A", **params):
    return client.get(
        url("analytics_campaign_detail", org, channel=channel, campaign_id=campaign_id),
        {**RANGE, **params},
        headers=headers or {},
    )


def spends(response):
    return [(row.label, row.cells[0].text, row.cells[1].text) for row in response.context["table"].rows]


def test_drill_down_ad_groups_targets_and_search_terms(owner_client, org, drill):
    ad_groups = detail(owner_client, org)
    assert ad_groups.status_code == 200
    assert spends(ad_groups) == [("Linen", "15.00 USD", "50.00 USD"), ("Rattan", "15.00 USD", "30.00 USD")]
    linen = ad_groups.context["table"].rows[0]
    assert "level=target" in linen.link and "ad_group=AG1" in linen.link and "account=" not in linen.link

    targets = detail(owner_client, org, level="target", ad_group="AG1")
    assert spends(targets) == [("linen lamp", "6.00 USD", "40.00 USD"), ("lamp", "4.00 USD", "10.00 USD")]
    assert [row.keys["match_type"] for row in targets.context["table"].rows] == ["exact", "broad"]
    assert [label for label, _url in targets.context["crumbs"]] == ["Campaigns", "Lamps exact", "Linen"]

    terms = detail(owner_client, org, level="search_term", ad_group="AG1", target="T2")
    assert spends(terms) == [("cheap lamp", "3.00 USD", "10.00 USD"), ("linen lamp", "1.00 USD", "0.00 USD")]
    assert [label for label, _url in terms.context["crumbs"]][-1] == "lamp"

    all_terms = detail(owner_client, org, level="search_term")
    assert spends(all_terms) == [("linen lamp", "7.00 USD", "40.00 USD"), ("cheap lamp", "3.00 USD", "10.00 USD")]
    assert all_terms.context["table"].totals.cells[0].text == "10.00 USD"
    assert spends(detail(owner_client, org, level="search_term", q="cheap")) == [
        ("cheap lamp", "3.00 USD", "10.00 USD")
    ]


def test_drill_down_htmx_partial_and_empty_level(owner_client, org, drill):
    response = detail(owner_client, org, headers=HX, sort="name")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="breakdown-table"') and "<html" not in body
    assert [row.label for row in response.context["table"].rows] == ["Linen", "Rattan"]
    AdFactFactory(organization=org, campaign_id="M", channel="meta", account_id="act_1", grain="campaign")
    empty = detail(owner_client, org, channel="meta", campaign_id="M")
    assert empty.status_code == 200 and "Some channels do not report every level." in empty.content.decode()


def test_drill_down_of_another_organizations_campaign_is_404(client, org, drill):
    attacker = OrganizationFactory()
    client.force_login(member(attacker, Role.OWNER))
    for name in ("analytics_campaign_detail", "analytics_campaign_detail_export"):
        own_slug = reverse(name, kwargs={"org_slug": attacker.slug, "channel": "amazon_ads", "campaign_id": "A"})
        assert client.get(own_slug, RANGE).status_code == 404
        assert client.get(own_slug, RANGE, headers=HX).status_code == 404
        victim_slug = reverse(name, kwargs={"org_slug": org.slug, "channel": "amazon_ads", "campaign_id": "A"})
        assert client.get(victim_slug, RANGE).status_code == 404
    for name in ("analytics_campaigns", "analytics_campaigns_export"):
        assert client.get(url(name, org), RANGE).status_code == 404
        assert client.get(url(name, org), RANGE, headers=HX).status_code == 404


def test_other_organizations_rows_never_show(client, org, three_campaigns):
    other = OrganizationFactory()
    AdRollupFactory(organization=other, date=NOV1, campaign_id="X", campaign_name="Not mine", cost=Decimal("999"))
    client.force_login(member(other, Role.OWNER))
    assert names_in(page(client, other)) == ["Not mine"]


# --- exports --------------------------------------------------------------------------------------------


def test_csv_export_has_every_row_with_numbers(client, org, three_campaigns):
    client.force_login(member(org, Role.ANALYST))
    response = client.get(url("analytics_campaigns_export", org), {**RANGE, "format": "csv", "sort": "name"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="chuhai-campaigns-2026-11-01-2026-11-02-usd.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:8] == [
        "Channel",
        "Account",
        "Campaign ID",
        "Campaign",
        "Marketplace",
        "Currency",
        "Ad spend",
        "Ad spend change",
    ]
    assert [row[3] for row in rows[1:]] == ["Brand search", "Lamps exact", "Retargeting"]
    lamps = rows[2]
    assert lamps[:8] == ["Amazon Ads", "A1", "A", "Lamps exact", "US", "USD", "55.0000", "0.1"]
    assert lamps[10] == str(Decimal("190.0000") / Decimal("55.0000"))  # ROAS, unrounded


def test_xlsx_export_of_a_drill_down(client, org, drill):
    client.force_login(member(org, Role.ANALYST))
    export_url = url("analytics_campaign_detail_export", org, channel="amazon_ads", campaign_id="A")
    response = client.get(export_url, {**RANGE, "format": "xlsx", "level": "target", "ad_group": "AG1"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][:5] == ["Ad group ID", "Target ID", "Match type", "Keyword or target", "Currency"]
    assert values[1][:7] == ["AG1", "T1", "exact", "linen lamp", "USD", 6, None]
    assert values[2][:5] == ["AG1", "T2", "broad", "lamp", "USD"]


def test_export_needs_the_export_permission_and_a_known_format(client, org, three_campaigns):
    client.force_login(member(org, Role.VIEWER))
    assert client.get(url("analytics_campaigns_export", org), RANGE).status_code == 403
    assert "CSV" not in [label for label, _url in page(client, org).context["exports"]]
    client.force_login(member(org, Role.ANALYST))
    assert client.get(url("analytics_campaigns_export", org), {**RANGE, "format": "pdf"}).status_code == 404


def test_a_campaign_without_an_id_is_listed_without_a_drill_down_link(owner_client, org, rates):
    # Shopee reports shop-level "all ads" performance under no campaign id
    AdRollupFactory(organization=org, date=NOV1, channel="shopee_ads", campaign_id="", campaign_name="All CPC ads")

    response = owner_client.get(url("analytics_campaigns", org), RANGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert "All CPC ads" in html
    assert "/campaigns/shopee_ads/" not in html
