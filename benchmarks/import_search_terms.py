#!/usr/bin/env python
"""Import a 1,000,000-row Amazon SP search term report (daily, 30 days) through the real path, and compare it
with loading the same rows straight through the COPY upsert.

    .venv/bin/python benchmarks/import_search_terms.py [rows]

1. Writes a realistic daily search-term export (``Date``, trailing-space and ``ACoS`` headers, ``$1,234.56``
   money, ``"1,204"`` counts, ``*`` terms, ``-`` match types; many campaigns, ad groups and terms) to a temp dir.
2. Imports it as a seller would, minus Celery: ``file_import_create`` (store + hash) then ``file_import_run``
   (detect, validate every row, load in one transaction). Measures rows/s and the process's peak RSS.
3. Builds the same ``AdFact`` rows in memory (not timed), deletes the imported facts (VACUUM so the table is
   as before) and times ``analytics.services.ad_performance_upsert`` alone: the floor any loader pays.
4. Deletes the benchmark organizations, their rows and the files.

Runs two rounds by default (``[rows] [rounds]``) and reports the best rate of each path: the database is shared,
so one run is noisy. Last line: ``RESULT import_rows_per_s=<n> copy_rows_per_s=<n> ratio=<r> peak_rss_mb=<m>``.
"""

from __future__ import annotations

import csv
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.files import File  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.models import Organization  # noqa: E402
from accounts.scoping import organization_scope  # noqa: E402
from analytics.models import AdPerformanceDaily  # noqa: E402
from analytics.services import ad_performance_upsert  # noqa: E402
from connectors.imports import pipeline, service  # noqa: E402
from connectors.models import RunStatus  # noqa: E402

