"""Reads for the bid and budget proposers and the market calendar.

The bid proposer needs each keyword or target's results per day next to its current bid; the budget allocator
needs each campaign's results over a window next to its current budget. Both come from one SQL statement that
joins the facts (or rollups), keyed by the platforms' ids, to the unified entities (``AdAccount`` ->
``Campaign`` -> ``AdGroup`` -> ``Target``), so the cost does not grow with the number of targets or campaigns.
Facts of an entity the sync has not stored (no ``Target`` row) are left out: without a current bid there is
nothing to step from, and no id a push could address.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum, Window
from django.db.models.functions import RowNumber
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Organization
from analytics.models import AdPerformanceDaily, AdRollupDaily, DataSource, Grain
from analytics.selectors.freshness import provisional_since
from campaigns import calendar
from campaigns.calendar import MARKETPLACE_ALIASES, PRIME_DAY_NAME, SHOPPING, Event, Suggestion
from campaigns.models import AdAccount, AdGroup, AdvertisedProduct, Campaign, Proposal, SellerEvent, Target, ToolRun

TARGET_TEXT_COLUMNS = [
    "channel",
    "account_id",
    "marketplace",
    "currency",
    "campaign_id",
    "campaign_name",
    "ad_group_id",
    "ad_group_name",
    "target_id",
    "text",
    "match_type",
    "state",
]
TARGET_KEY_COLUMNS = ["campaign_pk", "ad_group_pk", "target_pk"]
TARGET_NUMBER_COLUMNS = {
    "impressions": np.int64,
    "clicks": np.int64,
    "cost": np.float64,
    "orders": np.int64,
    "units": np.int64,
    "sales": np.float64,
}
TARGET_DAILY_COLUMNS = [*TARGET_TEXT_COLUMNS, *TARGET_KEY_COLUMNS, "bid", "date", *TARGET_NUMBER_COLUMNS]

CAMPAIGN_TEXT_COLUMNS = [
    "channel",
    "account_id",
    "marketplace",
    "currency",
    "campaign_id",
    "campaign_name",
    "state",
    "budget_type",
]
CAMPAIGN_NUMBER_COLUMNS = {
    "impressions": np.int64,
    "clicks": np.int64,
    "spend": np.float64,
    "orders": np.int64,
    "sales": np.float64,
}
CAMPAIGN_WINDOW_COLUMNS = [*CAMPAIGN_TEXT_COLUMNS, "campaign_pk", "budget", *CAMPAIGN_NUMBER_COLUMNS]

# States in which an entity no longer serves; every platform spells them its own way.
INACTIVE_STATES = frozenset(
    {"paused", "archived", "removed", "deleted", "ended", "disabled", "inactive", "suspended", "completed"}
)
GONE_STATES = frozenset({"archived", "removed", "deleted"})


def _in_list(column: str, values: Sequence[str], params: list) -> str:
    params.append(list(values))
    return f"{column} = ANY(%s)"


def _copy_frame(query: str, params: list, *, names: list[str], dtype: dict) -> pd.DataFrame | None:
    """The rows of ``query`` through ``COPY ... TO STDOUT`` into pandas; None when there are none."""
    buffer = io.BytesIO()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # compiling the aggregate costs more than it saves here
        with cursor.cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", params) as copy:
            for block in copy:
                buffer.write(block)
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return None
    return pd.read_csv(
        buffer, header=None, names=names, dtype=dtype, keep_default_na=False, na_filter=False, engine="c"
    )


def target_daily_frame(
    *,
    organization: Organization,
    start: date,
    end: date,
    channels: Sequence[str] = (),
    accounts: Sequence[str] = (),
) -> pd.DataFrame:
    """The organization's keyword and target facts from ``start`` to ``end`` (inclusive), one row per target
    and day, joined to the stored target: ``TARGET_DAILY_COLUMNS``.

    Ids are the platforms' (campaign_id, ad_group_id, target_id, account_id) plus our primary keys
    (campaign_pk, ad_group_pk, target_pk), which are unique across accounts and channels. ``bid`` is the
    target's current bid, or its ad group's default bid when it has none (NaN when neither is known); the
    facts keep no bid history, so every day carries today's bid. ``currency`` is the ad account's. Targets
    that are archived or removed are left out. Empty ``channels``/``accounts`` mean all. One query."""
    facts = AdPerformanceDaily._meta.db_table
    params: list = [organization.pk, Grain.TARGET.value, start, end]
    fact_filters = ["organization_id = %s", "grain = %s", "date >= %s", "date <= %s"]
    if channels:
        fact_filters.append(_in_list("channel", channels, params))
    if accounts:
        fact_filters.append(_in_list("account_id", accounts, params))
    params += [organization.pk, sorted(GONE_STATES)]
    query = f"""
        WITH f AS (
            SELECT channel, account_id, campaign_id, ad_group_id, target_id, date,
                   sum(impressions)::int8 AS impressions, sum(clicks)::int8 AS clicks, sum(cost::float8) AS cost,
                   sum(orders)::int8 AS orders, sum(units)::int8 AS units, sum(sales::float8) AS sales
            FROM {facts} WHERE {" AND ".join(fact_filters)}
            GROUP BY channel, account_id, campaign_id, ad_group_id, target_id, date
        )
        SELECT a.channel, a.external_id, a.marketplace, a.currency, c.external_id, c.name, g.external_id, g.name,
               t.external_id, t.text, t.match_type, t.state, c.id, g.id, t.id,
               coalesce(t.bid, g.default_bid)::float8, f.date,
               f.impressions, f.clicks, f.cost, f.orders, f.units, f.sales
        FROM f
        JOIN {AdAccount._meta.db_table} a
          ON a.organization_id = %s AND a.channel = f.channel AND a.external_id = f.account_id
        JOIN {Campaign._meta.db_table} c
          ON c.organization_id = a.organization_id AND c.ad_account_id = a.id AND c.external_id = f.campaign_id
        JOIN {AdGroup._meta.db_table} g
          ON g.organization_id = a.organization_id AND g.campaign_id = c.id AND g.external_id = f.ad_group_id
        JOIN {Target._meta.db_table} t
          ON t.organization_id = a.organization_id AND t.ad_group_id = g.id AND t.external_id = f.target_id
        WHERE NOT (lower(t.state) = ANY(%s))
        ORDER BY c.id, g.id, t.id, f.date
    """
    frame = _copy_frame(
        query,
        params,
        names=TARGET_DAILY_COLUMNS,
        dtype={
            **dict.fromkeys(TARGET_TEXT_COLUMNS, str),
            **dict.fromkeys(TARGET_KEY_COLUMNS, np.int64),
            "bid": str,
            "date": str,
            **TARGET_NUMBER_COLUMNS,
        },
    )
    if frame is None:
        return pd.DataFrame(
            {
                **{column: pd.Series(dtype=object) for column in TARGET_TEXT_COLUMNS},
                **{column: pd.Series(dtype=np.int64) for column in TARGET_KEY_COLUMNS},
                "bid": pd.Series(dtype=np.float64),
                "date": pd.Series(dtype="datetime64[ns]"),
                **{column: pd.Series(dtype=dtype) for column, dtype in TARGET_NUMBER_COLUMNS.items()},
            }
        )[TARGET_DAILY_COLUMNS]
    frame["bid"] = pd.to_numeric(frame["bid"], errors="coerce").astype(np.float64)
    frame["date"] = pd.to_datetime(frame["date"], format="%Y-%m-%d")
    return frame.astype(dict.fromkeys(TARGET_TEXT_COLUMNS, object))


def campaign_window_frame(
    *, organization: Organization, start: date, end: date, channels: Sequence[str] = ()
) -> pd.DataFrame:
    """Every stored campaign of the organization (optionally of some channels) with its results from
    ``start`` to ``end`` (inclusive) summed from the daily rollups: ``CAMPAIGN_WINDOW_COLUMNS``.

    ``budget`` is the campaign's current budget (float, NaN when it has none) in the ad account's
    ``currency``; ``budget_type`` as the platform names it. Campaigns without results in the window have
    zeros. One query."""
    params: list = [organization.pk, start, end]
    rollup_filters = ["organization_id = %s", "date >= %s", "date <= %s"]
    campaign_filters = ["c.organization_id = %s"]
    if channels:
        rollup_filters.append(_in_list("channel", channels, params))
    params.append(organization.pk)
    if channels:
        campaign_filters.append(_in_list("a.channel", channels, params))
    query = f"""
        WITH r AS (
            SELECT channel, account_id, campaign_id, sum(impressions)::int8 AS impressions,
                   sum(clicks)::int8 AS clicks, sum(cost::float8) AS spend, sum(orders)::int8 AS orders,
                   sum(sales::float8) AS sales
            FROM {AdRollupDaily._meta.db_table} WHERE {" AND ".join(rollup_filters)}
            GROUP BY channel, account_id, campaign_id
        )
        SELECT a.channel, a.external_id, a.marketplace, a.currency, c.external_id, c.name, c.state, c.budget_type,
               c.id, c.budget::float8, coalesce(r.impressions, 0), coalesce(r.clicks, 0), coalesce(r.spend, 0),
               coalesce(r.orders, 0), coalesce(r.sales, 0)
        FROM {Campaign._meta.db_table} c
        JOIN {AdAccount._meta.db_table} a ON a.id = c.ad_account_id
        LEFT JOIN r ON r.channel = a.channel AND r.account_id = a.external_id AND r.campaign_id = c.external_id
        WHERE {" AND ".join(campaign_filters)}
        ORDER BY a.channel, a.external_id, c.external_id, c.id
    """
    frame = _copy_frame(
        query,
        params,
        names=CAMPAIGN_WINDOW_COLUMNS,
        dtype={**dict.fromkeys(CAMPAIGN_TEXT_COLUMNS, str), "campaign_pk": np.int64, "budget": str,
               **CAMPAIGN_NUMBER_COLUMNS},
    )  # fmt: skip
    if frame is None:
        return pd.DataFrame(
            {
                **{column: pd.Series(dtype=object) for column in CAMPAIGN_TEXT_COLUMNS},
                "campaign_pk": pd.Series(dtype=np.int64),
                "budget": pd.Series(dtype=np.float64),
                **{column: pd.Series(dtype=dtype) for column, dtype in CAMPAIGN_NUMBER_COLUMNS.items()},
            }
        )[CAMPAIGN_WINDOW_COLUMNS]
    frame["budget"] = pd.to_numeric(frame["budget"], errors="coerce").astype(np.float64)
    return frame.astype(dict.fromkeys(CAMPAIGN_TEXT_COLUMNS, object))


def ad_group_skus(*, organization: Organization, ad_group_pks: Iterable[int]) -> dict[int, list[str]]:
    """The products advertised in each ad group (SKU, or ASIN where the SKU is unknown), archived ones left
    out. One query."""
    found: dict[int, list[str]] = {}
    rows = (
        AdvertisedProduct.unscoped_objects.filter(organization=organization, ad_group_id__in=list(ad_group_pks))
        .exclude(state__iregex=r"^(archived|removed|deleted)$")
        .order_by("ad_group_id", "sku", "asin", "pk")
        .values_list("ad_group_id", "sku", "asin")
    )
    for ad_group_pk, sku, asin in rows:
        product = sku or asin
        if product and product not in found.setdefault(ad_group_pk, []):
            found[ad_group_pk].append(product)
    return found


def ad_channels(*, organization: Organization) -> list[str]:
    """The ad channels the organization has accounts on. One query."""
    return list(
        AdAccount.unscoped_objects.filter(organization=organization)
        .order_by("channel")
        .values_list("channel", flat=True)
        .distinct()
    )


def provisional_days(
    *, organization: Organization, as_of: date, channels: Iterable[str], window_days: int
) -> dict[str, int]:
    """Per channel, how many of the last days up to ``as_of`` its connections may still restate (the
    ``DataSource.restatement_days`` behind ``provisional_since``), at most ``window_days - 1`` so a window
    always keeps a day. One query."""
    since = provisional_since(organization=organization, today=as_of)
    return {
        channel: min(window_days - 1, max(0, (as_of - since[channel]).days + 1)) if channel in since else 0
        for channel in channels
    }


@dataclass(frozen=True)
class BudgetScope:
    """What the budget form offers: one currency's campaigns with a budget, and their current total."""

    currency: str
    campaigns: int
    total_budget: float


