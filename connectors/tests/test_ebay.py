"""eBay backend end to end against its fake (real HTTP on a local port, real PostgreSQL, Celery eager).

Nothing of ours is mocked: ``settings.PLATFORMS["ebay"]`` points at the fake, whose "now" is frozen for the
test, and the ``sleep`` knob records waits instead of waiting. The fake's own dataset gives the expected
numbers: its Promoted Listings rows, its account totals and its orders.
"""

from __future__ import annotations

import gzip
import html
import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from celery.signals import task_retry
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory
from analytics.models import AdPerformanceDaily, StoreOrder, StoreOrderLine, StoreSalesDaily
from analytics.services import AdFact
from campaigns.models import AdAccount, Campaign
from config.celery_app import app as celery_app
from config.testing import serve_wsgi
from connectors import services
from connectors.backends import get_backend
from connectors.backends.base import DiscoveredAccount
from connectors.backends.ebay import client as api
from connectors.backends.ebay import mapping
from connectors.backends.ebay.backend import PIECES, date_chunks, piece_key
from connectors.backends.ebay.demo_data import RESTATED_DAYS, USER_ID, Dataset
from connectors.backends.ebay.fake import CLIENTS, make_app
from connectors.errors import AuthorizationError, TransientError
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.tasks import run_sync as sync_task

CLIENT_ID, CLIENT_SECRET = next(iter(CLIENTS.items()))
RU_NAME = "Hearth_Grain-Chuhai-PRD-test"
REDIRECT = "https://app.chuhai.test/connect/ebay/callback/"
POLL = 0.25  # the first poll wait; tests count report polls by it
US, GB = f"{USER_ID}:EBAY_US", f"{USER_ID}:EBAY_GB"
RECONNECT = api.RECONNECT
INCOMPLETE = "An eBay Promoted Listings report arrived incomplete; the sync will retry."
QUOTA = (
    "eBay allows 200 Promoted Listings report calls an hour per seller and this hour's are used up; "
    "the sync will continue when eBay allows more."
)
LA, LONDON = ZoneInfo("America/Los_Angeles"), ZoneInfo("Europe/London")


class WorkerKilled(BaseException):  # noqa: N818 - it plays SIGKILL, not an error
    """Raised from the injected sleep: like a killed worker, no ``except Exception`` in the engine sees it."""


class Sleeper:
    """The ``sleep`` knob: records every wait; ``kill_at_poll=n`` kills the "worker" at the n-th report poll."""

    def __init__(self):
        self.waits: list[float] = []
        self.kill_at_poll: int | None = None

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.kill_at_poll is not None and self.waits.count(POLL) == self.kill_at_poll:
            self.kill_at_poll = None
            raise WorkerKilled


@pytest.fixture
def sleeper():
    return Sleeper()


def platform_conf(url: str, sleeper, **extra) -> dict:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "ru_name": RU_NAME,
        "auth_url": f"{url}/oauth2/authorize",
        "token_url": f"{url}/identity/v1/oauth2/token",
        "api_url": f"{url}/api",
        "identity_url": f"{url}/apiz",
        "sleep": sleeper,
        "poll_interval": POLL,
        "timeout": 5,
        "rate": 1000,  # the 200-an-hour pacing has its own test
        "burst": 1000,
        **extra,
    }


@pytest.fixture
def fake(settings, sleeper):
    app = make_app()
    app.now = datetime.now(UTC).replace(microsecond=0)
    app.register_ru_name(RU_NAME, client_id=CLIENT_ID, accepted_url=REDIRECT)
    with serve_wsgi(app) as url:
        app.public_url = url
        settings.PLATFORMS = {**settings.PLATFORMS, "ebay": platform_conf(url, sleeper)}
        yield app


@pytest.fixture
def backend():
    return get_backend("ebay")


@pytest.fixture
def eager_retries():
    """Let eager Celery carry out ``task.retry`` at once, as a worker would later (propagation makes it raise)."""
    propagates = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        celery_app.conf.task_eager_propagates = propagates


@pytest.fixture
def retry_countdowns():
    seen: list[float] = []

    def on_retry(sender=None, reason=None, **kwargs):
        if sender is not None and sender.name == sync_task.name:
            seen.append(reason.when)

    task_retry.connect(on_retry, weak=False)
    try:
        yield seen
    finally:
        task_retry.disconnect(on_retry)


# --- helpers ------------------------------------------------------------------------------------------------


def consent(backend, *, decision="agree", state="st-123", url: str | None = None) -> str:
    """Walk the fake's consent page like a browser; returns the redirect back to us."""
    page = httpx.get(url or backend.authorization_url(state=state, redirect_uri=REDIRECT))
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = {
        k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    answer = httpx.post(html.unescape(action), data={**fields, "decision": decision})
    assert answer.status_code == 302
    return answer.headers["Location"]


def authorize(backend) -> dict:
    code = parse_qs(urlsplit(consent(backend)).query)["code"][0]
    return backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})


def connect(org, backend, marketplace="EBAY_US") -> Connection:
    credentials = authorize(backend)
    account = next(a for a in backend.discover_accounts(credentials=credentials) if a.marketplace == marketplace)
    return services.connection_upsert(
        organization=org, platform="ebay", account=account, credentials=credentials, user=None
    )


def run_sync(connection, capture, kind=RunKind.MANUAL) -> SyncRun:
    connection.refresh_from_db()
    with capture(execute=True):
        run, created = services.sync_run_request(connection=connection, kind=kind)
    assert created
    run.refresh_from_db()
    return run


def report_end(fake, run) -> date:
    return min(run.window_end, fake.report_today())


def loaded_ads(connection) -> dict:
    rows = (
        AdPerformanceDaily.unscoped_objects.filter(organization=connection.organization, source_ref=connection.pk)
        .values("grain")
        .annotate(
            rows=Count("id"),
            impressions=Sum("impressions"),
            clicks=Sum("clicks"),
            orders=Sum("orders"),
            units=Sum("units"),
            cost=Sum("cost"),
            sales=Sum("sales"),
        )
    )
    return {r.pop("grain"): r for r in rows}


def expected_ads(fake, marketplace, start, end, restatement=0) -> dict:
    t = fake.dataset.ad_totals(marketplace, start, end, fake.current_time(), restatement)
    sums = {
        "impressions": t["impressions"],
        "clicks": t["clicks"],
        "orders": t["orders"],
        "units": t["orders"],
        "cost": t["cost"],
        "sales": t["sales"],
    }
    return {"product": {"rows": t["product_rows"], **sums}, "campaign": {"rows": t["campaign_rows"], **sums}}


