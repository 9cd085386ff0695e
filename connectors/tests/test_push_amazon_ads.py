"""Pushing approved proposals to Amazon Ads, end to end against the fake (real HTTP, real PostgreSQL, eager Celery).

The fake applies what it accepts to its own dataset, so the next sync (the ordinary sync path) shows it, and its
request log shows what was sent and how often.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from celery.signals import task_retry
from django.utils import timezone

from accounts.models import Role
from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory, member
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
from connectors.backends import get_backend
from connectors.backends.amazon_ads import push as amazon_push
from connectors.backends.amazon_ads.demo_data import Dataset
from connectors.backends.amazon_ads.fake import CLIENTS, make_app
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus
from connectors.tasks import push_proposals, push_proposals_due
from connectors.tasks import run_sync as sync_task

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = next(iter(CLIENTS.items()))
REDIRECT = "https://app.chuhai.test/connect/amazon_ads/callback/"
US = 1873625790128461
AUTO, MANUAL = 73237588853806, 79622181366786  # the small dataset's two campaigns
EXACT_GROUP, BROAD_GROUP = 59534704898457, 35208930558893  # the manual campaign's ad groups
TABLE_LAMP = 36655723728771  # an exact keyword in EXACT_GROUP, bid 1.74
KEYWORD_MEDIA = "application/vnd.spKeyword.v3+json"
CAMPAIGN_MEDIA = "application/vnd.spCampaign.v3+json"


@pytest.fixture
def sleeper():
    waits: list[float] = []
    return waits.append, waits


@pytest.fixture
def fake(settings, sleeper):
    sizes = {"campaigns": 2, "ad_groups_per_campaign": 2, "keywords_per_ad_group": 3, "products_per_ad_group": 1}
    dataset = Dataset(**sizes, days=3, profiles=("US",))
    app = make_app(dataset=dataset, polls_to_complete=1)
    with serve_wsgi(app) as url:
        app.public_url = url
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "amazon_ads": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "auth_url": f"{url}/ap/oa",
                "token_url": f"{url}/auth/o2/token",
                "api_urls": {"NA": f"{url}/api", "EU": f"{url}/api", "FE": f"{url}/api"},
                "sleep": sleeper[0],
                "poll_interval": 0.01,
                "timeout": 5,
                "rate": 1000,
                "burst": 1000,
            },
        }
        yield app


@pytest.fixture
def connection(org, fake) -> Connection:
    backend = get_backend("amazon_ads")
    page = httpx.get(backend.authorization_url(state="st", redirect_uri=REDIRECT))
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    answer = httpx.post(action, data={**fields, "decision": "allow"})
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    credentials = backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    [account] = backend.discover_accounts(credentials=credentials)
    connection = services.connection_upsert(
        organization=org, platform="amazon_ads", account=account, credentials=credentials, user=None
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


def row(**values) -> dict:
    return {"channel": "amazon_ads", "account_id": str(US), "marketplace": "US", "currency": "USD", **values}


def kw(text: str, group: int = EXACT_GROUP, match_type: str = "EXACT", **values) -> dict:
    """A keyword (an exact one unless told) in an ad group of the manual campaign."""
    return row(campaign_id=str(MANUAL), ad_group_id=str(group), text=text, match_type=match_type, **values)


def approve(org, user, kind: str, *rows: dict) -> list[Proposal]:
    """Proposals as a tool makes them, approved by a person (the push task the approval dispatches after commit
    is run by each test itself: eager Celery does not run ``send_task``)."""
    run = proposals_create(organization=org, tool="manual", kind=kind, rows=rows, actor=user).run
    ids = list(Proposal.unscoped_objects.filter(run=run).order_by("pk").values_list("pk", flat=True))
    assert proposals_decide(organization=org, actor=user, ids=ids, approve=True) == len(rows)
    return list(Proposal.unscoped_objects.filter(pk__in=ids).order_by("pk"))


def fresh(proposals) -> list[Proposal]:
    return list(Proposal.unscoped_objects.filter(pk__in=[p.pk for p in proposals]).order_by("pk"))


def outcome(proposals) -> list[tuple]:
    return [(p.status, p.result_code, p.result_message) for p in fresh(proposals)]


def keywords_named(fake, text: str) -> list:
    account = fake.dataset.account(US)
    return [t for c in account.campaigns for g in c.ad_groups for t in g.targets if t.text == text]


def writes(fake) -> list[tuple]:
    return [r for r in fake.requests if r[1].startswith("/api/sp/") and not r[1].endswith("/list")]


def run_sync(connection, capture):
    """The ordinary sync task, run here (the rollup refresh it queues after commit is left out: not ours)."""
    connection.refresh_from_db()
    with capture(execute=False):
        run, _created = services.sync_run_request(connection=connection, kind=RunKind.MANUAL)
    sync_task.delay(organization_id=connection.organization_id, run_id=run.pk)
    run.refresh_from_db()
    return run


# --- pushing --------------------------------------------------------------------------------------------------


def test_approved_changes_are_pushed_with_ids_and_previous_values_and_the_next_sync_shows_them(
    org, owner, fake, connection, django_capture_on_commit_callbacks
):
    keyword = approve(org, owner, "keyword", kw("brass desk lamp", proposed_value=0.55))
    negatives = approve(
        org,
        owner,
        "negative",
        row(campaign_id=str(MANUAL), ad_group_id=str(BROAD_GROUP), text="lamp repair", match_type="NEGATIVE_PHRASE"),
        row(campaign_id=str(AUTO), text="broken", match_type="EXACT"),
    )
    bid = approve(org, owner, "bid", kw("table lamp", target_id=str(TABLE_LAMP), proposed_value=1.25))
    budget = approve(org, owner, "budget", row(campaign_id=str(MANUAL), proposed_value=42.5))
    status = approve(org, owner, "status", row(campaign_id=str(AUTO), proposed_state="paused"))

    assert push_proposals.delay(organization_id=org.pk).get() == 6

    [created] = keywords_named(fake, "brass desk lamp")
    assert (created.match_type, created.bid, created.state) == ("EXACT", 55, "ENABLED")
    everything = keyword + negatives + bid + budget + status
    assert [(p.status, p.result_code) for p in fresh(everything)] == [(ProposalStatus.PUSHED, "")] * 6
    keyword, ad_group_negative, campaign_negative, bid, budget, status = fresh(everything)
    assert (keyword.platform_id, keyword.previous) == (str(created.id), {})
    auto, manual = fake.dataset.account(US).campaigns
    broad = manual.ad_groups[1]
    assert ad_group_negative.platform_id == str(broad.negatives[-1][0])
    assert broad.negatives[-1][1:] == ("lamp repair", "NEGATIVE_PHRASE", "ENABLED")
    assert campaign_negative.platform_id == str(auto.negatives[-1][0])
    assert auto.negatives[-1][1:] == ("broken", "NEGATIVE_EXACT", "ENABLED")
    assert (bid.previous, manual.ad_groups[0].targets[0].bid) == ({"value": "1.74"}, 125)
    assert (budget.previous, manual.budget) == ({"value": "35"}, 42.5)
    assert (status.previous, auto.state) == ({"state": "enabled"}, "PAUSED")
    assert writes(fake) == [  # one call per kind of change, each answered 207
        ("POST", "/api/sp/keywords", 207),
        ("POST", "/api/sp/negativeKeywords", 207),
        ("POST", "/api/sp/campaignNegativeKeywords", 207),
        ("PUT", "/api/sp/keywords", 207),
        ("PUT", "/api/sp/campaigns", 207),
    ]

    assert run_sync(connection, django_capture_on_commit_callbacks).status == RunStatus.SUCCEEDED
    with organization_scope(org):
        new = Target.objects.get(text="brass desk lamp")
        assert (new.external_id, new.match_type, new.bid, new.state) == (
            str(created.id),
            "EXACT",
            Decimal("0.5500"),
            "ENABLED",
        )
        assert Target.objects.get(external_id=str(TABLE_LAMP)).bid == Decimal("1.2500")
        added = NegativeKeyword.objects.filter(text__in=["lamp repair", "broken"])
        assert set(added.values_list("text", "match_type", "ad_group__external_id", "campaign__external_id")) == {
            ("lamp repair", "NEGATIVE_PHRASE", str(BROAD_GROUP), str(MANUAL)),
            ("broken", "NEGATIVE_EXACT", None, str(AUTO)),
        }
        assert Campaign.objects.get(external_id=str(MANUAL)).budget == Decimal("42.5000")
        assert Campaign.objects.get(external_id=str(AUTO)).state == "PAUSED"


def test_one_bad_item_in_a_207_fails_alone_with_amazons_message(org, owner, fake, connection):
    given = approve(
        org,
        owner,
        "keyword",
        kw("brass lamp"),
        kw("rattan lamp", group=999),
        kw("paper lamp", proposed_value=0.01),
        kw("Table Lamp"),
    )

    assert push.proposals_push(organization=org) == 4

    [brass] = keywords_named(fake, "brass lamp")
    assert brass.bid == 107  # no bid proposed: the ad group's default bid
    assert outcome(given) == [
        (ProposalStatus.PUSHED, "", ""),
        (ProposalStatus.FAILED, "ENTITY_NOT_FOUND", f"Ad group 999 was not found in campaign {MANUAL}"),
        (ProposalStatus.FAILED, "TOO_LOW", "The bid must be at least 0.02 USD"),
        (
            ProposalStatus.FAILED,
            "DUPLICATE_VALUE",
            f"A keyword with this text and match type already exists in the ad group ({TABLE_LAMP})",
        ),
    ]
    assert keywords_named(fake, "rattan lamp") == keywords_named(fake, "paper lamp") == []
    assert writes(fake) == [("POST", "/api/sp/keywords", 207)]  # one call for the four


def test_short_throttles_and_server_errors_are_retried_inline(org, owner, fake, connection, sleeper):
    given = approve(org, owner, "keyword", kw("brass lamp"))
    fake.faults.add("write", "429", retry_after=2)
    fake.faults.add("write", "500")

    assert push_proposals.delay(organization_id=org.pk).get() == 1

    [pushed] = fresh(given)
    assert (pushed.status, pushed.push_attempts) == (ProposalStatus.PUSHED, 1)
    assert len(keywords_named(fake, "brass lamp")) == 1
    assert writes(fake) == [
        ("POST", "/api/sp/keywords", 429),
        ("POST", "/api/sp/keywords", 500),
        ("POST", "/api/sp/keywords", 207),
    ]
    assert 2.0 in sleeper[1]  # Retry-After honoured


def test_a_long_throttle_puts_the_push_back_and_the_task_retry_pushes_it_once(
    org, owner, fake, connection, eager_retries, retry_countdowns
):
    given = approve(org, owner, "keyword", kw("brass lamp"))
    fake.faults.add("write", "429", retry_after=120)  # longer than the client waits inline

    push_proposals.delay(organization_id=org.pk)

    assert retry_countdowns == [120.0]
    [pushed] = fresh(given)
    assert (pushed.status, pushed.push_attempts, pushed.result_code) == (ProposalStatus.PUSHED, 2, "")
    assert len(keywords_named(fake, "brass lamp")) == 1
    assert writes(fake) == [("POST", "/api/sp/keywords", 429), ("POST", "/api/sp/keywords", 207)]


def test_a_platform_that_stays_busy_fails_the_change_after_the_last_attempt(org, owner, fake, connection):
    given = approve(org, owner, "keyword", kw("brass lamp"))
    fake.faults.add("write", "429", times=2, retry_after=300)

    with pytest.raises(push.PushDeferred) as deferred:
        push.proposals_push(organization=org)

    assert (deferred.value.retry_after, deferred.value.done) == (300.0, 0)
    assert outcome(given) == [
        (ProposalStatus.APPROVED, "retrying", "Amazon Ads is busy; the change will be pushed again in a few minutes.")
    ]
    Proposal.unscoped_objects.filter(pk=given[0].pk).update(push_attempts=push.MAX_PUSH_ATTEMPTS - 1)
    assert push.proposals_push(organization=org) == 1  # the last attempt: failed, nothing left to retry
    assert outcome(given) == [
        (
            ProposalStatus.FAILED,
            "unavailable",
            "Amazon Ads stayed busy or unavailable through 5 attempts. Make this change in the platform's console, "
            "or propose it again later.",
        )
    ]
    assert keywords_named(fake, "brass lamp") == []


def test_a_claim_left_by_a_worker_that_died_after_amazon_answered_is_pushed_once(org, owner, fake, connection):
    given = approve(org, owner, "keyword", kw("brass lamp"))
    claimed = proposals_claim(organization=org)
    pushing = amazon_push.push_proposals(connection=connection, proposals=claimed, save_credentials=lambda c: None)
    lost = next(pushing)  # Amazon created the keyword; the worker dies before recording it
    pushing.close()
    Proposal.unscoped_objects.filter(pk=given[0].pk).update(updated_at=timezone.now() - STALE_PUSH - timedelta(1))

    assert push_proposals_due() == 1  # the sweeper finds the stale claim and pushes again

    [pushed] = fresh(given)
    assert (pushed.status, pushed.platform_id, pushed.push_attempts, pushed.result_code) == (
        ProposalStatus.PUSHED,
        lost.platform_id,
        2,
        "already_there",
    )
    assert len(keywords_named(fake, "brass lamp")) == 1
    assert [w for w in writes(fake) if w[:2] == ("POST", "/api/sp/keywords")] == [("POST", "/api/sp/keywords", 207)]


def test_rollbacks_archive_what_the_push_created_and_restore_a_bid(org, owner, fake, connection):
    [keyword] = approve(org, owner, "keyword", kw("brass lamp"))
    [negative] = approve(org, owner, "negative", kw("lamp repair", group=BROAD_GROUP, match_type="NEGATIVE_PHRASE"))
    [bid] = approve(org, owner, "bid", row(campaign_id=str(MANUAL), target_id=str(TABLE_LAMP), proposed_value=0.9))
    push.proposals_push(organization=org)
    [created] = keywords_named(fake, "brass lamp")
    manual = fake.dataset.account(US).campaigns[1]
    table_lamp = manual.ad_groups[0].targets[0]
    assert (table_lamp.bid, manual.ad_groups[1].negatives[-1][1:]) == (
        90,
        ("lamp repair", "NEGATIVE_PHRASE", "ENABLED"),
    )
    fake.requests.clear()

    undo = [proposal_rollback(organization=org, actor=owner, proposal_id=p.pk) for p in (keyword, negative, bid)]
    assert push.proposals_push(organization=org) == 3

    assert (created.state, table_lamp.bid) == ("ARCHIVED", 174)
    assert manual.ad_groups[1].negatives[-1][1:] == ("lamp repair", "NEGATIVE_PHRASE", "ARCHIVED")
    assert [(p.status, p.target_id) for p in fresh(undo)] == [
        (ProposalStatus.PUSHED, str(created.id)),
        (ProposalStatus.PUSHED, fresh([negative])[0].platform_id),
        (ProposalStatus.PUSHED, str(TABLE_LAMP)),
    ]
    assert [p.status for p in fresh([keyword, negative, bid])] == [ProposalStatus.ROLLED_BACK] * 3
    assert writes(fake) == [
        ("PUT", "/api/sp/keywords", 207),
        ("POST", "/api/sp/keywords/delete", 207),
        ("POST", "/api/sp/negativeKeywords/delete", 207),
    ]


def test_a_revoked_grant_fails_the_changes_and_asks_to_reconnect(org, owner, fake, connection):
    given = approve(org, owner, "keyword", kw("brass lamp"))
    fake.revoke_all()

    assert push.proposals_push(organization=org) == 1

    reconnect = "Amazon Ads: re-authorize: the refresh token was revoked. Connect the account again to keep syncing."
    assert outcome(given) == [(ProposalStatus.FAILED, "reauth", reconnect)]
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (ConnectionStatus.REAUTH, reconnect)
    assert keywords_named(fake, "brass lamp") == []


def test_another_organizations_proposals_never_use_this_organizations_connection(org, owner, fake, connection):
    other = OrganizationFactory(name="Other Seller")
    theirs = approve(other, member(other, Role.OWNER), "keyword", kw("their lamp"))
    mine = approve(org, owner, "keyword", kw("my lamp"))

    assert push.proposals_push(organization=org) == 1
    assert [p.status for p in fresh(theirs)] == [ProposalStatus.APPROVED]  # not even claimed

    assert push.proposals_push(organization=other) == 1
    assert outcome(theirs) == [
        (
            ProposalStatus.FAILED,
            "no_connection",
            f"Amazon Ads account {US} is not connected (or was disconnected). Connect it on the Connections page, "
            "then propose the change again.",
        )
    ]
    assert [p.status for p in fresh(mine)] == [ProposalStatus.PUSHED]
    assert keywords_named(fake, "their lamp") == [] and len(keywords_named(fake, "my lamp")) == 1


# --- the fake keeps Amazon's rules ----------------------------------------------------------------------------


def test_fake_writes_check_auth_and_media_types_and_answer_207(fake, connection):
    headers = {
        "Authorization": f"Bearer {connection.credentials['access_token']}",
        "Amazon-Advertising-API-ClientId": CLIENT_ID,
        "Amazon-Advertising-API-Scope": str(US),
        "Accept": KEYWORD_MEDIA,
        "Content-Type": KEYWORD_MEDIA,
    }
    url = f"{fake.public_url}/api/sp/keywords"
    item = {"campaignId": str(MANUAL), "adGroupId": str(EXACT_GROUP), "keywordText": "oak lamp", "matchType": "EXACT"}

    stranger = httpx.post(url, json={"keywords": [item]}, headers={**headers, "Authorization": "Bearer x"})
    plain_json = httpx.post(url, json={"keywords": [item]}, headers={**headers, "Content-Type": "application/json"})
    assert (stranger.status_code, plain_json.status_code) == (401, 415)
    created = httpx.post(url, json={"keywords": [item, {**item, "matchType": "NEGATIVE_EXACT"}]}, headers=headers)

    assert created.status_code == 207 and created.headers["Content-Type"] == KEYWORD_MEDIA
    [oak] = keywords_named(fake, "oak lamp")
    assert created.json() == {
        "keywords": {
            "success": [{"index": 0, "keywordId": str(oak.id)}],
            "error": [
                {
                    "index": 1,
                    "errors": [
                        {
                            "errorType": "malformedValueError",
                            "errorValue": {
                                "malformedValueError": {
                                    "reason": "INVALID_VALUE",
                                    "message": "matchType must be one of EXACT, PHRASE, BROAD, not 'NEGATIVE_EXACT'",
                                    "cause": {"location": "$.matchType"},
                                }
                            },
                        }
                    ],
                }
            ],
        }
    }
    archived = httpx.put(url, json={"keywords": [{"keywordId": str(oak.id), "state": "ARCHIVED"}]}, headers=headers)
    assert archived.json()["keywords"]["error"][0]["errors"][0]["errorType"] == "malformedValueError"
    deleted = httpx.post(f"{url}/delete", json={"keywordIdFilter": {"include": [str(oak.id)]}}, headers=headers)
    assert deleted.json() == {"keywords": {"success": [{"index": 0, "keywordId": str(oak.id)}], "error": []}}
    again = httpx.put(url, json={"keywords": [{"keywordId": str(oak.id), "bid": 1.0}]}, headers=headers)
    assert again.json()["keywords"]["error"][0]["errors"][0]["errorValue"]["entityStateError"]["reason"] == (
        "ENTITY_ARCHIVED"
    )
    budget = httpx.put(
        f"{fake.public_url}/api/sp/campaigns",
        json={"campaigns": [{"campaignId": str(MANUAL), "budget": {"budget": 0.5, "budgetType": "DAILY"}}]},
        headers={**headers, "Accept": CAMPAIGN_MEDIA, "Content-Type": CAMPAIGN_MEDIA},
    )
    assert budget.json()["campaigns"]["error"][0]["errors"][0]["errorValue"]["rangeError"]["message"] == (
        "The budget must be at least 1.00 USD"
    )
    assert fake.dataset.account(US).campaigns[1].budget == 35
