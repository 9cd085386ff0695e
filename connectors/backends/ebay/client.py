"""eBay's REST APIs as eBay speaks them: OAuth user tokens, the Identity, Marketing and Fulfillment APIs.

Every call goes through ``PlatformHTTP`` (timeouts, the shared rate limiter, retries of 5xx and network
errors). Facts (platform-apis.md section 8; [C] confirmed from eBay's docs, [S] from public clients,
[U] unconfirmed, chosen here):

- OAuth [S]: consent at ``auth.ebay.com/oauth2/authorize`` with ``client_id``, ``redirect_uri`` = the app's
  **RuName** (not a URL: eBay maps it to the "accepted" URL registered for the app), ``response_type=code``,
  space-separated ``scope`` and ``state``. The token endpoint takes form-encoded grants with HTTP Basic
  ``client_id:client_secret``: ``authorization_code`` (+ ``redirect_uri`` = RuName) and ``refresh_token``
  (+ ``scope``). Access tokens last 7200 s; refresh tokens 47,304,000 s (~18 months) and are not rotated on
  refresh. A revoked or expired refresh token answers ``invalid_grant``.
- Scopes: ``sell.marketing`` [C] (creating report tasks is a POST), ``sell.fulfillment.readonly`` and
  ``commerce.identity.readonly`` [U: the read-only names are from eBay's scope lists, not re-checked].
- API errors use ``{"errors": [{"errorId", "domain", "category", "message", "longMessage"}]}`` [C].
- Sell APIs take ``X-EBAY-C-MARKETPLACE-ID`` (EBAY_US, EBAY_GB, EBAY_DE); we send it on every call.
- Promoted Listings reports [C]: ``POST /sell/marketing/v1/ad_report_task`` -> 202 with the task URL in
  ``Location``; ``GET /ad_report_task/{id}`` until ``reportTaskStatus`` is SUCCESS (PENDING, IN_PROGRESS
  and FAILED [S]); then ``GET reportHref`` (``/ad_report/{report_id}``, with the bearer token): a
  tab-separated gzip file, read here as a stream. ``ad_report`` and ``ad_report_task`` calls are capped at
  200 an hour per seller; over that, eBay blocks them for an hour (429) [C].
- Report layout [U]: the TSV column names are the requested keys; some files carry title lines before the
  header, so the header is the first line holding every key we asked for. Amounts may carry a currency
  code ("GBP 1.50"); days may be ``YYYY-MM-DD`` or ``YYYYMMDD``.
- Orders [C]: ``GET /sell/fulfillment/v1/order?filter=lastmodifieddate:[<ISO UTC>..]&limit&offset``
  (limit at most 200, default 50), oldest first, with ``total`` and ``next``. Orders of every marketplace
  come back in one list [U]; each line item names its ``listingMarketplaceId``.
- Identity [C]: ``GET https://apiz.ebay.com/commerce/identity/v1/user/`` (userId, username,
  registrationMarketplaceId, businessAccount). Campaigns: ``GET /sell/marketing/v1/ad_campaign`` paged
  with ``limit``/``offset``; each campaign names its ``marketplaceId`` [C].
"""

from __future__ import annotations

import base64
import codecs
import json
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta, timezone
from urllib.parse import urlencode

import httpx
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.http import PlatformHTTP, raise_for_status, retry_after_seconds

logger = logging.getLogger(__name__)

PLATFORM = "eBay"
REPORT_TZ = timezone(timedelta(hours=-7), "MST")  # Promoted Listings report days, on every marketplace [C]
SCOPES = (
    "https://api.ebay.com/oauth/api_scope/sell.marketing",
    "https://api.ebay.com/oauth/api_scope/sell.fulfillment.readonly",
    "https://api.ebay.com/oauth/api_scope/commerce.identity.readonly",
)
ACCESS_TTL = 7200
REFRESH_TTL = 47_304_000
REFRESH_MARGIN = 300  # refresh an access token this many seconds before it expires
QUOTA_WAIT = 3600.0  # eBay blocks report calls for an hour once the 200 an hour are spent
MAX_ORDERS_PAGE = 200

