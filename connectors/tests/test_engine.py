"""The sync engine end to end, against a platform that exists only for these tests (``engine_backend``).

Real HTTP to a local WSGI fake, real PostgreSQL, Celery eager. Nothing of ours is mocked: the test backend is
registered in ``connectors.backends.REGISTRY`` and ``settings.PLATFORMS`` like any platform.
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from celery.signals import task_retry
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.scoping import OrganizationScopeError, organization_scope
from accounts.tests.factories import OrganizationFactory
from analytics.models import AdPerformanceDaily, StoreSalesDaily
from config.celery_app import app as celery_app
from config.testing import serve_wsgi
from connectors import crypto, services
from connectors.backends import REGISTRY
from connectors.errors import SyncError, TransientError
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.tasks import fan_out_due_syncs, request_sync, run_sync, sweep_sync_runs
from connectors.tests.engine_backend import PLATFORM, FakeReportAPI, WorkerKilled

BACKEND = "connectors.tests.engine_backend.EngineTestBackend"
GENERIC = "Something went wrong on our side while syncing. We have been told; try again later."
STOPPED = "Stopped: the account was disconnected."
FACT_FIELDS = (
    "date",
    "campaign_id",
    "campaign_name",
    "impressions",
    "clicks",
    "cost",
    "orders",
    "units",
    "sales",
    "currency",
    "grain",
    "source",
)


class _Slot:
    """The WSGI app the module's one server forwards to (stopping a server costs 0.5 s: one per module)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def fake_server():
    slot = _Slot()
    with serve_wsgi(slot) as url:
        yield slot, url


@pytest.fixture
def fake(fake_server, settings, monkeypatch):
    """A fresh fake report API for the test, the test backend registered and its settings pointing at it."""
    slot, url = fake_server
    api = slot.app = FakeReportAPI()
    monkeypatch.setitem(REGISTRY, PLATFORM, BACKEND)
    settings.PLATFORMS = {**settings.PLATFORMS, PLATFORM: {"api_url": url, "sleep": api.sleep, "retries": 2}}
    try:
        yield api
    finally:
        api.gate.set()  # never leave a server thread waiting


@pytest.fixture
def retry_countdowns():
    """The countdown of every Celery retry of run_sync, as the worker would schedule it."""
    seen: list[float] = []

    def on_retry(sender=None, reason=None, **kwargs):
        if sender is not None and sender.name == run_sync.name:
            seen.append(reason.when)

    task_retry.connect(on_retry, weak=False)
    try:
        yield seen
    finally:
        task_retry.disconnect(on_retry)


def make_connection(organization, fake, **overrides) -> Connection:
    values = {
        "organization": organization,
        "platform": PLATFORM,
        "name": "Test account",
        "external_id": "ACC-1",
        "currency": "USD",
        "time_zone": "UTC",
        "backfill_days": 3,
        "lookback_days": 3,
        "credentials": {"access_token": fake.token},
        "next_sync_at": timezone.now(),
    }
    values.update(overrides)
    return Connection.unscoped_objects.create(**values)