def budget_scopes(*, organization: Organization) -> list[BudgetScope]:
    """Per currency, the campaigns that have a budget and serve, and the sum of their budgets, largest count
    first. One query."""
    inactive = Q()
    for state in INACTIVE_STATES:
        inactive |= Q(state__iexact=state)
    rows = (
        Campaign.unscoped_objects.filter(organization=organization, budget__isnull=False)
        .exclude(inactive)
        .values("ad_account__currency")
        .annotate(count=Count("pk"), total=Sum("budget"))
        .order_by("-count", "ad_account__currency")
    )
    return [BudgetScope(row["ad_account__currency"], row["count"], float(row["total"] or 0)) for row in rows]


# --- the market calendar ----------------------------------------------------------------------------------


# Events only the seller knows the dates of, entered per marketplace (``SellerEvent.key``).
SELLER_EVENT_NAMES: dict[str, str | Promise] = {
    "prime_day": PRIME_DAY_NAME,
    "prime_big_deal_days": gettext_lazy("Prime Big Deal Days"),
    "store_sale": gettext_lazy("Own store sale"),
}

# Words a campaign built for an event tends to have in its name. Latin words match whole words, so "tet" does
# not match "tetra"; other scripts match anywhere in the name.
EVENT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "singles_day": ("singles day", "singles' day", "11.11", "double 11", "双11", "双十一"),
    "double_12": ("12.12", "double 12", "双12", "双十二"),
    "harbolnas": ("harbolnas", "12.12"),
    "nine_nine": ("9.9",),
    "ten_ten": ("10.10",),
    "mid_year_618": ("618",),
    "black_friday": ("black friday", "blackfriday", "bfcm"),
    "white_friday": ("white friday",),
    "cyber_monday": ("cyber monday", "cybermonday", "bfcm"),
    "boxing_day": ("boxing day",),
    "christmas": (
        "christmas",
        "xmas",
        "x-mas",
        "weihnachten",
        "weihnacht",
        "noel",
        "noël",
        "navidad",
        "natale",
        "クリスマス",
        "圣诞",
    ),
    "valentines_day": ("valentine", "valentines", "valentine's", "valentinstag", "バレンタイン"),
    "dia_dos_namorados": ("namorados",),
    "mothers_day": (
        "mother's day",
        "mothers day",
        "mothering sunday",
        "muttertag",
        "fete des meres",
        "母の日",
        "母亲节",
    ),
    "fathers_day": ("father's day", "fathers day", "vatertag", "fete des peres", "父の日", "父亲节"),
    "halloween": ("halloween",),
    "memorial_day": ("memorial day",),
    "independence_day_us": ("4th of july", "fourth of july", "july 4th", "independence day"),
    "labor_day_us": ("labor day",),
    "lunar_new_year": ("lunar new year", "chinese new year", "cny", "spring festival", "tet", "春节"),
    "golden_week_jp": ("golden week", "ゴールデンウィーク"),
    "new_year_jp": ("new year", "shogatsu", "正月", "初売り"),
    "golden_week_cn": ("golden week", "national day", "国庆"),
    "songkran": ("songkran",),
    "saudi_national_day": ("national day",),
    "uae_national_day": ("national day",),
    "ramadan": ("ramadan", "ramazan", "ramzan"),
    "eid_al_fitr": ("eid", "fitr", "lebaran", "hari raya"),
    "eid_al_adha": ("eid", "adha"),
    "diwali": ("diwali", "deepavali"),
    "prime_day": ("prime day", "primeday"),
    "prime_big_deal_days": ("big deal days", "pbdd", "prime fall"),
    "store_sale": (),
}


