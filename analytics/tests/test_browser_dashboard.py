"""A seller's morning in a real browser: log in, open the ROI overview in Chinese and in English, change the
range, filter to one marketplace, drill into a campaign, export XLSX. Screenshots land in test-artifacts/."""

import io
import random
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from accounts.models import Role
from accounts.tests.factories import PASSWORD, OrganizationFactory, member
from analytics.models import (
    AdPerformanceDaily,
    AdRollupDaily,
    DataSource,
    FxRate,
    MarketplaceFee,
    ProductCost,
    ProductSalesRollupDaily,
    SalesRollupDaily,
    SalesTax,
)
from analytics.query import today_in

pytestmark = pytest.mark.browser

# channel, publisher, marketplace, account, currency, campaigns (id, name, daily spend, ROAS)
ADS = [
    (
        "amazon_ads",
        "",
        "US",
        "amz-us",
        "USD",
        [("SP-1", "Desk lamps - exact", 60, 4.2), ("SB-2", "Brand - lamps", 25, 2.8)],
    ),
    ("amazon_ads", "", "DE", "amz-de", "EUR", [("SP-DE", "Tischlampe - exact", 30, 3.5)]),
    ("amazon_ads", "", "JP", "amz-jp", "JPY", [("SP-JP", "デスクライト", 4200, 3.1)]),
    ("google_ads", "", "US", "g-1", "USD", [("G-PMAX", "PMax - Shopify", 45, 2.4)]),
    ("meta", "facebook", "US", "act_1", "USD", [("M-PROS", "Prospecting - lamps", 35, 1.9)]),
    ("meta", "instagram", "US", "act_1", "USD", [("M-PROS", "Prospecting - lamps", 20, 2.2)]),
    ("tiktok_ads", "", "US", "tt-1", "USD", [("TT-1", "Spark ads - desk setup", 18, 1.6)]),
    ("shopee_ads", "", "SG", "shp-sg", "SGD", [("SH-1", "Shopee search - lamps", 22, 5.0)]),
    ("ebay_pl", "", "EBAY_US", "ebay-us", "USD", [("PL-1", "Promoted - general", 8, 6.5)]),
]
SALES = [
    ("amazon_sp", "US", "USD", 720),
    ("amazon_sp", "DE", "EUR", 210),
    ("amazon_sp", "JP", "JPY", 31000),
    ("shopify", "lampworks.myshopify.com", "USD", 380),
    ("shopee", "SG", "SGD", 160),
    ("ebay", "EBAY_US", "USD", 95),
]
EUR_RATES = {"USD": 1.08, "JPY": 162.0, "SGD": 1.45, "CNY": 7.75, "GBP": 0.85}


