"""The TikTok Shop Open API as TikTok speaks it: seller authorization, tokens, signed calls, shops, orders.

Facts (docs/platform-apis.md section 7; codes from the common-errors page as scraped in public SDK fixtures):

- Seller authorization: the seller opens ``{auth host}/open/authorize?service_id=..&state=..``; TikTok sends them
  back to the redirect URL registered for the app in Partner Center (it takes no ``redirect_uri``) with
  ``code`` and ``state``.
- Tokens live on their own host, unsigned GETs carrying the app secret:
  ``/api/v2/token/get?app_key&app_secret&auth_code&grant_type=authorized_code`` and
  ``/api/v2/token/refresh?app_key&app_secret&refresh_token&grant_type=refresh_token``. ``data`` holds
  ``access_token``, ``access_token_expire_in`` and ``refresh_token_expire_in`` (absolute unix seconds, despite
  the names), ``refresh_token``, ``open_id``, ``seller_name``. A refresh may return a new refresh token: we
  keep whatever it returns.
- Every business call: query ``app_key``, ``timestamp`` (unix seconds; TikTok refuses one more than 5 minutes
  old or 30 s ahead), ``shop_cipher`` (shop-scoped calls only) and ``sign``; header ``x-tts-access-token``;
  a JSON body. ``sign`` is hex HMAC-SHA256 keyed with the app secret over
  ``secret + path + k1v1k2v2... (sorted, without sign and access_token) + body + secret``. The body is
  serialized once and those exact bytes are signed and sent.
- Every answer is ``{"code", "message", "request_id", "data"}``; ``code`` 0 is success and the HTTP status is
  set independently, so we read the code whatever the status.

Error codes we act on: 105002 (access token expired) and 36009004 naming the access-token header (invalid
token): refresh once and repeat the call, then ask the seller to reconnect. 36009002 (too many requests,
with HTTP 429 or in a 200 body): wait (``Retry-After`` if given) and retry, a bounded number of times, then
hand the run back to the queue. 36009003 / 36009007 (internal error / timeout) and 5xx: transient.
106001 (bad ``sign``): our app secret is wrong. 105005 (scope missing): the seller must grant order access.
What a refused refresh token answers is not documented: any non-zero code on a refresh means reconnect.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from django.utils.translation import gettext as _

from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.http import PlatformHTTP, raise_for_status, retry_after_seconds

logger = logging.getLogger(__name__)

PLATFORM = "TikTok Shop"
TOKEN_GET_PATH = "/api/v2/token/get"
TOKEN_REFRESH_PATH = "/api/v2/token/refresh"
SHOPS_PATH = "/authorization/202309/shops"
ORDERS_SEARCH_PATH = "/order/202309/orders/search"
ORDER_DETAIL_PATH = "/order/202309/orders"

REFRESH_MARGIN = 300  # refresh an access token this many seconds before TikTok's expiry
MAX_PAGE_SIZE = 100
MAX_DETAIL_IDS = 50
RATE_LIMIT_RETRIES = 5
MAX_RATE_LIMIT_WAIT = 30.0

OK = 0
RATE_LIMITED = 36009002
SERVER_ERRORS = {36009003, 36009007}
EXPIRED_TOKEN = 105002
OVERLOADED = 36009004  # TikTok reuses it for a dozen failures; the message says which
BAD_SIGN = 106001
SCOPE_DENIED = 105005
INVALID_AUTH_CODE = 36004004
SHOP_CIPHER_MISSING = 106013


def sign(secret: str, path: str, params: Mapping[str, str], body: bytes | None = None) -> str:
    """TikTok Shop's request signature (version 202309) of ``path``, query ``params`` and the body bytes."""
    pairs = "".join(f"{key}{params[key]}" for key in sorted(params) if key not in ("sign", "access_token"))
    message = secret.encode() + path.encode() + pairs.encode() + (body or b"") + secret.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def encode_body(body) -> bytes:
    """The one serialization of a JSON body: these bytes are signed and sent."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def authorization_url(conf: Mapping, *, state: str, region: str = "") -> str:
    """The seller authorization page. US sellers authorize on TikTok's US host (``auth_url_us``)."""
    base = conf.get("auth_url_us") if region == "US" and conf.get("auth_url_us") else conf["auth_url"]
    return f"{base}?{urlencode({'service_id': conf['service_id'], 'state': state})}"