def pieces(start: date, end: date) -> list[str]:
    return [piece_key(s, e, p) for s, e in date_chunks(start, end, 31) for p in PIECES]


def tasks_created(fake) -> int:
    return sum(1 for r in fake.requests if r == ("POST", "/api/sell/marketing/v1/ad_report_task", 202))


def expected_orders(fake, marketplace, run):
    tz = ZoneInfo(mapping.MARKETPLACES[marketplace][1])
    since = datetime.combine(run.window_start, datetime.min.time(), tzinfo=tz)
    return [(o, s) for o, s in fake.visible_orders(marketplace) if s.updated_at >= since]


def assert_orders_loaded(org, fake, marketplace, run) -> list:
    expected = expected_orders(fake, marketplace, run)
    stored = StoreOrder.unscoped_objects.filter(organization=org, marketplace=marketplace)
    assert sorted(stored.values_list("external_id", flat=True)) == sorted(o.order_id for o, _ in expected)
    assert stored.aggregate(total=Sum("total"), refunded=Sum("refunded"), units=Sum("units")) == {
        "total": sum((Decimal(o.total).scaleb(-2) for o, _ in expected), Decimal(0)),
        "refunded": sum((Decimal(s.refunded).scaleb(-2) for _, s in expected), Decimal(0)),
        "units": sum(o.units for o, _ in expected),
    }
    assert StoreOrderLine.unscoped_objects.filter(organization=org, order__marketplace=marketplace).count() == sum(
        len(o.lines) for o, _ in expected
    )
    return expected


def sales_rows(org, marketplace) -> list[tuple]:
    rows = StoreSalesDaily.unscoped_objects.filter(organization=org, marketplace=marketplace).order_by("date")
    return list(rows.values_list("date", "orders", "units", "total_sales", "currency", "platform", "sku"))


def expected_sales(fake, marketplace, start, end) -> list[tuple]:
    currency = mapping.MARKETPLACES[marketplace][0]
    return [
        (day, orders, units, total, currency, "ebay", "")
        for day, (orders, units, total) in fake.dataset.daily_sales(
            marketplace, start, end, fake.current_time()
        ).items()
    ]


# --- connecting ---------------------------------------------------------------------------------------------


def test_authorization_url_sends_the_runame_and_the_consent_page_answers_at_the_accepted_url(fake, backend):
    url = backend.authorization_url(state="st-123", redirect_uri=REDIRECT, region="EU")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.public_url}/oauth2/authorize"
    assert parse_qs(parts.query) == {
        "client_id": [CLIENT_ID],
        "redirect_uri": [RU_NAME],  # eBay takes the RuName, never our URL
        "response_type": ["code"],
        "scope": [
            "https://api.ebay.com/oauth/api_scope/sell.marketing "
            "https://api.ebay.com/oauth/api_scope/sell.fulfillment.readonly "
            "https://api.ebay.com/oauth/api_scope/commerce.identity.readonly"
        ],
        "state": ["st-123"],
    }
    agreed = urlsplit(consent(backend))
    query = parse_qs(agreed.query)
    assert f"{agreed.scheme}://{agreed.netloc}{agreed.path}" == REDIRECT
    assert (query["state"], query["expires_in"]) == (["st-123"], ["299"])
    assert query["code"][0].startswith("v^1.1#")
    declined = parse_qs(urlsplit(consent(backend, decision="decline")).query)
    assert declined == {"state": ["st-123"], "error": ["access_denied"]}
    unknown = httpx.get(url.replace(RU_NAME, "someone-elses-runame"))
    assert unknown.status_code == 400 and "unauthorized_client" in unknown.text


def test_code_exchange_uses_basic_auth_and_the_runame_and_a_code_works_once(fake, backend):
    code = parse_qs(urlsplit(consent(backend)).query)["code"][0]
    before = time.time()
    credentials = backend.exchange_code(code=code, redirect_uri=REDIRECT, params={"code": code, "state": "s"})
    assert set(credentials) == {"access_token", "refresh_token", "expires_at", "refresh_token_expires_at", "token_type"}
    assert credentials["token_type"] == "User Access Token"
    assert before + 7200 <= credentials["expires_at"] <= time.time() + 7200
    assert before + 47_304_000 <= credentials["refresh_token_expires_at"] <= time.time() + 47_304_000
    assert fake.token_requests == [{"grant_type": "authorization_code", "scope": None, "basic_ok": True}]
    with pytest.raises(AuthorizationError) as reused:
        backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    assert reused.value.user_message == (
        "eBay did not accept the authorization (a code works once, for 5 minutes). Connect eBay again."
    )
    late = parse_qs(urlsplit(consent(backend)).query)["code"][0]
    fake.clock_offset = 300
    with pytest.raises(AuthorizationError):
        backend.exchange_code(code=late, redirect_uri=REDIRECT, params={})


def test_discovery_gives_one_account_per_marketplace_the_seller_sells_on(db, fake, backend):
    accounts = backend.discover_accounts(credentials=authorize(backend))
    assert accounts == [
        DiscoveredAccount(
            external_id=US,
            name="Hearth & Grain Home · eBay US",
            currency="USD",
            time_zone="America/Los_Angeles",
            marketplace="EBAY_US",
            config={"user_id": USER_ID, "username": "hearthandgrain_home", "marketplace_id": "EBAY_US"},
        ),
        DiscoveredAccount(
            external_id=GB,
            name="Hearth & Grain Home · eBay UK",
            currency="GBP",
            time_zone="Europe/London",
            marketplace="EBAY_GB",
            config={"user_id": USER_ID, "username": "hearthandgrain_home", "marketplace_id": "EBAY_GB"},
        ),
    ]
    assert [r for r in fake.requests if r[0] == "GET" and r[1] != "/oauth2/authorize"] == [
        ("GET", "/apiz/commerce/identity/v1/user/", 200),
        ("GET", "/api/sell/marketing/v1/ad_campaign", 200),  # 8 campaigns: one page
    ]


