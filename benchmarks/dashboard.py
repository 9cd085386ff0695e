"""Benchmark: the overview dashboard of an organization with 2,000,000 fact rows, against a static floor.

    .venv/bin/python benchmarks/dashboard.py [--rows 2000000] [--requests 50] [--keep]

Seeds a throwaway organization with a year of ad facts (campaign and search-term grains across Amazon Ads
US/DE/JP, Google Ads, Meta and TikTok Ads in USD, EUR and JPY; about 200 campaigns) and daily store sales,
streamed into PostgreSQL with COPY, then builds its rollups with the real refresh. It then measures with the
Django test client, logged in as the owner:

(a) the overview page with all its panels: the page request plus each lazy panel request it names
    (``hx-trigger="load"``), summed per view, three ways:
    - repeated views, as the product serves them (a member opening the dashboard again and again);
    - the first view after a sync: before each view a day is refreshed through the real refresh task, which
      renders the default view's panels into the cache for the next visitor;
    - uncached: the cache cleared before each view, so every panel is computed from the rollups;
(b) the floor: a view that returns a static page of the same byte size with no queries, in the same run,
    requested by the same signed-in client through the same middleware (so both pay for the session and the
    signed-in user, which come from the cache); an anonymous floor is printed too.

Prints p50/p95 of each, the queries per view for the big organization and for a small one (the count must
not grow with the data), and ends with
``RESULT overview_p95_ms=<n> floor_p95_ms=<n> ratio=<r> queries=<n>`` for repeated views, followed on the
same line by the first-after-sync and uncached figures.
Everything written is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection, connections, reset_queries  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.urls import include, path, reverse  # noqa: E402

from accounts.models import Membership, Organization, Role, User  # noqa: E402
from accounts.scoping import organization_scope  # noqa: E402
from analytics import rollups  # noqa: E402
from analytics.models import FxRate  # noqa: E402

ACCOUNTS = [  # channel, account, marketplace, currency, campaigns, publisher split
    ("amazon_ads", "AMZ-US", "US", "USD", 60, False),
    ("amazon_ads", "AMZ-DE", "DE", "EUR", 30, False),
    ("amazon_ads", "AMZ-JP", "JP", "JPY", 20, False),
    ("google_ads", "GADS-US", "US", "USD", 40, False),
    ("meta", "META-US", "US", "USD", 30, True),
    ("tiktok_ads", "TT-US", "US", "USD", 20, False),
]
STORES = [("amazon_sp", "US", "USD"), ("amazon_sp", "DE", "EUR"), ("amazon_sp", "JP", "JPY"), ("shopify", "US", "USD")]
SCALE = {"USD": 1.0, "EUR": 0.9, "JPY": 150.0}
FACT_COLUMNS = [
    "organization_id", "channel", "account_id", "marketplace", "date", "grain", "campaign_id", "campaign_name",
    "ad_group_id", "ad_group_name", "target_id", "target_text", "match_type", "search_term", "product_id",
    "impressions", "clicks", "cost", "orders", "units", "sales", "currency", "attribution_window", "source",
    "source_ref", "created_at", "updated_at",
]  # fmt: skip


def copy_frame(table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    columns = ", ".join(frame.columns)
    statement = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv, NULL '\\N')"  # '' stays an empty string
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def seed_facts(organization: Organization, rows: int, end: date, seed: int = 11) -> int:
    """A year of campaign-grain rows plus search-term rows filling up to ``rows``."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(end=end, periods=365, freq="D").date
    campaigns = []
    for channel, account, marketplace, currency, count, split in ACCOUNTS:
        for number in range(count):
            for publisher in ("facebook", "instagram") if split else ("",):
                campaigns.append((channel, account, marketplace, currency, f"{account}-C{number:03d}", publisher))
    campaign_rows = len(campaigns) * len(days)
    terms_per_campaign_day = max(1, (rows - campaign_rows) // (len(campaigns) * len(days)))
    written = 0
    now = pd.Timestamp.now(tz="UTC").isoformat()
    for grain, per in (("campaign", 1), ("search_term", terms_per_campaign_day)):
        for index, (channel, account, marketplace, currency, campaign_id, publisher) in enumerate(campaigns):
            n = len(days) * per
            if grain == "search_term" and written + n > rows:
                n = max(0, rows - written)
            if n == 0:
                continue
            impressions = rng.poisson(400 if grain == "campaign" else 30, n)
            clicks = rng.binomial(impressions, 0.03)
            orders = rng.binomial(clicks, 0.1)
            cpc = rng.uniform(0.3, 1.8, n) * SCALE[currency]
            price = rng.choice([19.99, 29.99, 49.0], n) * SCALE[currency]
            frame = pd.DataFrame(
                {
                    "organization_id": organization.pk,
                    "channel": channel,
                    "account_id": account,
                    "marketplace": marketplace,
                    "date": np.repeat(days, per)[:n],
                    "grain": grain,
                    "campaign_id": campaign_id,
                    "campaign_name": f"{channel} {campaign_id}",
                    "ad_group_id": "",
                    "ad_group_name": "",
                    "target_id": "",
                    "target_text": "",
                    "match_type": publisher,
                    "search_term": (
                        [f"{publisher}:{marketplace}"] * n
                        if grain == "campaign" and publisher
                        else (
                            np.tile([f"term {index} {k}" for k in range(per)], len(days))[:n]
                            if grain != "campaign"
                            else ""
                        )
                    ),
                    "product_id": "",
                    "impressions": impressions,
                    "clicks": clicks,
                    "cost": np.round(clicks * cpc, 4),
                    "orders": orders,
                    "units": orders,
                    "sales": np.round(orders * price, 4),
                    "currency": currency,
                    "attribution_window": "7d",
                    "source": "api",
                    "source_ref": 900_000 + index,
                    "created_at": now,
                    "updated_at": now,
                },
                columns=FACT_COLUMNS,
            )
            copy_frame("analytics_adperformancedaily", frame)
            written += n
    sales = []
    for platform, marketplace, currency in STORES:
        orders = rng.poisson(120, len(days))
        sales.append(
            pd.DataFrame(
                {
                    "organization_id": organization.pk,
                    "platform": platform,
                    "marketplace": marketplace,
                    "date": days,
                    "sku": "",
                    "orders": orders,
                    "units": orders,
                    "total_sales": np.round(orders * 31.5 * SCALE[currency], 4),
                    "currency": currency,
                    "source_ref": 990_000,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        )
    copy_frame("analytics_storesalesdaily", pd.concat(sales))
    return written


def ensure_fx_rates(start: date, end: date) -> None:
    """Rates for the year from the fake ECB when the database has none for it (a fresh database)."""
    if FxRate.objects.filter(quote="USD", date__lte=start + timedelta(days=7)).exists():
        return
    from analytics.fake_ecb import FakeEcb
    from analytics.fx.services import fx_rates_refresh
    from config.testing import serve_wsgi

    with serve_wsgi(FakeEcb()) as url, override_settings(ECB_FX_URL=url + "/"):
        fx_rates_refresh(days="hist")


def make_org(name: str) -> tuple[Organization, User]:
    suffix = uuid.uuid4().hex[:8]
    organization = Organization.objects.create(name=name, slug=f"bench-{suffix}", home_currency="CNY")
    user = User.objects.create_user(email=f"bench-{suffix}@example.test", password=None)
    Membership.unscoped_objects.create(organization=organization, user=user, role=Role.OWNER)
    return organization, user


def build_rollups(organization: Organization, start: date, end: date) -> float:
    started = time.perf_counter()
    with organization_scope(organization):
        rollups.rollups_mark_dirty(organization=organization, start=start, end=end)
        rollups.rollups_refresh(organization=organization)
    return time.perf_counter() - started


PANEL = re.compile(r'hx-get="([^"]+)"[^>]*hx-trigger="load')


def view_once(client: Client, url: str) -> tuple[float, int, int]:
    """(ms, bytes, queries) for the page plus every lazy panel it names."""
    total_bytes = 0
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        html = response.content.decode()
        total_bytes += len(response.content)
        for panel in PANEL.findall(html):
            part = client.get(panel.replace("&amp;", "&"), HTTP_HX_REQUEST="true")
            assert part.status_code == 200, (panel, part.status_code)
            total_bytes += len(part.content)
    return (time.perf_counter() - started) * 1000, total_bytes, len(queries)


def measure(client: Client, url: str, requests: int, *, before=None) -> tuple[list[float], int, int]:
    """Timings of ``requests`` views, calling ``before()`` (untimed) ahead of each; the size and queries of the
    last view."""
    timings, size, count = [], 0, 0
    view_once(client, url)  # warm up imports, connections and the CSRF cookie
    for _ in range(requests):
        if before is not None:
            before()
        ms, size, count = view_once(client, url)
        timings.append(ms)
    return timings, size, count


def after_sync(organization: Organization):
    """A sync's refresh of yesterday's rollups through the real task (which pre-renders the default view)."""
    from analytics.tasks import refresh_rollups

    day = datetime.now(UTC).date() - timedelta(days=1)

    def refresh():
        with organization_scope(organization):
            rollups.rollups_mark_dirty(organization=organization, start=day, end=day)
        refresh_rollups(organization_id=organization.pk)

    return refresh


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


FLOOR_BODY = {"body": b""}


def floor_view(request):
    return HttpResponse(FLOOR_BODY["body"], content_type="text/html; charset=utf-8")


urlpatterns = [path("__floor__/", floor_view), path("", include(settings.ROOT_URLCONF))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the seeded organizations")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.DEBUG = False
    settings.DASHBOARD_PRERENDER = True
    end = datetime.now(UTC).date()
    start = end - timedelta(days=364)
    ensure_fx_rates(start, end)

    big, big_user = make_org("Bench dashboard (big)")
    small, small_user = make_org("Bench dashboard (small)")
    try:
        started = time.perf_counter()
        rows = seed_facts(big, args.rows, end)
        print(f"seeded {rows:,} fact rows in {time.perf_counter() - started:.1f} s", flush=True)
        seed_facts(small, 5_000, end)
        print(f"rollup refresh, a year: {build_rollups(big, start, end):.1f} s", flush=True)
        build_rollups(small, start, end)
        connections.close_all()

        with override_settings(ROOT_URLCONF=__name__):
            results = {}
            for label, organization, user in (("big", big, big_user), ("small", small, small_user)):
                client = Client()
                client.force_login(user)
                url = reverse("analytics_overview", kwargs={"org_slug": organization.slug})
                n = args.requests if label == "big" else 3
                cold, size, cold_queries = measure(client, url, n, before=cache.clear)
                first, _size, first_queries = measure(client, url, n, before=after_sync(organization))
                repeat, _size, queries = measure(client, url, n)
                results[label] = (repeat, first, cold, size, queries, first_queries, cold_queries)
            repeat, first, cold, size, queries, first_queries, cold_queries = results["big"]
            FLOOR_BODY["body"] = b"x" * size
            floor_client = Client()
            floor_client.force_login(big_user)
            floor, _floor_size, floor_queries = measure(floor_client, "/__floor__/", args.requests)
            anonymous_floor, _size, _queries = measure(Client(), "/__floor__/", args.requests)
        reset_queries()
        print(f"overview (page + panels, {size:,} bytes):")
        for name, timings, count in (
            ("repeated views", repeat, queries),
            ("first view after a sync", first, first_queries),
            ("uncached (cache cleared)", cold, cold_queries),
        ):
            print(f"  {name}: p50 {p(timings, 50):.1f} ms, p95 {p(timings, 95):.1f} ms, {count} queries")
        print(
            f"floor ({size:,} static bytes, {floor_queries} queries): "
            f"p50 {p(floor, 50):.1f} ms, p95 {p(floor, 95):.1f} ms; anonymous: p95 {p(anonymous_floor, 95):.1f} ms"
        )
        small_counts = results["small"]
        print(
            f"queries per view with {rows:,} fact rows / with 5,000: repeated {queries}/{small_counts[4]}, "
            f"first after a sync {first_queries}/{small_counts[5]}, uncached {cold_queries}/{small_counts[6]}"
        )
        floor_p95 = p(floor, 95)
        print(
            f"RESULT overview_p95_ms={p(repeat, 95):.1f} floor_p95_ms={floor_p95:.2f} "
            f"ratio={p(repeat, 95) / floor_p95:.2f} queries={queries} "
            f"first_after_sync_p95_ms={p(first, 95):.1f} first_ratio={p(first, 95) / floor_p95:.2f} "
            f"uncached_p95_ms={p(cold, 95):.0f} uncached_queries={cold_queries}"
        )
    finally:
        if not args.keep:
            for organization in (big, small):
                users = User.objects.filter(memberships__organization=organization)
                with connection.cursor() as cursor:
                    for table in ("analytics_adperformancedaily", "analytics_storesalesdaily"):
                        cursor.execute(f"DELETE FROM {table} WHERE organization_id = %s", [organization.pk])
                user_ids = list(users.values_list("pk", flat=True))
                organization.delete()
                User.objects.filter(pk__in=user_ids).delete()


if __name__ == "__main__":
    main()
