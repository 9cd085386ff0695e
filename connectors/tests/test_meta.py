"""Meta backend end to end against its fake Graph API (real HTTP on a local port, real PostgreSQL, Celery eager).

Nothing of ours is mocked: ``settings.PLATFORMS["meta"]`` points at the fake, and its ``sleep`` knob records
waits instead of waiting. The fake's own dataset gives the expected numbers.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta
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
from campaigns.models import AdAccount, AdGroup, AdvertisedProduct, Campaign
from config.celery_app import app as celery_app
from config.testing import serve_wsgi
from connectors import services
from connectors.backends import get_backend
from connectors.backends.meta import client as api
from connectors.backends.meta import mapping
from connectors.backends.meta.backend import chunk_key, date_chunks
from connectors.backends.meta.demo_data import ALL_PURCHASE_ALIASES, RESTATED_DAYS, Dataset
from connectors.backends.meta.fake import CLIENTS, DEMO_ACCESS_TOKEN, DEMO_CREDENTIALS, LONG_TTL, make_app
from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.tasks import run_sync as sync_task

CLIENT_ID, CLIENT_SECRET = next(iter(CLIENTS.items()))
REDIRECT = "https://app.chuhai.test/connect/meta/callback/"
US, SEA, CLOSED = "act_1029384756", "act_2039485761", "act_3049586172"
POLL = 0.25  # the first wait between job polls; tests count jobs waited on by it
RECONNECT = "reconnect Meta (tokens last about 60 days)"
REVOKED = "Meta no longer accepts our access (the token expired or was revoked): " + RECONNECT + "."


class WorkerKilled(BaseException):  # noqa: N818 - it plays SIGKILL, not an error
    """Raised from the injected sleep: like a killed worker, no ``except Exception`` in the engine sees it."""


class Sleeper:
    """The ``sleep`` knob: records every wait; ``kill_at_poll=n`` kills the "worker" at the n-th job's first wait."""

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
            "meta": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "api_version": "v25.0",
                "auth_url": f"{url}/dialog/oauth",
                "graph_url": f"{url}/graph",
                "sleep": sleeper,
                "poll_interval": POLL,
                "timeout": 5,
                "rate": 1000,  # no token-bucket waits: every recorded wait is one of Meta's
                "burst": 1000,
            },
        }
        yield app


@pytest.fixture
def backend():
    return get_backend("meta")


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


def consent(backend, *, decision="continue", state="st-123") -> str:
    """Walk the fake's Facebook Login page like a browser; returns the redirect back to us."""
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


def connect(org, backend, account_id=US) -> Connection:
    credentials = authorize(backend)
    account = next(a for a in backend.discover_accounts(credentials=credentials) if a.external_id == account_id)
    return services.connection_upsert(
        organization=org, platform="meta", account=account, credentials=credentials, user=None
    )


def run_sync(connection, capture, kind=RunKind.MANUAL) -> SyncRun:
    connection.refresh_from_db()
    with capture(execute=True):
        run, created = services.sync_run_request(connection=connection, kind=kind)
    assert created
    run.refresh_from_db()
    return run


def facts(connection):
    return AdPerformanceDaily.unscoped_objects.filter(organization=connection.organization, source_ref=connection.pk)


def loaded(connection) -> dict:
    rows = (
        facts(connection)
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


def expected(fake, account_id, start, end, restatement=0) -> dict:
    totals = fake.dataset.totals(account_id, start, end, restatement)
    metrics = {k: totals[k] for k in ("impressions", "clicks", "cost", "orders")}
    return {
        "target": {"rows": totals["rows"], **metrics, "units": 0, "sales": totals["sales"]},
        "campaign": {"rows": totals["campaign_rows"], **metrics, "units": 0, "sales": totals["sales"]},
    }


def chunks(start: date, end: date) -> list[str]:
    return [chunk_key(s, e) for s, e in date_chunks(start, end, 30)]


def jobs_created(fake) -> int:
    return sum(1 for m, p, s in fake.requests if m == "POST" and p.endswith("/insights") and s == 200)


def insights_queries(fake, method="POST") -> list[dict]:
    return [q for m, p, q in fake.queries if m == method and p.endswith("/insights") and p.split("/")[3][:4] == "act_"]


# --- connecting ---------------------------------------------------------------------------------------------


def test_the_login_url_and_the_consent_page(fake, backend):
    url = backend.authorization_url(state="st-123", redirect_uri=REDIRECT, region="EU")  # region: ignored
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.public_url}/dialog/oauth"
    assert parse_qs(parts.query) == {
        "client_id": [CLIENT_ID],
        "redirect_uri": [REDIRECT],
        "state": ["st-123"],
        "scope": ["ads_read,ads_management,business_management"],
        "response_type": ["code"],
    }
    allowed = urlsplit(consent(backend))
    assert f"{allowed.scheme}://{allowed.netloc}{allowed.path}" == REDIRECT
    assert allowed.fragment == "_=_"  # Facebook's famous fragment; browsers keep it, servers never see it
    query = parse_qs(allowed.query)
    assert query["state"] == ["st-123"] and query["code"][0].startswith("AQ")
    denied = parse_qs(urlsplit(consent(backend, decision="cancel")).query)
    assert denied == {
        "error": ["access_denied"],
        "error_code": ["200"],
        "error_description": ["Permissions error"],
        "error_reason": ["user_denied"],
        "state": ["st-123"],
    }


