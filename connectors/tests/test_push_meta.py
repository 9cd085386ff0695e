"""Pushing approved budget and status changes to Meta, end to end against the fake Graph API (real HTTP, real
PostgreSQL, eager Celery).

The fake applies what it accepts to its own dataset, so the next sync (the ordinary sync path) shows it; its
request log shows what was sent and how often.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from celery.signals import task_retry

from accounts.scoping import organization_scope
from campaigns.models import Campaign, Proposal, ProposalStatus
from campaigns.services.proposals import proposal_rollback, proposals_create, proposals_decide
from config.celery_app import app as celery_app
from config.testing import serve_wsgi
from connectors import push, services
from connectors.backends import get_backend
from connectors.backends.meta import client as api
from connectors.backends.meta.demo_data import Dataset
from connectors.backends.meta.fake import CLIENTS, make_app
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus
from connectors.tasks import push_proposals
from connectors.tasks import run_sync as sync_task

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = next(iter(CLIENTS.items()))
REDIRECT = "https://app.chuhai.test/connect/meta/callback/"
US = "act_1029384756"
# The US account's campaigns: three with a campaign budget of 60.00 USD, one whose two ad sets hold the budgets.
LAMPS, TEXTILES, KITCHEN, RETARGETING = (
    "120298791946872602",
    "120205903294358999",
    "120266870835975864",
    ("120210301459502383"),
)
UNKNOWN = "120200000000000001"
GRAPH = "/graph/v25.0"
REVOKED = (
    "Meta no longer accepts our access (the token expired or was revoked): reconnect Meta (tokens last about 60 days)."
)


@pytest.fixture
def sleeper():
    waits: list[float] = []
    return waits.append, waits


@pytest.fixture
def fake(settings, sleeper):
    app = make_app(dataset=Dataset(days=3))
    with serve_wsgi(app) as url:
        app.public_url = url
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "meta": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "api_version": "v25.0",
                "auth_url": f"{url}/dialog/oauth",
                "graph_url": f"{url}/graph",
                "sleep": sleeper[0],
                "timeout": 5,
                "rate": 1000,
                "burst": 1000,
            },
        }
        yield app


@pytest.fixture
def connection(org, fake) -> Connection:
    """A connection made the seller's way: the login page, the code exchange, discovery."""
    backend = get_backend("meta")
    page = httpx.get(backend.authorization_url(state="st", redirect_uri=REDIRECT))
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    answer = httpx.post(action, data={**fields, "decision": "continue"})
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    credentials = backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    account = next(a for a in backend.discover_accounts(credentials=credentials) if a.external_id == US)
    connection = services.connection_upsert(
        organization=org, platform="meta", account=account, credentials=credentials, user=None
    )
    Connection.unscoped_objects.filter(pk=connection.pk).update(backfill_days=2)  # a short first sync
    fake.requests.clear()
    fake.queries.clear()
    return connection


@pytest.fixture
def eager_retries():
    """Let eager Celery carry out ``task.retry`` at once, as a worker would later."""
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


def row(campaign_id: str, **values) -> dict:
    return {"channel": "meta", "account_id": US, "currency": "USD", "campaign_id": campaign_id, **values}


def approve(org, user, kind: str, *rows: dict) -> list[Proposal]:
    """Proposals as a tool makes them, approved by a person (each test runs the push itself)."""
    run = proposals_create(organization=org, tool="manual", kind=kind, rows=rows, actor=user).run
    ids = list(Proposal.unscoped_objects.filter(run=run).order_by("pk").values_list("pk", flat=True))
    assert proposals_decide(organization=org, actor=user, ids=ids, approve=True) == len(rows)
    return list(Proposal.unscoped_objects.filter(pk__in=ids).order_by("pk"))


def fresh(proposals) -> list[Proposal]:
    return list(Proposal.unscoped_objects.filter(pk__in=[p.pk for p in proposals]).order_by("pk"))


def outcome(proposals) -> list[tuple]:
    return [(p.status, p.result_code, p.result_message) for p in fresh(proposals)]


def campaign(fake, campaign_id: str):
    return next(c for c in fake.dataset.account(US).campaigns if c.id == campaign_id)


