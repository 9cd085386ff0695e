"""A/B tests, ad copy and keyword localization, mounted under /o/<slug:org_slug>/creative/ by config.urls."""

from django.urls import path

from campaigns import creative_views as views

urlpatterns = [
    path("tests/", views.tests_list, name="creative_tests"),
    path("tests/new/", views.test_new, name="creative_test_new"),
    path("tests/<int:experiment_id>/", views.test_detail, name="creative_test_detail"),
    path("tests/<int:experiment_id>/start/", views.test_start, name="creative_test_start"),
    path("tests/<int:experiment_id>/stop/", views.test_stop, name="creative_test_stop"),
    path("copy/", views.copy_page, name="creative_copy"),
    path("copy/generate/", views.copy_generate, name="creative_copy_generate"),
    path("copy/check/", views.copy_check, name="creative_copy_check"),
    path("copy/save/", views.copy_save, name="creative_copy_save"),
    path("copy/<int:ad_copy_id>/", views.copy_row, name="creative_copy_row"),
    path("copy/<int:ad_copy_id>/edit/", views.copy_edit, name="creative_copy_edit"),
    path("copy/<int:ad_copy_id>/approve/", views.copy_approve, name="creative_copy_approve"),
    path("localize/", views.localize_page, name="creative_localize"),
    path("localize/translate/", views.localize_translate, name="creative_localize_translate"),
    path("localize/propose/", views.localize_propose, name="creative_localize_propose"),
]
