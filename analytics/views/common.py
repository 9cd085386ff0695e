"""What every dashboard page shares: the query from the URL, the filter options, the page frame."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from accounts.rendering import render_page
from analytics import selectors
from analytics.query import COMPARES, CURRENCY_MODES, RANGES, DashboardQuery

# (url name, label) of the dashboard's own navigation, in order; pages register here by url name.
PAGES = [
    ("analytics_overview", _("Overview")),
    ("analytics_channels", _("Channels")),
    ("analytics_marketplaces", _("Marketplaces")),
    ("analytics_campaigns", _("Campaigns")),
    ("analytics_products", _("Products")),
    ("analytics_profit", _("Profit")),
    ("analytics_funnel", _("Funnel")),
    ("analytics_alerts", _("Alerts")),
]


def dashboard_pages(org_slug: str) -> list[tuple[str, str, str]]:
    """(url name, url, label) of the pages that exist."""
    pages = []
    for name, label in PAGES:
        try:
            pages.append((name, reverse(name, kwargs={"org_slug": org_slug}), label))
        except NoReverseMatch:
            continue
    return pages


def dashboard_query(request, *, extra_keys=()) -> DashboardQuery:
    return DashboardQuery.from_request(request, extra_keys=extra_keys)


def render_dashboard(request, template: str, context: dict, *, query: DashboardQuery, partial: str | None = None):
    """Render a dashboard page (or its partial) with the shared frame's context."""
    organization = request.organization
    context = {
        "query": query,
        "ranges": RANGES,
        "compares": COMPARES,
        "currency_modes": CURRENCY_MODES,
        "home_currency": organization.home_currency,
        **context,
    }
    if partial is None or not getattr(request, "htmx", None):
        context["filter_options"] = selectors.filter_options(
            organization=organization, start=query.start, end=query.end
        )
        context["dashboard_pages"] = dashboard_pages(organization.slug)
    return render_page(request, template, context, partial=partial)
