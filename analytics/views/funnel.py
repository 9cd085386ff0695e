"""Funnel and traffic sources: impressions -> clicks -> orders per ad channel, and the store orders' traffic
sources under a chosen attribution model (``?model=``). The page renders its frame; each panel loads lazily
from its own URL (which, opened without HTMX, renders the whole page with that panel filled in)."""

from __future__ import annotations

from dataclasses import replace

from django.http import Http404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.permissions import Perm, require
from analytics import attribution, charts
from analytics.export import FORMATS, export_response
from analytics.selectors import funnel as selectors
from analytics.views.common import dashboard_query, render_dashboard

TEMPLATE = "analytics/funnel.html"
EXTRA_KEYS = ("model",)


def _query(request):
    """The dashboard query and the attribution model (an unknown model falls back to the default)."""
    query = dashboard_query(request, extra_keys=EXTRA_KEYS)
    model = query.param("model", attribution.DEFAULT_MODEL)
    if model not in attribution.MODELS or model == attribution.DEFAULT_MODEL:
        query = replace(query, extra=tuple(pair for pair in query.extra if pair[0] != "model"))
        model = attribution.DEFAULT_MODEL
    return query, model


def _context(request, query, model) -> dict:
    slug = request.organization.slug
    qs = query.querystring()

    def url(name, querystring=qs):
        return f"{reverse(name, kwargs={'org_slug': slug})}?{querystring}"

    models = []
    for key, label in attribution.MODELS.items():
        querystring = query.querystring(model=None if key == attribution.DEFAULT_MODEL else key)
        models.append(
            {
                "key": key,
                "label": label,
                "url": url("analytics_funnel", querystring),
                "panel_url": url("analytics_funnel_sources", querystring),
            }
        )
    return {
        "model": model,
        "model_label": attribution.MODELS[model],
        "models": models,
        "ads_url": url("analytics_funnel_ads"),
        "sources_url": url("analytics_funnel_sources"),
        "export_urls": [(fmt.upper(), url("analytics_funnel_export", f"{qs}&format={fmt}")) for fmt in FORMATS],
    }


def _home(request, query) -> str | None:
    return request.organization.home_currency if query.currency == "home" else None


def funnel_figure(rows) -> dict:
    """Impressions, clicks and orders per channel as grouped bars on a log scale (the three differ by orders of
    magnitude: a linear funnel would hide the orders), with CTR and CVR in the hover."""
    labels = [row.label for row in rows]
    stages = [
        (_("Impressions"), [row.impressions for row in rows], ["" for row in rows]),
        (_("Clicks"), [row.clicks for row in rows], [_("CTR %(value)s") % {"value": row.ctr_text} for row in rows]),
        (_("Orders"), [row.orders for row in rows], [_("CVR %(value)s") % {"value": row.cvr_text} for row in rows]),
    ]
    return charts.figure(
        [
            {
                "type": "bar",
                "name": name,
                "x": labels,
                # a zero has no place on a log axis: left as a gap
                "y": [value or None for value in values],
                "text": [f"{value:,}" for value in values],
                "textposition": "outside",
                "customdata": ratios,
                "hovertemplate": "%{x}: %{y:,d} %{customdata}<extra>" + name + "</extra>",
                "marker": {"color": charts.SERIES_COLORS[i]},
            }
            for i, (name, values, ratios) in enumerate(stages)
        ],
        {
            "barmode": "group",
            "margin": {"l": 56, "r": 16, "t": 24, "b": 36},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"family": charts.FONT, "size": 12, "color": "#1c2430"},
            "legend": {"orientation": "h", "x": 0, "y": -0.15, "yanchor": "top"},
            "yaxis": {"type": "log", "gridcolor": "#e3e7ec", "title": {"text": _("log scale")}},
            "xaxis": {"showgrid": False, "linecolor": "#e3e7ec"},
        },
    )


@require_GET
@require(Perm.VIEW)
def funnel(request, org_slug):
    query, model = _query(request)
    return render_dashboard(request, TEMPLATE, _context(request, query, model), query=query)


@require_GET
@require(Perm.VIEW)
def funnel_ads(request, org_slug):
    query, model = _query(request)
    ads = selectors.ad_funnel(organization=request.organization, query=query)
    context = {**_context(request, query, model), "ads": ads}
    if ads["rows"]:
        context["funnel_chart"] = funnel_figure(ads["rows"])
    return render_dashboard(request, TEMPLATE, context, query=query, partial="funnel-ads")


@require_GET
@require(Perm.VIEW)
def funnel_sources(request, org_slug):
    query, model = _query(request)
    mix = selectors.traffic_sources(
        organization=request.organization, query=query, model=model, home_currency=_home(request, query)
    )
    context = {**_context(request, query, model), "mix": mix}
    return render_dashboard(request, TEMPLATE, context, query=query, partial="funnel-sources")


@require_GET
@require(Perm.EXPORT)
def funnel_export(request, org_slug):
    """The traffic-source table as shown (the chosen model), as CSV or XLSX."""
    fmt = request.GET.get("format", "csv")
    if fmt not in FORMATS:
        raise Http404
    query, model = _query(request)
    home = _home(request, query)
    mix = selectors.traffic_sources(organization=request.organization, query=query, model=model, home_currency=home)

    def amounts(by_currency):
        return "; ".join(f"{amount:.2f} {currency}" for currency, amount in sorted(by_currency.items()))

    columns = [("source", _("Traffic source")), ("model", _("Attribution model")), ("orders", _("Orders (credited)"))]
    if home:
        columns += [
            ("sales", _("Sales (%(currency)s)") % {"currency": home}),
            ("share", _("Share of sales")),
            ("unconverted", _("Sales without an FX rate")),
        ]
    else:
        columns += [("sales", _("Sales (original currencies)")), ("share", _("Share of orders"))]
    rows = [
        {
            "source": row.label,
            "model": str(attribution.MODELS[model]) if row.attributed else "",
            "orders": row.orders,
            "sales": row.sales if home else amounts(row.by_currency),
            "share": row.sales_share if home else row.orders_share,
            "unconverted": amounts(row.unconverted),
        }
        for row in mix.rows
    ]
    return export_response(
        name=_("traffic sources"),
        columns=columns,
        rows=rows,
        fmt=fmt,
        start=query.start,
        end=query.end,
        currency=home or "original",
    )


urlpatterns = [
    path("funnel/", funnel, name="analytics_funnel"),
    path("funnel/ads/", funnel_ads, name="analytics_funnel_ads"),
    path("funnel/sources/", funnel_sources, name="analytics_funnel_sources"),
    path("funnel/export/", funnel_export, name="analytics_funnel_export"),
]
