"""A local Meta Graph API (Facebook Login + Marketing API) for tests, benchmarks and the demo.

Standard library only: ``make_app(public_url)`` returns a WSGI app serving, under its own prefix,

- ``GET /dialog/oauth`` (the Facebook Login consent page, Continue and Cancel) and ``POST /dialog/oauth/consent``
  (redirect with ``code`` and ``state``, or ``error=access_denied&error_reason=user_denied``; like Facebook it
  appends ``#_=_``);
- ``GET /graph/{v}/oauth/access_token``: the code exchange (``client_id, redirect_uri, client_secret, code``; a
  code works once, for 10 minutes, for the redirect_uri it was issued to) giving a short-lived token (2 h), and
  ``grant_type=fb_exchange_token`` giving a long-lived one (``expires_in`` 5183944 s, about 60 days);
- ``GET /graph/{v}/me/adaccounts``, ``DELETE /graph/{v}/me/permissions`` (the seller removes our app);
- ``GET /graph/{v}/act_{id}/campaigns|adsets|ads`` (``fields``, ``limit``, cursor paging);
- ``GET /graph/{v}/act_{id}/insights`` (synchronous, paged) and ``POST`` (an async report run:
  ``{"report_run_id"}``); ``GET /graph/{v}/{report_run_id}`` walks Job Not Started -> Job Started -> Job Running
  -> Job Completed over successive polls; ``GET /graph/{v}/{report_run_id}/insights`` pages the result;
- ``GET /graph/{v}/{campaign_id}`` (``fields``) and ``POST /graph/{v}/{campaign_id}`` with ``status`` (ACTIVE,
  PAUSED, ARCHIVED, DELETED) and/or ``daily_budget`` (minor units): ``{"success": true}``, the change applied to
  the dataset so the next sync reads it. Refusals as Meta words them: a budget on a campaign whose ad sets hold
  the budgets, one below ``MIN_DAILY_BUDGET`` (code 100 with ``error_user_title``/``error_user_msg``), any change
  to an archived campaign but DELETED, any change to a deleted one [U: subcodes and wording as remembered].

Every Graph call needs ``access_token`` (query, form body or ``Authorization: Bearer``) and, since the fake app
"requires app secret", ``appsecret_proof`` = hex HMAC-SHA256(app secret, token). Answers carry the usage
headers (``x-app-usage`` on all; ``x-ad-account-usage`` and ``x-business-use-case-usage`` on ad-account calls;
``x-fb-ads-insights-throttle`` on insights). Errors use the Graph shape ``{"error": {"message", "type", "code",
"error_subcode", "is_transient", "fbtrace_id"}}`` with HTTP 400 (500 for server errors). The token endpoint's
subcodes (36007 expired code, 36008 redirect_uri mismatch, 36009 code used) are as remembered [U].

Insights follow the documented shapes (numbers as strings, ``actions``/``action_values`` as AdsActionStats,
``paging.next`` only while there is more) over ``demo_data.Dataset``, with level account/campaign/adset/ad,
``time_increment`` 1 or all_days, breakdowns ``publisher_platform`` and ``country``, the attribution windows
of ``demo_data.WINDOWS``, and the 37-month limit (error 3018).

Test hooks: ``app.faults.add(endpoint, kind, times=1, **params)`` queues one-shot faults (see ``Faults``);
``app.restatement += 1`` restates recent purchases; ``app.expire_tokens()``; ``app.clock_offset``;
``app.usage_floor`` (every usage header reports at least this percentage); ``app.requests`` logs (method,
path, status); ``app.queries`` logs (method, path, params without the token and proof).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import threading
import time
from collections import deque
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlencode

from connectors.backends.meta.demo_data import (
    BREAKDOWNS,
    LEVELS,
    WINDOWS,
    Dataset,
    fields_allowed,
)

CLIENTS = {"chuhai-fake-meta_app_id": "chuhai-fake-meta_app_secret"}
SCOPES = ("ads_read", "ads_management", "business_management")
SHORT_TTL = 2 * 3600
LONG_TTL = 5183944
CODE_TTL = 600
RETENTION_MONTHS = 37
DEMO_ACCESS_TOKEN = "EAAChuhaiDemoSellerSystemUserTokenHearthAndGrainHome"
# What MetaBackend.exchange_code returns for the demo seller: a token without an expiry (a system user's).
DEMO_CREDENTIALS = {"access_token": DEMO_ACCESS_TOKEN, "token_type": "bearer", "expires_at": None}

ENDPOINTS = (
    "token",
    "adaccounts",
    "entities",
    "insights",
    "job_create",
    "job_status",
    "job_results",
    "campaign_get",
    "campaign_update",
)
MIN_DAILY_BUDGET = 100  # minor units: Meta's smallest daily budget for impression billing, 1.00 in USD [U]
CAMPAIGN_STATUSES = ("ACTIVE", "PAUSED", "DELETED", "ARCHIVED")
FAULT_KINDS = ("throttle", "throttle_account", "500", "slow", "fail", "skip", "expire", "revoke", "usage")
_VERSION = re.compile(r"^v\d+\.\d+$")


class Faults:
    """One-shot faults, queued per endpoint and taken in order by the next matching request.

    endpoint: token | adaccounts | entities | insights (the synchronous GET) | job_create | job_status |
    job_results | campaign_get | campaign_update (the campaign node's GET and POST).
    kind: ``throttle`` (code 17 "User request limit reached", x-app-usage at 100 %), ``throttle_account``
    (code 80004, ``x-business-use-case-usage`` with ``estimated_time_to_regain_access`` = ``minutes``), ``500``
    (HTTP 500, code 2, is_transient), ``slow`` (sleep ``seconds`` then 503: a client with a shorter timeout sees a
    timeout), ``fail`` / ``skip`` (job status: the job ends "Job Failed" / "Job Skipped"), ``expire`` (the token
    presented has expired: code 190, subcode 463), ``revoke`` (the seller removed the app: code 190, subcode
    458), ``usage`` (the answer is normal but its usage headers say ``percent``).
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
    def __init__(self, status: int, body, headers=None, content_type="application/json; charset=UTF-8"):
        self.status, self.body, self.headers, self.content_type = status, body, list(headers or []), content_type


_REASONS = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str) -> int:
    padded = cursor + "=" * (-len(cursor) % 4)
    return int(base64.urlsafe_b64decode(padded.encode()).decode().split(":")[1])


