"""Reads for the keyword tools: the search-term frame from the facts, and the keywords and negatives in place.

The search-term frame of a big seller is a million fact rows for a two-month window. PostgreSQL sums them
(one ``GROUP BY`` over the organization's rows, through the ``analytics_adperf_day_idx`` index) and streams the
result out with ``COPY ... TO STDOUT`` into ``pandas.read_csv``: no model instances, no per-row Python. The
frame's shape is described in ``campaigns.keywords`` (one row per campaign, ad group, target and search term).
Ids in the keyword and negative frames are the platforms' own (``external_id``), as the facts carry them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import Count, Exists, F, FloatField, Max, OuterRef, Q, Sum, Value, Window
from django.db.models.functions import Cast, Coalesce, NullIf

from accounts.models import Organization
from analytics.models import AdPerformanceDaily, Grain
from campaigns.models import (
    OPEN_PROPOSAL_STATUSES,
    AdvertisedProduct,
    Campaign,
    MatchType,
    NegativeKeyword,
    Proposal,
    ProposalStatus,
    Target,
    ToolRun,
)

TEXT_COLUMNS = [
    "channel",
    "account_id",
    "marketplace",
    "currency",
    "campaign_id",
    "campaign_name",
    "ad_group_id",
    "ad_group_name",
    "target_text",
    "match_type",
    "search_term",
]
NUMBER_COLUMNS = {
    "impressions": np.int64,
    "clicks": np.int64,
    "cost": np.float64,
    "orders": np.int64,
    "sales": np.float64,
}
SEARCH_TERM_COLUMNS = [*TEXT_COLUMNS, *NUMBER_COLUMNS]
KEYWORD_COLUMNS = ["channel", "account_id", "marketplace", "campaign_id", "ad_group_id", "text", "match_type", "state"]
# A big organization's aggregate needs room to hash in memory rather than spill to disk.
AGGREGATE_WORK_MEM = "256MB"


def search_terms_frame(
    *,
    organization: Organization,
    start: date,
    end: date,
    channels: Sequence[str] | None = None,
    marketplaces: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The organization's search-term facts from ``start`` to ``end`` (inclusive), summed per (channel,
    account_id, marketplace, currency, campaign_id, campaign_name, ad_group_id, ad_group_name, target_text,
    match_type, search_term); optionally only some channels or marketplaces. Numeric columns: impressions,
    clicks, orders (int64), cost, sales (float64, in ``currency``). A campaign renamed within the window
    shows under both names; the keyword tools group by ids, so that splits nothing they compute."""
    table = AdPerformanceDaily._meta.db_table
    filters = ["organization_id = %s", "grain = %s", "date >= %s", "date <= %s"]
    params: list = [organization.pk, Grain.SEARCH_TERM.value, start, end]
    if channels is not None:
        filters.append("channel = ANY(%s)")
        params.append(list(channels))
    if marketplaces is not None:
        filters.append("marketplace = ANY(%s)")
        params.append(list(marketplaces))
    # Amounts are summed as float8: the frame holds float64 anyway, and numeric sums cost the aggregate
    # several times the memory and time. The most varied column leads the grouping (cheaper comparisons).
    group = ", ".join(["search_term", *(column for column in TEXT_COLUMNS if column != "search_term")])
    query = (
        f"SELECT {', '.join(TEXT_COLUMNS)}, sum(impressions)::int8, sum(clicks)::int8, sum(cost::float8), "
        f"sum(orders)::int8, sum(sales::float8) FROM {table} WHERE {' AND '.join(filters)} GROUP BY {group}"
    )
    buffer = io.BytesIO()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{AGGREGATE_WORK_MEM}'")
        cursor.execute("SET LOCAL jit = off")  # compiling the aggregate costs more than it saves here
        # Nearly every row is its own group: parallel partial aggregates would hash everything twice.
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        with cursor.cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", params) as copy:
            for block in copy:
                buffer.write(block)
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return _empty_search_terms()
    return pd.read_csv(
        buffer,
        header=None,
        names=SEARCH_TERM_COLUMNS,
        dtype={**dict.fromkeys(TEXT_COLUMNS, str), **NUMBER_COLUMNS},
        keep_default_na=False,
        na_filter=False,
        engine="c",
    )


