"""Amazon Seller Central through the Selling Partner API: one connection per seller and marketplace.

A run loads, for its window of local days, the daily order metrics (getOrderMetrics, in chunks of
``max_window_days``, a checkpoint after each) and then every order updated in the window with its items
(Orders v0, 100 a page, the NextToken checkpointed after each page so a killed run resumes on the next
page). Orders change status for days after they are placed, so every run re-reads the last week.

The metrics' sums over the window (orders and ordered product sales by purchase date, in the marketplace's
time zone) are Amazon's own totals for it, recorded as ``platform_totals["orders"]`` beside the orders we
read: no request more than the daily metrics themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from connectors.backends.amazon_sp import client, mapping
from connectors.backends.amazon_sp.client import MARKETPLACES, MARKETPLACES_BY_CODE, Marketplace, SellingPartnerClient
from connectors.backends.base import Backend, DiscoveredAccount, SyncContext
from connectors.errors import AuthorizationError, PlatformError

# getOrders refuses a LastUpdatedBefore later than two minutes ago; leave a minute for clock skew.
ORDERS_SETTLE = timedelta(minutes=3)
HEARTBEAT_EVERY_ORDERS = 20


def _chunks(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    while start <= end:
        stop = min(end, start + timedelta(days=days - 1))
        yield start, stop
        start = stop + timedelta(days=1)


class AmazonSellingPartnerBackend(Backend):
    platform = "amazon_sp"
    regions = (("NA", gettext_lazy("North America")), ("EU", gettext_lazy("Europe")), ("FE", gettext_lazy("Far East")))
    label = "Amazon Seller Central"
    channel = None  # sales, not ads: the TACoS denominator
    default_lookback_days = 7  # orders change status (shipped, canceled) for days
    max_window_days = 30

    # --- connecting ---------------------------------------------------------------------------------
    def authorization_url(self, *, state: str, redirect_uri: str, region: str = "") -> str:
        """Seller Central's consent page (website authorization workflow)."""
        conf = self.conf
        params = {"application_id": conf["application_id"], "state": state, "redirect_uri": redirect_uri}
        if conf.get("draft_application"):
            params["version"] = "beta"  # an app not yet published authorizes in beta mode
        base = (conf.get("auth_urls") or {}).get(region) or conf["auth_url"]
        return f"{base}?{urlencode(params)}"

    def exchange_code(self, *, code: str, redirect_uri: str, params: dict) -> dict:
        """``params``: the consent redirect's query (``selling_partner_id``, and ``region`` if we asked for one)."""
        seller = params.get("selling_partner_id")
        if not seller:
            raise PlatformError(_("Amazon did not say which seller account was authorized. Connect the account again."))
        credentials = client.exchange_code(self.conf, code=code, redirect_uri=redirect_uri)
        credentials["selling_partner_id"] = seller
        if params.get("region") in self.conf["api_urls"]:
            credentials["region"] = params["region"]
        return credentials

    def discover_accounts(self, *, credentials: dict) -> list[DiscoveredAccount]:
        """One account per marketplace the seller participates in. Without a known region every regional host
        is asked; a host that does not know the seller answers 403 and is skipped."""
        regions = [credentials["region"]] if credentials.get("region") else list(self.conf["api_urls"])
        accounts: dict[str, DiscoveredAccount] = {}
        denied: AuthorizationError | None = None
        for region in regions:
            api = SellingPartnerClient(conf=self.conf, credentials=credentials, region=region)
            try:
                rows = api.marketplace_participations()
            except AuthorizationError as exc:
                denied = denied or exc
                continue
            finally:
                api.close()
            credentials = api.credentials  # the access token stays good for the next host
            for row in rows:
                account = self._account(row, seller=credentials["selling_partner_id"])
                if account is not None:
                    accounts.setdefault(account.marketplace, account)
        if not accounts and denied is not None:
            raise denied
        return list(accounts.values())

    @staticmethod
    def _account(row: dict, *, seller: str) -> DiscoveredAccount | None:
        data = row.get("marketplace") or {}
        marketplace = MARKETPLACES.get(data.get("id", ""))
        if marketplace is None or not (row.get("participation") or {}).get("isParticipating"):
            return None  # not an Amazon retail marketplace we report on, or one the seller does not sell in
        name = data.get("name") or marketplace.code
        return DiscoveredAccount(
            external_id=seller,
            name=f"{row['storeName']} ({name})" if row.get("storeName") else name,
            currency=data.get("defaultCurrencyCode") or marketplace.currency,
            time_zone=marketplace.time_zone,
            marketplace=marketplace.code,
            region=marketplace.region,
            config={"marketplace_id": marketplace.id},
        )

    # --- syncing ------------------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        connection = ctx.connection
        marketplace = self._marketplace(connection)
        if not ctx.credentials.get("refresh_token"):
            raise AuthorizationError(_("This account has no Amazon authorization. Connect it again."))
        api = SellingPartnerClient(
            conf=self.conf,
            credentials=ctx.credentials,
            region=connection.region or marketplace.region,
            save_credentials=ctx.save_credentials,
            rate_limits=connection.config.get("rate_limits"),
        )
        try:
            chunks = list(_chunks(ctx.window_start, ctx.window_end, self.max_window_days))
            self._sync_sales(ctx, api, marketplace, chunks)
            self._sync_orders(ctx, api, marketplace, len(chunks))
        finally:
            api.close()

    @staticmethod
    def _marketplace(connection) -> Marketplace:
        marketplace = MARKETPLACES.get(connection.config.get("marketplace_id", "")) or MARKETPLACES_BY_CODE.get(
            connection.marketplace
        )
        if marketplace is None:
            raise PlatformError(
                _("Unknown Amazon marketplace %(marketplace)s. Connect the account again.")
                % {"marketplace": connection.marketplace}
            )
        return marketplace

    def _sync_sales(self, ctx: SyncContext, api: SellingPartnerClient, marketplace: Marketplace, chunks) -> None:
        """Daily order metrics, chunk by chunk; their sums (kept in the cursor beside ``sales_through``, so a
        resumed run neither loses nor repeats a chunk) become the run's ``orders`` platform totals."""
        connection = ctx.connection
        done = ctx.cursor.get("sales_through")
        metrics = ctx.cursor.get("metrics")
        for index, (start, end) in enumerate(chunks):
            if done and end <= date.fromisoformat(done):
                continue
            buckets = api.order_metrics(
                marketplace_id=marketplace.id, start=start, end=end, time_zone=connection.time_zone
            )
            ctx.load_sales_facts(
                mapping.sales_facts(
                    buckets, marketplace=marketplace.code, time_zone=connection.time_zone, source_ref=connection.pk
                )
            )
            metrics = mapping.add_metrics(buckets, into=metrics)
            ctx.checkpoint(sales_through=end.isoformat(), metrics=metrics)
            ctx.progress(index + 1, len(chunks) + 1)
        if metrics is not None:
            ctx.record_platform_totals(
                "orders",
                {
                    **metrics,
                    "currency": metrics["currency"] or connection.currency,
                    "start": ctx.window_start.isoformat(),
                    "end": ctx.window_end.isoformat(),
                    "marketplace": marketplace.code,
                    "time_zone": connection.time_zone,
                    "time_field": "PurchaseDate",
                },
            )

    def _sync_orders(self, ctx: SyncContext, api: SellingPartnerClient, marketplace: Marketplace, chunks: int) -> None:
        cursor, connection = ctx.cursor, ctx.connection
        if cursor.get("orders_done"):
            return
        tz = connection.time_zone
        if "orders_after" in cursor:
            after, before = cursor["orders_after"], cursor.get("orders_before")
        else:
            after = client.iso_utc(client.local_midnight(ctx.window_start, tz))
            end = client.local_midnight(ctx.window_end + timedelta(days=1), tz)
            # Up to the end of the window, or (a window ending today) up to what Amazon has settled.
            before = client.iso_utc(end) if end <= datetime.now(UTC) - ORDERS_SETTLE else None
        token = cursor.get("orders_next_token")
        pages = cursor.get("orders_pages", 0)
        while True:
            payload = api.orders_page(
                marketplace_id=marketplace.id, updated_after=after, updated_before=before, next_token=token
            )
            facts = []
            for number, order in enumerate(payload.get("Orders") or [], start=1):
                items = api.order_items(order["AmazonOrderId"])
                facts.append(
                    mapping.order_fact(
                        order,
                        items,
                        marketplace=marketplace.code,
                        time_zone=tz,
                        currency=connection.currency,
                        source_ref=connection.pk,
                    )
                )
                if number % HEARTBEAT_EVERY_ORDERS == 0:  # items come at their own rate: show we are alive
                    ctx.progress(chunks + pages, chunks + pages + 1)
            ctx.load_orders(facts)
            token = payload.get("NextToken") or None
            pages += 1
            ctx.checkpoint(
                orders_after=after,
                orders_before=before,
                orders_next_token=token,
                orders_pages=pages,
                orders_done=token is None,
            )
            ctx.progress(chunks + pages, chunks + pages + (1 if token else 0))
            if token is None:
                return
