"""The registry of platform backends: ``get_backend(platform)``."""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

from connectors.backends.base import Backend

# platform value -> dotted path of its Backend class
REGISTRY: dict[str, str] = {
    "amazon_ads": "connectors.backends.amazon_ads.backend.AmazonAdsBackend",
    "amazon_sp": "connectors.backends.amazon_sp.backend.AmazonSellingPartnerBackend",
    "shopify": "connectors.backends.shopify.backend.ShopifyBackend",
    "google_ads": "connectors.backends.google_ads.backend.GoogleAdsBackend",
    "meta": "connectors.backends.meta.backend.MetaBackend",
    "tiktok_ads": "connectors.backends.tiktok_ads.backend.TikTokAdsBackend",
    "shopee": "connectors.backends.shopee.backend.ShopeeBackend",
    "tiktok_shop": "connectors.backends.tiktok_shop.backend.TikTokShopBackend",
    "ebay": "connectors.backends.ebay.backend.EbayBackend",
}


def get_backend(platform: str) -> Backend:
    try:
        path = REGISTRY[platform]
    except KeyError as exc:
        raise LookupError(f"no backend for platform {platform!r}") from exc
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)()


def available_platforms() -> list[str]:
    """Platforms whose backend package is present in this build."""
    return [platform for platform, path in REGISTRY.items() if find_spec(path.rpartition(".")[0].rpartition(".")[0])]
