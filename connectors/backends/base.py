"""What a platform backend provides, and what the sync engine hands it while it runs.

A backend is a package under ``connectors/backends/<platform>/`` with ``client.py`` (the platform's real
protocol), ``mapping.py`` (platform rows -> our facts and entities), ``fake.py`` (a local WSGI server that
reproduces the platform for tests and the demo) and ``backend.py`` (a ``Backend`` subclass registered in
``connectors.backends.REGISTRY``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from connectors.models import Connection, SyncRun


@dataclass
class DiscoveredAccount:
    """An account the seller's authorization gives access to; each becomes one Connection."""

    external_id: str
    name: str
    currency: str
    time_zone: str
    marketplace: str = ""
    region: str = ""
    config: dict = field(default_factory=dict)


class Backend:
    platform: str = ""
    label: str = ""
    channel: str | None = None  # the campaigns.Channel this platform's ads land in, if it has ads
    default_lookback_days: int = 3
    max_window_days: int = 31
    # Choices for the Connections page's region picker, as (value, label); empty: the platform needs none.
    regions: tuple[tuple[str, str], ...] = ()
    # True when the seller must name their shop before the consent screen (Shopify's shop domain).
    asks_for_shop: bool = False

    @property
    def conf(self) -> dict:
        """This platform's settings: client id and secret, API and auth URLs (``settings.PLATFORMS``)."""
        return settings.PLATFORMS[self.platform]

    # --- connecting ---------------------------------------------------------------------------------
    def authorization_url(self, *, state: str, redirect_uri: str, region: str = "") -> str:
        raise NotImplementedError

    def exchange_code(self, *, code: str, redirect_uri: str, params: dict) -> dict:
        """Trade the authorization code for credentials (a dict that is stored encrypted)."""
        raise NotImplementedError

    def discover_accounts(self, *, credentials: dict) -> list[DiscoveredAccount]:
        raise NotImplementedError

    def revoke(self, *, credentials: dict) -> None:
        """Tell the platform to forget our grant, where it has a way to. Default: nothing to call."""

    # --- syncing ------------------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        """Pull the days ``ctx.window_start``..``ctx.window_end`` and load them through ``ctx``.

        Resume from ``ctx.cursor`` and call ``ctx.checkpoint`` after each unit of work that is loaded.
        """
        raise NotImplementedError


class SyncContext:
    """The engine's side of a run: credentials, cursor, progress and the loaders, all bound to one run."""

    def __init__(self, *, run: SyncRun, backend: Backend):
        self.run = run
        self.backend = backend
        self.connection: Connection = run.connection
        self.organization = run.connection.organization
        self.window_start: date = run.window_start
        self.window_end: date = run.window_end

    # credentials -------------------------------------------------------------------------------------
    @property
    def credentials(self) -> dict:
        return self.connection.credentials

    def save_credentials(self, credentials: dict) -> None:
        from connectors import services

        services.connection_save_credentials(connection=self.connection, credentials=credentials)

    # cursor and progress -------------------------------------------------------------------------------
    @property
    def cursor(self) -> dict:
        return self.run.cursor

    def ensure_running(self) -> None:
        """Stop loading if the run was stopped from outside (a disconnect) since it started."""
        from connectors.errors import RunStopped
        from connectors.models import RunStatus, SyncRun

        if not SyncRun.unscoped_objects.filter(pk=self.run.pk, status=RunStatus.RUNNING).exists():
            raise RunStopped(_("The sync was stopped because the account was disconnected."))

    def checkpoint(self, **updates) -> None:
        """Persist cursor updates (and a heartbeat) so a killed run resumes after the last checkpoint."""
        self.ensure_running()
        self.run.cursor = {**self.run.cursor, **updates}
        self.run.heartbeat_at = timezone.now()
        self.run.save(update_fields=["cursor", "heartbeat_at", "rows_read", "rows_written", "progress", "updated_at"])

    def progress(self, done: int, total: int) -> None:
        self.run.progress = max(0, min(99, int(100 * done / total))) if total else 0
        self.run.heartbeat_at = timezone.now()
        self.run.save(update_fields=["progress", "heartbeat_at", "rows_read", "rows_written", "updated_at"])

    # reconciliation ------------------------------------------------------------------------------------
    def record_platform_totals(self, key: str, totals: dict) -> None:
        """Keep the platform's own totals for this run's window beside ours.

        ``key`` names what was totalled (e.g. ``"account"`` or a report type); ``totals`` holds plain JSON
        values: money as decimal strings with a ``currency`` key, counts as integers, and ``start``/``end``.
        """
        self.run.platform_totals = {**self.run.platform_totals, key: totals}
        self.run.save(update_fields=["platform_totals", "updated_at"])

    # loaders -------------------------------------------------------------------------------------------
    def _count(self, read: int, written: int) -> tuple[int, int]:
        self.run.rows_read += read
        self.run.rows_written += written
        return read, written

    def load_ad_facts(self, facts: Iterable) -> tuple[int, int]:
        from analytics.services import ad_performance_upsert

        self.ensure_running()
        return self._count(*ad_performance_upsert(organization=self.organization, facts=facts))

    def load_sales_facts(self, facts: Iterable) -> tuple[int, int]:
        from analytics.services import store_sales_upsert

        self.ensure_running()
        return self._count(*store_sales_upsert(organization=self.organization, facts=facts))

    def load_orders(self, orders: Iterable) -> tuple[int, int]:
        from analytics.services import store_orders_upsert

        self.ensure_running()
        orders = list(orders)
        return self._count(len(orders), store_orders_upsert(organization=self.organization, orders=orders))

    def ad_account(self):
        """The campaigns.AdAccount this connection's ads belong to (created on first use)."""
        from campaigns.services import ad_account_upsert

        c = self.connection
        return ad_account_upsert(
            organization=self.organization,
            channel=self.backend.channel,
            external_id=c.external_id,
            name=c.name,
            currency=c.currency,
            time_zone=c.time_zone,
            marketplace=c.marketplace,
        )

    def http(self, *, bucket: str, rate: float, burst: float, **kwargs):
        from connectors.http import PlatformHTTP

        return PlatformHTTP(
            platform=self.backend.label or self.backend.platform,
            bucket=bucket,
            rate=rate,
            burst=burst,
            **kwargs,
        )


# --- pushing approved changes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    """A platform's answer for one approved proposal, as a backend's pusher reports it.

    ``platform_id``: what the push created (kept for a rollback); ``previous``: the value or state before the
    change, read from the platform (what a rollback restores); ``None`` when there is nothing to restore.
    """

    proposal_id: int
    ok: bool
    code: str = ""
    message: str = ""
    platform_id: str = ""
    previous: dict | None = None
