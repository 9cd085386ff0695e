"""Rollup refresh: the rows built from hand-made facts, idempotency, resuming, the fill state and the tasks."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.tests.factories import OrganizationFactory
from analytics import rollups, sources
from analytics.models import (
    AdRollupDaily,
    DataSource,
    ProductAdRollupDaily,
    ProductSalesRollupDaily,
    RollupFill,
    SalesRollupDaily,
    StoreOrder,
    StoreOrderLine,
)
from analytics.tasks import refresh_dirty_rollups, refresh_rollups
from analytics.tests.factories import AdFactFactory, AdRollupFactory, DataSourceFactory, StoreSalesFactory

pytestmark = pytest.mark.django_db

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
AD_FIELDS = (
    "date",
    "channel",
    "publisher",
    "marketplace",
    "account_id",
    "campaign_id",
    "campaign_name",
    "currency",
    "attribution_window",
    "impressions",
    "clicks",
    "cost",
    "orders",
    "units",
    "sales",
)


def ad_rows(org):
    rows = AdRollupDaily.unscoped_objects.filter(organization=org)
    return list(rows.order_by(*AD_FIELDS[:6]).values_list(*AD_FIELDS))


def all_rows(org) -> dict[str, list[tuple]]:
    """Every rollup row of the organization, without ids and timestamps."""
    result = {}
    for model in (AdRollupDaily, ProductAdRollupDaily, SalesRollupDaily, ProductSalesRollupDaily):
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in ("id", "created_at", "updated_at")]
        result[model.__name__] = sorted(model.unscoped_objects.filter(organization=org).values_list(*names))
    return result


def refresh(org, start=D1, end=D3, **kwargs):
    rollups.rollups_mark_dirty(organization=org, start=start, end=end)
    return rollups.rollups_refresh(organization=org, **kwargs)


def order(org, external_id, day, *, refunded="0", total="0", platform="shopify", marketplace="lamps.example", lines=()):
    placed = StoreOrder.unscoped_objects.create(
        organization=org,
        platform=platform,
        marketplace=marketplace,
        external_id=external_id,
        ordered_at=f"{day.isoformat()}T10:00:00Z",
        date=day,
        currency="USD",
        total=Decimal(total),
        refunded=Decimal(refunded),
        units=sum(line[2] for line in lines),
        source_ref=7,
    )
    for number, (sku, asin, quantity, amount, title) in enumerate(lines, start=1):
        StoreOrderLine.unscoped_objects.create(
            organization=org,
            order=placed,
            external_id=f"{external_id}-{number}",
            sku=sku,
            asin=asin,
            title=title,
            quantity=quantity,
            amount=Decimal(amount),
            currency="USD",
        )
    return placed


# --- what the rows hold ---------------------------------------------------------------------------------


def test_ad_rollup_sums_the_coarsest_grain_of_each_source_day_and_campaign(org):
    api = {"organization": org, "channel": "amazon_ads", "account_id": "A1", "source": "api", "source_ref": 1}
    # C1 has campaign rows: its search terms (which overlap them) are not added again.
    AdFactFactory(**api, campaign_id="C1", impressions=1000, clicks=50, cost=Decimal("25.00"), orders=5, units=6)
    AdFactFactory(**api, campaign_id="C1", grain="search_term", search_term="lamp", cost=Decimal("10.00"))
    AdFactFactory(**api, campaign_id="C1", grain="search_term", search_term="lamps", cost=Decimal("15.00"))
    # C2 of the same source only came at ad-group grain that day: the ad groups count, the targets do not.
    AdFactFactory(**api, campaign_id="C2", grain="ad_group", ad_group_id="G1", cost=Decimal("3.50"), clicks=7)
    AdFactFactory(**api, campaign_id="C2", grain="ad_group", ad_group_id="G2", cost=Decimal("1.25"), clicks=3)
    AdFactFactory(**api, campaign_id="C2", grain="target", ad_group_id="G1", target_id="T1", cost=Decimal("3.50"))
    # A file import with only search-term rows still counts.
    imported = {**api, "account_id": "import:USD", "source": "import", "source_ref": 1, "campaign_id": "name:Auto"}
    AdFactFactory(**imported, grain="search_term", search_term="a", impressions=10, clicks=1, cost=Decimal("0.40"))
    AdFactFactory(
        **imported, grain="search_term", search_term="b", impressions=20, clicks=2, cost=Decimal("0.60"), sales=0
    )
    # Another day, and a day outside the refreshed range.
    AdFactFactory(**api, campaign_id="C1", date=D2, impressions=10, clicks=1, cost=Decimal("0.5"), orders=0, units=0)
    AdFactFactory(**api, campaign_id="C1", date=D3 + timedelta(days=1), cost=Decimal("99"))

    assert refresh(org) == 3

    head = ("amazon_ads", "", "US")
    usd = ("USD", "7d")
    assert ad_rows(org) == [
        (D1, *head, "A1", "C1", "Campaign C1", *usd, 1000, 50, Decimal("25.0000"), 5, 6, Decimal("100.0000")),
        (D1, *head, "A1", "C2", "Campaign C2", *usd, 2000, 10, Decimal("4.7500"), 10, 10, Decimal("200.0000")),
        (D1, *head, "import:USD", "name:Auto", "Campaign name:Auto", *usd, 30, 3, Decimal("1.0000"), 10, 10,
         Decimal("100.0000")),
        (D2, *head, "A1", "C1", "Campaign C1", *usd, 10, 1, Decimal("0.5000"), 0, 0, Decimal("100.0000")),
    ]  # fmt: skip


def test_meta_rolls_up_per_publisher_and_other_channels_have_none(org):
    meta = {"organization": org, "channel": "meta", "account_id": "act_1", "campaign_id": "M1", "marketplace": "DE"}
    meta |= {"currency": "EUR", "attribution_window": "7d_click+1d_view"}
    AdFactFactory(**meta, match_type="facebook", search_term="facebook|DE", cost=Decimal("8.00"), clicks=8, orders=1)
    AdFactFactory(**meta, match_type="instagram", search_term="instagram|DE", cost=Decimal("2.00"), clicks=2, orders=0)
    AdFactFactory(**meta, grain="target", target_id="ad1", match_type="facebook", search_term="facebook|DE")
    # Amazon's match type is a keyword's, not a publisher.
    AdFactFactory(organization=org, grain="target", target_id="K1", match_type="EXACT", cost=Decimal("1.00"))

    refresh(org)

    rows = AdRollupDaily.unscoped_objects.filter(organization=org).order_by("channel", "publisher")
    assert list(rows.values_list("channel", "publisher", "marketplace", "currency", "cost", "clicks", "orders")) == [
        ("amazon_ads", "", "US", "USD", Decimal("1.0000"), 50, 5),
        ("meta", "facebook", "DE", "EUR", Decimal("8.0000"), 8, 1),
        ("meta", "instagram", "DE", "EUR", Decimal("2.0000"), 2, 0),
    ]


def test_markets_get_one_code_across_platforms(org):
    ebay = {"organization": org, "channel": "ebay_pl", "account_id": "seller"}
    AdFactFactory(**ebay, campaign_id="E1", marketplace="EBAY_GB", currency="GBP")
    AdFactFactory(**ebay, campaign_id="E2", marketplace="EBAY_US")
    AdFactFactory(organization=org, channel="google_ads", account_id="G", campaign_id="G1", marketplace="GB")
    AdFactFactory(organization=org, channel="amazon_ads", campaign_id="A1", marketplace="UK", currency="GBP")
    StoreSalesFactory(organization=org, platform="ebay", marketplace="EBAY_GB", currency="GBP")
    StoreSalesFactory(organization=org, platform="shopify", marketplace="lamps.myshopify.com")

    refresh(org)

    ads = AdRollupDaily.unscoped_objects.filter(organization=org).order_by("campaign_id")
    assert list(ads.values_list("campaign_id", "marketplace")) == [
        ("A1", "UK"),
        ("E1", "UK"),
        ("E2", "US"),
        ("G1", "UK"),
    ]
    sales = SalesRollupDaily.unscoped_objects.filter(organization=org).order_by("platform")
    assert list(sales.values_list("platform", "marketplace")) == [("ebay", "UK"), ("shopify", "lamps.myshopify.com")]


def test_product_ad_rollup_sums_product_grain_rows_with_a_product(org):
    base = {"organization": org, "grain": "product", "campaign_id": "C1"}
    AdFactFactory(**base, ad_group_id="G1", product_id="SKU-1", cost=Decimal("4.00"), clicks=4, sales=Decimal("30"))
    AdFactFactory(**base, ad_group_id="G2", product_id="SKU-1", cost=Decimal("6.00"), clicks=6, sales=Decimal("50"))
    AdFactFactory(**base, ad_group_id="G1", product_id="SKU-2", cost=Decimal("1.00"), clicks=1, sales=Decimal("0"))
    AdFactFactory(**base, ad_group_id="G3", product_id="", cost=Decimal("9.00"))
    AdFactFactory(organization=org, campaign_id="C1", cost=Decimal("20.00"))  # campaign grain: not a product row

    refresh(org)

    rows = ProductAdRollupDaily.unscoped_objects.filter(organization=org).order_by("product_id")
    fields = ("date", "channel", "marketplace", "account_id", "product_id", "currency", "impressions", "clicks")
    assert list(rows.values_list(*fields, "cost", "orders", "units", "sales")) == [
        (D1, "amazon_ads", "US", "A1", "SKU-1", "USD", 2000, 10, Decimal("10.0000"), 10, 10, Decimal("80.0000")),
        (D1, "amazon_ads", "US", "A1", "SKU-2", "USD", 1000, 1, Decimal("1.0000"), 5, 5, Decimal("0.0000")),
    ]


def test_sales_rollup_takes_all_sku_rows_and_adds_refunds_by_order_day(org):
    StoreSalesFactory(organization=org)  # D1: 20 orders, 24 units, 400.00
    StoreSalesFactory(organization=org, sku="SKU-1", orders=3, total_sales=Decimal("60"))  # per SKU: not summed
    StoreSalesFactory(organization=org, platform="shopee", marketplace="SG", currency="SGD", total_sales=Decimal("80"))
    order(org, "o1", D1, refunded="15.00", platform="amazon_sp", marketplace="US")
    order(org, "o2", D1, refunded="5.50", platform="amazon_sp", marketplace="US")
    order(org, "o3", D1, refunded="0", platform="amazon_sp", marketplace="US")
    order(org, "o4", D2, refunded="7.50", platform="amazon_sp", marketplace="US")  # refund, no sales row that day

    refresh(org)

    rows = SalesRollupDaily.unscoped_objects.filter(organization=org).order_by("date", "platform")
    fields = ("date", "platform", "marketplace", "currency", "orders", "units", "total_sales", "refunds")
    assert list(rows.values_list(*fields)) == [
        (D1, "amazon_sp", "US", "USD", 20, 24, Decimal("400.0000"), Decimal("20.5000")),
        (D1, "shopee", "SG", "SGD", 20, 24, Decimal("80.0000"), Decimal("0.0000")),
        (D2, "amazon_sp", "US", "USD", 0, 0, Decimal("0.0000"), Decimal("7.5000")),
    ]


def test_product_sales_rollup_counts_orders_once_and_falls_back_to_the_asin(org):
    order(org, "o1", D1, lines=[("SKU-1", "", 2, "40.00", "Linen lamp"), ("SKU-1", "", 1, "20.00", "Linen lamp")])
    order(org, "o2", D1, lines=[("SKU-1", "", 1, "18.00", "Linen lamp (new)"), ("", "B00ASIN", 3, "33.00", "Bulb")])
    order(org, "o3", D1, lines=[("", "", 5, "99.00", "Gift wrap")])  # neither SKU nor ASIN: skipped
    order(org, "o4", D2, lines=[("SKU-2", "B0SKU2", 1, "12.00", "Shade")])

    refresh(org)

    rows = ProductSalesRollupDaily.unscoped_objects.filter(organization=org).order_by("date", "sku")
    fields = ("date", "platform", "marketplace", "sku", "title", "currency", "orders", "units", "sales")
    assert list(rows.values_list(*fields)) == [
        (D1, "shopify", "lamps.example", "B00ASIN", "Bulb", "USD", 1, 3, Decimal("33.0000")),
        (D1, "shopify", "lamps.example", "SKU-1", "Linen lamp (new)", "USD", 2, 4, Decimal("78.0000")),
        (D2, "shopify", "lamps.example", "SKU-2", "Shade", "USD", 1, 1, Decimal("12.0000")),
    ]


def test_product_ad_rows_named_by_asin_join_store_sales_under_the_sku(org):
    order(org, "o1", D1, lines=[("SKU-2", "B0SKU2", 1, "12.00", "Shade")])
    other = OrganizationFactory()
    order(other, "x1", D1, lines=[("THEIRS", "B0ONLY", 1, "5.00", "Other shop")])
    base = {"organization": org, "grain": "product", "campaign_id": "C1"}
    AdFactFactory(**base, product_id="B0SKU2", cost=Decimal("3.00"))  # a vendor-style row: ASIN only
    AdFactFactory(**base, product_id="SKU-2", cost=Decimal("1.00"), ad_group_id="G2")
    AdFactFactory(**base, product_id="B0ONLY", cost=Decimal("2.00"), ad_group_id="G3")  # another shop's ASIN

    refresh(org)

    rows = ProductAdRollupDaily.unscoped_objects.filter(organization=org).order_by("product_id")
    assert list(rows.values_list("product_id", "cost")) == [
        ("B0ONLY", Decimal("2.0000")),  # no line of this organization names it: kept as it is
        ("SKU-2", Decimal("4.0000")),
    ]


def test_refresh_replaces_the_rows_of_its_days_and_only_of_its_organization(org):
    other = OrganizationFactory()
    AdRollupFactory(organization=org, campaign_id="GONE")  # facts deleted since: the refresh drops it
    AdRollupFactory(organization=org, campaign_id="KEEP", date=D3 + timedelta(days=1))  # outside the range
    AdRollupFactory(organization=other, campaign_id="OTHER")
    AdFactFactory(organization=org, campaign_id="C1", cost=Decimal("2.00"))
    AdFactFactory(organization=other, campaign_id="C1", cost=Decimal("3.00"))

    refresh(org)

    assert sorted(AdRollupDaily.unscoped_objects.filter(organization=org).values_list("campaign_id", "cost")) == [
        ("C1", Decimal("2.0000")),
        ("KEEP", Decimal("25.0000")),
    ]
    assert list(AdRollupDaily.unscoped_objects.filter(organization=other).values_list("campaign_id")) == [("OTHER",)]


# --- idempotency, resuming, fill state ----------------------------------------------------------------------


def seed_everything(org):
    AdFactFactory(organization=org, campaign_id="C1")
    AdFactFactory(organization=org, campaign_id="C1", date=D2, cost=Decimal("7.77"))
    AdFactFactory(organization=org, campaign_id="C1", grain="product", product_id="SKU-1", date=D3)
    AdFactFactory(organization=org, channel="meta", account_id="act_1", campaign_id="M1", match_type="instagram")
    StoreSalesFactory(organization=org)
    StoreSalesFactory(organization=org, date=D3, total_sales=Decimal("12.34"))
    order(org, "o1", D2, refunded="3.00", lines=[("SKU-1", "", 1, "10.00", "Lamp")])


def test_refreshing_twice_gives_the_same_rows(org):
    seed_everything(org)

    refresh(org)
    first = all_rows(org)
    refresh(org)

    assert all_rows(org) == first
    assert {name: len(rows) for name, rows in first.items()} == {
        "AdRollupDaily": 4,  # C1 on D1, D2 and (from its product rows) D3; Meta's M1 on D1
        "ProductAdRollupDaily": 1,
        "SalesRollupDaily": 3,
        "ProductSalesRollupDaily": 1,
    }


def test_chunks_give_the_same_rows_as_one_pass(org):
    seed_everything(org)
    refresh(org, chunk_days=31)
    whole = all_rows(org)

    refresh(org, chunk_days=1)

    assert all_rows(org) == whole


def test_an_interrupted_refresh_resumes_where_it_stopped(org):
    seed_everything(org)
    rollups.rollups_mark_dirty(organization=org, start=D1, end=D3)

    # One chunk, then the worker "dies": the rest of the range stays dirty.
    assert rollups.rollups_refresh_step(organization=org, chunk_days=1) == (D1, D1)

    fill = RollupFill.unscoped_objects.get(organization=org)
    assert (fill.dirty_from, fill.dirty_to, fill.version) == (D2, D3, 1)
    assert fill.refreshed_at is not None
    assert set(AdRollupDaily.unscoped_objects.filter(organization=org).values_list("date", flat=True)) == {D1}

    assert rollups.rollups_refresh(organization=org, chunk_days=1) == 2  # a re-run picks up D2 and D3

    fill.refresh_from_db()
    assert (fill.dirty_from, fill.dirty_to, fill.version) == (None, None, 3)
    assert set(AdRollupDaily.unscoped_objects.filter(organization=org).values_list("date", flat=True)) == {D1, D2, D3}
    assert rollups.rollups_refresh_step(organization=org) is None  # nothing left
    assert rollups.rollups_refresh(organization=org) == 0


def test_mark_dirty_merges_ranges_into_one_span(org):
    rollups.rollups_mark_dirty(organization=org, start=date(2026, 3, 5), end=date(2026, 3, 7))
    fill = RollupFill.unscoped_objects.get(organization=org)
    assert (fill.dirty_from, fill.dirty_to, fill.version) == (date(2026, 3, 5), date(2026, 3, 7), 0)

    rollups.rollups_mark_dirty(organization=org, start=date(2026, 3, 1), end=date(2026, 3, 2))
    fill.refresh_from_db()
    assert (fill.dirty_from, fill.dirty_to) == (date(2026, 3, 1), date(2026, 3, 7))

    rollups.rollups_mark_dirty(organization=org, start=date(2026, 3, 12), end=date(2026, 3, 10))  # reversed
    fill.refresh_from_db()
    assert (fill.dirty_from, fill.dirty_to) == (date(2026, 3, 1), date(2026, 3, 12))

    rollups.rollups_mark_dirty(organization=org, start=date(2026, 3, 3), end=date(2026, 3, 4))  # inside
    fill.refresh_from_db()
    assert (fill.dirty_from, fill.dirty_to) == (date(2026, 3, 1), date(2026, 3, 12))

    rollups.rollups_refresh(organization=org)
    rollups.rollups_mark_dirty(organization=org, start=date(2026, 4, 1), end=date(2026, 4, 1))  # after a refresh
    fill.refresh_from_db()
    assert (fill.dirty_from, fill.dirty_to, fill.version) == (date(2026, 4, 1), date(2026, 4, 1), 1)
    assert RollupFill.unscoped_objects.filter(organization=org).count() == 1


# --- tasks, command, data sources -------------------------------------------------------------------------


def test_the_task_refreshes_and_the_sweep_queues_every_dirty_organization(org):
    other, clean = OrganizationFactory(), OrganizationFactory()
    AdFactFactory(organization=org, campaign_id="C1")
    AdFactFactory(organization=other, campaign_id="C9")
    RollupFill.unscoped_objects.create(organization=clean)
    rollups.rollups_mark_dirty(organization=org, start=D1, end=D1)
    rollups.rollups_mark_dirty(organization=other, start=D1, end=D2)

    assert refresh_dirty_rollups.delay().get() == 2  # eager: each refresh runs at once

    assert RollupFill.unscoped_objects.filter(dirty_from__isnull=False).count() == 0
    assert AdRollupDaily.unscoped_objects.get(organization=org).campaign_id == "C1"
    assert AdRollupDaily.unscoped_objects.get(organization=other).campaign_id == "C9"
    assert refresh_rollups.delay(organization_id=org.pk).get() == 0
    assert refresh_rollups.delay(organization_id=0).get() is None  # a deleted organization: nothing to do


def test_the_command_rebuilds_every_day_the_facts_cover(org, capsys):
    seed_everything(org)
    AdFactFactory(organization=org, campaign_id="C1", date=date(2026, 10, 1))

    call_command("refresh_rollups", "--org", org.slug)

    assert f"{org.slug}: 34 days refreshed (2026-10-01 to 2026-11-03)" in capsys.readouterr().out
    assert len(all_rows(org)["AdRollupDaily"]) == 5
    fill = RollupFill.unscoped_objects.get(organization=org)
    assert (fill.dirty_from, fill.dirty_to, fill.version) == (None, None, 2)


def test_removing_a_source_marks_its_days_dirty_and_forgets_it(org):
    DataSourceFactory(organization=org, source="api", source_ref=7)
    DataSourceFactory(organization=org, source="import", source_ref=7)
    order(org, "o1", D1)  # source_ref 7
    StoreSalesFactory(organization=org, date=D3, source_ref=7)
    AdFactFactory(organization=org, source="import", source_ref=7, date=date(2026, 12, 1))  # an import's id 7

    assert sources.data_source_remove(organization=org, source="api", source_ref=7) == (D1, D3)

    fill = RollupFill.unscoped_objects.get(organization=org)
    assert (fill.dirty_from, fill.dirty_to) == (D1, D3)
    assert list(DataSource.unscoped_objects.filter(organization=org).values_list("source", "source_ref")) == [
        ("import", 7)
    ]


def test_data_source_upsert_updates_the_row_and_only_moves_data_through_forward(org):
    values = {"organization": org, "source": "api", "source_ref": 3, "platform": "meta", "channel": "meta"}
    sources.data_source_upsert(**values, label="Old name", restatement_days=28, data_through=D3)
    sources.data_source_upsert(**values, label="New name", restatement_days=7, data_through=D1)

    row = DataSource.unscoped_objects.get(organization=org)
    assert (row.label, row.restatement_days, row.data_through) == ("New name", 7, D3)
