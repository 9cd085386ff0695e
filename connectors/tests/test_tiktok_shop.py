"""TikTok Shop end to end against the fake TikTok Shop (real HTTP on a local port, real PostgreSQL, Celery eager).

Nothing of ours is mocked: ``settings.PLATFORMS["tiktok_shop"]`` points at the fake, which checks every request
the way TikTok does (signature over path, query and body; timestamp; token header; shop cipher). Its
``sleep`` knob records waits instead of waiting (and can play a killed worker). The fake's own data gives the
expected numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from accounts.scoping import organization_scope
from analytics.models import StoreOrder, StoreOrderLine, StoreSalesDaily
from config.testing import serve_wsgi
from connectors import services
from connectors.backends import get_backend
from connectors.backends.base import DiscoveredAccount
from connectors.backends.tiktok_shop import client as api
from connectors.backends.tiktok_shop import demo_data
from connectors.backends.tiktok_shop.demo_data import SG, US
from connectors.backends.tiktok_shop.fake import DEMO_CREDENTIALS, TikTokShopFake, make_app
from connectors.backends.tiktok_shop.mapping import REGIONS, amount, discovered_account, order_fact
from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.tasks import sweep_sync_runs

pytestmark = pytest.mark.django_db

APP_KEY, APP_SECRET, SERVICE_ID = "test-tts-app-key", "test-tts-app-secret", "test-tts-service"
CALLBACK = "https://app.chuhai.test" + "/connections/callback/tiktok_shop/"
LOS_ANGELES, SINGAPORE = ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Singapore")
SEARCH = "/order/202309/orders/search"
REAUTH = (
    "TikTok Shop no longer accepts this authorization (it was revoked or has expired). "
    "Reconnect the shop to keep syncing."
)
THROTTLED = "TikTok Shop is rate limiting this shop; the sync will retry."


class WorkerKilled(BaseException):  # noqa: N818 - it plays SIGKILL: no ``except Exception`` sees it
    pass


class Sleeper:
    """The ``sleep`` knob: records every wait; when ``kill_when()`` says so, the next wait kills the worker."""

    def __init__(self):
        self.waits: list[float] = []
        self.kill_when = None

    def __call__(self, seconds: float) -> None:
        if self.kill_when is not None and self.kill_when():
            raise WorkerKilled
        self.waits.append(seconds)


@pytest.fixture
def sleeper():
    return Sleeper()


@pytest.fixture
def fake(settings, sleeper):
    """The fake TikTok Shop on a random port (100 days of both demo shops, its "now" frozen), our settings at it."""
    app = TikTokShopFake(
        app_key=APP_KEY, app_secret=APP_SECRET, service_id=SERVICE_ID, redirect_url=CALLBACK, history_days=100
    )
    app.now = timezone.now().replace(microsecond=0)
    for shop_id in app.shops:
        app.shop(shop_id)  # generate the orders now, not inside the first request of a test
    with serve_wsgi(app) as url:
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "tiktok_shop": {
                "client_id": APP_KEY,
                "client_secret": APP_SECRET,
                "service_id": SERVICE_ID,
                "auth_url": f"{url}/open/authorize",
                "auth_url_us": "https://services.us.tiktokshop.test/open/authorize",
                "token_url": f"{url}/auth",
                "api_url": f"{url}/api",
                "sleep": sleeper,
                "timeout": 5,
                "rate": 1000,
                "burst": 1000,
            },
        }
        app.url = url
        yield app


@pytest.fixture
def backend():
    return get_backend("tiktok_shop")


# --- helpers ------------------------------------------------------------------------------------------------


def connect(organization, fake, *, backfill_days=20, credentials=None) -> dict[str, Connection]:
    """Both shops connected as the connect flow does it (grant issued by the fake, shops discovered)."""
    credentials = credentials or fake.issue_grant()
    connections = {}
    for account in get_backend("tiktok_shop").discover_accounts(credentials=credentials):
        connection = services.connection_upsert(
            organization=organization, platform="tiktok_shop", account=account, credentials=credentials, user=None
        )
        Connection.unscoped_objects.filter(pk=connection.pk).update(backfill_days=backfill_days)
        connection.refresh_from_db()
        connections[account.marketplace] = connection
    fake.requests.clear()
    return connections


def request_and_run(connection, capture, kind=RunKind.SCHEDULED) -> SyncRun:
    connection.refresh_from_db()
    with capture(execute=True):
        run, created = services.sync_run_request(connection=connection, kind=kind)
    assert created is True
    return SyncRun.unscoped_objects.get(pk=run.pk)


def bounds(connection: Connection, run: SyncRun) -> tuple[int, int]:
    tz = ZoneInfo(connection.time_zone)
    since = datetime.combine(run.window_start, datetime.min.time(), tzinfo=tz)
    until = datetime.combine(run.window_end + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return int(since.timestamp()), int(until.timestamp())


def expected_orders(fake, connection, run):
    since, until = bounds(connection, run)
    return fake.visible_orders(connection.external_id, update_ge=since, update_lt=until)


def orders_of(connection):
    return StoreOrder.unscoped_objects.filter(organization=connection.organization, marketplace=connection.marketplace)


def searches(fake) -> list[dict]:
    return [r for r in fake.requests if r["path"] == SEARCH]


def sales_rows(connection) -> list[tuple]:
    rows = StoreSalesDaily.unscoped_objects.filter(
        organization=connection.organization, marketplace=connection.marketplace
    ).order_by("date")
    return list(
        rows.values_list("date", "orders", "units", "total_sales", "currency", "platform", "marketplace", "sku")
    )


def expected_sales(fake, connection, start: date, end: date) -> list[tuple]:
    return [
        (day, orders, units, total, connection.currency, "tiktok_shop", connection.marketplace, "")
        for day, (orders, units, total) in fake.daily_totals(connection.external_id, start, end).items()
    ]


def assert_loaded_exactly(fake, connection, run) -> list:
    """The stored orders and lines of the shop are exactly the fake's orders updated in the run's window."""
    expected = expected_orders(fake, connection, run)
    stored = orders_of(connection)
    assert sorted(stored.values_list("external_id", flat=True)) == sorted(o.id for o, _s, _u in expected)
    assert stored.aggregate(total=Sum("total"), refunded=Sum("refunded"), units=Sum("units")) == {
        "total": sum((o.total_amount for o, _s, _u in expected), Decimal("0")),
        "refunded": sum((o.total_amount for o, s, _u in expected if s == "CANCELLED"), Decimal("0")),
        "units": sum(o.units for o, _s, _u in expected),
    }
    assert StoreOrderLine.unscoped_objects.filter(order__in=stored).count() == sum(
        len(o.lines) for o, _s, _u in expected
    )
    return expected


def signed_request(fake, method, path, *, token, query=None, body=None, secret=APP_SECRET, stamp=None, headers=None):
    """A request built by hand the documented way (not through our client), for the fake's gate tests."""
    content = json.dumps(body).encode() if body is not None else b""
    params = {"app_key": APP_KEY, "timestamp": str(stamp if stamp is not None else int(time.time())), **(query or {})}
    base = path + "".join(f"{key}{params[key]}" for key in sorted(params))
    wrapped = secret.encode() + base.encode() + content + secret.encode()
    params["sign"] = hmac.new(secret.encode(), wrapped, hashlib.sha256).hexdigest()
    sent = {"x-tts-access-token": token, "Content-Type": "application/json", **(headers or {})}
    response = httpx.request(method, f"{fake.url}/api{path}", params=params, content=content or None, headers=sent)
    return response.status_code, response.json()