def test_an_expired_access_token_is_refreshed_with_basic_auth_and_the_scopes(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    stale = {**connection.credentials, "expires_at": time.time() - 5}
    services.connection_save_credentials(connection=connection, credentials=stale)

    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert fake.token_requests[1:] == [{"grant_type": "refresh_token", "scope": " ".join(api.SCOPES), "basic_ok": True}]
    connection.refresh_from_db()
    assert connection.credentials["access_token"] != stale["access_token"]
    assert connection.credentials["refresh_token"] == stale["refresh_token"]  # eBay does not rotate it
    assert connection.credentials["refresh_token_expires_at"] == stale["refresh_token_expires_at"]
    assert connection.credentials["expires_at"] > time.time() + 7000
    assert [r for r in fake.requests if r[2] == 401] == []


def test_a_401_refreshes_the_token_once_and_repeats_the_call(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    fake.expire_access_tokens()  # eBay stopped accepting a token we still think is fresh
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert fake.requests[:3] == [
        ("GET", "/api/sell/marketing/v1/ad_campaign", 401),
        ("POST", "/identity/v1/oauth2/token", 200),
        ("GET", "/api/sell/marketing/v1/ad_campaign", 200),
    ]


def test_an_expired_refresh_token_asks_to_reconnect_without_calling_ebay(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    gone = {**connection.credentials, "expires_at": 0, "refresh_token_expires_at": time.time() - 1}
    services.connection_save_credentials(connection=connection, credentials=gone)
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code, run.message) == (RunStatus.FAILED, "reauth", RECONNECT)
    assert fake.requests == []


# --- syncing ------------------------------------------------------------------------------------------------


def test_full_sync_loads_ads_orders_and_daily_sales_exactly_and_a_rerun_changes_nothing(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    fake.requests.clear()
    fake.marketplace_headers.clear()
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    start, end = run.window_start, report_end(fake, run)
    assert (run.status, run.progress, run.message, run.attempts) == (RunStatus.SUCCEEDED, 100, "", 1)
    assert (run.window_end - start).days == 90
    # Ads: every listing row, and the campaign rows as their sums, exactly the fake's.
    want = expected_ads(fake, "EBAY_US", start, end)
    assert loaded_ads(connection) == want
    assert want["product"]["orders"] > 500 and want["product"]["cost"] > Decimal("1000")
    assert set(
        AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).values_list(
            "channel", "account_id", "marketplace", "currency", "attribution_window"
        )
    ) == {("ebay_pl", US, "EBAY_US", "USD", "30d")}
    # Reconciliation: eBay's own account report, beside what we loaded.
    t = fake.dataset.ad_totals("EBAY_US", start, end, fake.current_time())
    assert run.platform_totals == {
        "account_performance_report": {
            "report": "ACCOUNT_PERFORMANCE_REPORT",
            "day_time_zone": "MST",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "days": (end - start).days + 1,
            "currency": "USD",
            "impressions": t["impressions"],
            "clicks": t["clicks"],
            "orders": t["orders"],
            "cost": str(t["cost"]),
            "sales": str(t["sales"]),
        }
    }
    assert run.cursor["done"] == pieces(start, end) and len(pieces(start, end)) == 6  # 31 + 31 + 29 days, x2
    assert (run.cursor["tasks"], run.cursor["entities"], run.cursor["orders_done"]) == ({}, True, True)
    assert tasks_created(fake) == 6
    assert sleeper.waits.count(POLL) == 6  # one wait per task: the fake finishes on the second poll
    # Every sell call named the marketplace.
    assert set(fake.marketplace_headers) == {"EBAY_US"}
    # Campaigns of this marketplace only, under an ad account keeping eBay's MST report day.
    with organization_scope(org):
        account = AdAccount.objects.get()
        assert (account.channel, account.external_id, account.currency, account.time_zone, account.marketplace) == (
            "ebay_pl",
            US,
            "USD",
            "America/Phoenix",
            "EBAY_US",
        )
        assert sorted(Campaign.objects.values_list("name", "state", "targeting_type")) == [
            ("Decor · General 4.5%", "RUNNING", "COST_PER_SALE"),
            ("Kitchen · General 5.5%", "RUNNING", "COST_PER_SALE"),
            ("Lamps · General 6%", "RUNNING", "COST_PER_SALE"),
            ("Textiles · General 5%", "RUNNING", "COST_PER_SALE"),
        ]
    # Orders: the US ones modified since the window's first day; the GB ones were left to the GB connection.
    expected = assert_orders_loaded(org, fake, "EBAY_US", run)
    assert not StoreOrder.unscoped_objects.filter(organization=org).exclude(marketplace="EBAY_US").exists()
    order, state = next((o, s) for o, s in expected if len(o.lines) > 1 and any(line.via_ad for line in o.lines))
    row = StoreOrder.unscoped_objects.get(organization=org, external_id=order.order_id)
    assert (row.date, row.currency, row.total, row.units, row.ordered_at) == (
        order.created_at.astimezone(LA).date(),
        "USD",
        Decimal(order.total).scaleb(-2),
        order.units,
        order.created_at,
    )
    assert row.attribution == {"sold_via_ad_campaign": [line.line_item_id for line in order.lines if line.via_ad]}
    stored_lines = StoreOrderLine.unscoped_objects.filter(order=row)
    assert sorted(stored_lines.values_list("external_id", "sku", "asin", "quantity", "amount")) == sorted(
        (line.line_item_id, line.listing.sku, line.listing.listing_id, line.quantity, Decimal(line.amount).scaleb(-2))
        for line in order.lines
    )
    # Daily sales of every day of the window, recomputed from the stored orders: the store's own figures.
    assert sales_rows(org, "EBAY_US") == expected_sales(fake, "EBAY_US", start, run.window_end)
    assert StoreOrder.unscoped_objects.filter(organization=org, date__lt=start).exists()  # old, modified lately
    assert not StoreSalesDaily.unscoped_objects.filter(organization=org, date__lt=start).exists()

    counts = (
        AdPerformanceDaily.unscoped_objects.count(),
        StoreOrder.unscoped_objects.count(),
        StoreOrderLine.unscoped_objects.count(),
    )
    again = run_sync(connection, django_capture_on_commit_callbacks)

    assert again.status == RunStatus.SUCCEEDED
    assert again.window_start == run.window_end - timedelta(days=3)  # the 72-hour reconciliation lookback
    assert loaded_ads(connection) == want
    assert (
        AdPerformanceDaily.unscoped_objects.count(),
        StoreOrder.unscoped_objects.count(),
        StoreOrderLine.unscoped_objects.count(),
    ) == counts
    assert sales_rows(org, "EBAY_US") == expected_sales(fake, "EBAY_US", start, run.window_end)


def test_the_uk_connection_keeps_its_currency_its_day_and_its_orders(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, marketplace="EBAY_GB")
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert run.status == RunStatus.SUCCEEDED
    start, end = run.window_start, report_end(fake, run)
    assert loaded_ads(connection) == expected_ads(fake, "EBAY_GB", start, end)
    assert set(
        AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).values_list("currency", "marketplace")
    ) == {("GBP", "EBAY_GB")}
    assert run.platform_totals["account_performance_report"]["currency"] == "GBP"
    expected = assert_orders_loaded(org, fake, "EBAY_GB", run)
    late = next(o for o, _ in expected if o.created_at.astimezone(LONDON).hour == 0 or o.created_at.hour == 23)
    assert StoreOrder.unscoped_objects.get(external_id=late.order_id).date == late.created_at.astimezone(LONDON).date()
    assert sales_rows(org, "EBAY_GB") == expected_sales(fake, "EBAY_GB", start, run.window_end)
    assert {r[4] for r in sales_rows(org, "EBAY_GB")} == {"GBP"}


def test_restated_sales_and_ad_fees_overwrite_what_was_loaded(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    first = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)
    start, end = first.window_start, report_end(fake, first)
    recent = end - timedelta(days=RESTATED_DAYS - 1)
    before = fake.dataset.ad_totals("EBAY_US", recent, end, fake.current_time())

    fake.restatement += 1  # eBay credits late-attributed sales during its 72-hour reconciliation
    again = run_sync(connection, django_capture_on_commit_callbacks)

    assert again.status == RunStatus.SUCCEEDED
    after = fake.dataset.ad_totals("EBAY_US", recent, end, fake.current_time(), restatement=1)
    assert after["sales"] > before["sales"] and after["cost"] > before["cost"]
    assert loaded_ads(connection) == expected_ads(fake, "EBAY_US", start, end, restatement=1)
    recent_rows = AdPerformanceDaily.unscoped_objects.filter(
        source_ref=connection.pk, grain="campaign", date__gte=recent
    )
    assert recent_rows.aggregate(sales=Sum("sales"), cost=Sum("cost"), orders=Sum("orders")) == {
        "sales": after["sales"],
        "cost": after["cost"],
        "orders": after["orders"],
    }
    totals = again.platform_totals["account_performance_report"]
    assert (totals["start"], Decimal(totals["cost"])) == (
        again.window_start.isoformat(),
        fake.dataset.ad_totals("EBAY_US", again.window_start, end, fake.current_time(), restatement=1)["cost"],
    )


def test_a_later_refund_overwrites_the_order_and_leaves_gross_daily_sales(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    first = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)
    sales = sales_rows(org, "EBAY_US")
    ten_days_ago = first.window_end - timedelta(days=10)
    order, state = next(
        (o, s)
        for o, s in fake.visible_orders("EBAY_US")
        if o.created_at.astimezone(LA).date() == ten_days_ago and not s.refunds
    )
    fake.refund(order.order_id, 1000, at=fake.current_time() - timedelta(minutes=5))
    orders = StoreOrder.unscoped_objects.count()

    second = run_sync(connection, django_capture_on_commit_callbacks)

    assert second.status == RunStatus.SUCCEEDED
    row = StoreOrder.unscoped_objects.get(external_id=order.order_id)
    assert (row.refunded, row.status, row.total) == (
        Decimal("10.00"),
        "partially_refunded",
        Decimal(order.total).scaleb(-2),
    )
    assert StoreOrder.unscoped_objects.count() == orders
    assert sales_rows(org, "EBAY_US") == sales  # gross: the refund is on the order row, the days are unchanged


def test_orders_are_paged_with_limit_and_offset(org, fake, backend, settings, django_capture_on_commit_callbacks):
    settings.PLATFORMS["ebay"]["orders_page_size"] = 150
    connection = Connection.unscoped_objects.get(pk=connect(org, backend).pk)
    Connection.unscoped_objects.filter(pk=connection.pk).update(backfill_days=20)
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert run.status == RunStatus.SUCCEEDED
    tz_since = datetime.combine(run.window_start, datetime.min.time(), tzinfo=LA)
    every = [o for o, s in fake.visible_orders() if s.updated_at >= tz_since]  # both marketplaces, one list
    pages = [r for r in fake.requests if r[1] == "/api/sell/fulfillment/v1/order"]
    assert len(pages) == -(-len(every) // 150) > 2
    assert run.cursor["orders_offset"] == len(every)
    assert_orders_loaded(org, fake, "EBAY_US", run)


# --- faults -------------------------------------------------------------------------------------------------


def test_throttling_and_server_errors_and_timeouts_are_retried(
    org, fake, backend, settings, sleeper, django_capture_on_commit_callbacks
):
    # long enough for a busy machine, short enough to give up on "slow"
    settings.PLATFORMS["ebay"]["timeout"] = 1.0
    connection = connect(org, backend)
    fake.faults.add("campaigns", "429", retry_after=7)
    fake.faults.add("orders", "500")
    fake.faults.add("orders", "429", retry_after=3)
    fake.faults.add("report_status", "slow", seconds=2.5)  # answers after the client gave up
    fake.faults.add("download", "500")
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert fake.faults.pending() == 0
    assert 7.0 in sleeper.waits and 3.0 in sleeper.waits
    deadline = time.monotonic() + 5  # the abandoned slow request finishes on the server after the client gave up
    while len([r for r in fake.requests if r[2] >= 429]) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(r[2] for r in fake.requests if r[2] >= 429) == [429, 429, 500, 500, 503]
    assert loaded_ads(connection) == expected_ads(fake, "EBAY_US", run.window_start, report_end(fake, run))
    assert_orders_loaded(org, fake, "EBAY_US", run)


def test_the_report_quota_hands_the_run_back_for_an_hour_and_the_retry_goes_on_where_it_stopped(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    fake.report_quota = 5  # two creates, two polls and a download: the next report call is refused

    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    assert (raised.value.user_message, raised.value.retry_after) == (QUOTA, 3600.0)
    run.refresh_from_db()
    first_chunk = pieces(run.window_start, report_end(fake, run))[:2]
    assert (run.status, run.message, run.cursor["done"]) == (RunStatus.QUEUED, QUOTA, first_chunk[:1])
    assert list(run.cursor["tasks"]) == first_chunk[1:]
    account_task = run.cursor["tasks"][first_chunk[1]]
    assert fake.requests[-1] == ("GET", f"/api/sell/marketing/v1/ad_report_task/{account_task}", 429)
    assert tasks_created(fake) == 2

    fake.report_calls.clear()  # an hour later
    fake.report_quota = 200
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 2, "")
    assert tasks_created(fake) == 6  # the account report's task was polled again, not asked for twice
    assert loaded_ads(connection) == expected_ads(fake, "EBAY_US", run.window_start, report_end(fake, run))


def test_the_rate_limiter_paces_report_calls_at_200_an_hour(
    org, fake, backend, settings, sleeper, django_capture_on_commit_callbacks
):
    for knob in ("rate", "burst"):
        settings.PLATFORMS["ebay"].pop(knob)
    connection = connect(org, backend)

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert run.status == RunStatus.SUCCEEDED
    report_calls = [r for r in fake.requests if "/sell/marketing/v1/ad_report" in r[1]]
    assert len(report_calls) == 6 + 12 + 6  # creates, polls (two a task), downloads
    paced = [w for w in sleeper.waits if w > 5]  # the bucket: 20 at once, then one every 18 s
    assert len(paced) == len(report_calls) - 20
    assert paced[0] == pytest.approx(18.0, abs=1.0)
    assert paced[-1] == pytest.approx(18.0 * len(paced), abs=2.0)  # owed tokens queue behind each other


def test_a_truncated_report_loads_nothing_and_the_retry_polls_the_same_task(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    fake.faults.add("download", "truncate")  # the first listing report stops half-way

    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    assert raised.value.user_message == INCOMPLETE
    run.refresh_from_db()
    assert (run.status, run.message, run.error_code, run.attempts) == (RunStatus.QUEUED, INCOMPLETE, "transient", 1)
    assert not AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).exists()  # not one row of it
    first_chunk = pieces(run.window_start, report_end(fake, run))[:2]
    assert (run.cursor["entities"], sorted(run.cursor["tasks"])) == (True, sorted(first_chunk))
    assert "done" not in run.cursor
    assert tasks_created(fake) == 2

    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 2, "")
    assert tasks_created(fake) == 6  # the cut report's task was polled again and its file downloaded again
    assert loaded_ads(connection) == expected_ads(fake, "EBAY_US", run.window_start, report_end(fake, run))


def test_truncated_reports_every_attempt_fail_the_run_after_max_attempts(
    org, fake, backend, django_capture_on_commit_callbacks, eager_retries, retry_countdowns
):
    connection = connect(org, backend)
    fake.faults.add("download", "truncate", times=services.MAX_ATTEMPTS)

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts, run.message) == (RunStatus.FAILED, services.MAX_ATTEMPTS, INCOMPLETE)
    assert retry_countdowns == [30, 60, 120, 240]
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.ERROR, INCOMPLETE)
    assert not AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).exists()


