from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Membership, Organization
from accounts.permissions import Perm, has_perm, require
from accounts.rendering import hx_redirect, is_partial, render_page
from accounts.scoping import get_org_object_or_404, organization_scope
from connectors import oauth, selectors, services
from connectors.backends import available_platforms, get_backend
from connectors.errors import SyncError
from connectors.forms import ConnectForm, DisconnectForm, ImportForm
from connectors.models import Connection, FileImport, RunKind
from connectors.reconciliation import connection_reconciliation

logger = logging.getLogger(__name__)


def _context(request, **extra):
    organization = request.organization
    role = request.membership.role
    platforms = [get_backend(p) for p in available_platforms()]
    return {
        "connections": selectors.organization_connections(organization=organization),
        "imports": selectors.organization_imports(organization=organization),
        "platforms": platforms,
        "can_connect": has_perm(role, Perm.CONNECT_ACCOUNTS),
        "can_sync": has_perm(role, Perm.EDIT_CAMPAIGNS),
        "import_form": extra.pop("import_form", None) or ImportForm(),
        **extra,
    }


@require_GET
@require(Perm.VIEW)
def connections(request, org_slug):
    return render_page(request, "connectors/connections.html", _context(request), partial="connections-panel")


@require_GET
@require(Perm.VIEW)
def connection_status(request, org_slug, connection_id):
    get_org_object_or_404(Connection, request.organization, pk=connection_id)
    return _connection_card(request, connection_id)


def _connection_card(request, connection_id):
    connection = selectors.connection_with_latest_run(organization=request.organization, connection_id=connection_id)
    return TemplateResponse(
        request,
        "connectors/connections.html#connection-card",
        {
            "connection": connection,
            "can_connect": has_perm(request.membership.role, Perm.CONNECT_ACCOUNTS),
            "can_sync": has_perm(request.membership.role, Perm.EDIT_CAMPAIGNS),
        },
    )


@require_GET
@require(Perm.VIEW)
def connection_detail(request, org_slug, connection_id):
    connection = get_org_object_or_404(Connection, request.organization, pk=connection_id)
    runs = selectors.connection_runs(organization=request.organization, connection=connection)
    checks = connection_reconciliation(
        organization=request.organization, connection=connection, today=services.local_today(connection)
    )
    return render_page(
        request, "connectors/connection_detail.html", {"connection": connection, "runs": runs, "checks": checks}
    )


@require_POST
@require(Perm.CONNECT_ACCOUNTS)
def connect_start(request, org_slug, platform):
    if platform not in available_platforms():
        raise Http404
    backend = get_backend(platform)
    form = ConnectForm(request.POST, platform=platform, regions=backend.regions, asks_for_shop=backend.asks_for_shop)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return hx_redirect(request, reverse("connections", kwargs={"org_slug": org_slug}))
    region, shop = form.cleaned_data["region"], form.cleaned_data["shop"]
    state = oauth.make_state(
        request, organization_id=request.organization.pk, platform=platform, extra={"r": region, "s": shop}
    )
    url = backend.authorization_url(
        state=state, redirect_uri=callback_url(platform), region=region, **({"shop": shop} if shop else {})
    )
    return hx_redirect(request, url)


