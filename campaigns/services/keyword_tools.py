"""The keyword tools as actions a seller runs: read the search terms of a window, run a tool on them and turn its
rows into proposals (one tool run, nothing proposed twice), and the check the Changes page makes before a
negative is approved: which converting terms and keywords it would block."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from campaigns import selectors
from campaigns.keywords import cluster, suggest, text
from campaigns.keywords.conflicts import NEGATIVE_EXACT, NEGATIVE_PHRASE, find_conflicts
from campaigns.keywords.harvest import HarvestThresholds, harvest_search_terms
from campaigns.keywords.negatives import mine_negatives
from campaigns.models import Proposal, ProposalKind, ProposalStatus, ToolRun
from campaigns.services.proposals import Proposed, proposals_create

# The window a conflict check reads when the proposals came from no tool run (or one without a window).
CONFLICT_WINDOW_DAYS = 60
EVIDENCE_METRICS = ("impressions", "clicks", "orders", "cost", "sales")


def _plain(value):
    """A frame cell as a plain Python value (numpy scalars are not JSON; NaN means no value)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _filters(channels: Collection[str], marketplaces: Collection[str]) -> dict:
    # an empty filter means every channel or marketplace (the selector reads an empty list as none)
    return {"channels": list(channels) or None, "marketplaces": list(marketplaces) or None}


def _only_terms(frame: pd.DataFrame, terms: Collection[tuple[str, str, str, str]]) -> pd.DataFrame:
    """The rows of the chosen (channel, account_id, campaign_id, search term) pairs; terms compare normalized,
    so every ad group and spelling of a chosen term in its campaign is judged together."""
    if frame.empty:
        return frame
    wanted = {
        (channel, account, campaign, text.normalize(term, language=text.DEFAULT_LANGUAGE))
        for channel, account, campaign, term in terms
    }
    frame = text.annotate(frame)
    keep = [
        key in wanted
        for key in zip(frame["channel"], frame["account_id"], frame["campaign_id"], frame["term_key"], strict=True)
    ]
    return frame[keep].reset_index(drop=True)


def _names(frame: pd.DataFrame) -> tuple[dict, dict]:
    """(channel, account, campaign_id) -> campaign name and (channel, account, ad_group_id) -> ad group name."""
    if frame.empty:
        return {}, {}
    campaigns = frame.groupby(["channel", "account_id", "campaign_id"], sort=False)["campaign_name"].max()
    groups = frame.groupby(["channel", "account_id", "ad_group_id"], sort=False)["ad_group_name"].max()
    return campaigns.to_dict(), groups.to_dict()


def _evidence(row: dict, extra: Iterable[str]) -> dict:
    """The numbers behind a proposal, with ACoS and CVR (None without sales or clicks)."""
    evidence = {name: _plain(row[name]) for name in (*EVIDENCE_METRICS, "acos", "cvr", *extra) if name in row}
    sales, cost, clicks = evidence.get("sales") or 0, evidence.get("cost") or 0, evidence.get("clicks") or 0
    if "acos" not in evidence:
        evidence["acos"] = round(cost / sales, 4) if sales else None
    if "cvr" not in evidence:
        evidence["cvr"] = round((evidence.get("orders") or 0) / clicks, 4) if clicks else None
    return evidence


