"""The push engine without a platform: channels it cannot push to, accounts that are not connected, the retry
delays, the sweeper's choice of organizations and the task wiring (the platforms' own pushes are in
test_push_amazon_ads.py and test_push_google_ads.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.tests.factories import OrganizationFactory
from campaigns.models import Proposal, ProposalStatus
from campaigns.services.proposals import PUSH_TASK, STALE_PUSH, proposals_create, proposals_decide
from config.schedules import SCHEDULES
from connectors import push
from connectors.models import ConnectionStatus
from connectors.tasks import push_proposals, push_proposals_due
from connectors.tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def approve(org, user, channel: str, account_id: str = "1234567890", **values) -> Proposal:
    row = {"channel": channel, "account_id": account_id, "campaign_id": "C1", "ad_group_id": "G1", "text": "lamp"}
    row = {**row, "match_type": "EXACT", **values}
    run = proposals_create(organization=org, tool="manual", kind="keyword", rows=[row], actor=user).run
    proposal = Proposal.unscoped_objects.get(run=run)
    assert proposals_decide(organization=org, actor=user, ids=[proposal.pk], approve=True) == 1
    return proposal


def result(proposal: Proposal) -> tuple:
    proposal.refresh_from_db()
    return proposal.status, proposal.result_code, proposal.result_message


def test_a_channel_without_a_pusher_fails_with_a_pointer_to_the_platforms_console(org, owner):
    proposal = approve(org, owner, "shopee_ads")

    assert push_proposals.delay(organization_id=org.pk).get() == 1

    assert result(proposal) == (
        ProposalStatus.FAILED,
        "unsupported",
        "Pushing to Shopee Ads is not available yet; make this change in the platform's console.",
    )
    assert proposal.push_attempts == 1
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="campaigns.proposal_push_failed").count() == 1


def test_an_account_without_a_live_connection_fails_the_change(org, owner):
    ConnectionFactory(organization=org, platform="google_ads", external_id="555", status=ConnectionStatus.DISCONNECTED)
    ConnectionFactory(organization=OrganizationFactory(), platform="google_ads", external_id="777")  # not ours
    gone, theirs = approve(org, owner, "google_ads", "555"), approve(org, owner, "google_ads", "777", text="desk")

    assert push.proposals_push(organization=org) == 2

    assert [result(gone)[:2], result(theirs)[:2]] == [(ProposalStatus.FAILED, "no_connection")] * 2
    assert result(gone)[2] == (
        "Google Ads account 555 is not connected (or was disconnected). Connect it on the Connections page, then "
        "propose the change again."
    )


def test_an_account_to_reconnect_fails_the_change_without_calling_the_platform(org, owner):
    ConnectionFactory(organization=org, external_id="42", name="Lamps US", status=ConnectionStatus.REAUTH)
    proposal = approve(org, owner, "amazon_ads", "42")

    assert push.proposals_push(organization=org) == 1

    assert result(proposal) == (
        ProposalStatus.FAILED,
        "reauth",
        "Amazon Ads needs you to reconnect Lamps US before changes can be pushed.",
    )


@pytest.mark.parametrize(
    ("retry_after", "retries", "delay"),
    [(120.0, 0, 120.0), (None, 0, 30.0), (None, 3, 240.0), (None, 9, 600.0), (5000.0, 0, 600.0), (0.0, 2, 1.0)],
)
def test_a_deferred_push_waits_for_retry_after_or_backs_off_within_bounds(retry_after, retries, delay):
    assert push.retry_delay(retry_after=retry_after, retries=retries) == delay


def test_the_sweeper_picks_lost_pushes_and_dead_claims_only(org, owner):
    now = timezone.now()
    other, quiet = OrganizationFactory(), OrganizationFactory()
    lost = approve(org, owner, "meta", text="a")
    dead = approve(other, None, "meta", text="b")
    fresh = approve(quiet, None, "meta", text="c")  # approved just now: its own dispatch is on its way
    claimed = approve(quiet, None, "meta", text="d")
    Proposal.unscoped_objects.filter(pk=lost.pk).update(updated_at=now - push.APPROVED_GRACE - timedelta(seconds=1))
    Proposal.unscoped_objects.filter(pk=dead.pk).update(
        status=ProposalStatus.PUSHING, updated_at=now - STALE_PUSH - timedelta(seconds=1)
    )
    Proposal.unscoped_objects.filter(pk=claimed.pk).update(status=ProposalStatus.PUSHING, updated_at=now)

    assert sorted(push.organizations_with_due_pushes(now=now)) == sorted([org.pk, other.pk])

    assert push_proposals_due() == 2
    assert [result(p)[0] for p in (lost, dead, fresh, claimed)] == [
        ProposalStatus.FAILED,
        ProposalStatus.FAILED,
        ProposalStatus.APPROVED,
        ProposalStatus.PUSHING,
    ]


def test_the_task_approval_dispatches_is_registered_and_the_sweeper_is_scheduled():
    assert PUSH_TASK == push_proposals.name == "connectors.tasks.push_proposals"
    assert current_app.tasks[PUSH_TASK].acks_late is True
    entry = SCHEDULES["connectors.push-proposals-due"]
    assert (entry["task"], entry["crontab"], entry["expires"]) == (
        "connectors.tasks.push_proposals_due",
        {"minute": "*/2"},
        100,
    )
    assert push_proposals_due.name in current_app.tasks
