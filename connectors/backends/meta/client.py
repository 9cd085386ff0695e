"""The Meta Marketing API (Graph API) as Meta speaks it: Facebook Login, long-lived tokens, ad account edges,
insights (synchronous, and async report runs), cursor paging, usage headers and Graph error bodies.

Every call goes through ``PlatformHTTP`` (timeouts, the shared per-account rate limit, inline retries of
5xx and network errors). Facts used here (platform-apis.md section 4; [U] marks what no source confirmed):

- Base ``{graph_url}/{api_version}`` from ``settings.PLATFORMS["meta"]`` (v25.0 today).
- Facebook Login: ``dialog/oauth?client_id&redirect_uri&state&scope&response_type=code``; the code is traded at
  ``GET /oauth/access_token?client_id&redirect_uri&client_secret&code`` for a short-lived user token, which we
  trade at once (``grant_type=fb_exchange_token``) for a long-lived one (``expires_in`` about 60 days). There is
  no refresh grant: when the long-lived token runs out the seller must log in again. No ``expires_in`` in the
  answer means a token without an expiry (a Business Manager system-user token) [U].
- Every call carries ``access_token`` and ``appsecret_proof`` = hex HMAC-SHA256 of the token keyed with the app
  secret (the Business SDK's ``FacebookSession`` sends it; apps that "require app secret" refuse calls without).
- Lists: ``{"data": [...], "paging": {"cursors": {...}, "next": url}}``; continue only while ``paging.next``
  exists ("after" is always there, even on the last page).
- Insights: numbers and money are strings; ``actions``/``action_values`` are lists of
  ``{"action_type", "value", "<window>": ...}``. Async: ``POST /act_{id}/insights`` -> ``{"report_run_id"}``,
  poll ``GET /{report_run_id}`` (``async_status``: Job Not Started, Job Started, Job Running, Job Completed,
  Job Failed, Job Skipped; ``async_percent_completion``), then ``GET /{report_run_id}/insights``, paged.
- Errors: ``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``, throttling
  as HTTP 400 with codes 4, 17, 32, 613 and 80000-80014; 190 is an invalid or expired token. Usage headers
  ``x-app-usage``, ``x-ad-account-usage``, ``x-business-use-case-usage`` (with
  ``estimated_time_to_regain_access`` in minutes) and ``x-fb-ads-insights-throttle`` carry percentages: at 85 %
  we pause before the next call, at 95 % we stop and let the task retry later (Airbyte's thresholds).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from django.utils.translation import gettext as _

from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.http import PlatformHTTP, raise_for_status

logger = logging.getLogger(__name__)

PLATFORM = "Meta"
SCOPES = "ads_read,ads_management,business_management"  # ads_management: pushing approved changes
EXPIRY_MARGIN_SECONDS = 7 * 24 * 3600  # a token this close to its end is treated as over: reconnect now
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TOKEN_CODES = frozenset({102, 190})  # session or access token invalid, expired or revoked
PERMISSION_CODES = frozenset({10, *range(200, 300)})  # a permission (ads_read) not granted, or taken back
TRANSIENT_CODES = frozenset({1, 2})  # "unknown error", "service temporarily unavailable"
MISSING_OBJECT = (100, 33)  # "Unsupported get request. Object with ID ... does not exist"
USAGE_PAUSE_PERCENT = 85.0
USAGE_STOP_PERCENT = 95.0
THROTTLE_WAIT_SECONDS = 300.0  # when Meta throttles without saying for how long
USAGE_HEADERS = ("x-app-usage", "x-ad-account-usage", "x-business-use-case-usage", "x-fb-ads-insights-throttle")

JOB_COMPLETED = "Job Completed"
JOB_FAILED = ("Job Failed", "Job Skipped")
JOB_FIELDS = "id,async_status,async_percent_completion,date_start,date_stop,error_code,error_message,is_running"

ACCOUNT_FIELDS = "account_id,name,currency,timezone_name,account_status"
CAMPAIGN_FIELDS = "id,name,status,effective_status,objective,daily_budget,lifetime_budget,start_time"
ADSET_FIELDS = "id,name,campaign_id,status,effective_status,daily_budget,lifetime_budget,bid_amount"
METRICS = ("impressions", "clicks", "spend", "actions", "action_values")
AD_FIELDS = (
    "account_currency",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    *METRICS,
)
ACCOUNT_TOTAL_FIELDS = ("account_currency", *METRICS)
BREAKDOWNS = ("publisher_platform", "country")
ATTRIBUTION_WINDOWS = ("7d_click", "1d_view")

RECONNECT = "reconnect Meta (tokens last about 60 days)"


def graph_base(conf: dict) -> str:
    return f"{conf['graph_url'].rstrip('/')}/{conf['api_version']}"


def authorization_url(conf: dict, *, state: str, redirect_uri: str) -> str:
    query = {
        "client_id": conf["client_id"],
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": SCOPES,
        "response_type": "code",
    }
    return f"{conf['auth_url']}?{urlencode(query)}"


def appsecret_proof(app_secret: str, access_token: str) -> str:
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


# --- usage headers and errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """The highest percentage any usage header reported, and the longest wait Meta announced (seconds)."""

    percent: float = 0.0
    regain_seconds: float = 0.0


def _load(value: str):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def _numbers(obj: dict, keys) -> list[float]:
    out = []
    for key in keys:
        value = obj.get(key)
        if isinstance(value, (int, float)):
            out.append(float(value))
    return out


def usage_of(headers: httpx.Headers) -> Usage:
    """Read Meta's usage headers; a header that is missing or not JSON counts as 0 %."""
    percents: list[float] = [0.0]
    regain = 0.0
    app = _load(headers.get("x-app-usage", ""))
    if isinstance(app, dict):
        percents += _numbers(app, ("call_count", "total_cputime", "total_time"))
    account = _load(headers.get("x-ad-account-usage", ""))
    if isinstance(account, dict):
        percents += _numbers(account, ("acc_id_util_pct",))
    insights = _load(headers.get("x-fb-ads-insights-throttle", ""))
    if isinstance(insights, dict):
        percents += _numbers(insights, ("app_id_util_pct", "acc_id_util_pct"))
    business = _load(headers.get("x-business-use-case-usage", ""))
    if isinstance(business, dict):
        for entries in business.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    percents += _numbers(entry, ("call_count", "total_cputime", "total_time"))
                    regain = max([regain, *(60 * m for m in _numbers(entry, ("estimated_time_to_regain_access",)))])
    return Usage(percent=max(percents), regain_seconds=regain)


