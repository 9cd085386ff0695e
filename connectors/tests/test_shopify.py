"""Shopify end to end against the fake Shopify (real HTTP on a local port, real PostgreSQL, Celery eager).

Time is virtual: every wait of ours (cost pacing, THROTTLED, retry backoff, bulk polling) goes to
``VirtualClock.sleep`` through ``settings.PLATFORMS["shopify"]["sleep"]``, and the fake's leaky bucket
refills by the same clock, so a wait of ours is exactly the refill the fake sees. Nothing really sleeps
except the one read timeout the timeout test needs.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from accounts.scoping import organization_scope
from analytics.models import StoreOrder, StoreOrderLine, StoreSalesDaily
from config.testing import serve_wsgi
from connectors import services
from connectors.backends import get_backend
from connectors.backends.base import DiscoveredAccount
from connectors.backends.shopify.client import ShopifyInstallError
from connectors.backends.shopify.fake import ShopifyFake
from connectors.backends.shopify.mapping import marketplace_for, order_fact
from connectors.errors import PlatformError, TransientError
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.reconciliation import connection_reconciliation
from connectors.tasks import sweep_sync_runs

pytestmark = pytest.mark.django_db

SHOP = "homegoods-demo.myshopify.com"
NEW_YORK = ZoneInfo("America/New_York")
PAGE = 22  # orders a page: the most whose requested cost (2 + n x 44, +1 for the count) stays under 1000
REVOKED = (
    "Shopify no longer accepts our access to homegoods-demo.myshopify.com: the app was uninstalled or its access "
    "revoked. Reconnect the shop (install the app again) to continue."
)


class WorkerKilled(BaseException):  # noqa: N818 - it plays SIGKILL: no ``except Exception`` sees it
    pass


class VirtualClock:
    def __init__(self):
        self.now = 1_000.0
        self.sleeps: list[float] = []
        self.kill_when = None  # a callable: when it says so, the next wait kills the worker

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self.kill_when is not None and self.kill_when():
            raise WorkerKilled
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def shopify(settings, clock):
    """The fake Shopify on a random port (100 days of the demo shop, its "now" frozen), our settings at it."""
    fake = ShopifyFake(client_secret="test-shopify-secret", clock=clock.time, history_days=100)
    fake.now = timezone.now().replace(microsecond=0)
    with serve_wsgi(fake) as url:
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "shopify": {
                "client_id": fake.client_id,
                "client_secret": fake.client_secret,
                "api_version": "2025-07",
                "shop_url": f"{url}/{{shop}}",
                "sleep": clock.sleep,
                "timeout": 5,
            },
        }
        fake.url = url
        yield fake


def connect(organization, fake, **overrides) -> Connection:
    """A connection as the connect flow makes it (token issued by the fake, account discovered)."""
    credentials = {"access_token": fake.issue_token(), "scope": "read_orders", "shop": SHOP}
    [account] = get_backend("shopify").discover_accounts(credentials=credentials)
    connection = services.connection_upsert(
        organization=organization, platform="shopify", account=account, credentials=credentials, user=None
    )
    if overrides:
        Connection.unscoped_objects.filter(pk=connection.pk).update(**overrides)
        connection.refresh_from_db()
    return connection


def request_and_run(connection, capture, kind=RunKind.SCHEDULED) -> SyncRun:
    with capture(execute=True):
        run, created = services.sync_run_request(connection=connection, kind=kind)
    assert created is True
    return SyncRun.unscoped_objects.get(pk=run.pk)


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    since = datetime.combine(start, time.min, tzinfo=NEW_YORK).astimezone(UTC)
    return since, datetime.combine(end + timedelta(days=1), time.min, tzinfo=NEW_YORK).astimezone(UTC)


def expected_orders(fake, run: SyncRun):
    since, until = bounds(run.window_start, run.window_end)
    return fake.visible_orders(since=since, until=until)


def orders_of(organization):
    return StoreOrder.unscoped_objects.filter(organization=organization)


def sales_rows(organization) -> list[tuple]:
    rows = StoreSalesDaily.unscoped_objects.filter(organization=organization).order_by("date")
    return list(
        rows.values_list("date", "orders", "units", "total_sales", "currency", "platform", "marketplace", "sku")
    )


def expected_sales(fake, start: date, end: date) -> list[tuple]:
    return [
        (day, orders, units, total, "USD", "shopify", SHOP, "")
        for day, (orders, units, total) in fake.daily_totals(start, end).items()
    ]


def assert_loaded_exactly(organization, fake, run: SyncRun) -> list:
    """The stored orders and lines are exactly the fake's orders updated in the run's window."""
    expected = expected_orders(fake, run)
    stored = orders_of(organization)
    assert sorted(stored.values_list("external_id", flat=True)) == sorted(o.gid for o, _ in expected)
    sums = stored.aggregate(total=Sum("total"), refunded=Sum("refunded"), units=Sum("units"))
    assert sums == {
        "total": sum((o.total for o, _ in expected), Decimal("0")),
        "refunded": sum((s.refunded for _, s in expected), Decimal("0")),
        "units": sum(o.units for o, _ in expected),
    }
    assert StoreOrderLine.unscoped_objects.filter(organization=organization).count() == sum(
        len(o.lines) for o, _ in expected
    )
    return expected


def orders_requests(fake) -> list[dict]:
    return [r for r in fake.requests if r["kind"] == "orders"]


# --- install ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["homegoods-demo", "HomeGoods-Demo.myshopify.com", "https://homegoods-demo.myshopify.com/"]
)
def test_the_install_url_is_the_shops_own_authorize_page(shopify, typed):
    url = get_backend("shopify").authorization_url(
        state="st-1", redirect_uri="https://app.test/connections/callback/shopify/", shop=typed
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{shopify.url}/homegoods-demo/admin/oauth/authorize"
    assert dict(parse_qsl(parts.query)) == {
        "client_id": shopify.client_id,
        "scope": "read_orders",
        "redirect_uri": "https://app.test/connections/callback/shopify/",
        "state": "st-1",
    }


@pytest.mark.parametrize(
    "typed", ["", "evil.com", "homegoods-demo.myshopify.com.evil.com", "a/b.myshopify.com", "-x.myshopify.com"]
)
def test_an_address_that_is_not_a_myshopify_domain_is_refused(shopify, typed):
    with pytest.raises(ShopifyInstallError) as caught:
        get_backend("shopify").authorization_url(state="s", redirect_uri="https://app.test/cb/", shop=typed)
    assert caught.value.user_message == ("Enter your shop's myshopify.com address, for example my-store.myshopify.com.")


def install(fake, *, decision="install") -> dict:
    """Open the consent page and press a button; returns the query of the redirect back to us."""
    url = get_backend("shopify").authorization_url(
        state="st-42", redirect_uri="https://app.test/connections/callback/shopify/", shop="homegoods-demo"
    )
    page = httpx.get(url)
    assert page.status_code == 200
    assert "Install app on HomeGoods Demo" in page.text and "read_orders" in page.text
    form = {**dict(parse_qsl(urlsplit(url).query)), "decision": decision}
    answer = httpx.post(url, data=form)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://app.test/connections/callback/shopify/"
    return dict(parse_qsl(location.query))


def test_install_verifies_the_signature_exchanges_the_code_and_discovers_the_shop(shopify):
    backend = get_backend("shopify")
    params = install(shopify)
    assert sorted(params) == ["code", "hmac", "host", "shop", "state", "timestamp"]
    assert (params["shop"], params["state"]) == (SHOP, "st-42")

    credentials = backend.exchange_code(
        code=params["code"], redirect_uri="https://app.test/connections/callback/shopify/", params=params
    )

    assert credentials["access_token"].startswith("shpat_")
    assert (credentials["scope"], credentials["shop"]) == ("read_orders", SHOP)
    assert shopify.tokens == {credentials["access_token"]: "homegoods-demo"}
    assert backend.discover_accounts(credentials=credentials) == [
        DiscoveredAccount(
            external_id=SHOP,
            name="HomeGoods Demo",
            currency="USD",
            time_zone="America/New_York",
            marketplace=SHOP,
            config={"shop": SHOP},
        )
    ]
    with pytest.raises(ShopifyInstallError) as caught:  # a code works once
        backend.exchange_code(code=params["code"], redirect_uri="https://app.test/cb/", params=params)
    assert "did not accept the install code" in caught.value.user_message


@pytest.mark.parametrize(
    "tamper",
    [
        {"hmac": "0" * 64},
        {"state": "someone-elses-state"},
        {"shop": "other-shop.myshopify.com"},
        {"timestamp": "1"},
        {"extra": "added"},
    ],
)
def test_a_tampered_callback_is_refused_before_the_code_is_used(shopify, tamper):
    params = install(shopify)
    with pytest.raises(ShopifyInstallError) as caught:
        get_backend("shopify").exchange_code(
            code=params["code"], redirect_uri="https://app.test/cb/", params={**params, **tamper}
        )
    assert caught.value.user_message == (
        "The link back from Shopify was not signed by Shopify (signature mismatch). Start the connection again."
    )
    assert shopify.tokens == {}  # the code was never sent to Shopify
    assert params["code"] in shopify.codes


def test_a_callback_for_another_shop_than_the_one_typed_is_refused(shopify):
    params = install(shopify)
    with pytest.raises(ShopifyInstallError) as caught:
        get_backend("shopify").exchange_code(
            code=params["code"], redirect_uri="https://app.test/cb/", params=params, shop="my-other-store"
        )
    assert caught.value.user_message == (
        "Shopify answered for a different shop than the one you entered. Start the connection again."
    )
    assert shopify.tokens == {}


def test_cancel_on_the_consent_page_sends_access_denied(shopify):
    assert install(shopify, decision="cancel") == {"error": "access_denied", "state": "st-42"}
    assert shopify.codes == {}


def test_connecting_through_our_pages_loads_the_first_90_days(
    shopify, org, owner_client, django_capture_on_commit_callbacks
):
    start = owner_client.post(
        reverse("connect_start", kwargs={"org_slug": org.slug, "platform": "shopify"}), {"shop": "homegoods-demo"}
    )
    assert start.status_code == 302
    authorize = start["Location"]
    assert authorize.startswith(f"{shopify.url}/homegoods-demo/admin/oauth/authorize?")
    answer = httpx.post(authorize, data={**dict(parse_qsl(urlsplit(authorize).query)), "decision": "install"})
    back = urlsplit(answer.headers["location"])
    assert back.path == reverse("connect_callback", kwargs={"platform": "shopify"})

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.get(f"{back.path}?{back.query}")

    assert response.status_code == 302
    connection = Connection.unscoped_objects.get(organization=org)
    assert (connection.platform, connection.external_id, connection.name) == ("shopify", SHOP, "HomeGoods Demo")
    assert (connection.currency, connection.time_zone, connection.marketplace) == ("USD", "America/New_York", SHOP)
    run = SyncRun.unscoped_objects.get(connection=connection)
    assert (run.kind, run.status, run.window_end - run.window_start) == (
        RunKind.BACKFILL,
        RunStatus.SUCCEEDED,
        timedelta(days=90),
    )
    assert [r["kind"] for r in shopify.requests][:2] == ["shop", "bulk_run"]  # 91 days: a bulk export
    assert_loaded_exactly(org, shopify, run)


# --- mapping ----------------------------------------------------------------------------------------------


def test_an_order_node_maps_to_an_order_fact_on_the_shops_day():
    node = {
        "id": "gid://shopify/Order/1",
        "createdAt": "2025-03-09T03:30:00Z",  # 22:30 on 8 March in New York
        "cancelledAt": "2025-03-09T05:00:00Z",
        "displayFinancialStatus": "REFUNDED",
        "currencyCode": "USD",
        "totalPriceSet": {"shopMoney": {"amount": "107.94", "currencyCode": "USD"}},
        "totalRefundedSet": {"shopMoney": {"amount": "107.94", "currencyCode": "USD"}},
        "customerJourneySummary": {
            "firstVisit": {
                "occurredAt": "2025-03-02T14:05:00Z",
                "landingPage": "https://shop.test/products/lamp?utm_source=google",
                "referrerUrl": "https://www.google.com/",
                "source": "google",
                "utmParameters": {
                    "source": "google", "medium": "cpc", "campaign": "brand", "content": None, "term": "lamp"
                },
            },
            "lastVisit": {
                "landingPage": "https://shop.test/", "referrerUrl": None, "source": "direct", "utmParameters": None
            },
        },
        "lines": [
            {"id": "gid://shopify/LineItem/7", "sku": "HG-LAMP-01", "title": "Lamp", "quantity": 2,
             "originalTotalSet": {"shopMoney": {"amount": "98.00", "currencyCode": "USD"}}},
            {"id": "gid://shopify/LineItem/8", "sku": None, "title": "Gift wrap", "quantity": 1,
             "originalTotalSet": {"shopMoney": {"amount": "3.00", "currencyCode": "USD"}}},
        ],
    }  # fmt: skip

    fact = order_fact(node, marketplace=SHOP, tz=NEW_YORK, source_ref=5)

    assert (fact.platform, fact.marketplace, fact.external_id, fact.source_ref) == ("shopify", SHOP, node["id"], 5)
    assert (fact.ordered_at, fact.date) == (datetime(2025, 3, 9, 3, 30, tzinfo=UTC), date(2025, 3, 8))
    assert (fact.status, fact.currency, fact.total, fact.refunded, fact.units) == (
        "cancelled",
        "USD",
        Decimal("107.94"),
        Decimal("107.94"),
        3,
    )
    assert (fact.landing_site, fact.referrer) == (
        "https://shop.test/products/lamp?utm_source=google",
        "https://www.google.com/",
    )
    assert fact.attribution == {
        "first_visit": {
            "source": "google",
            "occurred_at": "2025-03-02T14:05:00Z",
            "landing_page": "https://shop.test/products/lamp?utm_source=google",
            "referrer": "https://www.google.com/",
            "utm": {"source": "google", "medium": "cpc", "campaign": "brand", "content": "", "term": "lamp"},
        },
        "last_visit": {
            "source": "direct",
            "occurred_at": "",
            "landing_page": "https://shop.test/",
            "referrer": "",
            "utm": {"source": "", "medium": "", "campaign": "", "content": "", "term": ""},
        },
    }
    assert [(line.external_id, line.sku, line.quantity, line.amount) for line in fact.lines] == [
        ("gid://shopify/LineItem/7", "HG-LAMP-01", 2, Decimal("98.00")),
        ("gid://shopify/LineItem/8", "", 1, Decimal("3.00")),
    ]


def test_a_shop_domain_too_long_for_the_marketplace_column_stays_unique():
    long_a, long_b = "a" * 40 + "-one.myshopify.com", "a" * 40 + "-two.myshopify.com"
    assert marketplace_for(SHOP) == SHOP
    assert len(marketplace_for(long_a)) == 32
    assert marketplace_for(long_a) != marketplace_for(long_b)


# --- paged sync -------------------------------------------------------------------------------------------


def test_a_paged_sync_loads_the_windows_orders_and_daily_sales_exactly(
    shopify, org, clock, django_capture_on_commit_callbacks
):
    connection = connect(org, shopify, backfill_days=30)

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.kind, run.progress, run.message) == (RunStatus.SUCCEEDED, RunKind.BACKFILL, 100, "")
    expected = assert_loaded_exactly(org, shopify, run)
    pages = orders_requests(shopify)
    assert len(pages) == math.ceil(len(expected) / PAGE) > 20
    assert [(p["variables"]["first"], p["variables"]["lines"]) for p in pages] == [(PAGE, 10)] * len(pages)
    assert pages[0]["variables"]["after"] is None
    assert pages[0]["variables"]["query"] == (
        "updated_at:>='{}' AND updated_at:<'{}'".format(
            *(moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in bounds(run.window_start, run.window_end))
        )
    )
    # Paced by the bucket's own figures: it waited, and Shopify never had to throttle it.
    assert all(r["status"] == 200 and not r.get("throttled") for r in shopify.requests)
    assert sum(clock.sleeps) > 0

    # One order, field by field.
    order, state = next((o, s) for o, s in expected if o.journey and s.refunded and not s.cancelled_at)
    row = orders_of(org).get(external_id=order.gid)
    first = order.journey["firstVisit"]
    assert (row.date, row.status, row.currency, row.total, row.refunded, row.units) == (
        order.created_at.astimezone(NEW_YORK).date(),
        state.financial_status.lower(),
        "USD",
        order.total,
        state.refunded,
        order.units,
    )
    assert (row.ordered_at, row.landing_site, row.referrer) == (
        order.created_at,
        first["landingPage"],
        first["referrerUrl"] or "",
    )
    assert row.attribution["first_visit"]["utm"]["source"] == ((first["utmParameters"] or {}).get("source") or "")
    stored_lines = StoreOrderLine.unscoped_objects.filter(order=row).values_list("sku", "quantity", "amount")
    assert sorted(stored_lines) == sorted((line.sku, line.quantity, line.amount) for line in order.lines)

    # Daily sales: the shop's own per-day figures for every day of the window, and none before it (orders
    # created earlier but updated in the window are loaded, but their days are not complete).
    assert sales_rows(org) == expected_sales(shopify, run.window_start, run.window_end)
    assert orders_of(org).filter(date__lt=run.window_start).exists()
    assert not StoreSalesDaily.unscoped_objects.filter(organization=org, date__lt=run.window_start).exists()


def test_a_rerun_duplicates_nothing_and_a_later_refund_overwrites_the_order(
    shopify, org, django_capture_on_commit_callbacks
):
    connection = connect(org, shopify, backfill_days=30)
    first = request_and_run(connection, django_capture_on_commit_callbacks)
    orders, lines, sales = orders_of(org).count(), StoreOrderLine.unscoped_objects.count(), sales_rows(org)
    ten_days_ago = first.window_end - timedelta(days=10)
    order, state = next(
        (o, s) for o, s in expected_orders(shopify, first) if o.created_at.astimezone(NEW_YORK).date() == ten_days_ago
        and not s.refunded
    )  # fmt: skip
    shopify.refund(order.gid, Decimal("20.00"))
    shopify.requests.clear()
    connection.refresh_from_db()
    assert connection.synced_through == first.window_end

    second = request_and_run(connection, django_capture_on_commit_callbacks, kind=RunKind.MANUAL)

    assert second.status == RunStatus.SUCCEEDED
    assert (second.window_start, second.window_end) == (first.window_end - timedelta(days=3), first.window_end)
    assert (orders_of(org).count(), StoreOrderLine.unscoped_objects.count()) == (orders, lines)
    row = orders_of(org).get(external_id=order.gid)
    assert (row.refunded, row.status, row.total) == (Decimal("20.00"), "partially_refunded", order.total)
    fetched = expected_orders(shopify, second)  # orders updated in the last 3 days, the refunded one with them
    assert order.gid in {o.gid for o, _ in fetched}
    touched = min(o.created_at.astimezone(NEW_YORK).date() for o, _ in fetched)
    recomputed = shopify.daily_totals(max(touched, first.window_start), second.window_end)
    assert second.rows_read == len(fetched) + len(recomputed)  # every day it touched, from the stored orders
    assert sales_rows(org) == sales  # gross sales: the refund is on the order row, the days are unchanged
    assert_loaded_exactly(org, shopify, first)


def test_line_items_beyond_the_first_page_are_fetched_per_order(
    shopify, org, settings, django_capture_on_commit_callbacks
):
    settings.PLATFORMS["shopify"]["line_items_page_size"] = 2
    connection = connect(org, shopify, backfill_days=7)

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    expected = assert_loaded_exactly(org, shopify, run)
    many = [o for o, _ in expected if len(o.lines) > 2]
    assert [r["variables"]["id"] for r in shopify.requests if r["kind"] == "order_lines"] == [o.gid for o in many]
    assert sales_rows(org) == expected_sales(shopify, run.window_start, run.window_end)


# --- Shopify's own count, for reconciliation ----------------------------------------------------------------


def test_shopifys_order_count_is_recorded_and_reconciles_until_an_order_is_deleted(
    shopify, org, django_capture_on_commit_callbacks
):
    connection = connect(org, shopify, backfill_days=7)

    first = request_and_run(connection, django_capture_on_commit_callbacks)

    since, until = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in bounds(first.window_start, first.window_end))
    [count] = [r for r in shopify.requests if r["kind"] == "orders_count"]  # one query, after the orders
    assert shopify.requests[-1] is count
    assert count["variables"] == {"query": f"created_at:>='{since}' AND created_at:<'{until}'"}
    days = shopify.daily_totals(first.window_start, first.window_end)
    created = sum(orders for orders, _units, _total in days.values())
    assert first.platform_totals == {
        "orders": {
            "start": first.window_start.isoformat(),
            "end": first.window_end.isoformat(),
            "time_zone": "America/New_York",
            "time_field": "created_at",
            "orders": created,
            "precision": "EXACT",
            "cancelled_included": True,
            "test_included": True,
        }
    }
    today = services.local_today(connection)
    [check] = connection_reconciliation(organization=org, connection=connection, today=today)
    assert [(line.label, line.platform, line.ours, line.difference) for line in check.lines] == [
        ("Orders", created, created, 0)
    ]
    assert (check.label, check.currency, check.matches, check.hints) == ("Order count", "USD", True, [])

    # The merchant deletes an order of yesterday: it leaves Shopify's count, our copy of it stays.
    yesterday = today - timedelta(days=1)
    order = next(o for o, _ in shopify.visible_orders() if o.created_at.astimezone(NEW_YORK).date() == yesterday)
    shopify.delete(order.gid)
    connection.refresh_from_db()
    second = request_and_run(connection, django_capture_on_commit_callbacks, kind=RunKind.MANUAL)

    newest, older = connection_reconciliation(organization=org, connection=connection, today=today)
    assert (newest.run, older.run) == (second, first)
    ours = orders_of(org).filter(date__range=(second.window_start, second.window_end))
    assert [(line.platform, line.ours, line.difference) for line in newest.lines] == [
        (ours.count() - 1, ours.count(), 1)
    ]
    refunded = ours.aggregate(refunded=Sum("refunded"))["refunded"]
    refunds = [
        f"Refunds: our orders of these days include {refunded:.2f} USD refunded; the platform may count refunded "
        "or cancelled orders differently."
    ]  # cancelled orders count as refunded in full
    assert newest.hints == [
        "Time basis: we hold 1 more order placed in these days (in America/New_York) than the platform counts now; "
        "an order deleted on the platform, or one it no longer counts, stays in ours.",
        "Cancelled and test orders are in both counts, so they are not the cause (the platform's own sales "
        "reports may leave them out).",
        *(refunds if refunded else []),
        f"Late restatement: days from {(today - timedelta(days=2)).isoformat()} are inside the 3-day restatement "
        "window, so the platform may still change them.",
    ]
    assert older.matches  # the earlier count had the order too, and ours still hold it


def test_the_order_count_is_capped_unless_its_limit_is_lifted(shopify):
    client = get_backend("shopify").client({"access_token": shopify.issue_token(), "shop": SHOP})
    search = "created_at:>='2000-01-01T00:00:00Z'"
    everything = len(shopify.visible_orders())

    capped = client.execute(
        "query C($query: String!) { ordersCount(query: $query, limit: 5) { count precision } }",
        {"query": search},
        cost=1,
    )

    assert capped == {"ordersCount": {"count": 5, "precision": "AT_LEAST"}}
    assert client.orders_count(search=search) == (everything, "EXACT") and everything > 5


# --- bulk backfill ----------------------------------------------------------------------------------------


def test_a_backfill_over_60_days_runs_one_bulk_export(shopify, org, clock, django_capture_on_commit_callbacks):
    connection = connect(org, shopify, backfill_days=90)
    shopify.requests.clear()

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.progress) == (RunStatus.SUCCEEDED, 100)
    assert [r["kind"] for r in shopify.requests] == ["bulk_run", "bulk_node", "bulk_node", "orders_count"]
    operation = shopify.bulk_operations[1]
    assert (operation["status"], operation["grouped"]) == ("COMPLETED", True)
    assert clock.sleeps[:2] == [2.0, 4.0]  # polls back off
    expected = assert_loaded_exactly(org, shopify, run)
    assert int(operation["objectCount"]) == len(expected) + sum(len(o.lines) for o, _ in expected)
    assert sales_rows(org) == expected_sales(shopify, run.window_start, run.window_end)
    assert run.cursor["bulk_id"] == operation["id"] and run.cursor["orders_done"] is True


def test_an_interrupted_bulk_download_resumes_at_its_last_checkpoint(shopify, org):
    connection = connect(org, shopify, backfill_days=90)
    with organization_scope(org):
        run, _ = services.sync_run_request(connection=connection)
    shopify.bulk_download_cut = 0.6  # the first download breaks off after 60% of the file

    with organization_scope(org), pytest.raises(TransientError):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert run.cursor["bulk_id"] == "gid://shopify/BulkOperation/1"
    assert run.cursor["line"] > 0 and run.rows_written == 250 * (run.rows_written // 250) > 0
    loaded_before = run.rows_written

    with organization_scope(org):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert len(shopify.bulk_operations) == 1  # the same export, not a new one
    expected = assert_loaded_exactly(org, shopify, run)
    assert loaded_before < len(expected)
    assert run.rows_written == len(expected) + len(sales_rows(org))  # no order loaded twice
    assert sales_rows(org) == expected_sales(shopify, run.window_start, run.window_end)


def test_an_expired_export_file_starts_a_new_export(shopify, org):
    connection = connect(org, shopify, backfill_days=90)
    with organization_scope(org):
        run, _ = services.sync_run_request(connection=connection)
    shopify.bulk_download_cut = 0.6
    with organization_scope(org), pytest.raises(TransientError):
        services.sync_run_execute(run_id=run.pk)
    shopify.bulk_files.clear()  # its signed URL has expired by the time the run is retried

    with organization_scope(org), pytest.raises(TransientError) as caught:
        services.sync_run_execute(run_id=run.pk)

    assert caught.value.user_message == (
        "Shopify's export file could not be downloaded (HTTP 404); the sync will retry."
    )
    run.refresh_from_db()
    assert (run.status, run.cursor["bulk_id"], run.cursor["line"]) == (RunStatus.QUEUED, None, 0)
    with organization_scope(org):
        services.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, len(shopify.bulk_operations)) == (RunStatus.SUCCEEDED, 2)
    assert_loaded_exactly(org, shopify, run)
    assert sales_rows(org) == expected_sales(shopify, run.window_start, run.window_end)


@pytest.mark.parametrize(
    ("outcome", "code", "status", "message"),
    [
        (
            "FAILED",
            "INTERNAL_SERVER_ERROR",
            RunStatus.QUEUED,
            "Shopify could not finish the order export (FAILED INTERNAL_SERVER_ERROR); the sync will retry.",
        ),
        (
            "CANCELED",
            None,
            RunStatus.FAILED,
            "The order export was cancelled in Shopify. Sync again to start a new one.",
        ),
    ],
)
def test_a_failed_or_cancelled_export(shopify, org, outcome, code, status, message):
    connection = connect(org, shopify, backfill_days=90)
    with organization_scope(org):
        run, _ = services.sync_run_request(connection=connection)
    shopify.bulk_outcome, shopify.bulk_error_code = outcome, code

    with organization_scope(org):
        try:
            services.sync_run_execute(run_id=run.pk)
        except TransientError:
            assert status == RunStatus.QUEUED

    run.refresh_from_db()
    assert (run.status, run.message, run.cursor.get("bulk_id")) == (status, message, None)
    assert not orders_of(org).exists()
    if status == RunStatus.QUEUED:  # the retry starts a fresh export, which completes
        shopify.bulk_outcome = "COMPLETED"
        with organization_scope(org):
            services.sync_run_execute(run_id=run.pk)
        run.refresh_from_db()
        assert (run.status, len(shopify.bulk_operations)) == (RunStatus.SUCCEEDED, 2)
        assert_loaded_exactly(org, shopify, run)
    else:
        connection.refresh_from_db()
        assert (connection.status, connection.last_error) == (ConnectionStatus.ERROR, message)


def test_an_ungrouped_export_file_is_refused_rather_than_read_wrong(shopify, org, django_capture_on_commit_callbacks):
    connection = connect(org, shopify, backfill_days=90)
    shopify.bulk_ungrouped = True

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.message) == (
        RunStatus.FAILED,
        "Shopify's order export was not grouped by order; it cannot be read safely.",
    )
    assert not orders_of(org).exists()


def test_an_export_already_running_for_the_same_query_is_adopted(shopify):
    shopify.bulk_polls_until_done = 10
    client = get_backend("shopify").client({"access_token": shopify.issue_token(), "shop": SHOP})
    search = "updated_at:>='2026-01-01T05:00:00Z' AND updated_at:<'2026-04-01T04:00:00Z'"
    started = client.start_bulk_orders(search=search)

    assert client.start_bulk_orders(search=search)["id"] == started["id"]  # a killed run's export, picked up
    with pytest.raises(TransientError) as caught:
        client.start_bulk_orders(search=search.replace("2026-01-01", "2025-12-01"))
    assert caught.value.user_message == (
        "Another Shopify export is running for this shop; the sync will retry when it ends."
    )
    assert len(shopify.bulk_operations) == 1


# --- throttling and errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("http_status", [200, 429])
def test_throttled_in_the_body_is_waited_out_whatever_the_http_status(
    shopify, org, clock, http_status, django_capture_on_commit_callbacks
):
    connection = connect(org, shopify, backfill_days=10)
    shopify.requests.clear()
    shopify.throttle_http_status = http_status
    shopify.fail("throttled", after=1)  # the second page finds the bucket empty

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    throttled = [i for i, r in enumerate(shopify.requests) if r.get("throttled")]
    assert len(throttled) == 1
    refused, retried = shopify.requests[throttled[0]], shopify.requests[throttled[0] + 1]
    assert refused["status"] == http_status and retried["status"] == 200
    assert refused["variables"] == retried["variables"]  # the same page asked again
    requested = 2 + PAGE * 44  # the cost of a page after the first
    assert clock.sleeps.count(pytest.approx(requested / 100 + 0.01)) == 1  # what the empty bucket needed
    assert_loaded_exactly(org, shopify, run)


def test_endless_throttling_hands_the_run_back_to_the_queue(shopify, org):
    connection = connect(org, shopify, backfill_days=10)
    with organization_scope(org):
        run, _ = services.sync_run_request(connection=connection)
    shopify.requests.clear()
    shopify.fail("throttled", times=100)

    with organization_scope(org), pytest.raises(TransientError) as caught:
        services.sync_run_execute(run_id=run.pk)

    assert caught.value.retry_after == pytest.approx((2 + PAGE * 44 + 1) / 100 + 0.01)
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.QUEUED, "Shopify is rate limiting this shop; the sync will retry.")
    assert len(shopify.requests) == 7  # the first try and six retries


def test_a_page_too_dear_for_one_query_is_asked_again_smaller(shopify, org, django_capture_on_commit_callbacks):
    connection = connect(org, shopify, backfill_days=10)
    shopify.max_query_cost = 500

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    sizes = [r["variables"]["first"] for r in orders_requests(shopify)]
    assert sizes[:2] == [PAGE, 10] and set(sizes[1:]) == {10}  # floor(22 x 500 / 971) - 1
    assert_loaded_exactly(org, shopify, run)


def test_a_query_too_dear_even_for_one_order_fails_the_run(shopify, org, django_capture_on_commit_callbacks):
    connection = connect(org, shopify, backfill_days=10)
    shopify.max_query_cost = 40

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code) == (RunStatus.FAILED, "shopify_cost")
    assert run.message == "A Shopify query asked for more data at once than Shopify allows."
    assert [r["variables"]["first"] for r in orders_requests(shopify)][-1] == 1


def test_a_500_is_retried(shopify, org, clock, django_capture_on_commit_callbacks):
    connection = connect(org, shopify, backfill_days=10)
    shopify.requests.clear()
    shopify.fail("error_500", after=1, times=2)

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert [r["status"] for r in shopify.requests[:4]] == [200, 500, 500, 200]
    assert shopify.requests[1]["variables"] == shopify.requests[3]["variables"]
    assert_loaded_exactly(org, shopify, run)


def test_a_timeout_is_retried(shopify, org, settings, django_capture_on_commit_callbacks):
    settings.PLATFORMS["shopify"]["timeout"] = 1.0  # long enough for a busy machine
    shopify.timeout_delay = 2.5
    connection = connect(org, shopify, backfill_days=10)
    shopify.requests.clear()
    shopify.fail("timeout", after=1)

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert shopify.requests[1]["variables"] == shopify.requests[2]["variables"]
    assert_loaded_exactly(org, shopify, run)


def test_a_token_revoked_mid_sync_asks_for_reauthorization(shopify, org, django_capture_on_commit_callbacks):
    connection = connect(org, shopify, backfill_days=30)
    shopify.requests.clear()
    shopify.fail("revoked", after=2)  # the app is uninstalled after two pages

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code, run.message) == (RunStatus.PARTIAL, "reauth", REVOKED)
    assert [r["status"] for r in shopify.requests] == [200, 200, 401]
    assert run.rows_written == orders_of(org).count() == 2 * PAGE
    connection.refresh_from_db()
    assert (connection.status, connection.last_error, connection.synced_through) == (
        ConnectionStatus.REAUTH,
        REVOKED,
        None,
    )
    assert not StoreSalesDaily.unscoped_objects.filter(organization=org).exists()


def test_a_killed_run_resumes_from_its_page_cursor(shopify, org, other_org, clock, django_capture_on_commit_callbacks):
    connection = connect(org, shopify, backfill_days=30)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection)
    shopify.requests.clear()
    shopify.fail("error_500", after=3)
    clock.kill_when = lambda: shopify.requests[-1]["status"] == 500  # the worker dies waiting to retry

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    pages = orders_requests(shopify)
    assert (run.status, run.rows_written) == (RunStatus.RUNNING, 3 * PAGE)
    assert run.cursor["after"] == pages[3]["variables"]["after"]  # checkpointed after page 3
    clock.kill_when = None
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    shopify.requests.clear()

    assert sweep_sync_runs.delay().get() == 1

    run.refresh_from_db()
    assert (run.status, run.attempts, run.progress) == (RunStatus.SUCCEEDED, 2, 100)
    resumed = orders_requests(shopify)
    assert resumed[0]["variables"]["after"] == pages[3]["variables"]["after"]  # page 4, not page 1
    expected = assert_loaded_exactly(org, shopify, run)
    assert run.rows_written == len(expected) + len(sales_rows(org))  # no order loaded twice
    assert sales_rows(org) == expected_sales(shopify, run.window_start, run.window_end)
    # Exactly what an uninterrupted run loads.
    clean = request_and_run(connect(other_org, shopify, backfill_days=30), django_capture_on_commit_callbacks)
    assert clean.status == RunStatus.SUCCEEDED
    assert sales_rows(other_org) == sales_rows(org)


def test_disconnecting_uninstalls_the_app(shopify, org, owner):
    connection = connect(org, shopify, backfill_days=10)
    assert len(shopify.tokens) == 1

    services.connection_disconnect(connection=connection, actor=owner)

    assert shopify.tokens == {}
    connection.refresh_from_db()
    assert (connection.status, connection.credentials) == (ConnectionStatus.DISCONNECTED, {})


def test_a_query_error_is_a_platform_error(shopify):
    client = get_backend("shopify").client({"access_token": shopify.issue_token(), "shop": SHOP})
    with pytest.raises(PlatformError) as caught:
        client.execute("query { products(first: 1) { edges { node { id } } } }", cost=3)
    assert caught.value.user_message == "Shopify refused the query: This fake does not know that query"