# --- connecting ---------------------------------------------------------------------------------------------


def consent(fake, backend, *, decision="authorize", state="st-42") -> str:
    """Open the authorization page and press a button; returns the redirect back to us."""
    url = backend.authorization_url(state=state, redirect_uri="ignored: TikTok uses the registered URL")
    page = httpx.get(url)
    assert page.status_code == 200
    assert "Hearth &amp; Grain Home US (US)" in page.text and "Hearth &amp; Grain Home SG (SG)" in page.text
    answer = httpx.post(url, data={**dict(parse_qsl(urlsplit(url).query)), "decision": decision})
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_authorization_url_and_consent_page(fake, backend):
    url = urlsplit(backend.authorization_url(state="st-1", redirect_uri=CALLBACK))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{fake.url}/open/authorize"
    assert dict(parse_qsl(url.query)) == {"service_id": SERVICE_ID, "state": "st-1"}  # no redirect_uri: registered
    us = urlsplit(backend.authorization_url(state="st-1", redirect_uri=CALLBACK, region="US"))
    assert (us.netloc, dict(parse_qsl(us.query))) == (
        "services.us.tiktokshop.test",
        {"service_id": SERVICE_ID, "state": "st-1"},
    )

    back = urlsplit(consent(fake, backend))
    query = dict(parse_qsl(back.query))
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    assert sorted(query) == ["code", "state"] and query["state"] == "st-42"
    denied = dict(parse_qsl(urlsplit(consent(fake, backend, decision="cancel")).query))
    assert denied == {"error": "access_denied", "state": "st-42"}


def test_code_exchange_gives_tiktoks_tokens_and_a_code_works_once(fake, backend):
    code = dict(parse_qsl(urlsplit(consent(fake, backend)).query))["code"]
    before = int(time.time())

    credentials = backend.exchange_code(code=code, redirect_uri=CALLBACK, params={"code": code, "state": "st-42"})

    assert sorted(credentials) == sorted(DEMO_CREDENTIALS)  # the demo grant has exactly this shape
    assert credentials["access_token"].startswith("TTP_") and credentials["refresh_token"].startswith("TTP_")
    assert before + 7 * 86400 <= credentials["access_token_expire_in"] <= int(time.time()) + 7 * 86400  # absolute
    assert credentials["refresh_token_expire_in"] >= before + 365 * 86400
    assert (credentials["open_id"], credentials["seller_name"]) == ("7010736057180325637", "Hearth & Grain Home")
    assert fake.token_grants == ["authorized_code"]
    with pytest.raises(AuthorizationError) as reused:
        backend.exchange_code(code=code, redirect_uri=CALLBACK, params={})
    assert reused.value.user_message == (
        "TikTok Shop did not accept the authorization (a code works once, for a short time). Connect again."
    )
    assert "code=36004004" in reused.value.detail