def _empty_search_terms() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **{column: pd.Series(dtype=str) for column in TEXT_COLUMNS},
            **{column: pd.Series(dtype=dtype) for column, dtype in NUMBER_COLUMNS.items()},
        }
    )


def keywords_frame(*, organization: Organization) -> pd.DataFrame:
    """The organization's positive keywords (EXACT, PHRASE, BROAD; product and automatic targets left out):
    channel, account_id, marketplace, campaign_id, ad_group_id, text, match_type, state, bid (float, NaN when
    the ad group's default applies)."""
    rows = (
        Target.unscoped_objects.filter(
            organization=organization, match_type__in=[MatchType.EXACT, MatchType.PHRASE, MatchType.BROAD]
        )
        .order_by("ad_group__campaign__external_id", "ad_group__external_id", "text", "match_type", "pk")
        .values_list(
            "ad_group__campaign__ad_account__channel",
            "ad_group__campaign__ad_account__external_id",
            "ad_group__campaign__ad_account__marketplace",
            "ad_group__campaign__external_id",
            "ad_group__external_id",
            "text",
            "match_type",
            "state",
            "bid",
        )
    )
    frame = pd.DataFrame(list(rows), columns=[*KEYWORD_COLUMNS, "bid"])
    frame["bid"] = pd.to_numeric(frame["bid"], errors="coerce").astype(np.float64)
    return frame.astype(dict.fromkeys(KEYWORD_COLUMNS, object))


def negatives_frame(*, organization: Organization) -> pd.DataFrame:
    """The organization's negative keywords: channel, account_id, marketplace, campaign_id, ad_group_id ('' at
    campaign level), text, match_type (NEGATIVE_EXACT / NEGATIVE_PHRASE), state."""
    rows = (
        NegativeKeyword.unscoped_objects.filter(organization=organization)
        .annotate(ad_group_external_id=Coalesce(F("ad_group__external_id"), Value("")))
        .order_by("campaign__external_id", "ad_group_external_id", "text", "match_type", "pk")
        .values_list(
            "campaign__ad_account__channel",
            "campaign__ad_account__external_id",
            "campaign__ad_account__marketplace",
            "campaign__external_id",
            "ad_group_external_id",
            "text",
            "match_type",
            "state",
        )
    )
    return pd.DataFrame(list(rows), columns=KEYWORD_COLUMNS).astype(dict.fromkeys(KEYWORD_COLUMNS, object))


# --- the Keywords and Changes pages -------------------------------------------------------------------------------

SEARCH_TERM_PAGE_SIZE = 50
SEARCH_TERM_KEYS = ("channel", "account_id", "marketplace", "currency", "campaign_id", "ad_group_id", "search_term")
# sort key in the URL -> the column it orders by; every metric can be sorted, ratios without a value last
SEARCH_TERM_SORTS = {
    "term": "search_term",
    "impressions": "impressions_sum",
    "clicks": "clicks_sum",
    "spend": "spend",
    "orders": "orders_sum",
    "sales": "sales_sum",
    "acos": "acos",
    "cvr": "cvr",
}
SEARCH_TERM_DEFAULT_SORT = "-spend"


@dataclass(frozen=True)
class SearchTermTable:
    """One page of search terms summed per campaign and ad group, and where the page sits in the whole."""

    rows: list[dict]
    total_rows: int
    page: int
    pages: int


def _search_term_facts(organization: Organization, start: date, end: date, channels, marketplaces):
    facts = AdPerformanceDaily.unscoped_objects.filter(
        organization=organization, grain=Grain.SEARCH_TERM, date__gte=start, date__lte=end
    )
    if channels:
        facts = facts.filter(channel__in=list(channels))
    if marketplaces:
        facts = facts.filter(marketplace__in=list(marketplaces))
    return facts


