"""The sync engine's writes: connections, run requests, claiming and finishing runs, sweeping stuck runs."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from importlib import import_module
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.services import record_audit
from connectors.backends import get_backend
from connectors.backends.base import DiscoveredAccount, SyncContext
from connectors.errors import AuthorizationError, SyncError, TransientError
from connectors.models import ACTIVE_RUN_STATUSES, Connection, ConnectionStatus, RunKind, RunStatus, SyncRun

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
STALE_RUNNING = timedelta(minutes=10)
STALE_QUEUED = timedelta(minutes=15)


def local_today(connection: Connection) -> date:
    return timezone.now().astimezone(ZoneInfo(connection.time_zone)).date()


@transaction.atomic
def connection_upsert(
    *,
    organization: Organization,
    platform: str,
    account: DiscoveredAccount,
    credentials: dict,
    user: User | None,
) -> Connection:
    """Create the connection for an authorized account, or refresh the credentials of an existing one."""
    backend = get_backend(platform)
    connection, created = Connection.unscoped_objects.select_for_update().get_or_create(
        organization=organization,
        platform=platform,
        external_id=account.external_id,
        marketplace=account.marketplace,
        defaults={
            "name": account.name,
            "region": account.region,
            "currency": account.currency,
            "time_zone": account.time_zone,
            "config": account.config,
            "lookback_days": backend.default_lookback_days,
            "connected_by": user,
            "credentials": credentials,
            "next_sync_at": timezone.now(),
        },
    )
    if not created:
        connection.credentials = credentials
        connection.status = ConnectionStatus.ACTIVE
        connection.last_error = ""
        connection.name, connection.currency, connection.time_zone = (
            account.name,
            account.currency,
            account.time_zone,
        )
        connection.save(
            update_fields=[
                "credentials",
                "status",
                "last_error",
                "name",
                "currency",
                "time_zone",
                "updated_at",
            ]
        )
    record_audit(
        organization=organization,
        actor=user,
        verb="connection.created" if created else "connection.reauthorized",
        target=connection,
        data={"platform": platform},
    )
    return connection


def connection_save_credentials(*, connection: Connection, credentials: dict) -> None:
    connection.credentials = credentials
    Connection.unscoped_objects.filter(pk=connection.pk).update(
        credentials=credentials,  # the field encrypts it on save; encrypting here too stored a token of a token
        updated_at=timezone.now(),
    )


@transaction.atomic
def connection_disconnect(*, connection: Connection, actor: User | None, delete_history: bool = False) -> None:
    """Revoke and forget the credentials. History stays unless the seller asks to delete it."""
    try:
        get_backend(connection.platform).revoke(credentials=connection.credentials)
    except SyncError as exc:  # the platform may already have forgotten us; we forget the secret regardless
        logger.info("revoke failed for connection %s: %s", connection.pk, exc)
    deleted = 0
    if delete_history:
        from analytics import rollups, sources
        from analytics.services import facts_delete_for_source

        sources.data_source_remove(organization=connection.organization, source="api", source_ref=connection.pk)
        deleted = facts_delete_for_source(organization=connection.organization, source_ref=connection.pk)
        rollups.rollups_refresh_soon(organization=connection.organization)
    SyncRun.unscoped_objects.filter(connection=connection, status__in=ACTIVE_RUN_STATUSES).update(
        status=RunStatus.FAILED,
        message=_("Stopped: the account was disconnected."),
        finished_at=timezone.now(),
    )
    connection.credentials = {}
    connection.status = ConnectionStatus.DISCONNECTED
    connection.next_sync_at = None
    connection.save(update_fields=["credentials", "status", "next_sync_at", "updated_at"])
    record_audit(
        organization=connection.organization,
        actor=actor,
        verb="connection.disconnected",
        target=connection,
        data={"history_deleted": delete_history, "rows_deleted": deleted},
    )


def run_window(connection: Connection, kind: str) -> tuple[date, date]:
    today = local_today(connection)
    if connection.synced_through is None or kind == RunKind.BACKFILL:
        start = today - timedelta(days=connection.backfill_days)
    else:
        start = min(connection.synced_through, today) - timedelta(days=connection.lookback_days)
    return start, today


def sync_run_request(
    *, connection: Connection, kind: str = RunKind.SCHEDULED, requested_by: User | None = None
) -> tuple[SyncRun, bool]:
    """Queue a run for ``connection`` unless one is already queued or running. Returns (run, created).

    The task is dispatched after commit; the database's partial unique index makes "one active run per
    connection" hold even when two requests race.
    """
    from connectors import tasks

    if connection.status == ConnectionStatus.DISCONNECTED:
        raise SyncError(_("This account is disconnected. Connect it again to sync."))
    if kind == RunKind.SCHEDULED and connection.synced_through is None:
        kind = RunKind.BACKFILL
    start, end = run_window(connection, kind)
    try:
        with transaction.atomic():
            run = SyncRun.unscoped_objects.create(
                organization_id=connection.organization_id,
                connection=connection,
                kind=kind,
                window_start=start,
                window_end=end,
                requested_by=requested_by,
            )
    except IntegrityError:
        existing = SyncRun.unscoped_objects.filter(connection=connection, status__in=ACTIVE_RUN_STATUSES).first()
        if existing is None:  # it finished between our insert and our read: try once more
            return sync_run_request(connection=connection, kind=kind, requested_by=requested_by)
        return existing, False
    Connection.unscoped_objects.filter(pk=connection.pk).update(
        next_sync_at=timezone.now() + timedelta(hours=connection.sync_every_hours)
    )
    transaction.on_commit(lambda: tasks.run_sync.delay(organization_id=connection.organization_id, run_id=run.pk))
    return run, True


def _claim(run_id: int) -> SyncRun | None:
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        updated_at=now,
        not_before=None,
    )
    if not claimed:
        return None
    return SyncRun.objects.select_related("connection", "connection__organization").get(pk=run_id)


def sync_run_execute(*, run_id: int) -> SyncRun | None:
    """Claim a queued run and carry it out. Returns the run; raises TransientError for the task to retry."""
    run = _claim(run_id)
    if run is None:
        return None  # already running elsewhere, finished, or never existed
    try:
        return _execute(run)
    finally:
        if run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
            _facts_loaded(run)
        elif run.status == RunStatus.FAILED and run.rows_written:  # stopped by a disconnect after some loads
            _facts_loaded(run, record_source=False)


def _execute(run: SyncRun) -> SyncRun:
    connection = run.connection
    backend = get_backend(connection.platform)
    ctx = SyncContext(run=run, backend=backend)
    try:
        backend.sync(ctx)
    except TransientError as exc:
        final = run.attempts >= MAX_ATTEMPTS
        if not _finish(run, RunStatus.FAILED if final else RunStatus.QUEUED, exc, partial=run.rows_written > 0):
            return run  # stopped while it ran (the account was disconnected): nothing to retry
        if final:
            _connection_failed(connection, exc)
            return run
        raise
    except AuthorizationError as exc:
        if _finish(run, RunStatus.FAILED, exc, partial=run.rows_written > 0):
            _connection_failed(connection, exc, status=ConnectionStatus.REAUTH)
        return run
    except SyncError as exc:
        if _finish(run, RunStatus.FAILED, exc, partial=run.rows_written > 0):
            _connection_failed(connection, exc)
        return run
    except Exception as exc:
        logger.exception("sync run %s failed", run.pk)
        error = _internal_error(detail=repr(exc))
        if _finish(run, RunStatus.FAILED, error, partial=run.rows_written > 0):
            _connection_failed(connection, error)
        return run
    if _finish(run, RunStatus.SUCCEEDED, None):
        now = timezone.now()
        Connection.unscoped_objects.filter(pk=connection.pk).exclude(status=ConnectionStatus.DISCONNECTED).update(
            synced_through=run.window_end,
            last_success_at=now,
            last_error="",
            status=ConnectionStatus.ACTIVE,
            updated_at=now,
        )
    return run


def _facts_loaded(run: SyncRun, *, record_source: bool = True) -> None:
    """Tell analytics what a finished (or partly loaded) run wrote: its days are dirty for the rollups, the
    source's row is updated, and a rollup refresh is queued after commit. Order backends load orders changed
    in the window, some placed before it: the earliest order day they touched (``earliest_day`` in the
    cursor) extends the dirty days back."""
    from analytics import rollups, sources

    connection, organization = run.connection, run.connection.organization
    backend = get_backend(connection.platform)
    start = run.window_start
    if earliest := (run.cursor or {}).get("earliest_day"):
        start = min(start, date.fromisoformat(earliest))
    with transaction.atomic():
        rollups.rollups_mark_dirty(organization=organization, start=start, end=run.window_end)
        rollups.rollups_refresh_soon(organization=organization)
        if not record_source:
            return
        sources.data_source_upsert(
            organization=organization,
            source="api",
            source_ref=connection.pk,
            platform=connection.platform,
            label=connection.name,
            channel=backend.channel or "",
            account_id=connection.external_id,  # what every backend writes as the facts' account_id
            marketplace=connection.marketplace,
            currency=connection.currency,
            time_zone=connection.time_zone,
            restatement_days=connection.lookback_days,
            attribution_window=_attribution_window(run, backend),
            data_through=run.window_end if run.status == RunStatus.SUCCEEDED else None,
            synced_at=run.finished_at or timezone.now(),
        )


def _attribution_window(run: SyncRun, backend) -> str:
    """The attribution window of the run's ad facts: from the platform's totals, the run's cursor (Google keeps
    the account's window there) or the backend's mapping; '' when the platform has none (stores)."""
    for totals in (run.platform_totals or {}).values():
        if isinstance(totals, dict) and totals.get("attribution_window"):
            return str(totals["attribution_window"])
    if (run.cursor or {}).get("attribution"):
        return str(run.cursor["attribution"])
    try:
        mapping = import_module(type(backend).__module__.rpartition(".")[0] + ".mapping")
    except ImportError:
        return ""
    return str(getattr(mapping, "ATTRIBUTION_WINDOW", "") if backend.channel else "")


def _internal_error(*, detail: str) -> SyncError:
    """Our fault, not the platform's: the seller gets a generic message, the detail stays in the logs."""
    return SyncError(
        _("Something went wrong on our side while syncing. We have been told; try again later."), detail=detail
    )


