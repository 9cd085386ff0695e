"""Setup for ``http_load.sh``: seed an organization like ``dashboard.py`` does, log its owner in, and write
the URLs to load and the session cookie to a folder. ``--cleanup DIR`` deletes what a previous setup made."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import dashboard  # noqa: E402  (sets Django up)
from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import Organization, User  # noqa: E402


def setup(out: Path, rows: int) -> None:
    end = datetime.now(UTC).date()
    start = end - timedelta(days=364)
    dashboard.ensure_fx_rates(start, end)
    organization, user = dashboard.make_org("Bench HTTP load")
    rows = dashboard.seed_facts(organization, rows, end)
    dashboard.build_rollups(organization, start, end)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(user)
    page = reverse("analytics_overview", kwargs={"org_slug": organization.slug})
    html = client.get(page).content.decode()
    panels = [url.replace("&amp;", "&") for url in dashboard.PANEL.findall(html)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "state.json").write_text(
        json.dumps(
            {
                "organization": organization.pk,
                "user": user.pk,
                "cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}",
                "page": page,
                "panels": panels,
            }
        )
    )
    print(f"seeded {rows:,} rows; overview {page} with {len(panels)} panels")


def cleanup(out: Path) -> None:
    state = json.loads((out / "state.json").read_text())
    organization = Organization.objects.get(pk=state["organization"])
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("analytics_adperformancedaily", "analytics_storesalesdaily"):
            cursor.execute(f"DELETE FROM {table} WHERE organization_id = %s", [organization.pk])
    organization.delete()
    User.objects.filter(pk=state["user"]).delete()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--cleanup", action="store_true")
    args = parser.parse_args()
    cleanup(args.out) if args.cleanup else setup(args.out, args.rows)
