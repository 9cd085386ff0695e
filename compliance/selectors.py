"""Reads of the ad-claim rules: the cheap version stamp the engine checks before every use, and the rules."""

from __future__ import annotations

from django.db import connection

from compliance import loader
from compliance.engine import TermSpec
from compliance.models import Rule, RuleTerm


def rules_version() -> str:
    """A stamp that changes whenever a rule or a staff word is added, edited, switched off or deleted; empty
    while the rules table is empty (rule files not loaded yet). One query over two small tables."""
    rules, terms = Rule._meta.db_table, RuleTerm._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM {rules}), (SELECT max(updated_at) FROM {rules}),"  # noqa: S608
            f" (SELECT count(*) FROM {terms}), (SELECT max(updated_at) FROM {terms})"
        )
        rule_count, rules_changed, term_count, terms_changed = cursor.fetchone()
    if not rule_count:
        return ""
    stamps = [str(rule_count), rules_changed.isoformat(), str(term_count)]
    if terms_changed is not None:
        stamps.append(terms_changed.isoformat())
    return "db:" + ":".join(stamps)


def active_rule_definitions() -> tuple[list[loader.RuleSpec], list[TermSpec]]:
    """The enabled rules still in the rule files, and the enabled staff words of those rules. Two queries."""
    rule_rows = Rule.objects.filter(enabled=True, retired=False).only(
        "rule_id", "file", "file_version", "definition", "content_hash"
    )
    specs = [
        loader.spec_from_definition(
            row.definition, file=row.file, file_version=row.file_version, content_hash=row.content_hash
        )
        for row in rule_rows
    ]
    rows = (
        RuleTerm.objects.filter(enabled=True, rule__enabled=True, rule__retired=False)
        .order_by("pk")
        .values_list("rule__rule_id", "language", "value", "kind", "is_pattern", "market")
    )
    terms = [
        TermSpec(rule_id=rule_id, language=language, value=value, kind=kind, is_pattern=is_pattern, market=market)
        for rule_id, language, value, kind, is_pattern, market in rows
    ]
    return specs, terms
