"""The Selling Partner API protocol: Login with Amazon tokens, ``x-amz-access-token`` calls, usage plans.

Facts (platform-apis.md section 2): LWA code exchange and refresh are form-encoded POSTs to the token URL;
access tokens last 3600 s and are refreshed a minute before they expire. Every call carries
``x-amz-access-token``. Each operation has its own usage plan (rate per second, burst), and every response
states the applied rate in ``x-amzn-RateLimit-Limit``: a 429 is waited out for ``1 / limit`` seconds (Amazon
sends no ``Retry-After``), and a response's limit becomes the bucket's rate from then on. Errors come as
``{"errors": [{"code", "message", "details"}]}`` and their text is shown to the seller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from django.utils.translation import gettext as _

from connectors.errors import AuthorizationError, PlatformError
from connectors.http import DEFAULT_TIMEOUT, PlatformHTTP

LABEL = "Amazon Seller Central"
TOKEN_REFRESH_MARGIN = 60  # seconds before expiry (the official client uses 30)
RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"
ORDERS_PAGE_SIZE = 100

# operation -> (requests per second, burst): the default usage plans from the API models.
RATE_LIMITS: dict[str, tuple[float, float]] = {
    "getOrderMetrics": (0.5, 15),
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
    "getMarketplaceParticipations": (0.016, 15),
}


@dataclass(frozen=True)
class Marketplace:
    id: str
    code: str  # our marketplace code (country), as Amazon Ads uses it: US, UK, DE, JP ...
    region: str  # NA, EU or FE: which regional host serves it
    currency: str
    time_zone: str  # the day boundary Seller Central reports in


# The regional host table (platform-apis.md 2.2) with each marketplace's currency and reporting time zone.
MARKETPLACES: dict[str, Marketplace] = {
    m.id: m
    for m in (
        Marketplace("ATVPDKIKX0DER", "US", "NA", "USD", "America/Los_Angeles"),
        Marketplace("A2EUQ1WTGCTBG2", "CA", "NA", "CAD", "America/Los_Angeles"),
        Marketplace("A1AM78C64UM0Y8", "MX", "NA", "MXN", "America/Mexico_City"),
        Marketplace("A2Q3Y263D00KWC", "BR", "NA", "BRL", "America/Sao_Paulo"),
        Marketplace("A1F83G8C2ARO7P", "UK", "EU", "GBP", "Europe/London"),
        Marketplace("A1PA6795UKMFR9", "DE", "EU", "EUR", "Europe/Berlin"),
        Marketplace("A13V1IB3VIYZZH", "FR", "EU", "EUR", "Europe/Paris"),
        Marketplace("APJ6JRA9NG5V4", "IT", "EU", "EUR", "Europe/Rome"),
        Marketplace("A1RKKUPIHCS9HS", "ES", "EU", "EUR", "Europe/Madrid"),
        Marketplace("A1805IZSGTT6HS", "NL", "EU", "EUR", "Europe/Amsterdam"),
        Marketplace("AMEN7PMS3EDWL", "BE", "EU", "EUR", "Europe/Brussels"),
        Marketplace("A2NODRKZP88ZB9", "SE", "EU", "SEK", "Europe/Stockholm"),
        Marketplace("A1C3SOZRARQ6R3", "PL", "EU", "PLN", "Europe/Warsaw"),
        Marketplace("A33AVAJ2PDY3EV", "TR", "EU", "TRY", "Europe/Istanbul"),
        Marketplace("A2VIGQ35RCS4UG", "AE", "EU", "AED", "Asia/Dubai"),
        Marketplace("A17E79C6D8DWNP", "SA", "EU", "SAR", "Asia/Riyadh"),
        Marketplace("ARBP9OOSHTCHU", "EG", "EU", "EGP", "Africa/Cairo"),
        Marketplace("A21TJRUUN4KGV", "IN", "EU", "INR", "Asia/Kolkata"),
        Marketplace("A1VC38T7YXB528", "JP", "FE", "JPY", "Asia/Tokyo"),
        Marketplace("A39IBJ37TRP1C6", "AU", "FE", "AUD", "Australia/Sydney"),
        Marketplace("A19VAU5U5O7RUS", "SG", "FE", "SGD", "Asia/Singapore"),
    )
}
MARKETPLACES_BY_CODE: dict[str, Marketplace] = {m.code: m for m in MARKETPLACES.values()}


def local_midnight(day: date, time_zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(time_zone))


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def metrics_interval(start: date, end: date, time_zone: str) -> str:
    """``start`` to ``end`` inclusive as getOrderMetrics wants it: local midnights, exclusive end, each with
    its own offset (a window across a daylight-saving change has two)."""
    first = local_midnight(start, time_zone).isoformat(timespec="seconds")
    last = local_midnight(end + timedelta(days=1), time_zone).isoformat(timespec="seconds")
    return f"{first}--{last}"


def errors_text(response: httpx.Response) -> str:
    """The ``errors`` list of an SP-API response as one readable line."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return response.text[:300]
    parts = []
    for error in errors:
        text = ": ".join(p for p in (error.get("code"), error.get("message")) if p)
        if error.get("details"):
            text += f" ({error['details']})"
        parts.append(text)
    return "; ".join(parts) or response.text[:300]


