from django.urls import path, re_path

from accounts import views

# Mounted under /o/<slug:org_slug>/ by config.urls: every view here is scoped to that organization.
org_urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("settings/", views.organization_settings, name="organization_settings"),
    path("settings/activity/", views.audit_log, name="audit_log"),
    path("members/", views.members, name="members"),
    path("members/invite/", views.member_invite, name="member_invite"),
    path("members/<int:membership_id>/role/", views.member_change_role, name="member_change_role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("leave/", views.organization_leave, name="organization_leave"),
    re_path(r"^(?P<section>campaigns|billing)/$", views.section, name="section"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("orgs/new/", views.organization_create, name="organization_create"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("language/", views.set_language, name="set_language"),
    path("healthz", views.healthz, name="healthz"),
]
