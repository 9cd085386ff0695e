"""Campaign pages, mounted under /o/<slug:org_slug>/ by config.urls: every view here is scoped to that
organization."""

from campaigns.views import changes, keywords

org_urlpatterns = [
    *keywords.urlpatterns,
    *changes.urlpatterns,
]
