"""Shopify (independent stores): orders and daily sales through the Admin GraphQL API. See ``backend``."""