def today_in(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


@pytest.fixture
def eager_retries():
    """Let eager Celery carry out retries like a worker would (with propagation on, eager mode raises Retry).

    The task is then applied again at once, whatever its countdown; ``retry_countdowns`` shows the countdown.
    """
    propagates = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        celery_app.conf.task_eager_propagates = propagates


def run_with_retries(connection, capture) -> tuple[SyncRun, str]:
    """Request a run, then send its task (eager, retrying); returns the run and the task's final result."""
    with capture(execute=False):
        run, created = services.sync_run_request(connection=connection)
    assert created is True
    result = run_sync.delay(organization_id=connection.organization_id, run_id=run.pk).get()
    return SyncRun.unscoped_objects.get(pk=run.pk), result


def request_and_run(connection, capture, **kwargs) -> SyncRun:
    """Request a run and let its task run (eagerly) when the request's transaction commits."""
    with capture(execute=True):
        run, created = services.sync_run_request(connection=connection, **kwargs)
    assert created is True
    return SyncRun.unscoped_objects.get(pk=run.pk)


def facts(connection) -> list[tuple]:
    rows = AdPerformanceDaily.unscoped_objects.filter(
        organization=connection.organization, source="api", source_ref=connection.pk
    )
    return list(rows.order_by("date", "campaign_id").values_list(*FACT_FIELDS))


def expected_facts(fake, start: date, end: date) -> list[tuple]:
    rows = [
        (
            date.fromisoformat(r["date"]),
            r["campaign_id"],
            r["campaign_name"],
            r["impressions"],
            r["clicks"],
            Decimal(r["cost"]),
            r["orders"],
            r["units"],
            Decimal(r["sales"]),
            "USD",
            "campaign",
            "api",
        )
        for r in fake.rows(start, end)
    ]
    return sorted(rows, key=lambda r: (r[0], r[1]))


# --- sync_run_request ---------------------------------------------------------------------------------------


def test_first_run_loads_backfill_days_in_the_connections_time_zone(org, fake, django_capture_on_commit_callbacks):
    # Kiritimati (UTC+14) and Baker Island (UTC-12) are 26 hours apart: their "today" always differs.
    east = make_connection(org, fake, time_zone="Pacific/Kiritimati", backfill_days=30)
    west = make_connection(org, fake, external_id="ACC-2", time_zone="Etc/GMT+12", backfill_days=30)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        east_run, east_created = services.sync_run_request(connection=east)
        west_run, west_created = services.sync_run_request(connection=west)

    assert (east_created, west_created) == (True, True)
    assert len(callbacks) == 2  # one task each, sent only after commit
    east_today, west_today = today_in("Pacific/Kiritimati"), today_in("Etc/GMT+12")
    assert east_today != west_today
    assert (east_run.window_start, east_run.window_end) == (east_today - timedelta(days=30), east_today)
    assert (west_run.window_start, west_run.window_end) == (west_today - timedelta(days=30), west_today)
    assert east_run.kind == RunKind.BACKFILL  # a scheduled first run is the backfill
    assert east_run.status == RunStatus.QUEUED
    assert east_run.organization_id == org.pk
    east.refresh_from_db()
    assert timedelta(hours=5, minutes=59) < east.next_sync_at - timezone.now() <= timedelta(hours=6)


def test_later_run_repulls_the_lookback_window(org, fake, django_capture_on_commit_callbacks):
    tz = "Asia/Shanghai"
    today = today_in(tz)
    connection = make_connection(org, fake, time_zone=tz, lookback_days=2, synced_through=today - timedelta(days=5))

    with django_capture_on_commit_callbacks(execute=False):
        run, created = services.sync_run_request(connection=connection, kind=RunKind.MANUAL)

    assert created is True
    assert run.kind == RunKind.MANUAL
    assert (run.window_start, run.window_end) == (today - timedelta(days=7), today)


def test_synced_through_in_the_future_is_clamped_to_today(org, fake, django_capture_on_commit_callbacks):
    today = today_in("UTC")
    connection = make_connection(org, fake, lookback_days=3, synced_through=today + timedelta(days=2))

    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection)

    assert run.kind == RunKind.SCHEDULED
    assert (run.window_start, run.window_end) == (today - timedelta(days=3), today)


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING])
def test_a_second_request_returns_the_active_run(org, fake, django_capture_on_commit_callbacks, status):
    connection = make_connection(org, fake)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first, first_created = services.sync_run_request(connection=connection)
        SyncRun.unscoped_objects.filter(pk=first.pk).update(status=status)
        second, second_created = services.sync_run_request(connection=connection, kind=RunKind.MANUAL)

    assert (first_created, second_created) == (True, False)
    assert second.pk == first.pk
    assert second.status == status
    assert SyncRun.unscoped_objects.filter(connection=connection).count() == 1
    assert len(callbacks) == 1


