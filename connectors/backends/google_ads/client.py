"""The Google Ads API (REST) as Google speaks it: Google OAuth, GAQL search and searchStream, mutate.

Facts used here are in platform-apis.md section 3 (tags there):

- OAuth: ``accounts.google.com/o/oauth2/v2/auth`` with ``scope=https://www.googleapis.com/auth/adwords``,
  ``access_type=offline`` and ``prompt=consent`` (so Google always returns a refresh token); the token
  endpoint takes form-encoded ``authorization_code`` and ``refresh_token`` grants; access tokens last
  3600 s; a revoked or expired grant answers ``invalid_grant``.
- Every API call sends ``Authorization: Bearer``, ``developer-token`` and, when the account is reached
  through a manager account, ``login-customer-id: <manager id>`` (digits, no dashes). The API version is
  ``settings.PLATFORMS["google_ads"]["api_version"]`` (``v26`` by default).
- ``googleAds:search`` pages with ``nextPageToken`` (the page size is Google's: we send none);
  ``googleAds:searchStream`` answers one JSON *array* of batches, each ``{"results": [...], "fieldMask",
  "requestId"}``, read here as it arrives and yielded row by row (``SearchStreamParser``: memory holds one
  row, never a batch). Rows are lowerCamelCase; int64 values (ids, ``costMicros``, ``impressions``,
  ``clicks``) are JSON strings, doubles (``conversions``, ``conversionsValue``) numbers.
- Errors: ``{"error": {"code", "message", "status", "details": [GoogleAdsFailure {"errors": [{"errorCode":
  {"<family>": "<CODE>"}, "message", "details": {"quotaErrorDetails": {"retryDelay": "8962s"}}, "location"}]}]}}``
  (inside a JSON array for searchStream, also as the stream's last element when it fails midway). Quota
  errors (RESOURCE_EXHAUSTED / RESOURCE_TEMPORARILY_EXHAUSTED) wait ``retryDelay`` here when it is short,
  else become ``TransientError(retry_after=retryDelay)``; internal errors and 5xx are transient; a 401 refreshes
  the token once; USER_PERMISSION_DENIED and a refused refresh ask the seller to reconnect.
- Mutate: ``POST customers/{id}/{collection}:mutate`` with ``operations`` (``update`` plus ``updateMask``, a
  comma-separated list of lowerCamelCase field paths; ``create``; ``remove``), ``validateOnly`` and
  ``partialFailure``; results per operation, failed ones empty, errors in ``partialFailureError`` located by
  ``fieldPathElements[0] = {"fieldName": "operations", "index": i}``.
"""

from __future__ import annotations

import codecs
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

import httpx
from django.utils.translation import gettext as _

from connectors.errors import AuthorizationError, PlatformError, SyncError, TransientError
from connectors.http import PlatformHTTP, raise_for_status

PLATFORM = "Google Ads"
SCOPE = "https://www.googleapis.com/auth/adwords"
DEFAULT_VERSION = "v26"
REFRESH_MARGIN = 120  # refresh an access token this many seconds before it expires
MAX_INLINE_QUOTA_WAIT = 30.0  # a quota retryDelay up to this is waited out here; longer ones go back to the queue
QUOTA_RETRIES = 3
RETRYABLE_QUOTA = {"RESOURCE_EXHAUSTED", "RESOURCE_TEMPORARILY_EXHAUSTED"}
RETRYABLE_INTERNAL = {"INTERNAL_ERROR", "TRANSIENT_ERROR", "DEADLINE_EXCEEDED"}
REAUTH_CODES = {
    "USER_PERMISSION_DENIED",
    "INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION",
    "OAUTH_TOKEN_INVALID",
    "OAUTH_TOKEN_EXPIRED",
    "OAUTH_TOKEN_REVOKED",
    "OAUTH_TOKEN_DISABLED",
    "NOT_ADS_USER",
    "GOOGLE_ACCOUNT_DELETED",
}
INCOMPLETE = "A Google Ads report arrived incomplete; the sync will retry."