def graph_error(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _detail(error: dict) -> str:
    keys = ("message", "type", "code", "error_subcode", "is_transient", "fbtrace_id")
    return json.dumps({k: error.get(k) for k in keys if k in error})[:1000]


def raise_graph_error(response: httpx.Response) -> None:
    """Turn a Graph error answer into the error class the engine acts on (nothing when the answer is fine)."""
    error = graph_error(response)
    if error is None:
        raise_for_status(response, platform=PLATFORM)
        return
    code, subcode = error.get("code"), error.get("error_subcode")
    message = str(error.get("message") or "")
    detail = _detail(error)
    if code in THROTTLE_CODES:
        usage = usage_of(response.headers)
        wait = usage.regain_seconds or THROTTLE_WAIT_SECONDS
        raise TransientError(
            _(
                "Meta is limiting how often we may read this ad account (error %(code)s); "
                "the sync will continue in about %(minutes)d minutes."
            )
            % {"code": code, "minutes": max(1, round(wait / 60))},
            retry_after=wait,
            detail=detail,
        )
    if code in TOKEN_CODES:
        raise AuthorizationError(
            _("Meta no longer accepts our access (the token expired or was revoked): %(action)s.")
            % {"action": RECONNECT},
            detail=detail,
        )
    if code in PERMISSION_CODES:
        raise AuthorizationError(
            _(
                "Meta refused access to this ad account: the permission to read ads was not granted or was taken "
                "back. Reconnect Meta and allow ads_read, ads_management and business_management."
            ),
            detail=detail,
        )
    if error.get("is_transient") or code in TRANSIENT_CODES or response.status_code >= 500:
        raise TransientError(_("Meta had a temporary problem; the sync will retry."), detail=detail)
    raise PlatformError(
        _("Meta refused the request: %(message)s") % {"message": message[:300] or f"error {code}/{subcode}"},
        detail=detail,
    )


# --- tokens ------------------------------------------------------------------------------------------------


def _token_call(http: PlatformHTTP, conf: dict, params: dict, *, clock: Callable[[], float]) -> dict:
    query = {**params, "client_id": conf["client_id"], "client_secret": conf["client_secret"]}
    response = http.request("GET", f"{graph_base(conf)}/oauth/access_token", params=query, limited=False)
    if response.status_code >= 400:
        error = graph_error(response) or {}
        if error.get("code") == 101 or "client secret" in str(error.get("message", "")).lower():
            raise PlatformError(_("Meta rejected our app credentials."), detail=_detail(error))
        if error.get("code") in (100, *TOKEN_CODES):
            raise AuthorizationError(
                _("Meta did not accept the login (a login code works once, for a few minutes). Connect Meta again."),
                detail=_detail(error),
            )
        raise_graph_error(response)
    body = response.json()
    expires_in = body.get("expires_in")
    return {
        "access_token": body["access_token"],
        "token_type": body.get("token_type", "bearer"),
        "expires_at": int(clock()) + int(expires_in) if expires_in else None,
    }


def exchange_code(
    http: PlatformHTTP, conf: dict, *, code: str, redirect_uri: str, clock: Callable[[], float] = time.time
) -> dict:
    """The login code -> a short-lived token -> at once a long-lived one (what we store)."""
    short = _token_call(http, conf, {"redirect_uri": redirect_uri, "code": code}, clock=clock)
    return exchange_for_long_lived(http, conf, short["access_token"], clock=clock)


def exchange_for_long_lived(
    http: PlatformHTTP, conf: dict, access_token: str, *, clock: Callable[[], float] = time.time
) -> dict:
    return _token_call(http, conf, {"grant_type": "fb_exchange_token", "fb_exchange_token": access_token}, clock=clock)


def check_token(credentials: dict, *, now: float) -> None:
    """Refuse to sync with a token that has run out or will within 7 days: Meta has no refresh grant, so the
    seller must log in again, and an early warning beats a gap in the data."""
    if not credentials.get("access_token"):
        raise AuthorizationError(_("We hold no Meta access for this ad account: %(action)s.") % {"action": RECONNECT})
    expires_at = credentials.get("expires_at")
    if expires_at is None:
        return  # a token without an expiry (system user)
    if expires_at <= now:
        raise AuthorizationError(_("Your Meta access has expired: %(action)s.") % {"action": RECONNECT})
    if expires_at - now <= EXPIRY_MARGIN_SECONDS:
        day = datetime.fromtimestamp(expires_at, UTC).date().isoformat()
        raise AuthorizationError(
            _("Your Meta access expires on %(day)s: %(action)s to keep syncing.") % {"day": day, "action": RECONNECT}
        )


# --- the API -----------------------------------------------------------------------------------------------


def insights_params(
    start: date,
    end: date,
    *,
    level: str,
    fields: tuple[str, ...],
    breakdowns: tuple[str, ...] = (),
    daily: bool = True,
    limit: int = 500,
) -> dict:
    """Parameters of an insights query (the same for a synchronous GET and an async POST). The attribution
    windows are always named, so the numbers do not follow a change of the account's default setting."""
    params = {
        "level": level,
        "fields": ",".join(fields),
        "time_range": json.dumps({"since": start.isoformat(), "until": end.isoformat()}, separators=(",", ":")),
        "action_attribution_windows": json.dumps(list(ATTRIBUTION_WINDOWS), separators=(",", ":")),
        "limit": str(limit),
    }
    if daily:
        params["time_increment"] = "1"
    if breakdowns:
        params["breakdowns"] = ",".join(breakdowns)
    return params


class MetaClient:
    """One access token: Graph calls with usage pacing, paging, and async insights jobs."""

    def __init__(
        self,
        *,
        http: PlatformHTTP,
        conf: dict,
        access_token: str,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = 500,
    ):
        self.http = http
        self.conf = conf
        self.base = graph_base(conf)
        self._auth = {
            "access_token": access_token,
            "appsecret_proof": appsecret_proof(conf["client_secret"], access_token),
        }
        self.sleep = sleep
        self.page_size = page_size
        self.usage = Usage()
        self.usage_pause = float(conf.get("usage_pause_seconds", 120.0))

    # -- calls -----------------------------------------------------------------------------------------
    def _pace(self) -> None:
        """Before a call: stop at 95 % usage (the task retries later), wait at 85 %."""
        usage = self.usage
        if usage.percent >= USAGE_STOP_PERCENT:
            wait = max(THROTTLE_WAIT_SECONDS, usage.regain_seconds)
            raise TransientError(
                _("Meta says we have used %(percent)d%% of what we may read for now; the sync will continue later.")
                % {"percent": int(usage.percent)},
                retry_after=wait,
                detail=f"usage {usage.percent}%, regain in {usage.regain_seconds}s",
            )
        if usage.percent >= USAGE_PAUSE_PERCENT:
            wait = max(self.usage_pause, usage.regain_seconds)
            logger.info("meta usage at %.0f%%: pausing %.0fs", usage.percent, wait)
            self.sleep(wait)
            self.usage = Usage()

    def call(self, method: str, path: str, *, params: dict | None = None, missing_ok: bool = False) -> dict | None:
        """A Graph call (``path`` below the versioned base, or a full ``paging.next`` URL). ``missing_ok``:
        None instead of an error when the object no longer exists."""
        self._pace()
        url = path if path.startswith(("http://", "https://")) else self.base + path
        if method == "POST":  # a form body, as the Business SDK sends it
            response = self.http.request(method, url, data={**(params or {}), **self._auth})
        else:
            response = self.http.request(method, url, params={**(params or {}), **self._auth})
        self.usage = usage_of(response.headers)
        if response.status_code >= 400:
            error = graph_error(response) or {}
            if missing_ok and (error.get("code"), error.get("error_subcode")) == MISSING_OBJECT:
                return None
            raise_graph_error(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError(
                _("Meta sent an answer we could not read; the sync will retry."), detail=response.text[:300]
            ) from exc
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            raise_graph_error(response)
        return body

    def _follow(self, next_url: str) -> dict:
        """Fetch a ``paging.next`` URL with our own token and proof (Meta echoes the token into the URL; we
        never keep or log it)."""
        parts = urlsplit(next_url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in self._auth]
        return self.call("GET", urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), params=dict(query))

    def pages(self, path: str, params: dict) -> Iterator[list[dict]]:
        body = self.call("GET", path, params=params)
        while True:
            yield body.get("data") or []
            next_url = (body.get("paging") or {}).get("next")
            if not next_url:
                return
            body = self._follow(next_url)

    def items(self, path: str, params: dict) -> Iterator[dict]:
        for page in self.pages(path, params):
            yield from page

    # -- accounts and entities -------------------------------------------------------------------------------
    def ad_accounts(self) -> Iterator[dict]:
        return self.items("/me/adaccounts", {"fields": ACCOUNT_FIELDS, "limit": "100"})

    def edge(self, account_id: str, edge: str, fields: str) -> Iterator[dict]:
        """``campaigns`` or ``adsets`` of an ad account (``act_<id>``), every page."""
        return self.items(f"/{account_id}/{edge}", {"fields": fields, "limit": str(self.page_size)})

    def revoke(self) -> None:
        """Take back every permission the seller gave our app (``DELETE /me/permissions``)."""
        self.call("DELETE", "/me/permissions")

    # -- insights ----------------------------------------------------------------------------------------
    def insights(self, account_id: str, params: dict) -> Iterator[dict]:
        """A synchronous insights query, every page."""
        return self.items(f"/{account_id}/insights", params)

    def start_job(self, account_id: str, params: dict) -> str:
        body = self.call("POST", f"/{account_id}/insights", params=params)
        return str(body["report_run_id"])

    def job_status(self, report_run_id: str) -> dict | None:
        """The report run, or None if Meta no longer knows it."""
        return self.call("GET", f"/{report_run_id}", params={"fields": JOB_FIELDS}, missing_ok=True)

    def wait_for_job(self, report_run_id: str, *, heartbeat: Callable[[], None] | None = None) -> dict | None:
        """Poll with a growing interval until the job is completed, failed or skipped (or gone: None). After
        ``report_wait_seconds`` in all, TransientError: the run keeps the job id and polls it on its retry."""
        delay = float(self.conf.get("poll_interval", 5.0))
        max_delay = float(self.conf.get("poll_max_interval", 60.0))
        budget = float(self.conf.get("report_wait_seconds", 900.0))
        waited = 0.0
        while True:
            status = self.job_status(report_run_id)
            if status is None or status.get("async_status") in (JOB_COMPLETED, *JOB_FAILED):
                return status
            if heartbeat:
                heartbeat()
            if waited >= budget:
                raise TransientError(
                    _("Meta is still preparing an insights report; the sync will continue when it is ready."),
                    retry_after=120,
                    detail=f"report run {report_run_id}: {status.get('async_status')} "
                    f"{status.get('async_percent_completion')}% after {waited:.0f}s",
                )
            self.sleep(delay)
            waited += delay
            delay = min(max_delay, delay * 2)

    def job_rows(self, report_run_id: str) -> Iterator[dict]:
        return self.items(f"/{report_run_id}/insights", {"limit": str(self.page_size)})