def test_the_database_allows_one_active_run_per_connection(org, fake):
    connection = make_connection(org, fake)
    today = today_in("UTC")
    window = {"window_start": today, "window_end": today}
    SyncRun.unscoped_objects.create(organization=org, connection=connection, status=RunStatus.RUNNING, **window)
    SyncRun.unscoped_objects.create(organization=org, connection=connection, status=RunStatus.SUCCEEDED, **window)

    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.unscoped_objects.create(organization=org, connection=connection, status=RunStatus.QUEUED, **window)

    assert SyncRun.unscoped_objects.filter(connection=connection).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_racing_requests_make_one_run(fake):
    """A's insert is uncommitted while B inserts: B waits on the partial unique index, then gets A's run."""
    org = OrganizationFactory()
    connection = make_connection(org, fake)
    fake.fail(1, "gate")  # A's task, started on commit, is held at the fake until we have looked
    a_inserted = threading.Event()
    results: dict[str, object] = {}

    def first():
        try:
            with transaction.atomic():
                results["a"] = services.sync_run_request(connection=Connection.unscoped_objects.get(pk=connection.pk))
                a_inserted.set()
                time.sleep(0.3)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            results["a_error"] = exc
        finally:
            a_inserted.set()
            connections.close_all()

    def second():
        a_inserted.wait(5)
        started = time.monotonic()
        try:
            results["b"] = services.sync_run_request(connection=Connection.unscoped_objects.get(pk=connection.pk))
        except BaseException as exc:  # noqa: BLE001
            results["b_error"] = exc
        finally:
            results["b_seconds"] = time.monotonic() - started
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    threads[1].join(10)
    assert "b_error" not in results, results.get("b_error")
    (run_a, created_a), (run_b, created_b) = results["a"], results["b"]
    assert (created_a, created_b) == (True, False)
    assert run_b.pk == run_a.pk
    assert results["b_seconds"] >= 0.15  # B really waited for A's transaction
    assert SyncRun.unscoped_objects.filter(connection=connection).count() == 1

    fake.gate.set()
    threads[0].join(10)
    assert "a_error" not in results, results.get("a_error")
    run = SyncRun.unscoped_objects.get()
    assert (run.pk, run.status, run.attempts) == (run_a.pk, RunStatus.SUCCEEDED, 1)
    assert fake.pages_requested() == [1, 2, 3]


def test_a_disconnected_connection_refuses_to_sync(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake, status=ConnectionStatus.DISCONNECTED)

    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(SyncError) as error:
        services.sync_run_request(connection=connection)

    assert error.value.user_message == "This account is disconnected. Connect it again to sync."
    assert SyncRun.unscoped_objects.count() == 0
    assert callbacks == []


# --- sync_run_execute ---------------------------------------------------------------------------------------


def test_a_run_loads_every_page_and_marks_the_connection_synced(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake)
    today = today_in("UTC")
    start = today - timedelta(days=3)
    fake.overrides[(start.isoformat(), "C1")] = {"cost": "12.3456", "sales": "78.9000", "clicks": 41}

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert (run.window_start, run.window_end) == (start, today)
    assert run.progress == 100
    assert (run.rows_read, run.rows_written) == (8, 8)  # 4 days x 2 campaigns, 3 rows a page
    assert run.cursor == {"page": 3, "pages": 3}
    assert run.attempts == 1
    assert (run.message, run.error_code) == ("", "")
    assert run.finished_at is not None
    assert fake.pages_requested() == [1, 2, 3]
    assert {(r["account"], r["start"], r["end"]) for r in fake.requests} == {
        ("ACC-1", start.isoformat(), today.isoformat())
    }
    connection.refresh_from_db()
    assert connection.synced_through == today
    assert connection.last_success_at is not None
    assert connection.last_success_at >= run.started_at
    assert (connection.status, connection.last_error) == (ConnectionStatus.ACTIVE, "")
    loaded = facts(connection)
    assert loaded == expected_facts(fake, start, today)
    first = AdPerformanceDaily.unscoped_objects.get(organization=org, date=start, campaign_id="C1")
    assert (first.cost, first.sales, first.clicks) == (Decimal("12.3456"), Decimal("78.9000"), 41)
    assert (first.account_id, first.attribution_window, first.source_ref) == ("ACC-1", "7d click", connection.pk)


def test_a_run_is_executed_once(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake)
    run = request_and_run(connection, django_capture_on_commit_callbacks)

    with organization_scope(org):
        again = services.sync_run_execute(run_id=run.pk)
    result = run_sync.delay(organization_id=org.pk, run_id=run.pk).get()

    assert again is None
    assert result is None
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert fake.pages_requested() == [1, 2, 3]


def test_a_running_run_is_not_claimed_again(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection)
    SyncRun.unscoped_objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=1)

    with organization_scope(org):
        assert services.sync_run_execute(run_id=run.pk) is None

    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.RUNNING, 1)
    assert fake.requests == []


