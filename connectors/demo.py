"""Connect the demo organization to the local fake platforms, through the real backends."""

from __future__ import annotations

import contextlib
import socket
from urllib.parse import urlsplit

from django.conf import settings

from accounts.models import Organization, User
from accounts.scoping import organization_scope
from connectors import services
from connectors.backends import get_backend
from connectors.models import Connection, RunKind, SyncRun

DEMO_BACKFILL_DAYS = 365


def _reachable(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@contextlib.contextmanager
def fakes_running():
    """The fakes at FAKE_PLATFORMS_URL: the running ones, or served here until the block ends."""
    from config.testing import serve_wsgi
    from connectors.fakes import PrefixDispatcher

    parts = urlsplit(settings.FAKE_PLATFORMS_URL)
    if _reachable(parts.hostname, parts.port):
        yield settings.FAKE_PLATFORMS_URL
        return
    with serve_wsgi(PrefixDispatcher(settings.FAKE_PLATFORMS_URL, demo=True), host=parts.hostname, port=parts.port):
        yield settings.FAKE_PLATFORMS_URL


def demo_connections_create(*, organization: Organization, user: User) -> list[Connection]:
    """Connect every demo account on the fakes and queue its first load (a year, where the platform keeps
    that much). Idempotent: existing connections keep their data; only never-synced ones get a first run."""
    from connectors.fakes.demo import demo_credentials

    if not settings.FAKE_PLATFORMS_URL:
        return []
    connections = []
    with fakes_running(), organization_scope(organization):
        for platform, credentials in demo_credentials().items():
            for account in get_backend(platform).discover_accounts(credentials=credentials):
                connection = services.connection_upsert(
                    organization=organization,
                    platform=platform,
                    account=account,
                    credentials=credentials,
                    user=user,
                )
                if connection.backfill_days != DEMO_BACKFILL_DAYS:
                    connection.backfill_days = DEMO_BACKFILL_DAYS
                    connection.save(update_fields=["backfill_days", "updated_at"])
                if connection.synced_through is None and not SyncRun.objects.filter(connection=connection).exists():
                    services.sync_run_request(connection=connection, kind=RunKind.BACKFILL, requested_by=user)
                connections.append(connection)
    return connections
