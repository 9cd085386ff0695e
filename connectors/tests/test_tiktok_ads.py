"""TikTok Ads end to end against its fake (real HTTP on a local port, real PostgreSQL, Celery eager).

Nothing of ours is mocked: ``settings.PLATFORMS["tiktok_ads"]`` points at the fake, and its ``sleep`` knob
records waits instead of waiting (and can play a killed worker). The fake's own dataset gives the expected
numbers.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from celery.signals import task_retry
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory
from analytics.models import AdPerformanceDaily
from analytics.services import AdFact
from campaigns.models import AdAccount, AdGroup, Campaign
from config.celery_app import app as celery_app
from config.testing import serve_wsgi
from connectors import services
from connectors.backends import get_backend
from connectors.backends.tiktok_ads import client as api
from connectors.backends.tiktok_ads import demo_data, mapping
from connectors.backends.tiktok_ads.backend import date_chunks, piece_key
from connectors.backends.tiktok_ads.demo_data import RESTATED_DAYS, Dataset
from connectors.backends.tiktok_ads.fake import CLIENTS, DEMO_CREDENTIALS, make_app
from connectors.errors import AuthorizationError, TransientError
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.tasks import run_sync as sync_task

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = next(iter(CLIENTS.items()))
REDIRECT = "https://app.chuhai.test/connect/tiktok_ads/callback/"
US, SG = 7312440518829056001, 7312440518829056002
POLL = 0.25  # the first wait between task checks; tests count task waits by it
THROTTLE_WAIT = 0.6  # the first wait after code 40100 (then 1.2, 2.4, 4.8)
REAUTH = (
    "TikTok Ads: reconnect TikTok: our access was revoked or has expired. "
    "Connect the advertiser account again to keep syncing."
)
INCOMPLETE = "A TikTok Ads report arrived incomplete; the sync will retry."
THROTTLED = "TikTok Ads is limiting how fast we may ask (code 40100); the sync will retry."
GRAINS = {"AUCTION_CAMPAIGN": "campaign", "AUCTION_ADGROUP": "ad_group", "AUCTION_AD": "target"}
REPORT = "/open_api/v1.3/report/integrated/get/"
CREATE = "/open_api/v1.3/report/task/create/"


class WorkerKilled(BaseException):  # noqa: N818 - it plays SIGKILL, not an error
    """Raised from the injected sleep: like a killed worker, no ``except Exception`` in the engine sees it."""


class Sleeper:
    """The ``sleep`` knob: records every wait; when ``kill_when()`` says so, that wait kills the worker."""

    def __init__(self):
        self.waits: list[float] = []
        self.kill_when = None

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.kill_when is not None and self.kill_when():
            self.kill_when = None
            raise WorkerKilled


@pytest.fixture
def sleeper():
    return Sleeper()


@pytest.fixture
def fake(settings, sleeper):
    app = make_app()
    with serve_wsgi(app) as url:
        app.public_url = url
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "tiktok_ads": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "auth_url": f"{url}/portal/auth",
                "api_url": f"{url}/open_api/v1.3",
                "sleep": sleeper,
                "poll_interval": POLL,
                "rate_limit_wait": THROTTLE_WAIT,
                "rate": 1000,  # the shared bucket never makes us wait here: the waits we count are TikTok's
                "burst": 1000,
                "timeout": 5,
            },
        }
        yield app


@pytest.fixture
def backend():
    return get_backend("tiktok_ads")


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


def consent(backend, *, decision="allow", state="st-123") -> str:
    """Walk the fake's consent page like a browser; returns the redirect back to us."""
    page = httpx.get(backend.authorization_url(state=state, redirect_uri=REDIRECT))
    assert page.status_code == 200
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    answer = httpx.post(action, data={**fields, "decision": decision})
    assert answer.status_code == 302
    return answer.headers["Location"]


def callback_params(backend) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(consent(backend)).query).items()}


def authorize(backend) -> dict:
    params = callback_params(backend)
    return backend.exchange_code(code=params["code"], redirect_uri=REDIRECT, params=params)


def connect(org, backend, advertiser=US, **overrides) -> Connection:
    credentials = authorize(backend)
    account = next(a for a in backend.discover_accounts(credentials=credentials) if a.external_id == str(advertiser))
    connection = services.connection_upsert(
        organization=org, platform="tiktok_ads", account=account, credentials=credentials, user=None
    )
    if overrides:
        Connection.unscoped_objects.filter(pk=connection.pk).update(**overrides)
        connection.refresh_from_db()
    return connection


def run_sync(connection, capture, kind=RunKind.MANUAL) -> SyncRun:
    connection.refresh_from_db()
    with capture(execute=True):
        run, created = services.sync_run_request(connection=connection, kind=kind)
    assert created
    run.refresh_from_db()
    return run


def loaded(connection) -> dict:
    rows = (
        AdPerformanceDaily.unscoped_objects.filter(organization=connection.organization, source_ref=connection.pk)
        .values("grain")
        .annotate(
            rows=Count("id"),
            impressions=Sum("impressions"),
            clicks=Sum("clicks"),
            cost=Sum("cost"),
            orders=Sum("orders"),
            units=Sum("units"),
            sales=Sum("sales"),
        )
    )
    return {r.pop("grain"): r for r in rows}


def expected(fake, advertiser, start, end, restatement=0) -> dict:
    return {GRAINS[level]: fake.dataset.totals(advertiser, level, start, end, restatement) for level in api.LEVELS}


def platform_totals(fake, advertiser, start, end, currency="USD", restatement=0) -> dict:
    whole = fake.dataset.totals(advertiser, "AUCTION_ADVERTISER", start, end, restatement)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "currency": currency,
        "cost": str(whole["cost"]),
        "impressions": whole["impressions"],
        "clicks": whole["clicks"],
        "orders": whole["orders"],
        "sales": str(whole["sales"]),
        "attribution_window": "7d_click+1d_view",
    }


