"""TikTok Ads (TikTok for Business Marketing API v1.3): connect one TikTok login, get one connection per
authorized advertiser, and sync its campaigns and ad groups plus daily reports at three levels.

No region picker: one API host serves every advertiser (the ``region`` the connect view passes is ignored).
The callback brings ``auth_code`` (and ``code``, the same value) and ``state``.

A run works in one of two modes, fixed when it starts and kept in its cursor:

- ``sync``: windows of at most 30 days (every scheduled run: the 7-day lookback) read
  ``report/integrated/get`` page by page; a page is the unit of work: ``pages`` holds the last page loaded
  per piece, so a resumed run asks for the next page, never a loaded one again.
- ``async``: longer windows (backfills) are split into chunks of at most ``async_chunk_days`` (90); each
  chunk's three report tasks are created before any is awaited (TikTok builds them side by side) and
  checked together, their ids saved in ``tasks`` as soon as TikTok gives them, so a resumed run polls the
  same tasks instead of asking twice; a finished task's CSV is streamed from its download URL into the
  facts. A task TikTok fails is asked for once more, then the run is retried later.

A piece is one level (``AUCTION_CAMPAIGN``, ``AUCTION_ADGROUP``, ``AUCTION_AD``) over one chunk; ``done``
lists the pieces loaded. Last, the advertiser's own totals for the window (``AUCTION_ADVERTISER``, no day
dimension) are recorded beside ours for reconciliation (``SyncRun.platform_totals["advertiser"]``).

Optional knobs in ``settings.PLATFORMS["tiktok_ads"]``: ``rate``/``burst`` (requests per second per
advertiser, default 10 and 10, TikTok's basic tier), ``timeout`` (seconds per HTTP call), ``sleep`` (a
callable; tests pass a recorder), ``rate_limit_wait``/``rate_limit_retries``/``rate_limit_retry_after``
(code 40100), ``poll_interval``/``poll_max_interval``/``report_wait_seconds`` (task polling),
``page_size`` (reports and lists, at most 1000), ``async_chunk_days``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
from django.utils.translation import gettext as _

from campaigns import services as campaign_services
from connectors.backends.base import Backend, DiscoveredAccount, SyncContext
from connectors.backends.tiktok_ads import client as api
from connectors.backends.tiktok_ads import mapping
from connectors.errors import TransientError
from connectors.http import PlatformHTTP

logger = logging.getLogger(__name__)


def date_chunks(start: date, end: date, max_days: int) -> Iterator[tuple[date, date]]:
    """``start``..``end`` in the fewest chunks of at most ``max_days``, as even as possible."""
    days = (end - start).days + 1
    if days <= 0:
        return
    count = -(-days // max_days)
    base, extra = divmod(days, count)
    for i in range(count):
        length = base + (1 if i < extra else 0)
        yield start, start + timedelta(days=length - 1)
        start += timedelta(days=length)


def piece_key(start: date, end: date, level: str) -> str:
    return f"{start.isoformat()}..{end.isoformat()}:{level}"


class TikTokAdsBackend(Backend):
    platform = "tiktok_ads"
    label = "TikTok Ads"
    channel = "tiktok_ads"
    default_lookback_days = 7  # purchases are attributed up to 7 days after the click
    max_window_days = api.SYNC_MAX_DAYS

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

    def _rates(self) -> dict:
        return {"rate": float(self.conf.get("rate", 10.0)), "burst": float(self.conf.get("burst", 10))}

    def _http(self, bucket: str) -> PlatformHTTP:
        return PlatformHTTP(platform=self.label, bucket=bucket, **self._rates(), **self._http_options())

    def _page_size(self) -> int:
        return max(1, min(api.MAX_PAGE_SIZE, int(self.conf.get("page_size", api.MAX_PAGE_SIZE))))

    # -- connecting ------------------------------------------------------------------------------------
    def authorization_url(self, *, state: str, redirect_uri: str, region: str = "") -> str:
        return api.authorization_url(self.conf, state=state, redirect_uri=redirect_uri)

    def exchange_code(self, *, code: str, redirect_uri: str, params: dict) -> dict:
        http = self._http("auth")
        try:
            client = api.TikTokAdsClient(http=http, conf=self.conf, sleep=self.sleep)
            return client.exchange_code(params.get("auth_code") or code)
        finally:
            http.close()

    def discover_accounts(self, *, credentials: dict) -> list[DiscoveredAccount]:
        """One account per advertiser the token covers, with its currency, time zone and country."""
        http = self._http("discovery")
        try:
            client = api.TikTokAdsClient(http=http, conf=self.conf, credentials=credentials, sleep=self.sleep)
            ids = [str(a["advertiser_id"]) for a in client.authorized_advertisers()]
            infos = client.advertiser_info(ids) if ids else []
        finally:
            http.close()
        return [mapping.discovered_account(info) for info in infos]

    # -- syncing ---------------------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        connection = ctx.connection
        http = ctx.http(bucket=f"advertiser:{connection.external_id}", **self._rates(), **self._http_options())
        client = api.TikTokAdsClient(
            http=http,
            conf=self.conf,
            credentials=ctx.credentials,
            on_credentials=ctx.save_credentials,
            sleep=self.sleep,
        )
        try:
            client.ensure_token()
            self._sync(ctx, client)
        finally:
            http.close()

    def _sync(self, ctx: SyncContext, client: api.TikTokAdsClient) -> None:
        start, end = ctx.window_start, ctx.window_end
        days = (end - start).days + 1
        mode = ctx.cursor.get("mode") or ("sync" if days <= api.SYNC_MAX_DAYS else "async")
        chunk_days = (
            api.SYNC_MAX_DAYS if mode == "sync" else int(self.conf.get("async_chunk_days", api.ASYNC_CHUNK_DAYS))
        )
        chunks = list(date_chunks(start, end, chunk_days))
        total = 2 + len(chunks) * len(api.LEVELS)
        done: list[str] = list(ctx.cursor.get("done", []))

        def heartbeat():  # progress, and a sign of life while TikTok builds a report (the sweeper watches)
            ctx.progress(1 + len(done), total)

        if not ctx.cursor.get("entities"):
            self.load_entities(ctx, client)
            ctx.checkpoint(entities=True, mode=mode)
        heartbeat()

        for chunk_start, chunk_end in chunks:
            if mode == "sync":
                self._sync_chunk(ctx, client, chunk_start, chunk_end, done, heartbeat)
            else:
                self._async_chunk(ctx, client, chunk_start, chunk_end, done, heartbeat)
        self.record_totals(ctx, client)

    def _facts(self, ctx: SyncContext, rows, level: str):
        connection = ctx.connection
        return mapping.ad_facts(
            rows,
            level=level,
            account_id=connection.external_id,
            marketplace=connection.marketplace,
            currency=connection.currency,
            source_ref=connection.pk,
        )

    def _sync_chunk(self, ctx, client, start, end, done, heartbeat) -> None:
        """Each level page by page; a checkpoint after every page loaded."""
        pages: dict[str, int] = dict(ctx.cursor.get("pages", {}))
        for level in api.LEVELS:
            key = piece_key(start, end, level)
            if key in done:
                continue
            query = api.report_query(ctx.connection.external_id, level, start, end)
            for page, rows in client.report_pages(query, page_size=self._page_size(), first_page=pages.get(key, 0) + 1):
                ctx.load_ad_facts(self._facts(ctx, rows, level))
                pages[key] = page
                ctx.checkpoint(pages=dict(pages))
            done.append(key)
            pages.pop(key, None)
            ctx.checkpoint(done=list(done), pages=dict(pages))
            heartbeat()

    def _async_chunk(self, ctx, client, start, end, done, heartbeat) -> None:
        """Create the chunk's tasks (all before waiting on any: TikTok builds them side by side), wait for them
        together, then load each finished one; a task TikTok failed is created once more."""
        tasks: dict[str, str] = dict(ctx.cursor.get("tasks", {}))
        advertiser_id = ctx.connection.external_id
        todo = {key: level for level in api.LEVELS if (key := piece_key(start, end, level)) not in done}
        failed: dict[str, dict] = {}
        for _round in range(2):
            for key, level in todo.items():
                if key not in tasks:
                    tasks[key] = client.create_task(api.report_query(advertiser_id, level, start, end))
                    ctx.checkpoint(tasks=dict(tasks))
            statuses = client.wait_for_tasks(advertiser_id, {key: tasks[key] for key in todo}, heartbeat=heartbeat)
            for key, level in list(todo.items()):
                status = statuses[key]
                if status.get("status") != api.TASK_SUCCEEDED:
                    logger.info("tiktok ads task %s for %s: %s %s", tasks[key], key, status.get("status"), status)
                    failed[key] = status
                    tasks.pop(key)
                    ctx.checkpoint(tasks=dict(tasks))
                    continue
                url = client.download_url(advertiser_id, tasks[key])  # a fresh link: they last an hour
                ctx.load_ad_facts(self._facts(ctx, client.task_rows(url), level))
                done.append(key)
                tasks.pop(key)
                del todo[key]
                ctx.checkpoint(done=list(done), tasks=dict(tasks))
                heartbeat()
            if not todo:
                return
        raise TransientError(
            _("TikTok Ads could not prepare a report; the sync will retry."),
            detail="; ".join(f"{key}: {failed[key].get('status')} {failed[key].get('message')}" for key in todo),
        )

    def record_totals(self, ctx: SyncContext, client: api.TikTokAdsClient) -> None:
        """The advertiser's own totals for the window (AUCTION_ADVERTISER, no day), kept beside our facts."""
        connection = ctx.connection
        rows: list[dict] = []
        for start, end in date_chunks(ctx.window_start, ctx.window_end, api.TOTALS_MAX_DAYS):
            query = api.report_query(connection.external_id, "AUCTION_ADVERTISER", start, end, daily=False)
            for _page, page_rows in client.report_pages(query, page_size=api.MAX_PAGE_SIZE):
                rows.extend(page_rows)
        ctx.record_platform_totals(
            "advertiser",
            mapping.platform_totals(rows, start=ctx.window_start, end=ctx.window_end, currency=connection.currency),
        )

    def load_entities(self, ctx: SyncContext, client: api.TikTokAdsClient) -> None:
        """Campaigns, then ad groups (parents first)."""
        organization, account = ctx.organization, ctx.ad_account()
        advertiser_id, size = ctx.connection.external_id, self._page_size()
        campaign_services.campaigns_upsert(
            organization=organization,
            ad_account=account,
            rows=[mapping.campaign_row(i) for i in client.list_all("/campaign/get/", advertiser_id, page_size=size)],
        )
        campaign_services.ad_groups_upsert(
            organization=organization,
            ad_account=account,
            rows=[mapping.ad_group_row(i) for i in client.list_all("/adgroup/get/", advertiser_id, page_size=size)],
        )