def test_discovery_gives_one_account_per_shop_with_its_cipher(fake, backend):
    accounts = backend.discover_accounts(credentials=fake.issue_grant())

    assert accounts == [
        DiscoveredAccount(
            external_id="7495813640213367001",
            name="Hearth & Grain Home US",
            currency="USD",
            time_zone="America/Los_Angeles",
            marketplace="US",
            config={"shop_cipher": US.cipher, "shop_code": "USLCHGHOME01", "seller_type": "LOCAL"},
        ),
        DiscoveredAccount(
            external_id="7495813640213367002",
            name="Hearth & Grain Home SG",
            currency="SGD",
            time_zone="Asia/Singapore",
            marketplace="SG",
            config={"shop_cipher": SG.cipher, "shop_code": "SGLCHGHOME02", "seller_type": "CROSS_BORDER"},
        ),
    ]
    [request] = fake.requests
    assert (request["method"], request["path"], request["code"]) == ("GET", "/authorization/202309/shops", 0)
    assert sorted(request["query"]) == ["app_key", "sign", "timestamp"]  # signed, and no shop_cipher


def test_discovery_with_an_expired_token_refreshes_it_into_the_credentials_to_store(fake, backend):
    credentials = {**fake.issue_grant(), "access_token_expire_in": 1}
    old_refresh = credentials["refresh_token"]

    accounts = backend.discover_accounts(credentials=credentials)

    assert [a.marketplace for a in accounts] == ["US", "SG"]
    assert fake.token_grants == ["refresh_token"]
    assert credentials["access_token_expire_in"] > time.time() + 6 * 86400  # the dict the caller stores
    assert credentials["refresh_token"] != old_refresh
    assert sorted(credentials) == sorted(DEMO_CREDENTIALS)


def test_a_shop_in_a_region_we_cannot_price_is_left_out(settings, backend):
    mexico = replace(SG, number=3, id="7495813640213367003", region="MX", cipher="ROW_mx", name="HG MX")
    app = TikTokShopFake(app_key=APP_KEY, app_secret=APP_SECRET, shops=(US, mexico), history_days=5)
    with serve_wsgi(app) as url:
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "tiktok_shop": {"client_id": APP_KEY, "client_secret": APP_SECRET, "api_url": f"{url}/api"},
        }
        accounts = backend.discover_accounts(credentials=app.issue_grant())
    assert [a.marketplace for a in accounts] == ["US"]


def test_connecting_through_our_pages_loads_both_shops(fake, org, owner_client, django_capture_on_commit_callbacks):
    fake.redirect_url = "https://app.chuhai.test" + reverse("connect_callback", kwargs={"platform": "tiktok_shop"})
    start = owner_client.post(reverse("connect_start", kwargs={"org_slug": org.slug, "platform": "tiktok_shop"}))
    assert start.status_code == 302 and start["Location"].startswith(f"{fake.url}/open/authorize?")
    authorize = start["Location"]
    answer = httpx.post(authorize, data={**dict(parse_qsl(urlsplit(authorize).query)), "decision": "authorize"})
    back = urlsplit(answer.headers["location"])

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.get(f"{back.path}?{back.query}")

    assert response.status_code == 302
    connections = Connection.unscoped_objects.filter(organization=org).order_by("marketplace")
    assert [(c.platform, c.marketplace, c.currency, c.time_zone, c.config["shop_cipher"]) for c in connections] == [
        ("tiktok_shop", "SG", "SGD", "Asia/Singapore", SG.cipher),
        ("tiktok_shop", "US", "USD", "America/Los_Angeles", US.cipher),
    ]
    assert connections[0].credentials == connections[1].credentials  # one authorization, both shops
    for connection in connections:
        run = SyncRun.unscoped_objects.get(connection=connection)
        assert (run.kind, run.status, (run.window_end - run.window_start).days) == (
            RunKind.BACKFILL,
            RunStatus.SUCCEEDED,
            90,
        )
        assert_loaded_exactly(fake, connection, run)
        assert run.platform_totals["orders"]["orders"] == orders_of(connection).count()


# --- the fake keeps TikTok's rules ----------------------------------------------------------------------------


