import socket

import pytest

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, member
from config.testing import serve_wsgi
from connectors.demo import demo_connections_create
from connectors.fakes import PrefixDispatcher
from connectors.models import Connection, RunKind, SyncRun

pytestmark = pytest.mark.django_db


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fake_platforms(base: str) -> dict:
    """settings.PLATFORMS as development builds it when FAKE_PLATFORMS_URL is ``base``."""
    cred = "chuhai-fake-{}".format
    return {
        "amazon_ads": {
            "client_id": cred("amazon_ads_client_id"),
            "client_secret": cred("amazon_ads_client_secret"),
            "auth_url": f"{base}/amazon-ads/ap/oa",
            "token_url": f"{base}/amazon-ads/auth/o2/token",
            "api_urls": dict.fromkeys(("NA", "EU", "FE"), f"{base}/amazon-ads/api"),
        },
        "amazon_sp": {
            "client_id": cred("amazon_sp_client_id"),
            "client_secret": cred("amazon_sp_client_secret"),
            "application_id": "amzn1.sp.solution.chuhai-fake",
            "auth_url": f"{base}/amazon-sp/consent",
            "token_url": f"{base}/amazon-sp/auth/o2/token",
            "api_urls": dict.fromkeys(("NA", "EU", "FE"), f"{base}/amazon-sp/api"),
        },
        "shopify": {
            "client_id": cred("shopify_client_id"),
            "client_secret": cred("shopify_client_secret"),
            "api_version": "2025-07",
            "shop_url": f"{base}/shopify/{{shop}}",
        },
        "shopee": {
            "client_id": cred("shopee_partner_id"),
            "client_secret": cred("shopee_partner_key"),
            "api_url": f"{base}/shopee",
            "host": "global",
            "api_urls": dict.fromkeys(("global", "cn", "br"), f"{base}/shopee"),
        },
        "meta": {
            "client_id": cred("meta_app_id"),
            "client_secret": cred("meta_app_secret"),
            "api_version": "v25.0",
            "auth_url": f"{base}/meta/dialog/oauth",
            "graph_url": f"{base}/meta/graph",
        },
        "tiktok_shop": {
            "client_id": cred("tiktok_shop_app_key"),
            "client_secret": cred("tiktok_shop_app_secret"),
            "service_id": "chuhai-fake-service",
            "auth_url": f"{base}/tiktok-shop/open/authorize",
            "auth_url_us": f"{base}/tiktok-shop/open/authorize",
            "token_url": f"{base}/tiktok-shop/auth",
            "api_url": f"{base}/tiktok-shop/api",
        },
        "tiktok_ads": {
            "client_id": cred("tiktok_ads_app_id"),
            "client_secret": cred("tiktok_ads_secret"),
            "auth_url": f"{base}/tiktok-ads/portal/auth",
            "api_url": f"{base}/tiktok-ads/open_api/v1.3",
        },
        "ebay": {
            "client_id": cred("ebay_client_id"),
            "client_secret": cred("ebay_client_secret"),
            "ru_name": "chuhai-fake-runame",
            "auth_url": f"{base}/ebay/oauth2/authorize",
            "token_url": f"{base}/ebay/identity/v1/oauth2/token",
            "api_url": f"{base}/ebay/api",
            "identity_url": f"{base}/ebay/apiz",
        },
        "google_ads": {
            "client_id": cred("google_ads_client_id"),
            "client_secret": cred("google_ads_client_secret"),
            "developer_token": cred("google_ads_developer_token"),
            "api_version": "v26",
            "auth_url": f"{base}/google-ads/o/oauth2/v2/auth",
            "token_url": f"{base}/google-ads/token",
            "api_url": f"{base}/google-ads/api",
        },
    }


@pytest.fixture
def fakes(settings):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings.PLATFORMS = fake_platforms(base)
    with serve_wsgi(PrefixDispatcher(base, demo=True), port=port) as url:
        settings.FAKE_PLATFORMS_URL = url
        yield url


def test_demo_seller_is_connected_through_the_real_backends(fakes, django_capture_on_commit_callbacks):
    from connectors.backends import available_platforms

    org = OrganizationFactory()
    owner = member(org, Role.OWNER)
    with django_capture_on_commit_callbacks() as callbacks:
        connections = demo_connections_create(organization=org, user=owner)
    summary = {(c.platform, c.marketplace, c.currency) for c in connections}
    assert {c.platform for c in connections} == set(available_platforms())
    assert {
        ("amazon_ads", "DE", "EUR"),
        ("amazon_ads", "JP", "JPY"),
        ("amazon_ads", "US", "USD"),
        ("amazon_sp", "DE", "EUR"),
        ("amazon_sp", "JP", "JPY"),
        ("amazon_sp", "US", "USD"),
        ("shopify", "homegoods-demo.myshopify.com", "USD"),
        ("shopee", "SG", "SGD"),
        ("shopee", "MY", "MYR"),
        ("shopee", "TH", "THB"),
        ("tiktok_shop", "US", "USD"),
        ("tiktok_shop", "SG", "SGD"),
    } <= summary
    runs = SyncRun.unscoped_objects.filter(organization=org)
    assert runs.count() == len(connections) and set(runs.values_list("kind", flat=True)) == {RunKind.BACKFILL}
    assert len(callbacks) == len(connections)  # one sync task per connection, sent after commit
    assert all(c.credentials for c in Connection.unscoped_objects.filter(organization=org))

    again = demo_connections_create(organization=org, user=owner)
    assert len(again) == len(connections)
    assert Connection.unscoped_objects.filter(organization=org).count() == len(connections)
    assert runs.count() == len(connections)


def test_without_fake_platforms_nothing_is_connected(settings):
    settings.FAKE_PLATFORMS_URL = ""
    org = OrganizationFactory()
    assert demo_connections_create(organization=org, user=member(org, Role.OWNER)) == []
    assert not Connection.unscoped_objects.filter(organization=org).exists()
