"""The Amazon Ads API as Amazon speaks it: Login with Amazon tokens, profiles, SP v3 lists, v3 async reports.

Every call goes through ``PlatformHTTP`` (timeouts, the shared per-profile rate limit, retries of 429/5xx
and network errors) and ``raise_for_status``. Facts used here are in docs (platform-apis.md section 1):

- LWA: ``/ap/oa`` consent with ``scope=advertising::campaign_management``; the token endpoint takes
  form-encoded ``authorization_code`` and ``refresh_token`` grants; access tokens last 3600 s; a revoked
  grant answers ``invalid_grant``.
- API headers: ``Authorization: Bearer``, ``Amazon-Advertising-API-ClientId`` and, except for
  ``GET /v2/profiles``, ``Amazon-Advertising-API-Scope: <profileId>``.
- Reports: ``POST /reporting/reports`` (``application/vnd.createasyncreportrequest.v3+json``), at most 31
  days, ``timeUnit`` ``DAILY`` (with a ``date`` column) or ``SUMMARY`` (one row per group over the span),
  425 for an identical request still pending; poll ``GET /reporting/reports/{id}``; download the
  pre-signed ``url`` *without* ``Authorization`` (S3 refuses it): a gzipped JSON array, read as a stream.
"""

from __future__ import annotations

import codecs
import json
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from urllib.parse import urlencode

import httpx
from django.utils.translation import gettext as _

from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.http import PlatformHTTP, raise_for_status

PLATFORM = "Amazon Ads"
SCOPE = "advertising::campaign_management"
REFRESH_MARGIN = 120  # refresh an access token this many seconds before it expires
REPORT_REQUEST_TYPE = "application/vnd.createasyncreportrequest.v3+json"
ALL_STATES = ["ENABLED", "PAUSED", "ARCHIVED"]

# SP v3 list endpoints: entity -> (vendor media type for Accept and Content-Type, response key)
LISTS = {
    "campaigns": ("application/vnd.spCampaign.v3+json", "campaigns"),
    "adGroups": ("application/vnd.spAdGroup.v3+json", "adGroups"),
    "keywords": ("application/vnd.spKeyword.v3+json", "keywords"),
    "targets": ("application/vnd.spTargetingClause.v3+json", "targetingClauses"),
    "negativeKeywords": ("application/vnd.spNegativeKeyword.v3+json", "negativeKeywords"),
    "campaignNegativeKeywords": ("application/vnd.spCampaignNegativeKeyword.v3+json", "campaignNegativeKeywords"),
    "productAds": ("application/vnd.spProductAd.v3+json", "productAds"),
}

_METRICS = ["impressions", "clicks", "cost", "purchases7d", "unitsSoldClicks7d", "sales7d"]
_CAMPAIGN = ["date", "campaignId", "campaignName", "campaignBudgetCurrencyCode"]
_TARGET = ["adGroupId", "adGroupName", "keywordId", "keyword", "matchType", "targeting"]
# reportTypeId -> (groupBy, columns): one row per day at the grain we store.
REPORTS: dict[str, tuple[list[str], list[str]]] = {
    "spCampaigns": (["campaign"], _CAMPAIGN + _METRICS),
    "spTargeting": (["targeting"], _CAMPAIGN + _TARGET + _METRICS),
    "spSearchTerm": (["searchTerm"], _CAMPAIGN + _TARGET + ["searchTerm"] + _METRICS),
    "spAdvertisedProduct": (
        ["advertiser"],
        _CAMPAIGN + ["adGroupId", "adGroupName", "advertisedAsin", "advertisedSku"] + _METRICS,
    ),
}
MAX_REPORT_DAYS = 31
SUMMARY_REPORT = "spCampaigns"  # the account's own totals: one row per campaign over the whole span


def summary_columns(window: str) -> list[str]:
    """A SUMMARY report's columns: traffic, spend and conversions at ``window`` (``7d``, ``14d`` ...)."""
    traffic = ["campaignId", "campaignBudgetCurrencyCode", "impressions", "clicks", "cost"]
    return [*traffic, f"purchases{window}", f"sales{window}"]


_DUPLICATE = re.compile(r"duplicate of\s*:?\s*([0-9A-Za-z-]+)", re.IGNORECASE)