def test_our_signature_follows_the_documented_recipe():
    params = {"app_key": "29a39d", "timestamp": "1700000000", "shop_cipher": "ROW_x", "page_size": "10"}
    body = b'{"update_time_ge":1,"update_time_lt":2}'
    recipe = (
        "s3cr3t/order/202309/orders/search"
        "app_key29a39dpage_size10shop_cipherROW_xtimestamp1700000000"
        '{"update_time_ge":1,"update_time_lt":2}s3cr3t'
    )
    expected = hmac.new(b"s3cr3t", recipe.encode(), hashlib.sha256).hexdigest()

    assert api.sign("s3cr3t", SEARCH, params, body) == expected
    # ``sign`` and ``access_token`` never take part; a GET has no body.
    assert api.sign("s3cr3t", SEARCH, {**params, "sign": "x", "access_token": "t"}, body) == expected
    assert api.encode_body({"update_time_ge": 1, "update_time_lt": 2}) == body


def test_the_fake_refuses_what_tiktok_refuses(fake):
    token = fake.issue_grant()["access_token"]
    search = {"page_size": "5", "shop_cipher": US.cipher}
    window = {"update_time_ge": int(time.time()) - 86400, "update_time_lt": int(time.time())}

    status, ok = signed_request(fake, "POST", SEARCH, token=token, query=search, body=window)
    assert (status, ok["code"], len(ok["data"]["orders"])) == (200, 0, 5)
    assert ok["data"]["next_page_token"] and ok["data"]["total_count"] > 5

    cases = [
        ({"secret": "not-our-secret"}, 106001, "Invalid credentials. The `sign` query parameter is invalid."),
        (
            {"stamp": int(time.time()) - 301},
            36009004,
            "Invalid timestamp. The value of the `timestamp` query parameter must not be earlier than 5 minutes "
            "before the current time.",
        ),
        (
            {"stamp": int(time.time()) + 60},
            36009004,
            "Invalid timestamp. The value of the `timestamp` query parameter must not exceed the current time by "
            "more than 30 seconds.",
        ),
        ({"token": "TTP_unknown"}, 36009004, "Invalid credentials. The `x-tts-access-token` header is invalid."),
        (
            {"query": {"page_size": "5"}},
            106013,
            "Missing identifier. The `shop_cipher` query parameter is required to identify the target shop.",
        ),
    ]
    for overrides, code, message in cases:
        kwargs = {"token": token, "query": search, "body": window, **overrides}
        status, answer = signed_request(fake, "POST", SEARCH, **kwargs)
        assert (status, answer["code"], answer["message"], answer["data"]) == (200, code, message, None), overrides
        assert answer["request_id"]
    status, answer = signed_request(fake, "GET", "/authorization/202309/shops", token=token, query={"shop_cipher": "c"})
    assert answer["code"] == 36009004 and "not required for this request" in answer["message"]
    # The body is signed: changing it after signing breaks the signature.
    params = {"app_key": APP_KEY, "timestamp": str(int(time.time())), **search}
    params["sign"] = api.sign(APP_SECRET, SEARCH, params, api.encode_body(window))
    tampered = httpx.post(
        f"{fake.url}/api{SEARCH}",
        params=params,
        content=api.encode_body({**window, "update_time_ge": 0}),
        headers={"x-tts-access-token": token, "Content-Type": "application/json"},
    )
    assert tampered.json()["code"] == 106001


def test_a_wrong_app_secret_is_reported_as_ours_to_fix(fake, backend, settings):
    settings.PLATFORMS["tiktok_shop"]["client_secret"] = "a-stale-secret"
    with pytest.raises(PlatformError) as caught:
        backend.discover_accounts(credentials=fake.issue_grant())
    assert caught.value.user_message == (
        "TikTok Shop rejected our request signature: the app secret in our settings is wrong."
    )


# --- mapping ------------------------------------------------------------------------------------------------


def test_an_order_maps_to_an_order_fact_on_the_shops_day():
    order = {
        "id": "576461413038785752",
        "status": "COMPLETED",
        "create_time": 1741501800,  # 2025-03-09 06:30 UTC: 22:30 on 8 March in Los Angeles (PST)
        "update_time": 1742000000,
        "payment": {"currency": "USD", "sub_total": "94.98", "shipping_fee": "0.00", "tax": "6.89",
                    "total_amount": "101.87", "seller_discount": "5.00"},
        "line_items": [
            {"id": "577086512123755101", "sku_id": "2729382476852921560", "seller_sku": "HG-LAMP-01",
             "product_name": "Ceramic Table Lamp", "original_price": "39.99", "sale_price": "33.99",
             "currency": "USD", "room_id": "7300000001000002264"},
            {"id": "577086512123755102", "sku_id": "2729382476852921560", "seller_sku": "HG-LAMP-01",
             "product_name": "Ceramic Table Lamp", "original_price": "39.99", "sale_price": "33.99",
             "currency": "USD", "room_id": "7300000001000002264"},
            {"id": "577086512123755103", "sku_id": "2729382476852921999", "seller_sku": "HG-CANDLE-01",
             "product_name": "Soy Candle Trio", "original_price": "27.00", "sale_price": "27.00", "currency": "USD"},
        ],
    }  # fmt: skip

    fact = order_fact(order, marketplace="US", tz=LOS_ANGELES, currency="USD", source_ref=7)

    assert (fact.platform, fact.marketplace, fact.external_id, fact.source_ref) == (
        "tiktok_shop",
        "US",
        "576461413038785752",
        7,
    )
    assert (fact.ordered_at, fact.date) == (datetime(2025, 3, 9, 6, 30, tzinfo=UTC), date(2025, 3, 8))
    assert (fact.status, fact.currency, fact.total, fact.refunded, fact.units) == (
        "completed",
        "USD",
        Decimal("101.87"),
        Decimal("0"),
        3,  # one line item per unit
    )
    assert (fact.landing_site, fact.referrer, fact.attribution) == ("", "", {"live_room_id": "7300000001000002264"})
    assert [
        (line.external_id, line.sku, line.title, line.quantity, line.amount, line.currency) for line in fact.lines
    ] == [
        ("577086512123755101", "HG-LAMP-01", "Ceramic Table Lamp", 1, Decimal("33.99"), "USD"),
        ("577086512123755102", "HG-LAMP-01", "Ceramic Table Lamp", 1, Decimal("33.99"), "USD"),
        ("577086512123755103", "HG-CANDLE-01", "Soy Candle Trio", 1, Decimal("27.00"), "USD"),
    ]
    assert all(isinstance(line.amount, Decimal) for line in fact.lines) and isinstance(fact.total, Decimal)