def _finish(run: SyncRun, status: str, error: SyncError | None, *, partial: bool = False) -> bool:
    """Record the run's outcome if it is still ours to finish. False (and ``run`` reloaded) when it was stopped
    meanwhile, e.g. failed by ``connection_disconnect``: the outcome of a stopped run must not overwrite that."""
    now = timezone.now()
    if status == RunStatus.FAILED and partial:
        status = RunStatus.PARTIAL
    run.status = status
    run.message = error.user_message if error else ""
    run.error_code = error.code if error else ""
    run.heartbeat_at = run.updated_at = now
    fields = [
        "status",
        "message",
        "error_code",
        "heartbeat_at",
        "rows_read",
        "rows_written",
        "cursor",
        "progress",
        "updated_at",
    ]
    if status != RunStatus.QUEUED:
        run.finished_at = now
        fields.append("finished_at")
        if status == RunStatus.SUCCEEDED:
            run.progress = 100
    finished = SyncRun.unscoped_objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        **{name: getattr(run, name) for name in fields}
    )
    if not finished:
        run.refresh_from_db()
    return bool(finished)


def _connection_failed(connection: Connection, error: SyncError, status=ConnectionStatus.ERROR) -> None:
    Connection.unscoped_objects.filter(pk=connection.pk).exclude(status=ConnectionStatus.DISCONNECTED).update(
        status=status, last_error=error.user_message, updated_at=timezone.now()
    )


