"""eBay: connect through eBay's OAuth consent, one connection per marketplace the seller sells on, and sync
Promoted Listings performance (async report tasks) plus orders (Fulfillment API) with daily store sales.

No region picker: one consent covers every eBay site, and ``discover_accounts`` finds the marketplaces
(the ``region`` argument is ignored). eBay does not take a callback URL: ``redirect_uri`` is the app's RuName
(``settings.PLATFORMS["ebay"]["ru_name"]``), registered with eBay against our callback URL.

A run, for its connection's marketplace:

1. campaigns (``entities``, once a run);
2. per chunk of at most 31 report days, two report tasks: LISTING_PERFORMANCE_REPORT (product and campaign
   grain) and ACCOUNT_PERFORMANCE_REPORT (the platform's own totals, for reconciliation). ``tasks`` maps a
   piece to its task id as soon as eBay gives one, so a resumed run polls the same task instead of asking
   again; ``done`` lists the loaded pieces; ``totals`` the account totals per chunk;
3. orders modified since the window's first day (``orders_offset``: the next page; ``orders_done``), then
   the daily sales of every day the run touched, recomputed from the stored orders.

Report days are MST (UTC-7) days; the window's last day is capped at today in MST.

Disconnecting calls nothing at eBay: eBay offers no API to revoke a user token (the seller withdraws an app
in My eBay); we forget the credentials, and the refresh token expires on its own after ~18 months.

Knobs in ``settings.PLATFORMS["ebay"]``: ``rate``/``burst`` (report calls: eBay allows 200 an hour per
seller; default 200/3600 a second with a burst of 20), ``api_rate``/``api_burst`` (other calls),
``timeout`` (seconds per HTTP call), ``sleep`` (a callable; tests pass a recorder), ``poll_interval``,
``poll_max_interval``, ``report_wait_seconds`` (report polling), ``orders_page_size`` (at most 200),
``campaigns_page_size``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from django.db.models import Min
from django.utils.translation import gettext as _

from campaigns import services as campaign_services
from connectors.backends.base import Backend, DiscoveredAccount, SyncContext
from connectors.backends.ebay import client as api
from connectors.backends.ebay import mapping
from connectors.backends.ebay.client import REPORT_TZ
from connectors.errors import TransientError
from connectors.http import RETRY_STATUSES, PlatformHTTP

logger = logging.getLogger(__name__)

MAX_REPORT_DAYS = 31
PIECES = tuple(api.REPORTS)  # the order a chunk is loaded in: listing, then account
REPORT_RATE = 200 / 3600
REPORT_BURST = 20


def date_chunks(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    while start <= end:
        chunk_end = min(end, start + timedelta(days=days - 1))
        yield start, chunk_end
        start = chunk_end + timedelta(days=1)


def chunk_key(start: date, end: date) -> str:
    return f"{start.isoformat()}..{end.isoformat()}"


def piece_key(start: date, end: date, piece: str) -> str:
    return f"{chunk_key(start, end)}:{piece}"


def report_today(now: datetime | None = None) -> date:
    """Today as Promoted Listings reports count days (MST)."""
    return (now or datetime.now(REPORT_TZ)).astimezone(REPORT_TZ).date()


def iso_utc(moment: datetime) -> str:
    """``2025-06-01T07:00:00.000Z``: the timestamp form eBay's filters take."""
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class EbayBackend(Backend):
    platform = "ebay"
    label = "eBay"
    channel = mapping.CHANNEL
    default_lookback_days = 3  # sales and ad fees settle within 72 hours (the reconciliation period)
    max_window_days = MAX_REPORT_DAYS

    # -- plumbing --------------------------------------------------------------------------------------
    @property
    def sleep(self):
        return self.conf.get("sleep") or time.sleep

    def _http_options(self) -> dict:
        options = {"sleep": self.sleep}
        if self.conf.get("timeout"):
            seconds = float(self.conf["timeout"])
            options["timeout"] = httpx.Timeout(seconds, connect=min(seconds, 10.0))
        return options

    def _report_rates(self) -> dict:
        return {
            "rate": float(self.conf.get("rate", REPORT_RATE)),
            "burst": float(self.conf.get("burst", REPORT_BURST)),
            # a 429 on a report call means the hour's 200 are spent: the client hands the run back instead
            "retry_statuses": frozenset(RETRY_STATUSES - {429}),
        }

    def _api_rates(self) -> dict:
        return {"rate": float(self.conf.get("api_rate", 5.0)), "burst": float(self.conf.get("api_burst", 20))}

    def _http(self, bucket: str) -> PlatformHTTP:
        return PlatformHTTP(platform=self.label, bucket=bucket, **self._api_rates(), **self._http_options())

    # -- connecting ------------------------------------------------------------------------------------
    def authorization_url(self, *, state: str, redirect_uri: str, region: str = "") -> str:
        """eBay's consent page. ``redirect_uri`` (our callback) is not sent: eBay takes the RuName instead."""
        return api.authorization_url(self.conf, state=state)

    def exchange_code(self, *, code: str, redirect_uri: str, params: dict) -> dict:
        http = self._http("auth")
        try:
            return api.exchange_code(http, self.conf, code=code)
        finally:
            http.close()

    def discover_accounts(self, *, credentials: dict) -> list[DiscoveredAccount]:
        """One account per marketplace: the seller's registration site and every site with a campaign."""
        http = self._http("discovery")
        try:
            client = api.EbayClient(conf=self.conf, credentials=credentials, api_http=http, sleep=self.sleep)
            user = client.user()
            campaigns = list(client.campaigns(page_size=int(self.conf.get("campaigns_page_size", 100))))
        finally:
            http.close()
        return [mapping.discovered_account(user, mp) for mp in mapping.seller_marketplaces(user, campaigns)]

    # -- syncing ---------------------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        connection = ctx.connection
        user_id = connection.config.get("user_id") or connection.external_id.split(":")[0]
        options = self._http_options()
        report_http = ctx.http(bucket=f"user:{user_id}:reports", **self._report_rates(), **options)
        api_http = ctx.http(bucket=f"user:{user_id}:api", **self._api_rates(), **options)
        client = api.EbayClient(
            conf=self.conf,
            credentials=ctx.credentials,
            api_http=api_http,
            report_http=report_http,
            marketplace_id=connection.marketplace,
            on_credentials=ctx.save_credentials,
            sleep=self.sleep,
        )
        try:
            client.ensure_token()
            _Run(self, ctx, client).sync()
        finally:
            report_http.close()
            api_http.close()


