"""Shopee Open Platform v2 as Shopee speaks it: signed requests, shop authorization, tokens, orders, ads.

Facts (platform-apis.md section 6, the v2 API JSON in specs/shopee-v2.*.json, and Shopee's "API calls" and
"Authorization and Authentication" guides):

- Hosts. Production: ``https://partner.shopeemobile.com`` (servers near Singapore, "global"),
  ``https://openplatform.shopee.cn`` (servers in Chinese Mainland, "cn"), ``https://openplatform.shopee.com.br``
  (servers near the US, "br"). Sandbox: ``https://openplatform.sandbox.test-stable.shopee.sg`` (and ``.cn``);
  older docs name ``https://partner.test-stable.shopeemobile.com``. The host depends on where *our* servers
  are, not on the seller's market: every market (SG, MY, TH, ID, PH, VN, TW, BR, MX...) is reached from any.
- Every call carries ``partner_id`` and ``timestamp`` (unix seconds, valid 5 minutes) and ``sign``; shop
  APIs add ``access_token`` and ``shop_id``. ``sign`` is the lower-case hex HMAC-SHA256, keyed with the
  partner key, of ``partner_id + api_path + timestamp`` (public APIs) or ``partner_id + api_path + timestamp
  + access_token + shop_id`` (shop APIs). GET APIs take every parameter in the query; POST APIs take the
  common ones in the query and the rest as a JSON body.
- Authorization: the seller opens ``/api/v2/shop/auth_partner?partner_id&timestamp&sign&redirect``; Shopee
  sends the browser to ``redirect`` with ``code`` and ``shop_id`` (a shop account) or ``main_account_id`` (a
  main account authorizing several shops). Shopee has no ``state`` parameter: we put ours in the redirect
  URL's own query, which Shopee keeps [U: the guides show only bare redirect URLs].
- ``POST /api/v2/auth/token/get`` ``{code, partner_id, shop_id | main_account_id}`` (a code works once, for
  10 minutes) -> ``access_token`` (4 hours), ``refresh_token`` (30 days, single use per shop), ``expire_in``
  and, for a main account, ``shop_id_list``. ``POST /api/v2/auth/access_token/get`` ``{refresh_token,
  partner_id, shop_id}`` -> a new pair (the old access token works 5 more minutes). A main account's first
  pair serves all its shops; each shop's first refresh gives it a pair of its own. The docs call
  ``expire_in`` seconds (the refresh sample: 14400) but the token sample shows a unix time (1767001812):
  we read a value above 10^9 as a moment, anything else as seconds.
- Answers are ``{"error": "", "message": "", "request_id": "..", "response": {...}}`` (``get_shop_info`` is
  flat; the ads API's ``response`` is a list); ``error`` is empty on success. The HTTP status that comes
  with an error is not documented [U], so we read the body whatever the status.

Errors, by what we do about them:

- an invalid access token (``invalid_acceess_token``, Shopee's spelling, or ``error_auth`` about the
  access token): refresh once and repeat the call; still refused -> ``AuthorizationError``;
- the authorization is gone (refresh refused, ``error_auth`` otherwise, ``shop_access_expired``...):
  ``AuthorizationError`` (the seller reconnects);
- ``error_rate_limit`` and the ads API's ``ads.rate_limit.*``: wait (Retry-After, else 1, 2, 4... s) and
  repeat, ``RATE_LIMIT_RETRIES`` times, then ``TransientError``; ``error_limit`` (the app's daily call
  cap) -> ``TransientError`` until 00:00 UTC+8; ``error_server``/``error_network`` -> retried likewise;
  5xx and timeouts are retried by ``PlatformHTTP``;
- "Timestamp is expired." -> repeated once with a fresh timestamp, then a ``PlatformError`` (our clock);
- ``error_sign`` and everything else -> ``PlatformError`` with Shopee's code and message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import httpx
from django.utils.translation import gettext as _

from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.http import PlatformHTTP, raise_for_status, retry_after_seconds

logger = logging.getLogger(__name__)

PLATFORM = "Shopee"
HOSTS = {
    "global": "https://partner.shopeemobile.com",
    "cn": "https://openplatform.shopee.cn",
    "br": "https://openplatform.shopee.com.br",
}
SANDBOX_HOSTS = {
    "global": "https://openplatform.sandbox.test-stable.shopee.sg",
    "cn": "https://openplatform.sandbox.test-stable.shopee.cn",
}
# Connect-picker values that choose a host; anything else (NA/EU/FE, "", a market code: SG, MY, TH, ID, PH, VN,
# TW, BR, MX...) takes the configured default host. Markets are reached from every host; "br" (the host near
# the US, openplatform.shopee.com.br) is chosen in settings only, so the market BR never picks it.
HOST_BY_REGION = {"CN": "cn", "GLOBAL": "global"}

AUTH_PARTNER = "/api/v2/shop/auth_partner"
TOKEN_GET = "/api/v2/auth/token/get"
REFRESH_TOKEN = "/api/v2/auth/access_token/get"
SHOP_INFO = "/api/v2/shop/get_shop_info"
ORDER_LIST = "/api/v2/order/get_order_list"
ORDER_DETAIL = "/api/v2/order/get_order_detail"
ADS_DAILY = "/api/v2/ads/get_all_cpc_ads_daily_performance"

ACCESS_TOKEN_SECONDS = 4 * 3600
REFRESH_TOKEN_SECONDS = 30 * 86400  # the docs' figure; Shopee does not send it
REFRESH_MARGIN = 300  # refresh an access token this long before it expires
TIMESTAMP_VALID_SECONDS = 300
MAX_ORDER_WINDOW = timedelta(days=15)  # get_order_list: time_to - time_from
MAX_PAGE_SIZE = 100  # get_order_list page_size 1..100
MAX_ORDER_SNS = 50  # get_order_detail order_sn_list 1..50
ADS_DATE_FORMAT = "%d-%m-%Y"
# get_order_detail: the optional fields we read. Buyer names and addresses are never asked for.
ORDER_DETAIL_FIELDS = "item_list,total_amount"

RATE_LIMIT_RETRIES = 5
MAX_RATE_LIMIT_WAIT = 30.0
RATE_LIMIT_CODES = {
    "error_rate_limit",
    "ads.rate_limit.exceed_partner_api",
    "ads.rate_limit.exceed_shop_api",
    "ads.rate_limit.exceed_api",
}
SERVER_CODES = {"error_server", "error_network", "error_inner", "error_busy"}
TOKEN_CODES = {"invalid_acceess_token", "invalid_access_token"}
PERMISSION_CODES = {
    "error_permission",
    "error_api_permission",
    "error_api_call_restricted",
    "error_ashop_api_permission",
}
LOST_GRANT_CODES = {
    "error_auth",
    "shop_no_linked",
    "partner_shop_no_link",
    "shop_access_expired",
    "refresh_token_expired",
    "error_shop_refresh_token",
}
UTC8 = timedelta(hours=8)


# --- signing and hosts -----------------------------------------------------------------------------------


def base_string(partner_id, path: str, timestamp: int, access_token: str = "", shop_id="") -> str:
    """What Shopee signs: ``partner_id + api_path + timestamp`` (+ ``access_token + shop_id`` for shop APIs)."""
    return f"{partner_id}{path}{timestamp}{access_token}{shop_id}"


def sign(partner_key: str, message: str) -> str:
    return hmac.new(partner_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def partner_id_value(conf: Mapping):
    """The partner id for JSON bodies: Shopee's is an integer (our development fakes use a text id)."""
    text = str(conf["client_id"])
    return int(text) if text.isdigit() else text


