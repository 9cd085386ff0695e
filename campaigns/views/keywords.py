"""The Keywords page: the search terms of a date range (a sortable, searchable, paged table), their n-grams, their
themes (terms grouped by spelling, with keyword suggestions) and the keywords and targets in place (what the syncs
found on the platforms, newest first), and the two tools run from it, harvesting converting terms and finding
negatives. A tool run proposes changes and sends the seller to the Changes page filtered to that run; nothing
reaches a platform before approval, and a pushed keyword shows in place once the next sync has read it back."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Perm, has_perm, require
from accounts.rendering import hx_redirect, is_partial, render_page
from analytics.labels import channel_label
from analytics.query import RANGES, DashboardQuery, today_in
from campaigns import selectors
from campaigns.forms import HarvestForm, NegativesForm, selected_terms, term_value
from campaigns.keywords.ngrams import ngram_table, wasted_roots
from campaigns.models import MatchType
from campaigns.services import keyword_tools

TEMPLATE = "campaigns/keywords.html"
PAGE_KEYS = ("tab", "q", "sort", "page", "n")
WINDOW_KEYS = {"range", "start", "end", "channel", "marketplace"}
TABS = {
    "terms": gettext_lazy("Search terms"),
    "ngrams": gettext_lazy("N-grams"),
    "in_place": gettext_lazy("Keywords in place"),
    "themes": gettext_lazy("Themes"),
}
NGRAM_PAGE_SIZE = 50
NGRAM_SORTS = {
    "ngram": "ngram",
    "terms": "terms",
    "impressions": "impressions",
    "clicks": "clicks",
    "spend": "cost",
    "orders": "orders",
    "sales": "sales",
    "acos": "acos",
    "cvr": "cvr",
}
METRIC_LABELS = {
    "impressions": gettext_lazy("Impressions"),
    "clicks": gettext_lazy("Clicks"),
    "spend": gettext_lazy("Spend"),
    "orders": gettext_lazy("Orders"),
    "sales": gettext_lazy("Sales"),
    "acos": gettext_lazy("ACoS"),
    "cvr": gettext_lazy("CVR"),
}


def _int(value: str, default: int = 1) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _percent(value) -> float | None:
    """A ratio as a percentage for display; no value (no sales, no clicks) stays None, never 0."""
    return None if value is None or value != value else float(value) * 100


def page_query(request) -> DashboardQuery:
    return DashboardQuery.from_request(request, extra_keys=PAGE_KEYS)


def posted_query(request) -> DashboardQuery:
    """The window and filters a tool form carries from the page it was posted from."""
    return DashboardQuery.from_params(request.POST, today=today_in(request.organization.time_zone))


def _headers(
    base: str,
    query: DashboardQuery,
    sort: str,
    columns: list[tuple[str, str]],
    *,
    ascending: set[str] | None = None,
    numeric: set[str] | None = None,
) -> list[dict]:
    """Column headers with the link that sorts by them: the current column flips, another starts ascending
    (text columns: the first one unless ``ascending`` names them) or descending (metrics). Numeric columns (all
    but the first unless ``numeric`` names them) align right."""
    ascending = {columns[0][0]} if ascending is None else ascending
    numeric = {key for key, _label in columns[1:]} if numeric is None else numeric
    headers = []
    descending = sort.startswith("-")
    for key, label in columns:
        current = sort.removeprefix("-") == key
        target = (key if descending else f"-{key}") if current else (key if key in ascending else f"-{key}")
        headers.append(
            {
                "label": label,
                "url": f"{base}?{query.querystring(sort=target, page=None)}",
                "aria_sort": ("descending" if descending else "ascending") if current else "",
                "numeric": key in numeric,
            }
        )
    return headers


def _pager(base: str, query: DashboardQuery, page: int, pages: int) -> dict:
    def url(number):
        return f"{base}?{query.querystring(page=number if number > 1 else None)}"

    return {
        "page": page,
        "pages": pages,
        "previous": url(page - 1) if page > 1 else "",
        "next": url(page + 1) if page < pages else "",
        "first": url(1) if page > pages else "",
    }


def _metric_columns() -> list[tuple[str, str]]:
    return [(key, METRIC_LABELS[key]) for key in ("clicks", "spend", "orders", "sales", "acos", "cvr")]


def _terms_tab(request, query: DashboardQuery, base: str) -> dict:
    sort = query.param("sort", selectors.SEARCH_TERM_DEFAULT_SORT)
    if sort.removeprefix("-") not in selectors.SEARCH_TERM_SORTS:
        sort = selectors.SEARCH_TERM_DEFAULT_SORT
    table = selectors.search_term_table(
        organization=request.organization,
        start=query.start,
        end=query.end,
        channels=query.channels,
        marketplaces=query.marketplaces,
        search=query.param("q"),
        sort=sort,
        page=_int(query.param("page")),
    )
    for row in table.rows:
        row["value"] = term_value(
            channel=row["channel"],
            account_id=row["account_id"],
            campaign_id=row["campaign_id"],
            search_term=row["search_term"],
        )
        row["channel_label"] = channel_label(row["channel"])
        row["acos_pct"], row["cvr_pct"] = _percent(row["acos"]), _percent(row["cvr"])
    return {
        "table": table,
        "headers": _headers(base, query, sort, [("term", _("Search term")), *_metric_columns()]),
        "pager": _pager(base, query, table.page, table.pages),
        "search": query.param("q"),
    }


def _ngrams_tab(request, query: DashboardQuery, base: str) -> dict:
    n = _int(query.param("n"), 1)
    n = n if n in (1, 2, 3) else 1
    sort = query.param("sort", "-spend")
    if sort.removeprefix("-") not in NGRAM_SORTS:
        sort = "-spend"
    frame = selectors.search_terms_frame(
        organization=request.organization,
        start=query.start,
        end=query.end,
        channels=list(query.channels) or None,
        marketplaces=list(query.marketplaces) or None,
    )
    table = ngram_table(terms=frame, n=(n,))
    roots = wasted_roots(table)
    wasted = set(zip(roots["language"], roots["currency"], roots["n"], roots["stem_key"], strict=True))
    column = NGRAM_SORTS[sort.removeprefix("-")]
    table = table.sort_values(
        [column, "cost", "stem_key"], ascending=[not sort.startswith("-"), False, True], na_position="last"
    )
    total = len(table)
    pages = max(1, -(-total // NGRAM_PAGE_SIZE))
    page = max(1, _int(query.param("page")))
    rows = table.iloc[(page - 1) * NGRAM_PAGE_SIZE : page * NGRAM_PAGE_SIZE].to_dict("records")
    for row in rows:
        row["wasted"] = (row["language"], row["currency"], row["n"], row["stem_key"]) in wasted
        row["acos_pct"], row["cvr_pct"] = _percent(row["acos"]), _percent(row["cvr"])
    n_links = [
        (k, f"{base}?{query.querystring(n=k if k > 1 else None, page=None, sort=None)}", k == n) for k in (1, 2, 3)
    ]
    return {
        "ngrams": rows,
        "ngram_total": total,
        "n": n,
        "n_links": n_links,
        "headers": _headers(
            base, query, sort, [("ngram", _("Words")), ("terms", _("Search terms")), *_metric_columns()]
        ),
        "pager": _pager(base, query, page, pages),
    }


def _in_place_tab(request, query: DashboardQuery, base: str) -> dict:
    """The keywords and targets the syncs stored, newest first, and the campaigns to filter them by (the campaign
    filter sits inside the tab, so the partial needs them too)."""
    sort = query.param("sort", selectors.KEYWORD_DEFAULT_SORT)
    if sort.removeprefix("-") not in selectors.KEYWORD_SORTS:
        sort = selectors.KEYWORD_DEFAULT_SORT
    table = selectors.keywords_in_place(
        organization=request.organization,
        channels=query.channels,
        marketplaces=query.marketplaces,
        campaigns=query.campaigns,
        search=query.param("q"),
        sort=sort,
        page=_int(query.param("page")),
    )
    match_labels = dict(MatchType.choices)
    for row in table.rows:
        row["channel_label"] = channel_label(row["channel"])
        row["match_label"] = match_labels.get(row["match_type"], row["match_type"])
    campaigns = selectors.keyword_campaign_options(organization=request.organization)
    for campaign in campaigns:
        campaign["channel_label"] = channel_label(campaign["channel"])
    columns = [
        ("keyword", _("Keyword or target")),
        ("campaign", _("Campaign / ad group")),
        ("match", _("Match type")),
        ("bid", _("Bid")),
        ("state", _("State")),
        ("seen", _("Seen since")),
    ]
    return {
        "table": table,
        "headers": _headers(
            base, query, sort, columns, ascending={"keyword", "campaign", "match", "state"}, numeric={"bid"}
        ),
        "pager": _pager(base, query, table.page, table.pages),
        "search": query.param("q"),
        "campaign_options": campaigns,
    }


def _themes_tab(request, query: DashboardQuery, base: str) -> dict:
    """The window's search terms grouped into themes (one clustering pass over the most expensive terms), each
    linked to the search terms containing its label, and the keywords worth adding. A fixed number of queries:
    the search-term frame, the advertised products and the keywords in place."""
    frame = selectors.search_terms_frame(
        organization=request.organization,
        start=query.start,
        end=query.end,
        channels=list(query.channels) or None,
        marketplaces=list(query.marketplaces) or None,
    )
    themes = keyword_tools.search_term_themes(terms=frame)
    for row in themes.rows:
        row["terms_url"] = f"{base}?{query.querystring(tab=None, sort=None, page=None, n=None, q=row['label'])}"
        row["acos_pct"], row["cvr_pct"] = _percent(row["acos"]), _percent(row["cvr"])
    suggestions = keyword_tools.keyword_suggestions(
        terms=frame,
        products=selectors.advertised_products_frame(organization=request.organization),
        keywords=selectors.keywords_frame(organization=request.organization),
    )
    match_labels = dict(MatchType.choices)
    for idea in suggestions:
        idea["match_label"] = match_labels.get(idea["match_type"], idea["match_type"])
        if "channel" in idea:
            idea["channel_label"] = channel_label(idea["channel"])
    return {
        "themes": themes,
        "theme_limit": keyword_tools.THEME_MAX_ROWS,
        "theme_term_limit": keyword_tools.THEME_MAX_TERMS,
        "suggestions": suggestions,
        "titles_only": bool(suggestions) and suggestions[0]["source"] == "title",
    }


def _tab_context(request, query: DashboardQuery, base: str, tab: str) -> dict:
    if tab == "ngrams":
        return _ngrams_tab(request, query, base)
    if tab == "in_place":
        return _in_place_tab(request, query, base)
    if tab == "themes":
        return _themes_tab(request, query, base)
    return _terms_tab(request, query, base)


def keyword_context(request, query: DashboardQuery, *, harvest_form=None, negatives_form=None) -> dict:
    """What the page (or the tab partial) shows for ``query``."""
    tab = query.param("tab", "terms")
    tab = tab if tab in TABS else "terms"
    base = reverse("keywords", kwargs={"org_slug": request.organization.slug})
    fresh = {"q": None, "sort": None, "page": None, "n": None, "campaigns": ()}
    tabs = [
        (label, f"{base}?{query.querystring(tab=key if key != 'terms' else None, **fresh)}", key == tab)
        for key, label in TABS.items()
    ]
    context = {
        "query": query,
        "base": base,
        "tab": tab,
        "tabs": tabs,
        "window_params": [(key, value) for key, value in query.params() if key in WINDOW_KEYS],
        "keep_params": [(key, value) for key, value in query.params() if key not in {"q", "page", "campaign"}],
        "can_run_tools": has_perm(request.membership.role, Perm.EDIT_CAMPAIGNS),
        **_tab_context(request, query, base, tab),
    }
    if not is_partial(request):
        context["harvest_form"] = harvest_form or HarvestForm()
        context["negatives_form"] = negatives_form or NegativesForm()
        if tab == "in_place":  # the channels and marketplaces of the campaigns listed, already read
            campaigns = context["campaign_options"]
            options = {
                "channels": sorted({campaign["channel"] for campaign in campaigns}),
                "marketplaces": sorted({campaign["marketplace"] for campaign in campaigns if campaign["marketplace"]}),
            }
        else:
            options = selectors.search_term_filter_options(
                organization=request.organization, start=query.start, end=query.end
            )
        context["channel_options"] = [(value, channel_label(value)) for value in options["channels"]]
        context["marketplace_options"] = options["marketplaces"]
        context["ranges"] = RANGES
    return context


@require_GET
@require(Perm.VIEW)
def keywords(request, org_slug):
    query = page_query(request)
    return render_page(request, TEMPLATE, keyword_context(request, query), partial="keyword-tab")


def _changes_url(request, run_id: int) -> str:
    url = reverse("changes", kwargs={"org_slug": request.organization.slug})
    return f"{url}?{urlencode({'run': run_id})}"


def _report(request, proposed) -> None:
    if not proposed.created and not proposed.skipped:
        messages.info(request, _("No search term met the thresholds in this date range: nothing was proposed."))
        return
    messages.success(
        request,
        ngettext(
            "%(created)s change proposed; %(skipped)s already had an open proposal and were not added again.",
            "%(created)s changes proposed; %(skipped)s already had an open proposal and were not added again.",
            proposed.created,
        )
        % {"created": proposed.created, "skipped": proposed.skipped},
    )


def _invalid(request, query: DashboardQuery, **forms):
    """A tool form with errors: the forms again (an HTMX swap), or the whole page without JavaScript."""
    if is_partial(request):
        context = {
            "harvest_form": forms.get("harvest_form") or HarvestForm(),
            "negatives_form": forms.get("negatives_form") or NegativesForm(),
            "window_params": [(key, value) for key, value in query.params() if key in WINDOW_KEYS],
            "can_run_tools": True,
        }
        return render_page(request, TEMPLATE, context, partial="tool-forms")
    return render_page(request, TEMPLATE, keyword_context(request, query, **forms), status=400)


def _back(request, query: DashboardQuery):
    url = reverse("keywords", kwargs={"org_slug": request.organization.slug})
    return hx_redirect(request, f"{url}?{query.querystring()}")


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def keyword_harvest(request, org_slug):
    """Harvest the converting terms of the posted window, or only the rows checked in the table
    (``mode=selected``)."""
    query = posted_query(request)
    selected = request.POST.get("mode") == "selected"
    terms = selected_terms(request.POST.getlist("term")) if selected else None
    if selected and not terms:
        messages.warning(request, _("Select at least one search term to harvest."))
        return _back(request, query)
    form = HarvestForm(request.POST, defaults=HarvestForm.selected_defaults if selected else None)
    if not form.is_valid():
        return _invalid(request, query, harvest_form=form)
    proposed = keyword_tools.harvest_run(
        organization=request.organization,
        actor=request.user,
        start=query.start,
        end=query.end,
        thresholds=form.thresholds(),
        channels=query.channels,
        marketplaces=query.marketplaces,
        terms=terms,
    )
    _report(request, proposed)
    return hx_redirect(request, _changes_url(request, proposed.run.pk))


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def keyword_negatives(request, org_slug):
    query = posted_query(request)
    form = NegativesForm(request.POST)
    if not form.is_valid():
        return _invalid(request, query, negatives_form=form)
    proposed = keyword_tools.negatives_run(
        organization=request.organization,
        actor=request.user,
        start=query.start,
        end=query.end,
        channels=query.channels,
        marketplaces=query.marketplaces,
        **form.parameters(),
    )
    _report(request, proposed)
    return hx_redirect(request, _changes_url(request, proposed.run.pk))


urlpatterns = [
    path("keywords/", keywords, name="keywords"),
    path("keywords/harvest/", keyword_harvest, name="keywords_harvest"),
    path("keywords/negatives/", keyword_negatives, name="keywords_negatives"),
]
