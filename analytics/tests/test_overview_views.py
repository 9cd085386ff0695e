"""Overview, Channels and Marketplaces pages: full pages, lazy panels (HTMX and as pages), caching per rollup
version, FX hovers and flags, provisional markers, exports, permissions and query counts."""

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from accounts.models import Role
from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory, member
from analytics import rollups
from analytics.profit import product_cost_set
from analytics.query import today_in
from analytics.tasks import refresh_rollups
from analytics.tests.factories import AdRollupFactory, DataSourceFactory, FxRateFactory, SalesRollupFactory

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
RANGE = "range=custom&start=2026-11-01&end=2026-11-03"
PANELS = ("kpis", "trend", "mix", "marketplaces", "movers")


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def url(name, org, **kwargs):
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


@pytest.fixture
def seller(org):
    """USD home. Amazon US (USD) 25 spend / 100 ad sales on 1 Nov; Meta (EUR, Facebook) 10 / 40 on 2 Nov at
    1 EUR = 1.1 USD -> 11 / 44; store sales 400 USD on 1 Nov. Previous period: Amazon 20 spend on 31 Oct."""
    AdRollupFactory(organization=org, date=D1, campaign_id="A", campaign_name="Lamps exact")
    AdRollupFactory(
        organization=org,
        date=D2,
        channel="meta",
        publisher="facebook",
        account_id="act_9",
        marketplace="DE",
        campaign_id="B",
        campaign_name="Lamps FB",
        currency="EUR",
        cost=Decimal("10"),
        sales=Decimal("40"),
    )
    AdRollupFactory(organization=org, date=date(2026, 10, 31), campaign_id="A", cost=Decimal("20"))
    SalesRollupFactory(organization=org, date=D1)
    FxRateFactory(date=D2, quote="USD", rate=Decimal("1.1"))
    return org


def panel(client, org, name, params=RANGE, **headers):
    return client.get(url("analytics_overview_panel", org, panel=name) + "?" + params, headers=headers)


# --- the overview page and its panels -----------------------------------------------------------------------


