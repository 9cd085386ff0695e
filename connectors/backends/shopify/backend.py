"""Shopify: independent-store orders and daily sales, through the Admin GraphQL API.

Connecting: the seller types their shop address; the connect view passes it as ``shop=`` to
``authorization_url`` and again to ``exchange_code`` (Shopify's install URL and token endpoint live on
the shop's own domain, so the backend cannot work without it). The callback's ``hmac`` is checked with
our app secret before the code is traded for an offline token (no expiry, no refresh).

Syncing: orders *updated* in the run's window (shop-local days, ``updatedAt`` incremental as Shopify
itself recommends), so refunds and cancellations of older orders land. Windows up to 60 days page through
``orders`` (cursor checkpointed after each page); longer ones (a first load of months) run one bulk
export and stream its JSONL (export id and line checkpointed). Then Shopify's own count of the orders
created in the window (``ordersCount``, one query) is recorded as ``platform_totals["orders"]`` for
reconciliation, and each touched day's all-SKU sales row is recomputed from the stored orders.

Optional keys in ``settings.PLATFORMS["shopify"]`` besides the app credentials and URLs:
``orders_page_size`` (100), ``line_items_page_size`` (10), ``bulk_poll_seconds`` (2),
``bulk_max_wait_seconds`` (1200, then the run is retried later), ``timeout`` (seconds, per request) and
``sleep`` (a callable used for every wait instead of ``time.sleep``: tests pass a virtual clock's).
"""

from __future__ import annotations

import time as _time
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from django.db.models import Min
from django.utils.translation import gettext as _

from connectors.backends.base import Backend, DiscoveredAccount, SyncContext
from connectors.backends.shopify import client as api
from connectors.backends.shopify.client import (
    BulkResultUnavailable,
    ShopifyClient,
    ShopifyInstallError,
    normalize_shop_domain,
)
from connectors.backends.shopify.mapping import daily_sales_facts, marketplace_for, order_fact, stored_daily_totals
from connectors.errors import PlatformError, TransientError
from connectors.http import DEFAULT_TIMEOUT, RETRY_STATUSES, PlatformHTTP, raise_for_status

