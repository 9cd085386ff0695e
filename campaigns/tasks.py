"""Scheduled rule runs: the beat fans out one task per due rule; each runs inside its organization's scope."""

from celery import shared_task

from accounts.scoping import organization_task
from campaigns.services import rules


@shared_task(name="campaigns.tasks.run_rule", acks_late=True)
@organization_task
def run_rule(*, organization, rule_id: int) -> int | None:
    """Run one rule for its schedule, once per period (a repeat is a no-op). Returns the run's id, if any."""
    run = rules.rule_run_scheduled(organization=organization, rule_id=rule_id)
    return run.pk if run else None


@shared_task(name="campaigns.tasks.run_due_rules")
def run_due_rules() -> int:
    """Beat entry (hourly): queue a run of every enabled rule whose daily or weekly period has begun in its
    organization's time zone and has no real run yet."""
    due = rules.rules_due()
    for organization_id, rule_id in due:
        run_rule.delay(organization_id=organization_id, rule_id=rule_id)
    return len(due)
