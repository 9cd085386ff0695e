"""Shopify Admin GraphQL: app install (authorization code grant), the shop, and orders (paged or bulk).

Every GraphQL response carries ``extensions.cost.throttleStatus`` (the leaky bucket of this app on this
shop: ``currentlyAvailable`` points, ``restoreRate`` points a second). The client remembers it and, before
the next query, waits ``(cost - available) / restoreRate`` seconds when the bucket holds less than that
query's cost, so a paced sync is rarely throttled. A throttled query answers ``THROTTLED`` in the body with
HTTP 200 or 429 (sources disagree; we handle both): we wait the same way and retry, a bounded number of
times. ``MAX_COST_EXCEEDED`` (a single query over 1000 points) is a ``QueryCostExceeded``; the order pager
shrinks its page and tries again. 401 means the app was uninstalled or its token revoked. 5xx and
timeouts are retried by ``PlatformHTTP``.

Install (Shopify's authorization code grant, offline token, no expiry)::

    GET  https://{shop}.myshopify.com/admin/oauth/authorize?client_id&scope&redirect_uri&state
    ->   redirect_uri?code&shop&state&timestamp&host&hmac     (hmac: HMAC-SHA256 hex of the other params)
    POST https://{shop}.myshopify.com/admin/oauth/access_token {client_id, client_secret, code}
    ->   {"access_token": "...", "scope": "read_orders"}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
from django.utils.translation import gettext as _

from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.http import PlatformHTTP, raise_for_status, retry_after_seconds

logger = logging.getLogger(__name__)

PLATFORM = "Shopify"
SCOPES = "read_orders"
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")

MAX_FIRST = 250  # Shopify refuses ``first`` above 250
MAX_QUERY_COST = 1000  # the single-query cap
THROTTLE_RETRIES = 6
MIN_THROTTLE_WAIT = 0.05
PACE_MARGIN = 0.01  # seconds added to every computed wait: the bucket's figures are rounded

# Requested cost as Shopify computes it: an object costs 1, a scalar 0, a connection 2 plus ``first`` times
# its node's cost. One order node below holds 12 objects (itself, three money bags with their shopMoney,
# the journey summary, two visits and their UTM objects) plus its line-items connection.
ORDER_NODE_COST = 12
LINE_NODE_COST = 3  # the line item, originalTotalSet, shopMoney
CONNECTION_COST = 2

MONEY = "{ shopMoney { amount currencyCode } }"
VISIT = "{ occurredAt landingPage referrerUrl source utmParameters { source medium campaign content term } }"
ORDER_FIELDS = f"""id name createdAt updatedAt cancelledAt displayFinancialStatus currencyCode
      totalPriceSet {MONEY}
      subtotalPriceSet {MONEY}
      totalRefundedSet {MONEY}
      customerJourneySummary {{ firstVisit {VISIT} lastVisit {VISIT} }}"""
LINE_FIELDS = f"id sku title quantity originalTotalSet {MONEY}"

SHOP_QUERY = "query Shop { shop { name currencyCode ianaTimezone myshopifyDomain } }"


def orders_query(*, with_count: bool) -> str:
    count = "\n  ordersCount(query: $query) { count precision }" if with_count else ""
    return f"""query Orders($first: Int!, $after: String, $query: String!, $lines: Int!) {{
  orders(first: $first, after: $after, query: $query, sortKey: ID) {{
    edges {{ node {{
      {ORDER_FIELDS}
      lineItems(first: $lines) {{ edges {{ node {{ {LINE_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }}
    }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}{count}
}}"""


ORDER_LINES_QUERY = f"""query OrderLines($id: ID!, $after: String) {{
  order(id: $id) {{
    lineItems(first: {MAX_FIRST}, after: $after) {{
      edges {{ node {{ {LINE_FIELDS} }} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}"""
ORDER_LINES_COST = 1 + CONNECTION_COST + MAX_FIRST * LINE_NODE_COST

BULK_RUN_MUTATION = """mutation RunOrdersExport($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { id status }
    userErrors { field message }
  }
}"""
BULK_FIELDS = "id status errorCode objectCount fileSize url partialDataUrl"
BULK_NODE_QUERY = f"query BulkOperation($id: ID!) {{ node(id: $id) {{ ... on BulkOperation {{ {BULK_FIELDS} }} }} }}"
CURRENT_BULK_QUERY = f"query CurrentBulk {{ currentBulkOperation(type: QUERY) {{ {BULK_FIELDS} query }} }}"
MUTATION_COST = 10


def bulk_orders_query(search: str) -> str:
    """The inner query of a bulk export: no ``first`` arguments, line items as a nested connection (their
    lines in the JSONL carry ``__parentId``)."""
    return f"""{{
  orders(query: {json.dumps(search)}, sortKey: ID) {{
    edges {{ node {{
      {ORDER_FIELDS}
      lineItems {{ edges {{ node {{ {LINE_FIELDS} }} }} }}
    }} }}
  }}
}}"""


def updated_between(since: str, until: str) -> str:
    """Shopify search syntax for ``since <= updated_at < until`` (ISO timestamps in UTC)."""
    return f"updated_at:>='{since}' AND updated_at:<'{until}'"


def created_between(since: str, until: str) -> str:
    """Shopify search syntax for ``since <= created_at < until`` (ISO timestamps in UTC)."""
    return f"created_at:>='{since}' AND created_at:<'{until}'"


# ``limit: null`` lifts the default cap of 10,000 (API 2025-07 and later); no status or test filter, so
# cancelled and test orders are counted, as the orders query returns them.
ORDERS_COUNT_QUERY = """query OrdersCount($query: String!) {
  ordersCount(query: $query, limit: null) { count precision }
}"""
ORDERS_COUNT_COST = 1


class ShopifyInstallError(PlatformError):
    """The install could not be completed (bad shop address, bad signature, refused code)."""

    code = "shopify_install"


class QueryCostExceeded(PlatformError):
    """One query asked for more points than Shopify allows in a single query."""

    code = "shopify_cost"

    def __init__(self, user_message: str, *, cost: float, max_cost: float, detail: str = ""):
        super().__init__(user_message, detail=detail)
        self.cost, self.max_cost = cost, max_cost


# --- install -----------------------------------------------------------------------------------------------


def normalize_shop_domain(value: str) -> str:
    """``my-store``, ``my-store.myshopify.com`` or ``https://my-store.myshopify.com/`` -> the bare domain.

    Anything that is not ``<name>.myshopify.com`` is refused: the domain becomes a URL we send the
    seller's browser and our app secret to.
    """
    raw = (value or "").strip().lower()
    for scheme in ("https://", "http://"):
        raw = raw.removeprefix(scheme)
    raw = raw.rstrip("/")
    if raw and "." not in raw:
        raw += ".myshopify.com"
    if len(raw) > 255 or not SHOP_DOMAIN.match(raw):
        raise ShopifyInstallError(
            _("Enter your shop's myshopify.com address, for example my-store.myshopify.com."),
            detail=f"rejected shop value {value!r}",
        )
    return raw


def shop_base_url(conf: Mapping, shop: str) -> str:
    """``settings.PLATFORMS['shopify']['shop_url']`` with ``{shop}`` replaced by the shop's subdomain."""
    return conf["shop_url"].format(shop=shop.removesuffix(".myshopify.com")).rstrip("/")


def authorize_url(*, conf: Mapping, shop: str, state: str, redirect_uri: str) -> str:
    query = urlencode({"client_id": conf["client_id"], "scope": SCOPES, "redirect_uri": redirect_uri, "state": state})
    return f"{shop_base_url(conf, shop)}/admin/oauth/authorize?{query}"


def signed_message(params: Mapping[str, str]) -> str:
    """What Shopify signs: every callback parameter except ``hmac`` (and the legacy ``signature``), sorted by
    name, as ``name=value`` joined with ``&`` (decoded values; ``%``, ``&`` and ``=`` in names escaped as
    the official libraries do)."""

    def escape(text: str, *, name: bool) -> str:
        text = text.replace("%", "%25").replace("&", "%26")
        return text.replace("=", "%3D") if name else text

    pairs = sorted((k, v) for k, v in params.items() if k not in ("hmac", "signature"))
    return "&".join(f"{escape(k, name=True)}={escape(str(v), name=False)}" for k, v in pairs)


def verify_callback(params: Mapping[str, str], *, secret: str) -> None:
    """Raise ``ShopifyInstallError`` unless ``hmac`` is the HMAC-SHA256 of the other parameters under
    ``secret`` (our app's client secret)."""
    given = str(params.get("hmac") or "")
    expected = hmac.new(secret.encode(), signed_message(params).encode(), hashlib.sha256).hexdigest()
    if not secret or not given or not hmac.compare_digest(expected, given.lower()):
        raise ShopifyInstallError(
            _("The link back from Shopify was not signed by Shopify (signature mismatch). Start the connection again."),
            detail="install callback hmac mismatch",
        )


def request_access_token(*, conf: Mapping, shop: str, code: str, http: PlatformHTTP) -> dict:
    """Trade the install code for an offline access token: ``{"access_token", "scope"}``."""
    response = http.request(
        "POST",
        f"{shop_base_url(conf, shop)}/admin/oauth/access_token",
        json={"client_id": conf["client_id"], "client_secret": conf["client_secret"], "code": code},
        headers={"Accept": "application/json"},
        limited=False,
    )
    if response.status_code in (400, 401, 403, 404):
        raise ShopifyInstallError(
            _("Shopify did not accept the install code (it may have expired or been used). Start again."),
            detail=response.text[:500],
        )
    raise_for_status(response, platform=PLATFORM)
    body = response.json()
    token, scope = body.get("access_token"), str(body.get("scope") or "")
    granted = {s.strip() for s in scope.split(",")}
    if not token:
        raise ShopifyInstallError(_("Shopify answered without an access token. Start the connection again."))
    if not granted & {"read_orders", "write_orders"}:
        raise ShopifyInstallError(
            _("The app was installed without access to orders. Install it again and allow reading orders."),
            detail=f"granted scope {scope!r}",
        )
    return {"access_token": token, "scope": scope}


# --- the GraphQL client ----------------------------------------------------------------------------------


@dataclass
class OrdersPage:
    orders: list[dict]  # order nodes; ``lines`` holds every line-item node of the order
    end_cursor: str | None
    has_next: bool
    total: int | None = None  # ordersCount, on the first page


@dataclass
class Throttle:
    maximum: float | None = None
    available: float | None = None
    restore_rate: float | None = None
    waits: list[float] = field(default_factory=list)


def _error_codes(errors) -> set[str]:
    if not isinstance(errors, list):
        return set()
    return {str((e.get("extensions") or {}).get("code") or "") for e in errors if isinstance(e, dict)}


def _messages(errors) -> str:
    if isinstance(errors, list):
        return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
    return str(errors)


class ShopifyClient:
    """GraphQL for one shop with one access token. ``sleep`` is where every wait goes (tests record it)."""

    def __init__(
        self,
        *,
        conf: Mapping,
        shop: str,
        access_token: str,
        http: PlatformHTTP,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.shop = shop
        self.endpoint = f"{shop_base_url(conf, shop)}/admin/api/{conf['api_version']}/graphql.json"
        self.headers = {
            "X-Shopify-Access-Token": access_token,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.http = http
        self.sleep = sleep
        self.throttle = Throttle()

    def close(self) -> None:
        self.http.close()

    # --- one query ------------------------------------------------------------------------------------
    def execute(self, query: str, variables: dict | None = None, *, cost: float) -> dict:
        """Run one query whose requested cost we expect to be ``cost``; returns its ``data``."""
        throttled = 0
        while True:
            self._pace(cost)
            response = self.http.request(
                "POST", self.endpoint, json={"query": query, "variables": variables or {}}, headers=self.headers
            )
            body = self._json(response)
            self._observe(body)
            if response.status_code == 401:
                raise AuthorizationError(
                    _(
                        "Shopify no longer accepts our access to %(shop)s: the app was uninstalled or its access "
                        "revoked. Reconnect the shop (install the app again) to continue."
                    )
                    % {"shop": self.shop},
                    detail=response.text[:500],
                )
            errors = body.get("errors") if isinstance(body, dict) else None
            codes = _error_codes(errors)
            if "THROTTLED" in codes:
                wait = self._throttled_wait(body, cost)
                if throttled >= THROTTLE_RETRIES:
                    raise TransientError(
                        _("Shopify is rate limiting this shop; the sync will retry."), retry_after=wait
                    )
                logger.info("Shopify %s throttled (HTTP %s): waiting %.2fs", self.shop, response.status_code, wait)
                self.throttle.waits.append(wait)
                self.sleep(wait)
                throttled += 1
                continue
            if response.status_code == 429:
                raise TransientError(
                    _("Shopify is rate limiting this shop; the sync will retry."),
                    retry_after=retry_after_seconds(response),
                    detail=response.text[:500],
                )
            raise_for_status(response, platform=PLATFORM)
            if "MAX_COST_EXCEEDED" in codes:
                ext = next(
                    e["extensions"]
                    for e in errors
                    if isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "MAX_COST_EXCEEDED"
                )
                raise QueryCostExceeded(
                    _("A Shopify query asked for more data at once than Shopify allows."),
                    cost=float(ext.get("cost") or cost),
                    max_cost=float(ext.get("maxCost") or MAX_QUERY_COST),
                    detail=_messages(errors),
                )
            if errors:
                raise PlatformError(
                    _("Shopify refused the query: %(errors)s") % {"errors": _messages(errors)[:300]},
                    detail=_messages(errors),
                )
            if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
                raise TransientError(
                    _("Shopify sent an unreadable answer; the sync will retry."), detail=response.text[:500]
                )
            return body["data"]

    @staticmethod
    def _json(response: httpx.Response):
        try:
            return response.json()
        except ValueError:
            return None

    def _observe(self, body) -> None:
        status = (
            (((body or {}).get("extensions") or {}).get("cost") or {}).get("throttleStatus")
            if isinstance(body, dict)
            else None
        )
        if status:
            self.throttle.maximum = float(status.get("maximumAvailable") or 0) or None
            self.throttle.available = float(status.get("currentlyAvailable") or 0)
            self.throttle.restore_rate = float(status.get("restoreRate") or 0) or None

    def _pace(self, cost: float) -> None:
        """Wait until the bucket (as last reported) can pay for ``cost``."""
        t = self.throttle
        if t.available is None or not t.restore_rate:
            return
        needed = min(cost, t.maximum or cost)
        if t.available < needed:
            wait = (needed - t.available) / t.restore_rate + PACE_MARGIN
            t.waits.append(wait)
            self.sleep(wait)
            t.available = needed

    def _throttled_wait(self, body: dict, cost: float) -> float:
        ext = (body.get("extensions") or {}).get("cost") or {}
        requested = float(ext.get("requestedQueryCost") or cost)
        t = self.throttle
        if t.available is None or not t.restore_rate:
            return 1.0
        needed = min(requested, t.maximum or requested)
        wait = max(MIN_THROTTLE_WAIT, (needed - t.available) / t.restore_rate + PACE_MARGIN)
        t.available = needed  # what the bucket holds once we have waited
        return wait

    # --- queries -------------------------------------------------------------------------------------
    def shop_info(self) -> dict:
        return self.execute(SHOP_QUERY, cost=1)["shop"]

    def iter_order_pages(
        self, *, search: str, after: str | None = None, page_size: int = 100, lines: int = 10
    ) -> Iterator[OrdersPage]:
        """Orders matching ``search``, oldest id first, one page at a time, each page's line items complete.

        The page size is the largest that keeps a query's requested cost under the single-query cap; if
        Shopify still finds it too dear, the page shrinks in proportion and the query is asked again.
        """
        lines = max(1, min(MAX_FIRST, lines))
        per_order = ORDER_NODE_COST + CONNECTION_COST + lines * LINE_NODE_COST
        first = max(1, min(page_size, MAX_FIRST, (MAX_QUERY_COST - CONNECTION_COST - 1) // per_order))
        with_count = after is None
        while True:
            cost = CONNECTION_COST + first * per_order + (1 if with_count else 0)
            variables = {"first": first, "after": after, "query": search, "lines": lines}
            try:
                data = self.execute(orders_query(with_count=with_count), variables, cost=cost)
            except QueryCostExceeded as exc:
                if first <= 1:
                    raise
                first = max(1, min(first - 1, math.floor(first * exc.max_cost / max(exc.cost, 1)) - 1))
                logger.info("Shopify %s: %s points is too dear, pages of %d orders now", self.shop, exc.cost, first)
                continue
            connection = data["orders"]
            orders = []
            for edge in connection["edges"]:
                node = dict(edge["node"])
                items = node.pop("lineItems", None) or {}
                node["lines"] = [e["node"] for e in items.get("edges", [])]
                info = items.get("pageInfo") or {}
                if info.get("hasNextPage"):
                    node["lines"] += list(self._more_lines(node["id"], info.get("endCursor")))
                orders.append(node)
            info = connection["pageInfo"]
            total = None
            if with_count and data.get("ordersCount"):
                total = int(data["ordersCount"].get("count") or 0)
            yield OrdersPage(
                orders=orders, end_cursor=info.get("endCursor"), has_next=bool(info.get("hasNextPage")), total=total
            )
            if not info.get("hasNextPage"):
                return
            after, with_count = info.get("endCursor"), False

    def orders_count(self, *, search: str) -> tuple[int, str]:
        """How many orders match ``search``, as Shopify counts them: ``(count, precision)``, the precision
        ``EXACT`` or, for a count Shopify stopped early, ``AT_LEAST``."""
        data = self.execute(ORDERS_COUNT_QUERY, {"query": search}, cost=ORDERS_COUNT_COST)
        counted = data.get("ordersCount") or {}
        return int(counted.get("count") or 0), str(counted.get("precision") or "EXACT")

    def _more_lines(self, order_id: str, after: str | None) -> Iterator[dict]:
        while True:
            data = self.execute(ORDER_LINES_QUERY, {"id": order_id, "after": after}, cost=ORDER_LINES_COST)
            items = (data.get("order") or {}).get("lineItems") or {}
            for edge in items.get("edges", []):
                yield edge["node"]
            info = items.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")

    # --- bulk export ---------------------------------------------------------------------------------
    def start_bulk_orders(self, *, search: str) -> dict:
        """Start a bulk export of the orders matching ``search``; returns ``{"id", "status"}``.

        If an export of exactly this query is already running (a killed run started it), adopt it.
        """
        inner = bulk_orders_query(search)
        data = self.execute(BULK_RUN_MUTATION, {"query": inner}, cost=MUTATION_COST)["bulkOperationRunQuery"]
        errors = data.get("userErrors") or []
        if not errors and data.get("bulkOperation"):
            return data["bulkOperation"]
        current = self.current_bulk_operation()
        if current and current.get("status") in ("CREATED", "RUNNING") and current.get("query") == inner:
            return current
        message = "; ".join(str(e.get("message")) for e in errors) or "no bulk operation returned"
        if current and current.get("status") in ("CREATED", "RUNNING"):
            raise TransientError(
                _("Another Shopify export is running for this shop; the sync will retry when it ends."),
                retry_after=120,
                detail=message,
            )
        raise PlatformError(_("Shopify refused to start the order export: %(errors)s") % {"errors": message})

    def bulk_operation(self, operation_id: str) -> dict | None:
        return self.execute(BULK_NODE_QUERY, {"id": operation_id}, cost=1).get("node")

    def current_bulk_operation(self) -> dict | None:
        return self.execute(CURRENT_BULK_QUERY, cost=1).get("currentBulkOperation")

    def iter_bulk_lines(self, url: str, *, skip: int = 0) -> Iterator[tuple[int, dict]]:
        """Stream the export's JSONL as (line number, object), never holding the file; lines before ``skip``
        are passed over (a resumed run). The URL is signed: it gets no access token. Connection errors and
        5xx on the request are retried by ``PlatformHTTP``; a break mid-file is a ``TransientError`` (the
        run resumes at its checkpointed line); a refused or expired file is ``BulkResultUnavailable``."""
        response = self.http.request("GET", url, headers={"Accept": "application/jsonl"}, limited=False, stream=True)
        try:
            if response.status_code in (401, 403, 404, 410):
                raise BulkResultUnavailable(
                    _("Shopify's export file could not be downloaded (HTTP %(status)s); the sync will retry.")
                    % {"status": response.status_code},
                    detail=response.read()[:500].decode(errors="replace"),
                )
            if response.status_code >= 400:
                response.read()
                raise_for_status(response, platform=PLATFORM)
            for number, line in enumerate(response.iter_lines()):
                if number < skip or not line.strip():
                    continue
                yield number, json.loads(line)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise TransientError(
                _("The download of Shopify's export was interrupted; the sync will resume."), detail=str(exc)
            ) from exc
        finally:
            response.close()


class BulkResultUnavailable(TransientError):
    """The export file is gone or refused (its signed URL expired): start a new export."""