def authorization_url(conf: dict, *, state: str, redirect_uri: str) -> str:
    query = {
        "client_id": conf["client_id"],
        "scope": SCOPE,
        "response_type": "code",
        "state": state,
        "redirect_uri": redirect_uri,
    }
    return f"{conf['auth_url']}?{urlencode(query)}"


def _body(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def token_call(http: PlatformHTTP, conf: dict, form: dict, *, clock: Callable[[], float] = time.time) -> dict:
    """POST a grant to the LWA token endpoint; returns the credentials we store."""
    data = {**form, "client_id": conf["client_id"], "client_secret": conf["client_secret"]}
    response = http.request("POST", conf["token_url"], data=data, headers={"Accept": "application/json"}, limited=False)
    if response.status_code in (400, 401):
        error = _body(response).get("error")
        if error == "invalid_grant" and form["grant_type"] == "refresh_token":
            raise AuthorizationError(
                _(
                    "Amazon Ads: re-authorize: the refresh token was revoked. "
                    "Connect the account again to keep syncing."
                ),
                detail=response.text[:500],
            )
        if error == "invalid_grant":
            raise AuthorizationError(
                _("Amazon did not accept the authorization (codes work once, for 5 minutes). Please connect again."),
                detail=response.text[:500],
            )
        if error == "invalid_client":
            raise PlatformError(_("Amazon Ads rejected our app credentials."), detail=response.text[:500])
    raise_for_status(response, platform=PLATFORM)
    body = response.json()
    return {
        "access_token": body["access_token"],
        "refresh_token": body.get("refresh_token") or form.get("refresh_token", ""),
        "token_type": body.get("token_type", "bearer"),
        "expires_at": clock() + int(body.get("expires_in", 3600)),
    }


def exchange_code(http: PlatformHTTP, conf: dict, *, code: str, redirect_uri: str, clock=time.time) -> dict:
    return token_call(
        http, conf, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}, clock=clock
    )


