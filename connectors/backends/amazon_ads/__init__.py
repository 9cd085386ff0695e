"""Amazon Ads API v3 (Sponsored Products): client, mapping, fake server, demo data and the sync backend."""
