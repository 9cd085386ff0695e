from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import InvitationForm, LanguageForm, OrganizationForm, RoleForm
from accounts.models import Invitation, Membership, Role
from accounts.permissions import Perm, has_perm, require
from accounts.rendering import hx_redirect, is_partial, render_page
from accounts.scoping import get_org_object_or_404

# --- no organization in the URL --------------------------------------------------------------------


@require_GET
def home(request):
    if not request.user.is_authenticated:
        return redirect("account_login")
    organization = selectors.user_default_organization(
        user=request.user, preferred_slug=request.session.get("last_org_slug")
    )
    if organization is None:
        return redirect("organization_create")
    return redirect("dashboard", org_slug=organization.slug)


@login_required
@require_http_methods(["GET", "POST"])
def organization_create(request):
    form = OrganizationForm(
        request.POST or None,
        initial={"default_language": request.user.language or request.LANGUAGE_CODE},
    )
    if request.method == "POST" and form.is_valid():
        organization = services.organization_create(owner=request.user, **form.cleaned_data)
        messages.success(request, _("Organization “%(name)s” created.") % {"name": organization.name})
        return hx_redirect(request, reverse("dashboard", kwargs={"org_slug": organization.slug}))
    return render_page(request, "accounts/organization_create.html", {"form": form}, partial="org-form")


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    try:
        invitation = services.invitation_from_token(token)
    except services.ServiceError as exc:
        return TemplateResponse(request, "accounts/invitation_invalid.html", {"error": exc.messages[0]}, status=400)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('account_login')}?next={request.path}")
        try:
            membership = services.invitation_accept(token=token, user=request.user)
        except services.ServiceError as exc:
            return TemplateResponse(
                request,
                "accounts/invitation_accept.html",
                {"invitation": invitation, "error": exc.messages[0]},
                status=400,
            )
        messages.success(
            request,
            _("You joined %(organization)s as %(role)s.")
            % {"organization": membership.organization.name, "role": membership.get_role_display()},
        )
        return redirect("dashboard", org_slug=membership.organization.slug)
    return TemplateResponse(request, "accounts/invitation_accept.html", {"invitation": invitation})


@require_POST
def set_language(request):
    form = LanguageForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Unknown language."), status=400)
    language = form.cleaned_data["language"]
    if request.user.is_authenticated:
        services.user_set_language(user=request.user, language=language)
    next_url = form.cleaned_data["next"] or reverse("home")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = reverse("home")
    response = hx_redirect(request, next_url)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, samesite="Lax")
    return response


@never_cache
@require_GET
def healthz(request):
    from config.celery_app import app

    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)


# --- inside an organization ---------------------------------------------------------------------------

SECTIONS = {
    "campaigns": (_("Campaigns"), _("Campaigns, ad groups and keywords across every channel.")),
    "billing": (_("Billing"), _("Your plan, payment methods and invoices.")),
}


@require_GET
@require(Perm.VIEW)
def dashboard(request, org_slug):
    organization = request.organization
    context = {
        "member_count": selectors.organization_members(organization=organization).count(),
        "recent_events": selectors.organization_audit_events(organization=organization, limit=5),
        "settings_reviewed": selectors.organization_settings_reviewed(organization=organization),
    }
    return render_page(request, "accounts/dashboard.html", context)


@require_GET
@require(Perm.VIEW)
def section(request, org_slug, section):
    title, summary = SECTIONS[section]
    return render_page(
        request, "accounts/section_upcoming.html", {"section": section, "title": title, "summary": summary}
    )


@require_http_methods(["GET", "POST"])
@require(Perm.VIEW)
def organization_settings(request, org_slug):
    organization = request.organization
    can_edit = has_perm(request.membership.role, Perm.MANAGE_SETTINGS)
    form = OrganizationForm(request.POST or None, instance=organization)
    saved = False
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid():
            organization = services.organization_update_settings(
                organization=organization, actor=request.membership, **form.cleaned_data
            )
            form = OrganizationForm(instance=organization)
            saved = True
            if not is_partial(request):
                messages.success(request, _("Settings saved."))
                return redirect("organization_settings", org_slug=organization.slug)
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    return render_page(
        request,
        "accounts/organization_settings.html",
        {"form": form, "can_edit": can_edit, "saved": saved},
        partial="settings-form",
        status=400 if request.method == "POST" and form.errors else 200,
    )


