"""Campaigns page: every channel's campaigns in one sortable, searchable, paged table, and the drill-down into one
campaign's ad groups, targets and search terms. Sorting, paging and searching swap only the table (HTMX); every
link is a real URL that captures the view. Exports (CSV, XLSX) need ``Perm.EXPORT`` and carry every row of
the current view, not only its page."""

from __future__ import annotations

from django.http import Http404
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from accounts.permissions import Perm, has_perm, require
from analytics import metrics
from analytics.export import FORMATS, export_response
from analytics.labels import channel_label
from analytics.selectors import campaigns as selectors
from analytics.views.common import dashboard_query, render_dashboard

TABLE_KEYS = ("q", "sort", "page")
DETAIL_KEYS = ("account", "level", "ad_group", "target", "q", "sort", "page")
LEVEL_LABELS = {
    "ad_group": gettext_lazy("Ad groups"),
    "target": gettext_lazy("Keywords and targets"),
    "search_term": gettext_lazy("Search terms"),
}


def _int(value: str, default: int = 1) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _headers(query, table, path_: str, first_label) -> list[dict]:
    """Column headers with the link that sorts by them (descending first for metrics, ascending for names)."""
    headers = []
    for key, label in (("name", first_label), *((k, metrics.METRICS[k].label) for k in selectors.COLUMNS)):
        current = table.sort.removeprefix("-") == key
        descending = table.sort.startswith("-")
        # the current column flips direction; another starts descending (metrics) or ascending (names)
        target = (key if descending else f"-{key}") if current else (key if key == "name" else f"-{key}")
        headers.append(
            {
                "key": key,
                "label": label,
                "url": f"{path_}?{query.querystring(sort=target, page=None)}",
                "aria_sort": ("descending" if descending else "ascending") if current else "",
                "numeric": key != "name",
            }
        )
    return headers


def _pager(query, table, path_: str) -> dict:
    def url(page):
        return f"{path_}?{query.querystring(page=page if page > 1 else None)}"

    return {
        "previous": url(table.page - 1) if table.page > 1 else "",
        "next": url(table.page + 1) if table.page < table.pages else "",
        "first": url(1) if table.page > table.pages else "",
    }


def _exports(request, name: str, query, **kwargs) -> list[tuple[str, str]]:
    if not has_perm(request.membership.role, Perm.EXPORT):
        return []
    url = reverse(name, kwargs={"org_slug": request.organization.slug, **kwargs})
    return [(fmt.upper(), f"{url}?{query.querystring(format=fmt, page=None)}") for fmt in FORMATS]


def _keep(query) -> list[tuple[str, str]]:
    """The view's parameters a search form must carry (a new search starts on page 1)."""
    return [(key, value) for key, value in query.params() if key not in {"q", "page"}]


@require_GET
@require(Perm.VIEW)
def campaigns(request, org_slug):
    query = dashboard_query(request, extra_keys=TABLE_KEYS)
    organization = request.organization
    table = selectors.campaign_table(
        organization=organization,
        query=query,
        search=query.param("q"),
        sort=query.param("sort", selectors.DEFAULT_SORT),
        page=_int(query.param("page")),
    )
    selectors.spend_sparklines(organization=organization, query=query, rows=table.rows)
    for row in table.rows:
        row.channel_label = channel_label(row.keys["channel"])
        try:
            detail = reverse(
                "analytics_campaign_detail",
                kwargs={"org_slug": org_slug, "channel": row.keys["channel"], "campaign_id": row.keys["campaign_id"]},
            )
        except NoReverseMatch:  # an id that cannot be a path segment (Shopee's shop-level "all ads" has none)
            row.link = None
            continue
        row.link = f"{detail}?{query.querystring(account=row.keys['account_id'], q=None, sort=None, page=None)}"
    context = {
        "table": table,
        "headers": _headers(query, table, request.path, _("Campaign")),
        "pager": _pager(query, table, request.path),
        "exports": _exports(request, "analytics_campaigns_export", query),
        "search": query.param("q"),
        "keep_params": _keep(query),
        "spark_width": selectors.SPARK_WIDTH,
        "spark_height": selectors.SPARK_HEIGHT,
    }
    return render_dashboard(request, "analytics/campaigns.html", context, query=query, partial="campaign-table")


def _metric_columns():
    columns = []
    for key in selectors.COLUMNS:
        label = metrics.METRICS[key].label
        columns += [(key, label), (f"{key}_change", _("%(metric)s change") % {"metric": label})]
    return columns


def _fmt(request) -> str:
    fmt = request.GET.get("format", "csv")
    if fmt not in FORMATS:
        raise Http404
    return fmt


@require_GET
@require(Perm.EXPORT)
def campaigns_export(request, org_slug):
    query = dashboard_query(request, extra_keys=TABLE_KEYS)
    fmt = _fmt(request)
    table = selectors.campaign_table(
        organization=request.organization,
        query=query,
        search=query.param("q"),
        sort=query.param("sort", selectors.DEFAULT_SORT),
        page_size=None,
    )
    rows = []
    for row in table.rows:
        out = row.export()
        out["channel"] = channel_label(row.keys["channel"])
        rows.append(out)
    columns = [
        ("channel", _("Channel")),
        ("account_id", _("Account")),
        ("campaign_id", _("Campaign ID")),
        ("label", _("Campaign")),
        ("marketplace", _("Marketplace")),
        ("currency", _("Currency")),
        *_metric_columns(),
    ]
    return export_response(
        name="campaigns",
        columns=columns,
        rows=rows,
        fmt=fmt,
        start=query.start,
        end=query.end,
        currency=table.money.home or "original",
    )


