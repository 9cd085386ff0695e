from datetime import timedelta

import pytest
from django.utils import timezone

from connectors import services
from connectors.models import RunStatus, SyncRun
from connectors.tests.factories import SyncRunFactory

pytestmark = pytest.mark.django_db


def test_a_run_waiting_out_retry_after_is_not_swept_as_lost():
    run = SyncRunFactory(status=RunStatus.QUEUED)
    assert services.sync_run_defer(run_id=run.pk, seconds=50 * 60) == 50 * 60
    later = timezone.now() + timedelta(minutes=30)
    SyncRun.unscoped_objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(minutes=30))
    assert services.sync_runs_sweep(now=later) == []
    # Once the wait is long over and nothing picked it up, the message is presumed lost and it is re-sent.
    much_later = timezone.now() + timedelta(hours=2)
    assert services.sync_runs_sweep(now=much_later) == [(run.organization_id, run.pk)]


def test_retry_delays_are_capped_at_an_hour():
    run = SyncRunFactory(status=RunStatus.QUEUED)
    assert services.sync_run_defer(run_id=run.pk, seconds=86400) == services.MAX_RETRY_DELAY
    run.refresh_from_db()
    assert timedelta(minutes=59) < run.not_before - timezone.now() <= timedelta(hours=1)
