"""A local Selling Partner API: consent, LWA tokens, marketplace participations, order metrics and Orders v0.

``make_app(public_url)`` returns a ``FakeSellingPartner``, a standard-library WSGI app that also exposes its
state to tests: the clock (``now``, ``advance``), the demo orders (``orders_updated``, ``day_totals``,
``api_order``), late changes (``set_status``), fault injection (``inject``, ``revoke``,
``expire_access_tokens``) and a log of the calls it served (``requests``).

Paths (relative to where it is mounted; ``python -m connectors.fakes`` serves it under ``/amazon-sp``):
``/consent`` (Seller Central's authorization page), ``/auth/o2/token`` (LWA), and under ``/api``:
``/sellers/v1/marketplaceParticipations``, ``/sales/v1/orderMetrics``, ``/orders/v0/orders`` and
``/orders/v0/orders/{orderId}/orderItems``.

What it reproduces (platform-apis.md 2 and 12): ``x-amz-access-token`` checked on every call (403
``Unauthorized`` when missing, expired or revoked); ``x-amzn-RateLimit-Limit`` and ``x-amzn-RequestId`` on
every API response; a token bucket per seller and operation answering 429 ``QuotaExceeded`` without
``Retry-After``; the ``payload`` wrapper; getOrderMetrics' parameter rules (one marketplace, ``start--end``
with an exclusive end and absolute times, ``granularityTimeZone`` required above Hour and matching the
interval's offsets); Orders v0 filters (LastUpdatedAfter xor CreatedAfter, the "Before" bound at least two
minutes in the past, MaxResultsPerPage 1-100) and NextToken paging, also for order items; Pending orders
without OrderTotal or ItemPrice. Order metrics are computed from the very orders the Orders API serves:
every order placed in the bucket and not Canceled (that Canceled orders leave "ordered product sales" is our
assumption, not a documented fact).

Real orders carry ``BuyerInfo`` and ``ShippingAddress`` only with a Restricted Data Token; the fake always
sends them, so tests can prove the connector drops them.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.backends.amazon_sp import demo
from connectors.backends.amazon_sp.client import (
    MARKETPLACES,
    MARKETPLACES_BY_CODE,
    RATE_LIMITS,
    iso_utc,
    local_midnight,
)
from connectors.backends.amazon_sp.demo import PLANS, DemoOrder

# A seller on a raised usage plan, so the demo loads quickly; pass ``rates=REAL_RATES`` for Amazon's defaults.
REAL_RATES = dict(RATE_LIMITS)
DEMO_RATES = {
    "getOrderMetrics": (10.0, 30),
    "getOrders": (10.0, 30),
    "getOrderItems": (20.0, 60),
    "getMarketplaceParticipations": (5.0, 15),
}
ACCESS_TOKEN_SECONDS = 3600
CODE_SECONDS = 300
BEFORE_MARGIN = timedelta(minutes=2)
GRANULARITIES = ("Hour", "Day", "Week", "Month", "Year", "Total")
ZERO_DECIMAL_CURRENCIES = {"JPY"}

ROUTES = (
    (re.compile(r"^/api/sellers/v1/marketplaceParticipations$"), "getMarketplaceParticipations"),
    (re.compile(r"^/api/sales/v1/orderMetrics$"), "getOrderMetrics"),
    (re.compile(r"^/api/orders/v0/orders$"), "getOrders"),
    (re.compile(r"^/api/orders/v0/orders/(?P<order_id>[^/]+)/orderItems$"), "getOrderItems"),
)


def money(amount: Decimal, currency: str) -> dict:
    exponent = Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    return {"CurrencyCode": currency, "Amount": str(amount.quantize(exponent, rounding=ROUND_HALF_UP))}


def _sales_money(amount: Decimal, currency: str) -> dict:
    value = money(amount, currency)
    return {"amount": value["Amount"], "currencyCode": currency}


def _encode_token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode()).decode().rstrip("=")


def _decode_token(token: str) -> dict:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "InvalidInput", "Invalid Input", "NextToken is invalid or expired.") from exc


def _parse_time(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, "InvalidInput", "Invalid Input", f"{name} is not an ISO 8601 date: {value}") from exc
    if moment.tzinfo is None:
        raise ApiError(400, "InvalidInput", "Invalid Input", f"{name} must be an absolute time (Z or an offset).")
    return moment


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"errors": [error]}


@dataclass
class Fault:
    """A one-shot (or ``times``-shot) failure for the next matching API call, after ``skip`` matching calls.

    kind: "429" (QuotaExceeded, with ``limit`` as x-amzn-RateLimit-Limit), "500" (InternalFailure) or
    "timeout" (answer only after ``seconds``, by when the client has given up).
    """

    kind: str
    operation: str | None = None
    times: int = 1
    skip: int = 0
    limit: str | None = None
    seconds: float = 2.0


@dataclass(frozen=True)
class Totals:
    orders: int
    items: int
    units: int
    total_sales: Decimal
    currency: str


class FakeSellingPartner:
    def __init__(
        self,
        public_url: str = "",
        *,
        now: datetime | None = None,
        rates: dict | None = None,
        throttle: bool = True,
        orders_page_size: int = 100,
        items_page_size: int = 20,
        client_id: str | None = None,
        client_secret: str | None = None,
        seller_id: str = demo.SELLER_ID,
        markets: tuple[str, ...] = ("US", "DE", "JP"),
    ):
        self.public_url = public_url.rstrip("/")
        self._now = now
        self.rates = {**DEMO_RATES, **(rates or {})}
        self.throttle = throttle
        self.orders_page_size = orders_page_size
        self.items_page_size = items_page_size
        self.client_id, self.client_secret = client_id, client_secret
        self.seller_id = seller_id
        self.markets = markets
        self.lock = threading.Lock()
        self.codes: dict[str, dict] = {}
        self.refresh_tokens: dict[str, dict] = {}  # token -> {"seller", "revoked"}
        self.access_tokens: dict[str, tuple[str, datetime]] = {}  # token -> (refresh token, expires at)
        self.overrides: dict[str, list[tuple[datetime, str]]] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict] = []
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    # clock ------------------------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    def advance(self, **delta) -> datetime:
        self._now = self.now + timedelta(**delta)
        return self._now

    # test controls ----------------------------------------------------------------------------------------
    def inject(self, kind: str, **options) -> Fault:
        fault = Fault(kind, **options)
        with self.lock:
            self.faults.append(fault)
        return fault

    def revoke(self, refresh_token: str | None = None) -> None:
        """The seller removed the app in Seller Central: the refresh token(s) and their access tokens die."""
        with self.lock:
            for token, grant in self.refresh_tokens.items():
                if refresh_token in (None, token):
                    grant["revoked"] = True

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens = {t: (r, self.now - timedelta(seconds=1)) for t, (r, _) in self.access_tokens.items()}

    def set_status(self, order_id: str, status: str, at: datetime | None = None) -> None:
        """A late change: from ``at`` (default now) the order has ``status`` and a new LastUpdateDate."""
        with self.lock:
            self.overrides.setdefault(order_id, []).append((at or self.now, status))

    def calls(self, operation: str) -> list[dict]:
        return [r["params"] for r in self.requests if r["operation"] == operation]

    # the demo data as of the clock ----------------------------------------------------------------------
    def order(self, order_id: str) -> DemoOrder:
        code, day = demo.parse_order_id(order_id)
        return next(o for o in demo.orders_for_day(code, day) if o.id == order_id)

    def events(self, order: DemoOrder, until: datetime | None = None) -> list[tuple[datetime, str]]:
        events = list(order.events)
        for moment, status in self.overrides.get(order.id, ()):
            events = [e for e in events if e[0] < moment] + [(moment, status)]
        until = until or self.now
        return [e for e in events if e[0] <= until]

    def _history_start(self, code: str) -> date:
        return self.now.astimezone(ZoneInfo(PLANS[code].marketplace.time_zone)).date() - timedelta(
            days=demo.HISTORY_DAYS
        )

    def placed_between(self, code: str, start: datetime, end: datetime) -> list[DemoOrder]:
        """Orders placed in [start, end) and by now."""
        zone = ZoneInfo(PLANS[code].marketplace.time_zone)
        end = min(end, self.now + timedelta(microseconds=1))
        day, last = max(start.astimezone(zone).date(), self._history_start(code)), end.astimezone(zone).date()
        found = []
        while day <= last:
            found.extend(o for o in demo.orders_for_day(code, day) if start <= o.purchased_at < end)
            day += timedelta(days=1)
        return found

    def orders_updated(self, code: str, after: datetime, before: datetime | None = None) -> list[DemoOrder]:
        """What getOrders returns for LastUpdatedAfter=after, LastUpdatedBefore=before (default: now - 2 min):
        orders with a status change in [after, before], in purchase order."""
        before = before or self.now - BEFORE_MARGIN
        candidates = self.placed_between(code, after - timedelta(days=3), before + timedelta(microseconds=1))
        return [o for o in candidates if any(after <= moment <= before for moment, _ in self.events(o, before))]

    def totals(self, code: str, start: datetime, end: datetime) -> Totals:
        orders = [o for o in self.placed_between(code, start, end) if self.events(o)[-1][1] != "Canceled"]
        return Totals(
            orders=len(orders),
            items=sum(len(o.lines) for o in orders),
            units=sum(o.units for o in orders),
            total_sales=sum((o.total for o in orders), Decimal(0)),
            currency=PLANS[code].marketplace.currency,
        )

    def day_totals(self, code: str, day: date) -> Totals:
        zone = PLANS[code].marketplace.time_zone
        return self.totals(code, local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone))

    def api_order(self, order: DemoOrder) -> dict:
        events = self.events(order)
        status = events[-1][1]
        plan = PLANS[order.code]
        data = {
            "AmazonOrderId": order.id,
            "PurchaseDate": iso_utc(order.purchased_at),
            "LastUpdateDate": iso_utc(events[-1][0]),
            "OrderStatus": status,
            "FulfillmentChannel": order.fulfillment,
            "SalesChannel": plan.name,
            "ShipServiceLevel": "Std Dom",
            "NumberOfItemsShipped": order.units if status == "Shipped" else 0,
            "NumberOfItemsUnshipped": order.units if status in ("Pending", "Unshipped") else 0,
            "PaymentMethod": "Other",
            "PaymentMethodDetails": ["Standard"],
            "MarketplaceId": plan.marketplace.id,
            "ShipmentServiceLevelCategory": "Standard",
            "OrderType": "StandardOrder",
            "EarliestShipDate": iso_utc(order.purchased_at + timedelta(days=1)),
            "LatestShipDate": iso_utc(order.purchased_at + timedelta(days=3)),
            "IsBusinessOrder": order.is_business,
            "IsPrime": order.is_prime,
            "IsPremiumOrder": False,
            "IsGlobalExpressEnabled": False,
            "IsReplacementOrder": False,
            "IsSoldByAB": False,
            "IsISPU": False,
            "IsAccessPointOrder": False,
            "BuyerInfo": {"BuyerEmail": order.buyer_email, "BuyerName": order.buyer_name},
            "ShippingAddress": {
                "Name": order.buyer_name,
                "AddressLine1": order.address[0],
                "City": order.address[1],
                "StateOrRegion": order.address[2],
                "PostalCode": order.address[3],
                "CountryCode": plan.marketplace.code if plan.marketplace.code != "UK" else "GB",
            },
        }
        if status != "Pending":  # no pricing until payment is authorized
            data["OrderTotal"] = money(order.total, order.currency)
        return data

    def api_items(self, order: DemoOrder) -> list[dict]:
        status = self.events(order)[-1][1]
        items = []
        for line in order.lines:
            item = {
                "ASIN": line.product.asin,
                "SellerSKU": line.product.sku,
                "OrderItemId": line.item_id,
                "Title": line.product.title,
                "QuantityOrdered": line.quantity,
                "QuantityShipped": line.quantity if status == "Shipped" else 0,
                "ConditionId": "New",
                "IsGift": "false",
                "BuyerInfo": {"GiftMessageText": ""},
            }
            if status != "Pending":  # no pricing until payment is authorized
                item["ItemPrice"] = money(line.amount, order.currency)
                item["PromotionDiscount"] = money(Decimal(0), order.currency)
            items.append(item)
        return items

    # WSGI ---------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        query = {k: ",".join(v) for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        if path == "/consent":
            status, headers, body = self._consent(environ, method, query)
        elif path == "/auth/o2/token" and method == "POST":
            status, headers, body = self._token(_read_form(environ))
        elif path.startswith("/api/"):
            status, headers, body = self._api(environ, method, path, query)
        else:
            status, headers, body = 404, [("Content-Type", "text/plain")], b"not found"
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    # Seller Central consent -------------------------------------------------------------------------------
    def _consent(self, environ, method, query):
        params = _read_form(environ) if method == "POST" else query
        application_id, state, redirect_uri = (params.get(k, "") for k in ("application_id", "state", "redirect_uri"))
        if not (application_id and state and redirect_uri):
            return 400, [("Content-Type", "text/plain")], b"application_id, state and redirect_uri are required"
        if method == "POST":
            if params.get("decision") != "allow":
                location = _with_query(redirect_uri, {"state": state, "error": "access_denied"})
                return 302, [("Location", location)], b""
            code = "ANDM" + secrets.token_urlsafe(15)
            with self.lock:
                self.codes[code] = {
                    "redirect_uri": redirect_uri,
                    "seller": self.seller_id,
                    "expires": self.now + timedelta(seconds=CODE_SECONDS),
                }
            location = _with_query(
                redirect_uri,
                {
                    "state": state,
                    "selling_partner_id": self.seller_id,
                    "mws_auth_token": "amzn.mws." + uuid.uuid4().hex[:24],
                    "spapi_oauth_code": code,
                },
            )
            return 302, [("Location", location)], b""
        action = html.escape(environ.get("SCRIPT_NAME", "") + "/consent")
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
            for k, v in (("application_id", application_id), ("state", state), ("redirect_uri", redirect_uri))
        )
        page = (
            "<!doctype html><title>Seller Central: authorize app</title>"
            f"<h1>Authorize {html.escape(application_id)}?</h1>"
            f"<p>{html.escape(demo.STORE_NAME)} ({self.seller_id}) grants access to orders and sales data.</p>"
            f'<form method="post" action="{action}">{hidden}'
            '<button name="decision" value="allow">Confirm</button> '
            '<button name="decision" value="deny">Cancel</button></form>'
        )
        return 200, [("Content-Type", "text/html; charset=utf-8")], page.encode()

    # Login with Amazon -----------------------------------------------------------------------------------
    def _token(self, form: dict):
        grant_type = form.get("grant_type", "")
        self._log(f"token:{grant_type}", form)

        def error(status, code, description):
            body = json.dumps({"error": code, "error_description": description}).encode()
            return status, [("Content-Type", "application/json")], body

        if not form.get("client_id") or not form.get("client_secret"):
            return error(401, "invalid_client", "Client authentication failed")
        if (self.client_id and form["client_id"] != self.client_id) or (
            self.client_secret and form["client_secret"] != self.client_secret
        ):
            return error(401, "invalid_client", "Client authentication failed")
        with self.lock:
            if grant_type == "authorization_code":
                grant = self.codes.pop(form.get("code", ""), None)
                if (
                    grant is None
                    or grant["expires"] < self.now
                    or (form.get("redirect_uri") and form["redirect_uri"] != grant["redirect_uri"])
                ):
                    return error(400, "invalid_grant", "The request has an invalid grant parameter : code")
                refresh_token = "Atzr|" + secrets.token_urlsafe(32)
                self.refresh_tokens[refresh_token] = {"seller": grant["seller"], "revoked": False}
            elif grant_type == "refresh_token":
                refresh_token = form.get("refresh_token", "")
                grant = self.refresh_tokens.get(refresh_token)
                if grant is None or grant["revoked"]:
                    return error(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
            else:
                return error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
            access_token = "Atza|" + secrets.token_urlsafe(32)
            self.access_tokens[access_token] = (refresh_token, self.now + timedelta(seconds=ACCESS_TOKEN_SECONDS))
        body = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
        }
        return 200, [("Content-Type", "application/json;charset=UTF-8"), ("Cache-Control", "no-store")], _json(body)

    # the API ----------------------------------------------------------------------------------------------
    def _api(self, environ, method, path, query):
        operation, match = next(((op, m) for rx, op in ROUTES if (m := rx.match(path))), (None, None))
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]
        if operation is None or method != "GET":
            return 404, headers, _json(ApiError(404, "NotFound", "Resource not found").body())
        self._log(operation, query)
        headers.append(("x-amzn-RateLimit-Limit", f"{self.rates[operation][0]:g}"))
        fault = self._take_fault(operation)
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.seconds)
        elif fault is not None and fault.kind == "429":
            if fault.limit is not None:
                headers[-1] = ("x-amzn-RateLimit-Limit", fault.limit)
            return 429, headers, _json(self._quota_error().body())
        elif fault is not None:
            error = ApiError(500, "InternalFailure", "We encountered an internal error. Please try again.")
            return 500, headers, _json(error.body())
        try:
            seller = self._authenticate(environ)
            if not self._take_token(seller, operation):
                raise self._quota_error()
            payload = getattr(self, f"_op_{operation}")(query, **(match.groupdict()))
        except ApiError as exc:
            return exc.status, headers, _json(exc.body())
        return 200, headers, _json({"payload": payload})

    @staticmethod
    def _quota_error() -> ApiError:
        return ApiError(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")

    def _log(self, operation: str, params: dict) -> None:
        with self.lock:
            self.requests.append({"operation": operation, "params": dict(params)})

    def _take_fault(self, operation: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.operation not in (None, operation):
                    continue
                if fault.skip:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _authenticate(self, environ) -> str:
        token = environ.get("HTTP_X_AMZ_ACCESS_TOKEN", "")
        with self.lock:
            issued = self.access_tokens.get(token)
            grant = self.refresh_tokens.get(issued[0]) if issued else None
        if not token:
            details = "Access token is missing in the request header."
        elif issued is None or grant is None or grant["revoked"]:
            details = "The access token you provided is revoked, malformed or invalid."
        elif issued[1] <= self.now:
            details = "The access token you provided has expired."
        else:
            return grant["seller"]
        raise ApiError(403, "Unauthorized", "Access to requested resource is denied.", details)

    def _take_token(self, seller: str, operation: str) -> bool:
        if not self.throttle:
            return True
        rate, burst = self.rates[operation]
        now = time.monotonic()
        with self.lock:
            tokens, updated = self._buckets.get((seller, operation), (burst, now))
            tokens = min(burst, tokens + (now - updated) * rate)
            allowed = tokens >= 1
            self._buckets[(seller, operation)] = (tokens - 1 if allowed else tokens, now)
        return allowed

    def _market(self, marketplace_id: str) -> str:
        marketplace = MARKETPLACES.get(marketplace_id)
        if marketplace is None or marketplace.code not in self.markets:
            raise ApiError(400, "InvalidInput", "Invalid Input", f"Invalid marketplace identifier: {marketplace_id}")
        return marketplace.code

    # operations --------------------------------------------------------------------------------------------
    def _op_getMarketplaceParticipations(self, query):  # named after the operation
        rows = []
        for code in (*self.markets, *demo.IDLE_MARKETPLACES):
            marketplace, plan = MARKETPLACES_BY_CODE[code], PLANS.get(code)
            rows.append(
                {
                    "marketplace": {
                        "id": marketplace.id,
                        "countryCode": "GB" if code == "UK" else code,
                        "name": plan.name if plan else f"Amazon ({code})",
                        "defaultCurrencyCode": marketplace.currency,
                        "defaultLanguageCode": plan.language if plan else "en_US",
                        "domainName": plan.domain if plan else "",
                    },
                    "participation": {"isParticipating": code in self.markets, "hasSuspendedListings": False},
                    "storeName": demo.STORE_NAME,
                }
            )
        return rows

    def _op_getOrderMetrics(self, query):
        ids = [i for i in query.get("marketplaceIds", "").split(",") if i]
        if len(ids) != 1:
            raise ApiError(400, "InvalidInput", "Invalid Input", "Exactly one marketplaceId must be specified.")
        code = self._market(ids[0])
        raw = query.get("interval", "")
        first, sep, second = raw.partition("--")
        if not sep or not first or not second:
            raise ApiError(400, "InvalidInput", "Invalid Input", f"interval must be 'start--end': {raw!r}")
        start, end = _parse_time(first, "interval start"), _parse_time(second, "interval end")
        if start >= end:
            raise ApiError(400, "InvalidInput", "Invalid Input", "The interval's end must be after its start.")
        granularity = query.get("granularity", "")
        if granularity not in GRANULARITIES:
            raise ApiError(400, "InvalidInput", "Invalid Input", f"Invalid granularity: {granularity!r}")
        if granularity not in ("Day", "Total"):
            raise ApiError(400, "InvalidInput", "Invalid Input", "This fake serves granularity Day and Total only.")
        zone_name = query.get("granularityTimeZone", "")
        if not zone_name:
            raise ApiError(
                400, "InvalidInput", "Invalid Input", "granularityTimeZone is required for granularity above Hour."
            )
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ApiError(400, "InvalidInput", "Invalid Input", f"Invalid granularityTimeZone: {zone_name}") from exc
        for text, moment in ((first, start), (second, end)):
            if text.endswith("Z") and zone_name not in ("UTC", "Etc/UTC"):
                raise ApiError(400, "InvalidInput", "Invalid Input", "An interval in Z notation needs UTC.")
            if moment.utcoffset() != moment.astimezone(zone).utcoffset():
                raise ApiError(
                    400,
                    "InvalidInput",
                    "Invalid Input",
                    f"granularityTimeZone {zone_name} does not match the offset of {text}.",
                )
        if start < self.now - timedelta(days=731):
            raise ApiError(400, "InvalidInput", "Invalid Input", "The interval must be within 2 years from now.")
        bounds = [start.astimezone(zone)]
        if granularity == "Day":
            while bounds[-1] < end:
                day = bounds[-1].date() + timedelta(days=1)
                bounds.append(min(local_midnight(day, zone_name), end.astimezone(zone)))
        else:
            bounds.append(end.astimezone(zone))
        return [self._bucket(code, low, high) for low, high in zip(bounds, bounds[1:], strict=False)]

    def _bucket(self, code: str, start: datetime, end: datetime) -> dict:
        totals = self.totals(code, start, end)
        average = totals.total_sales / totals.units if totals.units else Decimal(0)
        return {
            "interval": f"{start.isoformat(timespec='minutes')}--{end.isoformat(timespec='minutes')}",
            "unitCount": totals.units,
            "orderItemCount": totals.items,
            "orderCount": totals.orders,
            "averageUnitPrice": _sales_money(average, totals.currency),
            "totalSales": _sales_money(totals.total_sales, totals.currency),
        }

    def _op_getOrders(self, query):
        codes = [self._market(i) for i in query.get("MarketplaceIds", "").split(",") if i]
        if not codes:
            raise ApiError(400, "InvalidInput", "Invalid Input", "MarketplaceIds is required.")
        state = _decode_token(query["NextToken"]) if query.get("NextToken") else self._orders_query(query)
        after, before = datetime.fromisoformat(state["after"]), datetime.fromisoformat(state["before"])
        found: list[DemoOrder] = []
        for code in state["codes"]:
            if state["field"] == "updated":
                found.extend(self.orders_updated(code, after, before))
            else:
                found.extend(self.placed_between(code, after, before + timedelta(microseconds=1)))
        found.sort(key=lambda o: (o.purchased_at, o.id))
        offset = state["offset"]
        page = found[offset : offset + min(state["per_page"], self.orders_page_size)]
        payload = {"Orders": [self.api_order(o) for o in page]}
        payload["LastUpdatedBefore" if state["field"] == "updated" else "CreatedBefore"] = iso_utc(before)
        if offset + len(page) < len(found):
            payload["NextToken"] = _encode_token({**state, "offset": offset + len(page)})
        return payload

    def _orders_query(self, query) -> dict:
        created_after, updated_after = query.get("CreatedAfter"), query.get("LastUpdatedAfter")
        if bool(created_after) == bool(updated_after):
            raise ApiError(
                400, "InvalidInput", "Invalid Input", "Exactly one of CreatedAfter and LastUpdatedAfter is required."
            )
        if updated_after and (query.get("CreatedAfter") or query.get("CreatedBefore")):
            raise ApiError(400, "InvalidInput", "Invalid Input", "CreatedBefore cannot be set with LastUpdatedAfter.")
        if created_after and query.get("LastUpdatedBefore"):
            raise ApiError(400, "InvalidInput", "Invalid Input", "LastUpdatedBefore cannot be set with CreatedAfter.")
        field, after_name, before_name = (
            ("updated", "LastUpdatedAfter", "LastUpdatedBefore")
            if updated_after
            else ("created", "CreatedAfter", "CreatedBefore")
        )
        after = _parse_time(query[after_name], after_name)
        latest = self.now - BEFORE_MARGIN
        before = _parse_time(query[before_name], before_name) if query.get(before_name) else latest
        if before > latest:
            raise ApiError(
                400, "InvalidInput", "Invalid Input", f"{before_name} must be at least two minutes before now."
            )
        if before < after:
            raise ApiError(400, "InvalidInput", "Invalid Input", f"{before_name} must not be before {after_name}.")
        try:
            per_page = int(query.get("MaxResultsPerPage", "100"))
        except ValueError:
            per_page = 0
        if not 1 <= per_page <= 100:
            raise ApiError(400, "InvalidInput", "Invalid Input", "MaxResultsPerPage must be between 1 and 100.")
        return {
            "codes": [self._market(i) for i in query["MarketplaceIds"].split(",") if i],
            "field": field,
            "after": after.astimezone(UTC).isoformat(),
            "before": before.astimezone(UTC).isoformat(),
            "per_page": per_page,
            "offset": 0,
        }

    def _op_getOrderItems(self, query, order_id):
        parsed = demo.parse_order_id(order_id)
        order = None
        if parsed is not None and parsed[0] in self.markets:
            order = next((o for o in demo.orders_for_day(*parsed) if o.id == order_id), None)
        if order is None or order.purchased_at > self.now:
            raise ApiError(404, "NotFound", "Order not found", f"No order {order_id} for this seller.")
        offset = 0
        if query.get("NextToken"):
            state = _decode_token(query["NextToken"])
            if state.get("order") != order_id:
                raise ApiError(400, "InvalidInput", "Invalid Input", "NextToken belongs to another order.")
            offset = state["offset"]
        items = self.api_items(order)
        page = items[offset : offset + self.items_page_size]
        payload = {"AmazonOrderId": order_id, "OrderItems": page}
        if offset + len(page) < len(items):
            payload["NextToken"] = _encode_token({"order": order_id, "offset": offset + len(page)})
        return payload


def _json(data) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def _read_form(environ) -> dict:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length).decode() if length else ""
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _with_query(url: str, params: dict) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def make_app(public_url: str = "", **options) -> FakeSellingPartner:
    return FakeSellingPartner(public_url, **options)