def host_for(region: str, default: str = "global") -> str:
    """The API host key for a connect-picker value (see ``HOST_BY_REGION``); ``default`` otherwise."""
    return HOST_BY_REGION.get((region or "").strip().upper(), default if default in HOSTS else "global")


def api_base(conf: Mapping, host: str | None) -> str:
    """``settings.PLATFORMS["shopee"]["api_urls"][host]``, else ``api_url`` (the global host)."""
    return ((conf.get("api_urls") or {}).get(host or "global") or conf["api_url"]).rstrip("/")


def public_params(conf: Mapping, path: str, timestamp: int) -> dict:
    partner_id = str(conf["client_id"])
    return {
        "partner_id": partner_id,
        "timestamp": timestamp,
        "sign": sign(conf["client_secret"], base_string(partner_id, path, timestamp)),
    }


def shop_params(conf: Mapping, path: str, timestamp: int, *, access_token: str, shop_id: int) -> dict:
    partner_id = str(conf["client_id"])
    return {
        "partner_id": partner_id,
        "timestamp": timestamp,
        "access_token": access_token,
        "shop_id": shop_id,
        "sign": sign(conf["client_secret"], base_string(partner_id, path, timestamp, access_token, shop_id)),
    }


def authorization_url(conf: Mapping, *, host: str, state: str, redirect_uri: str, timestamp: int) -> str:
    """The shop authorization link; valid 5 minutes (its timestamp). ``state`` rides in the redirect URL."""
    joiner = "&" if "?" in redirect_uri else "?"
    redirect = f"{redirect_uri}{joiner}{urlencode({'state': state})}"
    query = {**public_params(conf, AUTH_PARTNER, timestamp), "redirect": redirect}
    return f"{api_base(conf, host)}{AUTH_PARTNER}?{urlencode(query)}"