def test_a_task_ebay_fails_is_asked_for_again(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    fake.faults.add("report_status", "fail")

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert [t["status"] for t in fake.tasks.values()].count("FAILED") == 1
    assert tasks_created(fake) == 7
    assert loaded_ads(connection) == expected_ads(fake, "EBAY_US", run.window_start, report_end(fake, run))


def test_a_task_failing_twice_hands_the_run_back(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    fake.faults.add("report_status", "fail", times=2)

    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    assert raised.value.user_message == "eBay could not prepare a Promoted Listings report; the sync will retry."
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert piece_key(run.window_start, run.window_start + timedelta(days=30), "listing") not in run.cursor["tasks"]


def test_a_revoked_grant_mid_sync_fails_the_run_and_asks_to_reconnect_ebay(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    fake.faults.add("report_create", "revoke")  # the seller withdrew our access after the campaigns were read

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.error_code, run.message, run.attempts) == (RunStatus.FAILED, "reauth", RECONNECT, 1)
    assert "Reconnect eBay" in run.message
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, RECONNECT)
    assert fake.token_requests[-1]["grant_type"] == "refresh_token"  # refused: invalid_grant
    with organization_scope(org):
        assert Campaign.objects.count() == 4  # what was read before the revocation stays
    assert not AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).exists()


