"""Google Ads backend end to end against its fake (real HTTP on a local port, real PostgreSQL, Celery eager).

Nothing of ours is mocked: ``settings.PLATFORMS["google_ads"]`` points at the fake, and its ``sleep`` knob
records waits instead of waiting. The fake's own dataset gives the expected numbers.
"""

from __future__ import annotations

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
from campaigns.models import AdAccount, AdGroup, Campaign, NegativeKeyword, Target
from config.celery_app import app as celery_app
from config.testing import serve_wsgi
from connectors import services
from connectors.backends import get_backend
from connectors.backends.base import DiscoveredAccount
from connectors.backends.google_ads import mapping
from connectors.backends.google_ads.backend import REPORTS, date_chunks, piece_key
from connectors.backends.google_ads.client import (
    KeywordChange,
    SearchStreamParser,
    error_for,
    parse_duration,
    parse_failure,
)
from connectors.backends.google_ads.demo_data import CLOSED_ID, MANAGER_ID, RESTATED_DAYS, UK_ID, US_ID, Dataset
from connectors.backends.google_ads.fake import CLIENTS, DEMO_CREDENTIALS, DEVELOPER_TOKENS, make_app, parse_gaql
from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.tasks import run_sync as sync_task

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = next(iter(CLIENTS.items()))
DEVELOPER_TOKEN = next(iter(DEVELOPER_TOKENS))
REDIRECT = "https://app.chuhai.test/connect/google_ads/callback/"
SCOPE = "https://www.googleapis.com/auth/adwords"
REVOKED = (
    "Google Ads: reconnect: Google no longer accepts our access (it was revoked, or it expired). "
    "Connect the account again to keep syncing."
)
INCOMPLETE = "A Google Ads report arrived incomplete; the sync will retry."
TEMPORARY = "Google Ads had a temporary problem; the sync will retry."
GRAIN = mapping.GRAINS


class WorkerKilled(BaseException):  # noqa: N818 - it plays SIGKILL, not an error
    """Raised from the injected sleep: like a killed worker, no ``except Exception`` in the engine sees it."""


class Sleeper:
    """The ``sleep`` knob: records every wait; ``kill_on=s`` kills the "worker" when it is asked to wait s."""

    def __init__(self):
        self.waits: list[float] = []
        self.kill_on: float | None = None

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.kill_on is not None and seconds == self.kill_on:
            self.kill_on = None
            raise WorkerKilled


@pytest.fixture
def sleeper():
    return Sleeper()


def platform_conf(url: str, **extra) -> dict:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "developer_token": DEVELOPER_TOKEN,
        "api_version": "v26",
        "auth_url": f"{url}/o/oauth2/v2/auth",
        "token_url": f"{url}/token",
        "api_url": f"{url}/api",
        "timeout": 5,
        "rate": 1000,
        "burst": 1000,
        **extra,
    }


@pytest.fixture
def fake(settings, sleeper):
    app = make_app()
    with serve_wsgi(app) as url:
        app.public_url = url
        settings.PLATFORMS = {**settings.PLATFORMS, "google_ads": platform_conf(url, sleep=sleeper)}
        yield app


@pytest.fixture
def backend():
    return get_backend("google_ads")


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
    page = httpx.get(backend.authorization_url(state=state, redirect_uri=REDIRECT, region="EU"))
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
        organization=org, platform="google_ads", account=account, credentials=credentials, user=None
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


def expected(fake, customer_id, start, end, restatement=0) -> dict:
    out = {}
    for resource in REPORTS:
        totals = fake.dataset.totals(customer_id, resource, start, end, restatement)
        out[GRAIN[resource]] = {
            "rows": totals["rows"],
            "impressions": totals["impressions"],
            "clicks": totals["clicks"],
            "cost": totals["cost"],
            "orders": totals["orders"],
            "units": 0,
            "sales": totals["sales"],
        }
    return out


def pieces(start: date, end: date) -> list[str]:
    return [piece_key(s, e, r) for s, e in date_chunks(start, end, 90) for r in REPORTS]


def streams(fake, status=None) -> list[tuple]:
    return [r for r in fake.api_calls(":searchStream") if status is None or r[2] == status]


def api_client(backend, credentials, customer_id=US_ID, login=MANAGER_ID):
    return backend.client(
        backend._http("test"), credentials, customer_id=str(customer_id), login_customer_id=str(login or "")
    )


# --- connecting ---------------------------------------------------------------------------------------------


def test_authorization_url_asks_for_offline_adwords_access_and_the_consent_page_answers(fake, backend):
    url = backend.authorization_url(state="st-123", redirect_uri=REDIRECT, region="NA")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.public_url}/o/oauth2/v2/auth"
    assert parse_qs(parts.query) == {
        "client_id": [CLIENT_ID],
        "redirect_uri": [REDIRECT],
        "response_type": ["code"],
        "scope": [SCOPE],
        "access_type": ["offline"],
        "prompt": ["consent"],
        "include_granted_scopes": ["true"],
        "state": ["st-123"],
    }
    allowed = urlsplit(consent(backend))
    query = parse_qs(allowed.query)
    assert f"{allowed.scheme}://{allowed.netloc}{allowed.path}" == REDIRECT
    assert (query["state"], query["scope"]) == (["st-123"], [SCOPE])
    assert query["code"][0].startswith("4/0A")
    assert parse_qs(urlsplit(consent(backend, decision="deny")).query) == {
        "error": ["access_denied"],
        "state": ["st-123"],
    }


def test_code_exchange_gives_a_refreshable_grant_and_a_code_works_once(fake, backend):
    code = parse_qs(urlsplit(consent(backend)).query)["code"][0]
    before = time.time()
    credentials = backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    assert set(credentials) == {"access_token", "refresh_token", "token_type", "scope", "expires_at"}
    assert credentials["access_token"].startswith("ya29.") and credentials["refresh_token"].startswith("1//")
    assert (credentials["token_type"], credentials["scope"]) == ("Bearer", SCOPE)
    assert before + 3600 <= credentials["expires_at"] <= time.time() + 3600
    with pytest.raises(AuthorizationError) as reused:
        backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    assert reused.value.user_message == (
        "Google did not accept the authorization (a code works once, for a few minutes). Please connect again."
    )
    assert fake.token_grants == ["authorization_code"]


def test_a_grant_without_offline_access_is_refused(fake, backend):
    page = httpx.get(backend.authorization_url(state="s", redirect_uri=REDIRECT).replace("offline", "online"))
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    answer = httpx.post(f"{fake.public_url}/o/oauth2/v2/auth/decision", data={**fields, "decision": "allow"})
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    with pytest.raises(AuthorizationError) as refused:
        backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    assert refused.value.user_message == (
        "Google did not grant offline access to Google Ads. Please connect again and allow access."
    )