def test_overview_page_is_a_frame_with_lazy_panels(owner_client, seller):
    response = owner_client.get(url("analytics_overview", seller) + "?" + RANGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert "vendor/plotly-4.1.1.min.js" in html
    assert 'class="filter-bar"' in html
    for name in PANELS:
        panel_url = url("analytics_overview_panel", seller, panel=name) + "?range=custom&amp;start=2026-11-01"
        assert f'hx-get="{panel_url}&amp;end=2026-11-03"' in html
        assert f'href="{panel_url}&amp;end=2026-11-03"' in html
    assert 'hx-trigger="load"' in html
    # the frame carries the filters the seller has data for
    assert 'value="meta"' in html and 'value="DE"' in html


def test_overview_htmx_request_gets_the_panels_partial(owner_client, seller):
    response = owner_client.get(url("analytics_overview", seller) + "?" + RANGE, headers=HX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<div id="overview-panels"')


def test_kpi_panel_partial_shows_converted_totals_changes_and_links(owner_client, seller):
    response = panel(owner_client, seller, "kpis", **HX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<section id="panel-kpis"')
    kpi = _kpis(html)
    assert kpi["spend"] == "36.00 USD"  # 25 + 10 x 1.1
    assert kpi["ad_sales"] == "144.00 USD"  # 100 + 40 x 1.1
    assert kpi["total_sales"] == "400.00 USD"
    assert kpi["roas"] == "4.00x"
    assert kpi["acos"] == "25.0%"
    assert kpi["tacos"] == "9.0%"
    assert kpi["orders"] == "20"
    assert kpi["profit"] == "-"  # cost of goods unknown: not 0, not a guess
    # spend 36 vs 20 in the previous period: +80 %, shown as bad (more spend); ad sales 144 vs 100: +44 %, good
    assert re.search(r'tone-bad" title="[^"]+">▲ \+80\.0%', html)
    assert re.search(r'tone-good" title="[^"]+">▲ \+44\.0%', html)
    # converted sums say how: one foreign day only, so the rate is named
    assert 'title="1 EUR = 1.1 USD (FX rate for 2026-11-02)"' in html
    # every KPI leads to the rows behind it, with the same view
    channels = url("analytics_channels", seller) + "?range=custom&amp;start=2026-11-01&amp;end=2026-11-03"
    assert f'href="{channels}" data-kpi="spend"' in html
    marketplaces = url("analytics_marketplaces", seller) + "?range=custom&amp;start=2026-11-01&amp;end=2026-11-03"
    assert f'href="{marketplaces}" data-kpi="tacos"' in html


def _kpis(html):
    """data-kpi -> the first value shown on the card."""
    found = re.findall(r'data-kpi="(\w+)".*?<span class="kpi-value" title="[^"]*">(.*?)</span>', html, re.S)
    return {key: re.sub(r"<[^>]+>", "", value) for key, value in found}


def test_zero_division_shows_a_dash(owner_client, org):
    SalesRollupFactory(organization=org, date=D1)  # sales, no ads at all

    kpi = _kpis(panel(owner_client, org, "kpis", **HX).content.decode())

    assert kpi["spend"] == "0.00 USD"
    for key in ("roas", "acos", "cpc", "ctr", "cvr"):
        assert kpi[key] == "-", key
    assert kpi["tacos"] == "0.0%"


def test_missing_fx_rate_is_flagged_and_kept_apart(owner_client, seller):
    AdRollupFactory(
        organization=seller,
        date=D3,
        account_id="JP1",
        marketplace="JP",
        campaign_id="J",
        currency="JPY",
        cost=Decimal("1500"),
        sales=Decimal("6000"),
    )

    html = panel(owner_client, seller, "kpis", **HX).content.decode()

    assert _kpis(html)["spend"] == "36.00 USD"  # unchanged: JPY has no rate, it is not guessed
    assert "No FX rate for JPY on 3 Nov 2026" in html
    assert "+ 1,500.00 JPY" in html
    mix = panel(owner_client, seller, "marketplaces", **HX).content.decode()
    assert "JPY, no FX rate" in mix


def test_original_currency_mode_shows_one_line_per_currency(owner_client, seller):
    html = panel(owner_client, seller, "kpis", params=RANGE + "&currency=original", **HX).content.decode()

    card = re.findall(r'data-kpi="spend".*?</a>', html, re.S)[0]
    assert "10.00 <small>EUR</small>" in card and "25.00 <small>USD</small>" in card
    assert "nothing is converted or added across currencies" in html


def test_trend_panel_draws_a_chart_and_marks_provisional_days(owner_client, seller):
    days = (today_in("UTC") - D2).days + 1  # the restatement window reaches back to 2 Nov
    DataSourceFactory(organization=seller, platform="meta", channel="meta", restatement_days=days)

    html = panel(owner_client, seller, "trend", **HX).content.decode()

    assert '<script id="chart-trend-USD" type="application/json">' in html
    assert 'data-chart="chart-trend-USD"' in html
    assert '"type": "rect"' in html  # the shaded provisional region
    assert "Provisional" in html
    assert "Meta from 2 Nov 2026" in html  # the legend names the source and the day
    assert html.count('class="prov"') == 3  # 2 and 3 Nov in the table + the legend
    # the daily rows carry each day's own rate on hover
    assert 'title="1 EUR = 1.1 USD (FX rate for 2026-11-02)">11.00</td>' in html


def test_panel_as_a_page_has_the_frame_and_open_rows(owner_client, seller):
    response = panel(owner_client, seller, "trend")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'class="filter-bar"' in html
    assert '<details id="daily" class="rows" open>' in html


def test_mix_and_movers_panels(owner_client, seller):
    mix = panel(owner_client, seller, "mix", **HX).content.decode()
    assert "Meta · Facebook" in mix and "Amazon Ads" in mix
    assert '"type": "pie"' in mix

    movers = panel(owner_client, seller, "movers", **HX).content.decode()
    assert "Lamps exact" in movers  # 25 vs 20 spend and 100 vs 0 ad sales
    assert "Lamps FB" in movers
    detail = url("analytics_campaign_detail", seller, channel="amazon_ads", campaign_id="A")
    assert f'href="{detail}?' in movers


def test_unknown_panel_is_404(owner_client, org):
    assert panel(owner_client, org, "nope").status_code == 404


def test_other_organizations_pages_are_404(client, seller):
    client.force_login(member(OrganizationFactory(), Role.OWNER))
    for target in (
        url("analytics_overview", seller),
        url("analytics_overview_panel", seller, panel="kpis"),
        url("analytics_channels", seller),
        url("analytics_marketplaces", seller),
        url("analytics_export", seller, page="channels"),
    ):
        assert client.get(target).status_code == 404
        assert client.get(target, headers=HX).status_code == 404


def test_panels_are_cached_until_the_rollups_refresh(owner_client, seller, django_capture_on_commit_callbacks):
    first = panel(owner_client, seller, "kpis", **HX).content
    AdRollupFactory(organization=seller, date=D3, campaign_id="NEW", cost=Decimal("100"))

    with CaptureQueriesContext(connection) as cached:
        again = panel(owner_client, seller, "kpis", **HX).content
    assert again == first  # same rollup version: the cached panel
    assert not any("analytics_adrollupdaily" in q["sql"] for q in cached.captured_queries)

    far = D1 - timedelta(days=400)  # a refresh happens (of a day without rows, so the new row stays)
    with organization_scope(seller), django_capture_on_commit_callbacks(execute=True):
        rollups.rollups_mark_dirty(organization=seller, start=far, end=far)
        rollups.rollups_refresh(organization=seller)
    assert _kpis(panel(owner_client, seller, "kpis", **HX).content.decode())["spend"] == "136.00 USD"


def _embedded(html: str) -> int:
    return html.count('hx-trigger="load"')


def test_whole_overview_page_is_kept_per_visitor_until_the_data_changes(
    owner_client, seller, django_capture_on_commit_callbacks
):
    overview = url("analytics_overview", seller) + "?" + RANGE
    owner_client.get(overview)  # sets the CSRF cookie the page is keyed on
    for name in PANELS:  # the lazy panels, as the browser asks for them
        panel(owner_client, seller, name, **HX)
    rendered = owner_client.get(overview).content.decode()
    assert _embedded(rendered) == 0  # every panel embedded

    with CaptureQueriesContext(connection) as kept:
        again = owner_client.get(overview)
    assert again.content.decode() == rendered
    # the session's user and the membership; nothing of the dashboard
    assert not any("analytics_" in q["sql"] for q in kept.captured_queries), kept.captured_queries
    assert len(kept.captured_queries) <= 2

    with django_capture_on_commit_callbacks(execute=True):
        product_cost_set(
            organization=seller, actor=None, sku="NONE", marketplace="US", unit_cost=Decimal("1"), currency="USD"
        )
    # a cost edit changes profit: the page is drawn afresh and its panels load again
    assert _embedded(owner_client.get(overview).content.decode()) == len(PANELS)


def test_overview_page_is_not_kept_across_sessions_or_languages(client, seller):
    user = member(seller, Role.OWNER)
    client.force_login(user)
    overview = url("analytics_overview", seller) + "?" + RANGE
    client.get(overview)
    for name in PANELS:
        panel(client, seller, name, **HX)
    english = client.get(overview).content.decode()
    assert 'lang="en"' in english

    user.language = "zh-hans"
    user.save(update_fields=["language"])
    chinese = client.get(overview).content.decode()
    assert 'lang="zh-hans"' in chinese

    other = type(client)()
    other.force_login(user)
    other.get(overview)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', other.get(overview).content.decode()).group(1)
    assert token != re.search(r'"X-CSRFToken": "([^"]+)"', chinese).group(1)  # its own CSRF token


@pytest.mark.django_db
def test_prerender_after_refresh_embeds_every_panel_on_the_first_visit(
    owner_client, seller, settings, django_capture_on_commit_callbacks
):
    settings.DASHBOARD_PRERENDER = True
    with django_capture_on_commit_callbacks(execute=True):
        with organization_scope(seller):
            rollups.rollups_mark_dirty(organization=seller, start=D1, end=D1)
        refresh_rollups(organization_id=seller.pk)
    html = owner_client.get(url("analytics_overview", seller)).content.decode()
    assert _embedded(html) == 0
    assert 'id="panel-kpis"' in html


def _seed_rows(org, count, offset=0):
    for n in range(count):
        AdRollupFactory(
            organization=org,
            date=D1 + timedelta(days=n % 3),
            channel=("amazon_ads", "google_ads", "meta")[n % 3],
            publisher="instagram" if n % 3 == 2 else "",
            marketplace=("US", "DE", "JP", "UK")[n % 4],
            campaign_id=f"C{offset + n}",
            currency=("USD", "EUR")[n % 2],
        )
        SalesRollupFactory(organization=org, date=D1 + timedelta(days=n % 3), marketplace=f"M{offset + n}")


@pytest.mark.parametrize(
    "target",
    [("analytics_overview_panel", {"panel": name}) for name in PANELS]
    + [("analytics_overview", {}), ("analytics_channels", {}), ("analytics_marketplaces", {})],
)
def test_query_count_does_not_grow_with_rows(owner_client, org, target):
    name, kwargs = target
    DataSourceFactory(organization=org, restatement_days=3)
    FxRateFactory(date=D1, quote="USD", rate=Decimal("1.1"))
    page = url(name, org, **kwargs) + "?" + RANGE
    owner_client.get(page)  # warm the session

    def count():
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(page).status_code == 200
        return len(captured.captured_queries)

    _seed_rows(org, 5)
    few = count()
    _seed_rows(org, 45, offset=5)
    assert count() == few
    # the request, session and membership take ~8, the page frame's filter options 4, a panel 4-5; the KPI
    # panel adds the Profit page's P&L (8)
    assert few <= (26 if kwargs.get("panel") == "kpis" else 18)


# --- channels and marketplaces pages ------------------------------------------------------------------------


def test_channels_page_shows_channels_side_by_side(owner_client, seller):
    response = owner_client.get(url("analytics_channels", seller) + "?" + RANGE)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert '<section id="channels-content"' in html
    assert "Amazon Ads" in html and "Meta · Facebook" in html
    assert '"type": "bar"' in html
    assert "Ad spend (USD)" in html
    # Amazon 25 spend, 1000 impressions, 50 clicks, CTR 5.0%, CPC 0.50, ROAS 4.00x, ACoS 25.0%
    campaigns = url("analytics_campaigns", seller) + "?range=custom&amp;start=2026-11-01&amp;end=2026-11-03"
    row = re.search(rf'<a href="{re.escape(campaigns)}&amp;channel=amazon_ads">Amazon Ads</a>.*?</tr>', html, re.S)
    cells = re.findall(r'class="right num[^"]*"[^>]*>([^<]*)</td>', row.group(0))
    assert cells[:10] == ["25.00", "1,000", "50", "5.0%", "0.50", "5", "10.0%", "100.00", "4.00x", "25.0%"]
    assert cells[10] == "+25.0%"  # spend 25 vs 20


def test_channels_metric_switch_is_an_htmx_partial(owner_client, seller):
    response = owner_client.get(url("analytics_channels", seller) + "?" + RANGE + "&metric=roas", headers=HX)

    html = response.content.decode()
    assert "<html" not in html
    assert html.strip().startswith('<section id="channels-content"')
    assert '"tickformat": ".0%"' not in html  # ROAS is a multiple
    assert '"hovertemplate": "%{y:.2f}x' in html


def test_marketplaces_page_pairs_ads_with_store_sales(owner_client, seller):
    response = owner_client.get(url("analytics_marketplaces", seller) + "?" + RANGE)

    html = response.content.decode()
    assert response.status_code == 200
    assert '<section id="marketplaces-content"' in html
    us = re.search(r">US</a>.*?</tr>", html, re.S).group(0)
    cells = re.findall(r'class="right num"[^>]*>([^<]*)</td>', us)
    # spend, ad sales, ROAS, ACoS, total sales, orders, TACoS
    assert cells[:7] == ["25.00", "100.00", "4.00x", "25.0%", "400.00", "20", "6.2%"]
    partial = owner_client.get(url("analytics_marketplaces", seller) + "?" + RANGE, headers=HX).content.decode()
    assert partial.strip().startswith('<section id="marketplaces-content"')


def test_marketplace_filter_narrows_ads_and_sales(owner_client, seller):
    html = panel(owner_client, seller, "kpis", params=RANGE + "&marketplace=DE", **HX).content.decode()

    kpi = _kpis(html)
    assert kpi["spend"] == "11.00 USD"
    assert kpi["total_sales"] == "0.00 USD"
    assert kpi["tacos"] == "-"


# --- exports ------------------------------------------------------------------------------------------------


def test_channels_csv_export(owner_client, seller):
    response = owner_client.get(url("analytics_export", seller, page="channels") + "?" + RANGE + "&format=csv")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="chuhai-channels-2026-11-01-2026-11-03-usd.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "Channel",
        "Currency",
        "Ad spend",
        "Impressions",
        "Clicks",
        "CTR (%)",
        "CPC",
        "Ad orders",
        "CVR (%)",
        "Ad sales",
        "ROAS",
        "ACoS (%)",
        "Note",
    ]
    assert rows[1] == [
        "Amazon Ads",
        "USD",
        "25.00",
        "1000",
        "50",
        "5.00",
        "0.50",
        "5",
        "10.00",
        "100.00",
        "4.00",
        "25.00",
        "",
    ]
    assert rows[2][:3] == ["Meta", "USD", "11.00"]
    assert rows[3][:3] == ["    Meta · Facebook", "USD", "11.00"]
    assert rows[4][:3] == ["All channels", "USD", "36.00"]


def test_overview_xlsx_export_is_readable(owner_client, seller):
    response = owner_client.get(url("analytics_export", seller, page="overview") + "?" + RANGE + "&format=xlsx")

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Metric", "Currency", "Value", "Comparison period", "Change (%)")
    assert rows[1] == ("Ad spend", "USD", 36.0, 20.0, 80.0)
    assert rows[4] == ("ROAS", "USD", 4.0, 5.0, -20.0)
    assert rows[11] == ("Estimated profit", "USD", None, None, None)


@pytest.mark.parametrize("page", ["trend", "mix", "marketplaces", "movers"])
def test_every_panel_exports(owner_client, seller, page):
    for fmt in ("csv", "xlsx"):
        response = owner_client.get(url("analytics_export", seller, page=page) + f"?{RANGE}&format={fmt}")
        assert response.status_code == 200
        assert response["Content-Disposition"].endswith(f'.{fmt}"')


def test_trend_export_lists_days_and_flags(owner_client, seller):
    response = owner_client.get(url("analytics_export", seller, page="trend") + "?" + RANGE + "&format=csv")

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Day", "Currency", "Ad spend", "Ad sales"]
    assert [row[:5] for row in rows[1:]] == [
        ["2026-11-01", "USD", "25.00", "100.00", "400.00"],
        ["2026-11-02", "USD", "11.00", "44.00", "0.00"],
        ["2026-11-03", "USD", "0.00", "0.00", "0.00"],
    ]


def test_export_needs_the_export_permission(client, seller):
    client.force_login(member(seller, Role.VIEWER))

    response = client.get(url("analytics_export", seller, page="overview") + "?format=csv")
    assert response.status_code == 403
    html = panel(client, seller, "kpis", **HX).content.decode()
    assert "data-export" not in html  # no dead export buttons for a viewer


def test_unknown_export_page_or_format_is_404(owner_client, org):
    assert owner_client.get(url("analytics_export", org, page="nope")).status_code == 404
    assert owner_client.get(url("analytics_export", org, page="overview") + "?format=pdf").status_code == 404


def test_channels_in_original_currencies_have_a_currency_column(owner_client, seller):
    html = owner_client.get(url("analytics_channels", seller) + "?" + RANGE + "&currency=original").content.decode()

    assert '<th scope="col">Currency</th>' in html
    meta = re.search(r">Meta</a>.*?</tr>", html, re.S).group(0)
    assert "<td>EUR</td>" in meta
    assert re.findall(r'class="right num"[^>]*>([^<]*)</td>', meta)[0] == "10.00"  # not converted
    assert "Ad spend (USD)" not in html
    assert '<script id="chart-channels-EUR"' in html and '<script id="chart-channels-USD"' in html
