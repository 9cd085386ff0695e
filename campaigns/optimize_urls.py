"""Bids & budgets and the market calendar, mounted under /o/<slug:org_slug>/optimize/ by config.urls."""

from django.urls import path

from campaigns import optimize_views as views

urlpatterns = [
    path("", views.optimize_page, name="optimize"),
    path("bids/", views.bids_run, name="optimize_bids_run"),
    path("budgets/", views.budgets_run, name="optimize_budgets_run"),
    path("calendar/", views.calendar_page, name="optimize_calendar"),
    path("calendar/events/", views.seller_event_add, name="optimize_seller_event_add"),
    path(
        "calendar/events/<int:seller_event_id>/delete/",
        views.seller_event_delete,
        name="optimize_seller_event_delete",
    ),
]