def _keyword_pattern(keywords: Iterable[str]) -> re.Pattern | None:
    parts = [rf"(?<![\w]){re.escape(word)}(?![\w])" if word.isascii() else re.escape(word) for word in keywords if word]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


_EVENT_PATTERNS = {key: _keyword_pattern(words) for key, words in EVENT_KEYWORDS.items()}


def event_pattern(key: str) -> re.Pattern | None:
    """What a campaign name built for event ``key`` matches (its key as words when it has no list)."""
    if key in _EVENT_PATTERNS:
        return _EVENT_PATTERNS[key]
    return _keyword_pattern([key.replace("_", " ")])


def normalise_marketplace(code: str) -> str:
    """A marketplace code as the calendar knows it: upper case, eBay's ``EBAY_DE`` as ``DE``, ``GB`` as
    ``UK``."""
    value = code.strip().upper().removeprefix("EBAY_")
    return MARKETPLACE_ALIASES.get(value, value)


def organization_marketplaces(*, organization: Organization) -> list[str]:
    """The marketplaces the organization sells or advertises in: its ad accounts' and its data sources'
    (ad and store connections, file imports), normalised and sorted. One query."""
    accounts = AdAccount.unscoped_objects.filter(organization=organization).values_list("marketplace", flat=True)
    sources = DataSource.unscoped_objects.filter(organization=organization).values_list("marketplace", flat=True)
    codes = {normalise_marketplace(code) for code in accounts.union(sources)}
    codes.discard("")
    return sorted(codes)


