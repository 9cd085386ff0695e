"""Amazon Ads (Sponsored Products): connect through Login with Amazon, one connection per seller profile,
and sync entities plus daily v3 reports at four grains.

A run's cursor makes it resumable: ``entities`` (loaded once per run), ``reports`` (piece -> report id,
saved as soon as Amazon gives one, so a resumed run polls the same report instead of asking twice) and
``done`` (pieces loaded). A piece is one report type over one chunk of at most 31 days.

Beside the daily reports, each run asks for one more: a Sponsored Products campaigns report with
``timeUnit: SUMMARY`` over the run's last chunk (the whole window of a scheduled run), requested with that
chunk's reports so Amazon builds it alongside them. Its rows summed are the profile's own totals,
recorded as ``platform_totals["ads"]`` (``totals_done`` in the cursor once kept) for reconciliation.

Optional knobs in ``settings.PLATFORMS["amazon_ads"]``: ``rate``/``burst`` (requests per second per profile,
default 2 and 10), ``timeout`` (seconds per HTTP call), ``sleep`` (a callable; tests pass a no-op),
``poll_interval``/``poll_max_interval``/``report_wait_seconds`` (report polling), ``page_size`` (list calls).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
from django.utils.translation import gettext as _

from campaigns import services as campaign_services
from connectors.backends.amazon_ads import client as api
from connectors.backends.amazon_ads import mapping
from connectors.backends.base import Backend, DiscoveredAccount, SyncContext
from connectors.errors import TransientError
from connectors.http import PlatformHTTP

logger = logging.getLogger(__name__)

REPORT_TYPES = tuple(api.REPORTS)  # the order a chunk is loaded in
RETENTION_DAYS = 95  # Amazon keeps SP campaign, targeting and search-term report data this long
TOTALS_KEY = "totals"  # the summary report's entry in the cursor's ``reports``
# The summary's conversions window: the daily facts' own, so both sides count the same orders.
TOTALS_WINDOW = mapping.ATTRIBUTION_WINDOW


def date_chunks(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    while start <= end:
        chunk_end = min(end, start + timedelta(days=days - 1))
        yield start, chunk_end
        start = chunk_end + timedelta(days=1)


def piece_key(start: date, end: date, report_type: str) -> str:
    return f"{start.isoformat()}..{end.isoformat()}:{report_type}"


class AmazonAdsBackend(Backend):
    platform = "amazon_ads"
    label = "Amazon Ads"
    channel = "amazon_ads"
    default_lookback_days = 14  # conversions are restated for days after the click
    max_window_days = api.MAX_REPORT_DAYS

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
        return {"rate": float(self.conf.get("rate", 2.0)), "burst": float(self.conf.get("burst", 10))}

    def _http(self, bucket: str) -> PlatformHTTP:
        return PlatformHTTP(platform=self.label, bucket=bucket, **self._rates(), **self._http_options())

    # -- connecting ------------------------------------------------------------------------------------
    def authorization_url(self, *, state: str, redirect_uri: str, region: str = "") -> str:
        return api.authorization_url(self.conf, state=state, redirect_uri=redirect_uri)

    def exchange_code(self, *, code: str, redirect_uri: str, params: dict) -> dict:
        http = self._http("auth")
        try:
            return api.exchange_code(http, self.conf, code=code, redirect_uri=redirect_uri)
        finally:
            http.close()

    def discover_accounts(self, *, credentials: dict) -> list[DiscoveredAccount]:
        """One account per seller profile, from every regional host (each lists its own region's profiles)."""
        http = self._http("discovery")
        try:
            client = api.AmazonAdsClient(http=http, conf=self.conf, credentials=credentials, sleep=self.sleep)
            profiles: dict[str, dict] = {}
            for url in dict.fromkeys(self.conf["api_urls"].values()):
                for profile in client.profiles(api_url=url):
                    profiles.setdefault(str(profile["profileId"]), profile)
        finally:
            http.close()
        return [mapping.discovered_account(p) for p in profiles.values() if mapping.is_seller(p)]

    # -- syncing ---------------------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        connection = ctx.connection
        http = ctx.http(bucket=f"profile:{connection.external_id}", **self._rates(), **self._http_options())
        client = api.AmazonAdsClient(
            http=http,
            conf=self.conf,
            credentials=ctx.credentials,
            region=connection.region or mapping.region_of(connection.marketplace),
            profile_id=connection.external_id,
            on_credentials=ctx.save_credentials,
            sleep=self.sleep,
        )
        try:
            client.ensure_token()
            self._sync(ctx, client)
        finally:
            http.close()

    def _sync(self, ctx: SyncContext, client: api.AmazonAdsClient) -> None:
        start = max(ctx.window_start, ctx.window_end - timedelta(days=RETENTION_DAYS - 1))
        chunks = list(date_chunks(start, ctx.window_end, self.max_window_days))
        total = 1 + len(chunks) * len(REPORT_TYPES)
        done: list[str] = list(ctx.cursor.get("done", []))
        reports: dict[str, str] = dict(ctx.cursor.get("reports", {}))

        def heartbeat():  # progress, and a sign of life while Amazon builds a report (the sweeper watches)
            ctx.progress(1 + len(done), total)

        if not ctx.cursor.get("entities"):
            self.load_entities(ctx, client)
            ctx.checkpoint(entities=True)
        heartbeat()

        totals_span = chunks[-1] if chunks and not ctx.cursor.get("totals_done") else None
        for chunk_start, chunk_end in chunks:
            todo = [
                (report_type, key)
                for report_type in REPORT_TYPES
                if (key := piece_key(chunk_start, chunk_end, report_type)) not in done
            ]
            # Ask for all of the chunk's reports before waiting on any: Amazon builds them side by side.
            for report_type, key in todo:
                if key not in reports:
                    reports[key] = client.create_report(report_type, chunk_start, chunk_end)
                    ctx.checkpoint(reports=dict(reports))
            if totals_span == (chunk_start, chunk_end) and TOTALS_KEY not in reports:
                reports[TOTALS_KEY] = client.create_summary_report(chunk_start, chunk_end, window=TOTALS_WINDOW)
                ctx.checkpoint(reports=dict(reports))
            for report_type, key in todo:
                self._load_report(ctx, client, report_type, chunk_start, chunk_end, key, reports, heartbeat)
                done.append(key)
                reports.pop(key, None)
                ctx.checkpoint(done=list(done), reports=dict(reports))
                heartbeat()
        if totals_span is not None:
            self._record_totals(ctx, client, *totals_span, reports, heartbeat)

    def _completed(self, ctx, client, key, create, reports, heartbeat) -> dict | None:
        """The status of ``key``'s report once Amazon finished it, asking for it again (``create()``) once if
        Amazon failed to build it or forgot it; the last status (or None) if the second one did not complete."""
        status = None
        for _attempt in range(2):
            if key not in reports:
                reports[key] = create()
                ctx.checkpoint(reports=dict(reports))
            status = client.wait_for_report(reports[key], heartbeat=heartbeat)
            if status is not None and status["status"] == "COMPLETED":
                return status
            logger.info("amazon ads report %s for %s: %s", reports[key], key, status and status.get("failureReason"))
            reports.pop(key)
            ctx.checkpoint(reports=dict(reports))
        return status

    def _record_totals(self, ctx, client, start: date, end: date, reports, heartbeat) -> None:
        """Wait for the run's summary report and record its sums. The totals are a check on what was loaded,
        not data: a summary Amazon fails to build twice is logged and the run goes on without it."""
        status = self._completed(
            ctx,
            client,
            TOTALS_KEY,
            lambda: client.create_summary_report(start, end, window=TOTALS_WINDOW),
            reports,
            heartbeat,
        )
        if status is not None and status["status"] == "COMPLETED":
            connection = ctx.connection
            ctx.record_platform_totals(
                "ads",
                mapping.platform_totals(
                    client.report_rows(status["url"]),
                    start=start,
                    end=end,
                    currency=connection.currency,
                    time_zone=connection.time_zone,
                    window=TOTALS_WINDOW,
                ),
            )
        reports.pop(TOTALS_KEY, None)
        ctx.checkpoint(reports=dict(reports), totals_done=True)

    def _load_report(self, ctx, client, report_type, start, end, key, reports, heartbeat) -> None:
        """Wait for the piece's report (asking for it again once if Amazon failed it) and load its rows."""
        status = self._completed(
            ctx, client, key, lambda: client.create_report(report_type, start, end), reports, heartbeat
        )
        if status is None or status["status"] != "COMPLETED":
            raise TransientError(
                _("Amazon Ads could not prepare a report; the sync will retry."),
                detail=f"{key}: {status and status.get('failureReason')}",
            )
        connection = ctx.connection
        ctx.load_ad_facts(
            mapping.ad_facts(
                client.report_rows(status["url"]),
                report_type=report_type,
                account_id=connection.external_id,
                marketplace=connection.marketplace,
                currency=connection.currency,
                source_ref=connection.pk,
            )
        )

    def load_entities(self, ctx: SyncContext, client: api.AmazonAdsClient) -> None:
        """Campaigns, ad groups, keywords and targets, negatives and product ads, parents first."""
        organization, account = ctx.organization, ctx.ad_account()
        size = int(self.conf.get("page_size", 500))

        def items(entity: str) -> Iterator[dict]:
            return client.list_all(entity, page_size=size)

        campaign_services.campaigns_upsert(
            organization=organization, ad_account=account, rows=[mapping.campaign_row(i) for i in items("campaigns")]
        )
        campaign_services.ad_groups_upsert(
            organization=organization, ad_account=account, rows=[mapping.ad_group_row(i) for i in items("adGroups")]
        )
        campaign_services.targets_upsert(
            organization=organization,
            ad_account=account,
            rows=[mapping.keyword_row(i) for i in items("keywords")]
            + [mapping.target_row(i) for i in items("targets")],
        )
        campaign_services.negative_keywords_upsert(
            organization=organization,
            ad_account=account,
            rows=[mapping.negative_keyword_row(i) for i in items("negativeKeywords")]
            + [mapping.negative_keyword_row(i) for i in items("campaignNegativeKeywords")],
        )
        campaign_services.advertised_products_upsert(
            organization=organization, ad_account=account, rows=[mapping.product_ad_row(i) for i in items("productAds")]
        )