def test_the_code_is_traded_for_a_long_lived_token_at_once(db, fake, backend):
    code = parse_qs(urlsplit(consent(backend)).query)["code"][0]
    before = time.time()
    credentials = backend.exchange_code(code=code, redirect_uri=REDIRECT, params={"state": "st-123"})

    assert set(credentials) == {"access_token", "token_type", "expires_at"}
    assert credentials["access_token"].startswith("EAA") and credentials["token_type"] == "bearer"
    assert int(before) + LONG_TTL <= credentials["expires_at"] <= time.time() + LONG_TTL  # about 60 days
    assert fake.token_grants == ["code", "fb_exchange_token"]
    token_calls = [r for r in fake.requests if r[1].endswith("/oauth/access_token")]
    assert token_calls == [("GET", "/graph/v25.0/oauth/access_token", 200)] * 2  # the version from settings
    # The long-lived token works; the short-lived one it replaced is not what we keep.
    assert [a.external_id for a in backend.discover_accounts(credentials=credentials)] == [US, SEA]

    with pytest.raises(AuthorizationError) as reused:
        backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    assert reused.value.user_message == (
        "Meta did not accept the login (a login code works once, for a few minutes). Connect Meta again."
    )
    assert json.loads(reused.value.detail)["error_subcode"] == 36009
    other = parse_qs(urlsplit(consent(backend)).query)["code"][0]
    with pytest.raises(AuthorizationError) as mismatch:
        backend.exchange_code(code=other, redirect_uri="https://elsewhere.test/cb", params={})
    assert json.loads(mismatch.value.detail)["error_subcode"] == 36008
    assert fake.token_grants == ["code", "fb_exchange_token"]


def test_wrong_app_credentials_are_a_platform_error(fake, backend, settings):
    code = parse_qs(urlsplit(consent(backend)).query)["code"][0]
    settings.PLATFORMS["meta"]["client_secret"] = "not-the-secret"
    with pytest.raises(PlatformError) as refused:
        backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    assert refused.value.user_message == "Meta rejected our app credentials."


def test_discovery_gives_one_account_per_active_ad_account(db, fake, backend):
    accounts = backend.discover_accounts(credentials=authorize(backend))
    got = [(a.external_id, a.name, a.currency, a.time_zone, a.marketplace, a.region, a.config) for a in accounts]
    assert got == [
        (US, "Hearth & Grain Home US", "USD", "America/Los_Angeles", "", "", {"account_id": "1029384756"}),
        (SEA, "Hearth & Grain Home SEA", "SGD", "Asia/Singapore", "", "", {"account_id": "2039485761"}),
    ]  # the closed account (status 101) is left out
    [query] = [q for m, p, q in fake.queries if p == "/graph/v25.0/me/adaccounts"]
    assert query == {"fields": "account_id,name,currency,timezone_name,account_status", "limit": "100"}


def test_connecting_through_our_pages_loads_the_first_90_days(
    fake, org, owner_client, django_capture_on_commit_callbacks
):
    start = owner_client.post(reverse("connect_start", kwargs={"org_slug": org.slug, "platform": "meta"}), {})
    assert start.status_code == 302
    login = start["Location"]
    assert login.startswith(f"{fake.public_url}/dialog/oauth?")
    page = httpx.get(login)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    answer = httpx.post(f"{fake.public_url}/dialog/oauth/consent", data={**fields, "decision": "continue"})
    back = urlsplit(answer.headers["location"])
    assert back.path == reverse("connect_callback", kwargs={"platform": "meta"})

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.get(f"{back.path}?{back.query}")

    assert response.status_code == 302
    connections = Connection.unscoped_objects.filter(organization=org).order_by("external_id")
    assert [(c.external_id, c.currency, c.time_zone) for c in connections] == [
        (US, "USD", "America/Los_Angeles"),
        (SEA, "SGD", "Asia/Singapore"),
    ]
    for connection in connections:
        run = SyncRun.unscoped_objects.get(connection=connection)
        assert (run.kind, run.status, run.window_end - run.window_start) == (
            RunKind.BACKFILL,
            RunStatus.SUCCEEDED,
            timedelta(days=90),
        )
        assert loaded(connection) == expected(fake, connection.external_id, run.window_start, run.window_end)


# --- tokens that run out --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "message"),
    [
        (-60, "Your Meta access has expired: " + RECONNECT + "."),
        (6 * 86400, "Your Meta access expires on {day}: " + RECONNECT + " to keep syncing."),
    ],
)
def test_a_token_over_or_within_7_days_of_its_end_asks_to_reconnect(
    org, fake, backend, django_capture_on_commit_callbacks, expires_in, message
):
    connection = connect(org, backend)
    expires_at = int(time.time()) + expires_in
    services.connection_save_credentials(
        connection=connection, credentials={**connection.credentials, "expires_at": expires_at}
    )
    fake.requests.clear()

    run = run_sync(connection, django_capture_on_commit_callbacks)

    day = datetime.fromtimestamp(expires_at, UTC).date().isoformat()
    assert (run.status, run.error_code, run.message) == (RunStatus.FAILED, "reauth", message.format(day=day))
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, run.message)
    assert fake.requests == []  # not one call with a token we know is over
    assert not facts(connection).exists()