def test_throttling_requeues_and_the_task_retries_after_retry_after(
    org, fake, django_capture_on_commit_callbacks, retry_countdowns, eager_retries
):
    connection = make_connection(org, fake)
    fake.fail(2, "429", "120")  # longer than PlatformHTTP waits inline

    run, result = run_with_retries(connection, django_capture_on_commit_callbacks)

    assert retry_countdowns == [120.0]
    assert result == RunStatus.SUCCEEDED
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert fake.pages_requested() == [1, 2, 2, 3]  # the retry resumed after page 1
    assert fake.sleeps == []  # nothing slept inline: the wait was left to Celery
    assert (run.rows_read, run.rows_written) == (8, 8)
    assert run.message == ""
    today = today_in("UTC")
    assert facts(connection) == expected_facts(fake, today - timedelta(days=3), today)


def test_short_throttling_is_waited_out_inline(org, fake, django_capture_on_commit_callbacks, retry_countdowns):
    connection = make_connection(org, fake)
    fake.fail(1, "429", "1.5")
    fake.fail(3, "502")

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert retry_countdowns == []
    assert fake.pages_requested() == [1, 1, 2, 3, 3]
    assert fake.sleeps[0] == 1.5  # the platform's Retry-After
    assert 1.0 <= fake.sleeps[1] < 2.0  # first backoff without Retry-After: 2**0 + jitter
    assert len(fake.sleeps) == 2


def test_a_queued_retry_keeps_the_error_while_it_waits(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake)
    fake.fail(1, "429", "300")
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection)

    with organization_scope(org), pytest.raises(TransientError) as error:
        services.sync_run_execute(run_id=run.pk)

    assert error.value.retry_after == 300.0
    run.refresh_from_db()
    assert (run.status, run.attempts, run.finished_at) == (RunStatus.QUEUED, 1, None)
    assert run.message == "Test Platform is busy or unavailable (HTTP 429); the sync will retry."
    assert run.error_code == "transient"
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE  # not an error until the attempts run out


def test_transient_errors_fail_the_run_after_max_attempts(
    org, fake, django_capture_on_commit_callbacks, retry_countdowns, eager_retries
):
    connection = make_connection(org, fake)
    fake.fail(1, "503", times=3 * services.MAX_ATTEMPTS)  # 1 try + 2 inline retries, on every attempt
    message = "Test Platform is busy or unavailable (HTTP 503); the sync will retry."

    run, result = run_with_retries(connection, django_capture_on_commit_callbacks)

    assert services.MAX_ATTEMPTS == 5
    assert retry_countdowns == [30, 60, 120, 240]  # bounded exponential backoff, no Retry-After given
    assert result == RunStatus.FAILED
    assert (run.status, run.attempts) == (RunStatus.FAILED, 5)
    assert (run.message, run.error_code) == (message, "transient")
    assert (run.rows_read, run.rows_written) == (0, 0)
    assert run.finished_at is not None
    assert fake.pages_requested() == [1] * 15
    assert len(fake.sleeps) == 10
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.ERROR, message)
    assert connection.synced_through is None
    assert AdPerformanceDaily.unscoped_objects.count() == 0


def test_transient_errors_after_some_pages_end_partial(
    org, fake, django_capture_on_commit_callbacks, retry_countdowns, eager_retries
):
    connection = make_connection(org, fake)
    fake.fail(2, "429", "45", times=services.MAX_ATTEMPTS)

    run, result = run_with_retries(connection, django_capture_on_commit_callbacks)

    assert retry_countdowns == [45.0, 45.0, 45.0, 45.0]
    assert result == RunStatus.PARTIAL
    assert (run.status, run.attempts) == (RunStatus.PARTIAL, 5)
    assert (run.rows_read, run.rows_written) == (3, 3)
    assert run.cursor == {"page": 1, "pages": 3}
    assert fake.pages_requested() == [1, 2, 2, 2, 2, 2]
    assert len(facts(connection)) == 3
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ERROR
    assert connection.last_error == "Test Platform is busy or unavailable (HTTP 429); the sync will retry."


def test_rejected_credentials_ask_for_reauthorization(org, fake, django_capture_on_commit_callbacks, retry_countdowns):
    connection = make_connection(org, fake, credentials={"access_token": "expired"})
    message = "Test Platform rejected our access (HTTP 401). Reconnect the account to continue."

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.attempts, run.error_code) == (RunStatus.FAILED, 1, "reauth")
    assert run.message == message
    assert retry_countdowns == []  # never retried
    assert fake.pages_requested() == [1]
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, message)
    assert connection.last_success_at is None


