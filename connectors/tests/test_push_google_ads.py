"""Pushing approved proposals to Google Ads, end to end against the fake (real HTTP, real PostgreSQL, eager Celery).

Every batch is validated (``validateOnly``) before it is applied; the fake applies accepted operations to its
dataset, so its GAQL answers (and the next sync) show them, and ``fake.mutations`` holds every applied request.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from celery.signals import task_retry
from django.utils import timezone

from accounts.scoping import organization_scope
from campaigns.models import Campaign, NegativeKeyword, Proposal, ProposalStatus, Target
from campaigns.services.proposals import (
    STALE_PUSH,
    proposal_rollback,
    proposals_claim,
    proposals_create,
    proposals_decide,
)
from config.celery_app import app as celery_app
from config.testing import serve_wsgi
from connectors import push, services
from connectors.backends.base import DiscoveredAccount
from connectors.backends.google_ads import push as google_push
from connectors.backends.google_ads.demo_data import MANAGER_ID, US_ID, Dataset
from connectors.backends.google_ads.fake import CLIENTS, DEVELOPER_TOKENS, make_app
from connectors.models import RunKind, RunStatus
from connectors.tasks import push_proposals, push_proposals_due
from connectors.tasks import run_sync as sync_task

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = next(iter(CLIENTS.items()))


@pytest.fixture
def fake(settings):
    app = make_app(dataset=Dataset(days=5))
    with serve_wsgi(app) as url:
        app.public_url = url
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "google_ads": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "developer_token": next(iter(DEVELOPER_TOKENS)),
                "api_version": "v26",
                "auth_url": f"{url}/o/oauth2/v2/auth",
                "token_url": f"{url}/token",
                "api_url": f"{url}/api",
                "timeout": 5,
                "rate": 1000,
                "burst": 1000,
                "sleep": lambda seconds: None,
            },
        }
        yield app


@pytest.fixture
def connection(org, fake):
    account = DiscoveredAccount(
        external_id=str(US_ID),
        name="Hearth & Grain Home US",
        currency="USD",
        time_zone="America/New_York",
        marketplace="US",
        config={"login_customer_id": str(MANAGER_ID)},  # reached through the manager account, as discovered
    )
    return services.connection_upsert(
        organization=org, platform="google_ads", account=account, credentials=fake.grant(), user=None
    )


@pytest.fixture
def eager_retries():
    propagates = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        celery_app.conf.task_eager_propagates = propagates


@pytest.fixture
def retry_countdowns():
    seen: list[float] = []

    def on_retry(sender=None, reason=None, **kwargs):
        if sender is not None and sender.name == push_proposals.name:
            seen.append(reason.when)

    task_retry.connect(on_retry, weak=False)
    try:
        yield seen
    finally:
        task_retry.disconnect(on_retry)


# --- helpers ------------------------------------------------------------------------------------------------


def campaign(fake, name):
    return next(c for c in fake.dataset.account(US_ID).campaigns if c.name == name)


def group(fake, name):
    return next(g for c in fake.dataset.account(US_ID).campaigns for g in c.ad_groups if g.name == name)


def criterion(ad_group, text, match_type):
    return next(k for k in ad_group.criteria if (k.text, k.match_type) == (text, match_type))


def row(**values) -> dict:
    return {"channel": "google_ads", "account_id": str(US_ID), "marketplace": "US", "currency": "USD", **values}


def in_group(ad_group, text: str, match_type: str = "EXACT", **values) -> dict:
    return row(ad_group_id=str(ad_group.id), text=text, match_type=match_type, **values)


def approve(org, user, kind: str, *rows: dict) -> list[Proposal]:
    """Proposals as a tool makes them, approved (each test runs the push itself: eager Celery ignores the
    ``send_task`` the approval dispatches after commit)."""
    run = proposals_create(organization=org, tool="manual", kind=kind, rows=rows, actor=user).run
    ids = list(Proposal.unscoped_objects.filter(run=run).order_by("pk").values_list("pk", flat=True))
    assert proposals_decide(organization=org, actor=user, ids=ids, approve=True) == len(rows)
    return list(Proposal.unscoped_objects.filter(pk__in=ids).order_by("pk"))


def fresh(proposals) -> list[Proposal]:
    return list(Proposal.unscoped_objects.filter(pk__in=[p.pk for p in proposals]).order_by("pk"))


def mutates(fake) -> list[tuple[str, int]]:
    return [(path.rsplit("/", 1)[1], status) for _m, path, status, _h in fake.api_calls(":mutate")]


# --- pushing --------------------------------------------------------------------------------------------------


def test_changes_are_validated_then_applied_with_ids_and_previous_values_and_the_next_sync_has_them(
    org, owner, fake, connection, django_capture_on_commit_callbacks
):
    tables, brand, lamps = group(fake, "Table lamps"), campaign(fake, "Search | Brand"), "Search | Lamps | Generic"
    ceramic, table_lamp = criterion(tables, "ceramic table lamp", "EXACT"), criterion(tables, "table lamp", "PHRASE")
    lamps_id = campaign(fake, lamps).id
    given = (
        approve(org, owner, "keyword", in_group(tables, "brass table lamp", proposed_value=1.25))
        + approve(
            org,
            owner,
            "negative",
            in_group(tables, "lamp shade", "NEGATIVE_PHRASE"),
            row(campaign_id=str(lamps_id), text="used", match_type="NEGATIVE_PHRASE"),
        )
        + approve(org, owner, "bid", in_group(tables, "", target_id=str(ceramic.criterion_id), proposed_value=1.45))
        + approve(org, owner, "budget", row(campaign_id=str(brand.id), proposed_value=45.5))
        + approve(
            org, owner, "status", in_group(tables, "", target_id=str(table_lamp.criterion_id), proposed_state="paused")
        )
    )

    assert push_proposals.delay(organization_id=org.pk).get() == 6

    assert [(p.status, p.result_code) for p in fresh(given)] == [(ProposalStatus.PUSHED, "")] * 6
    keyword, group_negative, campaign_negative, bid, budget, status = fresh(given)
    brass = criterion(tables, "brass table lamp", "EXACT")
    shade = criterion(tables, "lamp shade", "PHRASE")
    used = next(k for k in campaign(fake, lamps).criteria if k.text == "used")
    assert (brass.cpc_bid_micros, brass.negative, shade.negative, used.negative) == (1_250_000, False, True, True)
    assert [p.platform_id for p in (keyword, group_negative, campaign_negative)] == [
        f"{tables.id}~{brass.criterion_id}",
        f"{tables.id}~{shade.criterion_id}",
        f"{lamps_id}~{used.criterion_id}",
    ]
    assert (bid.previous, ceramic.cpc_bid_micros) == ({"value": "1.6"}, 1_450_000)
    assert (budget.previous, brand.budget.amount_micros) == ({"value": "30"}, 45_500_000)
    assert (status.previous, table_lamp.status) == ({"state": "enabled"}, "PAUSED")
    assert mutates(fake) == [  # each collection validated, then applied
        ("adGroupCriteria:mutate", 200),
        ("adGroupCriteria:mutate", 200),
        ("campaignCriteria:mutate", 200),
        ("campaignCriteria:mutate", 200),
        ("campaignBudgets:mutate", 200),
        ("campaignBudgets:mutate", 200),
    ]
    assert [(m["service"], m["validateOnly"], m["partialFailure"], len(m["operations"])) for m in fake.mutations] == [
        ("adGroupCriteria", False, True, 4),
        ("campaignCriteria", False, True, 1),
        ("campaignBudgets", False, True, 1),
    ]
    assert fake.mutations[0]["operations"][0] == {
        "create": {
            "adGroup": f"customers/{US_ID}/adGroups/{tables.id}",
            "keyword": {"text": "brass table lamp", "matchType": "EXACT"},
            "status": "ENABLED",
            "cpcBidMicros": "1250000",
        }
    }
    assert fake.requests[-1][3] == {
        "login-customer-id": str(MANAGER_ID),
        "developer-token": next(iter(DEVELOPER_TOKENS)),
    }

    with django_capture_on_commit_callbacks(execute=False):  # the sync task is run here; its rollup refresh is not
        run, _created = services.sync_run_request(connection=connection, kind=RunKind.MANUAL)
    sync_task.delay(organization_id=org.pk, run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    with organization_scope(org):
        new = Target.objects.get(text="brass table lamp")
        assert (new.external_id, new.bid, new.state) == (str(brass.criterion_id), Decimal("1.2500"), "ENABLED")
        assert Target.objects.get(external_id=str(ceramic.criterion_id)).bid == Decimal("1.4500")
        assert Target.objects.get(external_id=str(table_lamp.criterion_id)).state == "PAUSED"
        added = NegativeKeyword.objects.filter(text__in=["lamp shade", "used"]).order_by("text")
        assert list(added.values_list("text", "match_type", "external_id")) == [
            ("lamp shade", "NEGATIVE_PHRASE", group_negative.platform_id),
            ("used", "NEGATIVE_PHRASE", campaign_negative.platform_id),
        ]
        assert Campaign.objects.get(external_id=str(brand.id)).budget == Decimal("45.5000")


def test_changes_google_refuses_when_validating_change_nothing_and_fail_with_googles_message(
    org, owner, fake, connection
):
    tables = group(fake, "Table lamps")
    ceramic = criterion(tables, "ceramic table lamp", "EXACT")
    refused = approve(org, owner, "keyword", in_group(tables, "50% off!")) + approve(
        org, owner, "bid", in_group(tables, "", target_id=str(ceramic.criterion_id), proposed_value=0.001)
    )

    assert push.proposals_push(organization=org) == 2

    assert [(p.status, p.result_code, p.result_message) for p in fresh(refused)] == [
        (ProposalStatus.FAILED, "KEYWORD_HAS_INVALID_CHARS", "Keyword text has invalid characters or symbols."),
        (ProposalStatus.FAILED, "BID_TOO_SMALL", "Bid is too small."),
    ]
    assert mutates(fake) == [("adGroupCriteria:mutate", 200)]  # validated only: nothing left to apply
    assert fake.mutations == [] and ceramic.cpc_bid_micros == 1_600_000
    assert all(k.text != "50% off!" for k in tables.criteria)

    mixed = approve(org, owner, "keyword", in_group(tables, "oak table lamp"), in_group(tables, "table lamp", "PHRASE"))
    assert push.proposals_push(organization=org) == 2

    assert [(p.status, p.result_code) for p in fresh(mixed)] == [
        (ProposalStatus.PUSHED, ""),
        (ProposalStatus.FAILED, "RESOURCE_ALREADY_EXISTS"),
    ]
    [applied] = fake.mutations
    assert [op["create"]["keyword"]["text"] for op in applied["operations"]] == ["oak table lamp"]


def test_an_exhausted_quota_defers_the_push_and_the_task_retry_applies_it_once(
    org, owner, fake, connection, eager_retries, retry_countdowns
):
    tables = group(fake, "Table lamps")
    given = approve(org, owner, "keyword", in_group(tables, "brass table lamp"))
    fake.faults.add("mutate", "quota", retry_delay=600)  # too long to wait inline

    push_proposals.delay(organization_id=org.pk)

    assert retry_countdowns == [600.0]
    [pushed] = fresh(given)
    assert (pushed.status, pushed.push_attempts) == (ProposalStatus.PUSHED, 2)
    assert [k.text for k in tables.criteria].count("brass table lamp") == 1
    assert len(fake.mutations) == 1
    assert mutates(fake) == [
        ("adGroupCriteria:mutate", 429),
        ("adGroupCriteria:mutate", 200),
        ("adGroupCriteria:mutate", 200),
    ]


def test_a_claim_left_by_a_worker_that_died_after_google_applied_it_is_pushed_once(org, owner, fake, connection):
    tables = group(fake, "Table lamps")
    given = approve(org, owner, "keyword", in_group(tables, "brass table lamp"))
    claimed = proposals_claim(organization=org)
    pushing = google_push.push_proposals(connection=connection, proposals=claimed, save_credentials=lambda c: None)
    lost = next(pushing)  # Google applied the create; the worker dies before recording it
    pushing.close()
    Proposal.unscoped_objects.filter(pk=given[0].pk).update(updated_at=timezone.now() - STALE_PUSH - timedelta(1))

    assert push_proposals_due() == 1

    [pushed] = fresh(given)
    assert (pushed.status, pushed.platform_id, pushed.push_attempts, pushed.result_code) == (
        ProposalStatus.PUSHED,
        lost.platform_id,
        2,
        "already_there",
    )
    assert [k.text for k in tables.criteria].count("brass table lamp") == 1
    assert len(fake.mutations) == 1


def test_rollbacks_remove_what_the_push_created(org, owner, fake, connection):
    tables, lamps = group(fake, "Table lamps"), campaign(fake, "Search | Lamps | Generic")
    keyword, negative = approve(org, owner, "keyword", in_group(tables, "brass table lamp")) + approve(
        org, owner, "negative", row(campaign_id=str(lamps.id), text="used", match_type="NEGATIVE_PHRASE")
    )
    push.proposals_push(organization=org)

    undo = [proposal_rollback(organization=org, actor=owner, proposal_id=p.pk) for p in (keyword, negative)]
    assert push.proposals_push(organization=org) == 2

    assert [(p.status, p.target_id) for p in fresh(undo)] == [
        (ProposalStatus.PUSHED, fresh([keyword])[0].platform_id),
        (ProposalStatus.PUSHED, fresh([negative])[0].platform_id),
    ]
    assert criterion(tables, "brass table lamp", "EXACT").status == "REMOVED"
    assert all(k.text != "used" for k in lamps.criteria)
    assert [p.status for p in fresh([keyword, negative])] == [ProposalStatus.ROLLED_BACK] * 2
    assert [op for m in fake.mutations[-2:] for op in m["operations"]] == [
        {"remove": f"customers/{US_ID}/adGroupCriteria/{fresh([keyword])[0].platform_id}"},
        {"remove": f"customers/{US_ID}/campaignCriteria/{fresh([negative])[0].platform_id}"},
    ]


def test_campaign_status_changes_are_not_pushed_to_google_yet(org, owner, fake, connection):
    brand = campaign(fake, "Search | Brand")
    given = approve(org, owner, "status", row(campaign_id=str(brand.id), proposed_state="paused"))

    assert push.proposals_push(organization=org) == 1

    assert [(p.status, p.result_code, p.result_message) for p in fresh(given)] == [
        (
            ProposalStatus.FAILED,
            "unsupported",
            "Pushing this kind of change to Google Ads is not available yet; make it in the Google Ads console.",
        )
    ]
    assert (mutates(fake), brand.status) == ([], "ENABLED")