def test_a_cancelled_singapore_order_is_dated_in_singapore_and_refunded_in_full():
    order = {
        "id": "576461413038785999",
        "status": "CANCELLED",
        "create_time": 1762792200,  # 2025-11-10 16:30 UTC: 00:30 on 11.11 in Singapore
        "payment": {"currency": "SGD", "total_amount": "57.89"},
        "line_items": [{"id": "1", "sku_id": "2729382476852921777", "product_name": "Arc Floor Lamp",
                        "sale_price": "53.90"}],
    }  # fmt: skip

    fact = order_fact(order, marketplace="SG", tz=SINGAPORE, currency="SGD", source_ref=8)

    assert (fact.date, fact.status, fact.currency, fact.total, fact.refunded) == (
        date(2025, 11, 11),
        "cancelled",
        "SGD",
        Decimal("57.89"),
        Decimal("57.89"),
    )
    [line] = fact.lines
    assert (line.sku, line.amount, line.currency, fact.attribution) == (  # no seller SKU: TikTok's SKU id
        "2729382476852921777",
        Decimal("53.90"),
        "SGD",
        {},
    )


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_every_region_has_its_currency_and_seller_center_time_zone(region):
    account = discovered_account({"id": 1, "name": "Shop", "region": region.lower(), "cipher": "c", "code": "x"})
    assert (account.marketplace, account.currency, account.time_zone) == (region, *REGIONS[region])
    assert {
        "US": ("USD", "America/Los_Angeles"),
        "GB": ("GBP", "Europe/London"),
        "SG": ("SGD", "Asia/Singapore"),
        "MY": ("MYR", "Asia/Kuala_Lumpur"),
        "TH": ("THB", "Asia/Bangkok"),
        "ID": ("IDR", "Asia/Jakarta"),
        "PH": ("PHP", "Asia/Manila"),
        "VN": ("VND", "Asia/Ho_Chi_Minh"),
    }[region] == REGIONS[region]


def test_amounts_are_decimal_strings():
    assert (amount("5000"), amount("21.3"), amount(""), amount(None)) == (
        Decimal("5000"),
        Decimal("21.3"),
        Decimal("0"),
        Decimal("0"),
    )
    with pytest.raises(ValueError):
        amount("12,50")


# --- syncing ------------------------------------------------------------------------------------------------


def test_a_sync_loads_the_windows_orders_and_daily_sales_exactly(fake, org, django_capture_on_commit_callbacks):
    us = connect(org, fake)["US"]

    run = request_and_run(us, django_capture_on_commit_callbacks)

    assert (run.status, run.kind, run.progress, run.message) == (RunStatus.SUCCEEDED, RunKind.BACKFILL, 100, "")
    expected = assert_loaded_exactly(fake, us, run)
    since, until = bounds(us, run)
    pages = searches(fake)
    assert len(pages) == math.ceil(len(expected) / 100) > 10
    assert [json.loads(p["body"]) for p in pages] == [{"update_time_ge": since, "update_time_lt": until}] * len(pages)
    assert [(p["query"]["page_size"], p["query"]["sort_field"], p["query"]["sort_order"]) for p in pages] == [
        ("100", "create_time", "ASC")
    ] * len(pages)
    assert "page_token" not in pages[0]["query"]
    assert all(p["query"]["shop_cipher"] == US.cipher for p in pages)
    # TikTok's own count for the window, beside what we loaded.
    assert run.platform_totals == {
        "orders": {
            "start": run.window_start.isoformat(),
            "end": run.window_end.isoformat(),
            "time_field": "update_time",
            "update_time_ge": since,
            "update_time_lt": until,
            "orders": len(expected),
        }
    }
    assert run.platform_totals["orders"]["orders"] == orders_of(us).count()

    # One live order, field by field.
    order, status, _updated = next((o, s, u) for o, s, u in expected if o.source == "live" and s != "CANCELLED")
    row = orders_of(us).get(external_id=order.id)
    assert (row.date, row.ordered_at, row.status, row.currency, row.total, row.refunded, row.units) == (
        order.created_at.astimezone(LOS_ANGELES).date(),
        order.created_at,
        status.lower(),
        "USD",
        order.total_amount,
        Decimal("0"),
        len(order.lines),
    )
    assert row.attribution == {"live_room_id": order.lines[0].room_id}
    stored_lines = StoreOrderLine.unscoped_objects.filter(order=row).values_list("external_id", "sku", "amount")
    assert sorted(stored_lines) == sorted((line.id, line.seller_sku, line.sale_price) for line in order.lines)

    # Daily sales: the shop's own figures for every day of the window, and none before it (orders created earlier
    # but updated in the window are loaded, but their days are not complete).
    assert sales_rows(us) == expected_sales(fake, us, run.window_start, run.window_end)
    assert orders_of(us).filter(date__lt=run.window_start).exists()
    assert not StoreSalesDaily.unscoped_objects.filter(organization=org, date__lt=run.window_start).exists()