def test_an_unexpected_exception_fails_with_a_generic_message(org, fake, django_capture_on_commit_callbacks, caplog):
    connection = make_connection(org, fake)
    fake.fail(1, "crash")  # the backend reads payload["pages"] from a body without it: KeyError

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.message, run.error_code) == (RunStatus.FAILED, GENERIC, "sync_error")
    assert "KeyError" not in run.message and "Traceback" not in run.message
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.ERROR, GENERIC)
    assert "KeyError" in caplog.text  # the detail goes to the log, not to the seller


def test_a_terminal_error_after_some_pages_is_partial(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake)
    fake.fail(3, "400", "date range too long")

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code) == (RunStatus.PARTIAL, "platform")
    assert run.message == 'Test Platform refused the request (HTTP 400): {"error": "date range too long"}'
    assert (run.rows_read, run.rows_written) == (6, 6)
    assert run.cursor == {"page": 2, "pages": 3}
    assert run.progress == 66
    assert len(facts(connection)) == 6
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.ERROR, run.message)
    assert connection.synced_through is None


def test_a_crash_after_some_pages_is_partial_with_the_generic_message(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake)
    fake.fail(2, "crash")

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.message, run.rows_written) == (RunStatus.PARTIAL, GENERIC, 3)


# --- killed workers and the sweeper -----------------------------------------------------------------------


def test_a_killed_run_is_swept_and_resumes_from_its_cursor(org, other_org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake)
    busy = make_connection(org, fake, external_id="ACC-2")
    today = today_in("UTC")
    start = today - timedelta(days=3)
    alive = SyncRun.unscoped_objects.create(
        organization=org,
        connection=busy,
        status=RunStatus.RUNNING,
        window_start=start,
        window_end=today,
        heartbeat_at=timezone.now() - timedelta(minutes=2),
    )
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection)
    fake.fail(2, "kill")

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)  # the worker dies after loading page 1

    run.refresh_from_db()
    assert (run.status, run.cursor, run.rows_written) == (RunStatus.RUNNING, {"page": 1, "pages": 3}, 3)
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    fake.requests.clear()

    assert sweep_sync_runs.delay().get() == 1

    run.refresh_from_db()
    assert (run.status, run.attempts, run.message) == (RunStatus.SUCCEEDED, 2, "")
    assert fake.pages_requested() == [2, 3]  # only what the dead worker had not loaded
    assert (run.rows_read, run.rows_written) == (8, 8)
    alive.refresh_from_db()
    assert alive.status == RunStatus.RUNNING  # its heartbeat is recent: left alone
    # The resumed run's facts are exactly a clean run's.
    clean = request_and_run(make_connection(other_org, fake), django_capture_on_commit_callbacks)
    assert clean.status == RunStatus.SUCCEEDED
    assert facts(connection) == facts(clean.connection) == expected_facts(fake, start, today)
    assert AdPerformanceDaily.unscoped_objects.filter(organization=org).count() == 8


def test_a_run_that_kills_its_worker_every_time_is_given_up(org, fake, django_capture_on_commit_callbacks, caplog):
    connection = make_connection(org, fake)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection)
    fake.fail(2, "kill", times=services.MAX_ATTEMPTS)  # page 2 takes the worker down, every time

    for attempt in range(1, services.MAX_ATTEMPTS + 1):
        with organization_scope(org), pytest.raises(WorkerKilled):
            services.sync_run_execute(run_id=run.pk)
        SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
        swept = services.sync_runs_sweep()
        run.refresh_from_db()
        assert run.attempts == attempt
        if attempt < services.MAX_ATTEMPTS:
            assert (swept, run.status) == ([(org.pk, run.pk)], RunStatus.QUEUED)

    assert swept == []  # not sent to a worker again
    assert (run.status, run.message, run.error_code) == (RunStatus.PARTIAL, GENERIC, "sync_error")
    assert run.finished_at is not None
    assert fake.pages_requested() == [1, 2, 2, 2, 2, 2]
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.ERROR, GENERIC)
    assert f"sync run {run.pk}: its worker stopped on each of its 5 attempts; giving up" in caplog.text


