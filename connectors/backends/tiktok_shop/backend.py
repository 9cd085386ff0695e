"""TikTok Shop: the orders and daily sales of every shop a seller authorizes, through the Open API (202309).

Connecting: ``authorization_url`` sends the seller to TikTok's authorization page,
``settings.PLATFORMS["tiktok_shop"]["auth_url"]`` with our app's ``service_id`` and the ``state``. TikTok sends
the seller back to the redirect URL registered in Partner Center (set it to our callback,
``/connections/callback/tiktok_shop/``; TikTok takes no redirect_uri) with ``code`` and ``state``.
``region``: ``"US"`` uses ``auth_url_us`` (TikTok authorizes US sellers on its US host) when set; any other
value (the connect form's NA/EU/FE) uses ``auth_url``. ``exchange_code`` trades the code for tokens;
``discover_accounts`` lists the authorized shops, one connection each (its region is the marketplace, which
fixes currency and time zone; the shop cipher every shop-scoped call needs is kept in ``config``). One
authorization covers all the seller's shops, so every connection it made holds the same tokens.

Syncing: orders *updated* in the run's window (shop-local days, ``update_time`` filter), so cancellations and
status changes of older orders land; pages follow ``next_page_token`` (checkpointed after each page, so a
killed run resumes at its page). The search's ``total_count`` for the window is recorded as the platform's
own total. Then each touched day's all-SKU sales row is recomputed from the stored orders, as for Shopify.
The access token is refreshed before it expires (and once on an expired-token answer); refreshed tokens are
saved on this connection and on the other connections of the same authorization.

Optional keys in ``settings.PLATFORMS["tiktok_shop"]``: ``auth_url_us``, ``page_size`` (orders a page, 100,
TikTok's maximum), ``rate``/``burst`` (requests per second per shop, 10 and 20), ``timeout`` (seconds per
request) and ``sleep`` (a callable used for every wait: tests pass one that records instead of waiting).
"""

from __future__ import annotations

import logging
import time as _time
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from django.db.models import Min
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from connectors.backends.base import Backend, DiscoveredAccount, SyncContext
from connectors.backends.tiktok_shop import client as api
from connectors.backends.tiktok_shop.mapping import (
    daily_sales_facts,
    discovered_account,
    order_fact,
    stored_daily_totals,
)
from connectors.errors import PlatformError
from connectors.http import DEFAULT_TIMEOUT, RETRY_STATUSES, PlatformHTTP

logger = logging.getLogger(__name__)


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, time.min, tzinfo=tz).timestamp())


