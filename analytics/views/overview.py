"""Overview (KPI cards, trend, channel mix, marketplaces, top movers), Channels and Marketplaces pages.

The overview page is a frame with placeholders; each panel loads from its own URL (``hx-get`` on load, and a
real link that opens the panel as a page). Rendered panels are cached per organization, view, language and
rollup version (``RollupFill.version`` changes with every refresh) and the newest FX rate, so a refresh or a
newly loaded rate shows at once while repeated views cost one cache read.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, path, reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from accounts.permissions import Perm, has_perm, require
from accounts.rendering import is_partial
from analytics import charts, frames
from analytics.export import FORMATS, export_response
from analytics.metrics import METRICS, format_metric
from analytics.models import FxRate, RollupFill
from analytics.query import DashboardQuery
from analytics.selectors import performance as perf
from analytics.views.common import dashboard_query, render_dashboard

PANELS = {
    "kpis": gettext_lazy("Key figures"),
    "trend": gettext_lazy("Spend and sales by day"),
    "mix": gettext_lazy("Channel mix"),
    "marketplaces": gettext_lazy("Marketplaces"),
    "movers": gettext_lazy("Top movers"),
}
DEFINITIONS = {
    "spend": gettext_lazy("What the ad platforms charged"),
    "ad_sales": gettext_lazy("Sales the ad platforms attribute to ads"),
    "total_sales": gettext_lazy("All store sales, with or without ads"),
    "roas": gettext_lazy("ROAS = ad sales / ad spend"),
    "acos": gettext_lazy("ACoS = ad spend / ad sales"),
    "tacos": gettext_lazy("TACoS = ad spend / total sales"),
    "cpc": gettext_lazy("CPC = ad spend / clicks"),
    "ctr": gettext_lazy("CTR = clicks / impressions"),
    "cvr": gettext_lazy("CVR = ad orders / clicks"),
    "orders": gettext_lazy("Store orders"),
    "impressions": gettext_lazy("Ad impressions"),
    "clicks": gettext_lazy("Ad clicks"),
    "ad_orders": gettext_lazy("Orders the ad platforms attribute to ads"),
    "profit": gettext_lazy("Total sales - refunds - tax - cost of goods - fees - ad spend"),
}
# Where the rows behind each KPI are: ad figures by channel, store figures by marketplace.
KPI_ROWS = dict.fromkeys(perf.KPI_METRICS, "analytics_channels")
KPI_ROWS.update(total_sales="analytics_marketplaces", orders="analytics_marketplaces", tacos="analytics_marketplaces")
KPI_ROWS["profit"] = "analytics_profit"
CACHE_SECONDS = 24 * 3600
MARKETPLACE_PANEL = ("spend", "total_sales", "tacos", "roas")  # the overview's compact marketplace table
DAY_FORMATS = {"zh-hans": "%-m月%-d日"}  # chart axis days (d3 time format); English: "14 Nov"


# --- helpers shared by the pages ----------------------------------------------------------------------------


def _url(name: str, org_slug: str, query: DashboardQuery | None = None, fragment: str = "", **kwargs) -> str | None:
    """The URL of a page with the same view (``query``), or None when that page does not exist (yet)."""
    changes = {k: v for k, v in kwargs.items() if k in {"channels", "marketplaces", "campaigns", "products"}}
    url_kwargs = {k: v for k, v in kwargs.items() if k not in changes}
    try:
        url = reverse(name, kwargs={"org_slug": org_slug, **url_kwargs})
    except NoReverseMatch:
        return None
    if query is not None:
        url += "?" + query.querystring(**changes)
    return url + (f"#{fragment}" if fragment else "")


def _period(start, end) -> str:
    return f"{date_format(start)} – {date_format(end)}"


def _change(metric, value) -> dict:
    """A relative change as text and as good/bad, given which way is good for the metric."""
    if value is None:
        return {"text": "-", "tone": "flat"}
    rounded = (Decimal(value) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if rounded == 0:
        return {"text": "0.0%", "tone": "flat"}
    up = rounded > 0
    good = up if metric.better == "up" else not up
    return {"text": f"{'+' if up else '−'}{abs(rounded)}%", "tone": "good" if good else "bad", "up": up}


def _money_title(view: perf.View, part: perf.Slice) -> str:
    return perf.rate_note(view, part)


def _cell(view, metric_key: str, totals, currency: str, part: perf.Slice | None, *, unit=False) -> dict:
    metric = METRICS[metric_key]
    value = metric.of(totals)
    text = format_metric(value, metric.kind)
    title = str(DEFINITIONS.get(metric_key, metric.label))
    if metric.kind == "money" and part is not None:
        title = _money_title(view, part)
    shown_unit = currency if unit and metric.kind == "money" and value is not None else ""
    return {"text": text, "unit": shown_unit, "title": title, "value": value, "kind": metric.kind}


def _lines(view: perf.View, row: perf.Row, keys, *, change_key: str, href: str | None = None, depth: int = 0):
    """The table lines of one row: one per currency shown (home: one), plus, in home-currency mode, one per
    currency whose amounts had no FX rate (kept apart, flagged, left out of the converted figures)."""
    lines = []
    if view.converted:
        currencies = view.currencies
    else:
        seen = set(row.current.currencies) | set(row.previous.currencies if row.previous else ())
        currencies = sorted(seen) or view.currencies[:1]
    for index, currency in enumerate(currencies):
        now = row.current.total(currency)
        lines.append(
            {
                "key": row.key,
                "label": row.label if index == 0 else "",
                "currency": currency,
                "href": href,
                "depth": depth,
                "cells": [_cell(view, key, now, currency, row.current) for key in keys],
                "change": _change(METRICS[change_key], row.change(change_key, currency)),
                "provisional_from": row.provisional_from,
                "missing": False,
            }
        )
    if view.converted:
        notes = "; ".join(perf.missing_notes(row.current))
        for currency, totals in row.current.unconverted.items():
            lines.append(
                {
                    "key": row.key,
                    "label": "",
                    "currency": currency,
                    "href": None,
                    "depth": depth,
                    "cells": [{**_cell(view, key, totals, currency, None), "title": notes} for key in keys],
                    "change": {"text": "-", "tone": "flat"},
                    "provisional_from": row.provisional_from,
                    "missing": True,
                    "note": notes,
                }
            )
    return lines


def _headers(view: perf.View, keys, *, units=True) -> list[dict]:
    """Column headers; money columns name the home currency unless ``units`` is False (compact panels, whose
    heading names it)."""
    headers = []
    for key in keys:
        metric = METRICS[key]
        label = str(metric.label)
        if units and view.converted and metric.kind == "money":
            label = f"{label} ({view.home})"
        headers.append({"key": key, "label": label, "title": str(DEFINITIONS.get(key, "")), "kind": metric.kind})
    return headers


def _provisional_legend(view: perf.View) -> list[dict]:
    """Which sources are still inside their restatement window in this view, and from which day."""
    return [
        {"label": perf.source_label(key), "since": day}
        for key, day in sorted(view.provisional.items(), key=lambda item: (item[1], item[0]))
        if day <= view.query.end
    ]


def _fx_context(view: perf.View, parts) -> dict:
    missing = perf.Slice()
    for part in parts:
        missing.missing |= part.missing
    return {"missing_notes": perf.missing_notes(missing)}


def _can_export(request) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and has_perm(membership.role, Perm.EXPORT)


def _export_links(request, page: str, query: DashboardQuery) -> list[dict] | None:
    if not _can_export(request):
        return None
    base = reverse("analytics_export", kwargs={"org_slug": request.organization.slug, "page": page})
    return [{"fmt": fmt.upper(), "url": f"{base}?{query.querystring(format=fmt)}"} for fmt in FORMATS]


def _base_context(request, query: DashboardQuery, view: perf.View) -> dict:
    return {
        "query": query,
        "view": view,
        "org_slug": request.organization.slug,
        "currency_label": view.home if view.converted else _("original currencies"),
        "provisional_legend": _provisional_legend(view),
        "daily_rows_url": _url(
            "analytics_overview_panel", request.organization.slug, query, fragment="daily", panel="trend"
        ),
    }


# --- panels --------------------------------------------------------------------------------------------------


def _kpis_context(request, query: DashboardQuery) -> dict:
    kpis = perf.overview_kpis(organization=request.organization, query=query)
    view, slug = kpis.view, request.organization.slug
    comparison = query.comparison
    cards = []
    for key in perf.KPI_METRICS:
        metric = METRICS[key]
        lines = []
        for currency in view.currencies:
            value = _cell(view, key, kpis.current.total(currency), currency, kpis.current, unit=True)
            if key == "profit":
                amount = kpis.value(key, currency)
                value.update(
                    text=format_metric(amount, metric.kind),
                    value=amount,
                    unit=currency if amount is not None else "",
                    title=str(DEFINITIONS["profit"]),
                )
            previous_text = (
                _("%(period)s: %(value)s")
                % {
                    "period": _period(*comparison),
                    "value": format_metric(kpis.value(key, currency, previous=True), metric.kind, currency),
                }
                if comparison
                else ""
            )
            lines.append(
                {
                    **value,
                    "currency": currency,
                    "change": _change(metric, kpis.changes[currency][key]),
                    "previous": previous_text,
                }
            )
        unconverted = []
        if view.converted and metric.kind == "money" and key != "cpc":
            for currency, totals in kpis.current.unconverted.items():
                amount = metric.of(totals)
                if amount:
                    unconverted.append(format_metric(amount, "money", currency))
        cards.append(
            {
                "key": key,
                "label": metric.label,
                "definition": DEFINITIONS.get(key, ""),
                "lines": lines,
                "unconverted": unconverted,
                "href": _url(KPI_ROWS[key], slug, query) or _url("analytics_marketplaces", slug, query),
                "needs_costs": key == "profit" and kpis.value(key, view.currencies[0]) is None,
            }
        )
    return {
        **_base_context(request, query, view),
        **_fx_context(view, [kpis.current]),
        "cards": cards,
        "several_rates": len({day for day, _currency in kpis.current.rated}) > 1,
        "provisional_from": view.provisional_from,
        "comparison": comparison,
        "exports": _export_links(request, "overview", query),
    }


def _trend_context(request, query: DashboardQuery) -> dict:
    data = perf.trend(organization=request.organization, query=query)
    view = data.view
    names = {key: str(METRICS[key].label) for key in frames.TREND_METRICS}
    figures = []
    for currency in view.currencies if view.converted else _trend_currencies(data):
        frame = frames.trend_frame(data, currency)
        figures.append(
            {
                "id": f"chart-trend-{currency}",
                "currency": currency,
                "figure": charts.trend_figure(
                    frame,
                    currency=currency,
                    names=names,
                    previous_suffix=_("previous period") if query.compare == "previous" else _("last year"),
                    provisional_label=_("Provisional"),
                    no_rate_label=_("No FX rate: not converted"),
                    day_format=DAY_FORMATS.get(translation.get_language() or "", "%-d %b"),
                ),
            }
        )
    keys = ("spend", "ad_sales", "total_sales", "acos", "tacos")
    lines = []
    for day in reversed(data.days):
        row = perf.Row(key=(day.day,), label=date_format(day.day), current=day.current, previous=day.previous)
        row.provisional_from = day.day if day.provisional else None
        lines += _lines(view, row, keys, change_key="total_sales")
    return {
        **_base_context(request, query, view),
        **_fx_context(view, [day.current for day in data.days]),
        "figures": figures,
        "headers": _headers(view, keys),
        "lines": lines,
        "open_rows": not is_partial(request),
        "exports": _export_links(request, "trend", query),
    }


def _trend_currencies(data: perf.Trend) -> list[str]:
    seen = {currency for day in data.days for currency in day.current.currencies}
    return sorted(seen) or data.view.currencies[:1]


def _mix_context(request, query: DashboardQuery) -> dict:
    table = perf.channel_mix(organization=request.organization, query=query)
    view, slug = table.view, request.organization.slug
    keys = ("spend", "ad_sales", "roas", "acos")
    lines = []
    for row in table.rows:
        href = _url("analytics_channels", slug, query, channels=[row.key[0]])
        lines += _lines(view, row, keys, change_key="spend", href=href)
    figures = [
        {
            "id": f"chart-mix-{currency}",
            "currency": currency,
            "figure": charts.share_figure(
                frames.table_frame(table, currency, ("spend",)), key="spend", currency=currency
            ),
        }
        for currency in view.currencies
    ]
    return {
        **_base_context(request, query, view),
        **_fx_context(view, [row.current for row in table.rows]),
        "figures": figures,
        "headers": _headers(view, keys, units=False),
        "lines": lines,
        "total_lines": _lines(view, table.total, keys, change_key="spend") if table.rows else [],
        "exports": _export_links(request, "mix", query),
    }


def _marketplaces_context(request, query: DashboardQuery, keys=MARKETPLACE_PANEL, units=False) -> dict:
    table = perf.marketplaces(organization=request.organization, query=query)
    view, slug = table.view, request.organization.slug
    lines = []
    for row in table.rows:
        href = _url("analytics_overview", slug, query, marketplaces=[row.key[0]]) if row.key[0] else None
        lines += _lines(view, row, keys, change_key="total_sales", href=href)
    names = {key: str(METRICS[key].label) for key in ("spend", "total_sales", "tacos")}
    figures = [
        {
            "id": f"chart-marketplaces-{currency}",
            "currency": currency,
            "figure": charts.marketplace_figure(
                frames.table_frame(table, currency, ("spend", "total_sales", "tacos")), currency=currency, names=names
            ),
        }
        for currency in view.currencies
    ]
    return {
        **_base_context(request, query, view),
        **_fx_context(view, [row.current for row in table.rows]),
        "figures": figures,
        "headers": _headers(view, keys, units=units),
        "lines": lines,
        "total_lines": _lines(view, table.total, keys, change_key="total_sales") if table.rows else [],
        "exports": _export_links(request, "marketplaces", query),
        "page_url": _url("analytics_marketplaces", slug, query),
    }


def _campaign_url(slug: str, query: DashboardQuery, channel: str, account_id: str, campaign_id: str) -> str:
    """The rows behind a campaign: its drill-down page, else the campaign table or overview filtered to it."""
    try:
        url = reverse(
            "analytics_campaign_detail", kwargs={"org_slug": slug, "channel": channel, "campaign_id": campaign_id}
        )
    except NoReverseMatch:
        return _url("analytics_campaigns", slug, query, campaigns=[campaign_id]) or _url(
            "analytics_overview", slug, query, campaigns=[campaign_id]
        )
    return f"{url}?{query.querystring(account=account_id)}"


def _movers_context(request, query: DashboardQuery) -> dict:
    view, movers = perf.top_movers(organization=request.organization, query=query)
    slug = request.organization.slug
    rows = []
    for mover in movers:
        metric = METRICS[mover.metric]
        row = mover.row
        href = _campaign_url(slug, query, *row.key)
        before, now = row.previous.value(mover.metric, mover.currency), row.current.value(mover.metric, mover.currency)
        rows.append(
            {
                "label": row.label,
                "channel": perf.source_label(row.key[0]),
                "metric": metric.label,
                "currency": mover.currency,
                "previous": format_metric(before, "money"),
                "current": format_metric(now, "money"),
                "delta": format_metric(abs(mover.delta), "money"),
                "up": mover.delta > 0,
                "change": _change(metric, row.change(mover.metric, mover.currency)),
                "title": _money_title(view, row.current),
                "href": href,
                "provisional_from": row.provisional_from,
            }
        )
    return {
        **_base_context(request, query, view),
        "rows": rows,
        "exports": _export_links(request, "movers", query),
    }


PANEL_CONTEXT = {
    "kpis": _kpis_context,
    "trend": _trend_context,
    "mix": _mix_context,
    "marketplaces": _marketplaces_context,
    "movers": _movers_context,
}


def _cache_marks(request) -> tuple[int, int]:
    """What invalidates every cached panel of an organization: its rollups' version (bumped by each refresh)
    and the newest FX rate."""
    organization = request.organization
    version = RollupFill.objects.filter(organization=organization).values_list("version", flat=True).first() or 0
    fx_mark = FxRate.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return version, fx_mark


def _cache_key(request, query: DashboardQuery, panel: str, *, marks=None, partial: bool | None = None) -> str:
    organization = request.organization
    version, fx_mark = marks or _cache_marks(request)
    partial = is_partial(request) if partial is None else partial
    view = "|".join(
        [
            query.cache_key(),
            query.start.isoformat(),
            query.end.isoformat(),
            translation.get_language() or "",
            "x" if _can_export(request) else "",
            "partial" if partial else "page",
        ]
    )
    digest = hashlib.sha256(view.encode()).hexdigest()[:24]
    return f"analytics:panel:{organization.pk}:{version}:{fx_mark}:{panel}:{digest}"


def render_panel(request, query: DashboardQuery, panel: str) -> str:
    key = _cache_key(request, query, panel)
    html = cache.get(key)
    if html is None:
        html = render_to_string(f"analytics/_{panel}.html", PANEL_CONTEXT[panel](request, query), request=request)
        cache.set(key, html, CACHE_SECONDS)
    return html


def cached_panels(request, query: DashboardQuery) -> dict[str, str]:
    """The panels of this view already rendered since the last refresh, by name: the page embeds them
    instead of asking for each again (one request instead of six for every visitor after the first)."""
    marks = _cache_marks(request)
    keys = {name: _cache_key(request, query, name, marks=marks, partial=True) for name in PANELS}
    found = cache.get_many(list(keys.values()))
    return {name: found[key] for name, key in keys.items() if key in found}


# --- pages -------------------------------------------------------------------------------------------------


@require_GET
@require(Perm.VIEW)
def overview(request, org_slug):
    query = dashboard_query(request)
    ready = cached_panels(request, query)
    panels = [
        {
            "name": name,
            "title": title,
            "url": _url("analytics_overview_panel", org_slug, query, panel=name),
            "html": mark_safe(ready[name]) if name in ready else None,  # noqa: S308 - our own rendered panel
        }
        for name, title in PANELS.items()
    ]
    return render_dashboard(
        request, "analytics/overview.html", {"panels": panels}, query=query, partial="overview-panels"
    )


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
        href = _url("analytics_campaigns", slug, query, channels=[row.key[0]]) or _url(
            "analytics_overview", slug, query, channels=[row.key[0]]
        )
        lines += _lines(view, row, perf.AD_TABLE_METRICS, change_key="spend", href=href)
        for child in row.children:
            lines += _lines(view, child, perf.AD_TABLE_METRICS, change_key="spend", depth=1)
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
        **_base_context(request, query, view),
        **_fx_context(view, [row.current for row in table.rows]),
        "figures": figures,
        "headers": _headers(view, perf.AD_TABLE_METRICS),
        "lines": lines,
        "total_lines": _lines(view, table.total, perf.AD_TABLE_METRICS, change_key="spend") if table.rows else [],
        "chart_metrics": chart_metrics,
        "metric": metric,
        "exports": _export_links(request, "channels", query),
    }
    return render_dashboard(request, "analytics/channels.html", context, query=query, partial="channels-content")


@require_GET
@require(Perm.VIEW)
def marketplaces_page(request, org_slug):
    query = dashboard_query(request)
    context = _marketplaces_context(request, query, keys=perf.MARKETPLACE_METRICS, units=True)
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
    context = _trend_context(request, query)
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
        lines += _lines(table.view, row, perf.AD_TABLE_METRICS, change_key="spend")
        for child in row.children:
            lines += _lines(table.view, child, perf.AD_TABLE_METRICS, change_key="spend", depth=1)
    if table.rows:
        lines += _lines(table.view, table.total, perf.AD_TABLE_METRICS, change_key="spend")
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
    "mix": _export_table(_mix_context, ("spend", "ad_sales", "roas", "acos"), gettext_lazy("Channel mix")),
    "channels": _export_channels,
    "marketplaces": _export_table(
        lambda request, query: _marketplaces_context(request, query, keys=perf.MARKETPLACE_METRICS),
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
