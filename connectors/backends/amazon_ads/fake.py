"""A local Amazon Ads API (Login with Amazon + Advertising API v2/v3) for tests, benchmarks and the demo.

Standard library only: ``make_app(public_url)`` returns a WSGI app serving, under its own prefix,

- ``GET /ap/oa`` (consent page with Allow and Deny) and ``POST /ap/oa/consent`` (redirect with code and
  state, or ``error=access_denied``);
- ``POST /auth/o2/token``: ``authorization_code`` (a code works once, for 5 minutes) and ``refresh_token``
  grants, form-encoded, ``Atza|``/``Atzr|`` tokens that last 3600 s, ``invalid_grant`` for unknown or
  revoked refresh tokens;
- ``GET /api/v2/profiles``; ``POST /api/sp/<entity>/list`` with the vendor media types (415/406 otherwise)
  and ``nextToken`` paging;
- ``POST /api/reporting/reports`` (200 PENDING; 425 for an identical request while one is pending, naming
  the existing report in ``detail`` as Amazon does; ``timeUnit`` ``DAILY`` with a ``date`` column, or
  ``SUMMARY`` without one: a row per ``groupBy`` group with its metrics summed over the span and the span's
  ``startDate``/``endDate``) and ``GET /api/reporting/reports/<id>`` (PENDING -> PROCESSING -> COMPLETED over
  successive polls, with a pre-signed ``url``);
- ``GET /download/<id>.json.gz?X-Amz-...``: the gzipped JSON array, streamed, generated on the fly from
  ``demo_data``; like S3 it answers 400 when an ``Authorization`` header is sent.

API calls need ``Authorization: Bearer <live access token>``, ``Amazon-Advertising-API-ClientId`` and (all but
profiles) ``Amazon-Advertising-API-Scope``. Errors use Amazon's ``{"code", "details"}`` body.

Test hooks: ``app.faults.add(endpoint, kind, times=1, **params)`` queues one-shot faults (see ``Faults``);
``app.restatement += 1`` restates recent sales; ``app.expire_access_tokens()``; ``app.clock_offset``
(seconds added to the fake's clock); ``app.throttle_every = n`` (every n-th API call is throttled: 429 with
``Retry-After``); ``app.requests`` logs (method, path, status) of every call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import itertools
import json
import secrets
import threading
import time
import uuid
import zlib
from collections import deque
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlencode

from connectors.backends.amazon_ads.demo_data import Dataset

CLIENTS = {"chuhai-fake-amazon_ads_client_id": "chuhai-fake-amazon_ads_client_secret"}
SCOPE = "advertising::campaign_management"
ACCESS_TTL = 3600
CODE_TTL = 300
URL_TTL = 3600
MAX_REPORT_DAYS = 31

# list endpoint -> (vendor media type, response key)
LISTS = {
    "campaigns": ("application/vnd.spCampaign.v3+json", "campaigns"),
    "adGroups": ("application/vnd.spAdGroup.v3+json", "adGroups"),
    "keywords": ("application/vnd.spKeyword.v3+json", "keywords"),
    "negativeKeywords": ("application/vnd.spNegativeKeyword.v3+json", "negativeKeywords"),
    "campaignNegativeKeywords": ("application/vnd.spCampaignNegativeKeyword.v3+json", "campaignNegativeKeywords"),
    "productAds": ("application/vnd.spProductAd.v3+json", "productAds"),
    "targets": ("application/vnd.spTargetingClause.v3+json", "targetingClauses"),
}
REPORT_REQUEST_TYPE = "application/vnd.createasyncreportrequest.v3+json"

_BASE_COLUMNS = {
    "date",
    "startDate",
    "endDate",
    "campaignId",
    "campaignName",
    "campaignStatus",
    "campaignBudgetAmount",
    "campaignBudgetType",
    "campaignBudgetCurrencyCode",
    "adGroupId",
    "adGroupName",
    "impressions",
    "clicks",
    "cost",
    *(f"{m}{w}d" for m in ("purchases", "unitsSoldClicks", "sales") for w in (1, 7, 14, 30)),
}
_TARGET_COLUMNS = {"keywordId", "keyword", "matchType", "targeting", "keywordType", "keywordBid", "adKeywordStatus"}
REPORT_TYPES = {
    # reportTypeId: (allowed groupBy, allowed columns)
    "spCampaigns": ({"campaign", "adGroup", "campaignPlacement"}, _BASE_COLUMNS | {"spend"}),
    "spTargeting": ({"targeting"}, _BASE_COLUMNS | _TARGET_COLUMNS),
    "spSearchTerm": ({"searchTerm"}, _BASE_COLUMNS | _TARGET_COLUMNS | {"searchTerm"}),
    "spAdvertisedProduct": ({"advertiser"}, _BASE_COLUMNS | {"adId", "advertisedAsin", "advertisedSku"}),
}

# groupBy -> the columns a SUMMARY row is one per; and the columns summed over the span.
SUMMARY_GROUP_KEYS = {
    "campaign": ("campaignId",),
    "adGroup": ("campaignId", "adGroupId"),
    "campaignPlacement": ("campaignId",),
    "targeting": ("campaignId", "adGroupId", "keywordId"),
    "searchTerm": ("campaignId", "adGroupId", "keywordId", "searchTerm"),
    "advertiser": ("campaignId", "adGroupId", "advertisedSku"),
}
SUMMARY_METRICS = {"impressions", "clicks", "cost", "spend"}

MATCHED_PARAMS = ("time_unit",)  # fault params that pick which request takes the fault
ENDPOINTS = ("token", "profiles", "list", "report_create", "report_status", "download", "write")
FAULT_KINDS = ("429", "500", "slow", "truncate", "revoke", "fail", "lost_response")


class Faults:
    """One-shot faults, queued per endpoint and taken in order by the next matching request.

    endpoint: token | profiles | list | report_create | report_status | download | write (SP v3 creates,
    updates and deletes).
    kind: ``429`` (``retry_after`` seconds), ``500``, ``slow`` (sleep ``seconds`` then answer 503, so a client
    with a shorter timeout sees a timeout), ``truncate`` (download: the gzip stops half-way), ``revoke``
    (the grant's refresh and access tokens are revoked before the request is handled), ``fail`` (report
    status: the report ends FAILED), ``lost_response`` (report create: the report is created, then 502).
    ``time_unit="SUMMARY"`` (or ``"DAILY"``) keeps a report-status fault for a report of that time unit.
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

    def take(self, endpoint: str, **context):
        """The first queued fault of ``endpoint`` that fits the request: a fault with ``time_unit`` (report
        status: ``DAILY`` or ``SUMMARY``) only takes a report of that time unit."""
        with self._lock:
            queue = self._queues.get(endpoint) or deque()
            for index, (kind, params) in enumerate(queue):
                if all(context.get(key) == params[key] for key in MATCHED_PARAMS if key in params):
                    del queue[index]
                    return kind, params
            return None

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())


