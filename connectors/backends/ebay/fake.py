"""A local eBay (OAuth, Identity, Marketing and Fulfillment APIs) for tests, benchmarks and the demo.

Standard library only: ``make_app(public_url)`` returns a WSGI app serving, under its own prefix,

- ``GET /oauth2/authorize?client_id&redirect_uri=<RuName>&response_type=code&scope&state``: a consent page
  (Agree / Not now). ``POST /oauth2/consent`` redirects to the RuName's accepted URL with ``state``,
  ``code`` and ``expires_in=299`` (or, declined, with ``error=access_denied``). Codes work once, 299 s.
- ``POST /identity/v1/oauth2/token``: form-encoded, HTTP Basic ``client_id:client_secret`` (401
  ``invalid_client`` otherwise). ``authorization_code`` (``redirect_uri`` must be the RuName the code was
  issued for) answers ``access_token`` (7200 s), ``refresh_token`` (47,304,000 s) and ``token_type``;
  ``refresh_token`` (with ``scope``, which must stay within the grant's) answers a new access token only.
  Unknown, expired or revoked refresh tokens: 400 ``invalid_grant``.
- ``GET /apiz/commerce/identity/v1/user/`` (also under ``/api``): the seller.
- ``GET /api/sell/marketing/v1/ad_campaign?limit&offset``: the seller's campaigns, every marketplace.
- ``POST /api/sell/marketing/v1/ad_report_task``: checks the CreateReportTask body against each report
  type's dimensions and metrics (LISTING_PERFORMANCE_REPORT, ACCOUNT_PERFORMANCE_REPORT; cost per sale),
  answers 202 with the task URL in ``Location``. ``GET .../ad_report_task/{id}`` walks PENDING ->
  IN_PROGRESS -> SUCCESS over successive polls (``polls_to_complete``) and then gives ``reportId`` and
  ``reportHref``. ``GET .../ad_report/{id}``: the report, a gzipped TSV (a title line, the header, the
  rows; amounts as "USD 12.34"), generated as it streams from ``demo_data``.
- ``GET /api/sell/fulfillment/v1/order?filter=lastmodifieddate:[..]|creationdate:[..]&limit&offset``:
  orders of every marketplace, oldest first, ``limit`` 1..200, with ``total``, ``next`` and ``prev``.

Every API call needs ``Authorization: Bearer`` with a live token whose grant holds the endpoint's scope
(401 errorId 1001 / 403 errorId 1100 otherwise, in eBay's ``{"errors": [...]}`` envelope) and, when sent,
a known ``X-EBAY-C-MARKETPLACE-ID``. Report calls (task create and get, report download) count against
``report_quota`` calls per seller per rolling hour (eBay: 200); over it they answer 429 (errorId 2001),
without Retry-After [U: eBay's exact 429 body is unconfirmed].

Test hooks: ``app.faults.add(endpoint, kind, times=1, after=0, **params)`` (see ``Faults``);
``app.restatement += 1`` credits late-attributed sales to the last three report days; ``app.now`` (a
datetime: the data's "now"; None: real time, to the minute); ``app.clock_offset`` (seconds added to the
token clock); ``app.expire_access_tokens()``; ``app.revoke_all()``; ``app.refund(order_id, minor)``;
``app.report_quota``; ``app.requests`` logs (method, path, status); ``app.token_requests`` each token call's
grant, scope and whether its Basic credentials were right; ``app.marketplace_headers`` the
``X-EBAY-C-MARKETPLACE-ID`` of each API call.
"""

from __future__ import annotations

import base64
import gzip
import hmac
import html
import itertools
import json
import re
import secrets
import threading
import time
import zlib
from collections import deque
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlencode

from connectors.backends.ebay.demo_data import Dataset, Event, Listing, Order, OrderState, money

CLIENTS = {"chuhai-fake-ebay_client_id": "chuhai-fake-ebay_client_secret"}
RU_NAME = "chuhai-fake-runame"
SCOPE_PREFIX = "https://api.ebay.com/oauth/api_scope"
KNOWN_SCOPES = {
    SCOPE_PREFIX,
    *(
        f"{SCOPE_PREFIX}/{name}"
        for name in (
            "sell.marketing",
            "sell.marketing.readonly",
            "sell.fulfillment",
            "sell.fulfillment.readonly",
            "sell.account",
            "sell.account.readonly",
            "sell.inventory",
            "sell.inventory.readonly",
            "commerce.identity.readonly",
        )
    ),
}
ACCESS_TTL = 7200
REFRESH_TTL = 47_304_000
CODE_TTL = 299
REPORT_KEEP = timedelta(days=30)
QUOTA_WINDOW = 3600.0
MARKETPLACE_IDS = {"EBAY_US", "EBAY_GB", "EBAY_DE", "EBAY_AU", "EBAY_CA", "EBAY_FR", "EBAY_IT", "EBAY_ES"}

