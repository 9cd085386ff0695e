"""A local TikTok Shop (seller authorization, tokens, Open API 202309) for tests and the demo.

Standard library only; a plain WSGI callable. Under its prefix it serves the three TikTok hosts:

- ``GET /open/authorize?service_id&state`` (the authorization host): a consent page listing the shops, with
  Authorize and Cancel. Authorize redirects to the app's registered redirect URL (``redirect_url``; TikTok
  takes none from the request) with ``code`` and ``state``; Cancel with ``error=access_denied`` and ``state``.
- ``GET /auth/api/v2/token/get?app_key&app_secret&auth_code&grant_type=authorized_code`` and
  ``GET /auth/api/v2/token/refresh?app_key&app_secret&refresh_token&grant_type=refresh_token`` (the token
  host): codes work once, for 30 minutes; access tokens last ``access_ttl`` (7 days), refresh tokens
  ``refresh_ttl`` (a year); expiries are absolute unix seconds. A refresh issues a new access token and a new
  refresh token; earlier refresh tokens of the grant keep working until they expire (TikTok does not say).
  A bad code answers 36004004 "Invalid auth code."; a refused refresh token the same code (not documented).
- ``/api/...`` (the Open API host), every call checked as TikTok does: ``app_key``; ``sign`` recomputed over
  path, sorted query and the raw body (106001 when it differs); ``timestamp`` no more than 5 minutes old nor
  30 s ahead (36009004); the ``x-tts-access-token`` header (36009004 unknown, 105002 expired);
  ``shop_cipher`` required on shop calls (106013) and refused on shop-less ones (36009004).

  - ``GET /api/authorization/202309/shops``: the grant's shops (``id, name, region, seller_type, cipher,
    code``).
  - ``POST /api/order/202309/orders/search?page_size&page_token&sort_field&sort_order`` with a JSON body of
    ``create_time_ge/lt``, ``update_time_ge/lt``, ``order_status``: orders sorted by (create_time, id),
    ``next_page_token`` ("" on the last page) and ``total_count``. ``page_size`` is 1..100.
  - ``GET /api/order/202309/orders?ids=a,b``: up to 50 orders.

Errors are TikTok's envelope ``{"code", "message", "request_id", "data"}``: HTTP 200 for everything but a rate
limit (429, code 36009002, ``Retry-After``) and internal errors (500, code 36009003). (TikTok sets the HTTP
status independently of the code and does not list the pairs.)

For tests::

    fake = TikTokShopFake(app_key=..., app_secret=..., history_days=100)
    fake.now = timezone.now()                  # freeze the fake's "now" for orders (None: real time)
    grant = fake.issue_grant()                 # skip the consent page: a credentials dict
    fake.fail("rate_limited", after=2)          # the 3rd API request from now answers 429 / 36009002
    fake.fail("error_500", times=2)             # also "rate_limited_body" (HTTP 200), "timeout" (answers
                                               # after timeout_delay s), "expired_token", "revoked"
    fake.expire_access_tokens(); fake.revoke_grants()
    fake.cancel(order_id)                      # the order is cancelled now (an update)
    fake.daily_totals(shop_id, start, end)     # the shop's own per-day figures
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

from connectors.backends.tiktok_shop.demo_data import SHOPS, Order, ShopData, ShopSpec

DEFAULT_APP_KEY = "chuhai-fake-tiktok_shop_app_key"
DEFAULT_APP_SECRET = "chuhai-fake-tiktok_shop_app_secret"
DEFAULT_SERVICE_ID = "chuhai-fake-service"
DEMO_OPEN_ID = "7010736057180325637"
DEMO_FOREVER = 4_102_444_800  # 2100-01-01: the demo grant's tokens do not expire
CODE_TTL = 1800
ACCESS_TTL = 7 * 86400
REFRESH_TTL = 365 * 86400
TIMESTAMP_PAST = 300
TIMESTAMP_FUTURE = 30
MAX_PAGE_SIZE = 100
MAX_DETAIL_IDS = 50

# The demo seller's standing grant: exactly what exchange_code returns for it (see allow_demo).
DEMO_CREDENTIALS = {
    "access_token": "TTP_chuhai-demo-seller-access",
    "access_token_expire_in": DEMO_FOREVER,
    "refresh_token": "TTP_chuhai-demo-seller-refresh",
    "refresh_token_expire_in": DEMO_FOREVER,
    "open_id": DEMO_OPEN_ID,
    "seller_name": "Hearth & Grain Home",
    "seller_base_region": "US",
}

SHOP_SCOPED = {"/order/202309/orders/search", "/order/202309/orders"}
SHOPLESS = {"/authorization/202309/shops"}
FAULTS = ("rate_limited", "rate_limited_body", "error_500", "timeout", "expired_token", "revoked")
STATUS_TEXT = {200: "OK", 302: "Found", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}
STATUS_TEXT[500] = "Internal Server Error"

MESSAGES = {
    "sign": "Invalid credentials. The `sign` query parameter is invalid.",
    "no_sign": "Missing credentials. The request does not include a required signature in the query.",
    "app_key": "Invalid credentials. Invalid `app_key` query parameter.",
    "old": "Invalid timestamp. The value of the `timestamp` query parameter must not be earlier than 5 minutes "
    "before the current time.",
    "future": "Invalid timestamp. The value of the `timestamp` query parameter must not exceed the current time "
    "by more than 30 seconds.",
    "token": "Invalid credentials. The `x-tts-access-token` header is invalid.",
    "expired": "Expired credentials. The `access_token` or `x-tts-access-token` header has expired.",
    "no_cipher": "Missing identifier. The `shop_cipher` query parameter is required to identify the target shop.",
    "bad_cipher": "Invalid identifier. The `shop_cipher` query parameter is invalid.",
    "no_cipher_wanted": "Unexpected identifier. The `shop_cipher` query parameter is not required for this request.",
    "limit": "Too many requests. You've made too many requests in a short period of time.",
    "internal": "Internal error. Please try again. If the issue persists after multiple attempts, please contact "
    "platform support.",
    "path": "Invalid path. The specified path does not match any available endpoint.",
    "method": "Invalid method. The HTTP method used is not supported by this endpoint.",
    "param": "invalid param error",
}


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _token(prefix: str) -> str:
    return f"{prefix}{secrets.token_urlsafe(24)}"


def sign(secret: str, path: str, params: dict[str, str], body: bytes) -> str:
    """The signature TikTok expects: an independent copy of the rule, so the fake checks the client."""
    base = path + "".join(k + params[k] for k in sorted(params) if k not in ("sign", "access_token"))
    wrapped = secret.encode() + base.encode() + body + secret.encode()
    return hmac.new(secret.encode(), wrapped, hashlib.sha256).hexdigest()


class _Answer(Exception):  # noqa: N818 - control flow: an answer ready to send
    def __init__(self, status: int, body: dict, headers=()):
        self.status, self.body, self.headers = status, body, list(headers)


class TikTokShopFake:
    """The WSGI app; its attributes are the knobs tests turn (see the module docstring)."""

    def __init__(
        self,
        public_url: str = "",
        *,
        app_key: str = DEFAULT_APP_KEY,
        app_secret: str = DEFAULT_APP_SECRET,
        service_id: str = DEFAULT_SERVICE_ID,
        redirect_url: str = "",
        shops: tuple[ShopSpec, ...] = SHOPS,
        history_days: int = 400,
        clock: Callable[[], float] = time.time,
    ):
        self.public_url = public_url.rstrip("/")
        self.app_key, self.app_secret, self.service_id = app_key, app_secret, service_id
        self.redirect_url = redirect_url
        self.shops = {spec.id: ShopData(spec, history_days=history_days) for spec in shops}
        self.clock = clock  # unix seconds: token expiry and timestamp freshness
        self.now: datetime | None = None  # the orders' "now"; None: the real time
        self.access_ttl, self.refresh_ttl = ACCESS_TTL, REFRESH_TTL
        self.timeout_delay = 1.0
        self.retry_after = "1"
        self.codes: dict[str, dict] = {}
        self.grants: dict[str, dict] = {}  # grant id -> {open_id, seller_name, shops, revoked}
        self.access_tokens: dict[str, dict] = {}  # token -> {grant, expires}
        self.refresh_tokens: dict[str, dict] = {}  # token -> {grant, expires}
        self.token_grants: list[str] = []  # grant_type of every successful token call
        self.requests: list[dict] = []  # every API request: method, path, query, body, status, code
        self.faults: list[dict] = []
        self._api_count = 0
        self._version = 0  # bumped when an order changes outside its own history (cancel)
        self._search_cache: tuple | None = None
        self._lock = threading.RLock()

    # --- helpers for tests and the demo ----------------------------------------------------------------
    def current_time(self) -> datetime:
        return self.now or datetime.now(UTC)

    def shop(self, shop_id: str) -> ShopData:
        data = self.shops[shop_id]
        with self._lock:
            data.extend_to(self.current_time())
        return data

    def _new_grant(self, *, shop_ids: list[str] | None = None, open_id: str = DEMO_OPEN_ID) -> str:
        grant = secrets.token_hex(8)
        self.grants[grant] = {
            "open_id": open_id,
            "seller_name": "Hearth & Grain Home",
            "shops": list(shop_ids or self.shops),
            "revoked": False,
        }
        return grant

    def _issue_tokens(self, grant: str) -> dict:
        now = int(self.clock())
        access, refresh = _token("TTP_"), _token("TTP_")
        self.access_tokens[access] = {"grant": grant, "expires": now + self.access_ttl}
        self.refresh_tokens[refresh] = {"grant": grant, "expires": now + self.refresh_ttl}
        info = self.grants[grant]
        return {
            "access_token": access,
            "access_token_expire_in": now + self.access_ttl,
            "refresh_token": refresh,
            "refresh_token_expire_in": now + self.refresh_ttl,
            "open_id": info["open_id"],
            "seller_name": info["seller_name"],
            "seller_base_region": "US",
            "user_type": 0,
            "granted_scopes": ["seller.order.info", "seller.authorization.info"],
        }

    def issue_grant(self, shop_ids: list[str] | None = None) -> dict:
        """A fresh grant as if the seller had authorized: the credentials ``exchange_code`` would return."""
        with self._lock:
            data = self._issue_tokens(self._new_grant(shop_ids=shop_ids))
        return {key: data[key] for key in DEMO_CREDENTIALS}

    def allow_demo(self) -> None:
        """Accept ``DEMO_CREDENTIALS`` for the demo seller's shops, for good (after any restart)."""
        with self._lock:
            self.grants["demo"] = {
                "open_id": DEMO_OPEN_ID,
                "seller_name": "Hearth & Grain Home",
                "shops": list(self.shops),
                "revoked": False,
            }
            self.access_tokens[DEMO_CREDENTIALS["access_token"]] = {"grant": "demo", "expires": DEMO_FOREVER}
            self.refresh_tokens[DEMO_CREDENTIALS["refresh_token"]] = {"grant": "demo", "expires": DEMO_FOREVER}

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self.access_tokens.values():
                token["expires"] = 0

    def revoke_grants(self) -> None:
        """The seller deauthorized the app: every token of every grant stops working."""
        with self._lock:
            for grant in self.grants.values():
                grant["revoked"] = True

    def fail(self, kind: str, *, after: int = 0, times: int = 1) -> None:
        """Make API requests ``after``+1 .. ``after``+``times`` from now fail with ``kind`` (see ``FAULTS``)."""
        assert kind in FAULTS, kind
        with self._lock:
            start = self._api_count + after
            self.faults.append({"kind": kind, "start": start, "end": start + times})

    def order(self, order_id: str) -> Order:
        for shop_id in self.shops:
            found = self.shop(shop_id).orders.get(order_id)
            if found is not None:
                return found
        raise KeyError(order_id)

    def cancel(self, order_id: str, *, at: datetime | None = None) -> None:
        with self._lock:
            self.order(order_id).cancel(at or self.current_time())
            self._version += 1

    def visible_orders(
        self, shop_id: str, *, update_ge: int | None = None, update_lt: int | None = None, now: datetime | None = None
    ):
        """``(order, status, update_time)`` of every order placed by now, updated in ``[ge, lt)`` if given."""
        now = now or self.current_time()
        result = []
        for order in self.shop(shop_id).sorted_orders():
            state = order.state(now)
            if state is None:
                continue
            status, updated = state
            stamp = int(updated.timestamp())
            if update_ge is not None and stamp < update_ge or update_lt is not None and stamp >= update_lt:
                continue
            result.append((order, status, updated))
        return result

    def daily_totals(self, shop_id: str, start: date, end: date) -> dict[date, tuple[int, int, Decimal]]:
        """The shop's gross figures per shop-local day of creation: (orders, units, total_amount)."""
        data = self.shop(shop_id)
        totals: dict[date, tuple[int, int, Decimal]] = {}
        for order, _status, _updated in self.visible_orders(shop_id):
            day = data.local_day(order.created_at)
            if start <= day <= end:
                orders, units, total = totals.get(day, (0, 0, Decimal("0")))
                totals[day] = (orders + 1, units + order.units, total + order.total_amount)
        return dict(sorted(totals.items()))

    # --- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        try:
            if path == "/open/authorize" and method in ("GET", "POST"):
                return self._authorize(environ, start_response)
            if path.startswith("/auth/api/v2/token/") and method == "GET":
                return self._token(environ, start_response, path.removeprefix("/auth"))
            if path.startswith("/api/"):
                return self._api(environ, start_response, method, path.removeprefix("/api"))
            return self._send(start_response, 404, b"Not Found", "text/plain")
        except _Answer as answer:
            return self._json(start_response, answer.status, answer.body, answer.headers)

    # --- authorization ---------------------------------------------------------------------------------
    def _authorize(self, environ, start_response):
        params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        if environ["REQUEST_METHOD"] == "POST":
            params.update(dict(parse_qsl(self._body(environ).decode())))
        if params.get("service_id") != self.service_id:
            return self._send(start_response, 400, b"This app is not available (unknown service_id).", "text/plain")
        state = params.get("state", "")
        if environ["REQUEST_METHOD"] == "GET":
            shops = "".join(
                f"<li>{html.escape(data.spec.name)} ({html.escape(data.spec.region)})</li>"
                for data in self.shops.values()
            )
            fields = "".join(
                f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">'
                for name in ("service_id", "state")
            )
            page = (
                "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Authorize app</title></head><body>"
                "<h1>Authorize Chuhai to access your TikTok Shop</h1>"
                f"<p>Seller: Hearth &amp; Grain Home. Shops:</p><ul>{shops}</ul>"
                f"<form method='post'>{fields}"
                "<button type='submit' name='decision' value='authorize'>Authorize</button> "
                "<button type='submit' name='decision' value='cancel'>Cancel</button></form></body></html>"
            )
            return self._send(start_response, 200, page.encode(), "text/html; charset=utf-8")
        target = self.redirect_url or self._default_redirect()
        joiner = "&" if "?" in target else "?"
        if params.get("decision") != "authorize":
            return self._redirect(
                start_response, f"{target}{joiner}{urlencode({'error': 'access_denied', 'state': state})}"
            )
        code = _token("ROW_")
        with self._lock:
            self.codes[code] = {"expires": self.clock() + CODE_TTL}
        return self._redirect(start_response, f"{target}{joiner}{urlencode({'code': code, 'state': state})}")

    @staticmethod
    def _default_redirect() -> str:
        try:
            from django.conf import settings
            from django.urls import reverse

            return settings.SITE_URL.rstrip("/") + reverse("connect_callback", kwargs={"platform": "tiktok_shop"})
        except Exception:  # noqa: BLE001 - outside Django there is no registered redirect URL
            return "/"

    def _token(self, environ, start_response, path):
        params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        request_id = self._request_id()
        if params.get("app_key") != self.app_key or params.get("app_secret") != self.app_secret:
            return self._json(start_response, 200, self._error(36009004, MESSAGES["app_key"], request_id))
        now = self.clock()
        with self._lock:
            if path == "/api/v2/token/get" and params.get("grant_type") == "authorized_code":
                grant = self.codes.pop(params.get("auth_code", ""), None)
                if grant is None or grant["expires"] < now:
                    return self._json(start_response, 200, self._error(36004004, "Invalid auth code.", request_id))
                data = self._issue_tokens(self._new_grant())
            elif path == "/api/v2/token/refresh" and params.get("grant_type") == "refresh_token":
                held = self.refresh_tokens.get(params.get("refresh_token", ""))
                if held is None or held["expires"] < now or self.grants[held["grant"]]["revoked"]:
                    return self._json(start_response, 200, self._error(36004004, "Invalid refresh token.", request_id))
                data = self._issue_tokens(held["grant"])
            else:
                return self._json(start_response, 200, self._error(36009004, MESSAGES["param"], request_id))
            self.token_grants.append(params["grant_type"])
        return self._json(
            start_response, 200, {"code": 0, "message": "success", "request_id": request_id, "data": data}
        )

    # --- the Open API ----------------------------------------------------------------------------------
    def _api(self, environ, start_response, method, path):
        body = self._body(environ)
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        request_id = self._request_id()
        record = {"method": method, "path": path, "query": query, "body": body, "status": 200, "code": 0}
        with self._lock:
            self.requests.append(record)
            index = self._api_count
            self._api_count += 1
            fault = next((f for f in self.faults if f["start"] <= index < f["end"]), None)
        try:
            if fault is not None:
                self._apply_fault(fault["kind"], request_id)
            handler = {
                ("GET", "/authorization/202309/shops"): self._shops,
                ("POST", "/order/202309/orders/search"): self._search,
                ("GET", "/order/202309/orders"): self._detail,
            }.get((method, path))
            if handler is None:
                known = path in SHOPLESS | SHOP_SCOPED
                raise _Answer(
                    404,
                    self._error(36009010 if known else 36009009, MESSAGES["method" if known else "path"], request_id),
                )
            grant = self._check(environ, path, query, body, request_id)
            data = handler(grant, query, body, request_id)
            answer = _Answer(200, {"code": 0, "message": "Success", "request_id": request_id, "data": data})
        except _Answer as exc:
            answer = exc
        record.update(status=answer.status, code=answer.body.get("code"))
        return self._json(start_response, answer.status, answer.body, answer.headers)

    def _apply_fault(self, kind: str, request_id: str) -> None:
        if kind == "rate_limited":
            raise _Answer(
                429, self._error(36009002, MESSAGES["limit"], request_id), [("Retry-After", self.retry_after)]
            )
        if kind == "rate_limited_body":
            raise _Answer(200, self._error(36009002, MESSAGES["limit"], request_id))
        if kind == "error_500":
            raise _Answer(500, self._error(36009003, MESSAGES["internal"], request_id))
        if kind == "timeout":
            time.sleep(self.timeout_delay)
            raise _Answer(
                500, self._error(36009007, "Request timeout. The request to the endpoint timed out.", request_id)
            )
        if kind == "expired_token":
            self.expire_access_tokens()
        if kind == "revoked":
            self.revoke_grants()

    def _check(self, environ, path, query, body, request_id) -> str:
        """TikTok's gate: app key, signature, timestamp, access token, shop cipher. Returns the grant id."""
        if query.get("app_key") != self.app_key:
            raise _Answer(200, self._error(36009004, MESSAGES["app_key"], request_id))
        if not query.get("sign"):
            raise _Answer(200, self._error(36009004, MESSAGES["no_sign"], request_id))
        expected = sign(self.app_secret, path, query, body)
        if not hmac.compare_digest(expected, query["sign"]):
            raise _Answer(200, self._error(106001, MESSAGES["sign"], request_id))
        try:
            stamp = int(query.get("timestamp", ""))
        except ValueError:
            stamp = -1
        now = self.clock()
        if stamp < now - TIMESTAMP_PAST or stamp < 0:
            raise _Answer(200, self._error(36009004, MESSAGES["old"], request_id))
        if stamp > now + TIMESTAMP_FUTURE:
            raise _Answer(200, self._error(36009004, MESSAGES["future"], request_id))
        with self._lock:
            held = self.access_tokens.get(environ.get("HTTP_X_TTS_ACCESS_TOKEN", ""))
            if held is None or self.grants[held["grant"]]["revoked"]:
                raise _Answer(200, self._error(36009004, MESSAGES["token"], request_id))
            if held["expires"] <= now:
                raise _Answer(200, self._error(105002, MESSAGES["expired"], request_id))
            grant = held["grant"]
        cipher = query.get("shop_cipher")
        if path in SHOPLESS and cipher:
            raise _Answer(200, self._error(36009004, MESSAGES["no_cipher_wanted"], request_id))
        if path in SHOP_SCOPED:
            if not cipher:
                raise _Answer(200, self._error(106013, MESSAGES["no_cipher"], request_id))
            if self._shop_by_cipher(grant, cipher) is None:
                raise _Answer(200, self._error(36009004, MESSAGES["bad_cipher"], request_id))
        return grant

    def _shop_by_cipher(self, grant: str, cipher: str) -> str | None:
        for shop_id in self.grants[grant]["shops"]:
            if self.shops[shop_id].spec.cipher == cipher:
                return shop_id
        return None

    def _shops(self, grant, query, body, request_id) -> dict:
        shops = []
        for shop_id in self.grants[grant]["shops"]:
            spec = self.shops[shop_id].spec
            shops.append(
                {
                    "id": spec.id,
                    "name": spec.name,
                    "region": spec.region,
                    "seller_type": spec.seller_type,
                    "cipher": spec.cipher,
                    "code": spec.code,
                }
            )
        return {"shops": shops}

    def _order_json(self, order: Order, status: str, updated: datetime) -> dict:
        spec = order.shop
        return {
            "id": order.id,
            "status": status,
            "create_time": int(order.created_at.timestamp()),
            "update_time": int(updated.timestamp()),
            "paid_time": int(order.created_at.timestamp()) + 30,
            "commerce_platform": "TIKTOK_SHOP",
            "fulfillment_type": "FULFILLMENT_BY_SELLER",
            "delivery_type": "HOME_DELIVERY",
            "is_sample_order": False,
            "is_cod": False,
            "payment": {
                "currency": spec.currency,
                "sub_total": _amount(order.sub_total),
                "shipping_fee": _amount(order.shipping_fee),
                "seller_discount": _amount(order.original_total_product_price - order.sub_total),
                "platform_discount": "0.00",
                "total_amount": _amount(order.total_amount),
                "original_total_product_price": _amount(order.original_total_product_price),
                "original_shipping_fee": _amount(spec.shipping_fee),
                "shipping_fee_seller_discount": _amount(spec.shipping_fee - order.shipping_fee),
                "shipping_fee_platform_discount": "0.00",
                "tax": _amount(order.tax),
                "product_tax": _amount(order.tax),
                "shipping_fee_tax": "0.00",
            },
            "line_items": [
                {
                    "id": line.id,
                    "sku_id": line.sku_id,
                    "product_id": line.product_id,
                    "product_name": line.product_name,
                    "sku_name": "Default",
                    "seller_sku": line.seller_sku,
                    "original_price": _amount(line.original_price),
                    "sale_price": _amount(line.sale_price),
                    "seller_discount": _amount(line.seller_discount),
                    "platform_discount": "0.00",
                    "currency": spec.currency,
                    "display_status": status,
                    "is_gift": False,
                    "sku_type": "NORMAL",
                    **({"room_id": line.room_id} if line.room_id else {}),
                }
                for line in order.lines
            ],
        }

    def _search(self, grant, query, body, request_id) -> dict:
        shop_id = self._shop_by_cipher(grant, query["shop_cipher"])
        try:
            size = int(query.get("page_size", ""))
            filters = json.loads(body or b"{}")
        except ValueError:
            raise _Answer(200, self._error(36009004, MESSAGES["param"], request_id)) from None
        if not 1 <= size <= MAX_PAGE_SIZE or not isinstance(filters, dict):
            raise _Answer(200, self._error(36009004, MESSAGES["param"], request_id))
        if query.get("sort_field", "create_time") != "create_time" or query.get("sort_order", "ASC") != "ASC":
            raise _Answer(200, self._error(36009004, MESSAGES["param"], request_id))  # the fake pages one way only
        bounds = {
            key: filters.get(key) for key in ("create_time_ge", "create_time_lt", "update_time_ge", "update_time_lt")
        }
        matched, keys = self._matching(shop_id, bounds, filters.get("order_status"))
        start = 0
        if query.get("page_token"):
            start = bisect_right(keys, self._untoken(query["page_token"], request_id))
        page = matched[start : start + size]
        more = start + size < len(matched)
        token = ""
        if more and page:
            last_order = page[-1][0]
            token = self._tokenize((int(last_order.created_at.timestamp()), last_order.id))
        return {
            "orders": [self._order_json(o, s, u) for o, s, u in page],
            "next_page_token": token,
            "total_count": len(matched),
        }

    def _matching(self, shop_id: str, bounds: dict, wanted: str | None) -> tuple[list, list]:
        """The orders a search matches, in paging order, with their (create_time, id) keys. Kept for the
        next page of the same search while nothing changed (the orders' "now" is taken to the minute when it
        runs with the real time)."""
        now = self.current_time()
        moment = now if self.now is not None else now.replace(second=0, microsecond=0)
        key = (shop_id, tuple(sorted(bounds.items())), wanted, moment, self._version)
        with self._lock:
            if self._search_cache and self._search_cache[0] == key:
                return self._search_cache[1]
        matched = []
        for order, status, updated in self.visible_orders(
            shop_id, update_ge=bounds["update_time_ge"], update_lt=bounds["update_time_lt"], now=moment
        ):
            created = int(order.created_at.timestamp())
            if bounds["create_time_ge"] is not None and created < bounds["create_time_ge"]:
                continue
            if bounds["create_time_lt"] is not None and created >= bounds["create_time_lt"]:
                continue
            if wanted and status != wanted:
                continue
            matched.append((order, status, updated))
        result = (matched, [(int(o.created_at.timestamp()), o.id) for o, _s, _u in matched])
        with self._lock:
            self._search_cache = (key, result)
        return result

    def _detail(self, grant, query, body, request_id) -> dict:
        shop_id = self._shop_by_cipher(grant, query["shop_cipher"])
        ids = [value for value in query.get("ids", "").split(",") if value]
        if not 1 <= len(ids) <= MAX_DETAIL_IDS:
            raise _Answer(200, self._error(36009004, MESSAGES["param"], request_id))
        now, data = self.current_time(), self.shop(shop_id)
        orders = []
        for order_id in ids:
            order = data.orders.get(order_id)
            state = order.state(now) if order else None
            if state is not None:
                orders.append(self._order_json(order, *state))
        return {"orders": orders}

    @staticmethod
    def _tokenize(key: tuple[int, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()

    def _untoken(self, token: str, request_id: str) -> tuple[int, str]:
        try:
            stamp, order_id = json.loads(base64.urlsafe_b64decode(token.encode()))
            return int(stamp), str(order_id)
        except (ValueError, TypeError):
            raise _Answer(200, self._error(36009004, MESSAGES["param"], request_id)) from None

    # --- plumbing --------------------------------------------------------------------------------------
    @staticmethod
    def _request_id() -> str:
        return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()

    @staticmethod
    def _error(code: int, message: str, request_id: str) -> dict:
        return {"code": code, "message": message, "request_id": request_id, "data": None}

    @staticmethod
    def _body(environ) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        return environ["wsgi.input"].read(length) if length else b""

    @staticmethod
    def _send(start_response, status: int, body: bytes, content_type: str, headers=()):
        start_response(
            f"{status} {STATUS_TEXT.get(status, '')}",
            [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
        )
        return [body]

    def _json(self, start_response, status: int, data, headers=()) -> list[bytes]:
        return self._send(start_response, status, json.dumps(data).encode(), "application/json; charset=utf-8", headers)

    def _redirect(self, start_response, location: str) -> list[bytes]:
        return self._send(start_response, 302, b"", "text/plain", [("Location", location)])


def make_app(public_url: str = "", **options) -> TikTokShopFake:
    """The fake for ``python -m connectors.fakes``: the app credentials are the ones our settings use."""
    try:
        from django.conf import settings

        conf = settings.PLATFORMS.get("tiktok_shop", {})
        options.setdefault("app_key", conf.get("client_id") or DEFAULT_APP_KEY)
        options.setdefault("app_secret", conf.get("client_secret") or DEFAULT_APP_SECRET)
        options.setdefault("service_id", conf.get("service_id") or DEFAULT_SERVICE_ID)
    except Exception:  # noqa: BLE001 - outside Django the fake's own defaults apply
        pass
    return TikTokShopFake(public_url, **options)
