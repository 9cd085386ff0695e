from django.urls import path

from compliance import views

urlpatterns = [
    path("", views.check_page, name="compliance_check"),
]