def expires_at(expire_in, now: float) -> float:
    """``expire_in`` -> a unix time: seconds from now, or (above 10^9) already a unix time."""
    value = float(expire_in or ACCESS_TOKEN_SECONDS)
    return value if value > 1e9 else now + value


def seconds_to_utc8_midnight(now: float) -> float:
    local = datetime.fromtimestamp(now, UTC) + UTC8
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return max(1.0, (midnight - local).total_seconds())


# --- answers and errors ------------------------------------------------------------------------------------


class ShopeeAPIError(Exception):
    """An answer whose ``error`` is set (internal: turned into one of ``connectors.errors`` below)."""

    def __init__(self, code: str, message: str, *, status: int, request_id: str = "", retry_after=None):
        super().__init__(f"{code}: {message}")
        self.raw_code = code
        self.code = code.removeprefix("common.")  # the docs show both "error_auth" and "common.error_auth"
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def detail(self) -> str:
        return f"HTTP {self.status} {self.raw_code}: {self.message} (request_id {self.request_id})"

    @property
    def token_invalid(self) -> bool:
        return self.code in TOKEN_CODES or (self.code == "error_auth" and "access_token" in self.message.lower())

    @property
    def rate_limited(self) -> bool:
        return self.code in RATE_LIMIT_CODES

    @property
    def server_side(self) -> bool:
        return self.code in SERVER_CODES

    @property
    def timestamp_expired(self) -> bool:
        return self.code == "error_param" and "timestamp is expired" in self.message.lower()


def read_answer(response: httpx.Response) -> dict:
    """The JSON body (numbers with a fraction as Decimal), or ``ShopeeAPIError`` if ``error`` is set."""
    try:
        body = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        body = None
    if response.status_code == 429 and not (isinstance(body, dict) and body.get("error")):
        # A 429 from a gateway in front of Shopee, without Shopee's body: a rate limit all the same.
        raise ShopeeAPIError(
            "error_rate_limit",
            f"HTTP 429 without an error code: {response.text[:200]}",
            status=429,
            retry_after=retry_after_seconds(response),
        )
    if not isinstance(body, dict):
        if response.status_code >= 500:
            raise TransientError(
                _("Shopee is unavailable (HTTP %(status)s); the sync will retry.") % {"status": response.status_code},
                detail=response.text[:500],
            )
        raise_for_status(response, platform=PLATFORM, reauth_statuses=())
        raise PlatformError(_("Shopee sent an answer we cannot read."), detail=response.text[:500])
    code = str(body.get("error") or "")
    if code:
        raise ShopeeAPIError(
            code,
            str(body.get("message") or body.get("msg") or ""),
            status=response.status_code,
            request_id=str(body.get("request_id") or ""),
            retry_after=retry_after_seconds(response),
        )
    if response.status_code >= 400:
        raise_for_status(response, platform=PLATFORM, reauth_statuses=())
    return body


