from django.contrib import admin
from django.urls import include, path

from accounts.urls import org_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("o/<slug:org_slug>/", include(org_urlpatterns)),
    path("", include("accounts.urls")),
]
