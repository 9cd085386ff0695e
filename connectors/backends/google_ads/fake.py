"""A local Google Ads API (Google OAuth 2.0 + Google Ads REST) for tests, benchmarks and the demo.

Standard library only: ``make_app(public_url)`` returns a WSGI app serving, under its own prefix,

- ``GET /o/oauth2/v2/auth``: the consent page (Allow and Deny), checking the client, ``response_type=code``
  and the ``adwords`` scope; ``POST /o/oauth2/v2/auth/decision`` redirects back with ``code``, ``scope`` and
  ``state`` (or ``error=access_denied``). A refresh token is issued only for ``access_type=offline``.
- ``POST /token``: form-encoded ``authorization_code`` (a code works once, for 10 minutes) and
  ``refresh_token`` grants; access tokens last 3600 s; ``invalid_grant`` ("Token has been expired or
  revoked.") for an unknown or revoked refresh token; ``invalid_client`` for a wrong secret.
  ``POST /revoke`` revokes a grant.
- ``GET /api/{version}/customers:listAccessibleCustomers``: the customers the Google user reaches directly.
- ``POST /api/{version}/customers/{id}/googleAds:search`` (pages of ``page_size`` rows with
  ``nextPageToken``) and ``:searchStream`` (a JSON *array* of batches of ``batch_size`` rows, streamed),
  answering the GAQL our client sends: ``SELECT`` fields, ``FROM`` resource, ``WHERE`` conditions joined
  by AND (``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``IN``, ``NOT IN``, ``BETWEEN``, ``DURING``), ``LIMIT``.
  Rows are nested lowerCamelCase objects with ``resourceName``; int64 values are JSON strings, doubles
  numbers; rows whose metrics are all zero are left out; without ``segments.date`` metrics are summed over
  the date range (all time without one); ``segments.date`` needs a date filter.
- ``POST /api/{version}/customers/{id}/{campaignBudgets|adGroupCriteria|campaignCriteria}:mutate`` with
  ``validateOnly`` (checked, nothing applied, no results), ``partialFailure`` (valid operations applied,
  failed ones get an empty result and an error in ``partialFailureError``; without it one bad operation
  rejects the request, HTTP 400) and the ``updateMask`` rule (an update needs one; only listed fields change).

Every API call needs ``Authorization: Bearer <live token>`` (401 UNAUTHENTICATED otherwise) and the app's
``developer-token`` (403 DEVELOPER_TOKEN_INVALID otherwise). The demo user reaches the manager account
directly; its client accounts need ``login-customer-id: <manager id>`` (403 USER_PERMISSION_DENIED
otherwise). Errors use Google's envelope ``{"error": {"code", "message", "status", "details":
[GoogleAdsFailure]}}`` (inside a JSON array for searchStream); quota errors carry
``quotaErrorDetails.retryDelay``.

Some error names are inferred, not confirmed (see platform-apis.md section 13): the HTTP status of
DEVELOPER_TOKEN_INVALID, the mutate validation codes (``campaignBudgetError``, ``biddingError``,
``criterionError``), ``INVALID_PAGE_TOKEN``.

Test hooks: ``app.faults.add(endpoint, kind, times=1, after=0, **params)`` (see ``Faults``);
``app.restatement += 1`` restates recent conversions; ``app.expire_access_tokens()``; ``app.revoke_all()``;
``app.clock_offset``; ``app.throttle_every = n`` (every n-th API call answers a quota error with
``retryDelay: "1s"``); ``app.page_size`` / ``app.batch_size``; ``app.accessible`` (the customers a newly
consenting user reaches directly); ``app.requests`` logs (method, path, status, headers we care about).
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from datetime import date, timedelta
from urllib.parse import parse_qs, urlencode

from connectors.backends.google_ads.demo_data import MANAGER_ID, Dataset

CLIENTS = {"chuhai-fake-google_ads_client_id": "chuhai-fake-google_ads_client_secret"}
DEVELOPER_TOKENS = {"chuhai-fake-google_ads_developer_token"}
SCOPE = "https://www.googleapis.com/auth/adwords"
ACCESS_TTL = 3600
CODE_TTL = 600
SUPPORTED_VERSIONS = frozenset(f"v{n}" for n in range(20, 27))
DEFAULT_PAGE_SIZE = 10_000  # fixed by Google since v17; settable here so tests can page

DEMO_REFRESH_TOKEN = "1//chuhai-demo-seller-google-ads"
DEMO_ACCESS_TOKEN = "ya29.chuhai-demo-seller-google-ads"
# What GoogleAdsBackend.exchange_code returns for the demo seller; allow_demo() makes both tokens work forever.
DEMO_CREDENTIALS = {
    "access_token": DEMO_ACCESS_TOKEN,
    "refresh_token": DEMO_REFRESH_TOKEN,
    "token_type": "Bearer",
    "scope": SCOPE,
    "expires_at": 4102444800.0,  # 2100-01-01: the fake never expires the demo token
}

ENDPOINTS = ("token", "accessible", "search", "search_stream", "mutate")
FAULT_KINDS = ("quota", "quota_temporary", "500", "503", "slow", "revoke", "expire", "cut", "stream_error")


class Faults:
    """One-shot faults, queued per endpoint, each taken by a matching request once ``after`` others passed.

    endpoint: token | accessible | search | search_stream | mutate.
    kind: ``quota`` (429 RESOURCE_EXHAUSTED with ``retryDelay`` of ``retry_delay`` seconds, default 1),
    ``quota_temporary`` (the same, RESOURCE_TEMPORARILY_EXHAUSTED), ``500`` (INTERNAL_ERROR), ``503``
    (UNAVAILABLE), ``slow`` (sleep ``seconds`` then 503: a client with a shorter timeout sees a timeout),
    ``revoke`` (every grant revoked, then the request handled), ``expire`` (access tokens expired first),
    ``cut`` (searchStream: the first batch arrives, then the connection ends without closing the array),
    ``stream_error`` (searchStream: the first batch, then an INTERNAL error element, as Google ends a failed
    stream).
    """

    def __init__(self):
        self._queues: dict[str, deque] = {}
        self._lock = threading.Lock()

    def add(self, endpoint: str, kind: str, *, times: int = 1, after: int = 0, **params) -> None:
        if endpoint not in ENDPOINTS or kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {endpoint}/{kind}")
        with self._lock:
            queue = self._queues.setdefault(endpoint, deque())
            for i in range(times):
                queue.append([after if i == 0 else 0, kind, params])

    def take(self, endpoint: str):
        with self._lock:
            queue = self._queues.get(endpoint)
            if not queue:
                return None
            if queue[0][0] > 0:
                queue[0][0] -= 1
                return None
            _after, kind, params = queue.popleft()
            return kind, params

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())


class _Response(Exception):
    def __init__(self, status: int, body, headers=None, content_type="application/json; charset=UTF-8"):
        self.status, self.body, self.headers, self.content_type = status, body, headers or [], content_type


_REASONS = {
    200: "OK",
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
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip


class AdsFault(Exception):
    """A Google Ads API error: the HTTP status and the GoogleAdsFailure's errors."""

    def __init__(self, http_status: int, errors: list[dict], message: str = ""):
        super().__init__(message)
        self.http_status, self.errors = http_status, errors
        self.message = message or (errors[0]["message"] if errors else "")


UNAVAILABLE = "The service is currently unavailable."
BAD_PAGE_TOKEN = "Page token is invalid."


def ads_error(family: str, code: str, message: str, **extra) -> dict:
    return {"errorCode": {family: code}, "message": message, **extra}


def _query_error(code: str, message: str) -> AdsFault:
    return AdsFault(400, [ads_error("queryError", code, message)])


# --- GAQL ---------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<num>-?\d+(?:\.\d+)?)(?![\w.])"
    r"|(?P<op>>=|<=|!=|=|<|>|\(|\)|,)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "ORDER", "BY", "LIMIT", "PARAMETERS", "BETWEEN", "IN", "NOT",
             "DURING", "IS", "NULL", "ASC", "DESC", "LIKE"}  # fmt: skip


class Query:
    """A parsed GAQL query: ``select`` fields, ``resource``, ``where`` [(field, op, value)], ``limit``."""

    def __init__(self, select: list[str], resource: str, where: list[tuple], limit: int | None):
        self.select, self.resource, self.where, self.limit = select, resource, where, limit