def pieces(start: date, end: date, days: int) -> list[str]:
    return [piece_key(s, e, level) for s, e in date_chunks(start, end, days) for level in api.LEVELS]


def calls(fake, path: str, code: int | None = 0) -> int:
    return sum(1 for _m, p, status, c in fake.requests if p == path and status == 200 and c == code)


# --- connecting ---------------------------------------------------------------------------------------------


def test_authorization_url_and_consent_page(fake, backend):
    url = backend.authorization_url(state="st-123", redirect_uri=REDIRECT, region="NA")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.public_url}/portal/auth"
    assert parse_qs(parts.query) == {"app_id": [CLIENT_ID], "state": ["st-123"], "redirect_uri": [REDIRECT]}
    allowed = urlsplit(consent(backend))
    query = parse_qs(allowed.query)
    assert f"{allowed.scheme}://{allowed.netloc}{allowed.path}" == REDIRECT
    assert query["state"] == ["st-123"] and query["auth_code"] == query["code"]  # TikTok sends both
    assert re.fullmatch(r"[0-9a-f]{40}", query["auth_code"][0])
    denied = parse_qs(urlsplit(consent(backend, decision="deny")).query)
    assert denied == {
        "error": ["access_denied"],
        "error_description": ["The user cancelled the authorization."],
        "state": ["st-123"],
    }


def test_code_exchange_gives_a_long_term_token_and_a_code_works_once(fake, backend):
    params = callback_params(backend)
    credentials = backend.exchange_code(code="ignored-when-auth_code-is-there", redirect_uri=REDIRECT, params=params)
    # Advertiser tokens are long-term: no expiry and no refresh token to keep.
    assert credentials == {
        "access_token": credentials["access_token"],
        "advertiser_ids": [str(US), str(SG)],
        "scope": [4, 5, 6, 7],
    }
    assert set(credentials) == set(DEMO_CREDENTIALS)  # the demo grant has the very same shape
    with pytest.raises(AuthorizationError) as reused:
        backend.exchange_code(code=params["code"], redirect_uri=REDIRECT, params=params)
    assert reused.value.user_message == (
        "TikTok did not accept the authorization (an authorization code works once, for a short time). "
        "Please connect again."
    )
    assert "code 40002" in reused.value.detail
    late = callback_params(backend)
    fake.clock_offset = 601
    with pytest.raises(AuthorizationError):
        backend.exchange_code(code=late["code"], redirect_uri=REDIRECT, params={})  # ``code`` alone works too
    assert fake.token_grants == ["auth_code"]
    token_calls = [r for r in fake.requests if r[1] == "/open_api/v1.3/oauth2/access_token/"]
    assert [r[2:] for r in token_calls] == [(200, 0), (200, 40002), (200, 40002)]  # errors come with HTTP 200


def test_discovery_gives_one_account_per_advertiser(db, fake, backend):
    accounts = backend.discover_accounts(credentials=authorize(backend))
    got = [(a.external_id, a.name, a.currency, a.time_zone, a.marketplace, a.region, a.config) for a in accounts]
    assert got == [
        (str(US), "Hearth & Grain Home US", "USD", "America/Los_Angeles", "US", "",
         {"company": "Hearth & Grain Home", "status": "STATUS_ENABLE"}),
        (str(SG), "Hearth & Grain Home SG", "SGD", "Asia/Singapore", "SG", "",
         {"company": "Hearth & Grain Home", "status": "STATUS_ENABLE"}),
    ]  # fmt: skip
    info = [r for r in fake.requests if r[1] == "/open_api/v1.3/advertiser/info/"]
    assert info == [("GET", "/open_api/v1.3/advertiser/info/", 200, 0)]  # both advertisers in one call


def test_an_expiring_token_is_refreshed_before_the_first_call_and_saved(
    org, fake, backend, django_capture_on_commit_callbacks
):
    fake.token_lifetime = 86400  # should TikTok ever give advertisers expiring tokens, we keep and refresh them
    connection = connect(org, backend, backfill_days=3)
    first = dict(connection.credentials)
    assert {"refresh_token", "expires_at", "refresh_expires_at"} <= set(first)
    services.connection_save_credentials(connection=connection, credentials={**first, "expires_at": time.time() - 5})

    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert fake.token_grants == ["auth_code", "refresh_token"]
    connection.refresh_from_db()
    saved = connection.credentials
    assert saved["access_token"] != first["access_token"] and saved["refresh_token"] != first["refresh_token"]
    assert saved["expires_at"] > time.time() + 86000
    assert saved["advertiser_ids"] == [str(US), str(SG)]
    assert [r for r in fake.requests if r[3] not in (0, None)] == []  # no call was made with the stale token


def test_an_expired_token_without_a_refresh_token_asks_to_reconnect_without_calling(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=3)
    services.connection_save_credentials(
        connection=connection, credentials={**connection.credentials, "expires_at": time.time() - 5}
    )
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code, run.message) == (RunStatus.FAILED, "reauth", REAUTH)
    assert fake.requests == []


def test_connecting_through_our_pages_loads_both_advertisers(
    fake, org, owner_client, django_capture_on_commit_callbacks
):
    start = owner_client.post(reverse("connect_start", kwargs={"org_slug": org.slug, "platform": "tiktok_ads"}))
    assert start.status_code == 302 and start["Location"].startswith(f"{fake.public_url}/portal/auth?")
    page = httpx.get(start["Location"])
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    back = urlsplit(httpx.post(action, data={**fields, "decision": "allow"}).headers["Location"])
    assert back.path == reverse("connect_callback", kwargs={"platform": "tiktok_ads"})

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.get(f"{back.path}?{back.query}")

    assert response.status_code == 302
    connections = Connection.unscoped_objects.filter(organization=org).order_by("marketplace")
    assert [(c.platform, c.external_id, c.marketplace, c.currency, c.time_zone) for c in connections] == [
        ("tiktok_ads", str(SG), "SG", "SGD", "Asia/Singapore"),
        ("tiktok_ads", str(US), "US", "USD", "America/Los_Angeles"),
    ]
    assert connections[0].credentials == connections[1].credentials  # one authorization, both advertisers
    assert connections[0].lookback_days == 7
    for connection in connections:
        run = SyncRun.unscoped_objects.get(connection=connection)
        assert (run.kind, run.status) == (RunKind.BACKFILL, RunStatus.SUCCEEDED)
        advertiser = int(connection.external_id)
        assert loaded(connection) == expected(fake, advertiser, run.window_start, run.window_end)


