from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from connectors import services
from connectors.errors import SyncError
from connectors.models import Connection, FileImport, RunKind, RunStatus, SyncRun


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "platform", "marketplace", "status", "last_success_at", "next_sync_at"]
    list_filter = ["platform", "status"]
    search_fields = ["name", "external_id", "organization__name", "organization__slug"]
    list_select_related = ["organization"]
    exclude = ["credentials"]  # secrets are never shown, not even to staff
    readonly_fields = [
        "organization",
        "platform",
        "external_id",
        "last_success_at",
        "last_error",
        "synced_through",
        "connected_by",
        "created_at",
        "updated_at",
    ]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "connection",
        "organization",
        "platform",
        "kind",
        "status",
        "window_start",
        "window_end",
        "rows_written",
        "attempts",
        "created_at",
    ]
    list_filter = ["connection__platform", "status", "kind"]
    search_fields = ["connection__name", "organization__name", "organization__slug", "message"]
    list_select_related = ["connection", "organization"]
    readonly_fields = [f.name for f in SyncRun._meta.fields]
    actions = ["requeue"]

    @admin.display(description=_("platform"), ordering="connection__platform")
    def platform(self, obj):
        return obj.connection.get_platform_display()

    @admin.action(description=_("Re-queue: start a new run for these runs' connections"))
    def requeue(self, request, queryset):
        started = 0
        for run in queryset.select_related("connection").exclude(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]):
            try:
                _new, created = services.sync_run_request(
                    connection=run.connection, kind=RunKind.MANUAL, requested_by=request.user
                )
            except SyncError as exc:
                self.message_user(request, f"{run.connection}: {exc.user_message}", messages.WARNING)
                continue
            started += int(created)
        self.message_user(request, _("%(count)d run(s) queued.") % {"count": started})

    def has_add_permission(self, request):
        return False


@admin.register(FileImport)
class FileImportAdmin(admin.ModelAdmin):
    list_display = ["original_name", "organization", "detected_format", "status", "rows_written", "created_at"]
    list_filter = ["detected_format", "status"]
    search_fields = ["original_name", "organization__name", "organization__slug", "sha256"]
    list_select_related = ["organization"]
    readonly_fields = [f.name for f in FileImport._meta.fields]

    def has_add_permission(self, request):
        return False
