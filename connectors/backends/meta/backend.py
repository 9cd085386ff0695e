"""Meta (Facebook and Instagram ads): connect with Facebook Login, one connection per active ad account, and
sync campaigns, ad sets and daily ad-level insights split by publisher platform and country.

Connecting: no region picker (``region`` is accepted and ignored: the Graph API is global). The login code is
traded for a short-lived token and that at once for a long-lived one (about 60 days); Meta has no refresh
grant, so a token that has run out, or will within 7 days, stops the sync with "reconnect Meta".

Syncing (``default_lookback_days`` 28: Meta restates conversions inside its attribution windows):

1. entities, once per run: campaigns and ad sets (as ad groups). Ads are not stored as entities: the
   ``AdvertisedProduct`` table means a SKU advertised in an ad group, and a Meta ad has no SKU; each ad's id
   and name are on its fact rows (see ``mapping``).
2. insights, in chunks of at most 30 days, each read to a temporary file, then loaded whole (one transaction)
   and checkpointed (``spooled`` says why not straight from the pages). A chunk of more than ``sync_max_days``
   (7) days is an async report run (``POST /act_{id}/insights``, polled with a growing interval through the
   ``sleep`` seam; its id is checkpointed at once so a resumed run polls the same job; "Job Failed" or "Job
   Skipped" asks once more, then the run is retried later), a shorter one a synchronous, paged GET.
3. reconciliation: Meta's own account-level totals for the whole window (``level=account``, no breakdowns)
   recorded with ``ctx.record_platform_totals("account", ...)`` beside what was loaded.

Optional knobs in ``settings.PLATFORMS["meta"]``: ``rate``/``burst`` (requests per second per ad account,
default 4 and 20), ``timeout`` (seconds per HTTP call), ``sleep`` (a callable; tests pass a recorder),
``poll_interval``/``poll_max_interval``/``report_wait_seconds`` (async jobs), ``page_size`` (``limit``, 500),
``sync_max_days`` (7), ``usage_pause_seconds`` (the wait at 85 % usage, 120).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

import httpx
from django.utils.translation import gettext as _

from campaigns import services as campaign_services
from connectors.backends.base import Backend, DiscoveredAccount, SyncContext
from connectors.backends.meta import client as api
from connectors.backends.meta import mapping
from connectors.errors import TransientError
from connectors.http import PlatformHTTP

logger = logging.getLogger(__name__)

MAX_CHUNK_DAYS = 30
SYNC_MAX_DAYS = 7
SPOOL_MEMORY_BYTES = 8 * 1024 * 1024


def date_chunks(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    while start <= end:
        chunk_end = min(end, start + timedelta(days=days - 1))
        yield start, chunk_end
        start = chunk_end + timedelta(days=1)


def chunk_key(start: date, end: date) -> str:
    return f"{start.isoformat()}..{end.isoformat()}"


def spooled(rows: Iterable[dict]) -> Iterator[dict]:
    """Read every page now, into a temporary file (memory up to 8 MB, then disk), and return the rows to replay.

    A chunk is loaded in one transaction (all of it or none of it), and its pages must not be fetched inside
    that transaction: each call goes through the rate limiter (a row locked in PostgreSQL when Redis is not
    configured, on the connection that is busy with the load's COPY) and may pause for Meta's usage limits.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES, mode="w+b")  # noqa: SIM115 - closed below
    try:
        for row in rows:
            spool.write(json.dumps(row, separators=(",", ":")).encode())
            spool.write(b"\n")
        spool.seek(0)
    except BaseException:
        spool.close()
        raise

    def replay() -> Iterator[dict]:
        with spool:
            for line in spool:
                yield json.loads(line)

    return replay()