def search_term_table(
    *,
    organization: Organization,
    start: date,
    end: date,
    channels: Sequence[str] = (),
    marketplaces: Sequence[str] = (),
    search: str = "",
    sort: str = SEARCH_TERM_DEFAULT_SORT,
    page: int = 1,
    page_size: int = SEARCH_TERM_PAGE_SIZE,
) -> SearchTermTable:
    """The search terms of ``start``..``end`` summed per (channel, account, marketplace, currency, campaign, ad
    group, term), filtered by channels, marketplaces and a case-insensitive ``search`` in the term, sorted by one
    of ``SEARCH_TERM_SORTS`` (``-`` for descending) and cut to one page in the database.

    Each row: the keys, campaign_name and ad_group_name (the latest-sorting name when renamed in the window),
    impressions, clicks, orders (int), spend and sales (Decimal, in ``currency``), acos and cvr (float, None
    without sales or clicks). One query (the total rides along as a window count); a page past the end costs a
    second one to count."""
    facts = _search_term_facts(organization, start, end, channels, marketplaces)
    if search.strip():
        facts = facts.filter(search_term__icontains=search.strip())
    grouped = (
        facts.order_by()
        .values(*SEARCH_TERM_KEYS)
        .annotate(
            campaign_label=Max("campaign_name"),
            ad_group_label=Max("ad_group_name"),
            impressions_sum=Sum("impressions"),
            clicks_sum=Sum("clicks"),
            spend=Sum("cost"),
            orders_sum=Sum("orders"),
            sales_sum=Sum("sales"),
        )
        .annotate(
            acos=Cast(F("spend"), FloatField()) / NullIf(Cast(F("sales_sum"), FloatField()), Value(0.0)),
            cvr=Cast(F("orders_sum"), FloatField()) / NullIf(Cast(F("clicks_sum"), FloatField()), Value(0.0)),
        )
    )
    key = sort.removeprefix("-")
    if key not in SEARCH_TERM_SORTS:
        sort, key = SEARCH_TERM_DEFAULT_SORT, SEARCH_TERM_DEFAULT_SORT.removeprefix("-")
    column = F(SEARCH_TERM_SORTS[key])
    order = column.desc(nulls_last=True) if sort.startswith("-") else column.asc(nulls_last=True)
    page = max(1, page)
    offset = (page - 1) * page_size
    found = list(
        grouped.annotate(total_rows=Window(Count("*"))).order_by(order, *SEARCH_TERM_KEYS)[offset : offset + page_size]
    )
    total = found[0]["total_rows"] if found else grouped.count() if page > 1 else 0
    rows = [
        {
            **{name: row[name] for name in SEARCH_TERM_KEYS},
            "campaign_name": row["campaign_label"],
            "ad_group_name": row["ad_group_label"],
            "impressions": row["impressions_sum"],
            "clicks": row["clicks_sum"],
            "spend": row["spend"],
            "orders": row["orders_sum"],
            "sales": row["sales_sum"],
            "acos": row["acos"],
            "cvr": row["cvr"],
        }
        for row in found
    ]
    return SearchTermTable(rows=rows, total_rows=total, page=page, pages=max(1, math.ceil(total / page_size)))


def search_term_filter_options(*, organization: Organization, start: date, end: date) -> dict[str, list[str]]:
    """The channels and marketplaces that have search-term facts from ``start`` to ``end``."""
    pairs = set(
        _search_term_facts(organization, start, end, (), ()).order_by().values_list("channel", "marketplace").distinct()
    )
    return {
        "channels": sorted({channel for channel, _marketplace in pairs}),
        "marketplaces": sorted({marketplace for _channel, marketplace in pairs if marketplace}),
    }