class AmazonAdsClient:
    """One authorized seller: API calls with token refresh; ``profile_id`` scopes everything but profiles."""

    def __init__(
        self,
        *,
        http: PlatformHTTP,
        conf: dict,
        credentials: dict,
        region: str = "NA",
        profile_id: str | None = None,
        on_credentials: Callable[[dict], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.http = http
        self.conf = conf
        self.credentials = dict(credentials)
        self.api_url = conf["api_urls"][region or "NA"].rstrip("/")
        self.profile_id = profile_id
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
            raise AuthorizationError(_("Amazon Ads: re-authorize: we hold no refresh token for this account."))
        self.credentials = token_call(
            self.http, self.conf, {"grant_type": "refresh_token", "refresh_token": refresh_token}, clock=self.clock
        )
        if self.on_credentials:
            self.on_credentials(self.credentials)

    # -- calls -----------------------------------------------------------------------------------------
    def _headers(self, *, scoped: bool, media_type: str | None, content_type: str | None) -> dict:
        headers = {
            "Authorization": f"Bearer {self.credentials['access_token']}",
            "Amazon-Advertising-API-ClientId": self.conf["client_id"],
            "Accept": media_type or "application/json",
        }
        if scoped:
            headers["Amazon-Advertising-API-Scope"] = str(self.profile_id)
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        scoped: bool = True,
        media_type: str | None = None,
        content_type: str | None = None,
        api_url: str | None = None,
        ok_statuses: Iterable[int] = (),
    ) -> httpx.Response:
        """An API call; a 401 refreshes the access token once and tries again."""
        self.ensure_token()
        content = json.dumps(body).encode() if body is not None else None
        if content is not None and content_type is None:
            content_type = media_type or "application/json"
        url = (api_url or self.api_url).rstrip("/") + path
        for attempt in range(2):
            headers = self._headers(scoped=scoped, media_type=media_type, content_type=content_type)
            response = self.http.request(method, url, content=content, headers=headers)
            if response.status_code == 401 and attempt == 0:
                self.refresh()
                continue
            break
        if response.status_code not in ok_statuses:
            raise_for_status(response, platform=PLATFORM)
        return response

    def profiles(self, *, api_url: str | None = None) -> list[dict]:
        return self.call("GET", "/v2/profiles", scoped=False, api_url=api_url).json()

    def list_all(self, entity: str, *, page_size: int = 500) -> Iterator[dict]:
        """Every item of an SP v3 list endpoint, in all states, following ``nextToken``."""
        media_type, key = LISTS[entity]
        body: dict = {"stateFilter": {"include": ALL_STATES}, "maxResults": page_size}
        while True:
            page = self.call("POST", f"/sp/{entity}/list", body=body, media_type=media_type).json()
            yield from page.get(key) or []
            token = page.get("nextToken")
            if not token:
                return
            body = {**body, "nextToken": token}

    # -- reports ---------------------------------------------------------------------------------------
    @staticmethod
    def report_request(report_type: str, start: date, end: date) -> dict:
        group_by, columns = REPORTS[report_type]
        return {
            "name": f"chuhai {report_type} {start.isoformat()}..{end.isoformat()}",
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "configuration": {
                "adProduct": "SPONSORED_PRODUCTS",
                "groupBy": group_by,
                "columns": columns,
                "reportTypeId": report_type,
                "timeUnit": "DAILY",
                "format": "GZIP_JSON",
            },
        }

    @staticmethod
    def summary_request(start: date, end: date, *, window: str) -> dict:
        """Sponsored Products campaigns over ``start``..``end`` as one span (``timeUnit: SUMMARY``, no date
        column), conversions at ``window``: what Amazon itself totals for those days."""
        return {
            "name": f"chuhai {SUMMARY_REPORT} summary {start.isoformat()}..{end.isoformat()}",
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "configuration": {
                "adProduct": "SPONSORED_PRODUCTS",
                "groupBy": ["campaign"],
                "columns": summary_columns(window),
                "reportTypeId": SUMMARY_REPORT,
                "timeUnit": "SUMMARY",
                "format": "GZIP_JSON",
            },
        }

    def create_report(self, report_type: str, start: date, end: date) -> str:
        """Request a daily report; returns its id. An identical request still pending (425) gives the existing
        id."""
        return self._create(self.report_request(report_type, start, end))

    def create_summary_report(self, start: date, end: date, *, window: str) -> str:
        """Request the campaigns SUMMARY report of ``start``..``end`` (see ``summary_request``); returns its id."""
        return self._create(self.summary_request(start, end, window=window))

    def _create(self, body: dict) -> str:
        start, end = date.fromisoformat(body["startDate"]), date.fromisoformat(body["endDate"])
        if (end - start).days + 1 > MAX_REPORT_DAYS or end < start:
            raise ValueError(f"a report covers 1 to {MAX_REPORT_DAYS} days, not {start}..{end}")
        response = self.call(
            "POST", "/reporting/reports", body=body, content_type=REPORT_REQUEST_TYPE, ok_statuses=(425,)
        )
        if response.status_code == 425:
            body = _body(response)
            match = _DUPLICATE.search(str(body.get("detail") or body.get("details") or ""))
            if match:
                return match.group(1)
            raise TransientError(
                _("Amazon Ads is still preparing an identical report; the sync will retry."),
                retry_after=60,
                detail=response.text[:500],
            )
        return response.json()["reportId"]

    def report_status(self, report_id: str) -> dict | None:
        """The report's status document, or None if Amazon no longer knows the report."""
        response = self.call("GET", f"/reporting/reports/{report_id}", ok_statuses=(404,))
        return None if response.status_code == 404 else response.json()

    def wait_for_report(self, report_id: str, *, heartbeat: Callable[[], None] | None = None) -> dict | None:
        """Poll with backoff until COMPLETED or FAILED (or gone: None). Waits at most ``report_wait_seconds``,
        then raises TransientError so the task retries later instead of holding a worker."""
        delay = float(self.conf.get("poll_interval", 5.0))
        max_delay = float(self.conf.get("poll_max_interval", 60.0))
        budget = float(self.conf.get("report_wait_seconds", 600.0))
        waited = 0.0
        while True:
            status = self.report_status(report_id)
            if status is None or status.get("status") in ("COMPLETED", "FAILED"):
                return status
            if heartbeat:
                heartbeat()
            if waited >= budget:
                raise TransientError(
                    _("Amazon Ads is still preparing a report; the sync will continue when it is ready."),
                    retry_after=120,
                    detail=f"report {report_id} still {status.get('status')} after {waited:.0f}s",
                )
            self.sleep(delay)
            waited += delay
            delay = min(max_delay, delay * 1.5)

    def report_rows(self, url: str) -> Iterator[dict]:
        """Stream the rows of a completed report from its pre-signed URL (no Authorization header: S3 would
        refuse it). A file that ends early raises TransientError; the caller's load is then rolled back."""
        response = self.http.request("GET", url, stream=True, limited=False)
        try:
            if response.status_code >= 400:
                response.read()
                raise_for_status(response, platform=PLATFORM, reauth_statuses=())
            try:
                yield from iter_gzip_json_array(response.iter_raw(64 * 1024))
            except (zlib.error, ValueError, httpx.TransportError, httpx.StreamError) as exc:
                raise TransientError(
                    _("An Amazon Ads report arrived incomplete; the sync will retry."), detail=repr(exc)[:500]
                ) from exc
        finally:
            response.close()


# --- streaming a gzipped JSON array --------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
MAX_PENDING_CHARS = 16 * 1024 * 1024


class JSONArrayStream:
    """Parse a JSON array fed as text pieces, yielding each element as soon as it is complete.

    Memory holds one element (plus one piece), never the array. ``close()`` raises ValueError unless the
    closing bracket was seen.
    """

    def __init__(self):
        self._decoder = json.JSONDecoder()
        self._buf = ""
        self._state = "start"  # start -> first -> (sep -> value)* -> done

    def feed(self, text: str) -> Iterator:
        buf = self._buf + text if self._buf else text
        pos, n = 0, len(buf)
        state = self._state
        raw_decode = self._decoder.raw_decode
        while True:
            pos = _WS.match(buf, pos).end()
            if pos >= n:
                break
            ch = buf[pos]
            if state == "start":
                if ch != "[":
                    raise ValueError(f"expected a JSON array, found {ch!r}")
                state, pos = "first", pos + 1
            elif state in ("first", "value"):
                if ch == "]" and state == "first":
                    state, pos = "done", pos + 1
                    continue
                # Fast path: every element up to the last "}" in one json.loads. It only succeeds when that
                # "}" closes a top-level element (inside a string or a nested value the brackets cannot
                # balance), so a failure just means: go element by element.
                cut = buf.rfind("}", pos)
                if cut > pos and ch == "{":
                    try:
                        items = json.loads("[" + buf[pos : cut + 1] + "]")
                    except json.JSONDecodeError:
                        items = None
                    if items is not None:
                        yield from items
                        state, pos = "sep", cut + 1
                        continue
                try:
                    item, end = raw_decode(buf, pos)
                except json.JSONDecodeError:
                    if n - pos > MAX_PENDING_CHARS:
                        raise
                    break  # an element cut by the piece boundary: wait for more text
                if end == n and ch not in '{["':
                    break  # a bare number or literal may continue in the next piece
                yield item
                state, pos = "sep", end
            elif state == "sep":
                if ch == ",":
                    state = "value"
                elif ch == "]":
                    state = "done"
                else:
                    raise ValueError(f"expected ',' or ']' in the array, found {ch!r}")
                pos += 1
            else:
                raise ValueError("data after the end of the JSON array")
        self._buf = buf[pos:]
        self._state = state

    def close(self) -> None:
        if self._state != "done" or self._buf.strip():
            raise ValueError("the JSON array ended early")


def iter_gzip_json_array(chunks: Iterable[bytes]) -> Iterator:
    """Elements of a gzipped JSON array read from byte chunks. Raises ValueError if the gzip or the array
    is cut short (a truncated download), after yielding what did arrive."""
    inflate = zlib.decompressobj(wbits=47)  # 32 + 15: a gzip (or zlib) header, detected
    decode = codecs.getincrementaldecoder("utf-8")()
    parser = JSONArrayStream()
    for chunk in chunks:
        if chunk:
            yield from parser.feed(decode.decode(inflate.decompress(chunk)))
    if not inflate.eof:
        raise ValueError("the gzip stream ended early")
    yield from parser.feed(decode.decode(inflate.flush(), final=True))
    parser.close()
