"""Rebuild an organization's rollups from all its facts, now, in this process.

For data loaded before rollups existed, after a change to the rollup logic, and for benchmarks:
``manage.py refresh_rollups --org SLUG`` or ``--all``. Marks every day the facts cover dirty, then refreshes
chunk by chunk (an interrupted run leaves the rest dirty; the beat sweep or a re-run finishes it).
"""

import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.scoping import organization_scope
from analytics import rollups


class Command(BaseCommand):
    help = "Mark all fact days of an organization (or of all) dirty and refresh their rollups synchronously."

    def add_arguments(self, parser):
        parser.add_argument("--org", help="Slug of the organization.")
        parser.add_argument("--all", action="store_true", help="Every organization.")
        parser.add_argument("--chunk-days", type=int, default=rollups.DEFAULT_CHUNK_DAYS)

    def handle(self, *args, org=None, all=False, chunk_days=rollups.DEFAULT_CHUNK_DAYS, **options):  # noqa: A002
        if bool(org) == bool(all):
            raise CommandError("Give either --org SLUG or --all.")
        organizations = Organization.objects.order_by("pk")
        if org:
            organizations = organizations.filter(slug=org)
            if not organizations.exists():
                raise CommandError(f"No organization with slug {org!r}.")
        for organization in organizations:
            with organization_scope(organization):
                started = time.perf_counter()
                span = rollups.rollups_mark_all_dirty(organization=organization)
                days = rollups.rollups_refresh(organization=organization, chunk_days=chunk_days)
                seconds = time.perf_counter() - started
            covered = f"{span[0]} to {span[1]}" if span else "no facts"
            self.stdout.write(f"{organization.slug}: {days} days refreshed ({covered}) in {seconds:.2f} s")
