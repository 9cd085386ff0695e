"""The Funnel and traffic sources page: funnel numbers from rollups, the traffic-source mix of store orders under
each model with FX conversion, the page, its HTMX panels, the export, tenancy and query counts."""

import csv
import io
from datetime import UTC, date, datetime, time
from decimal import Decimal
from itertools import count
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory, member
from analytics.models import StoreOrder
from analytics.query import DashboardQuery
from analytics.selectors.funnel import ad_funnel, traffic_sources
from analytics.tests.factories import AdRollupFactory, FxRateFactory

pytestmark = pytest.mark.django_db

RANGE = {"range": "custom", "start": "2026-11-01", "end": "2026-11-07"}
QUERY = DashboardQuery(start=date(2026, 11, 1), end=date(2026, 11, 7), range="custom")
_ids = count(1)


def visit(source, utm_source="", medium="", campaign=""):
    return {
        "source": source,
        "landing_page": "https://homegoods-demo.com/",
        "referrer": "",
        "utm": {"source": utm_source, "medium": medium, "campaign": campaign, "content": "", "term": ""},
    }


GOOGLE = visit("google", "google", "cpc", "brand-search")
META = visit("facebook", "facebook", "paid_social", "spring-refresh")
EMAIL = visit("email", "klaviyo", "email", "weekly-newsletter")


def order(org, *, day=date(2026, 11, 3), total="100.00", currency="USD", platform="shopify", first=None, last=None):
    attribution = {key: value for key, value in (("first_visit", first), ("last_visit", last or first)) if value}
    return StoreOrder.unscoped_objects.create(
        organization=org,
        platform=platform,
        marketplace="homegoods-demo.myshopify.com" if platform == "shopify" else "US",
        external_id=f"order-{next(_ids)}",
        ordered_at=datetime.combine(day, time(12), tzinfo=UTC),
        date=day,
        currency=currency,
        total=Decimal(total),
        units=1,
        attribution=attribution,
        source_ref=1,
    )


@pytest.fixture
def orders(org):
    """Five orders in the week, one in another week, one of another organization."""
    order(org, total="100.00", first=GOOGLE, last=META)  # two touches
    order(org, total="50.00", first=EMAIL)  # one visit
    order(org, total="40.00", currency="EUR")  # no visit data: direct; 1 EUR = 1.1 USD that day
    order(org, total="1000.00", currency="JPY", first=GOOGLE)  # no JPY rate: kept, not converted
    order(org, total="30.00", platform="amazon_sp")  # marketplace: no journey data
    order(org, day=date(2026, 11, 8), total="999.00", first=GOOGLE)  # outside the range
    order(OrganizationFactory(), total="777.00", first=META)  # another organization
    FxRateFactory(date=date(2026, 11, 3), quote="USD", rate=Decimal("1.1"))


@pytest.fixture
def rollups(org):
    AdRollupFactory(organization=org, channel="google_ads", campaign_id="G1", impressions=10000, clicks=300, orders=12)
    AdRollupFactory(organization=org, channel="google_ads", campaign_id="G2", impressions=5000, clicks=100, orders=3)
    AdRollupFactory(organization=org, channel="meta", publisher="facebook", impressions=20000, clicks=150, orders=0)
    AdRollupFactory(organization=org, channel="meta", publisher="instagram", impressions=4000, clicks=50, orders=5)
    AdRollupFactory(organization=org, channel="tiktok_ads", impressions=0, clicks=0, orders=0)
    AdRollupFactory(organization=org, channel="amazon_ads", date=date(2026, 10, 31), impressions=9, clicks=9, orders=9)
    AdRollupFactory(organization=OrganizationFactory(), channel="meta", impressions=1, clicks=1, orders=1)


def url(org, name="analytics_funnel", **params):
    return f"{reverse(name, kwargs={'org_slug': org.slug})}?{urlencode({**RANGE, **params})}"


# --- selectors ----------------------------------------------------------------------------------------------


def test_ad_funnel_sums_impressions_clicks_orders_per_channel(org, rollups):
    with organization_scope(org):
        funnel = ad_funnel(organization=org, query=QUERY)
    rows = {row.channel: row for row in funnel["rows"]}
    assert [row.channel for row in funnel["rows"]] == ["meta", "google_ads", "tiktok_ads"]
    assert (rows["meta"].impressions, rows["meta"].clicks, rows["meta"].orders) == (24000, 200, 5)
    assert rows["meta"].ctr == Decimal(200) / Decimal(24000)
    assert rows["meta"].cvr == Decimal("0.025")
    assert (rows["google_ads"].impressions, rows["google_ads"].clicks, rows["google_ads"].orders) == (15000, 400, 15)
    assert rows["google_ads"].ctr_text == "2.7%"
    assert rows["google_ads"].cvr_text == "3.8%"
    assert rows["tiktok_ads"].ctr is None and rows["tiktok_ads"].cvr_text == "-"
    total = funnel["total"]
    assert (total.impressions, total.clicks, total.orders) == (39000, 600, 20)


