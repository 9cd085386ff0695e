"""Dashboard pages, mounted under /o/<slug:org_slug>/analytics/ by config.urls. Each page module lists its
own routes."""

from analytics.views import alerts, campaigns, funnel, overview, products, profit

org_urlpatterns = [
    *overview.urlpatterns,
    *campaigns.urlpatterns,
    *products.urlpatterns,
    *profit.urlpatterns,
    *funnel.urlpatterns,
    *alerts.urlpatterns,
]
