"""Google Ads API (REST): client, mapping, backend, fake server and demo account."""