BULK_BATCH_ORDERS = 250
# Keys the connect view adds to the callback's query parameters; Shopify did not sign them.
UNSIGNED_PARAMS = ("region",)
REQUESTS_PER_SECOND = 10.0  # a safety net per shop; Shopify's cost bucket is what really paces us
REQUEST_BURST = 20.0


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ShopifyBackend(Backend):
    platform = "shopify"
    asks_for_shop = True
    label = "Shopify"
    channel = None  # a store, not an ad channel
    default_lookback_days = 3
    max_window_days = 60  # longer windows use a bulk export

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def sleep(self):
        return self.conf.get("sleep") or _time.sleep

    def _http_options(self) -> dict:
        seconds = self.conf.get("timeout")
        return {
            "sleep": self.sleep,
            "timeout": httpx.Timeout(float(seconds)) if seconds else DEFAULT_TIMEOUT,
            # Shopify's 429 carries THROTTLED in its body: the client reads it and waits what the bucket says.
            "retry_statuses": frozenset(RETRY_STATUSES - {429}),
        }

    def _http(self, bucket: str) -> PlatformHTTP:
        return PlatformHTTP(
            platform=self.label, bucket=bucket, rate=REQUESTS_PER_SECOND, burst=REQUEST_BURST, **self._http_options()
        )

    def client(self, credentials: dict, http: PlatformHTTP | None = None) -> ShopifyClient:
        shop = credentials["shop"]
        return ShopifyClient(
            conf=self.conf,
            shop=shop,
            access_token=credentials["access_token"],
            http=http or self._http(f"shop:{shop}"),
            sleep=self.sleep,
        )

    # --- connecting -------------------------------------------------------------------------------------
    def authorization_url(self, *, state: str, redirect_uri: str, region: str = "", shop: str = "") -> str:
        """Shopify's install page on the seller's own shop. ``shop``: the address the seller typed
        (``my-store`` or ``my-store.myshopify.com``); anything else raises ``ShopifyInstallError``."""
        domain = normalize_shop_domain(shop)
        return api.authorize_url(conf=self.conf, shop=domain, state=state, redirect_uri=redirect_uri)

    def exchange_code(self, *, code: str, redirect_uri: str, params: dict, shop: str = "") -> dict:
        """Check the callback and trade its code for an offline access token.

        ``params``: every query parameter of the callback (code, shop, state, timestamp, host, hmac). The
        ``hmac`` must be Shopify's signature of the others under our client secret, and ``params["shop"]``
        a myshopify.com domain; if the connect view passes the ``shop`` the seller typed, they must match.
        ``region``, which the connect view adds for every platform, is not Shopify's and is left out of the
        signature check. (The connect view checks ``state`` against the session, as for every platform.)
        """
        params = {key: str(value) for key, value in params.items() if key not in UNSIGNED_PARAMS}
        api.verify_callback(params, secret=self.conf["client_secret"])
        domain = normalize_shop_domain(params.get("shop", ""))
        if shop and normalize_shop_domain(shop) != domain:
            raise ShopifyInstallError(
                _("Shopify answered for a different shop than the one you entered. Start the connection again."),
                detail=f"expected {shop!r}, callback for {domain!r}",
            )
        if params.get("code") and params["code"] != code:
            raise ShopifyInstallError(_("The install code does not match Shopify's link. Start the connection again."))
        http = self._http(f"install:{domain}")
        try:
            token = api.request_access_token(conf=self.conf, shop=domain, code=code, http=http)
        finally:
            http.close()
        return {**token, "shop": domain}

    def discover_accounts(self, *, credentials: dict) -> list[DiscoveredAccount]:
        client = self.client(credentials)
        try:
            shop = client.shop_info()
        finally:
            client.close()
        domain = shop["myshopifyDomain"]
        return [
            DiscoveredAccount(
                external_id=domain,
                name=shop["name"],
                currency=shop["currencyCode"],
                time_zone=shop["ianaTimezone"],
                marketplace=marketplace_for(domain),
                config={"shop": domain},
            )
        ]

    def revoke(self, *, credentials: dict) -> None:
        """Uninstall the app from the shop (``DELETE /admin/api_permissions/current.json``)."""
        if not credentials.get("access_token"):
            return
        http = self._http(f"shop:{credentials['shop']}")
        try:
            response = http.request(
                "DELETE",
                f"{api.shop_base_url(self.conf, credentials['shop'])}/admin/api_permissions/current.json",
                headers={"X-Shopify-Access-Token": credentials["access_token"]},
                limited=False,
            )
            if response.status_code not in (401, 404):  # already uninstalled: nothing left to revoke
                raise_for_status(response, platform=self.label)
        finally:
            http.close()

    # --- syncing ----------------------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        connection = ctx.connection
        shop = ctx.credentials.get("shop") or connection.external_id
        tz = ZoneInfo(connection.time_zone or "UTC")
        since = datetime.combine(ctx.window_start, time.min, tzinfo=tz)
        until = datetime.combine(ctx.window_end + timedelta(days=1), time.min, tzinfo=tz)
        search = api.updated_between(_iso(since), _iso(until))
        if ctx.cursor.get("search") not in (None, search):
            ctx.checkpoint(
                mode=None,
                after=None,
                loaded=0,
                total=None,
                bulk_id=None,
                line=0,
                orders_done=False,
                totals_done=False,
                earliest_day=None,
            )
        days = (ctx.window_end - ctx.window_start).days + 1
        mode = ctx.cursor.get("mode") or ("bulk" if days > self.max_window_days else "paged")
        ctx.checkpoint(mode=mode, search=search)
        run = _Run(ctx, marketplace=connection.marketplace or marketplace_for(shop), tz=tz)
        client = self.client(
            {**ctx.credentials, "shop": shop},
            http=ctx.http(bucket=f"shop:{shop}", rate=REQUESTS_PER_SECOND, burst=REQUEST_BURST, **self._http_options()),
        )
        try:
            if not ctx.cursor.get("orders_done"):
                if mode == "bulk":
                    self._sync_bulk(run, client, search)
                else:
                    self._sync_paged(run, client, search)
                ctx.checkpoint(orders_done=True)
            if not ctx.cursor.get("totals_done"):
                self._record_totals(ctx, client, since, until)
                ctx.checkpoint(totals_done=True)
            run.load_daily_sales()
        finally:
            client.close()

    @staticmethod
    def _record_totals(ctx: SyncContext, client: ShopifyClient, since: datetime, until: datetime) -> None:
        """Shopify's own count of the orders created in the window's shop-local days (one query, cost 1),
        taken once the orders are read, for reconciliation beside the orders we hold for those days."""
        count, precision = client.orders_count(search=api.created_between(_iso(since), _iso(until)))
        ctx.record_platform_totals(
            "orders",
            {
                "start": ctx.window_start.isoformat(),
                "end": ctx.window_end.isoformat(),
                "time_zone": ctx.connection.time_zone or "UTC",
                "time_field": "created_at",
                "orders": count,
                "precision": precision,
                "cancelled_included": True,
                "test_included": True,
            },
        )

    def _sync_paged(self, run: _Run, client: ShopifyClient, search: str) -> None:
        ctx = run.ctx
        loaded, total = ctx.cursor.get("loaded", 0), ctx.cursor.get("total")
        pages = client.iter_order_pages(
            search=search,
            after=ctx.cursor.get("after"),
            page_size=int(self.conf.get("orders_page_size", 100)),
            lines=int(self.conf.get("line_items_page_size", 10)),
        )
        for page in pages:
            if page.total is not None:
                total = page.total
            run.load(page.orders)
            loaded += len(page.orders)
            ctx.progress(loaded, max(total or 0, loaded + (1 if page.has_next else 0)))
            if page.end_cursor:
                ctx.checkpoint(after=page.end_cursor, loaded=loaded, total=total, earliest_day=run.earliest_iso)

    def _sync_bulk(self, run: _Run, client: ShopifyClient, search: str) -> None:
        """One export (adopted again on resume), then its JSONL streamed in batches of orders. The export
        runs with ``groupObjects: true``, so each order's line items follow it directly; a batch is loaded
        when the next order starts, and the cursor keeps the line to restart from."""
        ctx = run.ctx
        operation = client.bulk_operation(ctx.cursor["bulk_id"]) if ctx.cursor.get("bulk_id") else None
        if not operation:
            operation = client.start_bulk_orders(search=search)
            ctx.checkpoint(bulk_id=operation["id"], line=0)
        operation = self._wait_for_bulk(ctx, client, operation)
        if not operation.get("url"):
            return  # Shopify gives no file when nothing matched
        objects = int(operation.get("objectCount") or 0)
        batch: dict[str, dict] = {}
        last = ctx.cursor.get("line", 0) - 1
        ungrouped = PlatformError(
            _("Shopify's order export was not grouped by order; it cannot be read safely."),
            detail="a line item away from its order (bulkOperationRunQuery must run with groupObjects: true)",
        )
        try:
            for number, item in client.iter_bulk_lines(operation["url"], skip=ctx.cursor.get("line", 0)):
                last = number
                parent = item.pop("__parentId", None)
                if parent is None:
                    if len(batch) >= BULK_BATCH_ORDERS:
                        if not all(order["lines"] for order in batch.values()):
                            raise ungrouped  # every order has a line item; grouped output puts it under its order
                        run.load(list(batch.values()))
                        batch = {}
                        ctx.progress(number, objects)
                        ctx.checkpoint(line=number, earliest_day=run.earliest_iso)
                    item["lines"] = []
                    batch[item["id"]] = item
                elif parent in batch:
                    batch[parent]["lines"].append(item)
                else:
                    raise ungrouped
        except BulkResultUnavailable:
            ctx.checkpoint(bulk_id=None, line=0)  # the next attempt starts a fresh export
            raise
        run.load(list(batch.values()))
        ctx.checkpoint(line=last + 1, earliest_day=run.earliest_iso)

    def _wait_for_bulk(self, ctx: SyncContext, client: ShopifyClient, operation: dict) -> dict:
        interval = float(self.conf.get("bulk_poll_seconds", 2))
        budget = float(self.conf.get("bulk_max_wait_seconds", 1200))
        waited = 0.0
        while operation.get("status") in ("CREATED", "RUNNING"):
            if waited >= budget:
                raise TransientError(
                    _("Shopify is still preparing the order export; the sync will continue when it is ready."),
                    retry_after=120,
                )
            self.sleep(interval)
            waited += interval
            interval = min(interval * 2, 30.0)
            operation = client.bulk_operation(operation["id"]) or {"id": operation["id"], "status": "GONE"}
            ctx.checkpoint()  # a heartbeat: the sweeper leaves a polling run alone
        status, code = operation.get("status"), operation.get("errorCode") or ""
        if status == "COMPLETED":
            return operation
        if status == "FAILED" and code == "ACCESS_DENIED":
            raise PlatformError(_("Shopify denied the order export: the app lacks access to these orders."))
        if status == "CANCELED":
            ctx.checkpoint(bulk_id=None, line=0)
            raise PlatformError(_("The order export was cancelled in Shopify. Sync again to start a new one."))
        ctx.checkpoint(bulk_id=None, line=0)  # FAILED (timeout, internal error), EXPIRED or gone: start over
        raise TransientError(
            _("Shopify could not finish the order export (%(status)s); the sync will retry.")
            % {"status": f"{status} {code}".strip()},
            retry_after=60,
        )


