"""Proposals: every change a tool, a rule or a person proposes, as a row with its evidence. People with the push
permission approve or reject them in bulk; approved rows are the outbox that ``connectors`` claims and pushes
through the platform clients, recording each item's result here. Nothing here talks to a platform."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.services import record_audit
from campaigns.models import (
    OPEN_PROPOSAL_STATUSES,
    Proposal,
    ProposalKind,
    ProposalStatus,
    ToolRun,
)

PUSH_TASK = "connectors.tasks.push_proposals"  # dispatched by name: campaigns does not import connectors
# A claim older than this is taken to be from a worker that died mid-push; the sweeper re-queues it.
STALE_PUSH = timedelta(minutes=15)
# Proposal fields a tool's row may set (the rest are workflow state).
ROW_FIELDS = (
    "channel",
    "account_id",
    "marketplace",
    "campaign_id",
    "campaign_name",
    "ad_group_id",
    "ad_group_name",
    "target_id",
    "text",
    "match_type",
    "current_value",
    "proposed_value",
    "proposed_state",
    "currency",
    "evidence",
    "reason",
)


def dedupe_key(*, kind: str, channel: str, account_id: str, campaign_id="", ad_group_id="", target_id="", text="",
               match_type="") -> str:  # fmt: skip
    """One open proposal per change: the same keyword in the same ad group, the same target's bid, etc."""
    raw = "\x1f".join(
        [kind, channel, account_id, campaign_id, ad_group_id, target_id, text.casefold().strip(), match_type]
    )
    return f"{kind}:{hashlib.sha256(raw.encode()).hexdigest()[:40]}"


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return None if not number.is_finite() else number.quantize(Decimal("0.0001"))


def _jsonable(evidence: dict) -> dict:
    clean = {}
    for key, value in (evidence or {}).items():
        if value is None or isinstance(value, str | bool | int):
            clean[key] = value
        elif isinstance(value, float | Decimal):
            clean[key] = None if value != value else float(round(float(value), 6))  # NaN -> None
        else:
            clean[key] = str(value)
    return clean


@dataclass(frozen=True)
class Proposed:
    run: ToolRun
    created: int
    skipped: int


@transaction.atomic
def proposals_create(
    *,
    organization: Organization,
    tool: str,
    kind: str,
    rows: Iterable[dict],
    actor: User | None,
    parameters: dict | None = None,
    window: tuple | None = None,
    auto_approve: bool = False,
) -> Proposed:
    """One tool run and its proposals. A change that already has an open proposal is skipped (re-running a tool
    proposes nothing twice); ``auto_approve`` (a rule the seller allowed to act) approves them at once."""
    run = ToolRun.unscoped_objects.create(
        organization=organization,
        tool=tool,
        parameters=parameters or {},
        window_start=window[0] if window else None,
        window_end=window[1] if window else None,
        created_by=actor,
    )
    now = timezone.now()
    objects = []
    for row in rows:
        values = {field: row.get(field, "") for field in ROW_FIELDS}
        values["current_value"] = _decimal(row.get("current_value"))
        values["proposed_value"] = _decimal(row.get("proposed_value"))
        values["evidence"] = _jsonable(row.get("evidence") or {})
        for field in ROW_FIELDS:
            if values[field] is None and field not in {"current_value", "proposed_value"}:
                values[field] = ""
        key = dedupe_key(
            kind=kind,
            channel=values["channel"],
            account_id=str(values["account_id"]),
            campaign_id=str(values["campaign_id"]),
            ad_group_id=str(values["ad_group_id"]),
            target_id=str(values["target_id"]),
            text=str(values["text"]),
            match_type=str(values["match_type"]),
        )
        objects.append(
            Proposal(
                organization=organization,
                run=run,
                kind=kind,
                dedupe_key=key,
                status=ProposalStatus.APPROVED if auto_approve else ProposalStatus.PENDING,
                decided_at=now if auto_approve else None,
                **values,
            )
        )
    created = Proposal.unscoped_objects.bulk_create(objects, ignore_conflicts=True, batch_size=1000)
    # ignore_conflicts leaves no pks: count what this run holds
    count = Proposal.unscoped_objects.filter(organization=organization, run=run).count()
    run.proposed, run.skipped = count, len(created) - count
    run.save(update_fields=["proposed", "skipped", "updated_at"])
    record_audit(
        organization=organization,
        actor=actor,
        verb="campaigns.proposals_created",
        target=run,
        data={"tool": tool, "kind": kind, "proposed": count, "skipped": run.skipped, "auto_approved": auto_approve},
    )
    if auto_approve and count:
        _dispatch_push(organization)
    return Proposed(run=run, created=count, skipped=run.skipped)


