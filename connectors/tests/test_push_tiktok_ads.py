"""Pushing approved budget and status changes to TikTok Ads, end to end against the fake (real HTTP, real
PostgreSQL, eager Celery).

The fake applies what it accepts to its own dataset, so the next sync (the ordinary sync path) shows it; its
request log shows each call with its HTTP status and TikTok's envelope code.
"""

from __future__ import annotations

import dataclasses
import json
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
from connectors.backends.tiktok_ads.demo_data import Dataset
from connectors.backends.tiktok_ads.fake import CLIENTS, make_app
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus
from connectors.tasks import push_proposals
from connectors.tasks import run_sync as sync_task

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = next(iter(CLIENTS.items()))
REDIRECT = "https://app.chuhai.test/connect/tiktok_ads/callback/"
US = 7312440518829056001
# The US advertiser's campaigns: daily budgets of 120, 80 and 40 USD, and a paused one with a lifetime budget.
COZY, SHOP, LAMP_DROP, HOLIDAY = 1726424546979351973, 1779360217856526495, 1784162684749156007, 1758073821333601727
UNKNOWN = 1700000000000000001
API = "/open_api/v1.3"
UPDATE, STATUS = f"{API}/campaign/update/", f"{API}/campaign/status/update/"
THROTTLE_WAIT = 0.6
REAUTH = (
    "TikTok Ads: reconnect TikTok: our access was revoked or has expired. "
    "Connect the advertiser account again to keep syncing."
)


@pytest.fixture
def sleeper():
    waits: list[float] = []
    return waits.append, waits


@pytest.fixture
def fake(settings, sleeper):
    app = make_app(dataset=Dataset(days=3, advertisers=("US",)))
    with serve_wsgi(app) as url:
        app.public_url = url
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "tiktok_ads": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "auth_url": f"{url}/portal/auth",
                "api_url": f"{url}{API}",
                "sleep": sleeper[0],
                "rate_limit_wait": THROTTLE_WAIT,
                "rate": 1000,
                "burst": 1000,
                "timeout": 5,
            },
        }
        yield app


@pytest.fixture
def connection(org, fake) -> Connection:
    """A connection made the advertiser's way: the consent page, the code exchange, discovery."""
    backend = get_backend("tiktok_ads")
    page = httpx.get(backend.authorization_url(state="st", redirect_uri=REDIRECT))
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    answer = httpx.post(action, data={**fields, "decision": "allow"})
    params = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}
    credentials = backend.exchange_code(code=params["code"], redirect_uri=REDIRECT, params=params)
    [account] = backend.discover_accounts(credentials=credentials)
    connection = services.connection_upsert(
        organization=org, platform="tiktok_ads", account=account, credentials=credentials, user=None
    )
    Connection.unscoped_objects.filter(pk=connection.pk).update(backfill_days=2)  # a short first sync
    fake.requests.clear()
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


def row(campaign_id: int, **values) -> dict:
    return {
        "channel": "tiktok_ads",
        "account_id": str(US),
        "marketplace": "US",
        "currency": "USD",
        "campaign_id": str(campaign_id),
        **values,
    }


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


def spec(fake, campaign_id: int):
    return next(c for c in fake.dataset.account(US).campaigns if c.id == campaign_id).spec


