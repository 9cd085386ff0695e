"""The Rules pages, mounted under /o/<slug:org_slug>/rules/ by config.urls."""

from django.urls import path

from campaigns import rule_views

urlpatterns = [
    path("", rule_views.rules_list, name="rules"),
    path("new/", rule_views.rule_create, name="rule_create"),
    path("condition-row/", rule_views.rule_condition_row, name="rule_condition_row"),
    path("<int:rule_id>/", rule_views.rule_detail, name="rule_detail"),
    path("<int:rule_id>/edit/", rule_views.rule_edit, name="rule_edit"),
    path("<int:rule_id>/toggle/", rule_views.rule_toggle, name="rule_toggle"),
    path("<int:rule_id>/dry-run/", rule_views.rule_dry_run, name="rule_dry_run"),
    path("<int:rule_id>/run/", rule_views.rule_run, name="rule_run"),
    path("runs/<int:run_id>/", rule_views.rule_run_detail, name="rule_run_detail"),
]