def test_discovery_connects_the_managers_client_accounts_not_the_manager(fake, backend):
    credentials = authorize(backend)
    fake.requests.clear()

    accounts = backend.discover_accounts(credentials=credentials)

    config = {"login_customer_id": str(MANAGER_ID), "manager_name": "Hearth & Grain Home (Manager)"}
    assert accounts == [
        DiscoveredAccount(
            str(US_ID),
            "Hearth & Grain Home US",
            "USD",
            "America/New_York",
            "US",
            "",
            {"customer_id": "721-459-0386", **config},
        ),
        DiscoveredAccount(
            str(UK_ID),
            "Hearth & Grain Home UK",
            "GBP",
            "Europe/London",
            "UK",
            "",
            {"customer_id": "335-880-2417", **config},
        ),
    ]  # fmt: skip  (the cancelled Canadian account is not offered)
    calls = [(path.rsplit("/", 2)[-2:], headers["login-customer-id"]) for _m, path, _s, headers in fake.requests]
    assert calls == [
        (["v26", "customers:listAccessibleCustomers"], None),
        ([str(MANAGER_ID), "googleAds:search"], None),  # its own customer row: reached directly
        ([str(MANAGER_ID), "googleAds:search"], str(MANAGER_ID)),  # customer_client
        ([str(US_ID), "googleAds:search"], str(MANAGER_ID)),  # location targets -> marketplace
        ([str(UK_ID), "googleAds:search"], str(MANAGER_ID)),
    ]
    assert {headers["developer-token"] for *_x, headers in fake.requests} == {DEVELOPER_TOKEN}


def test_an_account_reached_directly_needs_no_login_customer_id(fake, backend):
    fake.accessible = [CLOSED_ID, UK_ID, MANAGER_ID]  # direct access to UK (and to a cancelled account)
    accounts = backend.discover_accounts(credentials=authorize(backend))
    by_id = {a.external_id: a for a in accounts}
    assert sorted(by_id) == sorted([str(US_ID), str(UK_ID)])
    assert by_id[str(UK_ID)].config == {"customer_id": "335-880-2417", "login_customer_id": ""}
    assert by_id[str(US_ID)].config["login_customer_id"] == str(MANAGER_ID)
    uk_calls = [headers["login-customer-id"] for _m, path, _s, headers in fake.requests if f"/{UK_ID}/" in path]
    assert uk_calls == [None, None]  # its customer row and its locations, without the header


def test_connecting_through_our_pages_connects_both_accounts_and_loads_them(
    fake, org, owner_client, django_capture_on_commit_callbacks
):
    start = owner_client.post(reverse("connect_start", kwargs={"org_slug": org.slug, "platform": "google_ads"}))
    assert start.status_code == 302
    authorize_url = start["Location"]
    page = httpx.get(authorize_url)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    answer = httpx.post(f"{fake.public_url}/o/oauth2/v2/auth/decision", data={**fields, "decision": "allow"})
    back = urlsplit(answer.headers["location"])
    assert back.path == reverse("connect_callback", kwargs={"platform": "google_ads"})

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.get(f"{back.path}?{back.query}")

    assert response.status_code == 302
    connections = Connection.unscoped_objects.filter(organization=org).order_by("currency")
    assert [(c.external_id, c.marketplace, c.currency, c.time_zone, c.lookback_days) for c in connections] == [
        (str(UK_ID), "UK", "GBP", "Europe/London", 30),
        (str(US_ID), "US", "USD", "America/New_York", 30),
    ]
    assert {c.config["login_customer_id"] for c in connections} == {str(MANAGER_ID)}
    runs = SyncRun.unscoped_objects.filter(organization=org)
    assert {(r.kind, r.status) for r in runs} == {(RunKind.BACKFILL, RunStatus.SUCCEEDED)}
    for connection in connections:
        run = runs.get(connection=connection)
        assert loaded(connection) == expected(fake, int(connection.external_id), run.window_start, run.window_end)


def test_disconnecting_revokes_the_grant(org, fake, backend):
    connection = connect(org, backend)
    refresh = connection.credentials["refresh_token"]

    services.connection_disconnect(connection=connection, actor=None)

    response = httpx.post(fake.public_url + "/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    })  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert ("POST", "/revoke", 200) in [r[:3] for r in fake.requests]


# --- syncing ------------------------------------------------------------------------------------------------


def test_full_sync_loads_every_report_exactly_records_googles_totals_and_a_rerun_changes_nothing(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    start, end = run.window_start, run.window_end
    assert (end - start).days == 90 and end == fake.dataset.today(US_ID)
    want = expected(fake, US_ID, start, end)
    assert loaded(connection) == want
    total_rows = sum(v["rows"] for v in want.values())
    assert (run.status, run.progress, run.message, run.attempts) == (RunStatus.SUCCEEDED, 100, "", 1)
    assert (run.rows_read, run.rows_written) == (total_rows, total_rows)
    assert run.cursor == {
        "start": start.isoformat(),
        "attribution": "30d click",
        "entities": True,
        "done": pieces(start, end),
    }
    assert len(pieces(start, end)) == 8  # 91 days: chunks of 90 and 1 day x four reports
    # One stream per piece, plus the reconciliation; every call carried the manager as login customer.
    assert len(streams(fake, 200)) == 9
    assert {headers["login-customer-id"] for *_x, headers in fake.api_calls()} == {str(MANAGER_ID)}
    assert sleeper.waits == []

    # Reconciliation: Google's own totals for the window, beside ours, and they agree.
    account = fake.dataset.totals(US_ID, "customer", start, end)
    assert run.platform_totals == {
        "customer": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "currency": "USD",
            "impressions": account["impressions"],
            "clicks": account["clicks"],
            "cost": str(account["cost"].quantize(Decimal("0.0001"))),
            "conversions": run.platform_totals["customer"]["conversions"],
            "sales": str(account["sales"].quantize(Decimal("0.0001"))),
            "attribution_window": "30d click",
        }
    }
    assert Decimal(run.platform_totals["customer"]["conversions"]) == account["conversions"]
    campaigns = want["campaign"]
    assert (campaigns["impressions"], campaigns["clicks"], campaigns["cost"], campaigns["sales"]) == (
        account["impressions"],
        account["clicks"],
        account["cost"],
        account["sales"],
    )
    # Ad groups and search terms add up to the same (Performance Max has no ad groups: it is campaign-only).
    assert want["ad_group"]["cost"] == want["search_term"]["cost"] < want["campaign"]["cost"]

    # Entities: 6 campaigns, 8 ad groups, 24 keywords, 3 ad-group and 11 campaign negatives.
    with organization_scope(org):
        account_row = AdAccount.objects.get()
        assert (account_row.channel, account_row.external_id, account_row.currency, account_row.time_zone) == (
            "google_ads",
            str(US_ID),
            "USD",
            "America/New_York",
        )
        assert Campaign.objects.count() == 6
        assert set(Campaign.objects.values_list("targeting_type", flat=True)) == {
            "SEARCH",
            "SHOPPING",
            "PERFORMANCE_MAX",
        }
        kitchen = Campaign.objects.get(name="Search | Kitchen | Test")
        assert (kitchen.state, kitchen.budget, kitchen.budget_type) == ("PAUSED", Decimal("15.0000"), "DAILY")
        assert AdGroup.objects.count() == 8
        assert Target.objects.count() == 24
        exact = Target.objects.get(text="ceramic table lamp")
        assert (exact.match_type, exact.bid, exact.state) == ("EXACT", Decimal("1.6000"), "ENABLED")
        inherited = Target.objects.get(text="bedside lamp")
        assert inherited.bid == Decimal("1.2500")  # no bid of its own: its ad group's
        assert NegativeKeyword.objects.filter(ad_group__isnull=False).count() == 3
        assert NegativeKeyword.objects.filter(ad_group__isnull=True).count() == 11
        free = NegativeKeyword.objects.filter(text="free")
        assert {n.match_type for n in free} == {"NEGATIVE_BROAD"} and free.count() == 3  # one id, three campaigns
    facts = AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk)
    assert set(facts.values_list("channel", "currency", "marketplace", "attribution_window", "units")) == {
        ("google_ads", "USD", "US", "30d click", 0)
    }
    shopping_terms = facts.filter(grain="search_term", campaign_name="Shopping | Lamps & Decor")
    assert shopping_terms.exists() and set(shopping_terms.values_list("target_id", "match_type")) == {("", "")}

    again = run_sync(connection, django_capture_on_commit_callbacks)

    assert again.status == RunStatus.SUCCEEDED
    assert again.window_start == end - timedelta(days=30)  # the conversion window is re-read every run
    assert loaded(connection) == want
    assert AdPerformanceDaily.unscoped_objects.filter(organization=org).count() == total_rows


