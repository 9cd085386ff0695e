from django.contrib import admin
from django.urls import include, path

from accounts.urls import org_urlpatterns
from analytics.urls import org_urlpatterns as analytics_urlpatterns
from campaigns.urls import org_urlpatterns as campaign_urlpatterns
from connectors.urls import org_urlpatterns as connector_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("o/<slug:org_slug>/connections/", include(connector_urlpatterns)),
    path("o/<slug:org_slug>/analytics/", include(analytics_urlpatterns)),
    path("o/<slug:org_slug>/optimize/", include("campaigns.optimize_urls")),
    path("o/<slug:org_slug>/rules/", include("campaigns.rule_urls")),
    path("o/<slug:org_slug>/creative/", include("campaigns.creative_urls")),
    path("o/<slug:org_slug>/compliance/", include("compliance.urls")),
    path("o/<slug:org_slug>/", include(campaign_urlpatterns)),  # before the placeholder sections it replaces
    path("o/<slug:org_slug>/", include(org_urlpatterns)),
    path("", include("connectors.urls")),
    path("", include("accounts.urls")),
]