MARKETING = "/sell/marketing/v1"
FULFILLMENT = "/sell/fulfillment/v1"
IDENTITY = "/commerce/identity/v1/user/"

RECONNECT = gettext_noop(
    "eBay no longer accepts our access to this seller account (the authorization was withdrawn or has "
    "expired). Reconnect eBay to keep syncing."
)

# The Promoted Listings general strategy (cost per sale) metrics [S: key names as eBay's report metadata
# gives them]: ``sales`` is the number of attributed sales, ``sale_amount`` their value and ``ad_fees`` the
# fees charged for them.
METRIC_KEYS = ["impressions", "clicks", "sales", "sale_amount", "ad_fees"]
LISTING_DIMENSIONS = [
    {"dimensionKey": "campaign_id", "annotationKeys": ["campaign_name"]},
    {"dimensionKey": "listing_id", "annotationKeys": ["listing_title"]},
    {"dimensionKey": "day", "annotationKeys": []},
]
ACCOUNT_DIMENSIONS = [{"dimensionKey": "day", "annotationKeys": []}]
REPORTS: dict[str, tuple[str, list[dict]]] = {
    # piece -> (reportType, dimensions)
    "listing": ("LISTING_PERFORMANCE_REPORT", LISTING_DIMENSIONS),
    "account": ("ACCOUNT_PERFORMANCE_REPORT", ACCOUNT_DIMENSIONS),
}


class ReportFormatError(PlatformError):
    """A report file without the columns we asked for: retrying will not change it."""

    code = "ebay_report_format"


def report_columns(piece: str) -> list[str]:
    """The column names a report of ``piece`` carries: dimension keys with their annotations, then metrics."""
    _report_type, dimensions = REPORTS[piece]
    columns = []
    for dimension in dimensions:
        columns.append(dimension["dimensionKey"])
        columns.extend(dimension.get("annotationKeys") or [])
    return columns + METRIC_KEYS


def report_task_body(piece: str, marketplace_id: str, start: date, end: date) -> dict:
    """A createReportTask body: both dates inclusive; eBay reads only their date part (MST days) [C]."""
    report_type, dimensions = REPORTS[piece]
    return {
        "reportType": report_type,
        "marketplaceId": marketplace_id,
        "dateFrom": f"{start.isoformat()}T00:00:00.000Z",
        "dateTo": f"{end.isoformat()}T23:59:59.000Z",
        "fundingModels": ["COST_PER_SALE"],
        "dimensions": dimensions,
        "metricKeys": METRIC_KEYS,
        "reportFormat": "TSV_GZIP",
    }


# --- OAuth --------------------------------------------------------------------------------------------------


def authorization_url(conf: dict, *, state: str) -> str:
    query = {
        "client_id": conf["client_id"],
        "redirect_uri": conf["ru_name"],
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "state": state,
    }
    return f"{conf['auth_url']}?{urlencode(query)}"


def _basic(conf: dict) -> str:
    return "Basic " + base64.b64encode(f"{conf['client_id']}:{conf['client_secret']}".encode()).decode()