def rate_limit_of(response: httpx.Response) -> float | None:
    try:
        limit = float(response.headers.get(RATE_LIMIT_HEADER, ""))
    except ValueError:
        return None
    return limit if limit > 0 else None


class _RateLimitTransport(httpx.BaseTransport):
    """Gives a 429 the ``Retry-After`` that ``x-amzn-RateLimit-Limit`` implies (one token: ``1 / limit`` s),
    so PlatformHTTP's retry policy applies: short waits inline, long ones as ``TransientError(retry_after)``.
    Without the header, the operation's own usage plan decides."""

    def __init__(self, default_rate: float):
        self.default_rate = default_rate
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if response.status_code == 429 and "Retry-After" not in response.headers:
            limit = rate_limit_of(response) or self.default_rate
            response.headers["Retry-After"] = f"{1 / limit:.3f}"
        return response

    def close(self) -> None:
        self.inner.close()


def _token_request(conf: dict, form: dict, *, sleep: Callable[[float], None], timeout) -> dict:
    """POST to the LWA token URL (form-encoded) and return its JSON, or raise what the engine understands."""
    http = PlatformHTTP(platform=LABEL, bucket="lwa", rate=1, burst=1, sleep=sleep, timeout=timeout)
    try:
        response = http.request(
            "POST",
            conf["token_url"],
            limited=False,
            data={**form, "client_id": conf["client_id"], "client_secret": conf["client_secret"]},
            headers={"Accept": "application/json"},
        )
    finally:
        http.close()
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and body.get("access_token"):
        return body
    error = body.get("error") or f"HTTP {response.status_code}"
    description = body.get("error_description") or response.text[:300]
    if error == "invalid_grant":
        if form["grant_type"] == "authorization_code":
            raise AuthorizationError(
                _("Amazon did not accept the authorization code (it is used or expired). Connect the account again."),
                detail=description,
            )
        raise AuthorizationError(
            _(
                "Amazon no longer accepts Chuhai's access to this seller account (the authorization was revoked "
                "or has expired). Re-authorize Chuhai in Seller Central to continue syncing."
            ),
            detail=description,
        )
    raise PlatformError(
        _("Amazon's login service refused the request (%(error)s: %(description)s).")
        % {"error": error, "description": description},
        detail=response.text[:2000],
    )


def _token_credentials(body: dict, *, refresh_token: str = "") -> dict:
    return {
        "access_token": body["access_token"],
        "expires_at": int(time.time()) + int(body.get("expires_in", 3600)),
        "refresh_token": body.get("refresh_token") or refresh_token,
    }


def _timeout(conf: dict):
    return httpx.Timeout(float(conf["timeout"])) if conf.get("timeout") else DEFAULT_TIMEOUT


def _sleep(conf: dict) -> Callable[[float], None]:
    # ``PLATFORMS["amazon_sp"]["sleep"]`` is a test seam: a recorder instead of real waiting.
    return conf.get("sleep") or time.sleep


def exchange_code(conf: dict, *, code: str, redirect_uri: str) -> dict:
    """Trade the ``spapi_oauth_code`` from the consent redirect for a refresh and an access token."""
    body = _token_request(
        conf,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        sleep=_sleep(conf),
        timeout=_timeout(conf),
    )
    if not body.get("refresh_token"):
        raise PlatformError(_("Amazon returned no refresh token for this authorization. Connect the account again."))
    return _token_credentials(body)


