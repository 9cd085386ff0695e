"""The alerts page: anomalies found by ``analytics.alerts``, open or dismissed, and dismissing one."""

from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Perm, has_perm, require
from accounts.rendering import is_partial, render_page
from accounts.scoping import get_org_object_or_404
from analytics import alerts as alert_services
from analytics.models import Alert
from analytics.selectors import alerts as selectors
from analytics.views.common import dashboard_query, render_dashboard

TEMPLATE = "analytics/alerts.html"


@require_GET
@require(Perm.VIEW)
def alerts(request, org_slug):
    # status and page stay out of the shared query: the tabs carry it to the other pages, where they mean nothing.
    query = dashboard_query(request)
    status = request.GET.get("status", Alert.Status.OPEN)
    if status not in selectors.STATUSES:
        status = Alert.Status.OPEN
    page, rows = selectors.alerts_page(
        organization=request.organization,
        status=status,
        channels=query.channels,
        page=request.GET.get("page"),  # the paginator turns a missing or bad number into page 1 or the last
    )
    context = {
        "page": page,
        "rows": rows,
        "status": status,
        "statuses": Alert.Status.choices,
        "can_dismiss": has_perm(request.membership.role, Perm.EDIT_CAMPAIGNS),
    }
    return render_dashboard(request, TEMPLATE, context, query=query, partial="alerts-panel")


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def alert_dismiss(request, org_slug, alert_id):
    organization = request.organization
    alert = get_org_object_or_404(Alert, organization, pk=alert_id)
    alert = alert_services.alert_dismiss(organization=organization, alert=alert, actor=request.user)
    if is_partial(request):
        row = selectors.alert_rows([alert], organization=organization)[0]
        return render_page(request, TEMPLATE, {"row": row, "can_dismiss": True}, partial="alert-row")
    return redirect("analytics_alerts", org_slug=org_slug)


urlpatterns = [
    path("alerts/", alerts, name="analytics_alerts"),
    path("alerts/<int:alert_id>/dismiss/", alert_dismiss, name="analytics_alert_dismiss"),
]