# --- syncing ------------------------------------------------------------------------------------------------


def test_a_backfill_loads_every_level_through_report_tasks_and_records_tiktoks_totals(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    start, end = run.window_start, run.window_end
    assert (end - start).days == 90 and end == fake.dataset.today(US)
    assert (run.status, run.progress, run.message, run.attempts) == (RunStatus.SUCCEEDED, 100, "", 1)
    want = expected(fake, US, start, end)
    assert loaded(connection) == want
    total_rows = sum(v["rows"] for v in want.values())
    assert (run.rows_read, run.rows_written) == (total_rows, total_rows)
    # 91 days > 30: asynchronous tasks, two chunks (46 + 45 days) x three levels; a chunk's tasks are
    # checked together, so one wait a chunk.
    assert [(s.isoformat(), e.isoformat()) for s, e in date_chunks(start, end, 90)] == [
        (start.isoformat(), (start + timedelta(days=45)).isoformat()),
        ((start + timedelta(days=46)).isoformat(), end.isoformat()),
    ]
    assert run.cursor == {"entities": True, "mode": "async", "done": pieces(start, end, 90), "tasks": {}}
    assert calls(fake, CREATE) == 6 and len(fake.tasks) == 6
    assert sleeper.waits == [POLL, POLL]
    assert calls(fake, "/open_api/v1.3/report/task/check/") == 12  # each task: PROCESSING, then SUCCESS
    assert calls(fake, REPORT) == 1  # the advertiser's totals, one call for the whole window
    # Reconciliation: TikTok's own totals for the window, beside ours, and ours add up to them at every grain.
    assert run.platform_totals == {"advertiser": platform_totals(fake, US, start, end)}
    totals = run.platform_totals["advertiser"]
    for grain in want.values():
        assert (str(grain["cost"]), grain["impressions"], grain["clicks"], grain["orders"], str(grain["sales"])) == (
            totals["cost"],
            totals["impressions"],
            totals["clicks"],
            totals["orders"],
            totals["sales"],
        )
    facts = AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk)
    assert set(facts.values_list("channel", "currency", "marketplace", "attribution_window")) == {
        ("tiktok_ads", "USD", "US", "7d_click+1d_view")
    }
    assert set(facts.filter(grain="target").values_list("match_type", flat=True)) == {"AD"}
    # Entities: the advertiser's 4 campaigns and 6 ad groups, with TikTok's own states and budgets.
    with organization_scope(org):
        account = AdAccount.objects.get()
        assert (account.channel, account.external_id, account.currency, account.time_zone) == (
            "tiktok_ads",
            str(US),
            "USD",
            "America/Los_Angeles",
        )
        got = set(Campaign.objects.values_list("name", "state", "targeting_type", "budget", "budget_type"))
        assert got == {
            ("Cozy Corner UGC | Website Sales", "ENABLE", "WEB_CONVERSIONS", Decimal("120"), "BUDGET_MODE_DAY"),
            ("TikTok Shop US | Video Shopping Ads", "ENABLE", "PRODUCT_SALES", Decimal("80"), "BUDGET_MODE_DAY"),
            ("Lamp Drop | Video Views", "ENABLE", "VIDEO_VIEWS", Decimal("40"), "BUDGET_MODE_DAY"),
            (
                "Holiday Gifting 2025 | Website Sales",
                "DISABLE",
                "WEB_CONVERSIONS",
                Decimal("2500"),
                "BUDGET_MODE_TOTAL",
            ),
        }
        assert AdGroup.objects.count() == 6
        assert AdGroup.objects.get(name="Broad | 18-44 Home decor interest").default_bid == Decimal("0.02")
        assert AdGroup.objects.get(name="Spark Ads | Creator videos").default_bid is None

    again = run_sync(connection, django_capture_on_commit_callbacks)

    assert again.status == RunStatus.SUCCEEDED
    assert again.window_start == end - timedelta(days=7)  # the 7-day attribution lookback
    assert again.cursor["mode"] == "sync" and calls(fake, CREATE) == 6  # short windows read integrated/get
    assert loaded(connection) == want
    assert AdPerformanceDaily.unscoped_objects.filter(organization=org).count() == total_rows
    assert again.platform_totals == {"advertiser": platform_totals(fake, US, again.window_start, end)}


