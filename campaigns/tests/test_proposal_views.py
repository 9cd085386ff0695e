"""Changes page: the proposals table and its filters, bulk approve and reject, the push followed by polling,
rollbacks, conflict warnings on negatives; tenancy, roles and query counts."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from accounts.tests.factories import MembershipFactory, OrganizationFactory, member
from campaigns.models import Proposal, ProposalStatus
from campaigns.tests.factories import ProposalFactory, ToolRunFactory, search_term_fact

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def url(name, org, **kwargs):
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


def texts(response):
    return [row.proposal.text for row in response.context_data["rows"]]


def status_of(proposal):
    proposal.refresh_from_db()
    return proposal.status


@pytest.fixture
def run(org):
    return ToolRunFactory(organization=org)


@pytest.fixture
def proposals(org, run):
    """Two pending keywords, one approved (pushing soon) and one rejected, all from one harvest run."""
    return {
        "desk": ProposalFactory(organization=org, run=run, text="desk lamp"),
        "floor": ProposalFactory(organization=org, run=run, text="floor lamp"),
        "approved": ProposalFactory(organization=org, run=run, text="wall lamp", status=ProposalStatus.APPROVED),
        "rejected": ProposalFactory(organization=org, run=run, text="old lamp", status=ProposalStatus.REJECTED),
    }


def test_full_page_lists_the_pending_changes_with_their_evidence(owner_client, org, proposals):
    response = owner_client.get(url("changes", org))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="filter-bar"' in body and 'id="changes-table"' in body
    assert texts(response) == ["desk lamp", "floor lamp"]  # waiting for approval, in the order proposed
    assert "12 clicks · 3 orders · $9.00 spent" in body and "ACoS 15.0%" in body
    assert "$0.75" in body  # the proposed bid
    assert "Approve selected" in body and 'name="ids"' in body
    assert "every 3s" not in body  # nothing on its way: no polling


def test_htmx_request_gets_only_the_table(owner_client, org, proposals):
    response = owner_client.get(url("changes", org), {"status": "all"}, headers=HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="changes-table"')
    assert "<html" not in body and 'class="filter-bar"' not in body
    assert texts(response) == ["desk lamp", "floor lamp", "wall lamp", "old lamp"]
    assert 'hx-trigger="every 3s' in body  # the approved row is on its way


def test_filters(owner_client, org, proposals):
    other_run = ToolRunFactory(organization=org, tool="negatives")
    ProposalFactory(organization=org, run=other_run, kind="negative", match_type="NEGATIVE_EXACT", text="free lamp")
    assert texts(owner_client.get(url("changes", org), {"run": other_run.pk})) == ["free lamp"]
    assert texts(owner_client.get(url("changes", org), {"kind": "negative"})) == ["free lamp"]
    assert texts(owner_client.get(url("changes", org), {"status": "in_flight"})) == ["wall lamp"]
    assert texts(owner_client.get(url("changes", org), {"channel": "meta"})) == []
    bad = owner_client.get(url("changes", org), {"status": "nonsense", "run": "x", "kind": "?"})
    assert texts(bad) == ["free lamp", "desk lamp", "floor lamp"]  # unknown filters fall back; newest run first


def test_approve_selected_queues_the_push_after_commit(
    owner_client, org, proposals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(
            url("changes_decide", org), {"action": "approve", "ids": [proposals["desk"].pk]}, headers=HX
        )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="changes-table"')
    assert 'hx-swap-oob="true"' in body and "1 change approved; it is being pushed to the platform." in body
    assert len(callbacks) == 1  # the push task, sent by name once the approval is committed
    assert status_of(proposals["desk"]) == ProposalStatus.APPROVED
    assert status_of(proposals["floor"]) == ProposalStatus.PENDING
    assert texts(response) == ["floor lamp"]


def test_reject_all_on_the_page_without_javascript(owner_client, org, proposals):
    page_ids = [proposals["desk"].pk, proposals["floor"].pk, proposals["approved"].pk]
    response = owner_client.post(
        url("changes_decide", org), {"action": "reject", "all": "1", "page_ids": page_ids, "status": "all"}
    )
    assert response.status_code == 302 and response["Location"] == f"{url('changes', org)}?status=all"
    assert status_of(proposals["desk"]) == status_of(proposals["floor"]) == ProposalStatus.REJECTED
    assert status_of(proposals["approved"]) == ProposalStatus.APPROVED  # no longer waiting: left alone
    assert "2 changes rejected." in owner_client.get(response["Location"]).content.decode()


def test_decide_needs_an_action_and_a_selection(owner_client, org, proposals):
    assert owner_client.post(url("changes_decide", org), {"ids": [proposals["desk"].pk]}).status_code == 400
    response = owner_client.post(url("changes_decide", org), {"action": "approve"}, headers=HX)
    assert "Select at least one change." in response.content.decode()
    assert status_of(proposals["desk"]) == ProposalStatus.PENDING


def test_another_organizations_ids_in_a_post_are_ignored(owner_client, org, proposals):
    theirs = ProposalFactory(organization=OrganizationFactory())
    owner_client.post(url("changes_decide", org), {"action": "approve", "ids": [theirs.pk, proposals["desk"].pk]})
    assert status_of(theirs) == ProposalStatus.PENDING
    assert status_of(proposals["desk"]) == ProposalStatus.APPROVED


def test_another_organizations_changes_are_404(client, org, proposals):
    client.force_login(member(OrganizationFactory(), Role.OWNER))
    assert client.get(url("changes", org)).status_code == 404
    ids = {"action": "approve", "ids": [proposals["desk"].pk]}
    assert client.post(url("changes_decide", org), ids).status_code == 404
    pushed = ProposalFactory(organization=org, status=ProposalStatus.PUSHED, platform_id="K9")
    assert client.post(url("changes_rollback", org, proposal_id=pushed.pk)).status_code == 404
    assert status_of(proposals["desk"]) == ProposalStatus.PENDING
    assert not Proposal.unscoped_objects.filter(rollback_of=pushed).exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_roles_without_push_changes_see_but_cannot_decide(client, org, proposals, role):
    client.force_login(member(org, role))
    page = client.get(url("changes", org))
    assert page.status_code == 200 and "Approve selected" not in page.content.decode()
    assert 'name="ids"' not in page.content.decode()
    response = client.post(url("changes_decide", org), {"action": "approve", "ids": [proposals["desk"].pk]})
    assert response.status_code == 403
    assert status_of(proposals["desk"]) == ProposalStatus.PENDING
    pushed = ProposalFactory(organization=org, status=ProposalStatus.PUSHED, platform_id="K9")
    assert client.post(url("changes_rollback", org, proposal_id=pushed.pk)).status_code == 403
    assert not Proposal.unscoped_objects.filter(rollback_of=pushed).exists()


def test_rollback_button_only_where_the_platform_allows_and_it_queues_the_inverse(
    owner_client, org, run, django_capture_on_commit_callbacks
):
    can = ProposalFactory(organization=org, run=run, text="desk lamp", status=ProposalStatus.PUSHED, platform_id="K9")
    cannot = ProposalFactory(organization=org, run=run, text="floor lamp", status=ProposalStatus.PUSHED)
    failed = ProposalFactory(
        organization=org, run=run, text="wall lamp", status=ProposalStatus.FAILED, result_message="Bid too low"
    )
    response = owner_client.get(url("changes", org), {"status": "all"})
    body = response.content.decode()
    assert [row.can_rollback for row in response.context_data["rows"]] == [True, False, False]
    assert body.count(">Roll back</button>") == 1
    assert url("changes_rollback", org, proposal_id=can.pk) in body
    assert "Bid too low" in body  # the push result per item

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(url("changes_rollback", org, proposal_id=can.pk), {"status": "all"}, headers=HX)
    assert response.status_code == 200 and len(callbacks) == 1
    inverse = Proposal.unscoped_objects.get(rollback_of=can)
    assert (inverse.status, inverse.proposed_state, inverse.target_id) == (ProposalStatus.APPROVED, "archived", "K9")
    assert "Rollback of “desk lamp” queued for push." in response.content.decode()
    rows = {row.proposal.pk: row for row in response.context_data["rows"]}
    assert rows[can.pk].can_rollback is False  # its rollback is on its way
    again = owner_client.post(url("changes_rollback", org, proposal_id=can.pk), headers=HX)
    assert "A rollback of this change is already on its way." in again.content.decode()
    assert owner_client.post(url("changes_rollback", org, proposal_id=cannot.pk)).status_code == 302
    assert not Proposal.unscoped_objects.filter(rollback_of__in=[cannot, failed]).exists()


def test_pending_negatives_warn_about_what_they_would_block(owner_client, org):
    search_term_fact(org, "desk lamp", date=date(2026, 11, 3), orders=2, sales=Decimal("60"))
    run = ToolRunFactory(organization=org, tool="negatives", window_start=date(2026, 11, 1))
    ProposalFactory(organization=org, run=run, kind="negative", text="lamp", match_type="NEGATIVE_PHRASE")
    ProposalFactory(organization=org, run=run, kind="negative", text="free", match_type="NEGATIVE_PHRASE")
    response = owner_client.get(url("changes", org))
    rows = response.context_data["rows"]
    assert [(row.proposal.text, len(row.conflicts)) for row in rows] == [("lamp", 1), ("free", 0)]
    assert "Negative phrase “lamp” would block the search term “desk lamp”, which brought 2 orders" in (
        response.content.decode()
    )
    assert response.content.decode().count('class="row-conflict"') == 1


def _proposals(org, count):
    run = ToolRunFactory(organization=org, tool="negatives")
    for number in range(count):
        kind = {"kind": "negative", "match_type": "NEGATIVE_EXACT"} if number % 2 else {}
        status = ProposalStatus.PUSHED if number % 3 == 0 else ProposalStatus.PENDING
        platform_id = "K" if status == ProposalStatus.PUSHED else ""
        ProposalFactory(
            organization=org, run=run, text=f"lamp {number}", status=status, platform_id=platform_id, **kind
        )
        search_term_fact(org, f"lamp {number}", date=date(2026, 11, 5), orders=1, sales=Decimal("9"))


def test_query_count_does_not_grow_with_rows(client, org):
    other = OrganizationFactory()
    user = member(org, Role.OWNER)
    MembershipFactory(organization=other, user=user, role=Role.OWNER)
    client.force_login(user)
    _proposals(org, 3)
    _proposals(other, 30)
    counts = []
    for organization in (org, other):
        client.get(url("changes", organization), {"status": "all"})  # warm the caches (membership, session)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url("changes", organization), {"status": "all"})
        assert response.status_code == 200
        assert any(row.conflicts for row in response.context_data["rows"])  # the check ran
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 10
