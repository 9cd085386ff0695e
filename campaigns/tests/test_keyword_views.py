"""Keywords page: the search-term table (sorting, search, paging), the n-gram tab, the HTMX partials, and the tool
forms that propose changes and send the seller to the Changes page; tenancy, roles and query counts."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from accounts.tests.factories import MembershipFactory, OrganizationFactory, member
from campaigns.models import Proposal, ToolRun
from campaigns.tests.factories import search_term_fact

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
NOV1, NOV2 = date(2026, 11, 1), date(2026, 11, 2)
WINDOW = {"range": "custom", "start": "2026-11-01", "end": "2026-11-30"}


def url(name, org):
    return reverse(name, kwargs={"org_slug": org.slug})


@pytest.fixture
def facts(org):
    """ "desk lamp" sold 4 times in 24 clicks across ad groups G1 (automatic) and G2 (broad "lamp"); three "cheap"
    terms took 6 clicks and 3.00 with no order; "floor lamp" sold once."""
    search_term_fact(org, "desk lamp", date=NOV1, clicks=10, cost=Decimal("5"), orders=2, sales=Decimal("60"))
    search_term_fact(org, "desk lamp", date=NOV2, clicks=10, cost=Decimal("5"), orders=1, sales=Decimal("30"))
    search_term_fact(
        org,
        "desk lamp",
        date=NOV1,
        ad_group_id="G2",
        ad_group_name="Lamps broad",
        target_id="T2",
        target_text="lamp",
        match_type="BROAD",
        clicks=4,
        cost=Decimal("2"),
        orders=1,
        sales=Decimal("30"),
    )
    for term in ("cheap lamp shade", "cheap bulb", "cheap cord"):
        search_term_fact(org, term, date=NOV1, clicks=2, cost=Decimal("1"))
    search_term_fact(org, "floor lamp", date=NOV1, clicks=3, cost=Decimal("1.50"), orders=1, sales=Decimal("25"))


def terms_in(response):
    return [(row["search_term"], row["ad_group_id"]) for row in response.context_data["table"].rows]


def test_full_page_shows_the_filters_the_tools_and_the_search_terms(owner_client, org, facts):
    response = owner_client.get(url("keywords", org), WINDOW)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="filter-bar"' in body and 'id="tool-forms"' in body and 'id="keyword-tab"' in body
    assert "Harvest converting terms" in body and "Find negatives" in body
    assert terms_in(response) == [
        ("desk lamp", "G1"),
        ("desk lamp", "G2"),
        ("floor lamp", "G1"),
        ("cheap bulb", "G1"),
        ("cheap cord", "G1"),
        ("cheap lamp shade", "G1"),
    ]  # spend descending, then the row keys
    first = response.context_data["table"].rows[0]
    assert (first["clicks"], first["spend"], first["orders"], first["sales"]) == (20, Decimal("10"), 3, Decimal("90"))
    assert (first["acos"], round(first["cvr"], 4)) == (pytest.approx(10 / 90), 0.15)
    assert "$10.00" in body and "11.1%" in body  # spend, ACoS of desk lamp in G1
    assert response.context_data["table"].rows[3]["acos"] is None  # no sales: no ACoS, never 0


def test_htmx_request_gets_only_the_tab(owner_client, org, facts):
    response = owner_client.get(url("keywords", org), {**WINDOW, "sort": "term"}, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="keyword-tab"')
    assert "<html" not in body and 'id="tool-forms"' not in body
    assert "HX-Request" in response["Vary"]
    assert [term for term, _group in terms_in(response)][:3] == ["cheap bulb", "cheap cord", "cheap lamp shade"]


def test_search_sort_and_paging(owner_client, org, facts, monkeypatch):
    response = owner_client.get(url("keywords", org), {**WINDOW, "q": "DESK", "sort": "clicks"})
    assert terms_in(response) == [("desk lamp", "G2"), ("desk lamp", "G1")]
    assert response.context_data["table"].total_rows == 2
    page2 = owner_client.get(url("keywords", org), {**WINDOW, "page": "2"})
    assert terms_in(page2) == [] and page2.context_data["table"].total_rows == 6  # past the end: counted, not failed
    channel = owner_client.get(url("keywords", org), {**WINDOW, "channel": "meta"})
    assert terms_in(channel) == []


def test_ngram_tab_highlights_wasted_roots(owner_client, org, facts):
    response = owner_client.get(url("keywords", org), {**WINDOW, "tab": "ngrams"}, headers=HX)
    assert response.status_code == 200
    rows = {row["ngram"]: row for row in response.context_data["ngrams"]}
    assert (rows["cheap"]["terms"], rows["cheap"]["clicks"], rows["cheap"]["orders"]) == (3, 6, 0)
    assert rows["cheap"]["wasted"] is True
    assert rows["lamp"]["wasted"] is False  # sold
    assert (rows["lamp"]["terms"], rows["lamp"]["orders"]) == (3, 5)
    body = response.content.decode()
    assert body.count('class="row-wasted"') == 1
    two = owner_client.get(url("keywords", org), {**WINDOW, "tab": "ngrams", "n": "2"}, headers=HX)
    assert {row["ngram"] for row in two.context_data["ngrams"]} == {
        "desk lamp",
        "cheap lamp",
        "lamp shade",
        "floor lamp",
        "cheap bulb",
        "cheap cord",
    }
    assert all(row["n"] == 2 for row in two.context_data["ngrams"])


def test_another_organizations_keywords_are_404(client, org, facts):
    client.force_login(member(OrganizationFactory(), Role.OWNER))
    assert client.get(url("keywords", org), WINDOW).status_code == 404
    assert client.post(url("keywords_harvest", org), WINDOW).status_code == 404
    assert not ToolRun.unscoped_objects.exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_roles_without_edit_campaigns_see_the_page_but_cannot_run_tools(client, org, facts, role):
    client.force_login(member(org, role))
    page = client.get(url("keywords", org), WINDOW)
    assert page.status_code == 200
    assert 'id="tool-forms"' in page.content.decode() and "Harvest converting terms" not in page.content.decode()
    assert 'name="term"' not in page.content.decode()
    assert client.post(url("keywords_harvest", org), WINDOW).status_code == 403
    assert client.post(url("keywords_negatives", org), WINDOW).status_code == 403
    assert not ToolRun.unscoped_objects.exists() and not Proposal.unscoped_objects.exists()


def test_harvest_post_proposes_and_redirects_to_the_run(owner_client, org, facts):
    response = owner_client.post(url("keywords_harvest", org), {**WINDOW, "min_orders": "2"}, headers=HX)
    run = ToolRun.unscoped_objects.get(organization=org)
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{url('changes', org)}?run={run.pk}"
    assert sorted(Proposal.unscoped_objects.filter(run=run).values_list("kind", "text", "ad_group_id")) == [
        ("keyword", "desk lamp", "G1"),
        ("negative", "desk lamp", "G2"),
    ]
    page = owner_client.get(response["HX-Redirect"])
    assert "2 changes proposed; 0 already had an open proposal and were not added again." in page.content.decode()

    again = owner_client.post(url("keywords_harvest", org), WINDOW)  # without JavaScript: a plain redirect
    assert again.status_code == 302
    assert Proposal.unscoped_objects.filter(organization=org).count() == 2
    page = owner_client.get(again["Location"])
    assert "0 changes proposed; 2 already had an open proposal and were not added again." in page.content.decode()


def test_harvest_selected_rows_only(owner_client, org, facts):
    chosen = json.dumps(["amazon_ads", "A1", "C1", "floor lamp"])
    response = owner_client.post(
        url("keywords_harvest", org), {**WINDOW, "mode": "selected", "term": [chosen, "not json"]}, headers=HX
    )
    assert response.status_code == 204
    assert list(Proposal.unscoped_objects.values_list("kind", "text", "proposed_value")) == [
        ("keyword", "floor lamp", Decimal("2.5000"))  # sold once: enough when picked by hand
    ]
    nothing = owner_client.post(url("keywords_harvest", org), {**WINDOW, "mode": "selected"}, headers=HX)
    assert nothing["HX-Redirect"].startswith(url("keywords", org))
    assert ToolRun.unscoped_objects.count() == 1


def test_find_negatives_post(owner_client, org, facts):
    response = owner_client.post(
        url("keywords_negatives", org), {**WINDOW, "min_clicks": "2", "min_spend": ""}, headers=HX
    )
    run = ToolRun.unscoped_objects.get(organization=org, tool="negatives")
    assert response["HX-Redirect"] == f"{url('changes', org)}?run={run.pk}"
    assert list(Proposal.unscoped_objects.filter(run=run).values_list("text", "match_type", "ad_group_id")) == [
        ("cheap", "NEGATIVE_PHRASE", "")  # one root covers the three wasted terms
    ]
    assert run.parameters["min_clicks"] == 2 and run.parameters["min_spend"] is None


def test_invalid_thresholds_show_the_form_again(owner_client, org, facts):
    response = owner_client.post(url("keywords_harvest", org), {**WINDOW, "min_bid": "3", "max_bid": "1"}, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="tool-forms"')
    assert "The maximum bid must be at least the minimum bid." in body
    plain = owner_client.post(url("keywords_harvest", org), {**WINDOW, "min_orders": "-1"})
    assert plain.status_code == 400 and 'id="keyword-tab"' in plain.content.decode()
    assert not ToolRun.unscoped_objects.exists()


def _many_terms(org, count):
    for number in range(count):
        search_term_fact(org, f"term {number}", date=NOV1, clicks=number + 1, orders=number % 2, sales=Decimal("9"))


@pytest.mark.parametrize("tab", ["terms", "ngrams"])
def test_query_count_does_not_grow_with_rows(client, org, tab):
    other = OrganizationFactory()
    user = member(org, Role.OWNER)
    MembershipFactory(organization=other, user=user, role=Role.OWNER)
    client.force_login(user)
    _many_terms(org, 3)
    _many_terms(other, 30)
    counts = []
    for organization in (org, other):
        client_url = url("keywords", organization)
        client.get(client_url, {**WINDOW, "tab": tab})  # warm the caches (membership, session)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(client_url, {**WINDOW, "tab": tab})
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 8
