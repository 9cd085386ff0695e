"""Rules: saving them (checked), running them (dry or real) and finding the ones the schedule says are due.

A dry run evaluates the rule and stores what it would change on a ``RuleRun``; nothing else is written but
the audit event. A real run stores the same changes and turns them into proposals through
``proposals_create`` (approved at once when the rule is allowed to apply itself), so a dry run and a real run
on the same day show exactly the same changes. Every run is audited.

Schedules: a daily rule runs once per local day of its organization, a weekly one once on local Mondays, in
both cases from ``RUN_HOUR`` local time (after the night's syncs). Any real run in the period, scheduled or
by hand, counts as the period's run, so the beat can fire as often as it likes: ``rules_due`` lists rules
without one, and ``rule_run_scheduled`` checks again under a row lock before running.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, User
from accounts.permissions import Perm, has_perm
from accounts.services import record_audit
from analytics.query import today_in
from campaigns import rule_selectors, rules
from campaigns.models import Rule, RuleRun, ToolRun
from campaigns.services.proposals import proposals_create

RUN_HOUR = 6
RULE_FIELDS = (
    "name",
    "scope",
    "channels",
    "conditions",
    "action",
    "schedule",
    "enabled",
    "auto_apply",
    "max_changes",
    "max_spend_increase_pct",
)


def _role(organization: Organization, actor: User | None) -> str | None:
    if actor is None:
        return None
    return (
        Membership.unscoped_objects.filter(organization=organization, user=actor).values_list("role", flat=True).first()
    )


def can_push(organization: Organization, actor: User | None) -> bool:
    return has_perm(_role(organization, actor), Perm.PUSH_CHANGES)


def rule_validate(*, organization: Organization, actor: User | None, data: dict) -> rules.RuleSpec:
    """The checked spec of submitted rule data, or ``ValidationError`` with every message a seller can act on."""
    errors: list[str] = []
    name = str(data.get("name") or "").strip()
    if not name:
        errors.append(_("Give the rule a name."))
    if data.get("schedule", Rule.Schedule.DAILY) not in Rule.Schedule.values:
        errors.append(_("Choose when the rule runs."))
    spec = None
    try:
        spec = rules.parse_rule(
            scope=data.get("scope"),
            conditions=data.get("conditions"),
            action=data.get("action"),
            channels=data.get("channels") or (),
            max_changes=data.get("max_changes", 50),
            max_spend_increase_pct=data.get("max_spend_increase_pct", 20),
        )
    except rules.InvalidRule as invalid:
        errors.extend(invalid.messages)
    if data.get("auto_apply") and not can_push(organization, actor):
        errors.append(_("Only members who may push changes can let a rule apply its changes without approval."))
    if errors:
        raise ValidationError(errors)
    return spec


@transaction.atomic
def rule_save(*, organization: Organization, actor: User | None, data: dict, rule: Rule | None = None) -> Rule:
    """Create a rule, or update ``rule``, from ``data`` (the ``RULE_FIELDS``; conditions and action as the JSON
    ``campaigns.rules`` describes). Raises ``ValidationError`` and writes nothing when the rule cannot run."""
    spec = rule_validate(organization=organization, actor=actor, data=data)
    values = {
        "name": str(data["name"]).strip()[:120],
        "scope": spec.scope,
        "channels": list(spec.channels),
        "conditions": [condition.as_json() for condition in spec.conditions],
        "action": spec.action_json(),
        "schedule": data.get("schedule", Rule.Schedule.DAILY),
        "enabled": bool(data.get("enabled", True)),
        "auto_apply": bool(data.get("auto_apply", False)),
        "max_changes": spec.max_changes,
        "max_spend_increase_pct": Decimal(str(spec.max_spend_increase_pct)).quantize(Decimal("0.01")),
    }
    if rule is None:
        rule = Rule.unscoped_objects.create(organization=organization, created_by=actor, **values)
        verb = "campaigns.rule_created"
    else:
        if rule.organization_id != organization.pk:
            raise PermissionDenied
        for key, value in values.items():
            setattr(rule, key, value)
        rule.save(update_fields=[*values, "updated_at"])
        verb = "campaigns.rule_updated"
    record_audit(
        organization=organization,
        actor=actor,
        verb=verb,
        target=rule,
        data={"scope": rule.scope, "action": spec.action, "auto_apply": rule.auto_apply, "enabled": rule.enabled},
    )
    return rule


@transaction.atomic
def rule_set_enabled(*, organization: Organization, actor: User | None, rule: Rule, enabled: bool) -> Rule:
    """Switch a rule's schedule on or off. Switching on a rule that applies itself needs the push permission."""
    if rule.organization_id != organization.pk:
        raise PermissionDenied
    if enabled and rule.auto_apply and not can_push(organization, actor):
        raise PermissionDenied(_("Only members who may push changes can switch on a rule that applies itself."))
    if rule.enabled != enabled:
        rule.enabled = enabled
        rule.save(update_fields=["enabled", "updated_at"])
        record_audit(
            organization=organization,
            actor=actor,
            verb="campaigns.rule_enabled" if enabled else "campaigns.rule_disabled",
            target=rule,
        )
    return rule


def default_as_of(organization: Organization) -> date:
    """The last complete day in the organization's time zone: yesterday."""
    return today_in(organization.time_zone) - timedelta(days=1)


