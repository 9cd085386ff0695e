"""Shopee Open Platform v2: shops (orders, the store-sales side) and Shopee Ads CPC performance."""
