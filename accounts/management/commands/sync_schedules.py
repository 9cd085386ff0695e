"""Write the schedules defined in ``config.schedules`` to django-celery-beat's tables.

Entries we own are created or updated; entries we once owned and no longer define are deleted.
"""

import json

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from config.schedules import SCHEDULES

OWNED_PREFIXES = ("accounts.", "connectors.", "campaigns.", "analytics.", "compliance.", "billing.")


class Command(BaseCommand):
    help = "Create, update and delete django-celery-beat entries to match config.schedules."

    @transaction.atomic
    def handle(self, *args, **options):
        for name, spec in SCHEDULES.items():
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=spec["crontab"].get("minute", "*"),
                hour=spec["crontab"].get("hour", "*"),
                day_of_week=spec["crontab"].get("day_of_week", "*"),
                day_of_month=spec["crontab"].get("day_of_month", "*"),
                month_of_year=spec["crontab"].get("month_of_year", "*"),
                timezone="UTC",
            )
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={
                    "task": spec["task"],
                    "crontab": crontab,
                    "interval": None,
                    "kwargs": json.dumps(spec.get("kwargs", {})),
                    "expire_seconds": spec["expires"],
                    "description": spec.get("description", ""),
                    "enabled": True,
                },
            )
        stale = PeriodicTask.objects.filter(name__regex=r"^(" + "|".join(OWNED_PREFIXES).replace(".", r"\.") + ")")
        removed, _ = stale.exclude(name__in=SCHEDULES).delete()
        self.stdout.write(f"{len(SCHEDULES)} schedules in place, {removed} stale removed.")
