import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from accounts.management.commands.seed_demo import DEMO_ORG_SLUG, DEMO_PASSWORD
from accounts.models import Membership, Organization, Role, User
from config.schedules import SCHEDULES

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_the_demo_owner_can_sign_in(client):
    call_command("seed_demo")
    call_command("seed_demo")
    org = Organization.objects.get(slug=DEMO_ORG_SLUG)
    roles = dict(Membership.unscoped_objects.filter(organization=org).values_list("user__email", "role"))
    assert roles == {"owner@demo.chuhai.test": Role.OWNER, "analyst@demo.chuhai.test": Role.ANALYST}
    assert Organization.objects.filter(slug=DEMO_ORG_SLUG).count() == 1
    assert User.objects.filter(email__endswith="chuhai.test").count() == 3
    response = client.post("/accounts/login/", {"login": "owner@demo.chuhai.test", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert client.get("/")["Location"] == f"/o/{DEMO_ORG_SLUG}/"


def test_sync_schedules_writes_code_schedules_and_removes_stale_ones():
    from django_celery_beat.models import IntervalSchedule

    every_hour = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(name="accounts.retired-job", task="accounts.tasks.gone", interval=every_hour)
    PeriodicTask.objects.create(name="someone-elses-job", task="other.task", interval=every_hour)
    call_command("sync_schedules")
    call_command("sync_schedules")
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert names == set(SCHEDULES) | {"someone-elses-job"}
    task = PeriodicTask.objects.get(name="accounts.expire-invitations")
    assert task.task == "accounts.tasks.fan_out_expire_invitations"
    assert task.expire_seconds == SCHEDULES["accounts.expire-invitations"]["expires"]
    assert task.crontab.timezone.key == "UTC"