METRICS = "metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.conversions, metrics.conversions_value"
# Daily reports: resource -> the fields besides segments.date and the metrics.
REPORT_FIELDS = {
    "campaign": "campaign.id, campaign.name",
    "ad_group": "campaign.id, campaign.name, ad_group.id, ad_group.name",
    "keyword_view": "campaign.id, campaign.name, ad_group.id, ad_group.name, ad_group_criterion.criterion_id, "
    "ad_group_criterion.keyword.text, ad_group_criterion.keyword.match_type",
    "search_term_view": "campaign.id, campaign.name, ad_group.id, ad_group.name, search_term_view.search_term, "
    "segments.keyword.ad_group_criterion, segments.keyword.info.text, segments.keyword.info.match_type",
}
CUSTOMER_QUERY = (
    "SELECT customer.id, customer.descriptive_name, customer.currency_code, customer.time_zone, customer.manager, "
    "customer.status FROM customer"
)
CLIENTS_QUERY = (
    "SELECT customer_client.client_customer, customer_client.id, customer_client.descriptive_name, "
    "customer_client.currency_code, customer_client.time_zone, customer_client.manager, customer_client.status, "
    "customer_client.level FROM customer_client"
)
LOCATIONS_QUERY = (
    "SELECT campaign.id, campaign.status, campaign_criterion.location.geo_target_constant FROM campaign_criterion "
    "WHERE campaign_criterion.type = 'LOCATION' AND campaign_criterion.negative = FALSE"
)
CONVERSION_ACTIONS_QUERY = (
    "SELECT conversion_action.id, conversion_action.name, conversion_action.status, "
    "conversion_action.include_in_conversions_metric, conversion_action.click_through_lookback_window_days "
    "FROM conversion_action WHERE conversion_action.status = 'ENABLED'"
)
CAMPAIGNS_QUERY = (
    "SELECT campaign.id, campaign.name, campaign.status, campaign.advertising_channel_type, "
    "campaign.bidding_strategy_type, campaign_budget.id, campaign_budget.amount_micros, campaign_budget.period "
    "FROM campaign"
)
AD_GROUPS_QUERY = (
    "SELECT campaign.id, ad_group.id, ad_group.name, ad_group.status, ad_group.type, ad_group.cpc_bid_micros "
    "FROM ad_group"
)
KEYWORDS_QUERY = (
    "SELECT campaign.id, ad_group.id, ad_group_criterion.criterion_id, ad_group_criterion.status, "
    "ad_group_criterion.negative, ad_group_criterion.keyword.text, ad_group_criterion.keyword.match_type, "
    "ad_group_criterion.cpc_bid_micros, ad_group_criterion.effective_cpc_bid_micros FROM ad_group_criterion "
    "WHERE ad_group_criterion.type = 'KEYWORD'"
)
CAMPAIGN_NEGATIVES_QUERY = (
    "SELECT campaign.id, campaign_criterion.criterion_id, campaign_criterion.status, "
    "campaign_criterion.keyword.text, campaign_criterion.keyword.match_type FROM campaign_criterion "
    "WHERE campaign_criterion.type = 'KEYWORD' AND campaign_criterion.negative = TRUE"
)


def report_query(resource: str, start: date, end: date) -> str:
    """One resource's daily metrics over [start, end] (the account's own days)."""
    return (
        f"SELECT {REPORT_FIELDS[resource]}, segments.date, {METRICS} FROM {resource} "
        f"WHERE segments.date BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'"
    )


def totals_query(start: date, end: date) -> str:
    """The account's own totals over [start, end]: one row (no date segment, so Google sums the range)."""
    return (
        f"SELECT customer.id, customer.currency_code, {METRICS} FROM customer "
        f"WHERE segments.date BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'"
    )


# --- OAuth -----------------------------------------------------------------------------------------------------


def authorization_url(conf: dict, *, state: str, redirect_uri: str) -> str:
    query = {
        "client_id": conf["client_id"],
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": SCOPE,
        "access_type": "offline",  # a refresh token: we sync while the seller is away
        "prompt": "consent",  # ...every time, even when the seller had granted us access before
        "include_granted_scopes": "true",
        "state": state,
    }
    return f"{conf['auth_url']}?{urlencode(query)}"


