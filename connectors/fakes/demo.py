"""The demo seller's standing grants on the local fakes.

Development and the demo run against ``python -m connectors.fakes``; ``seed_demo`` connects the demo
organization with these grants (as if the seller had clicked through each consent screen), and the fakes
accept them after any restart.
"""

from __future__ import annotations

from importlib import import_module

AMAZON_ADS_REFRESH_TOKEN = "Atzr|chuhai-demo-seller-ads"
AMAZON_SP_REFRESH_TOKEN = "Atzr|chuhai-demo-seller-sp"
SHOPIFY_ACCESS_TOKEN = "shpat_chuhai_demo_store"


def demo_credentials() -> dict[str, dict]:
    """platform -> the credentials the demo organization stores for it.

    Fakes of later platforms declare their own: a module-level ``DEMO_CREDENTIALS`` dict in ``fake.py``
    and an ``allow_demo()`` method on the app that makes the fake accept them.
    """
    from connectors.backends import REGISTRY, available_platforms
    from connectors.backends.amazon_sp import demo as sp_demo
    from connectors.backends.shopify.fake import DEMO_SHOP

    credentials = {
        "amazon_ads": {"refresh_token": AMAZON_ADS_REFRESH_TOKEN},
        "amazon_sp": {"refresh_token": AMAZON_SP_REFRESH_TOKEN, "selling_partner_id": sp_demo.SELLER_ID},
        "shopify": {"access_token": SHOPIFY_ACCESS_TOKEN, "scope": "read_orders", "shop": f"{DEMO_SHOP}.myshopify.com"},
    }
    for platform in available_platforms():
        if platform not in credentials:
            package = REGISTRY[platform].rpartition(".")[0].rpartition(".")[0]
            credentials[platform] = dict(import_module(f"{package}.fake").DEMO_CREDENTIALS)
    return credentials


def grant_demo_access(apps: dict) -> None:
    """Register the demo grants on freshly built fakes (``PrefixDispatcher.apps``)."""
    from django.conf import settings

    from connectors.backends.amazon_sp import demo as sp_demo
    from connectors.backends.shopify.fake import DEMO_SHOP

    if "amazon-ads" in apps:
        ads = apps["amazon-ads"]
        client_id = settings.PLATFORMS["amazon_ads"]["client_id"]
        ads.clients.setdefault(client_id, settings.PLATFORMS["amazon_ads"]["client_secret"])
        ads._refresh[AMAZON_ADS_REFRESH_TOKEN] = {"client_id": client_id, "revoked": False}
    if "amazon-sp" in apps:
        apps["amazon-sp"].refresh_tokens[AMAZON_SP_REFRESH_TOKEN] = {"seller": sp_demo.SELLER_ID, "revoked": False}
    if "shopify" in apps:
        apps["shopify"].tokens[SHOPIFY_ACCESS_TOKEN] = DEMO_SHOP
    for app in apps.values():
        if hasattr(app, "allow_demo"):
            app.allow_demo()