def callback_url(platform: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("connect_callback", kwargs={"platform": platform})


@login_required
@require_GET
def connect_callback(request, platform):
    """Where the platform sends the seller back. Not under /o/<slug>/: the organization is in the state."""
    if platform not in available_platforms():
        raise Http404
    try:
        payload = oauth.consume_state(request, state=request.GET.get("state", ""), platform=platform)
    except oauth.OAuthStateError as exc:
        return TemplateResponse(request, "connectors/connect_failed.html", {"error": str(exc)}, status=400)
    membership = (
        Membership.unscoped_objects.select_related("organization")
        .filter(user=request.user, organization_id=payload["o"])
        .first()
    )
    if membership is None:
        raise Http404
    if not has_perm(membership.role, Perm.CONNECT_ACCOUNTS):
        raise PermissionDenied
    organization: Organization = membership.organization
    back = reverse("connections", kwargs={"org_slug": organization.slug})
    if request.GET.get("error"):
        messages.warning(request, _("The connection was cancelled on the platform's page. Nothing was connected."))
        return redirect(back)
    code = request.GET.get("code") or request.GET.get("spapi_oauth_code")
    if not code:
        return TemplateResponse(
            request,
            "connectors/connect_failed.html",
            {"error": _("The platform did not send an authorization code. Start connecting again.")},
            status=400,
        )
    backend = get_backend(platform)
    params = {**request.GET.dict(), "region": payload.get("r", ""), "shop": payload.get("s", "")}
    try:
        credentials = backend.exchange_code(code=code, redirect_uri=callback_url(platform), params=params)
        accounts = backend.discover_accounts(credentials=credentials)
    except SyncError as exc:
        return TemplateResponse(request, "connectors/connect_failed.html", {"error": exc.user_message}, status=400)
    if not accounts:
        messages.warning(request, _("The authorization worked, but it gives access to no account we can sync."))
        return redirect(back)
    with organization_scope(organization):
        for account in accounts:
            connection = services.connection_upsert(
                organization=organization,
                platform=platform,
                account=account,
                credentials=credentials,
                user=request.user,
            )
            services.sync_run_request(connection=connection, kind=RunKind.BACKFILL, requested_by=request.user)
    messages.success(
        request,
        _("Connected %(count)d account(s). The first sync has started.") % {"count": len(accounts)},
    )
    return redirect(back)


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def connection_sync(request, org_slug, connection_id):
    connection = get_org_object_or_404(Connection, request.organization, pk=connection_id)
    try:
        _run, created = services.sync_run_request(connection=connection, kind=RunKind.MANUAL, requested_by=request.user)
    except SyncError as exc:
        messages.error(request, exc.user_message)
        created = None
    if is_partial(request):
        # The card itself shows the queued (or already running) run and starts polling it.
        return _connection_card(request, connection.pk)
    if created:
        messages.success(request, _("Sync started."))
    elif created is False:
        messages.info(request, _("A sync of this account is already running."))
    return redirect("connections", org_slug=org_slug)


@require_POST
@require(Perm.CONNECT_ACCOUNTS)
def connection_disconnect(request, org_slug, connection_id):
    connection = get_org_object_or_404(Connection, request.organization, pk=connection_id)
    form = DisconnectForm(request.POST)
    form.is_valid()
    services.connection_disconnect(
        connection=connection, actor=request.user, delete_history=form.cleaned_data.get("delete_history", False)
    )
    messages.success(request, _("%(name)s is disconnected.") % {"name": connection.name})
    return hx_redirect(request, reverse("connections", kwargs={"org_slug": org_slug}))


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def import_upload(request, org_slug):
    from connectors.imports.service import file_import_create

    form = ImportForm(request.POST, request.FILES)
    status = 200
    if form.is_valid():
        try:
            file_import_create(
                organization=request.organization,
                uploaded_file=form.cleaned_data["file"],
                user=request.user,
                marketplace=form.cleaned_data["marketplace"],
            )
        except ValidationError as exc:
            form.add_error("file", exc.messages[0])
            status = 400
        else:
            messages.success(request, _("File received. It is being checked and loaded."))
            form = None
    else:
        status = 400
    if not is_partial(request) and status == 200:
        return redirect("connections", org_slug=org_slug)
    return render_page(
        request,
        "connectors/connections.html",
        _context(request, import_form=form),
        partial="imports-panel",
        status=status,
    )


@require_http_methods(["GET"])
@require(Perm.VIEW)
def import_status(request, org_slug, import_id):
    file_import = get_org_object_or_404(FileImport, request.organization, pk=import_id)
    return TemplateResponse(request, "connectors/connections.html#import-row", {"imp": file_import})