def writes(fake) -> list[tuple]:
    """Campaign updates sent: (campaign id, form fields without the token and proof)."""
    return [(path.rsplit("/", 1)[1], params) for method, path, params in fake.queries if method == "POST"]


def calls(fake) -> list[tuple]:
    return [(m, path.removeprefix(GRAPH + "/"), status) for m, path, status in fake.requests]


def run_sync(connection, capture):
    """The ordinary sync task, run here (the rollup refresh it queues after commit is left out: not ours)."""
    connection.refresh_from_db()
    with capture(execute=False):
        run, _created = services.sync_run_request(connection=connection, kind=RunKind.MANUAL)
    sync_task.delay(organization_id=connection.organization_id, run_id=run.pk)
    run.refresh_from_db()
    return run


# --- pushing --------------------------------------------------------------------------------------------------


def test_budget_and_status_changes_are_pushed_with_previous_values_and_the_next_sync_shows_them(
    org, owner, fake, connection, django_capture_on_commit_callbacks
):
    budget = approve(org, owner, "budget", row(LAMPS, current_value=60, proposed_value=42.5))
    statuses = approve(
        org, owner, "status", row(TEXTILES, proposed_state="paused"), row(KITCHEN, proposed_state="enabled")
    )

    assert push_proposals.delay(organization_id=org.pk).get() == 3

    assert [(p.status, p.result_code, p.previous) for p in fresh(budget + statuses)] == [
        (ProposalStatus.PUSHED, "", {"value": "60"}),
        (ProposalStatus.PUSHED, "", {"state": "enabled"}),
        (ProposalStatus.PUSHED, "", {"state": "paused"}),
    ]
    assert (campaign(fake, LAMPS).daily_budget, campaign(fake, TEXTILES).status) == (4250, "PAUSED")
    assert campaign(fake, KITCHEN).status == "ACTIVE"
    assert writes(fake) == [
        (LAMPS, {"daily_budget": "4250"}),
        (TEXTILES, {"status": "PAUSED"}),
        (KITCHEN, {"status": "ACTIVE"}),
    ]
    assert calls(fake) == [  # each campaign read once, then changed once
        ("GET", LAMPS, 200),
        ("POST", LAMPS, 200),
        ("GET", TEXTILES, 200),
        ("POST", TEXTILES, 200),
        ("GET", KITCHEN, 200),
        ("POST", KITCHEN, 200),
    ]

    assert run_sync(connection, django_capture_on_commit_callbacks).status == RunStatus.SUCCEEDED
    with organization_scope(org):
        synced = {
            c.external_id: (c.budget, c.state)
            for c in Campaign.objects.filter(external_id__in=[LAMPS, TEXTILES, KITCHEN])
        }
    assert synced == {
        LAMPS: (Decimal("42.5000"), "ACTIVE"),
        TEXTILES: (Decimal("60.0000"), "PAUSED"),
        KITCHEN: (Decimal("60.0000"), "ACTIVE"),
    }


def test_a_bad_item_fails_with_metas_message_while_the_others_push(org, owner, fake, connection):
    given = approve(
        org,
        owner,
        "budget",
        row(UNKNOWN, proposed_value=50),
        row(LAMPS, proposed_value="0.5"),
        row(RETARGETING, proposed_value=30),
        row(TEXTILES, proposed_value=70),
    )

    assert push.proposals_push(organization=org) == 4

    assert outcome(given) == [
        (
            ProposalStatus.FAILED,
            "100/33",
            f"Unsupported get request. Object with ID '{UNKNOWN}' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.",
        ),
        (ProposalStatus.FAILED, "100/1885272", "The minimum daily budget for this campaign is 1.00 USD."),
        (
            ProposalStatus.FAILED,
            "no_campaign_budget",
            "Meta campaign Retargeting | Visitors & carts has no campaign budget: its ad sets hold the budgets. "
            "Change the ad set budgets in Meta Ads Manager, or turn on Advantage campaign budget there first.",
        ),
        (ProposalStatus.PUSHED, "", ""),
    ]
    assert (campaign(fake, LAMPS).daily_budget, campaign(fake, TEXTILES).daily_budget) == (6000, 7000)
    assert writes(fake) == [(LAMPS, {"daily_budget": "50"}), (TEXTILES, {"daily_budget": "7000"})]