def _json_dict(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def token_call(http: PlatformHTTP, conf: dict, form: dict, *, clock: Callable[[], float] = time.time) -> dict:
    """POST a grant to Google's token endpoint; returns the credentials we store."""
    data = {**form, "client_id": conf["client_id"], "client_secret": conf["client_secret"]}
    response = http.request("POST", conf["token_url"], data=data, headers={"Accept": "application/json"}, limited=False)
    if response.status_code in (400, 401):
        error = _json_dict(response).get("error")
        if error == "invalid_grant" and form["grant_type"] == "refresh_token":
            raise AuthorizationError(
                _(
                    "Google Ads: reconnect: Google no longer accepts our access (it was revoked, or it expired). "
                    "Connect the account again to keep syncing."
                ),
                detail=response.text[:500],
            )
        if error in ("invalid_grant", "redirect_uri_mismatch"):
            raise AuthorizationError(
                _(
                    "Google did not accept the authorization (a code works once, for a few minutes). "
                    "Please connect again."
                ),
                detail=response.text[:500],
            )
        if error == "invalid_client":
            raise PlatformError(_("Google rejected our app credentials for Google Ads."), detail=response.text[:500])
    raise_for_status(response, platform=PLATFORM)
    body = response.json()
    refresh_token = body.get("refresh_token") or form.get("refresh_token", "")
    if not refresh_token:
        raise AuthorizationError(
            _("Google did not grant offline access to Google Ads. Please connect again and allow access."),
            detail="token response without refresh_token",
        )
    return {
        "access_token": body["access_token"],
        "refresh_token": refresh_token,  # Google keeps the refresh token on refresh; it sends no new one
        "token_type": body.get("token_type", "Bearer"),
        "scope": body.get("scope", SCOPE),
        "expires_at": clock() + int(body.get("expires_in", 3600)),
    }


def exchange_code(http: PlatformHTTP, conf: dict, *, code: str, redirect_uri: str, clock=time.time) -> dict:
    return token_call(
        http, conf, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}, clock=clock
    )


def revoke_url(conf: dict) -> str:
    """``revoke_url`` if configured, else the token endpoint's sibling (``oauth2.googleapis.com/revoke``)."""
    return conf.get("revoke_url") or conf["token_url"].rsplit("/", 1)[0] + "/revoke"


def revoke(http: PlatformHTTP, conf: dict, *, token: str) -> None:
    response = http.request("POST", revoke_url(conf), data={"token": token}, limited=False)
    if response.status_code == 400 and _json_dict(response).get("error") == "invalid_token":
        return  # already revoked or expired: what we wanted
    raise_for_status(response, platform=PLATFORM)


# --- errors ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdsError:
    """One GoogleAdsError: ``family`` names the errorCode's kind (``quotaError``), ``code`` its value."""

    family: str
    code: str
    message: str
    retry_delay: float | None = None
    operation_index: int | None = None
    field_path: str = ""

    @property
    def label(self) -> str:
        return f"{self.family}.{self.code}" if self.family else self.code


