"""The ad rules in the staff console: switch a rule off, leave a note, add a market's own words; with history.

Rule content comes from ``compliance/rules/*.yaml`` and is read-only here; a change to the text of a rule is a
change to its file. Changes take effect on the next check in every process (``compliance.services``).
"""

import json

from django.contrib import admin, messages
from django.db.models import Count
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from compliance.models import Rule, RuleTerm
from compliance.services import rules_set_enabled

FILE_FIELDS = (
    "rule_id",
    "file",
    "file_version",
    "category",
    "severity",
    "markets",
    "channels",
    "languages",
    "explanation",
    "fix",
    "source",
    "source_link",
    "matchers",
    "examples",
    "content_hash",
    "retired",
    "created_at",
    "updated_at",
)


def _pretty(data) -> str:
    return format_html("<pre>{}</pre>", json.dumps(data, ensure_ascii=False, indent=2))


class RuleTermInline(admin.TabularInline):
    model = RuleTerm
    extra = 1
    fields = ["kind", "value", "is_pattern", "language", "market", "enabled", "note"]


@admin.register(Rule)
class RuleAdmin(SimpleHistoryAdmin):
    list_display = ["rule_id", "category", "severity", "market_list", "channel_list", "enabled", "retired", "words"]
    list_filter = ["enabled", "retired", "severity", "category", "file"]
    search_fields = ["rule_id", "explanation", "source"]
    readonly_fields = FILE_FIELDS
    fieldsets = [
        (None, {"fields": ["rule_id", "enabled", "staff_note"]}),
        (
            _("From the rule file"),
            {
                "fields": [
                    "file",
                    "file_version",
                    "category",
                    "severity",
                    "markets",
                    "channels",
                    "languages",
                    "explanation",
                    "fix",
                    "source",
                    "source_link",
                    "matchers",
                    "examples",
                    "content_hash",
                    "retired",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    inlines = [RuleTermInline]
    actions = ["disable_rules", "enable_rules"]
    history_list_display = ["enabled", "retired", "file_version"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(word_count=Count("terms"))

    def has_add_permission(self, request):
        return False  # rules are added to the rule files

    def has_delete_permission(self, request, obj=None):
        return False  # rules leave the files and are retired; switch a rule off instead

    @admin.display(description=_("markets"))
    def market_list(self, obj):
        return ", ".join(obj.markets)

    @admin.display(description=_("channels"))
    def channel_list(self, obj):
        return ", ".join(obj.channels)

    @admin.display(description=_("staff words"), ordering="word_count")
    def words(self, obj):
        return obj.word_count

    @admin.display(description=_("source"))
    def source_link(self, obj):
        if not obj.source_url:
            return "-"
        return format_html('<a href="{0}" rel="noopener noreferrer" target="_blank">{0}</a>', obj.source_url)

    @admin.display(description=_("matchers"))
    def matchers(self, obj):
        return _pretty(obj.definition.get("matchers", {}))

    @admin.display(description=_("examples"))
    def examples(self, obj):
        return _pretty(obj.definition.get("examples", {}))

    @admin.action(description=_("Switch off the selected rules"))
    def disable_rules(self, request, queryset):
        changed = rules_set_enabled(rule_ids=queryset.values_list("pk", flat=True), enabled=False)
        self.message_user(
            request,
            ngettext("%(count)d rule switched off.", "%(count)d rules switched off.", changed) % {"count": changed},
            messages.SUCCESS,
        )

    @admin.action(description=_("Switch on the selected rules"))
    def enable_rules(self, request, queryset):
        changed = rules_set_enabled(rule_ids=queryset.values_list("pk", flat=True), enabled=True)
        self.message_user(
            request,
            ngettext("%(count)d rule switched on.", "%(count)d rules switched on.", changed) % {"count": changed},
            messages.SUCCESS,
        )


@admin.register(RuleTerm)
class RuleTermAdmin(SimpleHistoryAdmin):
    list_display = ["value", "rule", "kind", "language", "market", "is_pattern", "enabled", "updated_at"]
    list_filter = ["enabled", "kind", "language", "market"]
    search_fields = ["value", "rule__rule_id", "note"]
    list_select_related = ["rule"]
    raw_id_fields = ["rule"]