def test_keywords_bids_ad_sets_and_unknown_states_fail_clearly_without_calling_meta(org, owner, fake, connection):
    keyword = approve(org, owner, "keyword", row(LAMPS, ad_group_id="1", text="brass lamp", match_type="EXACT"))
    negative = approve(org, owner, "negative", row(LAMPS, text="cheap", match_type="NEGATIVE_EXACT"))
    bid = approve(org, owner, "bid", row(LAMPS, target_id="42", proposed_value=1))
    ad_set = approve(org, owner, "budget", row(RETARGETING, ad_group_id="7", proposed_value=20))
    state = approve(org, owner, "status", row(LAMPS, proposed_state="removed"))
    odd = approve(org, owner, "status", row(f"{US}/adsets", proposed_state="paused"))

    assert push.proposals_push(organization=org) == 6

    no_keywords = (
        "Meta has no keywords or keyword bids: only campaign budgets and campaign status changes can be pushed to "
        "Meta. Make this change in Meta Ads Manager."
    )
    assert outcome(keyword + negative + bid + ad_set + state + odd) == [
        (ProposalStatus.FAILED, "unsupported", no_keywords),
        (ProposalStatus.FAILED, "unsupported", no_keywords),
        (ProposalStatus.FAILED, "unsupported", no_keywords),
        (
            ProposalStatus.FAILED,
            "unsupported",
            "Only whole Meta campaigns can be changed from here; change ad sets and ads in Meta Ads Manager.",
        ),
        (ProposalStatus.FAILED, "invalid", "Meta campaigns are enabled, paused or archived, not “removed”."),
        (ProposalStatus.FAILED, "invalid", "This change names no Meta campaign."),
    ]
    assert fake.requests == []


def test_a_server_error_is_retried_inline_and_the_change_is_made_once(org, owner, fake, connection, sleeper):
    given = approve(org, owner, "status", row(LAMPS, proposed_state="paused"))
    fake.faults.add("campaign_update", "500")

    assert push_proposals.delay(organization_id=org.pk).get() == 1

    [pushed] = fresh(given)
    assert (pushed.status, pushed.push_attempts, campaign(fake, LAMPS).status) == (ProposalStatus.PUSHED, 1, "PAUSED")
    assert calls(fake) == [("GET", LAMPS, 200), ("POST", LAMPS, 500), ("POST", LAMPS, 200)]
    assert len(sleeper[1]) == 1  # one backoff wait


def test_a_throttle_puts_the_push_back_and_the_task_retry_pushes_it_once(
    org, owner, fake, connection, eager_retries, retry_countdowns
):
    given = approve(org, owner, "budget", row(LAMPS, proposed_value=75))
    fake.faults.add("campaign_update", "throttle_account", minutes=2)  # code 80004, regain access in 2 minutes

    push_proposals.delay(organization_id=org.pk)

    assert retry_countdowns == [120.0]
    [pushed] = fresh(given)
    assert (pushed.status, pushed.push_attempts, pushed.previous) == (ProposalStatus.PUSHED, 2, {"value": "60"})
    assert campaign(fake, LAMPS).daily_budget == 7500
    assert [c for c in calls(fake) if c[0] == "POST"] == [("POST", LAMPS, 400), ("POST", LAMPS, 200)]


def test_an_expired_token_fails_the_changes_and_asks_to_reconnect(org, owner, fake, connection):
    given = approve(org, owner, "budget", row(LAMPS, proposed_value=75), row(TEXTILES, proposed_value=80))
    fake.faults.add("campaign_get", "expire")  # Meta: code 190, subcode 463

    assert push.proposals_push(organization=org) == 2

    assert outcome(given) == [(ProposalStatus.FAILED, "reauth", REVOKED)] * 2
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, REVOKED)
    assert (campaign(fake, LAMPS).daily_budget, writes(fake)) == (6000, [])