@dataclass(frozen=True)
class GoogleAdsFailure:
    http_status: int
    status: str
    message: str
    errors: tuple[AdsError, ...] = ()
    request_id: str = ""

    def codes(self) -> set[str]:
        return {e.code for e in self.errors}

    @property
    def retry_delay(self) -> float | None:
        delays = [e.retry_delay for e in self.errors if e.retry_delay is not None]
        return max(delays) if delays else None

    def describe(self) -> str:
        first = self.errors[0] if self.errors else None
        if first is None:
            return f"{self.status or self.http_status}: {self.message}"
        return f"{first.label}: {first.message}"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_duration(value) -> float | None:
    """A protobuf Duration in JSON (``"8962s"``, ``"1.5s"``) -> seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):  # {"seconds": "8962", "nanos": 0}, as some transcoders write it
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    match = _DURATION.match(str(value or ""))
    return float(match.group(1)) if match else None


def _ads_error(raw: dict) -> AdsError:
    code = raw.get("errorCode") or {}
    family, value = next(iter(code.items()), ("", "UNKNOWN"))
    details = raw.get("details") or {}
    quota = details.get("quotaErrorDetails") or {}
    elements = (raw.get("location") or {}).get("fieldPathElements") or []
    index = None
    if elements and elements[0].get("fieldName") == "operations" and "index" in elements[0]:
        try:
            index = int(elements[0]["index"])
        except (TypeError, ValueError):
            index = None
    path = ".".join(
        f"{e.get('fieldName')}[{e['index']}]" if "index" in e else str(e.get("fieldName")) for e in elements
    )
    return AdsError(
        family=family,
        code=str(value),
        message=str(raw.get("message") or ""),
        retry_delay=parse_duration(quota.get("retryDelay")),
        operation_index=index,
        field_path=path,
    )


def parse_failure(body, *, http_status: int, request_id: str = "") -> GoogleAdsFailure:
    """Google's error envelope (a dict, or a one-element array as searchStream sends it) -> GoogleAdsFailure."""
    if isinstance(body, list):
        body = next((item for item in body if isinstance(item, dict) and "error" in item), {})
    status = body.get("error") if isinstance(body, dict) else None
    if not isinstance(status, dict):
        status = body if isinstance(body, dict) and "code" in body and "details" in body else {}
    errors: list[AdsError] = []
    for detail in status.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("GoogleAdsFailure"):
            errors.extend(_ads_error(e) for e in detail.get("errors") or [] if isinstance(e, dict))
            request_id = request_id or str(detail.get("requestId") or "")
    return GoogleAdsFailure(
        http_status=int(status.get("code") or http_status) if str(status.get("code", "")).isdigit() else http_status,
        status=str(status.get("status") or ""),
        message=str(status.get("message") or ""),
        errors=tuple(errors),
        request_id=request_id,
    )


def error_for(failure: GoogleAdsFailure, *, version: str = "") -> SyncError:
    """The engine's error class for a Google Ads failure, with a message the seller can act on."""
    codes = failure.codes()
    detail = json.dumps(
        {"status": failure.status, "errors": [e.label for e in failure.errors], "request_id": failure.request_id}
    )
    if codes & RETRYABLE_QUOTA or (failure.http_status == 429 and not codes - RETRYABLE_QUOTA):
        delay = failure.retry_delay
        minutes = max(1, round((delay or 60) / 60))
        error: SyncError = TransientError(
            _("Google Ads asked us to slow down (API quota used up); the sync will continue in about %(minutes)s min.")
            % {"minutes": minutes},
            retry_after=delay,
            detail=detail,
        )
    elif codes & RETRYABLE_INTERNAL or failure.http_status >= 500:
        error = TransientError(_("Google Ads had a temporary problem; the sync will retry."), detail=detail)
    elif "DEVELOPER_TOKEN_INVALID" in codes or any(c.startswith("DEVELOPER_TOKEN") for c in codes):
        error = PlatformError(
            _(
                "Google Ads refused Chuhai's developer token. This is on our side, not yours: we have been "
                "told, and syncing resumes once it is fixed."
            ),
            detail=detail,
        )
    elif "CUSTOMER_NOT_ENABLED" in codes:
        error = PlatformError(
            _(
                "This Google Ads account is not active (cancelled or suspended). Reactivate it in Google Ads, "
                "or disconnect it here."
            ),
            detail=detail,
        )
    elif codes & REAUTH_CODES or failure.http_status == 401:
        error = AuthorizationError(
            _(
                "Google Ads: reconnect: the Google account that connected this ad account can no longer reach it "
                "(%(code)s). Check its access in Google Ads (Admin, Access and security), then connect again."
            )
            % {"code": ", ".join(sorted(codes & REAUTH_CODES)) or failure.status or "UNAUTHENTICATED"},
            detail=detail,
        )
    elif failure.http_status == 404 and not failure.errors:
        error = PlatformError(
            _(
                "Google Ads does not answer at API version %(version)s (it may be retired). Set "
                "GOOGLE_ADS_API_VERSION to a current version."
            )
            % {"version": version or "?"},
            detail=detail,
        )
    else:
        error = PlatformError(
            _("Google Ads refused the request: %(reason)s") % {"reason": failure.describe()[:300]}, detail=detail
        )
    error.failure = failure  # callers that tell cases apart (discovery, mutate) read it
    return error


