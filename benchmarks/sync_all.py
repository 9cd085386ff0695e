"""Benchmark: sync every platform's demo account for 90 days through its fake, and print rows/s per platform.

    .venv/bin/python benchmarks/sync_all.py [--days 90] [--platform NAME ...]

The fakes run in this process on FAKE_PLATFORMS_URL's port with the demo seller's standing grants, and with the fakes'
own quotas lifted (the SP-API fake's usage-plan token buckets). For each platform a throwaway organization connects the
first demo account through the real backend (discovery, then a backfill run through the Celery task, eager
here). Rate limits and report polling are raised to full speed (``rate``/``burst``/``poll_interval`` and
the ``sleep`` seam in settings.PLATFORMS) so the figures measure our pipeline, not the platforms' quotas;
the fakes generate their data in this same process, so their CPU is inside each figure. Everything written
is deleted afterwards. Last line: ``RESULT slowest_platform=<name> slowest_rows_per_s=<n>``.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from accounts.models import Organization  # noqa: E402
from accounts.scoping import organization_scope  # noqa: E402
from config.celery_app import app as celery_app  # noqa: E402
from config.testing import serve_wsgi  # noqa: E402
from connectors import services  # noqa: E402
from connectors.backends import available_platforms, get_backend  # noqa: E402
from connectors.fakes import PrefixDispatcher  # noqa: E402
from connectors.fakes.demo import demo_credentials  # noqa: E402
from connectors.models import RateLimitBucket, RunKind, RunStatus  # noqa: E402

FULL_SPEED = {
    "rate": 10_000,
    "burst": 10_000,
    "poll_interval": 0.01,
    "poll_max_interval": 0.05,
    "sleep": lambda seconds: None,
}


def sync_one(platform: str, days: int) -> tuple[int, float, str]:
    organization = Organization.objects.create(name=f"bench {platform}", slug=f"bench-{uuid.uuid4().hex[:10]}")
    try:
        with organization_scope(organization):
            credentials = demo_credentials()[platform]
            backend = get_backend(platform)
            account = backend.discover_accounts(credentials=credentials)[0]
            connection = services.connection_upsert(
                organization=organization, platform=platform, account=account, credentials=credentials, user=None
            )
            connection.backfill_days = days
            connection.save(update_fields=["backfill_days"])
            started = time.perf_counter()
            run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
            elapsed = time.perf_counter() - started
            run.refresh_from_db()
            status = run.status if run.status == RunStatus.SUCCEEDED else f"{run.status}: {run.message}"
            return run.rows_written, elapsed, status
    finally:
        Organization.objects.filter(pk=organization.pk).delete()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--platform", action="append", help="only these platforms (repeatable)")
    args = parser.parse_args()
    if not settings.FAKE_PLATFORMS_URL:
        sys.exit("FAKE_PLATFORMS_URL is not set: this benchmark runs against the local fakes.")
    parts = urlsplit(settings.FAKE_PLATFORMS_URL)
    with socket.socket() as probe:
        if probe.connect_ex((parts.hostname, parts.port)) == 0:
            sys.exit(f"{settings.FAKE_PLATFORMS_URL} is in use (stop `make run`): the benchmark serves its own fakes.")
    for conf in settings.PLATFORMS.values():
        conf.update(FULL_SPEED)
    dispatcher = PrefixDispatcher(settings.FAKE_PLATFORMS_URL, demo=True)
    for app in dispatcher.apps.values():
        if hasattr(app, "throttle"):
            app.throttle = False
    celery_app.conf.task_always_eager = True  # the run task executes inline when the request commits
    platforms = args.platform or available_platforms()
    results = {}
    settings.RATE_LIMIT_REDIS_URL = ""  # buckets in PostgreSQL, where they can be put back afterwards
    saved_buckets = list(RateLimitBucket.objects.all())
    with serve_wsgi(dispatcher, host=parts.hostname, port=parts.port):
        for platform in platforms:
            rows, elapsed, status = sync_one(platform, args.days)
            rate = rows / elapsed if elapsed else 0.0
            results[platform] = rate
            print(f"{platform:12} {rows:>9,} rows in {elapsed:7.2f} s = {rate:>9,.0f} rows/s  [{status}]", flush=True)
    # The demo accounts' buckets are shared with a running demo: put back what was there before the benchmark
    # drew on them at full speed (its no-op sleep leaves them deep in debt).
    RateLimitBucket.objects.all().delete()
    RateLimitBucket.objects.bulk_create(saved_buckets)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")
    slowest = min(results, key=results.get)
    print(f"RESULT slowest_platform={slowest} slowest_rows_per_s={results[slowest]:.0f}")


if __name__ == "__main__":
    main()
