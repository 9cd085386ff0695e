"""Shopee: connect a shop (or a main account's shops), one connection per shop, and sync its orders, its
daily store sales and its Shopee Ads (shop-level CPC) performance.

Connecting. ``authorization_url`` signs Shopee's ``/api/v2/shop/auth_partner`` link for the API host
(``client.HOSTS``). Which host is a matter of where our servers run, not of the seller's market, so the
connect picker's ``region`` only chooses a host when it names one: ``"CN"`` -> Chinese Mainland
(openplatform.shopee.cn), ``"GLOBAL"`` -> partner.shopeemobile.com. The template's ``NA``/``EU``/``FE``, ``""``
and market codes (``SG``, ``MY``, ``TH``, ``ID``, ``PH``, ``VN``, ``TW``, ``BR``, ``MX``...) take
``settings.PLATFORMS["shopee"]["host"]`` (``global`` unless set; ``br`` is the host near the US). The callback
brings ``code`` and ``shop_id`` (a shop login) or ``main_account_id`` (a main account: every shop it
authorized becomes a connection); the host chosen is kept in the credentials.

A run, for its window of shop-local days (each step checkpointed, so a killed run resumes where it stopped):

1. orders: ``get_order_list`` by ``update_time`` in windows of at most 15 days, 100 a page (``cursor`` /
   ``next_cursor``), each page's details in batches of 50 -> order facts; the cursor keeps the window and
   the page. Every order created in the window was updated in it or later, so all of them are read, plus
   older orders that changed;
2. daily store sales: recomputed from the stored orders for every day the run touched (as for Shopify);
3. reconciliation: ``get_order_list`` by ``create_time`` over the window, counted (by status) ->
   ``platform_totals["orders"]``;
4. ads: ``get_all_cpc_ads_daily_performance`` in chunks of at most 28 days (Shopee: at most a month, start
   before end, not older than 6 months) -> one ad fact a day; their sum -> ``platform_totals["ads"]``
   (the API has no separate total).

Access tokens last 4 hours: the client refreshes ahead of expiry and once on a refused token, and saves
the new pair at once (the refresh token works once). ``default_lookback_days`` is 7: ads conversions are
attributed to the click day for 7 days, and order statuses change for days.

Optional knobs in ``settings.PLATFORMS["shopee"]``: ``host``, ``api_urls`` (host key -> base URL), ``rate``
and ``burst`` (requests per second per shop, default 10 and 20; Shopee publishes no figure), ``timeout``
(seconds per call), ``sleep`` and ``clock`` (callables; tests pass a virtual clock), ``orders_page_size``,
``details_batch_size``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from datetime import time as day_start
from zoneinfo import ZoneInfo

import httpx
from django.db.models import Min
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from connectors.backends.base import Backend, DiscoveredAccount, SyncContext
from connectors.backends.shopee import client as api
from connectors.backends.shopee import mapping
from connectors.errors import PlatformError
from connectors.http import DEFAULT_TIMEOUT, RETRY_STATUSES, PlatformHTTP

logger = logging.getLogger(__name__)

ADS_CHUNK_DAYS = 28  # "Date range can't be longer than 1 month": safe in February too
ADS_HISTORY_MONTHS = 6
ADS_HISTORY_MARGIN_DAYS = 2  # keep clear of the 6-month edge (our "today" and Shopee's may differ a little)


def date_chunks(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    while start <= end:
        chunk_end = min(end, start + timedelta(days=days - 1))
        yield start, chunk_end
        start = chunk_end + timedelta(days=1)


def months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for last in (31, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def time_windows(since: int, until: int) -> list[tuple[int, int]]:
    """``[since, until)`` in unix seconds -> inclusive ``(time_from, time_to)`` pairs at most 15 days apart."""
    step = int(api.MAX_ORDER_WINDOW.total_seconds())
    return [(start, min(start + step, until) - 1) for start in range(since, until, step)]


class ShopeeBackend(Backend):
    platform = "shopee"
    regions = (("", gettext_lazy("Global")), ("CN", gettext_lazy("Chinese Mainland")))
    label = "Shopee"
    channel = mapping.CHANNEL
    default_lookback_days = 7
    max_window_days = 15  # get_order_list's longest window

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def sleep(self):
        return self.conf.get("sleep") or time.sleep

    @property
    def clock(self):
        return self.conf.get("clock") or time.time

    def _http_options(self) -> dict:
        seconds = self.conf.get("timeout")
        return {
            "sleep": self.sleep,
            "timeout": httpx.Timeout(float(seconds), connect=min(float(seconds), 10.0)) if seconds else DEFAULT_TIMEOUT,
            # A 429 carries Shopee's code in its body (error_rate_limit or the daily error_limit): the client
            # reads it and waits accordingly.
            "retry_statuses": frozenset(RETRY_STATUSES - {429}),
        }

    def _rates(self) -> dict:
        return {"rate": float(self.conf.get("rate", 10.0)), "burst": float(self.conf.get("burst", 20))}

    def _http(self, bucket: str) -> PlatformHTTP:
        return PlatformHTTP(platform=self.label, bucket=bucket, **self._rates(), **self._http_options())

    def default_host(self) -> str:
        host = str(self.conf.get("host") or "global").lower()
        return host if host in api.HOSTS else "global"

    def client(self, credentials: dict, *, shop_id: int, http: PlatformHTTP, on_credentials=None, label=""):
        """The shop's client; without ``on_credentials`` it never refreshes (a new pair would be lost)."""
        return api.ShopeeClient(
            conf=self.conf,
            credentials=credentials,
            shop_id=shop_id,
            http=http,
            on_credentials=on_credentials,
            sleep=self.sleep,
            clock=self.clock,
            shop_label=label,
            may_refresh=on_credentials is not None,
        )

    # --- connecting -------------------------------------------------------------------------------------
    def authorization_url(self, *, state: str, redirect_uri: str, region: str = "") -> str:
        """Shopee's shop authorization page on the host ``region`` picks (see the module docstring)."""
        host = api.host_for(region, self.default_host())
        return api.authorization_url(
            self.conf, host=host, state=state, redirect_uri=redirect_uri, timestamp=int(self.clock())
        )

    def exchange_code(self, *, code: str, redirect_uri: str, params: dict) -> dict:
        """``params``: the callback's query (``code``, ``shop_id`` or ``main_account_id``, ``state``) with the
        connect view's ``region``. Returns the credentials of every shop the seller authorized."""
        shop_id, main_account_id = str(params.get("shop_id") or ""), str(params.get("main_account_id") or "")
        if not (shop_id.isdigit() or main_account_id.isdigit()):
            raise PlatformError(
                _("Shopee did not say which shop was authorized. Connect the shop again."),
                detail=f"callback parameters: {sorted(params)}",
            )
        host = api.host_for(str(params.get("region") or ""), self.default_host())
        http = self._http("auth")
        try:
            return api.exchange_code(
                http,
                self.conf,
                host=host,
                code=code,
                shop_id=int(shop_id) if shop_id.isdigit() else None,
                main_account_id=int(main_account_id) if main_account_id.isdigit() and not shop_id.isdigit() else None,
                clock=self.clock,
                sleep=self.sleep,
            )
        finally:
            http.close()

    def discover_accounts(self, *, credentials: dict) -> list[DiscoveredAccount]:
        """One account per authorized shop (``get_shop_info``: name and market; currency and time zone follow
        the market). Shops in markets we do not support yet are left out."""
        accounts = []
        host = credentials.get("host") or self.default_host()
        http = self._http("discovery")
        try:
            for shop_id in credentials.get("shop_id_list") or []:
                client = self.client(credentials, shop_id=int(shop_id), http=http)
                account = mapping.discovered_account(client.shop_info(), shop_id=int(shop_id), host=host)
                if account is not None:
                    accounts.append(account)
        finally:
            http.close()
        return accounts

    # --- syncing ----------------------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        connection = ctx.connection
        shop_id = int(connection.external_id)
        http = ctx.http(bucket=f"shop:{shop_id}", **self._rates(), **self._http_options())
        client = self.client(
            ctx.credentials,
            shop_id=shop_id,
            http=http,
            on_credentials=ctx.save_credentials,
            label=f"{connection.name} ({shop_id})",
        )
        run = _Run(self, ctx, client)
        try:
            client.ensure_token()
            if not ctx.cursor.get("orders_done"):
                run.sync_orders()
            if not ctx.cursor.get("sales_done"):
                run.load_daily_sales()
            if not ctx.cursor.get("order_totals_done"):
                run.count_orders()
            if not ctx.cursor.get("ads_totals_done"):
                run.sync_ads()
        finally:
            http.close()