def _members_context(request, invite_form=None):
    organization = request.organization
    role = request.membership.role
    members = list(selectors.organization_members(organization=organization))
    return {
        "members": members,
        "owner_count": sum(1 for m in members if m.role == Role.OWNER),
        "invitations": selectors.organization_pending_invitations(organization=organization),
        "invite_form": invite_form or InvitationForm(),
        "can_invite": has_perm(role, Perm.INVITE),
        "can_manage": has_perm(role, Perm.MANAGE_MEMBERS),
        "roles": RoleForm.base_fields["role"].choices,
    }


@require_GET
@require(Perm.VIEW)
def members(request, org_slug):
    return render_page(request, "accounts/members.html", _members_context(request), partial="members-panel")


@require_POST
@require(Perm.INVITE)
def member_invite(request, org_slug):
    form = InvitationForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            invitation = services.invitation_create(
                organization=request.organization, actor=request.membership, **form.cleaned_data
            )
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
            form = None
        except services.ServiceError as exc:
            form.add_error(None, exc.messages[0])
            status = 400
    else:
        status = 400
    if not is_partial(request) and status == 200:
        return redirect("members", org_slug=org_slug)
    return render_page(
        request,
        "accounts/members.html",
        _members_context(request, form),
        partial="members-panel",
        status=status,
    )


def _member_action(request, org_slug, action):
    try:
        action()
    except services.ServiceError as exc:
        messages.error(request, exc.messages[0])
        status = 400
    else:
        status = 200
    if not is_partial(request):
        return redirect("members", org_slug=org_slug)
    return render_page(
        request, "accounts/members.html", _members_context(request), partial="members-panel", status=status
    )


@require_POST
@require(Perm.MANAGE_MEMBERS)
def member_change_role(request, org_slug, membership_id):
    membership = get_org_object_or_404(Membership, request.organization, pk=membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Unknown role."), status=400)

    def action():
        services.membership_change_role(
            organization=request.organization,
            actor=request.membership,
            membership_id=membership.pk,
            role=form.cleaned_data["role"],
        )
        messages.success(request, _("Role updated."))

    return _member_action(request, org_slug, action)


@require_POST
@require(Perm.MANAGE_MEMBERS)
def member_remove(request, org_slug, membership_id):
    membership = get_org_object_or_404(Membership, request.organization, pk=membership_id)

    def action():
        services.membership_remove(
            organization=request.organization, actor=request.membership, membership_id=membership.pk
        )
        messages.success(request, _("Member removed."))

    return _member_action(request, org_slug, action)


@require_POST
@require(Perm.INVITE)
def invitation_revoke(request, org_slug, invitation_id):
    invitation = get_org_object_or_404(Invitation, request.organization, pk=invitation_id)

    def action():
        services.invitation_revoke(
            organization=request.organization, actor=request.membership, invitation_id=invitation.pk
        )
        messages.success(request, _("Invitation withdrawn."))

    return _member_action(request, org_slug, action)


@require_POST
@require(Perm.VIEW)
def organization_leave(request, org_slug):
    try:
        services.membership_remove(
            organization=request.organization, actor=request.membership, membership_id=request.membership.pk
        )
    except services.ServiceError as exc:
        messages.error(request, exc.messages[0])
        return hx_redirect(request, reverse("members", kwargs={"org_slug": org_slug}))
    messages.success(request, _("You left %(organization)s.") % {"organization": request.organization.name})
    return hx_redirect(request, reverse("home"))


@require_GET
@require(Perm.MANAGE_SETTINGS)
def audit_log(request, org_slug):
    events = selectors.organization_audit_events(organization=request.organization, limit=200)
    return render_page(request, "accounts/audit_log.html", {"events": events})
