"""The reconciliation panel: the platform's own totals of each sync window beside ours, and the causes."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from accounts.tests.factories import member
from analytics.models import StoreOrder
from analytics.tests.factories import AdFactFactory
from connectors.models import RunStatus
from connectors.reconciliation import connection_reconciliation
from connectors.tests.factories import ConnectionFactory, SyncRunFactory

pytestmark = pytest.mark.django_db

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
LATER = date(2026, 12, 31)  # long after the windows: nothing is still inside a restatement window


def lines(check):
    return [(line.label, line.platform, line.ours, line.difference) for line in check.lines]


def google(org, **overrides):
    values = {"organization": org, "platform": "google_ads", "currency": "USD", "time_zone": "America/New_York"}
    return ConnectionFactory(**{**values, "lookback_days": 30, **overrides})


def ad_facts(org, connection, **overrides):
    common = {"organization": org, "source_ref": connection.pk, "channel": connection.platform, "date": D1}
    common |= {"attribution_window": "30d click", **overrides}
    AdFactFactory(**common, campaign_id="C1", impressions=1000, clicks=20, cost=Decimal("15.00"))
    AdFactFactory(**common, campaign_id="C2", impressions=2000, clicks=40, cost=Decimal("25.00"), sales=Decimal("200"))
    AdFactFactory(**common, campaign_id="C2", grain="search_term", search_term="lamp", cost=Decimal("25.00"))


def google_totals(**overrides):
    totals = {
        "start": D1.isoformat(),
        "end": D2.isoformat(),
        "currency": "USD",
        "impressions": 3000,
        "clicks": 60,
        "cost": "40.00",
        "conversions": "10.0",
        "sales": "300.00",
        "attribution_window": "30d click",
    }
    return {"customer": {**totals, **overrides}}


def test_matching_totals_have_no_hints(org):
    conn = google(org)
    ad_facts(org, conn)
    SyncRunFactory(
        connection=conn, status=RunStatus.SUCCEEDED, window_start=D1, window_end=D2, platform_totals=google_totals()
    )

    [check] = connection_reconciliation(organization=org, connection=conn, today=LATER)

    assert (check.label, check.start, check.end, check.currency, check.matches) == (
        "Account totals",
        D1,
        D2,
        "USD",
        True,
    )
    assert lines(check) == [
        ("Impressions", 3000, 3000, 0),
        ("Clicks", 60, 60, 0),
        ("Spend", Decimal("40.00"), Decimal("40.0000"), 0),
        ("Conversions", 10, 10, 0),
        ("Ad sales", Decimal("300.00"), Decimal("300.0000"), 0),
    ]
    assert check.hints == []


def test_fractional_conversions_are_explained(org):
    conn = google(org)
    ad_facts(org, conn)
    SyncRunFactory(
        connection=conn,
        status=RunStatus.SUCCEEDED,
        window_start=D1,
        window_end=D2,
        platform_totals=google_totals(conversions="10.5"),
    )

    [check] = connection_reconciliation(organization=org, connection=conn, today=LATER)

    assert check.matches is False
    assert lines(check)[3] == ("Conversions", Decimal("10.5"), 10, Decimal("-0.5"))
    assert check.hints == [
        "Attribution: the platform counts fractional conversions (10.5); we keep whole orders per day."
    ]


def test_currency_time_zone_attribution_and_late_restatement_are_named(org):
    conn = ConnectionFactory(
        organization=org, platform="ebay", currency="GBP", time_zone="Europe/London", lookback_days=3
    )
    ad_facts(org, conn, currency="GBP", attribution_window="30d")
    totals = {
        "account_performance_report": {
            "start": D1.isoformat(),
            "end": D2.isoformat(),
            "days": 2,
            "currency": "USD",
            "impressions": 3000,
            "clicks": 61,
            "orders": 10,
            "cost": "40.00",
            "sales": "300.00",
            "attribution_window": "14d",
            "day_time_zone": "MST",
        }
    }
    older = SyncRunFactory(
        connection=conn, status=RunStatus.SUCCEEDED, window_start=D1, window_end=D2, platform_totals=totals
    )
    newer = SyncRunFactory(
        connection=conn, status=RunStatus.SUCCEEDED, window_start=D2, window_end=D2 + timedelta(days=1)
    )
    SyncRunFactory(connection=conn, status=RunStatus.FAILED, window_start=D1, window_end=D2, platform_totals=totals)

    [check] = connection_reconciliation(organization=org, connection=conn, today=D2 + timedelta(days=1))

    assert check.run == older and newer.created_at > older.created_at
    assert lines(check) == [
        ("Impressions", 3000, 3000, 0),
        ("Clicks", 61, 60, -1),
        ("Spend", Decimal("40.00"), Decimal("40.0000"), None),  # USD beside GBP: no difference without a rate
        ("Orders", 10, 10, 0),
        ("Ad sales", Decimal("300.00"), Decimal("300.0000"), None),
    ]
    assert [(line.currency, line.our_currency) for line in check.lines if line.money] == [("USD", "GBP")] * 2
    assert check.hints == [
        "Currency: the platform totals are in USD, our rows are in GBP.",
        "Time zone: the platform's days end at midnight MST, the account's days at midnight Europe/London.",
        "Attribution window: the platform totals use 14d, our rows 30d.",
        "Late restatement: days from 2026-11-01 are inside the 3-day restatement window, so the platform may still "
        "change them.",
        "Late restatement: a later sync re-read some of these days, so ours hold the platform's corrections made "
        "after these totals were taken.",
    ]


def test_order_counts_compare_with_the_orders_placed_in_the_window(org):
    conn = ConnectionFactory(
        organization=org, platform="shopee", marketplace="SG", currency="SGD", time_zone="Asia/Singapore"
    )
    for number, (day, refunded) in enumerate([(D1, "0"), (D2, "12.5"), (D2 + timedelta(days=1), "0")]):
        StoreOrder.unscoped_objects.create(
            organization=org,
            platform="shopee",
            marketplace="SG",
            external_id=f"o{number}",
            ordered_at="2026-11-01T00:00:00Z",
            date=day,
            currency="SGD",
            total=Decimal("30"),
            refunded=Decimal(refunded),
            source_ref=conn.pk,
        )
    totals = {"orders": {"start": D1.isoformat(), "end": D2.isoformat(), "time_zone": "Asia/Singapore", "orders": 3}}
    SyncRunFactory(connection=conn, status=RunStatus.SUCCEEDED, window_start=D1, window_end=D2, platform_totals=totals)

    [check] = connection_reconciliation(organization=org, connection=conn, today=LATER)

    assert (check.label, check.currency) == ("Order count", "SGD")
    assert lines(check) == [("Orders", 3, 2, -1)]
    assert check.hints == [
        "Time basis: the platform counts orders updated in these days (in Asia/Singapore), we count orders placed "
        "in them; an older order that changed is in theirs, not ours.",
        "Refunds: our orders of these days include 12.50 SGD refunded; the platform may count refunded or "
        "cancelled orders differently.",
    ]


def store_orders(org, conn, rows):
    """Our orders: (day, status, total, refunded) each."""
    for number, (day, status, total, refunded) in enumerate(rows):
        StoreOrder.unscoped_objects.create(
            organization=org,
            platform=conn.platform,
            marketplace=conn.marketplace,
            external_id=f"o{number}",
            ordered_at="2026-11-01T12:00:00Z",
            date=day,
            status=status,
            currency=conn.currency,
            total=Decimal(total),
            refunded=Decimal(refunded),
            source_ref=conn.pk,
        )


def amazon_metrics(**overrides):
    totals = {
        "start": D1.isoformat(),
        "end": D2.isoformat(),
        "marketplace": "US",
        "time_zone": "America/Los_Angeles",
        "time_field": "PurchaseDate",
        "orders": 3,
        "units": 4,
        "sales": "105.00",
        "currency": "USD",
    }
    return {"orders": {**totals, **overrides}}


@pytest.mark.parametrize(
    ("metrics", "want_lines", "want_hints"),
    [
        (amazon_metrics(), [("Orders", 3, 3, 0), ("Sales", Decimal("105.00"), Decimal("105.00"), 0)], []),
        (
            amazon_metrics(orders=2, sales="75.00"),  # Amazon left the cancelled order out
            [("Orders", 2, 3, 1), ("Sales", Decimal("75.00"), Decimal("105.00"), Decimal("30.00"))],
            [
                "Time basis: we hold 1 more order placed in these days (in America/Los_Angeles) than the platform "
                "counts now; an order deleted on the platform, or one it no longer counts, stays in ours.",
                "Order status: Amazon's order metrics count pending orders at their price and may leave cancelled "
                "ones out; we keep every order we read, cancelled ones included, and a pending order has no amount "
                "until Amazon prices it.",
                "Sales basis: Amazon's sales are ordered product sales (item prices); ours are order totals, which "
                "can also include shipping, gift wrap and tax.",
            ],
        ),
        (
            amazon_metrics(sales="98.00", currency="EUR"),
            [("Orders", 3, 3, 0), ("Sales", Decimal("98.00"), Decimal("105.00"), None)],
            [
                "Currency: the platform totals are in EUR, our rows are in USD.",
                "Order status: Amazon's order metrics count pending orders at their price and may leave cancelled "
                "ones out; we keep every order we read, cancelled ones included, and a pending order has no amount "
                "until Amazon prices it.",
                "Sales basis: Amazon's sales are ordered product sales (item prices); ours are order totals, which "
                "can also include shipping, gift wrap and tax.",
            ],
        ),
    ],
)
def test_amazon_order_metrics_compare_orders_and_sales_by_purchase_day(org, metrics, want_lines, want_hints):
    conn = ConnectionFactory(organization=org, platform="amazon_sp", lookback_days=7)
    store_orders(
        org,
        conn,
        [(D1, "Shipped", "30.00", "0"), (D1, "Canceled", "30.00", "0"), (D2, "Unshipped", "45.00", "0")]
        + [(D2 + timedelta(days=1), "Shipped", "99.00", "0")],  # after the window
    )
    SyncRunFactory(connection=conn, status=RunStatus.SUCCEEDED, window_start=D1, window_end=D2, platform_totals=metrics)

    [check] = connection_reconciliation(organization=org, connection=conn, today=LATER)

    currency = metrics["orders"]["currency"]
    assert (check.label, check.currency, check.matches) == ("Order count", currency, not want_hints)
    assert lines(check) == want_lines
    assert check.hints == want_hints


def test_shopify_counts_name_the_orders_one_side_lacks_and_what_the_count_includes(org):
    conn = ConnectionFactory(
        organization=org,
        platform="shopify",
        marketplace="homegoods-demo.myshopify.com",
        time_zone="America/New_York",
        lookback_days=3,
    )
    store_orders(org, conn, [(D1, "paid", "40.00", "0"), (D2, "partially_refunded", "60.00", "12.50")])
    counted = {
        "start": D1.isoformat(),
        "end": D2.isoformat(),
        "time_zone": "America/New_York",
        "time_field": "created_at",
        "orders": 5,
        "precision": "AT_LEAST",
        "cancelled_included": True,
        "test_included": True,
    }
    older = SyncRunFactory(
        connection=conn, status=RunStatus.SUCCEEDED, window_start=D1, window_end=D2, platform_totals={"orders": counted}
    )
    without = {**counted, "orders": 1, "precision": "EXACT", "cancelled_included": False, "test_included": False}
    newer = SyncRunFactory(
        connection=conn, status=RunStatus.SUCCEEDED, window_start=D1, window_end=D2, platform_totals={"orders": without}
    )

    new_check, old_check = connection_reconciliation(organization=org, connection=conn, today=LATER)

    refunds = (
        "Refunds: our orders of these days include 12.50 USD refunded; the platform may count refunded or cancelled "
        "orders differently."
    )
    later = (
        "Late restatement: a later sync re-read some of these days, so ours hold the platform's corrections made "
        "after these totals were taken."
    )
    assert (old_check.run, lines(old_check)) == (older, [("Orders", 5, 2, -3)])
    assert old_check.hints == [
        "Time basis: the platform counts 3 more orders placed in these days (in America/New_York) than we hold; an "
        "order placed while the sync ran is read by the next sync.",
        "Cancelled and test orders are in both counts, so they are not the cause (the platform's own sales "
        "reports may leave them out).",
        "Count capped: the platform stopped counting at 5 orders; the real number is at least that.",
        refunds,
        later,
    ]
    assert (new_check.run, lines(new_check)) == (newer, [("Orders", 1, 2, 1)])
    assert new_check.hints == [
        "Time basis: we hold 1 more order placed in these days (in America/New_York) than the platform counts now; "
        "an order deleted on the platform, or one it no longer counts, stays in ours.",
        "Cancelled orders: the platform's count leaves them out; ours keep them.",
        "Test orders: the platform's count leaves them out; ours keep them.",
        refunds,
    ]


def test_conversions_differing_alone_are_named_late_conversions(org):
    conn = ConnectionFactory(organization=org)  # Amazon Ads, 14 days of restatement
    ad_facts(org, conn, attribution_window="7d")
    totals = {
        "start": D1.isoformat(),
        "end": D2.isoformat(),
        "currency": "USD",
        "time_zone": "America/Los_Angeles",
        "impressions": 3000,
        "clicks": 60,
        "cost": "40.00",
        "orders": 12,
        "sales": "330.00",
        "attribution_window": "7d",
    }
    SyncRunFactory(
        connection=conn, status=RunStatus.SUCCEEDED, window_start=D1, window_end=D2, platform_totals={"ads": totals}
    )

    [check] = connection_reconciliation(organization=org, connection=conn, today=LATER)

    assert (check.label, check.matches) == ("Ads totals", False)
    assert [line.difference for line in check.lines] == [0, 0, 0, -2, Decimal("-30.00")]
    assert check.hints == [
        "Late conversions: impressions, clicks and spend match and only conversions differ; the platform credits an "
        "order to the day of the ad click and keeps adding late ones within its 7d attribution window."
    ]


def test_runs_without_totals_give_no_checks(org):
    conn = ConnectionFactory(organization=org)
    SyncRunFactory(connection=conn, status=RunStatus.SUCCEEDED)

    assert connection_reconciliation(organization=org, connection=conn, today=LATER) == []


# --- the page -------------------------------------------------------------------------------------------


def detail_url(org, conn):
    return reverse("connection_detail", kwargs={"org_slug": org.slug, "connection_id": conn.pk})


def test_the_connection_page_shows_the_panel_with_a_query_count_that_does_not_grow(client, org):
    client.force_login(member(org, Role.VIEWER))
    conn = google(org)
    ad_facts(org, conn)
    SyncRunFactory(
        connection=conn,
        status=RunStatus.SUCCEEDED,
        window_start=D1,
        window_end=D2,
        platform_totals=google_totals(conversions="10.5"),
    )
    client.get(detail_url(org, conn))
    with CaptureQueriesContext(db) as one:
        response = client.get(detail_url(org, conn))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="reconciliation"' in html
    assert "Account totals" in html and "fractional conversions (10.5)" in html
    assert "$40.00" in html and "-0.50" in html

    for offset in range(1, 8):
        SyncRunFactory(
            connection=conn,
            status=RunStatus.SUCCEEDED,
            window_start=D1 + timedelta(days=offset),
            window_end=D2 + timedelta(days=offset),
            platform_totals=google_totals(
                start=(D1 + timedelta(days=offset)).isoformat(), end=(D2 + timedelta(days=offset)).isoformat()
            ),
        )
    with CaptureQueriesContext(db) as many:
        html = client.get(detail_url(org, conn)).content.decode()
    assert len(many.captured_queries) == len(one.captured_queries)
    assert html.count("Account totals") == 5  # the latest five succeeded runs


def test_another_organizations_connection_is_a_404(client, org, other_org):
    client.force_login(member(org, Role.OWNER))
    theirs = google(other_org)

    assert client.get(detail_url(other_org, theirs)).status_code == 404
    assert (
        client.get(reverse("connection_detail", kwargs={"org_slug": org.slug, "connection_id": theirs.pk})).status_code
        == 404
    )