def search_terms_in_campaigns(
    *, organization: Organization, start: date, end: date, campaigns: Iterable[tuple[str, str, str]]
) -> pd.DataFrame:
    """The search-term frame (``search_terms_frame``'s shape) of a few campaigns, each given as (channel,
    account_id, campaign_id): for checks on a page of proposals, where scanning every campaign would waste the
    organization's whole window. Reads through the (organization, campaign_id, grain, date) index."""
    wanted = {tuple(str(part) for part in campaign) for campaign in campaigns}
    if not wanted:
        return _empty_search_terms()
    sums = {"impressions": "impressions", "clicks": "clicks", "cost": "cost", "orders": "orders", "sales": "sales"}
    rows = (
        AdPerformanceDaily.unscoped_objects.filter(
            organization=organization,
            grain=Grain.SEARCH_TERM,
            date__gte=start,
            date__lte=end,
            campaign_id__in=sorted({campaign_id for _channel, _account, campaign_id in wanted}),
            channel__in=sorted({channel for channel, _account, _campaign in wanted}),
        )
        .order_by()
        .values(*TEXT_COLUMNS)
        .annotate(**{f"{name}_total": Sum(field) for name, field in sums.items()})
        .values_list(*TEXT_COLUMNS, *(f"{name}_total" for name in sums))
    )
    frame = pd.DataFrame(list(rows), columns=SEARCH_TERM_COLUMNS)
    if frame.empty:
        return _empty_search_terms()
    keep = [
        (channel, account, campaign) in wanted
        for channel, account, campaign in zip(frame["channel"], frame["account_id"], frame["campaign_id"], strict=True)
    ]
    frame = frame[keep].reset_index(drop=True)
    return frame.astype({**dict.fromkeys(TEXT_COLUMNS, object), **NUMBER_COLUMNS})


def keywords_in_campaigns(*, organization: Organization, campaigns: Iterable[tuple[str, str, str]]) -> pd.DataFrame:
    """``keywords_frame`` for a few campaigns, each given as (channel, account_id, campaign_id)."""
    wanted = {tuple(str(part) for part in campaign) for campaign in campaigns}
    columns = [*KEYWORD_COLUMNS, "bid"]
    if not wanted:
        return pd.DataFrame(columns=columns).astype(dict.fromkeys(KEYWORD_COLUMNS, object))
    rows = (
        Target.unscoped_objects.filter(
            organization=organization,
            match_type__in=[MatchType.EXACT, MatchType.PHRASE, MatchType.BROAD],
            ad_group__campaign__external_id__in=sorted({campaign_id for _channel, _account, campaign_id in wanted}),
        )
        .order_by("ad_group__campaign__external_id", "ad_group__external_id", "text", "match_type", "pk")
        .values_list(
            "ad_group__campaign__ad_account__channel",
            "ad_group__campaign__ad_account__external_id",
            "ad_group__campaign__ad_account__marketplace",
            "ad_group__campaign__external_id",
            "ad_group__external_id",
            "text",
            "match_type",
            "state",
            "bid",
        )
    )
    frame = pd.DataFrame([row for row in rows if (row[0], row[1], row[3]) in wanted], columns=columns)
    frame["bid"] = pd.to_numeric(frame["bid"], errors="coerce").astype(np.float64)
    return frame.astype(dict.fromkeys(KEYWORD_COLUMNS, object)).reset_index(drop=True)


PROPOSAL_PAGE_SIZE = 50
# Statuses the Changes page filters by, beyond each single status: everything, and what is on its way out.
IN_FLIGHT_STATUSES = (ProposalStatus.APPROVED, ProposalStatus.PUSHING)