def test_the_sweeper_requeues_dead_runs_and_resends_lost_messages(org, fake):
    today = today_in("UTC")
    window = {"window_start": today - timedelta(days=3), "window_end": today}
    now = timezone.now()

    def run_for(external_id, **values):
        connection = make_connection(org, fake, external_id=external_id)
        return SyncRun.unscoped_objects.create(organization=org, connection=connection, **window, **values)

    dead = run_for("DEAD", status=RunStatus.RUNNING, heartbeat_at=now - timedelta(minutes=11))
    lost = run_for("LOST", status=RunStatus.QUEUED)
    fresh_queued = run_for("FRESH", status=RunStatus.QUEUED)
    alive = run_for("ALIVE", status=RunStatus.RUNNING, heartbeat_at=now - timedelta(minutes=9))
    SyncRun.unscoped_objects.filter(pk=lost.pk).update(updated_at=now - timedelta(minutes=16))

    swept = services.sync_runs_sweep(now=now)

    assert sorted(swept) == sorted([(org.pk, dead.pk), (org.pk, lost.pk)])
    dead.refresh_from_db()
    assert (dead.status, dead.message) == (RunStatus.QUEUED, "Resumed after the worker running it stopped.")
    for run, status in ((lost, RunStatus.QUEUED), (fresh_queued, RunStatus.QUEUED), (alive, RunStatus.RUNNING)):
        run.refresh_from_db()
        assert run.status == status
    lost.refresh_from_db()
    assert lost.updated_at == now  # not sent again on the next sweep

    assert sweep_sync_runs.delay().get() == 0  # nothing is stale any more


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_spares_a_run_whose_heartbeat_lands_while_it_sweeps(fake):
    """The sweep selects a run whose heartbeat is old; before its UPDATE lands, the worker checkpoints."""
    org = OrganizationFactory()
    today = today_in("UTC")
    run = SyncRun.unscoped_objects.create(
        organization=org,
        connection=make_connection(org, fake),
        status=RunStatus.RUNNING,
        window_start=today,
        window_end=today,
        heartbeat_at=timezone.now() - timedelta(minutes=11),
    )
    out: dict[str, object] = {}

    def sweeper():
        try:
            out["swept"] = services.sync_runs_sweep()
        finally:
            connections.close_all()

    thread = threading.Thread(target=sweeper)
    with transaction.atomic():  # this connection plays the worker, holding the row while it checkpoints
        SyncRun.unscoped_objects.select_for_update().get(pk=run.pk)
        thread.start()
        deadline = time.monotonic() + 5
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:  # until the sweep's UPDATE waits for our row lock
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # statistics are cached per transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE%%connectors_syncrun%%'"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the sweep never reached its UPDATE")
        SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    thread.join(5)

    assert out["swept"] == [(org.pk, run.pk)]  # it was stale when selected...
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.RUNNING, "")  # ...but alive when the UPDATE ran


def test_the_sweep_task_sends_stale_runs_to_workers(org, fake):
    connection = make_connection(org, fake)
    today = today_in("UTC")
    run = SyncRun.unscoped_objects.create(
        organization=org,
        connection=connection,
        status=RunStatus.QUEUED,
        window_start=today - timedelta(days=3),
        window_end=today,
    )
    SyncRun.unscoped_objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(minutes=20))

    assert sweep_sync_runs.delay().get() == 1

    run.refresh_from_db()
    assert (run.status, run.attempts, run.rows_written) == (RunStatus.SUCCEEDED, 1, 8)


# --- idempotent loads ---------------------------------------------------------------------------------------


def test_rerunning_a_window_never_duplicates_and_corrections_overwrite(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake, backfill_days=3, lookback_days=3)
    first = request_and_run(connection, django_capture_on_commit_callbacks)
    ids_before = set(AdPerformanceDaily.unscoped_objects.values_list("pk", flat=True))
    corrected_day = first.window_start + timedelta(days=1)
    fake.overrides[(corrected_day.isoformat(), "C2")] = {"cost": "7.7700", "orders": 9, "sales": "123.4500"}
    connection.refresh_from_db()

    second = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (second.window_start, second.window_end) == (first.window_start, first.window_end)
    assert (second.status, second.rows_read, second.rows_written) == (RunStatus.SUCCEEDED, 8, 8)
    assert set(AdPerformanceDaily.unscoped_objects.values_list("pk", flat=True)) == ids_before
    assert facts(connection) == expected_facts(fake, first.window_start, first.window_end)
    corrected = AdPerformanceDaily.unscoped_objects.get(date=corrected_day, campaign_id="C2")
    assert (corrected.cost, corrected.orders, corrected.sales) == (Decimal("7.7700"), 9, Decimal("123.4500"))