def seller_events(*, organization: Organization, start: date, end: date) -> list[SellerEvent]:
    """The seller's own events (Prime Day, a store's sale) running at some point from ``start`` to ``end``,
    by start. One query."""
    return list(
        SellerEvent.unscoped_objects.filter(organization=organization, start__lte=end, end__gte=start).order_by(
            "start", "marketplace", "key", "pk"
        )
    )


@dataclass(frozen=True)
class CampaignName:
    channel: str
    marketplace: str
    campaign_id: str
    name: str


def active_campaign_names(*, organization: Organization) -> list[CampaignName]:
    """Campaigns that still serve (not paused, archived or ended), with their marketplace. One query."""
    inactive = Q()
    for state in INACTIVE_STATES:
        inactive |= Q(state__iexact=state)
    rows = (
        Campaign.unscoped_objects.filter(organization=organization)
        .exclude(inactive)
        .order_by("name", "pk")
        .values_list("ad_account__channel", "ad_account__marketplace", "external_id", "name")
    )
    return [CampaignName(channel, normalise_marketplace(market), cid, name) for channel, market, cid, name in rows]


# --- the latest runs, for the preview on the Bids & budgets page -------------------------------------------


def latest_runs(*, organization: Organization, tools: Sequence[str]) -> dict[str, ToolRun]:
    """The newest run of each of ``tools`` that has one. One query."""
    runs = (
        ToolRun.unscoped_objects.filter(organization=organization, tool__in=list(tools))
        .order_by("tool", "-created_at", "-pk")
        .distinct("tool")
    )
    return {run.tool: run for run in runs}