def _list_param(value: str | None) -> list[str]:
    """A Graph list parameter, as a JSON array or comma-separated."""
    if not value:
        return []
    value = value.strip()
    if value.startswith("["):
        try:
            items = json.loads(value)
        except ValueError as exc:
            raise ValueError(value) from exc
        return [str(i) for i in items]
    return [v.strip() for v in value.split(",") if v.strip()]


class FakeMeta:
    def __init__(self, public_url: str = "", *, dataset: Dataset | None = None, polls_to_complete: int = 3):
        self.public_url = public_url.rstrip("/")
        self.dataset = dataset or Dataset()
        self.polls_to_complete = polls_to_complete
        self.faults = Faults()
        self.restatement = 0
        self.clock_offset = 0.0
        self.usage_floor = 0
        self.clients = dict(CLIENTS)
        self.requests: list[tuple[str, str, int]] = []
        self.queries: list[tuple[str, str, dict]] = []
        self.token_grants: list[str] = []  # "code" / "fb_exchange_token" for every token issued
        self._lock = threading.Lock()
        self._calls = 0
        self._codes: dict[str, dict] = {}
        self._tokens: dict[str, dict] = {}  # token -> {client_id, expires (None: never), kind, revoked}
        self.jobs: dict[str, dict] = {}
        self._job_ids = itertools.count(1)
        self._results: dict[str, list[dict]] = {}  # cache of synchronous insights results

    # -- clock and test hooks --------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self._tokens.values():
                token["expires"] = self.now() - 1

    def allow_demo(self) -> None:
        """Accept the demo seller's token forever (the demo grant of ``connectors.fakes.demo``)."""
        client_id = next(iter(CLIENTS))
        try:
            from django.conf import settings

            conf = settings.PLATFORMS.get("meta") or {}
            if conf.get("client_id"):
                client_id = conf["client_id"]
                self.clients.setdefault(client_id, conf.get("client_secret", ""))
        except Exception:  # noqa: BLE001,S110 - outside Django (python -m connectors.fakes without settings)
            pass
        with self._lock:
            self._tokens[DEMO_ACCESS_TOKEN] = {
                "client_id": client_id,
                "expires": None,
                "kind": "long",
                "revoked": False,
            }

    def issue_token(self, *, ttl: float | None = LONG_TTL, client_id: str | None = None) -> str:
        """A long-lived token as if the seller had logged in (tests that skip the consent page)."""
        token = "EAA" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = {
                "client_id": client_id or next(iter(self.clients)),
                "expires": None if ttl is None else self.now() + ttl,
                "kind": "long",
                "revoked": False,
            }
        return token

    def job_requests(self) -> list[dict]:
        return list(self.jobs.values())

    # -- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "") or "/"
        base = self.public_url or self._url_from(environ)
        try:
            result = self._route(method, path, environ, base)
        except _Response as response:
            result = response
        self.requests.append((method, path, result.status))
        body = result.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")).encode()
        elif isinstance(body, str):
            body = body.encode()
        headers = [("Content-Type", result.content_type), ("Content-Length", str(len(body))), *result.headers]
        start_response(f"{result.status} {_REASONS.get(result.status, 'Unknown')}", headers)
        return [body]

    @staticmethod
    def _url_from(environ) -> str:
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('SCRIPT_NAME', '')}".rstrip("/")

    @staticmethod
    def _params(environ) -> dict:
        params = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            raw = environ["wsgi.input"].read(length).decode()
            if environ.get("CONTENT_TYPE", "").startswith("application/json"):
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
            else:
                params.update({k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()})
        return params

    def _route(self, method, path, environ, base):
        if path == "/dialog/oauth" and method == "GET":
            return self._consent_page(environ, base)
        if path == "/dialog/oauth/consent" and method == "POST":
            return self._consent_decision(environ)
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "graph" or not _VERSION.match(parts[1]):
            raise _graph_error(400, "Unknown path components: " + path, code=2500, type_="OAuthException")
        params = self._params(environ)
        version, rest = parts[1], parts[2:]
        graph = f"{base}/graph/{version}"
        with self._lock:
            self._calls += 1
        if rest == ["oauth", "access_token"]:
            self._fault("token")
            return self._with_usage(self._token(params))
        self.queries.append(
            (method, path, {k: v for k, v in params.items() if k not in ("access_token", "appsecret_proof")})
        )
        if rest == ["me", "adaccounts"] and method == "GET":
            fault = self._fault("adaccounts")
            self._authorize(params, environ, fault)
            items = self._select(self.dataset.ad_accounts_json(), params, always=("id",))
            return self._with_usage(self._page(items, params, graph + "/me/adaccounts"), fault=fault)
        if rest == ["me", "permissions"] and method == "DELETE":
            token = self._authorize(params, environ, None)
            with self._lock:
                self._tokens[token]["revoked"] = True
            return self._with_usage(_Response(200, {"success": True}))
        if rest[0].startswith("act_"):
            account = rest[0][4:]
            if account not in self.dataset.accounts:
                raise _missing_object(rest[0])
            if len(rest) == 2 and rest[1] in ("campaigns", "adsets", "ads") and method == "GET":
                fault = self._fault("entities")
                self._authorize(params, environ, fault)
                items = self._select(self.dataset.entities(account, rest[1]), params, always=("id",))
                return self._with_usage(
                    self._page(items, params, f"{graph}/{rest[0]}/{rest[1]}"), account=account, fault=fault
                )
            if len(rest) == 2 and rest[1] == "insights" and method in ("GET", "POST"):
                fault = self._fault("insights" if method == "GET" else "job_create")
                self._authorize(params, environ, fault)
                query = self._insights_query(account, params)
                if method == "POST":
                    return self._with_usage(self._create_job(account, query), account=account, insights=True)
                key = json.dumps([account, query, self.restatement], sort_keys=True, default=str)
                rows = self._results.get(key)
                if rows is None:
                    rows = self._results[key] = self._run_query(account, query, self.restatement)
                    while len(self._results) > 16:
                        self._results.pop(next(iter(self._results)))
                page = self._page(rows, params, f"{graph}/{rest[0]}/insights")
                return self._with_usage(page, account=account, insights=True, fault=fault)
            raise _graph_error(400, f"Unsupported {method} request on {rest[0]}/{'/'.join(rest[1:])}", code=100)
        found = self._campaign_node(rest[0])
        if found is not None:
            return self._campaign_route(method, rest, params, environ, *found)
        job = self.jobs.get(rest[0])
        if job is None:
            raise _missing_object(rest[0])
        if len(rest) == 1 and method == "GET":
            fault = self._fault("job_status")
            self._authorize(params, environ, fault)
            return self._with_usage(self._job_status(job, params, fault), account=job["account"], fault=fault)
        if rest[1:] == ["insights"] and method == "GET":
            fault = self._fault("job_results")
            self._authorize(params, environ, fault)
            if job["async_status"] != "Job Completed":
                raise _graph_error(400, "Report run is not completed yet", code=100, subcode=1487534)
            if job["rows"] is None:
                job["rows"] = self._run_query(job["account"], job["query"], job["restatement"])
            page = self._page(job["rows"], params, f"{graph}/{job['id']}/insights")
            return self._with_usage(page, account=job["account"], insights=True, fault=fault)
        raise _graph_error(400, f"Unsupported {method} request", code=100)

    # -- campaign nodes: reading one, changing its status or budget ------------------------------------
    def _campaign_node(self, node: str):
        """(account id, campaign) of a campaign id in the dataset, or None."""
        for account_id, account in self.dataset.accounts.items():
            for campaign in account.campaigns:
                if campaign.id == node:
                    return account_id, campaign
        return None

    def _campaign_route(self, method, rest, params, environ, account_id, campaign):
        if len(rest) == 1 and method == "GET":
            fault = self._fault("campaign_get")
            self._authorize(params, environ, fault)
            item = next(i for i in self.dataset.entities(account_id, "campaigns") if i["id"] == campaign.id)
            [selected] = self._select([item], params, always=("id",))
            return self._with_usage(_Response(200, selected), account=account_id, fault=fault)
        if len(rest) == 1 and method == "POST":
            fault = self._fault("campaign_update")
            self._authorize(params, environ, fault)
            self._update_campaign(account_id, campaign, params)
            return self._with_usage(_Response(200, {"success": True}), account=account_id, fault=fault)
        raise _graph_error(400, f"Unsupported {method} request on campaign {campaign.id}", code=100)

    def _update_campaign(self, account_id: str, campaign, params: dict) -> None:
        """Check a campaign update the way Meta does, then apply it (all of it or none of it)."""
        fields = {k: v for k, v in params.items() if k not in ("access_token", "appsecret_proof")}
        unknown = sorted(set(fields) - {"status", "daily_budget"})
        if unknown:
            raise _graph_error(400, f"(#100) Param {unknown[0]} is not supported by this fake on a campaign", code=100)
        if not fields:
            raise _graph_error(400, "(#100) At least one field must be given to update the campaign", code=100)
        status = fields.get("status")
        if status is not None and status not in CAMPAIGN_STATUSES:
            raise _graph_error(400, f"(#100) Param status must be one of {{{', '.join(CAMPAIGN_STATUSES)}}}", code=100)
        spec = self.dataset.accounts[account_id].spec
        with self._lock:
            if campaign.status == "DELETED" or (
                campaign.status == "ARCHIVED" and (fields.keys() - {"status"} or status not in ("ARCHIVED", "DELETED"))
            ):
                raise _refusal(
                    "Invalid parameter",
                    subcode=1487056,
                    title="Campaign Cannot Be Edited",
                    user_message=(
                        f"Campaign {campaign.id} is {campaign.status.lower()}: an archived campaign can only be "
                        "deleted, and a deleted one cannot be changed."
                    ),
                )
            budget = None
            if "daily_budget" in fields:
                raw = fields["daily_budget"]
                if not raw.isdigit():
                    raise _graph_error(400, "(#100) Param daily_budget must be a positive integer", code=100)
                budget = int(raw)
                if campaign.daily_budget is None:
                    raise _refusal(
                        "Invalid parameter",
                        subcode=1885621,
                        title="Campaign Budget Not Available",
                        user_message=(
                            "This campaign does not use a campaign budget: its ad sets have their own budgets. "
                            "Change the budgets of its ad sets instead."
                        ),
                    )
                if budget < MIN_DAILY_BUDGET:
                    minimum = f"{Decimal(MIN_DAILY_BUDGET).scaleb(-spec.decimals):.{spec.decimals}f}"
                    raise _refusal(
                        "Invalid parameter",
                        subcode=1885272,
                        title="Your Budget Is Too Low",
                        user_message=f"The minimum daily budget for this campaign is {minimum} {spec.currency}.",
                    )
            if status is not None:
                campaign.status = status
            if budget is not None:
                campaign.daily_budget = budget

    # -- faults and usage headers ----------------------------------------------------------------------
    def _fault(self, endpoint: str):
        taken = self.faults.take(endpoint)
        if taken is None:
            return None
        kind, params = taken
        if kind == "throttle":
            raise _graph_error(
                400,
                "User request limit reached",
                code=17,
                subcode=2446079,
                transient=True,
                headers=self._usage_headers(percent=100),
            )
        if kind == "throttle_account":
            minutes = params.get("minutes", 5)
            raise _graph_error(
                400,
                "There have been too many calls to this ad-account. Wait a bit and try again. For more info, please "
                "refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
                code=80004,
                subcode=2446079,
                transient=True,
                headers=self._usage_headers(percent=100, account="*", regain=minutes),
            )
        if kind == "500":
            raise _graph_error(
                500, "An unexpected error has occurred. Please retry your request later.", code=2, transient=True
            )
        if kind == "slow":
            time.sleep(params.get("seconds", 1.0))
            raise _graph_error(503, "Service temporarily unavailable", code=2, transient=True)
        return (kind, params)

    def _usage_headers(
        self, *, percent: float | None = None, account: str | None = None, regain: int = 0, insights=False
    ):
        base = percent if percent is not None else max(self.usage_floor, min(60, self._calls // 25))
        headers = [
            ("x-app-usage", json.dumps({"call_count": base, "total_cputime": base // 2, "total_time": base // 2}))
        ]
        if account is not None:
            spec_business = next(iter(self.dataset.accounts.values())).spec.business_id
            headers.append(
                (
                    "x-ad-account-usage",
                    json.dumps(
                        {"acc_id_util_pct": base, "reset_time_duration": 0, "ads_api_access_tier": "standard_access"}
                    ),
                )
            )
            headers.append(
                (
                    "x-business-use-case-usage",
                    json.dumps(
                        {
                            spec_business: [
                                {
                                    "type": "ads_insights" if insights else "ads_management",
                                    "call_count": base,
                                    "total_cputime": base // 2,
                                    "total_time": base // 2,
                                    "estimated_time_to_regain_access": regain,
                                }
                            ]
                        }
                    ),
                )
            )
        if insights:
            headers.append(
                ("x-fb-ads-insights-throttle", json.dumps({"app_id_util_pct": base, "acc_id_util_pct": base}))
            )
        return headers

    def _with_usage(self, response: _Response, *, account=None, insights=False, fault=None) -> _Response:
        percent = None
        if fault and fault[0] == "usage":
            percent = fault[1].get("percent", 90)
        response.headers += self._usage_headers(percent=percent, account=account, insights=insights)
        return response

    # -- Facebook Login --------------------------------------------------------------------------------
    def _consent_page(self, environ, base):
        q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if q.get("client_id") not in self.clients or not q.get("redirect_uri"):
            raise _Response(
                400,
                "<h1>Invalid App ID</h1><p>The provided app ID does not look like a valid app ID.</p>",
                content_type="text/html",
            )
        if q.get("response_type", "code") != "code":
            raise _Response(400, "<h1>Unsupported response_type</h1>", content_type="text/html")
        scopes = [s for s in q.get("scope", "").split(",") if s]
        missing = [s for s in SCOPES if s not in scopes]
        if missing:
            raise _Response(
                400, f"<h1>Missing permissions</h1><p>{html.escape(', '.join(missing))}</p>", content_type="text/html"
            )
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(q.get(k, ""), quote=True)}">'
            for k in ("client_id", "redirect_uri", "state", "scope")
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Log in with Facebook</title></head>"
            "<body><h1>Facebook (local fake)</h1>"
            f"<p><strong>{html.escape(q['client_id'])}</strong> is requesting access to your ad accounts "
            f"({html.escape(', '.join(scopes))}).</p>"
            f'<form method="post" action="{html.escape(base)}/dialog/oauth/consent">{hidden}'
            '<button type="submit" name="decision" value="continue">Continue as Demo Seller</button> '
            '<button type="submit" name="decision" value="cancel">Cancel</button>'
            "</form></body></html>"
        )
        return _Response(200, page, content_type="text/html; charset=utf-8")

    def _consent_decision(self, environ):
        form = self._params(environ)
        redirect_uri, state = form.get("redirect_uri", ""), form.get("state", "")
        if form.get("client_id") not in self.clients or not redirect_uri:
            raise _Response(400, "<h1>Invalid request</h1>", content_type="text/html")
        if form.get("decision") != "continue":
            query = {
                "error": "access_denied",
                "error_code": "200",
                "error_description": "Permissions error",
                "error_reason": "user_denied",
                "state": state,
            }
        else:
            code = "AQ" + secrets.token_urlsafe(40)
            with self._lock:
                self._codes[code] = {
                    "client_id": form["client_id"],
                    "redirect_uri": redirect_uri,
                    "expires": self.now() + CODE_TTL,
                    "used": False,
                }
            query = {"code": code, "state": state}
        sep = "&" if "?" in redirect_uri else "?"
        return _Response(302, b"", headers=[("Location", redirect_uri + sep + urlencode(query) + "#_=_")])

    def _client(self, params) -> str:
        client_id = params.get("client_id", "")
        if client_id not in self.clients:
            raise _graph_error(400, "Error validating application. Invalid application ID.", code=101)
        if not hmac.compare_digest(self.clients[client_id], params.get("client_secret", "")):
            raise _graph_error(400, "Error validating client secret.", code=1)
        return client_id

    def _token(self, params):
        client_id = self._client(params)
        with self._lock:
            if params.get("grant_type") == "fb_exchange_token":
                old = self._tokens.get(params.get("fb_exchange_token", ""))
                if old is None or old["revoked"] or old["client_id"] != client_id or self._expired(old):
                    raise _graph_error(400, "Invalid OAuth access token - Cannot parse access token", code=190)
                kind, ttl = "long", LONG_TTL
            elif "code" in params:
                code = self._codes.get(params["code"])
                if code is None or code["client_id"] != client_id:
                    raise _graph_error(400, "Invalid verification code format.", code=100, subcode=36007)
                if code["used"]:
                    raise _graph_error(400, "This authorization code has been used.", code=100, subcode=36009)
                if code["expires"] < self.now():
                    raise _graph_error(400, "This authorization code has expired.", code=100, subcode=36007)
                if code["redirect_uri"] != params.get("redirect_uri"):
                    raise _graph_error(
                        400,
                        "Error validating verification code. Please make sure your redirect_uri is identical to the "
                        "one you used in the OAuth dialog request",
                        code=100,
                        subcode=36008,
                    )
                code["used"] = True
                kind, ttl = "short", SHORT_TTL
            else:
                raise _graph_error(400, "Missing authorization code", code=1)
            token = "EAA" + secrets.token_urlsafe(48)
            self._tokens[token] = {"client_id": client_id, "expires": self.now() + ttl, "kind": kind, "revoked": False}
            self.token_grants.append(params.get("grant_type") or "code")
        return _Response(200, {"access_token": token, "token_type": "bearer", "expires_in": ttl})

    def _expired(self, token: dict) -> bool:
        return token["expires"] is not None and token["expires"] <= self.now()

    def _authorize(self, params, environ, fault) -> str:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = params.get("access_token") or (auth[7:] if auth.startswith("Bearer ") else "")
        if not token:
            raise _graph_error(400, "An access token is required to request this resource.", code=104)
        with self._lock:
            grant = self._tokens.get(token)
            if grant is not None and fault and fault[0] == "expire":
                grant["expires"] = self.now() - 1
            if grant is not None and fault and fault[0] == "revoke":
                grant["revoked"] = True
        if grant is None:
            raise _graph_error(400, "Invalid OAuth access token - Cannot parse access token", code=190)
        if grant["revoked"]:
            raise _graph_error(
                400,
                f"Error validating access token: The user has not authorized application {grant['client_id']}.",
                code=190,
                subcode=458,
            )
        if self._expired(grant):
            raise _graph_error(
                400,
                "Error validating access token: Session has expired. The current time is later than the expiry.",
                code=190,
                subcode=463,
            )
        proof = params.get("appsecret_proof", "")
        if not proof:
            raise _graph_error(400, "API calls from the server require an appsecret_proof argument", code=100)
        secret = self.clients.get(grant["client_id"], "")
        expected = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(proof, expected):
            raise _graph_error(400, "Invalid appsecret_proof provided in the API argument", code=100)
        return token

    # -- lists -----------------------------------------------------------------------------------------
    @staticmethod
    def _select(items: list[dict], params: dict, *, always: tuple[str, ...]) -> list[dict]:
        fields = set(_list_param(params.get("fields"))) | set(always)
        return [{k: v for k, v in item.items() if k in fields} for item in items]

    @staticmethod
    def _page(items: list[dict], params: dict, url: str) -> _Response:
        try:
            limit = max(1, min(int(params.get("limit") or 25), 5000))
            offset = _offset(params["after"]) if params.get("after") else 0
        except (ValueError, IndexError) as exc:
            raise _graph_error(400, "(#100) Invalid cursor or limit", code=100) from exc
        page = items[offset : offset + limit]
        body: dict = {"data": page}
        if items:
            keep = {k: v for k, v in params.items() if k not in ("after", "before")}
            body["paging"] = {"cursors": {"before": _cursor(offset), "after": _cursor(offset + len(page))}}
            if offset + limit < len(items):
                body["paging"]["next"] = f"{url}?{urlencode({**keep, 'after': _cursor(offset + limit)})}"
            if offset:
                body["paging"]["previous"] = f"{url}?{urlencode({**keep, 'before': _cursor(offset)})}"
        return _Response(200, body)

    # -- insights --------------------------------------------------------------------------------------
    def _insights_query(self, account: str, params: dict) -> dict:
        level = params.get("level") or "account"
        if level not in LEVELS:
            raise _graph_error(400, f"(#100) level must be one of the following values: {', '.join(LEVELS)}", code=100)
        try:
            fields = _list_param(params.get("fields"))
            breakdowns = _list_param(params.get("breakdowns"))
            windows = _list_param(params.get("action_attribution_windows"))
            time_range = json.loads(params.get("time_range") or "null")
            since = date.fromisoformat(time_range["since"])
            until = date.fromisoformat(time_range["until"])
        except (ValueError, TypeError, KeyError) as exc:
            raise _graph_error(
                400, "(#100) time_range must be a JSON object with since and until (YYYY-MM-DD)", code=100
            ) from exc
        allowed = fields_allowed(level)
        bad = [f for f in fields if f not in allowed]
        if bad:
            raise _graph_error(400, f"(#100) {bad[0]} is not valid for fields param at level {level}", code=100)
        for i, b in enumerate(breakdowns):
            if b not in BREAKDOWNS:
                raise _graph_error(
                    400,
                    f"(#100) breakdowns[{i}] must be one of the following values: {', '.join(BREAKDOWNS)}",
                    code=100,
                )
        for i, w in enumerate(windows):
            if w not in WINDOWS:
                raise _graph_error(
                    400,
                    f"(#100) action_attribution_windows[{i}] must be one of the following values: {', '.join(WINDOWS)}",
                    code=100,
                )
        increment = params.get("time_increment") or "all_days"
        if increment not in ("1", "all_days"):
            raise _graph_error(400, "(#100) This fake serves time_increment 1 or all_days", code=100)
        if until < since:
            raise _graph_error(400, "(#100) The until date must be on or after the since date", code=100)
        today = self.dataset.today(account)
        if since < _months_before(today, RETENTION_MONTHS):
            raise _graph_error(
                400, "The start date of the time range cannot be beyond 37 months from the current date", code=3018
            )
        return {
            "level": level,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "daily": increment == "1",
            "breakdowns": breakdowns,
            "fields": fields or ["impressions", "spend"],
            "windows": windows,
        }

    def _run_query(self, account: str, query: dict, restatement: int) -> list[dict]:
        return self.dataset.insights_rows(
            account,
            level=query["level"],
            since=date.fromisoformat(query["since"]),
            until=date.fromisoformat(query["until"]),
            daily=query["daily"],
            breakdowns=tuple(query["breakdowns"]),
            fields=tuple(query["fields"]),
            windows=tuple(query["windows"]),
            restatement=restatement,
        )

    def _create_job(self, account: str, query: dict) -> _Response:
        with self._lock:
            run_id = str(6_020_000_000_000_000 + next(self._job_ids) * 7_919)
            self.jobs[run_id] = {
                "id": run_id,
                "account": account,
                "query": query,
                "restatement": self.restatement,
                "async_status": "Job Not Started",
                "async_percent_completion": 0,
                "polls": 0,
                "time_ref": int(self.now()),
                "rows": None,
            }
        return _Response(200, {"report_run_id": run_id})

    def _job_status(self, job: dict, params: dict, fault) -> _Response:
        with self._lock:
            if fault and fault[0] in ("fail", "skip") and job["async_status"] != "Job Completed":
                job["async_status"] = "Job Failed" if fault[0] == "fail" else "Job Skipped"
            elif job["async_status"] not in ("Job Completed", "Job Failed", "Job Skipped"):
                job["polls"] += 1
                if job["polls"] >= self.polls_to_complete:
                    job["async_status"], job["async_percent_completion"] = "Job Completed", 100
                elif job["polls"] == 1:
                    job["async_status"], job["async_percent_completion"] = "Job Started", 0
                else:
                    job["async_status"] = "Job Running"
                    job["async_percent_completion"] = min(99, 100 * job["polls"] // self.polls_to_complete)
            status = job["async_status"]
            node = {
                "id": job["id"],
                "account_id": job["account"],
                "async_status": status,
                "async_percent_completion": job["async_percent_completion"],
                "date_start": job["query"]["since"],
                "date_stop": job["query"]["until"],
                "time_ref": job["time_ref"],
                "time_completed": int(self.now()) if status == "Job Completed" else 0,
                "is_running": status in ("Job Started", "Job Running"),
            }
            if status == "Job Failed":
                node.update(error_code=1, error_message="An unknown error occurred", error_subcode=99)
        fields = set(_list_param(params.get("fields"))) or {"async_status", "async_percent_completion"}
        return _Response(200, {k: v for k, v in node.items() if k in fields | {"id"}})


def _months_before(day: date, months: int) -> date:
    month = day.month - 1 - months
    year = day.year + month // 12
    month = month % 12 + 1
    while True:
        try:
            return date(year, month, day.day)
        except ValueError:
            day = day - timedelta(days=1)


def _graph_error(
    status: int,
    message: str,
    *,
    code: int,
    subcode: int | None = None,
    type_: str | None = None,
    transient: bool = False,
    headers=None,
) -> _Response:
    error = {
        "message": message,
        "type": type_
        or (
            "OAuthException"
            if code in (1, 4, 17, 32, 101, 102, 104, 190, 613) or code >= 80000
            else "GraphMethodException"
        ),
        "code": code,
        "is_transient": transient,
        "fbtrace_id": "A" + secrets.token_urlsafe(16),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return _Response(status, {"error": error}, headers=headers)


def _refusal(message: str, *, subcode: int, title: str, user_message: str) -> _Response:
    """Meta's refusal of a write: a terse ``message`` and the reason for people in ``error_user_msg``."""
    response = _graph_error(400, message, code=100, subcode=subcode)
    response.body["error"].update(error_user_title=title, error_user_msg=user_message)
    return response


def _missing_object(node: str) -> _Response:
    return _graph_error(
        400,
        f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation.",
        code=100,
        subcode=33,
    )


def make_app(public_url: str = "", **kwargs) -> FakeMeta:
    """The WSGI app. ``public_url`` is where it is reachable; empty: derived from each request's host."""
    return FakeMeta(public_url, **kwargs)
