"""Amazon Selling Partner API backend, driven against its fake over HTTP: connect, sync, restatement, resume,
throttling, failures and privacy. Celery runs eagerly; waits go to a recorder instead of real sleeping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from celery.exceptions import Retry
from django.utils import timezone

from analytics.models import StoreOrder, StoreOrderLine, StoreSalesDaily
from config.testing import serve_wsgi
from connectors import services, tasks
from connectors.backends import get_backend
from connectors.backends.amazon_sp import demo, mapping
from connectors.backends.amazon_sp.client import (
    RATE_LIMITS,
    SellingPartnerClient,
    iso_utc,
    local_midnight,
    metrics_interval,
)
from connectors.backends.amazon_sp.fake import make_app
from connectors.errors import AuthorizationError, PlatformError
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.reconciliation import connection_reconciliation

CLIENT_ID, CLIENT_SECRET = "amzn1.application-oa2-client.test", "test-secret"
DAY = timedelta(days=1)
APPLICATION_ID = "amzn1.sp.solution.test-app"
REDIRECT_URI = "https://chuhai.test/o/seller/connections/amazon-sp/callback"
FAST = dict.fromkeys(RATE_LIMITS, (1000.0, 1000.0))
REAUTH_MESSAGE = (
    "Amazon no longer accepts Chuhai's access to this seller account (the authorization was revoked or has "
    "expired). Re-authorize Chuhai in Seller Central to continue syncing."
)


class WorkerKilled(BaseException):
    """Stands for the worker process dying mid-run: nothing in the sync path catches a BaseException."""


class Sleeper:
    """The ``sleep`` the client uses in tests: records every wait; raises WorkerKilled on a chosen wait."""

    def __init__(self):
        self.waits: list[float] = []
        self.kill_on: float | None = None

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.kill_on is not None and seconds == self.kill_on:
            raise WorkerKilled


@pytest.fixture
def fake():
    return make_app(
        "http://fake.test",
        now=datetime.now(UTC).replace(microsecond=0),
        rates=FAST,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )


@pytest.fixture
def sleeper():
    return Sleeper()


@pytest.fixture
def base_url(settings, fake, sleeper):
    with serve_wsgi(fake) as url:
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "amazon_sp": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "application_id": APPLICATION_ID,
                "auth_url": f"{url}/consent",
                "token_url": f"{url}/auth/o2/token",
                "api_urls": dict.fromkeys(("NA", "EU", "FE"), f"{url}/api"),
                "timeout": 0.5,
                "sleep": sleeper,
            },
        }
        yield url


def authorize(base_url: str, *, decision: str = "allow") -> dict:
    """The seller's trip through Seller Central: our authorization URL, the consent page, the redirect back."""
    url = get_backend("amazon_sp").authorization_url(state="st4te", redirect_uri=REDIRECT_URI)
    assert httpx.get(url).status_code == 200
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    response = httpx.post(f"{base_url}/consent", data={**query, "decision": decision})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def connect(base_url: str, organization, code: str = "US") -> Connection:
    backend = get_backend("amazon_sp")
    params = authorize(base_url)
    credentials = backend.exchange_code(code=params["spapi_oauth_code"], redirect_uri=REDIRECT_URI, params=params)
    account = next(a for a in backend.discover_accounts(credentials=credentials) if a.marketplace == code)
    connection = services.connection_upsert(
        organization=organization, platform="amazon_sp", account=account, credentials=credentials, user=None
    )
    # A short first load keeps the tests quick; the production default is exercised in test_discovery.
    Connection.unscoped_objects.filter(pk=connection.pk).update(backfill_days=3, lookback_days=2)
    connection.refresh_from_db()
    return connection


def sync(connection: Connection, capture, kind: str = RunKind.MANUAL) -> SyncRun:
    with capture(execute=True):
        run, created = services.sync_run_request(connection=connection, kind=kind)
    assert created
    return SyncRun.unscoped_objects.get(pk=run.pk)


def expected_orders(fake, connection: Connection, run: SyncRun):
    """What getOrders returns for the run's window (LastUpdatedAfter = its first local midnight)."""
    return fake.orders_updated(connection.marketplace, local_midnight(run.window_start, connection.time_zone))