def test_a_token_with_8_days_left_still_syncs(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    services.connection_save_credentials(
        connection=connection, credentials={**connection.credentials, "expires_at": int(time.time()) + 8 * 86400}
    )
    assert run_sync(connection, django_capture_on_commit_callbacks).status == RunStatus.SUCCEEDED


@pytest.mark.parametrize("fault", ["expire", "revoke"])
def test_a_token_meta_stops_accepting_mid_sync_asks_to_reconnect(
    org, fake, backend, django_capture_on_commit_callbacks, fault
):
    connection = connect(org, backend)
    fake.faults.add("job_create", fault)  # after the entities were read

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.error_code, run.message, run.attempts) == (RunStatus.FAILED, "reauth", REVOKED, 1)
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, REVOKED)
    with organization_scope(org):
        assert Campaign.objects.count() == 4  # what was read before stays
    assert not facts(connection).exists()
    assert [r[2] for r in fake.requests if r[:2] == ("POST", f"/graph/v25.0/{US}/insights")] == [400]


def test_disconnecting_removes_our_app_from_the_sellers_account(org, fake, backend):
    connection = connect(org, backend)
    token = connection.credentials["access_token"]
    services.connection_disconnect(connection=connection, actor=None)
    assert ("DELETE", "/graph/v25.0/me/permissions", 200) in fake.requests
    answer = httpx.get(
        f"{fake.public_url}/graph/v25.0/me/adaccounts",
        params={"access_token": token, "appsecret_proof": api.appsecret_proof(CLIENT_SECRET, token)},
    )
    assert (answer.status_code, answer.json()["error"]["code"], answer.json()["error"]["error_subcode"]) == (
        400,
        190,
        458,
    )


# --- syncing ------------------------------------------------------------------------------------------------