def test_a_killed_worker_resumes_from_its_cursor_without_duplicates(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    sleeper.kill_at_poll = 3  # dies waiting for the third report: the first chunk is loaded, two more asked for

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    end = report_end(fake, run)
    all_pieces = pieces(run.window_start, end)
    assert run.status == RunStatus.RUNNING
    assert run.cursor["done"] == all_pieces[:2]
    assert sorted(run.cursor["tasks"]) == sorted(all_pieces[2:4])
    assert tasks_created(fake) == 4
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))

    assert services.sync_runs_sweep() == [(org.pk, run.pk)]
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.QUEUED, "Resumed after the worker running it stopped.")
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED

    run.refresh_from_db()
    assert (run.status, run.attempts, run.cursor["done"]) == (RunStatus.SUCCEEDED, 2, all_pieces)
    assert tasks_created(fake) == 6  # the two asked for before the kill were polled, not asked for again
    want = expected_ads(fake, "EBAY_US", run.window_start, end)
    assert loaded_ads(connection) == want
    assert run.platform_totals["account_performance_report"]["orders"] == want["product"]["orders"]
    # Same as a clean run of another seller over the same days.
    other = OrganizationFactory()
    clean = connect(other, backend)
    assert run_sync(clean, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL).status == RunStatus.SUCCEEDED
    assert loaded_ads(clean) == loaded_ads(connection) == want
    assert sales_rows(other, "EBAY_US") == sales_rows(org, "EBAY_US")