DEMO_ACCESS_TOKEN = "v^1.1#i^1#p^3#r^0#I^3#f^0#t^chuhai-demo-seller-access"
DEMO_REFRESH_TOKEN = "v^1.1#i^1#p^3#r^1#I^3#f^0#t^chuhai-demo-seller-refresh"
FOREVER = 4_102_444_800.0  # 2100-01-01
DEMO_REPORT_QUOTA = 5000
# What ``EbayBackend.exchange_code`` returns for the demo seller; ``allow_demo()`` makes the fake honour it.
DEMO_CREDENTIALS = {
    "access_token": DEMO_ACCESS_TOKEN,
    "expires_at": FOREVER,
    "token_type": "User Access Token",
    "refresh_token": DEMO_REFRESH_TOKEN,
    "refresh_token_expires_at": FOREVER,
}

# reportType -> (allowed dimension keys, required dimension keys, allowed annotation keys)
REPORT_TYPES = {
    "LISTING_PERFORMANCE_REPORT": (
        {"campaign_id", "listing_id", "day"},
        {"campaign_id", "listing_id"},
        {"campaign_name", "campaign_start_date", "campaign_end_date", "listing_title", "listing_quantity_sold"},
    ),
    "ACCOUNT_PERFORMANCE_REPORT": ({"day"}, set(), set()),
}
CPS_METRICS = {"impressions", "clicks", "ctr", "sales", "sale_amount", "ad_fees", "avg_cost_per_sale"}
MONEY_METRICS = {"sale_amount", "ad_fees", "avg_cost_per_sale"}

ENDPOINTS = ("token", "identity", "campaigns", "report_create", "report_status", "download", "orders")
FAULT_KINDS = ("429", "500", "slow", "truncate", "revoke", "fail", "expire_token")


class Faults:
    """One-shot faults, queued per endpoint and taken in order by the next matching request.

    endpoint: token | identity | campaigns | report_create | report_status | download | orders.
    kind: ``429`` (``retry_after`` seconds in Retry-After), ``500``, ``slow`` (sleep ``seconds`` then 503, so
    a client with a shorter timeout sees a timeout), ``truncate`` (download: the gzip stops half-way),
    ``revoke`` (the seller withdraws our access before the request is handled), ``fail`` (report status:
    the task ends FAILED), ``expire_token`` (the request's access token expires just before it arrives).
    """

    def __init__(self):
        self._queues: dict[str, deque] = {}
        self._lock = threading.Lock()

    def add(self, endpoint: str, kind: str, *, times: int = 1, after: int = 0, **params) -> None:
        """Queue ``kind`` for ``times`` requests to ``endpoint``, once ``after`` more of them have passed."""
        if endpoint not in ENDPOINTS or kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {endpoint}/{kind}")
        with self._lock:
            for _ in range(after):
                self._queues.setdefault(endpoint, deque()).append(("pass", {}))
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


def ebay_error(
    status: int,
    error_id: int,
    message: str,
    *,
    domain: str = "API_MARKETING",
    category: str = "REQUEST",
    long_message: str | None = None,
    headers=None,
    **extra,
) -> _Response:
    """eBay's error envelope."""
    error = {"errorId": error_id, "domain": domain, "category": category, "message": message}
    if long_message:
        error["longMessage"] = long_message
    error.update(extra)
    return _Response(status, {"errors": [error]}, headers=headers)


