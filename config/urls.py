from django.contrib import admin
from django.urls import include, path

from accounts.admin_site import admin_login, require_admin_mfa
from accounts.urls import org_urlpatterns

admin.autodiscover()
admin.site.login = admin_login(admin.site.login)
admin.site.has_permission = require_admin_mfa(admin.site.has_permission)
admin.site.site_header = "Chuhai customer success"
admin.site.site_title = "Chuhai admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("o/<slug:org_slug>/", include(org_urlpatterns)),
    path("", include("accounts.urls")),
]