def proposals_page(
    *,
    organization: Organization,
    statuses: Sequence[str] = (),
    kinds: Sequence[str] = (),
    channels: Sequence[str] = (),
    run_ids: Sequence[int] = (),
    page: int | str | None = 1,
    page_size: int = PROPOSAL_PAGE_SIZE,
) -> Page:
    """One page of the organization's proposals (empty filters mean all), newest run first and each run in the
    order its tool proposed. Rows carry their run and ``rollback_open`` (a rollback of it is still on its way),
    so the page needs no query per row. Two queries: the count and the page."""
    proposals = Proposal.unscoped_objects.filter(organization=organization).select_related("run")
    if statuses:
        proposals = proposals.filter(status__in=list(statuses))
    if kinds:
        proposals = proposals.filter(kind__in=list(kinds))
    if channels:
        proposals = proposals.filter(channel__in=list(channels))
    if run_ids:
        proposals = proposals.filter(run_id__in=list(run_ids))
    open_rollbacks = Proposal.unscoped_objects.filter(
        organization=organization, rollback_of=OuterRef("pk"), status__in=OPEN_PROPOSAL_STATUSES
    )
    proposals = proposals.annotate(rollback_open=Exists(open_rollbacks)).order_by(
        Coalesce("run__created_at", "created_at").desc(), "pk"
    )
    return Paginator(proposals, page_size).get_page(page)


def tool_runs_for_filter(*, organization: Organization, limit: int = 20, include: Sequence[int] = ()) -> list[ToolRun]:
    """The organization's latest tool runs, plus the runs in ``include`` (a filter from an older link), newest
    first. One query."""
    latest = ToolRun.unscoped_objects.filter(organization=organization).order_by("-created_at").values("pk")[:limit]
    return list(
        ToolRun.unscoped_objects.filter(organization=organization)
        .filter(Q(pk__in=latest) | Q(pk__in=list(include)))
        .order_by("-created_at", "-pk")
    )


# --- the Keywords page: the keywords and targets in place ---------------------------------------------------------

KEYWORD_PAGE_SIZE = 50
# sort key in the URL -> the columns it orders by; ties fall back to the newest row, then the id, so pages never
# overlap. A keyword without its own bid sorts by the ad group's default bid, which is the one it bids.
KEYWORD_SORTS = {
    "keyword": ("text", "match_type"),
    "campaign": ("campaign_name", "ad_group_name"),
    "match": ("match_type",),
    "bid": ("bid_in_force",),
    "state": ("state",),
    "seen": ("created_at",),
}
KEYWORD_DEFAULT_SORT = "-seen"


@dataclass(frozen=True)
class KeywordTable:
    """One page of the organization's keywords and targets, and where the page sits in the whole."""

    rows: list[dict]
    total_rows: int
    page: int
    pages: int