class TikTokShopBackend(Backend):
    platform = "tiktok_shop"
    regions = (("", gettext_lazy("Global")), ("US", gettext_lazy("United States")))
    label = "TikTok Shop"
    channel = None  # a marketplace, not an ad channel (TikTok Ads is its own platform)
    default_lookback_days = 3

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def sleep(self):
        return self.conf.get("sleep") or _time.sleep

    def _http_options(self) -> dict:
        seconds = self.conf.get("timeout")
        return {
            "sleep": self.sleep,
            "timeout": httpx.Timeout(float(seconds), connect=min(float(seconds), 10.0)) if seconds else DEFAULT_TIMEOUT,
            # TikTok's 429 carries code 36009002: the client waits and re-signs with a fresh timestamp.
            "retry_statuses": frozenset(RETRY_STATUSES - {429}),
        }

    def _rates(self) -> dict:
        return {"rate": float(self.conf.get("rate", 10.0)), "burst": float(self.conf.get("burst", 20.0))}

    def _http(self, bucket: str, **overrides) -> PlatformHTTP:
        return PlatformHTTP(
            platform=self.label, bucket=bucket, **self._rates(), **{**self._http_options(), **overrides}
        )

    def client(self, credentials: dict, *, http: PlatformHTTP, shop_cipher: str | None = None, on_credentials=None):
        return api.TikTokShopClient(
            http=http,
            conf=self.conf,
            credentials=credentials,
            shop_cipher=shop_cipher,
            on_credentials=on_credentials,
            sleep=self.sleep,
        )

    # --- connecting -------------------------------------------------------------------------------------
    def authorization_url(self, *, state: str, redirect_uri: str, region: str = "") -> str:
        """TikTok's seller authorization page with ``service_id`` and ``state``; ``redirect_uri`` is not sent
        (TikTok uses the one registered for the app). ``region="US"``: the US host, if configured."""
        return api.authorization_url(self.conf, state=state, region=region)

    def exchange_code(self, *, code: str, redirect_uri: str, params: dict) -> dict:
        """The callback's ``code`` -> tokens. A code works once, so a failed exchange is never retried."""
        http = self._http("auth", retries=0)
        try:
            return api.exchange_code(http, self.conf, code=code)
        finally:
            http.close()

    def discover_accounts(self, *, credentials: dict) -> list[DiscoveredAccount]:
        """The shops the authorization covers. Should the access token need a refresh first, the new tokens are
        written into ``credentials`` itself: the caller stores that very dict on the connections it makes."""
        http = self._http("discovery")
        try:
            shops = self.client(credentials, http=http, on_credentials=credentials.update).shops()
        finally:
            http.close()
        accounts = []
        for shop in shops:
            account = discovered_account(shop)
            if account is None:
                logger.warning(
                    "TikTok Shop shop %s in region %r: no currency or time zone known",
                    shop.get("id"),
                    shop.get("region"),
                )
                continue
            accounts.append(account)
        return accounts

    # --- syncing ----------------------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        connection = ctx.connection
        tz = ZoneInfo(connection.time_zone or "UTC")
        since, until = _midnight(ctx.window_start, tz), _midnight(ctx.window_end + timedelta(days=1), tz)
        window = f"{since}..{until}"
        if ctx.cursor.get("window") not in (None, window):
            ctx.checkpoint(page_token=None, loaded=0, total=None, orders_done=False, earliest_day=None)
        ctx.checkpoint(window=window)
        http = ctx.http(bucket=f"shop:{connection.external_id}", **self._rates(), **self._http_options())
        client = self.client(
            ctx.credentials,
            http=http,
            shop_cipher=(connection.config or {}).get("shop_cipher"),
            on_credentials=self._saver(ctx),
        )
        try:
            if not client.shop_cipher:
                client.shop_cipher = self._find_cipher(client, connection.external_id)
            run = _Run(ctx, tz=tz)
            if not ctx.cursor.get("orders_done"):
                self._sync_orders(run, client, since, until)
                ctx.checkpoint(orders_done=True)
            run.load_daily_sales()
        finally:
            http.close()

    def _sync_orders(self, run: _Run, client: api.TikTokShopClient, since: int, until: int) -> None:
        ctx = run.ctx
        loaded, total = ctx.cursor.get("loaded", 0), ctx.cursor.get("total")
        pages = client.iter_order_pages(
            update_time_ge=since,
            update_time_lt=until,
            page_size=int(self.conf.get("page_size", api.MAX_PAGE_SIZE)),
            page_token=ctx.cursor.get("page_token"),
        )
        for page in pages:
            if page.total_count is not None and page.total_count != total:
                total = page.total_count
                self._record_totals(ctx, since, until, total)
            run.load(page.orders)
            loaded += len(page.orders)
            ctx.progress(loaded, max(total or 0, loaded + (1 if page.next_page_token else 0)))
            if page.next_page_token and page.orders:
                ctx.checkpoint(
                    page_token=page.next_page_token, loaded=loaded, total=total, earliest_day=run.earliest_iso
                )
        ctx.checkpoint(loaded=loaded, total=total, earliest_day=run.earliest_iso)

    @staticmethod
    def _record_totals(ctx: SyncContext, since: int, until: int, total: int) -> None:
        ctx.record_platform_totals(
            "orders",
            {
                "start": ctx.window_start.isoformat(),
                "end": ctx.window_end.isoformat(),
                "time_field": "update_time",
                "update_time_ge": since,
                "update_time_lt": until,
                "orders": total,
            },
        )

    @staticmethod
    def _find_cipher(client: api.TikTokShopClient, shop_id: str) -> str:
        for shop in client.shops():
            if str(shop.get("id")) == shop_id and shop.get("cipher"):
                return str(shop["cipher"])
        raise PlatformError(
            _("TikTok Shop no longer lists this shop under the authorization. Reconnect the shop."),
            detail=f"shop {shop_id} not in /authorization/202309/shops",
        )

    def _saver(self, ctx: SyncContext):
        """Save refreshed tokens on this connection and on the other live connections of the same grant (same
        ``open_id``) that still hold the refresh token we just used, so none of them is left with a stale one."""

        def save(credentials: dict) -> None:
            from connectors import services
            from connectors.models import Connection, ConnectionStatus

            used = ctx.credentials.get("refresh_token")
            ctx.save_credentials(credentials)
            siblings = (
                Connection.unscoped_objects.filter(organization=ctx.organization, platform=self.platform)
                .exclude(pk=ctx.connection.pk)
                .exclude(status=ConnectionStatus.DISCONNECTED)
            )
            for sibling in siblings:
                held = sibling.credentials or {}
                if held.get("open_id") == credentials.get("open_id") and held.get("refresh_token") == used:
                    services.connection_save_credentials(connection=sibling, credentials=credentials)

        return save


class _Run:
    """Loads order pages for one run and remembers the earliest order day it touched."""

    def __init__(self, ctx: SyncContext, *, tz: ZoneInfo):
        self.ctx, self.tz = ctx, tz
        self.marketplace = ctx.connection.marketplace
        earliest = ctx.cursor.get("earliest_day")
        self.earliest: date | None = date.fromisoformat(earliest) if earliest else None

    @property
    def earliest_iso(self) -> str | None:
        return self.earliest.isoformat() if self.earliest else None

    def load(self, orders: list[dict]) -> None:
        if not orders:
            return
        connection = self.ctx.connection
        facts = [
            order_fact(
                order, marketplace=self.marketplace, tz=self.tz, currency=connection.currency, source_ref=connection.pk
            )
            for order in orders
        ]
        self.ctx.load_orders(facts)
        first = min(fact.date for fact in facts)
        self.earliest = first if self.earliest is None else min(self.earliest, first)

    def coverage_start(self) -> date:
        """The first day whose orders we hold completely: this run's window start or, if earlier, that of a
        succeeded run of this connection (every order created on a day is updated on or after it)."""
        from connectors.models import RunStatus, SyncRun

        earlier = SyncRun.unscoped_objects.filter(
            organization=self.ctx.organization, connection=self.ctx.connection, status=RunStatus.SUCCEEDED
        ).aggregate(start=Min("window_start"))["start"]
        return min(self.ctx.window_start, earlier) if earlier else self.ctx.window_start

    def load_daily_sales(self) -> None:
        """Recompute the all-SKU daily sales of every day this run touched from the stored orders; days before
        the coverage start are left alone (we would hold only part of their orders)."""
        ctx = self.ctx
        start = min(self.earliest or ctx.window_start, ctx.window_start)
        start = max(start, self.coverage_start())
        rows = stored_daily_totals(
            organization=ctx.organization, marketplace=self.marketplace, start=start, end=ctx.window_end
        )
        ctx.load_sales_facts(
            daily_sales_facts(
                rows, marketplace=self.marketplace, currency=ctx.connection.currency, source_ref=ctx.connection.pk
            )
        )
