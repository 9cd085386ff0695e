"""The TikTok for Business Marketing API (v1.3) as TikTok speaks it: OAuth, advertisers, entities, reports.

Facts (platform-apis.md section 5 and the TikTok report specs; [U] marks what no source confirmed):

- Base ``https://business-api.tiktok.com/open_api/v1.3`` (sandbox ``https://sandbox-ads.tiktok.com/...``);
  every call carries the header ``Access-Token: <token>``.
- Connecting: the advertiser opens ``/portal/auth?app_id&state&redirect_uri`` and comes back with
  ``auth_code`` (and ``code``) and ``state``; ``POST /oauth2/access_token/`` ``{app_id, secret, auth_code}``
  answers ``{access_token, advertiser_ids, scope}``. Advertiser tokens are long-term, with no refresh
  (Airbyte); if TikTok ever answers with ``refresh_token``/``expires_in`` we keep them and refresh through
  ``POST /oauth2/refresh_token/`` [U]. ``GET /oauth2/advertiser/get/?app_id&secret`` lists the
  authorized advertisers; ``GET /advertiser/info/?advertiser_ids=[...]`` gives currency and time zone.
- The envelope is ``{"code", "message", "request_id", "data"}``; errors come with **HTTP 200** and a
  non-zero ``code``: ``40100`` is the rate limit (wait and retry), ``50000``/``50002`` server errors
  (retry), ``40001``/``40102``/``40104``/``40105`` no permission, expired, empty or revoked token
  (reconnect) [U for all but 40100 and 50002].
- Lists (``campaign/get``, ``adgroup/get``) and the synchronous report (``report/integrated/get``) page
  with ``page``/``page_size`` (at most 1000) and answer ``data.page_info`` ``{page, page_size,
  total_number, total_page}``. Array parameters are JSON text in the query: ``dimensions=["campaign_id",
  "stat_time_day"]``. A daily (``stat_time_day``) synchronous report covers at most 30 days; without the day
  dimension, 365.
- Long windows go through asynchronous tasks: ``POST /report/task/create/`` (the same query as a JSON body)
  -> ``task_id``; ``GET /report/task/check/?advertiser_id&task_id`` -> ``status`` QUEUING, PROCESSING,
  SUCCESS, FAILED or CANCELED (and ``message``); ``GET /report/task/download/?advertiser_id&task_id`` ->
  ``download_url`` (valid an hour, bububa/tiktok-business), a CSV read here as a stream. The longest window
  a task accepts is not documented in our sources [U]: tasks cover ``async_chunk_days`` (90) at most.
- Reports default to non-deleted campaigns, ad groups and ads (``STATUS_NOT_DELETE``); we ask for
  ``STATUS_ALL`` at each level so the levels add up to the advertiser's totals (bububa/tiktok-business).
"""

from __future__ import annotations

import codecs
import csv
import json
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from urllib.parse import urlencode

import httpx
from django.utils.translation import gettext as _

from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.http import PlatformHTTP, raise_for_status

PLATFORM = "TikTok Ads"
RATE_LIMITED = 40100
SERVER_CODES = frozenset({50000, 50002})
AUTH_CODES = frozenset({40001, 40102, 40104, 40105})
MAX_PAGE_SIZE = 1000
SYNC_MAX_DAYS = 30  # a daily synchronous report
TOTALS_MAX_DAYS = 365  # a synchronous report without the day dimension
ASYNC_CHUNK_DAYS = 90  # [U] what we ask one asynchronous task for
REFRESH_MARGIN = 300

LEVELS = ("AUCTION_CAMPAIGN", "AUCTION_ADGROUP", "AUCTION_AD")  # the order a chunk is loaded in
ID_DIMENSION = {
    "AUCTION_ADVERTISER": "advertiser_id",
    "AUCTION_CAMPAIGN": "campaign_id",
    "AUCTION_ADGROUP": "adgroup_id",
    "AUCTION_AD": "ad_id",
}
STATUS_FILTER = {"AUCTION_CAMPAIGN": "campaign_status", "AUCTION_ADGROUP": "adgroup_status", "AUCTION_AD": "ad_status"}
# Money and counts we read. total_complete_payment_rate is the purchase VALUE, whatever its name says.
METRICS = [
    "spend",
    "impressions",
    "clicks",
    "complete_payment",
    "total_complete_payment_rate",
    "onsite_shopping",
    "total_onsite_shopping_value",
    "currency",
]
ATTRIBUTES = {  # attribute metrics (names and parent ids) each level can return
    "AUCTION_ADVERTISER": [],
    "AUCTION_CAMPAIGN": ["campaign_name"],
    "AUCTION_ADGROUP": ["campaign_id", "campaign_name", "adgroup_name"],
    "AUCTION_AD": ["campaign_id", "campaign_name", "adgroup_id", "adgroup_name", "ad_name"],
}
TASK_SUCCEEDED = "SUCCESS"
TASK_FAILED = frozenset({"FAILED", "CANCELED"})