def _envelope(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _code(body: dict | None) -> int | None:
    if body is None or "code" not in body:
        return None
    try:
        return int(body["code"])
    except (TypeError, ValueError):
        return -1


def _detail(body: dict | None, response: httpx.Response) -> str:
    if body is None:
        return response.text[:500]
    return f"code={body.get('code')} message={body.get('message')!r} request_id={body.get('request_id')}"


def _is_token_problem(code: int | None, message: str) -> bool:
    if code == EXPIRED_TOKEN:
        return True
    lowered = message.lower()
    return code == OVERLOADED and ("x-tts-access-token" in lowered or "access_token" in lowered)


# --- tokens -------------------------------------------------------------------------------------------------


def token_call(http: PlatformHTTP, conf: Mapping, path: str, query: dict) -> dict:
    """GET a token endpoint; returns the credentials we store (TikTok's own field names)."""
    params = {"app_key": conf["client_id"], "app_secret": conf["client_secret"], **query}
    response = http.request(
        "GET",
        conf["token_url"].rstrip("/") + path,
        params=params,
        headers={"Accept": "application/json"},
        limited=False,
    )
    body = _envelope(response)
    code = _code(body)
    refreshing = query.get("grant_type") == "refresh_token"
    if code == RATE_LIMITED or code in SERVER_ERRORS:
        raise TransientError(
            _("TikTok Shop is busy; the sync will retry."),
            retry_after=retry_after_seconds(response),
            detail=_detail(body, response),
        )
    if code not in (None, OK):
        if refreshing:
            raise AuthorizationError(
                _(
                    "TikTok Shop no longer accepts this authorization (it was revoked or has expired). "
                    "Reconnect the shop to keep syncing."
                ),
                detail=_detail(body, response),
            )
        raise AuthorizationError(
            _("TikTok Shop did not accept the authorization (a code works once, for a short time). Connect again."),
            detail=_detail(body, response),
        )
    raise_for_status(response, platform=PLATFORM)
    data = (body or {}).get("data") or {}
    if not data.get("access_token"):
        raise PlatformError(
            _("TikTok Shop answered without an access token. Connect again."), detail=_detail(body, response)
        )
    credentials = {
        "access_token": data["access_token"],
        "access_token_expire_in": int(data.get("access_token_expire_in") or 0),
        "refresh_token": data.get("refresh_token") or query.get("refresh_token", ""),
        "refresh_token_expire_in": int(data.get("refresh_token_expire_in") or 0),
        "open_id": str(data.get("open_id") or ""),
        "seller_name": str(data.get("seller_name") or ""),
        "seller_base_region": str(data.get("seller_base_region") or ""),
    }
    return credentials


def exchange_code(http: PlatformHTTP, conf: Mapping, *, code: str) -> dict:
    return token_call(http, conf, TOKEN_GET_PATH, {"auth_code": code, "grant_type": "authorized_code"})


def refresh_credentials(http: PlatformHTTP, conf: Mapping, *, refresh_token: str) -> dict:
    return token_call(http, conf, TOKEN_REFRESH_PATH, {"refresh_token": refresh_token, "grant_type": "refresh_token"})


# --- the API client -----------------------------------------------------------------------------------------


@dataclass
class OrdersPage:
    orders: list[dict]
    next_page_token: str
    total_count: int | None


class TikTokShopClient:
    """One seller's grant, optionally bound to one shop (``shop_cipher``). ``on_credentials`` is told about
    every refreshed token set (the backend saves it); ``sleep`` and ``clock`` are seams for tests."""

    def __init__(
        self,
        *,
        http: PlatformHTTP,
        conf: Mapping,
        credentials: dict,
        shop_cipher: str | None = None,
        on_credentials: Callable[[dict], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.http = http
        self.conf = conf
        self.credentials = dict(credentials)
        self.shop_cipher = shop_cipher
        self.on_credentials = on_credentials
        self.sleep = sleep
        self.clock = clock
        self.api_url = conf["api_url"].rstrip("/")
        self.rate_limit_waits: list[float] = []

    # -- tokens ------------------------------------------------------------------------------------------
    def ensure_token(self) -> None:
        expires = int(self.credentials.get("access_token_expire_in") or 0)
        if not self.credentials.get("access_token") or expires - REFRESH_MARGIN <= self.clock():
            self.refresh()

    def refresh(self) -> None:
        refresh_token = self.credentials.get("refresh_token")
        refresh_expires = int(self.credentials.get("refresh_token_expire_in") or 0)
        if not refresh_token or (refresh_expires and refresh_expires <= self.clock()):
            raise AuthorizationError(
                _(
                    "TikTok Shop no longer accepts this authorization (it was revoked or has expired). "
                    "Reconnect the shop to keep syncing."
                ),
                detail="no refresh token, or it has expired",
            )
        self.credentials = refresh_credentials(self.http, self.conf, refresh_token=refresh_token)
        if self.on_credentials:
            self.on_credentials(dict(self.credentials))

    # -- one signed call ---------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, query: dict | None = None, body=None, shop_scoped: bool = True) -> dict:
        """A signed API call; returns ``data``. An expired or refused access token is refreshed once and the
        call repeated; a rate-limit answer is waited out a bounded number of times."""
        content = encode_body(body) if body is not None else None
        refreshed = False
        throttled = 0
        while True:
            self.ensure_token()
            params = {"app_key": str(self.conf["client_id"]), "timestamp": str(int(self.clock()))}
            if shop_scoped:
                if not self.shop_cipher:
                    raise PlatformError(_("TikTok Shop: this connection does not know its shop. Reconnect the shop."))
                params["shop_cipher"] = self.shop_cipher
            params.update({key: str(value) for key, value in (query or {}).items() if value is not None})
            params["sign"] = sign(self.conf["client_secret"], path, params, content)
            headers = {"x-tts-access-token": self.credentials["access_token"], "Accept": "application/json"}
            if content is not None:
                headers["Content-Type"] = "application/json"
            response = self.http.request(method, self.api_url + path, params=params, content=content, headers=headers)
            envelope = _envelope(response)
            code = _code(envelope)
            message = str((envelope or {}).get("message") or "")
            if code == RATE_LIMITED or (code is None and response.status_code == 429):
                wait = retry_after_seconds(response)
                if throttled >= RATE_LIMIT_RETRIES or (wait is not None and wait > MAX_RATE_LIMIT_WAIT):
                    raise TransientError(
                        _("TikTok Shop is rate limiting this shop; the sync will retry."),
                        retry_after=wait,
                        detail=_detail(envelope, response),
                    )
                wait = wait if wait is not None else min(MAX_RATE_LIMIT_WAIT, 2.0**throttled)
                logger.info("TikTok Shop rate limited %s: waiting %.1fs", path, wait)
                self.rate_limit_waits.append(wait)
                self.sleep(wait)
                throttled += 1
                continue
            if _is_token_problem(code, message) or (code is None and response.status_code == 401):
                if refreshed:
                    raise AuthorizationError(
                        _("TikTok Shop refused our access to this shop. Reconnect the shop to keep syncing."),
                        detail=_detail(envelope, response),
                    )
                self.refresh()
                refreshed = True
                continue
            if code in (None, OK):
                if response.status_code >= 500:
                    raise TransientError(
                        _("TikTok Shop is unavailable (HTTP %(status)s); the sync will retry.")
                        % {"status": response.status_code},
                        detail=_detail(envelope, response),
                    )
                raise_for_status(response, platform=PLATFORM)
                if envelope is None:
                    raise TransientError(
                        _("TikTok Shop sent an answer we could not read; the sync will retry."),
                        detail=response.text[:500],
                    )
                return envelope.get("data") or {}
            self._raise(code, message, envelope, response)

    @staticmethod
    def _raise(code: int, message: str, envelope: dict | None, response: httpx.Response):
        detail = _detail(envelope, response)
        if code in SERVER_ERRORS:
            raise TransientError(_("TikTok Shop had an internal error; the sync will retry."), detail=detail)
        if code == BAD_SIGN:
            raise PlatformError(
                _("TikTok Shop rejected our request signature: the app secret in our settings is wrong."),
                detail=detail,
            )
        if code == SCOPE_DENIED:
            raise AuthorizationError(
                _("TikTok Shop: the app may not read orders of this shop. Reconnect it and allow order access."),
                detail=detail,
            )
        if code == OVERLOADED and "timestamp" in message.lower():
            raise PlatformError(
                _("TikTok Shop refused the request time: our server clock is off. We have been told."), detail=detail
            )
        raise PlatformError(
            _("TikTok Shop refused the request (code %(code)s): %(message)s")
            % {"code": code, "message": message[:300]},
            detail=detail,
        )

    # -- endpoints ---------------------------------------------------------------------------------------
    def shops(self) -> list[dict]:
        """Every shop this authorization covers: ``id, name, region, seller_type, cipher, code``."""
        return list(self.call("GET", SHOPS_PATH, shop_scoped=False).get("shops") or [])

    def search_orders(
        self, *, update_time_ge: int, update_time_lt: int, page_size: int, page_token: str | None = None
    ) -> OrdersPage:
        """One page of orders updated in ``[update_time_ge, update_time_lt)``, oldest created first."""
        query = {
            "page_size": max(1, min(MAX_PAGE_SIZE, page_size)),
            "sort_field": "create_time",
            "sort_order": "ASC",
            "page_token": page_token or None,
        }
        body = {"update_time_ge": update_time_ge, "update_time_lt": update_time_lt}
        data = self.call("POST", ORDERS_SEARCH_PATH, query=query, body=body)
        total = data.get("total_count")
        return OrdersPage(
            orders=list(data.get("orders") or []),
            next_page_token=str(data.get("next_page_token") or ""),
            total_count=int(total) if total is not None else None,
        )

    def iter_order_pages(
        self, *, update_time_ge: int, update_time_lt: int, page_size: int = 50, page_token: str | None = None
    ) -> Iterator[OrdersPage]:
        while True:
            page = self.search_orders(
                update_time_ge=update_time_ge, update_time_lt=update_time_lt, page_size=page_size, page_token=page_token
            )
            yield page
            if not page.next_page_token or not page.orders:
                return
            page_token = page.next_page_token

    def order_details(self, ids: list[str]) -> list[dict]:
        """``GET /order/202309/orders?ids=a,b``: up to 50 orders by id."""
        if not ids or len(ids) > MAX_DETAIL_IDS:
            raise ValueError(f"ask for 1 to {MAX_DETAIL_IDS} orders at a time, not {len(ids)}")
        return list(self.call("GET", ORDER_DETAIL_PATH, query={"ids": ",".join(ids)}).get("orders") or [])
