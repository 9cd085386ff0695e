"""Amazon Ads backend end to end against its fake (real HTTP on a local port, real PostgreSQL, Celery eager).

Nothing of ours is mocked: ``settings.PLATFORMS["amazon_ads"]`` points at the fake, and its ``sleep`` knob
records waits instead of waiting. The fake's own dataset gives the expected numbers.
"""

from __future__ import annotations

import gzip
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
from django.utils import timezone

from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory
from analytics.models import AdPerformanceDaily
from analytics.services import AdFact
from campaigns.models import AdAccount, AdGroup, AdvertisedProduct, Campaign, NegativeKeyword, Target
from config.celery_app import app as celery_app
from config.testing import serve_wsgi
from connectors import services
from connectors.backends import get_backend
from connectors.backends.amazon_ads import backend as backend_module
from connectors.backends.amazon_ads import mapping
from connectors.backends.amazon_ads.backend import REPORT_TYPES, date_chunks, piece_key
from connectors.backends.amazon_ads.client import JSONArrayStream, iter_gzip_json_array
from connectors.backends.amazon_ads.demo_data import RESTATED_DAYS, Dataset
from connectors.backends.amazon_ads.fake import CLIENTS, make_app
from connectors.errors import AuthorizationError, TransientError
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.reconciliation import connection_reconciliation
from connectors.tasks import run_sync as sync_task

CLIENT_ID, CLIENT_SECRET = next(iter(CLIENTS.items()))
REDIRECT = "https://app.chuhai.test/connect/amazon_ads/callback/"
US, DE, JP = 1873625790128461, 2590417735268102, 3370926154208833
POLL = 0.25  # the first poll wait; tests count poll waits by it
REVOKED = "Amazon Ads: re-authorize: the refresh token was revoked. Connect the account again to keep syncing."
INCOMPLETE = "An Amazon Ads report arrived incomplete; the sync will retry."
GRAIN = mapping.GRAINS


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


@pytest.fixture
def fake(settings, sleeper):
    app = make_app()
    with serve_wsgi(app) as url:
        app.public_url = url
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "amazon_ads": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "auth_url": f"{url}/ap/oa",
                "token_url": f"{url}/auth/o2/token",
                "api_urls": {"NA": f"{url}/api", "EU": f"{url}/api", "FE": f"{url}/api"},
                "sleep": sleeper,
                "poll_interval": POLL,
                "timeout": 5,
            },
        }
        yield app


@pytest.fixture
def backend():
    return get_backend("amazon_ads")


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


def authorize(backend) -> dict:
    code = parse_qs(urlsplit(consent(backend)).query)["code"][0]
    return backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})


def connect(org, backend, country="US") -> Connection:
    credentials = authorize(backend)
    account = next(a for a in backend.discover_accounts(credentials=credentials) if a.marketplace == country)
    return services.connection_upsert(
        organization=org, platform="amazon_ads", account=account, credentials=credentials, user=None
    )


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


def expected(fake, profile_id, start, end, restatement=0) -> dict:
    return {GRAIN[rt]: fake.dataset.totals(profile_id, rt, start, end, restatement) for rt in REPORT_TYPES}


def pieces(start: date, end: date) -> list[str]:
    return [piece_key(s, e, rt) for s, e in date_chunks(start, end, 31) for rt in REPORT_TYPES]


def reports_created(fake) -> int:
    return sum(
        1 for method, path, status in fake.requests if (method, path, status) == ("POST", "/api/reporting/reports", 200)
    )


# --- connecting ---------------------------------------------------------------------------------------------


def test_authorization_url_and_consent_page(fake, backend):
    url = backend.authorization_url(state="st-123", redirect_uri=REDIRECT)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.public_url}/ap/oa"
    assert parse_qs(parts.query) == {
        "client_id": [CLIENT_ID],
        "scope": ["advertising::campaign_management"],
        "response_type": ["code"],
        "state": ["st-123"],
        "redirect_uri": [REDIRECT],
    }
    allowed = urlsplit(consent(backend))
    query = parse_qs(allowed.query)
    assert f"{allowed.scheme}://{allowed.netloc}{allowed.path}" == REDIRECT
    assert query["state"] == ["st-123"] and query["scope"] == ["advertising::campaign_management"]
    assert query["code"][0].startswith("ANc")
    denied = parse_qs(urlsplit(consent(backend, decision="deny")).query)
    assert denied == {
        "error": ["access_denied"],
        "error_description": ["The user denied the request."],
        "state": ["st-123"],
    }


