"""What a sync run, a file import and a disconnect tell analytics: dirty rollup days, the data source row, and
a rollup refresh after commit. Real HTTP to the engine's test platform, eager Celery, nothing of ours mocked."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.db.models import Sum
from django.utils import timezone

from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory
from analytics.models import AdPerformanceDaily, AdRollupDaily, DataSource, RollupFill
from config.testing import serve_wsgi
from connectors import services
from connectors.backends import REGISTRY
from connectors.imports import service as imports
from connectors.models import Connection, FileImport, RunStatus, SyncRun
from connectors.tests.engine_backend import PLATFORM, FakeReportAPI

BACKEND = "connectors.tests.engine_backend.EngineTestBackend"
FILES = Path(__file__).parent / "files"

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings, monkeypatch):
    api = FakeReportAPI()
    monkeypatch.setitem(REGISTRY, PLATFORM, BACKEND)
    with serve_wsgi(api) as url:
        settings.PLATFORMS = {**settings.PLATFORMS, PLATFORM: {"api_url": url, "sleep": api.sleep, "retries": 2}}
        try:
            yield api
        finally:
            api.gate.set()


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


def rollup_rows(org):
    rows = AdRollupDaily.unscoped_objects.filter(organization=org).order_by("date", "campaign_id")
    return list(
        rows.values_list("date", "channel", "account_id", "campaign_id", "currency", "impressions", "cost", "sales")
    )


def expected_rows(fake, start, end):
    return [
        (
            date.fromisoformat(r["date"]),
            "test_channel",
            "ACC-1",
            r["campaign_id"],
            "USD",
            r["impressions"],
            Decimal(r["cost"]),
            Decimal(r["sales"]),
        )
        for r in sorted(fake.rows(start, end), key=lambda r: (r["date"], r["campaign_id"]))
    ]


def test_a_successful_run_refreshes_the_rollups_and_records_its_source(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake)
    today = datetime.now(ZoneInfo("UTC")).date()

    with django_capture_on_commit_callbacks(execute=True):
        run, _ = services.sync_run_request(connection=connection)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert (run.window_start, run.window_end) == (today - timedelta(days=3), today)
    assert rollup_rows(org) == expected_rows(fake, run.window_start, run.window_end)
    assert len(rollup_rows(org)) == 8  # 4 days x 2 campaigns
    fill = RollupFill.unscoped_objects.get(organization=org)
    assert (fill.dirty_from, fill.dirty_to, fill.version) == (None, None, 1)
    source = DataSource.unscoped_objects.get(organization=org)
    assert (source.source, source.source_ref, source.platform, source.channel, source.label) == (
        "api",
        connection.pk,
        PLATFORM,
        "test_channel",
        "Test account",
    )
    assert (source.account_id, source.currency, source.time_zone, source.restatement_days) == ("ACC-1", "USD", "UTC", 3)
    assert (source.data_through, source.synced_at) == (today, run.finished_at)


def test_a_run_that_fails_part_way_marks_what_it_loaded(org, fake, django_capture_on_commit_callbacks):
    connection = make_connection(org, fake)
    fake.fail(2, "400", "bad request")  # page 1 loads, page 2 is refused: the run is partly loaded

    with django_capture_on_commit_callbacks(execute=True):
        run, _ = services.sync_run_request(connection=connection)

    run.refresh_from_db()
    assert run.status == RunStatus.PARTIAL
    loaded = AdPerformanceDaily.unscoped_objects.filter(organization=org)
    assert rollup_rows(org) and len(rollup_rows(org)) == loaded.count() == 3  # one page of three rows
    assert (
        AdRollupDaily.unscoped_objects.filter(organization=org).aggregate(s=Sum("cost"))["s"]
        == loaded.aggregate(s=Sum("cost"))["s"]
    )
    source = DataSource.unscoped_objects.get(organization=org)
    assert source.data_through is None  # a partial run does not say the data reaches its window's end


def test_disconnecting_with_history_deleted_clears_the_rollups_and_the_source(
    org, fake, django_capture_on_commit_callbacks
):
    connection = make_connection(org, fake)
    with django_capture_on_commit_callbacks(execute=True):
        services.sync_run_request(connection=connection)
    assert rollup_rows(org)

    with django_capture_on_commit_callbacks(execute=True):
        services.connection_disconnect(connection=connection, actor=None, delete_history=True)

    assert rollup_rows(org) == []
    assert not DataSource.unscoped_objects.filter(organization=org).exists()
    assert RollupFill.unscoped_objects.get(organization=org).dirty_from is None


def test_a_file_import_refreshes_the_rollups_and_is_a_source(
    org, owner, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    uploaded = SimpleUploadedFile("search-terms.csv", (FILES / "amazon_sp_search_term_daily.csv").read_bytes())

    with django_capture_on_commit_callbacks(execute=True):
        created = imports.file_import_create(organization=org, uploaded_file=uploaded, user=owner)

    file_import = FileImport.unscoped_objects.get(pk=created.pk)
    assert file_import.status == RunStatus.SUCCEEDED
    rows = AdRollupDaily.unscoped_objects.filter(organization=org)
    # Search-term rows only: the rollup sums them per campaign and day (the totals of the whole file).
    assert rows.aggregate(cost=Sum("cost"), impressions=Sum("impressions"), sales=Sum("sales")) == {
        "cost": Decimal("75.4600"),
        "impressions": 5304,
        "sales": Decimal("2439.5000"),
    }
    assert sorted(rows.values_list("date", "account_id", "campaign_id")) == [
        (date(2026, 6, 3), "import:USD", "name:SP - Garlic Press - Auto"),
        (date(2026, 6, 3), "import:USD", "name:SP - Garlic Press - Exact"),
        (date(2026, 6, 4), "import:USD", "name:SP - Garlic Press - Auto"),
        (date(2026, 6, 4), "import:USD", "name:SP - Garlic Press - Exact"),
    ]
    source = DataSource.unscoped_objects.get(organization=org)
    assert (source.source, source.source_ref, source.platform, source.channel, source.label) == (
        "import",
        file_import.pk,
        "amazon_ads",
        "amazon_ads",
        "search-terms.csv",
    )
    assert (source.account_id, source.currency, source.restatement_days, source.attribution_window) == (
        "import:USD",
        "USD",
        0,
        "7d",
    )
    assert source.data_through == date(2026, 6, 4)


@pytest.mark.django_db(transaction=True)
def test_a_run_stopped_by_a_disconnect_still_marks_the_days_it_loaded(fake):
    """A page is loaded, then the seller disconnects (keeping history) while the worker waits for the next: the
    rows loaded stay and must count in the rollups; the source is not recorded (the run never finished)."""
    org = OrganizationFactory()
    conn = make_connection(org, fake)
    today = datetime.now(ZoneInfo("UTC")).date()
    run = SyncRun.unscoped_objects.create(
        organization=org, connection=conn, window_start=today - timedelta(days=3), window_end=today
    )
    fake.fail(2, "gate")
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
    assert (run.status, run.rows_written) == (RunStatus.FAILED, 3)
    first_page = sorted(fake.rows(run.window_start, run.window_end), key=lambda r: r["date"])[:3]
    assert [(r[0], r[3], r[6]) for r in rollup_rows(org)] == [
        (date.fromisoformat(r["date"]), r["campaign_id"], Decimal(r["cost"])) for r in first_page
    ]
    assert not DataSource.unscoped_objects.filter(organization=org).exists()