# --- beat fan-out and tenancy -------------------------------------------------------------------------------


def test_fan_out_queues_due_active_and_error_connections_in_their_own_organization(
    org, other_org, fake, django_capture_on_commit_callbacks
):
    past, future = timezone.now() - timedelta(minutes=1), timezone.now() + timedelta(hours=1)
    due_active = make_connection(org, fake, external_id="A1", next_sync_at=past)
    due_error = make_connection(org, fake, external_id="A2", next_sync_at=past, status=ConnectionStatus.ERROR)
    make_connection(org, fake, external_id="A3", next_sync_at=past, status=ConnectionStatus.REAUTH)
    make_connection(org, fake, external_id="A4", next_sync_at=past, status=ConnectionStatus.DISCONNECTED)
    make_connection(org, fake, external_id="A5", next_sync_at=future)
    other_due = make_connection(other_org, fake, external_id="B1", next_sync_at=past)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert fan_out_due_syncs.delay().get() == 3

    runs = SyncRun.unscoped_objects.order_by("connection__external_id")
    assert [(r.connection_id, r.organization_id, r.status, r.kind) for r in runs] == [
        (due_active.pk, org.pk, RunStatus.QUEUED, RunKind.BACKFILL),
        (due_error.pk, org.pk, RunStatus.QUEUED, RunKind.BACKFILL),
        (other_due.pk, other_org.pk, RunStatus.QUEUED, RunKind.BACKFILL),
    ]
    assert len(callbacks) == 3
    assert services.connections_due() == []  # next_sync_at moved on


def test_request_sync_only_sees_its_own_organizations_connections(
    org, other_org, fake, django_capture_on_commit_callbacks
):
    theirs = make_connection(other_org, fake)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert request_sync.delay(organization_id=org.pk, connection_id=theirs.pk).get() is None

    assert SyncRun.unscoped_objects.count() == 0
    assert callbacks == []


def test_a_run_cannot_be_executed_from_another_organizations_scope(
    org, other_org, fake, django_capture_on_commit_callbacks
):
    connection = make_connection(org, fake)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection)

    with organization_scope(other_org):
        assert services.sync_run_execute(run_id=run.pk) is None
    assert run_sync.delay(organization_id=other_org.pk, run_id=run.pk).get() is None
    with pytest.raises(OrganizationScopeError):
        services.sync_run_execute(run_id=run.pk)  # no scope at all: fails closed

    run.refresh_from_db()
    assert (run.status, run.attempts, run.started_at) == (RunStatus.QUEUED, 0, None)
    assert fake.requests == []
    assert AdPerformanceDaily.unscoped_objects.count() == 0


def test_the_task_of_a_deleted_organization_does_nothing(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection)
    gone = OrganizationFactory()
    gone_id = gone.pk
    gone.delete()

    assert run_sync.delay(organization_id=gone_id, run_id=run.pk).get() is None
    assert request_sync.delay(organization_id=gone_id, connection_id=connection.pk).get() is None

    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.QUEUED, 0)
    assert SyncRun.unscoped_objects.count() == 1
    assert fake.requests == []


# --- disconnecting ------------------------------------------------------------------------------------------