def translate(exc: ShopeeAPIError, *, shop: str = "") -> Exception:
    """Shopee's error -> the error the sync engine acts on (see the module docstring)."""
    where = shop or _("this shop")
    if exc.token_invalid or exc.code in LOST_GRANT_CODES and "permission" not in exc.message.lower():
        return AuthorizationError(
            _(
                "Shopee no longer accepts our access to %(shop)s: the authorization was cancelled or has expired. "
                "Reconnect the shop to continue."
            )
            % {"shop": where},
            detail=exc.detail,
        )
    if exc.code == "shop_banned":
        return PlatformError(
            _("Shopee has banned or frozen %(shop)s; its data cannot be read until Shopee restores the shop.")
            % {"shop": where},
            detail=exc.detail,
        )
    if exc.code in PERMISSION_CODES or exc.code == "error_auth":
        return PlatformError(
            _("Shopee refused the request: our app lacks a permission (%(message)s).") % {"message": exc.message},
            detail=exc.detail,
        )
    if exc.code == "error_limit":
        return TransientError(
            _("Shopee's daily limit of calls for our app is used up; the sync continues after midnight (UTC+8)."),
            retry_after=seconds_to_utc8_midnight(time.time()),
            detail=exc.detail,
        )
    if exc.rate_limited:
        return TransientError(
            _("Shopee is rate limiting this shop; the sync will retry."),
            retry_after=exc.retry_after or 60.0,
            detail=exc.detail,
        )
    if exc.server_side:
        return TransientError(_("Shopee had a server error; the sync will retry."), detail=exc.detail)
    if exc.timestamp_expired:
        return PlatformError(
            _("Shopee refused our request time (our server clock is off by over 5 minutes). Try again later."),
            detail=exc.detail,
        )
    if exc.code == "error_sign":
        return PlatformError(
            _("Shopee refused our request signature: our app's partner key is wrong. Try again later."),
            detail=exc.detail,
        )
    return PlatformError(
        _("Shopee refused the request (%(code)s): %(message)s") % {"code": exc.raw_code, "message": exc.message},
        detail=exc.detail,
    )


def send(
    http: PlatformHTTP,
    method: str,
    url: str,
    *,
    params: Callable[[], dict],
    body: dict | None = None,
    sleep: Callable[[float], None] = time.sleep,
    limited: bool = True,
) -> dict:
    """One call, repeated while Shopee rate limits it or has a passing server error (bounded), and once for
    an expired timestamp. ``params`` is called for every attempt: each gets a fresh timestamp and sign."""
    waits = 0
    stamped = False
    while True:
        response = http.request(method, url, params=params(), json=body, limited=limited)
        try:
            return read_answer(response)
        except ShopeeAPIError as exc:
            if exc.timestamp_expired and not stamped:
                stamped = True
                continue
            if (exc.rate_limited or exc.server_side) and waits < RATE_LIMIT_RETRIES:
                wait = exc.retry_after if exc.retry_after is not None else min(MAX_RATE_LIMIT_WAIT, 2.0**waits)
                if wait <= MAX_RATE_LIMIT_WAIT:
                    logger.info("Shopee %s (%s): waiting %.1fs", exc.code, url.rsplit("/", 1)[-1], wait)
                    sleep(wait)
                    waits += 1
                    continue
            raise


# --- authorization ---------------------------------------------------------------------------------------


def _token_credentials(body: dict, *, now: float, host: str) -> dict:
    if not body.get("access_token") or not body.get("refresh_token"):
        raise PlatformError(_("Shopee answered without tokens. Connect the shop again."), detail=str(body)[:500])
    return {
        "access_token": body["access_token"],
        "refresh_token": body["refresh_token"],
        "expires_at": expires_at(body.get("expire_in"), now),
        "refresh_expires_at": now + REFRESH_TOKEN_SECONDS,
        "host": host,
    }