def json_array(values: Iterable) -> str:
    return json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)


def report_query(advertiser_id: str, level: str, start: date, end: date, *, daily: bool = True) -> dict:
    """The report query (as JSON values) for one level over ``start``..``end``, one row per id and day."""
    query = {
        "advertiser_id": str(advertiser_id),
        "service_type": "AUCTION",
        "report_type": "BASIC",
        "data_level": level,
        "dimensions": [ID_DIMENSION[level], *(["stat_time_day"] if daily else [])],
        "metrics": METRICS + ATTRIBUTES[level],
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
    }
    if level in STATUS_FILTER:
        query["filtering"] = [
            {"field_name": STATUS_FILTER[level], "filter_type": "IN", "filter_value": json_array(["STATUS_ALL"])}
        ]
    return query


def authorization_url(conf: dict, *, state: str, redirect_uri: str) -> str:
    query = {"app_id": conf["client_id"], "state": state, "redirect_uri": redirect_uri}
    return f"{conf['auth_url']}?{urlencode(query)}"


def credentials_from(data: dict, *, clock: Callable[[], float], previous: dict | None = None) -> dict:
    """The credentials we store from a token answer: the token, its advertisers and scope, and, only if
    TikTok gave them, the refresh token and expiry times."""
    previous = previous or {}
    credentials = {
        "access_token": data["access_token"],
        "advertiser_ids": [str(a) for a in (data.get("advertiser_ids") or previous.get("advertiser_ids") or [])],
        "scope": data.get("scope", previous.get("scope", [])),
    }
    refresh_token = data.get("refresh_token") or previous.get("refresh_token")
    if refresh_token:
        credentials["refresh_token"] = refresh_token
    if data.get("expires_in"):
        credentials["expires_at"] = clock() + int(data["expires_in"])
    if data.get("refresh_token_expires_in"):
        credentials["refresh_expires_at"] = clock() + int(data["refresh_token_expires_in"])
    elif previous.get("refresh_expires_at"):
        credentials["refresh_expires_at"] = previous["refresh_expires_at"]
    return credentials


def _reconnect(detail: str) -> AuthorizationError:
    return AuthorizationError(
        _(
            "TikTok Ads: reconnect TikTok: our access was revoked or has expired. "
            "Connect the advertiser account again to keep syncing."
        ),
        detail=detail,
    )


