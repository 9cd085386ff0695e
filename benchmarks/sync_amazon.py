"""Benchmark: a real Amazon Ads sync of one profile over 90 days, about half a million fact rows.

    .venv/bin/python benchmarks/sync_amazon.py [--days 90] [--volume 2.0] [--rate 1000]

The fake Amazon Ads server runs in this process (``serve_wsgi``), sized by the demo dataset's parameters.
A throwaway organization is connected through the real consent, code exchange and profile discovery; the
sync is requested with ``connectors.services.sync_run_request`` and runs through the Celery task (eager
here), i.e. entity lists, thirteen v3 reports (twelve daily, one summary for reconciliation) requested,
polled, streamed, parsed, mapped and COPY-upserted.
Everything it wrote is deleted afterwards. The rate limiter is raised (``--rate``) so the figure measures
our pipeline, not Amazon's 2 requests per second; report polling waits 10 ms.

Prints rows/s, elapsed and peak RSS; the last line is ``RESULT sync_rows_per_s=<n> rows=<n> peak_rss_mb=<m>``.
Note the fake generates and gzips every report in this same process, so its CPU is inside the figure.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django import db  # noqa: E402
from django.conf import settings  # noqa: E402

from accounts.models import Organization  # noqa: E402
from analytics.models import AdPerformanceDaily  # noqa: E402
from config.celery_app import app as celery_app  # noqa: E402
from config.testing import serve_wsgi  # noqa: E402
from connectors import services  # noqa: E402
from connectors.backends import get_backend  # noqa: E402
from connectors.backends.amazon_ads.demo_data import Dataset  # noqa: E402
from connectors.backends.amazon_ads.fake import CLIENTS, make_app  # noqa: E402
from connectors.models import RateLimitBucket, RunKind, SyncRun  # noqa: E402

REDIRECT = "https://bench.chuhai.test/callback/"


def connect(backend, organization: Organization):
    """Consent (as a browser would), exchange the code, discover profiles, connect the US one."""
    page = httpx.get(backend.authorization_url(state="bench", redirect_uri=REDIRECT))
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    location = httpx.post(action, data={**fields, "decision": "allow"}).headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    credentials = backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    (account,) = backend.discover_accounts(credentials=credentials)
    return services.connection_upsert(
        organization=organization, platform="amazon_ads", account=account, credentials=credentials, user=None
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--volume", type=float, default=2.0, help="traffic multiplier of the fake's dataset")
    parser.add_argument("--campaigns", type=int, default=40)
    parser.add_argument("--rate", type=float, default=1000.0, help="rate-limit requests per second")
    args = parser.parse_args()

    dataset = Dataset(
        campaigns=args.campaigns,
        ad_groups_per_campaign=6,
        keywords_per_ad_group=8,
        products_per_ad_group=3,
        volume=args.volume,
        profiles=("US",),
    )
    app = make_app(dataset=dataset)
    celery_app.conf.task_always_eager = True  # run the task here, in this process
    client_id, client_secret = next(iter(CLIENTS.items()))
    buckets_before = list(RateLimitBucket.objects.values_list("key", flat=True))
    organization = Organization.objects.create(name="Benchmark seller", slug=f"bench-{uuid.uuid4().hex[:12]}")
    try:
        with serve_wsgi(app) as url:
            app.public_url = url
            settings.PLATFORMS = {
                **settings.PLATFORMS,
                "amazon_ads": {
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "auth_url": f"{url}/ap/oa",
                    "token_url": f"{url}/auth/o2/token",
                    "api_urls": {"NA": f"{url}/api", "EU": f"{url}/api", "FE": f"{url}/api"},
                    "rate": args.rate,
                    "burst": args.rate,
                    "poll_interval": 0.01,
                },
            }
            backend = get_backend("amazon_ads")
            connection = connect(backend, organization)
            connection.backfill_days = args.days - 1  # the window includes today: N days in all
            connection.save(update_fields=["backfill_days"])

            upserts = [0.0]

            def time_upserts(execute, sql, params, many, context):
                started = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    if "ON CONFLICT" in sql:
                        upserts[0] += time.perf_counter() - started

            began_cpu, began = time.process_time(), time.perf_counter()
            with db.connection.execute_wrapper(time_upserts):
                run, _ = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)
            elapsed = time.perf_counter() - began
            cpu = time.process_time() - began_cpu
            run = SyncRun.unscoped_objects.get(pk=run.pk)
            if run.status != "succeeded":
                raise SystemExit(f"sync ended {run.status}: {run.message}")
        rows = run.rows_written
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        per_grain = dict(
            AdPerformanceDaily.unscoped_objects.filter(organization=organization)
            .values_list("grain")
            .annotate(n=db.models.Count("id"))
        )
        print(f"window: {run.window_start} .. {run.window_end} ({args.days} days), one profile (US)")
        print(f"rows loaded by grain: {per_grain}")
        print(f"reports requested: {len(app.reports)}; HTTP calls: {len(app.requests)}")
        ours = cpu - app.render_cpu_seconds
        print(f"elapsed: {elapsed:.2f} s; process CPU {cpu:.2f} s, of which the fake generating reports")
        print(f"  {app.render_cpu_seconds:.2f} s and the sync (HTTP, parse, map, COPY) {ours:.2f} s")
        print(f"  PostgreSQL INSERT ... ON CONFLICT from the COPY staging tables: {upserts[0]:.2f} s")
        print(f"rows/s: {rows / elapsed:,.0f} (sync CPU alone: {rows / ours:,.0f} rows per CPU-second)")
        print(f"peak RSS: {peak_mb:.0f} MB")
        print(f"RESULT sync_rows_per_s={rows / elapsed:.0f} rows={rows} peak_rss_mb={peak_mb:.0f}")
    finally:
        AdPerformanceDaily.unscoped_objects.filter(organization=organization).delete()
        RateLimitBucket.objects.exclude(key__in=buckets_before).delete()
        organization.delete()


if __name__ == "__main__":
    main()
