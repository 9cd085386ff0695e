from celery import shared_task

from accounts.scoping import organization_task
from connectors import push, services
from connectors.errors import TransientError
from connectors.imports.tasks import run_file_import  # noqa: F401


@shared_task(name="connectors.tasks.run_sync", bind=True, max_retries=services.MAX_ATTEMPTS, acks_late=True)
def run_sync(self, *, organization_id: int, run_id: int):
    return _run_sync(self, organization_id=organization_id, run_id=run_id)


@organization_task
def _run_sync(task, *, organization, run_id: int):
    try:
        run = services.sync_run_execute(run_id=run_id)
    except TransientError as exc:
        wanted = exc.retry_after if exc.retry_after is not None else min(600, 30 * 2**task.request.retries)
        countdown = services.sync_run_defer(run_id=run_id, seconds=wanted)
        raise task.retry(
            countdown=countdown, exc=exc, kwargs={"organization_id": organization.pk, "run_id": run_id}
        ) from exc
    return run.status if run else None


@shared_task(name="connectors.tasks.fan_out_due_syncs")
def fan_out_due_syncs() -> int:
    """Beat entry: queue a run for every connection that is due."""
    count = 0
    for organization_id, connection_id in services.connections_due():
        request_sync.delay(organization_id=organization_id, connection_id=connection_id)
        count += 1
    return count


@shared_task(name="connectors.tasks.request_sync")
@organization_task
def request_sync(*, organization, connection_id: int) -> int | None:
    from connectors.models import Connection

    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None:
        return None
    run, _ = services.sync_run_request(connection=connection)
    return run.pk


@shared_task(name="connectors.tasks.sweep_sync_runs")
def sweep_sync_runs() -> int:
    """Beat entry: resume runs whose worker died and re-send runs whose message was lost."""
    ids = services.sync_runs_sweep()
    for organization_id, run_id in ids:
        run_sync.delay(organization_id=organization_id, run_id=run_id)
    return len(ids)


@shared_task(name="connectors.tasks.push_proposals", bind=True, max_retries=push.MAX_PUSH_ATTEMPTS, acks_late=True)
def push_proposals(self, *, organization_id: int):
    """Push the organization's approved proposals; a busy platform's share is retried later, with backoff."""
    return _push_proposals(self, organization_id=organization_id)


@organization_task
def _push_proposals(task, *, organization):
    try:
        return push.proposals_push(organization=organization)
    except TransientError as exc:
        countdown = push.retry_delay(retry_after=exc.retry_after, retries=task.request.retries)
        raise task.retry(countdown=countdown, exc=exc, kwargs={"organization_id": organization.pk}) from exc


@shared_task(name="connectors.tasks.push_proposals_due")
def push_proposals_due() -> int:
    """Beat entry: push again for organizations whose approved proposals lost their push (a lost message, a
    worker that died mid-push, retries given up)."""
    organization_ids = push.organizations_with_due_pushes()
    for organization_id in organization_ids:
        push_proposals.delay(organization_id=organization_id)
    return len(organization_ids)
