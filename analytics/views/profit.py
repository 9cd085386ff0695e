"""Profit page: the range's P&L (sales, refunds, tax in the price, cost of goods, marketplace fees, ad spend,
estimated profit and margin) and the inputs behind it, editable in place.

Who may change what (checked in each view, so a partial requested directly is refused too):
- cost of goods (inline edit and CSV upload): ``Perm.EDIT_CAMPAIGNS``. Marketers and admins keep product
  costs current the way they upload report files; the figure drives bids (break-even ACoS), not settings.
- marketplace fees and VAT/GST: ``Perm.MANAGE_SETTINGS``. They are organization-wide settings that change every
  profit figure, so only owners and admins change them, like the organization's currency.
Every role that can view dashboards sees all three tables.

Inline edits: an "Edit" link (a real URL: without JavaScript it opens this page with that row as a form)
swaps its table row for a form row; saving swaps back the saved row. Adding a row and uploading a file are
plain form posts that come back to this page.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import Perm, has_perm, require
from accounts.rendering import is_partial, render_page
from analytics import profit as services
from analytics.forms import CostForm, CostUploadForm, FeeForm, TaxForm
from analytics.labels import platform_label
from analytics.metrics import format_metric
from analytics.selectors import products as selectors
from analytics.views.common import dashboard_query, render_dashboard

TEMPLATE = "analytics/profit.html"
EDIT_KEYS = ("sku", "marketplace", "platform")


def _money(value, currency, *, no_rate=False):
    if no_rate:
        return _("no rate")
    return format_metric(value, "money", currency)


def _pnl_view(pnl: selectors.Pnl, rates: selectors.UnitRates) -> dict:
    t, currency = pnl.totals, pnl.currency
    unit_note = _("Unit costs and fixed fees are converted with the rates of %(day)s.") % {"day": rates.day}
    lines = [
        (_("Total sales"), _money(t.total_sales, currency, no_rate=pnl.no_rate), "", False),
        (_("Refunds"), _money(t.refunds, currency, no_rate=pnl.no_rate), "", False),
        (
            _("Tax in the price (VAT/GST)"),
            _money(t.tax, currency, no_rate=pnl.no_rate),
            _("Markets without a tax rate count as 0.") if pnl.missing_taxes else "",
            False,
        ),
        (_("Cost of goods"), _money(t.cogs, currency, no_rate=pnl.no_rate), unit_note, False),
        (_("Marketplace fees"), _money(t.fees, currency, no_rate=pnl.no_rate), unit_note, False),
        (_("Ad spend"), _money(t.spend, currency, no_rate=pnl.no_rate), "", False),
        (_("Estimated profit"), _money(pnl.profit, currency, no_rate=pnl.no_rate), "", True),
        (_("Margin"), format_metric(pnl.margin, "ratio"), "", True),
    ]
    stores = [
        {
            "name": f"{platform_label(line.platform)} · {line.marketplace or '-'}",
            "cells": [
                _money(value, currency, no_rate=line.no_rate)
                for value in (
                    line.totals.total_sales,
                    line.totals.refunds,
                    line.totals.tax,
                    line.totals.cogs,
                    line.totals.fees,
                    line.contribution,
                )
            ],
        }
        for line in pnl.lines
    ]
    return {
        "currency": currency,
        "lines": lines,
        "stores": stores,
        "missing_skus": pnl.missing_skus,
        "missing_fees": [f"{platform_label(p)} · {m or '-'}" for p, m in pnl.missing_fees],
        "missing_taxes": pnl.missing_taxes,
        "without_sku": [(f"{platform_label(p)} · {m or '-'}", n) for p, m, n in pnl.without_sku],
        "no_rate": pnl.no_rate,
    }


def _context(request, query, **extra) -> dict:
    organization = request.organization
    role = request.membership.role
    pnls, rates = selectors.profit_and_loss(organization=organization, query=query)
    fee_rows = selectors.fee_rows(organization=organization)
    return {
        "pnls": [_pnl_view(pnl, rates) for pnl in pnls],
        "rates_day": rates.day,
        "cost_lines": selectors.cost_lines(organization=organization, query=query),
        "fee_rows": fee_rows,
        "tax_rows": selectors.tax_rows(organization=organization),
        "platforms": {row.platform: platform_label(row.platform) for row in fee_rows},
        "can_edit_costs": has_perm(role, Perm.EDIT_CAMPAIGNS),
        "can_edit_settings": has_perm(role, Perm.MANAGE_SETTINGS),
        "cost_form": CostForm(),
        "upload_form": CostUploadForm(),
        "fee_form": FeeForm(),
        "tax_form": TaxForm(),
        "editing": None,
        "qs": query.querystring(),
        **extra,
    }


@require_http_methods(["GET"])
@require(Perm.VIEW)
def profit(request, org_slug):
    query = dashboard_query(request)
    return render_dashboard(request, TEMPLATE, _context(request, query), query=query)


def _back(org_slug, query) -> str:
    return reverse("analytics_profit", kwargs={"org_slug": org_slug}) + "?" + query.querystring()


def _row_response(request, query, partial: str, context: dict, *, status=200):
    """The row partial for an inline edit (HTMX), or the whole page with that row being edited."""
    if is_partial(request):
        # A form row with its errors answers 200: it replaces the row being edited (an HTMX 4xx would be turned
        # into a message by HtmxResponseMiddleware instead of swapped in).
        base = {"qs": query.querystring(), "query": query, "home_currency": request.organization.home_currency}
        return render_page(request, TEMPLATE, {**base, **context}, partial=partial)
    return _page(request, query, status=status, **context)


def _page(request, query, *, status=200, **extra):
    response = render_dashboard(request, TEMPLATE, _context(request, query, **extra), query=query)
    response.status_code = status
    return response


# --- cost of goods -----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require(Perm.EDIT_CAMPAIGNS)
def cost_edit(request, org_slug):
    """GET ``?sku=&marketplace=``: the form row for that cost. POST: save it and return the saved row."""
    query = dashboard_query(request, extra_keys=EDIT_KEYS)
    organization = request.organization
    if request.method == "GET":
        sku, marketplace = query.param("sku"), query.param("marketplace")
        cost = selectors.cost_index(organization=organization).get((sku, marketplace))
        initial = {"sku": sku, "marketplace": marketplace}
        if cost:
            initial |= {"unit_cost": cost.unit_cost, "currency": cost.currency}
        else:
            initial["currency"] = organization.home_currency
        form = CostForm(initial=initial)
        return _row_response(request, query, "cost-form", {"form": form, "editing": ("cost", sku, marketplace)})
    form = CostForm(request.POST)
    if not form.is_valid():
        data = form.data
        editing = ("cost", data.get("sku", ""), data.get("marketplace", ""))
        context = {"form": form, "editing": editing, "cost_form": form}
        return _row_response(request, query, "cost-form", context, status=400)
    data = form.cleaned_data
    services.product_cost_set(organization=organization, actor=request.user, **data)
    if not is_partial(request):
        messages.success(request, _("Cost of %(sku)s saved.") % {"sku": data["sku"]})
        return redirect(_back(org_slug, query))
    line = selectors.CostLine(data["sku"], data["marketplace"], "", 0, selectors.CostRow(**data))
    return _row_response(request, query, "cost-row", {"line": line, "can_edit_costs": True})


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def cost_upload(request, org_slug):
    """A ``sku,marketplace,unit_cost,currency`` CSV: every row is checked first; one bad row and nothing is saved."""
    query = dashboard_query(request)
    form = CostUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            count = services.product_costs_import(
                organization=request.organization, actor=request.user, data=form.cleaned_data["file"].read()
            )
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error("file", message)
        else:
            messages.success(request, _("%(count)d costs saved.") % {"count": count})
            return redirect(_back(org_slug, query))
    return _page(request, query, status=400, upload_form=form)


# --- fees and taxes ----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require(Perm.MANAGE_SETTINGS)
def fee_edit(request, org_slug):
    """GET ``?platform=&marketplace=``: the form row for that fee (prefilled from the organization's row or the
    default). POST: save it as the organization's own row and return the saved row."""
    query = dashboard_query(request, extra_keys=EDIT_KEYS)
    organization = request.organization
    if request.method == "GET":
        platform, marketplace = query.param("platform"), query.param("marketplace")
        current = {(r.platform, r.marketplace): r for r in selectors.fee_rows(organization=organization)}.get(
            (platform, marketplace)
        )
        initial = {"platform": platform, "marketplace": marketplace, "currency": organization.home_currency}
        if current:
            initial |= {
                "referral_pct": current.referral_pct,
                "fixed_per_order": current.fixed_per_order,
                "fulfilment_per_unit": current.fulfilment_per_unit,
                "currency": current.currency,
                "source": current.source,
            }
        form = FeeForm(initial=initial)
        return _row_response(request, query, "fee-form", {"form": form, "editing": ("fee", platform, marketplace)})
    form = FeeForm(request.POST)
    if not form.is_valid():
        editing = ("fee", form.data.get("platform", ""), form.data.get("marketplace", ""))
        context = {"form": form, "editing": editing, "fee_form": form}
        return _row_response(request, query, "fee-form", context, status=400)
    fee = services.marketplace_fee_set(organization=organization, actor=request.user, **form.cleaned_data)
    if not is_partial(request):
        messages.success(request, _("Fees saved."))
        return redirect(_back(org_slug, query))
    row = selectors.FeeRow(
        fee.platform,
        fee.marketplace,
        fee.referral_pct,
        fee.fixed_per_order,
        fee.fulfilment_per_unit,
        fee.currency,
        fee.source,
        False,
    )
    context = {"row": row, "can_edit_settings": True, "platforms": {fee.platform: platform_label(fee.platform)}}
    return _row_response(request, query, "fee-row", context)