def test_an_orders_page_that_keeps_failing_hands_the_run_back_and_the_retry_resumes_at_its_offset(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    # The third page fails five times: PlatformHTTP's four retries run out and the run is handed back.
    fake.faults.add("orders", "500", times=5, after=2)

    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    assert raised.value.user_message == "eBay is busy or unavailable (HTTP 500); the sync will retry."
    run.refresh_from_db()
    assert (run.status, run.cursor["orders_offset"], run.cursor.get("orders_done")) == (RunStatus.QUEUED, 400, None)
    assert len(run.cursor["done"]) == 6
    loaded_before = StoreOrder.unscoped_objects.filter(organization=org).count()
    assert loaded_before > 0
    fake.requests.clear()

    with organization_scope(org):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert not [r for r in fake.requests if "ad_report" in r[1]]  # the reports were done: not asked for again
    total = run.cursor["orders_offset"]
    assert len([r for r in fake.requests if r[1] == "/api/sell/fulfillment/v1/order"]) == -(-(total - 400) // 200)
    assert_orders_loaded(org, fake, "EBAY_US", run)
    assert sales_rows(org, "EBAY_US") == expected_sales(fake, "EBAY_US", run.window_start, run.window_end)


# --- the fake keeps eBay's rules ----------------------------------------------------------------------------


def test_fake_enforces_basic_auth_scopes_marketplaces_and_the_report_flow(fake, backend):
    token_url = f"{fake.public_url}/identity/v1/oauth2/token"
    no_basic = httpx.post(token_url, data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert (no_basic.status_code, no_basic.json()["error"]) == (401, "invalid_client")
    credentials = authorize(backend)
    api_url = f"{fake.public_url}/api"
    bearer = {"Authorization": f"Bearer {credentials['access_token']}"}

    anonymous = httpx.get(f"{api_url}/sell/fulfillment/v1/order")
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "errors": [
            {
                "errorId": 1001,
                "domain": "OAuth",
                "category": "REQUEST",
                "message": "Invalid access token",
                "longMessage": "Invalid access token. Check the value of the Authorization HTTP request header.",
            }
        ]
    }
    bad_market = httpx.get(
        f"{api_url}/sell/fulfillment/v1/order", headers={**bearer, "X-EBAY-C-MARKETPLACE-ID": "EBAY_XX"}
    )
    assert (bad_market.status_code, bad_market.json()["errors"][0]["errorId"]) == (400, 35001)
    too_many = httpx.get(f"{api_url}/sell/fulfillment/v1/order", params={"limit": 201}, headers=bearer)
    assert too_many.status_code == 400 and "1 - 200" in too_many.json()["errors"][0]["message"]

    # A grant without the marketing scope cannot ask for reports.
    narrow = backend.authorization_url(state="s", redirect_uri=REDIRECT).replace(
        "https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%2Fsell.marketing+", ""
    )
    code = parse_qs(urlsplit(consent(backend, url=narrow)).query)["code"][0]
    limited = backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    denied = httpx.post(
        f"{api_url}/sell/marketing/v1/ad_report_task",
        json={},
        headers={"Authorization": f"Bearer {limited['access_token']}"},
    )
    assert (denied.status_code, denied.json()["errors"][0]["errorId"]) == (403, 1100)

    today = fake.report_today()
    body = api.report_task_body("listing", "EBAY_US", today - timedelta(days=1), today)
    mixed = httpx.post(
        f"{api_url}/sell/marketing/v1/ad_report_task", json={**body, "metricKeys": ["cpc_clicks"]}, headers=bearer
    )
    assert (mixed.status_code, mixed.json()["errors"][0]["errorId"]) == (400, 35122)
    no_listing = httpx.post(
        f"{api_url}/sell/marketing/v1/ad_report_task",
        json={**body, "dimensions": [{"dimensionKey": "day"}]},
        headers=bearer,
    )
    assert (no_listing.status_code, no_listing.json()["errors"][0]["errorId"]) == (400, 35119)
    created = httpx.post(f"{api_url}/sell/marketing/v1/ad_report_task", json=body, headers=bearer)
    assert (created.status_code, created.content) == (202, b"")
    location = created.headers["Location"]
    assert re.fullmatch(rf"{re.escape(api_url)}/sell/marketing/v1/ad_report_task/\d+", location)
    statuses = [httpx.get(location, headers=bearer).json() for _ in range(2)]
    assert [s["reportTaskStatus"] for s in statuses] == ["IN_PROGRESS", "SUCCESS"]
    assert statuses[1]["reportHref"] == f"{api_url}/sell/marketing/v1/ad_report/{statuses[1]['reportId']}"
    assert httpx.get(statuses[1]["reportHref"]).status_code == 401  # the download needs the token too
    lines = gzip.decompress(httpx.get(statuses[1]["reportHref"], headers=bearer).content).decode().splitlines()
    assert lines[0].startswith("Listing performance report\tEBAY_US\t")
    assert lines[1].split("\t") == api.report_columns("listing") == [
        "campaign_id", "campaign_name", "listing_id", "listing_title", "day",
        "impressions", "clicks", "sales", "sale_amount", "ad_fees",
    ]  # fmt: skip
    first = dict(zip(lines[1].split("\t"), lines[2].split("\t"), strict=True))
    assert first["day"] == (today - timedelta(days=1)).isoformat()
    assert re.fullmatch(r"USD \d+\.\d\d", first["ad_fees"]) and re.fullmatch(r"\d{12}", first["listing_id"])
    assert (
        len(lines) - 2 == fake.dataset.ad_totals("EBAY_US", today - timedelta(days=1), today, fake.now)["product_rows"]
    )


# --- mapping and parsing ------------------------------------------------------------------------------------

ROW = {
    "campaign_id": "13008407471",
    "campaign_name": "Lamps · General 6.5%",
    "listing_id": "356387820268",
    "listing_title": "Ceramic Table Lamp | Hearth & Grain Home",
    "day": "2026-05-04",
    "impressions": "1,216",
    "clicks": "13",
    "sales": "2",
    "sale_amount": "GBP 1,063.98",
    "ad_fees": "GBP 69.16",
}


def fact(**overrides) -> AdFact:
    base = {
        "channel": "ebay_pl",
        "account_id": GB,
        "marketplace": "EBAY_GB",
        "date": date(2026, 5, 4),
        "grain": "product",
        "campaign_id": "13008407471",
        "campaign_name": "Lamps · General 6.5%",
        "ad_group_id": "",
        "ad_group_name": "",
        "target_id": "",
        "target_text": "",
        "match_type": "",
        "search_term": "",
        "product_id": "356387820268",
        "impressions": 1216,
        "clicks": 13,
        "cost": Decimal("69.16"),
        "orders": 2,
        "units": 2,
        "sales": Decimal("1063.98"),
        "currency": "GBP",
        "attribution_window": "30d",
        "source": "api",
        "source_ref": 42,
    }
    return AdFact(**{**base, **overrides})


def facts(rows, **kwargs) -> list[AdFact]:
    options = {
        "account_id": GB,
        "marketplace": "EBAY_GB",
        "currency": "GBP",
        "start": date(2026, 5, 1),
        "end": date(2026, 5, 31),
        "source_ref": 42,
    }
    return list(mapping.ad_facts(rows, **{**options, **kwargs}))


def test_listing_report_rows_map_every_column_and_campaign_rows_are_their_sums():
    other_listing = {**ROW, "listing_id": "356222183275", "impressions": "84", "clicks": "0", "sales": "0",
                     "sale_amount": "GBP 0.00", "ad_fees": "GBP 0.00"}  # fmt: skip
    next_day = {**ROW, "day": "20260505", "sale_amount": "531.99", "ad_fees": "34.58", "sales": "1"}
    got = facts([ROW, other_listing, next_day])
    assert got == [
        fact(),
        fact(product_id="356222183275", impressions=84, clicks=0, orders=0, units=0, cost=Decimal("0.00"),
             sales=Decimal("0.00")),
        fact(date=date(2026, 5, 5), orders=1, units=1, cost=Decimal("34.58"), sales=Decimal("531.99")),
        fact(grain="campaign", product_id="", impressions=1300, clicks=13, cost=Decimal("69.16"),
             sales=Decimal("1063.98")),
        fact(grain="campaign", product_id="", date=date(2026, 5, 5), orders=1, units=1, cost=Decimal("34.58"),
             sales=Decimal("531.99")),
    ]  # fmt: skip
    assert str(got[0].cost) == "69.16" and isinstance(got[0].sales, Decimal)


def test_report_rows_outside_the_chunk_are_left_out_and_unreadable_cells_are_refused():
    skipped: list = []
    got = facts([{**ROW, "day": "2026-06-01"}, ROW], end=date(2026, 5, 31), skipped=skipped)
    assert [f.date for f in got] == [date(2026, 5, 4), date(2026, 5, 4)] and len(skipped) == 1
    with pytest.raises(api.ReportFormatError):
        facts([{**ROW, "ad_fees": "lots"}])
    with pytest.raises(api.ReportFormatError):
        facts([{**ROW, "day": "yesterday"}])


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("GBP 1,063.98", (Decimal("1063.98"), "GBP")),
        ("12.3", (Decimal("12.3"), "USD")),
        ("$0.74", (Decimal("0.74"), "USD")),
        ("EUR -1.50", (Decimal("-1.50"), "EUR")),
        ("", (Decimal(0), "USD")),
        ("--", (Decimal(0), "USD")),
    ],
)
def test_amounts_keep_their_currency_and_exact_decimals(text, want):
    assert mapping.parse_money(text, "USD") == want


