"""A local TikTok for Business Marketing API (v1.3) for tests, benchmarks and the demo.

Standard library only: ``make_app(public_url)`` returns a WSGI app serving, under its own prefix,

- ``GET /portal/auth?app_id&state&redirect_uri`` (a consent page with Allow and Deny) and
  ``POST /portal/auth/consent`` (redirect back with ``auth_code``, ``code`` and ``state``, or
  ``error=access_denied``);
- ``POST /open_api/v1.3/oauth2/access_token/`` ``{app_id, secret, auth_code}`` (a code works once, for 10
  minutes) -> ``{access_token, advertiser_ids, scope}``: a long-term token, as TikTok gives advertisers.
  ``token_lifetime=<seconds>`` makes it issue expiring tokens with ``refresh_token`` instead, refreshed
  through ``POST /open_api/v1.3/oauth2/refresh_token/``;
- ``GET .../oauth2/advertiser/get/?app_id&secret``, ``GET .../advertiser/info/?advertiser_ids=[...]``;
- ``GET .../campaign/get/`` and ``.../adgroup/get/`` (``page``/``page_size`` <= 1000, ``page_info``; campaigns
  take ``filtering={"campaign_ids": [...]}``; deleted campaigns and their ad groups are left out, as TikTok's
  default filter does);
- ``POST .../campaign/update/`` ``{advertiser_id, campaign_id, budget}`` and ``POST .../campaign/status/update/``
  ``{advertiser_id, campaign_ids (1-20), operation_status ENABLE | DISABLE | DELETE}``, applied to the dataset so
  the next sync reads them. Refused with 40002: an unknown or deleted campaign (the whole status call fails), a
  budget on a campaign without one (``BUDGET_MODE_INFINITE``), a change of ``budget_mode``, a budget below
  ``MIN_CAMPAIGN_BUDGET``, an unknown ``operation_status`` [U: the wording and the answer's ``data``];
- ``GET .../report/integrated/get/``: ``report_type`` BASIC, ``data_level`` AUCTION_*, ``dimensions`` and
  ``metrics`` as JSON arrays in the query (anything else is refused), one id dimension with or without
  ``stat_time_day`` (then at most 30 days, else 365), ``filtering`` (JSON; ``ad_status`` IN
  ``["STATUS_ALL"]`` brings deleted ads back), ``page``/``page_size``, ``enable_total_metrics``; rows as
  ``{"dimensions": {...}, "metrics": {...}}`` with ids as JSON numbers and every metric a string;
- ``POST .../report/task/create/`` (the same query as a JSON body) -> ``task_id``; ``GET
  .../report/task/check/`` (QUEUING -> PROCESSING -> SUCCESS over successive checks); ``GET
  .../report/task/download/`` -> ``download_url``, a signed link (an hour) to ``GET /download/<task>.csv``,
  a CSV with ``Content-Length`` whose header row is the field names.

API calls need ``Access-Token``. Every answer is TikTok's envelope ``{"code", "message", "request_id",
"data"}``, errors included, **with HTTP 200**: 40100 rate limit, 40001 no permission, 40002 bad parameter,
40102 expired token, 40104 no token, 40105 revoked or unknown token, 50002 server error.

Test hooks: ``app.faults.add(endpoint, kind, times=1, **params)`` queues one-shot faults (see ``Faults``);
``app.throttle_every = n`` (every n-th API call answers code 40100); ``app.restatement += 1`` restates recent
purchases; ``app.revoke_all()``; ``app.clock_offset``; ``app.requests`` logs (method, path, HTTP status,
envelope code) of every call, ``app.report_urls`` the query of every synchronous report; ``app.tasks`` holds the
report tasks.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import hmac
import html
import io
import json
import secrets
import threading
import time
from collections import deque
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlencode

from connectors.backends.tiktok_ads.demo_data import CLK, CP, CPV, ID_DIMENSION, IMP, OS, OSV, SPEND, Dataset

CLIENTS = {"chuhai-fake-tiktok_ads_app_id": "chuhai-fake-tiktok_ads_secret"}
API = "/open_api/v1.3"
SCOPE = [4, 5, 6, 7]
CODE_TTL = 600
URL_TTL = 3600
SYNC_DAILY_MAX_DAYS = 30
MAX_DAYS = 365
DEMO_ACCESS_TOKEN = "c6d0a0e7f1b24e7a9c3f5d8b2e4a6c1d9f0b3e57"
DEMO_CREDENTIALS = {
    "access_token": DEMO_ACCESS_TOKEN,
    "advertiser_ids": ["7312440518829056001", "7312440518829056002"],
    "scope": SCOPE,
}

LEVEL_ATTRIBUTES = {
    "AUCTION_ADVERTISER": {"advertiser_name", "advertiser_id"},
    "AUCTION_CAMPAIGN": {"advertiser_name", "campaign_name", "objective_type"},
    "AUCTION_ADGROUP": {"advertiser_name", "campaign_name", "campaign_id", "objective_type", "adgroup_name"},
    "AUCTION_AD": {
        "advertiser_name",
        "campaign_name",
        "campaign_id",
        "objective_type",
        "adgroup_name",
        "adgroup_id",
        "ad_name",
    },
}
METRICS = {
    "spend",
    "impressions",
    "clicks",
    "ctr",
    "cpc",
    "cpm",
    "conversion",
    "complete_payment",
    "total_complete_payment_rate",
    "complete_payment_roas",
    "onsite_shopping",
    "total_onsite_shopping_value",
    "onsite_shopping_roas",
    "currency",
}
STATUS_FIELDS = {"campaign_status", "adgroup_status", "ad_status"}

ENDPOINTS = (
    "token",
    "advertiser_get",
    "advertiser_info",
    "campaign_get",
    "adgroup_get",
    "report",
    "task_create",
    "task_check",
    "task_download",
    "download",
    "campaign_update",
    "campaign_status_update",
)
# The smallest campaign budget TikTok takes: 50 in USD (TikTok Ads Manager help, "About budgets"); the same
# number for other currencies is an assumption [U]. Older demo campaigns below it predate the rule.
MIN_CAMPAIGN_BUDGET = {"USD": Decimal(50)}
DEFAULT_MIN_CAMPAIGN_BUDGET = Decimal(50)
OPERATION_STATUSES = ("ENABLE", "DISABLE", "DELETE")
CAMPAIGN_UPDATE_FIELDS = {"advertiser_id", "campaign_id", "budget", "budget_mode", "campaign_name"}
FAULT_KINDS = ("rate_limit", "server_code", "500", "slow", "revoke", "fail", "truncate")


class Faults:
    """One-shot faults, queued per endpoint and taken in order by the next matching request.

    kind: ``rate_limit`` (HTTP 200, code 40100), ``server_code`` (HTTP 200, code 50002), ``500`` (HTTP 500),
    ``slow`` (sleep ``seconds`` then answer 503, so a client with a shorter timeout sees a timeout),
    ``revoke`` (every token is revoked before the request is handled), ``fail`` (task_check: the task ends
    FAILED), ``truncate`` (download: the connection drops half-way through the file).
    """

    def __init__(self):
        self._queues: dict[str, deque] = {}
        self._lock = threading.Lock()

    def add(self, endpoint: str, kind: str, *, times: int = 1, **params) -> None:
        if endpoint not in ENDPOINTS or kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {endpoint}/{kind}")
        with self._lock:
            for _ in range(times):
                self._queues.setdefault(endpoint, deque()).append((kind, params))

    def take(self, endpoint: str):
        with self._lock:
            queue = self._queues.get(endpoint)
            return queue.popleft() if queue else None

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())


class _Response(Exception):
    def __init__(self, status: int, body, headers=None, content_type="application/json"):
        self.status, self.body, self.headers, self.content_type = status, body, headers or [], content_type
        self.code = body.get("code") if isinstance(body, dict) else None


_REASONS = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _request_id() -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(9).upper()


def _envelope(code: int, message: str, data=None) -> dict:
    return {"code": code, "message": message, "request_id": _request_id(), "data": {} if data is None else data}


def _ok(data) -> _Response:
    return _Response(200, _envelope(0, "OK", data))


def _fail(code: int, message: str) -> _Response:
    """TikTok's error: HTTP 200, the error in the envelope."""
    return _Response(200, _envelope(code, message))


