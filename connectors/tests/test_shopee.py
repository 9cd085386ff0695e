"""Shopee end to end against the fake Shopee (real HTTP on a local port, real PostgreSQL, Celery eager).

Time is virtual: the client's timestamps and token expiry and the fake's checks read one ``VirtualClock``
(``settings.PLATFORMS["shopee"]["clock"]``), and every wait of ours (rate limits, retries) goes to its
``sleep``, so nothing really sleeps but the one read timeout the timeout test needs. The data the fake
shows is frozen at the fixture's start (``fake.data_now``), so orders do not change status under a test.
Expected figures come from the fake's own dataset.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from accounts.scoping import organization_scope
from analytics.models import AdPerformanceDaily, StoreOrder, StoreOrderLine, StoreSalesDaily
from analytics.services import AdFact
from config.testing import serve_wsgi
from connectors import services
from connectors.backends import get_backend
from connectors.backends.base import DiscoveredAccount
from connectors.backends.shopee import client as api
from connectors.backends.shopee import mapping
from connectors.backends.shopee.backend import date_chunks, months_before, time_windows
from connectors.backends.shopee.demo import MAIN_ACCOUNT_ID, MEGA_SALES, SHOPS, WEEKDAY_FACTOR, demo_shops
from connectors.backends.shopee.fake import DEMO_CREDENTIALS, ShopeeFake
from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.tasks import run_sync as sync_task

pytestmark = pytest.mark.django_db

PARTNER_ID, PARTNER_KEY = "2001887", "test-shopee-partner-key"
SG, MY, TH = (spec.shop_id for spec in SHOPS)
SINGAPORE = ZoneInfo("Asia/Singapore")
REDIRECT = "https://app.chuhai.test/connections/callback/shopee/"
REAUTH = (
    f"Shopee no longer accepts our access to Hearth & Grain Home SG ({SG}): the authorization was cancelled or "
    "has expired. Reconnect the shop to continue."
)
RATE_LIMITED = "Shopee is rate limiting this shop; the sync will retry."


class WorkerKilled(BaseException):  # noqa: N818 - it plays SIGKILL: no ``except Exception`` sees it
    pass


class VirtualClock:
    def __init__(self):
        self.now = float(int(time.time()))
        self.sleeps: list[float] = []
        self.kill_when = None  # a callable: when it says so, the next wait kills the worker

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self.kill_when is not None and self.kill_when():
            raise WorkerKilled
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def shopee(settings, clock):
    """The fake Shopee on a random port (100 days of the three demo shops), our settings at it."""
    fake = ShopeeFake(partner_id=PARTNER_ID, partner_key=PARTNER_KEY, clock=clock.time, history_days=100)
    fake.data_now = clock.now
    with serve_wsgi(fake) as url:
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "shopee": {
                "client_id": PARTNER_ID,
                "client_secret": PARTNER_KEY,
                "api_url": url,
                "host": "global",
                "api_urls": {"global": url, "cn": f"{url}/cn-host", "br": f"{url}/br-host"},
                "sleep": clock.sleep,
                "clock": clock.time,
                "timeout": 5,
            },
        }
        fake.url = url
        yield fake


@pytest.fixture
def backend():
    return get_backend("shopee")


# --- helpers ------------------------------------------------------------------------------------------------


def authorize(backend, *, login: str | None = None, region: str = "FE", state: str = "st-42") -> dict:
    """Open the authorization page and confirm it; returns the query of the redirect back to us."""
    url = backend.authorization_url(state=state, redirect_uri=REDIRECT, region=region)
    page = httpx.get(url)
    assert page.status_code == 200, page.text
    action = re.search(r"<form method='post' action='([^']+)'", page.text).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields = {key: value.replace("&amp;", "&") for key, value in fields.items()}
    base = urlsplit(url)
    answer = httpx.post(
        f"{base.scheme}://{base.netloc}{action}", data={**fields, "login": login or f"main:{MAIN_ACCOUNT_ID}"}
    )
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return dict(parse_qsl(location.query))


def credentials_for(backend, *, login: str | None = None) -> dict:
    params = authorize(backend, login=login)
    return backend.exchange_code(code=params["code"], redirect_uri=REDIRECT, params={**params, "region": "FE"})


def connect(org, backend, shop_id: int = SG, *, login: str | None = None, **overrides) -> Connection:
    """A connection as the connect flow makes it: authorized on the fake's page, tokens exchanged, shop found."""
    credentials = credentials_for(backend, login=login or f"shop:{shop_id}")
    account = next(a for a in backend.discover_accounts(credentials=credentials) if a.external_id == str(shop_id))
    connection = services.connection_upsert(
        organization=org, platform="shopee", account=account, credentials=credentials, user=None
    )
    if overrides:
        Connection.unscoped_objects.filter(pk=connection.pk).update(**overrides)
        connection.refresh_from_db()
    return connection


def request_and_run(connection, capture, kind=RunKind.SCHEDULED) -> SyncRun:
    connection.refresh_from_db()
    with capture(execute=True):
        run, created = services.sync_run_request(connection=connection, kind=kind)
    assert created is True
    return SyncRun.unscoped_objects.get(pk=run.pk)