def _detail(request, org_slug, channel, campaign_id):
    query = dashboard_query(request, extra_keys=DETAIL_KEYS)
    campaign = selectors.campaign_ref(
        organization=request.organization, channel=channel, campaign_id=campaign_id, account_id=query.param("account")
    )
    if campaign is None:
        raise Http404(_("No such campaign in this organization."))
    level = query.param("level", "ad_group")
    if level not in selectors.LEVELS:
        level = "ad_group"
    return query, campaign, level


@require_GET
@require(Perm.VIEW)
def campaign_detail(request, org_slug, channel, campaign_id):
    """One campaign's ad groups, keywords/targets or search terms (``?level=``), optionally inside one ad group
    (``?ad_group=``) or target (``?target=``)."""
    query, campaign, level = _detail(request, org_slug, channel, campaign_id)
    organization = request.organization
    ad_group, target = query.param("ad_group"), query.param("target")
    table = selectors.campaign_breakdown(
        organization=organization,
        query=query,
        campaign=campaign,
        level=level,
        ad_group=ad_group,
        target=target,
        search=query.param("q"),
        sort=query.param("sort", selectors.DEFAULT_SORT),
        page=_int(query.param("page")),
    )
    here = request.path

    def link(**changes):
        return f"{here}?{query.querystring(**{'q': None, 'sort': None, 'page': None, **changes})}"

    for row in table.rows:
        if level == "ad_group":
            row.link = link(level="target", ad_group=row.keys["ad_group_id"])
        elif level == "target":
            row.link = link(level="search_term", ad_group=row.keys["ad_group_id"] or None, target=row.keys["target_id"])
    names = selectors.names_of(organization=organization, campaign=campaign, ad_group=ad_group, target=target)
    levels = [(key, label, link(level=key), key == level) for key, label in LEVEL_LABELS.items()]
    crumbs = [
        (
            _("Campaigns"),
            reverse("analytics_campaigns", kwargs={"org_slug": org_slug})
            + "?"
            + query.querystring(account=None, level=None, ad_group=None, target=None, q=None, sort=None, page=None),
        ),
        (
            campaign.name,
            f"{here}?{query.querystring(level=None, ad_group=None, target=None, q=None, sort=None, page=None)}",
        ),
    ]
    if ad_group:
        crumbs.append(
            (
                names["ad_group"],
                f"{here}?{query.querystring(level='target', target=None, q=None, sort=None, page=None)}",
            )
        )
    if target:
        crumbs.append((names["target"], ""))
    first_label = {"ad_group": _("Ad group"), "target": _("Keyword or target"), "search_term": _("Search term")}[level]
    context = {
        "campaign": campaign,
        "channel_name": channel_label(channel),
        "level": level,
        "levels": levels,
        "crumbs": crumbs,
        "table": table,
        "headers": _headers(query, table, here, first_label),
        "pager": _pager(query, table, here),
        "exports": _exports(
            request, "analytics_campaign_detail_export", query, channel=channel, campaign_id=campaign_id
        ),
        "search": query.param("q"),
        "keep_params": _keep(query),
    }
    return render_dashboard(request, "analytics/campaign_detail.html", context, query=query, partial="breakdown-table")


@require_GET
@require(Perm.EXPORT)
def campaign_detail_export(request, org_slug, channel, campaign_id):
    query, campaign, level = _detail(request, org_slug, channel, campaign_id)
    fmt = _fmt(request)
    table = selectors.campaign_breakdown(
        organization=request.organization,
        query=query,
        campaign=campaign,
        level=level,
        ad_group=query.param("ad_group"),
        target=query.param("target"),
        search=query.param("q"),
        sort=query.param("sort", selectors.DEFAULT_SORT),
        page_size=None,
    )
    spec = selectors.LEVELS[level]
    key_labels = {
        "ad_group_id": _("Ad group ID"),
        "target_id": _("Target ID"),
        "match_type": _("Match type"),
        "search_term": _("Search term"),
    }
    label = {"ad_group": _("Ad group"), "target": _("Keyword or target"), "search_term": _("Search term")}[level]
    columns = [
        *[(key, key_labels[key]) for key in spec.group if key != "search_term"],
        ("label", label),
        ("currency", _("Currency")),
        *_metric_columns(),
    ]
    return export_response(
        name=f"campaign-{campaign.campaign_id}-{level}",
        columns=columns,
        rows=[row.export() for row in table.rows],
        fmt=fmt,
        start=query.start,
        end=query.end,
        currency=table.money.home or "original",
    )


urlpatterns = [
    path("campaigns/", campaigns, name="analytics_campaigns"),
    path("campaigns/export/", campaigns_export, name="analytics_campaigns_export"),
    path("campaigns/<str:channel>/<str:campaign_id>/", campaign_detail, name="analytics_campaign_detail"),
    path(
        "campaigns/<str:channel>/<str:campaign_id>/export/",
        campaign_detail_export,
        name="analytics_campaign_detail_export",
    ),
]