def exchange_code(
    http: PlatformHTTP,
    conf: Mapping,
    *,
    host: str,
    code: str,
    shop_id: int | None = None,
    main_account_id: int | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """``/api/v2/auth/token/get`` for a shop (``shop_id``) or a main account (``main_account_id``)."""
    body = {"code": code, "partner_id": partner_id_value(conf)}
    if main_account_id:
        body["main_account_id"] = int(main_account_id)
    else:
        body["shop_id"] = int(shop_id)
    try:
        answer = send(
            http,
            "POST",
            api_base(conf, host) + TOKEN_GET,
            params=lambda: public_params(conf, TOKEN_GET, int(clock())),
            body=body,
            sleep=sleep,
            limited=False,
        )
    except ShopeeAPIError as exc:
        if exc.code in ("invalid_code", "error_auth", "invalid_shop_id", "invalid_main_acount_id", "error_param"):
            raise AuthorizationError(
                _("Shopee did not accept the authorization (a code works once, for 10 minutes). Connect again."),
                detail=exc.detail,
            ) from exc
        raise translate(exc) from exc
    now = clock()
    credentials = _token_credentials(answer, now=now, host=host)
    shops = [int(s) for s in answer.get("shop_id_list") or []] or ([int(shop_id)] if shop_id else [])
    credentials["shop_id_list"] = shops
    if main_account_id:
        credentials["main_account_id"] = int(main_account_id)
    return credentials


def refresh_credentials(
    http: PlatformHTTP,
    conf: Mapping,
    credentials: dict,
    *,
    shop_id: int,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    shop: str = "",
) -> dict:
    """``/api/v2/auth/access_token/get`` for one shop: the new access and refresh token, with the rest of
    ``credentials`` kept. The refresh token works once: persist the answer at once."""
    refresh_token = credentials.get("refresh_token")
    if not refresh_token:
        raise AuthorizationError(_("We hold no Shopee refresh token for this shop. Reconnect the shop to continue."))
    host = credentials.get("host") or "global"
    body = {"refresh_token": refresh_token, "partner_id": partner_id_value(conf), "shop_id": int(shop_id)}
    try:
        answer = send(
            http,
            "POST",
            api_base(conf, host) + REFRESH_TOKEN,
            params=lambda: public_params(conf, REFRESH_TOKEN, int(clock())),
            body=body,
            sleep=sleep,
            limited=False,
        )
    except ShopeeAPIError as exc:
        passing = exc.rate_limited or exc.server_side or exc.timestamp_expired
        if passing or exc.code in ("error_limit", "error_sign", "shop_banned"):
            raise translate(exc, shop=shop) from exc
        # Anything else refuses the refresh token: used, expired, or the seller cancelled the authorization.
        raise AuthorizationError(
            _(
                "Shopee no longer accepts our access to %(shop)s: the authorization was cancelled or has "
                "expired. Reconnect the shop to continue."
            )
            % {"shop": shop or _("this shop")},
            detail=exc.detail,
        ) from exc
    return {**credentials, **_token_credentials(answer, now=clock(), host=host)}


# --- the shop client -------------------------------------------------------------------------------------


class ShopeeClient:
    """Shop APIs for one shop. Tokens are refreshed before they expire and once when Shopee refuses one;
    every new pair goes to ``on_credentials`` at once (the refresh token it replaces works no more)."""

    def __init__(
        self,
        *,
        conf: Mapping,
        credentials: dict,
        shop_id: int,
        http: PlatformHTTP,
        on_credentials: Callable[[dict], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        shop_label: str = "",
        may_refresh: bool = True,
    ):
        self.conf = conf
        self.may_refresh = may_refresh  # discovery must not spend a refresh token it cannot save
        self.credentials = dict(credentials)
        self.shop_id = int(shop_id)
        self.http = http
        self.on_credentials = on_credentials
        self.sleep = sleep
        self.clock = clock
        self.shop_label = shop_label or str(shop_id)
        self.base = api_base(conf, self.credentials.get("host"))

    def close(self) -> None:
        self.http.close()

    # tokens ------------------------------------------------------------------------------------------------
    def ensure_token(self) -> None:
        if not self.credentials.get("access_token") or self.credentials.get("expires_at", 0) - REFRESH_MARGIN <= (
            self.clock()
        ):
            self.refresh()

    def refresh(self) -> None:
        if not self.may_refresh:
            raise AuthorizationError(
                _("Shopee's access to %(shop)s has expired. Connect the shop again.") % {"shop": self.shop_label},
            )
        self.credentials = refresh_credentials(
            self.http,
            self.conf,
            self.credentials,
            shop_id=self.shop_id,
            clock=self.clock,
            sleep=self.sleep,
            shop=self.shop_label,
        )
        if self.on_credentials:
            self.on_credentials(dict(self.credentials))

    # calls -------------------------------------------------------------------------------------------------
    def call(self, path: str, query: dict | None = None) -> dict:
        """A GET shop API. An invalid access token is refreshed once and the call repeated."""
        self.ensure_token()
        for attempt in range(2):

            def params(path=path):
                common = shop_params(
                    self.conf,
                    path,
                    int(self.clock()),
                    access_token=self.credentials["access_token"],
                    shop_id=self.shop_id,
                )
                return {**common, **(query or {})}

            try:
                return send(self.http, "GET", self.base + path, params=params, sleep=self.sleep)
            except ShopeeAPIError as exc:
                if exc.token_invalid and attempt == 0:
                    logger.info("Shopee refused the access token of shop %s: refreshing it", self.shop_id)
                    self.refresh()
                    continue
                raise translate(exc, shop=self.shop_label) from exc
        raise AssertionError("unreachable")

    def shop_info(self) -> dict:
        return self.call(SHOP_INFO)

    def order_list(
        self,
        *,
        time_range_field: str,
        time_from: int,
        time_to: int,
        cursor: str = "",
        page_size: int = MAX_PAGE_SIZE,
        with_status: bool = False,
    ) -> dict:
        """One page: ``{"more", "next_cursor", "order_list": [{"order_sn", ("order_status")}]}``."""
        if time_to - time_from > MAX_ORDER_WINDOW.total_seconds() or time_to <= time_from:
            raise ValueError(f"get_order_list takes at most 15 days, not {time_from}..{time_to}")
        query = {
            "time_range_field": time_range_field,
            "time_from": time_from,
            "time_to": time_to,
            "page_size": max(1, min(MAX_PAGE_SIZE, page_size)),
            "cursor": cursor,
        }
        if with_status:
            query["response_optional_fields"] = "order_status"
        return self.call(ORDER_LIST, query).get("response") or {}

    def order_details(self, order_sns: list[str]) -> list[dict]:
        if not 1 <= len(order_sns) <= MAX_ORDER_SNS:
            raise ValueError(f"get_order_detail takes 1 to {MAX_ORDER_SNS} order numbers, not {len(order_sns)}")
        answer = self.call(
            ORDER_DETAIL, {"order_sn_list": ",".join(order_sns), "response_optional_fields": ORDER_DETAIL_FIELDS}
        )
        return list((answer.get("response") or {}).get("order_list") or [])

    def ads_daily(self, start: date, end: date) -> list[dict]:
        """Shop-level CPC ads, one row a day, ``start`` < ``end`` (Shopee refuses equal dates), at most a month,
        within the last 6 months."""
        answer = self.call(
            ADS_DAILY, {"start_date": start.strftime(ADS_DATE_FORMAT), "end_date": end.strftime(ADS_DATE_FORMAT)}
        )
        if answer.get("warning"):
            logger.info("Shopee ads warning for shop %s: %s", self.shop_id, answer["warning"])
        return list(answer.get("response") or [])
