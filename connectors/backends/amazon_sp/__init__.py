"""Amazon Selling Partner API (Seller Central): total sales per marketplace and day, and orders.

``client.py`` speaks the protocol (LWA, ``x-amz-access-token``, getOrderMetrics, Orders v0, per-operation
usage plans), ``mapping.py`` turns its rows into ``SalesFact`` / ``OrderFact``, ``backend.py`` connects and
syncs, ``fake.py`` + ``demo.py`` reproduce the API locally with a deterministic home-goods seller.
"""