_REASONS = {
    200: "OK",
    202: "Accepted",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_FILTER = re.compile(r"(creationdate|lastmodifieddate):\[([^\]]*)\]")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _amount(minor: int, currency: str) -> dict:
    return {"value": f"{money(minor):.2f}", "currency": currency}


def _parse_ts(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class FakeEbay:
    def __init__(
        self,
        public_url: str = "",
        *,
        dataset: Dataset | None = None,
        clients: dict[str, str] | None = None,
        polls_to_complete: int = 2,
        report_quota: int = 200,
    ):
        self.public_url = public_url.rstrip("/")
        self.dataset = dataset or Dataset()
        self.clients = dict(clients or CLIENTS)
        self.ru_names: dict[str, dict] = {}
        self.polls_to_complete = polls_to_complete
        self.report_quota = report_quota
        self.faults = Faults()
        self.restatement = 0
        self.clock_offset = 0.0
        self.now: datetime | None = None
        self.requests: list[tuple[str, str, int]] = []
        self.token_requests: list[dict] = []
        self.marketplace_headers: list[str | None] = []  # X-EBAY-C-MARKETPLACE-ID of each API call
        self.report_calls: dict[str, deque] = {}
        self.tasks: dict[str, dict] = {}
        self._reports: dict[str, str] = {}  # report id -> task id
        self._codes: dict[str, dict] = {}
        self._grants: dict[str, dict] = {}  # refresh token -> grant
        self._access: dict[str, dict] = {}
        self._serial = itertools.count(1)
        self._lock = threading.RLock()
        self._orders_version = 0
        self._orders_cache: tuple | None = None

    # -- helpers for tests and the demo ----------------------------------------------------------------
    def clock(self) -> float:
        return time.time() + self.clock_offset

    def current_time(self) -> datetime:
        """The data's "now": ``self.now`` if set, else the real time to the minute (so that a sync's many
        requests see one state of the data and the fake's caches hold across them)."""
        return self.now or datetime.now(UTC).replace(second=0, microsecond=0)

    def register_ru_name(
        self, ru_name: str, *, client_id: str, accepted_url: str, declined_url: str | None = None
    ) -> None:
        """What a developer sets up in eBay's portal: the RuName, and where consent sends the seller back."""
        entry = self.ru_names.setdefault(ru_name, {"clients": set()})
        entry["clients"].add(client_id)
        entry.update(accepted_url=accepted_url, declined_url=declined_url or accepted_url)

    def expire_access_tokens(self) -> None:
        with self._lock:
            for access in self._access.values():
                access["expires"] = self.clock() - 1

    def revoke_all(self) -> None:
        """The seller withdrew our app's access in My eBay: every token of every grant stops working."""
        with self._lock:
            for grant in self._grants.values():
                grant["revoked"] = True

    def allow_demo(self) -> None:
        """Honour ``DEMO_CREDENTIALS`` for good: a standing grant for every known client, all scopes. The demo
        seller's report quota is raised too, so the demo's year on two sites loads in minutes, not hours."""
        with self._lock:
            self.report_quota = max(self.report_quota, DEMO_REPORT_QUOTA)
            self._grants[DEMO_REFRESH_TOKEN] = {
                "clients": set(self.clients),
                "user": self.dataset.user_id,
                "scopes": set(KNOWN_SCOPES),
                "revoked": False,
                "expires": FOREVER,
            }
            self._access[DEMO_ACCESS_TOKEN] = {"refresh": DEMO_REFRESH_TOKEN, "expires": FOREVER}

    def refund(self, order_id: str, minor: int, *, at: datetime | None = None) -> Order:
        """The seller refunds ``minor`` (cents, pence) of an order now (or ``at``): the order is modified."""
        for order, _state in self.visible_orders():
            if order.order_id == order_id:
                when = (at or self.current_time()).replace(microsecond=0)
                order.events.append(Event(when, "refund", minor))
                with self._lock:
                    self._orders_version += 1
                return order
        raise KeyError(order_id)

    def visible_orders(self, marketplace_id: str | None = None) -> list[tuple[Order, OrderState]]:
        return self.dataset.visible_orders(self.current_time(), marketplace_id)

    def report_today(self) -> date:
        return self.dataset.report_today(self.current_time())

    # -- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "") or "/"
        base = self.public_url or self._url_from(environ)
        try:
            result = self._route(method, path, environ, base)
        except _Response as response:
            result = response
        if callable(getattr(result, "__next__", None)):  # a streamed report
            self.requests.append((method, path, 200))
            start_response(
                "200 OK",
                [
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Disposition", 'attachment; filename="report.tsv.gz"'),
                ],
            )
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
        if path == "/oauth2/authorize" and method == "GET":
            return self._consent_page(environ, base)
        if path == "/oauth2/consent" and method == "POST":
            return self._consent_decision(environ)
        if path == "/identity/v1/oauth2/token" and method == "POST":
            self._fault("token", environ)
            return self._token(environ)
        if path in ("/apiz/commerce/identity/v1/user/", "/api/commerce/identity/v1/user/") and method == "GET":
            self._fault("identity", environ)
            grant = self._authorize(environ, "commerce.identity.readonly")
            return self._user(grant)
        if path == "/api/sell/marketing/v1/ad_campaign" and method == "GET":
            self._fault("campaigns", environ)
            self._authorize(environ, "sell.marketing.readonly", "sell.marketing")
            return self._campaigns(environ)
        if path == "/api/sell/marketing/v1/ad_report_task" and method == "POST":
            self._fault("report_create", environ)
            grant = self._authorize(environ, "sell.marketing")
            self._count_report_call(grant)
            return self._create_task(environ, base, grant)
        if path.startswith("/api/sell/marketing/v1/ad_report_task/") and method == "GET":
            fault = self._fault("report_status", environ)
            grant = self._authorize(environ, "sell.marketing.readonly", "sell.marketing")
            self._count_report_call(grant)
            return self._task_status(path.rsplit("/", 1)[1], base, grant, fail=fault == "fail")
        if path.startswith("/api/sell/marketing/v1/ad_report/") and method == "GET":
            fault = self._fault("download", environ)
            grant = self._authorize(environ, "sell.marketing.readonly", "sell.marketing")
            self._count_report_call(grant)
            return self._download(path.rsplit("/", 1)[1], grant, truncate=fault == "truncate")
        if path == "/api/sell/fulfillment/v1/order" and method == "GET":
            self._fault("orders", environ)
            self._authorize(environ, "sell.fulfillment.readonly", "sell.fulfillment")
            return self._orders(environ, base)
        raise ebay_error(404, 2002, f"Resource not found: {method} {path}", domain="API_FAKE")

    def _fault(self, endpoint: str, environ) -> str | None:
        taken = self.faults.take(endpoint)
        if taken is None:
            return None
        kind, params = taken
        if kind == "pass":
            return None
        if kind == "429":
            raise ebay_error(
                429,
                2001,
                "Too many requests. The request limit has been reached for the resource.",
                domain="ACCESS",
                headers=[("Retry-After", str(params.get("retry_after", 1)))],
            )
        if kind == "500":
            raise ebay_error(
                500,
                35000,
                "There was a problem with an eBay internal system or process. Contact eBay developer support.",
                category="APPLICATION",
            )
        if kind == "slow":
            time.sleep(params.get("seconds", 1.0))
            raise ebay_error(503, 35000, "Service unavailable", category="APPLICATION")
        if kind == "revoke":
            self.revoke_all()
        if kind == "expire_token":
            token = environ.get("HTTP_AUTHORIZATION", "")[7:]
            with self._lock:
                if token in self._access:
                    self._access[token]["expires"] = self.clock() - 1
        return kind

    # -- OAuth -----------------------------------------------------------------------------------------
    @staticmethod
    def _query(environ) -> dict:
        return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}

    @staticmethod
    def _form(environ) -> dict:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length).decode() if length else ""
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    @staticmethod
    def _page(title: str, text: str, status: int = 400) -> _Response:
        return _Response(
            status,
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>",
            content_type="text/html; charset=utf-8",
        )

    def _consent_page(self, environ, base):
        q = self._query(environ)
        ru = self.ru_names.get(q.get("redirect_uri", ""))
        if q.get("client_id") not in self.clients or ru is None or q.get("client_id") not in ru["clients"]:
            raise self._page("Invalid request", "unauthorized_client: the client_id or redirect_uri is not valid.")
        if q.get("response_type") != "code":
            raise self._page("Invalid request", "unsupported_response_type")
        scopes = q.get("scope", "").split()
        if not scopes or not set(scopes) <= KNOWN_SCOPES:
            raise self._page("Invalid request", f"invalid_scope: {q.get('scope', '')}")
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(q.get(k, ""), quote=True)}">'
            for k in ("client_id", "redirect_uri", "scope", "state")
        )
        items = "".join(f"<li>{html.escape(s.rsplit('/', 1)[-1])}</li>" for s in scopes)
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>eBay - Grant application access</title></head>"
            f"<body><h1>eBay (local fake)</h1><p>Sign in as <strong>{html.escape(self.dataset.username)}</strong>. "
            f"<strong>{html.escape(q['client_id'])}</strong> would like access to:</p><ul>{items}</ul>"
            f'<form method="post" action="{html.escape(base)}/oauth2/consent">{hidden}'
            '<button type="submit" name="decision" value="agree">Agree</button> '
            '<button type="submit" name="decision" value="decline">Not now</button>'
            "</form></body></html>"
        )
        return _Response(200, page, content_type="text/html; charset=utf-8")

    def _consent_decision(self, environ):
        form = self._form(environ)
        ru = self.ru_names.get(form.get("redirect_uri", ""))
        if form.get("client_id") not in self.clients or ru is None:
            raise self._page("Invalid request", "unauthorized_client")
        state = form.get("state", "")
        if form.get("decision") != "agree":
            target, query = ru["declined_url"], {"state": state, "error": "access_denied"}
        else:
            code = "v^1.1#i^1#f^0#r^1#I^3#p^3#t^" + secrets.token_urlsafe(24)
            with self._lock:
                self._codes[code] = {
                    "client_id": form["client_id"],
                    "ru_name": form["redirect_uri"],
                    "scopes": set(form.get("scope", "").split()),
                    "expires": self.clock() + CODE_TTL,
                }
            target, query = ru["accepted_url"], {"state": state, "code": code, "expires_in": str(CODE_TTL)}
        sep = "&" if "?" in target else "?"
        return _Response(302, b"", headers=[("Location", target + sep + urlencode(query))])

    def _client_from_basic(self, environ) -> str | None:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if not auth.startswith("Basic "):
            return None
        try:
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        known = self.clients.get(client_id)
        return client_id if known is not None and hmac.compare_digest(known, secret) else None

    def _token(self, environ):
        form = self._form(environ)
        client_id = self._client_from_basic(environ)
        grant_type = form.get("grant_type")
        self.token_requests.append(
            {"grant_type": grant_type, "scope": form.get("scope"), "basic_ok": client_id is not None}
        )
        if client_id is None:
            raise _Response(401, {"error": "invalid_client", "error_description": "client authentication failed"})
        now = self.clock()
        with self._lock:
            if grant_type == "authorization_code":
                code = self._codes.pop(form.get("code", ""), None)  # single use, even when it fails below
                if (
                    code is None
                    or code["expires"] < now
                    or code["client_id"] != client_id
                    or code["ru_name"] != form.get("redirect_uri")
                ):
                    raise _Response(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "the provided authorization grant code is invalid or was issued "
                            "to another client",
                        },
                    )
                refresh = "v^1.1#i^1#p^3#r^1#I^3#f^0#t^" + secrets.token_urlsafe(48)
                self._grants[refresh] = {
                    "clients": {client_id},
                    "user": self.dataset.user_id,
                    "scopes": code["scopes"],
                    "revoked": False,
                    "expires": now + REFRESH_TTL,
                }
                answer = {"refresh_token": refresh, "refresh_token_expires_in": REFRESH_TTL}
            elif grant_type == "refresh_token":
                refresh = form.get("refresh_token", "")
                grant = self._grants.get(refresh)
                if grant is None or grant["revoked"] or client_id not in grant["clients"] or grant["expires"] < now:
                    raise _Response(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "the provided authorization refresh token is invalid or was issued "
                            "to another client",
                        },
                    )
                asked = set((form.get("scope") or "").split()) or grant["scopes"]
                if not asked <= grant["scopes"]:
                    raise _Response(
                        400,
                        {
                            "error": "invalid_scope",
                            "error_description": "the requested scope is invalid, unknown, malformed, or exceeds the "
                            "scope granted to the client",
                        },
                    )
                answer = {}
            else:
                raise _Response(
                    400,
                    {"error": "unsupported_grant_type", "error_description": "grant type in request is not supported"},
                )
            access = "v^1.1#i^1#p^3#r^0#I^3#f^0#t^" + secrets.token_urlsafe(48)
            self._access[access] = {"refresh": refresh, "expires": now + ACCESS_TTL}
        return _Response(
            200, {"access_token": access, "expires_in": ACCESS_TTL, **answer, "token_type": "User Access Token"}
        )

    # -- API: auth, quota, marketplace -------------------------------------------------------------------
    def _authorize(self, environ, *scopes: str) -> dict:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            access = self._access.get(token)
            grant = self._grants.get(access["refresh"]) if access else None
        if access is None or access["expires"] < self.clock() or grant is None or grant["revoked"]:
            raise ebay_error(
                401,
                1001,
                "Invalid access token",
                domain="OAuth",
                long_message="Invalid access token. Check the value of the Authorization HTTP request header.",
            )
        if not {f"{SCOPE_PREFIX}/{s}" for s in scopes} & grant["scopes"]:
            raise ebay_error(
                403,
                1100,
                "Access denied",
                domain="ACCESS",
                long_message="Insufficient permissions to fulfill the request.",
            )
        marketplace = environ.get("HTTP_X_EBAY_C_MARKETPLACE_ID")
        self.marketplace_headers.append(marketplace)
        if marketplace is not None and marketplace not in MARKETPLACE_IDS:
            raise ebay_error(
                400,
                35001,  # [U] an illustrative id
                f"The marketplace ID '{marketplace}' in the X-EBAY-C-MARKETPLACE-ID header is not supported.",
            )
        return {**grant, "marketplace_header": marketplace}

    def _count_report_call(self, grant: dict) -> None:
        now = self.clock()
        with self._lock:
            calls = self.report_calls.setdefault(grant["user"], deque())
            while calls and calls[0] <= now - QUOTA_WINDOW:
                calls.popleft()
            if len(calls) >= self.report_quota:
                raise ebay_error(
                    429,
                    2001,
                    "Too many requests. The request limit has been reached for the resource.",
                    domain="ACCESS",
                    long_message="ad_report and ad_report_task calls are limited to 200 an hour for each seller.",
                )
            calls.append(now)

    @staticmethod
    def _json_body(environ) -> dict:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ebay_error(400, 35100, "The request has errors. The request body is missing or is not valid JSON.")
        return body

    # -- identity and campaigns ------------------------------------------------------------------------
    def _user(self, grant: dict):
        ds = self.dataset
        return _Response(
            200,
            {
                "userId": ds.user_id,
                "username": ds.username,
                "accountType": "BUSINESS",
                "businessAccount": {"name": ds.business_name, "website": "https://hearthandgrain.example"},
                "registrationMarketplaceId": "EBAY_US",
                "status": "CONFIRMED",
            },
        )

    def campaign_json(self, campaign) -> dict:
        return {
            "campaignId": campaign.campaign_id,
            "campaignName": campaign.name,
            "campaignStatus": "RUNNING",
            "marketplaceId": campaign.marketplace_id,
            "fundingStrategy": {"fundingModel": "COST_PER_SALE", "bidPercentage": f"{campaign.bid_bp / 100:.1f}"},
            "startDate": f"{campaign.start.isoformat()}T07:00:00.000Z",
            "campaignTargetingType": "MANUAL",
            "channels": ["ON_SITE"],
        }

    def _campaigns(self, environ):
        q = self._query(environ)
        try:
            limit = int(q.get("limit", 10))
            offset = int(q.get("offset", 0))
        except ValueError as exc:
            raise ebay_error(400, 35109, "The 'limit' or 'offset' value is invalid.") from exc
        if not 1 <= limit <= 500 or offset < 0:
            raise ebay_error(400, 35109, "The 'limit' value must be between 1 and 500.")
        items = [self.campaign_json(c) for mp in self.dataset.specs for c in self.dataset.campaigns[mp]]
        page = items[offset : offset + limit]
        body = {
            "campaigns": page,
            "href": f"/sell/marketing/v1/ad_campaign?limit={limit}&offset={offset}",
            "limit": limit,
            "offset": offset,
            "total": len(items),
        }
        if offset + limit < len(items):
            body["next"] = f"/sell/marketing/v1/ad_campaign?limit={limit}&offset={offset + limit}"
        return _Response(200, body)

    # -- report tasks ----------------------------------------------------------------------------------
    def _create_task(self, environ, base: str, grant: dict):
        body = self._json_body(environ)
        report_type = body.get("reportType")
        if report_type not in REPORT_TYPES:
            raise ebay_error(400, 35054, f"The report type '{report_type}' is not supported by this fake.")
        marketplace = body.get("marketplaceId")
        if marketplace not in MARKETPLACE_IDS:
            raise ebay_error(400, 35001, f"The marketplace ID '{marketplace}' is not valid.")
        if grant["marketplace_header"] and grant["marketplace_header"] != marketplace:
            raise ebay_error(400, 35001, "The marketplaceId does not match the X-EBAY-C-MARKETPLACE-ID header.")
        if body.get("reportFormat") != "TSV_GZIP":
            raise ebay_error(400, 35050, "The reportFormat must be TSV_GZIP.")
        funding = body.get("fundingModels") or ["COST_PER_SALE"]
        if funding != ["COST_PER_SALE"]:
            raise ebay_error(400, 35122, "This fake serves the COST_PER_SALE funding model only.")
        allowed, required, annotations = REPORT_TYPES[report_type]
        dimensions = body.get("dimensions") or []
        keys = [d.get("dimensionKey") for d in dimensions if isinstance(d, dict)]
        if not set(keys) <= allowed or not required <= set(keys) or not keys:
            raise ebay_error(
                400,
                35119,
                f"Invalid dimensions {keys} for {report_type}. "
                f"Minimum required dimensionKeys are: {','.join(sorted(required)) or 'day'}",
            )
        for dimension in dimensions:
            bad = set(dimension.get("annotationKeys") or []) - annotations
            if bad:
                raise ebay_error(400, 35120, f"Invalid annotationKeys {sorted(bad)} for {report_type}.")
        metrics = body.get("metricKeys") or []
        if any(m.startswith("cpc_") for m in metrics):
            raise ebay_error(
                400, 35122, "Metrics of the COST_PER_CLICK funding model cannot be combined with COST_PER_SALE."
            )
        if not metrics or not set(metrics) <= CPS_METRICS:
            raise ebay_error(400, 35121, f"Invalid metricKeys {sorted(set(metrics) - CPS_METRICS)}.")
        try:
            start, end = _parse_ts(body["dateFrom"]).date(), _parse_ts(body["dateTo"]).date()
        except (KeyError, TypeError, ValueError) as exc:
            raise ebay_error(400, 35051, "dateFrom and dateTo are required ISO 8601 timestamps.") from exc
        if end < start:
            raise ebay_error(400, 35052, "dateTo must not be before dateFrom.")
        now = self.current_time()
        with self._lock:
            task_id = str(1_800_000_000 + next(self._serial))
            self.tasks[task_id] = {
                "user": grant["user"],
                "body": body,
                "start": start,
                "end": end,
                "status": "PENDING",
                "polls": 0,
                "restatement": self.restatement,
                "now": now,
                "created": now,
                "completed": None,
                "report_id": None,
                "message": None,
            }
        location = f"{base}/api/sell/marketing/v1/ad_report_task/{task_id}"
        return _Response(202, b"", headers=[("Location", location)])

    def _task_status(self, task_id: str, base: str, grant: dict, *, fail: bool):
        with self._lock:
            task = self.tasks.get(task_id)
            if task is None or task["user"] != grant["user"]:
                raise ebay_error(404, 35037, f"The report task {task_id} was not found.")
            if fail and task["status"] != "SUCCESS":
                task["status"] = "FAILED"
                task["message"] = "The report could not be generated. Please try again."
            elif task["status"] in ("PENDING", "IN_PROGRESS"):
                task["polls"] += 1
                if task["polls"] >= self.polls_to_complete:
                    task["status"] = "SUCCESS"
                    task["completed"] = self.current_time()
                    task["report_id"] = str(2_900_000_000 + next(self._serial))
                    self._reports[task["report_id"]] = task_id
                else:
                    task["status"] = "IN_PROGRESS"
            return _Response(200, self.task_json(task_id, base))

    def task_json(self, task_id: str, base: str) -> dict:
        task = self.tasks[task_id]
        body = task["body"]
        out = {
            "reportTaskId": task_id,
            "reportTaskStatus": task["status"],
            "reportType": body["reportType"],
            "reportFormat": body["reportFormat"],
            "marketplaceId": body["marketplaceId"],
            "dateFrom": body["dateFrom"],
            "dateTo": body["dateTo"],
            "dimensions": body.get("dimensions"),
            "metricKeys": body.get("metricKeys"),
            "fundingModels": body.get("fundingModels") or ["COST_PER_SALE"],
            "reportTaskCreationDate": _iso(task["created"]),
            "reportTaskExpectedCompletionDate": _iso(task["created"] + timedelta(minutes=5)),
        }
        if task["message"]:
            out["reportTaskStatusMessage"] = task["message"]
        if task["status"] == "SUCCESS":
            out.update(
                reportId=task["report_id"],
                reportHref=f"{base}/api/sell/marketing/v1/ad_report/{task['report_id']}",
                reportTaskCompletionDate=_iso(task["completed"]),
                reportExpirationDate=_iso(task["completed"] + REPORT_KEEP),
            )
        return out

    # -- the report file -------------------------------------------------------------------------------
    def _download(self, report_id: str, grant: dict, *, truncate: bool):
        with self._lock:
            task = self.tasks.get(self._reports.get(report_id, ""))
        if task is None or task["user"] != grant["user"] or self.current_time() > task["completed"] + REPORT_KEEP:
            raise ebay_error(404, 35038, f"The report {report_id} was not found or has expired.")
        return self._stream(task, truncate=truncate)

    def report_lines(self, task: dict):
        """The report's text lines: a title, the header, the rows (generated lazily)."""
        body = task["body"]
        marketplace = body["marketplaceId"]
        currency = self.dataset.spec(marketplace).currency if marketplace in self.dataset.specs else "USD"
        columns = []
        for dimension in body.get("dimensions") or []:
            columns.append(dimension["dimensionKey"])
            columns.extend(dimension.get("annotationKeys") or [])
        columns.extend(body["metricKeys"])
        title = {"LISTING_PERFORMANCE_REPORT": "Listing performance report"}.get(
            body["reportType"], "Account performance report"
        )
        yield f"{title}\t{marketplace}\t{task['start'].isoformat()} - {task['end'].isoformat()} (MST)"
        yield "\t".join(columns)
        if marketplace not in self.dataset.specs:
            return
        args = (marketplace, task["start"], task["end"], task["now"], task["restatement"])
        if body["reportType"] == "LISTING_PERFORMANCE_REPORT":
            for day, listing, m in self.dataset.listing_rows(*args):
                yield "\t".join(self._cell(c, day, listing, m, currency) for c in columns)
        else:
            for day, m in self.dataset.account_rows(*args):
                yield "\t".join(self._cell(c, day, None, m, currency) for c in columns)

    @staticmethod
    def _cell(column: str, day: date, listing: Listing | None, m: tuple, currency: str) -> str:
        impressions, clicks, sales, amount, fees = m
        if column == "day":
            return day.isoformat()
        if column == "campaign_id":
            return listing.campaign.campaign_id
        if column == "campaign_name":
            return listing.campaign.name
        if column == "campaign_start_date":
            return listing.campaign.start.isoformat()
        if column == "campaign_end_date":
            return ""
        if column == "listing_id":
            return listing.listing_id
        if column == "listing_title":
            return listing.title
        if column == "listing_quantity_sold":
            return str(sales)
        if column == "impressions":
            return str(impressions)
        if column == "clicks":
            return str(clicks)
        if column == "ctr":
            return f"{Decimal(clicks * 100) / impressions:.2f}" if impressions else "0.00"
        if column == "sales":
            return str(sales)
        if column == "sale_amount":
            return f"{currency} {money(amount):.2f}"
        if column == "ad_fees":
            return f"{currency} {money(fees):.2f}"
        if column == "avg_cost_per_sale":
            return f"{currency} {money(fees // sales if sales else 0):.2f}"
        return ""

    def _stream(self, task: dict, *, truncate: bool):
        lines = self.report_lines(task)
        if truncate:  # the connection drops: the first part of the gzip arrives, its end never does
            blob = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
            return iter([blob[: max(20, len(blob) // 2)]])
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: a gzip container

        def chunks():
            for batch in _batched(lines, 500):
                out = compressor.compress(("\n".join(batch) + "\n").encode())
                if out:
                    yield out
            yield compressor.flush()

        return chunks()

    # -- orders ----------------------------------------------------------------------------------------
    def order_json(self, order: Order, state: OrderState) -> dict:
        currency = order.currency
        cancelled = state.cancelled_at is not None
        refunded = state.refunded
        if cancelled or refunded >= order.total:
            payment = "FULLY_REFUNDED"
        elif refunded:
            payment = "PARTIALLY_REFUNDED"
        else:
            payment = "PAID"
        lines = []
        for line in order.lines:
            listing = line.listing
            lines.append(
                {
                    "lineItemId": line.line_item_id,
                    "legacyItemId": listing.listing_id,
                    "sku": listing.sku,
                    "title": listing.title,
                    "lineItemCost": _amount(line.amount, currency),
                    "quantity": line.quantity,
                    "soldFormat": "FIXED_PRICE",
                    "listingMarketplaceId": order.marketplace_id,
                    "purchaseMarketplaceId": order.marketplace_id,
                    "lineItemFulfillmentStatus": "FULFILLED" if state.shipped else "NOT_STARTED",
                    "total": _amount(line.amount, currency),
                    "deliveryCost": {"shippingCost": _amount(0, currency)},
                    "appliedPromotions": [],
                    "taxes": [],
                    "refunds": [],
                    "properties": {"buyerProtection": True, **({"soldViaAdCampaign": True} if line.via_ad else {})},
                }
            )
        return {
            "orderId": order.order_id,
            "legacyOrderId": order.order_id,
            "creationDate": _iso(order.created_at),
            "lastModifiedDate": _iso(state.updated_at),
            "orderFulfillmentStatus": "FULFILLED" if state.shipped else "NOT_STARTED",
            "orderPaymentStatus": payment,
            "sellerId": self.dataset.username,
            "buyer": {"username": order.buyer},
            "pricingSummary": {
                "priceSubtotal": _amount(order.subtotal, currency),
                "deliveryCost": _amount(order.delivery, currency),
                "total": _amount(order.total, currency),
            },
            "cancelStatus": {
                "cancelState": "CANCELED" if cancelled else "NONE_REQUESTED",
                "cancelRequests": [],
                **({"cancelledDate": _iso(state.cancelled_at)} if cancelled else {}),
            },
            "paymentSummary": {
                "totalDueSeller": _amount(order.total - refunded, currency),
                "refunds": [
                    {
                        "refundId": f"{order.order_id}-R{i}",
                        "refundDate": _iso(at),
                        "amount": _amount(value, currency),
                        "refundStatus": "REFUNDED",
                    }
                    for i, (at, value) in enumerate(state.refunds, 1)
                ],
                "payments": [
                    {
                        "paymentMethod": "EBAY",
                        "paymentStatus": "PAID",
                        "paymentDate": _iso(order.created_at),
                        "amount": _amount(order.total, currency),
                    }
                ],
            },
            "fulfillmentHrefs": [],
            "salesRecordReference": str(order.sales_record),
            "lineItems": lines,
        }

    def _orders(self, environ, base: str):
        q = self._query(environ)
        try:
            limit = int(q.get("limit", 50))
            offset = int(q.get("offset", 0))
        except ValueError as exc:
            raise ebay_error(400, 30700, "Invalid limit or offset.", domain="API_FULFILLMENT") from exc
        if not 1 <= limit <= 200:
            raise ebay_error(
                400, 30700, f"Invalid limit. Supported ranges 1 - 200. Provided: {limit}", domain="API_FULFILLMENT"
            )
        if offset < 0:
            raise ebay_error(400, 30700, "Invalid offset.", domain="API_FULFILLMENT")
        bounds = {}
        for name, value in _FILTER.findall(q.get("filter", "")):
            low, _, high = value.partition("..")
            try:
                bounds[name] = (_parse_ts(low) if low else None, _parse_ts(high) if high else None)
            except ValueError as exc:
                raise ebay_error(
                    400, 30800, f"Invalid filter value for {name}: {value}", domain="API_FULFILLMENT"
                ) from exc
        if q.get("filter") and not bounds:
            raise ebay_error(400, 30800, f"Invalid filter: {q['filter']}", domain="API_FULFILLMENT")
        now = self.current_time()
        if "creationdate" in bounds:  # eBay: with both, only creationdate is used
            field, (low, high) = "created", bounds["creationdate"]
        elif "lastmodifieddate" in bounds:
            field, (low, high) = "modified", bounds["lastmodifieddate"]
        else:  # no filter: orders created in the last 90 days
            field, low, high = "created", now - timedelta(days=90), None
        key = (field, low, high, now, self._orders_version)
        cached = self._orders_cache
        if cached and cached[0] == key:
            matching = cached[1]
        else:
            matching = []
            for order, state in self.visible_orders():
                moment = order.created_at if field == "created" else state.updated_at
                if (low is None or moment >= low) and (high is None or moment <= high):
                    matching.append((order, state))
            self._orders_cache = (key, matching)
        page = matching[offset : offset + limit]
        query = {k: v for k, v in q.items() if k not in ("offset",)}
        body = {
            "href": f"{base}/api/sell/fulfillment/v1/order?{urlencode({**query, 'offset': offset})}",
            "total": len(matching),
            "limit": limit,
            "offset": offset,
            "orders": [self.order_json(order, state) for order, state in page],
        }
        url = f"{base}/api/sell/fulfillment/v1/order?"
        if offset + limit < len(matching):
            body["next"] = url + urlencode({**query, "offset": offset + limit})
        if offset:
            body["prev"] = url + urlencode({**query, "offset": max(0, offset - limit)})
        return _Response(200, body)


def _batched(iterable, n):
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, n)):
        yield batch


def make_app(public_url: str = "", **kwargs) -> FakeEbay:
    """The WSGI app. ``public_url`` is where it is reachable; empty: derived from each request's host.

    Under Django, the app credentials and RuName in ``settings.PLATFORMS["ebay"]`` are registered too, the
    RuName pointing back at our connect callback (``accepted_url`` in that entry overrides it).
    """
    app = FakeEbay(public_url, **kwargs)
    for client_id in app.clients:
        app.register_ru_name(RU_NAME, client_id=client_id, accepted_url="http://127.0.0.1:8000/connect/ebay/callback/")
    try:
        from django.conf import settings
        from django.urls import reverse

        conf = settings.PLATFORMS.get("ebay") or {}
        if conf.get("client_id"):
            app.clients.setdefault(conf["client_id"], conf.get("client_secret", ""))
            accepted = conf.get("accepted_url") or settings.SITE_URL.rstrip("/") + reverse(
                "connect_callback", kwargs={"platform": "ebay"}
            )
            app.register_ru_name(conf.get("ru_name") or RU_NAME, client_id=conf["client_id"], accepted_url=accepted)
    except Exception:  # noqa: BLE001 - outside Django the fake's own defaults apply
        pass
    return app