def test_rollbacks_restore_the_old_budget_and_status_on_meta(org, owner, fake, connection):
    [budget] = approve(org, owner, "budget", row(LAMPS, current_value=60, proposed_value=75))
    [status] = approve(org, owner, "status", row(TEXTILES, proposed_state="paused"))
    assert push.proposals_push(organization=org) == 2
    assert (campaign(fake, LAMPS).daily_budget, campaign(fake, TEXTILES).status) == (7500, "PAUSED")

    undo = [proposal_rollback(organization=org, actor=owner, proposal_id=p.pk) for p in (budget, status)]
    assert push.proposals_push(organization=org) == 2

    assert (campaign(fake, LAMPS).daily_budget, campaign(fake, TEXTILES).status) == (6000, "ACTIVE")
    assert [(p.status, p.proposed_value, p.proposed_state, p.previous) for p in fresh(undo)] == [
        (ProposalStatus.PUSHED, Decimal("60.0000"), "", {"value": "75"}),
        (ProposalStatus.PUSHED, None, "enabled", {"state": "paused"}),
    ]
    assert [p.status for p in fresh([budget, status])] == [ProposalStatus.ROLLED_BACK] * 2
    assert writes(fake)[2:] == [(LAMPS, {"daily_budget": "6000"}), (TEXTILES, {"status": "ACTIVE"})]


def test_an_archived_campaign_cannot_come_back_and_says_so(org, owner, fake, connection):
    [archive] = approve(org, owner, "status", row(KITCHEN, proposed_state="archived"))
    assert push.proposals_push(organization=org) == 1
    assert (fresh([archive])[0].previous, campaign(fake, KITCHEN).status) == ({"state": "paused"}, "ARCHIVED")

    undo = proposal_rollback(organization=org, actor=owner, proposal_id=archive.pk)
    assert push.proposals_push(organization=org) == 1

    assert outcome([undo]) == [
        (
            ProposalStatus.FAILED,
            "100/1487056",
            f"Campaign {KITCHEN} is archived: an archived campaign can only be deleted, and a deleted one cannot be "
            "changed.",
        )
    ]
    assert campaign(fake, KITCHEN).status == "ARCHIVED"


# --- the fake keeps Meta's rules ----------------------------------------------------------------------------


def test_fake_campaign_node_checks_the_token_and_answers_like_meta(fake, connection):
    token = connection.credentials["access_token"]
    auth = {"access_token": token, "appsecret_proof": api.appsecret_proof(CLIENT_SECRET, token)}
    url = f"{fake.public_url}{GRAPH}/{LAMPS}"

    anonymous = httpx.post(url, data={"status": "PAUSED"})
    no_proof = httpx.post(url, data={"status": "PAUSED", "access_token": token})
    bad_status = httpx.post(url, data={"status": "STOPPED", **auth})
    unknown_field = httpx.post(url, data={"bid_amount": "100", **auth})
    read = httpx.get(url, params={"fields": "status,daily_budget", **auth})
    paused = httpx.post(url, data={"status": "PAUSED", "daily_budget": "9900", **auth})

    assert [r.status_code for r in (anonymous, no_proof, bad_status, unknown_field)] == [400] * 4
    assert [(r.json()["error"]["code"], r.json()["error"]["message"]) for r in (anonymous, no_proof, bad_status)] == [
        (104, "An access token is required to request this resource."),
        (100, "API calls from the server require an appsecret_proof argument"),
        (100, "(#100) Param status must be one of {ACTIVE, PAUSED, DELETED, ARCHIVED}"),
    ]
    assert read.json() == {"id": LAMPS, "status": "ACTIVE", "daily_budget": "6000"}
    assert (paused.status_code, paused.json()) == (200, {"success": True})
    assert (campaign(fake, LAMPS).status, campaign(fake, LAMPS).daily_budget) == ("PAUSED", 9900)
    no_cbo = httpx.post(f"{fake.public_url}{GRAPH}/{RETARGETING}", data={"daily_budget": "5000", **auth}).json()
    assert {k: no_cbo["error"][k] for k in ("code", "error_subcode", "error_user_title")} == {
        "code": 100,
        "error_subcode": 1885621,
        "error_user_title": "Campaign Budget Not Available",
    }
