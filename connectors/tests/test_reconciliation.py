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


def test_runs_without_totals_give_no_checks(org):
    conn = ConnectionFactory(organization=org)  # Amazon Ads records no platform totals
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
