"""Overview panels: what each panel shows (context builders shared with the Channels and Marketplaces pages)
and the cache of rendered panels.

Rendered panels are cached per organization, view, language and data marks (``analytics.marks``: the rollup
version, bumped by every refresh, and the FX mark, bumped by every rate load), so a refresh or a newly loaded
rate shows at once while repeated views cost one cache read. ``panels_prerender`` renders the default view
after a refresh, so the first visitor after a sync does not wait for the computation either.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.permissions import Perm, has_perm
from accounts.rendering import is_partial
from analytics import charts, frames, marks
from analytics.export import FORMATS
from analytics.metrics import METRICS, format_metric
from analytics.query import DashboardQuery
from analytics.selectors import performance as perf

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


def view_url(name: str, org_slug: str, query: DashboardQuery | None = None, fragment: str = "", **kwargs) -> str | None:
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


def table_lines(view: perf.View, row: perf.Row, keys, *, change_key: str, href: str | None = None, depth: int = 0):
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


def table_headers(view: perf.View, keys, *, units=True) -> list[dict]:
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


def fx_context(view: perf.View, parts) -> dict:
    missing = perf.Slice()
    for part in parts:
        missing.missing |= part.missing
    return {"missing_notes": perf.missing_notes(missing)}


def _can_export(request) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and has_perm(membership.role, Perm.EXPORT)


def export_links(request, page: str, query: DashboardQuery) -> list[dict] | None:
    if not _can_export(request):
        return None
    base = reverse("analytics_export", kwargs={"org_slug": request.organization.slug, "page": page})
    return [{"fmt": fmt.upper(), "url": f"{base}?{query.querystring(format=fmt)}"} for fmt in FORMATS]


def base_context(request, query: DashboardQuery, view: perf.View) -> dict:
    return {
        "query": query,
        "view": view,
        "org_slug": request.organization.slug,
        "currency_label": view.home if view.converted else _("original currencies"),
        "provisional_legend": _provisional_legend(view),
        "daily_rows_url": view_url(
            "analytics_overview_panel", request.organization.slug, query, fragment="daily", panel="trend"
        ),
    }


# --- panels --------------------------------------------------------------------------------------------------


def kpis_context(request, query: DashboardQuery) -> dict:
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
                "href": view_url(KPI_ROWS[key], slug, query) or view_url("analytics_marketplaces", slug, query),
                "needs_costs": key == "profit" and kpis.value(key, view.currencies[0]) is None,
            }
        )
    return {
        **base_context(request, query, view),
        **fx_context(view, [kpis.current]),
        "cards": cards,
        "several_rates": len({day for day, _currency in kpis.current.rated}) > 1,
        "provisional_from": view.provisional_from,
        "comparison": comparison,
        "exports": export_links(request, "overview", query),
    }


def trend_context(request, query: DashboardQuery) -> dict:
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
        lines += table_lines(view, row, keys, change_key="total_sales")
    return {
        **base_context(request, query, view),
        **fx_context(view, [day.current for day in data.days]),
        "figures": figures,
        "headers": table_headers(view, keys),
        "lines": lines,
        "open_rows": not is_partial(request),
        "exports": export_links(request, "trend", query),
    }


def _trend_currencies(data: perf.Trend) -> list[str]:
    seen = {currency for day in data.days for currency in day.current.currencies}
    return sorted(seen) or data.view.currencies[:1]


def mix_context(request, query: DashboardQuery) -> dict:
    table = perf.channel_mix(organization=request.organization, query=query)
    view, slug = table.view, request.organization.slug
    keys = ("spend", "ad_sales", "roas", "acos")
    lines = []
    for row in table.rows:
        href = view_url("analytics_channels", slug, query, channels=[row.key[0]])
        lines += table_lines(view, row, keys, change_key="spend", href=href)
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
        **base_context(request, query, view),
        **fx_context(view, [row.current for row in table.rows]),
        "figures": figures,
        "headers": table_headers(view, keys, units=False),
        "lines": lines,
        "total_lines": table_lines(view, table.total, keys, change_key="spend") if table.rows else [],
        "exports": export_links(request, "mix", query),
    }


def marketplaces_context(request, query: DashboardQuery, keys=MARKETPLACE_PANEL, units=False) -> dict:
    table = perf.marketplaces(organization=request.organization, query=query)
    view, slug = table.view, request.organization.slug
    lines = []
    for row in table.rows:
        href = view_url("analytics_overview", slug, query, marketplaces=[row.key[0]]) if row.key[0] else None
        lines += table_lines(view, row, keys, change_key="total_sales", href=href)
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
        **base_context(request, query, view),
        **fx_context(view, [row.current for row in table.rows]),
        "figures": figures,
        "headers": table_headers(view, keys, units=units),
        "lines": lines,
        "total_lines": table_lines(view, table.total, keys, change_key="total_sales") if table.rows else [],
        "exports": export_links(request, "marketplaces", query),
        "page_url": view_url("analytics_marketplaces", slug, query),
    }


def _campaign_url(slug: str, query: DashboardQuery, channel: str, account_id: str, campaign_id: str) -> str:
    """The rows behind a campaign: its drill-down page, else the campaign table or overview filtered to it."""
    try:
        url = reverse(
            "analytics_campaign_detail", kwargs={"org_slug": slug, "channel": channel, "campaign_id": campaign_id}
        )
    except NoReverseMatch:
        return view_url("analytics_campaigns", slug, query, campaigns=[campaign_id]) or view_url(
            "analytics_overview", slug, query, campaigns=[campaign_id]
        )
    return f"{url}?{query.querystring(account=account_id)}"


def movers_context(request, query: DashboardQuery) -> dict:
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
        **base_context(request, query, view),
        "rows": rows,
        "exports": export_links(request, "movers", query),
    }


PANEL_CONTEXT = {
    "kpis": kpis_context,
    "trend": trend_context,
    "mix": mix_context,
    "marketplaces": marketplaces_context,
    "movers": movers_context,
}


def _cache_key(request, query: DashboardQuery, panel: str, *, data_marks=None, partial: bool | None = None) -> str:
    organization = request.organization
    version, fx_mark = data_marks or marks.data_marks(organization_id=organization.pk)
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


def render_panel(request, query: DashboardQuery, panel: str, *, data_marks=None) -> str:
    key = _cache_key(request, query, panel, data_marks=data_marks)
    html = cache.get(key)
    if html is None:
        html = render_to_string(f"analytics/_{panel}.html", PANEL_CONTEXT[panel](request, query), request=request)
        cache.set(key, html, CACHE_SECONDS)
    return html


def cached_panels(request, query: DashboardQuery, *, data_marks=None) -> dict[str, str]:
    """The panels of this view already rendered since the last refresh, by name: the page embeds them
    instead of asking for each again (one request instead of six for every visitor after the first)."""
    data_marks = data_marks or marks.data_marks(organization_id=request.organization.pk)
    keys = {name: _cache_key(request, query, name, data_marks=data_marks, partial=True) for name in PANELS}
    found = cache.get_many(list(keys.values()))
    return {name: found[key] for name, key in keys.items() if key in found}


def panels_prerender(*, organization) -> int:
    """Render the panels of the default view (the first thing members open) into the cache, in each language
    the members read and with and without export links as their roles need, so the first visit after a refresh
    embeds them instead of computing. Returns the panels rendered."""
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpRequest, QueryDict
    from django.utils import timezone
    from django_htmx.middleware import HtmxDetails

    from accounts.models import Membership
    from accounts.scoping import organization_scope
    from analytics.query import today_in

    members = Membership.unscoped_objects.filter(organization=organization).values_list("role", "user__language")
    variants = {}  # (language, may export) -> a role that gives it
    for role, language in members:
        variants.setdefault((language or organization.default_language, has_perm(role, Perm.EXPORT)), role)
    if not variants:
        return 0
    data_marks = marks.data_marks(organization_id=organization.pk)
    query = DashboardQuery.from_params(QueryDict(), today=today_in(organization.time_zone))
    rendered = 0
    with organization_scope(organization), timezone.override(organization.time_zone):
        for (language, _can), role in sorted(variants.items()):
            request = HttpRequest()
            request.method = "GET"
            request.META["HTTP_HX_REQUEST"] = "true"
            request.htmx = HtmxDetails(request)
            request.user = AnonymousUser()
            request.organization = organization
            request.membership = _Member(role=role)
            with translation.override(language):
                for panel in PANELS:
                    render_panel(request, query, panel, data_marks=data_marks)
                    rendered += 1
    return rendered


class _Member:
    """The role a pre-rendered panel is drawn for (export links or not); no user behind it."""

    def __init__(self, role: str):
        self.role = role