def test_the_singapore_shop_keeps_its_currency_and_its_own_days(fake, org, django_capture_on_commit_callbacks):
    sg = connect(org, fake, backfill_days=10)["SG"]

    run = request_and_run(sg, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    expected = assert_loaded_exactly(fake, sg, run)
    days = dict(orders_of(sg).values_list("external_id", "date"))
    assert days == {o.id: o.created_at.astimezone(SINGAPORE).date() for o, _s, _u in expected}
    assert set(orders_of(sg).values_list("currency", flat=True)) == {"SGD"}
    assert sales_rows(sg) == expected_sales(fake, sg, run.window_start, run.window_end)
    assert {row[4] for row in sales_rows(sg)} == {"SGD"}
    assert all(p["query"]["shop_cipher"] == SG.cipher for p in searches(fake))


def test_a_rerun_duplicates_nothing_and_a_later_cancellation_overwrites_the_order(
    fake, org, django_capture_on_commit_callbacks
):
    us = connect(org, fake)["US"]
    first = request_and_run(us, django_capture_on_commit_callbacks)
    orders, lines, sales = orders_of(us).count(), StoreOrderLine.unscoped_objects.count(), sales_rows(us)
    ten_days_ago = first.window_end - timedelta(days=10)
    order, _status, _updated = next(
        (o, s, u) for o, s, u in expected_orders(fake, us, first)
        if o.created_at.astimezone(LOS_ANGELES).date() == ten_days_ago and s != "CANCELLED"
    )  # fmt: skip
    fake.cancel(order.id)
    fake.requests.clear()

    second = request_and_run(us, django_capture_on_commit_callbacks, kind=RunKind.MANUAL)

    assert second.status == RunStatus.SUCCEEDED
    assert (second.window_start, second.window_end) == (first.window_end - timedelta(days=3), first.window_end)
    assert (orders_of(us).count(), StoreOrderLine.unscoped_objects.count()) == (orders, lines)
    row = orders_of(us).get(external_id=order.id)
    assert (row.status, row.refunded, row.total) == ("cancelled", order.total_amount, order.total_amount)
    fetched = expected_orders(fake, us, second)
    assert order.id in {o.id for o, _s, _u in fetched}
    assert second.platform_totals["orders"]["orders"] == len(fetched)
    touched = min(o.created_at.astimezone(LOS_ANGELES).date() for o, _s, _u in fetched)
    recomputed = fake.daily_totals(us.external_id, max(touched, first.window_start), second.window_end)
    assert second.rows_read == len(fetched) + len(recomputed)
    assert sales_rows(us) == sales  # gross: the cancellation is on the order row, the days are unchanged
    assert_loaded_exactly(fake, us, first)


def test_page_size_is_capped_at_tiktoks_limit(fake, org, settings, django_capture_on_commit_callbacks):
    settings.PLATFORMS["tiktok_shop"]["page_size"] = 500
    us = connect(org, fake, backfill_days=3)["US"]

    run = request_and_run(us, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert {p["query"]["page_size"] for p in searches(fake)} == {"100"}


def test_orders_can_be_read_by_id(fake, backend):
    grant = fake.issue_grant()
    http = backend._http("test")
    try:
        client = backend.client(grant, http=http, shop_cipher=US.cipher)
        page = client.search_orders(update_time_ge=0, update_time_lt=2_000_000_000, page_size=3)
        details = client.order_details([order["id"] for order in page.orders])
        with pytest.raises(ValueError):
            client.order_details([str(n) for n in range(51)])
    finally:
        http.close()
    assert details == page.orders
    assert fake.requests[-1]["query"]["ids"] == ",".join(order["id"] for order in page.orders)


# --- tokens ---------------------------------------------------------------------------------------------------


def test_an_access_token_about_to_expire_is_refreshed_first_and_saved_on_both_shops(
    fake, org, django_capture_on_commit_callbacks
):
    connections = connect(org, fake, backfill_days=3)
    stale = {**connections["US"].credentials, "access_token_expire_in": int(time.time()) + 60}
    for connection in connections.values():
        services.connection_save_credentials(connection=connection, credentials=stale)

    run = request_and_run(connections["US"], django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert fake.token_grants == ["refresh_token"]
    assert [r["code"] for r in fake.requests] == [0] * len(fake.requests)  # never sent the stale token
    for connection in connections.values():  # one authorization: the SG shop gets the new tokens too
        connection.refresh_from_db()
        assert connection.credentials["access_token"] != stale["access_token"]
        assert connection.credentials["refresh_token"] != stale["refresh_token"]
        assert connection.credentials["access_token_expire_in"] > time.time() + 6 * 86400
    assert connections["US"].credentials == connections["SG"].credentials
    assert request_and_run(connections["SG"], django_capture_on_commit_callbacks).status == RunStatus.SUCCEEDED
    assert fake.token_grants == ["refresh_token"]  # SG used the refreshed token, no second refresh


def test_an_expired_access_token_is_refreshed_once_and_the_call_repeated(fake, org, django_capture_on_commit_callbacks):
    us = connect(org, fake)["US"]
    fake.fail("expired_token", after=1)  # TikTok stops accepting the token before the second page

    run = request_and_run(us, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert fake.token_grants == ["refresh_token"]
    assert [r["code"] for r in fake.requests[:3]] == [0, 105002, 0]
    assert fake.requests[1]["query"]["page_token"] == fake.requests[2]["query"]["page_token"]  # the same page
    assert_loaded_exactly(fake, us, run)


def test_a_revoked_authorization_fails_the_run_and_asks_to_reconnect(fake, org, django_capture_on_commit_callbacks):
    us = connect(org, fake)["US"]
    fake.fail("revoked", after=2)  # the seller removes the app after two pages

    run = request_and_run(us, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code, run.message) == (RunStatus.PARTIAL, "reauth", REAUTH)
    assert [r["code"] for r in fake.requests] == [0, 0, 36009004]
    assert fake.token_grants == []  # the refresh was refused
    assert run.rows_written == orders_of(us).count() == 200  # what was read before stays
    us.refresh_from_db()
    assert (us.status, us.last_error, us.synced_through) == (ConnectionStatus.REAUTH, REAUTH, None)
    assert not StoreSalesDaily.unscoped_objects.filter(organization=org).exists()


def test_an_expired_refresh_token_asks_to_reconnect_without_calling_tiktok(
    fake, org, django_capture_on_commit_callbacks
):
    old = {**fake.issue_grant(), "access_token_expire_in": 1, "refresh_token_expire_in": int(time.time()) - 1}
    us = connect(org, fake, credentials={**old, "access_token_expire_in": 2_000_000_000})["US"]
    services.connection_save_credentials(connection=us, credentials=old)

    run = request_and_run(us, django_capture_on_commit_callbacks)

    assert (run.status, run.message) == (RunStatus.FAILED, REAUTH)
    assert (fake.requests, fake.token_grants) == ([], [])


# --- throttling and errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "http_status"), [("rate_limited", 429), ("rate_limited_body", 200)])
def test_a_rate_limit_is_waited_out_and_the_request_signed_again(
    fake, org, sleeper, kind, http_status, django_capture_on_commit_callbacks
):
    us = connect(org, fake)["US"]
    fake.fail(kind, after=1)

    run = request_and_run(us, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    refused, retried = fake.requests[1], fake.requests[2]
    assert (refused["status"], refused["code"], retried["code"]) == (http_status, 36009002, 0)
    assert refused["query"]["page_token"] == retried["query"]["page_token"]
    assert sleeper.waits == [1.0]  # Retry-After: 1, or the first backoff step
    assert_loaded_exactly(fake, us, run)


def test_endless_rate_limiting_hands_the_run_back_to_the_queue(fake, org):
    us = connect(org, fake)["US"]
    with organization_scope(org):
        run, _ = services.sync_run_request(connection=us)
    fake.fail("rate_limited", times=100)

    with organization_scope(org), pytest.raises(TransientError) as caught:
        services.sync_run_execute(run_id=run.pk)

    assert caught.value.retry_after == 1.0
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.QUEUED, THROTTLED)
    assert len(fake.requests) == 6  # the first try and five waits
    assert not orders_of(us).exists()


def test_server_errors_are_retried(fake, org, sleeper, django_capture_on_commit_callbacks):
    us = connect(org, fake)["US"]
    fake.fail("error_500", after=1, times=2)

    run = request_and_run(us, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert [(r["status"], r["code"]) for r in fake.requests[:4]] == [
        (200, 0),
        (500, 36009003),
        (500, 36009003),
        (200, 0),
    ]
    assert fake.requests[1]["query"] == fake.requests[3]["query"]  # the same request again
    assert len(sleeper.waits) == 2
    assert_loaded_exactly(fake, us, run)


def test_a_timeout_is_retried(fake, org, settings, django_capture_on_commit_callbacks):
    settings.PLATFORMS["tiktok_shop"]["timeout"] = 1.0  # long enough for a busy machine
    fake.timeout_delay = 2.5
    us = connect(org, fake, backfill_days=5)["US"]
    fake.fail("timeout", after=1)

    run = request_and_run(us, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert fake.requests[1]["query"]["page_token"] == fake.requests[2]["query"]["page_token"]
    assert_loaded_exactly(fake, us, run)


def test_a_killed_run_resumes_from_its_page_token(fake, org, other_org, sleeper, django_capture_on_commit_callbacks):
    us = connect(org, fake)["US"]
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=us)
    fake.fail("error_500", after=3)
    sleeper.kill_when = lambda: fake.requests[-1]["status"] == 500  # the worker dies waiting to retry page 4

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    pages = searches(fake)
    assert (run.status, run.rows_written) == (RunStatus.RUNNING, 300)
    assert run.cursor["page_token"] == pages[3]["query"]["page_token"]  # checkpointed after page 3
    sleeper.kill_when = None
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    fake.requests.clear()

    assert sweep_sync_runs.delay().get() == 1

    run.refresh_from_db()
    assert (run.status, run.attempts, run.progress) == (RunStatus.SUCCEEDED, 2, 100)
    assert searches(fake)[0]["query"]["page_token"] == pages[3]["query"]["page_token"]  # page 4, not page 1
    expected = assert_loaded_exactly(fake, us, run)
    assert run.rows_written == len(expected) + len(sales_rows(us))  # no order loaded twice
    assert run.platform_totals["orders"]["orders"] == len(expected)
    assert sales_rows(us) == expected_sales(fake, us, run.window_start, run.window_end)
    clean = request_and_run(connect(other_org, fake)["US"], django_capture_on_commit_callbacks)
    assert clean.status == RunStatus.SUCCEEDED
    assert [
        row[:4] for row in sales_rows(Connection.unscoped_objects.get(organization=other_org, marketplace="US"))
    ] == [row[:4] for row in sales_rows(us)]


# --- the demo -------------------------------------------------------------------------------------------------


def test_the_demo_data_is_deterministic_and_tells_its_story():
    thursday, wednesday = date(2026, 3, 5), date(2026, 3, 4)
    first, again = demo_data.day_orders(US, thursday), demo_data.day_orders(US, thursday)
    assert [(o.id, o.created_at, o.total_amount) for o in first] == [
        (o.id, o.created_at, o.total_amount) for o in again
    ]

    live = [o for o in first if o.source == "live"]
    assert live and all(line.room_id == demo_data.room_id(US, thursday) for o in live for line in o.lines)
    assert {o.created_at.astimezone(LOS_ANGELES).hour for o in live} <= {19, 20}  # inside the two-hour stream
    assert all(o.source != "live" for o in demo_data.day_orders(US, wednesday))
    assert any(line.sale_price < line.original_price for o in live for line in o.lines)  # live-only discount
    assert demo_data.ad_spend(US, thursday) > demo_data.ad_spend(US, wednesday)  # live evenings are promoted
    # Singapore's 11.11 mega sale outsells an ordinary Tuesday in November.
    assert len(demo_data.day_orders(SG, date(2025, 11, 11))) > 2 * len(demo_data.day_orders(SG, date(2025, 11, 4)))
    assert {o.shop.currency for o in demo_data.day_orders(SG, thursday)} == {"SGD"}
    creators = [day for day in (thursday - timedelta(days=n) for n in range(60)) if demo_data.creator_post(US, day)]
    assert 3 <= len(creators) <= 15  # a creator video every week or so


def test_the_demo_grant_is_accepted_for_good(backend, settings):
    app = make_app()
    app.allow_demo()
    app.now = timezone.now()
    with serve_wsgi(app) as url:
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "tiktok_shop": {
                "client_id": app.app_key,
                "client_secret": app.app_secret,
                "service_id": app.service_id,
                "auth_url": f"{url}/open/authorize",
                "token_url": f"{url}/auth",
                "api_url": f"{url}/api",
            },
        }
        accounts = backend.discover_accounts(credentials=dict(DEMO_CREDENTIALS))
        http = backend._http("demo")
        try:
            client = backend.client(dict(DEMO_CREDENTIALS), http=http, shop_cipher=accounts[1].config["shop_cipher"])
            page = client.search_orders(update_time_ge=0, update_time_lt=2_000_000_000, page_size=10)
        finally:
            http.close()
    assert [(a.marketplace, a.currency) for a in accounts] == [("US", "USD"), ("SG", "SGD")]
    assert len(page.orders) == 10 and {o["payment"]["currency"] for o in page.orders} == {"SGD"}
    assert app.token_grants == []  # no refresh needed: the demo tokens do not expire