def test_restated_conversions_overwrite_what_was_loaded(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    first = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)
    start, end = first.window_start, first.window_end
    recent = end - timedelta(days=RESTATED_DAYS - 1)
    before = fake.dataset.totals(US_ID, "campaign", recent, end)

    fake.restatement += 1
    second = run_sync(connection, django_capture_on_commit_callbacks)

    after = fake.dataset.totals(US_ID, "campaign", recent, end, restatement=1)
    assert after["sales"] > before["sales"] and after["conversions"] > before["conversions"]
    assert loaded(connection) == expected(fake, US_ID, start, end, restatement=1)
    campaign_days = AdPerformanceDaily.unscoped_objects.filter(
        source_ref=connection.pk, grain="campaign", date__gte=recent
    ).aggregate(sales=Sum("sales"), orders=Sum("orders"))
    assert campaign_days == {"sales": after["sales"], "orders": after["orders"]}
    assert (
        Decimal(second.platform_totals["customer"]["conversions"])
        == (fake.dataset.totals(US_ID, "customer", second.window_start, end, restatement=1)["conversions"])
    )


def test_the_uk_account_keeps_its_currency_its_day_and_its_60_day_conversion_window(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, country="UK")
    first = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert first.status == RunStatus.SUCCEEDED
    assert first.window_end == fake.dataset.today(UK_ID)  # London's day, whatever the server's
    assert loaded(connection) == expected(fake, UK_ID, first.window_start, first.window_end)
    rows = AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk)
    assert set(rows.values_list("currency", "marketplace", "account_id", "attribution_window")) == {
        ("GBP", "UK", str(UK_ID), "60d click")
    }
    assert first.platform_totals["customer"]["currency"] == "GBP"

    second = run_sync(connection, django_capture_on_commit_callbacks)

    # The connection re-reads 30 days, but Google restates UK conversions for 60: the run reads 60.
    assert second.window_start == first.window_end - timedelta(days=30)
    assert second.cursor["start"] == (first.window_end - timedelta(days=59)).isoformat()
    assert second.platform_totals["customer"]["start"] == second.cursor["start"]
    assert loaded(connection) == expected(fake, UK_ID, first.window_start, first.window_end)


def test_entity_searches_follow_next_page_tokens_and_streams_come_in_batches(
    org, fake, backend, django_capture_on_commit_callbacks
):
    fake.page_size = 5
    fake.batch_size = 200
    connection = connect(org, backend)
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert run.status == RunStatus.SUCCEEDED
    searches = fake.api_calls(":search")
    # conversion actions 1 page, campaigns 2, ad groups 2, keywords (24 + 3 negatives + 6 product groups
    # filtered out by type) 6 pages, campaign negatives 3
    assert len(searches) == 1 + 2 + 2 + 6 + 3
    assert loaded(connection) == expected(fake, US_ID, run.window_start, run.window_end)