def _json(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None


def token_call(http: PlatformHTTP, conf: dict, form: dict, *, clock: Callable[[], float] = time.time) -> dict:
    """POST a grant to the token endpoint (HTTP Basic app credentials, form-encoded); returns the fields
    of the credentials we store that this answer gives."""
    response = http.request(
        "POST",
        conf["token_url"],
        data=form,
        headers={"Authorization": _basic(conf), "Accept": "application/json"},
        limited=False,
    )
    if response.status_code in (400, 401):
        body = _json(response)
        error = body.get("error") if isinstance(body, dict) else None
        if error == "invalid_grant" and form["grant_type"] == "refresh_token":
            raise AuthorizationError(_(RECONNECT), detail=response.text[:500])
        if error == "invalid_grant":
            raise AuthorizationError(
                _("eBay did not accept the authorization (a code works once, for 5 minutes). Connect eBay again."),
                detail=response.text[:500],
            )
        if error == "invalid_client":
            raise PlatformError(_("eBay rejected our app credentials."), detail=response.text[:500])
        if error == "invalid_scope":
            raise AuthorizationError(
                _("eBay no longer grants the access this sync needs. Reconnect eBay and allow every permission."),
                detail=response.text[:500],
            )
    raise_for_status(response, platform=PLATFORM)
    body = response.json()
    now = clock()
    credentials = {
        "access_token": body["access_token"],
        "expires_at": now + int(body.get("expires_in", ACCESS_TTL)),
        "token_type": body.get("token_type", "User Access Token"),
    }
    if body.get("refresh_token"):
        credentials["refresh_token"] = body["refresh_token"]
        credentials["refresh_token_expires_at"] = now + int(body.get("refresh_token_expires_in", REFRESH_TTL))
    return credentials


def exchange_code(http: PlatformHTTP, conf: dict, *, code: str, clock=time.time) -> dict:
    """The authorization code grant; ``redirect_uri`` is the RuName the consent used, as eBay requires."""
    return token_call(
        http, conf, {"grant_type": "authorization_code", "code": code, "redirect_uri": conf["ru_name"]}, clock=clock
    )


# --- API errors ---------------------------------------------------------------------------------------------


def error_summary(response: httpx.Response) -> str:
    """``message (errorId n)`` of eBay's error envelope, or the start of the body."""
    body = _json(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return f"{first.get('message') or first.get('longMessage') or ''} (errorId {first.get('errorId')})".strip()
    return response.text[:300]


def raise_api_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    if response.status_code == 401:
        raise AuthorizationError(_(RECONNECT), detail=response.text[:500])
    if response.status_code == 403:
        raise AuthorizationError(
            _("eBay refused access to this seller's data (%(error)s). Reconnect eBay and allow every permission.")
            % {"error": error_summary(response)},
            detail=response.text[:500],
        )
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(
            _("eBay is busy or unavailable (HTTP %(status)s); the sync will retry.") % {"status": response.status_code},
            retry_after=retry_after_seconds(response),
            detail=response.text[:500],
        )
    raise PlatformError(
        _("eBay refused the request: %(error)s") % {"error": error_summary(response)}, detail=response.text[:2000]
    )


# --- the client ---------------------------------------------------------------------------------------------


class EbayClient:
    """One seller's grant, one marketplace. ``report_http`` carries the 200-an-hour report calls (its 429 is
    read here, not retried inline); ``api_http`` everything else."""

    def __init__(
        self,
        *,
        conf: dict,
        credentials: dict,
        api_http: PlatformHTTP,
        report_http: PlatformHTTP | None = None,
        marketplace_id: str = "",
        on_credentials: Callable[[dict], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.conf = conf
        self.credentials = dict(credentials)
        self.api_http = api_http
        self.report_http = report_http or api_http
        self.marketplace_id = marketplace_id
        self.on_credentials = on_credentials
        self.sleep = sleep
        self.clock = clock
        self.api_url = conf["api_url"].rstrip("/")
        self.identity_url = (conf.get("identity_url") or conf["api_url"]).rstrip("/")

    # -- tokens ----------------------------------------------------------------------------------------
    def ensure_token(self) -> None:
        if (
            not self.credentials.get("access_token")
            or float(self.credentials.get("expires_at") or 0) - REFRESH_MARGIN <= self.clock()
        ):
            self.refresh()

    def refresh(self) -> None:
        refresh_token = self.credentials.get("refresh_token")
        expires = self.credentials.get("refresh_token_expires_at")
        if not refresh_token or (expires and float(expires) <= self.clock()):
            raise AuthorizationError(_(RECONNECT), detail="no refresh token, or it has expired")
        fresh = token_call(
            self.api_http,
            self.conf,
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "scope": " ".join(SCOPES)},
            clock=self.clock,
        )
        self.credentials = {**self.credentials, **fresh}  # eBay keeps the refresh token: ours stays
        if self.on_credentials:
            self.on_credentials(self.credentials)

    # -- calls -----------------------------------------------------------------------------------------
    def _headers(self, marketplace: bool = True) -> dict:
        headers = {"Authorization": f"Bearer {self.credentials['access_token']}", "Accept": "application/json"}
        if marketplace and self.marketplace_id:
            headers["X-EBAY-C-MARKETPLACE-ID"] = self.marketplace_id
        return headers

    def send(
        self,
        method: str,
        url: str,
        *,
        report: bool = False,
        params: dict | None = None,
        body: dict | None = None,
        stream: bool = False,
        ok_statuses: Iterable[int] = (),
    ) -> httpx.Response:
        """One call; a 401 refreshes the access token once and tries again. Report calls count against the
        seller's 200 an hour: a 429 there means the hour's calls are spent, and the run waits it out."""
        self.ensure_token()
        http = self.report_http if report else self.api_http
        content = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            headers = self._headers()
            if content is not None:
                headers["Content-Type"] = "application/json"
            response = http.request(method, url, params=params, content=content, headers=headers, stream=stream)
            if response.status_code == 401 and attempt == 0:
                if stream:
                    response.close()
                self.refresh()
                continue
            break
        if response.status_code in ok_statuses or response.status_code < 400:
            return response
        if stream:
            response.read()
            response.close()
        if report and response.status_code == 429:
            wait = retry_after_seconds(response)
            raise TransientError(
                _(
                    "eBay allows 200 Promoted Listings report calls an hour per seller and this hour's are used up; "
                    "the sync will continue when eBay allows more."
                ),
                retry_after=wait if wait is not None else QUOTA_WAIT,
                detail=response.text[:500],
            )
        raise_api_error(response)
        return response

    # -- identity and campaigns ------------------------------------------------------------------------
    def user(self) -> dict:
        return self.send("GET", self.identity_url + IDENTITY).json()

    def campaigns(self, *, page_size: int = 100) -> Iterator[dict]:
        """Every Promoted Listings campaign of the seller (all marketplaces), following limit/offset."""
        offset = 0
        while True:
            page = self.send(
                "GET", f"{self.api_url}{MARKETING}/ad_campaign", params={"limit": page_size, "offset": offset}
            ).json()
            campaigns = page.get("campaigns") or []
            yield from campaigns
            offset += len(campaigns)
            if not campaigns or not page.get("next") or offset >= int(page.get("total") or 0):
                return

    # -- report tasks ----------------------------------------------------------------------------------
    def create_report_task(self, body: dict) -> str:
        """Ask eBay for a report; returns the task id from the ``Location`` header (202 Accepted)."""
        response = self.send("POST", f"{self.api_url}{MARKETING}/ad_report_task", body=body, report=True)
        location = response.headers.get("Location", "")
        task_id = location.rstrip("/").rsplit("/", 1)[-1] if location else ""
        if not task_id:
            raise TransientError(
                _("eBay accepted a report request without saying where to find it; the sync will retry."),
                detail=f"HTTP {response.status_code}, no Location header",
            )
        return task_id

    def report_task(self, task_id: str) -> dict | None:
        """The task, or None if eBay no longer knows it."""
        response = self.send(
            "GET", f"{self.api_url}{MARKETING}/ad_report_task/{task_id}", report=True, ok_statuses=(404,)
        )
        return None if response.status_code == 404 else response.json()

    def wait_for_report(self, task_id: str, *, heartbeat: Callable[[], None] | None = None) -> dict | None:
        """Poll with backoff until SUCCESS or FAILED (or gone: None). Polls count against the hourly cap, so
        they start slow and slow down further. After ``report_wait_seconds`` the run is handed back
        (TransientError) instead of holding a worker."""
        delay = float(self.conf.get("poll_interval", 10.0))
        max_delay = float(self.conf.get("poll_max_interval", 120.0))
        budget = float(self.conf.get("report_wait_seconds", 900.0))
        waited = 0.0
        while True:
            task = self.report_task(task_id)
            status = (task or {}).get("reportTaskStatus")
            if task is None or status in ("SUCCESS", "FAILED"):
                return task
            if heartbeat:
                heartbeat()
            if waited >= budget:
                raise TransientError(
                    _("eBay is still preparing a Promoted Listings report; the sync will continue when it is ready."),
                    retry_after=300,
                    detail=f"report task {task_id} still {status} after {waited:.0f}s",
                )
            self.sleep(delay)
            waited += delay
            delay = min(max_delay, delay * 1.5)

    def open_report(self, href: str) -> httpx.Response:
        """Start downloading a finished report: the request (a report call, rate-limited and counted) is made
        here, before any row is read, so nothing of it happens while the caller's COPY is running."""
        response = self.send("GET", href, report=True, stream=True, ok_statuses=(404, 410))
        if response.status_code in (404, 410):
            response.read()
            response.close()
            raise ReportGone(href)
        return response

    @staticmethod
    def report_rows(response: httpx.Response, *, columns: list[str]) -> Iterator[dict]:
        """Stream the rows of an opened report (a dict per row, keyed by lower-case column name). A file that
        ends early raises TransientError after yielding what arrived; the caller's load is rolled back."""
        try:
            yield from iter_gzip_tsv(response.iter_raw(64 * 1024), required=columns)
        except (zlib.error, ValueError, httpx.TransportError, httpx.StreamError) as exc:
            raise TransientError(
                _("An eBay Promoted Listings report arrived incomplete; the sync will retry."),
                detail=repr(exc)[:500],
            ) from exc
        finally:
            response.close()

    # -- orders ----------------------------------------------------------------------------------------
    def orders_page(self, *, modified_since: str, offset: int, limit: int) -> dict:
        """One page of the seller's orders modified at or after ``modified_since`` (ISO UTC), oldest first."""
        return self.send(
            "GET",
            f"{self.api_url}{FULFILLMENT}/order",
            params={
                "filter": f"lastmodifieddate:[{modified_since}..]",
                "limit": max(1, min(limit, MAX_ORDERS_PAGE)),
                "offset": offset,
            },
        ).json()


class ReportGone(Exception):  # noqa: N818 - a signal, not an error the engine sees
    """The report file is gone (eBay keeps reports 30 days): ask for the report again."""


# --- streaming a gzipped TSV --------------------------------------------------------------------------------


def iter_gzip_tsv(chunks: Iterable[bytes], *, required: list[str]) -> Iterator[dict]:
    """Rows of a gzipped tab-separated report read from byte chunks, as dicts keyed by lower-case header.

    Lines before the header (titles, date ranges) are skipped: the header is the first line holding every
    ``required`` column. Raises ValueError if the gzip stream is cut short (after yielding what did arrive)
    and ``ReportFormatError`` if no header line is found.
    """
    inflate = zlib.decompressobj(wbits=47)  # 32 + 15: a gzip (or zlib) header, detected
    decode = codecs.getincrementaldecoder("utf-8-sig")()
    wanted = {c.lower() for c in required}
    state = {"header": None, "seen": 0}
    pending = ""

    def lines_of(text: str, final: bool) -> Iterator[dict]:
        nonlocal pending
        pending += text
        parts = pending.split("\n")
        pending = "" if final else parts.pop()
        for line in parts:
            line = line.rstrip("\r")
            if not line.strip():
                continue
            cells = line.split("\t")
            header = state["header"]
            if header is None:
                names = [cell.strip().strip('"').lower() for cell in cells]
                if wanted <= set(names):
                    state["header"] = names
                else:
                    state["seen"] += 1
                continue
            if len(cells) != len(header):
                logger.info("ebay report: skipped a line of %d cells (header has %d)", len(cells), len(header))
                continue
            yield dict(zip(header, (cell.strip() for cell in cells), strict=True))

    for chunk in chunks:
        if chunk:
            yield from lines_of(decode.decode(inflate.decompress(chunk)), final=False)
    if not inflate.eof:
        raise ValueError("the gzip stream ended early")
    yield from lines_of(decode.decode(inflate.flush(), final=True), final=True)
    if state["header"] is None:
        raise ReportFormatError(
            _("An eBay report did not have the columns we asked for; it cannot be read."),
            detail=f"no header with {sorted(wanted)} in {state['seen']} line(s)",
        )


_DAY = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})")
_US_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_day(value: str) -> date:
    """A report day: ``2025-06-01``, ``20250601``, ``2025-06-01T00:00:00.000Z`` (its date part) or ``06/01/2025``."""
    text = (value or "").strip()
    match = _DAY.match(text)
    if match:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    match = _US_DAY.match(text)
    if match:
        return date(int(match.group(3)), int(match.group(1)), int(match.group(2)))
    raise ValueError(f"not a report day: {value!r}")