def seed(org, days=200):
    """About seven months of rollups for a lamp seller on nine ad accounts and six stores, with FX rates."""
    rng = random.Random(7)
    today = today_in(org.time_zone)
    ads, facts, sales, products, rates = [], [], [], [], []
    for offset in range(days):
        day = today - timedelta(days=days - 1 - offset)
        growth = 1 + offset / days * 0.35
        weekly = 1.12 if day.weekday() in (4, 5) else 1.0
        for currency, rate in EUR_RATES.items():
            drift = 1 + 0.01 * ((offset % 17) - 8) / 8
            rates.append(
                FxRate(date=day, base="EUR", quote=currency, rate=Decimal(f"{rate * drift:.4f}"), source="ecb")
            )
        for channel, publisher, marketplace, account, currency, campaigns in ADS:
            for campaign_id, name, spend, roas in campaigns:
                cost = spend * growth * weekly * rng.uniform(0.8, 1.2)
                if campaign_id == "TT-1" and offset > days - 20:
                    cost *= 2.2  # a campaign that took off: a top mover
                clicks = max(1, int(cost / (0.6 if currency != "JPY" else 80) * rng.uniform(0.9, 1.1)))
                orders = max(0, int(clicks * rng.uniform(0.05, 0.12)))
                if offset >= days - 60:  # the last two months also as facts, for the campaign drill-down
                    for share, group in ((0.6, "Exact"), (0.4, "Broad")):
                        facts.append(
                            AdPerformanceDaily(
                                organization=org,
                                channel=channel,
                                account_id=account,
                                marketplace=marketplace,
                                date=day,
                                grain="ad_group",
                                campaign_id=campaign_id,
                                campaign_name=name,
                                ad_group_id=f"{campaign_id}-{group}",
                                ad_group_name=f"{name} / {group}",
                                match_type=publisher,
                                impressions=int(clicks * 45 * share),
                                clicks=int(clicks * share),
                                cost=Decimal(f"{cost * share:.2f}"),
                                orders=int(orders * share),
                                units=int(orders * share),
                                sales=Decimal(f"{cost * share * roas:.2f}"),
                                currency=currency,
                                source="api",
                                source_ref=1,
                            )
                        )
                ads.append(
                    AdRollupDaily(
                        organization=org,
                        date=day,
                        channel=channel,
                        publisher=publisher,
                        marketplace=marketplace,
                        account_id=account,
                        campaign_id=campaign_id,
                        campaign_name=name,
                        currency=currency,
                        impressions=clicks * rng.randint(35, 60),
                        clicks=clicks,
                        cost=Decimal(f"{cost:.2f}"),
                        orders=orders,
                        units=orders,
                        sales=Decimal(f"{cost * roas * rng.uniform(0.8, 1.2):.2f}"),
                    )
                )
        for platform, marketplace, currency, daily in SALES:
            total = daily * growth * weekly * rng.uniform(0.85, 1.15)
            units = max(1, int(total / (26 if currency != "JPY" else 3500)))
            sales.append(
                SalesRollupDaily(
                    organization=org,
                    date=day,
                    platform=platform,
                    marketplace=marketplace,
                    currency=currency,
                    orders=max(1, int(total / (30 if currency != "JPY" else 4000))),
                    units=units,
                    total_sales=Decimal(f"{total:.2f}"),
                    refunds=Decimal(f"{total * 0.03:.2f}"),
                )
            )
            products.append(
                ProductSalesRollupDaily(
                    organization=org,
                    date=day,
                    platform=platform,
                    marketplace=marketplace,
                    sku="LAMP-01",
                    title="Linen desk lamp",
                    currency=currency,
                    orders=units,
                    units=units,
                    sales=Decimal(f"{total:.2f}"),
                )
            )
    AdRollupDaily.unscoped_objects.bulk_create(ads)
    AdPerformanceDaily.unscoped_objects.bulk_create(facts, ignore_conflicts=True)
    SalesRollupDaily.unscoped_objects.bulk_create(sales)
    ProductSalesRollupDaily.unscoped_objects.bulk_create(products)
    # profit inputs: landed cost of the lamp, each store's fees and each market's VAT/GST
    ProductCost.unscoped_objects.create(organization=org, sku="LAMP-01", unit_cost=Decimal("7.50"), currency="USD")
    for platform, marketplace, currency, _daily in SALES:
        MarketplaceFee.unscoped_objects.create(
            organization=org,
            platform=platform,
            marketplace=marketplace,
            referral_pct=Decimal("15" if platform == "amazon_sp" else "6"),
            fulfilment_per_unit=Decimal("450" if currency == "JPY" else "3.20"),
            currency=currency,
            source="Seller's own fee table",
        )
    for marketplace, rate, included in (("US", "0", False), ("DE", "19", True), ("JP", "10", True), ("SG", "9", True)):
        SalesTax.unscoped_objects.create(
            organization=org, marketplace=marketplace, rate_pct=Decimal(rate), prices_include_tax=included
        )
    for marketplace in ("lampworks.myshopify.com", "EBAY_US"):
        SalesTax.unscoped_objects.create(
            organization=org, marketplace=marketplace, rate_pct=Decimal("0"), prices_include_tax=False
        )
    FxRate.objects.bulk_create(rates, ignore_conflicts=True)
    for ref, (platform, channel, label, restates) in enumerate(
        [
            ("amazon_ads", "amazon_ads", "Amazon Ads US", 14),
            ("meta", "meta", "Meta Lamp Works", 7),
            ("ebay", "ebay_pl", "eBay US", 3),
            ("amazon_sp", "", "Amazon US", 3),
        ]
    ):
        DataSource.unscoped_objects.create(
            organization=org,
            source_ref=9000 + ref,
            source="api",
            platform=platform,
            channel=channel,
            label=label,
            restatement_days=restates,
        )


def _shot(page, folder, name):
    page.screenshot(path=str(folder / name), full_page=True)


def _wait_for_panels(page):
    """Every lazy panel swapped in, and its charts drawn by plotly.js."""
    expect(page.locator("#overview-panels .is-loading")).to_have_count(0)
    expect(page.locator("#panel-kpis .kpi")).to_have_count(11)
    for chart in ("chart-trend", "chart-mix", "chart-marketplaces"):
        expect(page.locator(f"[data-chart^='{chart}'] .main-svg").first).to_be_visible()