class _Run:
    """One sync run of one marketplace."""

    def __init__(self, backend: EbayBackend, ctx: SyncContext, client: api.EbayClient):
        self.backend, self.ctx, self.client = backend, ctx, client
        connection = ctx.connection
        self.marketplace = connection.marketplace
        self.currency = connection.currency
        self.tz = ZoneInfo(connection.time_zone or "UTC")
        cursor = ctx.cursor
        self.done: list[str] = list(cursor.get("done", []))
        self.tasks: dict[str, str] = dict(cursor.get("tasks", {}))
        self.totals: dict[str, dict] = dict(cursor.get("totals", {}))
        end = min(ctx.window_end, report_today())
        self.chunks = list(date_chunks(ctx.window_start, end, MAX_REPORT_DAYS))
        self.units = 1 + len(self.chunks) * len(PIECES) + 2  # entities, report pieces, orders, daily sales
        earliest = cursor.get("earliest_day")
        self.earliest: date | None = date.fromisoformat(earliest) if earliest else None

    def heartbeat(self, extra: float = 0.0) -> None:
        done = 1 + len(self.done) + extra + (1 if self.ctx.cursor.get("orders_done") else 0)
        self.ctx.progress(done, self.units)

    def sync(self) -> None:
        ctx = self.ctx
        if not ctx.cursor.get("entities"):
            self.load_campaigns()
            ctx.checkpoint(entities=True)
        self.heartbeat()
        for start, end in self.chunks:
            todo = [(piece, key) for piece in PIECES if (key := piece_key(start, end, piece)) not in self.done]
            for piece, key in todo:  # ask for the chunk's reports before waiting on any: eBay builds them at once
                if key not in self.tasks:
                    self.tasks[key] = self.client.create_report_task(
                        api.report_task_body(piece, self.marketplace, start, end)
                    )
                    ctx.checkpoint(tasks=dict(self.tasks))
            for piece, key in todo:
                self.load_piece(piece, key, start, end)
                self.done.append(key)
                self.tasks.pop(key, None)
                ctx.checkpoint(done=list(self.done), tasks=dict(self.tasks), totals=dict(self.totals))
                self.heartbeat()
        if not ctx.cursor.get("orders_done"):
            self.load_orders()
            ctx.checkpoint(orders_done=True)
        self.load_daily_sales()

    # -- campaigns -------------------------------------------------------------------------------------
    def ad_account(self):
        connection = self.ctx.connection
        return campaign_services.ad_account_upsert(
            organization=self.ctx.organization,
            channel=mapping.CHANNEL,
            external_id=connection.external_id,
            name=connection.name,
            currency=connection.currency,
            time_zone=mapping.REPORT_TIME_ZONE,  # the day our ad facts carry is eBay's MST report day
            marketplace=connection.marketplace,
        )

    def load_campaigns(self) -> None:
        size = int(self.backend.conf.get("campaigns_page_size", 100))
        rows = [
            mapping.campaign_row(item)
            for item in self.client.campaigns(page_size=size)
            if item.get("marketplaceId") == self.marketplace
        ]
        campaign_services.campaigns_upsert(organization=self.ctx.organization, ad_account=self.ad_account(), rows=rows)

    # -- reports ---------------------------------------------------------------------------------------
    def load_piece(self, piece: str, key: str, start: date, end: date) -> None:
        """Wait for the piece's task (asking again once if eBay failed it or lost its file) and load it."""
        ctx, client = self.ctx, self.client
        for attempt in range(2):
            if key not in self.tasks:
                self.tasks[key] = client.create_report_task(api.report_task_body(piece, self.marketplace, start, end))
                ctx.checkpoint(tasks=dict(self.tasks))
            task = client.wait_for_report(self.tasks[key], heartbeat=self.heartbeat)
            status = (task or {}).get("reportTaskStatus")
            if status == "SUCCESS":
                try:
                    self.load_report(piece, key, task, start, end)
                    return
                except api.ReportGone:
                    logger.info("ebay report of task %s for %s is gone", self.tasks[key], key)
            else:
                logger.info(
                    "ebay report task %s for %s: %s %s",
                    self.tasks[key],
                    key,
                    status,
                    (task or {}).get("reportTaskStatusMessage"),
                )
            self.tasks.pop(key)
            ctx.checkpoint(tasks=dict(self.tasks))
            last = f"{status}: {(task or {}).get('reportTaskStatusMessage') or ''}"
            if attempt == 1:
                raise TransientError(
                    _("eBay could not prepare a Promoted Listings report; the sync will retry."),
                    detail=f"{key}: {last}",
                )

    def report_href(self, task: dict) -> str:
        href = task.get("reportHref")
        if href:
            return href
        return f"{self.client.api_url}{api.MARKETING}/ad_report/{task['reportId']}"

    def load_report(self, piece: str, key: str, task: dict, start: date, end: date) -> None:
        response = self.client.open_report(self.report_href(task))
        try:
            self._load_rows(
                piece, key, task, start, end, self.client.report_rows(response, columns=api.report_columns(piece))
            )
        finally:
            response.close()

    def _load_rows(self, piece: str, key: str, task: dict, start: date, end: date, rows) -> None:
        connection = self.ctx.connection
        if piece == "listing":
            skipped: list = []
            self.ctx.load_ad_facts(
                mapping.ad_facts(
                    rows,
                    account_id=connection.external_id,
                    marketplace=self.marketplace,
                    currency=self.currency,
                    start=start,
                    end=end,
                    source_ref=connection.pk,
                    skipped=skipped,
                )
            )
            if skipped:
                logger.info("ebay report %s: %d row(s) outside %s left out", task.get("reportId"), len(skipped), key)
            return
        self.totals[chunk_key(start, end)] = mapping.account_totals(rows, currency=self.currency, start=start, end=end)
        total = None
        for chunk in sorted(self.totals.values(), key=lambda t: t["start"]):
            total = mapping.add_totals(total, chunk)
        self.ctx.record_platform_totals(
            "account_performance_report", {**total, "report": "ACCOUNT_PERFORMANCE_REPORT", "day_time_zone": "MST"}
        )

    # -- orders ----------------------------------------------------------------------------------------
    def load_orders(self) -> None:
        """Orders modified since the window's first day (marketplace time), page by page. The filter has no
        upper bound: orders only ever join the result set, so an offset can at worst see one twice (an
        upsert), never skip one."""
        ctx = self.ctx
        since = iso_utc(datetime.combine(ctx.window_start, datetime.min.time(), tzinfo=self.tz))
        if ctx.cursor.get("orders_since") not in (None, since):
            ctx.checkpoint(orders_offset=0, earliest_day=None)
            self.earliest = None
        offset = int(ctx.cursor.get("orders_offset") or 0)
        ctx.checkpoint(orders_since=since)
        size = int(self.backend.conf.get("orders_page_size", api.MAX_ORDERS_PAGE))
        while True:
            page = self.client.orders_page(modified_since=since, offset=offset, limit=size)
            orders = page.get("orders") or []
            mine = [order for order in orders if mapping.order_marketplace(order) == self.marketplace]
            if mine:
                facts = [
                    mapping.order_fact(order, marketplace=self.marketplace, tz=self.tz, source_ref=ctx.connection.pk)
                    for order in mine
                ]
                ctx.load_orders(facts)
                first = min(fact.date for fact in facts)
                self.earliest = first if self.earliest is None else min(self.earliest, first)
            offset += len(orders)
            total = int(page.get("total") or 0)
            ctx.checkpoint(orders_offset=offset, earliest_day=self.earliest.isoformat() if self.earliest else None)
            self.heartbeat(extra=min(1.0, offset / total) if total else 0.0)
            if not orders or not page.get("next") or offset >= total:
                return

    def coverage_start(self) -> date:
        """The first day whose orders we hold completely: this window's start or, if earlier, that of a
        succeeded run of this connection (every order created on a day is modified on or after it)."""
        from connectors.models import RunStatus, SyncRun

        ctx = self.ctx
        earlier = SyncRun.unscoped_objects.filter(
            organization=ctx.organization, connection=ctx.connection, status=RunStatus.SUCCEEDED
        ).aggregate(start=Min("window_start"))["start"]
        return min(ctx.window_start, earlier) if earlier else ctx.window_start

    def load_daily_sales(self) -> None:
        """Recompute the all-SKU daily sales of every day this run touched from the stored orders; days before
        the coverage start are left alone (we would hold only part of their orders)."""
        ctx = self.ctx
        start = max(min(self.earliest or ctx.window_start, ctx.window_start), self.coverage_start())
        rows = mapping.stored_daily_totals(
            organization=ctx.organization, marketplace=self.marketplace, start=start, end=ctx.window_end
        )
        ctx.load_sales_facts(
            mapping.daily_sales_facts(
                rows, marketplace=self.marketplace, currency=self.currency, source_ref=ctx.connection.pk
            )
        )
