"""A local Shopify for tests and the demo: app install, Admin GraphQL (shop, orders, bulk export), throttling.

Standard library only; a plain WSGI callable. Every shop lives under its own path segment, standing in
for its own domain: ``https://{shop}.myshopify.com/...`` is ``{public_url}/{shop}/...`` here, which is
what ``settings.PLATFORMS["shopify"]["shop_url"]`` (``.../shopify/{shop}``) points at in development.

Routes (``{shop}`` is the subdomain, e.g. ``homegoods-demo``):

- ``GET  /{shop}/admin/oauth/authorize?client_id&scope&redirect_uri&state``: a consent page with Install
  and Cancel. Install redirects to ``redirect_uri`` with ``code, host, shop, state, timestamp`` and
  ``hmac`` (HMAC-SHA256 hex of the others, sorted, keyed with the app secret); Cancel with
  ``error=access_denied``.
- ``POST /{shop}/admin/oauth/access_token`` ``{client_id, client_secret, code}`` -> ``{access_token, scope}``
  (codes are single use).
- ``POST /{shop}/admin/api/{version}/graphql.json`` with ``X-Shopify-Access-Token``: recognises the
  queries our client sends (``shop``; ``orders`` with ``ordersCount``; ``ordersCount`` alone, with its
  ``limit`` (10,000 by default, ``null`` for none) and ``precision``; ``order(id)`` line items;
  ``bulkOperationRunQuery``; ``node(id)`` and ``currentBulkOperation``). Searches understand
  ``updated_at`` and ``created_at`` bounds joined with ``AND``. This is a matcher on the query
  text, not a GraphQL engine. Each query has a requested cost (objects 1, connections 2 + ``first`` x
  node) checked against a leaky bucket per shop (``bucket_size`` points, ``restore_rate`` a second) and
  an actual cost that is deducted; ``extensions.cost`` is on every answer. Over the bucket: ``THROTTLED``
  with HTTP ``throttle_http_status`` (200 or 429). Over ``max_query_cost``: ``MAX_COST_EXCEEDED``.
- ``DELETE /{shop}/admin/api_permissions/current.json``: uninstall (the token stops working).
- ``GET  /{shop}/bulk-results/{file}.jsonl``: a finished export (no token: it stands for a signed URL).

For tests::

    fake = ShopifyFake(clock=clock.time)       # a shared virtual clock refills the bucket when we "sleep"
    token = fake.issue_token()                  # skip the install
    fake.fail("throttled")                      # next GraphQL request: bucket drained -> THROTTLED
    fake.fail("error_500", after=2, times=5)    # also "timeout" (answer after timeout_delay), "revoked"
    fake.refund(order_gid, Decimal("10.00"))    # the order is updated now
    fake.delete(order_gid)                      # the merchant deletes it: gone from lists and counts
    fake.daily_totals(start, end)               # the shop's own per-day figures
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode
from wsgiref.util import application_uri

from connectors.backends.shopify.demo import Event, Order, Shop, demo_shop

DEFAULT_CLIENT_ID = "chuhai-fake-shopify_client_id"
DEFAULT_CLIENT_SECRET = "chuhai-fake-shopify_client_secret"
DEMO_SHOP = "homegoods-demo"

ORDER_OBJECTS = 12  # order, 3 money bags + shopMoney, journey, 2 visits, 2 UTM objects
LINE_OBJECTS = 3  # line item, originalTotalSet, shopMoney
CONNECTION = 2
COUNT_LIMIT = 10_000
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
STATUS_TEXT = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _money(amount: Decimal, currency: str) -> dict:
    return {"shopMoney": {"amount": f"{amount:.2f}", "currencyCode": currency}}


def _cursor(value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"last_id": value}).encode()).decode()


def _uncursor(value: str | None) -> int:
    if not value:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(value.encode()))["last_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"Invalid cursor for current pagination sort: {value}") from exc


def sign(params: dict, secret: str) -> str:
    """Shopify's callback signature: HMAC-SHA256 hex of ``k=v`` pairs sorted and joined with ``&``."""
    message = "&".join(f"{key}={value}" for key, value in sorted(params.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


SEARCH_TERM = re.compile(r"(updated_at|created_at):(>=|<=|>|<)'?([0-9T:.+\-Z]+)'?")


def parse_search(search: str) -> list[tuple[str, str, datetime]]:
    """The time terms of a search (``updated_at:>='...' AND created_at:<'...'``) as (field, operator, moment)."""
    return [
        (field, op, datetime.fromisoformat(value.replace("Z", "+00:00")))
        for field, op, value in SEARCH_TERM.findall(search or "")
    ]


def _matches(moments: dict[str, datetime], bounds: list[tuple[str, str, datetime]]) -> bool:
    checks = {">=": "__ge__", ">": "__gt__", "<=": "__le__", "<": "__lt__"}
    return all(getattr(moments[field], checks[op])(value) for field, op, value in bounds)


class ShopifyFake:
    """The WSGI app; its attributes are the knobs tests turn (see the module docstring)."""

    def __init__(
        self,
        public_url: str = "",
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        shops: list[Shop] | None = None,
        history_days: int = 400,
        clock: Callable[[], float] = time.monotonic,
        bucket_size: float = 1000.0,
        restore_rate: float = 100.0,
        max_query_cost: int = 1000,
        throttle_http_status: int = 200,
        bulk_polls_until_done: int = 2,
    ):
        self.public_url = public_url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.shops = {shop.subdomain: shop for shop in (shops or [demo_shop(history_days)])}
        self.clock = clock
        self.bucket_size, self.restore_rate, self.max_query_cost = bucket_size, restore_rate, max_query_cost
        self.throttle_http_status = throttle_http_status
        self.bulk_polls_until_done = bulk_polls_until_done
        self.bulk_outcome = "COMPLETED"  # or "FAILED" (with bulk_error_code) or "CANCELED"
        self.bulk_error_code = "INTERNAL_SERVER_ERROR"
        self.timeout_delay = 1.0
        self.bulk_download_cut: float | None = None  # a fraction: the next download breaks off there
        self.bulk_ungrouped = False  # write every order first, then the line items (as groupObjects: false may)
        self.now: datetime | None = None  # None: the real time
        self.tokens: dict[str, str] = {}  # access token -> shop
        self.codes: dict[str, dict] = {}
        self.buckets: dict[str, list[float]] = {}  # shop -> [available, at]
        self.bulk_operations: dict[int, dict] = {}
        self.bulk_files: dict[str, bytes] = {}
        self.faults: list[dict] = []
        self.requests: list[dict] = []  # each GraphQL request: shop, kind, variables, status
        self._graphql_count = 0
        self._lock = threading.RLock()

    # --- helpers for tests and the demo ----------------------------------------------------------------
    def current_time(self) -> datetime:
        return self.now or datetime.now(UTC)

    def shop(self, subdomain: str = DEMO_SHOP) -> Shop:
        shop = self.shops[subdomain]
        shop.extend_to(self.current_time())
        return shop

    def issue_token(self, subdomain: str = DEMO_SHOP) -> str:
        token = "shpat_" + secrets.token_hex(16)
        with self._lock:
            self.tokens[token] = subdomain
        return token

    def fail(self, kind: str, *, after: int = 0, times: int = 1) -> None:
        """Make GraphQL requests ``after``+1 .. ``after``+``times`` from now fail with ``kind``: "throttled"
        (the bucket is drained), "error_500", "timeout" (answer after ``timeout_delay`` s) or "revoked"
        (every token of the shop stops working, for good)."""
        assert kind in ("throttled", "error_500", "timeout", "revoked"), kind
        with self._lock:
            start = self._graphql_count + after
            self.faults.append({"kind": kind, "start": start, "end": start + times})

    def order(self, gid: str, subdomain: str = DEMO_SHOP) -> Order:
        return self.shop(subdomain).orders[int(gid.rsplit("/", 1)[-1])]

    def delete(self, gid: str, subdomain: str = DEMO_SHOP) -> None:
        """The merchant deletes the order: it leaves every list and count (what an app read stays read)."""
        with self._lock:
            del self.shop(subdomain).orders[int(gid.rsplit("/", 1)[-1])]

    def refund(self, gid: str, amount: Decimal, *, at: datetime | None = None, subdomain: str = DEMO_SHOP) -> None:
        with self._lock:
            self.order(gid, subdomain).events.append(
                Event((at or self.current_time()).replace(microsecond=0), "refund", amount)
            )

    def visible_orders(
        self, subdomain: str = DEMO_SHOP, *, since: datetime | None = None, until: datetime | None = None
    ):
        """``(order, state)`` of every order placed by now, updated in ``[since, until)`` if given."""
        now = self.current_time()
        result = []
        for order in self.shop(subdomain).sorted_orders():
            state = order.state(now)
            if state is None:
                continue
            if since and state.updated_at < since or until and state.updated_at >= until:
                continue
            result.append((order, state))
        return result

    def daily_totals(self, start: date, end: date, subdomain: str = DEMO_SHOP) -> dict[date, tuple[int, int, Decimal]]:
        """The shop's gross figures per shop-local day of creation: (orders, units, total sales)."""
        shop = self.shop(subdomain)
        totals: dict[date, tuple[int, int, Decimal]] = {}
        for order, _state in self.visible_orders(subdomain):
            day = shop.local_day(order.created_at)
            if start <= day <= end:
                orders, units, total = totals.get(day, (0, 0, Decimal("0")))
                totals[day] = (orders + 1, units + order.units, total + order.total)
        return dict(sorted(totals.items()))

    # --- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        parts = environ.get("PATH_INFO", "/").strip("/").split("/")
        subdomain, rest = parts[0], "/".join(parts[1:])
        if subdomain not in self.shops:
            return self._text(start_response, 404, "There's no Shopify store at this address.")
        if rest == "admin/oauth/authorize" and method in ("GET", "POST"):
            return self._authorize(environ, start_response, subdomain)
        if rest == "admin/oauth/access_token" and method == "POST":
            return self._access_token(environ, start_response, subdomain)
        match = re.fullmatch(r"admin/api/(\d{4}-\d{2}|unstable)/graphql\.json", rest)
        if match and method == "POST":
            return self._graphql(environ, start_response, subdomain)
        if rest == "admin/api_permissions/current.json" and method == "DELETE":
            return self._uninstall(environ, start_response, subdomain)
        if rest.startswith("bulk-results/") and method == "GET":
            body = self.bulk_files.get(rest.removeprefix("bulk-results/"))
            if body is None:
                return self._text(start_response, 404, "NoSuchKey: the specified key does not exist.")
            cut, self.bulk_download_cut = self.bulk_download_cut, None
            if cut:  # announce the whole file, send the first part, hang up
                start_response("200 OK", [("Content-Type", "application/jsonl"), ("Content-Length", str(len(body)))])
                return [body[: int(len(body) * cut)]]
            return self._send(start_response, 200, body, "application/jsonl")
        return self._text(start_response, 404, "Not Found")

    # --- install ---------------------------------------------------------------------------------------
    def _authorize(self, environ, start_response, subdomain):
        params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        if environ["REQUEST_METHOD"] == "POST":
            params.update(self._form(environ))
        if params.get("client_id") != self.client_id or not params.get("redirect_uri"):
            return self._text(
                start_response, 400, "Oauth error invalid_request: The client_id or redirect_uri is missing or invalid"
            )
        shop = self.shop(subdomain)
        redirect_uri, state = params["redirect_uri"], params.get("state", "")
        joiner = "&" if "?" in redirect_uri else "?"
        if environ["REQUEST_METHOD"] == "GET":
            fields = "".join(
                f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">'
                for name in ("client_id", "scope", "redirect_uri", "state")
            )
            page = (
                "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Install app</title></head><body>"
                f"<h1>Install app on {html.escape(shop.name)}</h1>"
                f"<p>{html.escape(shop.domain)}: the app asks to "
                f"<strong>{html.escape(params.get('scope', ''))}</strong>.</p>"
                f"<form method='post'>{fields}"
                "<button type='submit' name='decision' value='install'>Install</button> "
                "<button type='submit' name='decision' value='cancel'>Cancel</button></form></body></html>"
            )
            return self._send(start_response, 200, page.encode(), "text/html; charset=utf-8")
        if params.get("decision") != "install":
            return self._redirect(
                start_response, f"{redirect_uri}{joiner}{urlencode({'error': 'access_denied', 'state': state})}"
            )
        code = secrets.token_hex(16)
        with self._lock:
            self.codes[code] = {"shop": subdomain, "scope": params.get("scope", ""), "expires": time.time() + 600}
        answer = {
            "code": code,
            "host": base64.b64encode(f"admin.shopify.com/store/{subdomain}".encode()).decode().rstrip("="),
            "shop": shop.domain,
            "state": state,
            "timestamp": str(int(time.time())),
        }
        answer["hmac"] = sign(answer, self.client_secret)
        return self._redirect(start_response, f"{redirect_uri}{joiner}{urlencode(answer)}")

    def _access_token(self, environ, start_response, subdomain):
        body = self._body(environ)
        try:
            data = json.loads(body) if body.strip().startswith(b"{") else dict(parse_qsl(body.decode()))
        except ValueError:
            data = {}
        with self._lock:
            grant = self.codes.pop(str(data.get("code", "")), None)
        if data.get("client_id") != self.client_id or data.get("client_secret") != self.client_secret:
            return self._json(
                start_response, 400, {"error": "invalid_client", "error_description": "Invalid API key or secret"}
            )
        if not grant or grant["shop"] != subdomain or grant["expires"] < time.time():
            return self._json(
                start_response,
                400,
                {
                    "error": "invalid_request",
                    "error_description": "The authorization code was not found or was already used",
                },
            )
        token = self.issue_token(subdomain)
        return self._json(start_response, 200, {"access_token": token, "scope": grant["scope"]})

    def _uninstall(self, environ, start_response, subdomain):
        token = environ.get("HTTP_X_SHOPIFY_ACCESS_TOKEN", "")
        with self._lock:
            if self.tokens.get(token) != subdomain:
                return self._json(start_response, 401, {"errors": INVALID_TOKEN})
            for key in [k for k, v in self.tokens.items() if v == subdomain]:
                del self.tokens[key]
        return self._json(start_response, 200, {})

    # --- GraphQL ---------------------------------------------------------------------------------------
    def _graphql(self, environ, start_response, subdomain):
        with self._lock:
            index = self._graphql_count
            self._graphql_count += 1
            kinds = [f["kind"] for f in self.faults if f["start"] <= index < f["end"]]
            if "revoked" in kinds:
                for key in [k for k, v in self.tokens.items() if v == subdomain]:
                    del self.tokens[key]
        body = self._body(environ)
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        query, variables = str(payload.get("query") or ""), payload.get("variables") or {}
        record = {"shop": subdomain, "kind": self._kind(query), "variables": variables, "status": 200}
        self.requests.append(record)
        if "timeout" in kinds:
            time.sleep(self.timeout_delay)  # the client has given up by now; we answer anyway, as servers do
        if "error_500" in kinds:
            record["status"] = 500
            return self._json(start_response, 500, {"errors": "Internal Server Error"})
        if self.tokens.get(environ.get("HTTP_X_SHOPIFY_ACCESS_TOKEN", "")) != subdomain:
            record["status"] = 401
            return self._json(start_response, 401, {"errors": INVALID_TOKEN})
        shop = self.shop(subdomain)
        handler = getattr(self, f"_q_{record['kind']}", None)
        if handler is None:
            return self._json(
                start_response,
                200,
                {
                    "errors": [
                        {"message": "This fake does not know that query", "extensions": {"code": "undefinedField"}}
                    ]
                },
            )
        requested = self._requested_cost(record["kind"], query, variables)
        with self._lock:
            available = self._refill(subdomain, drain="throttled" in kinds)
            if requested > self.max_query_cost:
                return self._json(
                    start_response,
                    200,
                    {
                        "errors": [
                            {
                                "message": f"Query cost is {requested}, which exceeds the single query max cost "
                                f"limit ({self.max_query_cost}).",
                                "extensions": {
                                    "code": "MAX_COST_EXCEEDED",
                                    "cost": requested,
                                    "maxCost": self.max_query_cost,
                                },
                            }
                        ],
                        "extensions": {"cost": self._cost(subdomain, requested, None)},
                    },
                )
            if requested > available:
                record.update(status=self.throttle_http_status, throttled=True)
                return self._json(
                    start_response,
                    self.throttle_http_status,
                    {
                        "errors": [
                            {
                                "message": "Throttled",
                                "extensions": {
                                    "code": "THROTTLED",
                                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                                },
                            }
                        ],
                        "extensions": {"cost": self._cost(subdomain, requested, None)},
                    },
                )
            data, actual = handler(environ, shop, query, variables)
            self.buckets[subdomain][0] = max(0.0, available - actual)
            return self._json(
                start_response, 200, {"data": data, "extensions": {"cost": self._cost(subdomain, requested, actual)}}
            )

    @staticmethod
    def _kind(query: str) -> str:
        if "bulkOperationRunQuery" in query:
            return "bulk_run"
        if "currentBulkOperation" in query:
            return "bulk_current"
        if re.search(r"\bnode\(id:", query):
            return "bulk_node"
        if re.search(r"\border\(id:", query):
            return "order_lines"
        if re.search(r"\bordersCount\(", query) and not re.search(r"\borders\(", query):
            return "orders_count"
        if re.search(r"\borders\(", query):
            return "orders"
        if re.search(r"\bshop\s*\{", query):
            return "shop"
        return "unknown"

    @staticmethod
    def _first(query: str, variables: dict, variable: str, pattern: str, default: int) -> int:
        if variables.get(variable) is not None:
            return int(variables[variable])
        match = re.search(pattern, query)
        return int(match.group(1)) if match else default

    def _requested_cost(self, kind: str, query: str, variables: dict) -> int:
        if kind == "orders":
            first = self._first(query, variables, "first", r"orders\(first:\s*(\d+)", 0)
            lines = self._first(query, variables, "lines", r"lineItems\(first:\s*(\d+)", 0)
            per_order = ORDER_OBJECTS + CONNECTION + lines * LINE_OBJECTS
            return CONNECTION + first * per_order + (1 if "ordersCount" in query else 0)
        if kind == "order_lines":
            first = self._first(query, variables, "first", r"lineItems\(first:\s*(\d+)", 0)
            return 1 + CONNECTION + first * LINE_OBJECTS
        if kind == "bulk_run":
            return 10
        return 1

    def _refill(self, subdomain: str, *, drain: bool = False) -> float:
        now = self.clock()
        available, at = self.buckets.get(subdomain, [self.bucket_size, now])
        available = min(self.bucket_size, available + max(0.0, now - at) * self.restore_rate)
        if drain:
            available = 0.0
        self.buckets[subdomain] = [available, now]
        return available

    def _cost(self, subdomain: str, requested: int, actual: int | None) -> dict:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": float(self.bucket_size),
                "currentlyAvailable": round(self.buckets[subdomain][0], 3),
                "restoreRate": float(self.restore_rate),
            },
        }

    # queries -----------------------------------------------------------------------------------------------
    def _q_shop(self, environ, shop: Shop, query, variables):
        data = {
            "shop": {
                "name": shop.name,
                "currencyCode": shop.currency,
                "ianaTimezone": shop.time_zone,
                "myshopifyDomain": shop.domain,
            }
        }
        return data, 1

    def _order_node(self, shop: Shop, order: Order, state, *, lines: int | None) -> dict:
        journey = None
        if order.journey:
            journey = {"firstVisit": dict(order.journey["firstVisit"]), "lastVisit": dict(order.journey["lastVisit"])}
        node = {
            "id": order.gid,
            "name": order.name,
            "createdAt": _iso(order.created_at),
            "updatedAt": _iso(state.updated_at),
            "cancelledAt": _iso(state.cancelled_at),
            "displayFinancialStatus": state.financial_status,
            "currencyCode": shop.currency,
            "totalPriceSet": _money(order.total, shop.currency),
            "subtotalPriceSet": _money(order.subtotal, shop.currency),
            "totalRefundedSet": _money(state.refunded, shop.currency),
            "customerJourneySummary": journey,
        }
        if lines is not None:
            node["lineItems"] = self._line_connection(shop, order, 0, lines)
        return node

    def _line_node(self, shop: Shop, line) -> dict:
        return {
            "id": f"gid://shopify/LineItem/{line.id}",
            "sku": line.sku,
            "title": line.title,
            "quantity": line.quantity,
            "originalTotalSet": _money(line.amount, shop.currency),
        }

    def _line_connection(self, shop: Shop, order: Order, start: int, first: int) -> dict:
        chosen = order.lines[start : start + first]
        has_next = start + first < len(order.lines)
        return {
            "edges": [
                {"node": self._line_node(shop, line), "cursor": _cursor(start + i + 1)} for i, line in enumerate(chosen)
            ],
            "pageInfo": {"hasNextPage": has_next, "endCursor": _cursor(start + len(chosen)) if chosen else None},
        }

    def _matching(self, shop: Shop, search: str) -> list[tuple[Order, object]]:
        bounds, now = parse_search(search), self.current_time()
        result = []
        for order in shop.sorted_orders():
            state = order.state(now)
            if state is not None and _matches({"updated_at": state.updated_at, "created_at": order.created_at}, bounds):
                result.append((order, state))
        return result

    def _q_orders_count(self, environ, shop: Shop, query, variables):
        """``ordersCount(query:, limit:)``: capped at ``limit`` (10,000 unless the query passes ``null``), with
        ``precision`` ``AT_LEAST`` when the cap was reached."""
        limit = COUNT_LIMIT
        match = re.search(r"ordersCount\([^)]*\blimit:\s*(null|\d+|\$\w+)", query)
        if match:
            value = match.group(1)
            limit = variables.get(value[1:]) if value.startswith("$") else None if value == "null" else int(value)
        count = len(self._matching(shop, variables.get("query") or ""))
        capped = limit is not None and count > limit
        return {"ordersCount": {"count": limit if capped else count, "precision": "AT_LEAST" if capped else "EXACT"}}, 1

    def _q_orders(self, environ, shop: Shop, query, variables):
        first = self._first(query, variables, "first", r"orders\(first:\s*(\d+)", 50)
        lines = self._first(query, variables, "lines", r"lineItems\(first:\s*(\d+)", 10)
        search = variables.get("query") or ""
        matched = self._matching(shop, search)
        after = _uncursor(variables.get("after"))
        rest = [(order, state) for order, state in matched if order.id > after]
        page = rest[:first]
        edges = [{"node": self._order_node(shop, o, s, lines=lines), "cursor": _cursor(o.id)} for o, s in page]
        data = {
            "orders": {
                "edges": edges,
                "pageInfo": {"hasNextPage": len(rest) > first, "endCursor": _cursor(page[-1][0].id) if page else None},
            }
        }
        actual = CONNECTION + sum(ORDER_OBJECTS + CONNECTION + min(lines, len(o.lines)) * LINE_OBJECTS for o, _ in page)
        if "ordersCount" in query:
            count = len(matched)
            data["ordersCount"] = {
                "count": min(count, COUNT_LIMIT),
                "precision": "EXACT" if count <= COUNT_LIMIT else "AT_LEAST",
            }
            actual += 1
        return data, actual

    def _q_order_lines(self, environ, shop: Shop, query, variables):
        first = self._first(query, variables, "first", r"lineItems\(first:\s*(\d+)", 50)
        try:
            order = shop.orders.get(int(str(variables.get("id", "")).rsplit("/", 1)[-1]))
        except ValueError:
            order = None
        if order is None or order.state(self.current_time()) is None:
            return {"order": None}, 1
        start = _uncursor(variables.get("after"))
        connection = self._line_connection(shop, order, start, first)
        return {"order": {"lineItems": connection}}, 1 + CONNECTION + len(connection["edges"]) * LINE_OBJECTS

    # bulk ----------------------------------------------------------------------------------------------------
    def _q_bulk_run(self, environ, shop: Shop, query, variables):
        inner = str(variables.get("query") or "")
        match = re.search(r'orders\(query:\s*("(?:[^"\\]|\\.)*")', inner)
        running = [
            op
            for op in self.bulk_operations.values()
            if op["shop"] == shop.subdomain and op["status"] in ("CREATED", "RUNNING")
        ]
        if running:
            message = f"A bulk query operation for this app and shop is already in progress: {running[0]['id']}."
            return {
                "bulkOperationRunQuery": {"bulkOperation": None, "userErrors": [{"field": None, "message": message}]}
            }, 10
        if not match:
            error = {"field": ["query"], "message": "Bulk queries must contain at least one connection."}
            return {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": [error]}}, 10
        number = len(self.bulk_operations) + 1
        operation = {
            "number": number,
            "id": f"gid://shopify/BulkOperation/{number}",
            "shop": shop.subdomain,
            "status": "CREATED",
            "query": inner,
            "search": json.loads(match.group(1)),
            "grouped": "groupObjects: true" in query,
            "polls": 0,
            "errorCode": None,
            "objectCount": "0",
            "fileSize": None,
            "url": None,
            "partialDataUrl": None,
        }
        self.bulk_operations[number] = operation
        return {
            "bulkOperationRunQuery": {"bulkOperation": {"id": operation["id"], "status": "CREATED"}, "userErrors": []}
        }, 10

    def _advance(self, environ, operation: dict) -> None:
        if operation["status"] not in ("CREATED", "RUNNING"):
            return
        operation["polls"] += 1
        operation["status"] = "RUNNING"
        if operation["polls"] < self.bulk_polls_until_done:
            return
        if self.bulk_outcome != "COMPLETED":
            operation["status"] = self.bulk_outcome
            operation["errorCode"] = self.bulk_error_code if self.bulk_outcome == "FAILED" else None
            return
        shop = self.shops[operation["shop"]]
        lines, children, objects = [], [], 0
        for order, state in self._matching(shop, operation["search"]):
            lines.append(json.dumps(self._order_node(shop, order, state, lines=None)))
            mine = [json.dumps({**self._line_node(shop, line), "__parentId": order.gid}) for line in order.lines]
            (children if self.bulk_ungrouped else lines).extend(mine)
            objects += 1 + len(order.lines)
        lines += children
        operation.update(status="COMPLETED", objectCount=str(objects))
        if objects:
            body = ("\n".join(lines) + "\n").encode()
            name = f"{operation['number']}-{secrets.token_hex(8)}.jsonl"
            self.bulk_files[name] = body
            base = self.public_url or application_uri(environ).rstrip("/")
            operation.update(fileSize=str(len(body)), url=f"{base}/{shop.subdomain}/bulk-results/{name}")

    @staticmethod
    def _bulk_fields(operation: dict, *, query: bool = False) -> dict:
        keys = ["id", "status", "errorCode", "objectCount", "fileSize", "url", "partialDataUrl"] + (
            ["query"] if query else []
        )
        return {key: operation[key] for key in keys}

    def _q_bulk_node(self, environ, shop: Shop, query, variables):
        number = str(variables.get("id", "")).rsplit("/", 1)[-1]
        operation = self.bulk_operations.get(int(number)) if number.isdigit() else None
        if operation is None or operation["shop"] != shop.subdomain:
            return {"node": None}, 1
        self._advance(environ, operation)
        return {"node": self._bulk_fields(operation)}, 1

    def _q_bulk_current(self, environ, shop: Shop, query, variables):
        mine = [op for op in self.bulk_operations.values() if op["shop"] == shop.subdomain]
        if not mine:
            return {"currentBulkOperation": None}, 1
        operation = mine[-1]
        self._advance(environ, operation)
        return {"currentBulkOperation": self._bulk_fields(operation, query=True)}, 1

    # --- plumbing --------------------------------------------------------------------------------------
    @staticmethod
    def _body(environ) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        return environ["wsgi.input"].read(length) if length else b""

    def _form(self, environ) -> dict:
        return dict(parse_qsl(self._body(environ).decode()))

    @staticmethod
    def _send(start_response, status: int, body: bytes, content_type: str, headers=()):
        start_response(
            f"{status} {STATUS_TEXT.get(status, '')}",
            [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
        )
        return [body]

    def _json(self, start_response, status: int, data) -> list[bytes]:
        return self._send(start_response, status, json.dumps(data).encode(), "application/json; charset=utf-8")

    def _text(self, start_response, status: int, text: str) -> list[bytes]:
        return self._send(start_response, status, text.encode(), "text/plain; charset=utf-8")

    def _redirect(self, start_response, location: str) -> list[bytes]:
        return self._send(start_response, 302, b"", "text/plain", [("Location", location)])


def make_app(public_url: str, **options) -> ShopifyFake:
    """The fake for ``python -m connectors.fakes``: the app credentials are the ones our settings use."""
    try:
        from django.conf import settings

        conf = settings.PLATFORMS.get("shopify", {})
        options.setdefault("client_id", conf.get("client_id") or DEFAULT_CLIENT_ID)
        options.setdefault("client_secret", conf.get("client_secret") or DEFAULT_CLIENT_SECRET)
    except Exception:  # noqa: BLE001 - outside Django the fake's own defaults apply
        pass
    return ShopifyFake(public_url, **options)