class TikTokAdsClient:
    """One authorization (an access token and the advertisers it covers)."""

    def __init__(
        self,
        *,
        http: PlatformHTTP,
        conf: dict,
        credentials: dict | None = None,
        on_credentials: Callable[[dict], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.http = http
        self.conf = conf
        self.credentials = dict(credentials or {})
        self.api_url = conf["api_url"].rstrip("/")
        self.on_credentials = on_credentials
        self.sleep = sleep
        self.clock = clock

    # -- the envelope ----------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None, auth=True) -> dict:
        """One API call; returns ``data``. Code 40100 (and 5000x) wait ``rate_limit_wait`` seconds, doubling,
        and try again ``rate_limit_retries`` times (Airbyte backs off 0.6 s; TikTok's limits are per second)."""
        wait = float(self.conf.get("rate_limit_wait", 1.0))
        retries = int(self.conf.get("rate_limit_retries", 4))
        content = json.dumps(body).encode() if body is not None else None
        attempt = 0
        while True:
            headers = {"Accept": "application/json"}
            if auth:
                self.ensure_token()
                headers["Access-Token"] = self.credentials.get("access_token", "")
            if content is not None:
                headers["Content-Type"] = "application/json"
            response = self.http.request(method, self.api_url + path, params=params, content=content, headers=headers)
            raise_for_status(response, platform=PLATFORM)
            try:
                payload = response.json()
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                raise TransientError(
                    _("TikTok Ads sent an answer we could not read; the sync will retry."),
                    detail=response.text[:500],
                )
            code = payload.get("code", 0)
            if code == 0:
                return payload.get("data") or {}
            message = str(payload.get("message") or "")
            detail = f"{path}: code {code}: {message} (request_id {payload.get('request_id', '')})"[:1000]
            if code == RATE_LIMITED or code in SERVER_CODES:
                if attempt < retries:
                    self.sleep(wait * 2**attempt)
                    attempt += 1
                    continue
                if code == RATE_LIMITED:
                    raise TransientError(
                        _("TikTok Ads is limiting how fast we may ask (code 40100); the sync will retry."),
                        retry_after=float(self.conf.get("rate_limit_retry_after", 60)),
                        detail=detail,
                    )
                raise TransientError(_("TikTok Ads had a server error; the sync will retry."), detail=detail)
            if code in AUTH_CODES:
                raise _reconnect(detail)
            raise PlatformError(
                _("TikTok Ads refused the request (code %(code)s): %(message)s") % {"code": code, "message": message},
                detail=detail,
            )

    # -- tokens ----------------------------------------------------------------------------------------
    def exchange_code(self, auth_code: str) -> dict:
        try:
            data = self.call(
                "POST",
                "/oauth2/access_token/",
                body={"app_id": self.conf["client_id"], "secret": self.conf["client_secret"], "auth_code": auth_code},
                auth=False,
            )
        except (AuthorizationError, PlatformError) as exc:
            raise AuthorizationError(
                _(
                    "TikTok did not accept the authorization (an authorization code works once, for a short "
                    "time). Please connect again."
                ),
                detail=exc.detail,
            ) from exc
        self.credentials = credentials_from(data, clock=self.clock)
        return self.credentials

    def ensure_token(self) -> None:
        if not self.credentials.get("access_token"):
            raise _reconnect("no access token stored")
        expires_at = self.credentials.get("expires_at")
        if expires_at and expires_at - REFRESH_MARGIN <= self.clock():
            self.refresh()

    def refresh(self) -> None:
        """[U] Only for tokens TikTok gave an expiry: advertiser tokens are long-term and never get here."""
        refresh_token = self.credentials.get("refresh_token")
        refresh_expires_at = self.credentials.get("refresh_expires_at")
        if not refresh_token or (refresh_expires_at and refresh_expires_at <= self.clock()):
            raise _reconnect("the access token expired and there is no usable refresh token")
        data = self.call(
            "POST",
            "/oauth2/refresh_token/",
            body={
                "app_id": self.conf["client_id"],
                "secret": self.conf["client_secret"],
                "refresh_token": refresh_token,
                "grant_type": "refresh_token",
            },
            auth=False,
        )
        self.credentials = credentials_from(data, clock=self.clock, previous=self.credentials)
        if self.on_credentials:
            self.on_credentials(self.credentials)

    # -- accounts and entities -------------------------------------------------------------------------
    def authorized_advertisers(self) -> list[dict]:
        data = self.call(
            "GET",
            "/oauth2/advertiser/get/",
            params={"app_id": self.conf["client_id"], "secret": self.conf["client_secret"]},
        )
        return data.get("list") or []

    def advertiser_info(self, advertiser_ids: list[str]) -> list[dict]:
        out = []
        for i in range(0, len(advertiser_ids), 100):  # at most 100 ids a call
            data = self.call(
                "GET", "/advertiser/info/", params={"advertiser_ids": json_array(advertiser_ids[i : i + 100])}
            )
            out.extend(data.get("list") or [])
        return out

    def pages(self, path: str, params: dict, *, page_size: int, first_page: int = 1) -> Iterator[tuple[int, dict]]:
        """(page number, data) for each page from ``first_page`` on, following ``page_info.total_page``."""
        page = first_page
        while True:
            data = self.call("GET", path, params={**params, "page": page, "page_size": page_size})
            yield page, data
            total_page = int((data.get("page_info") or {}).get("total_page") or 0)
            if page >= total_page:
                return
            page += 1

    def list_all(self, path: str, advertiser_id: str, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict]:
        for _page, data in self.pages(path, {"advertiser_id": advertiser_id}, page_size=page_size):
            yield from data.get("list") or []

    # -- synchronous reports ---------------------------------------------------------------------------
    @staticmethod
    def report_params(query: dict) -> dict:
        """A report query as ``report/integrated/get`` takes it: arrays as JSON text in the query string."""
        return {k: json_array(v) if isinstance(v, list) else v for k, v in query.items()}

    def report_pages(self, query: dict, *, page_size: int, first_page: int = 1) -> Iterator[tuple[int, list[dict]]]:
        """(page, rows) of a synchronous report; rows flattened to ``{**metrics, **dimensions}``."""
        for page, data in self.pages(
            "/report/integrated/get/", self.report_params(query), page_size=page_size, first_page=first_page
        ):
            yield page, [flatten(row) for row in data.get("list") or []]

    # -- asynchronous reports --------------------------------------------------------------------------
    def create_task(self, query: dict) -> str:
        body = {
            **query,
            "output_format": "CSV_DOWNLOAD",
            "enable_report_title_translation": False,  # headers are the field names we asked for
            "file_name": f"chuhai {query['data_level']} {query['start_date']}..{query['end_date']}",
        }
        return str(self.call("POST", "/report/task/create/", body=body)["task_id"])

    def check_task(self, advertiser_id: str, task_id: str) -> dict:
        return self.call("GET", "/report/task/check/", params={"advertiser_id": advertiser_id, "task_id": task_id})

    def wait_for_tasks(
        self, advertiser_id: str, task_ids: dict[str, str], *, heartbeat: Callable[[], None] | None = None
    ) -> dict[str, dict]:
        """Check every task in turn, then wait (with backoff) and check the unfinished ones again, until each
        is SUCCESS, FAILED or CANCELED; returns key -> its last status. After ``report_wait_seconds`` it
        raises TransientError, so the Celery task retries later instead of holding a worker."""
        delay = float(self.conf.get("poll_interval", 2.0))
        max_delay = float(self.conf.get("poll_max_interval", 60.0))
        budget = float(self.conf.get("report_wait_seconds", 900.0))
        waited = 0.0
        finished: dict[str, dict] = {}
        while True:
            for key, task_id in task_ids.items():
                if key not in finished:
                    status = self.check_task(advertiser_id, task_id)
                    if status.get("status") == TASK_SUCCEEDED or status.get("status") in TASK_FAILED:
                        finished[key] = status
            if len(finished) == len(task_ids):
                return finished
            if heartbeat:
                heartbeat()
            if waited >= budget:
                raise TransientError(
                    _("TikTok Ads is still preparing a report; the sync will continue when it is ready."),
                    retry_after=120,
                    detail=f"tasks {sorted(set(task_ids.values()))} not finished after {waited:.0f}s",
                )
            self.sleep(delay)
            waited += delay
            delay = min(max_delay, delay * 1.5)

    def download_url(self, advertiser_id: str, task_id: str) -> str:
        data = self.call("GET", "/report/task/download/", params={"advertiser_id": advertiser_id, "task_id": task_id})
        return data["download_url"]

    def task_rows(self, url: str) -> Iterator[dict]:
        """Stream the rows of a finished task's CSV from its download URL (a signed link: no Access-Token).
        A file that ends early raises TransientError; the caller's load is then rolled back."""
        response = self.http.request("GET", url, stream=True, limited=False)
        try:
            if response.status_code >= 400:
                response.read()
                raise_for_status(response, platform=PLATFORM, reauth_statuses=())
            length = response.headers.get("Content-Length")

            def received():  # decoded bytes; Content-Length counts what came over the wire
                yield from response.iter_bytes(64 * 1024)
                if length is not None and response.num_bytes_downloaded != int(length):
                    raise ValueError(f"the file ended after {response.num_bytes_downloaded} of {length} bytes")

            try:
                yield from iter_csv(received())
            except (ValueError, csv.Error, httpx.TransportError, httpx.StreamError) as exc:
                raise TransientError(
                    _("A TikTok Ads report arrived incomplete; the sync will retry."), detail=repr(exc)[:500]
                ) from exc
        finally:
            response.close()


def flatten(row: dict) -> dict:
    """A report row ``{"dimensions": {...}, "metrics": {...}}`` as one dict (dimensions win a clash)."""
    return {**(row.get("metrics") or {}), **(row.get("dimensions") or {})}


def iter_csv(chunks: Iterable[bytes], *, expected_bytes: int | None = None) -> Iterator[dict]:
    """Rows (dicts keyed by the header) of a CSV read from byte chunks, one line at a time.

    Raises ValueError, after yielding what arrived, when the file is cut short: fewer bytes than
    ``Content-Length``, or a last line without its line break (quoted fields may hold line breaks).
    """
    decode = codecs.getincrementaldecoder("utf-8-sig")()
    received = 0
    pending = ""

    def lines() -> Iterator[str]:
        nonlocal received, pending
        for chunk in chunks:
            received += len(chunk)
            pending += decode.decode(chunk)
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line + "\n"
        pending += decode.decode(b"", final=True)
        if expected_bytes is not None and received != expected_bytes:
            raise ValueError(f"the file ended after {received} of {expected_bytes} bytes")
        if pending:
            raise ValueError("the file ended in the middle of a line")

    reader = csv.reader(lines())
    header = next(reader, None)
    if header is None:
        raise ValueError("the file is empty: no header line")
    for record in reader:
        if not record:
            continue
        if len(record) != len(header):
            raise ValueError(f"a line has {len(record)} fields, the header {len(header)}")
        yield dict(zip(header, record, strict=True))