class _Run:
    """One run's work, in the order of the module docstring, resumable from ``ctx.cursor``."""

    def __init__(self, backend: ShopeeBackend, ctx: SyncContext, client: api.ShopeeClient):
        self.backend, self.ctx, self.client = backend, ctx, client
        connection = ctx.connection
        self.tz = ZoneInfo(connection.time_zone or "UTC")
        self.marketplace = connection.marketplace
        self.currency = connection.currency
        self.since = int(datetime.combine(ctx.window_start, day_start(0), tzinfo=self.tz).timestamp())
        self.until = int(datetime.combine(ctx.window_end + timedelta(days=1), day_start(0), tzinfo=self.tz).timestamp())
        self.windows = time_windows(self.since, self.until)
        earliest_ads = months_before(ctx.window_end, ADS_HISTORY_MONTHS) + timedelta(days=ADS_HISTORY_MARGIN_DAYS)
        self.ads_earliest = earliest_ads
        self.ads_start = max(ctx.window_start, earliest_ads)
        self.ads_chunks = list(date_chunks(self.ads_start, ctx.window_end, ADS_CHUNK_DAYS))
        self.steps = 2 * len(self.windows) + 1 + len(self.ads_chunks)
        earliest = ctx.cursor.get("earliest_day")
        self.earliest: date | None = date.fromisoformat(earliest) if earliest else None
        conf = backend.conf
        self.page_size = max(1, min(api.MAX_PAGE_SIZE, int(conf.get("orders_page_size", api.MAX_PAGE_SIZE))))
        self.batch = max(1, min(api.MAX_ORDER_SNS, int(conf.get("details_batch_size", api.MAX_ORDER_SNS))))

    def _progress(self, done: float) -> None:
        self.ctx.progress(done, self.steps)

    # 1. orders ---------------------------------------------------------------------------------------------
    def sync_orders(self) -> None:
        ctx, cursor = self.ctx, self.ctx.cursor
        first = int(cursor.get("orders_window", 0))
        for index in range(first, len(self.windows)):
            time_from, time_to = self.windows[index]
            page_cursor = cursor.get("orders_cursor", "") if index == first else ""
            while True:
                page = self.client.order_list(
                    time_range_field="update_time",
                    time_from=time_from,
                    time_to=time_to,
                    cursor=page_cursor,
                    page_size=self.page_size,
                )
                numbers = [str(o["order_sn"]) for o in page.get("order_list") or []]
                for start in range(0, len(numbers), self.batch):
                    self.load_orders(self.client.order_details(numbers[start : start + self.batch]))
                next_cursor = str(page.get("next_cursor") or "")
                if page.get("more") and next_cursor:
                    if next_cursor == page_cursor:
                        raise PlatformError(
                            _("Shopee's order list did not move on to its next page; the sync stopped."),
                            detail=f"next_cursor {next_cursor!r} repeated",
                        )
                    page_cursor = next_cursor
                    ctx.checkpoint(orders_window=index, orders_cursor=page_cursor, earliest_day=self.earliest_iso)
                    continue
                ctx.checkpoint(orders_window=index + 1, orders_cursor="", earliest_day=self.earliest_iso)
                self._progress(index + 1)
                break
        ctx.checkpoint(orders_done=True)

    @property
    def earliest_iso(self) -> str | None:
        return self.earliest.isoformat() if self.earliest else None

    def load_orders(self, details: list[dict]) -> None:
        if not details:
            return
        facts = [
            mapping.order_fact(
                detail,
                marketplace=self.marketplace,
                currency=self.currency,
                tz=self.tz,
                source_ref=self.ctx.connection.pk,
            )
            for detail in details
        ]
        self.ctx.load_orders(facts)
        first = min(fact.date for fact in facts)
        self.earliest = first if self.earliest is None else min(self.earliest, first)

    # 2. daily sales -------------------------------------------------------------------------------------
    def coverage_start(self) -> date:
        """The first day whose orders we hold completely: this run's window start or, if earlier, that of
        a succeeded run of this connection (every order created on a day is updated on or after it)."""
        from connectors.models import RunStatus, SyncRun

        ctx = self.ctx
        earlier = SyncRun.unscoped_objects.filter(
            organization=ctx.organization, connection=ctx.connection, status=RunStatus.SUCCEEDED
        ).aggregate(start=Min("window_start"))["start"]
        return min(ctx.window_start, earlier) if earlier else ctx.window_start

    def load_daily_sales(self) -> None:
        """Recompute the all-SKU daily sales of every day this run touched, from the stored orders; days
        before the coverage start are left alone (we would hold only part of their orders)."""
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
        ctx.checkpoint(sales_done=True)

    # 3. the platform's own order count --------------------------------------------------------------------
    def count_orders(self) -> None:
        ctx, cursor = self.ctx, self.ctx.cursor
        first = int(cursor.get("count_window", 0))
        count = int(cursor.get("count_orders", 0))
        by_status: dict[str, int] = dict(cursor.get("count_by_status") or {})
        for index in range(first, len(self.windows)):
            time_from, time_to = self.windows[index]
            page_cursor = cursor.get("count_cursor", "") if index == first else ""
            while True:
                page = self.client.order_list(
                    time_range_field="create_time",
                    time_from=time_from,
                    time_to=time_to,
                    cursor=page_cursor,
                    page_size=api.MAX_PAGE_SIZE,
                    with_status=True,
                )
                for order in page.get("order_list") or []:
                    count += 1
                    status = str(order.get("order_status") or "")
                    by_status[status] = by_status.get(status, 0) + 1
                next_cursor = str(page.get("next_cursor") or "")
                more = bool(page.get("more") and next_cursor)
                if more and next_cursor == page_cursor:
                    raise PlatformError(
                        _("Shopee's order list did not move on to its next page; the sync stopped."),
                        detail=f"next_cursor {next_cursor!r} repeated",
                    )
                position = {"count_window": index + (0 if more else 1), "count_cursor": next_cursor if more else ""}
                ctx.checkpoint(**position, count_orders=count, count_by_status=by_status)
                if not more:
                    break
                page_cursor = next_cursor
            self._progress(len(self.windows) + 1 + index + 1)
        ctx.record_platform_totals(
            "orders",
            {
                "start": ctx.window_start.isoformat(),
                "end": ctx.window_end.isoformat(),
                "time_zone": str(self.tz),
                "orders": count,
                "by_status": dict(sorted(by_status.items())),
            },
        )
        ctx.checkpoint(order_totals_done=True)

    # 4. ads ----------------------------------------------------------------------------------------------
    def sync_ads(self) -> None:
        ctx = self.ctx
        done: list[str] = list(ctx.cursor.get("ads_done", []))
        sums: dict = dict(ctx.cursor.get("ads_sums") or {})
        connection = ctx.connection
        for number, (start, end) in enumerate(self.ads_chunks):
            key = f"{start.isoformat()}..{end.isoformat()}"
            if key in done:
                continue
            ask_start, ask_end = self._ads_query_span(start, end)
            facts = list(
                mapping.ad_facts(
                    self.client.ads_daily(ask_start, ask_end),
                    account_id=connection.external_id,
                    marketplace=self.marketplace,
                    currency=self.currency,
                    source_ref=connection.pk,
                    start=start,
                    end=end,
                )
            )
            ctx.load_ad_facts(facts)
            sums = mapping.ad_totals(facts, into=sums)
            done.append(key)
            ctx.checkpoint(ads_done=done, ads_sums=sums)
            self._progress(2 * len(self.windows) + 1 + number + 1)
        if self.ads_chunks:
            ctx.record_platform_totals(
                "ads",
                {
                    **mapping.ad_totals([], into=sums),
                    "start": self.ads_start.isoformat(),
                    "end": ctx.window_end.isoformat(),
                    "currency": self.currency,
                    "attribution_window": mapping.ATTRIBUTION_WINDOW,
                },
            )
        ctx.checkpoint(ads_totals_done=True)

    def _ads_query_span(self, start: date, end: date) -> tuple[date, date]:
        """Shopee refuses a span whose start equals its end: ask one day more (and keep only ours)."""
        if start < end:
            return start, end
        if start - timedelta(days=1) >= self.ads_earliest:
            return start - timedelta(days=1), end
        return start, end + timedelta(days=1)