def _tokens(text: str) -> list[tuple[str, object]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise _query_error("UNEXPECTED_INPUT", f"Error in query: unexpected input {text[pos : pos + 20]}.")
        pos = match.end()
        if match.group("str") is not None:
            out.append(("value", match.group("str")[1:-1].replace("\\'", "'").replace('\\"', '"')))
        elif match.group("num") is not None:
            num = match.group("num")
            out.append(("value", float(num) if "." in num else int(num)))
        elif match.group("op") is not None:
            out.append(("op", match.group("op")))
        else:
            word = match.group("word")
            if word.upper() in _KEYWORDS:
                out.append(("kw", word.upper()))
            elif word.upper() in ("TRUE", "FALSE"):
                out.append(("value", word.upper() == "TRUE"))
            else:
                out.append(("word", word))
    return out


def parse_gaql(text: str) -> Query:
    tokens = _tokens(text)
    i = 0

    def peek(kind=None, value=None):
        if i >= len(tokens):
            return None
        tok = tokens[i]
        if (kind is None or tok[0] == kind) and (value is None or tok[1] == value):
            return tok
        return None

    def take(kind=None, value=None, error=("UNEXPECTED_END_OF_QUERY", "Error in query: unexpected end of query.")):
        nonlocal i
        tok = peek(kind, value)
        if tok is None:
            raise _query_error(*error)
        i += 1
        return tok

    take("kw", "SELECT", error=("EXPECTED_SELECT", "Error in query: SELECT is missing."))
    select = [take("word", error=("BAD_FIELD_NAME", "Error in SELECT clause: invalid field name."))[1]]
    while peek("op", ","):
        i += 1
        select.append(take("word", error=("BAD_FIELD_NAME", "Error in SELECT clause: invalid field name."))[1])
    take("kw", "FROM", error=("EXPECTED_FROM", "Error in query: FROM is missing."))
    resource = take("word", error=("BAD_RESOURCE_TYPE_IN_FROM_CLAUSE", "Error in FROM clause: invalid resource."))[1]
    where: list[tuple] = []
    limit = None
    if peek("kw", "WHERE"):
        i += 1
        while True:
            name = take("word", error=("BAD_FIELD_NAME", "Error in WHERE clause: invalid field name."))[1]
            if peek("kw", "BETWEEN"):
                i += 1
                low = take("value", error=("EXPECTED_VALUE_WITH_BETWEEN_OPERATOR", "BETWEEN needs two values."))[1]
                take("kw", "AND", error=("EXPECTED_AND", "Expected AND between values with BETWEEN operator."))
                high = take("value", error=("EXPECTED_VALUE_WITH_BETWEEN_OPERATOR", "BETWEEN needs two values."))[1]
                where.append((name, "BETWEEN", (low, high)))
            elif peek("kw", "IN") or peek("kw", "NOT"):
                negate = bool(peek("kw", "NOT"))
                i += 2 if negate else 1
                take("op", "(", error=("EXPECTED_LIST", "The IN operator needs a list."))
                values = [take("value")[1] if not peek("word") else take("word")[1]]
                while peek("op", ","):
                    i += 1
                    values.append(take("value")[1] if not peek("word") else take("word")[1])
                take("op", ")", error=("EXPECTED_LIST", "The IN operator needs a list."))
                where.append((name, "NOT IN" if negate else "IN", tuple(values)))
            elif peek("kw", "DURING"):
                i += 1
                where.append((name, "DURING", take("word")[1]))
            elif peek("kw", "IS"):
                i += 1
                negate = bool(peek("kw", "NOT"))
                i += 1 if negate else 0
                take("kw", "NULL")
                where.append((name, "IS NOT NULL" if negate else "IS NULL", None))
            else:
                op = take("op", error=("BAD_OPERATOR", "Error in WHERE clause: invalid operator."))[1]
                if op not in ("=", "!=", "<", "<=", ">", ">="):
                    raise _query_error("BAD_OPERATOR", f"Error in WHERE clause: invalid operator {op}.")
                value = take("word")[1] if peek("word") else take("value")[1]
                where.append((name, op, value))
            if peek("kw", "AND"):
                i += 1
                continue
            break
    if peek("kw", "ORDER"):  # accepted and ignored: rows come in the fake's own (stable) order
        i += 1
        take("kw", "BY", error=("EXPECTED_BY", "Expecting ORDER BY to have BY."))
        while peek("word") or peek("op", ",") or peek("kw", "ASC") or peek("kw", "DESC"):
            i += 1
    if peek("kw", "LIMIT"):
        i += 1
        value = take("value", error=("BAD_LIMIT_VALUE", "Limit value is invalid."))[1]
        if not isinstance(value, int) or value <= 0:
            raise _query_error("BAD_LIMIT_VALUE", "Limit value is invalid.")
        limit = value
    if peek("kw", "PARAMETERS"):
        i = len(tokens)
    if i != len(tokens):
        raise _query_error("UNEXPECTED_INPUT", f"Error in query: unexpected input {tokens[i][1]!r}.")
    return Query(select, resource, where, limit)


# --- what each resource serves ------------------------------------------------------------------------------


def _fields(prefix: str, names: str) -> frozenset[str]:
    return frozenset(f"{prefix}.{n}" for n in names.split())


CUSTOMER = _fields("customer", "resource_name id descriptive_name currency_code time_zone manager test_account status")
CAMPAIGN = _fields(
    "campaign",
    "resource_name id name status advertising_channel_type bidding_strategy_type campaign_budget final_url_suffix",
)
BUDGET = _fields("campaign_budget", "resource_name id name amount_micros period")
AD_GROUP = _fields("ad_group", "resource_name id name status type cpc_bid_micros campaign")
AD_GROUP_CRITERION = _fields(
    "ad_group_criterion",
    "resource_name criterion_id status type negative ad_group keyword.text keyword.match_type cpc_bid_micros "
    "effective_cpc_bid_micros listing_group.type",
)
CAMPAIGN_CRITERION = _fields(
    "campaign_criterion",
    "resource_name criterion_id type negative status campaign keyword.text keyword.match_type "
    "location.geo_target_constant",
)
KEYWORD_VIEW = _fields("keyword_view", "resource_name")
SEARCH_TERM_VIEW = _fields("search_term_view", "resource_name search_term status ad_group")
KEYWORD_SEGMENTS = _fields("segments", "keyword.ad_group_criterion keyword.info.text keyword.info.match_type")
CONVERSION_ACTION = _fields(
    "conversion_action",
    "resource_name id name category type status include_in_conversions_metric click_through_lookback_window_days "
    "view_through_lookback_window_days",
)
CUSTOMER_CLIENT = _fields(
    "customer_client",
    "resource_name client_customer id descriptive_name currency_code time_zone manager level status test_account "
    "hidden",
)
METRICS = ("metrics.impressions", "metrics.clicks", "metrics.cost_micros", "metrics.conversions",
           "metrics.conversions_value")  # fmt: skip
DATE = "segments.date"

# resource -> (fields it serves besides metrics and segments.date, whether it has metrics)
RESOURCES: dict[str, tuple[frozenset[str], bool]] = {
    "customer": (CUSTOMER, True),
    "customer_client": (CUSTOMER | CUSTOMER_CLIENT, False),
    "campaign": (CUSTOMER | CAMPAIGN | BUDGET, True),
    "ad_group": (CUSTOMER | CAMPAIGN | BUDGET | AD_GROUP, True),
    "ad_group_criterion": (CUSTOMER | CAMPAIGN | AD_GROUP | AD_GROUP_CRITERION, False),
    "campaign_criterion": (CUSTOMER | CAMPAIGN | CAMPAIGN_CRITERION, False),
    "keyword_view": (CUSTOMER | CAMPAIGN | AD_GROUP | AD_GROUP_CRITERION | KEYWORD_VIEW, True),
    "search_term_view": (CUSTOMER | CAMPAIGN | AD_GROUP | SEARCH_TERM_VIEW | KEYWORD_SEGMENTS, True),
    "conversion_action": (CUSTOMER | CONVERSION_ACTION, False),
}
INT64 = frozenset(
    {f for f in set().union(*(r[0] for r in RESOURCES.values())) if f.endswith((".id", "_micros", "_days"))}
    | {"ad_group_criterion.criterion_id", "campaign_criterion.criterion_id", "customer_client.level"}
    | {"metrics.impressions", "metrics.clicks", "metrics.cost_micros"}
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _path(field: str) -> tuple[str, ...]:
    return tuple(_camel(part) for part in field.split("."))


def _field_mask(select: list[str]) -> str:
    return ",".join(".".join(_path(f)) for f in select)


_METRIC_INDEX = {name: i for i, name in enumerate(METRICS)}


def _metric_value(index: int, m) -> object:
    if index <= 2:
        return str(m[index])
    return m[index] / 100  # conversions (hundredths) and conversion value (cents) are doubles


def _row_builder(select: list[str]):
    """A function (attrs, day, metrics) -> the nested lowerCamelCase row Google sends for ``select``."""
    plan = []
    resources = []
    for field in select:
        path = _path(field)
        if field in _METRIC_INDEX:
            plan.append((path, "metric", _METRIC_INDEX[field]))
        elif field == DATE:
            plan.append((path, "date", None))
        else:
            plan.append((path, "attr", field))
            prefix = field.split(".")[0]
            if prefix not in ("segments", "metrics") and prefix not in resources:
                resources.append(prefix)
    for prefix in resources:  # Google sends each selected resource's resourceName as well
        plan.insert(0, ((_camel(prefix), "resourceName"), "attr", f"{prefix}.resource_name"))

    def build(attrs: dict, day: date | None, m) -> dict:
        out: dict = {}
        for path, kind, key in plan:
            if kind == "metric":
                value = _metric_value(key, m)
            elif kind == "date":
                value = day.isoformat()
            else:
                value = attrs.get(key)
                if value is None:
                    continue  # unset fields are left out of the JSON
                if key in INT64:
                    value = str(value)
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        return out

    return build


def _compare(actual, op: str, wanted) -> bool:
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:
        return op in ("!=", "NOT IN")
    if isinstance(actual, bool):
        wanted = wanted if isinstance(wanted, bool) else str(wanted).upper() == "TRUE"
    elif isinstance(actual, int) and not isinstance(wanted, (tuple, bool)):
        try:
            wanted = int(wanted)
        except (TypeError, ValueError):
            return False
    elif isinstance(wanted, tuple):
        wanted = tuple(str(w) for w in wanted)
        actual = str(actual)
    if op == "=":
        return actual == wanted
    if op == "!=":
        return actual != wanted
    if op == "IN":
        return actual in wanted
    if op == "NOT IN":
        return actual not in wanted
    try:
        return {"<": actual < wanted, "<=": actual <= wanted, ">": actual > wanted, ">=": actual >= wanted}[op]
    except TypeError:
        return False


def _parse_day(value) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise _query_error("INVALID_DATE_FORMAT", "Invalid date format. Expected 'YYYY-MM-DD'.") from exc


_DURING = {"TODAY": (0, 0), "YESTERDAY": (1, 1), "LAST_7_DAYS": (7, 1), "LAST_14_DAYS": (14, 1),
           "LAST_30_DAYS": (30, 1)}  # fmt: skip


def date_range(where: list[tuple], today: date) -> tuple[date | None, date | None, bool]:
    """(start, end, filtered) from the query's segments.date conditions."""
    start = end = None
    filtered = False
    for name, op, value in where:
        if name != DATE:
            continue
        filtered = True
        if op == "BETWEEN":
            low, high = _parse_day(value[0]), _parse_day(value[1])
            start, end = max(start or low, low), min(end or high, high)
        elif op == "=":
            day = _parse_day(value)
            start, end = day, day
        elif op in (">=", ">"):
            day = _parse_day(value) + timedelta(days=1 if op == ">" else 0)
            start = max(start or day, day)
        elif op in ("<=", "<"):
            day = _parse_day(value) - timedelta(days=1 if op == "<" else 0)
            end = min(end or day, day)
        elif op == "DURING" and str(value).upper() in _DURING:
            back, to = _DURING[str(value).upper()]
            start, end = today - timedelta(days=back), today - timedelta(days=to)
        else:
            raise _query_error("BAD_OPERATOR", f"Unsupported operator {op} on segments.date.")
    if start and end and start > end:
        raise _query_error("DATE_RANGE_TOO_NARROW", "Filters on date have a start date after end date.")
    return start, end, filtered


# --- the app ------------------------------------------------------------------------------------------------


class FakeGoogleAds:
    def __init__(self, public_url: str = "", *, dataset: Dataset | None = None, throttle_every: int = 0):
        self.public_url = public_url.rstrip("/")
        self.dataset = dataset or Dataset()
        self.throttle_every = throttle_every
        self.page_size = DEFAULT_PAGE_SIZE
        self.batch_size = DEFAULT_PAGE_SIZE
        self.versions = set(SUPPORTED_VERSIONS)
        self.faults = Faults()
        self.restatement = 0
        self.clock_offset = 0.0
        self.clients = dict(CLIENTS)
        self.developer_tokens = set(DEVELOPER_TOKENS)
        self.accessible = [MANAGER_ID]  # the customers a user who consents now reaches directly
        self.requests: list[tuple[str, str, int, dict]] = []
        self.token_grants: list[str] = []
        self.mutations: list[dict] = []  # every applied mutate request's body
        self._api_calls = 0
        self._lock = threading.Lock()
        self._codes: dict[str, dict] = {}
        self._refresh: dict[str, dict] = {}  # refresh token -> {client_id, customers, revoked}
        self._access: dict[str, dict] = {}  # access token -> {refresh, client_id, expires}

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

    def allow_demo(self) -> None:
        """Accept the demo seller's standing grant (DEMO_CREDENTIALS) forever."""
        with self._lock:
            client_id = next(iter(self.clients))
            self._refresh[DEMO_REFRESH_TOKEN] = {"client_id": client_id, "customers": [MANAGER_ID], "revoked": False}
            self._access[DEMO_ACCESS_TOKEN] = {
                "refresh": DEMO_REFRESH_TOKEN,
                "client_id": client_id,
                "expires": float("inf"),
            }
        from django.conf import settings

        conf = settings.PLATFORMS.get("google_ads", {})
        if conf.get("client_id") and conf["client_id"] not in self.clients:
            self.clients[conf["client_id"]] = conf.get("client_secret", "")
            self._refresh[DEMO_REFRESH_TOKEN]["client_id"] = conf["client_id"]
            self._access[DEMO_ACCESS_TOKEN]["client_id"] = conf["client_id"]
        if conf.get("developer_token"):
            self.developer_tokens.add(conf["developer_token"])

    def grant(self, customers: list[int] | None = None) -> dict:
        """Issue a grant without the consent page (tests): the credentials our exchange would store."""
        client_id = next(iter(self.clients))
        refresh, access = "1//" + secrets.token_urlsafe(40), "ya29." + secrets.token_urlsafe(60)
        with self._lock:
            self._refresh[refresh] = {
                "client_id": client_id,
                "customers": list(customers or self.accessible),
                "revoked": False,
            }
            self._access[access] = {"refresh": refresh, "client_id": client_id, "expires": self.now() + ACCESS_TTL}
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "scope": SCOPE,
            "expires_at": self.now() + ACCESS_TTL,
        }

    # -- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "") or "/"
        base = self.public_url or self._url_from(environ)
        seen = {
            "login-customer-id": environ.get("HTTP_LOGIN_CUSTOMER_ID"),
            "developer-token": environ.get("HTTP_DEVELOPER_TOKEN"),
        }
        request_id = uuid.uuid4().hex[:22]
        try:
            result = self._route(method, path, environ, base, request_id)
        except AdsFault as fault:
            result = self._fault_response(fault, path, request_id)
        except _Response as response:
            result = response
        if callable(getattr(result, "__next__", None)):  # a streamed searchStream
            self.requests.append((method, path, 200, seen))
            start_response("200 OK", [("Content-Type", "application/json; charset=UTF-8"), ("request-id", request_id)])
            return result
        self.requests.append((method, path, result.status, seen))
        body = result.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        headers = [
            ("Content-Type", result.content_type),
            ("Content-Length", str(len(body))),
            ("request-id", request_id),
            *result.headers,
        ]
        start_response(f"{result.status} {_REASONS.get(result.status, 'Unknown')}", headers)
        return [body]

    @staticmethod
    def _url_from(environ) -> str:
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('SCRIPT_NAME', '')}".rstrip("/")

    def api_calls(self, kind: str | None = None) -> list[tuple]:
        """The logged API requests (``search``, ``searchStream``, ``mutate``, ``listAccessibleCustomers``)."""
        calls = [r for r in self.requests if r[1].startswith("/api/")]
        return [r for r in calls if kind is None or r[1].endswith(kind)]

    _API = re.compile(r"^/api/(?P<version>v\d+)/customers(?::(?P<list>listAccessibleCustomers)|/(?P<cid>[^/:]+)"
                      r"/(?P<service>googleAds|\w+):(?P<method>\w+))$")  # fmt: skip

    def _route(self, method, path, environ, base, request_id):
        if path == "/o/oauth2/v2/auth" and method == "GET":
            return self._consent_page(environ, base)
        if path == "/o/oauth2/v2/auth/decision" and method == "POST":
            return self._consent_decision(environ)
        if path == "/token" and method == "POST":
            self._fault("token", request_id=request_id)
            return self._token(environ)
        if path == "/revoke" and method == "POST":
            return self._revoke(environ)
        match = self._API.match(path)
        if not path.startswith("/api/") or match is None:
            raise _Response(
                404,
                "<!DOCTYPE html><html><title>Error 404 (Not Found)!!1</title><p>The requested URL was not found on "
                "this server.</p></html>",
                content_type="text/html; charset=UTF-8",
            )
        version = match.group("version")
        if version not in self.versions:
            raise _Response(404, f"<!DOCTYPE html><p>{html.escape(version)}: not found.</p>", content_type="text/html")
        if method != ("GET" if match.group("list") else "POST"):
            raise _Response(405, {"error": {"code": 405, "message": "Method not allowed", "status": "UNIMPLEMENTED"}})
        if match.group("list"):
            fault = self._fault("accessible", request_id=request_id)
            grant = self._authenticate(environ, fault)
            return _Response(200, {"resourceNames": [f"customers/{c}" for c in grant["customers"]]})
        endpoint = {"search": "search", "searchStream": "search_stream", "mutate": "mutate"}.get(match.group("method"))
        if endpoint is None:
            raise AdsFault(404, [ads_error("requestError", "UNKNOWN", f"Unknown method {match.group('method')}.")])
        fault = self._fault(endpoint, request_id=request_id)
        grant = self._authenticate(environ, fault)
        self._throttle()
        customer_id = self._authorize_customer(grant, match.group("cid"), environ)
        body = self._json(environ)
        if endpoint == "mutate":
            return self._mutate(customer_id, match.group("service"), body, request_id, version)
        if match.group("service") != "googleAds":
            raise AdsFault(404, [ads_error("requestError", "UNKNOWN", "Unknown service.")])
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise AdsFault(400, [ads_error("requestError", "REQUIRED_FIELD_MISSING", "The query is required.")])
        parsed = parse_gaql(query)
        if endpoint == "search":
            return self._search(customer_id, parsed, query, body, request_id)
        rows = self._execute(customer_id, parsed)  # errors are raised here, before the stream starts
        return self._stream(rows, parsed, request_id, version, fault)

    # -- faults ----------------------------------------------------------------------------------------
    def _fault(self, endpoint: str, *, request_id: str) -> str | None:
        taken = self.faults.take(endpoint)
        if taken is None:
            return None
        kind, params = taken
        if kind in ("quota", "quota_temporary"):
            raise self._quota_fault(
                "RESOURCE_EXHAUSTED" if kind == "quota" else "RESOURCE_TEMPORARILY_EXHAUSTED",
                params.get("retry_delay", 1),
            )
        if kind == "500":
            raise AdsFault(500, [ads_error("internalError", "INTERNAL_ERROR", "Internal error encountered.")])
        if kind == "503":
            raise AdsFault(503, [ads_error("internalError", "TRANSIENT_ERROR", UNAVAILABLE)])
        if kind == "slow":
            time.sleep(params.get("seconds", 1.0))
            raise AdsFault(503, [ads_error("internalError", "TRANSIENT_ERROR", UNAVAILABLE)])
        if kind == "revoke":
            self.revoke_all()
        if kind == "expire":
            self.expire_access_tokens()
        return kind

    @staticmethod
    def _quota_fault(code: str, delay) -> AdsFault:
        return AdsFault(
            429,
            [
                ads_error(
                    "quotaError",
                    code,
                    f"Too many requests. Retry in {delay} seconds.",
                    details={
                        "quotaErrorDetails": {
                            "rateScope": "DEVELOPER",
                            "rateName": "Number of operations for basic access",
                            "retryDelay": f"{delay}s",
                        }
                    },
                )
            ],
            "Resource has been exhausted (e.g. check quota).",
        )

    def _throttle(self) -> None:
        with self._lock:
            self._api_calls += 1
            throttled = self.throttle_every and self._api_calls % self.throttle_every == 0
        if throttled:
            raise self._quota_fault("RESOURCE_TEMPORARILY_EXHAUSTED", 1)

    def _failure_body(self, fault: AdsFault, request_id: str, version: str = "v26") -> dict:
        status = _STATUS.get(fault.http_status, "UNKNOWN")
        return {
            "error": {
                "code": fault.http_status,
                "message": fault.message if fault.http_status != 400 else "Request contains an invalid argument.",
                "status": status,
                "details": [
                    {
                        "@type": f"type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure",
                        "errors": fault.errors,
                        "requestId": request_id,
                    }
                ],
            }
        }

    def _fault_response(self, fault: AdsFault, path: str, request_id: str) -> _Response:
        match = self._API.match(path)
        version = match.group("version") if match else "v26"
        body = self._failure_body(fault, request_id, version)
        if path.endswith(":searchStream"):
            body = [body]  # a stream's error arrives as the array's only element
        return _Response(fault.http_status, body)

    # -- OAuth -----------------------------------------------------------------------------------------
    def _consent_page(self, environ, base):
        q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if q.get("client_id") not in self.clients:
            raise _Response(
                401,
                "<h1>Access blocked: authorisation error</h1><p>Error 401: invalid_client</p>",
                content_type="text/html",
            )
        if q.get("response_type") != "code" or not q.get("redirect_uri"):
            raise _Response(400, "<h1>Error 400: invalid_request</h1>", content_type="text/html")
        if SCOPE not in q.get("scope", "").split():
            raise _Response(
                400,
                f"<h1>Error 400: invalid_scope</h1><p>{html.escape(q.get('scope', ''))}</p>",
                content_type="text/html",
            )
        fields = ("client_id", "scope", "state", "redirect_uri", "access_type", "prompt")
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(q.get(k, ""), quote=True)}">' for k in fields
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Sign in - Google Accounts</title></head>"
            "<body><h1>Google (local fake)</h1>"
            f"<p><strong>{html.escape(q['client_id'])}</strong> wants to access your Google Account: "
            "see, edit, create and delete your Google Ads accounts and data.</p>"
            f'<form method="post" action="{html.escape(base)}/o/oauth2/v2/auth/decision">{hidden}'
            '<button type="submit" name="decision" value="allow">Allow</button> '
            '<button type="submit" name="decision" value="deny">Deny</button>'
            "</form></body></html>"
        )
        return _Response(200, page, content_type="text/html; charset=utf-8")

    def _consent_decision(self, environ):
        form = self._form(environ)
        redirect_uri, state = form.get("redirect_uri", ""), form.get("state", "")
        if form.get("client_id") not in self.clients or not redirect_uri:
            raise _Response(400, "<h1>Error 400: invalid_request</h1>", content_type="text/html")
        if form.get("decision") != "allow":
            query = {"error": "access_denied", "state": state}
        else:
            code = "4/0A" + secrets.token_urlsafe(40)
            with self._lock:
                self._codes[code] = {
                    "client_id": form["client_id"],
                    "redirect_uri": redirect_uri,
                    "offline": form.get("access_type") == "offline",
                    "customers": list(self.accessible),
                    "expires": self.now() + CODE_TTL,
                }
            query = {"state": state, "code": code, "scope": SCOPE}
        sep = "&" if "?" in redirect_uri else "?"
        return _Response(302, b"", headers=[("Location", redirect_uri + sep + urlencode(query))])

    def _token(self, environ):
        form = self._form(environ)
        client_id = form.get("client_id", "")
        if self.clients.get(client_id) != form.get("client_secret") or client_id not in self.clients:
            raise _Response(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        grant_type = form.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                code = self._codes.pop(form.get("code", ""), None)
                if code is None or code["client_id"] != client_id or code["expires"] < self.now():
                    raise _Response(400, {"error": "invalid_grant", "error_description": "Malformed auth code."})
                if code["redirect_uri"] != form.get("redirect_uri"):
                    raise _Response(400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"})
                refresh = "1//" + secrets.token_urlsafe(40)
                self._refresh[refresh] = {"client_id": client_id, "customers": code["customers"], "revoked": False}
                issue_refresh = code["offline"]
            elif grant_type == "refresh_token":
                refresh = form.get("refresh_token", "")
                grant = self._refresh.get(refresh)
                if grant is None or grant["revoked"] or grant["client_id"] != client_id:
                    raise _Response(
                        400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
                    )
                issue_refresh = False
            else:
                raise _Response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
            access = "ya29." + secrets.token_urlsafe(60)
            self._access[access] = {"refresh": refresh, "client_id": client_id, "expires": self.now() + ACCESS_TTL}
            self.token_grants.append(grant_type)
        body = {"access_token": access, "expires_in": ACCESS_TTL, "scope": SCOPE, "token_type": "Bearer"}
        if issue_refresh:
            body["refresh_token"] = refresh
        return _Response(200, body)

    def _revoke(self, environ):
        token = self._form(environ).get("token") or parse_qs(environ.get("QUERY_STRING", "")).get("token", [""])[0]
        with self._lock:
            refresh = self._access[token]["refresh"] if token in self._access else token
            grant = self._refresh.get(refresh)
            if grant is None or grant["revoked"]:
                raise _Response(400, {"error": "invalid_token", "error_description": "Token expired or revoked"})
            grant["revoked"] = True
            for access in [a for a, v in self._access.items() if v["refresh"] == refresh]:
                del self._access[access]
        return _Response(200, {})

    # -- API auth --------------------------------------------------------------------------------------
    def _authenticate(self, environ, fault=None) -> dict:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            access = self._access.get(token)
            grant = self._refresh.get(access["refresh"]) if access else None
        if access is None or grant is None or grant["revoked"]:
            raise AdsFault(
                401,
                [ads_error("authenticationError", "OAUTH_TOKEN_INVALID", "OAuth token in the header is not valid.")],
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            )
        if access["expires"] < self.now():
            raise AdsFault(
                401,
                [ads_error("authenticationError", "OAUTH_TOKEN_EXPIRED", "OAuth token in the header has expired.")],
                "Request had invalid authentication credentials.",
            )
        if environ.get("HTTP_DEVELOPER_TOKEN") not in self.developer_tokens:
            raise AdsFault(
                403,
                [ads_error("authenticationError", "DEVELOPER_TOKEN_INVALID", "The developer token is not valid.")],
                "The caller does not have permission",
            )
        return grant

    def _authorize_customer(self, grant: dict, raw_id: str, environ) -> int:
        if not raw_id.isdigit():
            raise AdsFault(400, [ads_error("requestError", "INVALID_CUSTOMER_ID", "Customer ID is invalid.")])
        customer_id = int(raw_id)
        specs = self.dataset.specs
        if customer_id not in specs:
            raise AdsFault(
                403,
                [
                    ads_error(
                        "authorizationError",
                        "USER_PERMISSION_DENIED",
                        "User doesn't have permission to access "
                        "customer. Note: If you're accessing a client customer, the manager's customer id must "
                        "be set in the 'login-customer-id' header.",
                    )
                ],  # fmt: skip
                "The caller does not have permission",
            )
        login = environ.get("HTTP_LOGIN_CUSTOMER_ID")
        direct = grant["customers"]
        if login:
            if not login.isdigit() or int(login) not in direct:
                raise self._permission_denied()
            managed = [s.customer_id for s in self.dataset.clients_of(int(login))]
            if customer_id != int(login) and customer_id not in managed:
                raise AdsFault(
                    403,
                    [ads_error("authorizationError", "INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION",
                               "The login customer specified does not have access to the account specified.")],
                    "The caller does not have permission",
                )  # fmt: skip
        elif customer_id not in direct:
            raise self._permission_denied()
        if specs[customer_id].status != "ENABLED":
            raise AdsFault(
                403,
                [
                    ads_error(
                        "authorizationError",
                        "CUSTOMER_NOT_ENABLED",
                        "The customer account can't be accessed because it is not yet enabled or has been deactivated.",
                    )
                ],  # fmt: skip
                "The caller does not have permission",
            )
        return customer_id

    @staticmethod
    def _permission_denied() -> AdsFault:
        return AdsFault(
            403,
            [
                ads_error(
                    "authorizationError",
                    "USER_PERMISSION_DENIED",
                    "User doesn't have permission to access "
                    "customer. Note: If you're accessing a client customer, the manager's customer id must be "
                    "set in the 'login-customer-id' header.",
                )
            ],  # fmt: skip
            "The caller does not have permission",
        )

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
            raise AdsFault(400, [ads_error("requestError", "BAD_REQUEST", "Invalid JSON payload.")]) from exc
        if not isinstance(body, dict):
            raise AdsFault(400, [ads_error("requestError", "BAD_REQUEST", "The body must be a JSON object.")])
        return body

    # -- queries ---------------------------------------------------------------------------------------
    def _execute(self, customer_id: int, query: Query):
        """The rows of a query (a generator; the query is checked before it is returned)."""
        spec = self.dataset.spec(customer_id)
        served = RESOURCES.get(query.resource)
        if served is None:
            raise _query_error(
                "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE", f"Error in FROM clause: invalid resource name {query.resource}."
            )
        fields, has_metrics = served
        allowed = fields | (set(METRICS) | {DATE} if has_metrics else set())
        for name in [*query.select, *(w[0] for w in query.where)]:
            if name not in allowed:
                raise _query_error(
                    "UNRECOGNIZED_FIELD" if "." in name else "BAD_FIELD_NAME",
                    f"Error in query: unrecognized field '{name}' for resource '{query.resource}'.",
                )
        metric_query = any(f in _METRIC_INDEX for f in query.select) or DATE in query.select
        today = self.dataset.today(customer_id)
        start, end, filtered = date_range(query.where, today)
        if DATE in query.select and not (start and end):
            raise _query_error("EXPECTED_FILTERS_ON_DATE_RANGE", "Missing filters on date related fields.")
        if metric_query and spec.manager:
            raise _query_error("REQUESTED_METRICS_FOR_MANAGER", "Metrics cannot be requested for a manager account.")
        conditions = [w for w in query.where if w[0] != DATE and w[0] not in _METRIC_INDEX]
        metric_conditions = [w for w in query.where if w[0] in _METRIC_INDEX]
        build = _row_builder(query.select)

        def matches(attrs: dict) -> bool:
            return all(_compare(attrs.get(name), op, value) for name, op, value in conditions)

        def rows():
            produced = 0
            if metric_query:
                first = self.dataset.first_day(customer_id)
                source = self._metric_rows(customer_id, query.resource, start or first, end or today)
                items = _aggregate(source, by_day=DATE in query.select, keep=matches)
                for attrs, day, m in items:
                    if not all(_compare(_metric_value(_METRIC_INDEX[n], m), o, v) for n, o, v in metric_conditions):
                        continue
                    yield build(attrs, day, m)
                    produced += 1
                    if query.limit and produced >= query.limit:
                        return
            else:
                for attrs in self._entity_rows(customer_id, query.resource):
                    if matches(attrs):
                        yield build(attrs, None, None)
                        produced += 1
                        if query.limit and produced >= query.limit:
                            return

        return rows()

    def _search(self, customer_id: int, query: Query, text: str, body: dict, request_id: str):
        if "pageSize" in body:
            raise AdsFault(
                400,
                [ads_error("requestError", "PAGE_SIZE_NOT_SUPPORTED", "Setting the page size is not supported.")],
            )
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        offset = 0
        if body.get("pageToken"):
            try:
                token_digest, raw_offset = base64.urlsafe_b64decode(body["pageToken"].encode()).decode().split(":")
                offset = int(raw_offset)
            except (ValueError, UnicodeDecodeError) as exc:
                raise AdsFault(400, [ads_error("requestError", "INVALID_PAGE_TOKEN", BAD_PAGE_TOKEN)]) from exc
            if token_digest != digest:
                raise AdsFault(400, [ads_error("requestError", "INVALID_PAGE_TOKEN", BAD_PAGE_TOKEN)])
        rows = list(self._execute(customer_id, query))
        page = rows[offset : offset + self.page_size]
        response: dict = {"fieldMask": _field_mask(query.select), "requestId": request_id}
        if page:
            response["results"] = page
        if offset + self.page_size < len(rows):
            token = f"{digest}:{offset + self.page_size}".encode()
            response["nextPageToken"] = base64.urlsafe_b64encode(token).decode()
        return _Response(200, response)

    def _stream(self, rows, query: Query, request_id: str, version: str, fault: str | None):
        """The searchStream body, generated as it is sent: ``[{"results": [...], "fieldMask", "requestId"}, ...]``.

        The last batch also carries ``queryResourceConsumption``; a query without rows is one batch without
        ``results``. With a ``cut`` or ``stream_error`` fault only the first batch is sent, then the body ends
        without ``]`` (cut) or with an error element (stream_error).
        """
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        meta = '"fieldMask":' + encode(_field_mask(query.select)) + ',"requestId":' + encode(request_id)
        size = max(1, self.batch_size)
        iterator = iter(rows)
        yield b"["
        sent = 0
        current = list(itertools.islice(iterator, size))
        while True:
            following = list(itertools.islice(iterator, size)) if fault is None and current else []
            last = fault is None and not following
            parts = ['"results":' + encode(current)] if current else []
            parts.append(meta)
            if last:
                parts.append(f'"queryResourceConsumption":"{40 + 7 * sent}"')
            yield (("," if sent else "") + "{" + ",".join(parts) + "}").encode()
            sent += 1
            if fault is not None or last:
                break
            current = following
        if fault == "cut":
            return  # the connection ends here: no closing bracket
        if fault == "stream_error":
            error = self._failure_body(
                AdsFault(500, [ads_error("internalError", "INTERNAL_ERROR", "Internal error encountered.")]),
                request_id,
                version,
            )
            yield ("," + encode(error) + "]").encode()
            return
        yield b"]"

    # -- the dataset as GAQL rows ----------------------------------------------------------------------
    def _customer_attrs(self, spec) -> dict:
        return {
            "customer.resource_name": f"customers/{spec.customer_id}",
            "customer.id": spec.customer_id,
            "customer.descriptive_name": spec.name,
            "customer.currency_code": spec.currency,
            "customer.time_zone": spec.time_zone,
            "customer.manager": spec.manager,
            "customer.test_account": False,
            "customer.status": spec.status,
        }

    def _campaign_attrs(self, customer: dict, cid: int, c) -> dict:
        budget = f"customers/{cid}/campaignBudgets/{c.budget.id}"
        return {
            **customer,
            "campaign.resource_name": f"customers/{cid}/campaigns/{c.id}",
            "campaign.id": c.id,
            "campaign.name": c.name,
            "campaign.status": c.status,
            "campaign.advertising_channel_type": c.channel,
            "campaign.bidding_strategy_type": c.bidding,
            "campaign.campaign_budget": budget,
            "campaign.final_url_suffix": c.final_url_suffix,
            "campaign_budget.resource_name": budget,
            "campaign_budget.id": c.budget.id,
            "campaign_budget.name": c.budget.name,
            "campaign_budget.amount_micros": c.budget.amount_micros,
            "campaign_budget.period": c.budget.period,
        }

    @staticmethod
    def _ad_group_attrs(campaign: dict, cid: int, c, g) -> dict:
        return {
            **campaign,
            "ad_group.resource_name": f"customers/{cid}/adGroups/{g.id}",
            "ad_group.id": g.id,
            "ad_group.name": g.name,
            "ad_group.status": g.status,
            "ad_group.type": g.type,
            "ad_group.cpc_bid_micros": g.cpc_bid_micros,
            "ad_group.campaign": campaign["campaign.resource_name"],
        }

    @staticmethod
    def _criterion_attrs(ad_group: dict, cid: int, g, k) -> dict:
        attrs = {
            **ad_group,
            "ad_group_criterion.resource_name": f"customers/{cid}/adGroupCriteria/{g.id}~{k.criterion_id}",
            "ad_group_criterion.criterion_id": k.criterion_id,
            "ad_group_criterion.status": k.status,
            "ad_group_criterion.type": k.kind,
            "ad_group_criterion.negative": k.negative,
            "ad_group_criterion.ad_group": ad_group["ad_group.resource_name"],
            "keyword_view.resource_name": f"customers/{cid}/keywordViews/{g.id}~{k.criterion_id}",
        }
        if k.kind == "KEYWORD":
            attrs["ad_group_criterion.keyword.text"] = k.text
            attrs["ad_group_criterion.keyword.match_type"] = k.match_type
        else:
            attrs["ad_group_criterion.listing_group.type"] = "UNIT"
        if not k.negative:
            if k.cpc_bid_micros:
                attrs["ad_group_criterion.cpc_bid_micros"] = k.cpc_bid_micros
            attrs["ad_group_criterion.effective_cpc_bid_micros"] = k.cpc_bid_micros or g.cpc_bid_micros
        return attrs

    def _entity_rows(self, customer_id: int, resource: str):
        spec = self.dataset.spec(customer_id)
        customer = self._customer_attrs(spec)
        if resource == "customer":
            yield customer
            return
        if resource == "customer_client":
            clients = [(spec, 0)] + [(s, 1) for s in self.dataset.clients_of(customer_id)]
            for client, level in clients:
                yield {
                    **customer,
                    "customer_client.resource_name": f"customers/{customer_id}/customerClients/{client.customer_id}",
                    "customer_client.client_customer": f"customers/{client.customer_id}",
                    "customer_client.id": client.customer_id,
                    "customer_client.descriptive_name": client.name,
                    "customer_client.currency_code": client.currency,
                    "customer_client.time_zone": client.time_zone,
                    "customer_client.manager": client.manager,
                    "customer_client.level": level,
                    "customer_client.status": client.status,
                    "customer_client.test_account": False,
                    "customer_client.hidden": False,
                }
            return
        if spec.manager:
            return
        account = self.dataset.account(customer_id)
        if resource == "conversion_action":
            for a in account.conversion_actions:
                yield {
                    **customer,
                    "conversion_action.resource_name": f"customers/{customer_id}/conversionActions/{a.id}",
                    "conversion_action.id": a.id,
                    "conversion_action.name": a.name,
                    "conversion_action.category": a.category,
                    "conversion_action.type": a.type,
                    "conversion_action.status": a.status,
                    "conversion_action.include_in_conversions_metric": a.include_in_conversions_metric,
                    "conversion_action.click_through_lookback_window_days": a.click_through_days,
                    "conversion_action.view_through_lookback_window_days": a.view_through_days,
                }
            return
        for c in account.campaigns:
            campaign = self._campaign_attrs(customer, customer_id, c)
            if resource == "campaign":
                yield campaign
            elif resource == "campaign_criterion":
                for k in c.criteria:
                    attrs = {
                        **campaign,
                        "campaign_criterion.resource_name": f"customers/{customer_id}/campaignCriteria/"
                        f"{c.id}~{k.criterion_id}",
                        "campaign_criterion.criterion_id": k.criterion_id,
                        "campaign_criterion.type": k.kind,
                        "campaign_criterion.negative": k.negative,
                        "campaign_criterion.status": k.status,
                        "campaign_criterion.campaign": campaign["campaign.resource_name"],
                    }
                    if k.kind == "KEYWORD":
                        attrs["campaign_criterion.keyword.text"] = k.text
                        attrs["campaign_criterion.keyword.match_type"] = k.match_type
                    elif k.kind == "LOCATION":
                        attrs["campaign_criterion.location.geo_target_constant"] = f"geoTargetConstants/{k.geo_target}"
                    yield attrs
            elif resource in ("ad_group", "ad_group_criterion"):
                for g in c.ad_groups:
                    group = self._ad_group_attrs(campaign, customer_id, c, g)
                    if resource == "ad_group":
                        yield group
                    else:
                        for k in g.criteria:
                            yield self._criterion_attrs(group, customer_id, g, k)

    def _metric_rows(self, customer_id: int, resource: str, start: date, end: date):
        """(attrs, day, metrics) for each unit's (or search term's) day; one attrs object per entity."""
        spec = self.dataset.spec(customer_id)
        customer = self._customer_attrs(spec)
        cache: dict[int, dict] = {}

        def campaign_of(c) -> dict:
            attrs = cache.get(id(c))
            if attrs is None:
                attrs = cache[id(c)] = self._campaign_attrs(customer, customer_id, c)
            return attrs

        def group_of(c, g) -> dict:
            attrs = cache.get(id(g))
            if attrs is None:
                attrs = cache[id(g)] = self._ad_group_attrs(campaign_of(c), customer_id, c, g)
            return attrs

        def criterion_of(c, g, unit) -> dict:
            attrs = cache.get(id(unit))
            if attrs is None:
                attrs = cache[id(unit)] = self._criterion_attrs(group_of(c, g), customer_id, g, unit.criterion)
            return attrs

        def terms_of(c, g, unit) -> list[dict]:
            key = -id(unit)
            attrs = cache.get(key)
            if attrs is None:
                group = group_of(c, g)
                attrs = []
                k = unit.criterion
                for term, term_id in zip(unit.terms, unit.term_ids, strict=True):
                    item = {
                        **group,
                        "search_term_view.resource_name": f"customers/{customer_id}/searchTermViews/"
                        f"{c.id}~{g.id}~{term_id}",
                        "search_term_view.search_term": term,
                        "search_term_view.ad_group": group["ad_group.resource_name"],
                        "search_term_view.status": "ADDED" if k.kind == "KEYWORD" and term == k.text else "NONE",
                    }
                    if k.kind == "KEYWORD":
                        item["segments.keyword.ad_group_criterion"] = (
                            f"customers/{customer_id}/adGroupCriteria/{g.id}~{k.criterion_id}"
                        )
                        item["segments.keyword.info.text"] = k.text
                        item["segments.keyword.info.match_type"] = k.match_type
                    attrs.append(item)
                cache[key] = attrs
            return attrs

        restatement = self.restatement
        for day, c, g, unit, m in self.dataset.iter_days(customer_id, start, end, restatement):
            if resource == "customer":
                yield customer, day, m
            elif resource == "campaign":
                yield campaign_of(c), day, m
            elif resource == "ad_group":
                if g is not None:
                    yield group_of(c, g), day, m
            elif resource == "keyword_view":
                if g is not None and unit.criterion.kind == "KEYWORD":
                    yield criterion_of(c, g, unit), day, m
            elif resource == "search_term_view" and g is not None:
                items = terms_of(c, g, unit)
                for k, part in self.dataset.split_terms(unit, day.toordinal(), m):
                    yield items[k], day, part

    # -- mutate ----------------------------------------------------------------------------------------
    def _mutate(self, customer_id: int, service: str, body: dict, request_id: str, version: str):
        handlers = {
            "campaignBudgets": self._budget_operation,
            "adGroupCriteria": self._ad_group_criterion_operation,
            "campaignCriteria": self._campaign_criterion_operation,
        }
        handler = handlers.get(service)
        if handler is None:
            raise AdsFault(404, [ads_error("requestError", "UNKNOWN", f"Unknown service {service}.")])
        operations = body.get("operations")
        if not isinstance(operations, list) or not operations:
            raise AdsFault(400, [ads_error("mutateError", "OPERATION_REQUIRED", "At least one operation is required.")])
        validate_only = bool(body.get("validateOnly"))
        partial = bool(body.get("partialFailure"))
        full = body.get("responseContentType") == "MUTABLE_RESOURCE"
        account = self.dataset.account(customer_id)
        with self._lock:
            planned = []  # (index, apply callable or None, result or errors)
            for index, operation in enumerate(operations):
                try:
                    planned.append((index, *handler(account, customer_id, operation, index)))
                except _OperationFailed as failed:
                    planned.append((index, None, failed.errors))
            errors = [e for _i, apply, result in planned if apply is None for e in result]
            if errors and not partial:
                raise AdsFault(400, errors, "Request contains an invalid argument.")
            results = []
            for _index, apply, result in planned:
                if apply is None:
                    results.append({})
                    continue
                if not validate_only:
                    apply()
                results.append(result(full) if callable(result) else result)
            if not validate_only and any(apply for _i, apply, _r in planned):
                self.mutations.append({"service": service, "customer": customer_id, **body})
        response: dict = {}
        if not validate_only:
            response["results"] = results
        if errors:
            failure = self._failure_body(AdsFault(400, errors), request_id, version)["error"]
            first = f"{errors[0]['message']}, at {_location_text(errors[0])}"
            response["partialFailureError"] = {
                "code": 3,  # INVALID_ARGUMENT
                "message": f"Multiple errors in 'details'. First error: {first}" if len(errors) > 1 else first,
                "details": failure["details"],
            }
        return _Response(200, response)

    @staticmethod
    def _update_mask(operation: dict, index: int, allowed: dict[str, str]) -> list[str]:
        mask = operation.get("updateMask")
        if not mask:
            raise _OperationFailed(
                _op_error(index, "update", "fieldMaskError", "FIELD_MASK_MISSING", "The field mask is missing.")
            )
        paths = [p.strip() for p in str(mask).split(",") if p.strip()]
        for path in paths:
            if path not in allowed:
                raise _OperationFailed(
                    _op_error(
                        index,
                        "update_mask",
                        "fieldMaskError",
                        "FIELD_NOT_FOUND",
                        f"The field mask contained an invalid field: '{path}'.",
                    )  # fmt: skip
                )
        return paths

    def _budget_operation(self, account, cid: int, operation: dict, index: int):
        if "update" not in operation:
            raise _OperationFailed(
                _op_error(index, None, "mutateError", "MUTATE_NOT_ALLOWED", "This fake updates budgets only.")
            )
        update = operation["update"] or {}
        paths = self._update_mask(operation, index, {"amountMicros": "amount_micros", "name": "name"})
        budget = next(
            (b for b in account.budgets if f"customers/{cid}/campaignBudgets/{b.id}" == update.get("resourceName")),
            None,
        )
        if budget is None:
            raise _OperationFailed(
                _op_error(
                    index,
                    "update.resource_name",
                    "mutateError",
                    "RESOURCE_NOT_FOUND",
                    "The requested resource was not found.",
                )  # fmt: skip
            )
        changes = {}
        if "amountMicros" in paths:
            amount = _int64(update.get("amountMicros"))
            if amount is None or amount <= 0:
                raise _OperationFailed(
                    _op_error(
                        index,
                        "update.amount_micros",
                        "campaignBudgetError",
                        "MONEY_AMOUNT_TOO_SMALL",
                        "The budget amount is too small.",
                    )  # fmt: skip
                )
            if amount % 10_000:
                raise _OperationFailed(
                    _op_error(
                        index,
                        "update.amount_micros",
                        "campaignBudgetError",
                        "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
                        "Budget amount must be a multiple of the minimum currency unit.",
                    )  # fmt: skip
                )
            changes["amount_micros"] = amount
        if "name" in paths:
            changes["name"] = str(update.get("name") or "")
        resource_name = f"customers/{cid}/campaignBudgets/{budget.id}"

        def apply():
            for name, value in changes.items():
                setattr(budget, name, value)

        def result(full: bool) -> dict:
            out = {"resourceName": resource_name}
            if full:
                out["campaignBudget"] = {
                    "resourceName": resource_name,
                    "id": str(budget.id),
                    "name": changes.get("name", budget.name),
                    "amountMicros": str(changes.get("amount_micros", budget.amount_micros)),
                    "period": budget.period,
                }
            return out

        return apply, result

    def _ad_group_criterion_operation(self, account, cid: int, operation: dict, index: int):
        if "update" not in operation and ("create" in operation or "remove" in operation):
            return self._ad_group_criterion_write(account, cid, operation, index)
        if "update" not in operation:
            raise _OperationFailed(
                _op_error(index, None, "mutateError", "MUTATE_NOT_ALLOWED", "This fake updates ad group criteria only.")
            )
        update = operation["update"] or {}
        paths = self._update_mask(operation, index, {"cpcBidMicros": "cpc_bid_micros", "status": "status"})
        found = None
        for c in account.campaigns:
            for g in c.ad_groups:
                for k in g.criteria:
                    if f"customers/{cid}/adGroupCriteria/{g.id}~{k.criterion_id}" == update.get("resourceName"):
                        found = (g, k)
        if found is None:
            raise _OperationFailed(
                _op_error(
                    index,
                    "update.resource_name",
                    "mutateError",
                    "RESOURCE_NOT_FOUND",
                    "The requested resource was not found.",
                )  # fmt: skip
            )
        group, criterion = found
        changes = {}
        if "cpcBidMicros" in paths:
            bid = _int64(update.get("cpcBidMicros"))
            if criterion.negative:
                raise _OperationFailed(
                    _op_error(
                        index,
                        "update.cpc_bid_micros",
                        "adGroupCriterionError",
                        "CANNOT_BID_ON_NEGATIVE",
                        "A negative criterion cannot have a bid.",
                    )  # fmt: skip
                )
            if bid is None or bid < 10_000:
                raise _OperationFailed(
                    _op_error(index, "update.cpc_bid_micros", "biddingError", "BID_TOO_SMALL", "Bid is too small.")
                )
            if bid % 10_000:
                raise _OperationFailed(
                    _op_error(
                        index,
                        "update.cpc_bid_micros",
                        "biddingError",
                        "BID_TOO_MANY_FRACTIONAL_DIGITS",
                        "Bid has too many fractional digit precision.",
                    )  # fmt: skip
                )
            changes["cpc_bid_micros"] = bid
        if "status" in paths:
            status = update.get("status")
            if status not in ("ENABLED", "PAUSED"):
                raise _OperationFailed(
                    _op_error(
                        index,
                        "update.status",
                        "adGroupCriterionError",
                        "INVALID_STATUS" if status else "STATUS_REQUIRED",
                        f"Invalid status {status!r} for an update.",
                    )  # fmt: skip
                )
            changes["status"] = status
        resource_name = f"customers/{cid}/adGroupCriteria/{group.id}~{criterion.criterion_id}"

        def apply():
            for name, value in changes.items():
                setattr(criterion, name, value)

        def result(full: bool) -> dict:
            out = {"resourceName": resource_name}
            if full:
                bid = changes.get("cpc_bid_micros", criterion.cpc_bid_micros)
                out["adGroupCriterion"] = {
                    "resourceName": resource_name,
                    "criterionId": str(criterion.criterion_id),
                    "status": changes.get("status", criterion.status),
                    "cpcBidMicros": str(bid),
                    "effectiveCpcBidMicros": str(bid or group.cpc_bid_micros),
                }
            return out

        return apply, result

    def _ad_group_criterion_write(self, account, cid: int, operation: dict, index: int):
        """Create a keyword in an ad group (positive, with an optional bid of its own, or negative), or remove one.

        A removed criterion stays listed with status REMOVED, as Google keeps removed criteria; creating the same
        keyword again brings it back. New keywords earn no metrics in the fake (they have no history).
        """
        from connectors.backends.google_ads.demo_data import Criterion

        if "remove" in operation:
            name = operation["remove"]
            for c in account.campaigns:
                for g in c.ad_groups:
                    for k in g.criteria:
                        if f"customers/{cid}/adGroupCriteria/{g.id}~{k.criterion_id}" == name and k.status != "REMOVED":

                            def apply(criterion=k):
                                criterion.status = "REMOVED"

                            return apply, {"resourceName": name}
            raise _OperationFailed(
                _op_error(index, "remove", "mutateError", "RESOURCE_NOT_FOUND", "The requested resource was not found.")
            )
        create = operation.get("create")
        if not isinstance(create, dict):
            raise _OperationFailed(
                _op_error(index, None, "mutateError", "MUTATE_NOT_ALLOWED", "Create, update or remove criteria.")
            )
        group = next(
            (
                g
                for c in account.campaigns
                for g in c.ad_groups
                if f"customers/{cid}/adGroups/{g.id}" == create.get("adGroup")
            ),
            None,
        )
        if group is None:
            raise _OperationFailed(
                _op_error(
                    index,
                    "create.ad_group",
                    "mutateError",
                    "RESOURCE_NOT_FOUND",
                    "The requested resource was not found.",
                )
            )
        keyword = create.get("keyword") or {}
        text = str(keyword.get("text") or "").strip()
        match_type = keyword.get("matchType")
        negative = bool(create.get("negative"))
        if not text or match_type not in ("EXACT", "PHRASE", "BROAD"):
            raise _OperationFailed(
                _op_error(
                    index,
                    "create.keyword",
                    "criterionError",
                    "INVALID_KEYWORD_TEXT" if not text else "INVALID_MATCH_TYPE",
                    "A keyword needs text and a match type.",
                )
            )
        if len(text) > 80:
            raise _OperationFailed(
                _op_error(
                    index, "create.keyword.text", "criterionError", "KEYWORD_TEXT_TOO_LONG", "Keyword text is too long."
                )
            )
        if re.search(r"[!@%,*]", text):
            raise _OperationFailed(
                _op_error(
                    index,
                    "create.keyword.text",
                    "criterionError",
                    "KEYWORD_HAS_INVALID_CHARS",
                    "Keyword text has invalid characters or symbols.",
                )
            )
        status = create.get("status") or "ENABLED"
        if status not in ("ENABLED", "PAUSED"):
            raise _OperationFailed(
                _op_error(
                    index, "create.status", "adGroupCriterionError", "INVALID_STATUS", f"Invalid status {status!r}."
                )
            )
        bid = 0
        if create.get("cpcBidMicros") is not None:
            if negative:
                raise _OperationFailed(
                    _op_error(
                        index,
                        "create.cpc_bid_micros",
                        "adGroupCriterionError",
                        "CANNOT_BID_ON_NEGATIVE",
                        "A negative criterion cannot have a bid.",
                    )
                )
            bid = _int64(create.get("cpcBidMicros"))
            if bid is None or bid < 10_000:
                raise _OperationFailed(
                    _op_error(index, "create.cpc_bid_micros", "biddingError", "BID_TOO_SMALL", "Bid is too small.")
                )
            if bid % 10_000:
                raise _OperationFailed(
                    _op_error(
                        index,
                        "create.cpc_bid_micros",
                        "biddingError",
                        "BID_TOO_MANY_FRACTIONAL_DIGITS",
                        "Bid has too many fractional digit precision.",
                    )
                )
        criterion_id = Dataset._keyword_id(text, match_type)
        existing = next((k for k in group.criteria if k.criterion_id == criterion_id), None)
        if existing is not None and existing.status != "REMOVED":
            raise _OperationFailed(
                _op_error(
                    index,
                    "create",
                    "mutateError",
                    "RESOURCE_ALREADY_EXISTS",
                    "The criterion already exists in the ad group.",
                )
            )
        resource_name = f"customers/{cid}/adGroupCriteria/{group.id}~{criterion_id}"

        def apply_create():
            if existing is not None:
                existing.status, existing.negative, existing.cpc_bid_micros = status, negative, bid
            else:
                group.criteria.append(
                    Criterion(criterion_id, "KEYWORD", text, match_type, status, negative=negative, cpc_bid_micros=bid)
                )

        return apply_create, {"resourceName": resource_name}

    def _campaign_criterion_operation(self, account, cid: int, operation: dict, index: int):
        from connectors.backends.google_ads.demo_data import Criterion

        if "remove" in operation:
            name = operation["remove"]
            for c in account.campaigns:
                for k in c.criteria:
                    if f"customers/{cid}/campaignCriteria/{c.id}~{k.criterion_id}" == name:

                        def apply(campaign=c, criterion=k):
                            campaign.criteria.remove(criterion)

                        return apply, {"resourceName": name}
            raise _OperationFailed(
                _op_error(index, "remove", "mutateError", "RESOURCE_NOT_FOUND", "The requested resource was not found.")
            )
        create = operation.get("create")
        if not isinstance(create, dict):
            raise _OperationFailed(
                _op_error(index, None, "mutateError", "MUTATE_NOT_ALLOWED", "Create or remove campaign criteria.")
            )
        campaign = next(
            (c for c in account.campaigns if f"customers/{cid}/campaigns/{c.id}" == create.get("campaign")), None
        )
        if campaign is None:
            raise _OperationFailed(
                _op_error(
                    index,
                    "create.campaign",
                    "mutateError",
                    "RESOURCE_NOT_FOUND",
                    "The requested resource was not found.",
                )  # fmt: skip
            )
        keyword = create.get("keyword") or {}
        text = str(keyword.get("text") or "").strip()
        match_type = keyword.get("matchType")
        if not create.get("negative"):
            raise _OperationFailed(
                _op_error(
                    index,
                    "create.negative",
                    "campaignCriterionError",
                    "CANNOT_TARGET_KEYWORDS",
                    "Campaign-level keywords must be negative.",
                )  # fmt: skip
            )
        if not text or match_type not in ("EXACT", "PHRASE", "BROAD"):
            raise _OperationFailed(
                _op_error(
                    index,
                    "create.keyword",
                    "criterionError",
                    "INVALID_KEYWORD_TEXT" if not text else "INVALID_MATCH_TYPE",
                    "A keyword needs text and a match type.",
                )  # fmt: skip
            )
        if len(text) > 80:
            raise _OperationFailed(
                _op_error(
                    index, "create.keyword.text", "criterionError", "KEYWORD_TEXT_TOO_LONG", "Keyword text is too long."
                )  # fmt: skip
            )
        if re.search(r"[!@%,*]", text):
            raise _OperationFailed(
                _op_error(
                    index,
                    "create.keyword.text",
                    "criterionError",
                    "KEYWORD_HAS_INVALID_CHARS",
                    "Keyword text has invalid characters or symbols.",
                )  # fmt: skip
            )
        criterion_id = Dataset._keyword_id(text, match_type)
        if any(k.criterion_id == criterion_id for k in campaign.criteria):
            raise _OperationFailed(
                _op_error(
                    index,
                    "create",
                    "mutateError",
                    "RESOURCE_ALREADY_EXISTS",
                    "The criterion already exists in the campaign.",
                )  # fmt: skip
            )
        resource_name = f"customers/{cid}/campaignCriteria/{campaign.id}~{criterion_id}"

        def apply_create():
            campaign.criteria.append(Criterion(criterion_id, "KEYWORD", text, match_type, negative=True))

        return apply_create, {"resourceName": resource_name}


class _OperationFailed(Exception):
    def __init__(self, error: dict):
        super().__init__(error["message"])
        self.errors = [error]


def _op_error(index: int, where: str | None, family: str, code: str, message: str) -> dict:
    elements = [{"fieldName": "operations", "index": index}]
    for part in (where or "").split("."):
        if part:
            elements.append({"fieldName": part})
    return ads_error(family, code, message, location={"fieldPathElements": elements})


def _location_text(error: dict) -> str:
    parts = []
    for element in (error.get("location") or {}).get("fieldPathElements", []):
        name = element["fieldName"]
        parts.append(f"{name}[{element['index']}]" if "index" in element else name)
    return ".".join(parts)


def _int64(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _aggregate(source, *, by_day: bool, keep):
    """Sum the metrics of rows with the same entity (and day, when segmented by date), in first-seen order."""
    kept: dict[int, bool] = {}
    bucket: dict[int, list] = {}
    current = None
    for attrs, day, m in source:
        key = id(attrs)
        ok = kept.get(key)
        if ok is None:
            ok = kept[key] = keep(attrs)
        if not ok:
            continue
        if by_day and day != current:
            for attrs_, day_, sums in bucket.values():
                yield attrs_, day_, sums
            bucket = {}
            current = day
        entry = bucket.get(key)
        if entry is None:
            bucket[key] = [attrs, day if by_day else None, list(m)]
        else:
            sums = entry[2]
            for i in range(5):
                sums[i] += m[i]
    for attrs_, day_, sums in bucket.values():
        yield attrs_, day_, sums


def make_app(public_url: str = "", **kwargs) -> FakeGoogleAds:
    """The WSGI app. ``public_url`` is where it is reachable; empty: derived from each request's host."""
    return FakeGoogleAds(public_url, **kwargs)