def days(run: SyncRun) -> list[date]:
    return [run.window_start + timedelta(days=i) for i in range((run.window_end - run.window_start).days + 1)]


def api_total(api_order: dict) -> Decimal:
    return Decimal(api_order["OrderTotal"]["Amount"]) if "OrderTotal" in api_order else Decimal(0)


# --- connecting -------------------------------------------------------------------------------------------
def test_authorization_url_consent_and_redirect(base_url, fake):
    url = get_backend("amazon_sp").authorization_url(state="st4te", redirect_uri=REDIRECT_URI)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{base_url}/consent"
    assert parse_qs(parts.query) == {
        "application_id": [APPLICATION_ID],
        "state": ["st4te"],
        "redirect_uri": [REDIRECT_URI],
    }
    page = httpx.get(url)
    assert "Hearth &amp; Grain Home (A2HGHOMEGOODS7)" in page.text

    params = authorize(base_url)
    assert params["state"] == "st4te"
    assert params["selling_partner_id"] == demo.SELLER_ID
    assert params["spapi_oauth_code"].startswith("ANDM")

    denied = authorize(base_url, decision="deny")
    assert denied == {"state": "st4te", "error": "access_denied"}


def test_exchange_code_and_discovery(base_url, fake, org):
    backend = get_backend("amazon_sp")
    params = authorize(base_url)

    credentials = backend.exchange_code(code=params["spapi_oauth_code"], redirect_uri=REDIRECT_URI, params=params)

    assert set(credentials) == {"access_token", "refresh_token", "expires_at", "selling_partner_id"}
    assert credentials["selling_partner_id"] == demo.SELLER_ID
    assert credentials["refresh_token"].startswith("Atzr|")
    assert credentials["access_token"].startswith("Atza|")
    assert abs(credentials["expires_at"] - (timezone.now().timestamp() + 3600)) < 5
    assert fake.calls("token:authorization_code") == [
        {
            "grant_type": "authorization_code",
            "code": params["spapi_oauth_code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    ]
    # A code works once.
    with pytest.raises(AuthorizationError, match="authorization code"):
        backend.exchange_code(code=params["spapi_oauth_code"], redirect_uri=REDIRECT_URI, params=params)

    accounts = sorted(backend.discover_accounts(credentials=credentials), key=lambda a: a.marketplace)
    assert [(a.external_id, a.name, a.marketplace, a.region, a.currency, a.time_zone, a.config) for a in accounts] == [
        (
            demo.SELLER_ID,
            "Hearth & Grain Home (Amazon.de)",
            "DE",
            "EU",
            "EUR",
            "Europe/Berlin",
            {"marketplace_id": "A1PA6795UKMFR9"},
        ),
        (
            demo.SELLER_ID,
            "Hearth & Grain Home (Amazon.co.jp)",
            "JP",
            "FE",
            "JPY",
            "Asia/Tokyo",
            {"marketplace_id": "A1VC38T7YXB528"},
        ),
        (
            demo.SELLER_ID,
            "Hearth & Grain Home (Amazon.com)",
            "US",
            "NA",
            "USD",
            "America/Los_Angeles",
            {"marketplace_id": "ATVPDKIKX0DER"},
        ),
    ]  # Canada is in the payload with isParticipating false, and is left out
    assert all(call == {} for call in fake.calls("getMarketplaceParticipations"))

    connection = services.connection_upsert(
        organization=org, platform="amazon_sp", account=accounts[2], credentials=credentials, user=None
    )
    assert (connection.platform, connection.lookback_days, connection.credentials["selling_partner_id"]) == (
        "amazon_sp",
        7,
        demo.SELLER_ID,
    )


def test_discovery_with_revoked_grant_asks_to_reauthorize(base_url, fake, db):
    backend = get_backend("amazon_sp")
    params = authorize(base_url)
    credentials = backend.exchange_code(code=params["spapi_oauth_code"], redirect_uri=REDIRECT_URI, params=params)
    fake.revoke()

    with pytest.raises(AuthorizationError) as caught:
        backend.discover_accounts(credentials=credentials)

    assert caught.value.user_message == REAUTH_MESSAGE


# --- syncing ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["US", "JP"])
def test_sync_loads_exact_sales_and_orders(base_url, fake, org, django_capture_on_commit_callbacks, code):
    fake.items_page_size = 1  # orders with several items need NextToken on getOrderItems
    connection = connect(base_url, org, code)
    tz = connection.time_zone

    run = sync(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.progress, run.message, run.attempts) == (RunStatus.SUCCEEDED, 100, "", 1)
    today = services.local_today(connection)
    assert (run.window_start, run.window_end) == (today - timedelta(days=3), today)
    # One getOrderMetrics call for the 4 local days, in the marketplace's zone, with an exclusive end.
    assert fake.calls("getOrderMetrics") == [
        {
            "marketplaceIds": connection.config["marketplace_id"],
            "interval": f"{local_midnight(run.window_start, tz).isoformat()}--"
            f"{local_midnight(today + timedelta(days=1), tz).isoformat()}",
            "granularity": "Day",
            "granularityTimeZone": tz,
        }
    ]
    # Daily totals: exactly the fake's, one row per local day.
    rows = StoreSalesDaily.unscoped_objects.filter(organization=org).order_by("date")
    currency = {"US": "USD", "JP": "JPY"}[code]
    assert [(r.platform, r.marketplace, r.date, r.sku, r.orders, r.units, r.total_sales, r.currency) for r in rows] == [
        ("amazon_sp", code, day, "", t.orders, t.units, t.total_sales, currency)
        for day, t in ((day, fake.day_totals(code, day)) for day in days(run))
    ]
    assert {r.source_ref for r in rows} == {connection.pk}
    assert sum(r.orders for r in rows) > 20

    # Orders: exactly those getOrders serves for the window, as the fake shows them.
    expected = {o.id: fake.api_order(o) for o in expected_orders(fake, connection, run)}
    orders = {o.external_id: o for o in StoreOrder.unscoped_objects.filter(organization=org)}
    assert set(orders) == set(expected)
    for order_id, api in expected.items():
        order = orders[order_id]
        ordered_at = mapping.parse_time(api["PurchaseDate"])
        assert (order.platform, order.marketplace, order.status, order.currency) == (
            "amazon_sp",
            code,
            api["OrderStatus"],
            currency,
        )
        assert (order.ordered_at, order.date, order.total) == (
            ordered_at,
            ordered_at.astimezone(ZoneInfo(tz)).date(),
            api_total(api),
        )
        assert order.units == fake.order(order_id).units
        assert (order.landing_site, order.referrer, order.attribution, order.refunded) == ("", "", {}, Decimal(0))
    lines = StoreOrderLine.unscoped_objects.filter(organization=org)
    assert lines.count() == sum(len(fake.order(i).lines) for i in expected)
    assert {(x.order.external_id, x.external_id, x.sku, x.asin, x.quantity) for x in lines.select_related("order")} == {
        (o, line.item_id, line.product.sku, line.product.asin, line.quantity)
        for o in expected
        for line in fake.order(o).lines
    }
    assert any("NextToken" in call for call in fake.calls("getOrderItems"))
    assert [set(call) for call in fake.calls("getOrders")] == [
        {"MarketplaceIds", "LastUpdatedAfter", "MaxResultsPerPage"}
    ]
    assert fake.calls("getOrders")[0]["LastUpdatedAfter"] == iso_utc(local_midnight(run.window_start, tz))

    # The two sources reconcile: for settled days, the non-canceled orders' lines add up to the daily total.
    for day in days(run)[:-1]:
        day_lines = lines.filter(order__date=day).exclude(order__status="Canceled")
        assert sum(x.amount for x in day_lines) == fake.day_totals(code, day).total_sales


def test_rerun_duplicates_nothing_and_late_status_change_overwrites(
    base_url, fake, org, django_capture_on_commit_callbacks
):
    connection = connect(base_url, org, "US")
    first = sync(connection, django_capture_on_commit_callbacks)
    yesterday = first.window_end - timedelta(days=1)
    sales_before = StoreSalesDaily.unscoped_objects.get(organization=org, date=yesterday)
    target = next(o for o in demo.orders_for_day("US", yesterday) if fake.events(o)[-1][1] != "Canceled")
    loaded = {o.external_id for o in StoreOrder.unscoped_objects.filter(organization=org)}
    assert target.id in loaded

    # A day later the buyer cancels (Amazon restates the day), and a scheduled run re-reads the last days.
    fake.set_status(target.id, "Canceled")
    fake.advance(minutes=5)
    connection.refresh_from_db()
    second = sync(connection, django_capture_on_commit_callbacks, kind=RunKind.SCHEDULED)

    assert second.status == RunStatus.SUCCEEDED
    assert (second.window_start, second.window_end) == (first.window_end - timedelta(days=2), first.window_end)
    expected_ids = loaded | {o.id for o in expected_orders(fake, connection, second)}
    assert StoreOrder.unscoped_objects.filter(organization=org).count() == len(expected_ids)
    assert set(StoreOrder.unscoped_objects.filter(organization=org).values_list("external_id", flat=True)) == (
        expected_ids
    )
    assert StoreOrderLine.unscoped_objects.filter(organization=org).count() == sum(
        len(fake.order(i).lines) for i in expected_ids
    )
    assert StoreSalesDaily.unscoped_objects.filter(organization=org).count() == 4
    canceled = StoreOrder.unscoped_objects.get(organization=org, external_id=target.id)
    assert canceled.status == "Canceled"
    sales_after = StoreSalesDaily.unscoped_objects.get(organization=org, date=yesterday)
    assert (sales_after.orders, sales_after.units, sales_after.total_sales) == (
        sales_before.orders - 1,
        sales_before.units - target.units,
        sales_before.total_sales - target.total,
    )
    totals = fake.day_totals("US", yesterday)
    assert (sales_after.orders, sales_after.total_sales) == (totals.orders, totals.total_sales)


def settle(fake, connection: Connection) -> None:
    """Leave the window with nothing that Amazon's metrics and the orders we read count differently: no order
    in the last minutes (getOrders serves orders only two minutes after a change), none pending (no price
    for us yet) and none cancelled (out of Amazon's ordered product sales)."""
    code = connection.marketplace
    while recent := fake.placed_between(code, fake.now - timedelta(minutes=5), fake.now + timedelta(seconds=1)):
        fake.advance(seconds=-(fake.now - recent[0].purchased_at).total_seconds() - 1)
    first_day = services.local_today(connection) - timedelta(days=connection.backfill_days)
    for order in fake.placed_between(code, local_midnight(first_day, connection.time_zone), fake.now):
        if fake.events(order)[-1][1] in ("Pending", "Canceled"):
            fake.set_status(order.id, "Unshipped", at=order.purchased_at + timedelta(minutes=1))


def test_order_metrics_are_recorded_and_reconcile_until_a_cancellation_differs(
    base_url, fake, org, django_capture_on_commit_callbacks
):
    connection = connect(base_url, org, "US")
    settle(fake, connection)
    tz = connection.time_zone

    first = sync(connection, django_capture_on_commit_callbacks)

    # Amazon's own totals of the window: its daily metrics summed, no request more than they took.
    amazon = fake.totals("US", local_midnight(first.window_start, tz), local_midnight(first.window_end + DAY, tz))
    totals = first.platform_totals["orders"]
    assert {**totals, "sales": Decimal(totals["sales"])} == {
        "start": first.window_start.isoformat(),
        "end": first.window_end.isoformat(),
        "marketplace": "US",
        "time_zone": "America/Los_Angeles",
        "time_field": "PurchaseDate",
        "orders": amazon.orders,
        "units": amazon.units,
        "sales": amazon.total_sales,
        "currency": "USD",
    }
    assert amazon.orders > 20 and len(fake.calls("getOrderMetrics")) == 1
    today = services.local_today(connection)
    [check] = connection_reconciliation(organization=org, connection=connection, today=today)
    assert [(line.label, line.platform, line.ours, line.difference) for line in check.lines] == [
        ("Orders", amazon.orders, amazon.orders, 0),
        ("Sales", amazon.total_sales, amazon.total_sales, 0),
    ]
    assert (check.label, check.currency, check.matches, check.hints) == ("Order count", "USD", True, [])

    # The buyer of one of yesterday's orders cancels it: Amazon's metrics leave it out, our copy stays.
    yesterday = first.window_end - timedelta(days=1)
    target = demo.orders_for_day("US", yesterday)[0]
    fake.set_status(target.id, "Canceled", at=fake.now - timedelta(minutes=3))
    connection.refresh_from_db()
    second = sync(connection, django_capture_on_commit_callbacks, kind=RunKind.SCHEDULED)

    newest, older = connection_reconciliation(organization=org, connection=connection, today=today)
    assert (newest.run, older.run, older.matches) == (second, first, True)
    amazon = fake.totals("US", local_midnight(second.window_start, tz), local_midnight(second.window_end + DAY, tz))
    assert [(line.label, line.platform, line.ours, line.difference) for line in newest.lines] == [
        ("Orders", amazon.orders, amazon.orders + 1, 1),
        ("Sales", amazon.total_sales, amazon.total_sales + target.total, target.total),
    ]
    assert newest.hints == [
        "Time basis: we hold 1 more order placed in these days (in America/Los_Angeles) than the platform counts "
        "now; an order deleted on the platform, or one it no longer counts, stays in ours.",
        "Order status: Amazon's order metrics count pending orders at their price and may leave cancelled ones "
        "out; we keep every order we read, cancelled ones included, and a pending order has no amount until "
        "Amazon prices it.",
        "Sales basis: Amazon's sales are ordered product sales (item prices); ours are order totals, which can "
        "also include shipping, gift wrap and tax.",
        f"Late restatement: days from {(today - DAY).isoformat()} are inside the 2-day restatement window, so the "
        "platform may still change them.",
    ]


def test_killed_run_resumes_from_its_next_token(base_url, fake, org, sleeper, django_capture_on_commit_callbacks):
    fake.orders_page_size = 10
    connection = connect(base_url, org, "US")
    # The second getOrders page is throttled; while the worker waits it out, the worker dies.
    fake.inject("429", operation="getOrders", skip=1, limit="5")
    sleeper.kill_on = 0.2

    with pytest.raises(WorkerKilled):
        sync(connection, django_capture_on_commit_callbacks)

    run = SyncRun.unscoped_objects.get(connection=connection)
    assert run.status == RunStatus.RUNNING
    assert run.cursor["sales_through"] == run.window_end.isoformat()
    assert (run.cursor["orders_pages"], run.cursor["orders_done"]) == (1, False)
    saved_token = run.cursor["orders_next_token"]
    assert saved_token
    assert StoreOrder.unscoped_objects.filter(organization=org).count() == 10
    assert len(fake.calls("getOrderItems")) == 10

    # The sweeper finds the run without a heartbeat and sends it again.
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    assert services.sync_runs_sweep() == [(org.pk, run.pk)]
    assert SyncRun.unscoped_objects.get(pk=run.pk).status == RunStatus.QUEUED
    sleeper.kill_on = None
    mark = len(fake.requests)
    tasks.run_sync.delay(organization_id=org.pk, run_id=run.pk)

    run.refresh_from_db()
    assert (run.status, run.attempts, run.cursor["orders_done"]) == (RunStatus.SUCCEEDED, 2, True)
    resumed = fake.requests[mark:]
    assert not [r for r in resumed if r["operation"] == "getOrderMetrics"]
    first_page = next(r["params"] for r in resumed if r["operation"] == "getOrders")
    assert first_page["NextToken"] == saved_token
    expected = {o.id for o in expected_orders(fake, connection, run)}
    assert len(expected) > 20
    assert set(StoreOrder.unscoped_objects.filter(organization=org).values_list("external_id", flat=True)) == expected
    # No order's items were fetched twice.
    assert len(fake.calls("getOrderItems")) == len(expected)


# --- throttling and failures -------------------------------------------------------------------------------
def test_429_waits_one_over_the_rate_limit_header(base_url, fake, org, sleeper, django_capture_on_commit_callbacks):
    connection = connect(base_url, org, "DE")
    fake.inject("429", operation="getOrderMetrics", limit="2")

    run = sync(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert sleeper.waits == [0.5]  # 1 / x-amzn-RateLimit-Limit, retried inline
    assert len(fake.calls("getOrderMetrics")) == 2
    assert StoreSalesDaily.unscoped_objects.filter(organization=org).count() == 4


def test_429_with_a_slow_usage_plan_requeues_the_run(base_url, fake, org, sleeper, django_capture_on_commit_callbacks):
    connection = connect(base_url, org, "DE")
    fake.inject("429", operation="getOrders", limit="0.0167")  # getOrders' real plan: a token a minute

    # 60 s is too long to hold a worker: the run goes back to the queue and the task asks Celery to retry
    # after 1 / 0.0167 s (eager Celery hands that Retry to the caller instead of scheduling it).
    with pytest.raises(Retry) as caught:
        sync(connection, django_capture_on_commit_callbacks)

    assert caught.value.when == pytest.approx(59.88)
    assert sleeper.waits == []
    run = SyncRun.unscoped_objects.get(connection=connection)
    assert (run.status, run.attempts, run.error_code) == (RunStatus.QUEUED, 1, "transient")
    assert run.cursor["sales_through"] == run.window_end.isoformat()

    tasks.run_sync.delay(organization_id=org.pk, run_id=run.pk)  # what the worker does a minute later

    run.refresh_from_db()
    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 2, "")
    assert len(fake.calls("getOrderMetrics")) == 1  # the second attempt resumed after the loaded sales
    # ... and recorded Amazon's totals from the metrics the first attempt kept in the cursor.
    assert run.platform_totals["orders"]["orders"] == sum(fake.day_totals("DE", day).orders for day in days(run))
    assert len(fake.calls("getOrders")) == 2
    expected = {o.id for o in expected_orders(fake, connection, run)}
    assert set(StoreOrder.unscoped_objects.filter(organization=org).values_list("external_id", flat=True)) == expected


def test_server_error_is_retried(base_url, fake, org, sleeper, django_capture_on_commit_callbacks):
    connection = connect(base_url, org, "DE")
    fake.inject("500", operation="getOrders")

    run = sync(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert len(sleeper.waits) == 1 and 1 <= sleeper.waits[0] < 2  # PlatformHTTP's first backoff
    assert len(fake.calls("getOrders")) == 2


def test_timeout_is_retried(base_url, fake, org, django_capture_on_commit_callbacks):
    connection = connect(base_url, org, "DE")
    fake.inject("timeout", operation="getOrderMetrics", seconds=1.5)  # the client gives up after 0.5 s

    run = sync(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert len(fake.calls("getOrderMetrics")) == 2
    assert StoreSalesDaily.unscoped_objects.filter(organization=org).count() == 4


def test_revoked_authorization_fails_the_run_and_asks_for_reauthorization(
    base_url, fake, org, django_capture_on_commit_callbacks
):
    connection = connect(base_url, org, "US")
    fake.revoke()  # the seller removed the app in Seller Central

    run = sync(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code, run.message) == (RunStatus.FAILED, "reauth", REAUTH_MESSAGE)
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, REAUTH_MESSAGE)
    assert not StoreSalesDaily.unscoped_objects.filter(organization=org).exists()
    assert not StoreOrder.unscoped_objects.filter(organization=org).exists()
    # The access token died with the grant: the first call got 403, the one refresh got invalid_grant.
    assert (len(fake.calls("getOrderMetrics")), len(fake.calls("token:refresh_token"))) == (1, 1)
    assert fake.calls("getOrders") == []


def test_access_token_is_refreshed_before_it_expires(base_url, fake, org, django_capture_on_commit_callbacks):
    connection = connect(base_url, org, "DE")
    old = connection.credentials
    connection.credentials = {**old, "expires_at": int(timezone.now().timestamp()) + 30}  # inside the margin
    connection.save(update_fields=["credentials"])

    run = sync(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert len(fake.calls("token:refresh_token")) == 1
    connection.refresh_from_db()
    saved = connection.credentials
    assert saved["refresh_token"] == old["refresh_token"]
    assert saved["access_token"] != old["access_token"]
    assert saved["expires_at"] > timezone.now().timestamp() + 3500


def test_token_rejected_by_the_api_is_refreshed_once(base_url, fake, org, django_capture_on_commit_callbacks):
    connection = connect(base_url, org, "DE")
    fake.expire_access_tokens()  # we think the token is good for an hour; Amazon says 403 Unauthorized

    run = sync(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert len(fake.calls("token:refresh_token")) == 1
    assert len(fake.calls("getOrderMetrics")) == 2


def test_platform_errors_reach_the_seller(base_url, fake, db):
    params = authorize(base_url)
    credentials = get_backend("amazon_sp").exchange_code(
        code=params["spapi_oauth_code"], redirect_uri=REDIRECT_URI, params=params
    )
    conf = get_backend("amazon_sp").conf
    api = SellingPartnerClient(conf=conf, credentials={**credentials}, region="NA")
    y = fake.now.year if fake.now.date() > date(fake.now.year, 1, 10) else fake.now.year - 1  # a past January
    good = {
        "marketplaceIds": "ATVPDKIKX0DER",
        "interval": f"{y}-01-05T00:00:00-08:00--{y}-01-07T00:00:00-08:00",
        "granularity": "Day",
        "granularityTimeZone": "America/Los_Angeles",
    }
    try:
        for params, details in [
            ({"marketplaceIds": "ATVPDKIKX0DER,A2EUQ1WTGCTBG2"}, "Exactly one marketplaceId must be specified."),
            ({"granularityTimeZone": ""}, "granularityTimeZone is required for granularity above Hour."),
            (
                {"granularityTimeZone": "Asia/Tokyo"},
                f"granularityTimeZone Asia/Tokyo does not match the offset of {y}-01-05T00:00:00-08:00.",
            ),
            ({"interval": f"{y}-01-05T00:00:00-08:00"}, f"interval must be 'start--end': '{y}-01-05T00:00:00-08:00'"),
        ]:
            with pytest.raises(PlatformError) as caught:
                api.get("getOrderMetrics", "/sales/v1/orderMetrics", {**good, **params})
            assert caught.value.user_message == (
                f"Amazon refused the request getOrderMetrics (HTTP 400): InvalidInput: Invalid Input ({details})"
            )
        buckets = api.get("getOrderMetrics", "/sales/v1/orderMetrics", good)["payload"]
    finally:
        api.close()
    assert [b["interval"] for b in buckets] == [
        f"{y}-01-05T00:00-08:00--{y}-01-06T00:00-08:00",
        f"{y}-01-06T00:00-08:00--{y}-01-07T00:00-08:00",
    ]


def test_usage_plans_from_settings_connection_then_amazon(base_url, fake, settings, db):
    params = authorize(base_url)
    credentials = get_backend("amazon_sp").exchange_code(
        code=params["spapi_oauth_code"], redirect_uri=REDIRECT_URI, params=params
    )
    settings.PLATFORMS["amazon_sp"]["rate_limits"] = {"getOrders": [2, 5], "getOrderItems": [4, 8]}
    api = SellingPartnerClient(
        conf=get_backend("amazon_sp").conf, credentials=credentials, region="NA", rate_limits={"getOrderItems": [3, 6]}
    )
    try:
        assert api.rates == {
            "getOrderMetrics": (0.5, 15),  # the documented default
            "getOrders": (2, 5),  # settings
            "getOrderItems": (3, 6),  # the connection's config wins over settings
            "getMarketplaceParticipations": (0.016, 15),
        }
        api.marketplace_participations()
        # From then on the bucket runs at the rate Amazon says it applied (x-amzn-RateLimit-Limit).
        assert api._http["getMarketplaceParticipations"].rate == 1000.0
    finally:
        api.close()


def test_interval_across_daylight_saving_is_accepted(base_url, fake, db):
    today = fake.now.date()
    year = today.year if today > date(today.year, 3, 20) else today.year - 1
    start = date(year, 3, 1)  # Pacific time springs forward on the second Sunday of March
    params = authorize(base_url)
    credentials = get_backend("amazon_sp").exchange_code(
        code=params["spapi_oauth_code"], redirect_uri=REDIRECT_URI, params=params
    )
    api = SellingPartnerClient(conf=get_backend("amazon_sp").conf, credentials=credentials, region="NA")
    try:
        buckets = api.order_metrics(
            marketplace_id="ATVPDKIKX0DER", start=start, end=date(year, 3, 20), time_zone="America/Los_Angeles"
        )
    finally:
        api.close()

    assert metrics_interval(start, date(year, 3, 20), "America/Los_Angeles") == (
        f"{year}-03-01T00:00:00-08:00--{year}-03-21T00:00:00-07:00"
    )
    facts = list(mapping.sales_facts(buckets, marketplace="US", time_zone="America/Los_Angeles", source_ref=1))
    assert [f.date for f in facts] == [start + timedelta(days=i) for i in range(20)]


# --- privacy ----------------------------------------------------------------------------------------------
def test_no_buyer_personal_data_is_stored(base_url, fake, org, django_capture_on_commit_callbacks):
    connection = connect(base_url, org, "US")

    run = sync(connection, django_capture_on_commit_callbacks)

    served = [fake.api_order(o) for o in expected_orders(fake, connection, run)]
    assert served and all(o["BuyerInfo"]["BuyerEmail"] for o in served)  # the fake did send it
    stored = repr(list(StoreOrder.unscoped_objects.filter(organization=org).values())) + repr(
        list(StoreOrderLine.unscoped_objects.filter(organization=org).values())
    )
    for order in served:
        for value in (
            order["BuyerInfo"]["BuyerEmail"],
            order["BuyerInfo"]["BuyerName"],
            order["ShippingAddress"]["AddressLine1"],
            order["ShippingAddress"]["PostalCode"],
        ):
            assert value not in stored


# --- mapping (no server) -------------------------------------------------------------------------------------
def test_mapping_of_the_documented_examples():
    bucket = {
        "interval": "2018-05-01T00:00-07:00--2018-05-02T00:00-07:00",
        "unitCount": 1,
        "orderItemCount": 1,
        "orderCount": 1,
        "averageUnitPrice": {"amount": "22.95", "currencyCode": "USD"},
        "totalSales": {"amount": "22.95", "currencyCode": "USD"},
    }
    (fact,) = mapping.sales_facts([bucket], marketplace="US", time_zone="America/Los_Angeles", source_ref=7)
    assert (fact.platform, fact.marketplace, fact.date, fact.sku, fact.orders, fact.units) == (
        "amazon_sp",
        "US",
        date(2018, 5, 1),
        "",
        1,
        1,
    )
    assert (fact.total_sales, fact.currency, fact.source_ref) == (Decimal("22.95"), "USD", 7)

    order = {
        "AmazonOrderId": "902-3159896-1390916",
        "PurchaseDate": "2017-01-20T19:49:35Z",
        "LastUpdateDate": "2017-01-20T19:49:35Z",
        "OrderStatus": "Pending",
        "NumberOfItemsShipped": 0,
        "NumberOfItemsUnshipped": 2,
        "MarketplaceId": "ATVPDKIKX0DER",
        "BuyerInfo": {"BuyerEmail": "user@example.com", "BuyerName": "John Doe"},
    }
    fact = mapping.order_fact(
        order, [], marketplace="US", time_zone="America/Los_Angeles", currency="USD", source_ref=7
    )
    assert (fact.external_id, fact.status, fact.total, fact.currency, fact.units, fact.lines) == (
        "902-3159896-1390916",
        "Pending",
        Decimal(0),
        "USD",
        2,
        (),
    )
    assert (fact.ordered_at, fact.date) == (datetime(2017, 1, 20, 19, 49, 35, tzinfo=UTC), date(2017, 1, 20))
    assert "John Doe" not in repr(fact) and "user@example.com" not in repr(fact)

    item = {
        "ASIN": "BCTU1104UEFB",
        "OrderItemId": "79039765272157",
        "SellerSKU": "CBA_OTF_5",
        "Title": "Example item name",
        "QuantityOrdered": 2,
        "ItemPrice": {"CurrencyCode": "JPY", "Amount": "17.95"},
    }
    order = {**order, "OrderStatus": "Shipped", "OrderTotal": {"CurrencyCode": "JPY", "Amount": "17.95"}}
    fact = mapping.order_fact(order, [item], marketplace="JP", time_zone="Asia/Tokyo", currency="JPY", source_ref=7)
    assert (fact.total, fact.currency, fact.units, fact.date) == (Decimal("17.95"), "JPY", 2, date(2017, 1, 21))
    (line,) = fact.lines
    assert (line.external_id, line.sku, line.asin, line.title, line.quantity, line.amount, line.currency) == (
        "79039765272157",
        "CBA_OTF_5",
        "BCTU1104UEFB",
        "Example item name",
        2,
        Decimal("17.95"),
        "JPY",
    )