DAYS = 30
CAMPAIGNS = 240
AD_GROUPS_PER_CAMPAIGN = 6
HEADER = [
    "Date", "Portfolio name", "Currency", "Campaign Name", "Ad Group Name", "Targeting", "Match Type",
    "Customer Search Term", "Impressions", "Clicks", "Click-Thru Rate (CTR)", "Cost Per Click (CPC)", "Spend",
    "7 Day Total Sales ", "Total Advertising Cost of Sales (ACoS) ", "Total Return on Advertising Spend (RoAS)",
    "7 Day Total Orders (#)", "7 Day Total Units (#)", "7 Day Conversion Rate",
]  # fmt: skip
_SENTENCE = (
    "garlic press stainless steel kitchen tool crusher mincer peeler ginger set heavy duty easy clean dishwasher "
    "safe professional rocker chopper slicer grater zester lemon squeezer juicer manual handheld premium gift "
    "ergonomic silicone nonstick utensil cooking gadget best rated cheap small large black red blue white"
)
WORDS = _SENTENCE.split()
AUTO_TARGETS = ["close-match", "loose-match", "substitutes", "complements"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def money(value: float) -> str:
    return f"${value:,.2f}"


def write_report(path: Path, rows: int, seed: int = 7) -> None:
    """A daily export: the same keys every day (as Amazon repeats active terms), fresh metrics each day."""
    rng = random.Random(seed)
    per_day = -(-rows // DAYS)
    keys, seen = [], set()
    while len(keys) < per_day:
        campaign = rng.randrange(CAMPAIGNS)
        group = rng.randrange(AD_GROUPS_PER_CAMPAIGN)
        auto = campaign % 4 == 0
        if auto:
            match, target = "-", rng.choice(AUTO_TARGETS)
        else:
            match = ("EXACT", "PHRASE", "BROAD")[campaign % 3]
            target = " ".join(rng.sample(WORDS, rng.randint(1, 3)))
        roll = rng.random()
        if roll < 0.02:
            term = "*"
        elif roll < 0.12:
            term = f"b0{rng.randrange(16**8):08x}"
        else:
            term = " ".join(rng.sample(WORDS, rng.randint(1, 5)))
        key = (campaign, group, target, match, term)
        if key not in seen:
            seen.add(key)
            keys.append(key)
    names = [f"SP - {' '.join(rng.sample(WORDS, 2)).title()} - {i:03d}" for i in range(CAMPAIGNS)]
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\r\n")
        out.writerow(HEADER)
        for day in range(DAYS):
            label = f"Jun {day + 1:02d}, 2026"
            for campaign, group, target, match, term in keys:
                if written >= rows:
                    return
                impressions = int(rng.paretovariate(1.3) * 12)
                clicks = min(impressions, int(impressions * rng.random() * 0.06))
                cpc = round(rng.uniform(0.25, 2.4), 2)
                spend = clicks * cpc
                orders = min(clicks, int(clicks * rng.random() * 0.3))
                units = orders + (1 if orders and rng.random() < 0.1 else 0)
                sales = orders * rng.choice((12.99, 19.99, 24.95, 34.5, 59.0))
                out.writerow(
                    [
                        label,
                        f"Portfolio {campaign % 12}",
                        "USD",
                        names[campaign],
                        f"Ad group {group}",
                        target,
                        match,
                        term,
                        f"{impressions:,}",
                        clicks,
                        f"{clicks / impressions * 100:.4f}%" if impressions else "0.0000%",
                        money(cpc) if clicks else "",
                        money(spend),
                        money(sales),
                        f"{spend / sales * 100:.2f}%" if sales else "",
                        f"{sales / spend:.2f}" if spend else "0.00",
                        orders,
                        units,
                        f"{orders / clicks * 100:.4f}%" if clicks else "0.0000%",
                    ]
                )
                written += 1


def vacuum() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {AdPerformanceDaily._meta.db_table}")


def one_round(report: Path, rows: int) -> tuple[float, float, float]:
    """Import into a fresh organization, then load the same rows through the COPY upsert alone.
    Returns (import seconds, copy seconds, peak RSS in MB right after the import)."""
    organization = Organization.objects.create(name="Benchmark: imports", slug=f"bench-imports-{uuid.uuid4().hex[:8]}")
    try:
        with organization_scope(organization):
            vacuum()
            rss_before = rss_mb()
            started = time.perf_counter()
            with open(report, "rb") as f:
                created = service.file_import_create(
                    organization=organization,
                    uploaded_file=File(f, name=report.name),
                    user=None,
                    marketplace="US",
                    dispatch=False,  # run synchronously below, not through Celery
                )
            stored = time.perf_counter() - started
            file_import = service.file_import_run(import_id=created.pk)
            import_seconds = time.perf_counter() - started
            peak_rss = rss_mb()
            if file_import is None or file_import.status != RunStatus.SUCCEEDED:
                problem = file_import and (file_import.message, file_import.errors[:3])
                raise SystemExit(f"import failed: {problem}")
            loaded = AdPerformanceDaily.unscoped_objects.filter(organization=organization).count()
            assert file_import.rows_total == file_import.rows_written == loaded == rows, (
                file_import.rows_total,
                loaded,
            )
            print(
                f"  import: {rows:,} rows in {import_seconds:.2f} s (of which storing the upload {stored:.2f} s) "
                f"= {rows / import_seconds:,.0f} rows/s; peak RSS {peak_rss:.0f} MB "
                f"(before the import {rss_before:.0f} MB)",
                flush=True,
            )

            # The same rows, built in memory first (not timed), then loaded through the COPY upsert alone.
            plan = pipeline.plan_import(
                Path(settings.MEDIA_ROOT) / file_import.stored_path, marketplace="US", source_ref=file_import.pk
            )
            facts = list(pipeline.iter_facts(plan))
            AdPerformanceDaily.unscoped_objects.filter(organization=organization).delete()
            vacuum()
            started = time.perf_counter()
            read, _written = ad_performance_upsert(organization=organization, facts=facts)
            copy_seconds = time.perf_counter() - started
            assert read == rows
            print(
                f"  copy + upsert alone: {rows:,} rows in {copy_seconds:.2f} s = {rows / copy_seconds:,.0f} rows/s",
                flush=True,
            )
            del facts
    finally:
        AdPerformanceDaily.unscoped_objects.filter(organization=organization).delete()
        organization.delete()
    return import_seconds, copy_seconds, peak_rss


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    workdir = Path(tempfile.mkdtemp(prefix="chuhai-bench-"))
    settings.MEDIA_ROOT = workdir / "media"
    report = workdir / "search-term-report.csv"
    try:
        print(f"writing {rows:,} rows to {report} ...", flush=True)
        started = time.perf_counter()
        write_report(report, rows)
        print(f"  {report.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s", flush=True)
        results = []
        for number in range(1, rounds + 1):
            print(f"round {number} of {rounds} (each in a fresh organization)", flush=True)
            results.append(one_round(report, rows))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    # Best of the rounds for each path (the database is shared, so single runs are noisy); RSS of the first
    # import, measured before anything else in the process held a million rows.
    import_rate = rows / min(r[0] for r in results)
    copy_rate = rows / min(r[1] for r in results)
    peak_rss = results[0][2]
    print(
        f"RESULT import_rows_per_s={import_rate:.0f} copy_rows_per_s={copy_rate:.0f} "
        f"ratio={import_rate / copy_rate:.2f} peak_rss_mb={peak_rss:.0f}"
    )


if __name__ == "__main__":
    main()
