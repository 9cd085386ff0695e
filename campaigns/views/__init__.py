"""Campaign pages, mounted under /o/<slug:org_slug>/ by config.urls. Each page module lists its own routes."""