class _Run:
    """Loads order pages for one run and remembers the earliest order day it touched."""

    def __init__(self, ctx: SyncContext, *, marketplace: str, tz: ZoneInfo):
        self.ctx, self.marketplace, self.tz = ctx, marketplace, tz
        earliest = ctx.cursor.get("earliest_day")
        self.earliest: date | None = date.fromisoformat(earliest) if earliest else None

    @property
    def earliest_iso(self) -> str | None:
        return self.earliest.isoformat() if self.earliest else None

    def load(self, nodes: list[dict]) -> None:
        if not nodes:
            return
        facts = [
            order_fact(node, marketplace=self.marketplace, tz=self.tz, source_ref=self.ctx.connection.pk)
            for node in nodes
        ]
        self.ctx.load_orders(facts)
        first = min(fact.date for fact in facts)
        self.earliest = first if self.earliest is None else min(self.earliest, first)

    def coverage_start(self) -> date:
        """The first day whose orders we hold completely: this run's window start or, if earlier, that of
        a succeeded run of this connection (every order created on a day is updated on or after it)."""
        from connectors.models import RunStatus, SyncRun

        earlier = SyncRun.unscoped_objects.filter(
            organization=self.ctx.organization, connection=self.ctx.connection, status=RunStatus.SUCCEEDED
        ).aggregate(start=Min("window_start"))["start"]
        return min(self.ctx.window_start, earlier) if earlier else self.ctx.window_start

    def load_daily_sales(self) -> None:
        """Recompute the all-SKU daily sales of every day this run touched, from the stored orders; days
        before the coverage start are left alone (we would hold only part of their orders)."""
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