def test_a_short_window_reads_the_synchronous_report_page_by_page(
    org, fake, backend, settings, django_capture_on_commit_callbacks
):
    settings.PLATFORMS["tiktok_ads"]["page_size"] = 40
    connection = connect(org, backend, backfill_days=9)
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    start, end = run.window_start, run.window_end
    want = expected(fake, US, start, end)
    assert run.status == RunStatus.SUCCEEDED and loaded(connection) == want
    assert run.cursor == {"entities": True, "mode": "sync", "done": pieces(start, end, 30), "pages": {}}
    pages = sum(-(-v["rows"] // 40) for v in want.values())
    assert pages > 3  # the ad level alone takes several pages
    assert calls(fake, REPORT) == pages + 1  # plus the advertiser's totals
    assert calls(fake, CREATE) == 0
    # Each page asked for once, in order, JSON arrays in the query, deleted ads included.
    asked = [
        {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()} for url in fake_report_urls(fake, "AUCTION_AD")
    ]
    assert [int(q["page"]) for q in asked] == list(range(1, -(-want["target"]["rows"] // 40) + 1))
    assert json.loads(asked[0]["dimensions"]) == ["ad_id", "stat_time_day"]
    assert json.loads(asked[0]["filtering"]) == [
        {"field_name": "ad_status", "filter_type": "IN", "filter_value": '["STATUS_ALL"]'}
    ]
    assert run.platform_totals["advertiser"] == platform_totals(fake, US, start, end)


def fake_report_urls(fake, level):
    return [url for url in fake.report_urls if parse_qs(urlsplit(url).query)["data_level"] == [level]]


def test_restated_purchases_overwrite_what_was_loaded(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend, backfill_days=20)
    first = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)
    start, end = first.window_start, first.window_end
    recent = end - timedelta(days=RESTATED_DAYS - 1)
    before = fake.dataset.totals(US, "AUCTION_CAMPAIGN", recent, end)

    fake.restatement += 1  # late purchases arrive for the last days
    second = run_sync(connection, django_capture_on_commit_callbacks)

    after = fake.dataset.totals(US, "AUCTION_CAMPAIGN", recent, end, restatement=1)
    assert after["sales"] > before["sales"] and after["orders"] > before["orders"]
    assert loaded(connection) == expected(fake, US, start, end, restatement=1)
    campaign_days = AdPerformanceDaily.unscoped_objects.filter(
        source_ref=connection.pk, grain="campaign", date__gte=recent
    ).aggregate(sales=Sum("sales"), orders=Sum("orders"))
    assert campaign_days == {"sales": after["sales"], "orders": after["orders"]}
    assert second.platform_totals["advertiser"] == platform_totals(fake, US, second.window_start, end, restatement=1)


def test_the_singapore_advertiser_keeps_its_currency_and_its_own_days(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, advertiser=SG, backfill_days=6)
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)
    assert run.status == RunStatus.SUCCEEDED
    assert run.window_end == fake.dataset.today(SG) == services.local_today(connection)
    assert loaded(connection) == expected(fake, SG, run.window_start, run.window_end)
    rows = AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk)
    assert set(rows.values_list("currency", "marketplace", "account_id")) == {("SGD", "SG", str(SG))}
    assert max(rows.values_list("date", flat=True)) == fake.dataset.today(SG)
    assert run.platform_totals["advertiser"]["currency"] == "SGD"


def test_deleted_ads_are_asked_for_so_the_ad_level_adds_up(fake, backend):
    """TikTok leaves deleted ads out of ad-level reports unless asked for ``STATUS_ALL``; their spend stays in
    the campaign level. We ask, so our ad rows add up to the campaigns."""
    token = fake.issue_token()
    today = fake.dataset.today(US)
    start, end = date(2026, 6, 20), date(2026, 6, 30)  # the first cut of the lamp teaser still ran then
    assert end < today
    base = {
        "advertiser_id": str(US),
        "report_type": "BASIC",
        "data_level": "AUCTION_AD",
        "dimensions": '["ad_id","stat_time_day"]',
        "metrics": '["spend"]',
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "page_size": 1000,
    }

    def spend(**extra):
        body = httpx.get(f"{fake.public_url}{REPORT}", params={**base, **extra}, headers={"Access-Token": token})
        return sum(Decimal(r["metrics"]["spend"]) for r in body.json()["data"]["list"])

    campaigns = fake.dataset.totals(US, "AUCTION_CAMPAIGN", start, end)["cost"]
    filtering = json.dumps([{"field_name": "ad_status", "filter_type": "IN", "filter_value": '["STATUS_ALL"]'}])
    assert spend() < campaigns == spend(filtering=filtering)
    assert api.report_query(str(US), "AUCTION_AD", start, end)["filtering"] == json.loads(filtering)


# --- faults -------------------------------------------------------------------------------------------------


def test_rate_limit_code_40100_is_waited_out_and_the_call_repeated(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=6)
    fake.faults.add("report", "rate_limit", times=2)
    fake.faults.add("campaign_get", "rate_limit")

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert sleeper.waits == [THROTTLE_WAIT, THROTTLE_WAIT, THROTTLE_WAIT * 2]
    assert [r[2:] for r in fake.requests if r[3] == 40100] == [(200, 40100)] * 3  # HTTP 200, code in the body
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_steady_throttling_slows_the_sync_but_loses_nothing(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    fake.throttle_every = 4
    fake.requests.clear()
    fake._api_calls = 0

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    api_calls = [r for r in fake.requests if r[1].startswith("/open_api/")]
    throttled = [r for r in api_calls if r[3] == 40100]
    assert len(throttled) == len(api_calls) // 4 > 0
    assert sleeper.waits.count(THROTTLE_WAIT) == len(throttled)  # each waited out once, then went through
    assert calls(fake, CREATE) == 6
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_endless_rate_limiting_hands_the_run_back_to_the_queue_with_tiktoks_wait(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks, eager_retries, retry_countdowns
):
    connection = connect(org, backend, backfill_days=6)
    fake.faults.add("report", "rate_limit", times=5)  # more than our four inline retries

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert sleeper.waits[:4] == [0.6, 1.2, 2.4, 4.8]
    assert retry_countdowns == [60]  # the task waits a minute, then resumes
    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 2, "")
    assert run.cursor["entities"] is True
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_run_that_stays_throttled_is_queued_with_a_message(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend, backfill_days=6)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    fake.faults.add("report", "rate_limit", times=5)

    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    assert (raised.value.user_message, raised.value.retry_after) == (THROTTLED, 60.0)
    run.refresh_from_db()
    assert (run.status, run.message, run.error_code) == (RunStatus.QUEUED, THROTTLED, "transient")


def test_server_errors_and_timeouts_are_retried(org, fake, backend, settings, django_capture_on_commit_callbacks):
    settings.PLATFORMS["tiktok_ads"]["timeout"] = 1.0  # long enough for a busy machine, short enough for "slow"
    connection = connect(org, backend)
    fake.faults.add("campaign_get", "500")
    fake.faults.add("task_create", "server_code")  # HTTP 200, code 50002
    fake.faults.add("task_check", "slow", seconds=2.5)  # answers after the client gave up
    fake.faults.add("download", "500")

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert fake.faults.pending() == 0
    deadline = time.monotonic() + 5
    while len([r for r in fake.requests if r[2] >= 500]) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # the slow answer is logged when the fake finishes it, after we gave up on it
    assert sorted(r[2] for r in fake.requests if r[2] >= 500) == [500, 500, 503]
    assert [r[3] for r in fake.requests if r[3] == 50002] == [50002]
    assert calls(fake, CREATE) == 6  # the one that failed was not created, and not created twice
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_truncated_download_loads_nothing_and_the_retry_completes_it(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    fake.faults.add("download", "truncate")  # the first file (campaigns, first chunk) stops half-way

    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    assert raised.value.user_message == INCOMPLETE
    run.refresh_from_db()
    assert (run.status, run.message, run.error_code, run.attempts) == (RunStatus.QUEUED, INCOMPLETE, "transient", 1)
    assert not AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).exists()  # not one row of it
    first_chunk = pieces(run.window_start, run.window_end, 90)[:3]
    assert (run.cursor["entities"], sorted(run.cursor["tasks"])) == (True, sorted(first_chunk))
    assert "done" not in run.cursor

    # The task's retry (eager here) resumes: it downloads the same finished task again and loads all of it.
    assert calls(fake, CREATE) == 3
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 2, "")
    assert calls(fake, CREATE) == 6  # each piece's task asked for once
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_truncated_files_every_attempt_fail_the_run_after_max_attempts(
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


def test_a_task_tiktok_fails_is_created_again(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    fake.faults.add("task_check", "fail")

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert [t["status"] for t in fake.tasks.values()].count("FAILED") == 1
    assert calls(fake, CREATE) == 7
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_task_that_fails_twice_sends_the_run_back_to_the_queue(
    org, fake, backend, django_capture_on_commit_callbacks, eager_retries, retry_countdowns
):
    connection = connect(org, backend)
    # The first chunk's three tasks fail, and so does the first of them when created again.
    fake.faults.add("task_check", "fail", times=4)

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 2, "")
    assert retry_countdowns == [30]
    assert calls(fake, CREATE) == 10  # 3, 3 again, the campaigns' a third time (next attempt), 3 for chunk two
    assert [t["status"] for t in fake.tasks.values()].count("FAILED") == 4
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_revoked_token_mid_sync_fails_the_run_and_asks_to_reconnect(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    fake.faults.add("task_create", "revoke")  # the advertiser removed our app after the entities were read

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.error_code, run.message, run.attempts) == (RunStatus.FAILED, "reauth", REAUTH, 1)
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, REAUTH)
    assert [r[3] for r in fake.requests if r[1] == CREATE] == [40105]
    with organization_scope(org):
        assert Campaign.objects.count() == 4  # what was read before the revocation stays
    assert not AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).exists()