class SellingPartnerClient:
    """One seller's API in one region. ``credentials``: refresh_token, access_token, expires_at,
    selling_partner_id; refreshed tokens go to ``save_credentials``."""

    def __init__(
        self,
        *,
        conf: dict,
        credentials: dict,
        region: str,
        save_credentials: Callable[[dict], None] | None = None,
        rate_limits: dict | None = None,
    ):
        self.conf = conf
        self.credentials = dict(credentials)
        self.region = region
        self.base_url = conf["api_urls"][region].rstrip("/")
        self.save_credentials = save_credentials
        overrides = {**(conf.get("rate_limits") or {}), **(rate_limits or {})}
        self.rates = {op: tuple(overrides.get(op, plan)) for op, plan in RATE_LIMITS.items()}
        self.sleep = _sleep(conf)
        self.timeout = _timeout(conf)
        self._http: dict[str, PlatformHTTP] = {}

    def close(self) -> None:
        for http in self._http.values():
            http.close()
        self._http.clear()

    # tokens ----------------------------------------------------------------------------------------------
    def access_token(self, *, force: bool = False) -> str:
        c = self.credentials
        if not force and c.get("access_token") and c.get("expires_at", 0) - TOKEN_REFRESH_MARGIN > time.time():
            return c["access_token"]
        body = _token_request(
            self.conf,
            {"grant_type": "refresh_token", "refresh_token": c.get("refresh_token", "")},
            sleep=self.sleep,
            timeout=self.timeout,
        )
        self.credentials = {**c, **_token_credentials(body, refresh_token=c.get("refresh_token", ""))}
        if self.save_credentials is not None:
            self.save_credentials(self.credentials)
        return self.credentials["access_token"]

    # calls -----------------------------------------------------------------------------------------------
    def _http_for(self, operation: str) -> PlatformHTTP:
        if operation not in self._http:
            rate, burst = self.rates[operation]
            seller = self.credentials.get("selling_partner_id", "")
            self._http[operation] = PlatformHTTP(
                platform=LABEL,
                bucket=f"{self.region}:{seller}:{operation}",
                rate=rate,
                burst=burst,
                sleep=self.sleep,
                timeout=self.timeout,
                transport=_RateLimitTransport(rate),
            )
        return self._http[operation]

    def get(self, operation: str, path: str, params: dict | None = None) -> dict:
        http = self._http_for(operation)
        for attempt in range(2):
            response = http.request(
                "GET",
                self.base_url + path,
                params=params,
                headers={"x-amz-access-token": self.access_token(force=attempt > 0), "Accept": "application/json"},
            )
            limit = rate_limit_of(response)
            if limit is not None:
                http.rate = limit  # the usage plan Amazon applied to this seller and operation
            if response.status_code != 403:
                break
            # 403 Unauthorized: the token may have expired early or been replaced; one fresh token, then give up.
        if response.status_code == 403:
            raise AuthorizationError(
                _("Amazon denied access to this seller account (%(errors)s). Re-authorize Chuhai in Seller Central.")
                % {"errors": errors_text(response)},
                detail=response.text[:2000],
            )
        if response.status_code >= 400:
            raise PlatformError(
                _("Amazon refused the request %(operation)s (HTTP %(status)s): %(errors)s")
                % {"operation": operation, "status": response.status_code, "errors": errors_text(response)},
                detail=response.text[:2000],
            )
        return response.json()

    # operations ------------------------------------------------------------------------------------------
    def marketplace_participations(self) -> list[dict]:
        return self.get("getMarketplaceParticipations", "/sellers/v1/marketplaceParticipations").get("payload") or []

    def order_metrics(self, *, marketplace_id: str, start: date, end: date, time_zone: str) -> list[dict]:
        """Daily totals (orderCount, unitCount, totalSales ...) for the local days ``start``..``end``."""
        params = {
            "marketplaceIds": marketplace_id,
            "interval": metrics_interval(start, end, time_zone),
            "granularity": "Day",
            "granularityTimeZone": time_zone,
        }
        return self.get("getOrderMetrics", "/sales/v1/orderMetrics", params).get("payload") or []

    def orders_page(
        self,
        *,
        marketplace_id: str,
        updated_after: str,
        updated_before: str | None = None,
        next_token: str | None = None,
    ) -> dict:
        """One page of orders updated in the range: ``{"Orders": [...], "NextToken": ...}``."""
        params = {
            "MarketplaceIds": marketplace_id,
            "LastUpdatedAfter": updated_after,
            "MaxResultsPerPage": ORDERS_PAGE_SIZE,
        }
        if updated_before:
            params["LastUpdatedBefore"] = updated_before
        if next_token:
            params["NextToken"] = next_token
        return self.get("getOrders", "/orders/v0/orders", params).get("payload") or {}

    def order_items(self, order_id: str) -> list[dict]:
        items: list[dict] = []
        params: dict = {}
        while True:
            payload = self.get("getOrderItems", f"/orders/v0/orders/{order_id}/orderItems", params).get("payload")
            items.extend((payload or {}).get("OrderItems") or [])
            token = (payload or {}).get("NextToken")
            if not token:
                return items
            params = {"NextToken": token}