def test_code_exchange_gives_lwa_tokens_and_a_code_works_once(fake, backend):
    code = parse_qs(urlsplit(consent(backend)).query)["code"][0]
    before = time.time()
    credentials = backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    assert set(credentials) == {"access_token", "refresh_token", "token_type", "expires_at"}
    assert credentials["access_token"].startswith("Atza|") and credentials["refresh_token"].startswith("Atzr|")
    assert before + 3600 <= credentials["expires_at"] <= time.time() + 3600
    with pytest.raises(AuthorizationError) as reused:
        backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    assert reused.value.user_message == (
        "Amazon did not accept the authorization (codes work once, for 5 minutes). Please connect again."
    )
    late = parse_qs(urlsplit(consent(backend)).query)["code"][0]
    fake.clock_offset = 301
    with pytest.raises(AuthorizationError):
        backend.exchange_code(code=late, redirect_uri=REDIRECT, params={})
    assert fake.token_grants == ["authorization_code"]


def test_discovery_gives_one_account_per_seller_profile(db, fake, backend):
    accounts = backend.discover_accounts(credentials=authorize(backend))
    got = [(a.external_id, a.name, a.currency, a.time_zone, a.marketplace, a.region, a.config) for a in accounts]
    assert got == [
        (str(US), "Hearth & Grain Home US", "USD", "America/Los_Angeles", "US", "NA",
         {"marketplace_id": "ATVPDKIKX0DER", "account_id": "A2HGHOMEGOODS7", "account_type": "seller"}),
        (str(DE), "Hearth & Grain Home DE", "EUR", "Europe/Berlin", "DE", "EU",
         {"marketplace_id": "A1PA6795UKMFR9", "account_id": "A2HGHOMEGOODS7", "account_type": "seller"}),
        (str(JP), "Hearth & Grain Home JP", "JPY", "Asia/Tokyo", "JP", "FE",
         {"marketplace_id": "A1VC38T7YXB528", "account_id": "A2HGHOMEGOODS7", "account_type": "seller"}),
    ]  # fmt: skip
    # The three regional hosts are one fake here: profiles were asked for once, not three times.
    assert [r for r in fake.requests if r[1] == "/api/v2/profiles"] == [("GET", "/api/v2/profiles", 200)]


def test_an_expired_access_token_is_refreshed_before_the_first_call(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    stale = {**connection.credentials, "expires_at": time.time() - 5}
    services.connection_save_credentials(connection=connection, credentials=stale)

    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert fake.token_grants == ["authorization_code", "refresh_token"]
    connection.refresh_from_db()
    assert connection.credentials["access_token"] != stale["access_token"]
    assert connection.credentials["refresh_token"] == stale["refresh_token"]  # LWA keeps the refresh token
    assert connection.credentials["expires_at"] > time.time() + 3500
    assert [r for r in fake.requests if r[2] == 401] == []


def test_a_401_refreshes_the_token_once_and_repeats_the_call(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    fake.expire_access_tokens()  # Amazon stopped accepting a token we still think is fresh
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert fake.token_grants == ["authorization_code", "refresh_token"]
    first_calls = fake.requests[:3]
    assert first_calls == [
        ("POST", "/api/sp/campaigns/list", 401),
        ("POST", "/auth/o2/token", 200),
        ("POST", "/api/sp/campaigns/list", 200),
    ]


# --- syncing ------------------------------------------------------------------------------------------------


def test_full_sync_loads_every_report_exactly_and_a_rerun_changes_nothing(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    start, end = run.window_start, run.window_end
    assert (end - start).days == 90 and end == fake.dataset.today(US)
    want = expected(fake, US, start, end)
    assert loaded(connection) == want
    total_rows = sum(v["rows"] for v in want.values())
    assert (run.status, run.progress, run.message, run.attempts) == (RunStatus.SUCCEEDED, 100, "", 1)
    assert (run.rows_read, run.rows_written) == (total_rows, total_rows)
    assert run.cursor == {"entities": True, "done": pieces(start, end), "reports": {}, "totals_done": True}
    assert len(pieces(start, end)) == 12  # 91 days: three chunks (31 + 31 + 29 days) x four report types
    assert reports_created(fake) == 13  # and one summary of the last chunk, for the platform's own totals
    # 46 rate-limited calls (7 lists, 13 creates, 26 polls) through a bucket of 10 refilled at 2 a second:
    # most of them had to wait (the waits are recorded, not slept, here).
    assert sleeper.waits.count(POLL) == 13
    assert len([w for w in sleeper.waits if w != POLL]) >= 20
    # Entities: the fake's 8 campaigns, 16 ad groups, keywords and targets, negatives, product ads.
    with organization_scope(org):
        account = AdAccount.objects.get()
        assert (account.external_id, account.currency, account.marketplace) == (str(US), "USD", "US")
        assert Campaign.objects.count() == 8
        assert AdGroup.objects.count() == 16
        assert Target.objects.count() == len(fake.dataset.entities(US, "keywords")) + len(
            fake.dataset.entities(US, "targets")
        )
        assert NegativeKeyword.objects.count() == len(fake.dataset.entities(US, "negativeKeywords")) + len(
            fake.dataset.entities(US, "campaignNegativeKeywords")
        )
        assert NegativeKeyword.objects.filter(ad_group__isnull=True).count() == 8  # campaign-level negatives
        assert AdvertisedProduct.objects.count() == len(fake.dataset.entities(US, "productAds"))
        assert set(AdvertisedProduct.objects.values_list("sku", flat=True)) >= {"HG-LAMP-01", "HG-LAMP-02"}
    # Every report type agrees with spCampaigns on cost and sales, as Amazon's own reports do.
    assert len({(v["cost"], v["sales"], v["clicks"]) for v in want.values()}) == 1
    assert set(
        AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).values_list("currency", "marketplace")
    ) == {("USD", "US")}

    again = run_sync(connection, django_capture_on_commit_callbacks)

    assert again.status == RunStatus.SUCCEEDED
    assert again.window_start == end - timedelta(days=14)  # the restatement lookback
    assert loaded(connection) == want
    assert AdPerformanceDaily.unscoped_objects.filter(organization=org).count() == total_rows


def test_restated_sales_overwrite_what_was_loaded(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    first = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)
    start, end = first.window_start, first.window_end
    recent = end - timedelta(days=RESTATED_DAYS - 1)
    before = fake.dataset.totals(US, "spCampaigns", recent, end)

    fake.restatement += 1
    run_sync(connection, django_capture_on_commit_callbacks)

    after = fake.dataset.totals(US, "spCampaigns", recent, end, restatement=1)
    assert after["sales"] > before["sales"] and after["orders"] > before["orders"]
    assert loaded(connection) == expected(fake, US, start, end, restatement=1)
    campaign_days = AdPerformanceDaily.unscoped_objects.filter(
        source_ref=connection.pk, grain="campaign", date__gte=recent
    ).aggregate(sales=Sum("sales"), orders=Sum("orders"))
    assert campaign_days == {"sales": after["sales"], "orders": after["orders"]}


def test_profiles_keep_their_own_currency_and_minor_units(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend, country="JP")
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)
    assert run.status == RunStatus.SUCCEEDED
    assert loaded(connection) == expected(fake, JP, run.window_start, run.window_end)
    rows = AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk)
    assert set(rows.values_list("currency", "marketplace", "account_id")) == {("JPY", "JP", str(JP))}
    assert all(cost == cost.to_integral_value() for cost in rows.values_list("cost", flat=True)[:500])  # whole yen