# --- the searchStream body ----------------------------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
MAX_PENDING_CHARS = 16 * 1024 * 1024


class SearchStreamParser:
    """Parse searchStream's JSON array of batches as text arrives, yielding one event at a time:

    ``("row", row)`` for each element of a batch's ``results``, ``("batch", meta)`` when a batch closes (its
    other keys: ``fieldMask``, ``requestId``, ``queryResourceConsumption``), ``("error", status)`` for an
    ``error`` element. Memory holds one row (plus one piece of text), never a batch. ``close()`` raises
    ValueError unless the closing bracket was seen.
    """

    def __init__(self):
        self._raw = json.JSONDecoder().raw_decode
        self._buf = ""
        self._state = "start"
        self._key: str | None = None
        self._meta: dict = {}
        self.batches = 0

    def _decode(self, buf: str, pos: int, ch: str):
        """(value, end) of the JSON value at ``pos``, or None if it may continue in the next piece."""
        try:
            value, end = self._raw(buf, pos)
        except json.JSONDecodeError:
            if len(buf) - pos > MAX_PENDING_CHARS:
                raise
            return None
        if end == len(buf) and ch not in '{["':
            return None  # a number or literal cut by the piece boundary
        return value, end

    def feed(self, text: str) -> Iterator[tuple[str, object]]:  # noqa: C901 - one state machine
        buf = self._buf + text if self._buf else text
        pos, n = 0, len(buf)
        state = self._state
        while True:
            pos = _WS.match(buf, pos).end()
            if pos >= n:
                break
            ch = buf[pos]
            if state == "start":
                if ch != "[":
                    raise ValueError(f"expected a JSON array, found {ch!r}")
                state, pos = "batch_first", pos + 1
            elif state in ("batch_first", "batch"):
                if ch == "]" and state == "batch_first":
                    state, pos = "done", pos + 1
                elif ch == "{":
                    state, pos, self._meta = "key_first", pos + 1, {}
                else:
                    raise ValueError(f"expected a batch object, found {ch!r}")
            elif state in ("key_first", "key", "key_next"):
                if ch == "}" and state != "key":
                    self.batches += 1
                    yield "batch", self._meta
                    state, pos = "batch_sep", pos + 1
                elif ch == "," and state == "key_next":
                    state, pos = "key", pos + 1
                elif ch == '"' and state != "key_next":
                    decoded = self._decode(buf, pos, ch)
                    if decoded is None:
                        break
                    self._key, pos = decoded
                    state = "colon"
                else:
                    raise ValueError(f"unexpected {ch!r} in a batch")
            elif state == "colon":
                if ch != ":":
                    raise ValueError(f"expected ':', found {ch!r}")
                state, pos = ("results" if self._key == "results" else "value"), pos + 1
            elif state == "value":
                decoded = self._decode(buf, pos, ch)
                if decoded is None:
                    break
                value, pos = decoded
                if self._key == "error":
                    yield "error", value
                else:
                    self._meta[self._key] = value
                state = "key_next"
            elif state == "results":
                if ch != "[":
                    raise ValueError(f"expected the results array, found {ch!r}")
                state, pos = "row_first", pos + 1
            elif state in ("row_first", "row"):
                if ch == "]" and state == "row_first":
                    state, pos = "key_next", pos + 1
                    continue
                decoded = self._decode(buf, pos, ch)
                if decoded is None:
                    break
                row, pos = decoded
                yield "row", row
                state = "row_sep"
            elif state == "row_sep":
                if ch == ",":
                    state = "row"
                elif ch == "]":
                    state = "key_next"
                else:
                    raise ValueError(f"expected ',' or ']' between rows, found {ch!r}")
                pos += 1
            elif state == "batch_sep":
                if ch == ",":
                    state = "batch"
                elif ch == "]":
                    state = "done"
                else:
                    raise ValueError(f"expected ',' or ']' between batches, found {ch!r}")
                pos += 1
            else:
                raise ValueError("data after the end of the stream")
        self._buf = buf[pos:]
        self._state = state

    def close(self) -> None:
        if self._state != "done" or self._buf.strip():
            raise ValueError("the searchStream response ended early")