def raw_credentials(connection_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connectors_connection WHERE id = %s", [connection_id])
        return cursor.fetchone()[0]


def test_saved_credentials_read_back_as_saved(org, fake):
    """What a backend stores after refreshing a token (ctx.save_credentials) is encrypted once, not twice."""
    conn = make_connection(org, fake)
    refreshed = {"access_token": "token-2", "refresh_token": "refresh-2"}

    services.connection_save_credentials(connection=conn, credentials=refreshed)

    assert conn.credentials == refreshed
    assert Connection.unscoped_objects.get(pk=conn.pk).credentials == refreshed
    assert crypto.decrypt(raw_credentials(conn.pk)) == refreshed
    assert "token-2" not in raw_credentials(conn.pk)


def test_disconnect_forgets_credentials_stops_runs_and_keeps_history(
    org, owner, fake, django_capture_on_commit_callbacks
):
    conn = make_connection(org, fake)
    done = request_and_run(conn, django_capture_on_commit_callbacks)
    conn.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        queued, _ = services.sync_run_request(connection=conn, kind=RunKind.MANUAL)

    services.connection_disconnect(connection=conn, actor=owner)

    conn.refresh_from_db()
    assert (conn.status, conn.credentials, conn.next_sync_at) == (ConnectionStatus.DISCONNECTED, {}, None)
    assert raw_credentials(conn.pk) == ""
    assert fake.revoked == ["token-1"]  # the platform was told to forget the grant
    queued.refresh_from_db()
    assert (queued.status, queued.message) == (RunStatus.FAILED, STOPPED)
    assert queued.finished_at is not None
    done.refresh_from_db()
    assert (done.status, done.message) == (RunStatus.SUCCEEDED, "")
    assert len(facts(conn)) == 8  # history kept
    event = AuditEvent.unscoped_objects.get(verb="connection.disconnected")
    assert (event.organization_id, event.actor_id, event.target_id) == (org.pk, owner.pk, str(conn.pk))
    assert event.data == {"history_deleted": False, "rows_deleted": 0}
    with pytest.raises(SyncError):
        services.sync_run_request(connection=conn)


def test_disconnect_with_delete_history_deletes_only_that_connections_api_rows(
    org, owner, fake, django_capture_on_commit_callbacks
):
    conn = make_connection(org, fake)
    other = make_connection(org, fake, external_id="ACC-2")
    request_and_run(conn, django_capture_on_commit_callbacks)
    request_and_run(other, django_capture_on_commit_callbacks)
    imported = AdPerformanceDaily.unscoped_objects.create(
        organization=org,
        channel="test_channel",
        account_id="ACC-1",
        date=today_in("UTC") - timedelta(days=40),
        grain="campaign",
        campaign_id="IMPORTED",
        cost=Decimal("5.0000"),
        currency="USD",
        source="import",
        source_ref=conn.pk,  # a file import whose id happens to equal the connection's
    )
    StoreSalesDaily.unscoped_objects.create(
        organization=org,
        platform=PLATFORM,
        marketplace="US",
        date=today_in("UTC"),
        total_sales=Decimal("10.00"),
        currency="USD",
        source_ref=conn.pk,
    )

    services.connection_disconnect(connection=conn, actor=owner, delete_history=True)

    assert facts(conn) == []
    assert list(AdPerformanceDaily.unscoped_objects.filter(source_ref=conn.pk).values_list("pk", flat=True)) == [
        imported.pk
    ]
    assert len(facts(other)) == 8
    assert StoreSalesDaily.unscoped_objects.count() == 0
    event = AuditEvent.unscoped_objects.get(verb="connection.disconnected")
    assert event.data == {"history_deleted": True, "rows_deleted": 9}


def test_disconnect_goes_ahead_when_the_platform_cannot_be_told(org, owner, fake):
    conn = make_connection(org, fake)
    fake.fail("revoke", "503", times=3)

    services.connection_disconnect(connection=conn, actor=owner)

    conn.refresh_from_db()
    assert (conn.status, conn.credentials) == (ConnectionStatus.DISCONNECTED, {})
    assert fake.revoked == []
    assert len(fake.sleeps) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("platform_forgets_us", [True, False], ids=["revoked", "revoke-failed"])
def test_disconnect_during_a_run_is_not_undone_by_the_run(fake, platform_forgets_us):
    """The seller disconnects while a worker is between pages: the run's end must not bring the connection back."""
    org = OrganizationFactory()
    conn = make_connection(org, fake)
    today = today_in("UTC")
    run = SyncRun.unscoped_objects.create(
        organization=org, connection=conn, window_start=today - timedelta(days=3), window_end=today
    )
    fake.fail(2, "gate")
    if not platform_forgets_us:
        fake.fail("revoke", "503", times=3)
    outcome: dict[str, object] = {}

    def worker():
        try:
            with organization_scope(org):
                outcome["run"] = services.sync_run_execute(run_id=run.pk)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    assert fake.gate_reached.wait(10)
    services.connection_disconnect(connection=Connection.unscoped_objects.get(pk=conn.pk), actor=None)
    fake.gate.set()
    thread.join(10)

    assert "error" not in outcome, outcome.get("error")
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.FAILED, STOPPED)
    conn.refresh_from_db()
    assert (conn.status, conn.credentials, conn.last_error) == (ConnectionStatus.DISCONNECTED, {}, "")
    assert conn.synced_through is None