def test_entity_lists_are_paged_with_next_token(org, fake, backend, settings, django_capture_on_commit_callbacks):
    settings.PLATFORMS["amazon_ads"]["page_size"] = 7
    connection = connect(org, backend)
    run = run_sync(connection, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED
    keywords = len(fake.dataset.entities(US, "keywords"))
    keyword_calls = [r for r in fake.requests if r[1] == "/api/sp/keywords/list"]
    assert len(keyword_calls) == -(-keywords // 7)
    with organization_scope(org):
        assert Target.objects.filter(match_type__in=["EXACT", "PHRASE", "BROAD"]).count() == keywords


# --- the profile's own totals, for reconciliation ------------------------------------------------------------


def week(org, backend) -> Connection:
    """A connection whose first load is a week: one chunk, its four daily reports and the summary."""
    connection = connect(org, backend)
    Connection.unscoped_objects.filter(pk=connection.pk).update(backfill_days=6)
    return connection


def summaries(fake) -> list[dict]:
    return [r["body"] for r in fake.report_requests("spCampaigns") if r["body"]["configuration"]["timeUnit"] != "DAILY"]


def test_a_run_records_the_profiles_summary_totals_and_they_reconcile(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = week(org, backend)

    run = run_sync(connection, django_capture_on_commit_callbacks)

    start, end = run.window_start, run.window_end
    assert (run.status, end - start, reports_created(fake)) == (RunStatus.SUCCEEDED, timedelta(days=6), 5)
    [summary] = summaries(fake)  # one extra report a run, asked for with the daily ones
    assert (summary["startDate"], summary["endDate"], summary["configuration"]) == (
        start.isoformat(),
        end.isoformat(),
        {
            "adProduct": "SPONSORED_PRODUCTS",
            "groupBy": ["campaign"],
            "columns": [
                "campaignId",
                "campaignBudgetCurrencyCode",
                "impressions",
                "clicks",
                "cost",
                "purchases7d",
                "sales7d",
            ],
            "reportTypeId": "spCampaigns",
            "timeUnit": "SUMMARY",
            "format": "GZIP_JSON",
        },
    )
    want = fake.dataset.totals(US, "spCampaigns", start, end)
    totals = run.platform_totals["ads"]
    assert {**totals, "cost": Decimal(totals["cost"]), "sales": Decimal(totals["sales"])} == {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "currency": "USD",
        "time_zone": "America/Los_Angeles",
        "impressions": want["impressions"],
        "clicks": want["clicks"],
        "cost": want["cost"],
        "orders": want["orders"],
        "sales": want["sales"],
        "attribution_window": "7d",
    }
    assert (run.cursor["totals_done"], run.cursor["reports"]) == (True, {})
    [check] = connection_reconciliation(organization=org, connection=connection, today=end)
    assert (check.label, check.matches, check.hints) == ("Ads totals", True, [])
    assert [(line.label, line.difference) for line in check.lines] == [
        ("Impressions", 0),
        ("Clicks", 0),
        ("Spend", 0),
        ("Orders", 0),
        ("Ad sales", 0),
    ]


def test_totals_at_another_attribution_window_name_the_window(
    org, fake, backend, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(backend_module, "TOTALS_WINDOW", "14d")  # totals taken at Amazon's 14-day window
    connection = week(org, backend)

    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert summaries(fake)[0]["configuration"]["columns"][-2:] == ["purchases14d", "sales14d"]
    [check] = connection_reconciliation(organization=org, connection=connection, today=run.window_end)
    assert [line.label for line in check.lines if not line.matches] == ["Orders", "Ad sales"]
    assert all(line.platform > line.ours for line in check.lines if not line.matches)
    assert check.hints == [
        "Attribution window: the platform totals use 14d, our rows 7d.",
        f"Late restatement: days from {run.window_start.isoformat()} are inside the 14-day restatement window, so "
        "the platform may still change them.",
    ]


def test_conversions_amazon_restates_after_the_totals_were_taken_are_named(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = week(org, backend)
    first = run_sync(connection, django_capture_on_commit_callbacks)
    fake.restatement += 1  # late-attributed orders land on the last days

    second = run_sync(connection, django_capture_on_commit_callbacks)

    newest, older = connection_reconciliation(organization=org, connection=connection, today=first.window_end)
    assert (newest.run, newest.matches, older.run) == (second, True, first)
    assert [line.label for line in older.lines if not line.matches] == ["Orders", "Ad sales"]
    assert older.hints == [
        "Late conversions: impressions, clicks and spend match and only conversions differ; the platform credits "
        "an order to the day of the ad click and keeps adding late ones within its 7d attribution window.",
        f"Late restatement: days from {first.window_start.isoformat()} are inside the 14-day restatement window, "
        "so the platform may still change them.",
        "Late restatement: a later sync re-read some of these days, so ours hold the platform's corrections made "
        "after these totals were taken.",
    ]


def test_a_summary_amazon_cannot_build_leaves_the_run_without_totals(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = week(org, backend)
    fake.faults.add("report_status", "fail", times=2, time_unit="SUMMARY")

    run = run_sync(connection, django_capture_on_commit_callbacks)

    # Asked for once more, failed again: the totals are a check, so the loaded days stand without them.
    assert (run.status, run.platform_totals, run.cursor["totals_done"]) == (RunStatus.SUCCEEDED, {}, True)
    assert [r["status"] for r in fake.report_requests() if r["body"]["configuration"]["timeUnit"] == "SUMMARY"] == [
        "FAILED",
        "FAILED",
    ]
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)
    assert connection_reconciliation(organization=org, connection=connection, today=run.window_end) == []


# --- faults -------------------------------------------------------------------------------------------------


def test_throttling_waits_for_retry_after_and_succeeds(org, fake, backend, sleeper, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    fake.faults.add("report_create", "429", retry_after=7)
    fake.faults.add("report_status", "429", retry_after=3)

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert 7.0 in sleeper.waits and 3.0 in sleeper.waits
    assert [r[2] for r in fake.requests if r[2] == 429] == [429, 429]
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_steady_throttling_slows_the_sync_but_loses_nothing(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    fake.throttle_every = 5
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    api_calls = [r for r in fake.requests if r[1].startswith("/api/")]
    throttled = [r for r in api_calls if r[2] == 429]
    assert len(throttled) == len(api_calls) // 5 > 0
    assert sleeper.waits.count(1.0) >= len(throttled)  # each waited out for its Retry-After
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_server_errors_and_timeouts_are_retried(org, fake, backend, settings, django_capture_on_commit_callbacks):
    settings.PLATFORMS["amazon_ads"]["timeout"] = 1.0  # long enough for a busy machine
    connection = connect(org, backend)
    fake.faults.add("list", "500")
    fake.faults.add("report_status", "slow", seconds=2.5)  # answers after the client gave up
    fake.faults.add("download", "500")

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert fake.faults.pending() == 0
    deadline = time.monotonic() + 5  # the abandoned slow request finishes on the server after the client gave up
    while len([r for r in fake.requests if r[2] >= 500]) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [r[2] for r in fake.requests if r[2] >= 500] == [500, 500, 503]
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_truncated_report_loads_nothing_and_the_retry_completes_it(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    fake.faults.add("download", "truncate")  # the first report (spCampaigns, first chunk) stops half-way

    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    assert raised.value.user_message == INCOMPLETE
    run.refresh_from_db()
    assert (run.status, run.message, run.error_code, run.attempts) == (RunStatus.QUEUED, INCOMPLETE, "transient", 1)
    assert not AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).exists()  # not one row of it
    first_chunk = pieces(run.window_start, run.window_end)[:4]
    assert (run.cursor["entities"], sorted(run.cursor["reports"])) == (True, sorted(first_chunk))
    assert "done" not in run.cursor

    # The task's retry (eager here) resumes: it polls the same report again and loads all of it.
    assert reports_created(fake) == 4
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 2, "")
    assert reports_created(fake) == 13  # each report asked for once (12 pieces, 1 summary): the cut one polled again
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_truncated_report_is_retried_by_the_task_until_it_arrives_whole(
    org, fake, backend, django_capture_on_commit_callbacks, eager_retries, retry_countdowns
):
    connection = connect(org, backend)
    fake.faults.add("download", "truncate", times=2)

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 3, "")
    assert retry_countdowns == [30, 60]  # the engine's bounded backoff between attempts
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


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


def test_a_revoked_grant_mid_sync_fails_the_run_and_asks_to_reauthorize(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    fake.faults.add("report_create", "revoke")  # the seller removed our app after the entities were read

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.error_code, run.message, run.attempts) == (RunStatus.FAILED, "reauth", REVOKED, 1)
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, REVOKED)
    assert "re-authorize" in connection.last_error
    assert fake.token_grants == ["authorization_code"]  # the refresh was refused
    with organization_scope(org):
        assert Campaign.objects.count() == 8  # what was read before the revocation stays
    assert not AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).exists()


def test_a_duplicate_report_request_reuses_the_existing_report(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    # Amazon creates the report, but its answer is lost (502): the retried, identical request gets 425.
    fake.faults.add("report_create", "lost_response")

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    statuses = [r[2] for r in fake.requests if r[:2] == ("POST", "/api/reporting/reports")]
    assert statuses[:2] == [502, 425]
    assert len(fake.reports) == 13  # the duplicate was not created; its report was polled and loaded
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_report_amazon_fails_to_build_is_requested_again(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    fake.faults.add("report_status", "fail")

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert [r["status"] for r in fake.reports.values()].count("FAILED") == 1
    assert len(fake.reports) == 14  # 12 pieces, the failed one again, the summary
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_killed_worker_resumes_from_its_cursor_without_duplicates(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    sleeper.kill_at_poll = 3  # dies waiting for the third report: two are loaded, two more requested

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    all_pieces = pieces(run.window_start, run.window_end)
    assert run.status == RunStatus.RUNNING
    assert run.cursor["done"] == all_pieces[:2]
    assert sorted(run.cursor["reports"]) == sorted(all_pieces[2:4])
    assert reports_created(fake) == 4
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))

    assert services.sync_runs_sweep() == [(org.pk, run.pk)]
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.QUEUED, "Resumed after the worker running it stopped.")
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED

    run.refresh_from_db()
    assert (run.status, run.attempts, run.cursor["done"]) == (RunStatus.SUCCEEDED, 2, all_pieces)
    assert reports_created(fake) == 13  # the two requested before the kill were polled, not asked again
    want = expected(fake, US, run.window_start, run.window_end)
    assert loaded(connection) == want
    # Same as a clean run of another seller over the same days.
    clean = connect(OrganizationFactory(), backend)
    assert run_sync(clean, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL).status == RunStatus.SUCCEEDED
    assert loaded(clean) == loaded(connection) == want


# --- the fake keeps Amazon's rules --------------------------------------------------------------------------


def test_fake_enforces_headers_media_types_and_the_s3_download_rule(fake, backend):
    credentials = authorize(backend)
    api = f"{fake.public_url}/api"
    auth = {"Authorization": f"Bearer {credentials['access_token']}", "Amazon-Advertising-API-ClientId": CLIENT_ID}
    media = "application/vnd.spKeyword.v3+json"
    no_scope = httpx.post(f"{api}/sp/keywords/list", headers={**auth, "Content-Type": media, "Accept": media})
    assert (no_scope.status_code, no_scope.json()["details"]) == (401, "Scope header is missing")
    scoped = {**auth, "Amazon-Advertising-API-Scope": str(US)}
    wrong_type = httpx.post(
        f"{api}/sp/keywords/list", headers={**scoped, "Content-Type": "application/json", "Accept": media}
    )
    assert wrong_type.status_code == 415
    assert httpx.get(f"{api}/v2/profiles", headers={"Amazon-Advertising-API-ClientId": CLIENT_ID}).status_code == 401

    today = fake.dataset.today(US)
    body = {
        "name": "t",
        "startDate": (today - timedelta(days=1)).isoformat(),
        "endDate": today.isoformat(),
        "configuration": {
            "adProduct": "SPONSORED_PRODUCTS",
            "groupBy": ["campaign"],
            "columns": ["date", "campaignId", "cost"],
            "reportTypeId": "spCampaigns",
            "timeUnit": "DAILY",
            "format": "GZIP_JSON",
        },
    }
    create = {**scoped, "Content-Type": "application/vnd.createasyncreportrequest.v3+json"}
    first = httpx.post(f"{api}/reporting/reports", headers=create, content=json.dumps(body))
    assert (first.status_code, first.json()["status"], first.json()["url"]) == (200, "PENDING", None)
    report_id = first.json()["reportId"]
    duplicate = httpx.post(f"{api}/reporting/reports", headers=create, content=json.dumps(body))
    assert duplicate.status_code == 425
    assert duplicate.json()["detail"] == f"The Request is a duplicate of : {report_id}"
    too_long = {**body, "startDate": (today - timedelta(days=31)).isoformat()}
    assert httpx.post(f"{api}/reporting/reports", headers=create, content=json.dumps(too_long)).status_code == 400
    dated_summary = {**body, "configuration": {**body["configuration"], "timeUnit": "SUMMARY"}}
    refused = httpx.post(f"{api}/reporting/reports", headers=create, content=json.dumps(dated_summary))
    assert (refused.status_code, refused.json()["details"]) == (
        400,
        "The column 'date' is not supported when timeUnit is SUMMARY",
    )
    statuses = [httpx.get(f"{api}/reporting/reports/{report_id}", headers=scoped).json() for _ in range(2)]
    assert [s["status"] for s in statuses] == ["PROCESSING", "COMPLETED"]
    url = statuses[1]["url"]
    assert url.startswith(f"{fake.public_url}/download/{report_id}.json.gz?") and "X-Amz-Signature=" in url
    assert httpx.get(url, headers={"Authorization": auth["Authorization"]}).status_code == 400
    rows = json.loads(gzip.decompress(httpx.get(url).content))
    assert rows == list(
        fake.dataset.report_rows(US, "spCampaigns", today - timedelta(days=1), today, ["date", "campaignId", "cost"])
    )
    assert {type(r["campaignId"]) for r in rows} == {int}
    # SUMMARY: one row per campaign over the span, its metrics the sums of the daily rows.
    columns = ["campaignId", "startDate", "endDate", "clicks", "cost"]
    summary = {**body, "configuration": {**body["configuration"], "timeUnit": "SUMMARY", "columns": columns}}
    report_id = httpx.post(f"{api}/reporting/reports", headers=create, content=json.dumps(summary)).json()["reportId"]
    url = [httpx.get(f"{api}/reporting/reports/{report_id}", headers=scoped).json() for _ in range(2)][1]["url"]
    summed: dict[int, tuple[int, Decimal]] = {}
    daily = fake.dataset.report_rows(US, "spCampaigns", today - timedelta(days=1), today, ["date", *columns])
    for row in daily:
        clicks, cost = summed.get(row["campaignId"], (0, Decimal(0)))
        summed[row["campaignId"]] = (clicks + row["clicks"], cost + Decimal(str(row["cost"])))
    got = json.loads(gzip.decompress(httpx.get(url).content))
    assert {r["campaignId"]: (r["clicks"], Decimal(str(r["cost"]))) for r in got} == summed
    span = ((today - timedelta(days=1)).isoformat(), today.isoformat())
    assert {(r["startDate"], r["endDate"]) for r in got} == {span} and len(got) == len(summed) > 1


# --- mapping and parsing ------------------------------------------------------------------------------------

ROW = {
    "date": "2026-05-04",
    "campaignId": 158410630682987,
    "campaignName": "SP | Lamps | Manual",
    "campaignBudgetCurrencyCode": "EUR",
    "adGroupId": 72320882861500,
    "adGroupName": "Lamps - Exact",
    "keywordId": 88150926783794,
    "keyword": "tischlampe keramik",
    "matchType": "EXACT",
    "targeting": "tischlampe keramik",
    "searchTerm": "tischlampe keramik weiß",
    "advertisedAsin": "B0986YK83J",
    "advertisedSku": "HG-LAMP-01",
    "impressions": 2216,
    "clicks": 13,
    "cost": 14.5,
    "purchases7d": 2,
    "unitsSoldClicks7d": 3,
    "sales7d": 119.97,
}


def fact(**overrides) -> AdFact:
    base = {
        "channel": "amazon_ads",
        "account_id": str(DE),
        "marketplace": "DE",
        "date": date(2026, 5, 4),
        "grain": "campaign",
        "campaign_id": "158410630682987",
        "campaign_name": "SP | Lamps | Manual",
        "ad_group_id": "",
        "ad_group_name": "",
        "target_id": "",
        "target_text": "",
        "match_type": "",
        "search_term": "",
        "product_id": "",
        "impressions": 2216,
        "clicks": 13,
        "cost": Decimal("14.5"),
        "orders": 2,
        "units": 3,
        "sales": Decimal("119.97"),
        "currency": "EUR",
        "attribution_window": "7d",
        "source": "api",
        "source_ref": 42,
    }
    return AdFact(**{**base, **overrides})


@pytest.mark.parametrize(
    ("report_type", "want"),
    [
        ("spCampaigns", fact()),
        (
            "spTargeting",
            fact(
                grain="target",
                ad_group_id="72320882861500",
                ad_group_name="Lamps - Exact",
                target_id="88150926783794",
                target_text="tischlampe keramik",
                match_type="EXACT",
            ),
        ),
        (
            "spSearchTerm",
            fact(
                grain="search_term",
                ad_group_id="72320882861500",
                ad_group_name="Lamps - Exact",
                target_id="88150926783794",
                target_text="tischlampe keramik",
                match_type="EXACT",
                search_term="tischlampe keramik weiß",
            ),
        ),
        (
            "spAdvertisedProduct",
            fact(grain="product", ad_group_id="72320882861500", ad_group_name="Lamps - Exact", product_id="HG-LAMP-01"),
        ),
    ],
)
def test_report_rows_map_every_column(report_type, want):
    got = list(
        mapping.ad_facts(
            [ROW], report_type=report_type, account_id=str(DE), marketplace="DE", currency="USD", source_ref=42
        )
    )
    assert got == [want]
    assert isinstance(got[0].cost, Decimal) and str(got[0].cost) == "14.5" and str(got[0].sales) == "119.97"


def test_report_rows_fall_back_to_the_profile_currency_and_the_asin():
    row = {k: v for k, v in ROW.items() if k not in ("campaignBudgetCurrencyCode", "advertisedSku")}
    row.update(cost=0.1, sales7d=0)
    (got,) = mapping.ad_facts(
        [row], report_type="spAdvertisedProduct", account_id="1", marketplace="DE", currency="EUR", source_ref=1
    )
    assert (got.currency, got.product_id, got.cost, got.sales) == ("EUR", "B0986YK83J", Decimal("0.1"), Decimal("0"))


def test_list_items_map_to_entity_rows():
    # Shapes from Amazon's Postman collection (SP v3 list responses).
    campaign = {
        "budget": {"budget": 15, "budgetType": "DAILY"},
        "campaignId": "52978233888897",
        "name": "Campaign - 8/11/2022 11:28:51",
        "state": "ENABLED",
        "targetingType": "AUTO",
    }
    assert mapping.campaign_row(campaign) == {
        "external_id": "52978233888897",
        "name": "Campaign - 8/11/2022 11:28:51",
        "state": "ENABLED",
        "targeting_type": "AUTO",
        "budget": Decimal("15"),
        "budget_type": "DAILY",
        "portfolio": "",
    }
    ad_group = {
        "adGroupId": "220795965021387",
        "campaignId": "102579222643121",
        "defaultBid": 0.75,
        "name": "g",
        "state": "ENABLED",
    }
    assert mapping.ad_group_row(ad_group) == {
        "campaign_external_id": "102579222643121",
        "external_id": "220795965021387",
        "name": "g",
        "state": "ENABLED",
        "default_bid": Decimal("0.75"),
    }
    keyword = {
        "adGroupId": "2",
        "bid": 0.02,
        "campaignId": "1",
        "keywordId": "88150926783794",
        "keywordText": "soap bar",
        "matchType": "EXACT",
        "state": "ENABLED",
    }
    assert mapping.keyword_row(keyword) == {
        "ad_group_external_id": "2",
        "external_id": "88150926783794",
        "text": "soap bar",
        "match_type": "EXACT",
        "bid": Decimal("0.02"),
        "state": "ENABLED",
    }
    auto = {
        "adGroupId": "2",
        "campaignId": "1",
        "expression": [{"type": "QUERY_HIGH_REL_MATCHES"}],
        "expressionType": "AUTO",
        "state": "ENABLED",
        "targetId": "31667521455534",
    }
    asin = {
        "adGroupId": "2",
        "campaignId": "1",
        "expression": [{"type": "ASIN_SAME_AS", "value": "B07YT8NVF9"}],
        "expressionType": "MANUAL",
        "state": "PAUSED",
        "targetId": "9",
        "bid": 1.1,
    }
    assert mapping.target_row(auto) == {
        "ad_group_external_id": "2",
        "external_id": "31667521455534",
        "text": "close-match",
        "match_type": "TARGETING_EXPRESSION_PREDEFINED",
        "bid": None,
        "state": "ENABLED",
    }
    assert (mapping.target_row(asin)["text"], mapping.target_row(asin)["match_type"]) == (
        'asin="B07YT8NVF9"',
        "TARGETING_EXPRESSION",
    )
    negative = {
        "adGroupId": "121849963038619",
        "campaignId": "26256301417055",
        "keywordId": "5092276756639",
        "keywordText": "Toys",
        "matchType": "NEGATIVE_EXACT",
        "state": "PAUSED",
    }
    campaign_negative = {
        "campaignId": "26256301417055",
        "keywordId": "121429939592701",
        "keywordText": "helloworld",
        "matchType": "NEGATIVE_EXACT",
        "state": "ENABLED",
    }
    assert mapping.negative_keyword_row(negative)["ad_group_external_id"] == "121849963038619"
    assert mapping.negative_keyword_row(campaign_negative) == {
        "campaign_external_id": "26256301417055",
        "ad_group_external_id": "",
        "external_id": "121429939592701",
        "text": "helloworld",
        "match_type": "NEGATIVE_EXACT",
        "state": "ENABLED",
    }
    product = {
        "adGroupId": "140531465119624",
        "adId": "87094400667825",
        "asin": "B0986YK83J",
        "campaignId": "1",
        "sku": "a140aafa-1a23",
        "state": "ENABLED",
    }
    assert mapping.product_ad_row(product) == {
        "ad_group_external_id": "140531465119624",
        "external_id": "87094400667825",
        "sku": "a140aafa-1a23",
        "asin": "B0986YK83J",
        "state": "ENABLED",
    }  # fmt: skip


def test_the_json_array_stream_parses_across_any_split():
    items = [
        {"a": 1, "s": 'x,]}"y'},
        {"b": [1, 2, {"c": None}]},
        {"u": "テーブルランプ"},
        {"n": -1.5e3, "m": {"k": "},{"}},
        {"s": "*"},
    ]
    text = json.dumps(items, ensure_ascii=False)
    for cut in range(len(text) + 1):
        parser = JSONArrayStream()
        got = list(parser.feed(text[:cut])) + list(parser.feed(text[cut:]))
        parser.close()
        assert got == items
    one_char = JSONArrayStream()
    assert [x for ch in "[ 1 , 22 ,333 ]" for x in one_char.feed(ch)] == [1, 22, 333]
    one_char.close()
    empty = JSONArrayStream()
    assert list(empty.feed(" [ ] ")) == []
    empty.close()


def test_a_gzip_cut_short_yields_what_arrived_then_raises():
    data = gzip.compress(json.dumps([{"i": i} for i in range(1000)]).encode())
    chunks = [data[i : i + 100] for i in range(0, len(data), 100)]
    assert list(iter_gzip_json_array(chunks)) == [{"i": i} for i in range(1000)]
    got = []
    with pytest.raises(ValueError, match="ended early"):
        for item in iter_gzip_json_array(chunks[: len(chunks) // 2]):
            got.append(item)
    assert 0 < len(got) < 1000


def test_demo_data_is_deterministic_and_fast():
    a, b = Dataset(), Dataset()
    today = a.today(US)
    start = today - timedelta(days=89)
    columns = ["date", "campaignId", "keywordId", "searchTerm", "impressions", "clicks", "cost", "sales7d"]
    began = time.perf_counter()
    rows = list(a.report_rows(US, "spSearchTerm", start, today, columns))
    assert time.perf_counter() - began < 2.0
    assert rows == list(b.report_rows(US, "spSearchTerm", start, today, columns))
    terms = {r["searchTerm"] for r in rows}
    assert "*" in terms and any(re.fullmatch(r"b0[0-9a-z]{8}", t) for t in terms)
    jp_terms = {r["searchTerm"] for r in a.report_rows(JP, "spSearchTerm", start, today, columns)}
    de_terms = {r["searchTerm"] for r in a.report_rows(DE, "spSearchTerm", start, today, columns)}
    assert "テーブルランプ" in jp_terms and "tischlampe" in de_terms
    assert a.first_day(US) == today - timedelta(days=399)