def writes(fake) -> list[tuple]:
    return [(path, status, code) for method, path, status, code in fake.requests if method == "POST"]


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
    budget = approve(org, owner, "budget", row(COZY, current_value=120, proposed_value=150.5))
    statuses = approve(
        org,
        owner,
        "status",
        row(SHOP, proposed_state="paused"),
        row(LAMP_DROP, proposed_state="paused"),
        row(HOLIDAY, proposed_state="enabled"),
    )

    assert push_proposals.delay(organization_id=org.pk).get() == 4

    assert [(p.status, p.result_code, p.previous) for p in fresh(budget + statuses)] == [
        (ProposalStatus.PUSHED, "", {"value": "120"}),
        (ProposalStatus.PUSHED, "", {"state": "enabled"}),
        (ProposalStatus.PUSHED, "", {"state": "enabled"}),
        (ProposalStatus.PUSHED, "", {"state": "paused"}),
    ]
    assert [(s.budget, s.status) for s in (spec(fake, c) for c in (COZY, SHOP, LAMP_DROP, HOLIDAY))] == [
        ("150.5", "ENABLE"),
        ("80", "DISABLE"),
        ("40", "DISABLE"),
        ("2500", "ENABLE"),
    ]
    assert writes(fake) == [(UPDATE, 200, 0), (STATUS, 200, 0), (STATUS, 200, 0)]  # the two pauses in one call
    assert [r[:2] for r in fake.requests if r[0] == "GET"] == [("GET", f"{API}/campaign/get/")]  # one read

    assert run_sync(connection, django_capture_on_commit_callbacks).status == RunStatus.SUCCEEDED
    with organization_scope(org):
        synced = {c.external_id: (c.budget, c.state) for c in Campaign.objects.all()}
    assert synced == {
        str(COZY): (Decimal("150.5000"), "ENABLE"),
        str(SHOP): (Decimal("80.0000"), "DISABLE"),
        str(LAMP_DROP): (Decimal("40.0000"), "DISABLE"),
        str(HOLIDAY): (Decimal("2500.0000"), "ENABLE"),
    }


def test_a_bad_item_fails_with_the_platforms_message_while_the_others_push(org, owner, fake, connection):
    account = fake.dataset.account(US)
    lamp_drop = next(c for c in account.campaigns if c.id == LAMP_DROP)
    lamp_drop.spec = dataclasses.replace(lamp_drop.spec, budget_mode="BUDGET_MODE_INFINITE")  # ad group budgets
    budgets = approve(
        org,
        owner,
        "budget",
        row(UNKNOWN, proposed_value=60),
        row(COZY, proposed_value=20),
        row(HOLIDAY, proposed_value=3000),
        row(LAMP_DROP, proposed_value=60),
        row(SHOP, proposed_value=95),
    )
    statuses = approve(org, owner, "status", row(UNKNOWN, proposed_state="paused"), row(COZY, proposed_state="paused"))

    assert push.proposals_push(organization=org) == 7

    assert outcome(budgets + statuses) == [
        (
            ProposalStatus.FAILED,
            "not_found",
            f"TikTok Ads has no campaign {UNKNOWN} in this advertiser account (or it was deleted).",
        ),
        (
            ProposalStatus.FAILED,
            "40002",
            "TikTok Ads refused the request (code 40002): budget: The campaign budget must be at least 50.00 USD.",
        ),
        (
            ProposalStatus.FAILED,
            "lifetime_budget",
            "TikTok Ads campaign Holiday Gifting 2025 | Website Sales has a lifetime budget, not a daily one, and "
            "TikTok does not switch budget types once a campaign is live. Change its lifetime budget in TikTok Ads "
            "Manager.",
        ),
        (
            ProposalStatus.FAILED,
            "no_campaign_budget",
            "TikTok Ads campaign Lamp Drop | Video Views has no campaign budget: its ad groups hold the budgets. "
            "Change the ad group budgets in TikTok Ads Manager.",
        ),
        (ProposalStatus.PUSHED, "", ""),
        (
            ProposalStatus.FAILED,
            "not_found",
            f"TikTok Ads has no campaign {UNKNOWN} in this advertiser account (or it was deleted).",
        ),
        (ProposalStatus.PUSHED, "", ""),
    ]
    assert [(s.budget, s.status) for s in (spec(fake, COZY), spec(fake, SHOP))] == [
        ("120", "DISABLE"),
        ("95", "ENABLE"),
    ]
    assert writes(fake) == [(UPDATE, 200, 40002), (UPDATE, 200, 0), (STATUS, 200, 0)]