def test_ad_funnel_follows_the_filters(org, rollups):
    query = DashboardQuery(start=QUERY.start, end=QUERY.end, channels=("google_ads",), campaigns=("G2",))
    with organization_scope(org):
        funnel = ad_funnel(organization=org, query=query)
    assert [(r.channel, r.impressions, r.clicks, r.orders) for r in funnel["rows"]] == [("google_ads", 5000, 100, 3)]


def test_traffic_sources_last_click_in_home_currency(org, orders):
    with organization_scope(org):
        mix = traffic_sources(organization=org, query=QUERY, model="last_click", home_currency="USD")
    assert (mix.orders, mix.online_orders, mix.with_touches, mix.multi_touch, mix.marketplace_orders) == (5, 4, 3, 1, 1)
    rows = {row.key: row for row in mix.rows}
    assert [row.key for row in mix.rows] == ["meta", "email", "direct", "google_ads", "marketplace:amazon_sp"]
    assert (rows["meta"].orders, rows["meta"].sales) == (Decimal(1), Decimal("100.00"))
    assert (rows["email"].orders, rows["email"].sales) == (Decimal(1), Decimal("50.00"))
    assert (rows["direct"].orders, rows["direct"].sales) == (Decimal(1), Decimal("44.00"))  # 40 EUR x 1.1
    assert rows["direct"].by_currency == {"EUR": Decimal("40.00")}
    assert (rows["google_ads"].sales, rows["google_ads"].unconverted) == (Decimal(0), {"JPY": Decimal("1000.00")})
    assert rows["marketplace:amazon_sp"].label == "Amazon (marketplace, no journey data)"
    assert not rows["marketplace:amazon_sp"].attributed
    assert mix.total.orders == 5
    assert mix.total.sales == Decimal("224.00")
    assert mix.total.unconverted == {"JPY": Decimal("1000.00")}
    assert rows["meta"].sales_share == Decimal("100") / Decimal("224")
    assert rows["meta"].sales_pct == "44.6"


def test_traffic_sources_linear_splits_the_two_visit_order(org, orders):
    with organization_scope(org):
        mix = traffic_sources(organization=org, query=QUERY, model="linear", home_currency="USD")
    rows = {row.key: row for row in mix.rows}
    assert (rows["google_ads"].orders, rows["google_ads"].sales) == (Decimal("1.5"), Decimal("50.00"))
    assert rows["google_ads"].unconverted == {"JPY": Decimal("1000.00")}
    assert (rows["meta"].orders, rows["meta"].sales) == (Decimal("0.5"), Decimal("50.00"))
    assert sum(row.sales for row in mix.rows) == mix.total.sales == Decimal("224.00")
    # credited orders of every model side by side: last click, first click, linear, time decay, position based
    compare = {line["key"]: line["orders"] for line in mix.compare}
    assert compare["google_ads"] == [Decimal(1), Decimal(2), Decimal("1.5"), Decimal("1.5"), Decimal("1.5")]
    assert compare["meta"] == [Decimal(1), Decimal(0), Decimal("0.5"), Decimal("0.5"), Decimal("0.5")]
    assert compare["direct"] == [Decimal(1)] * 5
    assert "marketplace:amazon_sp" not in compare


def test_traffic_sources_in_original_currencies(org, orders):
    with organization_scope(org):
        mix = traffic_sources(organization=org, query=QUERY, model="first_click", home_currency=None)
    rows = {row.key: row for row in mix.rows}
    assert rows["google_ads"].by_currency == {"USD": Decimal("100.00"), "JPY": Decimal("1000.00")}
    assert rows["google_ads"].orders_share == Decimal("0.4")
    assert rows["google_ads"].sales_share is None
    assert mix.total.by_currency == {"USD": Decimal("180.00"), "EUR": Decimal("40.00"), "JPY": Decimal("1000.00")}


def test_marketplace_filter_applies_to_store_orders(org, orders):
    query = DashboardQuery(start=QUERY.start, end=QUERY.end, marketplaces=("US",))
    with organization_scope(org):
        mix = traffic_sources(organization=org, query=query, home_currency="USD")
    assert [(row.key, row.orders, row.sales) for row in mix.rows] == [
        ("marketplace:amazon_sp", Decimal(1), Decimal("30.00"))
    ]


# --- views --------------------------------------------------------------------------------------------------


def test_full_page_has_lazy_panels_and_the_data_note(owner_client, org):
    response = owner_client.get(url(org))
    assert response.status_code == 200
    html = response.content.decode()
    ads_url = url(org, "analytics_funnel_ads").replace("&", "&amp;")
    sources_url = url(org, "analytics_funnel_sources").replace("&", "&amp;")
    assert f'hx-get="{ads_url}" hx-trigger="load"' in html
    assert f'<a href="{ads_url}">' in html
    assert f'hx-get="{sources_url}" hx-trigger="load"' in html
    assert "Shopify keeps two visits per order" in html
    assert "Amazon, Shopee, TikTok Shop and eBay give no visit or UTM data" in html
    assert 'aria-current="page"' in html  # the Funnel tab