def bounds(run: SyncRun, tz=SINGAPORE) -> tuple[int, int]:
    """The run's window as inclusive unix seconds, in the shop's time zone."""
    since = datetime.combine(run.window_start, datetime.min.time(), tzinfo=tz)
    until = datetime.combine(run.window_end + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return int(since.timestamp()), int(until.timestamp()) - 1


def expected_orders(fake, run: SyncRun, shop_id: int = SG):
    return fake.orders_between(shop_id, "update_time", *bounds(run))


def orders_of(organization):
    return StoreOrder.unscoped_objects.filter(organization=organization)


def assert_orders_loaded_exactly(organization, fake, run: SyncRun, shop_id: int = SG) -> list:
    expected = expected_orders(fake, run, shop_id)
    stored = orders_of(organization)
    assert sorted(stored.values_list("external_id", flat=True)) == sorted(o.order_sn for o, _ in expected)
    sums = stored.aggregate(total=Sum("total"), refunded=Sum("refunded"), units=Sum("units"))
    assert sums == {
        "total": sum((o.gross(s) for o, s in expected), Decimal(0)),
        "refunded": sum((o.gross(s) for o, s in expected if s.status == "CANCELLED"), Decimal(0)),
        "units": sum(o.units for o, _ in expected),
    }
    assert StoreOrderLine.unscoped_objects.filter(organization=organization).count() == sum(
        len(o.lines) for o, _ in expected
    )
    return expected


def sales_rows(organization) -> list[tuple]:
    rows = StoreSalesDaily.unscoped_objects.filter(organization=organization).order_by("date")
    return list(rows.values_list("date", "orders", "units", "total_sales", "currency", "platform", "marketplace"))


def expected_sales(fake, start: date, end: date, shop_id: int = SG, currency="SGD", market="SG") -> list[tuple]:
    return [
        (day, orders, units, total, currency, "shopee", market)
        for day, (orders, units, total) in fake.daily_totals(shop_id, start, end).items()
    ]


def ads_loaded(connection) -> dict:
    rows = AdPerformanceDaily.unscoped_objects.filter(organization=connection.organization, source_ref=connection.pk)
    return rows.aggregate(
        days=Count("id"),
        impressions=Sum("impressions"),
        clicks=Sum("clicks"),
        cost=Sum("cost"),
        orders=Sum("orders"),
        units=Sum("units"),
        sales=Sum("sales"),
    )


def api_requests(fake, path: str) -> list[dict]:
    return [r for r in fake.requests if r["path"] == path]


def signed(fake, path: str, query: dict, *, token: str, shop_id: int, timestamp: int | None = None, key=PARTNER_KEY):
    stamp = int(fake.now()) if timestamp is None else timestamp
    base = api.base_string(PARTNER_ID, path, stamp, token, shop_id)
    params = {"partner_id": PARTNER_ID, "timestamp": stamp, "access_token": token, "shop_id": shop_id}
    return {**params, "sign": hmac.new(key.encode(), base.encode(), hashlib.sha256).hexdigest(), **query}


def call(fake, path: str, query: dict | None = None, *, shop_id: int = SG, **options) -> httpx.Response:
    token, _refresh = fake.issue_tokens([shop_id])
    return httpx.get(
        f"{fake.url}{path}", params=signed(fake, path, query or {}, token=token, shop_id=shop_id, **options)
    )


# --- signing and the authorization link ---------------------------------------------------------------------


def test_the_base_string_is_the_documented_concatenation():
    # The examples of Shopee's "API calls" guide.
    shop = api.base_string(
        2001887, "/api/v2/shop/get_shop_info", 1655714431, "59777174636562737266615546704c6d", 14701711
    )
    assert shop == "2001887/api/v2/shop/get_shop_info165571443159777174636562737266615546704c6d14701711"
    assert api.base_string(2001887, "/api/v2/public/get_shops_by_partner", 1655714431) == (
        "2001887/api/v2/public/get_shops_by_partner1655714431"
    )
    signature = api.sign("partner-key", shop)
    assert signature == hmac.new(b"partner-key", shop.encode(), hashlib.sha256).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", signature)


@pytest.mark.parametrize(
    ("region", "host"),
    [("", "global"), ("NA", "global"), ("EU", "global"), ("FE", "global"), ("SG", "global"), ("TH", "global"),
     ("BR", "global"), ("MX", "global"), ("CN", "cn"), ("cn", "cn"), ("global", "global")],
)  # fmt: skip
def test_the_authorization_link_is_signed_for_the_chosen_host(shopee, backend, clock, region, host):
    url = backend.authorization_url(state="st-1", redirect_uri=REDIRECT, region=region)

    parts = urlsplit(url)
    hosts = {"global": shopee.url, "cn": f"{shopee.url}/cn-host", "br": f"{shopee.url}/br-host"}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{hosts[host]}/api/v2/shop/auth_partner"
    query = dict(parse_qsl(parts.query))
    stamp = str(int(clock.now))
    assert query == {
        "partner_id": PARTNER_ID,
        "timestamp": stamp,
        "sign": api.sign(PARTNER_KEY, f"{PARTNER_ID}/api/v2/shop/auth_partner{stamp}"),
        "redirect": f"{REDIRECT}?state=st-1",  # Shopee has no state parameter: ours rides in the redirect
    }


def test_the_configured_host_serves_every_market(shopee, backend, settings):
    settings.PLATFORMS["shopee"]["host"] = "br"  # our servers near the US
    for region in ("FE", "BR", "SG", ""):
        url = backend.authorization_url(state="s", redirect_uri=REDIRECT, region=region)
        assert url.startswith(f"{shopee.url}/br-host/api/v2/shop/auth_partner?")
    assert backend.authorization_url(state="s", redirect_uri=REDIRECT, region="CN").startswith(f"{shopee.url}/cn-host/")


def test_an_authorization_link_older_than_5_minutes_is_refused(shopee, backend, clock):
    url = backend.authorization_url(state="st-1", redirect_uri=REDIRECT)
    clock.now += 301

    page = httpx.get(url)

    assert page.status_code == 400
    assert {k: v for k, v in page.json().items() if k != "request_id"} == {
        "error": "error_param",
        "message": "Timestamp is expired.",
    }


# --- connecting ---------------------------------------------------------------------------------------------


def test_a_shop_login_gives_code_and_shop_id_and_one_account(shopee, backend, clock):
    params = authorize(backend, login=f"shop:{SG}")
    assert sorted(params) == ["code", "shop_id", "state"]
    assert (params["shop_id"], params["state"]) == (str(SG), "st-42")

    credentials = backend.exchange_code(code=params["code"], redirect_uri=REDIRECT, params={**params, "region": "FE"})

    assert set(credentials) == {
        "access_token",
        "refresh_token",
        "expires_at",
        "refresh_expires_at",
        "host",
        "shop_id_list",
    }
    assert re.fullmatch(r"[0-9a-f]{32}", credentials["access_token"])
    assert credentials["expires_at"] == clock.now + 4 * 3600
    assert credentials["refresh_expires_at"] == clock.now + 30 * 86400
    assert (credentials["host"], credentials["shop_id_list"]) == ("global", [SG])
    [token_call] = api_requests(shopee, "/api/v2/auth/token/get")
    assert token_call["body"] == {"code": params["code"], "partner_id": 2001887, "shop_id": SG}
    assert set(token_call["query"]) == {"partner_id", "timestamp", "sign"}
    assert backend.discover_accounts(credentials=credentials) == [
        DiscoveredAccount(
            external_id=str(SG),
            name="Hearth & Grain Home SG",
            currency="SGD",
            time_zone="Asia/Singapore",
            marketplace="SG",
            region="FE",
            config={"shop_id": SG, "host": "global", "status": "NORMAL", "is_cb": False},
        )
    ]


def test_a_main_account_login_connects_every_shop(shopee, backend):
    params = authorize(backend)
    assert sorted(params) == ["code", "main_account_id", "state"]

    credentials = backend.exchange_code(code=params["code"], redirect_uri=REDIRECT, params=params)

    assert (credentials["shop_id_list"], credentials["main_account_id"]) == ([SG, MY, TH], MAIN_ACCOUNT_ID)
    [token_call] = api_requests(shopee, "/api/v2/auth/token/get")
    assert token_call["body"] == {"code": params["code"], "partner_id": 2001887, "main_account_id": MAIN_ACCOUNT_ID}
    accounts = backend.discover_accounts(credentials=credentials)
    assert [(a.external_id, a.name, a.currency, a.time_zone, a.marketplace) for a in accounts] == [
        (str(SG), "Hearth & Grain Home SG", "SGD", "Asia/Singapore", "SG"),
        (str(MY), "Hearth & Grain Home MY", "MYR", "Asia/Kuala_Lumpur", "MY"),
        (str(TH), "Hearth & Grain Home TH", "THB", "Asia/Bangkok", "TH"),
    ]


def test_a_code_works_once_and_for_10_minutes(shopee, backend, clock):
    params = authorize(backend, login=f"shop:{SG}")
    backend.exchange_code(code=params["code"], redirect_uri=REDIRECT, params=params)
    with pytest.raises(AuthorizationError) as reused:
        backend.exchange_code(code=params["code"], redirect_uri=REDIRECT, params=params)
    assert reused.value.user_message == (
        "Shopee did not accept the authorization (a code works once, for 10 minutes). Connect again."
    )
    assert "invalid_code" in reused.value.detail

    late = authorize(backend, login=f"shop:{SG}")
    clock.now += 601
    with pytest.raises(AuthorizationError):
        backend.exchange_code(code=late["code"], redirect_uri=REDIRECT, params=late)
    other = authorize(backend, login=f"shop:{SG}")
    with pytest.raises(AuthorizationError):  # the code belongs to another shop
        backend.exchange_code(code=other["code"], redirect_uri=REDIRECT, params={**other, "shop_id": str(MY)})


def test_discovery_never_spends_the_refresh_token(shopee, backend, clock):
    credentials = credentials_for(backend)
    clock.now += 4 * 3600

    with pytest.raises(AuthorizationError) as caught:
        backend.discover_accounts(credentials=credentials)

    assert caught.value.user_message == f"Shopee's access to {SG} has expired. Connect the shop again."
    assert api_requests(shopee, api.REFRESH_TOKEN) == []


def test_a_callback_without_shop_or_main_account_is_refused(shopee, backend):
    with pytest.raises(PlatformError) as caught:
        backend.exchange_code(code="abc", redirect_uri=REDIRECT, params={"code": "abc", "state": "s"})
    assert caught.value.user_message == "Shopee did not say which shop was authorized. Connect the shop again."
    assert api_requests(shopee, "/api/v2/auth/token/get") == []


def test_connecting_through_our_pages_loads_every_shop(shopee, org, owner_client, django_capture_on_commit_callbacks):
    start = owner_client.post(
        reverse("connect_start", kwargs={"org_slug": org.slug, "platform": "shopee"}), {"region": ""}
    )
    assert start.status_code == 302
    authorize_url = start["Location"]
    assert authorize_url.startswith(f"{shopee.url}/api/v2/shop/auth_partner?")
    page = httpx.get(authorize_url)
    fields = {k: v.replace("&amp;", "&") for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)}
    answer = httpx.post(f"{shopee.url}/api/v2/shop/auth_partner", data={**fields, "login": f"main:{MAIN_ACCOUNT_ID}"})
    back = urlsplit(answer.headers["location"])
    assert back.path == reverse("connect_callback", kwargs={"platform": "shopee"})
    assert set(dict(parse_qsl(back.query))) == {"state", "code", "main_account_id"}

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.get(f"{back.path}?{back.query}")

    assert response.status_code == 302
    connections = Connection.unscoped_objects.filter(organization=org).order_by("external_id")
    assert [(c.external_id, c.marketplace, c.currency, c.time_zone, c.region) for c in connections] == [
        (str(SG), "SG", "SGD", "Asia/Singapore", "FE"),
        (str(MY), "MY", "MYR", "Asia/Kuala_Lumpur", "FE"),
        (str(TH), "TH", "THB", "Asia/Bangkok", "FE"),
    ]
    runs = SyncRun.unscoped_objects.filter(organization=org)
    assert [(r.kind, r.status, (r.window_end - r.window_start).days) for r in runs] == [
        (RunKind.BACKFILL, RunStatus.SUCCEEDED, 90)
    ] * 3
    for connection in connections:  # each shop refreshed nothing yet and loaded its own orders and ads
        shop_id = int(connection.external_id)
        run = runs.get(connection=connection)
        tz = ZoneInfo(connection.time_zone)
        want = {o.order_sn for o, _ in shopee.orders_between(shop_id, "update_time", *bounds(run, tz))}
        stored = orders_of(org).filter(source_ref=connection.pk)
        assert set(stored.values_list("external_id", flat=True)) == want
        assert set(stored.values_list("currency", "marketplace").distinct()) == {
            (connection.currency, connection.marketplace)
        }
        assert ads_loaded(connection)["days"] == 91
        assert run.platform_totals["orders"]["orders"] == len(
            shopee.orders_between(shop_id, "create_time", *bounds(run, tz))
        )