def keywords_in_place(
    *,
    organization: Organization,
    channels: Sequence[str] = (),
    marketplaces: Sequence[str] = (),
    campaigns: Sequence[str] = (),
    search: str = "",
    sort: str = KEYWORD_DEFAULT_SORT,
    page: int = 1,
    page_size: int = KEYWORD_PAGE_SIZE,
) -> KeywordTable:
    """The keywords and targets the syncs stored for the organization (every match type and state), filtered by
    the channels and marketplaces of their ad accounts, by campaign (``campaigns``: the platforms' campaign ids)
    and by a case-insensitive ``search`` in the text; sorted by one of ``KEYWORD_SORTS`` (``-`` for descending,
    newest first by default, so what the last sync brought in comes first) and cut to one page in the database.

    Each row: pk, text, match_type, state, bid (Decimal, None when the ad group's default applies), default_bid
    (the ad group's), currency, channel, account_id, marketplace, campaign_id, campaign_name, ad_group_id,
    ad_group_name, created_at (when a sync first stored it) and updated_at (when a sync last wrote it). One query
    (the total rides along as a window count); a page past the end costs a second one to count."""
    targets = Target.unscoped_objects.filter(organization=organization)
    if channels:
        targets = targets.filter(ad_group__campaign__ad_account__channel__in=list(channels))
    if marketplaces:
        targets = targets.filter(ad_group__campaign__ad_account__marketplace__in=list(marketplaces))
    if campaigns:
        targets = targets.filter(ad_group__campaign__external_id__in=[str(campaign) for campaign in campaigns])
    if search.strip():
        targets = targets.filter(text__icontains=search.strip())
    key = sort.removeprefix("-")
    if key not in KEYWORD_SORTS:
        sort, key = KEYWORD_DEFAULT_SORT, KEYWORD_DEFAULT_SORT.removeprefix("-")
    descending = sort.startswith("-")
    order = [
        F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
        for column in KEYWORD_SORTS[key]
    ]
    # row key -> the column it reads ("ad_group_id" and the like cannot be annotation names: Target has them)
    columns = {
        "pk": "pk",
        "text": "text",
        "match_type": "match_type",
        "state": "state",
        "bid": "bid",
        "default_bid": "ad_group__default_bid",
        "currency": "ad_group__campaign__ad_account__currency",
        "channel": "ad_group__campaign__ad_account__channel",
        "account_id": "ad_group__campaign__ad_account__external_id",
        "marketplace": "ad_group__campaign__ad_account__marketplace",
        "campaign_id": "ad_group__campaign__external_id",
        "campaign_name": "ad_group__campaign__name",
        "ad_group_id": "ad_group__external_id",
        "ad_group_name": "ad_group__name",
        "created_at": "created_at",
        "updated_at": "updated_at",
    }
    page = max(1, page)
    offset = (page - 1) * page_size
    found = list(
        targets.annotate(
            campaign_name=F("ad_group__campaign__name"),
            ad_group_name=F("ad_group__name"),
            bid_in_force=Coalesce("bid", "ad_group__default_bid"),
            total_rows=Window(Count("*")),
        )
        .order_by(*order, "-created_at", "-pk")
        .values_list(*columns.values(), "total_rows")[offset : offset + page_size]
    )
    total = found[0][-1] if found else targets.count() if page > 1 else 0
    rows = [dict(zip(columns, row[:-1], strict=True)) for row in found]
    return KeywordTable(rows=rows, total_rows=total, page=page, pages=max(1, math.ceil(total / page_size)))


def keyword_campaign_options(*, organization: Organization) -> list[dict]:
    """The organization's campaigns that hold keywords or targets, for the campaign filter: campaign_id (the
    platform's), name, channel and marketplace, by name. One query."""
    holding = Target.unscoped_objects.filter(organization=organization, ad_group__campaign=OuterRef("pk"))
    return list(
        Campaign.unscoped_objects.filter(organization=organization)
        .filter(Exists(holding))
        .order_by("name", "external_id", "pk")
        .values(
            "name",
            campaign_id=F("external_id"),
            channel=F("ad_account__channel"),
            marketplace=F("ad_account__marketplace"),
        )
    )


PRODUCT_COLUMNS = [
    "channel",
    "account_id",
    "marketplace",
    "campaign_id",
    "campaign_name",
    "ad_group_id",
    "ad_group_name",
    "product_id",
]


def advertised_products_frame(*, organization: Organization) -> pd.DataFrame:
    """The products the organization advertises, one row per ad group and product: channel, account_id,
    marketplace, campaign_id, campaign_name, ad_group_id, ad_group_name (the platforms' ids, as the facts carry
    them) and product_id (the SKU, else the ASIN, else the platform's id). One query."""
    rows = (
        AdvertisedProduct.unscoped_objects.filter(organization=organization)
        .annotate(product=Coalesce(NullIf("sku", Value("")), NullIf("asin", Value("")), F("external_id")))
        .order_by("ad_group__campaign__external_id", "ad_group__external_id", "product", "pk")
        .values_list(
            "ad_group__campaign__ad_account__channel",
            "ad_group__campaign__ad_account__external_id",
            "ad_group__campaign__ad_account__marketplace",
            "ad_group__campaign__external_id",
            "ad_group__campaign__name",
            "ad_group__external_id",
            "ad_group__name",
            "product",
        )
    )
    return pd.DataFrame(list(rows), columns=PRODUCT_COLUMNS).astype(dict.fromkeys(PRODUCT_COLUMNS, object))