def test_keywords_bids_ad_groups_and_unknown_states_fail_clearly_without_calling_tiktok(org, owner, fake, connection):
    keyword = approve(org, owner, "keyword", row(COZY, ad_group_id="1", text="floor lamp", match_type="EXACT"))
    bid = approve(org, owner, "bid", row(COZY, target_id="42", proposed_value=1))
    ad_group = approve(org, owner, "status", row(COZY, ad_group_id="7", proposed_state="paused"))
    state = approve(org, owner, "status", row(SHOP, proposed_state="removed"))

    assert push.proposals_push(organization=org) == 4

    no_keywords = (
        "TikTok Ads has no keywords or keyword bids: only campaign budgets and campaign status changes can be pushed "
        "to TikTok Ads. Make this change in TikTok Ads Manager."
    )
    assert outcome(keyword + bid + ad_group + state) == [
        (ProposalStatus.FAILED, "unsupported", no_keywords),
        (ProposalStatus.FAILED, "unsupported", no_keywords),
        (
            ProposalStatus.FAILED,
            "unsupported",
            "Only whole TikTok Ads campaigns can be changed from here; change ad groups and ads in TikTok Ads Manager.",
        ),
        (
            ProposalStatus.FAILED,
            "invalid",
            "TikTok Ads campaigns are enabled, paused or deleted (archived), not “removed”.",
        ),
    ]
    assert fake.requests == []


def test_a_rate_limit_is_waited_out_inline_and_the_change_is_made_once(org, owner, fake, connection, sleeper):
    given = approve(org, owner, "budget", row(COZY, proposed_value=130))
    fake.faults.add("campaign_update", "rate_limit")

    assert push_proposals.delay(organization_id=org.pk).get() == 1

    [pushed] = fresh(given)
    assert (pushed.status, pushed.push_attempts, spec(fake, COZY).budget) == (ProposalStatus.PUSHED, 1, "130")
    assert writes(fake) == [(UPDATE, 200, 40100), (UPDATE, 200, 0)]
    assert sleeper[1] == [THROTTLE_WAIT]


def test_a_long_rate_limit_puts_the_push_back_and_the_task_retry_pushes_it_once(
    org, owner, fake, connection, eager_retries, retry_countdowns
):
    given = approve(org, owner, "status", row(COZY, proposed_state="paused"))
    fake.faults.add("campaign_status_update", "rate_limit", times=5)  # more than the client waits out inline

    push_proposals.delay(organization_id=org.pk)

    assert retry_countdowns == [60.0]
    [pushed] = fresh(given)
    assert (pushed.status, pushed.push_attempts, pushed.previous) == (ProposalStatus.PUSHED, 2, {"state": "enabled"})
    assert spec(fake, COZY).status == "DISABLE"
    assert writes(fake) == [(STATUS, 200, 40100)] * 5 + [(STATUS, 200, 0)]


def test_a_revoked_token_fails_the_changes_and_asks_to_reconnect(org, owner, fake, connection):
    given = approve(org, owner, "budget", row(COZY, proposed_value=130), row(SHOP, proposed_value=90))
    fake.revoke_all()

    assert push.proposals_push(organization=org) == 2

    assert outcome(given) == [(ProposalStatus.FAILED, "reauth", REAUTH)] * 2
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, REAUTH)
    assert (spec(fake, COZY).budget, writes(fake)) == ("120", [])


def test_rollbacks_restore_the_old_budget_and_status_on_tiktok(org, owner, fake, connection):
    [budget] = approve(org, owner, "budget", row(COZY, current_value=120, proposed_value=150))
    [status] = approve(org, owner, "status", row(SHOP, proposed_state="paused"))
    assert push.proposals_push(organization=org) == 2
    assert (spec(fake, COZY).budget, spec(fake, SHOP).status) == ("150", "DISABLE")

    undo = [proposal_rollback(organization=org, actor=owner, proposal_id=p.pk) for p in (budget, status)]
    assert push.proposals_push(organization=org) == 2

    assert (spec(fake, COZY).budget, spec(fake, SHOP).status) == ("120", "ENABLE")
    assert [(p.status, p.proposed_value, p.proposed_state, p.previous) for p in fresh(undo)] == [
        (ProposalStatus.PUSHED, Decimal("120.0000"), "", {"value": "150"}),
        (ProposalStatus.PUSHED, None, "enabled", {"state": "paused"}),
    ]
    assert [p.status for p in fresh([budget, status])] == [ProposalStatus.ROLLED_BACK] * 2