# --- mapping --------------------------------------------------------------------------------------------------

# The get_order_detail response sample of the v2 docs (a Vietnamese shop), the fields we read.
ORDER_SAMPLE = {
    "cod": True,
    "create_time": 1712601591,
    "currency": "VND",
    "item_list": [
        {
            "item_id": 23620853561,
            "item_name": "🦋giảm giá🦋Kem nở ngực SADOER enlarging breast cream Papaya / Coconut essence 60g",
            "item_sku": "",
            "model_discounted_price": 48000,
            "model_id": 221404189791,
            "model_name": "60g（Papaya）",
            "model_original_price": 300000,
            "model_quantity_purchased": 1,
            "model_sku": "QAZ-SADOER-05",
            "order_item_id": 23620853561,
            "promotion_type": "flash_sale",
        }
    ],
    "order_sn": "2404098R48U37H",
    "order_status": "COMPLETED",
    "pay_time": 1712817766,
    "region": "VN",
    "total_amount": 32119,
    "update_time": 1713139948,
}


def test_an_order_detail_maps_to_an_order_fact_on_the_shops_day():
    fact = mapping.order_fact(
        ORDER_SAMPLE, marketplace="VN", currency="VND", tz=ZoneInfo("Asia/Ho_Chi_Minh"), source_ref=7
    )

    assert (fact.platform, fact.marketplace, fact.external_id, fact.source_ref) == ("shopee", "VN", "2404098R48U37H", 7)
    # 1712601591 is 18:39:51 UTC on 8 April 2024: 01:39 on the 9th in Ho Chi Minh City (UTC+7).
    assert (fact.ordered_at, fact.date) == (datetime(2024, 4, 8, 18, 39, 51, tzinfo=UTC), date(2024, 4, 9))
    assert (fact.status, fact.currency, fact.total, fact.refunded, fact.units) == (
        "completed",
        "VND",
        Decimal("32119"),  # total_amount, whole dong: major units
        Decimal(0),
        1,
    )
    assert (fact.landing_site, fact.referrer, fact.attribution) == ("", "", {})
    [line] = fact.lines
    assert (line.external_id, line.sku, line.asin, line.quantity, line.amount, line.currency) == (
        "23620853561:221404189791",
        "QAZ-SADOER-05",  # the model SKU (the item SKU is empty)
        "",
        1,
        Decimal("48000"),  # model_discounted_price x quantity, not the original price
        "VND",
    )
    assert line.title.startswith("🦋giảm giá🦋Kem")


def test_order_amounts_keep_their_cents_and_a_cancelled_unpaid_order_is_valued_at_its_lines():
    detail = json.loads(
        """{"order_sn": "2511110000ABCD", "currency": "SGD", "order_status": "CANCELLED", "create_time": 1762790400,
        "item_list": [
          {"item_id": 1, "model_id": 0, "item_sku": "HG-LAMP-01", "model_sku": "", "item_name": "Lamp",
           "model_quantity_purchased": 2, "model_discounted_price": 43.12},
          {"item_id": 1, "model_id": 0, "item_sku": "HG-LAMP-01", "model_sku": "", "item_name": "Lamp (add-on)",
           "model_quantity_purchased": 1, "model_discounted_price": 0.1}]}""",
        parse_float=Decimal,
    )  # no total_amount: never paid

    fact = mapping.order_fact(detail, marketplace="SG", currency="SGD", tz=SINGAPORE, source_ref=1)

    assert fact.date == date(2025, 11, 11)  # midnight in Singapore is 16:00 UTC the day before
    assert [(line.external_id, line.sku, line.amount) for line in fact.lines] == [
        ("1:0", "HG-LAMP-01", Decimal("86.24")),
        ("1:0#2", "HG-LAMP-01", Decimal("0.1")),
    ]
    assert (fact.status, fact.total, fact.refunded, fact.units) == ("cancelled", Decimal("86.34"), Decimal("86.34"), 3)
    paid = mapping.order_fact(
        {**detail, "order_status": "READY_TO_SHIP", "total_amount": 88.33},
        marketplace="SG",
        currency="SGD",
        tz=SINGAPORE,
        source_ref=1,
    )  # a float: read through its text, never as a binary fraction
    assert (paid.total, paid.refunded) == (Decimal("88.33"), Decimal(0))


