"""Google Ads: connect through Google OAuth, one connection per advertising (non-manager) account, and sync
entities plus daily metrics at four grains through ``googleAds:searchStream``.

Connecting: ``authorization_url`` ignores ``region`` (Google Ads has no regional hosts; the connect page's
NA/EU/FE picker does not matter here). ``discover_accounts`` lists the customers the Google user reaches
directly (``customers:listAccessibleCustomers``) and reads each one's ``customer`` row; a manager account
(MCC) is not connected itself: its client accounts are (``customer_client``, every level, enabled ones),
called with ``login-customer-id: <manager id>``, which the connection keeps in ``config["login_customer_id"]``.
Each account's marketplace is the country most of its campaigns target (``UK`` for the United Kingdom), or
``""`` when its campaigns target no single country.

Syncing, for the run's window in the account's own days:

1. the conversion window: the longest click-through window of the conversion actions counted in
   Conversions (default 30 days). Conversions are restated within it, so a run reads at least that many
   days back, even when the connection's ``lookback_days`` (30) is shorter; the facts record it as their
   ``attribution_window`` (``30d click``). Kept in the cursor (``start``, ``attribution``) on the first attempt;
2. entities (``googleAds:search``, paged): campaigns with their budgets, ad groups, keywords with their bids,
   ad-group and campaign negative keywords (cursor ``entities``);
3. for each chunk of at most 90 days, one searchStream per report (campaign, ad_group, keyword_view,
   search_term_view), streamed row by row into ``ctx.load_ad_facts`` and checkpointed (cursor ``done``);
   a stream that breaks loads nothing of its piece (the load is one transaction), and the retry redoes it;
4. reconciliation: one ``FROM customer`` query for the whole window gives Google's own totals, kept with
   ``ctx.record_platform_totals("customer", ...)``.

Optional keys in ``settings.PLATFORMS["google_ads"]``: ``rate``/``burst`` (requests a second per account,
default 5 and 20), ``timeout`` (seconds per HTTP call), ``sleep`` (a callable for every wait; tests pass a
recorder), ``api_version``, ``revoke_url``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta

import httpx

from campaigns import services as campaign_services
from connectors.backends.base import Backend, DiscoveredAccount, SyncContext
from connectors.backends.google_ads import client as api
from connectors.backends.google_ads import mapping
from connectors.errors import SyncError
from connectors.http import DEFAULT_TIMEOUT, RETRY_STATUSES, PlatformHTTP

REPORTS = ("campaign", "ad_group", "keyword_view", "search_term_view")  # the order a chunk is loaded in
SKIPPED_CUSTOMERS = {"CUSTOMER_NOT_ENABLED", "USER_PERMISSION_DENIED"}  # listed by Google, not usable by us


def date_chunks(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    while start <= end:
        chunk_end = min(end, start + timedelta(days=days - 1))
        yield start, chunk_end
        start = chunk_end + timedelta(days=1)


def piece_key(start: date, end: date, resource: str) -> str:
    return f"{start.isoformat()}..{end.isoformat()}:{resource}"


def _codes(error: SyncError) -> set[str]:
    failure = getattr(error, "failure", None)
    return failure.codes() if failure is not None else set()


class GoogleAdsBackend(Backend):
    platform = "google_ads"
    label = "Google Ads"
    channel = "google_ads"
    default_lookback_days = 30  # Google's default conversion window: conversions land up to 30 days late
    max_window_days = 90

    # -- plumbing --------------------------------------------------------------------------------------
    @property
    def sleep(self):
        return self.conf.get("sleep") or time.sleep

    def _http_options(self) -> dict:
        seconds = self.conf.get("timeout")
        return {
            "sleep": self.sleep,
            "timeout": httpx.Timeout(float(seconds), connect=min(float(seconds), 10.0)) if seconds else DEFAULT_TIMEOUT,
            # Google's 429 says how long to wait in its body (quotaErrorDetails.retryDelay): the client reads it.
            "retry_statuses": frozenset(RETRY_STATUSES - {429}),
        }

    def _rates(self) -> dict:
        return {"rate": float(self.conf.get("rate", 5.0)), "burst": float(self.conf.get("burst", 20))}

    def _http(self, bucket: str) -> PlatformHTTP:
        return PlatformHTTP(platform=self.label, bucket=bucket, **self._rates(), **self._http_options())

    def client(self, http: PlatformHTTP, credentials: dict, **kwargs) -> api.GoogleAdsClient:
        return api.GoogleAdsClient(http=http, conf=self.conf, credentials=credentials, sleep=self.sleep, **kwargs)

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
        http = self._http("discovery")
        try:
            client = self.client(http, credentials)
            direct: list[dict] = []
            managers: list[dict] = []
            for customer_id in client.list_accessible_customers():
                try:
                    rows = list(client.search(api.CUSTOMER_QUERY, customer_id=customer_id, login_customer_id=None))
                except SyncError as exc:
                    if _codes(exc) & SKIPPED_CUSTOMERS:
                        continue  # a cancelled account, or one the user can no longer open
                    raise
                customer = (rows[0] if rows else {}).get("customer") or {}
                (managers if customer.get("manager") else direct).append(customer)
            # customer id -> (its customer or customerClient object, login-customer-id, manager's name)
            found: dict[str, tuple[dict, str, str]] = {str(c["id"]): (c, "", "") for c in direct if c.get("id")}
            for manager in managers:
                manager_id = str(manager["id"])
                for row in client.search(api.CLIENTS_QUERY, customer_id=manager_id, login_customer_id=manager_id):
                    item = row.get("customerClient") or {}
                    if item.get("manager") or item.get("status", "ENABLED") != "ENABLED":
                        continue
                    customer_id = str(item.get("id") or mapping.tail_id(item.get("clientCustomer")))
                    found.setdefault(customer_id, (item, manager_id, manager.get("descriptiveName") or ""))
            accounts = []
            for customer_id, (item, login, manager_name) in found.items():
                locations = client.search(api.LOCATIONS_QUERY, customer_id=customer_id, login_customer_id=login or None)
                accounts.append(
                    mapping.discovered_account(
                        item,
                        login_customer_id=login,
                        manager_name=manager_name,
                        country=mapping.main_country(locations),
                    )
                )
        finally:
            http.close()
        return accounts

    def revoke(self, *, credentials: dict) -> None:
        token = credentials.get("refresh_token") or credentials.get("access_token")
        if not token:
            return
        http = self._http("auth")
        try:
            api.revoke(http, self.conf, token=token)
        finally:
            http.close()

    # -- syncing ---------------------------------------------------------------------------------------
    def sync(self, ctx: SyncContext) -> None:
        connection = ctx.connection
        http = ctx.http(bucket=f"customer:{connection.external_id}", **self._rates(), **self._http_options())
        client = self.client(
            http,
            ctx.credentials,
            customer_id=connection.external_id,
            login_customer_id=(connection.config or {}).get("login_customer_id") or None,
            on_credentials=ctx.save_credentials,
        )
        try:
            client.ensure_token()
            self._sync(ctx, client)
        finally:
            http.close()

    def _sync(self, ctx: SyncContext, client: api.GoogleAdsClient) -> None:
        connection = ctx.connection
        if "start" not in ctx.cursor:
            days = mapping.conversion_window_days(client.search(api.CONVERSION_ACTIONS_QUERY))
            start = min(ctx.window_start, ctx.window_end - timedelta(days=days - 1))
            ctx.checkpoint(start=start.isoformat(), attribution=mapping.attribution_window(days))
        start, end = date.fromisoformat(ctx.cursor["start"]), ctx.window_end
        attribution = ctx.cursor["attribution"]
        chunks = list(date_chunks(start, end, self.max_window_days))
        total = 2 + len(chunks) * len(REPORTS)
        done: list[str] = list(ctx.cursor.get("done", []))

        if not ctx.cursor.get("entities"):
            self.load_entities(ctx, client)
            ctx.checkpoint(entities=True)
        ctx.progress(1 + len(done), total)

        for chunk_start, chunk_end in chunks:
            for resource in REPORTS:
                key = piece_key(chunk_start, chunk_end, resource)
                if key in done:
                    continue
                rows = client.search_stream(api.report_query(resource, chunk_start, chunk_end))
                ctx.load_ad_facts(
                    mapping.ad_facts(
                        rows,
                        resource=resource,
                        account_id=connection.external_id,
                        marketplace=connection.marketplace,
                        currency=connection.currency,
                        attribution_window=attribution,
                        source_ref=connection.pk,
                    )
                )
                done.append(key)
                ctx.checkpoint(done=list(done))
                ctx.progress(1 + len(done), total)

        totals = list(client.search_stream(api.totals_query(start, end)))
        ctx.record_platform_totals(
            "customer",
            mapping.platform_totals(
                totals[0] if totals else None, start=start, end=end, currency=connection.currency, window=attribution
            ),
        )

    def load_entities(self, ctx: SyncContext, client: api.GoogleAdsClient) -> None:
        """Campaigns (with budgets), ad groups, keywords, then ad-group and campaign negatives: parents first."""
        organization, account = ctx.organization, ctx.ad_account()
        campaign_services.campaigns_upsert(
            organization=organization,
            ad_account=account,
            rows=[mapping.campaign_row(r) for r in client.search(api.CAMPAIGNS_QUERY)],
        )
        campaign_services.ad_groups_upsert(
            organization=organization,
            ad_account=account,
            rows=[mapping.ad_group_row(r) for r in client.search(api.AD_GROUPS_QUERY)],
        )
        keywords = list(client.search(api.KEYWORDS_QUERY))
        campaign_services.targets_upsert(
            organization=organization,
            ad_account=account,
            rows=[mapping.keyword_row(r) for r in keywords if not r["adGroupCriterion"].get("negative")],
        )
        campaign_services.negative_keywords_upsert(
            organization=organization,
            ad_account=account,
            rows=[mapping.ad_group_negative_row(r) for r in keywords if r["adGroupCriterion"].get("negative")]
            + [mapping.campaign_negative_row(r) for r in client.search(api.CAMPAIGN_NEGATIVES_QUERY)],
        )
