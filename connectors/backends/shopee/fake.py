"""A local Shopee Open Platform v2 for tests and the demo: shop authorization, tokens, shop info, orders, ads.

Standard library only; a plain WSGI callable (``make_app(public_url)``). Routes, under the fake's prefix,
are Shopee's paths:

- ``GET /api/v2/shop/auth_partner?partner_id&timestamp&sign&redirect``: the authorization page (the link's
  sign and 5-minute timestamp are checked), offering each shop's own login and the seller's main account.
  Confirming redirects to ``redirect`` with ``code`` and ``shop_id``, or ``code`` and ``main_account_id``
  (added to the redirect URL's own query).
- ``POST /api/v2/auth/token/get`` ``{code, partner_id, shop_id | main_account_id}``: a code works once, for
  10 minutes; a main account's pair serves all its shops and the answer lists them (``shop_id_list``).
- ``POST /api/v2/auth/access_token/get`` ``{refresh_token, partner_id, shop_id}``: a refresh token works
  once per shop and for 30 days; the new access token lasts 4 hours, the replaced one 5 more minutes.
- ``GET /api/v2/shop/get_shop_info``, ``/api/v2/order/get_order_list`` (``time_range_field``, ≤ 15 days,
  ``page_size`` 1..100, offset ``cursor`` with ``more``/``next_cursor``), ``/api/v2/order/get_order_detail``
  (``order_sn_list`` 1..50, optional fields only when asked for: ``total_amount`` only once paid),
  ``/api/v2/ads/get_all_cpc_ads_daily_performance`` (``DD-MM-YYYY``, start before end, at most a month,
  not in the future, not before 6 months ago).

Every request is checked as Shopee does: ``partner_id``, a ``timestamp`` at most 5 minutes old, the HMAC
``sign`` (``error_sign``), then the access token for that shop (``invalid_acceess_token``, Shopee's
spelling). Errors are ``{"error", "message", "request_id"}`` with the codes and messages of the v2 docs'
error lists. The HTTP statuses with them are not documented: we send 400 (parameters), 403
(authorization, sign), 429 (rate and daily limits; ``rate_limit_http_status`` makes it 200) and 500.

Time comes from ``clock`` (unix seconds; inject a virtual clock in tests): timestamps, token and code
expiry, and the data's "now" (an order exists once placed; its status is its state at that moment).

Test hooks::

    fake = ShopeeFake(clock=clock.time, history_days=100)
    access, refresh = fake.issue_tokens([shop_id])   # skip the authorization page
    fake.fail("rate_limit", api="get_order_list", after=1, times=2)
    #   kinds: rate_limit, daily_limit, server_error (HTTP 500), timeout (answer after timeout_delay s),
    #   invalid_token (the shop's access tokens stop working; refresh still does), revoked (the seller
    #   cancels the authorization: access and refresh tokens stop working)
    fake.restatement += 1                             # late ads conversions in the last 7 days
    fake.cancel(order_sn)                             # the buyer cancels now
    fake.daily_totals(shop_id, start, end); fake.ads_totals(shop_id, start, end)
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

from connectors.backends.shopee import client as protocol
from connectors.backends.shopee.demo import (
    MAIN_ACCOUNT_ID,
    SELLER_NAME,
    Order,
    OrderState,
    Shop,
    ads_day,
    demo_shops,
)

DEFAULT_PARTNER_ID = "2001887"
DEFAULT_PARTNER_KEY = "chuhai-fake-shopee-partner-key"
ACCESS_TTL = 4 * 3600
REFRESH_TTL = 30 * 86400
CODE_TTL = 600
OLD_ACCESS_GRACE = 300
TIMESTAMP_TTL = 300
NEVER = float("inf")

DEMO_ACCESS_TOKEN = "4865617274684772616e6444656d6f41"  # hex of "HearthGrainDemoA": Shopee's tokens are 32 hex chars
DEMO_REFRESH_TOKEN = "4865617274684772616e6444656d6f52"
DEMO_SHOP_IDS = [shop.shop_id for shop in demo_shops(1)]
# Exactly what ``ShopeeBackend.exchange_code`` returns for the demo seller's main-account authorization;
# ``allow_demo()`` makes the fake accept these tokens for good.
DEMO_CREDENTIALS = {
    "access_token": DEMO_ACCESS_TOKEN,
    "refresh_token": DEMO_REFRESH_TOKEN,
    "expires_at": 4102444800.0,  # 2100-01-01: never refreshed
    "refresh_expires_at": 4102444800.0,
    "host": "global",
    "shop_id_list": DEMO_SHOP_IDS,
    "main_account_id": MAIN_ACCOUNT_ID,
}

SHOP_APIS = {
    protocol.SHOP_INFO: "_shop_info",
    protocol.ORDER_LIST: "_order_list",
    protocol.ORDER_DETAIL: "_order_detail",
    protocol.ADS_DAILY: "_ads_daily",
}
FAULT_KINDS = ("rate_limit", "daily_limit", "server_error", "timeout", "invalid_token", "revoked")
DEFAULT_FIELDS = (
    "order_sn",
    "region",
    "currency",
    "cod",
    "order_status",
    "message_to_seller",
    "create_time",
    "update_time",
    "days_to_ship",
    "ship_by_date",
    "booking_sn",
)
OPTIONAL_FIELDS = {
    "buyer_user_id",
    "buyer_username",
    "estimated_shipping_fee",
    "recipient_address",
    "actual_shipping_fee",
    "goods_to_declare",
    "note",
    "note_update_time",
    "item_list",
    "pay_time",
    "dropshipper",
    "dropshipper_phone",
    "split_up",
    "buyer_cancel_reason",
    "cancel_by",
    "cancel_reason",
    "actual_shipping_fee_confirmed",
    "buyer_cpf_id",
    "fulfillment_flag",
    "pickup_done_time",
    "package_list",
    "shipping_carrier",
    "payment_method",
    "total_amount",
    "invoice_data",
    "order_chargeable_weight_gram",
    "return_request_due_date",
    "edt",
    "payment_info",
    "international_label",
}
STATUS_TEXT = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class _Answer(Exception):  # noqa: N818 - a way out of the handlers, not an error
    def __init__(self, status: int, body: dict | None = None, *, headers=(), raw: bytes | None = None, ctype=""):
        self.status, self.body, self.headers, self.raw, self.ctype = status, body, list(headers), raw, ctype


def _error(status: int, code: str, message: str) -> _Answer:
    return _Answer(status, {"error": code, "message": message, "request_id": uuid.uuid4().hex})


def _param(message: str) -> _Answer:
    return _error(400, "error_param", message)


def _number(value: Decimal | int):
    """Money as Shopee writes it: a JSON number (an integer when whole)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _months_before(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


class ShopeeFake:
    """The WSGI app; its attributes are the knobs tests turn (see the module docstring)."""

    def __init__(
        self,
        public_url: str = "",
        *,
        partner_id: str = DEFAULT_PARTNER_ID,
        partner_key: str = DEFAULT_PARTNER_KEY,
        shops: list[Shop] | None = None,
        history_days: int = 400,
        clock: Callable[[], float] = time.time,
        main_account_id: int = MAIN_ACCOUNT_ID,
        rate_limit_http_status: int = 429,
    ):
        self.public_url = public_url.rstrip("/")
        self.partner_id, self.partner_key = str(partner_id), partner_key
        self.shops = {shop.shop_id: shop for shop in (shops or demo_shops(history_days))}
        self.main_account_id = main_account_id
        self.clock = clock
        self.rate_limit_http_status = rate_limit_http_status
        self.timeout_delay = 1.0
        self.data_now: float | None = None  # freezes what the data looks like (orders, their states, ads' today)
        self.restatement = 0
        self.codes: dict[str, dict] = {}
        self.access: dict[str, dict] = {}  # token -> {"shops": {shop_id: expires}, "refresh": token}
        self.refresh: dict[str, dict] = {}  # token -> {"shops": set of shop ids it may still refresh, "expires"}
        self.faults: list[dict] = []
        self.requests: list[dict] = []  # every API request: path, shop_id, query, body, status, error
        self._lock = threading.RLock()

    # --- helpers for tests and the demo ----------------------------------------------------------------
    def now(self) -> float:
        """The time of timestamps and tokens."""
        return self.clock()

    def data_time(self) -> float:
        """The moment the data shows: ``data_now`` if set (tests freeze it), else the clock."""
        return self.clock() if self.data_now is None else self.data_now

    def shop(self, shop_id: int) -> Shop:
        shop = self.shops[int(shop_id)]
        shop.extend_to(self.data_time())
        return shop

    def issue_tokens(self, shop_ids, *, ttl: float = ACCESS_TTL) -> tuple[str, str]:
        """A fresh access and refresh token for ``shop_ids``, as ``auth/token/get`` would give."""
        with self._lock:
            return self._issue([int(s) for s in shop_ids], ttl=ttl)

    def allow_demo(self) -> None:
        """Accept ``DEMO_CREDENTIALS`` for good: the access token never expires, the refresh token is reusable."""
        with self._lock:
            demo = [s for s in DEMO_SHOP_IDS if s in self.shops]
            self.access[DEMO_ACCESS_TOKEN] = {"shops": dict.fromkeys(demo, NEVER), "refresh": DEMO_REFRESH_TOKEN}
            self.refresh[DEMO_REFRESH_TOKEN] = {"shops": set(demo), "expires": NEVER, "reusable": True}

    def fail(self, kind: str, *, api: str | None = None, after: int = 0, times: int = 1) -> None:
        """Make shop-API requests (of the API whose path ends with ``api``, if given) fail with ``kind``:
        ``after`` matching requests pass first, then ``times`` fail."""
        assert kind in FAULT_KINDS, kind
        with self._lock:
            self.faults.append({"kind": kind, "api": api, "skip": after, "times": times})

    def expire_access_tokens(self) -> None:
        with self._lock:
            for token in self.access.values():
                token["shops"] = dict.fromkeys(token["shops"], 0.0)

    def revoke(self, shop_id: int) -> None:
        """The seller cancels our authorization of ``shop_id``: its tokens stop working."""
        with self._lock:
            for token in self.access.values():
                token["shops"].pop(int(shop_id), None)
            for token in self.refresh.values():
                token["shops"].discard(int(shop_id))

    def cancel(self, order_sn: str, *, by: str = "buyer") -> None:
        """The order is cancelled now (its update_time moves to now)."""
        with self._lock:
            for shop in self.shops.values():
                order = shop.orders.get(order_sn)
                if order is not None:
                    at = int(self.data_time())
                    order.events = [(t, s) for t, s in order.events if t <= at] + [(at, "CANCELLED")]
                    order.cancel_by, order.cancel_reason = by, "Change of mind"
                    return
        raise KeyError(order_sn)

    def today(self, shop_id: int) -> date:
        return self.shops[int(shop_id)].spec.local_day(int(self.data_time()))

    def visible(self, shop_id: int) -> list[tuple[Order, OrderState]]:
        return self.shop(shop_id).visible(self.data_time())

    def orders_between(self, shop_id: int, field: str, since: int, until: int) -> list[tuple[Order, OrderState]]:
        """Orders whose ``field`` (create_time | update_time) is in ``[since, until]``, newest first, as
        ``get_order_list`` pages them."""
        chosen = []
        for order, state in self.visible(shop_id):
            value = order.create_time if field == "create_time" else state.update_time
            if since <= value <= until:
                chosen.append((value, order.order_sn, order, state))
        chosen.sort(key=lambda row: (row[0], row[1]), reverse=True)
        return [(order, state) for _value, _sn, order, state in chosen]

    def daily_totals(self, shop_id: int, start: date, end: date) -> dict[date, tuple[int, int, Decimal]]:
        """The shop's gross figures per local day of creation, as our mapping files them: (orders, units,
        total), the total being ``total_amount`` once paid, else the lines' value."""
        totals: dict[date, tuple[int, int, Decimal]] = {}
        for order, state in self.visible(shop_id):
            day = order.day
            if start <= day <= end:
                orders, units, total = totals.get(day, (0, 0, Decimal(0)))
                totals[day] = (orders + 1, units + order.units, total + order.gross(state))
        return dict(sorted(totals.items()))

    def ads_rows(self, shop_id: int, start: date, end: date) -> list[dict]:
        shop = self.shop(shop_id)
        today = self.today(shop_id)
        rows, day = [], max(start, shop.first_day)
        while day <= min(end, today):
            rows.append(ads_day(shop, day, today=today, restatement=self.restatement))
            day += timedelta(days=1)
        return rows

    def ads_totals(self, shop_id: int, start: date, end: date) -> dict:
        rows = self.ads_rows(shop_id, start, end)
        return {
            "impressions": sum(r["impression"] for r in rows),
            "clicks": sum(r["clicks"] for r in rows),
            "cost": sum((r["expense"] for r in rows), Decimal(0)),
            "orders": sum(r["broad_order"] for r in rows),
            "units": sum(r["broad_item_sold"] for r in rows),
            "sales": sum((r["broad_gmv"] for r in rows), Decimal(0)),
            "days": len(rows),
        }

    # --- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = "/" + environ.get("PATH_INFO", "/").strip("/")
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        record = {"method": method, "path": path, "shop_id": query.get("shop_id"), "query": query, "status": None}
        try:
            with self._lock:
                if path == protocol.AUTH_PARTNER:
                    self._auth_partner(environ, method, query)
                elif path in (protocol.TOKEN_GET, protocol.REFRESH_TOKEN) and method == "POST":
                    record["body"] = body = self._json_body(environ)
                    self._record(record)
                    if path == protocol.TOKEN_GET:
                        self._token_get(query, body)
                    else:
                        self._access_token_get(query, body)
                elif path in SHOP_APIS:
                    self._record(record)
                    if method != "GET":
                        if path == protocol.ADS_DAILY:
                            raise _error(
                                405,
                                "ads.api.http_method_not_allowed",
                                "Only the supported HTTP method for the API is allowed.",
                            )
                        raise _param("Wrong parameters, detail: this API takes GET.")
                    delay = self._fault(path, query)
                    if delay:
                        self._lock.release()  # let other requests through while this one hangs
                        try:
                            time.sleep(delay)
                        finally:
                            self._lock.acquire()
                    shop = self._check_shop_call(path, query)
                    getattr(self, SHOP_APIS[path])(shop, query)
                else:
                    raise _param("Permission denied. This API is currently offline or the request path is incorrect.")
        except _Answer as answer:
            record.update(status=answer.status, error=(answer.body or {}).get("error", ""))
            if answer.raw is not None:
                return self._send(start_response, answer.status, answer.raw, answer.ctype, answer.headers)
            return self._send(start_response, answer.status, json.dumps(answer.body).encode(), "application/json")
        raise AssertionError(f"no answer for {method} {path}")

    def _record(self, record: dict) -> None:
        self.requests.append(record)

    # --- checks ------------------------------------------------------------------------------------------
    def _check_common(self, path: str, query: dict, *, shop_level: bool) -> None:
        partner_id = query.get("partner_id")
        if not partner_id:
            raise _param("There is no partner_id in query.")
        if partner_id != self.partner_id:
            raise _error(403, "invalid_partner_id", "Invalid partner_id, please have a check.")
        stamp = query.get("timestamp")
        if not stamp:
            raise _param("no timestamp")
        if not stamp.isdigit():
            raise _param("Invalid timestamp")
        if int(stamp) < self.now() - TIMESTAMP_TTL:
            raise _param("Timestamp is expired.")
        if int(stamp) > self.now() + TIMESTAMP_TTL:
            raise _param("Invalid timestamp")
        if not query.get("sign"):
            raise _param("There is no sign in query.")
        extra = ()
        if shop_level:
            if not query.get("access_token"):
                raise _param("There is no access_token in query.")
            if not query.get("shop_id"):
                raise _param("There is no shop_id in query.")
            if not query["shop_id"].isdigit():
                raise _param("shop_id is invalid, should be an integer between 0 and 4294967295.")
            extra = (query["access_token"], query["shop_id"])
        expected = protocol.sign(self.partner_key, protocol.base_string(partner_id, path, stamp, *extra))
        if query["sign"] != expected:
            raise _error(403, "error_sign", "Wrong sign.")

    def _check_shop_call(self, path: str, query: dict) -> Shop:
        self._check_common(path, query, shop_level=True)
        shop_id = int(query["shop_id"])
        token = self.access.get(query["access_token"])
        if token is None:
            raise _error(403, "invalid_acceess_token", "Invalid access_token, please have a check.")
        if shop_id not in self.shops:
            raise _error(403, "error_auth", "Invalid partner_id or shopid.")
        if shop_id not in token["shops"] or token["shops"][shop_id] <= self.now():
            raise _error(403, "invalid_acceess_token", "Invalid access_token, please have a check.")
        return self.shop(shop_id)

    def _fault(self, path: str, query: dict) -> float:
        """Apply the first pending fault for this request; returns seconds to hang (a timeout), if any."""
        for fault in self.faults:
            if fault["times"] <= 0 or (fault["api"] and not path.endswith(fault["api"])):
                continue
            if fault["skip"] > 0:
                fault["skip"] -= 1
                continue
            fault["times"] -= 1
            kind = fault["kind"]
            if kind == "rate_limit":
                if path == protocol.ADS_DAILY:
                    raise _error(
                        self.rate_limit_http_status,
                        "ads.rate_limit.exceed_shop_api",
                        "Too many requests for the shop at the moment, please try again later.",
                    )
                raise _error(
                    self.rate_limit_http_status,
                    "error_rate_limit",
                    "Too many requests. You have reached the rate limit. Please try again later.",
                )
            if kind == "daily_limit":
                raise _error(
                    self.rate_limit_http_status,
                    "error_limit",
                    "The total API call number made by your APP has reached the daily API call limit, please try "
                    "again after 00: 00 (UTC+08:00)",
                )
            if kind == "server_error":
                raise _error(500, "error_server", "Something wrong. Please try later.")
            if kind == "timeout":
                return self.timeout_delay
            shop_id = int(query["shop_id"]) if str(query.get("shop_id", "")).isdigit() else None
            if kind == "invalid_token" and shop_id is not None:
                for token in self.access.values():
                    if shop_id in token["shops"]:
                        token["shops"][shop_id] = 0.0
            if kind == "revoked" and shop_id is not None:
                self.revoke(shop_id)
            return 0.0
        return 0.0

    # --- authorization -------------------------------------------------------------------------------------
    def _auth_partner(self, environ, method: str, query: dict) -> None:
        params = dict(query)
        if method == "POST":
            params.update(dict(parse_qsl(self._body(environ).decode())))
        if method == "GET":
            self._check_common(protocol.AUTH_PARTNER, params, shop_level=False)
        elif params.get("sign") != protocol.sign(
            self.partner_key,
            protocol.base_string(params.get("partner_id", ""), protocol.AUTH_PARTNER, params.get("timestamp", "")),
        ):
            raise _error(403, "error_sign", "Wrong sign.")
        redirect = params.get("redirect") or ""
        if not redirect:
            raise _param("Wrong parameters, detail: redirect is required.")
        if method == "GET":
            hidden = "".join(
                f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">'
                for name in ("partner_id", "timestamp", "sign", "redirect")
            )
            choices = "".join(
                f'<label><input type="radio" name="login" value="shop:{shop.shop_id}"> '
                f"{html.escape(shop.spec.name)} (shop {shop.shop_id}, {shop.spec.region})</label><br>"
                for shop in self.shops.values()
            )
            page = (
                "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Shopee Open Platform</title>"
                f"</head><body><h1>Authorize the app to access {html.escape(SELLER_NAME)}</h1>"
                f"<form method='post' action='{html.escape(environ.get('SCRIPT_NAME', ''))}{protocol.AUTH_PARTNER}'>"
                f"{hidden}{choices}"
                f"<label><input type='radio' name='login' value='main:{self.main_account_id}' checked> "
                f"Main account {self.main_account_id} (all {len(self.shops)} shops)</label><br>"
                "<button type='submit'>Confirm Authorization</button></form></body></html>"
            )
            raise _Answer(200, raw=page.encode(), ctype="text/html; charset=utf-8")
        kind, _, value = (params.get("login") or f"main:{self.main_account_id}").partition(":")
        code = secrets.token_hex(16)
        if kind == "shop" and value.isdigit() and int(value) in self.shops:
            grant = {"shops": [int(value)], "shop_id": int(value), "main_account_id": None}
            back = {"code": code, "shop_id": value}
        else:
            grant = {"shops": list(self.shops), "shop_id": None, "main_account_id": self.main_account_id}
            back = {"code": code, "main_account_id": str(self.main_account_id)}
        self.codes[code] = {**grant, "expires": self.now() + CODE_TTL}
        joiner = "&" if "?" in redirect else "?"
        raise _Answer(302, raw=b"", ctype="text/plain", headers=[("Location", f"{redirect}{joiner}{urlencode(back)}")])

    def _issue(self, shop_ids: list[int], *, ttl: float = ACCESS_TTL) -> tuple[str, str]:
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.access[access] = {"shops": dict.fromkeys(shop_ids, self.now() + ttl), "refresh": refresh}
        self.refresh[refresh] = {"shops": set(shop_ids), "expires": self.now() + REFRESH_TTL}
        return access, refresh

    def _check_body_partner(self, body: dict) -> None:
        if str(body.get("partner_id", "")) != self.partner_id:
            raise _param("Wrong parameters, detail: partner_id in the body does not match the query.")

    def _token_get(self, query: dict, body: dict) -> None:
        self._check_common(protocol.TOKEN_GET, query, shop_level=False)
        self._check_body_partner(body)
        grant = self.codes.pop(str(body.get("code") or ""), None)
        if grant is None or grant["expires"] < self.now():
            raise _error(403, "invalid_code", "The code is expired or used or invalid, please check the code.")
        if body.get("main_account_id") is not None:
            if grant["main_account_id"] is None or int(body["main_account_id"]) != grant["main_account_id"]:
                raise _error(
                    403,
                    "invalid_main_acount_id",
                    "The code or main_accoount_id is wrong, please check the code or the main_account_id.",
                )
        elif body.get("shop_id") is None or grant["shop_id"] is None or int(body["shop_id"]) != grant["shop_id"]:
            raise _error(403, "invalid_shop_id", "The code or shop_id is wrong, please check the code or the shop_id.")
        access, refresh = self._issue(grant["shops"])
        answer = {
            "error": "",
            "message": "",
            "request_id": uuid.uuid4().hex,
            "access_token": access,
            "refresh_token": refresh,
            "expire_in": ACCESS_TTL,
        }
        if grant["main_account_id"] is not None:
            answer.update(shop_id_list=grant["shops"], merchant_id_list=[])
        raise _Answer(200, answer)

    def _access_token_get(self, query: dict, body: dict) -> None:
        self._check_common(protocol.REFRESH_TOKEN, query, shop_level=False)
        self._check_body_partner(body)
        if not str(body.get("shop_id", "")).isdigit():
            raise _param("Wrong parameters, detail: shop_id is required.")
        shop_id, token = int(body["shop_id"]), str(body.get("refresh_token") or "")
        grant = self.refresh.get(token)
        if grant is None or shop_id not in grant["shops"]:
            raise _error(403, "error_auth", "Invalid refresh_token.")
        if grant["expires"] < self.now():
            raise _error(403, "refresh_token_expired", "Your refresh_token expired.")
        if not grant.get("reusable"):
            grant["shops"].discard(shop_id)
            for entry in self.access.values():  # the access tokens it replaces work 5 more minutes
                if entry["refresh"] == token and shop_id in entry["shops"]:
                    entry["shops"][shop_id] = min(entry["shops"][shop_id], self.now() + OLD_ACCESS_GRACE)
            access, refresh = self._issue([shop_id])
        else:
            access, refresh = DEMO_ACCESS_TOKEN, DEMO_REFRESH_TOKEN
        raise _Answer(
            200,
            {
                "error": "",
                "message": "",
                "request_id": uuid.uuid4().hex,
                "partner_id": int(self.partner_id) if self.partner_id.isdigit() else self.partner_id,
                "shop_id": shop_id,
                "access_token": access,
                "refresh_token": refresh,
                "expire_in": ACCESS_TTL,
            },
        )

    # --- shop APIs -----------------------------------------------------------------------------------------
    @staticmethod
    def _ok(response=None, **flat) -> _Answer:
        body = {"error": "", "message": "", "request_id": uuid.uuid4().hex, **flat}
        if response is not None:
            body["response"] = response
        return _Answer(200, body)

    def _shop_info(self, shop: Shop, query: dict) -> None:
        now = int(self.now())
        raise self._ok(
            auth_time=now - 86400,
            expire_time=now + 364 * 86400,
            shop_name=shop.spec.name,
            region=shop.spec.region,
            status="NORMAL",
            shop_fulfillment_flag="Others",
            is_cb=False,
            is_upgraded_cbsc=False,
            merchant_id=None,
            is_sip=False,
            sip_affi_shops=[],
            is_main_shop=False,
            is_direct_shop=False,
            linked_direct_shop_list=[],
            linked_main_shop_id=0,
        )

    def _order_list(self, shop: Shop, query: dict) -> None:
        field = query.get("time_range_field")
        if field not in ("create_time", "update_time"):
            raise _param("Wrong parameters, detail: time_range_field should be create_time or update_time.")
        since, until = query.get("time_from", ""), query.get("time_to", "")
        if not since.isdigit() or not until.isdigit():
            raise _param("Wrong parameters, detail: time_from and time_to are required.")
        since, until = int(since), int(until)
        if until <= since or until - since > 15 * 86400:
            raise _error(
                400, "order.order_list_invalid_time", "Start time must be earlier than end time and diff in 15days."
            )
        size = query.get("page_size", "")
        if not size.isdigit() or not 1 <= int(size) <= 100:
            raise _param("Wrong parameters, detail: page_size should be between 1 and 100.")
        size = int(size)
        cursor = query.get("cursor", "").strip('"')
        if cursor and not cursor.isdigit():
            raise _param("Wrong parameters, detail: invalid cursor.")
        offset = int(cursor or 0)
        status_filter = query.get("order_status")
        matched = self.orders_between(shop.shop_id, field, since, until)
        if status_filter:
            matched = [(o, s) for o, s in matched if s.status == status_filter]
        page = matched[offset : offset + size]
        with_status = "order_status" in (query.get("response_optional_fields") or "").split(",")
        more = offset + size < len(matched)
        raise self._ok(
            {
                "more": more,
                "next_cursor": str(offset + size) if more else "",
                "order_list": [
                    {"order_sn": o.order_sn, **({"order_status": s.status} if with_status else {})} for o, s in page
                ],
            }
        )

    def _order_detail(self, shop: Shop, query: dict) -> None:
        numbers = [n for n in (query.get("order_sn_list") or "").split(",") if n]
        if not 1 <= len(numbers) <= 50:
            raise _param("Wrong parameters, detail: order_sn_list should hold 1 to 50 order_sn.")
        wanted = {f.strip() for f in (query.get("response_optional_fields") or "").split(",") if f.strip()}
        unknown = wanted - OPTIONAL_FIELDS
        if unknown:
            raise _param(f"Wrong parameters, detail: unknown response_optional_fields {sorted(unknown)}.")
        now = self.data_time()
        orders = []
        for number in numbers:
            order = shop.orders.get(number)
            state = order.state(now) if order else None
            if state is not None:
                orders.append(self._detail(order, state, wanted))
        raise self._ok({"order_list": orders})

    def _detail(self, order: Order, state: OrderState, wanted: set[str]) -> dict:
        spec = order.shop
        cancelled = state.status == "CANCELLED"
        full = {
            "order_sn": order.order_sn,
            "region": spec.region,
            "currency": spec.currency,
            "cod": order.cod,
            "order_status": state.status,
            "message_to_seller": "",
            "create_time": order.create_time,
            "update_time": state.update_time,
            "days_to_ship": 2,
            "ship_by_date": order.create_time + 3 * 86400,
            "booking_sn": "",
            "pay_time": state.pay_time,
            "payment_method": order.payment_method,
            "cancel_by": order.cancel_by if cancelled else "",
            "cancel_reason": order.cancel_reason if cancelled else "",
            "buyer_cancel_reason": order.cancel_reason if cancelled and order.cancel_by == "buyer" else "",
            "estimated_shipping_fee": _number(order.shipping_fee),
            "shipping_carrier": spec.carrier,
            "fulfillment_flag": "fulfilled_by_local_seller",
            "note": "",
            "note_update_time": 0,
            "split_up": False,
            "goods_to_declare": False,
            "item_list": [
                {
                    "item_id": line.item_id,
                    "item_name": line.item_name,
                    "item_sku": line.item_sku,
                    "model_id": line.model_id,
                    "model_name": line.model_name,
                    "model_sku": line.model_sku,
                    "model_quantity_purchased": line.quantity,
                    "model_original_price": _number(line.original_price),
                    "model_discounted_price": _number(line.discounted_price),
                    "wholesale": False,
                    "weight": 0.8,
                    "add_on_deal": False,
                    "main_item": False,
                    "add_on_deal_id": 0,
                    "promotion_type": line.promotion_type,
                    "promotion_id": 0,
                    "order_item_id": line.item_id,
                    "promotion_group_id": 0,
                    "image_info": {"image_url": f"https://cf.shopee.sg/file/hg-{line.item_sku.lower()}_tn"},
                    "product_location_id": [],
                    "is_prescription_item": False,
                    "is_b2c_owned_item": False,
                }
                for line in order.lines
            ],
        }
        shown = order.shown_total(state)
        if shown is not None:
            full["total_amount"] = _number(shown)
        return {key: value for key, value in full.items() if key in DEFAULT_FIELDS or key in wanted}

    def _ads_daily(self, shop: Shop, query: dict) -> None:
        try:
            start = datetime.strptime(query.get("start_date", ""), protocol.ADS_DATE_FORMAT).replace(tzinfo=UTC).date()
            end = datetime.strptime(query.get("end_date", ""), protocol.ADS_DATE_FORMAT).replace(tzinfo=UTC).date()
        except ValueError:
            raise _param("Wrong parameters.") from None
        today = self.today(shop.shop_id)
        if start > end:
            raise _error(
                400, "ads.performance.error_start_later_than_end", "The start date can't be later than the end date."
            )
        if start == end:
            raise _error(
                400,
                "ads.performance.error_same_start_end_dates",
                "Start date can't be equal to end date. For single date's hourly performance data, please query "
                "hourly api.",
            )
        if end > today:
            raise _error(
                400,
                "ads.performance.error_date_in_future",
                "The date must be today or earlier than today up to 6 months ago.",
            )
        if start < _months_before(today, 6):
            raise _error(400, "ads.performance.error_date_too_old", "The date can't be earlier than 6 months ago.")
        if end > _add_month(start):
            raise _error(400, "ads.performance.error_date_range_too_long", "Date range can't be longer than 1 month.")
        rows = [{key: _number(value) for key, value in row.items()} for row in self.ads_rows(shop.shop_id, start, end)]
        body = {"error": "", "message": "", "warning": "", "request_id": uuid.uuid4().hex, "response": rows}
        raise _Answer(200, body)

    # --- plumbing --------------------------------------------------------------------------------------
    @staticmethod
    def _body(environ) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        return environ["wsgi.input"].read(length) if length else b""

    def _json_body(self, environ) -> dict:
        try:
            body = json.loads(self._body(environ) or b"{}")
        except ValueError:
            raise _error(400, "error_data", "parse data failed") from None
        if not isinstance(body, dict):
            raise _error(400, "error_data", "parse data failed")
        return body

    @staticmethod
    def _send(start_response, status: int, body: bytes, content_type: str, headers=()):
        start_response(
            f"{status} {STATUS_TEXT.get(status, 'Error')}",
            [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
        )
        return [body]


def _add_month(day: date) -> date:
    return _months_before(day, -1)


def make_app(public_url: str, **options) -> ShopeeFake:
    """The fake for ``python -m connectors.fakes``: the partner id and key are the ones our settings use."""
    try:
        from django.conf import settings

        conf = settings.PLATFORMS.get("shopee", {})
        options.setdefault("partner_id", conf.get("client_id") or DEFAULT_PARTNER_ID)
        options.setdefault("partner_key", conf.get("client_secret") or DEFAULT_PARTNER_KEY)
    except Exception:  # noqa: BLE001 - outside Django the fake's own defaults apply
        pass
    return ShopeeFake(public_url, **options)