def test_a_sync_refreshes_an_expired_token_first_and_a_401_once(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    stale = {**connection.credentials, "expires_at": time.time() - 5}
    services.connection_save_credentials(connection=connection, credentials=stale)
    fake.faults.add("search_stream", "expire", after=2)  # Google stops accepting the new token mid-run

    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert fake.token_grants == ["authorization_code", "refresh_token", "refresh_token"]
    connection.refresh_from_db()
    assert connection.credentials["refresh_token"] == stale["refresh_token"]  # Google keeps the refresh token
    assert connection.credentials["access_token"] != stale["access_token"]
    assert [r[2] for r in fake.api_calls(":searchStream")][2:4] == [401, 200]
    assert loaded(connection) == expected(fake, US_ID, run.window_start, run.window_end)


# --- faults -------------------------------------------------------------------------------------------------


def test_a_short_quota_delay_is_waited_out_inline(org, fake, backend, sleeper, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    fake.faults.add("search_stream", "quota", retry_delay=7)
    fake.faults.add("search", "quota_temporary", retry_delay=3)

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert sleeper.waits == [3.0, 7.0]
    assert [r[2] for r in fake.api_calls() if r[2] != 200] == [429, 429]
    assert loaded(connection) == expected(fake, US_ID, run.window_start, run.window_end)


def test_a_long_quota_delay_sends_the_run_back_to_the_queue_for_that_long(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks, eager_retries, retry_countdowns
):
    connection = connect(org, backend)
    fake.faults.add("search_stream", "quota", retry_delay=8962, after=3)

    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    assert raised.value.retry_after == 8962
    assert raised.value.user_message == (
        "Google Ads asked us to slow down (API quota used up); the sync will continue in about 149 min."
    )
    run.refresh_from_db()
    assert (run.status, run.error_code, run.cursor["done"]) == (
        RunStatus.QUEUED,
        "transient",
        pieces(run.window_start, run.window_end)[:3],
    )
    assert sleeper.waits == []  # nothing waited inline

    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert loaded(connection) == expected(fake, US_ID, run.window_start, run.window_end)

    # Through the task: the retry waits what Google asked, capped at an hour.
    other = connect(OrganizationFactory(), backend)
    fake.faults.add("search_stream", "quota_temporary", retry_delay=8962)
    assert run_sync(other, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL).status == RunStatus.SUCCEEDED
    assert retry_countdowns == [3600]


def test_steady_quota_errors_slow_the_sync_but_lose_nothing(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    fake.throttle_every = 4
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    calls = fake.api_calls()
    throttled = [r for r in calls if r[2] == 429]
    assert len(throttled) == len(calls) // 4 > 0
    assert sleeper.waits == [1.0] * len(throttled)  # each waited out for its retryDelay
    assert loaded(connection) == expected(fake, US_ID, run.window_start, run.window_end)


def test_server_errors_and_timeouts_are_retried(org, fake, backend, settings, django_capture_on_commit_callbacks):
    # long enough for a busy machine to stream a page without pausing, short enough to give up on "slow"
    settings.PLATFORMS["google_ads"]["timeout"] = 1.0
    connection = connect(org, backend)
    fake.faults.add("search", "500")
    fake.faults.add("search_stream", "slow", seconds=2.5, after=1)  # answers after the client gave up
    fake.faults.add("search_stream", "503")
    fake.faults.add("token", "500")

    stale = {**connection.credentials, "expires_at": 0}
    services.connection_save_credentials(connection=connection, credentials=stale)
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert fake.faults.pending() == 0
    assert loaded(connection) == expected(fake, US_ID, run.window_start, run.window_end)
    deadline = time.monotonic() + 5  # the abandoned slow request finishes on the server after the client gave up
    while len([r for r in fake.requests if r[2] >= 500]) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(r[2] for r in fake.requests if r[2] >= 500) == [500, 500, 503, 503]


def test_a_stream_cut_short_loads_nothing_of_its_piece_and_the_retry_completes_it(
    org, fake, backend, django_capture_on_commit_callbacks
):
    fake.batch_size = 100
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    fake.faults.add("search_stream", "cut", after=3)  # the first chunk's search terms: 100 rows, then nothing

    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    assert raised.value.user_message == INCOMPLETE
    run.refresh_from_db()
    assert (run.status, run.message, run.error_code, run.attempts) == (RunStatus.QUEUED, INCOMPLETE, "transient", 1)
    all_pieces = pieces(run.window_start, run.window_end)
    assert run.cursor["done"] == all_pieces[:3]
    assert not AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk, grain="search_term").exists()

    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert (run.status, run.attempts, run.message, run.cursor["done"]) == (RunStatus.SUCCEEDED, 2, "", all_pieces)
    assert loaded(connection) == expected(fake, US_ID, run.window_start, run.window_end)


def test_an_error_at_the_end_of_a_stream_is_retried_by_the_task(
    org, fake, backend, django_capture_on_commit_callbacks, eager_retries, retry_countdowns
):
    fake.batch_size = 100
    connection = connect(org, backend)
    fake.faults.add("search_stream", "stream_error", after=3, times=2)

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 3, "")
    assert retry_countdowns == [30, 60]  # the engine's bounded backoff between attempts
    assert loaded(connection) == expected(fake, US_ID, run.window_start, run.window_end)


def test_errors_every_attempt_fail_the_run_after_max_attempts_with_a_message(
    org, fake, backend, django_capture_on_commit_callbacks, eager_retries, retry_countdowns
):
    connection = connect(org, backend)
    fake.faults.add("search_stream", "stream_error", times=services.MAX_ATTEMPTS)

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts, run.message) == (RunStatus.FAILED, services.MAX_ATTEMPTS, TEMPORARY)
    assert retry_countdowns == [30, 60, 120, 240]
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.ERROR, TEMPORARY)
    assert not AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).exists()


def test_a_revoked_grant_fails_the_run_and_asks_to_reconnect(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    fake.faults.add("search_stream", "revoke")  # the seller removed our access after the entities were read

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.error_code, run.message, run.attempts) == (RunStatus.FAILED, "reauth", REVOKED, 1)
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, REVOKED)
    assert fake.token_grants == ["authorization_code"]  # the refresh was refused
    with organization_scope(org):
        assert Campaign.objects.count() == 6  # what was read before the revocation stays
    assert not AdPerformanceDaily.unscoped_objects.filter(source_ref=connection.pk).exists()


def test_a_missing_login_customer_id_is_a_permission_error_the_seller_can_fix(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    Connection.unscoped_objects.filter(pk=connection.pk).update(config={})
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    message = (
        "Google Ads: reconnect: the Google account that connected this ad account can no longer reach it "
        "(USER_PERMISSION_DENIED). Check its access in Google Ads (Admin, Access and security), then connect again."
    )
    assert (run.status, run.error_code, run.message) == (RunStatus.FAILED, "reauth", message)
    assert [(r[2], r[3]["login-customer-id"]) for r in fake.api_calls(":search")] == [(403, None)]


def test_a_refused_developer_token_fails_the_run_without_blaming_the_seller(
    org, fake, backend, settings, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    settings.PLATFORMS["google_ads"]["developer_token"] = "not-ours"
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.error_code) == (RunStatus.FAILED, "platform")
    assert run.message.startswith("Google Ads refused Chuhai's developer token. This is on our side")
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ERROR
    assert [r[2] for r in fake.api_calls()] == [403]


def test_a_retired_api_version_says_which_setting_to_change(
    org, fake, backend, settings, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    settings.PLATFORMS["google_ads"]["api_version"] = "v14"

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.message) == (
        RunStatus.FAILED,
        "Google Ads does not answer at API version v14 (it may be retired). Set GOOGLE_ADS_API_VERSION to a "
        "current version.",
    )


def test_a_killed_worker_resumes_from_its_cursor_without_duplicates(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    fake.faults.add("search_stream", "quota", retry_delay=2.5, after=2)
    sleeper.kill_on = 2.5  # the worker dies waiting out the quota error of the third piece

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    all_pieces = pieces(run.window_start, run.window_end)
    assert (run.status, run.cursor["done"], run.cursor["entities"]) == (RunStatus.RUNNING, all_pieces[:2], True)
    assert set(loaded(connection)) == {"campaign", "ad_group"}
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))

    assert services.sync_runs_sweep() == [(org.pk, run.pk)]
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.QUEUED, "Resumed after the worker running it stopped.")
    fake.requests.clear()
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED

    run.refresh_from_db()
    assert (run.status, run.attempts, run.cursor["done"]) == (RunStatus.SUCCEEDED, 2, all_pieces)
    assert len(streams(fake, 200)) == len(all_pieces) - 2 + 1  # the two loaded pieces were not asked again
    assert fake.api_calls(":search") == []  # nor the entities
    want = expected(fake, US_ID, run.window_start, run.window_end)
    assert loaded(connection) == want
    clean = connect(OrganizationFactory(), backend)
    assert run_sync(clean, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL).status == RunStatus.SUCCEEDED
    assert loaded(clean) == loaded(connection) == want


# --- mutate (for the push of approved changes) --------------------------------------------------------------


