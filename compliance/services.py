"""Checking ad texts against the rules, and every write to the rule tables.

Which rules are current: the database's, once the rule files have been loaded into it (which happens on every
``migrate``, through the app's post-migrate hook, and on demand with ``manage.py load_compliance_rules``); the
validated files themselves while the rules table is empty. Each process keeps one compiled ``RuleBook`` and
asks the database for the rules' version stamp before every check (one small query; ``ad_texts_check`` asks
once per batch), so a rule switched off in the staff console applies from the next check, in every process.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction

from compliance import loader, selectors
from compliance.engine import CheckResult, RuleBook
from compliance.models import Rule

__all__ = [
    "CheckResult",
    "RuleSyncResult",
    "ad_text_check",
    "ad_texts_check",
    "current_rule_book",
    "rule_files_sync",
    "rules_set_enabled",
]


class _Current:
    """The process's compiled rules, replaced when the database's version stamp changes."""

    lock = threading.Lock()
    book: RuleBook | None = None


def _files_token() -> str:
    digest = hashlib.sha256("".join(spec.content_hash for spec in loader.rule_specs()).encode()).hexdigest()
    return f"files:{digest[:16]}"


def current_rule_book() -> RuleBook:
    """The rules in force now, compiled lazily per (markets, channel, language) and reused until they change."""
    token = selectors.rules_version() or _files_token()
    book = _Current.book
    if book is not None and book.token == token:
        return book
    with _Current.lock:
        book = _Current.book
        if book is None or book.token != token:
            if token.startswith("files:"):
                specs, terms = list(loader.rule_specs()), []
            else:
                specs, terms = selectors.active_rule_definitions()
            book = RuleBook(rules=specs, terms=terms, token=token)
            _Current.book = book
    return book


def ad_text_check(*, text: str, markets: Iterable[str] | str, channel: str, language: str) -> CheckResult:
    """Check one ad text for ``markets`` (ISO codes such as DE, US, UK, or groups EU, GCC) on ``channel`` in
    ``language``. Returns a ``CheckResult``: ``verdict`` ("clean", "warn" or "blocked") and ``findings`` (dicts
    with rule_id, category, severity, start, end, match, explanation, fix, source, source_url, markets).

    With no market at all only the platform rules (those for every market) apply. ``ValueError`` for a channel
    no rule knows or a malformed market code.
    """
    return current_rule_book().check(text=text, markets=markets, channel=channel, language=language)


def ad_texts_check(
    *, texts: Sequence[str], markets: Iterable[str] | str, channel: str, language: str
) -> list[CheckResult]:
    """``ad_text_check`` for many texts at once (same markets, channel and language), in the same order."""
    ruleset = current_rule_book().ruleset(markets=markets, channel=channel, language=language)
    return [ruleset.check(text) for text in texts]


@dataclass(frozen=True)
class RuleSyncResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    retired: int = 0


def _file_fields(spec: loader.RuleSpec) -> dict:
    return {
        "file": spec.file,
        "file_version": spec.file_version,
        "category": spec.category,
        "severity": spec.severity,
        "markets": list(spec.markets),
        "channels": list(spec.channels),
        "languages": list(spec.languages),
        "explanation": spec.explanation,
        "fix": spec.fix,
        "source": spec.source,
        "source_url": spec.source_url,
        "definition": spec.definition(),
        "content_hash": spec.content_hash,
    }


@transaction.atomic
def rule_files_sync(*, specs: Iterable[loader.RuleSpec] | None = None) -> RuleSyncResult:
    """Bring the rules table in line with the rule files: add new rules, update changed ones, retire the ones
    no longer in the files. What staff decided (``enabled``, notes, added words) is kept. Each change is saved
    row by row so the history records it, with the file and its version as the reason."""
    specs = list(loader.rule_specs() if specs is None else specs)
    existing = {rule.rule_id: rule for rule in Rule.objects.select_for_update()}
    created = updated = unchanged = retired = 0
    for spec in specs:
        fields = _file_fields(spec)
        rule = existing.pop(spec.rule_id, None)
        reason = f"rule file {spec.file} version {spec.file_version}"
        if rule is None:
            rule = Rule(rule_id=spec.rule_id, **fields)
            rule._change_reason = reason
            rule.save()
            created += 1
        elif rule.content_hash != spec.content_hash or rule.file_version != spec.file_version or rule.retired:
            for name, value in fields.items():
                setattr(rule, name, value)
            rule.retired = False
            rule._change_reason = reason
            rule.save(update_fields=[*fields, "retired", "updated_at"])
            updated += 1
        else:
            unchanged += 1
    for rule in existing.values():
        if not rule.retired:
            rule.retired = True
            rule._change_reason = "no longer in the rule files"
            rule.save(update_fields=["retired", "updated_at"])
            retired += 1
    return RuleSyncResult(created=created, updated=updated, unchanged=unchanged, retired=retired)


@transaction.atomic
def rules_set_enabled(*, rule_ids: Iterable[int], enabled: bool) -> int:
    """Switch rules on or off (by primary key); returns how many changed. Saved one by one for the history."""
    changed = 0
    for rule in Rule.objects.select_for_update().filter(pk__in=list(rule_ids), enabled=not enabled):
        rule.enabled = enabled
        rule.save(update_fields=["enabled", "updated_at"])
        changed += 1
    return changed