# The get_all_cpc_ads_daily_performance response sample of the v2 docs.
ADS_SAMPLE = {
    "date": "17-03-2021",
    "impression": 123456,
    "clicks": 123456,
    "ctr": 1.23,
    "direct_order": 123456,
    "broad_order": 123456,
    "direct_conversions": 1.23,
    "broad_conversions": 1.23,
    "direct_item_sold": 123,
    "broad_item_sold": 123,
    "direct_gmv": 1.23,
    "broad_gmv": 1.23,
    "expense": 1.23,
    "cost_per_conversion": 1.23,
    "direct_roas": 1.23,
    "broad_roas": 1.23,
}


def test_an_ads_day_maps_to_a_shop_level_ad_fact_with_the_7_day_broad_attribution():
    [fact] = mapping.ad_facts([ADS_SAMPLE], account_id="12312", marketplace="MY", currency="MYR", source_ref=3)

    assert fact == AdFact(
        channel="shopee_ads",
        account_id="12312",
        marketplace="MY",
        date=date(2021, 3, 17),  # DD-MM-YYYY
        grain="campaign",
        campaign_id="",  # shop level: every CPC ad of the shop
        campaign_name="All CPC ads",
        ad_group_id="",
        ad_group_name="",
        target_id="",
        target_text="",
        match_type="",
        search_term="",
        product_id="",
        impressions=123456,
        clicks=123456,
        cost=Decimal("1.23"),  # expense, major units of the shop currency
        orders=123456,  # broad_order
        units=123,  # broad_item_sold
        sales=Decimal("1.23"),  # broad_gmv
        currency="MYR",
        attribution_window="7d",
        source="api",
        source_ref=3,
    )
    whole_baht = {**ADS_SAMPLE, "date": "01-02-2026", "expense": 1234, "broad_gmv": Decimal("5678.50")}
    days = list(
        mapping.ad_facts(
            [ADS_SAMPLE, whole_baht],
            account_id="1",
            marketplace="TH",
            currency="THB",
            source_ref=1,
            start=date(2026, 1, 1),
            end=date(2026, 12, 31),
        )
    )
    assert [(f.date, f.cost, f.sales) for f in days] == [(date(2026, 2, 1), Decimal("1234"), Decimal("5678.50"))]


@pytest.mark.parametrize(
    ("region", "currency", "time_zone"),
    [("SG", "SGD", "Asia/Singapore"), ("MY", "MYR", "Asia/Kuala_Lumpur"), ("TH", "THB", "Asia/Bangkok"),
     ("ID", "IDR", "Asia/Jakarta"), ("PH", "PHP", "Asia/Manila"), ("VN", "VND", "Asia/Ho_Chi_Minh"),
     ("TW", "TWD", "Asia/Taipei")],
)  # fmt: skip
def test_a_shops_currency_and_time_zone_follow_its_region(region, currency, time_zone):
    # The get_shop_info response sample of the v2 docs, in each market.
    info = {"shop_name": "mysipuat", "region": region, "status": "NORMAL", "is_cb": False, "auth_time": 1741944925}

    account = mapping.discovered_account(info, shop_id=322300222, host="global")

    assert (account.external_id, account.name, account.currency, account.time_zone, account.marketplace) == (
        "322300222",
        "mysipuat",
        currency,
        time_zone,
        region,
    )


def test_a_shop_in_a_market_we_do_not_know_is_left_out():
    assert mapping.discovered_account({"shop_name": "x", "region": "XX"}, shop_id=1, host="global") is None


def test_expire_in_is_read_as_seconds_or_as_a_moment():
    assert api.expires_at(14400, now=1_000.0) == 15_400.0  # the refresh sample
    assert api.expires_at(1767001812, now=1_000.0) == 1767001812.0  # the token/get sample: a unix time


@pytest.mark.parametrize(
    ("code", "message", "error", "text"),
    [
        ("common.error_auth", "Invalid access_token.", AuthorizationError, "Reconnect the shop to continue."),
        ("error_auth", "Invalid partner_id or shopid.", AuthorizationError, "Reconnect the shop to continue."),
        ("shop_access_expired", "Your access to shop has expired.", AuthorizationError, "Reconnect the shop"),
        ("error_auth", "No permission to current api.", PlatformError, "our app lacks a permission"),
        ("error_api_permission", "This app type has no permission to this API.", PlatformError, "lacks a permission"),
        ("shop_banned", "The shop account has been banned.", PlatformError, "banned or frozen"),
        ("error_sign", "Wrong sign.", PlatformError, "partner key is wrong"),
        ("error_server", "Something wrong. Please try later.", TransientError, "server error"),
        ("error_rate_limit", "Too many requests.", TransientError, "rate limiting"),
        ("ads.rate_limit.exceed_api", "Too many requests at the moment.", TransientError, "rate limiting"),
        ("error_not_found", "Wrong parameters, detail: x.", PlatformError, "(error_not_found): Wrong parameters"),
    ],
)
def test_shopee_errors_become_what_the_engine_acts_on(code, message, error, text):
    translated = api.translate(api.ShopeeAPIError(code, message, status=403, request_id="r1"), shop="My Shop")
    assert type(translated) is error
    assert text in translated.user_message
    assert translated.detail == f"HTTP 403 {code}: {message} (request_id r1)"


def test_a_bare_429_is_a_rate_limit_and_a_bare_5xx_a_transient_error():
    with pytest.raises(api.ShopeeAPIError) as limited:
        api.read_answer(httpx.Response(429, text="<html>slow down</html>", headers={"Retry-After": "3"}))
    error = limited.value
    assert (error.code, error.retry_after, error.rate_limited) == ("error_rate_limit", 3.0, True)
    with pytest.raises(TransientError):
        api.read_answer(httpx.Response(503, text="<html>down</html>"))
    assert api.read_answer(httpx.Response(200, content=b'{"error": "", "response": {"x": 1.10}}')) == {
        "error": "",
        "response": {"x": Decimal("1.10")},
    }


def test_order_windows_are_at_most_15_days_and_ads_chunks_never_a_month():
    windows = time_windows(0, 40 * 86400)
    assert windows == [(0, 15 * 86400 - 1), (15 * 86400, 30 * 86400 - 1), (30 * 86400, 40 * 86400 - 1)]
    chunks = list(date_chunks(date(2026, 1, 1), date(2026, 3, 31), 28))
    assert all((end - start).days <= 27 for start, end in chunks)
    assert chunks[0] == (date(2026, 1, 1), date(2026, 1, 28)) and chunks[-1][1] == date(2026, 3, 31)
    assert months_before(date(2026, 8, 31), 6) == date(2026, 2, 28)


# --- syncing ------------------------------------------------------------------------------------------------