def _money(minor: int) -> str:
    return f"{Decimal(minor).scaleb(-2):.2f}"


def _ratio(numerator: float, denominator: float, scale: float = 1.0) -> str:
    return f"{numerator * scale / denominator:.2f}" if denominator else "0.00"


class FakeTikTokAds:
    def __init__(
        self,
        public_url: str = "",
        *,
        dataset: Dataset | None = None,
        checks_to_complete: int = 2,
        throttle_every: int = 0,
        token_lifetime: int | None = None,
    ):
        self.public_url = public_url.rstrip("/")
        self.dataset = dataset or Dataset()
        self.checks_to_complete = checks_to_complete
        self.throttle_every = throttle_every
        self.token_lifetime = token_lifetime  # None: long-term advertiser tokens, no refresh (TikTok's way)
        self.faults = Faults()
        self.restatement = 0
        self.clock_offset = 0.0
        self.clients = dict(CLIENTS)
        self.requests: list[tuple[str, str, int, int | None]] = []
        self.token_grants: list[str] = []  # "auth_code" / "refresh_token" for every token issued
        self.tasks: dict[str, dict] = {}
        self.report_urls: list[str] = []  # path and query of every report/integrated/get call
        self._api_calls = 0
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(16)
        self._codes: dict[str, dict] = {}
        self._tokens: dict[str, dict] = {}  # access token -> {app_id, advertisers, revoked, expires}
        self._refresh: dict[str, dict] = {}  # refresh token -> {app_id, advertisers, revoked, expires}
        self.deleted_campaigns: set[int] = set()  # campaign/status/update DELETE: gone from the lists

    # -- clock and test hooks --------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    def revoke_all(self) -> None:
        with self._lock:
            for grant in (*self._tokens.values(), *self._refresh.values()):
                grant["revoked"] = True

    def issue_token(self, app_id: str | None = None, advertisers=None) -> str:
        """A long-term token for ``advertisers`` (default: all), as if the consent flow had run."""
        token = secrets.token_hex(20)
        with self._lock:
            self._tokens[token] = self._grant(app_id or next(iter(self.clients)), advertisers, None)
        return token

    def allow_demo(self) -> None:
        """Accept the demo seller's standing token (``DEMO_CREDENTIALS``) for good."""
        app_id = next(iter(CLIENTS))
        try:
            from django.conf import settings

            conf = settings.PLATFORMS.get("tiktok_ads") or {}
            if conf.get("client_id"):
                app_id = conf["client_id"]
                self.clients.setdefault(app_id, conf.get("client_secret", ""))
        except Exception:  # noqa: BLE001 - outside Django (a bare fake server) the default app is the demo's
            pass
        with self._lock:
            self._tokens[DEMO_ACCESS_TOKEN] = self._grant(app_id, None, None)

    def _grant(self, app_id: str, advertisers, expires: float | None) -> dict:
        ids = set(self.dataset.accounts) if advertisers is None else {int(a) for a in advertisers}
        return {"app_id": app_id, "advertisers": ids, "revoked": False, "expires": expires}

    # -- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "") or "/"
        base = self.public_url or self._url_from(environ)
        try:
            result = self._route(method, path, environ, base)
        except _Response as response:
            result = response
        self.requests.append((method, path, result.status, result.code))
        body = result.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        headers = [("Content-Type", result.content_type), *result.headers]
        if not any(name == "Content-Length" for name, _ in headers):
            headers.append(("Content-Length", str(len(body))))
        start_response(f"{result.status} {_REASONS.get(result.status, 'Unknown')}", headers)
        return [body]

    @staticmethod
    def _url_from(environ) -> str:
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('SCRIPT_NAME', '')}".rstrip("/")

    def _route(self, method, path, environ, base):
        if path == "/portal/auth" and method == "GET":
            return self._consent_page(environ, base)
        if path == "/portal/auth/consent" and method == "POST":
            return self._consent_decision(environ)
        if path.startswith("/download/") and method == "GET":
            return self._download(path, environ)
        if not path.startswith(API + "/"):
            raise _Response(404, _envelope(40400, f"No route for {method} {path}"))
        route = path[len(API) :]
        routes = {
            ("POST", "/oauth2/access_token/"): ("token", self._access_token),
            ("POST", "/oauth2/refresh_token/"): ("token", self._refresh_token),
            ("GET", "/oauth2/advertiser/get/"): ("advertiser_get", self._advertiser_get),
            ("GET", "/advertiser/info/"): ("advertiser_info", self._advertiser_info),
            ("GET", "/campaign/get/"): ("campaign_get", self._campaign_get),
            ("GET", "/adgroup/get/"): ("adgroup_get", self._adgroup_get),
            ("GET", "/report/integrated/get/"): ("report", self._integrated_get),
            ("POST", "/report/task/create/"): ("task_create", self._task_create),
            ("GET", "/report/task/check/"): ("task_check", self._task_check),
            ("GET", "/report/task/download/"): ("task_download", self._task_download),
            ("POST", "/campaign/update/"): ("campaign_update", self._campaign_update),
            ("POST", "/campaign/status/update/"): ("campaign_status_update", self._campaign_status_update),
        }
        if (method, route) not in routes:
            raise _Response(404, _envelope(40400, f"No route for {method} {path}"))
        endpoint, handler = routes[(method, route)]
        fault = self._fault(endpoint)
        self._throttle()
        return handler(environ, base=base, fault=fault)

    def _throttle(self) -> None:
        with self._lock:
            self._api_calls += 1
            throttled = self.throttle_every and self._api_calls % self.throttle_every == 0
        if throttled:
            raise _fail(40100, "Too many requests. Please retry in some time.")

    def _fault(self, endpoint: str) -> str | None:
        taken = self.faults.take(endpoint)
        if taken is None:
            return None
        kind, params = taken
        if kind == "rate_limit":
            raise _fail(40100, "Too many requests. Please retry in some time.")
        if kind == "server_code":
            raise _fail(50002, "Internal service error, please try again later.")
        if kind == "500":
            raise _Response(
                500, "<html><body><h1>500 Internal Server Error</h1></body></html>", content_type="text/html"
            )
        if kind == "slow":
            time.sleep(params.get("seconds", 1.0))
            raise _Response(503, "<html><body><h1>503 Service Unavailable</h1></body></html>", content_type="text/html")
        if kind == "revoke":
            self.revoke_all()
        return kind

    # -- parameters ------------------------------------------------------------------------------------
    @staticmethod
    def _query(environ) -> dict:
        return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}

    @staticmethod
    def _body(environ) -> dict:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        if environ.get("CONTENT_TYPE", "").split(";")[0].strip() not in ("application/json", ""):
            raise _fail(40002, "Content-Type must be application/json")
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise _fail(40002, "The request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise _fail(40002, "The request body must be a JSON object")
        return body

    @staticmethod
    def _json_array(query: dict, name: str, *, required: bool = False) -> list:
        """An array parameter: JSON text in the query string (``["a","b"]``), never ``a,b``."""
        raw = query.get(name)
        if raw is None:
            if required:
                raise _fail(40002, f"{name}: Missing data for required field.")
            return []
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise _fail(40002, f"{name}: Not a valid list. It must be a JSON array string.") from exc
        if not isinstance(value, list):
            raise _fail(40002, f"{name}: Not a valid list. It must be a JSON array string.")
        return value

    @staticmethod
    def _int(query: dict, name: str, default: int, low: int, high: int | None = None) -> int:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise _fail(40002, f"{name}: Not a valid integer.") from exc
        if value < low or (high is not None and value > high):
            raise _fail(40002, f"{name}: Must be between {low} and {high}." if high else f"{name}: Must be >= {low}.")
        return value

    # -- the consent screen and tokens -----------------------------------------------------------------
    def _consent_page(self, environ, base):
        q = self._query(environ)
        if q.get("app_id") not in self.clients or not q.get("redirect_uri"):
            raise _Response(
                400, "<h1>Invalid request</h1><p>Unknown app or missing redirect_uri.</p>", content_type="text/html"
            )
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(q.get(k, ""), quote=True)}">'
            for k in ("app_id", "state", "redirect_uri")
        )
        accounts = "".join(
            f"<li>{html.escape(a.spec.name)} ({a.spec.advertiser_id}, {a.spec.currency})</li>"
            for a in self.dataset.accounts.values()
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>TikTok for Business - Authorize</title></head>"
            "<body><h1>TikTok for Business (local fake)</h1>"
            f"<p><strong>{html.escape(q['app_id'])}</strong> would like to read the ads, reports and settings of "
            f"these advertiser accounts:</p><ul>{accounts}</ul>"
            f'<form method="post" action="{html.escape(base)}/portal/auth/consent">{hidden}'
            '<button type="submit" name="decision" value="allow">Confirm</button> '
            '<button type="submit" name="decision" value="deny">Cancel</button>'
            "</form></body></html>"
        )
        return _Response(200, page, content_type="text/html; charset=utf-8")

    def _consent_decision(self, environ):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(length).decode() if length else "").items()}
        redirect_uri, state = form.get("redirect_uri", ""), form.get("state", "")
        if form.get("app_id") not in self.clients or not redirect_uri:
            raise _Response(400, "<h1>Invalid request</h1>", content_type="text/html")
        if form.get("decision") != "allow":
            query = {
                "error": "access_denied",
                "error_description": "The user cancelled the authorization.",
                "state": state,
            }
        else:
            code = secrets.token_hex(20)
            with self._lock:
                self._codes[code] = {"app_id": form["app_id"], "expires": self.now() + CODE_TTL}
            query = {"auth_code": code, "code": code, "state": state}
        sep = "&" if "?" in redirect_uri else "?"
        return _Response(302, b"", headers=[("Location", redirect_uri + sep + urlencode(query))])

    def _check_app(self, app_id, secret) -> None:
        if app_id not in self.clients or not hmac.compare_digest(self.clients[app_id], str(secret or "")):
            raise _fail(40001, "The app_id or secret is incorrect.")

    def _issue(self, app_id: str, advertisers: set[int], grant: str) -> dict:
        """Caller holds the lock."""
        access = secrets.token_hex(20)
        expires = self.now() + self.token_lifetime if self.token_lifetime else None
        self._tokens[access] = {"app_id": app_id, "advertisers": set(advertisers), "revoked": False, "expires": expires}
        data = {"access_token": access, "advertiser_ids": sorted(advertisers), "scope": SCOPE}
        if self.token_lifetime:
            refresh = secrets.token_hex(20)
            self._refresh[refresh] = {
                "app_id": app_id,
                "advertisers": set(advertisers),
                "revoked": False,
                "expires": self.now() + 365 * 86400,
            }
            data |= {
                "refresh_token": refresh,
                "expires_in": self.token_lifetime,
                "refresh_token_expires_in": 365 * 86400,
            }
        self.token_grants.append(grant)
        return data

    def _access_token(self, environ, **_):
        body = self._body(environ)
        self._check_app(body.get("app_id"), body.get("secret"))
        with self._lock:
            code = self._codes.pop(str(body.get("auth_code") or ""), None)  # single use, even when it fails
            if code is None or code["expires"] < self.now() or code["app_id"] != body["app_id"]:
                raise _fail(40002, "auth_code: The auth_code is invalid, used or expired.")
            return _ok(self._issue(body["app_id"], set(self.dataset.accounts), "auth_code"))

    def _refresh_token(self, environ, **_):
        body = self._body(environ)
        self._check_app(body.get("app_id"), body.get("secret"))
        with self._lock:
            grant = self._refresh.pop(str(body.get("refresh_token") or ""), None)
            if grant is None or grant["revoked"] or grant["expires"] < self.now() or grant["app_id"] != body["app_id"]:
                raise _fail(40105, "The refresh token is incorrect or has been revoked.")
            return _ok(self._issue(body["app_id"], grant["advertisers"], "refresh_token"))

    def _authorize(self, environ, advertiser_id=None) -> dict:
        token = environ.get("HTTP_ACCESS_TOKEN", "")
        if not token:
            raise _fail(40104, "Access token is null, please check.")
        with self._lock:
            grant = self._tokens.get(token)
        if grant is None or grant["revoked"]:
            raise _fail(40105, "Access token is incorrect or has been revoked.")
        if grant["expires"] is not None and grant["expires"] < self.now():
            raise _fail(40102, "Access token has expired.")
        if advertiser_id is not None:
            self._advertiser(grant, advertiser_id)
        return grant

    def _advertiser(self, grant: dict, advertiser_id) -> int:
        try:
            value = int(str(advertiser_id))
        except ValueError as exc:
            raise _fail(40002, "advertiser_id: Not a valid integer.") from exc
        if value not in grant["advertisers"] or value not in self.dataset.accounts:
            raise _fail(40001, f"No permission to operate advertiser {advertiser_id}.")
        return value

    # -- accounts and entities -------------------------------------------------------------------------
    def _advertiser_get(self, environ, **_):
        grant = self._authorize(environ)
        q = self._query(environ)
        self._check_app(q.get("app_id"), q.get("secret"))
        if q["app_id"] != grant["app_id"]:
            raise _fail(40001, "The access token was not issued to this app.")
        items = [
            {"advertiser_id": str(a), "advertiser_name": self.dataset.account(a).spec.name}
            for a in sorted(grant["advertisers"])
            if a in self.dataset.accounts
        ]
        return _ok({"list": items})

    def _advertiser_info(self, environ, **_):
        grant = self._authorize(environ)
        ids = self._json_array(self._query(environ), "advertiser_ids", required=True)
        if not 1 <= len(ids) <= 100:
            raise _fail(40002, "advertiser_ids: Length must be between 1 and 100.")
        return _ok({"list": [self.dataset.advertiser_json(self._advertiser(grant, a)) for a in ids]})

    def _paged(self, environ, items: list, extra: dict | None = None):
        q = self._query(environ)
        page = self._int(q, "page", 1, 1)
        size = self._int(q, "page_size", 10, 1, 1000)
        total = len(items)
        info = {"page": page, "page_size": size, "total_number": total, "total_page": -(-total // size)}
        return _ok({"list": items[(page - 1) * size : page * size], "page_info": info, **(extra or {})})

    def _campaign_get(self, environ, **_):
        q = self._query(environ)
        advertiser = self._advertiser(self._authorize(environ), q.get("advertiser_id", ""))
        return self._paged(environ, self._listed_campaigns(self.dataset.campaigns_json(advertiser), q))

    def _adgroup_get(self, environ, **_):
        q = self._query(environ)
        advertiser = self._advertiser(self._authorize(environ), q.get("advertiser_id", ""))
        items = self.dataset.adgroups_json(advertiser)
        return self._paged(environ, [i for i in items if int(i["campaign_id"]) not in self.deleted_campaigns])

    def _listed_campaigns(self, items: list[dict], q: dict) -> list[dict]:
        """``campaign/get`` items without deleted campaigns, narrowed by ``filtering.campaign_ids`` if given."""
        raw = q.get("filtering")
        wanted = None
        if raw:
            try:
                filtering = json.loads(raw)
            except ValueError as exc:
                raise _fail(40002, "filtering: Not a valid JSON object.") from exc
            if not isinstance(filtering, dict):
                raise _fail(40002, "filtering: Not a valid JSON object.")
            ids = filtering.get("campaign_ids")
            if ids is not None:
                if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
                    raise _fail(40002, "filtering.campaign_ids: Length must be between 1 and 100.")
                wanted = {str(i) for i in ids}
        return [
            item
            for item in items
            if int(item["campaign_id"]) not in self.deleted_campaigns
            and (wanted is None or item["campaign_id"] in wanted)
        ]

    # -- changing campaigns: budget and status ---------------------------------------------------------
    def _campaign_of(self, advertiser: int, campaign_id, field: str = "campaign_id"):
        """The advertiser's live campaign with this id, or TikTok's 40002 refusal."""
        for campaign in self.dataset.account(advertiser).campaigns:
            if str(campaign.id) == str(campaign_id):
                if campaign.id in self.deleted_campaigns:
                    raise _fail(40002, f"{field}: Campaign {campaign_id} has been deleted and cannot be modified.")
                return campaign
        raise _fail(40002, f"{field}: Campaign {campaign_id} does not exist.")

    def _campaign_update(self, environ, **_):
        grant = self._authorize(environ)
        body = self._body(environ)
        advertiser = self._advertiser(grant, body.get("advertiser_id", ""))
        unknown = sorted(set(body) - CAMPAIGN_UPDATE_FIELDS)
        if unknown:
            raise _fail(40002, f"{unknown[0]}: Unknown field.")
        with self._lock:
            campaign = self._campaign_of(advertiser, body.get("campaign_id", ""))
            spec = campaign.spec
            changes: dict = {}
            if body.get("budget_mode", spec.budget_mode) != spec.budget_mode:
                raise _fail(40002, "budget_mode: The budget type cannot be changed once a campaign has been created.")
            if "budget" in body:
                try:
                    budget = Decimal(str(body["budget"]))
                except ArithmeticError as exc:
                    raise _fail(40002, "budget: Not a valid number.") from exc
                if isinstance(body["budget"], bool) or not budget.is_finite():
                    raise _fail(40002, "budget: Not a valid number.")
                if spec.budget_mode == "BUDGET_MODE_INFINITE":
                    raise _fail(
                        40002, "budget: The campaign has no budget limit (BUDGET_MODE_INFINITE); its ad groups hold it."
                    )
                currency = self.dataset.account(advertiser).spec.currency
                minimum = MIN_CAMPAIGN_BUDGET.get(currency, DEFAULT_MIN_CAMPAIGN_BUDGET)
                if budget < minimum:
                    raise _fail(40002, f"budget: The campaign budget must be at least {minimum:.2f} {currency}.")
                changes["budget"] = format(budget.normalize(), "f")
            if "campaign_name" in body:
                changes["name"] = str(body["campaign_name"])
            campaign.spec = dataclasses.replace(spec, **changes)
            spec = campaign.spec
        return _ok(
            {
                "campaign_id": str(campaign.id),
                "campaign_name": spec.name,
                "budget": float(spec.budget),
                "budget_mode": spec.budget_mode,
            }
        )

    def _campaign_status_update(self, environ, **_):
        grant = self._authorize(environ)
        body = self._body(environ)
        advertiser = self._advertiser(grant, body.get("advertiser_id", ""))
        ids = body.get("campaign_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 20:
            raise _fail(40002, "campaign_ids: Length must be between 1 and 20.")
        status = body.get("operation_status")
        if status not in OPERATION_STATUSES:
            raise _fail(40002, f"operation_status: Must be one of {', '.join(OPERATION_STATUSES)}.")
        with self._lock:
            campaigns = [self._campaign_of(advertiser, i, "campaign_ids") for i in ids]  # all of them, or none
            for campaign in campaigns:
                if status == "DELETE":
                    self.deleted_campaigns.add(campaign.id)
                else:
                    campaign.spec = dataclasses.replace(campaign.spec, status=status)
        return _ok({"campaign_ids": [str(c.id) for c in campaigns], "status": status})

    # -- reports ---------------------------------------------------------------------------------------
    def _report_query(self, grant: dict, params: dict, *, max_daily_days: int) -> dict:
        """Validate a report query (already decoded: arrays as lists) the way TikTok does."""
        if params.get("report_type") != "BASIC":
            raise _fail(40002, f"report_type: This fake serves BASIC reports only, not {params.get('report_type')!r}.")
        if params.get("service_type", "AUCTION") != "AUCTION":
            raise _fail(40002, "service_type: RESERVATION is deprecated.")
        level = params.get("data_level")
        if level not in ID_DIMENSION:
            raise _fail(40002, f"data_level: Must be one of {sorted(ID_DIMENSION)}.")
        advertiser = self._advertiser(grant, params.get("advertiser_id", ""))
        dimensions, metrics = params.get("dimensions") or [], params.get("metrics") or ["spend", "impressions"]
        if not all(isinstance(d, str) for d in dimensions) or not all(isinstance(m, str) for m in metrics):
            raise _fail(40002, "dimensions and metrics hold field names (strings).")
        id_dimension = ID_DIMENSION[level]
        if id_dimension not in dimensions or not set(dimensions) <= {id_dimension, "stat_time_day"}:
            raise _fail(40002, f"dimensions: {dimensions} is not supported for {level} (use {id_dimension!r}).")
        bad = [m for m in metrics if m not in METRICS | LEVEL_ATTRIBUTES[level]]
        if bad:
            raise _fail(40002, f"metrics: {bad} are not supported for data_level {level}.")
        try:
            start, end = date.fromisoformat(params["start_date"]), date.fromisoformat(params["end_date"])
        except (KeyError, TypeError, ValueError) as exc:
            raise _fail(40002, "start_date and end_date (YYYY-MM-DD) are required.") from exc
        daily = "stat_time_day" in dimensions
        limit = max_daily_days if daily else MAX_DAYS
        if end < start or (end - start).days + 1 > limit:
            raise _fail(40002, f"The time span between start_date and end_date must be 1 to {limit} days.")
        deleted_ads = level != "AUCTION_AD"
        for condition in params.get("filtering") or []:
            if not isinstance(condition, dict) or not {"field_name", "filter_type", "filter_value"} <= set(condition):
                raise _fail(40002, "filtering: each condition needs field_name, filter_type and filter_value.")
            if condition["field_name"] in STATUS_FIELDS and condition["filter_type"] == "IN":
                try:
                    values = json.loads(condition["filter_value"])
                except (TypeError, ValueError) as exc:
                    raise _fail(40002, "filtering: filter_value must be a JSON array string for IN.") from exc
                if condition["field_name"] == "ad_status" and "STATUS_ALL" in values:
                    deleted_ads = True
        return {
            "advertiser": advertiser,
            "level": level,
            "dimensions": dimensions,
            "metrics": metrics,
            "start": start,
            "end": end,
            "daily": daily,
            "deleted_ads": deleted_ads,
        }

    def report_rows(self, query: dict, restatement: int) -> list[dict]:
        """The rows of a validated query, ordered by day and id, as ``report/integrated/get`` lists them."""
        advertiser, level = query["advertiser"], query["level"]
        id_dimension = ID_DIMENSION[level]
        facts = self.dataset.iter_facts(
            advertiser, level, query["start"], query["end"], restatement, deleted_ads=query["deleted_ads"]
        )
        keyed: dict[tuple, tuple] = {}
        for day, ctx, m in facts:
            key = (day if query["daily"] else None, self._entity_id(level, ctx))
            if key in keyed:
                old = keyed[key][1]
                keyed[key] = (ctx, tuple(a + b for a, b in zip(old, m, strict=True)))
            else:
                keyed[key] = (ctx, m)
        rows = []
        account = self.dataset.account(advertiser)
        for (day, entity_id), (ctx, m) in sorted(keyed.items(), key=lambda kv: (kv[0][0] or date.min, kv[0][1])):
            dimensions = {id_dimension: entity_id}
            if day is not None:
                dimensions["stat_time_day"] = f"{day.isoformat()} 00:00:00"
            rows.append(
                {
                    "dimensions": {d: dimensions[d] for d in query["dimensions"]},
                    "metrics": {name: self._metric(name, level, account, ctx, m) for name in query["metrics"]},
                }
            )
        return rows

    @staticmethod
    def _entity_id(level: str, ctx) -> int:
        if level == "AUCTION_ADVERTISER":
            return ctx.spec.advertiser_id
        if level == "AUCTION_CAMPAIGN":
            return ctx.id
        return ctx[-1].id

    @staticmethod
    def _metric(name: str, level: str, account, ctx, m) -> str:
        """One metric of a row, as TikTok sends it: a string (ids, names and amounts alike)."""
        if level == "AUCTION_ADVERTISER":
            campaign = group = ad = None
        elif level == "AUCTION_CAMPAIGN":
            campaign, group, ad = ctx, None, None
        else:
            campaign, group, ad = (*ctx, None)[:3]
        values = {
            "spend": lambda: _money(m[SPEND]),
            "impressions": lambda: str(m[IMP]),
            "clicks": lambda: str(m[CLK]),
            "ctr": lambda: _ratio(m[CLK], m[IMP], 100),
            "cpc": lambda: _ratio(m[SPEND] / 100, m[CLK]),
            "cpm": lambda: _ratio(m[SPEND] / 100, m[IMP], 1000),
            "conversion": lambda: str(m[CP] + m[OS]),
            "complete_payment": lambda: str(m[CP]),
            "total_complete_payment_rate": lambda: _money(m[CPV]),
            "complete_payment_roas": lambda: _ratio(m[CPV], m[SPEND]),
            "onsite_shopping": lambda: str(m[OS]),
            "total_onsite_shopping_value": lambda: _money(m[OSV]),
            "onsite_shopping_roas": lambda: _ratio(m[OSV], m[SPEND]),
            "currency": lambda: account.spec.currency,
            "advertiser_id": lambda: str(account.spec.advertiser_id),
            "advertiser_name": lambda: account.spec.name,
            "campaign_name": lambda: campaign.spec.name,
            "campaign_id": lambda: str(campaign.id),
            "objective_type": lambda: campaign.spec.objective_type,
            "adgroup_name": lambda: group.spec.name,
            "adgroup_id": lambda: str(group.id),
            "ad_name": lambda: ad.spec.name,
        }
        return values[name]()

    def _integrated_get(self, environ, **_):
        self.report_urls.append(f"{API}/report/integrated/get/?{environ.get('QUERY_STRING', '')}")
        grant = self._authorize(environ)
        q = self._query(environ)
        params = {
            **{k: v for k, v in q.items() if k not in ("dimensions", "metrics", "filtering")},
            "dimensions": self._json_array(q, "dimensions", required=True),
            "metrics": self._json_array(q, "metrics"),
            "filtering": self._json_array(q, "filtering"),
        }
        query = self._report_query(grant, params, max_daily_days=SYNC_DAILY_MAX_DAYS)
        rows = self.report_rows(query, self.restatement)
        extra = {}
        if q.get("enable_total_metrics") == "true":
            totals = self._totals(query)
            extra["total_metrics"] = totals
        return self._paged(environ, rows, extra)

    def _totals(self, query: dict) -> dict:
        whole = {**query, "daily": False, "level": "AUCTION_ADVERTISER", "deleted_ads": True}
        whole["metrics"] = [m for m in query["metrics"] if m in METRICS]
        whole["dimensions"] = ["advertiser_id"]
        rows = self.report_rows(whole, self.restatement)
        return rows[0]["metrics"] if rows else {}

    # -- asynchronous report tasks ---------------------------------------------------------------------
    def _task_create(self, environ, **_):
        grant = self._authorize(environ)
        body = self._body(environ)
        for name in ("dimensions", "metrics", "filtering"):
            if name in body and not isinstance(body[name], list):
                raise _fail(40002, f"{name}: Not a valid list.")
        if "dimensions" not in body:
            raise _fail(40002, "dimensions: Missing data for required field.")
        if body.get("output_format", "CSV_STRING") not in ("CSV_DOWNLOAD", "CSV_STRING", "XLSX_DOWNLOAD"):
            raise _fail(40002, "output_format: Must be one of CSV_DOWNLOAD, CSV_STRING, XLSX_DOWNLOAD.")
        if body.get("output_format") == "XLSX_DOWNLOAD":
            raise _fail(40002, "output_format: This fake writes CSV only.")
        query = self._report_query(grant, body, max_daily_days=MAX_DAYS)
        task_id = str(1_790_000_000_000_000_000 + secrets.randbelow(10**17))
        with self._lock:
            self.tasks[task_id] = {
                "task_id": task_id,
                "advertiser": query["advertiser"],
                "query": query,
                "titles": body.get("enable_report_title_translation", True),
                "file_name": (body.get("file_name") or "").strip() or f"report_{task_id}",
                "status": "QUEUING",
                "checks": 0,
                "message": "",
                "restatement": self.restatement,
            }
        return _ok({"task_id": task_id})

    def _task(self, grant: dict, environ) -> dict:
        q = self._query(environ)
        advertiser = self._advertiser(grant, q.get("advertiser_id", ""))
        task = self.tasks.get(q.get("task_id", ""))
        if task is None or task["advertiser"] != advertiser:
            raise _fail(40002, f"task_id: Task {q.get('task_id')} does not exist.")
        return task

    def _task_check(self, environ, *, fault, **_):
        task = self._task(self._authorize(environ), environ)
        with self._lock:
            if fault == "fail" and task["status"] != "SUCCESS":
                task["status"], task["message"] = "FAILED", "Internal error. Please create the task again."
            elif task["status"] in ("QUEUING", "PROCESSING"):
                task["checks"] += 1
                task["status"] = "SUCCESS" if task["checks"] >= self.checks_to_complete else "PROCESSING"
            return _ok({"status": task["status"], "message": task["message"]})

    def _task_download(self, environ, base, **_):
        task = self._task(self._authorize(environ), environ)
        if task["status"] != "SUCCESS":
            raise _fail(40002, f"The task is {task['status']}; only finished tasks can be downloaded.")
        expires = int(self.now() + URL_TTL)
        signature = self._sign(task["task_id"], expires)
        url = f"{base}/download/{task['task_id']}.csv?{urlencode({'expires': expires, 'signature': signature})}"
        return _ok({"download_url": url, "file_name": f"{task['file_name']}.csv", "output_format": "CSV_DOWNLOAD"})

    def _sign(self, task_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{task_id}|{expires}".encode(), hashlib.sha256).hexdigest()

    def _download(self, path: str, environ):
        task_id = path[len("/download/") :].removesuffix(".csv")
        q = self._query(environ)
        try:
            expires = int(q.get("expires", ""))
        except ValueError:
            expires = 0
        task = self.tasks.get(task_id)
        if task is None or not hmac.compare_digest(q.get("signature", ""), self._sign(task_id, expires)):
            raise _Response(403, "<Error><Code>AccessDenied</Code></Error>", content_type="application/xml")
        if expires < self.now():
            raise _Response(
                403,
                "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                content_type="application/xml",
            )
        fault = self._fault("download")  # 500 and slow answer as the CDN would; truncate is handled below
        data = self.render_csv(task)
        headers = [
            ("Content-Length", str(len(data))),
            ("Content-Disposition", f'attachment; filename="{task["file_name"]}.csv"'),
        ]
        if fault == "truncate":
            data = data[: len(data) // 2]  # the connection drops: the length promised, half the bytes sent
        return _Response(200, data, headers=headers, content_type="text/csv; charset=utf-8")

    def render_csv(self, task: dict) -> bytes:
        query = task["query"]
        columns = query["dimensions"] + query["metrics"]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        titles = [c.replace("_", " ").title() for c in columns] if task["titles"] else columns
        writer.writerow(titles)
        for row in self.report_rows(query, task["restatement"]):
            values = {**row["metrics"], **row["dimensions"]}
            writer.writerow([values[c] for c in columns])
        return out.getvalue().encode()


def make_app(public_url: str = "", **kwargs) -> FakeTikTokAds:
    """The WSGI app. ``public_url`` is where it is reachable; empty: derived from each request's host."""
    return FakeTikTokAds(public_url, **kwargs)