def test_full_sync_loads_every_ad_row_exactly_and_a_rerun_changes_nothing(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    start, end = run.window_start, run.window_end
    assert (end - start).days == 90 and end == fake.dataset.today(US)
    want = expected(fake, US, start, end)
    assert loaded(connection) == want
    total_rows = want["target"]["rows"] + want["campaign"]["rows"]
    assert (run.status, run.progress, run.message, run.attempts) == (RunStatus.SUCCEEDED, 100, "", 1)
    assert (run.rows_read, run.rows_written) == (total_rows, total_rows)
    assert run.cursor == {"entities": True, "done": chunks(start, end), "jobs": {}}
    # 91 days: chunks of 30, 30, 30 and 1 days; the three long ones are async jobs, the last a plain GET.
    assert len(chunks(start, end)) == 4 and jobs_created(fake) == 3
    assert sleeper.waits == [POLL, 2 * POLL] * 3  # each job: Started, Running, then Completed
    # Meta's own account totals for the window, beside ours, agree exactly.
    totals = fake.dataset.totals(US, start, end)
    platform = run.platform_totals["account"]
    assert platform == {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "currency": "USD",
        "impressions": totals["impressions"],
        "clicks": totals["clicks"],
        "cost": platform["cost"],
        "orders": totals["orders"],
        "sales": platform["sales"],
        "purchase_action_type": "omni_purchase",
        "attribution_window": "7d_click+1d_view",
    }
    assert (Decimal(platform["cost"]), Decimal(platform["sales"])) == (totals["cost"], totals["sales"])
    assert (Decimal(platform["cost"]), Decimal(platform["sales"])) == (want["target"]["cost"], want["target"]["sales"])
    # What we asked for: ad level, one row a day, the two breakdowns, the attribution windows named.
    query = insights_queries(fake)[0]
    assert {k: v for k, v in query.items() if k != "time_range"} == {
        "level": "ad",
        "fields": "account_currency,campaign_id,campaign_name,adset_id,adset_name,ad_id,ad_name,"
        "impressions,clicks,spend,actions,action_values",
        "action_attribution_windows": '["7d_click","1d_view"]',
        "time_increment": "1",
        "breakdowns": "publisher_platform,country",
        "limit": "500",
    }
    assert json.loads(query["time_range"]) == {"since": start.isoformat(), "until": (start + timedelta(29)).isoformat()}
    assert all(p.startswith("/graph/v25.0/") for _m, p, _s in fake.requests if not p.startswith("/dialog/"))
    # Entities: four campaigns (one paused) with campaign budgets on prospecting, eight ad sets.
    with organization_scope(org):
        account = AdAccount.objects.get()
        assert (account.channel, account.external_id, account.currency, account.time_zone) == (
            "meta",
            US,
            "USD",
            "America/Los_Angeles",
        )
        campaigns = {c.name: (c.state, c.budget, c.budget_type) for c in Campaign.objects.all()}
        assert campaigns == {
            "Prospecting | Lamps & Lighting": ("ACTIVE", Decimal("60"), "DAILY"),
            "Prospecting | Cosy Textiles": ("ACTIVE", Decimal("60"), "DAILY"),
            "Prospecting | Kitchen & Table": ("PAUSED", Decimal("60"), "DAILY"),
            "Retargeting | Visitors & carts": ("ACTIVE", None, ""),
        }
        assert AdGroup.objects.count() == 8
        assert AdvertisedProduct.objects.count() == 0  # Meta ads are not SKUs: they live on the fact rows
    assert set(facts(connection).values_list("currency", "attribution_window", "units")) == {
        ("USD", "7d_click+1d_view", 0)
    }

    again = run_sync(connection, django_capture_on_commit_callbacks)

    assert again.status == RunStatus.SUCCEEDED
    assert again.window_start == end - timedelta(days=28)  # the restatement lookback
    assert loaded(connection) == want
    assert AdPerformanceDaily.unscoped_objects.filter(organization=org).count() == total_rows
    assert again.platform_totals["account"]["start"] == again.window_start.isoformat()


def test_facebook_and_instagram_split_by_match_type_and_countries_by_marketplace(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    by_platform: dict[str, list] = {}
    by_country: dict[str, int] = {}
    for _day, _ad, platform, country, m in fake.dataset.facts(US, run.window_start, run.window_end):
        sums = by_platform.setdefault(platform, [0, 0])
        sums[0] += m[0]
        sums[1] += m[2]
        by_country[country] = by_country.get(country, 0) + m[0]
    for grain in ("target", "campaign"):
        rows = facts(connection).filter(grain=grain)
        got = rows.values("match_type").annotate(impressions=Sum("impressions"), cost=Sum("cost"))
        assert {r["match_type"]: [r["impressions"], r["cost"]] for r in got} == {
            p: [i, Decimal(c).scaleb(-2)] for p, (i, c) in by_platform.items()
        }
        countries = rows.values("marketplace").annotate(impressions=Sum("impressions"))
        assert {r["marketplace"]: r["impressions"] for r in countries} == by_country
    assert set(by_platform) == {"facebook", "instagram", "audience_network", "messenger"}
    assert set(by_country) == {"US", "CA"}
    # One ad, one day: a row per platform and country, told apart in the key by search_term.
    ad_day = facts(connection).filter(grain="target", date=run.window_end).order_by("target_id", "search_term")
    first = ad_day.first()
    same_ad = ad_day.filter(target_id=first.target_id)
    segments = [(r.match_type, r.marketplace, r.search_term) for r in same_ad]
    assert len(segments) > 1 and len({(p, c) for p, c, _ in segments}) == len(segments)
    assert all(term == f"{p}:{c}" for p, c, term in segments)
    assert re.fullmatch(r"HG-[A-Z]+-\d\d \| .+ \| (Video|Carousel)", first.target_text)


def test_purchases_reported_under_several_aliases_are_counted_once(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    once = fake.dataset.totals(US, run.window_start, run.window_end)
    # The fake reports every purchase under four action types with identical values ...
    rows = fake.dataset.insights_rows(
        US,
        level="account",
        since=run.window_start,
        until=run.window_end,
        daily=False,
        breakdowns=(),
        fields=("actions", "action_values"),
    )
    aliases = {
        a["action_type"]: int(a["value"]) for a in rows[0]["actions"] if a["action_type"] in ALL_PURCHASE_ALIASES
    }
    assert aliases == dict.fromkeys(ALL_PURCHASE_ALIASES, once["orders"])
    # ... and we loaded each once, not four times.
    assert loaded(connection)["target"]["orders"] == once["orders"] > 0
    assert loaded(connection)["target"]["sales"] == once["sales"] > 0
    assert sum(aliases.values()) == 4 * once["orders"]


def test_an_account_without_omni_types_reads_the_pixel_purchase_in_its_own_currency_and_days(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, account_id=SEA)
    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert run.status == RunStatus.SUCCEEDED
    assert run.window_end == fake.dataset.today(SEA)  # Singapore's day, not ours or UTC's
    assert loaded(connection) == expected(fake, SEA, run.window_start, run.window_end)
    assert set(facts(connection).values_list("currency", "account_id")) == {("SGD", SEA)}
    assert set(facts(connection).values_list("match_type", "marketplace")) == {
        ("facebook", "SG"),
        ("facebook", "MY"),
        ("instagram", "SG"),
        ("instagram", "MY"),
    }
    assert run.platform_totals["account"]["purchase_action_type"] == "offsite_conversion.fb_pixel_purchase"
    assert run.platform_totals["account"]["currency"] == "SGD"
    assert run.platform_totals["account"]["orders"] == loaded(connection)["target"]["orders"] > 0


def test_restated_purchases_overwrite_what_was_loaded(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    first = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)
    start, end = first.window_start, first.window_end
    recent = end - timedelta(days=RESTATED_DAYS - 1)
    before = fake.dataset.totals(US, recent, end)

    fake.restatement += 1
    second = run_sync(connection, django_capture_on_commit_callbacks)

    after = fake.dataset.totals(US, recent, end, restatement=1)
    assert after["orders"] > before["orders"] and after["sales"] > before["sales"]
    assert loaded(connection) == expected(fake, US, start, end, restatement=1)
    for grain in ("target", "campaign"):
        days = facts(connection).filter(grain=grain, date__gte=recent).aggregate(s=Sum("sales"), o=Sum("orders"))
        assert days == {"s": after["sales"], "o": after["orders"]}
    assert second.platform_totals["account"]["orders"] == fake.dataset.totals(US, second.window_start, end, 1)["orders"]


def test_a_short_window_is_read_with_a_synchronous_call(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    Connection.unscoped_objects.filter(pk=connection.pk).update(synced_through=fake.dataset.today(US), lookback_days=5)
    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert (run.status, (run.window_end - run.window_start).days) == (RunStatus.SUCCEEDED, 5)
    assert jobs_created(fake) == 0
    assert len(insights_queries(fake, "GET")) == 2  # the ad rows, then the account totals
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_pages_are_followed_while_paging_next_exists(org, fake, backend, settings, django_capture_on_commit_callbacks):
    settings.PLATFORMS["meta"]["page_size"] = 3
    connection = connect(org, backend)
    Connection.unscoped_objects.filter(pk=connection.pk).update(synced_through=fake.dataset.today(US), lookback_days=1)
    run = run_sync(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    adsets = [r for r in fake.requests if r[1] == f"/graph/v25.0/{US}/adsets"]
    assert len(adsets) == 3  # 8 ad sets, 3 a page
    want = expected(fake, US, run.window_start, run.window_end)
    pages = [r for r in fake.requests if r[1] == f"/graph/v25.0/{US}/insights" and r[0] == "GET"]
    assert len(pages) == -(-want["target"]["rows"] // 3) + 1  # the ad rows' pages, then the totals
    assert loaded(connection) == want


# --- usage, throttling and failures ---------------------------------------------------------------------------


def test_usage_at_85_percent_pauses_before_the_next_call(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    fake.faults.add("entities", "usage", percent=88)

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert sleeper.waits[0] == 120.0  # paused once, right after the answer that said 88 %
    assert sleeper.waits.count(120.0) == 1
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_usage_at_95_percent_hands_the_run_back_for_five_minutes(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks, eager_retries, retry_countdowns
):
    connection = connect(org, backend)
    fake.faults.add("job_status", "usage", percent=96)

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 2, "")
    assert retry_countdowns == [300]
    assert jobs_created(fake) == 3  # the job asked for before the stop was polled again, not asked twice
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


@pytest.mark.parametrize(
    ("endpoint", "kind", "params", "code", "wait"),
    [
        ("job_create", "throttle", {}, 17, 300),
        ("job_results", "throttle_account", {"minutes": 12}, 80004, 720),
        ("entities", "throttle_account", {"minutes": 0}, 80004, 300),
    ],
)
def test_throttling_errors_retry_the_run_when_meta_says(
    org, fake, backend, django_capture_on_commit_callbacks, endpoint, kind, params, code, wait
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    fake.faults.add(endpoint, kind, **params)

    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    assert raised.value.retry_after == wait
    message = (
        f"Meta is limiting how often we may read this ad account (error {code}); "
        f"the sync will continue in about {wait // 60} minutes."
    )
    assert raised.value.user_message == message
    run.refresh_from_db()
    assert (run.status, run.message, run.error_code) == (RunStatus.QUEUED, message, "transient")
    assert not facts(connection).exists()  # the chunk being read was not half loaded

    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_server_errors_and_timeouts_are_retried_inline(
    org, fake, backend, settings, django_capture_on_commit_callbacks
):
    settings.PLATFORMS["meta"]["timeout"] = 1.0  # long enough for a busy machine
    connection = connect(org, backend)
    fake.faults.add("entities", "500")
    fake.faults.add("job_status", "slow", seconds=2.5)  # answers after the client gave up
    fake.faults.add("job_results", "500")
    fake.faults.add("insights", "500")

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert fake.faults.pending() == 0
    deadline = time.monotonic() + 5  # the abandoned slow request finishes on the server after the client gave up
    while len([r for r in fake.requests if r[2] >= 500]) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(r[2] for r in fake.requests if r[2] >= 500) == [500, 500, 500, 503]
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_failed_job_is_asked_for_once_more(org, fake, backend, django_capture_on_commit_callbacks):
    connection = connect(org, backend)
    fake.faults.add("job_status", "fail")

    run = run_sync(connection, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert [j["async_status"] for j in fake.job_requests()].count("Job Failed") == 1
    assert jobs_created(fake) == 4
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_job_failed_twice_hands_the_run_back_and_the_retry_completes_it(
    org, fake, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    fake.faults.add("job_status", "fail")
    fake.faults.add("job_status", "skip")
    first_chunk = chunks(run.window_start, run.window_end)[0]

    with organization_scope(org), pytest.raises(TransientError) as raised:
        services.sync_run_execute(run_id=run.pk)

    start, end = first_chunk.split("..")
    assert raised.value.user_message == (
        f"Meta could not prepare an insights report for {start} to {end}; the sync will retry."
    )
    run.refresh_from_db()
    assert (run.status, run.cursor["jobs"], run.cursor.get("done", [])) == (RunStatus.QUEUED, {}, [])
    assert [j["async_status"] for j in fake.job_requests()] == ["Job Failed", "Job Skipped"]

    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED
    assert jobs_created(fake) == 5
    assert loaded(connection) == expected(fake, US, run.window_start, run.window_end)


def test_a_killed_worker_resumes_from_its_cursor_without_duplicates(
    org, fake, backend, sleeper, django_capture_on_commit_callbacks
):
    connection = connect(org, backend)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
    sleeper.kill_at_poll = 2  # dies waiting for the second job: the first chunk is loaded

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    all_chunks = chunks(run.window_start, run.window_end)
    assert run.status == RunStatus.RUNNING
    assert run.cursor["done"] == all_chunks[:1]
    assert list(run.cursor["jobs"]) == [all_chunks[1]]
    assert jobs_created(fake) == 2
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))

    assert services.sync_runs_sweep() == [(org.pk, run.pk)]
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.QUEUED, "Resumed after the worker running it stopped.")
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED

    run.refresh_from_db()
    assert (run.status, run.attempts, run.cursor["done"]) == (RunStatus.SUCCEEDED, 2, all_chunks)
    assert jobs_created(fake) == 3  # the job asked for before the kill was polled, not asked again
    want = expected(fake, US, run.window_start, run.window_end)
    assert loaded(connection) == want
    clean = connect(OrganizationFactory(), backend)
    assert run_sync(clean, django_capture_on_commit_callbacks, kind=RunKind.BACKFILL).status == RunStatus.SUCCEEDED
    assert loaded(clean) == loaded(connection) == want


# --- the fake keeps Meta's rules --------------------------------------------------------------------------


def test_fake_enforces_tokens_proofs_paging_and_the_async_flow(fake):
    token = fake.issue_token()
    proof = api.appsecret_proof(CLIENT_SECRET, token)
    graph = f"{fake.public_url}/graph/v25.0"

    def error(response):
        body = response.json()["error"]
        assert set(body) >= {"message", "type", "code", "is_transient", "fbtrace_id"}
        return response.status_code, body["code"], body.get("error_subcode")

    assert error(httpx.get(f"{graph}/me/adaccounts")) == (400, 104, None)
    assert error(httpx.get(f"{graph}/me/adaccounts", params={"access_token": token})) == (400, 100, None)
    bad = httpx.get(f"{graph}/me/adaccounts", params={"access_token": token, "appsecret_proof": "0" * 64})
    assert error(bad) == (400, 100, None)
    assert error(httpx.get(f"{graph}/me/adaccounts", params={"access_token": "EAAnope", "appsecret_proof": proof})) == (
        400,
        190,
        None,
    )
    auth = {"access_token": token, "appsecret_proof": proof}
    assert error(httpx.get(f"{graph}/act_999/campaigns", params=auth)) == (400, 100, 33)

    # Paging: "after" is always there; "next" only while there is more.
    first = httpx.get(f"{graph}/{US}/adsets", params={**auth, "fields": "id,name", "limit": 5})
    body = first.json()
    assert len(body["data"]) == 5 and set(body["data"][0]) == {"id", "name"}
    assert set(body["paging"]["cursors"]) == {"before", "after"} and "next" in body["paging"]
    second = httpx.get(body["paging"]["next"]).json()  # the next URL carries the token, as Meta's do
    assert len(second["data"]) == 3 and "next" not in second["paging"] and "after" in second["paging"]["cursors"]
    assert json.loads(first.headers["x-app-usage"]).keys() == {"call_count", "total_cputime", "total_time"}
    assert "x-business-use-case-usage" in first.headers and "x-ad-account-usage" in first.headers

    today = fake.dataset.today(US)
    params = {
        **auth,
        **api.insights_params(
            today - timedelta(days=2), today, level="ad", fields=api.AD_FIELDS, breakdowns=api.BREAKDOWNS
        ),
    }
    sync = httpx.get(f"{graph}/{US}/insights", params=params)
    row = sync.json()["data"][0]
    assert all(isinstance(row[k], str) for k in ("impressions", "clicks", "spend", "ad_id", "campaign_id"))
    assert row["date_start"] == row["date_stop"] and row["publisher_platform"] in (
        "facebook",
        "instagram",
        "audience_network",
        "messenger",
    )
    assert "x-fb-ads-insights-throttle" in sync.headers
    created = httpx.post(f"{graph}/{US}/insights", data=params).json()
    run_id = created["report_run_id"]
    statuses = [
        httpx.get(f"{graph}/{run_id}", params={**auth, "fields": "async_status,async_percent_completion"}).json()
        for _ in range(3)
    ]
    assert [(s["async_status"], s["async_percent_completion"]) for s in statuses] == [
        ("Job Started", 0),
        ("Job Running", 66),
        ("Job Completed", 100),
    ]
    results = httpx.get(f"{graph}/{run_id}/insights", params={**auth, "limit": 5000}).json()
    assert results["data"] == sync.json()["data"][: len(results["data"])] and len(results["data"]) > 25

    too_old = {
        **params,
        "time_range": json.dumps({"since": (today - timedelta(days=1200)).isoformat(), "until": today.isoformat()}),
    }
    assert error(httpx.get(f"{graph}/{US}/insights", params=too_old)) == (400, 3018, None)
    bad_breakdown = {**params, "breakdowns": "publisher_platform,dma"}
    assert error(httpx.get(f"{graph}/{US}/insights", params=bad_breakdown)) == (400, 100, None)
    finer = {**params, "level": "campaign"}
    assert error(httpx.get(f"{graph}/{US}/insights", params=finer)) == (400, 100, None)


def test_the_demo_grant_is_accepted_forever(db, fake, backend):
    fake.allow_demo()
    fake.clock_offset = 400 * 86400  # a year and more later
    assert DEMO_CREDENTIALS == {"access_token": DEMO_ACCESS_TOKEN, "token_type": "bearer", "expires_at": None}
    assert [a.external_id for a in backend.discover_accounts(credentials=dict(DEMO_CREDENTIALS))] == [US, SEA]


# --- mapping ------------------------------------------------------------------------------------------------

ROW = {
    "account_currency": "USD",
    "campaign_id": "120210000000000001",
    "campaign_name": "Prospecting | Lamps & Lighting",
    "adset_id": "120210000000000002",
    "adset_name": "Broad | 25-54 | US+CA",
    "ad_id": "120210000000000003",
    "ad_name": "HG-LAMP-01 | Ceramic Table Lamp | Video",
    "impressions": "24301",
    "clicks": "300",
    "spend": "207.85",
    "actions": [
        {"action_type": "landing_page_view", "value": "98", "7d_click": "98"},
        {"action_type": "omni_purchase", "value": "33", "7d_click": "30", "1d_view": "3"},
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "33", "7d_click": "30", "1d_view": "3"},
        {"action_type": "purchase", "value": "33", "7d_click": "30", "1d_view": "3"},
    ],
    "action_values": [
        {"action_type": "omni_purchase", "value": "1319.67", "7d_click": "1199.7", "1d_view": "119.97"},
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "1319.67"},
        {"action_type": "purchase", "value": "1319.67"},
    ],
    "date_start": "2026-05-04",
    "date_stop": "2026-05-04",
    "publisher_platform": "instagram",
    "country": "CA",
}


def test_an_ad_row_maps_every_field():
    got = mapping.ad_fact(ROW, account_id=US, currency="EUR", source_ref=42)
    assert got == AdFact(
        channel="meta",
        account_id=US,
        marketplace="CA",
        date=date(2026, 5, 4),
        grain="target",
        campaign_id="120210000000000001",
        campaign_name="Prospecting | Lamps & Lighting",
        ad_group_id="120210000000000002",
        ad_group_name="Broad | 25-54 | US+CA",
        target_id="120210000000000003",
        target_text="HG-LAMP-01 | Ceramic Table Lamp | Video",
        match_type="instagram",
        search_term="instagram:CA",
        product_id="",
        impressions=24301,
        clicks=300,
        cost=Decimal("207.85"),
        orders=33,  # not 99: three aliases of the same 33 purchases
        units=0,
        sales=Decimal("1319.67"),
        currency="USD",  # the row's account_currency wins over the connection's
        attribution_window="7d_click+1d_view",
        source="api",
        source_ref=42,
    )
    assert len(got.attribution_window) <= 16  # AdPerformanceDaily.attribution_window
    unknown = mapping.ad_fact(
        {**ROW, "country": "unknown", "account_currency": None}, account_id=US, currency="SGD", source_ref=1
    )
    assert (unknown.marketplace, unknown.search_term, unknown.currency) == ("", "instagram:unknown", "SGD")


@pytest.mark.parametrize(
    ("types", "want"),
    [
        (["purchase", "offsite_conversion.fb_pixel_purchase", "omni_purchase"], "omni_purchase"),
        (
            ["purchase", "offsite_conversion.fb_pixel_purchase", "onsite_web_purchase"],
            "offsite_conversion.fb_pixel_purchase",
        ),
        (["onsite_web_purchase", "purchase"], "purchase"),
        (["onsite_web_purchase", "add_to_cart"], None),
    ],
)
def test_one_purchase_type_is_chosen_in_order_of_preference(types, want):
    row = {
        "actions": [{"action_type": t, "value": "7"} for t in types],
        "action_values": [{"action_type": t, "value": "70.5"} for t in types],
    }
    assert mapping.purchase_type(row) == want
    assert mapping.purchases(row) == ((7, Decimal("70.5"), want) if want else (0, Decimal(0), ""))


def test_purchase_values_fall_back_to_the_windows_and_values_follow_the_chosen_type():
    row = {
        "actions": [{"action_type": "offsite_conversion.fb_pixel_purchase", "7d_click": "4", "1d_view": "1"}],
        "action_values": [
            {"action_type": "purchase", "value": "999"},  # another alias's value is never taken
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "250.5"},
        ],
    }
    assert mapping.purchases(row) == (5, Decimal("250.5"), "offsite_conversion.fb_pixel_purchase")
    assert mapping.purchases({"action_values": [{"action_type": "purchase", "value": "12"}]}) == (
        0,
        Decimal("12"),
        "purchase",
    )


def test_a_row_spanning_several_days_is_refused():
    with pytest.raises(PlatformError):
        mapping.ad_fact({**ROW, "date_stop": "2026-05-05"}, account_id=US, currency="USD", source_ref=1)


def test_campaign_rows_sum_the_ad_rows_of_each_day_and_segment():
    other_ad = {**ROW, "ad_id": "9", "adset_id": "8", "impressions": "1", "clicks": "0", "spend": "0.15"}
    facebook = {**ROW, "publisher_platform": "facebook"}
    got = list(mapping.ad_facts_with_campaigns([ROW, other_ad, facebook], account_id=US, currency="USD", source_ref=1))
    assert [f.grain for f in got] == ["target", "target", "target", "campaign", "campaign"]
    instagram = got[3]
    assert (instagram.search_term, instagram.match_type, instagram.marketplace) == ("instagram:CA", "instagram", "CA")
    assert (instagram.ad_group_id, instagram.target_id, instagram.target_text) == ("", "", "")
    assert (instagram.impressions, instagram.clicks, instagram.cost, instagram.orders, instagram.sales) == (
        24302,
        300,
        Decimal("208.00"),
        66,
        Decimal("2639.34"),
    )
    assert got[4].search_term == "facebook:CA" and got[4].impressions == 24301


def test_campaigns_and_ad_sets_map_to_entity_rows_with_budgets_in_minor_units():
    assert mapping.campaign_row(
        {"id": "1", "name": "c", "status": "PAUSED", "daily_budget": "6000", "objective": "OUTCOME_SALES"}, "USD"
    ) == {
        "external_id": "1",
        "name": "c",
        "state": "PAUSED",
        "targeting_type": "",
        "budget": Decimal("60.00"),
        "budget_type": "DAILY",
        "portfolio": "",
    }
    assert mapping.campaign_row({"id": "2", "lifetime_budget": "150000"}, "JPY")["budget"] == Decimal("150000")
    assert mapping.campaign_row({"id": "3", "lifetime_budget": "150000"}, "JPY")["budget_type"] == "LIFETIME"
    assert mapping.campaign_row({"id": "4", "daily_budget": "0"}, "USD")["budget"] is None
    assert mapping.ad_group_row(
        {"id": "5", "campaign_id": "1", "name": "s", "status": "ACTIVE", "bid_amount": "150"}, "SGD"
    ) == {
        "campaign_external_id": "1",
        "external_id": "5",
        "name": "s",
        "state": "ACTIVE",
        "default_bid": Decimal("1.50"),
    }


def test_usage_headers_are_read_to_the_highest_percentage():
    headers = httpx.Headers(
        {
            "x-app-usage": '{"call_count": 12, "total_cputime": 3, "total_time": 40}',
            "x-ad-account-usage": '{"acc_id_util_pct": 9.5}',
            "x-business-use-case-usage": json.dumps(
                {
                    "918": [
                        {
                            "type": "ads_insights",
                            "call_count": 87,
                            "total_cputime": 2,
                            "estimated_time_to_regain_access": 3,
                        }
                    ]
                }
            ),
            "x-fb-ads-insights-throttle": "not json",
        }
    )
    assert api.usage_of(headers) == api.Usage(percent=87.0, regain_seconds=180.0)
    assert api.usage_of(httpx.Headers()) == api.Usage()


# --- the demo dataset -----------------------------------------------------------------------------------------


def test_demo_data_is_deterministic_and_tells_the_story():
    a, b = Dataset(), Dataset()
    today = a.today(US)
    assert a.first_day(US) == today - timedelta(days=399)
    start = today - timedelta(days=364)
    assert list(a.facts(US, start, today)) != [] and a.totals(US, start, today) == b.totals(US, start, today)
    assert [c["id"] for c in a.entities(US, "campaigns")] == [c["id"] for c in b.entities(US, "campaigns")]
    assert a.totals(CLOSED, start, today)["rows"] == 0
    # Weekly seasonality: Sundays sell more than Tuesdays.
    weekday: dict[int, list[int]] = {}
    for day, _ad, _p, _c, m in a.facts(US, start, today):
        weekday.setdefault(day.weekday(), []).append(m[0])
    assert sum(weekday[6]) > 1.15 * sum(weekday[1])
    # The paused campaign stopped delivering 45 days ago.
    paused = next(c for c in a.account(US).campaigns if c.status == "PAUSED")
    last = max(day for day, ad, *_ in a.facts(US, start, today) if ad.ad_set.campaign is paused)
    assert last == today - timedelta(days=46)
    # A healthy account: it earns about three times what it spends.
    totals = a.totals(US, start, today)
    assert 2 < totals["sales"] / totals["cost"] < 5
    assert {ad.sku for ad in a.account(SEA).ads} >= {"HG-LAMP-01", "HG-MUG-01"}