def test_a_full_sync_loads_orders_sales_and_ads_equal_to_shopees_own_totals(
    shopee, org, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=30)
    shopee.requests.clear()

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.kind, run.progress, run.message, run.attempts) == (
        RunStatus.SUCCEEDED,
        RunKind.BACKFILL,
        100,
        "",
        1,
    )
    assert_orders_loaded_exactly(org, shopee, run)
    assert sales_rows(org) == expected_sales(shopee, run.window_start, run.window_end)
    assert not StoreSalesDaily.unscoped_objects.filter(organization=org, date__lt=run.window_start).exists()
    assert orders_of(org).filter(date__lt=run.window_start).exists()  # older orders that changed in the window
    ads = shopee.ads_totals(SG, run.window_start, run.window_end)
    assert ads_loaded(connection) == ads
    # Reconciliation: Shopee's own figures for the window, beside ours.
    created = shopee.orders_between(SG, "create_time", *bounds(run))
    by_status: dict[str, int] = {}
    for _order, state in created:
        by_status[state.status] = by_status.get(state.status, 0) + 1
    assert run.platform_totals == {
        "orders": {
            "start": run.window_start.isoformat(),
            "end": run.window_end.isoformat(),
            "time_zone": "Asia/Singapore",
            "orders": len(created),
            "by_status": dict(sorted(by_status.items())),
        },
        "ads": {
            "start": run.window_start.isoformat(),
            "end": run.window_end.isoformat(),
            "currency": "SGD",
            "attribution_window": "7d",
            "days": 31,
            "impressions": ads["impressions"],
            "clicks": ads["clicks"],
            "orders": ads["orders"],
            "units": ads["units"],
            "cost": str(ads["cost"]),
            "sales": str(ads["sales"]),
        },
    }
    stored_in_window = orders_of(org).filter(date__gte=run.window_start, date__lte=run.window_end)
    assert stored_in_window.count() == run.platform_totals["orders"]["orders"]
    assert sum(row[1] for row in sales_rows(org)) == run.platform_totals["orders"]["orders"]
    assert {"completed", "cancelled"} <= set(orders_of(org).values_list("status", flat=True))

    # The protocol as Shopee wants it: update_time windows of at most 15 days, pages of 100 by cursor,
    # details in batches of at most 50, the optional fields we read and nothing about the buyer.
    lists = [r["query"] for r in api_requests(shopee, api.ORDER_LIST)]
    updates = [q for q in lists if q["time_range_field"] == "update_time"]
    since, until = bounds(run)
    windows = time_windows(since, until + 1)
    assert [(int(q["time_from"]), int(q["time_to"])) for q in updates if q["cursor"] == ""] == windows
    pages = [max(1, -(-len(shopee.orders_between(SG, "update_time", *w)) // 100)) for w in windows]
    assert len(updates) == sum(pages) >= 4
    assert all(int(q["time_to"]) - int(q["time_from"]) < 15 * 86400 and q["page_size"] == "100" for q in lists)
    assert [q["cursor"] for q in updates if q["time_from"] == updates[0]["time_from"]][:2] == ["", "100"]
    details = [r["query"] for r in api_requests(shopee, api.ORDER_DETAIL)]
    assert all(len(q["order_sn_list"].split(",")) <= 50 for q in details)
    assert {q["response_optional_fields"] for q in details} == {"item_list,total_amount"}
    assert [(q["start_date"], q["end_date"]) for q in (r["query"] for r in api_requests(shopee, api.ADS_DAILY))] == [
        (s.strftime("%d-%m-%Y"), e.strftime("%d-%m-%Y")) for s, e in date_chunks(run.window_start, run.window_end, 28)
    ]
    assert all(r["status"] == 200 for r in shopee.requests)


def test_a_rerun_duplicates_nothing_and_changes_and_restated_ads_overwrite(
    shopee, org, backend, clock, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=30)
    first = request_and_run(connection, django_capture_on_commit_callbacks)
    counts = (
        orders_of(org).count(),
        StoreOrderLine.unscoped_objects.count(),
        AdPerformanceDaily.unscoped_objects.count(),
    )
    ten_days_ago = first.window_end - timedelta(days=10)
    order, state = next(
        (o, s) for o, s in expected_orders(shopee, first) if o.day == ten_days_ago and s.status == "COMPLETED"
    )
    shopee.data_now = clock.now = clock.now + 60
    shopee.cancel(order.order_sn)  # Shopee cancels it after all (the order moves into the next run's window)
    shopee.restatement += 1  # late conversions on the last 7 days
    connection.refresh_from_db()
    assert (connection.lookback_days, connection.synced_through) == (7, first.window_end)

    second = request_and_run(connection, django_capture_on_commit_callbacks, kind=RunKind.MANUAL)

    assert second.status == RunStatus.SUCCEEDED
    assert (second.window_start, second.window_end) == (first.window_end - timedelta(days=7), first.window_end)
    assert (
        orders_of(org).count(),
        StoreOrderLine.unscoped_objects.count(),
        AdPerformanceDaily.unscoped_objects.count(),
    ) == counts
    row = orders_of(org).get(external_id=order.order_sn)
    assert (row.status, row.total, row.refunded) == ("cancelled", order.total, order.total)
    assert sales_rows(org) == expected_sales(shopee, first.window_start, first.window_end)  # gross: unchanged days
    assert ads_loaded(connection) == shopee.ads_totals(SG, first.window_start, first.window_end)
    restated = AdPerformanceDaily.unscoped_objects.filter(date__gt=first.window_end - timedelta(days=7))
    assert (
        restated.aggregate(orders=Sum("orders"))["orders"]
        == shopee.ads_totals(SG, first.window_end - timedelta(days=6), first.window_end)["orders"]
    )
    assert second.platform_totals["ads"]["start"] == second.window_start.isoformat()


def test_pages_follow_next_cursor_to_the_end(shopee, org, backend, settings, django_capture_on_commit_callbacks):
    settings.PLATFORMS["shopee"]["orders_page_size"] = 7
    settings.PLATFORMS["shopee"]["details_batch_size"] = 3
    connection = connect(org, backend, backfill_days=5)
    shopee.requests.clear()

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    expected = assert_orders_loaded_exactly(org, shopee, run)
    updates = [
        r["query"] for r in api_requests(shopee, api.ORDER_LIST) if r["query"]["time_range_field"] == "update_time"
    ]
    assert [q["cursor"] for q in updates] == [str(7 * n) if n else "" for n in range(-(-len(expected) // 7))]
    assert len(api_requests(shopee, api.ORDER_DETAIL)) == sum(
        -(-min(7, len(expected) - 7 * n) // 3) for n in range(len(updates))
    )


def test_a_single_day_ads_window_asks_for_two_days_and_keeps_one(
    shopee, org, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=0)
    shopee.requests.clear()

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    today = run.window_end
    [ads_call] = api_requests(shopee, api.ADS_DAILY)
    assert (ads_call["query"]["start_date"], ads_call["query"]["end_date"]) == (
        (today - timedelta(days=1)).strftime("%d-%m-%Y"),
        today.strftime("%d-%m-%Y"),
    )
    assert list(AdPerformanceDaily.unscoped_objects.values_list("date", flat=True)) == [today]


def test_ads_older_than_six_months_are_not_asked_for(shopee, org, backend, django_capture_on_commit_callbacks):
    shopee.shops[SG].history_days = 300
    connection = connect(org, backend, backfill_days=250)

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    earliest = months_before(run.window_end, 6) + timedelta(days=2)
    starts = [r["query"]["start_date"] for r in api_requests(shopee, api.ADS_DAILY)]
    assert starts[0] == earliest.strftime("%d-%m-%Y")
    assert run.platform_totals["ads"]["start"] == earliest.isoformat()
    assert ads_loaded(connection) == shopee.ads_totals(SG, earliest, run.window_end)
    assert_orders_loaded_exactly(org, shopee, run)  # orders have no such limit


def test_three_shops_keep_their_own_currency_day_and_prices(shopee, org, backend, django_capture_on_commit_callbacks):
    for shop_id in (MY, TH):
        connection = connect(org, backend, shop_id, backfill_days=10)
        run = request_and_run(connection, django_capture_on_commit_callbacks)
        assert run.status == RunStatus.SUCCEEDED
    rows = StoreSalesDaily.unscoped_objects.filter(organization=org)
    assert set(rows.values_list("platform", "marketplace", "currency")) == {
        ("shopee", "MY", "MYR"),
        ("shopee", "TH", "THB"),
    }
    th_lines = StoreOrderLine.unscoped_objects.filter(order__marketplace="TH")
    assert th_lines.exists() and all(a == a.to_integral_value() for a in th_lines.values_list("amount", flat=True))
    my_prices = {
        a / q
        for a, q in StoreOrderLine.unscoped_objects.filter(order__marketplace="MY").values_list("amount", "quantity")
    }
    assert any(p != p.to_integral_value() for p in my_prices)  # ringgit shelf prices end in .90
    assert set(AdPerformanceDaily.unscoped_objects.values_list("currency", "marketplace", "channel")) == {
        ("MYR", "MY", "shopee_ads"),
        ("THB", "TH", "shopee_ads"),
    }


# --- tokens -------------------------------------------------------------------------------------------------


def test_an_access_token_past_its_4_hours_is_refreshed_first_and_both_tokens_are_saved(
    shopee, org, backend, clock, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=3)
    before = dict(connection.credentials)
    clock.now += 4 * 3600 + 1
    shopee.requests.clear()

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert shopee.requests[0]["path"] == api.REFRESH_TOKEN
    assert shopee.requests[0]["body"] == {
        "refresh_token": before["refresh_token"],
        "partner_id": 2001887,
        "shop_id": SG,
    }
    assert [r["status"] for r in shopee.requests if r["status"] != 200] == []  # no call with the old token
    connection.refresh_from_db()
    saved = connection.credentials
    assert saved["access_token"] != before["access_token"] and saved["refresh_token"] != before["refresh_token"]
    assert saved["expires_at"] == pytest.approx(clock.now + 4 * 3600, abs=60)
    assert (saved["host"], saved["shop_id_list"]) == ("global", [SG])
    # The replaced refresh token works no more: a second refresh with it is refused.
    with pytest.raises(AuthorizationError):
        api.refresh_credentials(
            backend._http("t"), backend.conf, before, shop_id=SG, clock=clock.time, sleep=clock.sleep
        )


def test_a_refused_token_is_refreshed_once_and_the_call_repeated(
    shopee, org, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=10)
    shopee.requests.clear()
    shopee.fail("invalid_token", api="get_order_detail")  # Shopee drops a token we think is fresh

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    calls = [(r["path"].rsplit("/", 1)[-1], r["status"], r["error"]) for r in shopee.requests]
    failed = calls.index(("get_order_detail", 403, "invalid_acceess_token"))
    assert calls[failed + 1 : failed + 3] == [("get", 200, ""), ("get_order_detail", 200, "")]
    assert_orders_loaded_exactly(org, shopee, run)
    connection.refresh_from_db()
    assert connection.credentials["access_token"] == shopee.requests[failed + 2]["query"]["access_token"]


def test_a_token_refused_again_after_the_refresh_asks_to_reauthorize(
    shopee, org, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=30)
    shopee.requests.clear()
    shopee.fail("invalid_token", api="get_order_list", after=2, times=2)

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code, run.message) == (RunStatus.PARTIAL, "reauth", REAUTH)
    assert [r["path"].rsplit("/", 1)[-1] for r in shopee.requests].count("get") == 1  # refreshed once only
    connection.refresh_from_db()
    assert (connection.status, connection.last_error, connection.synced_through) == (
        ConnectionStatus.REAUTH,
        REAUTH,
        None,
    )
    assert orders_of(org).count() == run.rows_written > 0  # what was loaded before stays
    assert run.cursor["orders_window"] == 0 and run.cursor["orders_cursor"] == "200"


def test_a_cancelled_authorization_mid_sync_fails_the_run_and_asks_to_reauthorize(
    shopee, org, backend, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=30)
    shopee.requests.clear()
    shopee.fail("revoked", api="get_order_list", after=1)  # the seller cancels our authorization

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code, run.message) == (RunStatus.PARTIAL, "reauth", REAUTH)
    calls = [(r["path"].rsplit("/", 1)[-1], r["status"], r["error"]) for r in shopee.requests]
    assert calls[-2:] == [("get_order_list", 403, "invalid_acceess_token"), ("get", 403, "error_auth")]
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REAUTH
    assert not StoreSalesDaily.unscoped_objects.filter(organization=org).exists()


def test_a_refresh_token_past_its_30_days_asks_to_reauthorize(
    shopee, org, backend, clock, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=3)
    clock.now += 30 * 86400 + 1

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code, run.message, run.rows_written) == (RunStatus.FAILED, "reauth", REAUTH, 0)
    [refresh] = shopee.requests[-1:]
    assert (refresh["path"], refresh["error"]) == (api.REFRESH_TOKEN, "refresh_token_expired")


def test_each_shop_of_a_main_account_refreshes_its_own_tokens(
    shopee, org, backend, clock, django_capture_on_commit_callbacks
):
    credentials = credentials_for(backend)
    connections = [
        services.connection_upsert(organization=org, platform="shopee", account=a, credentials=credentials, user=None)
        for a in backend.discover_accounts(credentials=credentials)
    ]
    clock.now += 5 * 3600

    for connection in connections:
        Connection.unscoped_objects.filter(pk=connection.pk).update(backfill_days=2)
        assert request_and_run(connection, django_capture_on_commit_callbacks).status == RunStatus.SUCCEEDED

    refreshes = [r["body"] for r in api_requests(shopee, api.REFRESH_TOKEN)]
    assert refreshes == [
        {"refresh_token": credentials["refresh_token"], "partner_id": 2001887, "shop_id": shop} for shop in (SG, MY, TH)
    ]  # the shared first refresh token works once for each shop
    tokens = {c.pk: Connection.unscoped_objects.get(pk=c.pk).credentials["access_token"] for c in connections}
    assert len(set(tokens.values())) == 3


# --- rate limits, server errors, timeouts -----------------------------------------------------------------------


@pytest.mark.parametrize("http_status", [429, 200])
def test_a_rate_limit_in_the_body_is_waited_out_whatever_the_http_status(
    shopee, org, backend, clock, http_status, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=10)
    shopee.requests.clear()
    shopee.rate_limit_http_status = http_status
    shopee.fail("rate_limit", api="get_order_detail", after=1, times=2)
    shopee.fail("rate_limit", api="get_all_cpc_ads_daily_performance")

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    limited = [(r["path"].rsplit("/", 1)[-1], r["status"], r["error"]) for r in shopee.requests if r["error"]]
    assert limited == [
        ("get_order_detail", http_status, "error_rate_limit"),
        ("get_order_detail", http_status, "error_rate_limit"),
        ("get_all_cpc_ads_daily_performance", http_status, "ads.rate_limit.exceed_shop_api"),
    ]
    assert clock.sleeps.count(1.0) >= 2 and 2.0 in clock.sleeps  # 1 s, then 2 s
    assert_orders_loaded_exactly(org, shopee, run)
    assert ads_loaded(connection) == shopee.ads_totals(SG, run.window_start, run.window_end)


def test_endless_rate_limiting_hands_the_run_back_to_the_queue(shopee, org, backend):
    connection = connect(org, backend, backfill_days=10)
    with organization_scope(org):
        run, _ = services.sync_run_request(connection=connection)
    shopee.requests.clear()
    shopee.fail("rate_limit", times=100)

    with organization_scope(org), pytest.raises(TransientError) as caught:
        services.sync_run_execute(run_id=run.pk)

    assert caught.value.retry_after == 60.0
    run.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.QUEUED, RATE_LIMITED)
    assert len(shopee.requests) == 1 + api.RATE_LIMIT_RETRIES
    assert not orders_of(org).exists()


def test_the_daily_call_limit_waits_for_midnight_in_utc8(shopee, org, backend):
    connection = connect(org, backend, backfill_days=10)
    with organization_scope(org):
        run, _ = services.sync_run_request(connection=connection)
    shopee.fail("daily_limit")

    with organization_scope(org), pytest.raises(TransientError) as caught:
        services.sync_run_execute(run_id=run.pk)

    assert caught.value.user_message == (
        "Shopee's daily limit of calls for our app is used up; the sync continues after midnight (UTC+8)."
    )
    now = datetime.now(UTC) + timedelta(hours=8)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert caught.value.retry_after == pytest.approx((midnight - now).total_seconds(), abs=5)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_server_errors_and_timeouts_are_retried(shopee, org, backend, settings, django_capture_on_commit_callbacks):
    settings.PLATFORMS["shopee"]["timeout"] = 1.0  # long enough for a busy machine
    shopee.timeout_delay = 2.5
    connection = connect(org, backend, backfill_days=10)
    shopee.requests.clear()
    shopee.fail("server_error", api="get_order_list", times=2)
    shopee.fail("timeout", api="get_order_detail")
    shopee.fail("server_error", api="get_all_cpc_ads_daily_performance")

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    assert [r["status"] for r in shopee.requests if (r["status"] or 0) >= 500] == [500, 500, 500]
    details = api_requests(shopee, api.ORDER_DETAIL)
    assert details[0]["query"]["order_sn_list"] == details[1]["query"]["order_sn_list"]  # asked again
    assert_orders_loaded_exactly(org, shopee, run)
    assert ads_loaded(connection) == shopee.ads_totals(SG, run.window_start, run.window_end)


def test_our_clock_running_late_is_a_clear_error(shopee, org, backend, clock, django_capture_on_commit_callbacks):
    connection = connect(org, backend, backfill_days=3)
    shopee.clock = lambda: clock.now + 600  # Shopee's time is 10 minutes ahead of ours

    run = request_and_run(connection, django_capture_on_commit_callbacks)

    assert (run.status, run.message) == (
        RunStatus.FAILED,
        "Shopee refused our request time (our server clock is off by over 5 minutes). Try again later.",
    )
    assert [r["error"] for r in shopee.requests[-2:]] == ["error_param", "error_param"]  # asked twice, then gave up


# --- killed worker ------------------------------------------------------------------------------------------


def test_a_killed_run_resumes_from_its_window_and_page(
    shopee, org, other_org, backend, clock, settings, django_capture_on_commit_callbacks
):
    settings.PLATFORMS["shopee"]["orders_page_size"] = 40
    connection = connect(org, backend, backfill_days=30)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection)
    shopee.requests.clear()
    shopee.fail("server_error", api="get_order_list", after=4)
    clock.kill_when = lambda: shopee.requests[-1]["status"] == 500  # the worker dies waiting to retry

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    lists = api_requests(shopee, api.ORDER_LIST)
    assert run.status == RunStatus.RUNNING
    assert (run.cursor["orders_window"], run.cursor["orders_cursor"]) == (0, lists[4]["query"]["cursor"])
    loaded_before = run.rows_written
    assert loaded_before == orders_of(org).count() == 4 * 40
    clock.kill_when = None
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    shopee.requests.clear()

    assert services.sync_runs_sweep() == [(org.pk, run.pk)]
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED

    run.refresh_from_db()
    assert (run.status, run.attempts, run.progress) == (RunStatus.SUCCEEDED, 2, 100)
    assert api_requests(shopee, api.ORDER_LIST)[0]["query"]["cursor"] == "160"  # page 5, not page 1
    expected = assert_orders_loaded_exactly(org, shopee, run)
    assert run.rows_written == len(expected) + len(sales_rows(org)) + ads_loaded(connection)["days"]  # none twice
    assert sales_rows(org) == expected_sales(shopee, run.window_start, run.window_end)
    # Exactly what an uninterrupted run loads.
    clean = request_and_run(connect(other_org, backend, backfill_days=30), django_capture_on_commit_callbacks)
    assert clean.status == RunStatus.SUCCEEDED
    assert sales_rows(other_org) == sales_rows(org)
    assert clean.platform_totals == run.platform_totals


def test_a_run_killed_during_ads_resumes_at_the_next_chunk(
    shopee, org, backend, clock, django_capture_on_commit_callbacks
):
    connection = connect(org, backend, backfill_days=60)
    with django_capture_on_commit_callbacks(execute=False):
        run, _ = services.sync_run_request(connection=connection)
    shopee.fail("server_error", api="get_all_cpc_ads_daily_performance", after=1)
    clock.kill_when = lambda: shopee.requests[-1]["status"] == 500

    with organization_scope(org), pytest.raises(WorkerKilled):
        services.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    chunks = list(date_chunks(run.window_start, run.window_end, 28))
    assert run.cursor["ads_done"] == [f"{chunks[0][0]}..{chunks[0][1]}"]
    assert "ads" not in run.platform_totals
    clock.kill_when = None
    SyncRun.unscoped_objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    shopee.requests.clear()
    services.sync_runs_sweep()
    assert sync_task.delay(organization_id=org.pk, run_id=run.pk).get() == RunStatus.SUCCEEDED

    run.refresh_from_db()
    assert [r["path"] for r in shopee.requests] == [api.ADS_DAILY] * (len(chunks) - 1)
    ads = shopee.ads_totals(SG, run.window_start, run.window_end)
    assert ads_loaded(connection) == ads
    assert (run.platform_totals["ads"]["days"], run.platform_totals["ads"]["cost"]) == (61, str(ads["cost"]))


# --- the fake keeps Shopee's rules --------------------------------------------------------------------------


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == {"error", "message", "request_id"}
    return response.status_code, body["error"], body["message"]


def test_fake_checks_sign_timestamp_and_token(shopee, clock):
    path = api.SHOP_INFO
    assert call(shopee, path).json()["shop_name"] == "Hearth & Grain Home SG"
    assert _error(call(shopee, path, key="not-the-key")) == (403, "error_sign", "Wrong sign.")
    assert _error(call(shopee, path, timestamp=int(clock.now) - 301)) == (400, "error_param", "Timestamp is expired.")
    token, _ = shopee.issue_tokens([SG])
    tampered = signed(shopee, path, {}, token=token, shop_id=SG)
    tampered["shop_id"] = MY  # signed for SG
    assert _error(httpx.get(f"{shopee.url}{path}", params=tampered)) == (403, "error_sign", "Wrong sign.")
    for_other_shop = signed(shopee, path, {}, token=token, shop_id=MY)
    assert _error(httpx.get(f"{shopee.url}{path}", params=for_other_shop))[1] == "invalid_acceess_token"
    clock.now += 4 * 3600 + 1
    expired = signed(shopee, path, {}, token=token, shop_id=SG)
    assert _error(httpx.get(f"{shopee.url}{path}", params=expired)) == (
        403,
        "invalid_acceess_token",
        "Invalid access_token, please have a check.",
    )


def test_fake_enforces_the_order_list_window_page_size_and_cursor(shopee, clock):
    now = int(clock.now)
    query = {"time_range_field": "update_time", "time_from": now - 15 * 86400, "time_to": now, "page_size": 100}
    first = call(shopee, api.ORDER_LIST, query).json()["response"]
    assert (first["more"], first["next_cursor"]) == (True, "100") and len(first["order_list"]) == 100
    assert set(first["order_list"][0]) == {"order_sn"}
    everything = shopee.orders_between(SG, "update_time", now - 15 * 86400, now)
    pages, cursor = [first], first["next_cursor"]
    while pages[-1]["more"]:
        pages.append(call(shopee, api.ORDER_LIST, {**query, "cursor": cursor}).json()["response"])
        cursor = pages[-1]["next_cursor"]
    assert [p["next_cursor"] for p in pages] == [str(100 * n) for n in range(1, len(pages))] + [""]
    assert [o["order_sn"] for p in pages for o in p["order_list"]] == [o.order_sn for o, _ in everything]
    with_status = call(shopee, api.ORDER_LIST, {**query, "response_optional_fields": "order_status"}).json()
    assert set(with_status["response"]["order_list"][0]) == {"order_sn", "order_status"}
    assert _error(call(shopee, api.ORDER_LIST, {**query, "time_from": now - 15 * 86400 - 1})) == (
        400,
        "order.order_list_invalid_time",
        "Start time must be earlier than end time and diff in 15days.",
    )
    assert _error(call(shopee, api.ORDER_LIST, {**query, "page_size": 101}))[1] == "error_param"
    assert _error(call(shopee, api.ORDER_LIST, {**query, "time_range_field": "pay_time"}))[1] == "error_param"


def test_fake_enforces_order_detail_limits_and_optional_fields(shopee, clock):
    numbers = [o.order_sn for o, _ in shopee.visible(SG)][:51]
    assert _error(call(shopee, api.ORDER_DETAIL, {"order_sn_list": ",".join(numbers)}))[1] == "error_param"
    bare = call(shopee, api.ORDER_DETAIL, {"order_sn_list": ",".join(numbers[:50])}).json()["response"]["order_list"]
    assert len(bare) == 50 and not {"item_list", "total_amount", "pay_time"} & set(bare[0])
    full = call(
        shopee, api.ORDER_DETAIL, {"order_sn_list": numbers[0], "response_optional_fields": "item_list,total_amount"}
    ).json()["response"]["order_list"][0]
    assert {"item_list", "total_amount", "currency", "create_time", "update_time"} <= set(full)
    assert full["item_list"][0]["item_sku"].startswith("HG-")


def test_fake_enforces_the_ads_date_rules(shopee):
    today = shopee.today(SG)

    def ads(start: date, end: date):
        return call(
            shopee, api.ADS_DAILY, {"start_date": start.strftime("%d-%m-%Y"), "end_date": end.strftime("%d-%m-%Y")}
        )

    rows = ads(today - timedelta(days=3), today).json()["response"]
    assert [r["date"] for r in rows] == [(today - timedelta(days=n)).strftime("%d-%m-%Y") for n in (3, 2, 1, 0)]
    assert _error(ads(today, today))[1] == "ads.performance.error_same_start_end_dates"
    assert _error(ads(today, today - timedelta(days=1)))[1] == "ads.performance.error_start_later_than_end"
    assert (
        _error(ads(today - timedelta(days=1), today + timedelta(days=1)))[1] == "ads.performance.error_date_in_future"
    )
    assert _error(ads(months_before(today, 6) - timedelta(days=1), months_before(today, 6) + timedelta(days=5)))[1] == (
        "ads.performance.error_date_too_old"
    )
    assert _error(ads(today - timedelta(days=40), today))[1] == "ads.performance.error_date_range_too_long"
    assert (
        _error(call(shopee, api.ADS_DAILY, {"start_date": "2026-01-01", "end_date": "2026-01-02"}))[1] == "error_param"
    )


def test_fake_refresh_tokens_work_once_per_shop(shopee, backend, clock):
    access, refresh = shopee.issue_tokens([SG, MY])
    http = backend._http("t")
    credentials = {"access_token": access, "refresh_token": refresh, "host": "global"}
    sg = api.refresh_credentials(http, backend.conf, credentials, shop_id=SG, clock=clock.time)
    api.refresh_credentials(http, backend.conf, credentials, shop_id=MY, clock=clock.time)
    with pytest.raises(AuthorizationError):
        api.refresh_credentials(http, backend.conf, credentials, shop_id=SG, clock=clock.time)
    # The replaced access token still works for 5 minutes, then no more.
    old = signed(shopee, api.SHOP_INFO, {}, token=access, shop_id=SG)
    assert httpx.get(f"{shopee.url}{api.SHOP_INFO}", params=old).status_code == 200
    clock.now += 301
    old = signed(shopee, api.SHOP_INFO, {}, token=access, shop_id=SG)
    assert httpx.get(f"{shopee.url}{api.SHOP_INFO}", params=old).json()["error"] == "invalid_acceess_token"
    new = signed(shopee, api.SHOP_INFO, {}, token=sg["access_token"], shop_id=SG)
    assert httpx.get(f"{shopee.url}{api.SHOP_INFO}", params=new).status_code == 200


def test_the_demo_grant_works_for_every_shop_forever(shopee, backend, clock):
    shopee.allow_demo()
    clock.now += 400 * 86400

    accounts = backend.discover_accounts(credentials=dict(DEMO_CREDENTIALS))

    assert [(a.external_id, a.marketplace, a.currency) for a in accounts] == [
        (str(SG), "SG", "SGD"),
        (str(MY), "MY", "MYR"),
        (str(TH), "TH", "THB"),
    ]
    assert set(DEMO_CREDENTIALS) == {
        "access_token", "refresh_token", "expires_at", "refresh_expires_at", "host", "shop_id_list", "main_account_id"
    }  # fmt: skip


# --- the demo dataset ---------------------------------------------------------------------------------------


def test_the_demo_shops_tell_one_coherent_story():
    shops = demo_shops(400)
    now = datetime(2026, 12, 31, 12, tzinfo=UTC).timestamp()
    for shop in shops:
        shop.extend_to(now)
    again = demo_shops(400)
    again[0].extend_to(now)
    assert list(again[0].orders) == list(shops[0].orders)  # deterministic
    sg, my, th = shops
    assert [(s.spec.name, s.spec.currency) for s in shops] == [
        ("Hearth & Grain Home SG", "SGD"),
        ("Hearth & Grain Home MY", "MYR"),
        ("Hearth & Grain Home TH", "THB"),
    ]
    assert len(sg.by_day) == 401 and max(sg.by_day) == date(2027, 1, 1)  # 400 days of history, up to tomorrow
    assert {line.item_sku for order in sg.orders.values() for line in order.lines} >= {"HG-LAMP-01", "HG-MUG-01"}
    lamp = {s.spec.region: s.spec.shelf_price(Decimal("39.99")) for s in shops}
    assert lamp == {"SG": Decimal("53.90"), "MY": Decimal("177.90"), "TH": Decimal("1319")}
    for shop in shops:
        days = shop.by_day
        ordinary = [len(v) for d, v in days.items() if (d.month, d.day) not in MEGA_SALES and d.month in (9, 10)]
        average = sum(ordinary) / len(ordinary)
        for month_day in ((9, 9), (11, 11), (12, 12)):
            megas = [len(v) for d, v in days.items() if (d.month, d.day) == month_day]
            assert megas and min(megas) > 3 * average, (shop.spec.region, month_day)
        weekends = [len(v) for d, v in days.items() if d.weekday() >= 5 and (d.month, d.day) not in MEGA_SALES]
        weekdays = [len(v) for d, v in days.items() if d.weekday() < 4 and (d.month, d.day) not in MEGA_SALES]
        assert sum(weekends) / len(weekends) > 1.15 * sum(weekdays) / len(weekdays)
    assert WEEKDAY_FACTOR[5] == max(WEEKDAY_FACTOR)
    assert not any(o.cod for o in sg.orders.values()) and any(o.cod for o in th.orders.values())
    statuses = {o.state(now).status for o in my.orders.values() if o.create_time <= now}
    assert statuses >= {"COMPLETED", "CANCELLED", "SHIPPED", "READY_TO_SHIP"}
    numbers = [n for s in shops for n in s.orders]
    assert len(numbers) == len(set(numbers)) and all(re.fullmatch(r"\d{6}[0-9A-Z]{8}", n) for n in numbers)