def _dispatch_push(organization: Organization) -> None:
    """Queue the push after commit, by task name (a signature runs eagerly where Celery is eager, as in the
    browser tests, and goes to the broker everywhere else)."""
    from celery import current_app

    push = current_app.signature(PUSH_TASK, kwargs={"organization_id": organization.pk})
    transaction.on_commit(push.apply_async)


@transaction.atomic
def proposals_decide(*, organization: Organization, actor: User, ids: Iterable[int], approve: bool) -> int:
    """Approve (queue for push) or reject pending proposals, in bulk. Ids of another organization or in another
    state are ignored. Returns how many changed."""
    proposals = list(
        Proposal.unscoped_objects.select_for_update()
        .filter(organization=organization, pk__in=list(ids), status=ProposalStatus.PENDING)
        .order_by("pk")
    )
    if not proposals:
        return 0
    status = ProposalStatus.APPROVED if approve else ProposalStatus.REJECTED
    Proposal.unscoped_objects.filter(pk__in=[p.pk for p in proposals]).update(
        status=status, decided_by=actor, decided_at=timezone.now(), updated_at=timezone.now()
    )
    for proposal in proposals:
        record_audit(
            organization=organization,
            actor=actor,
            verb="campaigns.proposal_approved" if approve else "campaigns.proposal_rejected",
            target=proposal,
            data={"kind": proposal.kind, "channel": proposal.channel, "text": proposal.text[:100]},
        )
    if approve:
        _dispatch_push(organization)
    return len(proposals)


def proposals_claim(*, organization: Organization, limit: int = 100) -> list[Proposal]:
    """Claim approved proposals for a push (``pushing``), skipping rows another worker holds; also re-claims
    pushes left ``pushing`` by a worker that died."""
    with transaction.atomic():
        stale = timezone.now() - STALE_PUSH
        rows = list(
            Proposal.unscoped_objects.select_for_update(skip_locked=True)
            .filter(organization=organization)
            .filter(Q(status=ProposalStatus.APPROVED) | Q(status=ProposalStatus.PUSHING, updated_at__lt=stale))
            .order_by("channel", "account_id", "pk")[:limit]
        )
        if rows:
            Proposal.unscoped_objects.filter(pk__in=[p.pk for p in rows]).update(
                status=ProposalStatus.PUSHING, push_attempts=F("push_attempts") + 1, updated_at=timezone.now()
            )
            for row in rows:
                row.status = ProposalStatus.PUSHING
                row.push_attempts += 1
    return rows


@transaction.atomic
def proposal_record_result(
    *,
    proposal: Proposal,
    ok: bool,
    code: str = "",
    message: str = "",
    platform_id: str = "",
    previous: dict | None = None,
) -> Proposal:
    """The platform's answer for one item. A rollback that succeeds marks what it undid as rolled back."""
    now = timezone.now()
    proposal.status = ProposalStatus.PUSHED if ok else ProposalStatus.FAILED
    proposal.result_code = code[:64]
    proposal.result_message = message
    proposal.pushed_at = now if ok else proposal.pushed_at
    if platform_id:
        proposal.platform_id = platform_id
    if previous is not None:
        proposal.previous = previous
    proposal.save(
        update_fields=["status", "result_code", "result_message", "pushed_at", "platform_id", "previous", "updated_at"]
    )
    if ok and proposal.rollback_of_id:
        Proposal.unscoped_objects.filter(pk=proposal.rollback_of_id).update(
            status=ProposalStatus.ROLLED_BACK, updated_at=now
        )
    record_audit(
        organization=proposal.organization,
        actor=None,
        verb="campaigns.proposal_pushed" if ok else "campaigns.proposal_push_failed",
        target=proposal,
        data={"kind": proposal.kind, "channel": proposal.channel, "code": code[:64], "platform_id": platform_id},
    )
    return proposal


