from django.urls import path

from connectors import views

# Mounted under /o/<slug:org_slug>/connections/.
org_urlpatterns = [
    path("", views.connections, name="connections"),
    path("connect/<str:platform>/", views.connect_start, name="connect_start"),
    path("<int:connection_id>/", views.connection_detail, name="connection_detail"),
    path("<int:connection_id>/status/", views.connection_status, name="connection_status"),
    path("<int:connection_id>/sync/", views.connection_sync, name="connection_sync"),
    path("<int:connection_id>/disconnect/", views.connection_disconnect, name="connection_disconnect"),
    path("imports/", views.import_upload, name="import_upload"),
    path("imports/<int:import_id>/", views.import_status, name="import_status"),
]

urlpatterns = [
    path("connections/callback/<str:platform>/", views.connect_callback, name="connect_callback"),
]