def test_budget_updates_validate_only_then_apply(fake, backend):
    client = api_client(backend, fake.grant())
    brand = next(c for c in fake.dataset.account(US_ID).campaigns if c.name == "Search | Brand")
    before = brand.budget.amount_micros

    checked = client.update_campaign_budgets([(str(brand.budget.id), 45_000_000)], validate_only=True)

    assert checked.ok and checked.applied == [] and brand.budget.amount_micros == before
    assert checked.results[0].resource_name == ""  # validate-only: Google returns no results

    done = client.update_campaign_budgets(
        [(str(brand.budget.id), 45_000_000)], response_content_type="MUTABLE_RESOURCE"
    )

    name = f"customers/{US_ID}/campaignBudgets/{brand.budget.id}"
    assert [(r.ok, r.resource_name) for r in done.results] == [(True, name)]
    assert done.results[0].resource["amountMicros"] == "45000000"
    assert brand.budget.amount_micros == 45_000_000
    [body] = fake.mutations
    assert body["operations"] == [
        {"updateMask": "amountMicros", "update": {"resourceName": name, "amountMicros": "45000000"}}
    ]
    rows = list(client.search(f"SELECT campaign_budget.amount_micros FROM campaign WHERE campaign.id = {brand.id}"))
    assert rows[0]["campaignBudget"]["amountMicros"] == "45000000"


def test_without_partial_failure_one_bad_operation_applies_nothing(fake, backend):
    client = api_client(backend, fake.grant())
    budgets = fake.dataset.account(US_ID).budgets
    before = [b.amount_micros for b in budgets]

    response = client.update_campaign_budgets([(str(budgets[0].id), 50_000_000), (str(budgets[1].id), 12_345)])

    assert response.failed_request and not response.ok and response.applied == []
    assert [(r.index, r.ok, [e.label for e in r.errors]) for r in response.results] == [
        (0, False, []),
        (1, False, ["campaignBudgetError.NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT"]),
    ]
    assert response.results[1].errors[0].field_path == "operations[1].update.amount_micros"
    assert [b.amount_micros for b in budgets] == before


def test_keyword_bid_and_status_changes_with_partial_failure(fake, backend):
    client = api_client(backend, fake.grant())
    tables = next(g for c in fake.dataset.account(US_ID).campaigns for g in c.ad_groups if g.name == "Table lamps")
    exact, phrase = tables.criteria[0], tables.criteria[1]

    response = client.update_keywords(
        [
            KeywordChange(str(tables.id), str(exact.criterion_id), cpc_bid_micros=1_750_000),
            KeywordChange(str(tables.id), "999", cpc_bid_micros=1_000_000),
            KeywordChange(str(tables.id), str(phrase.criterion_id), cpc_bid_micros=1_100_000, status="PAUSED"),
            KeywordChange(str(tables.id), str(phrase.criterion_id), cpc_bid_micros=1_234_567),
        ],
        partial_failure=True,
    )

    assert [(r.ok, [e.code for e in r.errors]) for r in response.results] == [
        (True, []),
        (False, ["RESOURCE_NOT_FOUND"]),
        (True, []),
        (False, ["BID_TOO_MANY_FRACTIONAL_DIGITS"]),
    ]
    assert [r.resource_name for r in response.results] == [
        f"customers/{US_ID}/adGroupCriteria/{tables.id}~{exact.criterion_id}",
        "",
        f"customers/{US_ID}/adGroupCriteria/{tables.id}~{phrase.criterion_id}",
        "",
    ]
    assert (exact.cpc_bid_micros, phrase.cpc_bid_micros, phrase.status) == (1_750_000, 1_100_000, "PAUSED")
    assert fake.mutations[0]["operations"][2]["updateMask"] == "cpcBidMicros,status"


def test_an_update_without_an_update_mask_is_refused(fake, backend):
    credentials = fake.grant()
    budget = fake.dataset.account(US_ID).budgets[0]
    operation = {"update": {"resourceName": f"customers/{US_ID}/campaignBudgets/{budget.id}", "amountMicros": "1"}}
    response = httpx.post(
        f"{fake.public_url}/api/v26/customers/{US_ID}/campaignBudgets:mutate",
        headers={
            "Authorization": f"Bearer {credentials['access_token']}",
            "developer-token": DEVELOPER_TOKEN,
            "login-customer-id": str(MANAGER_ID),
        },
        json={"operations": [operation]},
    )
    assert response.status_code == 400
    [error] = response.json()["error"]["details"][0]["errors"]
    assert error["errorCode"] == {"fieldMaskError": "FIELD_MASK_MISSING"}
    assert error["location"]["fieldPathElements"] == [{"fieldName": "operations", "index": 0}, {"fieldName": "update"}]

    result = api_client(backend, credentials).mutate("campaignBudgets", [operation], partial_failure=True)
    assert [e.code for e in result.results[0].errors] == ["FIELD_MASK_MISSING"]