class RollbackError(Exception):
    pass


def rollback_possible(proposal: Proposal) -> bool:
    """A pushed change can be undone when we know what to restore: the previous bid, budget or state, or the id
    of the keyword or negative the push created (archived on rollback)."""
    if proposal.status != ProposalStatus.PUSHED or proposal.rollback_of_id:
        return False
    if proposal.kind in {ProposalKind.KEYWORD, ProposalKind.NEGATIVE}:
        return bool(proposal.platform_id)
    if proposal.kind in {ProposalKind.BID, ProposalKind.BUDGET}:
        return proposal.current_value is not None or "value" in proposal.previous
    if proposal.kind == ProposalKind.STATUS:
        return bool(proposal.previous.get("state"))
    return False


@transaction.atomic
def proposal_rollback(*, organization: Organization, actor: User, proposal_id: int) -> Proposal:
    """Queue the inverse of a pushed change as an approved proposal of its own (pushed and audited like any)."""
    original = Proposal.unscoped_objects.select_for_update().get(organization=organization, pk=proposal_id)
    if not rollback_possible(original):
        raise RollbackError(_("This change cannot be rolled back on the platform."))
    earlier = Proposal.unscoped_objects.filter(organization=organization, rollback_of=original)
    if earlier.filter(status__in=OPEN_PROPOSAL_STATUSES).exists():
        raise RollbackError(_("A rollback of this change is already on its way."))
    inverse = {
        "kind": original.kind,
        "channel": original.channel,
        "account_id": original.account_id,
        "marketplace": original.marketplace,
        "campaign_id": original.campaign_id,
        "campaign_name": original.campaign_name,
        "ad_group_id": original.ad_group_id,
        "ad_group_name": original.ad_group_name,
        "text": original.text,
        "match_type": original.match_type,
        "currency": original.currency,
    }
    if original.kind in {ProposalKind.KEYWORD, ProposalKind.NEGATIVE}:
        inverse.update(target_id=original.platform_id, proposed_state="archived")
        reason = _("Rollback: archive %(text)s, created by an earlier push.") % {"text": original.text}
    elif original.kind == ProposalKind.STATUS:
        inverse.update(target_id=original.target_id, proposed_state=original.previous["state"])
        reason = _("Rollback: back to %(state)s.") % {"state": original.previous["state"]}
    else:
        before = original.previous.get("value", original.current_value)
        inverse.update(
            target_id=original.target_id,
            current_value=original.proposed_value,
            proposed_value=_decimal(before),
        )
        reason = _("Rollback: back to %(value)s.") % {"value": before}
    key = f"rollback:{original.pk}:{earlier.count()}"
    rollback = Proposal.unscoped_objects.create(
        organization=organization,
        status=ProposalStatus.APPROVED,
        decided_by=actor,
        decided_at=timezone.now(),
        rollback_of=original,
        reason=reason,
        dedupe_key=key,
        evidence={"rollback_of": original.pk},
        **inverse,
    )
    record_audit(
        organization=organization,
        actor=actor,
        verb="campaigns.proposal_rollback",
        target=original,
        data={"rollback": rollback.pk},
    )
    _dispatch_push(organization)
    return rollback


def proposals_release(*, ids: Iterable[int], message: str) -> int:
    """Undo the claim of proposals a busy platform did not answer: back to ``approved`` for the next push, with
    the reason shown on the row. Returns how many went back."""
    return Proposal.unscoped_objects.filter(pk__in=list(ids), status=ProposalStatus.PUSHING).update(
        status=ProposalStatus.APPROVED, result_code="retrying", result_message=message, updated_at=timezone.now()
    )


def organizations_with_due_pushes(*, approved_grace: timedelta, now=None) -> list[int]:
    """Organizations (beat fan-out) with proposals whose push was lost: approved and untouched for longer than
    ``approved_grace``, or left ``pushing`` by a worker that died (``STALE_PUSH``)."""
    now = now or timezone.now()
    due = Q(status=ProposalStatus.APPROVED, updated_at__lt=now - approved_grace) | Q(
        status=ProposalStatus.PUSHING, updated_at__lt=now - STALE_PUSH
    )
    return list(Proposal.unscoped_objects.filter(due).values_list("organization_id", flat=True).distinct())
