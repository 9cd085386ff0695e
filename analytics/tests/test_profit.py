"""Profit page: the P&L of a range, the cost of goods (CSV upload, inline edit), fee and VAT/GST tables with their
defaults, and who may change them."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditEvent, Role
from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory, member
from analytics import profit_defaults
from analytics.models import MarketplaceFee, ProductCost, SalesTax
from analytics.query import DashboardQuery
from analytics.selectors import products as selectors
from analytics.tests.factories import (
    AdRollupFactory,
    FxRateFactory,
    ProductSalesRollupFactory,
    SalesRollupFactory,
)

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
NOV1, NOV2 = date(2026, 11, 1), date(2026, 11, 2)
RANGE = {"range": "custom", "start": "2026-11-01", "end": "2026-11-02"}


def profit_url(org, name="analytics_profit"):
    return reverse(name, kwargs={"org_slug": org.slug})


def cost(org, sku, unit_cost, currency, marketplace=""):
    return ProductCost.unscoped_objects.create(
        organization=org, sku=sku, marketplace=marketplace, unit_cost=Decimal(unit_cost), currency=currency
    )


@pytest.fixture
def shop(org):
    """Amazon US (USD): 300 sales, 20 refunds, 15 units (SKU-1 x10 at 50 CNY, SKU-4 x5 at 4 USD).
    Amazon DE (EUR): 119 EUR = 142.80 USD on 2 November, 2 units of SKU-2 at 20 EUR. Ads: 25 USD + 10 EUR."""
    FxRateFactory(date=NOV1, quote="USD", rate=Decimal("1.10"))
    FxRateFactory(date=NOV2, quote="USD", rate=Decimal("1.20"))
    FxRateFactory(date=NOV2, quote="CNY", rate=Decimal("8.00"))
    SalesRollupFactory(
        organization=org, date=NOV1, total_sales=Decimal("300"), orders=13, units=15, refunds=Decimal("20")
    )
    ProductSalesRollupFactory(organization=org, date=NOV1, sku="SKU-1", sales=Decimal("200"), units=10, orders=9)
    ProductSalesRollupFactory(organization=org, date=NOV1, sku="SKU-4", sales=Decimal("100"), units=5, orders=4)
    SalesRollupFactory(
        organization=org, date=NOV2, marketplace="DE", currency="EUR", total_sales=Decimal("119"), orders=2, units=2
    )
    ProductSalesRollupFactory(
        organization=org,
        date=NOV2,
        sku="SKU-2",
        marketplace="DE",
        currency="EUR",
        sales=Decimal("119"),
        units=2,
        orders=2,
    )
    AdRollupFactory(organization=org, date=NOV1, cost=Decimal("25"))
    AdRollupFactory(
        organization=org,
        date=NOV2,
        channel="meta",
        account_id="act_1",
        marketplace="DE",
        currency="EUR",
        cost=Decimal("10"),
    )
    cost(org, "SKU-1", "50", "CNY")
    cost(org, "SKU-4", "4", "USD", marketplace="US")
    cost(org, "SKU-2", "20", "EUR", marketplace="DE")


def pnl(org, **params):
    query = DashboardQuery.from_params(_Params({**RANGE, **params}), today=date(2026, 11, 30))
    with organization_scope(org):
        return selectors.profit_and_loss(organization=org, query=query)


class _Params(dict):
    def getlist(self, key):
        value = self.get(key)
        return [] if value is None else [value]


def test_pnl_in_home_currency(org, shop):
    (result,), rates = pnl(org)
    t = result.totals
    assert result.currency == "USD" and rates.day == NOV2
    assert t.total_sales == Decimal("442.8000") and t.refunds == Decimal("20.0000")
    assert t.tax == Decimal("22.8")  # 142.80 x 19/119 (DE prices include VAT; US sales tax is not in the price)
    assert t.cogs == Decimal("143")  # 10 x 50 CNY x 0.15 + 5 x 4 USD + 2 x 20 EUR x 1.20
    assert t.fees == Decimal("66.42")  # 15% of 300 + 15% of 142.80
    assert t.spend == Decimal("37.0000")  # 25 USD + 10 EUR x 1.20
    assert result.profit == Decimal("153.58")
    assert round(result.margin, 4) == Decimal("0.3468")
    assert [(line.marketplace, line.contribution) for line in result.lines] == [
        ("DE", Decimal("50.58")),
        ("US", Decimal("140")),
    ]
    assert result.missing_skus == [] and result.missing_fees == [] and result.without_sku == []


def test_pnl_in_original_currencies_has_one_per_currency(org, shop):
    eur, usd = pnl(org, currency="original")[0]
    assert (eur.currency, usd.currency) == ("EUR", "USD")
    assert eur.totals.total_sales == Decimal("119.0000") and eur.totals.tax == Decimal("19")
    assert eur.totals.cogs == Decimal("40") and eur.totals.spend == Decimal("10.0000")
    assert eur.profit == Decimal("32.15")  # 119 - 19 - 40 - 17.85 - 10
    assert usd.totals.cogs == Decimal("95")  # 50 CNY = 7.50 USD at 2 November's cross rate
    assert usd.profit == Decimal("300") - 20 - 95 - 45 - 25


def test_profit_is_unknown_while_a_sku_lacks_a_cost_and_the_page_says_which(owner_client, org, shop):
    ProductCost.unscoped_objects.filter(sku="SKU-4").delete()
    (result,), _rates = pnl(org)
    assert result.totals.cogs is None and result.profit is None and result.margin is None
    assert result.missing_skus == ["SKU-4"]
    body = owner_client.get(profit_url(org), RANGE).content.decode()
    assert "Profit is unknown until these SKUs have a cost of goods: SKU-4" in body


def test_units_without_sku_detail_or_a_store_without_fees_make_profit_unknown(org, shop):
    SalesRollupFactory(organization=org, date=NOV2, total_sales=Decimal("30"), orders=1, units=3)
    SalesRollupFactory(organization=org, date=NOV1, platform="tiktok_shop", marketplace="VN", currency="USD", units=0)
    (result,), _rates = pnl(org)
    assert result.without_sku == [("amazon_sp", "US", 3)]
    assert result.missing_fees == [("tiktok_shop", "VN")] and result.missing_taxes == ["VN"]
    assert result.profit is None


def test_refunds_come_from_the_sales_rollup_and_reduce_the_tax(org):
    FxRateFactory(date=NOV1, quote="USD", rate=Decimal("1.10"))
    SalesRollupFactory(
        organization=org, marketplace="DE", currency="EUR", total_sales=Decimal("238"), refunds=Decimal("119"), units=0
    )
    (result,), _rates = pnl(org)
    assert result.totals.refunds == Decimal("130.9000")
    assert result.totals.tax == Decimal("20.9")  # (261.80 - 130.90) x 19/119


def test_profit_page_renders_pnl_and_inputs(owner_client, org, shop):
    response = owner_client.get(profit_url(org), RANGE)
    assert response.status_code == 200
    body = response.content.decode()
    for text in ("442.80 USD", "153.58 USD", "34.7%", "143.00 USD", "66.42 USD", "22.80 USD", "20.00 USD"):
        assert text in body, text
    assert "https://sellercentral.amazon.com/gp/help/external/200336920" in body
    assert "Unit costs and fixed fees are converted with the rates of 2026-11-02." in body


# --- defaults ------------------------------------------------------------------------------------------


def test_every_default_names_its_source_and_date():
    for row in (*profit_defaults.FEES, *profit_defaults.TAXES):
        assert row.source.startswith("https://") and row.as_of[:2] == "20"
    fees = profit_defaults.default_fees()
    assert fees[("amazon_sp", "US")].referral_pct == Decimal("15")
    assert fees[("shopify", "")].referral_pct == Decimal("2.9") and fees[("shopify", "")].fixed_per_order == Decimal(
        "0.30"
    )
    assert fees[("ebay", "EBAY_US")].fixed_per_order == Decimal("0.40")
    taxes = profit_defaults.default_taxes()
    assert {
        m: (t.rate_pct, t.prices_include_tax)
        for m, t in taxes.items()
        if m in {"DE", "UK", "JP", "SG", "MY", "TH", "US"}
    } == {
        "DE": (Decimal("19"), True),
        "UK": (Decimal("20"), True),
        "JP": (Decimal("10"), True),
        "SG": (Decimal("9"), True),
        "MY": (Decimal("10"), True),
        "TH": (Decimal("7"), True),
        "US": (Decimal("0"), False),
    }


def test_an_organizations_own_fee_and_tax_rows_replace_the_defaults(org):
    MarketplaceFee.unscoped_objects.create(
        organization=org, platform="amazon_sp", marketplace="US", referral_pct=Decimal("8"), currency="USD"
    )
    SalesTax.unscoped_objects.create(organization=org, marketplace="JP", rate_pct=Decimal("8"), prices_include_tax=True)
    with organization_scope(org):
        fees = {(r.platform, r.marketplace): r for r in selectors.fee_rows(organization=org)}
        taxes = {r.marketplace: r for r in selectors.tax_rows(organization=org)}
        inputs = selectors.Inputs.load(org)
    assert fees[("amazon_sp", "US")].referral_pct == 8 and not fees[("amazon_sp", "US")].is_default
    assert fees[("amazon_sp", "DE")].is_default
    assert taxes["JP"].rate_pct == 8 and taxes["DE"].is_default
    assert inputs.fee("shopify", "lamps.myshopify.com").referral_pct == Decimal("2.9")  # platform-wide default
    assert inputs.fee("tiktok_shop", "MY") is None


def test_shopify_fixed_fee_in_usd_is_converted_for_a_store_in_another_currency(org):
    FxRateFactory(date=NOV1, quote="USD", rate=Decimal("1.20"))
    FxRateFactory(date=NOV1, quote="GBP", rate=Decimal("0.80"))  # 1 GBP = 1.50 USD
    SalesRollupFactory(
        organization=org,
        platform="shopify",
        marketplace="lamps.myshopify.com",
        currency="GBP",
        total_sales=Decimal("100"),
        orders=10,
        units=0,
    )
    (home,), _rates = pnl(org, start="2026-11-01", end="2026-11-01")
    assert home.totals.fees == Decimal("7.35")  # 2.9% of 150 USD + 10 orders x 0.30 USD
    (original,), _rates = pnl(org, start="2026-11-01", end="2026-11-01", currency="original")
    assert original.currency == "GBP" and original.totals.fees == Decimal("4.9")  # 2.90 GBP + 3 USD = 2 GBP


# --- cost of goods: upload -----------------------------------------------------------------------------


def upload(client, org, text, name="costs.csv"):
    file = SimpleUploadedFile(name, text.encode(), content_type="text/csv")
    return client.post(profit_url(org, "analytics_cost_upload") + "?range=7d", {"file": file})


def test_cost_upload_saves_every_row(client, org):
    cost(org, "SKU-1", "1", "USD")
    client.force_login(member(org, Role.MARKETER))
    response = upload(client, org, "sku,marketplace,unit_cost,currency\nSKU-1,,50.5,cny\nSKU-2,DE,20,EUR\n\n")
    assert response.status_code == 302 and response["Location"].endswith("?range=7d")
    saved = {
        (c.sku, c.marketplace): (c.unit_cost, c.currency) for c in ProductCost.unscoped_objects.filter(organization=org)
    }
    assert saved == {("SKU-1", ""): (Decimal("50.5"), "CNY"), ("SKU-2", "DE"): (Decimal("20"), "EUR")}
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="analytics.costs_imported").get().data == {
        "rows": 2
    }


def test_a_malformed_cost_file_saves_nothing_and_lists_every_bad_line(client, org):
    cost(org, "SKU-1", "1", "USD")
    client.force_login(member(org, Role.MARKETER))
    text = (
        "sku,marketplace,unit_cost,currency\nSKU-1,,9,USD\n,US,3,USD\nSKU-3,US,abc,USD\nSKU-4,US,-2,ZZZ\nSKU-1,,4,USD\n"
    )
    response = upload(client, org, text)
    assert response.status_code == 400
    body = response.content.decode()
    assert "Nothing was saved: 4 line(s) are not valid." in body
    assert "line 3: the SKU is missing" in body
    assert "line 4: the unit cost &#x27;abc&#x27; is not an amount of 0 or more" in body
    assert (
        "line 5: the unit cost &#x27;-2&#x27; is not an amount of 0 or more; the currency &#x27;ZZZ&#x27; is not"
        in body
    )
    assert "line 6: the same SKU and marketplace as line 2" in body
    assert [(c.sku, c.unit_cost) for c in ProductCost.unscoped_objects.filter(organization=org)] == [
        ("SKU-1", Decimal("1.0000"))
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sku,unit_cost\nA,1\n", "The first line must be the header sku,marketplace,unit_cost,currency."),
        ("sku,marketplace,unit_cost,currency\n", "The file has no cost rows under its header."),
    ],
)
def test_cost_file_shape_errors(client, org, text, message):
    client.force_login(member(org, Role.MARKETER))
    response = upload(client, org, text)
    assert response.status_code == 400 and message in response.content.decode()
    assert not ProductCost.unscoped_objects.filter(organization=org).exists()


def test_a_viewer_cannot_upload_costs(client, org):
    client.force_login(member(org, Role.VIEWER))
    assert upload(client, org, "sku,marketplace,unit_cost,currency\nA,,1,USD\n").status_code == 403
    assert not ProductCost.unscoped_objects.filter(organization=org).exists()


# --- inline edits ----------------------------------------------------------------------------------------


def test_inline_cost_edit_swaps_a_form_row_then_the_saved_row(client, org):
    cost(org, "SKU-1", "50", "CNY")
    client.force_login(member(org, Role.MARKETER))
    edit = profit_url(org, "analytics_cost_edit")
    form = client.get(edit, {**RANGE, "sku": "SKU-1", "marketplace": ""}, headers=HX).content.decode()
    assert form.lstrip().startswith('<tr class="editing">') and 'value="50.0000"' in form and 'value="CNY"' in form
    saved = client.post(
        edit + "?range=7d", {"sku": "SKU-1", "marketplace": "", "unit_cost": "55.25", "currency": "cny"}, headers=HX
    )
    body = saved.content.decode()
    assert saved.status_code == 200 and body.lstrip().startswith("<tr>") and "55.25 CNY" in body
    assert ProductCost.unscoped_objects.get(organization=org, sku="SKU-1").unit_cost == Decimal("55.25")
    bad = client.post(edit, {"sku": "SKU-1", "marketplace": "", "unit_cost": "-1", "currency": "CNY"}, headers=HX)
    assert bad.status_code == 200 and '<tr class="editing">' in bad.content.decode()
    assert "Ensure this value is greater than or equal to 0." in bad.content.decode()
    assert ProductCost.unscoped_objects.get(organization=org, sku="SKU-1").unit_cost == Decimal("55.25")


def test_inline_edit_works_without_javascript(client, org):
    cost(org, "SKU-1", "50", "CNY")
    client.force_login(member(org, Role.MARKETER))
    edit = profit_url(org, "analytics_cost_edit")
    page = client.get(edit, {**RANGE, "sku": "SKU-1", "marketplace": ""})
    body = page.content.decode()
    assert page.status_code == 200 and 'class="filter-bar"' in body and '<tr class="editing">' in body
    response = client.post(edit + "?range=7d", {"sku": "NEW", "marketplace": "US", "unit_cost": "3", "currency": "USD"})
    assert response.status_code == 302
    assert ProductCost.unscoped_objects.filter(organization=org, sku="NEW", marketplace="US").exists()


def test_fee_and_tax_edits_need_manage_settings(client, org):
    client.force_login(member(org, Role.MARKETER))
    data = {
        "platform": "amazon_sp",
        "marketplace": "US",
        "referral_pct": "8",
        "fixed_per_order": "0",
        "fulfilment_per_unit": "3.5",
        "currency": "USD",
        "source": "my contract",
    }
    assert client.post(profit_url(org, "analytics_fee_edit"), data, headers=HX).status_code == 403
    assert not MarketplaceFee.unscoped_objects.filter(organization=org).exists()

    client.force_login(member(org, Role.ADMIN))
    form = client.get(profit_url(org, "analytics_fee_edit"), {"platform": "amazon_sp", "marketplace": "US"}, headers=HX)
    assert 'value="15.000"' in form.content.decode() or 'value="15"' in form.content.decode()
    saved = client.post(profit_url(org, "analytics_fee_edit"), data, headers=HX)
    assert saved.status_code == 200 and "my contract" in saved.content.decode()
    fee = MarketplaceFee.unscoped_objects.get(organization=org)
    assert (fee.referral_pct, fee.fulfilment_per_unit, fee.source) == (Decimal("8"), Decimal("3.5"), "my contract")

    tax = {"marketplace": "JP", "rate_pct": "8", "prices_include_tax": "on", "source": "reduced rate"}
    assert client.post(profit_url(org, "analytics_tax_edit"), tax, headers=HX).status_code == 200
    assert SalesTax.unscoped_objects.get(organization=org, marketplace="JP").rate_pct == Decimal("8")
    assert (
        AuditEvent.unscoped_objects.filter(
            organization=org, verb__in=["analytics.fee_set", "analytics.tax_set"]
        ).count()
        == 2
    )


def test_viewer_sees_the_inputs_without_edit_links(client, org, shop):
    client.force_login(member(org, Role.VIEWER))
    body = client.get(profit_url(org), RANGE).content.decode()
    assert "SKU-1" in body and "Edit</a>" not in body and "Upload CSV" not in body


def test_other_organizations_profit_views_are_404(client, org, shop):
    attacker = OrganizationFactory()
    client.force_login(member(attacker, Role.OWNER))
    for name in (
        "analytics_profit",
        "analytics_cost_edit",
        "analytics_cost_upload",
        "analytics_fee_edit",
        "analytics_tax_edit",
    ):
        assert client.get(profit_url(org, name), RANGE).status_code == 404
        assert client.get(profit_url(org, name), RANGE, headers=HX).status_code == 404
        assert (
            client.post(profit_url(org, name), {"sku": "SKU-1", "unit_cost": "0", "currency": "USD"}).status_code == 404
        )
    assert ProductCost.unscoped_objects.get(organization=org, sku="SKU-1").unit_cost == Decimal("50")
    # the attacker's own page shows none of the victim's costs
    assert "SKU-1" not in client.get(profit_url(attacker), RANGE).content.decode()


def test_profit_page_query_count_does_not_grow_with_skus(client, org, shop, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(member(org, Role.VIEWER))
    client.get(profit_url(org), RANGE)
    with CaptureQueriesContext(connection) as few:
        client.get(profit_url(org), RANGE)
    for n in range(20):
        ProductSalesRollupFactory(organization=org, date=NOV1, sku=f"MORE-{n}", units=1)
        cost(org, f"MORE-{n}", "2", "USD")
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(profit_url(org), RANGE)
