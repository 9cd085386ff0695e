"""Proposals: created once per change, decided in bulk by the right organization, claimed once for a push,
results recorded per item, rollbacks queued as approved inverse changes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AuditEvent, Role
from accounts.tests.factories import OrganizationFactory, member
from campaigns.models import Proposal, ProposalKind, ProposalStatus, ToolRun
from campaigns.services.proposals import (
    RollbackError,
    proposal_record_result,
    proposal_rollback,
    proposals_claim,
    proposals_create,
    proposals_decide,
    rollback_possible,
)

pytestmark = pytest.mark.django_db


def keyword_row(text, **extra):
    return {
        "channel": "amazon_ads",
        "account_id": "P1",
        "marketplace": "US",
        "campaign_id": "C1",
        "ad_group_id": "G1",
        "text": text,
        "match_type": "EXACT",
        "proposed_value": 0.75,
        "currency": "USD",
        "evidence": {"clicks": 12, "orders": 3, "acos": 0.18, "nan": float("nan")},
        "reason": "converting",
        **extra,
    }


@pytest.fixture
def org():
    return OrganizationFactory()


@pytest.fixture
def owner(org):
    return member(org, Role.OWNER)


def test_rerunning_a_tool_proposes_nothing_twice(org, owner):
    first = proposals_create(
        organization=org,
        tool="harvest",
        kind=ProposalKind.KEYWORD,
        rows=[keyword_row("lamp"), keyword_row("desk lamp")],
        actor=owner,
    )
    again = proposals_create(
        organization=org,
        tool="harvest",
        kind=ProposalKind.KEYWORD,
        rows=[keyword_row("Lamp "), keyword_row("floor lamp")],
        actor=owner,
    )
    assert (first.created, first.skipped) == (2, 0)
    assert (again.created, again.skipped) == (1, 1)  # "Lamp " is the open "lamp" proposal
    rows = Proposal.unscoped_objects.filter(organization=org).order_by("pk")
    assert [p.text for p in rows] == ["lamp", "desk lamp", "floor lamp"]
    assert rows[0].proposed_value == Decimal("0.7500")
    assert rows[0].evidence == {"clicks": 12, "orders": 3, "acos": 0.18, "nan": None}
    assert ToolRun.unscoped_objects.filter(organization=org).count() == 2


def test_a_rejected_change_can_be_proposed_again(org, owner):
    proposals_create(organization=org, tool="harvest", kind="keyword", rows=[keyword_row("lamp")], actor=owner)
    proposal = Proposal.unscoped_objects.get(organization=org)
    assert proposals_decide(organization=org, actor=owner, ids=[proposal.pk], approve=False) == 1
    again = proposals_create(organization=org, tool="harvest", kind="keyword", rows=[keyword_row("lamp")], actor=owner)
    assert again.created == 1


def test_decide_ignores_other_organizations_and_decided_rows(org, owner, django_capture_on_commit_callbacks):
    other = OrganizationFactory()
    proposals_create(
        organization=org, tool="harvest", kind="keyword", rows=[keyword_row("a"), keyword_row("b")], actor=owner
    )
    proposals_create(organization=other, tool="harvest", kind="keyword", rows=[keyword_row("c")], actor=None)
    mine = list(Proposal.unscoped_objects.filter(organization=org).order_by("pk"))
    theirs = Proposal.unscoped_objects.get(organization=other)

    with django_capture_on_commit_callbacks() as callbacks:
        changed = proposals_decide(organization=org, actor=owner, ids=[mine[0].pk, theirs.pk], approve=True)
    assert changed == 1
    assert len(callbacks) == 1  # the push is dispatched once, after commit
    theirs.refresh_from_db()
    assert theirs.status == ProposalStatus.PENDING
    mine[0].refresh_from_db()
    assert (mine[0].status, mine[0].decided_by) == (ProposalStatus.APPROVED, owner)
    assert proposals_decide(organization=org, actor=owner, ids=[mine[0].pk], approve=False) == 0  # already decided
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="campaigns.proposal_approved").count() == 1


def _approved(org, owner, *texts):
    proposals_create(
        organization=org, tool="harvest", kind="keyword", rows=[keyword_row(t) for t in texts], actor=owner
    )
    ids = list(Proposal.unscoped_objects.filter(organization=org).values_list("pk", flat=True))
    proposals_decide(organization=org, actor=owner, ids=ids, approve=True)
    return ids


def test_claim_takes_each_approved_row_once_and_retakes_a_stale_push(org, owner):
    _approved(org, owner, "a", "b")
    first = proposals_claim(organization=org)
    assert {p.status for p in first} == {ProposalStatus.PUSHING}
    assert proposals_claim(organization=org) == []  # nothing left to claim
    stale = timezone.now() - timedelta(hours=1)
    Proposal.unscoped_objects.filter(pk=first[0].pk).update(updated_at=stale)  # its worker died
    again = proposals_claim(organization=org)
    assert [p.pk for p in again] == [first[0].pk]
    assert again[0].push_attempts == 2


def test_results_and_rollback_of_a_created_keyword(org, owner):
    _approved(org, owner, "lamp")
    [claimed] = proposals_claim(organization=org)
    assert not rollback_possible(claimed)
    pushed = proposal_record_result(proposal=claimed, ok=True, code="SUCCESS", platform_id="K-9")
    assert pushed.status == ProposalStatus.PUSHED and pushed.pushed_at is not None
    assert rollback_possible(pushed)

    rollback = proposal_rollback(organization=org, actor=owner, proposal_id=pushed.pk)
    assert (rollback.status, rollback.target_id, rollback.proposed_state) == (
        ProposalStatus.APPROVED,
        "K-9",
        "archived",
    )
    with pytest.raises(RollbackError):
        proposal_rollback(organization=org, actor=owner, proposal_id=pushed.pk)  # one on its way already

    [claimed_rollback] = proposals_claim(organization=org)
    proposal_record_result(proposal=claimed_rollback, ok=True, code="SUCCESS")
    pushed.refresh_from_db()
    assert pushed.status == ProposalStatus.ROLLED_BACK


def test_bid_rollback_restores_the_previous_value_and_failed_items_keep_the_message(org, owner):
    row = keyword_row("", target_id="T1", current_value=Decimal("1.00"), proposed_value=Decimal("0.80"), match_type="")
    proposals_create(
        organization=org, tool="bids", kind=ProposalKind.BID, rows=[row, {**row, "target_id": "T2"}], actor=owner
    )
    ids = list(Proposal.unscoped_objects.filter(organization=org).values_list("pk", flat=True))
    proposals_decide(organization=org, actor=owner, ids=ids, approve=True)
    first, second = proposals_claim(organization=org)
    proposal_record_result(proposal=first, ok=True, previous={"value": "1.05"})
    failed = proposal_record_result(proposal=second, ok=False, code="INVALID_ARGUMENT", message="bid below minimum")
    assert (failed.status, failed.result_message) == (ProposalStatus.FAILED, "bid below minimum")
    assert not rollback_possible(failed)
    rollback = proposal_rollback(organization=org, actor=owner, proposal_id=first.pk)
    assert (rollback.current_value, rollback.proposed_value) == (Decimal("0.8000"), Decimal("1.0500"))


def test_rollback_of_another_organizations_proposal_is_not_found(org, owner):
    other = OrganizationFactory()
    _approved(other, member(other, Role.OWNER), "x")
    [claimed] = proposals_claim(organization=other)
    proposal_record_result(proposal=claimed, ok=True, platform_id="K-1")
    with pytest.raises(Proposal.DoesNotExist):
        proposal_rollback(organization=org, actor=owner, proposal_id=claimed.pk)
