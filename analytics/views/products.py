"""Products page: per SKU/ASIN and marketplace, ad spend and ad sales, store sales and units, TACoS, and profit and
break-even ACoS where the cost of goods is known. Sorting, paging and searching swap only the table (HTMX)."""

from __future__ import annotations

from decimal import Decimal

from django.http import Http404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from accounts.permissions import Perm, has_perm, require
from analytics.export import FORMATS, export_response
from analytics.metrics import format_metric
from analytics.selectors import products as selectors
from analytics.views.common import dashboard_query, render_dashboard

EXTRA_KEYS = ("q", "sort", "page")
# (sort key, header, kind) in the order shown after the product column
COLUMNS = (
    ("spend", gettext_lazy("Ad spend"), "money"),
    ("ad_sales", gettext_lazy("Ad sales"), "money"),
    ("acos", gettext_lazy("ACoS"), "ratio"),
    ("total_sales", gettext_lazy("Total sales"), "money"),
    ("units", gettext_lazy("Units"), "count"),
    ("tacos", gettext_lazy("TACoS"), "ratio"),
    ("profit", gettext_lazy("Estimated profit"), "money"),
    ("margin", gettext_lazy("Margin"), "ratio"),
    ("break_even_acos", gettext_lazy("Break-even ACoS"), "ratio"),
)
EXPORT_MONEY = ("spend", "ad_sales", "total_sales", "cogs", "fees", "tax", "profit")
FOUR_PLACES = Decimal("0.0001")
MONEY_KEYS = {"spend", "ad_sales", "acos", "total_sales", "tacos", "profit", "margin", "break_even_acos"}


def _int(value, default=1):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _cells(row: selectors.ProductRow) -> list[dict]:
    values = row.values()
    cells = []
    for key, _label, kind in COLUMNS:
        value = values[key]
        title = ""
        if row.no_rate and key in MONEY_KEYS:
            text, title = _("no rate"), _("No FX rate for one of these days: the amount cannot be converted.")
        elif value is None and key in {"profit", "margin", "break_even_acos"} and row.missing_cost:
            text, title = _("no cost"), _("Enter this SKU's cost of goods on the Profit page.")
        elif value is None and key in {"profit", "margin", "break_even_acos"} and row.missing_fee:
            text, title = _("no fees"), _("Enter this marketplace's fees on the Profit page.")
        else:
            text = format_metric(value, kind, row.currency)
        cells.append({"key": key, "text": text, "title": title})
    return cells


def _headers(query, sort: str, path_: str) -> list[dict]:
    headers = []
    for key, label in (("sku", _("Product")), *((k, lbl) for k, lbl, _kind in COLUMNS)):
        current = sort.removeprefix("-") == key
        descending = sort.startswith("-")
        target = (key if descending else f"-{key}") if current else (key if key == "sku" else f"-{key}")
        headers.append(
            {
                "label": label,
                "url": f"{path_}?{query.querystring(sort=target, page=None)}",
                "aria_sort": ("descending" if descending else "ascending") if current else "",
                "numeric": key != "sku",
            }
        )
    return headers


@require_GET
@require(Perm.VIEW)
def products(request, org_slug):
    query = dashboard_query(request, extra_keys=EXTRA_KEYS)
    table = selectors.product_table(
        organization=request.organization,
        query=query,
        search=query.param("q"),
        sort=query.param("sort", selectors.PRODUCT_DEFAULT_SORT),
        page=_int(query.param("page")),
    )
    for row in table.rows:
        row.cells = _cells(row)
    here = request.path

    def page_url(page):
        return f"{here}?{query.querystring(page=page if page > 1 else None)}"

    exports = []
    if has_perm(request.membership.role, Perm.EXPORT):
        url = reverse("analytics_products_export", kwargs={"org_slug": org_slug})
        exports = [(fmt.upper(), f"{url}?{query.querystring(format=fmt, page=None)}") for fmt in FORMATS]
    context = {
        "table": table,
        "headers": _headers(query, table.sort, here),
        "pager": {
            "previous": page_url(table.page - 1) if table.page > 1 else "",
            "next": page_url(table.page + 1) if table.page < table.pages else "",
            "first": page_url(1) if table.page > table.pages else "",
        },
        "exports": exports,
        "search": query.param("q"),
        "keep_params": [(k, v) for k, v in query.params() if k not in {"q", "page"}],
        "profit_url": reverse("analytics_profit", kwargs={"org_slug": org_slug})
        + "?"
        + query.querystring(q=None, sort=None, page=None),
    }
    return render_dashboard(request, "analytics/products.html", context, query=query, partial="product-table")


@require_GET
@require(Perm.EXPORT)
def products_export(request, org_slug):
    query = dashboard_query(request, extra_keys=EXTRA_KEYS)
    fmt = request.GET.get("format", "csv")
    if fmt not in FORMATS:
        raise Http404
    table = selectors.product_table(
        organization=request.organization,
        query=query,
        search=query.param("q"),
        sort=query.param("sort", selectors.PRODUCT_DEFAULT_SORT),
        page_size=None,
    )
    rows = []
    for row in table.rows:
        values = row.values()
        for key in EXPORT_MONEY:
            if values[key] is not None:
                values[key] = values[key].quantize(FOUR_PLACES)
        if row.no_rate:
            values.update(dict.fromkeys(MONEY_KEYS | {"cogs", "fees", "tax"}))
        rows.append(values)
    columns = [
        ("sku", _("SKU or ASIN")),
        ("title", _("Title")),
        ("marketplace", _("Marketplace")),
        ("currency", _("Currency")),
        ("spend", _("Ad spend")),
        ("ad_sales", _("Ad sales")),
        ("acos", _("ACoS")),
        ("total_sales", _("Total sales")),
        ("orders", _("Orders")),
        ("units", _("Units")),
        ("tacos", _("TACoS")),
        ("cogs", _("Cost of goods")),
        ("fees", _("Marketplace fees")),
        ("tax", _("Tax in price")),
        ("profit", _("Estimated profit")),
        ("margin", _("Margin")),
        ("break_even_acos", _("Break-even ACoS")),
    ]
    return export_response(
        name="products",
        columns=columns,
        rows=rows,
        fmt=fmt,
        start=query.start,
        end=query.end,
        currency=table.money.home or "original",
    )


urlpatterns = [
    path("products/", products, name="analytics_products"),
    path("products/export/", products_export, name="analytics_products_export"),
]