@require_http_methods(["GET", "POST"])
@require(Perm.MANAGE_SETTINGS)
def tax_edit(request, org_slug):
    """GET ``?marketplace=``: the form row for that market's VAT/GST. POST: save it and return the saved row."""
    query = dashboard_query(request, extra_keys=EDIT_KEYS)
    organization = request.organization
    if request.method == "GET":
        marketplace = query.param("marketplace")
        current = {r.marketplace: r for r in selectors.tax_rows(organization=organization)}.get(marketplace)
        initial = {"marketplace": marketplace, "prices_include_tax": True}
        if current:
            initial |= {
                "rate_pct": current.rate_pct,
                "prices_include_tax": current.prices_include_tax,
                "source": current.source,
            }
        form = TaxForm(initial=initial)
        return _row_response(request, query, "tax-form", {"form": form, "editing": ("tax", "", marketplace)})
    form = TaxForm(request.POST)
    if not form.is_valid():
        editing = ("tax", "", form.data.get("marketplace", ""))
        context = {"form": form, "editing": editing, "tax_form": form}
        return _row_response(request, query, "tax-form", context, status=400)
    tax = services.sales_tax_set(organization=organization, actor=request.user, **form.cleaned_data)
    if not is_partial(request):
        messages.success(request, _("Tax rate saved."))
        return redirect(_back(org_slug, query))
    row = selectors.TaxRow(tax.marketplace, tax.rate_pct, tax.prices_include_tax, tax.source, False)
    return _row_response(request, query, "tax-row", {"row": row, "can_edit_settings": True})


urlpatterns = [
    path("profit/", profit, name="analytics_profit"),
    path("profit/costs/edit/", cost_edit, name="analytics_cost_edit"),
    path("profit/costs/upload/", cost_upload, name="analytics_cost_upload"),
    path("profit/fees/edit/", fee_edit, name="analytics_fee_edit"),
    path("profit/taxes/edit/", tax_edit, name="analytics_tax_edit"),
]