class MetaBackend(Backend):
    platform = "meta"
    label = "Meta"
    channel = "meta"
    default_lookback_days = 28
    max_window_days = MAX_CHUNK_DAYS

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
        return {"rate": float(self.conf.get("rate", 4.0)), "burst": float(self.conf.get("burst", 20))}

    def _http(self, bucket: str) -> PlatformHTTP:
        return PlatformHTTP(platform=self.label, bucket=bucket, **self._rates(), **self._http_options())

    def _client(self, http: PlatformHTTP, credentials: dict) -> api.MetaClient:
        return api.MetaClient(
            http=http,
            conf=self.conf,
            access_token=credentials["access_token"],
            sleep=self.sleep,
            page_size=int(self.conf.get("page_size", 500)),
        )

    # -- connecting ------------------------------------------------------------------------------------
    def authorization_url(self, *, state: str, redirect_uri: str, region: str = "") -> str:
        return api.authorization_url(self.conf, state=state, redirect_uri=redirect_uri)

    def exchange_code(self, *, code: str, redirect_uri: str, params: dict) -> dict:
        """``{"access_token", "token_type", "expires_at"}``: the long-lived token and when it ends (epoch
        seconds; None for a token without an expiry)."""
        http = self._http("auth")
        try:
            return api.exchange_code(http, self.conf, code=code, redirect_uri=redirect_uri)
        finally:
            http.close()

    def discover_accounts(self, *, credentials: dict) -> list[DiscoveredAccount]:
        """One account per active ad account the login reaches (disabled and closed ones are left out)."""
        api.check_token(credentials, now=time.time())
        http = self._http("discovery")
        try:
            items = list(self._client(http, credentials).ad_accounts())
        finally:
            http.close()
        return [mapping.discovered_account(item) for item in items if mapping.is_active(item)]

    def revoke(self, *, credentials: dict) -> None:
        if not credentials.get("access_token"):
            return
        http = self._http("auth")
        try:
            self._client(http, credentials).revoke()
        finally:
            http.close()

    # -- syncing ---------------------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        api.check_token(ctx.credentials, now=time.time())
        http = ctx.http(bucket=f"account:{ctx.connection.external_id}", **self._rates(), **self._http_options())
        try:
            self._sync(ctx, self._client(http, ctx.credentials))
        finally:
            http.close()

    def _sync(self, ctx: SyncContext, client: api.MetaClient) -> None:
        chunks = list(date_chunks(ctx.window_start, ctx.window_end, self.max_window_days))
        total = 2 + len(chunks)
        done: list[str] = list(ctx.cursor.get("done", []))
        jobs: dict[str, str] = dict(ctx.cursor.get("jobs", {}))

        def heartbeat():  # progress, and a sign of life while Meta builds a report (the sweeper watches)
            ctx.progress(1 + len(done), total)

        if not ctx.cursor.get("entities"):
            self.load_entities(ctx, client)
            ctx.checkpoint(entities=True)
        heartbeat()

        connection = ctx.connection
        for start, end in chunks:
            key = chunk_key(start, end)
            if key in done:
                continue
            rows = spooled(self._chunk_rows(ctx, client, start, end, key, jobs, heartbeat))
            ctx.load_ad_facts(
                mapping.ad_facts_with_campaigns(
                    rows, account_id=connection.external_id, currency=connection.currency, source_ref=connection.pk
                )
            )
            done.append(key)
            jobs.pop(key, None)
            ctx.checkpoint(done=list(done), jobs=dict(jobs))
            heartbeat()

        self.record_totals(ctx, client)

    def _chunk_rows(self, ctx, client, start, end, key, jobs, heartbeat) -> Iterator[dict]:
        account_id = ctx.connection.external_id
        params = api.insights_params(
            start, end, level="ad", fields=api.AD_FIELDS, breakdowns=api.BREAKDOWNS, limit=client.page_size
        )
        if (end - start).days + 1 <= int(self.conf.get("sync_max_days", SYNC_MAX_DAYS)):
            return client.insights(account_id, params)
        status = None
        for _attempt in range(2):  # a job Meta failed or skipped (or forgot) is asked for once more
            if key not in jobs:
                jobs[key] = client.start_job(account_id, params)
                ctx.checkpoint(jobs=dict(jobs))
            status = client.wait_for_job(jobs[key], heartbeat=heartbeat)
            if status is not None and status.get("async_status") == api.JOB_COMPLETED:
                return client.job_rows(jobs[key])
            logger.info("meta report run %s for %s ended: %s", jobs[key], key, status)
            jobs.pop(key)
            ctx.checkpoint(jobs=dict(jobs))
        raise TransientError(
            _("Meta could not prepare an insights report for %(start)s to %(end)s; the sync will retry.")
            % {"start": start.isoformat(), "end": end.isoformat()},
            detail=f"{key}: {status}",
        )

    def record_totals(self, ctx: SyncContext, client: api.MetaClient) -> None:
        """Meta's own account-level totals for the run's window, kept beside the facts we loaded."""
        start, end = ctx.window_start, ctx.window_end
        params = api.insights_params(start, end, level="account", fields=api.ACCOUNT_TOTAL_FIELDS, daily=False)
        rows = list(client.insights(ctx.connection.external_id, params))
        ctx.record_platform_totals(
            "account",
            mapping.account_totals(rows[0] if rows else None, start=start, end=end, currency=ctx.connection.currency),
        )

    def load_entities(self, ctx: SyncContext, client: api.MetaClient) -> None:
        organization, account = ctx.organization, ctx.ad_account()
        account_id, currency = ctx.connection.external_id, ctx.connection.currency
        campaign_services.campaigns_upsert(
            organization=organization,
            ad_account=account,
            rows=[mapping.campaign_row(i, currency) for i in client.edge(account_id, "campaigns", api.CAMPAIGN_FIELDS)],
        )
        campaign_services.ad_groups_upsert(
            organization=organization,
            ad_account=account,
            rows=[mapping.ad_group_row(i, currency) for i in client.edge(account_id, "adsets", api.ADSET_FIELDS)],
        )