def test_seller_reads_the_overview_filters_drills_down_and_exports(live_server, page, artifacts_dir):
    org = OrganizationFactory(name="Lamp Works 灯具", home_currency="CNY", time_zone="Asia/Shanghai")
    owner = member(org, Role.OWNER, email="owner@lampworks.test")
    seed(org)
    page.set_viewport_size({"width": 1440, "height": 900})

    # --- log in and open the dashboard -------------------------------------------------------------------
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"**/o/{org.slug}/")
    page.locator("nav.sidenav").get_by_role("link", name="Dashboard").click()
    page.wait_for_url(f"**/o/{org.slug}/analytics/")
    _wait_for_panels(page)
    expect(page.locator("[data-kpi=spend] .kpi-value")).to_contain_text("CNY")
    expect(page.locator("[data-kpi=profit] .kpi-value")).to_contain_text("CNY")  # costs, fees and taxes known

    # --- in Chinese --------------------------------------------------------------------------------------
    page.locator("form.lang-switch button[value='zh-hans']").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    _wait_for_panels(page)
    expect(page.locator("nav.sidenav")).to_contain_text("仪表板")
    _shot(page, artifacts_dir, "dashboard-overview-zh.png")

    # --- and back in English -----------------------------------------------------------------------------
    page.locator("form.lang-switch button[value='en']").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    _wait_for_panels(page)
    expect(page.locator("#panel-kpis")).to_contain_text("TACoS")
    # every converted figure names its rates on hover
    expect(page.locator("[data-kpi=spend] .kpi-value")).to_have_attribute("title", re.compile("FX rate"))
    _shot(page, artifacts_dir, "dashboard-overview-en.png")

    # --- change the range --------------------------------------------------------------------------------
    page.select_option("form.filter-bar select[name=range]", "90d")
    page.locator("form.filter-bar button[type=submit]").click()
    page.wait_for_url(re.compile(r"/analytics/\?range=90d$"))
    _wait_for_panels(page)
    expect(page.locator("form.filter-bar select[name=range]")).to_have_value("90d")
    start = today_in(org.time_zone) - timedelta(days=89)
    expect(page.locator("form.filter-bar input[name=start]")).to_have_value(start.isoformat())
    # the provisional days are shaded and explained
    expect(page.locator("#panel-trend .prov-legend")).to_contain_text("Provisional")
    _shot(page, artifacts_dir, "dashboard-overview-90d.png")

    # --- filter to one marketplace -----------------------------------------------------------------------
    page.locator("details[data-filter=marketplace] summary").click()
    page.locator("details[data-filter=marketplace] input[value=DE]").check()
    page.locator("form.filter-bar button[type=submit]").click()
    page.wait_for_url(re.compile(r"\?range=90d&marketplace=DE$"))
    _wait_for_panels(page)
    marketplaces = page.locator("#panel-marketplaces tbody th")
    expect(marketplaces).to_have_count(1)
    expect(marketplaces.first).to_contain_text("DE")
    expect(page.locator("#panel-mix tbody")).to_contain_text("Amazon Ads")
    expect(page.locator("#panel-mix tbody")).not_to_contain_text("Meta")
    _shot(page, artifacts_dir, "dashboard-overview-de.png")

    # --- export what is shown as XLSX --------------------------------------------------------------------
    with page.expect_download() as download_info:
        page.locator("#panel-kpis [data-export=xlsx]").click()
    download = download_info.value
    assert re.fullmatch(r"chuhai-overview-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d-cny\.xlsx", download.suggested_filename)
    target = artifacts_dir / "dashboard-overview-de.xlsx"
    download.save_as(target)
    rows = list(load_workbook(io.BytesIO(target.read_bytes())).active.iter_rows(values_only=True))
    assert rows[0] == ("Metric", "Currency", "Value", "Comparison period", "Change (%)")
    assert rows[1][:2] == ("Ad spend", "CNY") and rows[1][2] > 0

    # --- follow a KPI to the rows behind it, then drill into a campaign -----------------------------------
    page.locator("[data-kpi=spend]").click()
    page.wait_for_url(re.compile(r"/analytics/channels/\?range=90d&marketplace=DE$"))
    expect(page.locator("#channels-content tbody")).to_contain_text("Amazon Ads")
    expect(page.locator("[data-chart^=chart-channels] .main-svg").first).to_be_visible()
    _shot(page, artifacts_dir, "dashboard-channels-de.png")

    page.goto(f"{live_server.url}/o/{org.slug}/analytics/?range=30d")
    _wait_for_panels(page)
    mover = page.locator("#panel-movers tbody a").first
    expect(mover).to_be_visible()
    name = mover.inner_text()
    mover.click()
    page.wait_for_url(re.compile(r"/analytics/campaigns/"))
    expect(page.locator("main")).to_contain_text(name)
    _shot(page, artifacts_dir, "dashboard-campaign-drilldown.png")

    page.goto(f"{live_server.url}/o/{org.slug}/analytics/marketplaces/?range=30d")
    expect(page.locator("[data-chart^=chart-marketplaces] .main-svg").first).to_be_visible()
    _shot(page, artifacts_dir, "dashboard-marketplaces.png")