def test_a_killed_worker_resumes_after_its_last_page_without_duplicates(
    org, fake, backend, settings, sleeper, django_capture_on_commit_callbacks
):
    settings.PLATFORMS["tiktok_ads"].update(page_size=40, rate=1.0, burst=1.0)  # now every call waits its turn
    connection = connect(org, backend, backfill_days=9)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    start, end = run.window_start, run.window_end
    campaign_pages, group_pages, ad_pages = (
        -(-fake.dataset.totals(US, level, start, end)["rows"] // 40) for level in api.LEVELS
    )
    assert ad_pages >= 3
    first_ad_page = calls(fake, REPORT) + campaign_pages + group_pages + 1
    sleeper.kill_when = lambda: calls(fake, REPORT) == first_ad_page  # dies waiting for the 2nd ad page

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    chunk = pieces(start, end, 30)
    assert run.status == RunStatus.RUNNING
    assert (run.cursor["done"], run.cursor["pages"]) == (chunk[:2], {chunk[2]: 1})
    ad_rows_first_page = AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk, grain="target")
    assert ad_rows_first_page.count() == 40
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))

    assert services.sync_runs_sweep() == [(org.pk, run.pk)]
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.QUEUED, "Resumed after the worker running it stopped.")
    fake.report_urls.clear()
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED

    run.refresh_from_db()
    assert (run.status, run.attempts, run.cursor["done"], run.cursor["pages"]) == (RunStatus.SUCCEEDED, 2, chunk, {})
    resumed = [int(parse_qs(urlsplit(u).query)["page"][0]) for u in fake_report_urls(fake, "AUCTION_AD")]
    assert resumed == list(range(2, ad_pages + 1))  # page 1 was loaded before the kill: not asked again
    want = expected(fake, US, start, end)
    assert loaded(connection) == want
    clean = connect(OrganizationFactory(), backend, backfill_days=9)
    assert run_sync(clean, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL).status == RunStatus.SUCCEEDED
    assert loaded(clean) == loaded(connection) == want