MAX_RETRY_DELAY = 60 * 60


def sync_run_defer(*, run_id: int, seconds: float) -> float:
    """Record that a queued run waits ``seconds`` (capped at an hour) before its retry, so the sweeper
    does not mistake the wait for a lost message. Returns the capped delay."""
    seconds = max(1.0, min(float(seconds), MAX_RETRY_DELAY))
    SyncRun.unscoped_objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        not_before=timezone.now() + timedelta(seconds=seconds), updated_at=timezone.now()
    )
    return seconds


def connections_due(*, now=None) -> list[tuple[int, int]]:
    """(organization_id, connection_id) of every connection whose next sync is due (beat fan-out)."""
    now = now or timezone.now()
    return list(
        Connection.unscoped_objects.filter(
            status__in=[ConnectionStatus.ACTIVE, ConnectionStatus.ERROR], next_sync_at__lte=now
        ).values_list("organization_id", "pk")
    )


def sync_runs_sweep(*, now=None) -> list[tuple[int, int]]:
    """Runs whose worker died (running, no heartbeat) go back to queued; both those and queued runs whose
    message was lost are returned as (organization_id, run_id) to be dispatched again."""
    now = now or timezone.now()
    dead = Q(status=RunStatus.RUNNING, heartbeat_at__lt=now - STALE_RUNNING)
    lost = Q(status=RunStatus.QUEUED, updated_at__lt=now - STALE_QUEUED) & (
        Q(not_before__isnull=True) | Q(not_before__lt=now - STALE_QUEUED)
    )
    stale = SyncRun.unscoped_objects.filter(dead | lost)
    ids = list(stale.values_list("organization_id", "pk"))
    pks = [pk for _, pk in ids]
    # A run whose worker died on every one of its attempts (a page that runs it out of memory...) would be
    # resumed, and kill a worker, forever: after MAX_ATTEMPTS it fails like any other run that keeps failing.
    given_up = set()
    dead_for_good = SyncRun.unscoped_objects.filter(dead, pk__in=pks, attempts__gte=MAX_ATTEMPTS)
    for run in dead_for_good.select_related("connection"):
        logger.error("sync run %s: its worker stopped on each of its %s attempts; giving up", run.pk, run.attempts)
        error = _internal_error(detail="worker lost on every attempt")
        if _finish(run, RunStatus.FAILED, error, partial=run.rows_written > 0):
            _connection_failed(run.connection, error)
        given_up.add(run.pk)
    # The heartbeat is checked again in the UPDATE: a worker that checkpointed since the SELECT keeps its run.
    SyncRun.unscoped_objects.filter(dead, pk__in=pks).update(
        status=RunStatus.QUEUED, message=_("Resumed after the worker running it stopped."), updated_at=now
    )
    SyncRun.unscoped_objects.filter(pk__in=pks, status=RunStatus.QUEUED).update(updated_at=now)
    return [(organization_id, pk) for organization_id, pk in ids if pk not in given_up]
