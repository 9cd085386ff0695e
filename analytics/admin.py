from django.contrib import admin

from analytics.models import FxRate


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    """Read-only: rates come from the ECB task or ``manage.py load_fx_rates --csv`` (the manual fallback)."""

    list_display = ["date", "base", "quote", "rate", "source"]
    list_filter = ["source", "base", "quote"]
    search_fields = ["quote"]
    date_hierarchy = "date"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