def test_ads_panel_partial(owner_client, org, rollups):
    response = owner_client.get(url(org, "analytics_funnel_ads"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="funnel-ads">')
    assert "<html" not in html
    assert "24,000" in html and "15,000" in html and "39,000" in html
    assert '<script id="funnel-chart" type="application/json">' in html
    assert 'data-chart="funnel-chart"' in html
    assert '"type": "bar"' in html
    assert "HX-Request" in response["Vary"]


def test_sources_panel_partial_with_the_model_switch(owner_client, org, orders):
    response = owner_client.get(url(org, "analytics_funnel_sources", model="linear"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="funnel-sources">')
    assert "<html" not in html
    assert "Google Ads" in html and "1.50" in html and "$50.00" in html and "$224.00" in html
    assert "¥1,000" in html and "no FX rate" in html
    assert "Amazon (marketplace, no journey data)" in html
    assert (
        "5 orders in this period: 4 from online stores (3 with visit data, 1 with two different visits), "
        "1 from marketplaces."
    ) in html
    # the chosen model is marked, the links keep the view and switch the model
    linear = url(org, model="linear").replace("&", "&amp;")
    assert f'href="{linear}"' in html
    assert 'aria-current="true">Linear</a>' in html
    first = url(org, "analytics_funnel_sources", model="first_click").replace("&", "&amp;")
    assert f'hx-get="{first}"' in html
    # export links carry the model
    assert "model=linear&amp;format=xlsx" in html


def test_panel_url_without_htmx_renders_the_whole_page_with_the_panel(owner_client, org, orders):
    response = owner_client.get(url(org, "analytics_funnel_sources"))
    html = response.content.decode()
    assert "<html" in html
    assert '<section class="card" id="funnel-sources">' in html
    assert 'id="funnel-ads" hx-get=' in html  # the other panel still loads lazily


def test_an_unknown_model_falls_back_to_last_click(owner_client, org, orders):
    response = owner_client.get(url(org, "analytics_funnel_sources", model="magic"), headers={"HX-Request": "true"})
    assert response.context_data["model"] == "last_click"
    assert "model=magic" not in response.content.decode()


def test_export_csv_of_the_traffic_sources(owner_client, org, orders):
    response = owner_client.get(url(org, "analytics_funnel_export", model="linear", format="csv"))
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="chuhai-traffic-sources-2026-11-01-2026-11-07-usd.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "Traffic source",
        "Attribution model",
        "Orders (credited)",
        "Sales (USD)",
        "Share of sales",
        "Sales without an FX rate",
    ]
    body = {row[0]: row[1:] for row in rows[1:]}
    assert body["Google Ads"] == [
        "Linear",
        "1.50",
        "50.0000",
        str(Decimal("50.0000") / Decimal("224.0000")),
        "1000.00 JPY",
    ]
    assert body["Amazon (marketplace, no journey data)"][:3] == ["", "1.00", "30.0000"]


def test_export_xlsx_and_unknown_format(owner_client, org, orders):
    response = owner_client.get(url(org, "analytics_funnel_export", format="xlsx"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert owner_client.get(url(org, "analytics_funnel_export", format="pdf")).status_code == 404


def test_viewer_sees_the_page_but_cannot_export(client, org, orders):
    client.force_login(member(org, Role.VIEWER))
    assert client.get(url(org, "analytics_funnel_sources")).status_code == 200
    assert "format=csv" not in client.get(url(org, "analytics_funnel_sources")).content.decode()
    assert client.get(url(org, "analytics_funnel_export", format="csv")).status_code == 403


@pytest.mark.parametrize(
    "name", ["analytics_funnel", "analytics_funnel_ads", "analytics_funnel_sources", "analytics_funnel_export"]
)
def test_other_organization_is_404(client, org, orders, name):
    client.force_login(member(OrganizationFactory(), Role.OWNER))
    assert client.get(url(org, name)).status_code == 404
    assert client.get(url(org, name), headers={"HX-Request": "true"}).status_code == 404


def _more(org, n):
    for i in range(n):
        order(org, total="10.00", first=GOOGLE if i % 2 else META, last=EMAIL)
        AdRollupFactory(organization=org, channel="meta", campaign_id=f"M{next(_ids)}")


@pytest.mark.parametrize("name", ["analytics_funnel_ads", "analytics_funnel_sources"])
def test_query_count_does_not_grow_with_rows(owner_client, org, orders, django_assert_num_queries, name):
    _more(org, 3)
    owner_client.get(url(org, name), headers={"HX-Request": "true"})  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        owner_client.get(url(org, name), headers={"HX-Request": "true"})
    _more(org, 30)
    with django_assert_num_queries(len(few.captured_queries)):
        response = owner_client.get(url(org, name), headers={"HX-Request": "true"})
    assert response.status_code == 200