class _Response(Exception):
    def __init__(self, status: int, body, headers=None, content_type="application/json"):
        self.status, self.body, self.headers, self.content_type = status, body, headers or [], content_type


def _error(status: int, code: str, details: str, **extra) -> _Response:
    return _Response(status, {"code": code, "details": details, **extra})


class _ItemError(Exception):
    """One item of an SP v3 write refused, in Amazon's 207 error shape."""

    def __init__(self, error_type: str, reason: str, message: str, location: str = ""):
        super().__init__(message)
        self.error = {
            "errorType": error_type,
            "errorValue": {error_type: {"reason": reason, "message": message, "cause": {"location": location}}},
        }


_REASONS = {
    200: "OK",
    207: "Multi-Status",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    415: "Unsupported Media Type",
    425: "Too Early",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class FakeAmazonAds:
    def __init__(
        self,
        public_url: str = "",
        *,
        dataset: Dataset | None = None,
        polls_to_complete: int = 2,
        throttle_every: int = 0,
    ):
        self.public_url = public_url.rstrip("/")
        self.dataset = dataset or Dataset()
        self.polls_to_complete = polls_to_complete
        self.throttle_every = throttle_every  # every n-th API call answers 429 (Retry-After: 1); 0: never
        self._api_calls = 0
        self.faults = Faults()
        self.restatement = 0
        self.clock_offset = 0.0
        self.clients = dict(CLIENTS)
        self.requests: list[tuple[str, str, int]] = []
        self.token_grants: list[str] = []  # grant_type of every successful token call
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(16)
        self._codes: dict[str, dict] = {}
        self._refresh: dict[str, dict] = {}  # refresh token -> {client_id, revoked}
        self._access: dict[str, dict] = {}  # access token -> {refresh, expires}
        self.reports: dict[str, dict] = {}
        self.render_cpu_seconds = 0.0

    # -- clock and test hooks --------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self._access.values():
                token["expires"] = 0

    def revoke_all(self) -> None:
        with self._lock:
            for grant in self._refresh.values():
                grant["revoked"] = True
            self._access.clear()

    def report_requests(self, report_type: str | None = None) -> list[dict]:
        return [r for r in self.reports.values() if report_type in (None, r["body"]["configuration"]["reportTypeId"])]

    # -- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "") or "/"
        base = self.public_url or self._url_from(environ)
        try:
            result = self._route(method, path, environ, base)
        except _Response as response:
            result = response
        if callable(getattr(result, "__next__", None)):  # a streamed download
            self.requests.append((method, path, 200))
            start_response("200 OK", [("Content-Type", "application/x-gzip")])
            return result
        self.requests.append((method, path, result.status))
        body = result.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        headers = [("Content-Type", result.content_type), ("Content-Length", str(len(body))), *result.headers]
        start_response(f"{result.status} {_REASONS.get(result.status, 'Unknown')}", headers)
        return [body]

    @staticmethod
    def _url_from(environ) -> str:
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('SCRIPT_NAME', '')}".rstrip("/")

    def _route(self, method, path, environ, base):
        if path == "/ap/oa" and method == "GET":
            return self._consent_page(environ, base)
        if path == "/ap/oa/consent" and method == "POST":
            return self._consent_decision(environ)
        if path == "/auth/o2/token" and method == "POST":
            self._fault("token")
            return self._token(environ)
        if path.startswith("/download/") and method == "GET":
            return self._download(path, environ)
        if path.startswith("/api/"):
            self._throttle()
        if path == "/api/v2/profiles" and method == "GET":
            self._fault("profiles")
            self._authorize(environ, scoped=False)
            return _Response(200, self.dataset.profiles_json())
        if path.startswith("/api/sp/") and path.endswith("/list") and method == "POST":
            self._fault("list")
            profile_id = self._authorize(environ)
            return self._list(path[len("/api/sp/") : -len("/list")], profile_id, environ)
        if path == "/api/reporting/reports" and method == "POST":
            fault = self._fault("report_create")
            profile_id = self._authorize(environ)
            return self._create_report(profile_id, environ, lost=fault == "lost_response")
        if path.startswith("/api/reporting/reports/") and method == "GET":
            report = self.reports.get(path.rsplit("/", 1)[1])
            time_unit = report["body"]["configuration"].get("timeUnit") if report else None
            fault = self._fault("report_status", time_unit=time_unit)
            profile_id = self._authorize(environ)
            return self._report_status(path.rsplit("/", 1)[1], profile_id, base, fail=fault == "fail")
        if path.startswith("/api/sp/") and method in ("POST", "PUT"):
            self._fault("write")
            profile_id = self._authorize(environ)
            return self._write(method, path[len("/api/sp/") :], profile_id, environ)
        raise _error(404, "NOT_FOUND", f"No route for {method} {path}")

    def _throttle(self) -> None:
        with self._lock:
            self._api_calls += 1
            throttled = self.throttle_every and self._api_calls % self.throttle_every == 0
        if throttled:
            raise _Response(
                429, {"code": "THROTTLED", "details": "Request was throttled"}, headers=[("Retry-After", "1")]
            )

    def _fault(self, endpoint: str, **context) -> str | None:
        taken = self.faults.take(endpoint, **context)
        if taken is None:
            return None
        kind, params = taken
        if kind == "429":
            retry_after = params.get("retry_after", 1)
            raise _Response(
                429,
                {"code": "THROTTLED", "details": "Request was throttled"},
                headers=[("Retry-After", str(retry_after))],
            )
        if kind == "500":
            raise _error(500, "INTERNAL_ERROR", "Internal server error")
        if kind == "slow":
            time.sleep(params.get("seconds", 1.0))
            raise _error(503, "SERVICE_UNAVAILABLE", "Service unavailable")
        if kind == "revoke":
            self.revoke_all()
        return kind

    # -- Login with Amazon -----------------------------------------------------------------------------
    def _consent_page(self, environ, base):
        q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if q.get("client_id") not in self.clients or q.get("response_type") != "code" or not q.get("redirect_uri"):
            raise _Response(
                400, "<h1>Invalid request</h1><p>Unknown client or missing parameters.</p>", content_type="text/html"
            )
        if q.get("scope") != SCOPE:
            raise _Response(
                400, f"<h1>Invalid scope</h1><p>{html.escape(q.get('scope', ''))}</p>", content_type="text/html"
            )
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(q.get(k, ""), quote=True)}">'
            for k in ("client_id", "scope", "state", "redirect_uri")
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Amazon Advertising - Sign in</title></head>"
            "<body><h1>Amazon Advertising (local fake)</h1>"
            f"<p><strong>{html.escape(q['client_id'])}</strong> would like to manage your Amazon Advertising "
            f"campaigns and read their reports ({SCOPE}).</p>"
            f'<form method="post" action="{html.escape(base)}/ap/oa/consent">{hidden}'
            '<button type="submit" name="decision" value="allow">Allow</button> '
            '<button type="submit" name="decision" value="deny">Deny</button>'
            "</form></body></html>"
        )
        return _Response(200, page, content_type="text/html; charset=utf-8")

    def _consent_decision(self, environ):
        form = self._form(environ)
        redirect_uri, state = form.get("redirect_uri", ""), form.get("state", "")
        if form.get("client_id") not in self.clients or not redirect_uri:
            raise _Response(400, "<h1>Invalid request</h1>", content_type="text/html")
        if form.get("decision") != "allow":
            query = {"error": "access_denied", "error_description": "The user denied the request.", "state": state}
        else:
            code = "ANc" + secrets.token_urlsafe(18)
            with self._lock:
                self._codes[code] = {
                    "client_id": form["client_id"],
                    "redirect_uri": redirect_uri,
                    "expires": self.now() + CODE_TTL,
                }
            query = {"code": code, "scope": SCOPE, "state": state}
        sep = "&" if "?" in redirect_uri else "?"
        return _Response(302, b"", headers=[("Location", redirect_uri + sep + urlencode(query))])

    def _token(self, environ):
        form = self._form(environ)
        client_id = form.get("client_id")
        if client_id not in self.clients or not hmac.compare_digest(
            self.clients[client_id], form.get("client_secret", "")
        ):
            raise _Response(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        grant_type = form.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                code = self._codes.pop(form.get("code", ""), None)  # single use, even when it fails below
                if (
                    code is None
                    or code["expires"] < self.now()
                    or code["client_id"] != client_id
                    or code["redirect_uri"] != form.get("redirect_uri")
                ):
                    raise _Response(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "The request has an invalid grant parameter : code",
                        },
                    )
                refresh = "Atzr|" + secrets.token_urlsafe(48)
                self._refresh[refresh] = {"client_id": client_id, "revoked": False}
            elif grant_type == "refresh_token":
                refresh = form.get("refresh_token", "")
                grant = self._refresh.get(refresh)
                if grant is None or grant["revoked"] or grant["client_id"] != client_id:
                    raise _Response(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "The request has an invalid grant parameter : refresh_token",
                        },
                    )
            else:
                raise _Response(400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant"})
            access = "Atza|" + secrets.token_urlsafe(48)
            self._access[access] = {"refresh": refresh, "client_id": client_id, "expires": self.now() + ACCESS_TTL}
            self.token_grants.append(grant_type)
        return _Response(
            200,
            {"access_token": access, "refresh_token": refresh, "token_type": "bearer", "expires_in": ACCESS_TTL},
            content_type="application/json;charset=UTF-8",
        )

    # -- API -------------------------------------------------------------------------------------------
    def _authorize(self, environ, scoped: bool = True) -> int | None:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            access = self._access.get(token)
            grant = self._refresh.get(access["refresh"]) if access else None
        if access is None or access["expires"] < self.now() or grant is None or grant["revoked"]:
            raise _error(401, "UNAUTHORIZED", "HTTP 401 Unauthorized: the access token is invalid or expired")
        if environ.get("HTTP_AMAZON_ADVERTISING_API_CLIENTID") != access["client_id"]:
            raise _error(401, "UNAUTHORIZED", "Amazon-Advertising-API-ClientId is missing or does not match the token")
        if not scoped:
            return None
        scope = environ.get("HTTP_AMAZON_ADVERTISING_API_SCOPE", "")
        if not scope:
            raise _error(401, "UNAUTHORIZED", "Scope header is missing")
        if not scope.isdigit() or int(scope) not in self.dataset.accounts:
            raise _error(401, "UNAUTHORIZED", f"Not authorized to access scope {scope}")
        return int(scope)

    @staticmethod
    def _form(environ) -> dict:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length).decode() if length else ""
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    @staticmethod
    def _json(environ) -> dict:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _error(400, "BAD_REQUEST", "Request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise _error(400, "BAD_REQUEST", "Request body must be a JSON object")
        return body

    def _list(self, entity: str, profile_id: int, environ):
        if entity not in LISTS:
            raise _error(404, "NOT_FOUND", f"Unknown resource sp/{entity}")
        media_type, key = LISTS[entity]
        if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != media_type:
            raise _error(415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type must be {media_type}")
        if environ.get("HTTP_ACCEPT", "").split(";")[0].strip() != media_type:
            raise _error(406, "NOT_ACCEPTABLE", f"Accept must be {media_type}")
        body = self._json(environ)
        items = self.dataset.entities(profile_id, entity)
        states = (body.get("stateFilter") or {}).get("include")
        if states:
            items = [i for i in items if i["state"] in states]
        campaign_ids = (body.get("campaignIdFilter") or {}).get("include")
        if campaign_ids:
            items = [i for i in items if i["campaignId"] in campaign_ids]
        size = max(1, min(int(body.get("maxResults") or 100), 5000))
        offset = 0
        if body.get("nextToken"):
            try:
                offset = int(base64.urlsafe_b64decode(body["nextToken"].encode()).decode().split(":")[1])
            except (ValueError, IndexError) as exc:
                raise _error(400, "BAD_REQUEST", "Invalid nextToken") from exc
        page = items[offset : offset + size]
        response = {key: page, "totalResults": len(items)}
        if offset + size < len(items):
            response["nextToken"] = base64.urlsafe_b64encode(f"{entity}:{offset + size}".encode()).decode()
        return _Response(200, response, content_type=media_type)

    def _create_report(self, profile_id: int, environ, *, lost: bool):
        if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != REPORT_REQUEST_TYPE:
            raise _error(415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type must be {REPORT_REQUEST_TYPE}")
        body = self._json(environ)
        config = body.get("configuration") or {}
        try:
            start = date.fromisoformat(body["startDate"])
            end = date.fromisoformat(body["endDate"])
        except (KeyError, TypeError, ValueError) as exc:
            raise _error(400, "400", "startDate and endDate (YYYY-MM-DD) are required") from exc
        report_type = config.get("reportTypeId")
        if report_type not in REPORT_TYPES or config.get("adProduct") != "SPONSORED_PRODUCTS":
            raise _error(
                400, "400", f"Unsupported reportTypeId {report_type!r} for adProduct {config.get('adProduct')!r}"
            )
        group_bys, allowed = REPORT_TYPES[report_type]
        columns = config.get("columns") or []
        bad = [c for c in columns if c not in allowed]
        if bad:
            raise _error(400, "400", f"configuration columns {bad} are not supported for {report_type}")
        if not config.get("groupBy") or not set(config["groupBy"]) <= group_bys:
            raise _error(400, "400", f"groupBy {config.get('groupBy')} is not supported for {report_type}")
        if config.get("timeUnit") == "DAILY" and "date" not in columns:
            raise _error(400, "400", "The column 'date' is required when timeUnit is DAILY")
        if config.get("timeUnit") == "SUMMARY" and "date" in columns:
            raise _error(400, "400", "The column 'date' is not supported when timeUnit is SUMMARY")
        if config.get("timeUnit") not in ("DAILY", "SUMMARY"):
            raise _error(400, "400", "timeUnit must be DAILY or SUMMARY")
        if config.get("format") != "GZIP_JSON":
            raise _error(400, "400", "format must be GZIP_JSON")
        if end < start or (end - start).days + 1 > MAX_REPORT_DAYS:
            raise _error(400, "400", f"The date range must be between 1 and {MAX_REPORT_DAYS} days")
        key = json.dumps([profile_id, body["startDate"], body["endDate"], config], sort_keys=True)
        with self._lock:
            for report in self.reports.values():
                if report["key"] == key and report["status"] in ("PENDING", "PROCESSING"):
                    raise _Response(
                        425,
                        {"code": "425", "detail": f"The Request is a duplicate of : {report['reportId']}"},
                    )
            now = _iso(self.now())
            report = {
                "key": key,
                "profile_id": profile_id,
                "body": body,
                "reportId": str(uuid.uuid4()),
                "status": "PENDING",
                "polls": 0,
                "restatement": self.restatement,
                "createdAt": now,
                "updatedAt": now,
                "generatedAt": None,
                "failureReason": None,
            }
            self.reports[report["reportId"]] = report
        if lost:
            raise _error(502, "BAD_GATEWAY", "Bad gateway")
        return _Response(
            200, self._report_json(report, None), content_type="application/vnd.createasyncreportresponse.v3+json"
        )

    def _report_status(self, report_id: str, profile_id: int, base: str, *, fail: bool):
        with self._lock:
            report = self.reports.get(report_id)
            if report is None or report["profile_id"] != profile_id:
                raise _error(404, "NOT_FOUND", f"Report {report_id} not found")
            if fail and report["status"] != "COMPLETED":
                report["status"] = "FAILED"
                report["failureReason"] = "Report generation failed due to an internal error. Please retry."
            elif report["status"] in ("PENDING", "PROCESSING"):
                report["polls"] += 1
                if report["polls"] >= self.polls_to_complete:
                    report["status"] = "COMPLETED"
                    report["generatedAt"] = _iso(self.now())
                else:
                    report["status"] = "PROCESSING"
            report["updatedAt"] = _iso(self.now())
            url = self._signed_url(base, report_id) if report["status"] == "COMPLETED" else None
        return _Response(
            200, self._report_json(report, url), content_type="application/vnd.getasyncreportresponse.v3+json"
        )

    def _report_json(self, report: dict, url: str | None) -> dict:
        body = report["body"]
        return {
            "configuration": {**{"filters": None}, **body["configuration"]},
            "createdAt": report["createdAt"],
            "endDate": body["endDate"],
            "failureReason": report["failureReason"],
            "fileSize": 1024 if url else None,
            "generatedAt": report["generatedAt"],
            "name": body.get("name"),
            "reportId": report["reportId"],
            "startDate": body["startDate"],
            "status": report["status"],
            "updatedAt": report["updatedAt"],
            "url": url,
            "urlExpiresAt": _iso(self.now() + URL_TTL) if url else None,
        }

    # -- SP v3 writes ----------------------------------------------------------------------------------
    # resource -> (vendor media type, body and response key, id key of an item, id key of a success item,
    # the delete body's id filter)
    _WRITES = {
        "keywords": (LISTS["keywords"][0], "keywords", "keywordId", "keywordId", "keywordIdFilter"),
        "negativeKeywords": (
            LISTS["negativeKeywords"][0],
            "negativeKeywords",
            "keywordId",
            "negativeKeywordId",
            "negativeKeywordIdFilter",
        ),
        "campaignNegativeKeywords": (
            LISTS["campaignNegativeKeywords"][0],
            "campaignNegativeKeywords",
            "keywordId",
            "campaignNegativeKeywordId",
            "campaignNegativeKeywordIdFilter",
        ),
        "targets": (LISTS["targets"][0], "targetingClauses", "targetId", "targetId", "targetIdFilter"),
        "campaigns": (LISTS["campaigns"][0], "campaigns", "campaignId", "campaignId", "campaignIdFilter"),
        "adGroups": (LISTS["adGroups"][0], "adGroups", "adGroupId", "adGroupId", "adGroupIdFilter"),
    }
    _CREATES = {"keywords", "negativeKeywords", "campaignNegativeKeywords"}
    _UPDATES = {"keywords", "targets", "campaigns", "adGroups"}
    MAX_WRITE_ITEMS = 1000  # SP v3 list writes take at most 1000 items a call
    MAX_KEYWORD_CHARS = 80

    def _write(self, method: str, resource: str, profile_id: int, environ):
        """SP v3 creates (``POST /sp/<entity>``), updates (``PUT``) and archives (``POST /sp/<entity>/delete``
        with ``<id>Filter.include``), answered 207 Multi-Status: ``{<key>: {"success": [...], "error": [...]}}``.

        Items succeed or fail one by one, by their request ``index``; a failed item carries Amazon's error shape
        (``errorType``, ``errorValue.<errorType>.{reason, message, cause}``). Accepted items are applied at once,
        so the next list call and report see them: new keywords (no traffic yet: no report rows), negatives,
        bids, budgets and states. Checks: the parent exists, match types, the marketplace's bid and budget
        limits, no duplicate keyword (same text and match type, not archived) in the ad group or campaign, no
        change to an archived entity.
        """
        delete = resource.endswith("/delete")
        name = resource.removesuffix("/delete")
        spec = self._WRITES.get(name)
        if spec is None:
            raise _error(404, "NOT_FOUND", f"Unknown resource sp/{resource}")
        if (method == "PUT" and (delete or name not in self._UPDATES)) or (
            method == "POST" and not delete and name not in self._CREATES
        ):
            raise _error(405, "METHOD_NOT_ALLOWED", f"{method} is not supported on sp/{resource} by this fake")
        media_type, key, id_key, success_key, id_filter = spec
        if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != media_type:
            raise _error(415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type must be {media_type}")
        if environ.get("HTTP_ACCEPT", "").split(";")[0].strip() != media_type:
            raise _error(406, "NOT_ACCEPTABLE", f"Accept must be {media_type}")
        body = self._json(environ)
        items = (body.get(id_filter) or {}).get("include") if delete else body.get(key)
        if not isinstance(items, list) or not items:
            wanted = f"{id_filter}.include" if delete else key
            raise _error(400, "BAD_REQUEST", f"'{wanted}' must be a non-empty array")
        if len(items) > self.MAX_WRITE_ITEMS:
            raise _error(400, "BAD_REQUEST", f"At most {self.MAX_WRITE_ITEMS} items are accepted in one request")
        representation = "return=representation" in environ.get("HTTP_PREFER", "")
        account = self.dataset.account(profile_id)
        success, errors = [], []
        with self._lock:
            for index, item in enumerate(items):
                try:
                    if delete:
                        entity_id = self._archive(account, name, str(item))
                        success.append({"index": index, success_key: entity_id})
                    elif method == "POST":
                        entity_id, entity = self._create(profile_id, account, name, item)
                        success.append({"index": index, success_key: entity_id})
                        if representation and name == "keywords":
                            success[-1]["keyword"] = entity
                    else:
                        entity_id = self._update(profile_id, account, name, id_key, item)
                        success.append({"index": index, success_key: entity_id})
                except _ItemError as exc:
                    errors.append({"index": index, "errors": [exc.error]})
        return _Response(207, {key: {"success": success, "error": errors}}, content_type=media_type)

    def _entities_of(self, account, name: str):
        """(campaign, ad group or None, entity or negative's position) of every entity a write can address."""
        for c in account.campaigns:
            if name == "campaigns":
                yield str(c.id), (c, None, c)
            elif name == "campaignNegativeKeywords":
                for position, negative in enumerate(c.negatives):
                    yield str(negative[0]), (c, None, position)
            for g in c.ad_groups:
                if name == "adGroups":
                    yield str(g.id), (c, g, g)
                elif name == "negativeKeywords":
                    for position, negative in enumerate(g.negatives):
                        yield str(negative[0]), (c, g, position)
                elif name in ("keywords", "targets"):
                    for t in g.targets:
                        if (t.kind == "keyword") == (name == "keywords"):
                            yield str(t.id), (c, g, t)

    def _find(self, account, name: str, entity_id: str, location: str):
        for found_id, found in self._entities_of(account, name):
            if found_id == entity_id:
                return found
        raise _ItemError("entityNotFoundError", "ENTITY_NOT_FOUND", f"Entity {entity_id} was not found", location)

    def _minor(self, profile_id: int, value, location: str, *, low: int, high: int, what: str) -> int:
        spec = self.dataset.account(profile_id).spec
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _ItemError("malformedValueError", "INVALID_VALUE", f"The {what} must be a number", location)
        minor = round(value * 10**spec.decimals)
        if minor < low:
            amount = self.dataset.decimal(profile_id, low)
            raise _ItemError("rangeError", "TOO_LOW", f"The {what} must be at least {amount} {spec.currency}", location)
        if minor > high:
            amount = self.dataset.decimal(profile_id, high)
            raise _ItemError("rangeError", "TOO_HIGH", f"The {what} must be at most {amount} {spec.currency}", location)
        return minor

    def _bid_minor(self, profile_id: int, value, location: str) -> int:
        decimals = self.dataset.account(profile_id).spec.decimals
        low = 2  # 0.02 (2 yen in JP), the marketplaces' minimum keyword bid
        return self._minor(profile_id, value, location, low=low, high=1000 * 10**decimals, what="bid")

    @staticmethod
    def _state(value, location: str, *, default: str | None = None) -> str | None:
        state = value if value is not None else default
        if state is not None and state not in ("ENABLED", "PAUSED"):
            raise _ItemError(
                "malformedValueError",
                "INVALID_VALUE",
                f"state must be ENABLED or PAUSED, not {state!r} (archive with the delete endpoint)",
                location,
            )
        return state

    @staticmethod
    def _text(item: dict, limit: int) -> str:
        text = str(item.get("keywordText") or "").strip()
        if not text:
            raise _ItemError("missingValueError", "MISSING_VALUE", "keywordText is required", "$.keywordText")
        if len(text) > limit:
            raise _ItemError(
                "rangeError", "TOO_LONG", f"keywordText must be at most {limit} characters", "$.keywordText"
            )
        return text

    def _create(self, profile_id: int, account, name: str, item: dict) -> tuple[str, dict | None]:
        from connectors.backends.amazon_ads.demo_data import Target as DemoTarget

        if not isinstance(item, dict):
            raise _ItemError("malformedValueError", "INVALID_VALUE", "Each item must be an object", "$")
        campaign_id = str(item.get("campaignId") or "")
        campaign = next((c for c in account.campaigns if str(c.id) == campaign_id), None)
        if campaign is None:
            raise _ItemError(
                "entityNotFoundError", "ENTITY_NOT_FOUND", f"Campaign {campaign_id} was not found", "$.campaignId"
            )
        group = None
        if name != "campaignNegativeKeywords":
            group_id = str(item.get("adGroupId") or "")
            group = next((g for g in campaign.ad_groups if str(g.id) == group_id), None)
            if group is None:
                raise _ItemError(
                    "entityNotFoundError",
                    "ENTITY_NOT_FOUND",
                    f"Ad group {group_id} was not found in campaign {campaign_id}",
                    "$.adGroupId",
                )
        text = self._text(item, self.MAX_KEYWORD_CHARS)
        match_type = item.get("matchType")
        allowed = ("EXACT", "PHRASE", "BROAD") if name == "keywords" else ("NEGATIVE_EXACT", "NEGATIVE_PHRASE")
        if match_type not in allowed:
            raise _ItemError(
                "malformedValueError",
                "INVALID_VALUE",
                f"matchType must be one of {', '.join(allowed)}, not {match_type!r}",
                "$.matchType",
            )
        state = self._state(item.get("state"), "$.state", default="ENABLED")
        if name == "keywords":
            existing = [(t.id, t.text, t.match_type, t.state) for t in group.targets if t.kind == "keyword"]
        else:
            existing = list(group.negatives if group is not None else campaign.negatives)
        wanted = (text.casefold(), match_type)
        for entity_id, other_text, other_match, other_state in existing:
            if other_state != "ARCHIVED" and (other_text.casefold(), other_match) == wanted:
                where = "ad group" if group is not None else "campaign"
                raise _ItemError(
                    "duplicateValueError",
                    "DUPLICATE_VALUE",
                    f"A keyword with this text and match type already exists in the {where} ({entity_id})",
                    "$.keywordText",
                )
        country = account.spec.country
        if name == "keywords":
            bid = group.default_bid if item.get("bid") is None else self._bid_minor(profile_id, item["bid"], "$.bid")
            target = DemoTarget(
                id=self.dataset._new_id(country, "pushed keyword", group.id, text, match_type),
                kind="keyword",
                text=text,
                match_type=match_type,
                expression=None,
                bid=bid,
                state=state,
                terms=(text,),
                seed=0,
                base_impressions=0.0,  # created now: no traffic, so no report rows for past days
                ctr=0.0,
                cpc=0,
                cvr=0.0,
                price=group.products[0].price if group.products else 0,
            )
            group.targets.append(target)
            entity = {
                "adGroupId": str(group.id),
                "bid": self.dataset.money(profile_id, bid),
                "campaignId": campaign_id,
                "keywordId": str(target.id),
                "keywordText": text,
                "matchType": match_type,
                "state": state,
            }
            return str(target.id), entity
        negative_id = self.dataset._new_id(
            country, "pushed negative", campaign_id, group.id if group is not None else 0, text
        )
        (group.negatives if group is not None else campaign.negatives).append((negative_id, text, match_type, state))
        return str(negative_id), None

    def _update(self, profile_id: int, account, name: str, id_key: str, item: dict) -> str:
        if not isinstance(item, dict):
            raise _ItemError("malformedValueError", "INVALID_VALUE", "Each item must be an object", "$")
        entity_id = str(item.get(id_key) or "")
        _campaign, _group, entity = self._find(account, name, entity_id, f"$.{id_key}")
        if entity.state == "ARCHIVED":
            raise _ItemError(
                "entityStateError", "ENTITY_ARCHIVED", f"Entity {entity_id} is archived and cannot be changed", "$"
            )
        state = self._state(item.get("state"), "$.state")
        changes: dict = {}
        if name in ("keywords", "targets") and "bid" in item:
            changes["bid"] = self._bid_minor(profile_id, item["bid"], "$.bid")
        if name == "adGroups" and "defaultBid" in item:
            changes["default_bid"] = self._bid_minor(profile_id, item["defaultBid"], "$.defaultBid")
        if name == "campaigns" and "budget" in item:
            budget = item["budget"] or {}
            if budget.get("budgetType", "DAILY") != "DAILY":
                raise _ItemError("malformedValueError", "INVALID_VALUE", "budgetType must be DAILY", "$.budget")
            decimals = self.dataset.account(profile_id).spec.decimals
            unit = 10**decimals
            low = 100 if decimals == 0 else unit  # a daily budget of at least 1 (100 yen in JP)
            minor = self._minor(
                profile_id, budget.get("budget"), "$.budget.budget", low=low, high=1_000_000 * unit, what="budget"
            )
            whole, part = divmod(minor, unit)
            changes["budget"] = whole if not part else minor / unit
        if state is not None:
            changes["state"] = state
        for attribute, value in changes.items():
            setattr(entity, attribute, value)
        return entity_id

    def _archive(self, account, name: str, entity_id: str) -> str:
        campaign, group, entity = self._find(account, name, entity_id, "$")
        if isinstance(entity, int):  # a negative keyword, kept as a tuple at that position
            negatives = group.negatives if group is not None else campaign.negatives
            negative_id, text, match_type, _state = negatives[entity]
            negatives[entity] = (negative_id, text, match_type, "ARCHIVED")
        else:
            entity.state = "ARCHIVED"  # archiving an archived entity again changes nothing
        return entity_id

    def summary_rows(
        self, profile_id: int, report_type: str, start: date, end: date, group_by, columns, restatement: int = 0
    ) -> list[dict]:
        """A ``SUMMARY`` report: one row per group (``groupBy``) with its metrics summed over ``start``..``end``
        (``startDate``/``endDate`` are the span's), from the very rows the daily report of the span has."""
        keys = [k for group in group_by for k in SUMMARY_GROUP_KEYS[group]]
        wanted = list(dict.fromkeys(["date", *keys, *columns]))
        groups: dict[tuple, dict] = {}
        for row in self.dataset.report_rows(profile_id, report_type, start, end, wanted, restatement=restatement):
            key = tuple(row[k] for k in keys)
            if key not in groups:
                groups[key] = {c: row[c] for c in columns}
                continue
            summary = groups[key]
            for column in columns:
                if _is_metric(column):
                    summary[column] = _add(summary[column], row[column])
        integral = self.dataset.account(profile_id).spec.decimals == 0
        result = []
        for summary in groups.values():
            for column in columns:
                if column in ("startDate", "endDate"):
                    summary[column] = (start if column == "startDate" else end).isoformat()
                elif _is_metric(column) and isinstance(summary[column], Decimal):
                    summary[column] = int(summary[column]) if integral else float(summary[column])
            result.append(summary)
        return result

    # -- the "S3" download -----------------------------------------------------------------------------
    def _sign(self, report_id: str, amz_date: str) -> str:
        return hmac.new(self._secret, f"{report_id}|{amz_date}".encode(), hashlib.sha256).hexdigest()

    def _signed_url(self, base: str, report_id: str) -> str:
        amz_date = datetime.fromtimestamp(self.now(), UTC).strftime("%Y%m%dT%H%M%SZ")
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Date": amz_date,
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Expires": str(URL_TTL - 1),
            "X-Amz-Credential": "FAKEACCESSKEY/us-east-1/s3/aws4_request",
            "X-Amz-Signature": self._sign(report_id, amz_date),
        }
        return f"{base}/download/{report_id}.json.gz?{urlencode(query)}"

    def _download(self, path: str, environ):
        if environ.get("HTTP_AUTHORIZATION"):
            raise _Response(
                400,
                "<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidArgument</Code><Message>Only one auth "
                "mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or "
                "the Authorization header should be specified</Message></Error>",
                content_type="application/xml",
            )
        report_id = path[len("/download/") :].removesuffix(".json.gz")
        q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        amz_date = q.get("X-Amz-Date", "")
        if not hmac.compare_digest(q.get("X-Amz-Signature", ""), self._sign(report_id, amz_date)):
            raise _Response(
                403,
                "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SignatureDoesNotMatch</Code></Error>",
                content_type="application/xml",
            )
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        if signed_at + URL_TTL < self.now():
            raise _Response(
                403,
                "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
                "<Message>Request has expired</Message></Error>",
                content_type="application/xml",
            )
        fault = self._fault("download")
        report = self.reports[report_id]
        return self._stream(report, truncate=fault == "truncate")

    def _stream(self, report: dict, *, truncate: bool):
        """The report file, generated as it is sent; ``render_cpu_seconds`` adds up the CPU it took."""
        chunks = self._render(report, truncate=truncate)
        while True:
            began = time.thread_time()
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            finally:
                with self._lock:
                    self.render_cpu_seconds += time.thread_time() - began
            yield chunk

    def _render(self, report: dict, *, truncate: bool):
        body = report["body"]
        config = body["configuration"]
        args = (report["profile_id"], config["reportTypeId"])
        span = (date.fromisoformat(body["startDate"]), date.fromisoformat(body["endDate"]))
        if config["timeUnit"] == "SUMMARY":
            rows = self.summary_rows(*args, *span, config["groupBy"], config["columns"], report["restatement"])
        else:
            rows = self.dataset.report_rows(*args, *span, config["columns"], restatement=report["restatement"])
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: a gzip container
        head = compressor.compress(b"[")
        if head:
            yield head
        separator = ""
        for batch in _batched(rows, 50 if truncate else 2000):
            chunk = compressor.compress((separator + encode(batch)[1:-1]).encode())  # a list encodes in one call
            separator = ","
            if truncate:
                # the connection drops after the first rows: they arrive, the end of the file never does
                yield chunk + compressor.flush(zlib.Z_SYNC_FLUSH)
                return
            if chunk:
                yield chunk
        yield compressor.compress(b"]") + compressor.flush()


def _is_metric(column: str) -> bool:
    return column in SUMMARY_METRICS or column.startswith(("purchases", "unitsSold", "sales"))


def _add(total, value):
    """Sums money exactly (the rows carry JSON numbers): as Decimals, from each number's shortest text."""
    if value is None:
        return total
    if isinstance(total, int) and isinstance(value, int):
        return total + value
    return Decimal(str(total)) + Decimal(str(value))


def _batched(iterable, n):
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, n)):
        yield batch


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_app(public_url: str = "", **kwargs) -> FakeAmazonAds:
    """The WSGI app. ``public_url`` is where it is reachable; empty: derived from each request's host."""
    return FakeAmazonAds(public_url, **kwargs)
