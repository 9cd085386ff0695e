"""A real Celery worker process, the configured broker (Redis on CI, the filesystem broker locally) and
the real database: the task is sent, a separate process runs it inside the organization's scope."""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import InvitationStatus
from accounts.tasks import expire_invitations
from accounts.tests.factories import InvitationFactory, OrganizationFactory
from config.celery_app import app

ROOT = Path(__file__).resolve().parents[2]


def database_url_for_this_test_database():
    s = connection.settings_dict
    host = quote(s["HOST"] or "", safe="") if (s["HOST"] or "").startswith("/") else s["HOST"]
    auth = s["USER"] + (f":{quote(s['PASSWORD'], safe='')}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_an_organization_task():
    org = OrganizationFactory()
    other = OrganizationFactory()
    overdue = InvitationFactory(organization=org, expires_at=timezone.now() - timedelta(hours=1))
    other_overdue = InvitationFactory(organization=other, expires_at=timezone.now() - timedelta(hours=1))
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for_this_test_database(),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--queues",
            queue,
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        expire_invitations.apply_async(kwargs={"organization_id": org.pk}, queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            overdue.refresh_from_db()
            if overdue.status == InvitationStatus.EXPIRED:
                break
            time.sleep(0.25)
    finally:
        app.conf.task_always_eager = eager
        worker.terminate()
        try:
            output = worker.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            worker.kill()
            output = worker.communicate()[0]
    assert overdue.status == InvitationStatus.EXPIRED, output[-4000:]
    assert "succeeded" in output and "accounts.tasks.expire_invitations" in output, output[-4000:]
    other_overdue.refresh_from_db()
    assert other_overdue.status == InvitationStatus.PENDING  # scoped: the other tenant was not touched
