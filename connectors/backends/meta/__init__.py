"""Meta Marketing API (Facebook and Instagram ads): client, mapping, fake Graph API, demo data and the backend."""
