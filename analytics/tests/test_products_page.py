"""Products page: per product ad and store figures, TACoS, profit and break-even ACoS in the home currency."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, member
from analytics import metrics
from analytics.models import ProductCost
from analytics.tests.factories import FxRateFactory, ProductAdRollupFactory, ProductSalesRollupFactory

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
NOV1, NOV2 = date(2026, 11, 1), date(2026, 11, 2)
RANGE = {"range": "custom", "start": "2026-11-01", "end": "2026-11-02"}


def products_url(org, name="analytics_products"):
    return reverse(name, kwargs={"org_slug": org.slug})


@pytest.fixture
def catalogue(org):
    """SKU-1 (US): 300 USD sales, 15 units, 30 ad spend, cost 50 CNY (7.50 USD at 2 November's rate).
    SKU-2 (DE): 119 EUR = 130.90 USD, no cost entered. SKU-3 (UK): 8 GBP = 11 USD of ads, no sale."""
    FxRateFactory(date=NOV1, quote="USD", rate=Decimal("1.10"))
    FxRateFactory(date=NOV1, quote="GBP", rate=Decimal("0.80"))
    FxRateFactory(date=NOV2, quote="USD", rate=Decimal("1.20"))
    FxRateFactory(date=NOV2, quote="CNY", rate=Decimal("8.00"))
    ProductSalesRollupFactory(organization=org, date=NOV1, sku="SKU-1", sales=Decimal("180"), units=9, orders=8)
    ProductSalesRollupFactory(organization=org, date=NOV2, sku="SKU-1", sales=Decimal("120"), units=6, orders=5)
    ProductAdRollupFactory(organization=org, date=NOV1, product_id="SKU-1", cost=Decimal("10"), sales=Decimal("40"))
    ProductAdRollupFactory(organization=org, date=NOV2, product_id="SKU-1", cost=Decimal("20"), sales=Decimal("60"))
    ProductSalesRollupFactory(
        organization=org,
        date=NOV1,
        sku="SKU-2",
        title="Rattan shade",
        marketplace="DE",
        currency="EUR",
        sales=Decimal("119"),
        units=2,
        orders=2,
    )
    ProductAdRollupFactory(
        organization=org,
        date=NOV1,
        product_id="SKU-3",
        marketplace="UK",
        currency="GBP",
        cost=Decimal("8"),
        sales=Decimal("0"),
    )
    ProductCost.unscoped_objects.create(organization=org, sku="SKU-1", unit_cost=Decimal("50"), currency="CNY")


def rows_by_sku(response):
    return {row.sku: row for row in response.context["table"].rows}


def test_products_join_ads_and_sales_and_compute_profit_and_break_even(owner_client, org, catalogue):
    response = owner_client.get(products_url(org), RANGE)
    assert response.status_code == 200
    table = response.context["table"]
    assert [row.sku for row in table.rows] == ["SKU-1", "SKU-2", "SKU-3"]
    one, two, three = table.rows
    t = one.totals
    assert (t.spend, t.ad_sales, t.total_sales, t.total_units, t.total_orders) == (
        Decimal("30.0000"),
        Decimal("100.0000"),
        Decimal("300.0000"),
        15,
        13,
    )
    assert t.cogs == Decimal("112.5") and t.fees == Decimal("45") and t.tax == 0
    assert one.profit == Decimal("112.5") and one.margin == Decimal("0.375")
    assert one.tacos == Decimal("0.1") and one.acos == Decimal("0.3")
    assert one.break_even_acos == Decimal("0.475")  # (20 - 7.50 - 3.00) / 20
    assert one.break_even_acos == metrics.break_even_acos(
        price=Decimal(20), unit_cost=Decimal("7.5"), fees_per_unit=Decimal(3)
    )
    assert [cell["text"] for cell in one.cells] == [
        "30.00 USD",
        "100.00 USD",
        "30.0%",
        "300.00 USD",
        "15",
        "10.0%",
        "112.50 USD",
        "37.5%",
        "47.5%",
    ]
    assert two.title == "Rattan shade" and two.totals.total_sales == Decimal("130.9000")
    assert two.missing_cost and two.profit is None
    assert [cell["text"] for cell in two.cells][-3:] == ["no cost", "no cost", "no cost"]
    assert two.tacos == 0
    assert three.totals.spend == Decimal("11.0000") and three.tacos is None and three.profit == Decimal("-11.0000")
    body = response.content.decode()
    assert "112.50 USD" in body and "no cost" in body and 'id="product-table"' in body


def test_htmx_sort_search_and_filter(owner_client, org, catalogue):
    response = owner_client.get(products_url(org), {**RANGE, "sort": "-spend"}, headers=HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="product-table"') and "<html" not in body
    assert [row.sku for row in response.context["table"].rows] == ["SKU-1", "SKU-3", "SKU-2"]
    searched = owner_client.get(products_url(org), {**RANGE, "q": "rattan"})
    assert [row.sku for row in searched.context["table"].rows] == ["SKU-2"]
    filtered = owner_client.get(products_url(org), {**RANGE, "marketplace": "US"})
    assert [row.sku for row in filtered.context["table"].rows] == ["SKU-1"]
    by_profit = owner_client.get(products_url(org), {**RANGE, "sort": "profit"})
    assert [row.sku for row in by_profit.context["table"].rows] == ["SKU-3", "SKU-1", "SKU-2"]  # unknown last


def test_query_count_does_not_grow_with_products(client, org, catalogue, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(member(org, Role.VIEWER))
    client.get(products_url(org), RANGE)
    with CaptureQueriesContext(connection) as few:
        client.get(products_url(org), RANGE)
    for n in range(30):
        ProductSalesRollupFactory(organization=org, date=NOV1, sku=f"MORE-{n}")
        ProductAdRollupFactory(organization=org, date=NOV1, product_id=f"MORE-{n}")
        ProductCost.unscoped_objects.create(organization=org, sku=f"MORE-{n}", unit_cost=Decimal("3"), currency="USD")
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(products_url(org), RANGE)
    assert response.context["table"].total_rows == 33


def test_products_export_csv(client, org, catalogue):
    client.force_login(member(org, Role.ANALYST))
    response = client.get(products_url(org, "analytics_products_export"), {**RANGE, "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["SKU or ASIN"] for row in rows] == ["SKU-1", "SKU-2", "SKU-3"]
    assert rows[0]["Estimated profit"] == "112.5000" and rows[0]["Break-even ACoS"] == "0.475"
    assert rows[0]["Cost of goods"] == "112.5000" and rows[1]["Estimated profit"] == ""
    assert rows[1]["Tax in price"] == "20.9000" and rows[1]["Marketplace fees"] == "19.6350"
    client.force_login(member(org, Role.VIEWER))
    assert client.get(products_url(org, "analytics_products_export"), RANGE).status_code == 403


def test_other_organizations_products_are_404_and_never_shown(client, org, catalogue):
    attacker = OrganizationFactory()
    client.force_login(member(attacker, Role.OWNER))
    for name in ("analytics_products", "analytics_products_export"):
        assert client.get(products_url(org, name), RANGE).status_code == 404
        assert client.get(products_url(org, name), RANGE, headers=HX).status_code == 404
    assert client.get(products_url(attacker), RANGE).context["table"].rows == []