def test_a_killed_worker_polls_the_tasks_it_created_instead_of_asking_again(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    sleeper.kill_when = lambda: sleeper.waits.count(POLL) == 2  # dies waiting on the second chunk's tasks

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    all_pieces = pieces(run.window_start, run.window_end, 90)
    assert run.cursor["done"] == all_pieces[:3]
    assert sorted(run.cursor["tasks"]) == sorted(all_pieces[3:])
    assert calls(fake, CREATE) == 6
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    assert services.sync_runs_sweep() == [(org.pk, run.pk)]
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED

    run.refresh_from_db()
    assert (run.status, run.attempts, run.cursor["done"]) == (RunStatus.SUCCEEDED, 2, all_pieces)
    assert calls(fake, CREATE) == 6  # the three created before the kill were polled, not created again
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


# --- the fake keeps TikTok's rules --------------------------------------------------------------------------


def test_the_fake_answers_in_tiktoks_envelope_and_refuses_what_tiktok_refuses(fake):
    token = fake.issue_token()
    today = fake.dataset.today(US)
    url = f"{fake.public_url}{REPORT}"
    good = {
        "advertiser_id": str(US),
        "report_type": "BASIC",
        "data_level": "AUCTION_CAMPAIGN",
        "dimensions": '["campaign_id","stat_time_day"]',
        "metrics": '["spend","impressions","campaign_name"]',
        "start_date": (today - timedelta(days=1)).isoformat(),
        "end_date": today.isoformat(),
        "page_size": 2,
    }

    def ask(params=None, headers=None):
        response = httpx.get(url, params={**good, **(params or {})}, headers={"Access-Token": token, **(headers or {})})
        assert response.status_code == 200  # TikTok answers HTTP 200, errors included
        body = response.json()
        assert set(body) == {"code", "message", "request_id", "data"}
        return body

    ok = ask()
    assert ok["code"] == 0 and ok["message"] == "OK"
    assert ok["data"]["page_info"] == {
        "page": 1,
        "page_size": 2,
        "total_number": len(list(fake.dataset.iter_facts(US, "AUCTION_CAMPAIGN", today - timedelta(days=1), today))),
        "total_page": ok["data"]["page_info"]["total_page"],
    }
    row = ok["data"]["list"][0]
    assert set(row) == {"dimensions", "metrics"} and isinstance(row["dimensions"]["campaign_id"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d 00:00:00", row["dimensions"]["stat_time_day"])
    assert all(isinstance(v, str) for v in row["metrics"].values())
    assert re.fullmatch(r"\d+\.\d\d", row["metrics"]["spend"])
    assert ask(headers={"Access-Token": ""})["code"] == 40104
    assert ask(headers={"Access-Token": "nope"})["code"] == 40105
    assert ask({"advertiser_id": "123"})["code"] == 40001
    not_json = ask({"dimensions": "campaign_id,stat_time_day"})
    assert (not_json["code"], not_json["message"]) == (
        40002,
        "dimensions: Not a valid list. It must be a JSON array string.",
    )
    assert ask({"start_date": (today - timedelta(days=30)).isoformat()})["code"] == 40002  # 31 days, daily
    assert ask({"start_date": (today - timedelta(days=30)).isoformat(), "dimensions": '["campaign_id"]'})["code"] == 0
    assert ask({"page_size": 1001})["code"] == 40002
    assert ask({"metrics": '["ad_name"]'})["code"] == 40002  # an ad attribute at campaign level
    fake.revoke_all()
    assert ask()["code"] == 40105


def test_the_fake_report_task_walks_to_success_and_serves_a_signed_csv(fake):
    token = fake.issue_token()
    headers = {"Access-Token": token}
    today = fake.dataset.today(SG)
    query = api.report_query(str(SG), "AUCTION_ADGROUP", today - timedelta(days=59), today)
    api_url = f"{fake.public_url}/open_api/v1.3"
    created = httpx.post(
        f"{api_url}/report/task/create/",
        json={**query, "output_format": "CSV_DOWNLOAD", "enable_report_title_translation": False},
        headers=headers,
    ).json()
    task = {"advertiser_id": str(SG), "task_id": created["data"]["task_id"]}
    early = httpx.get(f"{api_url}/report/task/download/", params=task, headers=headers).json()
    assert early["code"] == 40002
    statuses = [httpx.get(f"{api_url}/report/task/check/", params=task, headers=headers).json() for _ in range(2)]
    assert [s["data"] for s in statuses] == [
        {"status": "PROCESSING", "message": ""},
        {"status": "SUCCESS", "message": ""},
    ]
    link = httpx.get(f"{api_url}/report/task/download/", params=task, headers=headers).json()["data"]
    assert link["output_format"] == "CSV_DOWNLOAD" and link["file_name"].endswith(".csv")
    assert link["download_url"].startswith(f"{fake.public_url}/download/{task['task_id']}.csv?expires=")
    assert httpx.get(link["download_url"].replace("signature=", "signature=0")).status_code == 403
    download = httpx.get(link["download_url"])
    assert int(download.headers["Content-Length"]) == len(download.content)
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert list(rows[0]) == query["dimensions"] + query["metrics"]
    assert len(rows) == fake.dataset.totals(SG, "AUCTION_ADGROUP", today - timedelta(days=59), today)["rows"]
    assert {r["currency"] for r in rows} == {"SGD"}
    other = httpx.get(f"{api_url}/report/task/check/", params={**task, "advertiser_id": str(US)}, headers=headers)
    assert other.json()["code"] == 40002  # another advertiser's task id: not found


# --- mapping and parsing ------------------------------------------------------------------------------------

ROW = {  # an AUCTION_AD row as integrated/get lists it, flattened (metrics, then dimensions)
    "spend": "76.73",
    "impressions": "10505",
    "clicks": "116.0",
    "complete_payment": "3",
    "total_complete_payment_rate": "239.97",
    "onsite_shopping": "1",
    "total_onsite_shopping_value": "53.90",
    "currency": "SGD",
    "campaign_id": "1758397264523345",
    "campaign_name": "Spark Ads SG | Home Refresh",
    "adgroup_id": "1758397264523401",
    "adgroup_name": "Spark | Creators SG",
    "ad_name": "Spark | @homewithhui | Ceramic Planter",
    "ad_id": 1678604629756978,
    "stat_time_day": "2026-05-04 00:00:00",
}


def fact(**overrides) -> AdFact:
    base = {
        "channel": "tiktok_ads",
        "account_id": str(SG),
        "marketplace": "SG",
        "date": date(2026, 5, 4),
        "grain": "campaign",
        "campaign_id": "1758397264523345",
        "campaign_name": "Spark Ads SG | Home Refresh",
        "ad_group_id": "",
        "ad_group_name": "",
        "target_id": "",
        "target_text": "",
        "match_type": "",
        "search_term": "",
        "product_id": "",
        "impressions": 10505,
        "clicks": 116,
        "cost": Decimal("76.73"),
        "orders": 4,
        "units": 4,
        "sales": Decimal("293.87"),
        "currency": "SGD",
        "attribution_window": "7d_click+1d_view",
        "source": "api",
        "source_ref": 42,
    }
    return AdFact(**{**base, **overrides})


@pytest.mark.parametrize(
    ("level", "want"),
    [
        ("AUCTION_CAMPAIGN", fact()),
        (
            "AUCTION_ADGROUP",
            fact(grain="ad_group", ad_group_id="1758397264523401", ad_group_name="Spark | Creators SG"),
        ),
        (
            "AUCTION_AD",
            fact(
                grain="target",
                ad_group_id="1758397264523401",
                ad_group_name="Spark | Creators SG",
                target_id="1678604629756978",
                target_text="Spark | @homewithhui | Ceramic Planter",
                match_type="AD",
            ),
        ),
    ],
)
def test_report_rows_map_every_field(level, want):
    got = list(
        mapping.ad_facts([ROW], level=level, account_id=str(SG), marketplace="SG", currency="USD", source_ref=42)
    )
    assert got == [want]
    assert str(got[0].cost) == "76.73" and str(got[0].sales) == "293.87"  # Decimal of the text, never a float


def test_report_values_arrive_as_strings_and_missing_ones_count_zero():
    assert (mapping.count("116.0"), mapping.count("10505"), mapping.count("-"), mapping.count(None)) == (
        116,
        10505,
        0,
        0,
    )
    assert (mapping.money("0.1"), mapping.money(""), mapping.money("-")) == (Decimal("0.1"), 0, 0)
    with pytest.raises(ValueError):
        mapping.count("1.5")
    assert (mapping.stat_day("2026-01-31 00:00:00"), mapping.stat_day("2026-01-31")) == (date(2026, 1, 31),) * 2
    # The fixture row of platform-apis.md section 5: an ad id as a JSON number, counts as "116.0", no currency.
    row = api.flatten(
        {
            "metrics": {"ad_name": "20200923012039", "clicks": "116.0", "spend": "76.73", "impressions": "10505.0"},
            "dimensions": {"stat_time_day": "2020-10-17 00:00:00", "ad_id": 1678604629756978},
        }
    )
    (got,) = mapping.ad_facts([row], level="AUCTION_AD", account_id="1", marketplace="US", currency="USD", source_ref=1)
    assert (got.date, got.target_id, got.target_text, got.clicks, got.impressions) == (
        date(2020, 10, 17),
        "1678604629756978",
        "20200923012039",
        116,
        10505,
    )
    assert (got.cost, got.orders, got.units, got.sales, got.currency) == (Decimal("76.73"), 0, 0, 0, "USD")


def test_platform_totals_are_json_with_money_as_text():
    rows = [
        {"advertiser_id": 1, "spend": "10.50", "impressions": "100", "clicks": "3", "complete_payment": "1"},
        {"advertiser_id": 1, "spend": "0.25", "total_complete_payment_rate": "19.99", "currency": "USD"},
    ]
    assert mapping.platform_totals(rows, start=date(2026, 1, 1), end=date(2026, 1, 7), currency="EUR") == {
        "start": "2026-01-01",
        "end": "2026-01-07",
        "currency": "USD",
        "cost": "10.75",
        "impressions": 100,
        "clicks": 3,
        "orders": 1,
        "sales": "19.99",
        "attribution_window": "7d_click+1d_view",
    }


def test_entities_map_to_campaign_and_ad_group_rows():
    campaign = {
        "advertiser_id": "7312440518829056001",
        "campaign_id": "1800000000000000001",
        "campaign_name": "Cozy Corner UGC | Website Sales",
        "objective_type": "WEB_CONVERSIONS",
        "budget": 120.0,
        "budget_mode": "BUDGET_MODE_DAY",
        "operation_status": "ENABLE",
        "secondary_status": "CAMPAIGN_STATUS_ENABLE",
    }
    assert mapping.campaign_row(campaign) == {
        "external_id": "1800000000000000001",
        "name": "Cozy Corner UGC | Website Sales",
        "state": "ENABLE",
        "targeting_type": "WEB_CONVERSIONS",
        "budget": Decimal("120.0"),
        "budget_type": "BUDGET_MODE_DAY",
        "portfolio": "",
    }
    assert mapping.campaign_row({**campaign, "budget_mode": "BUDGET_MODE_INFINITE", "budget": 0.0})["budget"] is None
    group = {
        "campaign_id": "1800000000000000001",
        "adgroup_id": "1800000000000000002",
        "adgroup_name": "Broad | 18-44",
        "operation_status": "DISABLE",
        "bid_price": 0.02,
    }
    assert mapping.ad_group_row(group) == {
        "campaign_external_id": "1800000000000000001",
        "external_id": "1800000000000000002",
        "name": "Broad | 18-44",
        "state": "DISABLE",
        "default_bid": Decimal("0.02"),
    }
    assert mapping.ad_group_row({**group, "bid_price": 0.0})["default_bid"] is None


def test_an_advertiser_time_zone_falls_back_to_the_display_zone_then_utc():
    info = {"advertiser_id": 5, "name": "X", "currency": "EUR", "country": "DE", "timezone": "Etc/Unknown"}
    assert mapping.discovered_account({**info, "display_timezone": "Europe/Berlin"}).time_zone == "Europe/Berlin"
    assert mapping.discovered_account(info).time_zone == "UTC"
    assert mapping.discovered_account({**info, "timezone": "Asia/Singapore"}).external_id == "5"


def test_the_csv_reader_parses_across_any_split_and_notices_a_cut():
    text = (
        '\ufeffad_id,ad_name,spend\n1,"Spark | ""quoted"", with comma",1.50\n2,"two\nlines",0.10\n3,テーブルランプ,2\n'
    )
    data = text.encode()
    want = [
        {"ad_id": "1", "ad_name": 'Spark | "quoted", with comma', "spend": "1.50"},
        {"ad_id": "2", "ad_name": "two\nlines", "spend": "0.10"},
        {"ad_id": "3", "ad_name": "テーブルランプ", "spend": "2"},
    ]
    for cut in range(len(data) + 1):
        assert list(api.iter_csv([data[:cut], data[cut:]], expected_bytes=len(data))) == want
    got = []
    with pytest.raises(ValueError, match="ended after"):
        for row in api.iter_csv([data[: len(data) - 3]], expected_bytes=len(data)):
            got.append(row)
    assert got == want[:2]
    with pytest.raises(ValueError, match="middle of a line"):
        list(api.iter_csv([data[:-1]]))  # no Content-Length: a missing line break still gives it away
    with pytest.raises(ValueError, match="empty"):
        list(api.iter_csv([b""]))


def test_date_chunks_are_as_even_as_possible():
    start = date(2026, 1, 1)
    assert list(date_chunks(start, start, 30)) == [(start, start)]
    lengths = [(e - s).days + 1 for s, e in date_chunks(start, start + timedelta(days=365), 90)]
    assert lengths == [74, 73, 73, 73, 73] and sum(lengths) == 366
    assert list(date_chunks(start, start - timedelta(days=1), 30)) == []


# --- the demo -----------------------------------------------------------------------------------------------


def test_the_demo_data_is_deterministic_and_every_level_adds_up():
    a, b = Dataset(), Dataset()
    today = a.today(US)
    start = today - timedelta(days=89)
    began = time.perf_counter()
    rows = list(a.iter_facts(US, "AUCTION_AD", start, today))
    assert time.perf_counter() - began < 2.0
    assert [(d, ctx[2].id, m) for d, ctx, m in rows] == [
        (d, ctx[2].id, m) for d, ctx, m in b.iter_facts(US, "AUCTION_AD", start, today)
    ]
    for advertiser in (US, SG):
        totals = [a.totals(advertiser, level, start, today) for level in demo_data.LEVELS]
        assert len({tuple(v for k, v in t.items() if k != "rows") for t in totals}) == 1
    assert a.first_day(US) == today - timedelta(days=399)
    weekend = [m for d, _c, m in a.iter_facts(US, "AUCTION_ADVERTISER", start, today) if d.weekday() >= 4]
    weekdays = [m for d, _c, m in a.iter_facts(US, "AUCTION_ADVERTISER", start, today) if d.weekday() < 4]
    assert sum(m[0] for m in weekend) / len(weekend) > sum(m[0] for m in weekdays) / len(weekdays)  # weekly rhythm


def test_the_website_campaign_is_credited_with_the_shopify_shops_tiktok_orders():
    from connectors.backends.shopify.demo import day_orders, demo_shop

    dataset = Dataset()
    shop = demo_shop()
    today = dataset.today(US)
    for day in (today - timedelta(days=n) for n in range(5, 40, 7)):
        tiktok = [o for o in day_orders(shop, day) if o.journey and o.journey["firstVisit"]["source"] == "tiktok"]
        assert {o.journey["firstVisit"]["utmParameters"]["campaign"] for o in tiktok} <= {"cozy-corner-ugc"}
        cozy = [
            m for _d, c, m in dataset.iter_facts(US, "AUCTION_CAMPAIGN", day, day) if c.spec.name.startswith("Cozy")
        ]
        (m,) = cozy
        assert len(tiktok) <= m[demo_data.CP] <= len(tiktok) + 2  # TikTok claims the UTM orders plus a few views
        assert m[demo_data.CPV] >= int(sum(o.subtotal for o in tiktok) * 100)


def test_the_tiktok_shop_campaigns_spend_what_the_tiktok_shop_story_assumes():
    shop_demo = pytest.importorskip("connectors.backends.tiktok_shop.demo_data")
    dataset = Dataset()
    for key, advertiser in (("US", US), ("SG", SG)):
        shop = getattr(shop_demo, key)
        day = dataset.today(advertiser) - timedelta(days=10)
        shop_campaigns = [
            m
            for _d, c, m in dataset.iter_facts(advertiser, "AUCTION_CAMPAIGN", day, day)
            if c.spec.destination == "TIKTOK_SHOP"
        ]
        ads_orders = [o for o in shop_demo.day_orders(shop, day) if o.source == "ads"]
        assert sum(m[demo_data.SPEND] for m in shop_campaigns) == int(shop_demo.ad_spend(shop, day) * 100)
        assert sum(m[demo_data.OS] for m in shop_campaigns) == len(ads_orders)
        assert sum(m[demo_data.OSV] for m in shop_campaigns) == int(sum(o.sub_total for o in ads_orders) * 100)


def test_the_demo_grant_is_accepted_for_good(db, fake, backend, settings):
    fake.allow_demo()
    fake.clock_offset = 10 * 365 * 86400  # years later
    accounts = backend.discover_accounts(credentials=dict(DEMO_CREDENTIALS))
    assert [(a.external_id, a.currency) for a in accounts] == [(str(US), "USD"), (str(SG), "SGD")]
    assert DEMO_CREDENTIALS["advertiser_ids"] == [str(US), str(SG)]