def run_proposals(*, organization: Organization, runs: Iterable[ToolRun], limit: int = 50) -> dict[int, list[Proposal]]:
    """Up to ``limit`` proposals of each run, in the order the tool proposed them. One query."""
    run_ids = [run.pk for run in runs]
    found: dict[int, list[Proposal]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return found
    proposals = (
        Proposal.unscoped_objects.filter(organization=organization, run_id__in=run_ids)
        .annotate(rank=Window(RowNumber(), partition_by=F("run_id"), order_by=F("pk").asc()))
        .filter(rank__lte=limit)
        .order_by("run_id", "pk")
    )
    for proposal in proposals:
        found[proposal.run_id].append(proposal)
    return found


# --- the calendar page --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarEntry:
    """One event on the calendar page: its budget and bid suggestions from ``start`` on, the deadline for
    holiday creatives, and the serving campaigns whose names suggest they were built for it (with the warning
    that applies to them, '' when there are none). ``seller_events`` are the ids of the seller's own entries
    behind it (one per marketplace), empty for a calendar event."""

    event: Event
    suggestions: list[Suggestion]
    deadline_note: str
    warning: str
    campaigns: list[CampaignName]
    seller_events: tuple[int, ...] = ()


@dataclass(frozen=True)
class MarketCalendar:
    start: date
    end: date
    marketplaces: list[str]
    entries: list[CalendarEntry]


def _seller_calendar_events(rows: Iterable[SellerEvent], markets: set[str]) -> list[tuple[Event, tuple[int, ...]]]:
    """The seller's entries as calendar events; one entry on the same dates in several marketplaces is one
    event for all of them."""
    merged: dict[tuple[str, date, date], tuple[Event, tuple[int, ...]]] = {}
    for row in rows:
        market = normalise_marketplace(row.marketplace)
        if market not in markets:
            continue
        identity = (row.key, row.start, row.end)
        known = merged.get(identity)
        if known is None:
            name = SELLER_EVENT_NAMES.get(row.key, row.key)
            merged[identity] = (Event(row.key, name, row.start, row.end, SHOPPING, (market,)), (row.pk,))
        else:
            event, ids = known
            merged[identity] = (replace(event, markets=(*event.markets, market)), (*ids, row.pk))
    return list(merged.values())


def market_calendar(
    *, organization: Organization, start: date, days: int = 90, marketplaces: Sequence[str] | None = None
) -> MarketCalendar:
    """The events running at some point from ``start`` to ``start + days`` in ``marketplaces`` (None: the
    organization's own, see ``organization_marketplaces``), with the seller's entries (Prime Day ...), each
    with its suggestions and the campaigns to check before it. Two queries, three without ``marketplaces``.

    Campaign end dates are not stored, so the holiday-creative check cannot compare an end date with the
    event: every serving campaign in the event's marketplaces whose name matches the event's words
    (``EVENT_KEYWORDS``) is listed with the rule for a campaign without an end date."""
    end = start + timedelta(days=days)
    if marketplaces is None:
        marketplaces = organization_marketplaces(organization=organization)
    markets = sorted({normalise_marketplace(code) for code in marketplaces} - {""})
    found = [(event, ()) for event in calendar.upcoming(marketplaces=markets, today=start, days=days)]
    own = seller_events(organization=organization, start=start, end=end)
    found += _seller_calendar_events(own, set(markets))
    found.sort(key=lambda pair: (pair[0].start, pair[0].end, pair[0].key))
    campaigns = active_campaign_names(organization=organization) if found else []
    entries = []
    for event, ids in found:
        pattern = event_pattern(event.key)
        matching = [
            campaign
            for campaign in campaigns
            if pattern is not None
            and (campaign.marketplace in event.markets or not campaign.marketplace)
            and pattern.search(campaign.name)
        ]
        deadline = event.end + timedelta(days=1)
        note = _("Holiday-themed creatives for %(event)s must stop within a day of the event, by %(deadline)s.") % {
            "event": event.name,
            "deadline": date_format(deadline),
        }
        warning = calendar.holiday_campaign_warnings(campaign_end=None, event=event)[0] if matching else ""
        suggestions = calendar.event_suggestions(event=event, as_of=start)
        entries.append(CalendarEntry(event, suggestions, note, warning, matching, tuple(ids)))
    return MarketCalendar(start=start, end=end, marketplaces=markets, entries=entries)
