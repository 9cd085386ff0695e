"""Overview, Channels and Marketplaces pages, and the dashboard exports.

The overview page is a frame with placeholders; each panel (``analytics.panels``) loads from its own URL
(``hx-get`` on load, and a real link that opens the panel as a page), or is embedded when it was rendered since
the last refresh.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.urls import path
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from accounts.permissions import Perm, require
from accounts.rendering import is_partial
from analytics import charts, frames, marks
from analytics.export import FORMATS, export_response
from analytics.metrics import METRICS
from analytics.panels import (
    PANELS,
    base_context,
    cached_panels,
    export_links,
    fx_context,
    marketplaces_context,
    mix_context,
    render_panel,
    table_headers,
    table_lines,
    trend_context,
    view_url,
)
from analytics.query import DashboardQuery
from analytics.selectors import performance as perf
from analytics.views.common import dashboard_query, render_dashboard

PAGE_SECONDS = 300


# --- pages -------------------------------------------------------------------------------------------------


def _page_key(request, query: DashboardQuery, data_marks) -> str | None:
    """The cache key of this visitor's whole overview page, or None when it must be rendered afresh.

    Keyed on the session and its CSRF cookie (the page carries the CSRF token), the membership and role, what
    the page shell shows of the user and organization, the view, the language and the data marks; a request
    with messages waiting is rendered, so they are shown (and consumed) once."""
    session_key = request.session.session_key
    csrf_cookie = request.COOKIES.get(settings.CSRF_COOKIE_NAME)
    if not session_key or not csrf_cookie or len(messages.get_messages(request)):
        return None
    user, organization, membership = request.user, request.organization, request.membership
    parts = [
        session_key,
        csrf_cookie,
        str(membership.pk),
        membership.role,
        str(user.pk),
        user.email,
        user.get_short_name(),
        str(user.is_staff),
        organization.name,
        organization.home_currency,
        request.get_full_path(),
        query.start.isoformat(),
        query.end.isoformat(),
        translation.get_language() or "",
        "partial" if is_partial(request) else "page",
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    version, fx_mark = data_marks
    return f"analytics:page:overview:{organization.pk}:{version}:{fx_mark}:{digest}"


@require_GET
@require(Perm.VIEW)
def overview(request, org_slug):
    """The overview frame with its panels: embedded when rendered since the last refresh, else loading lazily.
    A complete page is kept for the visitor until the data, the view or the shell changes (a few minutes at
    most for what the shell lists of other organizations)."""
    query = dashboard_query(request)
    data_marks = marks.data_marks(organization_id=request.organization.pk)
    key = _page_key(request, query, data_marks)
    if key is not None and (html := cache.get(key)) is not None:
        return HttpResponse(html)
    ready = cached_panels(request, query, data_marks=data_marks)
    panels = [
        {
            "name": name,
            "title": title,
            "url": view_url("analytics_overview_panel", org_slug, query, panel=name),
            "html": mark_safe(ready[name]) if name in ready else None,  # noqa: S308 - our own rendered panel
        }
        for name, title in PANELS.items()
    ]
    response = render_dashboard(
        request, "analytics/overview.html", {"panels": panels}, query=query, partial="overview-panels"
    )
    if key is not None and len(ready) == len(PANELS):
        response.add_post_render_callback(lambda rendered: cache.set(key, rendered.content, PAGE_SECONDS))
    return response


@require_GET
@require(Perm.VIEW)
def overview_panel(request, org_slug, panel):
    if panel not in PANELS:
        raise Http404
    query = dashboard_query(request)
    html = render_panel(request, query, panel)
    if is_partial(request):
        return HttpResponse(html)
    return render_dashboard(
        request,
        "analytics/overview_panel.html",
        {"panel_html": mark_safe(html), "panel_title": PANELS[panel]},
        query=query,
    )


@require_GET
@require(Perm.VIEW)
def channels_page(request, org_slug):
    query = dashboard_query(request, extra_keys=("metric",))
    metric_key = query.param("metric", "spend")
    if metric_key not in perf.AD_TABLE_METRICS:
        metric_key = "spend"
    table = perf.channels(organization=request.organization, query=query)
    view = table.view
    lines, slug = [], request.organization.slug
    for row in table.rows:
        # the rows behind a channel: its campaigns (or, before that page exists, the overview of that channel)
        href = view_url("analytics_campaigns", slug, query, channels=[row.key[0]]) or view_url(
            "analytics_overview", slug, query, channels=[row.key[0]]
        )
        lines += table_lines(view, row, perf.AD_TABLE_METRICS, change_key="spend", href=href)
        for child in row.children:
            lines += table_lines(view, child, perf.AD_TABLE_METRICS, change_key="spend", depth=1)
    metric = METRICS[metric_key]
    figures = [
        {
            "id": f"chart-channels-{currency}",
            "currency": currency,
            "figure": charts.bars_figure(
                frames.table_frame(table, currency, (metric_key,)),
                series=[(metric_key, str(metric.label))],
                kind=metric.kind,
                currency=currency,
                previous_name=_("Comparison period") if query.comparison else None,
            ),
        }
        for currency in view.currencies
    ]
    chart_metrics = [
        {
            "key": key,
            "label": METRICS[key].label,
            "url": f"?{query.querystring(metric=key)}",
            "active": key == metric_key,
        }
        for key in ("spend", "ad_sales", "roas", "acos", "cpc", "ctr", "cvr", "clicks")
    ]
    context = {
        **base_context(request, query, view),
        **fx_context(view, [row.current for row in table.rows]),
        "figures": figures,
        "headers": table_headers(view, perf.AD_TABLE_METRICS),
        "lines": lines,
        "total_lines": table_lines(view, table.total, perf.AD_TABLE_METRICS, change_key="spend") if table.rows else [],
        "chart_metrics": chart_metrics,
        "metric": metric,
        "exports": export_links(request, "channels", query),
    }
    return render_dashboard(request, "analytics/channels.html", context, query=query, partial="channels-content")


@require_GET
@require(Perm.VIEW)
def marketplaces_page(request, org_slug):
    query = dashboard_query(request)
    context = marketplaces_context(request, query, keys=perf.MARKETPLACE_METRICS, units=True)
    return render_dashboard(
        request, "analytics/marketplaces.html", context, query=query, partial="marketplaces-content"
    )


# --- exports ----------------------------------------------------------------------------------------------


def _number(value, kind: str):
    """A cell value a spreadsheet can sum: money to cents, ratios as percentages, None as an empty cell."""
    if value is None:
        return None
    if kind == "money":
        return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if kind == "ratio":
        return (Decimal(value) * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if kind == "multiple":
        return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(value)


def _column_label(key: str) -> str:
    metric = METRICS[key]
    return f"{metric.label} (%)" if metric.kind == "ratio" else str(metric.label)


def _line_rows(lines, keys, first: tuple[str, str], label=None) -> tuple[list, list]:
    """Table lines -> export rows: the first column (``label(line)``, by default the line's label, carried
    down to a row's extra currency lines), its currency, each metric as a number, and a note."""
    columns = [first, ("currency", _("Currency")), *((key, _column_label(key)) for key in keys), ("note", _("Note"))]
    rows, carried = [], ""
    for line in lines:
        carried = line["label"] or carried
        name = label(line) if label else ("    " * line["depth"]) + str(carried)
        row = {first[0]: name, "currency": line["currency"]}
        for key, cell in zip(keys, line["cells"], strict=True):
            row[key] = _number(cell["value"], cell["kind"])
        notes = []
        if line.get("missing"):
            notes.append(_("not converted: %(why)s") % {"why": line.get("note", "")})
        if line["provisional_from"]:
            notes.append(_("provisional from %(day)s") % {"day": line["provisional_from"].isoformat()})
        row["note"] = "; ".join(notes)
        rows.append(row)
    return columns, rows


def _export_overview(request, query):
    kpis = perf.overview_kpis(organization=request.organization, query=query)
    columns = [
        ("metric", _("Metric")),
        ("currency", _("Currency")),
        ("value", _("Value")),
        ("previous", _("Comparison period")),
        ("change", _("Change (%)")),
    ]
    rows = []
    for key in perf.KPI_METRICS:
        metric = METRICS[key]
        for currency in kpis.view.currencies:
            rows.append(
                {
                    "metric": _column_label(key),
                    "currency": currency,
                    "value": _number(kpis.value(key, currency), metric.kind),
                    "previous": _number(kpis.value(key, currency, previous=True), metric.kind),
                    "change": _number(kpis.changes[currency][key], "ratio"),
                }
            )
        if kpis.view.converted and metric.kind == "money" and key in {"spend", "ad_sales", "total_sales"}:
            notes = "; ".join(perf.missing_notes(kpis.current))
            for currency, totals in kpis.current.unconverted.items():
                rows.append(
                    {
                        "metric": _column_label(key) + " - " + _("not converted: %(why)s") % {"why": notes},
                        "currency": currency,
                        "value": _number(metric.of(totals), "money"),
                    }
                )
    return _("Overview"), columns, rows


def _export_trend(request, query):
    context = trend_context(request, query)
    keys = ("spend", "ad_sales", "total_sales", "acos", "tacos")
    columns, rows = _line_rows(
        list(reversed(context["lines"])), keys, ("day", _("Day")), label=lambda line: line["key"][0]
    )
    return _("Daily"), columns, rows


def _export_table(context_fn, keys, name):
    def build(request, query):
        context = context_fn(request, query)
        columns, rows = _line_rows(context["lines"] + context["total_lines"], keys, ("name", _("Name")))
        return name, columns, rows

    return build


def _export_channels(request, query):
    table = perf.channels(organization=request.organization, query=query)
    lines = []
    for row in table.rows:
        lines += table_lines(table.view, row, perf.AD_TABLE_METRICS, change_key="spend")
        for child in row.children:
            lines += table_lines(table.view, child, perf.AD_TABLE_METRICS, change_key="spend", depth=1)
    if table.rows:
        lines += table_lines(table.view, table.total, perf.AD_TABLE_METRICS, change_key="spend")
    columns, rows = _line_rows(lines, perf.AD_TABLE_METRICS, ("name", _("Channel")))
    return _("Channels"), columns, rows


def _export_movers(request, query):
    _view, movers = perf.top_movers(organization=request.organization, query=query)
    columns = [
        ("campaign", _("Campaign")),
        ("campaign_id", _("Campaign ID")),
        ("channel", _("Channel")),
        ("metric", _("Metric")),
        ("currency", _("Currency")),
        ("previous", _("Comparison period")),
        ("current", _("This period")),
        ("delta", _("Change")),
    ]
    rows = [
        {
            "campaign": mover.row.label,
            "campaign_id": mover.row.key[2],
            "channel": perf.source_label(mover.row.key[0]),
            "metric": str(METRICS[mover.metric].label),
            "currency": mover.currency,
            "previous": _number(mover.row.previous.value(mover.metric, mover.currency), "money"),
            "current": _number(mover.row.current.value(mover.metric, mover.currency), "money"),
            "delta": _number(mover.delta, "money"),
        }
        for mover in movers
    ]
    return _("Top movers"), columns, rows


EXPORTS = {
    "overview": _export_overview,
    "trend": _export_trend,
    "mix": _export_table(mix_context, ("spend", "ad_sales", "roas", "acos"), gettext_lazy("Channel mix")),
    "channels": _export_channels,
    "marketplaces": _export_table(
        lambda request, query: marketplaces_context(request, query, keys=perf.MARKETPLACE_METRICS),
        perf.MARKETPLACE_METRICS,
        gettext_lazy("Marketplaces"),
    ),
    "movers": _export_movers,
}


@require_GET
@require(Perm.EXPORT)
def export(request, org_slug, page):
    if page not in EXPORTS:
        raise Http404
    fmt = request.GET.get("format", "csv")
    if fmt not in FORMATS:
        raise Http404
    query = dashboard_query(request)
    name, columns, rows = EXPORTS[page](request, query)
    return export_response(
        name=str(name),
        columns=columns,
        rows=rows,
        fmt=fmt,
        start=query.start,
        end=query.end,
        currency=request.organization.home_currency if query.currency == "home" else "original",
    )


urlpatterns = [
    path("", overview, name="analytics_overview"),
    path("panel/<str:panel>/", overview_panel, name="analytics_overview_panel"),
    path("channels/", channels_page, name="analytics_channels"),
    path("marketplaces/", marketplaces_page, name="analytics_marketplaces"),
    path("export/<str:page>/", export, name="analytics_export"),
]