def test_an_archived_campaign_is_deleted_and_cannot_come_back(org, owner, fake, connection):
    [archive] = approve(org, owner, "status", row(LAMP_DROP, proposed_state="archived"))
    assert push.proposals_push(organization=org) == 1
    assert (fresh([archive])[0].previous, LAMP_DROP in fake.deleted_campaigns) == ({"state": "enabled"}, True)

    undo = proposal_rollback(organization=org, actor=owner, proposal_id=archive.pk)
    assert push.proposals_push(organization=org) == 1

    assert outcome([undo]) == [
        (
            ProposalStatus.FAILED,
            "not_found",
            f"TikTok Ads has no campaign {LAMP_DROP} in this advertiser account (or it was deleted).",
        )
    ]


# --- the fake keeps TikTok's rules --------------------------------------------------------------------------


def test_fake_campaign_writes_check_the_token_and_refuse_like_tiktok(fake, connection):
    headers = {"Access-Token": connection.credentials["access_token"]}
    base = fake.public_url

    def post(path: str, body: dict, **extra) -> dict:
        return httpx.post(f"{base}{path}", json=body, headers={**headers, **extra}).json()

    def listed() -> list[str]:
        query = {"advertiser_id": str(US), "filtering": json.dumps({"campaign_ids": [str(COZY), str(SHOP)]})}
        answer = httpx.get(f"{base}{API}/campaign/get/", params=query, headers=headers).json()
        return [item["campaign_id"] for item in answer["data"]["list"]]

    budget = {"advertiser_id": str(US), "campaign_id": str(COZY), "budget": 60}
    assert post(UPDATE, budget, **{"Access-Token": ""})["code"] == 40104
    assert post(UPDATE, {**budget, "campaign_id": str(UNKNOWN)})["message"] == (
        f"campaign_id: Campaign {UNKNOWN} does not exist."
    )
    assert post(UPDATE, {**budget, "budget_mode": "BUDGET_MODE_TOTAL"})["message"] == (
        "budget_mode: The budget type cannot be changed once a campaign has been created."
    )
    assert post(UPDATE, {**budget, "bid": 1})["message"] == "bid: Unknown field."
    assert post(UPDATE, budget)["data"] == {
        "campaign_id": str(COZY),
        "campaign_name": "Cozy Corner UGC | Website Sales",
        "budget": 60.0,
        "budget_mode": "BUDGET_MODE_DAY",
    }
    status = {"advertiser_id": str(US), "campaign_ids": [str(SHOP), str(UNKNOWN)], "operation_status": "DISABLE"}
    assert post(STATUS, {**status, "operation_status": "PAUSE"})["message"] == (
        "operation_status: Must be one of ENABLE, DISABLE, DELETE."
    )
    assert post(STATUS, {**status, "campaign_ids": [str(SHOP)] * 21})["code"] == 40002
    assert post(STATUS, status)["message"] == f"campaign_ids: Campaign {UNKNOWN} does not exist."
    assert spec(fake, SHOP).status == "ENABLE"  # a refused call changes none of its campaigns
    assert listed() == [str(COZY), str(SHOP)]

    deleted = post(STATUS, {**status, "campaign_ids": [str(SHOP)], "operation_status": "DELETE"})

    assert deleted["data"] == {"campaign_ids": [str(SHOP)], "status": "DELETE"}
    assert listed() == [str(COZY)]
    groups = httpx.get(f"{base}{API}/adgroup/get/", params={"advertiser_id": str(US)}, headers=headers).json()
    assert str(SHOP) not in {g["campaign_id"] for g in groups["data"]["list"]}
    assert post(UPDATE, {**budget, "campaign_id": str(SHOP)})["message"] == (
        f"campaign_id: Campaign {SHOP} has been deleted and cannot be modified."
    )
    assert spec(fake, COZY).budget == "60"