def rule_run(
    *, organization: Organization, rule: Rule, actor: User | None, dry_run: bool, as_of: date | None = None
) -> RuleRun:
    """Evaluate ``rule`` on the days up to ``as_of`` (default: yesterday, local). A dry run records the changes
    only; a real run also proposes them (approved at once when the rule applies itself). A person running a
    rule that applies itself needs the push permission (``PermissionDenied``); the schedule runs as no one."""
    if rule.organization_id != organization.pk:
        raise PermissionDenied
    if not dry_run and rule.auto_apply and actor is not None and not can_push(organization, actor):
        raise PermissionDenied(_("Only members who may push changes can run a rule that applies itself."))
    spec = rules.spec_of(rule)
    as_of = as_of or default_as_of(organization)
    frames = rule_selectors.rule_frames(organization=organization, spec=spec, as_of=as_of)
    evaluation = rules.evaluate(frames_by_window=frames, rule_spec=spec, as_of=as_of)
    records = evaluation.records()
    summary = {
        "rule_id": rule.pk,
        "matched": evaluation.matched,
        "unchanged": evaluation.unchanged,
        "changes": len(records),
        "stopped_by_guardrail": evaluation.stopped_by_guardrail,
    }
    with transaction.atomic():
        tool_run = None
        proposed = 0
        if not dry_run and records:
            result = proposals_create(
                organization=organization,
                tool=ToolRun.Tool.RULE,
                kind=evaluation.kind,
                rows=records,
                actor=actor,
                parameters={
                    "rule_id": rule.pk,
                    "name": rule.name,
                    "scope": spec.scope,
                    "conditions": [condition.as_json() for condition in spec.conditions],
                    "action": spec.action_json(),
                    "as_of": as_of.isoformat(),
                },
                window=evaluation.window,
                auto_approve=rule.auto_apply,
            )
            tool_run, proposed = result.run, result.created
            tool_run.summary = summary
            tool_run.save(update_fields=["summary", "updated_at"])
        run = RuleRun.unscoped_objects.create(
            organization=organization,
            rule=rule,
            tool_run=tool_run,
            dry_run=dry_run,
            matched=evaluation.matched,
            changes=records,
            stopped_by_guardrail=evaluation.stopped_by_guardrail[:200],
        )
        record_audit(
            organization=organization,
            actor=actor,
            verb="campaigns.rule_dry_run" if dry_run else "campaigns.rule_run",
            target=rule,
            data={**summary, "run": run.pk, "as_of": as_of.isoformat(), "proposed": proposed},
        )
    return run


# --- schedule ---------------------------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def period_start(*, schedule: str, now: datetime, time_zone: str) -> datetime | None:
    """When the current run period of a schedule began (an aware datetime), or None when nothing is due now:
    before ``RUN_HOUR`` local, on a day other than Monday for a weekly rule, or a manual rule."""
    zone = _zone(time_zone)
    local = now.astimezone(zone)
    if schedule not in (Rule.Schedule.DAILY, Rule.Schedule.WEEKLY) or local.hour < RUN_HOUR:
        return None
    if schedule == Rule.Schedule.WEEKLY and local.weekday() != 0:
        return None
    return datetime.combine(local.date(), time.min, tzinfo=zone)


def rules_due(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(organization id, rule id) of every enabled, scheduled rule due now without a real run in its period.
    Beat fan-out only (reads across organizations); two queries whatever the number of rules."""
    now = now or timezone.now()
    candidates = Rule.unscoped_objects.filter(
        enabled=True, schedule__in=[Rule.Schedule.DAILY, Rule.Schedule.WEEKLY]
    ).values_list("pk", "organization_id", "schedule", "organization__time_zone")
    starts = {}
    for pk, organization_id, schedule, time_zone in candidates:
        start = period_start(schedule=schedule, now=now, time_zone=time_zone)
        if start is not None:
            starts[pk] = (organization_id, start)
    if not starts:
        return []
    earliest = min(start for _org, start in starts.values())
    ran = RuleRun.unscoped_objects.filter(rule_id__in=starts, dry_run=False, created_at__gte=earliest).values_list(
        "rule_id", "created_at"
    )
    done = {rule_id for rule_id, created_at in ran if created_at >= starts[rule_id][1]}
    return sorted((organization_id, pk) for pk, (organization_id, _start) in starts.items() if pk not in done)


def rule_run_scheduled(*, organization: Organization, rule_id: int, now: datetime | None = None) -> RuleRun | None:
    """The schedule's run of one rule: claimed under a row lock, and skipped (None) when the rule is gone,
    switched off, not due, or already run in its period (a duplicate message, a second beat)."""
    now = now or timezone.now()
    with transaction.atomic():
        rule = (
            Rule.unscoped_objects.select_for_update()
            .filter(organization=organization, pk=rule_id, enabled=True)
            .first()
        )
        if rule is None:
            return None
        start = period_start(schedule=rule.schedule, now=now, time_zone=organization.time_zone)
        if start is None:
            return None
        if RuleRun.unscoped_objects.filter(rule=rule, dry_run=False, created_at__gte=start).exists():
            return None
        try:
            spec_ok = rules.spec_of(rule) is not None
        except rules.InvalidRule:
            spec_ok = False
        if not spec_ok:
            return None
        with translation.override(organization.default_language):
            return rule_run(organization=organization, rule=rule, actor=None, dry_run=False)