@pytest.mark.parametrize("text", ["2026-05-04", "20260504", "2026-05-04T07:00:00.000Z", "05/04/2026"])
def test_report_days_in_every_form_are_the_same_mst_day(text):
    assert api.parse_day(text) == date(2026, 5, 4)


def test_the_tsv_stream_finds_its_header_after_title_lines_across_any_split():
    text = (
        "\ufeffListing performance report\tEBAY_US\t2026-05-01 - 2026-05-31 (MST)\r\n"
        "\r\n"
        "campaign_id\tcampaign_name\tlisting_id\tday\tad_fees\r\n"
        "1\tLamps · General 6%\t356\t2026-05-04\tUSD 1.50\r\n"
        "2\tDecor\t357\t2026-05-05\tUSD 0.00\n"
        "short line\n"
    )
    data = gzip.compress(text.encode())
    want = [
        {"campaign_id": "1", "campaign_name": "Lamps · General 6%", "listing_id": "356", "day": "2026-05-04",
         "ad_fees": "USD 1.50"},
        {"campaign_id": "2", "campaign_name": "Decor", "listing_id": "357", "day": "2026-05-05", "ad_fees": "USD 0.00"},
    ]  # fmt: skip
    required = ["campaign_id", "listing_id", "day", "ad_fees"]
    for cut in range(1, len(data)):
        assert list(api.iter_gzip_tsv([data[:cut], data[cut:]], required=required)) == want
    assert list(api.iter_gzip_tsv([data[i : i + 1] for i in range(len(data))], required=required)) == want
    with pytest.raises(api.ReportFormatError):
        list(api.iter_gzip_tsv([data], required=[*required, "clicks"]))