def test_campaign_negative_keywords_are_created_and_the_next_sync_has_them(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    client = api_client(backend, fake.grant())
    lamps = next(c for c in fake.dataset.account(US_ID).campaigns if c.name == "Search | Lamps | Generic")

    checked = client.add_campaign_negative_keywords([(str(lamps.id), "lamp shade", "PHRASE")], validate_only=True)
    assert checked.ok and len(lamps.criteria) == 1 + 4  # a location and four negatives: nothing added
    response = client.add_campaign_negative_keywords(
        [
            (str(lamps.id), "lamp shade", "PHRASE"),
            (str(lamps.id), "free", "BROAD"),
            (str(lamps.id), "50% off!", "EXACT"),
        ],
        partial_failure=True,
    )

    assert [(r.ok, [e.code for e in r.errors]) for r in response.results] == [
        (True, []),
        (False, ["RESOURCE_ALREADY_EXISTS"]),
        (False, ["KEYWORD_HAS_INVALID_CHARS"]),
    ]
    criterion_id = response.results[0].resource_name.rsplit("~", 1)[1]
    assert fake.mutations[0]["operations"][0] == {
        "create": {
            "campaign": f"customers/{US_ID}/campaigns/{lamps.id}",
            "negative": True,
            "keyword": {"text": "lamp shade", "matchType": "PHRASE"},
        }
    }

    assert run_sync(connection, django_capture_on_commit_callbacks).status == RunStatus.SUCCEEDED
    with organization_scope(org):
        added = NegativeKeyword.objects.get(text="lamp shade")
        assert (added.external_id, added.match_type, added.ad_group, added.campaign.name) == (
            f"{lamps.id}~{criterion_id}",
            "NEGATIVE_PHRASE",
            None,
            "Search | Lamps | Generic",
        )


def test_a_mutate_under_quota_pressure_raises_a_transient_error(fake, backend):
    client = api_client(backend, fake.grant())
    fake.faults.add("mutate", "quota", retry_delay=600)
    budget = fake.dataset.account(US_ID).budgets[0]
    with pytest.raises(TransientError) as raised:
        client.update_campaign_budgets([(str(budget.id), 20_000_000)])
    assert raised.value.retry_after == 600.0
    assert fake.mutations == []


# --- the fake keeps Google's rules --------------------------------------------------------------------------


def test_fake_enforces_headers_and_answers_gaql_like_google(fake):
    credentials = fake.grant()
    url = f"{fake.public_url}/api/v26/customers/{US_ID}/googleAds:searchStream"
    auth = {"Authorization": f"Bearer {credentials['access_token']}", "developer-token": DEVELOPER_TOKEN}
    query = {"query": "SELECT customer.id FROM customer"}

    no_token = httpx.post(url, headers={"developer-token": DEVELOPER_TOKEN}, json=query)
    assert no_token.status_code == 401 and no_token.json()[0]["error"]["status"] == "UNAUTHENTICATED"
    no_dev = httpx.post(url, headers={"Authorization": auth["Authorization"]}, json=query)
    assert no_dev.status_code == 403
    assert no_dev.json()[0]["error"]["details"][0]["errors"][0]["errorCode"] == {
        "authenticationError": "DEVELOPER_TOKEN_INVALID"
    }
    no_login = httpx.post(url, headers=auth, json=query)
    assert no_login.status_code == 403
    assert no_login.json()[0]["error"]["details"][0]["errors"][0]["errorCode"] == {
        "authorizationError": "USER_PERMISSION_DENIED"
    }
    headers = {**auth, "login-customer-id": str(MANAGER_ID)}

    today = fake.dataset.today(US_ID)
    day = (today - timedelta(days=3)).isoformat()
    stream = httpx.post(
        url,
        headers=headers,
        json={
            "query": "SELECT campaign.id, campaign.name, segments.date, metrics.cost_micros, metrics.conversions "
            f"FROM campaign WHERE segments.date = '{day}' AND campaign.status = 'ENABLED' LIMIT 2"
        },
    )
    assert stream.status_code == 200 and stream.headers["request-id"]
    [batch] = stream.json()
    assert batch["fieldMask"] == "campaign.id,campaign.name,segments.date,metrics.costMicros,metrics.conversions"
    assert batch["queryResourceConsumption"]
    first = batch["results"][0]
    assert set(first) == {"campaign", "segments", "metrics"}
    assert first["campaign"]["resourceName"] == f"customers/{US_ID}/campaigns/{first['campaign']['id']}"
    assert isinstance(first["campaign"]["id"], str) and isinstance(first["metrics"]["costMicros"], str)
    assert isinstance(first["metrics"]["conversions"], float)
    assert first["segments"] == {"date": day} and len(batch["results"]) == 2

    missing_range = httpx.post(
        url, headers=headers, json={"query": "SELECT segments.date, metrics.clicks FROM campaign"}
    )
    assert missing_range.status_code == 400
    assert missing_range.json()[0]["error"]["details"][0]["errors"][0]["errorCode"] == {
        "queryError": "EXPECTED_FILTERS_ON_DATE_RANGE"
    }
    unknown = httpx.post(url, headers=headers, json={"query": "SELECT campaign.nonsense FROM campaign"})
    assert unknown.json()[0]["error"]["details"][0]["errors"][0]["errorCode"] == {"queryError": "UNRECOGNIZED_FIELD"}
    manager = httpx.post(
        f"{fake.public_url}/api/v26/customers/{MANAGER_ID}/googleAds:search",
        headers={**auth},
        json={"query": "SELECT metrics.clicks FROM customer"},
    )
    assert manager.json()["error"]["details"][0]["errors"][0]["errorCode"] == {
        "queryError": "REQUESTED_METRICS_FOR_MANAGER"
    }
    assert (
        httpx.post(
            f"{fake.public_url}/api/v26/customers/{US_ID}/googleAds:search",
            headers=headers,
            json={"query": "SELECT campaign.id FROM campaign", "pageSize": 10},
        ).status_code
        == 400
    )  # the page size is Google's since v17
    assert httpx.post(url.replace("v26", "v3"), headers=headers, json=query).status_code == 404


def test_gaql_parser_reads_what_the_client_sends():
    parsed = parse_gaql(
        "SELECT campaign.id, metrics.cost_micros FROM keyword_view WHERE segments.date BETWEEN '2026-01-01' AND "
        "'2026-03-31' AND ad_group_criterion.type = 'KEYWORD' AND campaign.status IN ('ENABLED', 'PAUSED') "
        "AND ad_group_criterion.negative = FALSE AND customer_client.level <= 1 ORDER BY campaign.id DESC LIMIT 10"
    )
    assert (parsed.select, parsed.resource, parsed.limit) == (
        ["campaign.id", "metrics.cost_micros"],
        "keyword_view",
        10,
    )
    assert parsed.where == [
        ("segments.date", "BETWEEN", ("2026-01-01", "2026-03-31")),
        ("ad_group_criterion.type", "=", "KEYWORD"),
        ("campaign.status", "IN", ("ENABLED", "PAUSED")),
        ("ad_group_criterion.negative", "=", False),
        ("customer_client.level", "<=", 1),
    ]


# --- mapping and parsing ------------------------------------------------------------------------------------

ROW = {
    "campaign": {"resourceName": "customers/3358802417/campaigns/21034567890", "id": "21034567890",
                 "name": "Search | Lamps | Generic"},
    "adGroup": {"resourceName": "customers/3358802417/adGroups/154300000001", "id": "154300000001",
                "name": "Table lamps"},
    "adGroupCriterion": {"resourceName": "customers/3358802417/adGroupCriteria/154300000001~2954875512",
                         "criterionId": "2954875512", "keyword": {"text": "ceramic table lamp", "matchType": "EXACT"}},
    "searchTermView": {"resourceName": "customers/3358802417/searchTermViews/21034567890~154300000001~Y2VyYW1pYw",
                       "searchTerm": "ceramic table lamp white"},
    "segments": {"date": "2026-05-04", "keyword": {
        "adGroupCriterion": "customers/3358802417/adGroupCriteria/154300000001~2954875512",
        "info": {"text": "ceramic table lamp", "matchType": "EXACT"}}},
    "metrics": {"impressions": "2216", "clicks": "13", "costMicros": "14510000", "conversions": 2.5,
                "conversionsValue": 119.97},
}  # fmt: skip


def fact(**overrides) -> AdFact:
    base = {
        "channel": "google_ads",
        "account_id": str(UK_ID),
        "marketplace": "UK",
        "date": date(2026, 5, 4),
        "grain": "campaign",
        "campaign_id": "21034567890",
        "campaign_name": "Search | Lamps | Generic",
        "ad_group_id": "",
        "ad_group_name": "",
        "target_id": "",
        "target_text": "",
        "match_type": "",
        "search_term": "",
        "product_id": "",
        "impressions": 2216,
        "clicks": 13,
        "cost": Decimal("14.51"),
        "orders": 3,  # 2.5 conversions, rounded half up
        "units": 0,
        "sales": Decimal("119.97"),
        "currency": "GBP",
        "attribution_window": "60d click",
        "source": "api",
        "source_ref": 42,
    }
    return AdFact(**{**base, **overrides})


GROUP = {"ad_group_id": "154300000001", "ad_group_name": "Table lamps"}
KEYWORD = {"target_id": "2954875512", "target_text": "ceramic table lamp", "match_type": "EXACT"}


@pytest.mark.parametrize(
    ("resource", "want"),
    [
        ("campaign", fact()),
        ("ad_group", fact(grain="ad_group", **GROUP)),
        ("keyword_view", fact(grain="target", **GROUP, **KEYWORD)),
        ("search_term_view", fact(grain="search_term", **GROUP, **KEYWORD, search_term="ceramic table lamp white")),
    ],
)
def test_report_rows_map_every_field(resource, want):
    got = list(
        mapping.ad_facts(
            [ROW],
            resource=resource,
            account_id=str(UK_ID),
            marketplace="UK",
            currency="GBP",
            attribution_window="60d click",
            source_ref=42,
        )
    )
    assert got == [want]
    assert str(got[0].cost) == "14.5100" and str(got[0].sales) == "119.9700"


def test_units_money_and_fractional_conversions():
    assert mapping.micros("14510000") == Decimal("14.51") and mapping.micros("123456789") == Decimal("123.4568")
    assert mapping.micros(None) == 0 and mapping.micros_or_none("0") is None
    assert mapping.money(0.1 + 0.2) == Decimal("0.3000") and mapping.money(None) == 0
    assert [mapping.whole_orders(c) for c in (2.5, 0.49, 0.5, 1.37, "3", 0, None)] == [3, 0, 1, 1, 3, 0, 0]
    row = {"segments": {"date": "2026-05-04"}, "campaign": {"id": "1"}, "metrics": {}}  # zero metrics left out
    (got,) = mapping.ad_facts(
        [row], resource="campaign", account_id="1", marketplace="", currency="USD", attribution_window="", source_ref=1
    )
    assert (got.impressions, got.clicks, got.cost, got.orders, got.sales) == (0, 0, 0, 0, 0)


def test_a_shopping_search_term_has_no_keyword():
    row = {**ROW, "segments": {"date": "2026-05-04"}}
    (got,) = mapping.ad_facts(
        [row], resource="search_term_view", account_id="1", marketplace="US", currency="USD",
        attribution_window="30d click", source_ref=1,
    )  # fmt: skip
    assert (got.target_id, got.target_text, got.match_type, got.search_term) == ("", "", "", "ceramic table lamp white")


def test_the_conversion_window_is_the_longest_counted_click_window():
    def action(days, include=True, status="ENABLED"):
        return {"conversionAction": {"status": status, "includeInConversionsMetric": include,
                                     "clickThroughLookbackWindowDays": str(days)}}  # fmt: skip

    assert mapping.conversion_window_days([action(30), action(90, include=False), action(60)]) == 60
    assert mapping.conversion_window_days([action(7, include=False)]) == 30  # Google's default
    assert mapping.conversion_window_days([]) == 30
    assert mapping.attribution_window(90) == "90d click"


def test_accounts_and_entities_map_from_googles_rows():
    client_row = {
        "clientCustomer": "customers/7214590386",
        "id": "7214590386",
        "descriptiveName": "Hearth & Grain Home US",
        "currencyCode": "USD",
        "timeZone": "America/New_York",
        "manager": False,
        "level": "1",
    }
    assert mapping.discovered_account(client_row, login_customer_id="5839201746", country="US") == DiscoveredAccount(
        "7214590386", "Hearth & Grain Home US", "USD", "America/New_York", "US", "",
        {"customer_id": "721-459-0386", "login_customer_id": "5839201746"},
    )  # fmt: skip
    locations = [
        {"campaign": {"status": "ENABLED"}, "campaignCriterion": {"location": {"geoTargetConstant": c}}}
        for c in ("geoTargetConstants/2826", "geoTargetConstants/2840", "geoTargetConstants/2826")
    ]
    removed = {"campaign": {"status": "REMOVED"}, "campaignCriterion": {"location": {"geoTargetConstant": "x/2840"}}}
    assert mapping.main_country([*locations, removed, removed]) == "UK"
    assert mapping.country_of("geoTargetConstants/1023191") == ""  # a city: no country of its own
    assert mapping.main_country([]) == ""

    assert mapping.campaign_row(
        {"campaign": {"id": "21", "name": "Brand", "status": "ENABLED", "advertisingChannelType": "SEARCH"},
         "campaignBudget": {"id": "9", "amountMicros": "30000000", "period": "DAILY"}}
    ) == {"external_id": "21", "name": "Brand", "state": "ENABLED", "targeting_type": "SEARCH",
          "budget": Decimal("30"), "budget_type": "DAILY", "portfolio": ""}  # fmt: skip
    assert mapping.ad_group_row(
        {"campaign": {"id": "21"}, "adGroup": {"id": "5", "name": "G", "status": "PAUSED", "cpcBidMicros": "1250000"}}
    ) == {"campaign_external_id": "21", "external_id": "5", "name": "G", "state": "PAUSED",
          "default_bid": Decimal("1.25")}  # fmt: skip
    keyword = {
        "campaign": {"id": "21"},
        "adGroup": {"id": "5"},
        "adGroupCriterion": {"criterionId": "77", "status": "ENABLED", "negative": False,
                             "keyword": {"text": "table lamp", "matchType": "PHRASE"},
                             "effectiveCpcBidMicros": "1250000"},
    }  # fmt: skip
    assert mapping.keyword_row(keyword) == {
        "ad_group_external_id": "5", "external_id": "77", "text": "table lamp", "match_type": "PHRASE",
        "bid": Decimal("1.25"), "state": "ENABLED",
    }  # fmt: skip
    assert mapping.ad_group_negative_row(keyword)["external_id"] == "5~77"
    assert mapping.ad_group_negative_row(keyword)["match_type"] == "NEGATIVE_PHRASE"
    negative = {
        "campaign": {"id": "21"},
        "campaignCriterion": {
            "criterionId": "88",
            "status": "ENABLED",
            "keyword": {"text": "free", "matchType": "BROAD"},
        },
    }
    assert mapping.campaign_negative_row(negative) == {
        "campaign_external_id": "21", "ad_group_external_id": "", "external_id": "21~88", "text": "free",
        "match_type": "NEGATIVE_BROAD", "state": "ENABLED",
    }  # fmt: skip


QUOTA = {
    "error": {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.ads.googleads.v18.errors.GoogleAdsFailure",
                "errors": [
                    {
                        "errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                        "message": "Too many requests. Retry in 8962 seconds.",
                        "details": {
                            "quotaErrorDetails": {
                                "rateScope": "DEVELOPER",
                                "rateName": "Number of operations for explorer access",
                                "retryDelay": "8962s",
                            }
                        },
                    }
                ],
                "requestId": "abc",
            }
        ],
    }
}


