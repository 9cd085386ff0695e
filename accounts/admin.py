from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEvent, Invitation, Membership, Organization, User
from accounts.services import record_audit


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "plan", "home_currency", "data_region", "member_count", "created_at"]
    list_filter = ["plan", "data_region", "home_currency", "is_personal"]
    search_fields = ["name", "slug", "memberships__user__email"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships", distinct=True))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            record_audit(
                organization=obj,
                actor=request.user,
                verb="organization.settings_changed",
                target=obj,
                data={"fields": form.changed_data, "via": "admin"},
            )

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for membership in formset.deleted_objects:
            record_audit(
                organization=form.instance,
                actor=request.user,
                verb="membership.removed",
                target=membership,
                data={"user": membership.user_id, "role": membership.role, "via": "admin"},
            )
            membership.delete()
        for membership in instances:
            created = membership.pk is None
            membership.save()
            record_audit(
                organization=form.instance,
                actor=request.user,
                verb="membership.added" if created else "membership.role_changed",
                target=membership,
                data={"user": membership.user_id, "role": membership.role, "via": "admin"},
            )
        formset.save_m2m()


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("name", "language")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "name", "password1", "password2")}),)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organization__name", "organization__slug"]
    list_select_related = ["user", "organization"]
    raw_id_fields = ["user", "organization"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        record_audit(
            organization=obj.organization,
            actor=request.user,
            verb="membership.role_changed" if change else "membership.added",
            target=obj,
            data={"user": obj.user_id, "role": obj.role, "via": "admin"},
        )

    def delete_model(self, request, obj):
        record_audit(
            organization=obj.organization,
            actor=request.user,
            verb="membership.removed",
            target=obj,
            data={"user": obj.user_id, "role": obj.role, "via": "admin"},
        )
        super().delete_model(request, obj)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "status", "expires_at", "invited_by"]
    list_filter = ["status", "role"]
    search_fields = ["email", "organization__name", "organization__slug"]
    list_select_related = ["organization", "invited_by"]
    readonly_fields = ["nonce", "accepted_by", "accepted_at", "created_at"]
    raw_id_fields = ["organization", "invited_by"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "organization", "actor", "verb", "target_type", "target_id"]
    list_filter = ["verb", "target_type"]
    search_fields = ["organization__name", "organization__slug", "actor__email", "verb", "target_id"]
    list_select_related = ["organization", "actor"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
