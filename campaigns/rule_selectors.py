"""Reads for rules: the metric frames a rule is evaluated on, and the rules and runs its pages list.

A frame is one SQL query per distinct window of the rule (``GROUP BY``, parameterised, the organization filter
first), streamed out with ``COPY ... TO STDOUT`` into pandas, with the columns ``campaigns.rules`` expects
(``KEYS`` + ``ATTRIBUTES`` + ``SUMS`` of the scope):

- campaign: every campaign the sync knows (``campaigns.Campaign``, its budget, state and account currency),
  with its sums from the ``AdRollupDaily`` rollup over the window (zeros without rows).
- keyword: every keyword or target the sync knows (``campaigns.Target``; its bid, or its ad group's default
  bid when it has none), with its sums from the facts of grain ``target``.
- search_term: the search terms of the facts of grain ``search_term`` in the window, per campaign and ad
  group, flagged when the term already is an exact keyword of its ad group or campaign, or a campaign-level
  negative there (active or paused entities count as in place; archived ones do not).

Campaign and keyword rules act only on entities the sync knows: a change needs its current value to compare
against and to roll back to. Facts of unknown entities (a file import without a sync) are not acted on.
Ids are the platforms' own (``external_id``), as the facts carry them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import F, Func, IntegerField, OuterRef, Subquery

from accounts.models import Organization
from analytics.models import AdPerformanceDaily, AdRollupDaily, Grain
from campaigns import rules
from campaigns.models import AdAccount, AdGroup, Campaign, MatchType, NegativeKeyword, Rule, RuleRun, Target

SUM_DTYPES = {"impressions": np.int64, "clicks": np.int64, "cost": np.float64, "orders": np.int64, "sales": np.float64}
SUM_SELECT = (
    "sum(impressions)::int8 AS impressions, sum(clicks)::int8 AS clicks, sum(cost::float8) AS cost, "
    "sum(orders)::int8 AS orders, sum(sales::float8) AS sales"
)
SUM_OUTER = (
    "COALESCE(f.impressions, 0), COALESCE(f.clicks, 0), COALESCE(f.cost, 0), COALESCE(f.orders, 0), "
    "COALESCE(f.sales, 0)"
)
ARCHIVED = sorted(rules.ARCHIVED_STATES)


def _tables() -> dict[str, str]:
    return {
        "account": AdAccount._meta.db_table,
        "campaign": Campaign._meta.db_table,
        "ad_group": AdGroup._meta.db_table,
        "target": Target._meta.db_table,
        "negative": NegativeKeyword._meta.db_table,
        "facts": AdPerformanceDaily._meta.db_table,
        "rollup": AdRollupDaily._meta.db_table,
    }


def rule_frames(*, organization: Organization, spec: rules.RuleSpec, as_of: date) -> dict[int, pd.DataFrame]:
    """One metric frame per distinct window of ``spec``, each ending at ``as_of`` less the ignored days."""
    reader = {rules.CAMPAIGN: campaign_frame, rules.KEYWORD: keyword_frame, rules.SEARCH_TERM: search_term_frame}
    frames = {}
    for days in spec.windows:
        start, end = rules.window_dates(as_of=as_of, window_days=days, ignore_last_days=spec.ignore_last_days)
        frames[days] = reader[spec.scope](
            organization=organization, start=start, end=end, channels=list(spec.channels) or None
        )
    return frames


def campaign_frame(
    *, organization: Organization, start: date, end: date, channels: list[str] | None = None
) -> pd.DataFrame:
    """Campaigns with budget, state and their rollup sums from ``start`` to ``end`` (inclusive)."""
    t = _tables()
    inner_channel = " AND channel = ANY(%s)" if channels else ""
    outer_channel = " AND a.channel = ANY(%s)" if channels else ""
    query = (
        f"SELECT a.channel, a.external_id, c.external_id, COALESCE(NULLIF(a.marketplace, ''), f.marketplace, ''), "
        f"a.currency, c.name, c.state, c.budget::float8, {SUM_OUTER} "
        f"FROM {t['campaign']} c JOIN {t['account']} a ON a.id = c.ad_account_id "
        f"LEFT JOIN (SELECT channel, account_id, campaign_id, max(marketplace) AS marketplace, {SUM_SELECT} "
        f"FROM {t['rollup']} WHERE organization_id = %s AND date >= %s AND date <= %s{inner_channel} "
        f"GROUP BY channel, account_id, campaign_id) f "
        f"ON f.channel = a.channel AND f.account_id = a.external_id AND f.campaign_id = c.external_id "
        f"WHERE c.organization_id = %s{outer_channel}"
    )
    params = [organization.pk, start, end, *([channels] if channels else []), organization.pk]
    params += [channels] if channels else []
    columns = [*rules.KEYS[rules.CAMPAIGN], *rules.ATTRIBUTES[rules.CAMPAIGN], *SUM_DTYPES]
    return _read(query, params, columns, numbers={"budget": np.float64})


def keyword_frame(
    *, organization: Organization, start: date, end: date, channels: list[str] | None = None
) -> pd.DataFrame:
    """Keywords and targets with their bid, states and sums of the ``target`` facts from ``start`` to ``end``."""
    t = _tables()
    inner_channel = " AND channel = ANY(%s)" if channels else ""
    outer_channel = " AND a.channel = ANY(%s)" if channels else ""
    keys = "channel, account_id, campaign_id, ad_group_id, target_id"
    query = (
        f"SELECT a.channel, a.external_id, c.external_id, g.external_id, k.external_id, "
        f"COALESCE(NULLIF(a.marketplace, ''), f.marketplace, ''), a.currency, c.name, g.name, k.text, k.match_type, "
        f"k.state, c.state, g.state, COALESCE(NULLIF(k.bid, 0), g.default_bid)::float8, {SUM_OUTER} "
        f"FROM {t['target']} k JOIN {t['ad_group']} g ON g.id = k.ad_group_id "
        f"JOIN {t['campaign']} c ON c.id = g.campaign_id JOIN {t['account']} a ON a.id = c.ad_account_id "
        f"LEFT JOIN (SELECT {keys}, max(marketplace) AS marketplace, {SUM_SELECT} FROM {t['facts']} "
        f"WHERE organization_id = %s AND grain = %s AND date >= %s AND date <= %s{inner_channel} "
        f"GROUP BY {keys}) f "
        f"ON f.channel = a.channel AND f.account_id = a.external_id AND f.campaign_id = c.external_id "
        f"AND f.ad_group_id = g.external_id AND f.target_id = k.external_id "
        f"WHERE k.organization_id = %s{outer_channel}"
    )
    params = [organization.pk, Grain.TARGET.value, start, end, *([channels] if channels else []), organization.pk]
    params += [channels] if channels else []
    columns = [*rules.KEYS[rules.KEYWORD], *rules.ATTRIBUTES[rules.KEYWORD], *SUM_DTYPES]
    return _read(query, params, columns, numbers={"bid": np.float64})


def search_term_frame(
    *, organization: Organization, start: date, end: date, channels: list[str] | None = None
) -> pd.DataFrame:
    """Search terms per campaign and ad group with their sums from ``start`` to ``end``, and whether each is
    already an exact keyword (of its ad group, of its campaign) or a campaign-level negative (exact, phrase)."""
    t = _tables()
    channel = " AND channel = ANY(%s)" if channels else ""
    keys = "channel, account_id, campaign_id, ad_group_id, search_term"
    query = (
        f"WITH terms AS (SELECT {keys}, max(marketplace) AS marketplace, max(currency) AS currency, "
        f"(array_agg(campaign_name ORDER BY date DESC))[1] AS campaign_name, "
        f"(array_agg(ad_group_name ORDER BY date DESC))[1] AS ad_group_name, {SUM_SELECT} FROM {t['facts']} "
        f"WHERE organization_id = %s AND grain = %s AND date >= %s AND date <= %s AND search_term <> ''{channel} "
        f"GROUP BY {keys}), "
        f"exact AS (SELECT DISTINCT a.channel, a.external_id AS account_id, c.external_id AS campaign_id, "
        f"g.external_id AS ad_group_id, lower(btrim(k.text)) AS text "
        f"FROM {t['target']} k JOIN {t['ad_group']} g ON g.id = k.ad_group_id "
        f"JOIN {t['campaign']} c ON c.id = g.campaign_id JOIN {t['account']} a ON a.id = c.ad_account_id "
        f"WHERE k.organization_id = %s AND k.match_type = %s AND NOT lower(k.state) = ANY(%s)), "
        f"exact_campaign AS (SELECT DISTINCT channel, account_id, campaign_id, text FROM exact), "
        f"negatives AS (SELECT DISTINCT a.channel, a.external_id AS account_id, c.external_id AS campaign_id, "
        f"lower(btrim(n.text)) AS text, n.match_type "
        f"FROM {t['negative']} n JOIN {t['campaign']} c ON c.id = n.campaign_id "
        f"JOIN {t['account']} a ON a.id = c.ad_account_id "
        f"WHERE n.organization_id = %s AND n.ad_group_id IS NULL AND NOT lower(n.state) = ANY(%s)) "
        f"SELECT s.channel, s.account_id, s.campaign_id, s.ad_group_id, s.search_term, s.marketplace, s.currency, "
        f"COALESCE(s.campaign_name, ''), COALESCE(s.ad_group_name, ''), "
        f"e.text IS NOT NULL, ec.text IS NOT NULL, ne.text IS NOT NULL, np.text IS NOT NULL, "
        f"s.impressions, s.clicks, s.cost, s.orders, s.sales "
        f"FROM terms s "
        f"LEFT JOIN exact e ON e.channel = s.channel AND e.account_id = s.account_id "
        f"AND e.campaign_id = s.campaign_id AND e.ad_group_id = s.ad_group_id AND e.text = lower(btrim(s.search_term)) "
        f"LEFT JOIN exact_campaign ec ON ec.channel = s.channel AND ec.account_id = s.account_id "
        f"AND ec.campaign_id = s.campaign_id AND ec.text = lower(btrim(s.search_term)) "
        f"LEFT JOIN negatives ne ON ne.channel = s.channel AND ne.account_id = s.account_id "
        f"AND ne.campaign_id = s.campaign_id AND ne.match_type = %s AND ne.text = lower(btrim(s.search_term)) "
        f"LEFT JOIN negatives np ON np.channel = s.channel AND np.account_id = s.account_id "
        f"AND np.campaign_id = s.campaign_id AND np.match_type = %s AND np.text = lower(btrim(s.search_term))"
    )
    params = [
        organization.pk,
        Grain.SEARCH_TERM.value,
        start,
        end,
        *([channels] if channels else []),
        organization.pk,
        MatchType.EXACT.value,
        ARCHIVED,
        organization.pk,
        ARCHIVED,
        MatchType.NEGATIVE_EXACT.value,
        MatchType.NEGATIVE_PHRASE.value,
    ]
    columns = [*rules.KEYS[rules.SEARCH_TERM], *rules.ATTRIBUTES[rules.SEARCH_TERM], *SUM_DTYPES]
    return _read(query, params, columns, flags=rules.FLAG_COLUMNS)


def _read(query: str, params: list, columns: list[str], *, numbers: dict | None = None, flags=()) -> pd.DataFrame:
    """A query's rows as a frame: text columns as str ('' for NULL), ``numbers`` as float (NaN for NULL),
    ``flags`` as bool, the sums with their dtypes."""
    numbers = numbers or {}
    texts = [column for column in columns if column not in SUM_DTYPES and column not in numbers]
    buffer = io.BytesIO()
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", params) as copy:
        for block in copy:
            buffer.write(block)
    if not buffer.getbuffer().nbytes:
        frame = pd.DataFrame({column: pd.Series(dtype=str) for column in texts})
        for column, dtype in {**numbers, **SUM_DTYPES}.items():
            frame[column] = pd.Series(dtype=dtype)
        frame = frame[columns]
    else:
        buffer.seek(0)
        frame = pd.read_csv(
            buffer,
            header=None,
            names=columns,
            dtype={**dict.fromkeys(texts, str), **numbers, **SUM_DTYPES},
            keep_default_na=False,
            na_values={column: [""] for column in numbers},
            engine="c",
        )
    for column in flags:
        frame[column] = frame[column].astype(str) == "t"
    return frame


# --- pages ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRow:
    rule: Rule
    conditions: list[str]
    action: str
    last_run_at: object
    last_run_id: int | None
    last_run_dry: bool | None
    last_run_matched: int | None
    last_run_changes: int | None


class JsonbLength(Func):
    function = "jsonb_array_length"
    output_field = IntegerField()


def rules_list(*, organization: Organization, rule_ids: list[int] | None = None) -> list[RuleRow]:
    """The organization's rules (or only ``rule_ids``), newest first, each with its latest run: one query whatever
    their number."""
    latest = RuleRun.unscoped_objects.filter(organization=organization, rule=OuterRef("pk")).order_by(
        "-created_at", "-pk"
    )
    queryset = (
        Rule.unscoped_objects.filter(organization=organization)
        .annotate(
            last_run_id=Subquery(latest.values("pk")[:1]),
            last_run_at=Subquery(latest.values("created_at")[:1]),
            last_run_dry=Subquery(latest.values("dry_run")[:1]),
            last_run_matched=Subquery(latest.values("matched")[:1]),
            last_run_changes=Subquery(latest.annotate(size=JsonbLength(F("changes"))).values("size")[:1]),
        )
        .order_by("-created_at", "-pk")
    )
    if rule_ids is not None:
        queryset = queryset.filter(pk__in=rule_ids)
    return [rule_row(rule) for rule in queryset]


def rule_row(rule: Rule) -> RuleRow:
    """A rule with its stored conditions and action in words (and its last run when annotated)."""
    conditions = [rules.describe_condition(c) for c in rule.conditions if isinstance(c, dict)]
    return RuleRow(
        rule=rule,
        conditions=conditions,
        action=rules.describe_action(rule.action if isinstance(rule.action, dict) else {}),
        last_run_at=getattr(rule, "last_run_at", None),
        last_run_id=getattr(rule, "last_run_id", None),
        last_run_dry=getattr(rule, "last_run_dry", None),
        last_run_matched=getattr(rule, "last_run_matched", None),
        last_run_changes=getattr(rule, "last_run_changes", None),
    )


def rule_runs(*, organization: Organization, rule: Rule, limit: int = 20) -> list[RuleRun]:
    """A rule's latest runs, newest first, with their number of changes (``changes_count``) and their guardrail
    sentences (``guardrails``); the changes themselves are not loaded."""
    runs = list(
        RuleRun.unscoped_objects.filter(organization=organization, rule=rule)
        .defer("changes")
        .annotate(changes_count=JsonbLength(F("changes")))
        .order_by("-created_at", "-pk")[:limit]
    )
    for run in runs:
        run.guardrails = rules.describe_guardrail(run.stopped_by_guardrail)
    return runs