# --- mutate results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationResult:
    index: int
    ok: bool
    resource_name: str = ""
    errors: tuple[AdsError, ...] = ()
    resource: dict | None = None  # the mutated resource, with responseContentType MUTABLE_RESOURCE


@dataclass(frozen=True)
class MutateResponse:
    """One result per operation, in order. ``applied``: Google changed something (not validate-only)."""

    results: tuple[OperationResult, ...]
    validate_only: bool
    partial_failure: bool
    request_id: str = ""
    failed_request: bool = field(default=False)  # without partialFailure, one bad operation rejected them all

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def applied(self) -> list[OperationResult]:
        return [] if self.validate_only else [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[OperationResult]:
        return [r for r in self.results if r.errors]


@dataclass(frozen=True)
class KeywordChange:
    """An update of one keyword (ad group criterion): its bid, its status, or both."""

    ad_group_id: str
    criterion_id: str
    cpc_bid_micros: int | None = None
    status: str | None = None  # ENABLED | PAUSED


# --- the client ------------------------------------------------------------------------------------------------


def customer_digits(customer_id) -> str:
    """Google wants customer ids without dashes: ``721-459-0386`` -> ``7214590386``."""
    return str(customer_id or "").replace("-", "").strip()


class GoogleAdsClient:
    """One seller's grant. ``customer_id``/``login_customer_id``: the account calls address by default."""

    def __init__(
        self,
        *,
        http: PlatformHTTP,
        conf: dict,
        credentials: dict,
        customer_id: str | None = None,
        login_customer_id: str | None = None,
        on_credentials: Callable[[dict], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.http = http
        self.conf = conf
        self.credentials = dict(credentials)
        self.version = conf.get("api_version") or DEFAULT_VERSION
        self.api_base = f"{conf['api_url'].rstrip('/')}/{self.version}"
        self.customer_id = customer_digits(customer_id) or None
        self.login_customer_id = customer_digits(login_customer_id) or None
        self.on_credentials = on_credentials
        self.sleep = sleep
        self.clock = clock

    # -- tokens ----------------------------------------------------------------------------------------
    def ensure_token(self) -> None:
        if (
            not self.credentials.get("access_token")
            or self.credentials.get("expires_at", 0) - REFRESH_MARGIN <= self.clock()
        ):
            self.refresh()

    def refresh(self) -> None:
        refresh_token = self.credentials.get("refresh_token")
        if not refresh_token:
            raise AuthorizationError(_("Google Ads: reconnect: we hold no refresh token for this account."))
        self.credentials = token_call(
            self.http, self.conf, {"grant_type": "refresh_token", "refresh_token": refresh_token}, clock=self.clock
        )
        if self.on_credentials:
            self.on_credentials(self.credentials)

    # -- calls -----------------------------------------------------------------------------------------
    def _headers(self, login_customer_id: str | None) -> dict:
        headers = {
            "Authorization": f"Bearer {self.credentials['access_token']}",
            "developer-token": self.conf.get("developer_token", ""),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if login_customer_id:
            headers["login-customer-id"] = login_customer_id
        return headers

    def _failure(self, response: httpx.Response) -> GoogleAdsFailure:
        try:
            body = response.json()
        except ValueError:
            body = {}
        return parse_failure(body, http_status=response.status_code, request_id=response.headers.get("request-id", ""))

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        login_customer_id: str | None | bool = True,
        stream: bool = False,
        ok_statuses: Iterable[int] = (),
    ) -> httpx.Response:
        """An API call. A 401 refreshes the token once; a short quota retryDelay is waited out here.

        ``login_customer_id``: True (default) sends the client's own, None or "" none, a string that one.
        """
        login = self.login_customer_id if login_customer_id is True else customer_digits(login_customer_id) or None
        self.ensure_token()
        content = json.dumps(body).encode() if body is not None else None
        url = self.api_base + path
        refreshed = False
        quota_waits = 0
        while True:
            response = self.http.request(method, url, content=content, headers=self._headers(login), stream=stream)
            if response.status_code < 400 or response.status_code in ok_statuses:
                return response
            if stream:
                response.read()
                response.close()
            failure = self._failure(response)
            if response.status_code == 401 and not refreshed:
                refreshed = True
                self.refresh()
                continue
            delay = failure.retry_delay
            if (
                failure.codes() & RETRYABLE_QUOTA
                and quota_waits < QUOTA_RETRIES
                and (delay is None or delay <= MAX_INLINE_QUOTA_WAIT)
            ):
                self.sleep(delay if delay is not None else 2.0**quota_waits)
                quota_waits += 1
                continue
            raise error_for(failure, version=self.version)

    def _customer(self, customer_id) -> str:
        cid = customer_digits(customer_id) or self.customer_id
        if not cid:
            raise ValueError("a customer id is needed")
        return cid

    def list_accessible_customers(self) -> list[str]:
        """Customer ids (digits) the Google user reaches directly (no login-customer-id)."""
        response = self.request("GET", "/customers:listAccessibleCustomers", login_customer_id=None)
        return [name.rsplit("/", 1)[-1] for name in response.json().get("resourceNames") or []]

    def search(self, query: str, *, customer_id=None, login_customer_id: str | None | bool = True) -> Iterator[dict]:
        """Every row of a GAQL query through ``googleAds:search``, following ``nextPageToken``."""
        cid = self._customer(customer_id)
        body: dict = {"query": query}
        while True:
            page = self.request(
                "POST", f"/customers/{cid}/googleAds:search", body=body, login_customer_id=login_customer_id
            ).json()
            yield from page.get("results") or []
            token = page.get("nextPageToken")
            if not token:
                return
            body = {"query": query, "pageToken": token}

    def search_stream(
        self, query: str, *, customer_id=None, login_customer_id: str | None | bool = True
    ) -> Iterator[dict]:
        """Every row of a GAQL query through ``googleAds:searchStream``, yielded as the response arrives.

        The request is made here, at once (token refresh, rate limit, quota waits and all); only reading the
        body is left to the returned iterator. So a loader may consume the rows inside its COPY: nothing of
        the request itself (the rate limiter's row, a refreshed token's save) then touches the database.

        A stream that ends early, breaks or carries an error element raises (TransientError for what retrying
        can fix) after yielding the rows that did arrive: the caller's load is rolled back as a whole.
        """
        cid = self._customer(customer_id)
        response = self.request(
            "POST",
            f"/customers/{cid}/googleAds:searchStream",
            body={"query": query},
            login_customer_id=login_customer_id,
            stream=True,
        )
        return self._stream_rows(response)

    def _stream_rows(self, response: httpx.Response) -> Iterator[dict]:
        request_id = response.headers.get("request-id", "")
        try:
            parser = SearchStreamParser()
            decode = codecs.getincrementaldecoder("utf-8")()
            try:
                for chunk in response.iter_bytes(64 * 1024):
                    for kind, item in parser.feed(decode.decode(chunk)):
                        if kind == "row":
                            yield item
                        elif kind == "error":
                            failure = parse_failure({"error": item}, http_status=500, request_id=request_id)
                            raise error_for(failure, version=self.version)
                for kind, item in parser.feed(decode.decode(b"", final=True)):
                    if kind == "row":
                        yield item
                    elif kind == "error":
                        failure = parse_failure({"error": item}, http_status=500, request_id=request_id)
                        raise error_for(failure, version=self.version)
                parser.close()
            except (ValueError, httpx.TransportError, httpx.StreamError) as exc:
                raise TransientError(
                    _("A Google Ads report arrived incomplete; the sync will retry."),
                    detail=f"{request_id}: {exc!r}"[:500],
                ) from exc
        finally:
            response.close()

    # -- mutate ----------------------------------------------------------------------------------------
    def mutate(
        self,
        collection: str,
        operations: list[dict],
        *,
        customer_id=None,
        validate_only: bool = False,
        partial_failure: bool = False,
        response_content_type: str | None = None,
    ) -> MutateResponse:
        """``POST customers/{id}/{collection}:mutate``; one OperationResult per operation, in order.

        Errors Google places on operations come back as results (with partialFailure the others were
        applied; without it none was); errors about the request as a whole raise.
        """
        cid = self._customer(customer_id)
        body: dict = {"operations": operations, "partialFailure": partial_failure, "validateOnly": validate_only}
        if response_content_type:
            body["responseContentType"] = response_content_type
        response = self.request("POST", f"/customers/{cid}/{collection}:mutate", body=body, ok_statuses=(400,))
        request_id = response.headers.get("request-id", "")
        if response.status_code == 400:
            failure = self._failure(response)
            if not failure.errors or any(e.operation_index is None for e in failure.errors):
                raise error_for(failure, version=self.version)
            return MutateResponse(
                results=_operation_results(len(operations), [], failure.errors, rejected=True),
                validate_only=validate_only,
                partial_failure=partial_failure,
                request_id=request_id,
                failed_request=True,
            )
        payload = response.json()
        errors: tuple[AdsError, ...] = ()
        if payload.get("partialFailureError"):
            errors = parse_failure(
                {"error": payload["partialFailureError"]}, http_status=400, request_id=request_id
            ).errors
        return MutateResponse(
            results=_operation_results(len(operations), payload.get("results") or [], errors),
            validate_only=validate_only,
            partial_failure=partial_failure,
            request_id=request_id,
        )

    def update_campaign_budgets(
        self, changes: Iterable[tuple[str, int]], *, customer_id=None, **options
    ) -> MutateResponse:
        """Set daily budget amounts: ``changes`` = [(budget id, amount in micros)]."""
        cid = self._customer(customer_id)
        operations = [
            {
                "updateMask": "amountMicros",
                "update": {"resourceName": f"customers/{cid}/campaignBudgets/{budget_id}", "amountMicros": str(amount)},
            }
            for budget_id, amount in changes
        ]
        return self.mutate("campaignBudgets", operations, customer_id=cid, **options)

    def update_keywords(self, changes: Iterable[KeywordChange], *, customer_id=None, **options) -> MutateResponse:
        """Change keywords' bids (``cpc_bid_micros``) and/or status (ENABLED/PAUSED)."""
        cid = self._customer(customer_id)
        operations = []
        for change in changes:
            update: dict = {
                "resourceName": f"customers/{cid}/adGroupCriteria/{change.ad_group_id}~{change.criterion_id}"
            }
            mask = []
            if change.cpc_bid_micros is not None:
                update["cpcBidMicros"] = str(change.cpc_bid_micros)
                mask.append("cpcBidMicros")
            if change.status is not None:
                update["status"] = change.status
                mask.append("status")
            if not mask:
                raise ValueError("a keyword change needs a bid or a status")
            operations.append({"updateMask": ",".join(mask), "update": update})
        return self.mutate("adGroupCriteria", operations, customer_id=cid, **options)

    def add_campaign_negative_keywords(
        self, keywords: Iterable[tuple[str, str, str]], *, customer_id=None, **options
    ) -> MutateResponse:
        """Add campaign-level negative keywords: ``keywords`` = [(campaign id, text, EXACT|PHRASE|BROAD)]."""
        cid = self._customer(customer_id)
        operations = [
            {
                "create": {
                    "campaign": f"customers/{cid}/campaigns/{campaign_id}",
                    "negative": True,
                    "keyword": {"text": text, "matchType": match_type},
                }
            }
            for campaign_id, text, match_type in keywords
        ]
        return self.mutate("campaignCriteria", operations, customer_id=cid, **options)


def _operation_results(
    count: int, results: list, errors: Iterable[AdsError], *, rejected: bool = False
) -> tuple[OperationResult, ...]:
    """Results by operation index. ``rejected``: Google applied nothing (one bad operation, no partialFailure)."""
    by_index: dict[int, list[AdsError]] = {}
    for error in errors:
        by_index.setdefault(error.operation_index if error.operation_index is not None else -1, []).append(error)
    out = []
    for index in range(count):
        result = results[index] if index < len(results) and isinstance(results[index], dict) else {}
        failed = tuple(by_index.get(index, ()))
        resource = next((v for k, v in result.items() if k != "resourceName" and isinstance(v, dict)), None)
        out.append(
            OperationResult(
                index=index,
                ok=not failed and not rejected,
                resource_name=str(result.get("resourceName") or ""),
                errors=failed,
                resource=resource,
            )
        )
    return tuple(out)