def test_a_gzip_cut_short_yields_what_arrived_then_raises():
    text = "impressions\tday\n" + "".join(f"{i}\t2026-05-04\n" for i in range(5000))
    data = gzip.compress(text.encode())
    assert len(list(api.iter_gzip_tsv([data], required=["impressions", "day"]))) == 5000
    got = []
    with pytest.raises(ValueError, match="ended early"):
        for row in api.iter_gzip_tsv([data[: len(data) // 2]], required=["impressions", "day"]):
            got.append(row)
    assert 0 < len(got) < 5000


ORDER = {
    "orderId": "31-02344-07123",
    "creationDate": "2026-03-29T23:30:00.000Z",  # 00:30 on 30 March in London (BST began that night)
    "lastModifiedDate": "2026-04-05T10:00:00.000Z",
    "orderFulfillmentStatus": "FULFILLED",
    "orderPaymentStatus": "PARTIALLY_REFUNDED",
    "pricingSummary": {
        "priceSubtotal": {"value": "71.97", "currency": "GBP"},
        "deliveryCost": {"value": "0.00", "currency": "GBP"},
        "total": {"value": "71.97", "currency": "GBP"},
    },
    "cancelStatus": {"cancelState": "NONE_REQUESTED", "cancelRequests": []},
    "paymentSummary": {
        "refunds": [
            {"refundId": "r1", "refundDate": "2026-04-05T10:00:00.000Z",
             "amount": {"value": "10.00", "currency": "GBP"}, "refundStatus": "REFUNDED"},
            {"refundId": "r2", "amount": {"value": "5.00", "currency": "GBP"}, "refundStatus": "PENDING"},
        ]
    },
    "lineItems": [
        {"lineItemId": "10003000012", "legacyItemId": "356387820268", "sku": "HG-LAMP-01",
         "title": "Ceramic Table Lamp", "lineItemCost": {"value": "63.98", "currency": "GBP"}, "quantity": 2,
         "listingMarketplaceId": "EBAY_GB", "purchaseMarketplaceId": "EBAY_GB",
         "properties": {"buyerProtection": True, "soldViaAdCampaign": True},
         "refunds": [{"amount": {"value": "2.50", "currency": "GBP"}, "refundDate": "2026-04-06T09:00:00.000Z"}]},
        {"lineItemId": "10003000013", "legacyItemId": "356222183275", "title": "Gift wrap",
         "lineItemCost": {"value": "7.99", "currency": "GBP"}, "quantity": 1, "listingMarketplaceId": "EBAY_GB"},
    ],
}  # fmt: skip


def test_an_order_maps_to_an_order_fact_on_the_marketplaces_day():
    got = mapping.order_fact(ORDER, marketplace="EBAY_GB", tz=LONDON, source_ref=7)

    assert (got.platform, got.marketplace, got.external_id, got.source_ref) == ("ebay", "EBAY_GB", ORDER["orderId"], 7)
    assert (got.ordered_at, got.date) == (datetime(2026, 3, 29, 23, 30, tzinfo=UTC), date(2026, 3, 30))
    assert (got.status, got.currency, got.total, got.refunded, got.units) == (
        "partially_refunded",
        "GBP",
        Decimal("71.97"),
        Decimal("12.50"),  # the issued order refund and the line refund; the pending one is not money back yet
        3,
    )
    assert (got.landing_site, got.referrer, got.attribution) == ("", "", {"sold_via_ad_campaign": ["10003000012"]})
    assert [(line.external_id, line.sku, line.asin, line.title, line.quantity, line.amount, line.currency)
            for line in got.lines] == [
        ("10003000012", "HG-LAMP-01", "356387820268", "Ceramic Table Lamp", 2, Decimal("63.98"), "GBP"),
        ("10003000013", "", "356222183275", "Gift wrap", 1, Decimal("7.99"), "GBP"),
    ]  # fmt: skip
    assert mapping.order_marketplace(ORDER) == "EBAY_GB"
    cancelled = {**ORDER, "cancelStatus": {"cancelState": "CANCELED"}, "orderPaymentStatus": "FULLY_REFUNDED"}
    assert mapping.order_fact(cancelled, marketplace="EBAY_GB", tz=LONDON, source_ref=7).status == "cancelled"


def test_campaigns_map_to_entity_rows_and_marketplaces_come_from_campaigns():
    item = {
        "campaignId": "11001327362",
        "campaignName": "Lamps · General 6%",
        "campaignStatus": "RUNNING",
        "marketplaceId": "EBAY_US",
        "fundingStrategy": {"fundingModel": "COST_PER_SALE", "bidPercentage": "6.0"},
    }
    assert mapping.campaign_row(item) == {
        "external_id": "11001327362",
        "name": "Lamps · General 6%",
        "state": "RUNNING",
        "targeting_type": "COST_PER_SALE",
        "budget": None,
        "budget_type": "",
        "portfolio": "",
    }
    user = {"userId": "u1", "username": "seller", "registrationMarketplaceId": "EBAY_DE"}
    campaigns = [{"marketplaceId": "EBAY_US"}, {"marketplaceId": "EBAY_AU"}, {"marketplaceId": "EBAY_DE"}]
    assert mapping.seller_marketplaces(user, campaigns) == ["EBAY_DE", "EBAY_US"]  # AU: not supported yet


def test_demo_data_is_deterministic_and_tells_one_story():
    a, b = Dataset(), Dataset()
    now = datetime(2026, 6, 15, 18, 0, tzinfo=UTC)
    start, end = date(2026, 3, 1), date(2026, 5, 31)
    assert a.ad_totals("EBAY_US", start, end, now) == b.ad_totals("EBAY_US", start, end, now)
    assert [o.order_id for o, _ in a.visible_orders(now)] == [o.order_id for o, _ in b.visible_orders(now)]
    # Ad-attributed sales are orders' lines sold through a campaign, on the MST report day they fell in.
    ads = a.ad_totals("EBAY_US", start, end, now)
    lines = [
        line
        for day in (start + timedelta(days=i) for i in range(-1, (end - start).days + 2))
        for order in a.orders_on("EBAY_US", day)
        if start <= order.created_at.astimezone(api.REPORT_TZ).date() <= end
        for line in order.lines
        if line.via_ad
    ]
    assert ads["orders"] == len(lines)
    assert ads["sales"] == sum(Decimal(line.amount).scaleb(-2) for line in lines)
    store = sum(total for _o, _u, total in a.daily_sales("EBAY_US", start, end, now).values())
    assert Decimal("0.3") < ads["sales"] / store < Decimal("0.6")  # ads bring a third to a half of the sales
    assert Decimal("0.04") < ads["cost"] / ads["sales"] < Decimal("0.07")  # the campaigns' ad rates
    # Weekly rhythm: Sundays sell more than Thursdays.
    days = a.daily_sales("EBAY_US", date(2025, 6, 1), date(2026, 5, 31), now)
    by_weekday = {w: sum(v[0] for d, v in days.items() if d.weekday() == w) for w in (3, 6)}
    assert by_weekday[6] > by_weekday[3] * 1.15
    assert a.first_day("EBAY_US", now) == date(2026, 6, 15) - timedelta(days=399)


def test_an_ad_sale_late_in_the_evening_in_los_angeles_counts_on_the_next_mst_report_day():
    data = Dataset()
    now = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)  # winter: Los Angeles is UTC-8, eBay's report day UTC-7
    late = next(
        (order, line)
        for day in (date(2026, 1, 1) + timedelta(days=i) for i in range(30))
        for order in data.orders_on("EBAY_US", day)
        for line in order.lines
        if line.via_ad and order.created_at.astimezone(LA).hour == 23
    )
    order, line = late
    la_day = order.created_at.astimezone(LA).date()
    mst_day = order.created_at.astimezone(api.REPORT_TZ).date()
    assert mst_day == la_day + timedelta(days=1)
    next_day = data.ad_day("EBAY_US", mst_day, now)[line.listing.listing_id]
    lines_that_day = [
        x
        for d in (la_day, mst_day)
        for o in data.orders_on("EBAY_US", d)
        if o.created_at.astimezone(api.REPORT_TZ).date() == mst_day
        for x in o.lines
        if x.via_ad and x.listing is line.listing
    ]
    assert line in lines_that_day and next_day[2] == len(lines_that_day)