def harvest_rows(frame: pd.DataFrame, harvest: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """``harvest_search_terms`` output as Proposal rows: (new exact keywords, their negatives in the source)."""
    campaign_names, group_names = _names(frame)
    keywords, negatives = [], []
    for row in harvest.to_dict("records"):
        account = (row["channel"], row["account_id"])
        proposal = {
            "channel": row["channel"],
            "account_id": row["account_id"],
            "marketplace": row["marketplace"],
            "campaign_id": row["campaign_id"],
            "campaign_name": campaign_names.get((*account, row["campaign_id"]), ""),
            "ad_group_id": row["ad_group_id"] or "",
            "ad_group_name": group_names.get((*account, row["ad_group_id"]), "") if row["ad_group_id"] else "",
            "text": row["text"],
            "match_type": row["match_type"],
            "currency": row["currency"],
            "reason": row["reason"],
        }
        evidence = _evidence(row, ("cpc", "source_campaign_id", "source_campaign_name", "source_ad_group_id"))
        if row["kind"] == ProposalKind.KEYWORD:
            proposal["proposed_value"] = _plain(row["bid"])
            keywords.append({**proposal, "evidence": evidence})
        else:
            # where the term moves to: the conflict check leaves out the term this negative exists to block
            destination = {"dest_campaign_id": row["campaign_id"], "harvested": True}
            negatives.append({**proposal, "evidence": {**evidence, **destination}})
    return keywords, negatives


def negative_rows(negatives: pd.DataFrame) -> list[dict]:
    """``mine_negatives`` output as Proposal rows (campaign level)."""
    rows = []
    for row in negatives.to_dict("records"):
        rows.append(
            {
                "channel": row["channel"],
                "account_id": row["account_id"],
                "marketplace": row["marketplace"],
                "campaign_id": row["campaign_id"],
                "campaign_name": row["campaign_name"] or "",
                "ad_group_id": row["ad_group_id"] or "",
                "text": row["text"],
                "match_type": row["match_type"],
                "currency": row["currency"],
                "reason": row["reason"],
                "evidence": {**_evidence(row, ("terms", "cpc")), "examples": row["examples"] or ""},
            }
        )
    return rows


def _fold(into: Proposed, other: Proposed) -> Proposed:
    """One tool run for one action: the proposals of ``other`` join ``into``'s run (proposals_create makes one
    run per kind of change, a harvest proposes two kinds)."""
    run = into.run
    Proposal.unscoped_objects.filter(organization=run.organization, run=other.run).update(run=run)
    run.proposed += other.created
    run.skipped += other.skipped
    run.summary = {
        **run.summary,
        "by_kind": {
            ProposalKind.KEYWORD.value: {"proposed": into.created, "skipped": into.skipped},
            ProposalKind.NEGATIVE.value: {"proposed": other.created, "skipped": other.skipped},
        },
    }
    run.save(update_fields=["proposed", "skipped", "summary", "updated_at"])
    other.run.delete()
    return Proposed(run=run, created=run.proposed, skipped=run.skipped)


def harvest_run(
    *,
    organization: Organization,
    actor: User | None,
    start: date,
    end: date,
    thresholds: HarvestThresholds,
    channels: Collection[str] = (),
    marketplaces: Collection[str] = (),
    terms: Collection[tuple[str, str, str, str]] | None = None,
) -> Proposed:
    """Harvest the converting search terms of ``start``..``end`` (optionally some channels or marketplaces, or
    only the chosen ``terms``: (channel, account_id, campaign_id, search term)) into proposals: an exact keyword
    at the suggested bid, and the negative exact that stops its source competing. One tool run holds both
    kinds; a change that already has an open proposal is counted as skipped."""
    frame = selectors.search_terms_frame(
        organization=organization, start=start, end=end, **_filters(channels, marketplaces)
    )
    if terms is not None:
        frame = _only_terms(frame, terms)
    harvest = harvest_search_terms(
        terms=frame,
        keywords=selectors.keywords_frame(organization=organization),
        thresholds=thresholds,
        negatives=selectors.negatives_frame(organization=organization),
    )
    keywords, negatives = harvest_rows(frame, harvest)
    parameters = {
        **asdict(thresholds),
        "channels": sorted(channels),
        "marketplaces": sorted(marketplaces),
        "selected_terms": len(terms) if terms is not None else None,
    }
    common = {"organization": organization, "tool": ToolRun.Tool.HARVEST, "actor": actor}
    common |= {"parameters": parameters, "window": (start, end)}
    with transaction.atomic():
        proposed = proposals_create(kind=ProposalKind.KEYWORD, rows=keywords, **common)
        return _fold(proposed, proposals_create(kind=ProposalKind.NEGATIVE, rows=negatives, **common))


def negatives_run(
    *,
    organization: Organization,
    actor: User | None,
    start: date,
    end: date,
    min_clicks: int,
    min_spend: float | None = None,
    channels: Collection[str] = (),
    marketplaces: Collection[str] = (),
) -> Proposed:
    """Mine campaign-level negatives (exact, or phrase for a root that wastes across many terms) from the search
    terms of ``start``..``end`` that spent with no orders, as proposals in one tool run."""
    frame = selectors.search_terms_frame(
        organization=organization, start=start, end=end, **_filters(channels, marketplaces)
    )
    mined = mine_negatives(
        terms=frame,
        min_clicks=min_clicks,
        min_spend=min_spend,
        negatives=selectors.negatives_frame(organization=organization),
    )
    return proposals_create(
        organization=organization,
        tool=ToolRun.Tool.NEGATIVES,
        kind=ProposalKind.NEGATIVE,
        rows=negative_rows(mined),
        actor=actor,
        parameters={
            "min_clicks": min_clicks,
            "min_spend": min_spend,
            "channels": sorted(channels),
            "marketplaces": sorted(marketplaces),
        },
        window=(start, end),
    )


@dataclass(frozen=True)
class Conflict:
    """Something a proposed negative would block: a search term that sold, or an active keyword."""

    blocked_kind: str  # "search_term" or "keyword"
    blocked_text: str
    blocked_match_type: str
    orders: int
    sales: float
    explanation: str


def _window(proposals: list[Proposal], today: date | None) -> tuple[date, date]:
    """The span of the windows the proposals' runs read (one query), or the last CONFLICT_WINDOW_DAYS."""
    run_ids = {p.run_id for p in proposals if p.run_id}
    span = (
        ToolRun.unscoped_objects.filter(pk__in=run_ids).aggregate(start=Min("window_start"), end=Max("window_end"))
        if run_ids
        else {}
    )
    if span.get("start") and span.get("end"):
        return span["start"], span["end"]
    end = today or timezone.localdate()
    return end - timedelta(days=CONFLICT_WINDOW_DAYS - 1), end


def negative_conflicts(
    *, organization: Organization, proposals: Iterable[Proposal], today: date | None = None
) -> dict[int, list[Conflict]]:
    """For each pending negative among ``proposals``: the converting search terms (over the window its run
    read) and the active keywords of its campaign or ad group it would block, by proposal id. One check for
    all of them, reading only their campaigns. A harvest's negative is meant to block its own term in the
    source (the term moves to its new exact keyword), so search terms are not reported against it."""
    negatives = [
        p
        for p in proposals
        if p.kind == ProposalKind.NEGATIVE
        and p.status == ProposalStatus.PENDING
        and p.match_type in (NEGATIVE_EXACT, NEGATIVE_PHRASE)
    ]
    if not negatives:
        return {}
    campaigns = {(p.channel, p.account_id, p.campaign_id) for p in negatives}
    start, end = _window(negatives, today)
    terms = selectors.search_terms_in_campaigns(organization=organization, start=start, end=end, campaigns=campaigns)
    keywords = selectors.keywords_in_campaigns(organization=organization, campaigns=campaigns)
    frame = pd.DataFrame(
        {
            "channel": [p.channel for p in negatives],
            "account_id": [p.account_id for p in negatives],
            "marketplace": [p.marketplace for p in negatives],
            "campaign_id": [p.campaign_id for p in negatives],
            "ad_group_id": [p.ad_group_id for p in negatives],
            "text": [p.text for p in negatives],
            "match_type": [p.match_type for p in negatives],
        },
        dtype=object,
    )
    found = find_conflicts(negatives=frame, terms=terms, keywords=keywords)
    by_key: dict[tuple, list[Proposal]] = {}
    for proposal in negatives:
        key = (
            proposal.channel,
            proposal.account_id,
            proposal.campaign_id,
            proposal.ad_group_id,
            proposal.text,
            proposal.match_type,
        )
        by_key.setdefault(key, []).append(proposal)
    conflicts: dict[int, list[Conflict]] = {}
    for row in found.to_dict("records"):
        key = (
            row["channel"],
            row["account_id"],
            row["campaign_id"],
            row["negative_ad_group_id"],
            row["negative_text"],
            row["negative_match_type"],
        )
        for proposal in by_key.get(key, []):
            if row["blocked_kind"] == "search_term" and (proposal.evidence or {}).get("harvested"):
                continue
            conflicts.setdefault(proposal.pk, []).append(
                Conflict(
                    blocked_kind=row["blocked_kind"],
                    blocked_text=row["blocked_text"],
                    blocked_match_type=row["blocked_match_type"] or "",
                    orders=int(row["orders"]),
                    sales=float(row["sales"]),
                    explanation=row["explanation"],
                )
            )
    return conflicts


__all__ = [
    "Conflict",
    "HarvestThresholds",
    "Proposed",
    "harvest_rows",
    "harvest_run",
    "negative_conflicts",
    "negative_rows",
    "negatives_run",
]


# --- the Keywords page: themes and keyword suggestions --------------------------------------------------------------


THEME_MAX_TERMS = 5000
THEME_MAX_ROWS = 100
THEME_MEMBERS_SHOWN = 5
SUGGESTION_LIMIT = 20
_THEME_METRICS = ["impressions", "clicks", "cost", "orders", "sales"]


@dataclass(frozen=True)
class ThemeTable:
    """Themes of a window's search terms, one row per theme and currency, and how much of the window they cover.

    ``rows``: label, currency, n_terms, members (the heaviest few terms), impressions, clicks, orders (int), cost,
    sales (float, rounded to cents), acos and cvr (float, None without sales or clicks) and wasted (spend with
    no order), by spend. ``total_rows`` counts the rows before the cap; ``terms_total`` the distinct terms of
    the window, ``terms_clustered`` those grouped (the most expensive ``max_terms``) and ``unclustered`` the
    grouped terms that fit no theme."""

    rows: list[dict]
    total_rows: int
    terms_total: int
    terms_clustered: int
    unclustered: int


def search_term_themes(
    *,
    terms: pd.DataFrame,
    max_terms: int = THEME_MAX_TERMS,
    max_rows: int = THEME_MAX_ROWS,
    members_shown: int = THEME_MEMBERS_SHOWN,
) -> ThemeTable:
    """Group the search-term frame ``terms`` into themes (``campaigns.keywords.cluster.cluster_terms``, one pass)
    so a seller reviews a few dozen themes instead of thousands of terms.

    Only the ``max_terms`` terms with the most spend (then clicks) are grouped: clustering cost grows with the
    terms, and the cheap tail rarely changes a decision. Terms are compared in their normalised form (case and
    width folded), across currencies; amounts are then summed per theme and currency, never across currencies.
    """
    if terms.empty:
        return ThemeTable(rows=[], total_rows=0, terms_total=0, terms_clustered=0, unclustered=0)
    frame = terms[["currency", "search_term", *_THEME_METRICS]].copy()
    unique = frame["search_term"].unique()
    frame["term"] = frame["search_term"].map(dict(zip(unique, map(cluster.normalize_term, unique), strict=True)))
    frame = frame[frame["term"] != ""]
    per_term = frame.groupby("term", sort=False)[_THEME_METRICS].sum().reset_index()
    per_term = per_term.sort_values(["cost", "clicks", "term"], ascending=[False, False, True], kind="mergesort")
    top = per_term.head(max_terms).rename(columns={"term": "search_term"})
    themes = cluster.cluster_terms(terms=top)
    grouped = themes[themes["cluster_id"] != cluster.UNCLUSTERED]
    unclustered = int(themes.loc[themes["cluster_id"] == cluster.UNCLUSTERED, "n_terms"].sum())
    base = ThemeTable(
        rows=[], total_rows=0, terms_total=len(per_term), terms_clustered=len(top), unclustered=unclustered
    )
    if grouped.empty:
        return base
    members = grouped[["cluster_id", "label", "terms"]].explode("terms").rename(columns={"terms": "term"})
    joined = frame.merge(members, on="term")
    by_term = joined.groupby(["cluster_id", "currency", "term"], as_index=False)[_THEME_METRICS].sum()
    by_term = by_term.sort_values(
        ["cluster_id", "currency", "cost", "clicks", "term"],
        ascending=[True, True, False, False, True],
        kind="mergesort",
    )
    keys = ["cluster_id", "currency"]
    sums = by_term.groupby(keys, sort=False)
    table = sums[_THEME_METRICS].sum()
    table["n_terms"] = sums["term"].size()
    table["members"] = sums["term"].agg(lambda found: list(found[:members_shown]))
    table = table.reset_index().merge(grouped[["cluster_id", "label"]], on="cluster_id")
    table["acos"] = table["cost"] / table["sales"].where(table["sales"] != 0)
    table["cvr"] = table["orders"] / table["clicks"].where(table["clicks"] != 0)
    table["wasted"] = (table["cost"] > 0) & (table["orders"] == 0)
    table = table.sort_values(["cost", "clicks", "label", "currency"], ascending=[False, False, True, True])
    rows = [
        {
            "label": row["label"],
            "currency": row["currency"],
            "n_terms": int(row["n_terms"]),
            "members": row["members"],
            "impressions": int(row["impressions"]),
            "clicks": int(row["clicks"]),
            "cost": round(float(row["cost"]), 2),
            "orders": int(row["orders"]),
            "sales": round(float(row["sales"]), 2),
            "acos": _plain(round(float(row["acos"]), 4)),
            "cvr": _plain(round(float(row["cvr"]), 4)),
            "wasted": bool(row["wasted"]),
        }
        for row in table.head(max_rows).to_dict("records")
    ]
    return ThemeTable(
        rows=rows,
        total_rows=len(table),
        terms_total=base.terms_total,
        terms_clustered=base.terms_clustered,
        unclustered=unclustered,
    )


def keyword_suggestions(
    *,
    terms: pd.DataFrame,
    products: pd.DataFrame,
    keywords: pd.DataFrame,
    limit: int = SUGGESTION_LIMIT,
) -> list[dict]:
    """Keywords worth adding, best first, each with the reason a seller reads (``campaigns.keywords.suggest``).

    Sibling terms: products advertised in the same campaign are siblings; a search term belongs to a product when
    its ad group advertises that one product (search-term reports carry no product, so an ad group with several
    products links none). A term with orders for a sibling that this product has no traffic on and that is not a
    keyword of the campaign is offered as EXACT in the product's ad group. When no search term can be linked to a
    product, phrases recurring in the campaign and ad group names are offered instead (PHRASE), as names are the
    only product text the facts hold.

    ``terms``: the search-term frame; ``products``: ``selectors.advertised_products_frame``; ``keywords``:
    ``selectors.keywords_frame``. Each row: keyword, match_type, source ("sibling" or "title"), reason,
    language, and for sibling terms channel, marketplace, currency, campaign_id, campaign_name, ad_group_id,
    ad_group_name, product_id, orders, sales.
    """
    if products.empty or terms.empty:
        return _title_suggestions(terms=terms, keywords=keywords, limit=limit)
    place = ["channel", "account_id", "campaign_id", "ad_group_id"]
    single = products.groupby(place)["product_id"].transform("nunique") == 1
    linked = terms.merge(products.loc[single, [*place, "product_id"]].drop_duplicates(place), on=place)
    if linked.empty:
        return _title_suggestions(terms=terms, keywords=keywords, limit=limit)

    campaign = ["channel", "account_id", "campaign_id"]
    used = keywords.groupby(campaign)["text"].agg(list).to_dict() if not keywords.empty else {}
    homes = products.drop_duplicates([*campaign, "product_id"]).set_index([*campaign, "product_id"])
    catalogue = products.groupby(campaign)["product_id"].agg(lambda ids: sorted(set(ids))).to_dict()
    found: list[dict] = []
    for (channel, account_id, marketplace, currency, campaign_id), group in linked.groupby(
        [*campaign[:2], "marketplace", "currency", "campaign_id"], sort=True
    ):
        siblings = catalogue.get((channel, account_id, campaign_id), [])
        if len(siblings) < 2 or not (group["orders"] > 0).any():
            continue
        language = text.marketplace_language(marketplace)
        for product_id in siblings:
            home = homes.loc[(channel, account_id, campaign_id, product_id)]
            for idea in suggest.suggest_from_siblings(
                product_terms=group,
                product_id=product_id,
                siblings=siblings,
                existing=used.get((channel, account_id, campaign_id), []),
                language=language,
                limit=limit,
            ):
                found.append(
                    {
                        "keyword": idea.keyword,
                        "match_type": idea.match_type,
                        "source": idea.source,
                        "reason": idea.reason,
                        "language": language,
                        "channel": channel,
                        "marketplace": marketplace,
                        "currency": currency,
                        "campaign_id": campaign_id,
                        "campaign_name": home["campaign_name"],
                        "ad_group_id": home["ad_group_id"],
                        "ad_group_name": home["ad_group_name"],
                        "product_id": product_id,
                        "orders": idea.orders,
                        "sales": idea.sales,
                    }
                )
    found.sort(key=lambda idea: (-idea["orders"], -idea["sales"], idea["keyword"], idea["campaign_id"]))
    return found[:limit]


def _title_suggestions(*, terms: pd.DataFrame, keywords: pd.DataFrame, limit: int) -> list[dict]:
    """Phrases recurring in the campaign and ad group names of ``terms``, per marketplace language."""
    if terms.empty:
        return []
    names = terms[["marketplace", "campaign_id", "campaign_name", "ad_group_id", "ad_group_name"]].drop_duplicates()
    names = names.assign(language=names["marketplace"].map(text.marketplace_language))
    existing = keywords["text"].dropna().tolist() if not keywords.empty else []
    found = []
    for language, group in names.groupby("language", sort=True):
        titles = list(dict.fromkeys([*group["campaign_name"], *group["ad_group_name"]]))
        for idea in suggest.suggest_from_titles(titles=titles, language=language, existing=existing, limit=limit):
            reason = _("In %(count)s of %(total)s campaign and ad group names; not a keyword yet.") % {
                "count": idea.title_count,
                "total": len(titles),
            }
            found.append(
                {
                    "keyword": idea.keyword,
                    "match_type": idea.match_type,
                    "source": idea.source,
                    "reason": reason,
                    "language": language,
                    "score": idea.score,
                }
            )
    found.sort(key=lambda idea: (-idea["score"], idea["keyword"]))
    return found[:limit]