def test_googles_error_envelope_becomes_the_engines_error():
    for body in (QUOTA, [QUOTA]):  # searchStream wraps it in an array
        failure = parse_failure(body, http_status=429)
        assert (failure.status, failure.retry_delay, failure.request_id) == ("RESOURCE_EXHAUSTED", 8962.0, "abc")
        assert [e.label for e in failure.errors] == ["quotaError.RESOURCE_EXHAUSTED"]
        error = error_for(failure)
        assert isinstance(error, TransientError) and error.retry_after == 8962.0
    assert [parse_duration(v) for v in ("8962s", "1.5s", {"seconds": "2", "nanos": 500000000}, "soon")] == [
        8962.0,
        1.5,
        2.5,
        None,
    ]

    def failure_with(status, code_family, code):
        return parse_failure(
            {"error": {"code": status, "status": "X", "message": "m", "details": [
                {"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                 "errors": [{"errorCode": {code_family: code}, "message": "why"}]}]}},
            http_status=status,
        )  # fmt: skip

    assert isinstance(error_for(failure_with(500, "internalError", "INTERNAL_ERROR")), TransientError)
    assert isinstance(error_for(failure_with(403, "authorizationError", "USER_PERMISSION_DENIED")), AuthorizationError)
    assert isinstance(error_for(failure_with(403, "authorizationError", "CUSTOMER_NOT_ENABLED")), PlatformError)
    bad_query = error_for(failure_with(400, "queryError", "UNRECOGNIZED_FIELD"))
    assert isinstance(bad_query, PlatformError)
    assert bad_query.user_message == "Google Ads refused the request: queryError.UNRECOGNIZED_FIELD: why"
    assert json.loads(bad_query.detail)["errors"] == ["queryError.UNRECOGNIZED_FIELD"]


STREAM = [
    {"results": [{"campaign": {"id": "1", "name": 'a "quoted" ], } name'}, "metrics": {"clicks": "10"}},
                 {"campaign": {"id": "2", "name": "テーブルランプ"}, "metrics": {"conversions": 1.37}}],
     "fieldMask": "campaign.id,campaign.name", "requestId": "r1"},
    {"results": [{"campaign": {"id": "3"}, "metrics": {"costMicros": "-5e3"}}], "fieldMask": "x", "requestId": "r1",
     "queryResourceConsumption": "120"},
]  # fmt: skip


def _events(parser, pieces_):
    out = []
    for piece in pieces_:
        out.extend(parser.feed(piece))
    return out


def test_the_stream_parser_yields_rows_across_any_split_and_any_layout():
    want_rows = [row for batch in STREAM for row in batch["results"]]
    for text in (json.dumps(STREAM, ensure_ascii=False), json.dumps(STREAM, ensure_ascii=False, indent=2)):
        for cut in range(len(text) + 1):
            parser = SearchStreamParser()
            events = _events(parser, [text[:cut], text[cut:]])
            parser.close()
            assert [item for kind, item in events if kind == "row"] == want_rows
            assert [item for kind, item in events if kind == "batch"] == [
                {"fieldMask": "campaign.id,campaign.name", "requestId": "r1"},
                {"fieldMask": "x", "requestId": "r1", "queryResourceConsumption": "120"},
            ]
    one_char = SearchStreamParser()
    text = json.dumps(STREAM)
    assert len([e for e in _events(one_char, list(text)) if e[0] == "row"]) == 3
    one_char.close()
    empty = SearchStreamParser()
    assert _events(empty, ['[{"fieldMask": "a", "requestId": "b"}]']) == [
        ("batch", {"fieldMask": "a", "requestId": "b"})
    ]
    empty.close()
    failing = SearchStreamParser()
    events = _events(failing, [json.dumps([STREAM[0], {"error": {"code": 500, "status": "INTERNAL"}}])])
    assert events[-2:] == [("error", {"code": 500, "status": "INTERNAL"}), ("batch", {})]


def test_the_stream_parser_refuses_a_stream_cut_short():
    text = json.dumps(STREAM)
    parser = SearchStreamParser()
    rows = [item for kind, item in _events(parser, [text[: len(text) // 2]]) if kind == "row"]
    assert 1 <= len(rows) < 3  # what arrived is yielded...
    with pytest.raises(ValueError, match="ended early"):  # ...and the end is missed
        parser.close()
    with pytest.raises(ValueError):
        list(SearchStreamParser().feed('{"results": []}'))


def test_demo_credentials_are_what_an_exchange_stores_and_the_demo_fake_accepts_them(settings):
    app = make_app()
    with serve_wsgi(app) as url:
        settings.PLATFORMS = {**settings.PLATFORMS, "google_ads": platform_conf(url)}
        app.allow_demo()
        backend = get_backend("google_ads")
        assert set(DEMO_CREDENTIALS) == {"access_token", "refresh_token", "token_type", "scope", "expires_at"}
        accounts = backend.discover_accounts(credentials=DEMO_CREDENTIALS)
        assert [(a.external_id, a.marketplace) for a in accounts] == [(str(US_ID), "US"), (str(UK_ID), "UK")]
        client = backend.client(backend._http("demo"), dict(DEMO_CREDENTIALS))
        client.refresh()  # the refresh token works too
        assert client.credentials["refresh_token"] == DEMO_CREDENTIALS["refresh_token"]


# --- the demo story -----------------------------------------------------------------------------------------


def test_demo_data_is_deterministic_fast_and_tells_the_stores_story():
    from connectors.backends.shopify.demo import CHANNELS, day_orders, demo_shop

    a, b = Dataset(), Dataset()
    today = a.today(US_ID)
    start = today - timedelta(days=89)
    began = time.perf_counter()
    totals = a.totals(US_ID, "search_term_view", start, today)
    assert time.perf_counter() - began < 2.0
    assert totals == b.totals(US_ID, "search_term_view", start, today)
    assert a.first_day(US_ID) == today - timedelta(days=399)

    # The US campaigns tag the store's traffic with the utm campaigns its google / cpc orders carry.
    google = next(c for c in CHANNELS if c[0] == "google")
    suffixes = {c.final_url_suffix.rsplit("=", 1)[1] for c in a.account(US_ID).campaigns}
    assert set(google[4]) <= suffixes

    # Google's conversions track the store's google / cpc orders over the last 8 weeks (same rhythm).
    shop = demo_shop()
    weeks = [(today - timedelta(days=7 * (k + 1) - 1), today - timedelta(days=7 * k)) for k in range(8)]
    for week_start, week_end in weeks:
        conversions = a.totals(US_ID, "customer", week_start, week_end)["conversions"]
        store = sum(
            1
            for d in range((week_end - week_start).days + 1)
            for order in day_orders(shop, week_start + timedelta(days=d))
            if order.journey and (order.journey["lastVisit"].get("utmParameters") or {}).get("medium") == "cpc"
        )
        assert Decimal("0.5") < conversions / store < Decimal("2"), (week_start, conversions, store)

    # Weekends cost more than midweek, as the shop sells more then; the UK spends pounds, less of them.
    saturdays = [today - timedelta(days=d) for d in range(7, 91) if (today - timedelta(days=d)).weekday() == 5]
    tuesdays = [day - timedelta(days=4) for day in saturdays]
    cost = sum(a.totals(US_ID, "customer", d, d)["cost"] for d in saturdays)
    assert cost > Decimal("1.2") * sum(a.totals(US_ID, "customer", d, d)["cost"] for d in tuesdays)
    uk = a.totals(UK_ID, "customer", start, today)
    us = a.totals(US_ID, "customer", start, today)
    assert Decimal("0.2") * us["cost"] < uk["cost"] < Decimal("0.5") * us["cost"]
    assert a.account(UK_ID).spec.currency == "GBP" and a.account(CLOSED_ID).campaigns == []
