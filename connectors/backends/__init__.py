"""The registry of platform backends: ``get_backend(platform)``."""

from __future__ import annotations

from importlib import import_module

from connectors.backends.base import Backend

# platform value -> dotted path of its Backend class
REGISTRY: dict[str, str] = {
    "amazon_ads": "connectors.backends.amazon_ads.backend.AmazonAdsBackend",
    "amazon_sp": "connectors.backends.amazon_sp.backend.AmazonSellingPartnerBackend",
    "shopify": "connectors.backends.shopify.backend.ShopifyBackend",
}


def get_backend(platform: str) -> Backend:
    try:
        path = REGISTRY[platform]
    except KeyError as exc:
        raise LookupError(f"no backend for platform {platform!r}") from exc
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)()


def available_platforms() -> list[str]:
    return list(REGISTRY)
